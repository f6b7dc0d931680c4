// The workflow as a graph of BaklavaJS nodes: one node per input, step and output of the
// definition, one socket per property that takes a wire, one per output. Converts the drawn graph
// to the v1 definition (keeping what it cannot edit exactly as written) and back, and lays nodes
// out in columns.

import { infoFor } from "./blocks.js";
import { isSelector } from "./forms.js";
import { NODE_WIDTH, S, dict, put } from "./state.js";

const B = window.BaklavaJS;
const TOP_KEYS = ["version", "inputs", "steps", "outputs"];
const STEP_REF = /^\$steps\.([^.]+)\.(.+)$/;
const INPUT_REF = /^\$inputs\.(.+)$/;

class DgNode extends B.Core.Node {
  constructor(spec) {
    super();
    this.type = spec.type;
    this.inputs = {};
    this.outputs = {};
    this._title = spec.name;
    this.dg = spec.dg;
    for (const s of spec.sockets) {
      const intf = new B.Core.NodeInterface(s.key, null);
      intf.dgKey = s.key;
      intf.dgKinds = s.kinds;
      this.addInput(s.key, intf);
    }
    for (const o of spec.outputs) {
      const intf = new B.Core.NodeInterface(o.key, null);
      intf.dgKey = o.key;
      intf.dgKinds = o.kinds;
      this.addOutput(o.key, intf);
    }
  }
}

const usableKey = (k) => k !== "__proto__";  // Baklava keeps sockets in plain objects
const kindNames = (list) => list.map((k) => (typeof k === "string" ? k : k.name));

/** The sockets and outputs of a node for ``item`` (an inputs/steps/outputs entry). */
export function nodeSpec(role, item, neededOutputs) {
  const type = role === "output" ? (item.type || "JsonField") : item.type;
  const info = infoFor(type);
  const literals = dict();
  const order = Object.keys(item);
  for (const [k, v] of Object.entries(item)) if (k !== "type" && k !== "name") put(literals, k, v);
  const sockets = [];
  const outputs = [];
  if (role === "input") {
    let kinds = ["*"];
    if (type === "WorkflowImage") kinds = ["image"];
    else if (Array.isArray(item.kind) && item.kind.length) kinds = kindNames(item.kind);
    outputs.push({ key: type === "WorkflowImage" ? "image" : "value", kinds });
  } else if (role === "output") {
    sockets.push({ key: "selector", kinds: ["*"] });
  } else {
    const known = info && info.role === "step" ? info : null;
    for (const p of known ? known.props : []) if (p.info.selector) sockets.push({ key: p.name, kinds: p.info.kinds });
    for (const [k, v] of Object.entries(literals)) {
      if ((!known || !known.propMap.has(k)) && isSelector(v) && usableKey(k)) sockets.push({ key: k, kinds: ["*"] });
    }
    for (const o of known ? known.outputs : []) outputs.push({ key: o.name, kinds: o.kinds });
    for (const name of neededOutputs || []) {
      if (usableKey(name) && !outputs.some((o) => o.key === name)) outputs.push({ key: name, kinds: ["*"] });
    }
  }
  return { type, name: item.name, sockets, outputs, dg: { role, literals, order } };
}

export function addNode(spec, position) {
  const node = new DgNode(spec);
  S.graph.addNode(node);
  node.position = { x: position?.x ?? 0, y: position?.y ?? 0 };
  node.width = NODE_WIDTH;
  return node;
}

export const nodes = () => S.graph.nodes.filter((n) => n.dg);
// inputs, steps and outputs are three name spaces ($inputs.x, $steps.x, outputs' names)
export const keyOf = (node) => `${node.dg.role}:${node.title}`;
export const nodeByName = (name, role = "step") => nodes().find((n) => n.title === name && n.dg.role === role);
export const hasLiteral = (node, key) => Object.hasOwn(node.dg.literals, key);

