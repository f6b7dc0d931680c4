// depthgraph's visual workflow editor: start-up, toolbar, keyboard and the JS API.
//
// The workflow (a Roboflow Workflows v1 definition) plus node positions is the model; BaklavaJS
// draws it (nodes, sockets, wires, pan/zoom, selection, dragging). The jobs live in their own
// modules: server.js (the server client), blocks.js (describe -> blocks), graph.js (definition
// <-> graph), history.js (undo, storage), validation.js, nodeview.js (marks on nodes), wiring.js
// (wiring rules), quickadd.js, palette.js, properties.js, runpanel.js, clipboard.js; state.js
// holds the shared state and the event hub they talk through.
//
// JS API (window.depthgraphEditor): ready (a promise), load(definition), definition(),
// validate() -> promise of the server's errors ([] when valid), run(inputs) -> promise of the
// outputs list of /workflows/run, plus undo(), redo(), layout(), positions() and view() (zoom,
// pan, selected nodes) for tools. Every
// method waits for the editor to be ready by itself (it returns a promise).

import { $, el, status, tid } from "./dom.js";
import { PSEUDO, allBlocks, loadBlocks, rankMatches } from "./blocks.js";
import { copySelection, paste } from "./clipboard.js";
import { buildGraph, exportDefinition, nodes, positions, refreshLabels, uniqueName } from "./graph.js";
import { canRedo, canUndo, commit, layout, load, redo, restoreWork, scheduleCommit, undo } from "./history.js";
import { bindMinimap, scheduleMinimap } from "./minimap.js";
import { clearReachable, decorate, decorateAll, markReachable } from "./nodeview.js";
import { addBlock, renderPalette } from "./palette.js";
import { renderProperties, syncSelection } from "./properties.js";
import { hideQuickAdd, openQuickAdd } from "./quickadd.js";
import { renderRunInputs, restoreRunImages, run, showResults, updateRunButton } from "./runpanel.js";
import { api } from "./server.js";
import { NAME_RE, NODE_WIDTH, S, on } from "./state.js";
import { allErrors, renderErrors, scheduleValidate, validate } from "./validation.js";
import { toGraph, zoomToFit } from "./viewport.js";
import { checkConnection, onPointerUp, onPortDown, verdict } from "./wiring.js";

const B = window.BaklavaJS;
const TOKEN = Symbol("depthgraph");
const EMPTY = { version: "1.0", inputs: [], steps: [], outputs: [] };

function updateButtons() {
  tid("undo").disabled = !canUndo();
  tid("redo").disabled = !canRedo();
}

on("changed", ({ definitionChanged }) => {
  tid("empty-hint").hidden = nodes().length > 0;
  if (definitionChanged && S.runErrors.length) {  // the run's errors were about the old definition
    S.runErrors = [];
    tid("run-error").textContent = "";
    renderErrors();
  }
  refreshLabels();
  renderProperties();
  renderRunInputs();
  scheduleValidate();
  updateButtons();
  updateRunButton();
  showLoaded();
  decorateAll();
  scheduleMinimap();
});
// A validation answer arriving while a person types in the properties panel must not rebuild the
// field under their cursor (their text and focus would vanish): rebuild once focus leaves the panel.
let propertiesWaiting = false;
function renderPropertiesWhenIdle() {
  const body = document.querySelector(".dg-props-body");
  if (body && body.contains(document.activeElement)) {
    if (!propertiesWaiting) {
      propertiesWaiting = true;
      body.addEventListener("focusout", () => setTimeout(() => { propertiesWaiting = false; renderPropertiesWhenIdle(); }, 0), { once: true });
    }
    return;
  }
  renderProperties();
}
on("errors", () => { decorateAll(); renderPropertiesWhenIdle(); updateRunButton(); scheduleMinimap(); });
on("run-state", () => { decorateAll(); scheduleMinimap(); });
on("selection", renderProperties);
on("pointerup", syncSelection);
on("fit", fitReadable);
on("refused", showRefusal);
on("wire-start", (origin) => markReachable(origin, verdict));
on("wire-end", clearReachable);
on("results-shown", (open) => setTimeout(() => (open ? showOutputs() : fitReadable()), 0));
on("wire-dropped", (intf, x, y) => openQuickAdd(x, y, intf));

/** The refused wire's reason, at the pointer (and in the status line). */
function showRefusal(reason, clientX, clientY) {
  status(reason);
  const tip = tid("refusal");
  const box = tid("canvas").getBoundingClientRect();
  tip.textContent = `✗ ${reason}`;
  tip.style.left = `${Math.max(4, Math.min(clientX - box.left + 12, box.width - 370))}px`;
  tip.style.top = `${Math.max(4, Math.min(clientY - box.top + 14, box.height - 60))}px`;
  tip.hidden = false;
  clearTimeout(showRefusal.timer);
  showRefusal.timer = setTimeout(() => { tip.hidden = true; }, 6000);
}

