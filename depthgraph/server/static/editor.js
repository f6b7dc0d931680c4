// depthgraph's visual workflow editor.
//
// The workflow (a Roboflow Workflows v1 definition) plus node positions is the model; BaklavaJS
// draws it (nodes, sockets, wires, pan/zoom, selection, dragging). Every change is committed as
// a snapshot {definition, positions}: undo/redo restore snapshots (so a paste or a layout is one
// step), the latest one is kept in localStorage (the work survives a reload) and positions are
// also kept per definition hash. Positions never go into the definition.
//
// JS API (window.depthgraphEditor): ready (a promise), load(definition), definition(),
// validate() -> promise of the server's errors ([] when valid), run(inputs) -> promise of the
// outputs list of /workflows/run, plus undo(), redo(), layout() and positions() for tools.

import { analyseProperty, buildField, el, isSelector, kindsMeet } from "./forms.js";
import { renderOutputs } from "./outputs.js";

const B = window.BaklavaJS;
const TOKEN = Symbol("depthgraph");
const STORE_WIP = "depthgraph.editor.wip";
const STORE_POS = "depthgraph.editor.positions.";
const STORE_KEY = "depthgraph.editor.apiKey";
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_\-]*$/;
const NODE_WIDTH = 220;

const $ = (sel) => document.querySelector(sel);
const tid = (id) => document.querySelector(`[data-testid="${id}"]`);

const S = {
  blocks: new Map(),        // identifier or alias -> block info
  describe: null,
  viewModel: null,
  graph: null,
  history: [],
  index: -1,
  restoring: 0,
  commitTimer: null,
  validateTimer: null,
  validateSeq: 0,
  errors: [],
  verdict: null,            // last connection check {fromId, toId, allowed, reason}
  wireDrag: null,
  selectedName: null,
  clipboard: null,
  runImages: {},            // input name -> [data URL]
  runParams: {},            // input name -> value
};

// --- the server -------------------------------------------------------------------------------

async function askKey() {
  const dialog = tid("key-dialog");
  const input = tid("api-key-input");
  input.value = "";
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  if (input.value) sessionStorage.setItem(STORE_KEY, input.value);
}

