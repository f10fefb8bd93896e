/**
 * Writes a model back in its own format with some conv kernels replaced:
 * safetensors, `.npy`, `.npz`, TF.js (`model.json` and its shards) and ONNX.
 *
 * Every format stores a kernel as one run of fixed-size numbers at a place
 * in a file (a "slot"), so writing is: locate each layer's slot, check that
 * the numbers there decode to exactly the kernel the reader returned (else
 * the layer is not written, with the reason), and overwrite them with the new
 * kernel in the slot's own encoding. Nothing else changes: headers, member
 * names, dtypes, shapes, the TF.js manifest and shard sizes, every other
 * tensor. `.npz` members are written stored (uncompressed). An ONNX tensor's
 * `raw_data` or packed `float_data` keeps its byte length, so no protobuf
 * length changes and the file stays valid. Encodings narrower than the kernel
 * (float16, bfloat16, the TF.js converter's uint8/uint16 quantisation) round
 * each value, and the outcome says so.
 * @module
 */
import type { Kernel } from "../types.ts";
import { bfloat16ToNumber, halfToNumber, type Source, source } from "../_readers/_common.ts";
import { npyHeader } from "../_readers/npy.ts";
import { inflateEntry, zipEntries } from "../_readers/zip.ts";
import { readModelGraph, type Tensor } from "../_readers/onnx_proto.ts";
import { decode, isObj, type Spec, weightSpecs } from "../_readers/tfjs_weights.ts";
import { zipStored } from "./zip_write.ts";

/** A file of the model: its path relative to the model's folder (TF.js shards) or "" for the model file itself. */
export interface ModelFile {
  path: string;
  bytes: Uint8Array;
}

/** One kernel to replace: the layer's name, the kernel as read, and the kernel to write. */
export interface Replacement {
  name: string;
  original: Kernel;
  kernel: Kernel;
}

/** What happened to one replacement. */
export type WriteOutcome =
  | { written: true; exact: boolean; encoding: string; maxRoundingError: number }
  | { written: false; reason: string };

type Encoding = "f64" | "f32" | "f16" | "bf16" | "u8" | "u16";

/** Where a kernel's numbers lie: in `files[file]`, `count` values of `type` from `offset`. */
interface Slot {
  file: number;
  offset: number;
  count: number;
  type: Encoding;
  littleEndian: boolean;
  /** Column-major storage of this C-order shape (numpy `fortran_order`). */
  fortranShape?: number[] | undefined;
  /** uint8/uint16 quantisation: value = fround(q·scale + min). */
  quant?: { scale: number; min: number } | undefined;
  /** What the outcome calls the encoding. */
  label: string;
}

const SIZE: Record<Encoding, number> = { f64: 8, f32: 4, f16: 2, bf16: 2, u8: 1, u16: 2 };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits of `x` (first rounded to f32), round to nearest even. */
export function toHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // exponent biased for half
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** bfloat16 bits of `x` (first rounded to f32), round to nearest even. */
export function toBfloat16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  const rem = bits & 0xffff;
  let h = bits >>> 16;
  if (rem > 0x8000 || (rem === 0x8000 && (h & 1))) h++;
  return h & 0xffff;
}

/** Storage position of C-order element `c` of `shape` when stored column-major. */
function fortranIndex(shape: number[]): (c: number) => number {
  const r = shape.length;
  const fStride: number[] = [];
  let s = 1;
  for (let k = 0; k < r; k++) {
    fStride.push(s);
    s *= shape[k];
  }
  return (c: number) => {
    let f = 0;
    for (let k = r - 1; k >= 0; k--) {
      f += (c % shape[k]) * fStride[k];
      c = Math.floor(c / shape[k]);
    }
    return f;
  };
}

function position(slot: Slot): (c: number) => number {
  const size = SIZE[slot.type];
  const index = slot.fortranShape && slot.fortranShape.length > 1 ? fortranIndex(slot.fortranShape) : (c: number) => c;
  return (c) => slot.offset + size * index(c);
}

