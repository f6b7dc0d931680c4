// Marks on the drawn nodes: block name, role, errors on the node and its sockets, socket kinds.
// CSS shows the attributes set here (text as well as colour).

import { infoFor } from "./blocks.js";
import { hasLiteral, wiresInto } from "./graph.js";
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
      ie.title = `${key}: ${intf.dgKinds.join(", ")}`;
      const perr = io === "in" && errs.find((e) => e.property === key);
      if (perr) ie.dataset.error = perr.message; else delete ie.dataset.error;
      if (io === "in" && wired.has(key) && hasLiteral(node, key)) ie.dataset.wiredLiteral = "";
      else delete ie.dataset.wiredLiteral;
    }
  }
}

export function decorateAll() {
  for (const node of S.graph.nodes) decorate(node, document.getElementById(node.id));
}
