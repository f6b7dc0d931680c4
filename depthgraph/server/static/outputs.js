// Run outputs, shown by kind: images (before/after slider against the input), depth maps (with
// the depth under the cursor), detections (a table), point clouds (three.js viewer, loaded only
// when one is shown), everything else as collapsible JSON.

import { decodeArray } from "./arrays.js";
import { el } from "./dom.js";

const isImage = (v) => v && typeof v === "object" && v.type === "base64" && typeof v.value === "string";
const isPointCloud = (v) => v && typeof v === "object" && v.type === "point_cloud";
const isDetections = (v) => v && typeof v === "object" && Array.isArray(v.predictions);
/* A depth map: {"type": "depth_map", unit: "relative" | "m" | ..., values: <array>}. */
const isDepthMap = (v) => v && typeof v === "object" && v.type === "depth_map" && "values" in v;

const is2D = (a) => a && a.shape.length === 2 && a.shape[0] > 1 && a.shape[1] > 1;

function dataUrl(v) {
  const fmt = v.format === "png" ? "png" : "jpeg";
  return v.value.startsWith("data:") ? v.value : `data:image/${fmt};base64,${v.value}`;
}

function imageView(name, v, before) {
  const box = el("div", { class: "dg-compare" });
  const after = el("img", { src: dataUrl(v), alt: `${name} output`, class: before ? "dg-after" : "" });
  if (!before) { box.append(after); return box; }
  const base = el("img", { src: before, alt: `${name}: the input image` });
  box.append(base, after);
  const slider = el("input", { type: "range", min: "0", max: "100", value: "100", "aria-label": `${name}: before / after`, "data-testid": `compare-${name}` });
  const apply = () => { after.style.clipPath = `inset(0 ${100 - Number(slider.value)}% 0 0)`; };
  slider.addEventListener("input", apply);
  apply();
  const wrap = el("div", { class: "dg-compare-wrap" }, box, el("div", {}, slider), el("div", { class: "dg-hint", text: "slide: input ◀ ▶ output" }));
  return wrap;
}

/* A relative depth has no unit: say so rather than show bare numbers that look like metres. */
const unitLabel = (unit) => (!unit ? "" : unit === "relative" ? " (relative depth, no unit)" : ` ${unit}`);
/* The same for a point cloud's coordinates: "points in m", or relative units, never metres. */
const pointsLabel = (count, unit) =>
  `${count} points${!unit ? "" : unit === "relative" ? " in relative units (no unit, not metres)" : ` in ${unit}`}`;

function depthView(name, array, unit = "") {
  const [h, w] = array.shape;
  const vals = array.values;
  let lo = Infinity, hi = -Infinity;
  for (const x of vals) if (typeof x === "number" && Number.isFinite(x)) { if (x < lo) lo = x; if (x > hi) hi = x; }
  const canvas = el("canvas", { width: String(w), height: String(h), "aria-label": `${name}: ${w}x${h} values from ${lo.toPrecision(4)} to ${hi.toPrecision(4)}` });
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const span = hi > lo ? hi - lo : 1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = vals[y * w + x];
    const g = typeof v === "number" ? Math.round(255 * (1 - (v - lo) / span)) : 0;  // near = bright
    const i = 4 * (y * w + x);
    img.data[i] = img.data[i + 1] = img.data[i + 2] = g;
    img.data[i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  const readout = el("div", { class: "dg-hint", "data-testid": `depth-readout-${name}`, text: `range ${lo.toPrecision(4)} … ${hi.toPrecision(4)}${unitLabel(unit)}; point at the map for a value` });
  canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect();
    const x = Math.min(w - 1, Math.max(0, Math.floor((e.clientX - r.left) / r.width * w)));
    const y = Math.min(h - 1, Math.max(0, Math.floor((e.clientY - r.top) / r.height * h)));
    const v = vals[y * w + x];
    readout.textContent = `(${x}, ${y}): ${typeof v === "number" ? v.toPrecision(5) : String(v)}${unitLabel(unit)}`;
  });
  return el("div", { class: "dg-depth" }, canvas, readout);
}

function detectionsView(v) {
  const preds = v.predictions;
  if (!preds.length) return el("p", { class: "dg-hint", text: "no detections" });
  const cols = [...new Set(preds.flatMap((p) => Object.keys(p)))].filter((c) => typeof preds[0][c] !== "object" || preds[0][c] === null);
  const table = el("table", { class: "dg-table" });
  table.append(el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", { scope: "col", text: c })))));
  const tbody = el("tbody");
  for (const p of preds) {
    tbody.append(el("tr", {}, ...cols.map((c) => {
      const x = p[c];
      return el("td", { text: typeof x === "number" ? (Number.isInteger(x) ? String(x) : x.toFixed(3)) : String(x ?? "") });
    })));
  }
  table.append(tbody);
  return table;
}

function jsonView(v) {
  let text = JSON.stringify(v, null, 1);
  if (text.length > 200000) text = text.slice(0, 200000) + "\n… (cut)";
  return el("details", {}, el("summary", { text: Array.isArray(v) ? `list of ${v.length}` : typeof v === "object" && v ? "object" : String(v) }), el("pre", { text }));
}

export async function renderOutputs(container, outputs, { kinds = {}, inputs = {}, seconds = 0 } = {}) {
  container.replaceChildren();
  const firstInput = Object.values(inputs)[0] || [];
  if (outputs.length > 1) container.append(el("p", { class: "dg-hint", text: `${outputs.length} results, one per input image` }));
  for (const [index, result] of outputs.entries()) {
    const row = el("div", { class: "dg-result", "data-testid": `result-${index}` });
    for (const [name, value] of Object.entries(result || {})) {
      const k = (Object.hasOwn(kinds, name) && kinds[name]) || ["*"];
      const box = el("div", { class: "dg-output", "data-testid": `output-${name}`, "data-output": name });
      box.append(el("h3", {}, document.createTextNode(name + " "), el("small", { text: k.join(", ") })));
      if (isImage(value)) box.append(imageView(name, value, firstInput[index]));
      else if (isPointCloud(value)) {
        box.dataset.kind = "point_cloud";
        if (value.unit) box.dataset.unit = value.unit;
        const count = value.num_points ?? (decodeArray(value.points)?.shape[0] ?? 0);
        box.append(el("p", { class: "dg-hint", "data-testid": `points-unit-${name}`, text: pointsLabel(count, value.unit) }));
        if (decodeArray(value.points)?.shape[0]) {
          const { pointCloudViewer } = await import("./viewer3d.js");
          box.append(await pointCloudViewer(name, value));
        } else box.append(jsonView(value));
      } else if (isDetections(value)) box.append(detectionsView(value));
      else if (isDepthMap(value) && is2D(decodeArray(value.values))) {
        box.dataset.unit = value.unit;
        box.append(depthView(name, decodeArray(value.values), value.unit));
      } else if (is2D(decodeArray(value)) && (k.includes("depth_map") || k.includes("numpy_array") || k.includes("*"))) {
        box.append(depthView(name, decodeArray(value)));
      } else box.append(jsonView(value));
      row.append(box);
    }
    container.append(row);
  }
}
