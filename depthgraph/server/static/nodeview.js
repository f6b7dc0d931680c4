// Marks on the drawn nodes: block name, role, errors on the node and its sockets, socket kinds
// (colour, hover text), the step running now, and result previews on output nodes. CSS shows the
// attributes set here (text as well as colour).

import { infoFor } from "./blocks.js";
import { el } from "./dom.js";
import { hasLiteral, nodes, wiresInto } from "./graph.js";
import { kindColour, mainKind, renderLegend } from "./kinds.js";
import { S } from "./state.js";
import { errorsOf } from "./validation.js";

export function decorate(node, elNode) {
  if (!elNode || !node.dg) return;
  elNode.dataset.step = node.title;
  elNode.dataset.role = node.dg.role;
  const info = infoFor(node.type);
  elNode.dataset.block = node.dg.role === "step" ? (info ? info.title : `${node.type} (not loaded)`) : (info ? info.title : node.type);
  const errs = errorsOf(node);
  if (errs.length) elNode.dataset.error = errs.map((e) => (e.property ? `${e.property}: ` : "") + e.message).join(" | ").slice(0, 240);
  else delete elNode.dataset.error;
  const wired = wiresInto(node);
  for (const stale of elNode.querySelectorAll(".baklava-node-interface[data-socket]")) {
    if (!S.graph.findNodeInterface(stale.id)) { delete stale.dataset.socket; delete stale.dataset.io; }
  }
  for (const [io, map] of [["in", node.inputs], ["out", node.outputs]]) {
    for (const [key, intf] of Object.entries(map)) {
      const ie = document.getElementById(intf.id);
      if (!ie) continue;
      ie.dataset.socket = key;
      ie.dataset.io = io;
      const kind = mainKind(intf.dgKinds);
      ie.dataset.kind = kind;
      ie.style.setProperty("--kind-colour", kindColour(kind));
      const kindText = intf.dgKinds.includes("*") ? "any kind" : intf.dgKinds.join(" or ");
      ie.title = io === "in" ? `${key}: takes ${kindText}` : `${key}: gives ${kindText}`;
      const perr = io === "in" && errs.find((e) => e.property === key);
      if (perr) ie.dataset.error = perr.message; else delete ie.dataset.error;
      if (io === "in" && wired.has(key) && hasLiteral(node, key)) ie.dataset.wiredLiteral = "";
      else delete ie.dataset.wiredLiteral;
    }
  }
  const state = node.dg.role === "step" ? S.runState.get(node.title) : undefined;
  if (state) elNode.dataset.run = state; else delete elNode.dataset.run;
  showPreview(node, elNode);
}

/** The last run's result on an output node: a thumbnail, a number or a count. */
function showPreview(node, elNode) {
  const old = elNode.querySelector(":scope > .dg-preview");
  const p = node.dg.role === "output" ? S.previews.get(node.title) : undefined;
  if (!p) { old?.remove(); return; }
  if (old && old.dataset.key === p.key) return;
  const box = el("div", { class: "dg-preview", "data-testid": `preview-${node.title}`, "data-key": p.key });
  if (p.src) box.append(el("img", { src: p.src, alt: `${node.title}: result preview` }));
  if (p.text) box.append(el("div", { class: "dg-preview-text", text: p.text }));
  if (old) old.replaceWith(box); else elNode.append(box);
}

export function decorateAll() {
  const used = new Set();
  for (const node of S.graph.nodes) {
    decorate(node, document.getElementById(node.id));
    for (const intf of [...Object.values(node.inputs), ...Object.values(node.outputs)]) if (intf.dgKinds) used.add(mainKind(intf.dgKinds));
  }
  renderLegend(used);
}

/** While a wire is dragged from ``origin``: sockets it cannot reach are dimmed (and say so). */
export function markReachable(origin, verdict) {
  for (const node of nodes()) {
    for (const intf of Object.values(origin.isInput ? node.outputs : node.inputs)) {
      const ie = document.getElementById(intf.id);
      if (!ie) continue;
      const v = origin.isInput ? verdict(intf, origin) : verdict(origin, intf);
      if (v.allowed) { ie.dataset.reachable = ""; delete ie.dataset.unreachable; } else { ie.dataset.unreachable = v.reason; delete ie.dataset.reachable; }
    }
  }
}

export function clearReachable() {
  for (const ie of document.querySelectorAll(".baklava-node-interface[data-unreachable], .baklava-node-interface[data-reachable]")) {
    delete ie.dataset.unreachable;
    delete ie.dataset.reachable;
  }
}
