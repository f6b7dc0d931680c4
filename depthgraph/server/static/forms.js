// Block schemas -> sockets and property forms (our own code, no form library).
//
// analyseProperty() splits a JSON-schema property into what can be wired (a selector, with the
// kinds it accepts) and what can be typed in (the literal branches); buildField() turns the
// literal part into one form control: enum -> select, number/integer -> number field with
// its bounds (minimum/maximum/exclusiveMinimum/exclusiveMaximum: shown, and a value outside
// them is marked at once), boolean -> checkbox, string -> text, anything else -> JSON text.

import { el } from "./dom.js";

const SELECTOR_RE = /^\$(inputs\.[A-Za-z_][A-Za-z0-9_\-]*|steps\.[A-Za-z_][A-Za-z0-9_\-]*\.([A-Za-z_*][A-Za-z0-9_\-]*))$/;

export function isSelector(value) {
  return typeof value === "string" && SELECTOR_RE.test(value);
}

function deref(schema, defs) {
  let s = schema || {};
  for (let i = 0; i < 8 && s.$ref; i++) {
    const name = s.$ref.split("/").pop();
    s = { ...(defs && defs[name] || {}), ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== "$ref")) };
  }
  return s;
}

function isReference(s) {
  return s.reference === true || (Array.isArray(s.kind) && typeof s.pattern === "string");
}

/** {selector: bool, kinds: [..], literals: [schema..], nullable: bool, schema} of one property. */
export function analyseProperty(schema, defs) {
  const s = deref(schema, defs);
  const branches = (s.anyOf || s.oneOf || [s]).map((b) => deref(b, defs));
  let kinds = null;
  const literals = [];
  let nullable = false;
  for (const b of branches) {
    if (isReference(b)) {
      kinds = (kinds || []).concat((b.kind || []).map((k) => (typeof k === "string" ? k : k.name)));
    } else if (b.type === "null") {
      nullable = true;
    } else {
      literals.push(b);
    }
  }
  return {
    selector: kinds !== null,
    kinds: kinds && kinds.length ? [...new Set(kinds)] : ["*"],
    literals,
    nullable,
    schema: s,
  };
}

/** Whether two kind lists meet (the compiler's rule: "*" meets everything). */
export function kindsMeet(a, b) {
  if (a.includes("*") || b.includes("*")) return true;
  return a.some((k) => b.includes(k));
}

function literalType(info) {
  if (info.literals.length !== 1) return info.literals.length === 0 ? "none" : "json";
  const l = info.literals[0];
  if (Array.isArray(l.enum)) return "enum";
  if (l.const !== undefined) return "const";
  if (l.type === "integer" || l.type === "number") return l.type;
  if (l.type === "boolean") return "boolean";
  if (l.type === "string") return "string";
  return "json";
}



/** The bounds a number schema declares: {min, max, minOpen, maxOpen, text}. */
export function numberRange(s, kind) {
  const r = { min: null, max: null, minOpen: false, maxOpen: false, text: "" };
  if (typeof s.exclusiveMinimum === "number") { r.min = s.exclusiveMinimum; r.minOpen = true; }
  if (typeof s.minimum === "number" && (r.min === null || s.minimum > r.min)) { r.min = s.minimum; r.minOpen = false; }
  if (typeof s.exclusiveMaximum === "number") { r.max = s.exclusiveMaximum; r.maxOpen = true; }
  if (typeof s.maximum === "number" && (r.max === null || s.maximum < r.max)) { r.max = s.maximum; r.maxOpen = false; }
  const what = kind === "integer" ? "a whole number" : "a number";
  if (r.min !== null && r.max !== null) r.text = `${what} from ${r.min}${r.minOpen ? " (excluded)" : ""} to ${r.max}${r.maxOpen ? " (excluded)" : ""}`;
  else if (r.min !== null) r.text = `${what} ${r.minOpen ? ">" : "≥"} ${r.min}`;
  else if (r.max !== null) r.text = `${what} ${r.maxOpen ? "<" : "≤"} ${r.max}`;
  return r;
}

/** What is wrong with ``text`` as a value in ``range`` ("" when nothing is). */
export function numberProblem(text, kind, range) {
  const t = String(text).trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return "not a number";
  const v = Number(t);
  if (!Number.isFinite(v)) return "not a number";
  if (kind === "integer" && !Number.isInteger(v)) return "must be a whole number";
  if (range.min !== null && (range.minOpen ? v <= range.min : v < range.min)) return `must be ${range.minOpen ? "more than" : "at least"} ${range.min}`;
  if (range.max !== null && (range.maxOpen ? v >= range.max : v > range.max)) return `must be ${range.maxOpen ? "less than" : "at most"} ${range.max}`;
  return "";
}

/**
 * One form field for property ``name``.
 * opts: {info, value, has (bool: the key is set), wiredFrom (selector text or null), required,
 *        description, onChange(value | undefined to remove the key), testid}
 */
