// Quick add at the cursor (ComfyUI's habit): double-click empty canvas, or drop a wire on it, and
// a search box opens where the pointer is. Typing filters; Enter adds the top hit there (wired to
// the dropped wire's socket when the box was opened from one); arrows move through the list.

import { el, tid } from "./dom.js";
import { PSEUDO, allBlocks, rankMatches } from "./blocks.js";
import { createNode } from "./graph.js";
import { commit } from "./history.js";
import { S } from "./state.js";
import { toGraph } from "./viewport.js";
import { addWired, suggestionsFor } from "./wiring.js";

function blockChoices() {
  return [...PSEUDO.values(), ...allBlocks()].map((b) => ({ type: b.id, key: null, label: b.title, block: b }));
}

// what a choice is matched on: its block (title, id, description, section) and, for a wire's
// suggestions, the property or output name and the label
const blockOfChoice = (c) => c.block ? c.block : { title: c.label, id: c.type, short: "", section: "workflow" };

/** Open the quick-add box at page point (clientX, clientY); ``intf``: the dropped wire's socket. */
export function openQuickAdd(clientX, clientY, intf = null) {
  const menu = tid("suggestions");
  const box = tid("canvas").getBoundingClientRect();
  const at = toGraph(clientX, clientY);
  const choices = intf ? suggestionsFor(intf) : blockChoices();
  const search = el("input", { type: "search", "data-testid": "quick-add-search", "aria-label": "Search blocks to add",
    placeholder: intf ? (intf.isInput ? "Feed it from… (type to search)" : "Connect it to… (type to search)") : "Add a block… (type, Enter)" });
  const list = el("ul", { class: "dg-quick-list", role: "listbox" });
  const pick = (c) => {
    hideQuickAdd();
    if (intf) addWired(intf, c, at);
    else {
      const node = createNode(c.type, at);
      S.graph.selectedNodes = [node];
      commit();
    }
  };
  const show = () => {
    list.replaceChildren();
    const hits = rankMatches(search.value.trim(), choices, blockOfChoice, (c) => `${c.key || ""} ${c.label}`);
    for (const c of hits.slice(0, 60)) {
      const button = el("button", { type: "button", role: "menuitem", "data-testid": `suggestion-${c.type}${c.key ? `-${c.key}` : ""}`,
        title: c.block?.short || c.type }, document.createTextNode(c.label), c.block && !intf ? el("small", { text: ` ${c.block.section}` }) : null);
      button.addEventListener("click", () => pick(c));
      button.addEventListener("keydown", (ev) => {
        if (ev.key === "ArrowDown") { ev.preventDefault(); button.parentElement.nextElementSibling?.querySelector("button")?.focus(); }
        if (ev.key === "ArrowUp") { ev.preventDefault(); (button.parentElement.previousElementSibling?.querySelector("button") || search).focus(); }
      });
      list.append(el("li", {}, button));
    }
    if (!hits.length) list.append(el("li", { class: "dg-hint", text: "Nothing matches." }));
  };
  search.addEventListener("input", show);
  search.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { ev.preventDefault(); list.querySelector("button")?.click(); }
    if (ev.key === "ArrowDown") { ev.preventDefault(); list.querySelector("button")?.focus(); }
    if (ev.key === "Escape") hideQuickAdd();
  });
  menu.replaceChildren(el("li", { class: "dg-hint", text: intf ? (intf.isInput ? "Feed it from:" : "Connect it to:") : "Add a block here:" }),
    el("li", {}, search), el("li", {}, list));
  show();
  menu.style.left = `${Math.max(0, Math.min(clientX - box.left, box.width - 280))}px`;
  menu.style.top = `${Math.max(0, Math.min(clientY - box.top, box.height - 340))}px`;
  menu.hidden = false;
  search.focus();
}

export function hideQuickAdd() { tid("suggestions").hidden = true; }
