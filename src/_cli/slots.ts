/**
 * Slots: where a kernel's numbers lie in a model's files (which file, from
 * which byte, how many values, in which encoding), and reading and writing
 * them. Reading decodes as the readers do (so a slot can be checked against
 * the kernel read); writing encodes each value in the slot's own encoding,
 * rounding to nearest even where it is narrower (float16, bfloat16) and to
 * the nearest level, clamped, for uint8/uint16 quantisation. Column-major
 * (numpy `fortran_order`) slots are read and written in C order.
 * @module
 */
import { bfloat16ToNumber, halfToNumber } from "../_readers/_common.ts";
import { fortranToC } from "../_readers/npy.ts";

/** A file of the model: its path relative to the model's folder (TF.js shards) or "" for the model file itself. */
export interface ModelFile {
  path: string;
  bytes: Uint8Array;
}

/** How a slot stores each number. */
export type Encoding = "f64" | "f32" | "f16" | "bf16" | "u8" | "u16";

/** Where a kernel's numbers lie: in `files[file]`, `count` values of `type` from `offset`. */
export interface Slot {
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

/** Bytes per value of each encoding. */
export const SIZE: Record<Encoding, number> = { f64: 8, f32: 4, f16: 2, bf16: 2, u8: 1, u16: 2 };

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

/** The byte offset of the slot's C-order element `c`. */
function position(slot: Slot): (c: number) => number {
  const size = SIZE[slot.type];
  const shape = slot.fortranShape;
  if (!shape || shape.length < 2) return (c) => slot.offset + size * c;
  // The reader's reordering of the storage positions 0, 1, … gives each C-order element its position.
  const stored = fortranToC(Float64Array.from({ length: slot.count }, (_, f) => f), shape);
  return (c) => slot.offset + size * stored[c];
}

/** The slot's values in C order, as the readers decode them. */
export function readSlot(files: ModelFile[], slot: Slot): Float64Array {
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

/** Writes `data` (C order) into the slot, in its encoding. */
export function writeSlot(files: ModelFile[], slot: Slot, data: ArrayLike<number>): void {
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

/** The model's files and, per layer name, its slot or why it has none. */
export interface Located {
  files: ModelFile[];
  slots: Map<string, Slot | string>;
  /** The files to write, from the patched ones. */
  output(files: ModelFile[]): ModelFile[];
}
