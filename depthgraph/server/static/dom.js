// Small DOM helpers shared by every editor module: element building, test-id lookup and the
// toolbar's status line.

/** ``el("button", {type: "button", text: "Run"}, child...)``: attributes set, children appended. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

export const $ = (sel) => document.querySelector(sel);
export const tid = (id) => document.querySelector(`[data-testid="${id}"]`);

let statusTimer = null;
/** A message in the toolbar's status line (cleared after 12 s unless replaced). */
export function status(text) {
  const box = tid("status");
  box.textContent = text;
  clearTimeout(statusTimer);
  if (text) statusTimer = setTimeout(() => { if (box.textContent === text) box.textContent = ""; }, 12000);
}
