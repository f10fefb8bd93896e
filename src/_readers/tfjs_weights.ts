/**
 * The weights of a TensorFlow.js model: its `weightsManifest` (groups of
 * weights, each group stored across one or more shard files, concatenated in
 * order) and the shards. Every weight is located first, its size checked
 * against the shards, and decoded only when a reader asks for it, as
 * TF.js's loader gives it: float32, int32 or float16, or dequantised from the
 * converter's uint8/uint16 (`q·scale + min`, rounded to f32) or float16
 * quantisation.
 * @module
 */
import type { ConvLayer } from "../model.ts";
import {
  baseLayer,
  checkRange,
  decodeFloats,
  elementCount,
  rangeError,
  type Source,
  tfLayout,
  typeError,
} from "./_common.ts";

/** One weight of the manifest: its entry, and where its bytes lie in its group's shards. */
export interface Spec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; offset?: number } | undefined;
  bytes: Uint8Array;
  offset: number;
  count: number;
}

/** A JSON object. */
export type Obj = Record<string, unknown>;
/** True for a JSON object (not null, not an array). */
export const isObj = (x: unknown): x is Obj => x !== null && typeof x === "object" && !Array.isArray(x);

const DTYPE_SIZE: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  float16: 2,
  complex64: 8,
  uint8: 1,
  uint16: 2,
};

/**
 * The bytes one manifest entry takes in its group's shards, from its shape and
 * dtype (or quantisation dtype); undefined for string weights, whose size only
 * the shards tell. Entries without name and dtype, bad shapes and unknown
 * dtypes are refused.
 */
export function weightBytes(src: Source, w: unknown): number | undefined {
  if (!isObj(w) || typeof w.name !== "string" || typeof w.dtype !== "string") {
    throw typeError(src, "a TF.js manifest entry without name and dtype", w);
  }
  const count = elementCount(src, `weight "${w.name}"`, w.shape);
  if (w.dtype === "string") return undefined;
  const q = w.quantization;
  const itemDtype = isObj(q) && typeof q.dtype === "string" ? q.dtype : w.dtype;
  const item = DTYPE_SIZE[itemDtype];
  if (item === undefined) throw typeError(src, `weight "${w.name}" has an unknown dtype`, itemDtype);
  return count * item;
}

/** One group of a weights manifest: its shard paths and the bytes its weights declare in all. */
export interface ShardGroup {
  paths: string[];
  /** The sum of its weights' sizes; undefined when a string weight makes it unknowable. */
  bytes: number | undefined;
}

/**
 * The shard groups a model.json (or a bare manifest) lists, before any shard
 * is read, so that a reader of files can refuse a shard larger than its
 * group declares. A model.json without a manifest yields none (the reader
 * then refuses it with its own message).
 */
export function shardGroups(src: Source, modelJson: unknown): ShardGroup[] {
  const groups = Array.isArray(modelJson) ? modelJson : isObj(modelJson) ? modelJson.weightsManifest : undefined;
  if (!Array.isArray(groups)) return [];
  return groups.map((g) => {
    if (!isObj(g) || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      throw typeError(src, "a TF.js manifest group without paths and weights", g);
    }
    for (const p of g.paths) {
      if (typeof p !== "string") throw typeError(src, "a TF.js manifest whose shard path is not a string", p);
    }
    let bytes: number | undefined = 0;
    for (const w of g.weights) {
      const size = weightBytes(src, w);
      bytes = size === undefined || bytes === undefined ? undefined : bytes + size;
    }
    return { paths: g.paths as string[], bytes };
  });
}