/** The slot's values in C order, as the readers decode them. */
function readSlot(files: ModelFile[], slot: Slot): Float64Array {
  const b = files[slot.file].bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  const at = position(slot);
  const le = slot.littleEndian;
  const out = new Float64Array(slot.count);
  for (let c = 0; c < slot.count; c++) {
    const p = at(c);
    switch (slot.type) {
      case "f64":
        out[c] = view.getFloat64(p, le);
        break;
      case "f32":
        out[c] = view.getFloat32(p, le);
        break;
      case "f16":
        out[c] = halfToNumber(view.getUint16(p, le));
        break;
      case "bf16":
        out[c] = bfloat16ToNumber(view.getUint16(p, le));
        break;
      case "u8":
        out[c] = Math.fround(view.getUint8(p) * slot.quant!.scale + slot.quant!.min);
        break;
      case "u16":
        out[c] = Math.fround(view.getUint16(p, le) * slot.quant!.scale + slot.quant!.min);
        break;
    }
  }
  return out;
}

function writeSlot(files: ModelFile[], slot: Slot, data: ArrayLike<number>): void {
  const b = files[slot.file].bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  const at = position(slot);
  const le = slot.littleEndian;
  const q = slot.quant;
  const top = slot.type === "u8" ? 255 : 65535;
  for (let c = 0; c < slot.count; c++) {
    const p = at(c), v = data[c];
    switch (slot.type) {
      case "f64":
        view.setFloat64(p, v, le);
        break;
      case "f32":
        view.setFloat32(p, v, le);
        break;
      case "f16":
        view.setUint16(p, toHalf(v), le);
        break;
      case "bf16":
        view.setUint16(p, toBfloat16(v), le);
        break;
      case "u8":
      case "u16": {
        const n = Math.min(top, Math.max(0, Math.round((v - q!.min) / q!.scale)));
        if (slot.type === "u8") view.setUint8(p, n);
        else view.setUint16(p, n, le);
        break;
      }
    }
  }
}

const NPY_TYPES: Record<string, Encoding> = { f8: "f64", f4: "f32", f2: "f16" };
const ST_TYPES: Record<string, Encoding> = { F64: "f64", F32: "f32", F16: "f16", BF16: "bf16" };
const ONNX_TYPES: Record<number, [Encoding, string]> = {
  1: ["f32", "FLOAT"],
  11: ["f64", "DOUBLE"],
  10: ["f16", "FLOAT16"],
  16: ["bf16", "BFLOAT16"],
};

/** The model's files and, per layer name, its slot or why it has none. */
interface Located {
  files: ModelFile[];
  slots: Map<string, Slot | string>;
  /** The files to write, from the patched ones. */
  output(files: ModelFile[]): ModelFile[];
}

function npySlot(bytes: Uint8Array, src: Source, file: number, base: number, what: string): Slot | string {
  const h = npyHeader(bytes, src, what);
  const type = NPY_TYPES[h.descr.slice(1)];
  if (type === undefined || !"<>=|".includes(h.descr[0])) return `${what} has dtype ${h.descr}, which is not written`;
  return {
    file,
    offset: base + h.offset,
    count: h.shape.reduce((a, b) => a * b, 1),
    type,
    littleEndian: h.littleEndian,
    fortranShape: h.fortran ? h.shape : undefined,
    label: h.descr,
  };
}

function locateSafetensors(bytes: Uint8Array): Located {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    Record<string, unknown>
  >;
  const slots = new Map<string, Slot | string>();
  for (const [key, info] of Object.entries(header)) {
    if (key === "__metadata__" || !key.endsWith(".weight")) continue;
    const type = ST_TYPES[String(info.dtype)];
    const name = key.slice(0, -".weight".length);
    const [begin, end] = info.data_offsets as number[];
    if (type === undefined) slots.set(name, `tensor "${key}" has dtype ${info.dtype}, which is not written`);
    else {slots.set(name, {
        file: 0,
        offset: 8 + n + begin,
        count: (end - begin) / SIZE[type],
        type,
        littleEndian: true,
        label: String(info.dtype),
      });}
  }
  return { files: [{ path: "", bytes }], slots, output: (f) => f };
}

