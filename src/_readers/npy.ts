/**
 * numpy `.npy` arrays and `.npz` archives (a zip of `.npy` files, stored or
 * deflated, as `np.savez` and `np.savez_compressed` write them; the zip
 * container is zip.ts).
 * @module
 */
import type { ConvLayer } from "../model.ts";
import type { Layout } from "../types.ts";
import {
  baseLayer,
  checkRange,
  decodeFloats,
  elementCount,
  ITEM_SIZE,
  layoutRank,
  type NumericType,
  rangeError,
  type Source,
  torchLayout,
  typeError,
} from "./_common.ts";
import { type Overrides, stateDictLayers, type StateEntry } from "./_state_dict.ts";

/** `\x93NUMPY`. */
export const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** The parsed header of a `.npy` array. */
export interface NpyHeader {
  descr: string;
  /** The element type, undefined for dtypes the readers do not decode. */
  type?: NumericType | undefined;
  littleEndian: boolean;
  fortran: boolean;
  shape: number[];
  /** Byte offset of the data. */
  offset: number;
}

/** True when `bytes` starts with `prefix`. */
export function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, j) => bytes[j] === b);
}

/** A tiny parser for the Python literal of a `.npy` header: dicts, strings, tuples, ints, booleans. */
function parsePyLiteral(text: string): unknown {
  let p = 0;
  const ws = () => {
    while (p < text.length && /\s/.test(text[p])) p++;
  };
  const fail = (): never => {
    throw new SyntaxError(`unexpected ${JSON.stringify(text.slice(p, p + 10))} at ${p}`);
  };
  const value = (depth: number): unknown => {
    if (depth > 8) fail();
    ws();
    const c = text[p];
    if (c === "{" || c === "(" || c === "[") {
      const close = c === "{" ? "}" : c === "(" ? ")" : "]";
      p++;
      const dict: Record<string, unknown> = {};
      const list: unknown[] = [];
      for (;;) {
        ws();
        if (text[p] === close) {
          p++;
          return c === "{" ? dict : list;
        }
        const v = value(depth + 1);
        ws();
        if (c === "{") {
          if (typeof v !== "string" || text[p] !== ":") fail();
          p++;
          dict[v as string] = value(depth + 1);
          ws();
        } else list.push(v);
        if (text[p] === ",") p++;
        else if (text[p] !== close) fail();
      }
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, p + 1);
      if (end < 0) fail();
      const s = text.slice(p + 1, end);
      p = end + 1;
      return s;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(text.slice(p, p + 24));
    if (m === null) return fail();
    p += m[0].length;
    return m[0] === "True" ? true : m[0] === "False" ? false : m[0] === "None" ? null : Number(m[0].replace("L", ""));
  };
  const v = value(0);
  ws();
  if (p !== text.length) fail();
  return v;
}

const NPY_TYPES: Record<string, NumericType> = { f8: "f64", f4: "f32", f2: "f16" };

/** Parses and checks the header of a `.npy` array (not its data). `what` names the array in messages. */
export function npyHeader(bytes: Uint8Array, src: Source, what: string): NpyHeader {
  if (!startsWith(bytes, NPY_MAGIC)) {
    throw typeError(src, `${what} does not start with the npy magic \\x93NUMPY`, Array.from(bytes.subarray(0, 6)));
  }
  if (bytes.length < 10) throw rangeError(src, `${what} is shorter than an npy header`, bytes);
  const major = bytes[6];
  if (major < 1 || major > 3) throw typeError(src, `${what} has an npy version other than 1, 2 or 3`, major);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start) throw rangeError(src, `${what} is shorter than an npy header`, bytes);
  const length = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  checkRange(src, `${what}'s npy header`, bytes, start, length);
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(start, start + length));
  let dict: unknown;
  try {
    dict = parsePyLiteral(text);
  } catch (e) {
    throw typeError(src, `${what} has an npy header that is not a Python dict literal (${(e as Error).message})`, text);
  }
  const { descr, fortran_order: fortran, shape } = (dict ?? {}) as Record<string, unknown>;
  if (typeof descr !== "string" || typeof fortran !== "boolean" || !Array.isArray(shape)) {
    throw typeError(src, `${what} has an npy header without descr, fortran_order and shape`, text.trim());
  }
  const order = descr[0];
  const type = NPY_TYPES[descr.slice(1)];
  return {
    descr,
    type: type !== undefined && "<>=".includes(order) ? type : undefined,
    littleEndian: order !== ">",
    fortran,
    shape: shape as number[],
    offset: start + length,
  };
}

