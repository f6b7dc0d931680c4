// The properties panel: the selected node's name and properties as form fields generated from the
// block's JSON schema (forms.js). Edits are history steps. The panel empties when the node goes.

import { el, status } from "./dom.js";
import { infoFor } from "./blocks.js";
import { buildField } from "./forms.js";
import { hasLiteral, keyOf, nodeByName, wiresInto } from "./graph.js";
import { commit } from "./history.js";
import { NAME_RE, S, put } from "./state.js";
import { errorsOf } from "./validation.js";

/** The selected node still in the graph (the last one selected), or null. */
export function selectedNode() {
  const sel = (S.graph.selectedNodes || []).filter((n) => n.dg && S.graph.nodes.includes(n));
  return sel.length ? sel[sel.length - 1] : null;
}

export function syncSelection() {
  const node = selectedNode();
  const name = node ? keyOf(node) : null;
  if (name !== S.selectedName) { S.selectedName = name; renderProperties(); }
}

function setLiteral(node, key, value) {
  if (value === undefined) delete node.dg.literals[key];
  else put(node.dg.literals, key, value);
  if (!node.dg.order.includes(key)) node.dg.order.push(key);
  commit();
}

export function rename(node, name) {
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

export function renderProperties() {
  const body = document.querySelector(".dg-props-body");
  const node = selectedNode();
  body.replaceChildren();
  if (!node) {
    S.selectedName = null;
    body.append(el("p", { class: "dg-hint", "data-testid": "properties-empty", text: "Select a node to edit it." }));
    return;
  }
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
    if (!known.has(k)) props.push({ name: k, info: { selector: Object.hasOwn(node.inputs, k), kinds: ["*"], literals: [{}, {}], schema: {} }, description: "(not in the block's schema; kept as written)" });
  }
  for (const p of props) {
    const field = buildField(p.name, {
      info: p.info, has: hasLiteral(node, p.name), value: node.dg.literals[p.name],
      wiredFrom: wired.get(p.name) || null, required: p.required, description: p.description,
      onChange: (v) => setLiteral(node, p.name, v),
    });
    const e = errs.find((x) => x.property === p.name);
    if (e) field.dataset.error = e.message;
    body.append(field);
  }
  const general = errs.filter((e) => !e.property || (!known.has(e.property) && !hasLiteral(node, e.property)));
  for (const e of general) body.append(el("p", { class: "dg-field-error", text: e.message }));
}