/** The weights of the manifest, located in their group's shards (every size checked against the shards). */
export function weightSpecs(src: Source, groups: unknown, shards: Uint8Array[]): Map<string, Spec> {
  if (!Array.isArray(groups)) throw typeError(src, "a TF.js weightsManifest that is not a list of groups", groups);
  const paths = groups.reduce((n: number, g) => n + (isObj(g) && Array.isArray(g.paths) ? g.paths.length : 0), 0);
  if (paths !== shards.length) {
    throw typeError(src, `a TF.js manifest naming ${paths} shards where ${shards.length} were given`, shards.length);
  }
  const specs = new Map<string, Spec>();
  let shard = 0;
  for (const g of groups) {
    if (!isObj(g) || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      throw typeError(src, "a TF.js manifest group without paths and weights", g);
    }
    const parts = shards.slice(shard, shard + g.paths.length);
    shard += g.paths.length;
    let bytes: Uint8Array;
    if (parts.length === 1) bytes = parts[0];
    else {
      bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) {
        bytes.set(p, o);
        o += p.length;
      }
    }
    let offset = 0;
    for (const w of g.weights) {
      if (!isObj(w) || typeof w.name !== "string" || typeof w.dtype !== "string") {
        throw typeError(src, "a TF.js manifest entry without name and dtype", w);
      }
      const count = elementCount(src, `weight "${w.name}"`, w.shape);
      let size = weightBytes(src, w);
      const q = w.quantization;
      if (size === undefined) {
        // a string weight: each value is a 4-byte length and its bytes
        size = 0;
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
        for (let j = 0; j < count; j++) {
          checkRange(src, `string weight "${w.name}" in shards ${JSON.stringify(g.paths)}`, bytes, offset + size, 4);
          size += 4 + view.getUint32(offset + size, true);
        }
      }
      if (offset + size > bytes.length) {
        throw rangeError(
          src,
          `weight "${w.name}" ends at byte ${offset + size} of shards ${
            JSON.stringify(g.paths)
          }, which hold ${bytes.length} (a shard is shorter than the manifest says)`,
          bytes.length,
        );
      }
      specs.set((w.name as string).replace(/:0$/, ""), {
        name: w.name as string,
        shape: w.shape as number[],
        dtype: w.dtype,
        quantization: isObj(q) ? q as Spec["quantization"] : undefined,
        bytes,
        offset,
        count,
      });
      offset += size;
    }
  }
  return specs;
}

/** A weight's values as TF.js's loader gives them: float32 (dequantised where quantised: q·scale + min, then rounded to f32). */
export function decode(src: Source, s: Spec): Float32Array {
  const q = s.quantization;
  if (q !== undefined) {
    if (q.dtype === "float16") {
      const raw = decodeFloats(src, `weight "${s.name}"`, s.bytes, s.offset, s.count, "f16");
      return raw as Float32Array;
    }
    if (q.dtype !== "uint8" && q.dtype !== "uint16") {
      throw typeError(src, `weight "${s.name}" has a quantization dtype other than uint8, uint16 and float16`, q.dtype);
    }
    const min = q.min ?? q.offset;
    if (typeof q.scale !== "number" || typeof min !== "number" || !Number.isFinite(q.scale) || !Number.isFinite(min)) {
      throw typeError(src, `weight "${s.name}" is ${q.dtype}-quantised without a finite scale and min`, q);
    }
    const raw = decodeFloats(src, `weight "${s.name}"`, s.bytes, s.offset, s.count, q.dtype === "uint8" ? "u8" : "u16");
    const out = new Float32Array(s.count);
    const round = s.dtype === "int32";
    for (let j = 0; j < s.count; j++) {
      const v = raw[j] * q.scale + min;
      out[j] = round ? Math.round(v) : v;
    }
    return out;
  }
  const type = s.dtype === "float32" ? "f32" : s.dtype === "int32" ? "i32" : s.dtype === "float16" ? "f16" : undefined;
  if (type === undefined) {
    throw typeError(src, `weight "${s.name}" has a dtype other than float32, int32 and float16`, s.dtype);
  }
  return decodeFloats(src, `weight "${s.name}"`, s.bytes, s.offset, s.count, type) as Float32Array;
}

/** Checks that weight `s` can be a kernel (rank 3, 4 or 5); else a TypeError naming `what` (the layer or node). */
export function kernelSpec(src: Source, what: string, s: Spec): Spec {
  if (s.shape.length < 3 || s.shape.length > 5) {
    throw typeError(src, `${what} has a kernel "${s.name}" of rank other than 3, 4 and 5`, s.shape);
  }
  return s;
}

/** A depthwise kernel `[k…, C, M]` as a grouped hwio kernel `[k…, 1, C·M]` (same data order), with `groups = C`. */
export function depthwise(name: string, data: Float32Array, shape: number[]): ConvLayer {
  const r = shape.length;
  const c = shape[r - 2];
  const layer = baseLayer(name, data, [...shape.slice(0, r - 2), 1, c * shape[r - 1]], tfLayout(r));
  layer.groups = c;
  return layer;
}
