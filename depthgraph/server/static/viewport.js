// Where things are on screen: page pixels <-> graph coordinates, zoom to fit, and free space in
// view for new nodes.

import { $ } from "./dom.js";
import { nodeHeight, nodes } from "./graph.js";
import { NODE_WIDTH, S } from "./state.js";

const B = window.BaklavaJS;

/** Graph coordinates of a point given in page (client) pixels. */
export function toGraph(clientX, clientY) {
  const rect = $("#dg-baklava").getBoundingClientRect();
  const g = S.graph;
  return { x: (clientX - rect.left) / g.scaling - g.panning.x, y: (clientY - rect.top) / g.scaling - g.panning.y };
}

export function zoomToFit() {
  if (nodes().length === 0) return;
  try { S.viewModel.commandHandler.executeCommand(B.RendererVue.ZOOM_TO_FIT_GRAPH_COMMAND); } catch { /* older builds */ }
  if (S.graph.scaling > 1) S.graph.scaling = 1;
}

/** The graph-coordinate rectangle the canvas shows now. */
export function visibleRect() {
  const rect = $("#dg-baklava").getBoundingClientRect();
  const a = toGraph(rect.left, rect.top), b = toGraph(rect.right, rect.bottom);
  return { x: a.x, y: a.y, w: b.x - a.x, h: b.y - a.y };
}

/** Rectangles (graph coordinates, with a margin) of the drawn nodes, ``except`` left out. */
function occupied(except = new Set(), margin = 24) {
  return nodes().filter((n) => !except.has(n)).map((n) => ({
    x: n.position.x - margin, y: n.position.y - margin - 18,  // 18: the block name above the title
    w: (n.width || NODE_WIDTH) + 2 * margin, h: nodeHeight(n) + 2 * margin + 18,
  }));
}

const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/**
 * A place for a node of ``size`` ({w, h}) in free space inside the view: the first spot, scanning
 * rows from the top-left of the view (the preferred point first), that covers no node. Falls back
 * to the right of everything when the view is full.
 */
export function freeSpot(size = { w: NODE_WIDTH, h: 160 }, { except = new Set(), prefer = null } = {}) {
  const view = visibleRect();
  const taken = occupied(except);
  const pad = 30 / (S.graph.scaling || 1);
  const fits = (p) => !taken.some((t) => overlaps({ x: p.x, y: p.y, w: size.w, h: size.h }, t));
  if (prefer && fits(prefer)) return prefer;
  const stepX = (NODE_WIDTH + 40) / 2, stepY = 40;
  for (let y = view.y + pad + 18; y + size.h <= view.y + view.h - pad || y === view.y + pad + 18; y += stepY) {
    for (let x = view.x + pad; x + size.w <= view.x + view.w - pad || x === view.x + pad; x += stepX) {
      if (fits({ x, y })) return { x: Math.round(x), y: Math.round(y) };
    }
  }
  const right = Math.max(view.x + pad, ...taken.map((t) => t.x + t.w));
  return { x: Math.round(right + 20), y: Math.round(view.y + pad + 18) };
}