export function buildField(name, opts) {
  const { info, wiredFrom } = opts;
  const id = `dg-prop-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const help = opts.description ? el("p", { class: "dg-hint", id: `${id}-help`, text: opts.description }) : null;
  const field = el("div", { class: "dg-field", "data-testid": opts.testid || `prop-${name}`, "data-prop": name });
  const label = el("label", { for: id, text: name + (opts.required ? " *" : "") });
  field.append(label);
  const kind = literalType(info);
  const s = info.literals[0] || {};
  const placeholder = s.default !== undefined ? `default: ${JSON.stringify(s.default)}`
    : info.schema.default !== undefined && info.schema.default !== null ? `default: ${JSON.stringify(info.schema.default)}` : "";
  const common = { id, "aria-describedby": help ? `${id}-help` : null, disabled: wiredFrom ? true : null };
  const current = opts.has ? opts.value : undefined;
  let control;
  let rangeLine = null;
  const errorLine = el("div", { class: "dg-field-error", role: "alert" });
  const fire = (v) => { errorLine.textContent = ""; opts.onChange(v); };

  if (kind === "none") {
    control = el("span", { id, class: "dg-hint", text: info.selector ? `takes ${info.kinds.join(", ")} (wire it)` : "" });
  } else if (kind === "enum") {
    control = el("select", common);
    const def = s.default ?? info.schema.default;
    control.append(el("option", { value: "", text: def !== undefined && def !== null ? `(default: ${def})` : "(not set)" }));
    for (const v of s.enum) control.append(el("option", { value: String(v), text: String(v) }));
    if (current !== undefined && !isSelector(current)) {
      if (!s.enum.map(String).includes(String(current))) control.append(el("option", { value: String(current), text: `${current} (not allowed)` }));
      control.value = String(current);
    }
    control.addEventListener("change", () => {
      if (control.value === "") return fire(undefined);
      const picked = s.enum.find((v) => String(v) === control.value);
      fire(picked === undefined ? control.value : picked);
    });
  } else if (kind === "integer" || kind === "number") {
    // a text field, so that letters are seen (and refused) rather than silently dropped
    const range = numberRange(s, kind);
    control = el("input", { ...common, type: "text", inputmode: kind === "integer" ? "numeric" : "decimal", placeholder,
      "data-min": range.min ?? null, "data-max": range.max ?? null });
    if (current !== undefined && !isSelector(current)) control.value = current === null ? "" : String(current);
    const check = () => {
      const problem = control.value.trim() === "" ? "" : numberProblem(control.value, kind, range);
      control.setAttribute("aria-invalid", problem ? "true" : "false");
      errorLine.textContent = problem;
      return problem;
    };
    control.addEventListener("input", check);
    control.addEventListener("change", () => {
      if (control.value.trim() === "") return fire(undefined);
      const problem = check();
      if (problem === "not a number") return;  // not a value at all: nothing to keep
      opts.onChange(Number(control.value));    // out of range: kept (and marked) as typed
      if (problem) errorLine.textContent = problem;
    });
    if (range.text) rangeLine = el("div", { class: "dg-range", "data-testid": `range-${name}`, text: range.text });
    if (current !== undefined && !isSelector(current)) queueMicrotask(check);
  } else if (kind === "boolean") {
    control = el("input", { ...common, type: "checkbox" });
    const def = s.default ?? info.schema.default;
    control.checked = current !== undefined ? current === true : def === true;
    control.addEventListener("change", () => fire(control.checked));
  } else if (kind === "string" || kind === "const") {
    control = el("input", { ...common, type: "text", placeholder });
    if (current !== undefined && current !== null) control.value = String(current);
    control.addEventListener("change", () => fire(control.value === "" && current === undefined ? undefined : control.value));
  } else {
    control = el("textarea", { ...common, rows: 3, placeholder: placeholder || "JSON value" });
    if (current !== undefined) control.value = JSON.stringify(current);
    control.addEventListener("change", () => {
      const text = control.value.trim();
      if (text === "") return fire(undefined);
      try { fire(JSON.parse(text)); } catch (e) {
        // a bare word is taken as a string, anything else must be JSON
        if (/^[^\s{}\[\]",:]+$/.test(text)) return fire(text);
        errorLine.textContent = `not valid JSON: ${e.message}`;
      }
    });
  }
  field.append(control);
  if (rangeLine) field.append(rangeLine);
  if (wiredFrom) field.append(el("div", { class: "dg-wired", text: `wired from ${wiredFrom}` }));
  else if (info.selector && kind !== "none") field.append(el("div", { class: "dg-hint", text: `or wire a ${info.kinds.join(" / ")} into its socket` }));
  if (current !== undefined && isSelector(current) && !wiredFrom) {
    field.append(el("div", { class: "dg-field-error", text: `refers to ${current}, which is not in this workflow` }));
  }
  field.append(errorLine);
  if (help) field.append(help);
  return field;
}
