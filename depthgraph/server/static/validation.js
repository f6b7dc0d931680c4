// Live validation: every change is checked by the server (POST /workflows/validate, debounced);
// the verdict goes to the toolbar badge, the Problems list and (through "errors") the nodes and
// the properties panel.

import { el, status, tid } from "./dom.js";
import { infoFor } from "./blocks.js";
import { exportDefinition, nodeByName, nodes } from "./graph.js";
import { api } from "./server.js";
import { S, emit } from "./state.js";

export function scheduleValidate() {
  clearTimeout(S.validateTimer);
  S.validating = true;
  S.validateTimer = setTimeout(() => validate().catch((e) => status(e.message)), 350);
}

/** The server's error body as a list of {step, role, block_type, property, message}. */
export function errorList(data) {
  const items = (data.blocks_errors || []).map((b) => ({ ...b }));
  const message = String(data.message || "");
  const parts = message.replace(/^\d+ errors: /, "").split("; ");
  for (const part of parts) {
    if (!part || items.some((i) => part.includes(i.message))) continue;
    const out = /outputs\[\d+\] \('([^']+)'\)/.exec(part);
    const inp = /inputs\[\d+\] \('([^']+)'\)/.exec(part);
    const prop = /property '([^']+)'/.exec(part);
    items.push({ step: out ? out[1] : inp ? inp[1] : null, role: out ? "output" : inp ? "input" : "step", block_type: null, property: prop ? prop[1] : null, message: part });
  }
  return items;
}

/** Problems the server's validation does not report but a run here would: sink blocks when this
 * server refuses them (started without --allow-sinks). */
function localProblems(definition) {
  const problems = [];
  if (S.serverLimits && S.serverLimits.allow_sinks === false) {
    for (const step of definition.steps) {
      const info = infoFor(step.type);
      if (info && info.entry && info.entry.block_metadata?.block_type === "sink") {
        problems.push({ step: step.name, role: "step", block_type: step.type, property: null,
          message: "writes files on the server, and this server has sink blocks disabled (start it with --allow-sinks to run this)" });
      }
    }
  }
  return problems;
}

export async function validate() {
  clearTimeout(S.validateTimer);
  const seq = ++S.validateSeq;
  const badge = tid("validate-status");
  S.validating = true;
  badge.textContent = "checking…";
  badge.dataset.state = "busy";
  const definition = exportDefinition();
  let errors = [];
  const empty = nodes().length === 0;
  if (!empty) {
    const response = await api("workflows/validate", { specification: definition });
    errors = (response.ok ? [] : errorList(response.data || {})).concat(localProblems(definition));
  }
  if (seq === S.validateSeq) {
    S.errors = errors;
    S.validating = false;
    badge.dataset.state = empty ? "empty" : errors.length ? "error" : "ok";
    badge.textContent = empty ? "empty workflow" : errors.length ? `✗ ${errors.length} problem${errors.length > 1 ? "s" : ""}` : "✓ valid";
    badge.title = empty ? "Nothing to check yet: add blocks" : "";
    renderErrors();
  }
  return errors;
}

/** Validation errors and the last run's errors, each once. */
export function allErrors() {
  const seen = new Set();
  const out = [];
  for (const e of [...S.errors, ...S.runErrors]) {
    const k = `${e.role || "step"}|${e.step}|${e.property}|${e.message}`;
    if (!seen.has(k)) { seen.add(k); out.push(e); }
  }
  return out;
}

export function errorsOf(node) {
  return allErrors().filter((e) => e.step === node.title && (e.role || "step") === node.dg.role);
}

export function renderErrors() {
  const list = tid("error-list");
  list.replaceChildren();
  const errors = allErrors();
  if (!errors.length) list.append(el("li", { class: "dg-none", text: "No problems." }));
  for (const e of errors) {
    const where = [e.step && `step '${e.step}'`, e.property && `property '${e.property}'`].filter(Boolean).join(" ");
    const li = el("li", { "data-step": e.step || "", "data-property": e.property || "", tabindex: "0",
      text: (where ? where + ": " : "") + e.message });
    const focus = () => {
      const n = e.step && nodeByName(e.step, e.role || "step");
      if (n) { S.graph.selectedNodes = [n]; emit("selection"); }
    };
    li.addEventListener("click", focus);
    li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") focus(); });
    list.append(li);
  }
  emit("errors");
}
