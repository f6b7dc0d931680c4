// A minimap in the canvas corner: every node as a box (outputs and inputs in their role colours,
// the running step green, nodes with problems red) and the part of the graph in view; click or
// drag on it to move the view there.

import { tid } from "./dom.js";
import { nodeHeight, nodes } from "./graph.js";
import { NODE_WIDTH, S } from "./state.js";
import { visibleRect } from "./viewport.js";
import { errorsOf } from "./validation.js";

let frame = null;
let mapping = null;  // {x0, y0, scale} of the last drawing

function bounds() {
  const list = nodes();
  const view = visibleRect();
  let x0 = view.x, y0 = view.y, x1 = view.x + view.w, y1 = view.y + view.h;
  for (const n of list) {
    x0 = Math.min(x0, n.position.x); y0 = Math.min(y0, n.position.y);
    x1 = Math.max(x1, n.position.x + (n.width || NODE_WIDTH)); y1 = Math.max(y1, n.position.y + nodeHeight(n));
  }
  return { x0, y0, x1, y1, view };
}

export function drawMinimap() {
  frame = null;
  const canvas = tid("minimap");
  if (!canvas || !S.graph) return;
  canvas.hidden = nodes().length === 0;
  const ctx = canvas.getContext("2d");
  const { x0, y0, x1, y1, view } = bounds();
  const pad = 6;
  const scale = Math.min((canvas.width - 2 * pad) / Math.max(1, x1 - x0), (canvas.height - 2 * pad) / Math.max(1, y1 - y0));
  mapping = { x0, y0, scale, pad };
  const X = (x) => pad + (x - x0) * scale, Y = (y) => pad + (y - y0) * scale;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (const n of nodes()) {
    const state = S.runState.get(n.title);
    ctx.fillStyle = errorsOf(n).length ? "#ff6b6b" : n.dg.role === "step" && state === "running" ? "#5ad18b"
      : n.dg.role === "input" ? "#8f6fd0" : n.dg.role === "output" ? "#d39b35" : "#7d8696";
    ctx.fillRect(X(n.position.x), Y(n.position.y), Math.max(2, (n.width || NODE_WIDTH) * scale), Math.max(2, nodeHeight(n) * scale));
  }
  ctx.strokeStyle = "#5aa9ff";
  ctx.lineWidth = 1.5;
  ctx.strokeRect(X(view.x), Y(view.y), view.w * scale, view.h * scale);
  canvas.dataset.nodes = String(nodes().length);
}

/** Redraw on the next frame (cheap to call on every change). */
export function scheduleMinimap() {
  if (frame === null) frame = requestAnimationFrame(drawMinimap);
}

/** Centre the view on the graph point under a minimap click. */
function moveTo(ev) {
  if (!mapping) return;
  const canvas = tid("minimap");
  const r = canvas.getBoundingClientRect();
  const gx = mapping.x0 + ((ev.clientX - r.left) * (canvas.width / r.width) - mapping.pad) / mapping.scale;
  const gy = mapping.y0 + ((ev.clientY - r.top) * (canvas.height / r.height) - mapping.pad) / mapping.scale;
  const view = visibleRect();
  S.graph.panning.x = -(gx - view.w / 2);
  S.graph.panning.y = -(gy - view.h / 2);
  scheduleMinimap();
}

export function bindMinimap() {
  const canvas = tid("minimap");
  canvas.addEventListener("pointerdown", (ev) => {
    ev.stopPropagation();
    moveTo(ev);
    const move = (e) => moveTo(e);
    const up = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up); };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  });
  // the view moves with Baklava's own pan and zoom too: follow it cheaply
  setInterval(() => {
    const g = S.graph;
    if (!g) return;
    const key = `${g.panning.x}|${g.panning.y}|${g.scaling}|${nodes().map((n) => `${n.position.x},${n.position.y}`).join(";")}`;
    if (key !== canvas.dataset.view) { canvas.dataset.view = key; scheduleMinimap(); }
  }, 250);
}
