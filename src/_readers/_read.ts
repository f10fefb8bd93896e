/**
 * The work behind the public readers (src/read_model.ts): which format a
 * file is, the byte budget, reading bytes in a known format, and the checks
 * every reader's layers pass before they are returned.
 * @module
 */
import type { ConvLayer, Model } from "../model.ts";
import type { ModelFormat, ReadModelOptions, TfjsModelFiles } from "../read_model.ts";
import { checkAxes, type Source, source, typeError } from "./_common.ts";
import { looksLikeSafetensors, readSafetensors } from "./safetensors.ts";
import { NPY_MAGIC, npzLayers, readNpy, startsWith } from "./npy.ts";
import { storedEntry, zipEntries } from "./zip.ts";
import { looksLikeOnnx, readOnnx } from "./onnx.ts";
import { looksLikeLegacyTorch, looksLikeTorchZip, readTorch } from "./torch.ts";

/** The default of {@linkcode ReadModelOptions.maxBytes}: 2 GiB (2^31 bytes). */
export const DEFAULT_MAX_BYTES: number = 2 ** 31;

type Bytes = Uint8Array;

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const ZIP_EMPTY = [0x50, 0x4b, 0x05, 0x06];
const FORMATS: readonly ModelFormat[] = ["safetensors", "npy", "npz", "onnx", "tfjs", "torch"];

export function isTfjsFiles(input: unknown): input is TfjsModelFiles {
  return input !== null && typeof input === "object" && !(input instanceof Uint8Array) && "modelJson" in input;
}

/** The format of `input`: the option, else sniffed. */
export function formatOf(input: Bytes | TfjsModelFiles, options: ReadModelOptions): ModelFormat {
  const f = options.format;
  if (f !== undefined) {
    if (!FORMATS.includes(f)) {
      throw new TypeError(`Cannot read model as the format is unknown: current value is ${JSON.stringify(f)}`);
    }
    return f;
  }
  if (isTfjsFiles(input)) return "tfjs";
  if (!(input instanceof Uint8Array)) {
    throw new TypeError(
      `Cannot read model as the input is neither a Uint8Array nor { modelJson, weights }: current value is ${typeof input}`,
    );
  }
  if (startsWith(input, NPY_MAGIC)) return "npy";
  if (startsWith(input, ZIP_MAGIC)) return looksLikeTorchZip(input) ? "torch" : "npz";
  if (startsWith(input, ZIP_EMPTY)) return "npz";
  if (looksLikeSafetensors(input)) return "safetensors";
  if (looksLikeOnnx(input)) return "onnx";
  if (looksLikeLegacyTorch(input)) return "torch";
  const head = Array.from(input.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
  const label = options.name === undefined ? "the bytes" : JSON.stringify(options.name);
  if (input[0] === 0x7b || input[0] === 0x5b) {
    throw new TypeError(
      `Cannot read ${label} as a model: it looks like JSON (a TF.js model.json needs { modelJson, weights } or readModelFile): current value is ${head}`,
    );
  }
  throw new TypeError(
    `Cannot read ${label} as a model: no npy, npz, safetensors, ONNX or PyTorch signature: current value is ${head}`,
  );
}

/** `options.maxBytes`, checked: a positive integer (Infinity allowed), default {@linkcode DEFAULT_MAX_BYTES}. */
export function maxBytesOf(options: ReadModelOptions): number {
  const m = options.maxBytes;
  if (m === undefined) return DEFAULT_MAX_BYTES;
  if (typeof m !== "number") {
    throw new TypeError(
      `Cannot read model as options.maxBytes must be a number: current value is ${JSON.stringify(m)} (${typeof m})`,
    );
  }
  if (!(m === Infinity || (Number.isSafeInteger(m) && m > 0))) {
    throw new RangeError(`Cannot read model as options.maxBytes must be a positive integer: current value is ${m}`);
  }
  return m;
}

function perAxis(v: number | readonly number[], r: number): number[] {
  return typeof v === "number" ? Array.from({ length: r }, () => v) : [...v];
}

/** Applies `options.layers` and checks the model has conv layers. */
export function finish(format: ModelFormat, src: Source, layers: ConvLayer[], options: ReadModelOptions): Model {
  // what the file says, before the caller's overrides: nothing infinite, zero or fractional leaves a reader
  for (const layer of layers) {
    const what = `layer "${layer.name}" has`;
    checkAxes(src, `${what} a stride`, layer.stride, 1);
    checkAxes(src, `${what} a dilation`, layer.dilation, 1);
    checkAxes(src, `${what} groups`, [layer.groups], 1);
    if (layer.inputShape !== undefined) checkAxes(src, `${what} an inputShape`, layer.inputShape, 1);
  }
  const over = options.layers ?? {};
  const names = new Set(layers.map((l) => l.name));
  const unknown = Object.keys(over).filter((k) => !names.has(k));
  if (unknown.length > 0) {
    throw typeError(
      src,
      `options.layers names layers the model does not have (it has ${[...names].slice(0, 8).join(", ")})`,
      unknown,
    );
  }
  for (const layer of layers) {
    const o = over[layer.name];
    if (o === undefined) continue;
    const r = layer.kernel.shape.length - 2;
    if (o.stride !== undefined) layer.stride = perAxis(o.stride, r);
    if (o.dilation !== undefined) layer.dilation = perAxis(o.dilation, r);
    if (o.groups !== undefined) layer.groups = o.groups;
    if (o.padding !== undefined) {
      layer.padding = o.padding;
      delete layer.pads;
    }
    if (o.transposed !== undefined) layer.transposed = o.transposed;
    if (o.inputShape !== undefined) layer.inputShape = [...o.inputShape];
  }
  if (layers.length === 0) {
    throw typeError(src, `a model: this ${format} file has no convolution layers (kernels of rank 3–5)`, 0);
  }
  return { format, layers };
}

export function readBytesSync(
  format: ModelFormat,
  bytes: Bytes,
  options: ReadModelOptions,
  members?: { name: string; bytes: Bytes }[],
): Model {
  const src = source(options.name, format);
  if (!(bytes instanceof Uint8Array)) {
    throw typeError(src, `a ${format} file from something other than a Uint8Array`, typeof bytes);
  }
  switch (format) {
    case "safetensors":
      return finish(format, src, readSafetensors(bytes, src, options), options);
    case "npy": {
      const base = options.name?.replace(/^.*[\\/]/, "").replace(/\.npy$/, "") || "array";
      return finish(format, src, readNpy(bytes, src, base, options), options);
    }
    case "npz": {
      const list = members ?? zipEntries(bytes, src).map((e) => ({ name: e.name, bytes: storedEntry(src, e) }));
      return finish(format, src, npzLayers(src, list, options), options);
    }
    case "onnx":
      return finish(format, src, readOnnx(bytes, src, options), options);
    case "torch":
      return finish(format, src, readTorch(bytes, src, options, maxBytesOf(options)), options);
    default:
      throw typeError(src, "a TF.js model from bytes (pass { modelJson, weights } or use readModelFile)", format);
  }
}
