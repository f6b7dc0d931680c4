// Array outputs of the server decoded for drawing: nested lists, or the compact base64 form.

const TYPED = { float32: Float32Array, float64: Float64Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array,
  int16: Int16Array, uint32: Uint32Array, int32: Int32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array };

/** {values (typed array or plain array), shape} of an array output: nested lists, or the server's
 * compact {"type": "numpy_array", "encoding": "base64", dtype, shape, value} (little-endian). */
export function decodeArray(v) {
  if (v && typeof v === "object" && v.type === "numpy_array" && v.encoding === "base64" && Object.hasOwn(TYPED, v.dtype)) {
    const bytes = Uint8Array.from(atob(v.value), (c) => c.charCodeAt(0));
    let values = new TYPED[v.dtype](bytes.buffer);
    if (v.dtype === "int64" || v.dtype === "uint64") values = Float64Array.from(values, Number);
    return { values, shape: v.shape };
  }
  if (Array.isArray(v)) {
    const shape = [];
    for (let x = v; Array.isArray(x); x = x[0]) shape.push(x.length);
    const flat = v.flat(shape.length - 1);
    if (flat.length !== shape.reduce((a, b) => a * b, 1) || flat.some((x) => x !== null && typeof x !== "number")) return null;
    return { values: flat, shape };
  }
  return null;
}