async function locateNpz(bytes: Uint8Array, src: Source): Promise<Located> {
  const files: ModelFile[] = [];
  const slots = new Map<string, Slot | string>();
  for (const e of zipEntries(bytes, src)) {
    const data = await inflateEntry(src, e);
    files.push({ path: e.name, bytes: data });
    if (!e.name.endsWith(".npy")) continue;
    const key = e.name.slice(0, -4);
    const name = key.endsWith(".weight") ? key.slice(0, -".weight".length) : key;
    slots.set(name, npySlot(data, src, files.length - 1, 0, `array "${key}"`));
  }
  return {
    files,
    slots,
    output: (f) => [{ path: "", bytes: zipStored(f.map((m) => ({ name: m.path, bytes: m.bytes }))) }],
  };
}

function locateOnnx(bytes: Uint8Array, src: Source): Located {
  const g = readModelGraph(src, bytes);
  const constants = new Map<string, Tensor>(g.initializers);
  const identityOf = new Map<string, string>();
  for (const n of g.nodes) {
    const t = n.attrs.get("value")?.t;
    if (n.op === "Constant" && t !== undefined) constants.set(n.outputs[0], t);
    if (n.op === "Identity" && n.inputs.length === 1) identityOf.set(n.outputs[0], n.inputs[0]);
  }
  const constant = (name: string): Tensor | undefined => {
    for (let hops = 0; hops < 64; hops++) {
      const t = constants.get(name);
      if (t !== undefined) return t;
      const up = identityOf.get(name);
      if (up === undefined) return undefined;
      name = up;
    }
    return undefined;
  };
  const slots = new Map<string, Slot | string>();
  for (const n of g.nodes) {
    if (n.op !== "Conv" && n.op !== "ConvTranspose") continue;
    const name = n.name || n.outputs[0];
    const t = constant(n.inputs[1] ?? "");
    const type = t === undefined ? undefined : ONNX_TYPES[t.dataType];
    if (t === undefined || type === undefined || t.external) {
      slots.set(name, `its weight is not an in-file FLOAT, DOUBLE, FLOAT16 or BFLOAT16 tensor`);
      continue;
    }
    const count = t.dims.reduce((a, b) => a * b, 1);
    let body: Uint8Array | undefined;
    if (t.raw !== undefined) body = t.raw;
    else if (type[0] === "f32" || type[0] === "f64") {
      // packed float_data / double_data: one length-delimited field of fixed-size values
      const list = t.fields.get(type[0] === "f32" ? 4 : 10) ?? [];
      if (list.length === 1 && list[0].wire === 2) {
        const b = list[0].bytes;
        let p = 0;
        while (b[p] & 0x80) p++;
        body = b.subarray(p + 1);
      }
    }
    if (body === undefined || body.length !== count * SIZE[type[0]]) {
      slots.set(name, `its weight "${t.name}" is stored in typed fields this writer does not rewrite in place`);
      continue;
    }
    slots.set(name, {
      file: 0,
      offset: body.byteOffset - bytes.byteOffset,
      count,
      type: type[0],
      littleEndian: true,
      label: type[1],
    });
  }
  return { files: [{ path: "", bytes }], slots, output: (f) => f };
}

/**
 * TF.js: the manifest's weights are found by value (the weight whose stored
 * numbers decode to exactly the kernel read; among several, the one whose name
 * holds the layer's), since the readers name layers after Keras layers, graph
 * nodes or manifest prefixes. Each weight group's shards are patched as one
 * run and cut back to the shards' own sizes.
 */