export function uniqueName(base, role = "step") {
  const taken = new Set(nodes().filter((n) => n.dg.role === role).map((n) => n.title));
  const clean = (base || "step").replace(/[^A-Za-z0-9_\-]/g, "_").replace(/^([^A-Za-z_])/, "_$1");
  if (!taken.has(clean)) return clean;
  for (let i = 2; ; i++) if (!taken.has(`${clean}_${i}`)) return `${clean}_${i}`;
}

export function selectorOf(outIntf) {
  const node = S.graph.findNodeById(outIntf.nodeId);
  if (!node) return null;
  return node.dg.role === "input" ? `$inputs.${node.title}` : `$steps.${node.title}.${outIntf.dgKey}`;
}

/** Map of input socket key -> the selector wired into it. */
export function wiresInto(node) {
  const wired = new Map();
  for (const c of S.graph.connections) {
    if (c.to.nodeId === node.id) wired.set(c.to.dgKey, selectorOf(c.from));
  }
  return wired;
}

/** A new node for block ``type`` with a unique name (not yet committed to the history). */
export function createNode(type, position) {
  const info = infoFor(type);
  const role = info?.role || "step";
  const name = uniqueName(info?.base || type, role);
  const node = addNode(nodeSpec(role, { type, name }, []), position);
  node.dg.order = role === "output" ? ["type", "name", "selector"] : ["type", "name"];
  if (type === "WorkflowParameter") node.dg.order = ["type", "name", "default_value"];
  return node;
}

// --- definition <-> graph -----------------------------------------------------------------------

export function exportDefinition() {
  const out = { inputs: [], steps: [], outputs: [] };
  const meta = S.meta || {};
  for (const node of nodes()) {
    const { role, literals, order } = node.dg;
    const wired = wiresInto(node);
    const keys = [...new Set([...(order.length ? order : ["type", "name"]), "type", "name", ...Object.keys(literals), ...wired.keys()])];
    const item = {};
    for (const k of keys) {
      if (k === "type") item.type = node.type;
      else if (k === "name") item.name = node.title;
      else if (wired.has(k)) put(item, k, wired.get(k));
      else if (Object.hasOwn(literals, k)) put(item, k, literals[k]);
    }
    (role === "input" ? out.inputs : role === "output" ? out.outputs : out.steps).push(item);
  }
  // keep the top-level keys (and their order) of the definition that was loaded
  const fresh = !meta.order || !meta.order.length;
  const result = {};
  for (const k of fresh ? TOP_KEYS : meta.order) {
    if (k === "version") result.version = meta.version !== undefined ? meta.version : "1.0";
    else if (Object.hasOwn(out, k)) result[k] = out[k];
    else if (meta.extra && meta.extra.has(k)) put(result, k, meta.extra.get(k));
  }
  for (const k of ["inputs", "steps", "outputs"]) if (!Object.hasOwn(result, k)) result[k] = out[k];
  return result;
}

export function positions() {
  const map = dict();
  for (const n of nodes()) map[keyOf(n)] = { x: Math.round(n.position.x), y: Math.round(n.position.y) };
  return map;
}