/** Decodes the data of a `.npy` array into C order (f8 → Float64Array; f4, f2 → Float32Array). */
export function npyData(bytes: Uint8Array, src: Source, what: string, h: NpyHeader): Float32Array | Float64Array {
  if (h.type === undefined) {
    throw typeError(src, `${what} has a dtype other than <f8, <f4 and <f2 (either byte order)`, h.descr);
  }
  const count = elementCount(src, what, h.shape);
  const need = count * ITEM_SIZE[h.type];
  if (bytes.length - h.offset !== need) {
    throw rangeError(
      src,
      `${what} has ${bytes.length - h.offset} data bytes where its ${h.descr} shape ${
        JSON.stringify(h.shape)
      } needs ${need}`,
      bytes.length - h.offset,
    );
  }
  const flat = decodeFloats(src, what, bytes, h.offset, count, h.type, h.littleEndian);
  return h.fortran && h.shape.length > 1 ? fortranToC(flat, h.shape) : flat;
}

/** Reorders column-major (Fortran) data into row-major. */
export function fortranToC<T extends Float32Array | Float64Array>(data: T, shape: number[]): T {
  const out = new (data.constructor as { new (n: number): T })(data.length);
  const r = shape.length;
  const fStride: number[] = [];
  let s = 1;
  for (let k = 0; k < r; k++) {
    fStride.push(s);
    s *= shape[k];
  }
  const idx = new Array<number>(r).fill(0);
  let f = 0;
  for (let c = 0; c < data.length; c++) {
    out[c] = data[f];
    for (let k = r - 1; k >= 0; k--) {
      idx[k]++;
      f += fStride[k];
      if (idx[k] < shape[k]) break;
      f -= fStride[k] * shape[k];
      idx[k] = 0;
    }
  }
  return out;
}

/** The kernel of a single `.npy` array (rank 3–5), read through `layout` (default PyTorch's for the rank). */
export function readNpy(
  bytes: Uint8Array,
  src: Source,
  name: string,
  options: { layout?: Layout | undefined; layers?: Overrides | undefined },
): ConvLayer[] {
  const h = npyHeader(bytes, src, "the array");
  if (h.shape.length < 3 || h.shape.length > 5) {
    throw typeError(src, "an npy kernel needs rank 3, 4 or 5", h.shape);
  }
  const layout = options.layers?.[name]?.layout ?? options.layout ?? torchLayout(h.shape.length);
  if (layoutRank(layout) + 2 !== h.shape.length) {
    throw typeError(src, `an array of rank ${h.shape.length} does not fit layout "${layout}"`, h.shape);
  }
  return [baseLayer(name, npyData(bytes, src, "the array", h), h.shape, layout)];
}

/**
 * The conv layers of an `.npz` archive whose members are extracted already:
 * every float array of rank 3–5 is a kernel (named by its key, less a
 * trailing `.weight`); rank-1 arrays named like a PyTorch BatchNorm
 * (`bn1.weight`, `bn1.running_mean`, …) become the scale of the conv before
 * them (see {@linkcode stateDictLayers}).
 */
export function npzLayers(
  src: Source,
  members: { name: string; bytes: Uint8Array }[],
  options: { layout?: Layout | undefined; layers?: Overrides | undefined },
): ConvLayer[] {
  const entries: StateEntry[] = [];
  for (const m of members) {
    if (!m.name.endsWith(".npy")) continue;
    const key = m.name.slice(0, -4);
    const what = `array "${key}"`;
    const h = npyHeader(m.bytes, src, what);
    elementCount(src, what, h.shape);
    entries.push({ key, shape: h.shape, float: h.type !== undefined, decode: () => npyData(m.bytes, src, what, h) });
  }
  return stateDictLayers(
    src,
    entries,
    (e) => e.shape.length >= 3 && e.shape.length <= 5,
    (key) => key.endsWith(".weight") ? key.slice(0, -".weight".length) : key,
    options,
  );
}
