// The editor's client of the server: JSON requests with the API key (asked for on a 401 and kept
// for this tab in sessionStorage).

import { tid } from "./dom.js";
import { STORE_KEY } from "./state.js";

async function askKey() {
  const dialog = tid("key-dialog");
  const input = tid("api-key-input");
  input.value = "";
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  if (input.value) sessionStorage.setItem(STORE_KEY, input.value);
}

/** The headers every call sends (the API key when one is kept). */
export function authHeaders() {
  const headers = {};
  const key = sessionStorage.getItem(STORE_KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

/** GET ``path`` (no body) or POST ``body`` as JSON: {ok, status, data}. */
export async function api(path, body, extraHeaders = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = { ...authHeaders(), ...extraHeaders };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: body === undefined ? "GET" : "POST", headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) { sessionStorage.removeItem(STORE_KEY); await askKey(); continue; }
    let data;
    try { data = await response.json(); } catch { data = { message: `HTTP ${response.status} ${response.statusText}` }; }
    return { ok: response.ok, status: response.status, data };
  }
  throw new Error("the server refused the API key");
}

/**
 * Read the Server-Sent Events at ``path`` (fetch, so the API key header goes along), calling
 * ``onEvent(name, data)`` for each; resolves when the stream ends or ``signal`` aborts it.
 */
export async function streamEvents(path, onEvent, signal) {
  let response;
  try { response = await fetch(path, { headers: authHeaders(), signal }); } catch { return; }
  if (!response.ok || !response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) { try { onEvent(name, JSON.parse(data)); } catch { /* not ours */ } }
      }
    }
  } catch { /* aborted */ }
}