/** Replace the drawn graph with ``definition``, at ``pos`` (role:name -> {x, y}) or laid out. */
export function buildGraph(definition, pos) {
  S.restoring++;
  try {
    for (const n of [...S.graph.nodes]) S.graph.removeNode(n);
    const def = definition || {};
    S.meta = {
      order: Object.keys(def),
      version: def.version,
      extra: new Map(Object.entries(def).filter(([k]) => !TOP_KEYS.includes(k))),
    };
    const needed = new Map();  // step name -> the outputs other parts refer to
    const scan = (v) => {
      if (typeof v === "string") {
        const m = STEP_REF.exec(v);
        if (m) {
          if (!needed.has(m[1])) needed.set(m[1], new Set());
          needed.get(m[1]).add(m[2]);
        }
      } else if (Array.isArray(v)) v.forEach(scan);
      else if (v && typeof v === "object") Object.values(v).forEach(scan);
    };
    for (const s of Array.isArray(def.steps) ? def.steps : []) {
      for (const [k, v] of Object.entries(s || {})) if (k !== "type" && k !== "name") scan(v);
    }
    for (const o of Array.isArray(def.outputs) ? def.outputs : []) scan(o && o.selector);
    const made = [];
    for (const [role, list] of [["input", def.inputs], ["step", def.steps], ["output", def.outputs]]) {
      for (const item of Array.isArray(list) ? list : []) {
        if (!item || typeof item !== "object") continue;
        made.push(addNode(nodeSpec(role, item, needed.get(item.name)), null));
      }
    }
    const byName = new Map(made.map((n) => [keyOf(n), n]));
    for (const node of made) {
      for (const [key, intf] of Object.entries(node.inputs)) {
        const v = node.dg.literals[key];
        if (!isSelector(v)) continue;
        let m = INPUT_REF.exec(v);
        let from = null;
        if (m) {
          const src = byName.get(`input:${m[1]}`);
          if (src) from = Object.values(src.outputs)[0];
        } else if ((m = STEP_REF.exec(v))) {
          const src = byName.get(`step:${m[1]}`);
          if (src && Object.hasOwn(src.outputs, m[2])) from = src.outputs[m[2]];
        }
        if (from && S.graph.addConnection(from, intf)) delete node.dg.literals[key];
      }
    }
    const stored = pos || {};
    const auto = layoutPositions();
    for (const node of made) {
      node.position = Object.hasOwn(stored, keyOf(node)) ? { ...stored[keyOf(node)] } : auto.get(node.id);
    }
    refreshLabels();
  } finally {
    S.restoring--;
  }
}

/** Node id -> {x, y}: columns by topological generation (inputs first), rows in definition order. */
export function layoutPositions() {
  const gen = new Map();
  const list = nodes();
  const incoming = new Map(list.map((n) => [n.id, []]));
  for (const c of S.graph.connections) incoming.get(c.to.nodeId)?.push(c.from.nodeId);
  const visit = (id, depth = 0) => {
    if (gen.has(id)) return gen.get(id);
    if (depth > list.length) return 0;
    const srcs = incoming.get(id) || [];
    const g = srcs.length ? 1 + Math.max(...srcs.map((s) => visit(s, depth + 1))) : 0;
    gen.set(id, g);
    return g;
  };
  list.forEach((n) => visit(n.id));
  const maxStep = Math.max(0, ...list.filter((n) => n.dg.role !== "output").map((n) => gen.get(n.id)));
  const columns = new Map();
  const result = new Map();
  for (const n of list) {
    let g = gen.get(n.id);
    if (n.dg.role === "output") g = Math.max(g, maxStep + 1);
    const y = columns.get(g) || 40;
    result.set(n.id, { x: 40 + g * (NODE_WIDTH + 70), y });
    columns.set(g, y + nodeHeight(n) + 50);
  }
  return result;
}

/** A node's drawn height (measured when drawn, else estimated from its rows). */
export function nodeHeight(n) {
  const drawn = document.getElementById(n.id);
  if (drawn && drawn.offsetHeight) return drawn.offsetHeight;
  return 65 + (Object.keys(n.inputs).length + Object.keys(n.outputs).length) * 36;
}

/** Socket labels: an unwired property with a literal shows it ("colormap = inferno"). */
export function refreshLabels() {
  for (const node of nodes()) {
    const wired = wiresInto(node);
    for (const [key, intf] of Object.entries(node.inputs)) {
      const lit = node.dg.literals[key];
      const label = !wired.has(key) && lit !== undefined && !isSelector(lit) ? `${key} = ${short(lit)}` : key;
      if (intf.name !== label) intf.name = label;
    }
  }
}

function short(v) {
  const t = typeof v === "string" ? v : JSON.stringify(v);
  return t.length > 18 ? t.slice(0, 17) + "…" : t;
}
