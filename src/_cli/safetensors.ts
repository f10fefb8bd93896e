/**
 * Writes tensors as a safetensors file: an 8-byte little-endian header
 * length, a JSON header (padded with spaces to a multiple of 8), then the
 * tensors' bytes, little-endian, in header order.
 * @module
 */

/** One tensor to write. */
export interface NamedTensor {
  name: string;
  data: Float32Array | Float64Array;
  shape: readonly number[];
}

/** The bytes of a safetensors file holding `tensors` and the string-valued `metadata`. */
export function encodeSafetensors(tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name) || t.name === "__metadata__") {
      throw new TypeError(
        `Cannot write safetensors as tensor names must be unique: current value is ${JSON.stringify(t.name)}`,
      );
    }
    seen.add(t.name);
    const bytes = t.data.length * t.data.BYTES_PER_ELEMENT;
    header[t.name] = {
      dtype: t.data instanceof Float64Array ? "F64" : "F32",
      shape: [...t.shape],
      data_offsets: [offset, offset + bytes],
    };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    const f64 = t.data instanceof Float64Array;
    for (let i = 0; i < t.data.length; i++) {
      if (f64) view.setFloat64(at + 8 * i, t.data[i], true);
      else view.setFloat32(at + 4 * i, t.data[i], true);
    }
    at += t.data.length * t.data.BYTES_PER_ELEMENT;
  }
  return out;
}
