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
// outputs list of /workflows/run, plus undo(), redo(), layout() and positions() for tools. Every
// method waits for the editor to be ready by itself (it returns a promise).

import { $, el, status, tid } from "./dom.js";
import { loadBlocks } from "./blocks.js";
import { copySelection, paste } from "./clipboard.js";
import { buildGraph, exportDefinition, nodes, positions, refreshLabels, uniqueName } from "./graph.js";
import { canRedo, canUndo, commit, layout, load, redo, restoreWork, scheduleCommit, undo } from "./history.js";
import { decorate, decorateAll } from "./nodeview.js";
import { renderPalette } from "./palette.js";
import { renderProperties, syncSelection } from "./properties.js";
import { hideQuickAdd, openQuickAdd } from "./quickadd.js";
import { renderRunInputs, run } from "./runpanel.js";
import { api } from "./server.js";
import { NAME_RE, NODE_WIDTH, S, on } from "./state.js";
import { scheduleValidate, validate } from "./validation.js";
import { zoomToFit } from "./viewport.js";
import { checkConnection, onPointerUp, onPortDown } from "./wiring.js";

const B = window.BaklavaJS;
const TOKEN = Symbol("depthgraph");
const EMPTY = { version: "1.0", inputs: [], steps: [], outputs: [] };

function updateButtons() {
  tid("undo").disabled = !canUndo();
  tid("redo").disabled = !canRedo();
}

on("changed", () => {
  tid("empty-hint").hidden = nodes().length > 0;
  refreshLabels();
  renderProperties();
  renderRunInputs();
  scheduleValidate();
  updateButtons();
});
on("errors", () => { decorateAll(); renderProperties(); });
on("selection", renderProperties);
on("pointerup", syncSelection);
on("fit", zoomToFit);
on("refused", (reason) => status(reason));
on("wire-dropped", (intf, x, y) => openQuickAdd(x, y, intf));

function onKeyDown(ev) {
  const inField = ev.target && ev.target.closest && ev.target.closest("input, textarea, select, dialog");
  if (ev.key === "Escape") hideQuickAdd();
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
  tid("new").addEventListener("click", () => { S.meta = null; buildGraph(EMPTY, {}); commit(); });
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
  window.addEventListener("pointerup", onPointerUp, true);
  window.addEventListener("keydown", onKeyDown, true);
  window.addEventListener("keyup", () => setTimeout(() => { syncSelection(); scheduleCommit(); }, 0), true);
}

async function boot() {
  await loadBlocks();
  setUpCanvas();
  bindToolbar();
  renderPalette();
  await loadExamples();
  let restored = false;
  try {
    restored = restoreWork();
    if (restored) setTimeout(zoomToFit, 0);
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
};
