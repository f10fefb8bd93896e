/**
 * Writes numpy arrays: one `.npy` (format 1.0, little-endian float64, C
 * order) and an `.npz` of several, stored, with members named after the
 * arrays (`np.load(path)[name]`).
 * @module
 */
import { zipStored } from "./zip_write.ts";

/**
 * The bytes of a `.npy` file holding `values` (row-major) with `shape`: the
 * magic, version 1.0, the header dict padded with spaces to a multiple of 64
 * bytes (ending in a newline), then the values as `<f8`.
 *
 * @throws {TypeError} When `values.length` is not the product of `shape`.
 */
export function encodeNpy(values: Float64Array, shape: readonly number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== values.length) {
    throw new TypeError(
      `Cannot write an npy array as its values must number the product of its shape [${
        shape.join(", ")
      }]: current value is ${values.length}`,
    );
  }
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let dict = `{'descr': '<f8', 'fortran_order': False, 'shape': (${dims}), }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  dict += " ".repeat(pad % 64) + "\n";
  const head = new TextEncoder().encode(dict);
  const out = new Uint8Array(10 + head.length + 8 * values.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0); // \x93NUMPY, version 1.0
  new DataView(out.buffer).setUint16(8, head.length, true);
  out.set(head, 10);
  const view = new DataView(out.buffer, 10 + head.length);
  for (let j = 0; j < values.length; j++) view.setFloat64(8 * j, values[j], true);
  return out;
}

/** An array to store in an `.npz`. */
export interface NamedArray {
  name: string;
  values: Float64Array;
  shape: number[];
}

/**
 * The bytes of an `.npz` holding each array as member `name + ".npy"`,
 * stored (as `np.savez` writes them), in order.
 *
 * @throws {TypeError} When two arrays have the same name.
 */
export function encodeNpz(arrays: readonly NamedArray[]): Uint8Array {
  const seen = new Set<string>();
  for (const a of arrays) {
    if (seen.has(a.name)) {
      throw new TypeError(`Cannot write an npz archive as its member names must differ: current value is ${a.name}`);
    }
    seen.add(a.name);
  }
  return zipStored(arrays.map((a) => ({ name: `${a.name}.npy`, bytes: encodeNpy(a.values, a.shape) })));
}
