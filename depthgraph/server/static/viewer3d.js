// Point clouds in 3D: three.js (vendored ES modules, resolved by the page's import map) is
// imported only when the first point cloud is shown. Orbit with the mouse, zoom with the wheel,
// a slider sets the point size; a PLY file can be opened into the same view.

import { decodeArray } from "./arrays.js";
import { el } from "./dom.js";

let modules = null;
async function three() {
  if (!modules) {
    modules = Promise.all([
      import("three"),
      import("three/addons/controls/OrbitControls.js"),
      import("three/addons/loaders/PLYLoader.js"),
    ]).then(([THREE, orbit, ply]) => ({ THREE, OrbitControls: orbit.OrbitControls, PLYLoader: ply.PLYLoader }));
  }
  return modules;
}

/** The points of the server's point-cloud JSON as three.js positions. three.js looks along -z with
 * y up, as the "opengl" frame does; "opencv" clouds (y down, z forward) and "world" ones (a scene's
 * frame, OpenCV axes) are turned about x to match. */
export function viewerPositions(value) {
  const pts = decodeArray(value.points);
  const n = pts.shape[0];
  const turn = value.frame === "opengl" ? 1 : -1;
  const positions = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    positions[3 * i] = pts.values[3 * i];
    positions[3 * i + 1] = turn * pts.values[3 * i + 1];
    positions[3 * i + 2] = turn * pts.values[3 * i + 2];
  }
  return positions;
}

/** A BufferGeometry from the server's point cloud JSON. */
function geometryFrom(THREE, value) {
  const positions = viewerPositions(value);
  const n = positions.length / 3;
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute("position", new THREE.BufferAttribute(positions, 3));
  const cols = value.colors ? decodeArray(value.colors) : null;
  if (cols && cols.shape[0] === n) {
    const colors = new Float32Array(n * 3);
    for (let i = 0; i < n * 3; i++) colors[i] = Number(cols.values[i]) / 255;
    geometry.setAttribute("color", new THREE.BufferAttribute(colors, 3));
  }
  return geometry;
}

export async function pointCloudViewer(name, value) {
  const box = el("div", { class: "dg-viewer", "data-testid": `viewer-${name}` });
  let lib;
  try { lib = await three(); } catch (e) {
    box.append(el("p", { class: "dg-run-error", text: `3D view unavailable: ${e.message}` }));
    return box;
  }
  const { THREE, OrbitControls, PLYLoader } = lib;
  const unit = !value.unit ? "" : value.unit === "relative" ? " in relative units" : ` in ${value.unit}`;
  const canvas = el("canvas", { "data-testid": `viewer-canvas-${name}`, "aria-label": `${name}: 3D point cloud${unit} (drag to orbit, wheel to zoom)`, tabindex: "0" });
  box.append(canvas);
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ canvas, antialias: false, preserveDrawingBuffer: true });
  } catch (e) {
    box.replaceChildren(el("p", { class: "dg-run-error", text: `3D view unavailable (WebGL): ${e.message}` }));
    return box;
  }
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x111111);
  const camera = new THREE.PerspectiveCamera(50, 1, 0.001, 1000);
  const controls = new OrbitControls(camera, canvas);
  const material = new THREE.PointsMaterial({ size: 2, sizeAttenuation: false, vertexColors: true });
  let points = null;

  function show(geometry) {
    if (points) { scene.remove(points); points.geometry.dispose(); }
    if (!geometry.getAttribute("color")) material.vertexColors = false; else material.vertexColors = true;
    material.needsUpdate = true;
    points = new THREE.Points(geometry, material);
    scene.add(points);
    geometry.computeBoundingSphere();
    const s = geometry.boundingSphere;
    controls.target.copy(s.center);
    camera.position.set(s.center.x, s.center.y, s.center.z + s.radius * 2.2);
    camera.near = Math.max(s.radius / 1000, 1e-4);
    camera.far = s.radius * 20;
    camera.updateProjectionMatrix();
    controls.update();
    draw();
  }
  function resize() {
    const w = canvas.clientWidth || 520, h = canvas.clientHeight || 380;
    renderer.setPixelRatio(window.devicePixelRatio || 1);
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
  }
  function draw() { resize(); renderer.render(scene, camera); }
  controls.addEventListener("change", draw);

  const size = el("input", { type: "range", min: "1", max: "10", value: "2", step: "0.5", "aria-label": "point size", "data-testid": `point-size-${name}` });
  size.addEventListener("input", () => { material.size = Number(size.value); draw(); });
  const ply = el("input", { type: "file", accept: ".ply", "aria-label": "open a PLY file in this view" });
  ply.addEventListener("change", async () => {
    if (!ply.files.length) return;
    show(new PLYLoader().parse(await ply.files[0].arrayBuffer()));
  });
  box.append(el("label", { class: "dg-hint" }, document.createTextNode("point size "), size),
    el("label", { class: "dg-hint" }, document.createTextNode(" open .ply "), ply));
  requestAnimationFrame(() => show(geometryFrom(THREE, value)));
  box.dataset.ready = "pending";
  requestAnimationFrame(() => requestAnimationFrame(() => { box.dataset.ready = "true"; }));
  return box;
}
