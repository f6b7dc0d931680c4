// The run panel, fixed at the top of the side panel: a file picker (and drop zone) per image
// input, a field per parameter input, the Run button and why it is blocked (problems, no image).
// A run posts the definition and inputs to the server with a run id and follows its step events
// (the running node is outlined, the panel says which step runs); the results open in a panel
// beside the graph, and each output node shows a preview. Server errors are placed on the node
// and property they name until the definition changes.

import { el, status, tid } from "./dom.js";
import { exportDefinition, nodes } from "./graph.js";
import { renderOutputs } from "./outputs.js";
import { api, streamEvents } from "./server.js";
import { S, STORE_RUN, emit } from "./state.js";
import { errorList, renderErrors } from "./validation.js";

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export function renderRunInputs() {
  const box = tid("run-inputs");
  const def = exportDefinition();
  const key = JSON.stringify(def.inputs);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren();
  if (!def.inputs.length) box.append(el("p", { class: "dg-hint", text: "Add an image input to run the workflow." }));
  for (const inp of def.inputs) {
    if (!inp || typeof inp.name !== "string") continue;
    const name = inp.name;
    const field = el("div", { class: "dg-field" });
    const id = `dg-run-${name}`;
    if (inp.type === "WorkflowImage") {
      const input = el("input", { type: "file", id, accept: "image/*", multiple: true, "data-testid": `run-image-${name}` });
      const thumbs = el("div", { class: "dg-thumbs", "data-testid": `run-thumbs-${name}` });
      const show = () => { thumbs.replaceChildren(...(S.runImages.get(name) || []).map((src) => el("img", { src, alt: `${name} input` }))); };
      const take = async (files) => { S.runImages.set(name, await Promise.all([...files].map(readFile))); show(); keepRunImages(); updateRunButton(); };
      input.addEventListener("change", () => take(input.files));
      field.addEventListener("dragover", (e) => { e.preventDefault(); field.classList.add("dg-drop"); });
      field.addEventListener("dragleave", () => field.classList.remove("dg-drop"));
      field.addEventListener("drop", (e) => { e.preventDefault(); field.classList.remove("dg-drop"); take(e.dataTransfer.files); });
      field.append(el("label", { for: id, text: `${name} (image; pick or drop one or more)` }), input, thumbs);
      show();
    } else {
      const input = el("input", { type: "text", id, "data-testid": `run-param-${name}`,
        placeholder: inp.default_value !== undefined ? `default: ${JSON.stringify(inp.default_value)}` : "value (JSON or text)" });
      if (S.runParams.has(name)) input.value = typeof S.runParams.get(name) === "string" ? S.runParams.get(name) : JSON.stringify(S.runParams.get(name));
      input.addEventListener("change", () => {
        const t = input.value.trim();
        if (!t) { S.runParams.delete(name); return; }
        try { S.runParams.set(name, JSON.parse(t)); } catch { S.runParams.set(name, t); }
      });
      field.append(el("label", { for: id, text: `${name} (${inp.type})` }), input);
    }
    box.append(field);
  }
}

function outputKinds() {
  const kinds = new Map();
  for (const node of nodes()) {
    if (node.dg.role !== "output") continue;
    const c = S.graph.connections.find((cc) => cc.to.nodeId === node.id);
    kinds.set(node.title, c ? c.from.dgKinds : ["*"]);
  }
  return kinds;
}

