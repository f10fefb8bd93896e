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
import { source } from "../_readers/_common.ts";
import { type Located, type ModelFile, readSlot, SIZE, type Slot, writeSlot } from "./slots.ts";
import { locateNpy, locateNpz, locateSafetensors } from "./write_arrays.ts";
import { locateOnnx } from "./write_onnx.ts";
import { locateTfjs } from "./write_tfjs.ts";

export type { ModelFile } from "./slots.ts";

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
    case "npy":
      located = locateNpy(copy(input.bytes), src, input.npyName ?? "");
      break;
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
