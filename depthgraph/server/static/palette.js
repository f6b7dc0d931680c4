// The block palette: every block the server loaded, grouped by section, with a search box; drag
// an entry onto the canvas, double-click it or press Enter on it to add the block.

import { $, el, tid } from "./dom.js";
import { PSEUDO, allBlocks } from "./blocks.js";
import { createNode } from "./graph.js";
import { commit } from "./history.js";
import { S } from "./state.js";
import { freeSpot, toGraph } from "./viewport.js";

/** Add block ``type`` at ``position`` (graph coordinates) or in free space in view; one step. */
export function addBlock(type, position) {
  const node = createNode(type, position || { x: 0, y: 0 });
  if (!position) node.position = freeSpot({ w: node.width, h: 65 + (Object.keys(node.inputs).length + Object.keys(node.outputs).length) * 36 }, { except: new Set([node]) });
  S.graph.selectedNodes = [node];
  commit();
  return node;
}

export function renderPalette() {
  const list = tid("palette-list");
  const query = tid("palette-search").value.trim().toLowerCase();
  const entries = [...PSEUDO.values(), ...allBlocks()];
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
      item.addEventListener("dblclick", () => addBlock(b.id));
      item.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); addBlock(b.id); } });
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
      addBlock(block.id, toGraph(e.clientX, e.clientY));
    }
  };
  document.addEventListener("pointermove", move);
  document.addEventListener("pointerup", up);
}
