// The editor's shared state and a small event hub the modules talk through.
//
// Maps and null-prototype objects hold everything keyed by a user's names (an input may be
// called "__proto__", a step "toString").

export const STORE_WIP = "depthgraph.editor.wip";
export const STORE_POS = "depthgraph.editor.positions.";
export const STORE_KEY = "depthgraph.editor.apiKey";
export const STORE_RUN = "depthgraph.editor.runInputs";
export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_\-]*$/;
export const NODE_WIDTH = 220;

export const S = {
  blocks: new Map(),        // identifier or alias -> block info
  describe: null,
  viewModel: null,
  graph: null,
  meta: null,               // top-level keys of the loaded definition (order, version, extra)
  history: [],
  index: -1,
  restoring: 0,
  commitTimer: null,
  validateTimer: null,
  validateSeq: 0,
  errors: [],               // validation errors [{step, role, property, message}]
  runErrors: [],            // the last run's server errors, cleared when the definition changes
  verdict: null,            // last connection check {fromId, toId, allowed, reason}
  wireDrag: null,
  selectedName: null,
  clipboard: null,
  runImages: new Map(),     // input name -> [data URL]
  runParams: new Map(),     // input name -> value
  runState: new Map(),      // step name -> "running" | "done" while and after a run
  previews: new Map(),      // output name -> {key, src?, text?} of the last run
  running: false,
  validating: false,        // a validation is due or on its way
  serverLimits: null,       // /info's limits, when readable
};

const listeners = new Map();

/** Call ``fn(...args)`` whenever ``event`` is emitted ("changed", "errors", "selection", ...). */
export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push(fn);
}

export function emit(event, ...args) {
  for (const fn of listeners.get(event) || []) fn(...args);
}

/** A fresh object without a prototype: any key (even "__proto__") is a plain own key. */
export const dict = () => Object.create(null);

/** ``obj[key] = value`` that stays an own data property even for "__proto__". */
export function put(obj, key, value) {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  return obj;
}