async function api(path, body) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = {};
    const key = sessionStorage.getItem(STORE_KEY);
    if (key) headers.Authorization = `Bearer ${key}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: body === undefined ? "GET" : "POST", headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) { sessionStorage.removeItem(STORE_KEY); await askKey(); continue; }
    let data;
    try { data = await response.json(); } catch { data = { message: `HTTP ${response.status} ${response.statusText}` }; }
    return { ok: response.ok, status: response.status, data };
  }
  throw new Error("the server refused the API key");
}

// --- blocks ---------------------------------------------------------------------------------

const PSEUDO = {
  WorkflowImage: { id: "WorkflowImage", role: "input", title: "Image input", section: "workflow",
    short: "An image given when the workflow runs.", base: "image" },
  WorkflowParameter: { id: "WorkflowParameter", role: "input", title: "Parameter input", section: "workflow",
    short: "A value given when the workflow runs (or its default).", base: "parameter" },
  JsonField: { id: "JsonField", role: "output", title: "Output", section: "workflow",
    short: "A value the workflow returns.", base: "output" },
};

function blockInfo(entry) {
  const schema = entry.block_schema || {};
  const defs = schema.$defs || schema.definitions || {};
  const required = schema.required || [];
  const props = [];
  for (const [name, p] of Object.entries(schema.properties || {})) {
    if (name === "type" || name === "name") continue;
    const info = analyseProperty(p, defs);
    props.push({ name, info, required: required.includes(name), description: p.description || info.schema.description || "" });
  }
  const outputs = (entry.outputs_manifest || []).map((o) => {
    const kinds = (o.kind || []).map((k) => (typeof k === "string" ? k : k.name));
    return { name: o.name, kinds: kinds.length ? kinds : ["*"], description: o.description || "" };
  });
  const meta = entry.block_metadata || {};
  return {
    id: entry.identifier, role: "step", entry, props, outputs,
    propMap: Object.fromEntries(props.map((p) => [p.name, p])),
    title: entry.human_friendly_block_name || meta.name || entry.identifier,
    section: (meta.ui_manifest && meta.ui_manifest.section) || schema.ui_manifest?.section || "other",
    short: meta.short_description || schema.short_description || schema.description || "",
    base: entry.identifier.replace(/^.*\//, "").replace(/@.*$/, ""),
  };
}

function infoFor(type) {
  return PSEUDO[type] || S.blocks.get(type) || null;
}

// --- nodes ----------------------------------------------------------------------------------

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

/** The sockets and outputs of a node for ``item`` (an inputs/steps/outputs entry). */
function nodeSpec(role, item, neededOutputs) {
  const type = role === "output" ? (item.type || "JsonField") : item.type;
  const info = infoFor(type);
  const literals = {};
  const order = Object.keys(item);
  for (const [k, v] of Object.entries(item)) if (k !== "type" && k !== "name") literals[k] = v;
  const sockets = [];
  const outputs = [];
  if (role === "input") {
    let kinds = ["*"];
    if (type === "WorkflowImage") kinds = ["image"];
    else if (Array.isArray(item.kind) && item.kind.length) kinds = item.kind.map((k) => (typeof k === "string" ? k : k.name));
    outputs.push({ key: type === "WorkflowImage" ? "image" : "value", kinds });
  } else if (role === "output") {
    sockets.push({ key: "selector", kinds: ["*"] });
  } else {
    const known = info && info.role === "step" ? info : null;
    for (const p of known ? known.props : []) if (p.info.selector) sockets.push({ key: p.name, kinds: p.info.kinds });
    for (const [k, v] of Object.entries(literals)) {
      if ((!known || !known.propMap[k]) && isSelector(v)) sockets.push({ key: k, kinds: ["*"] });
    }
    for (const o of known ? known.outputs : []) outputs.push({ key: o.name, kinds: o.kinds });
    for (const name of neededOutputs || []) if (!outputs.some((o) => o.key === name)) outputs.push({ key: name, kinds: ["*"] });
  }
  return { type, name: item.name, sockets, outputs, dg: { role, literals, order } };
}

function addNode(spec, position) {
  const node = new DgNode(spec);
  S.graph.addNode(node);
  node.position = { x: position?.x ?? 0, y: position?.y ?? 0 };
  node.width = NODE_WIDTH;
  return node;
}

const nodes = () => S.graph.nodes.filter((n) => n.dg);
// inputs, steps and outputs are three name spaces ($inputs.x, $steps.x, outputs' names)
const keyOf = (node) => `${node.dg.role}:${node.title}`;
const nodeByName = (name, role = "step") => nodes().find((n) => n.title === name && n.dg.role === role);

function uniqueName(base, role = "step") {
  const taken = new Set(nodes().filter((n) => n.dg.role === role).map((n) => n.title));
  const clean = (base || "step").replace(/[^A-Za-z0-9_\-]/g, "_").replace(/^([^A-Za-z_])/, "_$1");
  if (!taken.has(clean)) return clean;
  for (let i = 2; ; i++) if (!taken.has(`${clean}_${i}`)) return `${clean}_${i}`;
}

function selectorOf(outIntf) {
  const node = S.graph.findNodeById(outIntf.nodeId);
  if (!node) return null;
  return node.dg.role === "input" ? `$inputs.${node.title}` : `$steps.${node.title}.${outIntf.dgKey}`;
}

function wiresInto(node) {
  const wired = {};
  for (const c of S.graph.connections) {
    if (c.to.nodeId === node.id) wired[c.to.dgKey] = selectorOf(c.from);
  }
  return wired;
}

// --- definition <-> graph -----------------------------------------------------------------------

function exportDefinition() {
  const out = { inputs: [], steps: [], outputs: [] };
  const meta = S.meta || {};
  for (const node of nodes()) {
    const { role, literals, order } = node.dg;
    const wired = wiresInto(node);
    const keys = [...new Set([...(order.length ? order : ["type", "name"]), "type", "name", ...Object.keys(literals), ...Object.keys(wired)])];
    const item = {};
    for (const k of keys) {
      if (k === "type") item.type = node.type;
      else if (k === "name") item.name = node.title;
      else if (wired[k] !== undefined) item[k] = wired[k];
      else if (Object.prototype.hasOwnProperty.call(literals, k)) item[k] = literals[k];
    }
    (role === "input" ? out.inputs : role === "output" ? out.outputs : out.steps).push(item);
  }
  // keep the top-level keys (and their order) of the definition that was loaded
  const fresh = !meta.order || !meta.order.length;
  const result = {};
  for (const k of fresh ? ["version", "inputs", "steps", "outputs"] : meta.order) {
    if (k === "version") result.version = meta.version !== undefined ? meta.version : "1.0";
    else if (k in out) result[k] = out[k];
    else if (meta.extra && k in meta.extra) result[k] = meta.extra[k];
  }
  for (const k of ["inputs", "steps", "outputs"]) if (!(k in result)) result[k] = out[k];
  return result;
}

function positions() {
  const map = {};
  for (const n of nodes()) map[keyOf(n)] = { x: Math.round(n.position.x), y: Math.round(n.position.y) };
  return map;
}

function buildGraph(definition, pos) {
  S.restoring++;
  try {
    for (const n of [...S.graph.nodes]) S.graph.removeNode(n);
    const def = definition || {};
    S.meta = {
      order: Object.keys(def),
      version: def.version,
      extra: Object.fromEntries(Object.entries(def).filter(([k]) => !["version", "inputs", "steps", "outputs"].includes(k))),
    };
    const needed = {};
    const scan = (v) => {
      if (typeof v === "string") {
        const m = /^\$steps\.([^.]+)\.(.+)$/.exec(v);
        if (m) (needed[m[1]] ||= new Set()).add(m[2]);
      } else if (Array.isArray(v)) v.forEach(scan);
      else if (v && typeof v === "object") Object.values(v).forEach(scan);
    };
    for (const s of def.steps || []) for (const [k, v] of Object.entries(s || {})) if (k !== "type" && k !== "name") scan(v);
    for (const o of def.outputs || []) scan(o && o.selector);
    const made = [];
    for (const [role, list] of [["input", def.inputs], ["step", def.steps], ["output", def.outputs]]) {
      for (const item of Array.isArray(list) ? list : []) {
        if (!item || typeof item !== "object") continue;
        made.push(addNode(nodeSpec(role, item, needed[item.name]), null));
      }
    }
    const byName = new Map(made.map((n) => [keyOf(n), n]));
    for (const node of made) {
      for (const [key, intf] of Object.entries(node.inputs)) {
        const v = node.dg.literals[key];
        if (!isSelector(v)) continue;
        let m = /^\$inputs\.(.+)$/.exec(v);
        let from = null;
        if (m) {
          const src = byName.get(`input:${m[1]}`);
          if (src) from = Object.values(src.outputs)[0];
        } else if ((m = /^\$steps\.([^.]+)\.(.+)$/.exec(v))) {
          const src = byName.get(`step:${m[1]}`);
          if (src) from = src.outputs[m[2]];
        }
        if (from && S.graph.addConnection(from, intf)) delete node.dg.literals[key];
      }
    }
    const stored = pos || {};
    const auto = layoutPositions();
    for (const node of made) node.position = stored[keyOf(node)] ? { ...stored[keyOf(node)] } : auto[node.id];
    refreshLabels();
  } finally {
    S.restoring--;
  }
}

/** Columns by topological generation (inputs first), rows in definition order. */
function layoutPositions() {
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
  const result = {};
  for (const n of list) {
    let g = gen.get(n.id);
    if (n.dg.role === "output") g = Math.max(g, maxStep + 1);
    const y = columns.get(g) || 40;
    result[n.id] = { x: 40 + g * (NODE_WIDTH + 70), y };
    const rows = Object.keys(n.inputs).length + Object.keys(n.outputs).length;
    const drawn = document.getElementById(n.id);  // measured when drawn, else estimated
    const height = drawn && drawn.offsetHeight ? drawn.offsetHeight : 65 + rows * 36;
    columns.set(g, y + height + 50);
  }
  return result;
}

function refreshLabels() {
  for (const node of nodes()) {
    const wired = wiresInto(node);
    for (const [key, intf] of Object.entries(node.inputs)) {
      const lit = node.dg.literals[key];
      const label = wired[key] === undefined && lit !== undefined && !isSelector(lit) ? `${key} = ${short(lit)}` : key;
      if (intf.name !== label) intf.name = label;
    }
  }
}

function short(v) {
  const t = typeof v === "string" ? v : JSON.stringify(v);
  return t.length > 18 ? t.slice(0, 17) + "…" : t;
}

// --- history, storage -------------------------------------------------------------------------

function hashText(text) { // cyrb53: a fast 53-bit string hash, enough to key local storage
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16);
}

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

const definitionHash = (def) => hashText(canonical(def));

function snapshot() {
  return JSON.stringify({ definition: exportDefinition(), positions: positions() });
}

function persist(text) {
  try {
    localStorage.setItem(STORE_WIP, text);
    const doc = JSON.parse(text);
    localStorage.setItem(STORE_POS + definitionHash(doc.definition), JSON.stringify(doc.positions));
  } catch (e) {
    status(`could not keep the work in browser storage: ${e.message}`);
  }
}

function scheduleCommit() {
  if (S.restoring) return;
  clearTimeout(S.commitTimer);
  S.commitTimer = setTimeout(commit, 0);
}

function commit() {
  clearTimeout(S.commitTimer);
  const text = snapshot();
  if (S.history[S.index] === text) return;
  S.history = S.history.slice(0, S.index + 1);
  S.history.push(text);
  if (S.history.length > 200) S.history.shift();
  S.index = S.history.length - 1;
  afterChange(text);
}

function afterChange(text) {
  tid("empty-hint").hidden = nodes().length > 0;
  refreshLabels();
  persist(text);
  renderProperties();
  renderRunInputs();
  scheduleValidate();
  updateButtons();
}

function restore(text) {
  const doc = JSON.parse(text);
  buildGraph(doc.definition, doc.positions);
  const again = S.selectedName && nodes().find((n) => keyOf(n) === S.selectedName);
  S.graph.selectedNodes = again ? [again] : [];
  afterChange(text);
}

function undo() {
  commit();
  if (S.index <= 0) return;
  S.index--;
  restore(S.history[S.index]);
}

function redo() {
  if (S.index >= S.history.length - 1) return;
  S.index++;
  restore(S.history[S.index]);
}

function updateButtons() {
  tid("undo").disabled = S.index <= 0;
  tid("redo").disabled = S.index >= S.history.length - 1;
}

/** Draw ``definition``: positions from storage when this definition was laid out before. */
function load(definition, { fit = true } = {}) {
  if (typeof definition === "string") definition = JSON.parse(definition);
  if (!definition || typeof definition !== "object" || Array.isArray(definition)) {
    throw new Error("a workflow definition is a JSON object with inputs, steps and outputs");
  }
  let pos = null;
  try { pos = JSON.parse(localStorage.getItem(STORE_POS + definitionHash(definition)) || "null"); } catch { pos = null; }
  buildGraph(definition, pos);
  commit();
  if (fit) setTimeout(zoomToFit, 0);
}

function zoomToFit() {
  if (nodes().length === 0) return;
  try { S.viewModel.commandHandler.executeCommand(B.RendererVue.ZOOM_TO_FIT_GRAPH_COMMAND); } catch { /* older builds */ }
  if (S.graph.scaling > 1) S.graph.scaling = 1;
}

function layout() {
  const auto = layoutPositions();
  for (const n of nodes()) n.position = auto[n.id];
  commit();
}

// --- status, validation -----------------------------------------------------------------------

let statusTimer = null;
function status(text) {
  const box = tid("status");
  box.textContent = text;
  clearTimeout(statusTimer);
  if (text) statusTimer = setTimeout(() => { if (box.textContent === text) box.textContent = ""; }, 12000);
}

function scheduleValidate() {
  clearTimeout(S.validateTimer);
  S.validateTimer = setTimeout(() => validate().catch((e) => status(e.message)), 350);
}

function errorList(data) {
  const items = (data.blocks_errors || []).map((b) => ({ ...b }));
  const message = String(data.message || "");
  const parts = message.replace(/^\d+ errors: /, "").split("; ");
  for (const part of parts) {
    if (items.some((i) => part.includes(i.message))) continue;
    const out = /outputs\[\d+\] \('([^']+)'\)/.exec(part);
    const inp = /inputs\[\d+\] \('([^']+)'\)/.exec(part);
    const prop = /property '([^']+)'/.exec(part);
    items.push({ step: out ? out[1] : inp ? inp[1] : null, role: out ? "output" : inp ? "input" : "step", block_type: null, property: prop ? prop[1] : null, message: part });
  }
  return items;
}

async function validate() {
  clearTimeout(S.validateTimer);
  const seq = ++S.validateSeq;
  const badge = tid("validate-status");
  badge.textContent = "checking…";
  badge.dataset.state = "busy";
  const definition = exportDefinition();
  const response = await api("workflows/validate", { specification: definition });
  const errors = response.ok ? [] : errorList(response.data || {});
  if (seq === S.validateSeq) {
    S.errors = errors;
    badge.dataset.state = errors.length ? "error" : "ok";
    badge.textContent = errors.length ? `✗ ${errors.length} problem${errors.length > 1 ? "s" : ""}` : "✓ valid";
    renderErrors();
  }
  return errors;
}

function renderErrors() {
  const list = tid("error-list");
  list.replaceChildren();
  if (!S.errors.length) list.append(el("li", { class: "dg-none", text: "No problems." }));
  for (const e of S.errors) {
    const where = [e.step && `step '${e.step}'`, e.property && `property '${e.property}'`].filter(Boolean).join(" ");
    const li = el("li", { "data-step": e.step || "", "data-property": e.property || "", tabindex: "0",
      text: (where ? where + ": " : "") + e.message });
    const focus = () => { const n = e.step && nodeByName(e.step, e.role || "step"); if (n) { S.graph.selectedNodes = [n]; renderProperties(); } };
    li.addEventListener("click", focus);
    li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") focus(); });
    list.append(li);
  }
  for (const node of nodes()) decorate(node, document.getElementById(node.id));
  renderProperties();
}

/** Block name, role and errors as attributes of a node's element (CSS shows them). */
function errorsOf(node) {
  return S.errors.filter((e) => e.step === node.title && (e.role || "step") === node.dg.role);
}

function decorate(node, elNode) {
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
      if (io === "in" && wired[key] !== undefined && node.dg.literals[key] !== undefined) ie.dataset.wiredLiteral = "";
      else delete ie.dataset.wiredLiteral;
    }
  }
}

// --- connections ------------------------------------------------------------------------------

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

function verdict(from, to) {
  const fromNode = S.graph.findNodeById(from.nodeId);
  const toNode = S.graph.findNodeById(to.nodeId);
  const fk = from.dgKinds || ["*"], tk = to.dgKinds || ["*"];
  const src = `${fromNode?.title}.${from.dgKey}`, dst = `${toNode?.title}.${to.dgKey}`;
  if (!kindsMeet(fk, tk)) {
    return { allowed: false, reason: `cannot connect ${src} to ${dst}: ${dst} takes ${tk.join(" or ")}, ${src} gives ${fk.join(", ")}` };
  }
  if (reaches(to.nodeId, from.nodeId)) return { allowed: false, reason: `cannot connect ${src} to ${dst}: it would make a cycle` };
  return { allowed: true, reason: "" };
}

function checkConnection({ from, to }) {
  const v = verdict(from, to);
  S.verdict = { ...v, fromId: from.id, toId: to.id };
  if (!v.allowed) return { connectionAllowed: false, connectionsInDanger: [] };
  return { connectionAllowed: true, connectionsInDanger: S.graph.connections.filter((c) => c.to.id === to.id) };
}

function onPortDown(ev) {
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
}

function onPointerUp(ev) {
  const drag = S.wireDrag;
  S.wireDrag = null;
  setTimeout(() => { scheduleCommit(); syncSelection(); }, 0);
  if (!drag) return;
  const under = document.elementFromPoint(ev.clientX, ev.clientY);
  const ie = under && under.closest(".baklava-node-interface");
  if (ie) {
    const v = S.verdict;
    if (v && !v.allowed && (v.toId === ie.id || v.fromId === ie.id)) status(v.reason);
    return;
  }
  const canvas = tid("canvas");
  const moved = Math.hypot(ev.clientX - drag.x, ev.clientY - drag.y) > 12;
  if (moved && canvas.contains(under) && !under.closest(".baklava-node")) showSuggestions(drag.intf, ev.clientX, ev.clientY);
}

function toGraph(clientX, clientY) {
  const rect = $("#dg-baklava").getBoundingClientRect();
  const g = S.graph;
  return { x: (clientX - rect.left) / g.scaling - g.panning.x, y: (clientY - rect.top) / g.scaling - g.panning.y };
}

function suggestionsFor(intf) {
  const out = [];
  const seen = new Set();
  const push = (s) => { const k = `${s.type}|${s.key}`; if (!seen.has(k)) { seen.add(k); out.push(s); } };
  const kinds = intf.dgKinds || ["*"];
  if (!intf.isInput) {
    const blocks = [...new Set(S.blocks.values())];
    for (const b of blocks) {
      for (const p of b.props) {
        if (p.info.selector && kindsMeet(kinds, p.info.kinds)) push({ type: b.id, key: p.name, label: `${b.title} → ${p.name}` });
      }
    }
    push({ type: "JsonField", key: "selector", label: "Output (return this value)" });
  } else {
    if (kindsMeet(kinds, ["image"])) push({ type: "WorkflowImage", key: "image", label: "Image input" });
    push({ type: "WorkflowParameter", key: "value", label: "Parameter input" });
    for (const b of new Set(S.blocks.values())) {
      for (const o of b.outputs) if (kindsMeet(kinds, o.kinds)) push({ type: b.id, key: o.name, label: `${b.title} → ${o.name}` });
    }
  }
  return out;
}

function showSuggestions(intf, clientX, clientY) {
  const menu = tid("suggestions");
  const box = tid("canvas").getBoundingClientRect();
  menu.replaceChildren(el("li", { class: "dg-hint", text: intf.isInput ? "Feed it from:" : "Connect it to:" }));
  const at = toGraph(clientX, clientY);
  for (const s of suggestionsFor(intf)) {
    const button = el("button", { type: "button", role: "menuitem", "data-testid": `suggestion-${s.type}-${s.key}`, text: s.label });
    button.addEventListener("click", () => {
      hideSuggestions();
      const node = createNode(s.type, intf.isInput ? { x: at.x - NODE_WIDTH - 40, y: at.y } : at);
      const other = intf.isInput ? node.outputs[s.key] : node.inputs[s.key];
      if (other) S.graph.addConnection(intf.isInput ? other : intf, intf.isInput ? intf : other);
      commit();
    });
    menu.append(el("li", {}, button));
  }
  menu.style.left = `${Math.min(clientX - box.left, box.width - 260)}px`;
  menu.style.top = `${Math.min(clientY - box.top, box.height - 200)}px`;
  menu.hidden = false;
  menu.querySelector("button")?.focus();
}

function hideSuggestions() { tid("suggestions").hidden = true; }

// --- palette ------------------------------------------------------------------------------------

function createNode(type, position) {
  const info = infoFor(type);
  const role = info?.role || "step";
  const name = uniqueName(info?.base || type, role);
  const item = role === "output" ? { type: "JsonField", name, selector: undefined } : { type, name };
  if (item.selector === undefined) delete item.selector;
  const node = addNode(nodeSpec(role, item, []), position);
  node.dg.order = role === "output" ? ["type", "name", "selector"] : ["type", "name"];
  if (type === "WorkflowParameter") node.dg.order = ["type", "name", "default_value"];
  return node;
}

function freeSpot() {
  const rect = $("#dg-baklava").getBoundingClientRect();
  const c = toGraph(rect.left + rect.width / 3, rect.top + 80);
  const taken = nodes().map((n) => n.position);
  let p = { x: c.x, y: c.y };
  for (let i = 0; i < 40 && taken.some((t) => Math.abs(t.x - p.x) < 60 && Math.abs(t.y - p.y) < 60); i++) p = { x: p.x + 30, y: p.y + 30 };
  return p;
}

function addFromPalette(type, position) {
  const node = createNode(type, position || freeSpot());
  S.graph.selectedNodes = [node];
  commit();
  return node;
}

function renderPalette() {
  const list = tid("palette-list");
  const query = tid("palette-search").value.trim().toLowerCase();
  const entries = [...Object.values(PSEUDO), ...new Set(S.blocks.values())];
  const sections = new Map();
  for (const b of entries) {
    const hay = `${b.title} ${b.id} ${b.short} ${b.section}`.toLowerCase();
    if (query && !hay.includes(query)) continue;
    if (!sections.has(b.section)) sections.set(b.section, []);
    sections.get(b.section).push(b);
  }
  list.replaceChildren();
  const order = ["workflow", "model", "transformation", "analytics", "visualization", "sink"];
  const rank = (s) => (order.includes(s) ? order.indexOf(s) : order.length);
  const names = [...sections.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  for (const section of names) {
    list.append(el("h3", { text: section }));
    for (const b of sections.get(section)) {
      const item = el("button", { type: "button", class: "dg-palette-item", "data-testid": `palette-item-${b.id}`,
        "data-block": b.id, title: `${b.id}\nDrag onto the canvas, double-click or press Enter to add.` },
      document.createTextNode(b.title), el("small", { text: b.short }));
      item.addEventListener("dblclick", () => addFromPalette(b.id));
      item.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); addFromPalette(b.id); } });
      item.addEventListener("pointerdown", (ev) => startPaletteDrag(ev, b));
      list.append(item);
    }
  }
  if (!names.length) list.append(el("p", { class: "dg-hint", text: "No block matches." }));
}

function startPaletteDrag(ev, block) {
  if (ev.button !== 0) return;
  const x0 = ev.clientX, y0 = ev.clientY;
  let ghost = null;
  const move = (e) => {
    if (!ghost && Math.hypot(e.clientX - x0, e.clientY - y0) < 6) return;
    if (!ghost) {
      ghost = el("div", { class: "dg-palette-item dg-ghost", text: block.title });
      document.body.append(ghost);
    }
    ghost.style.left = `${e.clientX + 4}px`;
    ghost.style.top = `${e.clientY + 4}px`;
  };
  const up = (e) => {
    document.removeEventListener("pointermove", move);
    document.removeEventListener("pointerup", up);
    if (!ghost) return;
    ghost.remove();
    const rect = $("#dg-baklava").getBoundingClientRect();
    if (e.clientX > rect.left && e.clientX < rect.right && e.clientY > rect.top && e.clientY < rect.bottom) {
      addFromPalette(block.id, toGraph(e.clientX, e.clientY));
    }
  };
  document.addEventListener("pointermove", move);
  document.addEventListener("pointerup", up);
}

// --- properties panel ------------------------------------------------------------------------

function selectedNode() {
  const sel = S.graph.selectedNodes || [];
  return sel.length ? sel[sel.length - 1] : null;
}

function syncSelection() {
  const node = selectedNode();
  const name = node ? keyOf(node) : null;
  if (name !== S.selectedName) { S.selectedName = name; renderProperties(); }
}

function setLiteral(node, key, value) {
  if (value === undefined) delete node.dg.literals[key];
  else node.dg.literals[key] = value;
  if (!node.dg.order.includes(key)) node.dg.order.push(key);
  commit();
}

function rename(node, name) {
  if (name === node.title) return true;
  if (!NAME_RE.test(name)) { status(`'${name}' cannot be a name: use letters, digits, _ and -, not starting with a digit`); return false; }
  if (nodeByName(name, node.dg.role)) { status(`'${name}' is already used in this workflow`); return false; }
  S.renaming = true;
  node.title = name;
  S.renaming = false;
  S.selectedName = keyOf(node);
  commit();
  return true;
}

function renderProperties() {
  const body = document.querySelector(".dg-props-body");
  const node = selectedNode();
  body.replaceChildren();
  if (!node || !node.dg) { body.append(el("p", { class: "dg-hint", text: "Select a node to edit it." })); return; }
  S.selectedName = keyOf(node);
  const info = infoFor(node.type);
  const wired = wiresInto(node);
  const errs = errorsOf(node);
  body.append(el("p", { class: "dg-hint", "data-testid": "properties-type", text: `${info ? info.title : "unknown block"} — ${node.type}` }));
  if (info && info.short) body.append(el("p", { class: "dg-hint", text: info.short }));
  const nameField = buildField("name", {
    info: { selector: false, kinds: [], literals: [{ type: "string" }], schema: {} }, has: true, value: node.title,
    required: true, description: "Unique name; other steps refer to it as $steps.<name> or $inputs.<name>.",
    testid: "prop-name", onChange: (v) => { if (!rename(node, String(v || ""))) renderProperties(); },
  });
  body.append(nameField);
  const props = [];
  if (node.dg.role === "step" && info && info.props) {
    for (const p of info.props) props.push(p);
  } else if (node.dg.role === "output") {
    props.push({ name: "selector", info: { selector: true, kinds: ["*"], literals: [], schema: {} }, required: true, description: "The value to return: wire any output into this node." });
  } else if (node.type === "WorkflowParameter") {
    props.push({ name: "default_value", info: { selector: false, kinds: [], literals: [{}, {}], schema: {} }, description: "Used when a run gives no value (JSON)." });
  }
  const known = new Set(props.map((p) => p.name));
  for (const k of Object.keys(node.dg.literals)) {
    if (!known.has(k)) props.push({ name: k, info: { selector: node.inputs[k] !== undefined, kinds: ["*"], literals: [{}, {}], schema: {} }, description: "(not in the block's schema; kept as written)" });
  }
  for (const p of props) {
    const field = buildField(p.name, {
      info: p.info, has: Object.prototype.hasOwnProperty.call(node.dg.literals, p.name), value: node.dg.literals[p.name],
      wiredFrom: wired[p.name] || null, required: p.required, description: p.description,
      onChange: (v) => setLiteral(node, p.name, v),
    });
    const e = errs.find((x) => x.property === p.name);
    if (e) field.dataset.error = e.message;
    body.append(field);
  }
  const general = errs.filter((e) => !e.property || !known.has(e.property) && !(e.property in node.dg.literals));
  for (const e of general) body.append(el("p", { class: "dg-field-error", text: e.message }));
}

// --- run ------------------------------------------------------------------------------------------

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function renderRunInputs() {
  const box = tid("run-inputs");
  const def = exportDefinition();
  const key = JSON.stringify(def.inputs);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren();
  if (!def.inputs.length) box.append(el("p", { class: "dg-hint", text: "Add an image input to run the workflow." }));
  for (const inp of def.inputs) {
    if (!inp || !inp.name) continue;
    const field = el("div", { class: "dg-field" });
    const id = `dg-run-${inp.name}`;
    if (inp.type === "WorkflowImage") {
      const input = el("input", { type: "file", id, accept: "image/*", multiple: true, "data-testid": `run-image-${inp.name}` });
      const thumbs = el("div", { class: "dg-thumbs", "data-testid": `run-thumbs-${inp.name}` });
      const show = () => { thumbs.replaceChildren(...(S.runImages[inp.name] || []).map((src) => el("img", { src, alt: `${inp.name} input` }))); };
      const take = async (files) => { S.runImages[inp.name] = await Promise.all([...files].map(readFile)); show(); };
      input.addEventListener("change", () => take(input.files));
      field.addEventListener("dragover", (e) => { e.preventDefault(); field.classList.add("dg-drop"); });
      field.addEventListener("dragleave", () => field.classList.remove("dg-drop"));
      field.addEventListener("drop", (e) => { e.preventDefault(); field.classList.remove("dg-drop"); take(e.dataTransfer.files); });
      field.append(el("label", { for: id, text: `${inp.name} (image; pick or drop one or more)` }), input, thumbs);
      show();
    } else {
      const input = el("input", { type: "text", id, "data-testid": `run-param-${inp.name}`,
        placeholder: inp.default_value !== undefined ? `default: ${JSON.stringify(inp.default_value)}` : "value (JSON or text)" });
      if (S.runParams[inp.name] !== undefined) input.value = typeof S.runParams[inp.name] === "string" ? S.runParams[inp.name] : JSON.stringify(S.runParams[inp.name]);
      input.addEventListener("change", () => {
        const t = input.value.trim();
        if (!t) { delete S.runParams[inp.name]; return; }
        try { S.runParams[inp.name] = JSON.parse(t); } catch { S.runParams[inp.name] = t; }
      });
      field.append(el("label", { for: id, text: `${inp.name} (${inp.type})` }), input);
    }
    box.append(field);
  }
}

function outputKinds(def) {
  const kinds = {};
  for (const node of nodes()) {
    if (node.dg.role !== "output") continue;
    const c = S.graph.connections.find((cc) => cc.to.nodeId === node.id);
    kinds[node.title] = c ? c.from.dgKinds : ["*"];
  }
  return kinds;
}

async function run(given) {
  const def = exportDefinition();
  const inputs = {};
  const shown = {};
  for (const inp of def.inputs) {
    const value = given ? given[inp.name] : (inp.type === "WorkflowImage" ? S.runImages[inp.name] : S.runParams[inp.name]);
    if (value === undefined) continue;
    if (inp.type === "WorkflowImage") {
      const list = (Array.isArray(value) ? value : [value]).map((v) => (typeof v === "string" && !v.startsWith("data:") ? `data:image/*;base64,${v}` : v));
      shown[inp.name] = list;
      const encoded = list.map((v) => ({ type: "base64", value: v }));
      inputs[inp.name] = encoded.length === 1 ? encoded[0] : encoded;
    } else {
      inputs[inp.name] = value;
    }
  }
  if (given) for (const [k, v] of Object.entries(given)) if (!(k in inputs) && !def.inputs.some((i) => i.name === k)) inputs[k] = v;
  const errorBox = tid("run-error");
  const timeBox = tid("run-time");
  const button = tid("run-button");
  errorBox.textContent = "";
  timeBox.textContent = "running…";
  button.disabled = true;
  const t0 = performance.now();
  try {
    const response = await api("workflows/run", { specification: def, inputs, include_points: true, array_format: "base64" });
    const seconds = (performance.now() - t0) / 1000;
    timeBox.textContent = `${seconds.toFixed(2)} s`;
    if (!response.ok) {
      const d = response.data || {};
      const detail = (d.blocks_errors || []).map((b) => `step '${b.step}' ${b.property ? `property '${b.property}'` : ""}: ${b.message}`).join("\n");
      errorBox.textContent = `${d.error_type || "error"} (HTTP ${response.status}): ${d.message || ""}${detail ? "\n" + detail : ""}`;
      throw new Error(d.message || `HTTP ${response.status}`);
    }
    const outputs = response.data.outputs || [];
    await renderOutputs(tid("run-results"), outputs, { kinds: outputKinds(def), inputs: shown, seconds });
    return outputs;
  } finally {
    button.disabled = false;
  }
}

// --- clipboard ---------------------------------------------------------------------------------

function copySelection() {
  const sel = (S.graph.selectedNodes || []).filter((n) => n.dg);
  if (!sel.length) return;
  const def = exportDefinition();
  const keys = new Set(sel.map(keyOf));
  S.clipboard = {
    inputs: def.inputs.filter((i) => keys.has(`input:${i.name}`)), steps: def.steps.filter((s) => keys.has(`step:${s.name}`)),
    outputs: def.outputs.filter((o) => keys.has(`output:${o.name}`)), positions: positions(),
  };
  status(`copied ${sel.length} node${sel.length > 1 ? "s" : ""}`);
}

function paste() {
  const clip = S.clipboard;
  if (!clip) return;
  const doc = JSON.parse(snapshot());
  const renames = { input: {}, step: {}, output: {} };
  for (const [role, list] of [["input", clip.inputs], ["step", clip.steps], ["output", clip.outputs]]) {
    const taken = new Set(nodes().filter((n) => n.dg.role === role).map((n) => n.title));
    for (const item of list) {
      let name = item.name;
      for (let i = 2; taken.has(name); i++) name = `${item.name}_${i}`;
      taken.add(name);
      renames[role][item.name] = name;
    }
  }
  const remap = (v) => {
    if (typeof v === "string") {
      let m = /^\$inputs\.(.+)$/.exec(v);
      if (m && renames.input[m[1]]) return `$inputs.${renames.input[m[1]]}`;
      m = /^\$steps\.([^.]+)\.(.+)$/.exec(v);
      if (m && renames.step[m[1]]) return `$steps.${renames.step[m[1]]}.${m[2]}`;
      return v;
    }
    if (Array.isArray(v)) return v.map(remap);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, remap(x)]));
    return v;
  };
  const copyItem = (role) => (item) => Object.fromEntries(Object.entries(item).map(([k, v]) => [k, k === "name" ? renames[role][v] : k === "type" ? v : remap(v)]));
  doc.definition.inputs.push(...clip.inputs.map(copyItem("input")));
  doc.definition.steps.push(...clip.steps.map(copyItem("step")));
  doc.definition.outputs.push(...clip.outputs.map(copyItem("output")));
  const pasted = [];
  for (const role of ["input", "step", "output"]) {
    for (const [old, name] of Object.entries(renames[role])) {
      const p = clip.positions[`${role}:${old}`] || { x: 0, y: 0 };
      doc.positions[`${role}:${name}`] = { x: p.x + 40, y: p.y + 40 };
      pasted.push([name, role]);
    }
  }
  buildGraph(doc.definition, doc.positions);
  S.graph.selectedNodes = pasted.map(([name, role]) => nodeByName(name, role)).filter(Boolean);
  commit();
}

// --- wiring up --------------------------------------------------------------------------------

function onKeyDown(ev) {
  const inField = ev.target && ev.target.closest && ev.target.closest("input, textarea, select, dialog");
  if (ev.key === "Escape") hideSuggestions();
  if (inField || !(ev.ctrlKey || ev.metaKey)) return;
  const k = ev.key.toLowerCase();
  const act = { z: ev.shiftKey ? redo : undo, y: redo, c: copySelection, v: paste }[k];
  if (!act) return;
  ev.preventDefault();
  ev.stopPropagation();
  act();
}

function download(name, text) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/json" })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

function importText(text) {
  let def;
  try { def = JSON.parse(text); } catch (e) { throw new Error(`not valid JSON: ${e.message}`); }
  if (def && def.specification && typeof def.specification === "object") def = def.specification;
  load(def);
}

async function loadExamples() {
  const menu = tid("examples-menu");
  try {
    const r = await api("editor/examples");
    for (const e of (r.data && r.data.examples) || []) menu.append(el("option", { value: e.name, text: e.name }));
    if (!r.data?.examples?.length) menu.append(el("option", { value: "", text: "(no examples folder found)", disabled: true }));
  } catch (e) { status(`examples: ${e.message}`); }
  menu.addEventListener("change", async () => {
    const name = menu.value;
    if (!name) return;
    const r = await api(`editor/examples/${encodeURIComponent(name)}`);
    if (r.ok) load(r.data); else status(r.data.message || `could not open ${name}`);
    menu.value = "";
  });
}

function bindToolbar() {
  tid("new").addEventListener("click", () => { S.meta = null; buildGraph({ version: "1.0", inputs: [], steps: [], outputs: [] }, {}); commit(); });
  tid("undo").addEventListener("click", undo);
  tid("redo").addEventListener("click", redo);
  tid("layout").addEventListener("click", layout);
  tid("fit").addEventListener("click", zoomToFit);
  tid("export").addEventListener("click", () => download("workflow.json", JSON.stringify(exportDefinition(), null, 2) + "\n"));
  const file = tid("import-file");
  tid("import-file-button").addEventListener("click", () => file.click());
  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    try { importText(await file.files[0].text()); } catch (e) { status(e.message); }
    file.value = "";
  });
  const dialog = tid("paste-dialog");
  tid("import-paste-button").addEventListener("click", () => { tid("paste-error").textContent = ""; dialog.showModal(); });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "ok") return;
    try { importText(tid("paste-text").value); } catch (e) {
      tid("paste-error").textContent = e.message;  // keep the text, say what is wrong
      dialog.showModal();
    }
  });
  tid("run-button").addEventListener("click", () => run().catch((e) => status(`run failed: ${e.message}`)));
  tid("palette-search").addEventListener("input", renderPalette);
  document.addEventListener("pointerdown", (ev) => { if (!ev.target.closest(".dg-suggestions")) hideSuggestions(); }, true);
}

async function boot() {
  const r = await api("workflows/blocks/describe", {});
  if (!r.ok) throw new Error(r.data.message || "could not read the blocks from the server");
  S.describe = r.data;
  for (const entry of r.data.blocks || []) {
    const info = blockInfo(entry);
    S.blocks.set(info.id, info);
    for (const alias of entry.aliases || entry.manifest_type_identifier_aliases || []) S.blocks.set(alias, info);
  }
  const vm = B.createBaklava($("#dg-baklava"));
  S.viewModel = vm;
  vm.settings.palette.enabled = false;
  vm.settings.toolbar.enabled = false;
  vm.settings.sidebar.enabled = false;
  vm.settings.nodes.defaultWidth = NODE_WIDTH;
  vm.settings.zoomToFit = { paddingLeft: 40, paddingRight: 40, paddingTop: 60, paddingBottom: 40 };
  S.graph = vm.editor.graph;
  const g = S.graph;
  g.hooks.checkConnection.subscribe(TOKEN, checkConnection);
  for (const ev of ["addNode", "removeNode", "addConnection", "removeConnection"]) g.events[ev].subscribe(TOKEN, scheduleCommit);
  g.nodeEvents.titleChanged.subscribe(TOKEN, (title, node) => {
    if (S.renaming || S.restoring) return;
    const clash = nodes().some((n) => n !== node && n.title === title && n.dg.role === node.dg.role);
    if (!NAME_RE.test(title) || clash) {  // renamed in the node's own menu: keep names usable
      node._title = uniqueName(title, node.dg.role);
      status(`'${title}' ${clash ? "is already used in this workflow" : "cannot be a name"}; renamed to '${node._title}'`);
    }
    scheduleCommit();
  });
  vm.hooks.renderNode.subscribe(TOKEN, ({ node, el: elNode }) => { decorate(node, elNode); return { node, el: elNode }; });
  vm.hooks.renderInterface.subscribe(TOKEN, ({ intf, el: elIntf }) => {
    if (intf.dgKey !== undefined) { elIntf.dataset.socket = intf.dgKey; elIntf.dataset.io = intf.isInput ? "in" : "out"; }
    return { intf, el: elIntf };
  });
  const root = $("#dg-baklava");
  root.addEventListener("pointerdown", onPortDown, true);
  window.addEventListener("pointerup", onPointerUp, true);
  window.addEventListener("keydown", onKeyDown, true);
  window.addEventListener("keyup", () => setTimeout(() => { syncSelection(); scheduleCommit(); }, 0), true);
  bindToolbar();
  renderPalette();
  await loadExamples();
  let restored = false;
  try {
    const wip = localStorage.getItem(STORE_WIP);
    if (wip) {
      const doc = JSON.parse(wip);
      buildGraph(doc.definition, doc.positions);
      commit();
      restored = true;
      setTimeout(zoomToFit, 0);
    }
  } catch (e) { status(`could not restore the last work: ${e.message}`); }
  if (!restored) { buildGraph({ version: "1.0", inputs: [], steps: [], outputs: [] }, {}); commit(); }
  await validate().catch((e) => status(e.message));
  document.body.dataset.ready = "true";
  performance.mark("depthgraph-editor-ready");
}

const ready = boot().catch((e) => { status(`editor failed to start: ${e.message}`); document.body.dataset.ready = "error"; throw e; });

window.depthgraphEditor = {
  ready,
  load: (definition) => load(definition),
  definition: () => exportDefinition(),
  validate: () => validate(),
  run: (inputs) => run(inputs),
  undo: () => undo(),
  redo: () => redo(),
  layout: () => layout(),
  positions: () => positions(),
};
