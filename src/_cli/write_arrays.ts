/**
 * Slots of numpy and safetensors files: a `.npy` array (its header gives
 * dtype, order and offset), each `.npy` member of an `.npz` (the archive is
 * written back with its members stored, uncompressed, under the same names),
 * and each `*.weight` tensor of a safetensors file, named by its layer. Only
 * float64, float32, float16 (and for safetensors bfloat16) are written.
 * @module
 */
import type { Source } from "../_readers/_common.ts";
import { npyHeader } from "../_readers/npy.ts";
import { inflateEntry, zipEntries } from "../_readers/zip.ts";
import { type Encoding, type Located, type ModelFile, SIZE, type Slot } from "./slots.ts";
import { zipStored } from "./zip_write.ts";

const NPY_TYPES: Record<string, Encoding> = { f8: "f64", f4: "f32", f2: "f16" };
const ST_TYPES: Record<string, Encoding> = { F64: "f64", F32: "f32", F16: "f16", BF16: "bf16" };

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

/** A single `.npy` array, as the layer `name`. */
export function locateNpy(bytes: Uint8Array, src: Source, name: string): Located {
  return {
    files: [{ path: "", bytes }],
    slots: new Map([[name, npySlot(bytes, src, 0, 0, "the array")]]),
    output: (f) => f,
  };
}

/** Each `*.weight` tensor of a safetensors file, as its layer. */
export function locateSafetensors(bytes: Uint8Array): Located {
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

/** Each `.npy` member of an `.npz` (a `.weight` suffix dropped from the layer name). */
export async function locateNpz(bytes: Uint8Array, src: Source): Promise<Located> {
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
