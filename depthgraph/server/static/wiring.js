// Wiring rules and wire drags: a wire is allowed when the kinds meet (the compiler's rule) and it
// makes no cycle; a refused wire says why; a wire dropped on empty canvas opens a menu of what
// can take it (or feed it).

import { tid } from "./dom.js";
import { allBlocks } from "./blocks.js";
import { kindsMeet } from "./forms.js";
import { createNode } from "./graph.js";
import { commit, scheduleCommit } from "./history.js";
import { NODE_WIDTH, S, emit } from "./state.js";

function reaches(fromNodeId, toNodeId) {
  const seen = new Set();
  const stack = [fromNodeId];
  while (stack.length) {
    const id = stack.pop();
    if (id === toNodeId) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const c of S.graph.connections) if (c.from.nodeId === id) stack.push(c.to.nodeId);
  }
  return false;
}

/** {allowed, reason} for a wire from output interface ``from`` to input interface ``to``. */
export function verdict(from, to) {
  const fromNode = S.graph.findNodeById(from.nodeId);
  const toNode = S.graph.findNodeById(to.nodeId);
  const fk = from.dgKinds || ["*"], tk = to.dgKinds || ["*"];
  const src = `${fromNode?.title}.${from.dgKey}`, dst = `${toNode?.title}.${to.dgKey}`;
  if (from.nodeId === to.nodeId) return { allowed: false, reason: `cannot connect ${src} to ${dst}: a node cannot feed itself` };
  if (!kindsMeet(fk, tk)) {
    return { allowed: false, reason: `cannot connect ${src} to ${dst}: ${dst} takes ${tk.join(" or ")}, ${src} gives ${fk.join(", ")}` };
  }
  if (reaches(to.nodeId, from.nodeId)) return { allowed: false, reason: `cannot connect ${src} to ${dst}: it would make a cycle` };
  return { allowed: true, reason: "" };
}

export function checkConnection({ from, to }) {
  const v = verdict(from, to);
  S.verdict = { ...v, fromId: from.id, toId: to.id };
  if (!v.allowed) return { connectionAllowed: false, connectionsInDanger: [] };
  return { connectionAllowed: true, connectionsInDanger: S.graph.connections.filter((c) => c.to.id === to.id) };
}

export function onPortDown(ev) {
  const port = ev.target.closest && ev.target.closest(".__port");
  if (!port) return;
  const ie = port.closest(".baklava-node-interface");
  const intf = ie && S.graph.findNodeInterface(ie.id);
  if (!intf) return;
  let origin = intf;
  if (intf.isInput) {
    const c = S.graph.connections.find((cc) => cc.to.id === intf.id);
    if (c) origin = c.from; // picking a wire up from its input end
  }
  S.verdict = null;
  S.wireDrag = { intf: origin, x: ev.clientX, y: ev.clientY };
  emit("wire-start", origin);
}

export function onPointerUp(ev) {
  const drag = S.wireDrag;
  S.wireDrag = null;
  setTimeout(() => { scheduleCommit(); emit("pointerup"); }, 0);
  if (!drag) return;
  emit("wire-end");
  const under = document.elementFromPoint(ev.clientX, ev.clientY);
  const ie = under && under.closest(".baklava-node-interface");
  if (ie) {
    const v = S.verdict;
    if (v && !v.allowed && (v.toId === ie.id || v.fromId === ie.id)) emit("refused", v.reason, ev.clientX, ev.clientY);
    return;
  }
  const canvas = tid("canvas");
  const moved = Math.hypot(ev.clientX - drag.x, ev.clientY - drag.y) > 12;
  if (moved && canvas.contains(under) && !under.closest(".baklava-node")) emit("wire-dropped", drag.intf, ev.clientX, ev.clientY);
}

/** What can take (or, for an input, feed) interface ``intf``: [{type, key, label}]. */
export function suggestionsFor(intf) {
  const out = [];
  const seen = new Set();
  const push = (s) => { const k = `${s.type}|${s.key}`; if (!seen.has(k)) { seen.add(k); out.push(s); } };
  const kinds = intf.dgKinds || ["*"];
  if (!intf.isInput) {
    for (const b of allBlocks()) {
      for (const p of b.props) {
        if (p.info.selector && kindsMeet(kinds, p.info.kinds)) push({ type: b.id, key: p.name, label: `${b.title} → ${p.name}`, block: b });
      }
    }
    push({ type: "JsonField", key: "selector", label: "Output (return this value)" });
  } else {
    if (kindsMeet(kinds, ["image"])) push({ type: "WorkflowImage", key: "image", label: "Image input" });
    push({ type: "WorkflowParameter", key: "value", label: "Parameter input" });
    for (const b of allBlocks()) {
      for (const o of b.outputs) if (kindsMeet(kinds, o.kinds)) push({ type: b.id, key: o.name, label: `${b.title} → ${o.name}`, block: b });
    }
  }
  return out;
}

/** Add a node of ``s.type`` at graph point ``at`` and wire it to ``intf``; one history step. */
export function addWired(intf, s, at) {
  const node = createNode(s.type, intf.isInput ? { x: at.x - NODE_WIDTH - 40, y: at.y } : at);
  const other = intf.isInput ? node.outputs[s.key] : node.inputs[s.key];
  if (other) S.graph.addConnection(intf.isInput ? other : intf, intf.isInput ? intf : other);
  S.graph.selectedNodes = [node];
  commit();
  return node;
}
