// Copy and paste of selected nodes: wires between them follow, pasted names get "_2", pasted
// nodes land in free space in view. A paste is one history step.

import { status } from "./dom.js";
import { buildGraph, exportDefinition, keyOf, nodeByName, nodes, positions } from "./graph.js";
import { commit, snapshot } from "./history.js";
import { S, put } from "./state.js";
import { freeSpot } from "./viewport.js";

export function copySelection() {
  const sel = (S.graph.selectedNodes || []).filter((n) => n.dg && S.graph.nodes.includes(n));
  if (!sel.length) return;
  const def = exportDefinition();
  const keys = new Set(sel.map(keyOf));
  S.clipboard = {
    inputs: def.inputs.filter((i) => keys.has(`input:${i.name}`)), steps: def.steps.filter((s) => keys.has(`step:${s.name}`)),
    outputs: def.outputs.filter((o) => keys.has(`output:${o.name}`)), positions: positions(),
  };
  status(`copied ${sel.length} node${sel.length > 1 ? "s" : ""}`);
}

export function paste() {
  const clip = S.clipboard;
  if (!clip) return;
  const doc = JSON.parse(snapshot());
  const renames = { input: new Map(), step: new Map(), output: new Map() };
  for (const [role, list] of [["input", clip.inputs], ["step", clip.steps], ["output", clip.outputs]]) {
    const taken = new Set(nodes().filter((n) => n.dg.role === role).map((n) => n.title));
    for (const item of list) {
      let name = item.name;
      for (let i = 2; taken.has(name); i++) name = `${item.name}_${i}`;
      taken.add(name);
      renames[role].set(item.name, name);
    }
  }
  const remap = (v) => {
    if (typeof v === "string") {
      let m = /^\$inputs\.(.+)$/.exec(v);
      if (m && renames.input.has(m[1])) return `$inputs.${renames.input.get(m[1])}`;
      m = /^\$steps\.([^.]+)\.(.+)$/.exec(v);
      if (m && renames.step.has(m[1])) return `$steps.${renames.step.get(m[1])}.${m[2]}`;
      return v;
    }
    if (Array.isArray(v)) return v.map(remap);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, remap(x)]));
    return v;
  };
  const copyItem = (role) => (item) => {
    const out = {};
    for (const [k, v] of Object.entries(item)) put(out, k, k === "name" ? renames[role].get(v) : k === "type" ? v : remap(v));
    return out;
  };
  doc.definition.inputs.push(...clip.inputs.map(copyItem("input")));
  doc.definition.steps.push(...clip.steps.map(copyItem("step")));
  doc.definition.outputs.push(...clip.outputs.map(copyItem("output")));
  // the copied group keeps its shape and moves, as a whole, to free space in view
  const olds = [];
  for (const role of ["input", "step", "output"]) for (const old of renames[role].keys()) olds.push(clip.positions[`${role}:${old}`] || { x: 0, y: 0 });
  const minX = Math.min(...olds.map((p) => p.x)), minY = Math.min(...olds.map((p) => p.y));
  const w = Math.max(...olds.map((p) => p.x)) - minX + 240, h = Math.max(...olds.map((p) => p.y)) - minY + 200;
  const spot = freeSpot({ w, h });
  const pasted = [];
  for (const role of ["input", "step", "output"]) {
    for (const [old, name] of renames[role]) {
      const p = clip.positions[`${role}:${old}`] || { x: 0, y: 0 };
      doc.positions[`${role}:${name}`] = { x: spot.x + p.x - minX, y: spot.y + p.y - minY };
      pasted.push([name, role]);
    }
  }
  buildGraph(doc.definition, doc.positions);
  S.graph.selectedNodes = pasted.map(([name, role]) => nodeByName(name, role)).filter(Boolean);
  commit();
}