/** Zoom to fit, but never so far out that node text is unreadable (the minimap shows the rest). */
const MIN_FIT_SCALE = 0.7;
function fitReadable() {
  zoomToFit();
  const g = S.graph;
  if (nodes().length && g.scaling < MIN_FIT_SCALE) {
    const left = Math.min(...nodes().map((n) => n.position.x)), top = Math.min(...nodes().map((n) => n.position.y));
    g.scaling = MIN_FIT_SCALE;
    g.panning = { x: -left + 30, y: -top + 40 };
  }
  scheduleMinimap();
}

/** Results open beside the graph: fit it when it stays readable, else show the output nodes
 * (their previews) at a readable zoom, right-aligned in the graph's part of the canvas. */
function showOutputs() {
  fitReadable();
  const g = S.graph;
  const outs = nodes().filter((n) => n.dg.role === "output");
  if (!outs.length || g.scaling > MIN_FIT_SCALE) return;
  const rect = $("#dg-baklava").getBoundingClientRect();
  const right = Math.max(...nodes().map((n) => n.position.x + (n.width || NODE_WIDTH) + (n.dg.role === "output" ? 190 : 0)));  // previews sit right of outputs
  const top = Math.min(...outs.map((n) => n.position.y));
  g.panning = { x: rect.width / g.scaling - right - 30, y: -top + 40 };
  scheduleMinimap();
}

/** Wheel zoom around the pointer, about 15 % per notch (Baklava's own step is ~3 %). */
function onWheel(ev) {
  if (ev.target.closest(".dg-suggestions, .dg-results-panel, .dg-minimap")) return;
  ev.preventDefault();
  ev.stopPropagation();
  const g = S.graph;
  const notches = Math.max(-4, Math.min(4, ev.deltaY / (ev.deltaMode === 1 ? 3 : 100)));
  const next = Math.min(2.5, Math.max(0.15, g.scaling * Math.pow(1.15, -notches)));
  const at = toGraph(ev.clientX, ev.clientY);
  const rect = $("#dg-baklava").getBoundingClientRect();
  g.scaling = next;
  g.panning = { x: (ev.clientX - rect.left) / next - at.x, y: (ev.clientY - rect.top) / next - at.y };
  scheduleMinimap();
}

function selectAll() {
  S.graph.selectedNodes = [...nodes()];
  syncSelection();
}