function locateTfjs(modelJson: Uint8Array, manifest: unknown, shards: ModelFile[], src: Source): Located & {
  byValue(name: string, original: Kernel): Slot | string;
} {
  const groups = Array.isArray(manifest) ? manifest : isObj(manifest) ? manifest.weightsManifest : undefined;
  const list = Array.isArray(groups) ? groups : [];
  // One virtual file per group: its shards concatenated.
  const files: ModelFile[] = [];
  const cuts: number[][] = [];
  let shard = 0;
  const specsOf: { file: number; spec: Spec }[] = [];
  for (const g of list) {
    const paths = isObj(g) && Array.isArray(g.paths) ? g.paths.length : 0;
    const parts = shards.slice(shard, shard + paths);
    shard += paths;
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.bytes.length, 0));
    let o = 0;
    for (const p of parts) {
      bytes.set(p.bytes, o);
      o += p.bytes.length;
    }
    files.push({ path: "", bytes });
    cuts.push(parts.map((p) => p.bytes.length));
    for (const spec of weightSpecs(src, [{ ...(g as object), paths: [""] }], [bytes]).values()) {
      specsOf.push({ file: files.length - 1, spec });
    }
  }
  const slotOf = (file: number, s: Spec): Slot | string => {
    const q = s.quantization;
    if (q?.dtype === "uint8" || q?.dtype === "uint16") {
      const min = q.min ?? q.offset;
      if (s.dtype !== "float32" || typeof q.scale !== "number" || typeof min !== "number") {
        return `weight "${s.name}" has quantisation this writer does not encode`;
      }
      return {
        file,
        offset: s.offset,
        count: s.count,
        type: q.dtype === "uint8" ? "u8" : "u16",
        littleEndian: true,
        quant: { scale: q.scale, min },
        label: `${q.dtype}-quantised`,
      };
    }
    const f16 = q?.dtype === "float16" || (q === undefined && s.dtype === "float16");
    if (!f16 && (q !== undefined || s.dtype !== "float32")) {
      return `weight "${s.name}" has dtype ${s.dtype}, which is not written`;
    }
    return {
      file,
      offset: s.offset,
      count: s.count,
      type: f16 ? "f16" : "f32",
      littleEndian: true,
      label: f16 ? "float16" : "float32",
    };
  };
  const decoded = new Map<Spec, Float32Array | undefined>();
  const valuesOf = (s: Spec) => {
    if (!decoded.has(s)) {
      let v: Float32Array | undefined;
      try {
        v = s.shape.length >= 3 && s.shape.length <= 5 ? decode(src, s) : undefined;
      } catch {
        v = undefined;
      }
      decoded.set(s, v);
    }
    return decoded.get(s);
  };
  const byValue = (name: string, original: Kernel): Slot | string => {
    const k = original.data;
    const hits = specsOf.filter(({ spec }) => {
      if (spec.count !== k.length) return false;
      const v = valuesOf(spec);
      if (v === undefined) return false;
      for (let j = 0; j < v.length; j++) if (!Object.is(v[j], k[j])) return false;
      return true;
    });
    const stem = name.replace(/\/(depthwise|pointwise)$/, "");
    const named = hits.length > 1 ? hits.filter(({ spec }) => spec.name.includes(stem)) : hits;
    if (named.length === 1) return slotOf(named[0].file, named[0].spec);
    return named.length === 0
      ? `no weight of the manifest holds the kernel read for it`
      : `${named.length} weights of the manifest hold the same values (${
        named.map((h) => JSON.stringify(h.spec.name)).join(", ")
      })`;
  };
  return {
    files,
    slots: new Map(),
    byValue,
    output: (patched) => {
      const out: ModelFile[] = [{ path: "", bytes: modelJson }];
      let s = 0;
      patched.forEach((f, j) => {
        let o = 0;
        for (const size of cuts[j]) {
          out.push({ path: shards[s++].path, bytes: f.bytes.slice(o, o + size) });
          o += size;
        }
      });
      return out;
    },
  };
}

