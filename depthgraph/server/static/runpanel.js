// The run panel: a file picker (and drop zone) per image input, a field per parameter input, the
// Run button; posts the definition and inputs to the server and shows the outputs by kind.

import { el, tid } from "./dom.js";
import { exportDefinition, nodes } from "./graph.js";
import { renderOutputs } from "./outputs.js";
import { api } from "./server.js";
import { S } from "./state.js";

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
      const take = async (files) => { S.runImages.set(name, await Promise.all([...files].map(readFile))); show(); };
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

export async function run(given) {
  const def = exportDefinition();
  const { inputs, shown } = requestInputs(def, given);
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
    await renderOutputs(tid("run-results"), outputs, { kinds: Object.fromEntries(outputKinds()), inputs: Object.fromEntries(shown), seconds });
    return outputs;
  } finally {
    button.disabled = false;
  }
}