function onKeyDown(ev) {
  const inField = ev.target && ev.target.closest && ev.target.closest("input, textarea, select, dialog");
  if (ev.key === "Escape") hideQuickAdd();
  if (inField || !(ev.ctrlKey || ev.metaKey)) return;
  const k = ev.key.toLowerCase();
  const act = { z: ev.shiftKey ? redo : undo, y: redo, c: copySelection, v: paste, a: selectAll }[k];
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

const examples = new Map();  // name -> {title, description}
let loaded = null;            // {name, title, snapshot index} of the example loaded last

async function loadExamples() {
  const menu = tid("examples-menu");
  try {
    const r = await api("editor/examples");
    for (const e of (r.data && r.data.examples) || []) {
      examples.set(e.name, e);
      menu.append(el("option", { value: e.name, title: e.description || e.name, text: e.title || e.name }));
    }
    if (!r.data?.examples?.length) menu.append(el("option", { value: "", text: "(no examples folder found)", disabled: true }));
  } catch (e) { status(`examples: ${e.message}`); }
  menu.addEventListener("change", async () => {
    const name = menu.value;
    if (!name) return;
    const r = await api(`editor/examples/${encodeURIComponent(name)}`);
    if (!r.ok) { status(r.data.message || `could not open ${name}`); showLoaded(); return; }
    const hadWork = nodes().length > 0;
    load(r.data);
    const meta = examples.get(name) || { title: name };
    loaded = { name, title: meta.title || name, index: S.index };
    showLoaded();
    if (hadWork) status(`Opened '${loaded.title}'. Your previous workflow is one Undo away (Ctrl+Z).`);
  });
}

/** Keep the menu on the example shown, and say so (marked "edited" once changed). */
function showLoaded() {
  const menu = tid("examples-menu");
  const label = tid("loaded-title");
  if (!loaded || !S.history[loaded.index]) { menu.value = ""; label.textContent = ""; return; }
  const same = S.history[S.index] === S.history[loaded.index];
  const edited = !same && JSON.stringify(JSON.parse(S.history[S.index]).definition) !== JSON.stringify(JSON.parse(S.history[loaded.index]).definition);
  menu.value = same || edited ? loaded.name : "";
  const meta = examples.get(loaded.name) || {};
  label.textContent = `${loaded.title}${edited ? " (edited)" : ""}`;
  label.title = meta.description || "";
}

function bindToolbar() {
  tid("new").addEventListener("click", () => { S.meta = null; buildGraph(EMPTY, {}); commit(); });
  tid("undo").addEventListener("click", undo);
  tid("redo").addEventListener("click", redo);
  tid("layout").addEventListener("click", layout);
  tid("fit").addEventListener("click", fitReadable);
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
  tid("results-close").addEventListener("click", () => showResults(false));
  tid("results-open").addEventListener("click", () => showResults(true));
  tid("run-blocked").addEventListener("click", () => {  // "fix the problems first": go to the first
    const e = allErrors()[0];
    const n = e && e.step && nodes().find((x) => x.title === e.step && x.dg.role === (e.role || "step"));
    if (n) { S.graph.selectedNodes = [n]; renderProperties(); }
  });
  tid("palette-search").addEventListener("input", renderPalette);
  tid("palette-search").addEventListener("keydown", (ev) => {  // Enter adds the top hit
    if (ev.key !== "Enter") return;
    const query = tid("palette-search").value.trim();
    const best = query && rankMatches(query, [...PSEUDO.values(), ...allBlocks()])[0];
    if (best) { ev.preventDefault(); addBlock(best.id); }
  });
  document.addEventListener("pointerdown", (ev) => { if (!ev.target.closest(".dg-suggestions")) hideQuickAdd(); }, true);
}

function setUpCanvas() {
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
  root.addEventListener("wheel", onWheel, { capture: true, passive: false });
  // the canvas pans by Baklava's panning only: a node half outside the view must not scroll its
  // container when something inside it is focused or scrolled into view (the grid would shift)
  tid("canvas").addEventListener("scroll", (ev) => {
    const t = ev.target;
    if (t instanceof Element && !t.closest(".dg-suggestions, .dg-results-panel") && (t.scrollLeft || t.scrollTop)) { t.scrollLeft = 0; t.scrollTop = 0; }
  }, true);
  root.addEventListener("dblclick", (ev) => {  // quick add at the cursor, on empty canvas only
    if (ev.target.closest(".baklava-node")) return;
    ev.preventDefault();
    openQuickAdd(ev.clientX, ev.clientY);
  });
  window.addEventListener("pointerup", onPointerUp, true);
  window.addEventListener("keydown", onKeyDown, true);
  window.addEventListener("keyup", () => setTimeout(() => { syncSelection(); scheduleCommit(); }, 0), true);
}

async function boot() {
  await loadBlocks();
  setUpCanvas();
  bindToolbar();
  bindMinimap();
  renderPalette();
  restoreRunImages();
  api("info").then((r) => { if (r.ok) { S.serverLimits = r.data.limits || null; scheduleValidate(); } }).catch(() => {});
  await loadExamples();
  let restored = false;
  try {
    restored = restoreWork();
    if (restored) setTimeout(fitReadable, 0);
  } catch (e) { status(`could not restore the last work: ${e.message}`); }
  if (!restored) { buildGraph(EMPTY, {}); commit(); }
  await validate().catch((e) => status(e.message));
  document.body.dataset.ready = "true";
  performance.mark("depthgraph-editor-ready");
}

const ready = boot().catch((e) => { status(`editor failed to start: ${e.message}`); document.body.dataset.ready = "error"; throw e; });
ready.catch(() => {});  // reported in the status line; callers of the API get the rejection

/** ``fn`` run once the editor is ready: every API call may be made as soon as the object exists. */
const whenReady = (fn) => (...args) => ready.then(() => fn(...args));

window.depthgraphEditor = {
  ready,
  load: whenReady((definition) => load(definition)),
  definition: whenReady(() => exportDefinition()),
  validate: whenReady(() => validate()),
  run: whenReady((inputs) => run(inputs)),
  undo: whenReady(() => undo()),
  redo: whenReady(() => redo()),
  layout: whenReady(() => layout()),
  positions: whenReady(() => positions()),
  view: whenReady(() => ({ scaling: S.graph.scaling, panning: { ...S.graph.panning },
    selected: (S.graph.selectedNodes || []).filter((n) => n.dg).map((n) => `${n.dg.role}:${n.title}`) })),
};