/** The request's inputs: ``given`` (name -> value) or what is picked in the page. */
function requestInputs(def, given) {
  const inputs = {};
  const shown = new Map();
  const givenMap = given ? new Map(Object.entries(given)) : null;
  for (const inp of def.inputs) {
    const name = inp.name;
    const value = givenMap ? givenMap.get(name) : (inp.type === "WorkflowImage" ? S.runImages.get(name) : S.runParams.get(name));
    if (value === undefined) continue;
    if (inp.type === "WorkflowImage") {
      const list = (Array.isArray(value) ? value : [value]).map((v) => (typeof v === "string" && !v.startsWith("data:") ? `data:image/*;base64,${v}` : v));
      shown.set(name, list);
      const encoded = list.map((v) => ({ type: "base64", value: v }));
      Object.defineProperty(inputs, name, { value: encoded.length === 1 ? encoded[0] : encoded, enumerable: true, writable: true, configurable: true });
    } else {
      Object.defineProperty(inputs, name, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  if (givenMap) {
    for (const [k, v] of givenMap) {
      if (!Object.hasOwn(inputs, k) && !def.inputs.some((i) => i.name === k)) Object.defineProperty(inputs, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  return { inputs, shown };
}

/** Why Run cannot start now ("" when it can): problems, an empty graph, images not picked. */
export function runBlocker(given) {
  if (!nodes().length) return "Nothing to run: add blocks first.";
  if (!nodes().some((n) => n.dg.role === "output")) return "Add an Output node: a run returns only what Outputs select.";
  if (S.validating) return "";
  if (S.errors.length) return `Fix ${S.errors.length === 1 ? "the problem" : `the ${S.errors.length} problems`} first: ${describeError(S.errors[0])}`;
  if (!given) {
    const missing = exportDefinition().inputs.filter((i) => i.type === "WorkflowImage" && !(S.runImages.get(i.name) || []).length);
    if (missing.length) return `Pick an image for input '${missing[0].name}' above.`;
  }
  return "";
}

const describeError = (e) => `${e.step ? `${e.role === "input" ? "input" : e.role === "output" ? "output" : "step"} '${e.step}'${e.property ? `, property '${e.property}'` : ""}: ` : ""}${e.message}`;

export function updateRunButton() {
  const blocker = S.running ? "" : runBlocker();
  tid("run-button").disabled = S.running || Boolean(blocker);
  tid("run-blocked").textContent = blocker;
}

export function showResults(open = true) {
  tid("results-panel").hidden = !open;
  tid("canvas").dataset.results = open ? "open" : "closed";
  tid("results-open").hidden = open || !tid("run-results").childElementCount;
  emit("results-shown", open);
}

function setProgress(text, fraction) {
  const box = tid("run-progress-box");
  box.hidden = text === null;
  tid("run-progress").textContent = text || "";
  tid("run-progress-bar").value = fraction || 0;
}

function onStepEvent(e) {
  if (e.phase === "started") {
    S.runState.set(e.step, "running");
    setProgress(`step ${e.index + 1} of ${e.total}: ${e.step} (${e.block_type})…`, e.index / e.total);
  } else {
    S.runState.set(e.step, "done");
    setProgress(`step ${e.index + 1} of ${e.total} done: ${e.step} in ${Number(e.seconds).toFixed(2)} s`, (e.index + 1) / e.total);
  }
  emit("run-state");
}

/** A preview of one output value for its output node: {key, src?, text?}. */
function previewOf(name, value) {
  if (value && typeof value === "object" && value.type === "base64" && typeof value.value === "string") {
    const src = value.value.startsWith("data:") ? value.value : `data:image/${value.format === "png" ? "png" : "jpeg"};base64,${value.value}`;
    return { key: `${name}:${src.length}:${src.slice(-32)}`, src };
  }
  if (value && typeof value === "object" && Array.isArray(value.predictions)) {
    const n = value.predictions.length;
    return { key: `${name}:det:${n}`, text: `${n} detection${n === 1 ? "" : "s"}` };
  }
  if (value && typeof value === "object" && value.type === "point_cloud") {
    const unit = value.unit ? ` (${value.unit})` : "";
    return { key: `${name}:pc:${value.num_points}:${value.unit}`, text: `${value.num_points ?? "?"} points${unit}` };
  }
  if (value && typeof value === "object" && value.type === "depth_map") {
    const shape = value.values?.shape || (Array.isArray(value.values) ? [value.values.length, value.values[0]?.length] : []);
    const unit = value.unit === "relative" ? "relative" : value.unit || "";
    return { key: `${name}:depth:${shape}:${unit}`, text: `depth ${shape.join("×")}${unit ? ` (${unit})` : ""}` };
  }
  if (typeof value === "number") return { key: `${name}:${value}`, text: Number.isInteger(value) ? String(value) : value.toPrecision(4) };
  if (typeof value === "string" || typeof value === "boolean") return { key: `${name}:${value}`, text: String(value).slice(0, 40) };
  if (value && typeof value === "object" && (value.type === "numpy_array" || Array.isArray(value))) {
    const shape = value.shape || [value.length];
    return { key: `${name}:arr:${shape}`, text: `array ${shape.join("×")}` };
  }
  return { key: `${name}:other`, text: value === null ? "null" : typeof value };
}

export async function run(given) {
  const blocker = runBlocker(given);
  const errorBox = tid("run-error");
  if (blocker) { errorBox.textContent = ""; tid("run-blocked").textContent = blocker; throw new Error(blocker); }
  const def = exportDefinition();
  const { inputs, shown } = requestInputs(def, given);
  const timeBox = tid("run-time");
  errorBox.textContent = "";
  timeBox.textContent = "running…";
  S.running = true;
  S.runErrors = [];
  S.runState.clear();
  S.previews.clear();
  emit("run-state");
  updateRunButton();
  setProgress("starting…", 0);
  const runId = crypto.randomUUID ? crypto.randomUUID() : `run-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const stop = new AbortController();
  const events = streamEvents(`workflows/runs/${runId}/events`, (name, data) => { if (name === "step") onStepEvent(data); }, stop.signal);
  const t0 = performance.now();
  try {
    const response = await api("workflows/run", { specification: def, inputs, include_points: true, array_format: "base64" },
      { "X-Depthgraph-Run-Id": runId });
    const seconds = (performance.now() - t0) / 1000;
    timeBox.textContent = `${seconds.toFixed(2)} s`;
    await Promise.race([events, new Promise((r) => setTimeout(r, 500))]);
    if (!response.ok) {
      const d = response.data || {};
      S.runErrors = errorList(d).map((e) => ({ ...e, fromRun: true }));
      for (const [step, state] of S.runState) if (state === "running") S.runState.set(step, "failed");
      const first = S.runErrors[0];
      errorBox.textContent = `The run failed${first ? ` at ${describeError(first)}` : `: ${d.message || `HTTP ${response.status}`}`}`;
      setProgress(null);
      renderErrors();
      throw new Error(d.message || `HTTP ${response.status}`);
    }
    const outputs = response.data.outputs || [];
    for (const [name, value] of Object.entries(outputs[0] || {})) S.previews.set(name, previewOf(name, value));
    setProgress(null);
    tid("results-summary").textContent = `${outputs.length} result${outputs.length === 1 ? "" : "s"} in ${seconds.toFixed(2)} s`;
    showResults(true);
    await renderOutputs(tid("run-results"), outputs, { kinds: Object.fromEntries(outputKinds()), inputs: Object.fromEntries(shown), seconds });
    return outputs;
  } finally {
    stop.abort();
    S.running = false;
    emit("run-state");
    updateRunButton();
  }
}

// --- the chosen images survive a reload (sessionStorage would lose them with the tab) ----------

export function keepRunImages() {
  try {
    localStorage.setItem(STORE_RUN, JSON.stringify([...S.runImages]));
  } catch (e) {
    localStorage.removeItem(STORE_RUN);
    status(`the chosen images are too large to keep across a reload (${e.name})`);
  }
}

export function restoreRunImages() {
  try {
    for (const [name, list] of JSON.parse(localStorage.getItem(STORE_RUN) || "[]")) {
      if (typeof name === "string" && Array.isArray(list)) S.runImages.set(name, list.filter((v) => typeof v === "string"));
    }
  } catch { /* nothing kept */ }
}
