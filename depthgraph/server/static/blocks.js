// What the server's blocks look like to the editor: describe's entries turned into palette
// entries (title, section, short text), sockets (properties that take a selector, with kinds)
// and outputs; plus the workflow's own inputs and outputs as pseudo blocks.

import { api } from "./server.js";
import { analyseProperty } from "./forms.js";
import { S } from "./state.js";

export const PSEUDO = new Map([
  ["WorkflowImage", { id: "WorkflowImage", role: "input", title: "Image input", section: "workflow",
    short: "An image given when the workflow runs.", base: "image" }],
  ["WorkflowParameter", { id: "WorkflowParameter", role: "input", title: "Parameter input", section: "workflow",
    short: "A value given when the workflow runs (or its default).", base: "parameter" }],
  ["JsonField", { id: "JsonField", role: "output", title: "Output", section: "workflow",
    short: "A value the workflow returns.", base: "output" }],
]);

function blockInfo(entry) {
  const schema = entry.block_schema || {};
  const defs = schema.$defs || schema.definitions || {};
  const required = schema.required || [];
  const props = [];
  for (const [name, p] of Object.entries(schema.properties || {})) {
    if (name === "type" || name === "name") continue;
    const info = analyseProperty(p, defs);
    props.push({ name, info, required: required.includes(name), description: p.description || info.schema.description || "" });
  }
  const outputs = (entry.outputs_manifest || []).map((o) => {
    const kinds = (o.kind || []).map((k) => (typeof k === "string" ? k : k.name));
    return { name: o.name, kinds: kinds.length ? kinds : ["*"], description: o.description || "" };
  });
  const meta = entry.block_metadata || {};
  return {
    id: entry.identifier, role: "step", entry, props, outputs,
    propMap: new Map(props.map((p) => [p.name, p])),
    title: entry.human_friendly_block_name || meta.name || entry.identifier,
    section: (meta.ui_manifest && meta.ui_manifest.section) || schema.ui_manifest?.section || "other",
    short: meta.short_description || schema.short_description || schema.description || "",
    base: entry.identifier.replace(/^.*\//, "").replace(/@.*$/, ""),
  };
}

/** The block (or pseudo block) for a step type, or null when this server does not know it. */
export function infoFor(type) {
  return PSEUDO.get(type) || S.blocks.get(type) || null;
}

/** Every distinct block the server loaded (aliases point at the same entry). */
export const allBlocks = () => [...new Set(S.blocks.values())];

/** Read the blocks from the server's describe into ``S.blocks``. */
export async function loadBlocks() {
  const r = await api("workflows/blocks/describe", {});
  if (!r.ok) throw new Error(r.data.message || "could not read the blocks from the server");
  S.describe = r.data;
  for (const entry of r.data.blocks || []) {
    const info = blockInfo(entry);
    S.blocks.set(info.id, info);
    for (const alias of entry.aliases || entry.manifest_type_identifier_aliases || []) S.blocks.set(alias, info);
  }
}

/**
 * How well ``query`` matches a block (0: not at all): every word must occur somewhere; words
 * found at the start of the title's words count most, then in the title, the identifier, and
 * last the description and section. Ties keep the given order.
 */
export function matchScore(query, block, extra = "") {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const title = `${block.title || ""}`.toLowerCase();
  const id = `${block.id || ""} ${extra}`.toLowerCase();
  const rest = `${block.short || ""} ${block.section || ""}`.toLowerCase();
  let score = 0;
  for (const w of words) {
    if (new RegExp(`(^|[^a-z0-9])${w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`).test(title)) score += 8;
    else if (title.includes(w)) score += 5;
    else if (id.includes(w)) score += 3;
    else if (rest.includes(w)) score += 1;
    else return 0;
  }
  return words.length ? score : 1;
}

/** ``items`` that match ``query``, best first; ``blockOf(item)`` gives the block to match. */
export function rankMatches(query, items, blockOf = (x) => x, extraOf = () => "") {
  return items.map((item, i) => ({ item, i, s: matchScore(query, blockOf(item), extraOf(item)) }))
    .filter((x) => x.s > 0).sort((a, b) => b.s - a.s || a.i - b.i).map((x) => x.item);
}
