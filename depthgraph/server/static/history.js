// Undo history and storage. Every change is committed as a snapshot {definition, positions}:
// undo/redo restore snapshots (so a paste or a layout is one step), the latest is kept in
// localStorage (the work survives a reload) and positions are also kept per definition hash.
// Positions never go into the definition.

import { status } from "./dom.js";
import { buildGraph, exportDefinition, keyOf, layoutPositions, nodes, positions } from "./graph.js";
import { S, STORE_POS, STORE_WIP, emit } from "./state.js";

function hashText(text) { // cyrb53: a fast 53-bit string hash, enough to key local storage
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16);
}

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

const definitionHash = (def) => hashText(canonical(def));

export function snapshot() {
  return JSON.stringify({ definition: exportDefinition(), positions: positions() });
}

function persist(text) {
  try {
    localStorage.setItem(STORE_WIP, text);
    const doc = JSON.parse(text);
    localStorage.setItem(STORE_POS + definitionHash(doc.definition), JSON.stringify(doc.positions));
  } catch (e) {
    status(`could not keep the work in browser storage: ${e.message}`);
  }
}

export function scheduleCommit() {
  if (S.restoring) return;
  clearTimeout(S.commitTimer);
  S.commitTimer = setTimeout(commit, 0);
}

/** Record the current graph as a history step (nothing when it did not change). */
export function commit() {
  clearTimeout(S.commitTimer);
  const text = snapshot();
  if (S.history[S.index] === text) return;
  const before = S.history[S.index];
  S.history = S.history.slice(0, S.index + 1);
  S.history.push(text);
  if (S.history.length > 200) S.history.shift();
  S.index = S.history.length - 1;
  afterChange(text, before);
}

function afterChange(text, before) {
  persist(text);
  const definitionChanged = !before || JSON.stringify(JSON.parse(before).definition) !== JSON.stringify(JSON.parse(text).definition);
  emit("changed", { definitionChanged });
}

function restore(text) {
  const doc = JSON.parse(text);
  buildGraph(doc.definition, doc.positions);
  const again = S.selectedName && nodes().find((n) => keyOf(n) === S.selectedName);
  S.graph.selectedNodes = again ? [again] : [];
  afterChange(text, null);
}

export function undo() {
  commit();
  if (S.index <= 0) return;
  S.index--;
  restore(S.history[S.index]);
}

export function redo() {
  if (S.index >= S.history.length - 1) return;
  S.index++;
  restore(S.history[S.index]);
}

export const canUndo = () => S.index > 0;
export const canRedo = () => S.index < S.history.length - 1;

/** Draw ``definition``: positions from storage when this definition was laid out before. */
export function load(definition, { fit = true } = {}) {
  if (typeof definition === "string") definition = JSON.parse(definition);
  if (!definition || typeof definition !== "object" || Array.isArray(definition)) {
    throw new Error("a workflow definition is a JSON object with inputs, steps and outputs");
  }
  let pos = null;
  try { pos = JSON.parse(localStorage.getItem(STORE_POS + definitionHash(definition)) || "null"); } catch { pos = null; }
  buildGraph(definition, pos);
  commit();
  if (fit) setTimeout(() => emit("fit"), 0);
}

/** Restore the work in progress kept in local storage; false when there is none. */
export function restoreWork() {
  const wip = localStorage.getItem(STORE_WIP);
  if (!wip) return false;
  const doc = JSON.parse(wip);
  buildGraph(doc.definition, doc.positions);
  commit();
  return true;
}

export function layout() {
  const auto = layoutPositions();
  for (const n of nodes()) n.position = auto.get(n.id);
  commit();
}
