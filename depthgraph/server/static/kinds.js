// Socket colours by kind (a fixed colour for the common kinds, a stable hue for the rest) and
// the legend that names them.

import { el, tid } from "./dom.js";

const FIXED = new Map([
  ["image", "#5aa9ff"], ["depth_map", "#f2b84b"], ["numpy_array", "#c9a86a"], ["camera_intrinsics", "#b58cff"],
  ["point_cloud", "#5ad18b"], ["object_detection_prediction", "#ff7b9c"], ["float", "#9be3e0"],
  ["integer", "#7fc7c4"], ["string", "#e0e0e0"], ["boolean", "#ff9f5a"], ["dictionary", "#a0a7b8"], ["*", "#ffffff"],
]);

/** The colour of ``kind``. */
export function kindColour(kind) {
  if (FIXED.has(kind)) return FIXED.get(kind);
  let h = 0;
  for (const ch of String(kind)) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} 65% 65%)`;
}

/** The kind a socket is drawn with: its first kind ("*" when it takes anything). */
export const mainKind = (kinds) => (kinds && kinds.length ? (kinds.includes("*") ? "*" : kinds[0]) : "*");

/** Show the kinds in ``used`` (a Set) with their colours. */
export function renderLegend(used) {
  const box = tid("kind-legend");
  const list = [...used].sort((a, b) => (a === "*") - (b === "*") || a.localeCompare(b));
  box.replaceChildren(...list.map((k) => {
    const item = el("span", { "data-kind": k, text: k === "*" ? "any kind" : k });
    item.style.setProperty("--kind-colour", kindColour(k));
    return item;
  }));
}