/** The model's files as read from disk: the file itself, or for TF.js the model.json and its shards. */
export interface SourceFiles {
  format: string;
  /** The model file (TF.js: model.json). */
  bytes: Uint8Array;
  /** TF.js shards, with their manifest paths, in manifest order. */
  shards?: ModelFile[] | undefined;
  /** The layer name of a single `.npy` array. */
  npyName?: string | undefined;
  name: string;
}

/**
 * The model's files with `replacements` written in, and what happened to
 * each. Files are new arrays (the input is not modified); `path` "" is the
 * model file, other paths are TF.js shards relative to its folder.
 */
export async function writeModel(
  input: SourceFiles,
  replacements: readonly Replacement[],
): Promise<{ files: ModelFile[]; outcomes: Map<string, WriteOutcome> }> {
  const src = source(input.name, input.format);
  const copy = (b: Uint8Array) => b.slice();
  let located: Located;
  let byValue: ((name: string, original: Kernel) => Slot | string) | undefined;
  switch (input.format) {
    case "safetensors":
      located = locateSafetensors(copy(input.bytes));
      break;
    case "npy": {
      const bytes = copy(input.bytes);
      located = {
        files: [{ path: "", bytes }],
        slots: new Map([[input.npyName ?? "", npySlot(bytes, src, 0, 0, "the array")]]),
        output: (f) => f,
      };
      break;
    }
    case "npz":
      located = await locateNpz(input.bytes, src);
      break;
    case "onnx":
      located = locateOnnx(copy(input.bytes), src);
      break;
    case "tfjs": {
      const manifest = JSON.parse(new TextDecoder().decode(input.bytes));
      const t = locateTfjs(input.bytes, manifest, input.shards ?? [], src);
      located = t;
      byValue = t.byValue;
      break;
    }
    default:
      throw new TypeError(
        `Cannot write a model as the format must be safetensors, npy, npz, onnx or tfjs: current value is ${
          JSON.stringify(input.format)
        }`,
      );
  }
  const { files } = located;
  const outcomes = new Map<string, WriteOutcome>();
  const chosen: { r: Replacement; slot: Slot }[] = [];
  for (const r of replacements) {
    const slot = byValue
      ? byValue(r.name, r.original)
      : located.slots.get(r.name) ?? "the file has no tensor of that name";
    if (typeof slot === "string") {
      outcomes.set(r.name, { written: false, reason: slot });
      continue;
    }
    if (
      slot.count !== r.original.data.length ||
      slot.offset + slot.count * SIZE[slot.type] > files[slot.file].bytes.length
    ) {
      outcomes.set(r.name, {
        written: false,
        reason: `its tensor holds ${slot.count} values, the kernel ${r.original.data.length}`,
      });
      continue;
    }
    const stored = readSlot(files, slot);
    const k = r.original.data;
    if (!stored.every((v, j) => Object.is(v, k[j]))) {
      outcomes.set(r.name, {
        written: false,
        reason: "the numbers stored there are not the kernel read (not rewritten)",
      });
      continue;
    }
    chosen.push({ r, slot });
  }
  // A weight two layers share is written only when both want the same numbers.
  for (const a of chosen) {
    const other = chosen.find((b) =>
      b !== a && b.slot.file === a.slot.file && b.slot.offset === a.slot.offset &&
      !b.r.kernel.data.every((v, j) => Object.is(v, a.r.kernel.data[j]))
    );
    if (other) {
      outcomes.set(a.r.name, {
        written: false,
        reason: `it shares its weight with layer "${other.r.name}", clipped differently`,
      });
    }
  }
  for (const { r, slot } of chosen) {
    if (outcomes.has(r.name)) continue;
    writeSlot(files, slot, r.kernel.data);
    const back = readSlot(files, slot);
    let err = 0;
    for (let j = 0; j < back.length; j++) err = Math.max(err, Math.abs(back[j] - r.kernel.data[j]));
    outcomes.set(r.name, { written: true, exact: err === 0, encoding: slot.label, maxRoundingError: err });
  }
  return { files: located.output(files), outcomes };
}
