/**
 * Readers for the weight files users hold: PyTorch safetensors and
 * `torch.save` state dicts, numpy `.npy`/`.npz`, ONNX and TensorFlow.js. Each returns the model's conv layers
 * with their kernels and attributes, ready for {@linkcode singularValues} and
 * {@linkcode operatorNormBounds}.
 * @module
 */
import type { Model } from "./model.ts";
import type { Layout, Padding } from "./types.ts";
import { rangeError, source, typeError } from "./_readers/_common.ts";
import { checkInflateBudget, inflateEntry, zipEntries } from "./_readers/zip.ts";
import { readTfjs } from "./_readers/tfjs.ts";
import { finish, formatOf, isTfjsFiles, maxBytesOf, readBytesSync } from "./_readers/_read.ts";
import { shardGroups } from "./_readers/tfjs_weights.ts";
import { readRegularFile, shardPath } from "./_readers/files.ts";
import { checkKeys, type KnownKeys } from "./_checks.ts";

/** The file formats {@linkcode readModel} reads. */
export type ModelFormat = "safetensors" | "npy" | "npz" | "onnx" | "tfjs" | "torch";

/**
 * A TensorFlow.js model held in memory: the parsed `model.json` (a
 * `layers-model`, a `graph-model`, or a bare weights manifest such as
 * face-api's `*-weights_manifest.json`) and the bytes of its weight shards,
 * in the order the manifest lists their paths (group by group).
 */
export interface TfjsModelFiles {
  /** The parsed `model.json`. */
  modelJson: unknown;
  /** The shards, in manifest order. */
  weights: Uint8Array[];
}

/**
 * Attributes of one layer that the file does not hold (safetensors, npy,
 * npz and bare TF.js manifests store weights only) or that the caller wants
 * to replace. Every field is optional; given ones win over the file's.
 */
export interface LayerAttributes {
  /** Stride, one number or one per spatial axis. */
  stride?: number | readonly number[] | undefined;
  /** Dilation, one number or one per spatial axis. */
  dilation?: number | readonly number[] | undefined;
  /** Number of groups. */
  groups?: number | undefined;
  /** Padding, with PyTorch's meaning (see {@linkcode Padding}). */
  padding?: Padding | undefined;
  /** Whether the layer is a transposed convolution (e.g. PyTorch `ConvTranspose2d`). */
  transposed?: boolean | undefined;
  /** Spatial shape of the layer's input. */
  inputShape?: readonly number[] | undefined;
  /** How the kernel is laid out (safetensors, npy and npz only; default PyTorch's for the rank). */
  layout?: Layout | undefined;
}

/** Options of {@linkcode readModel}, {@linkcode readModelSync} and {@linkcode readModelFile}. */
export interface ReadModelOptions {
  /**
   * The file's format; default: sniffed from the bytes (npy magic, zip (a `<name>/data.pkl` member makes it
   * torch), safetensors header, ONNX protobuf, pickle).
   */
  format?: ModelFormat | undefined;
  /** The file's name, for error messages and as the layer name of a single `.npy` array. */
  name?: string | undefined;
  /** Layout of npy/npz kernels (and the default of safetensors ones): default PyTorch's for the rank. */
  layout?: Layout | undefined;
  /**
   * Spatial shape of the model's input (`[h, w]` for 2-D), for ONNX and
   * TF.js graphs whose input size is symbolic (`-1`, `"height"`); it is then
   * propagated through the graph like a fixed one.
   */
  inputShape?: readonly number[] | undefined;
  /** Attributes per layer name (as the returned layers name them: `ConvLayer.name`), applied last. */
  layers?: Record<string, LayerAttributes> | undefined;
  /**
   * Most bytes a read may bring into memory beyond the input itself: the
   * inflated members of an npz archive (their stated sizes together, checked
   * before anything is inflated), the values a PyTorch state dict's views read
   * beyond those their storages hold (expanded or overlapping views, 8 bytes a
   * value, checked before any is decoded) and, for {@linkcode readModelFile},
   * the files read from disk (the model file, or a model.json and its shards
   * together). A positive integer; default {@linkcode DEFAULT_MAX_BYTES} (2 GiB).
   */
  maxBytes?: number | undefined;
}

export { DEFAULT_MAX_BYTES } from "./_readers/_read.ts";

const READ_OPTIONS: KnownKeys<ReadModelOptions> = {
  format: true,
  name: true,
  layout: true,
  inputShape: true,
  layers: true,
  maxBytes: true,
};

const LAYER_ATTRIBUTES: KnownKeys<LayerAttributes> = {
  stride: true,
  dilation: true,
  groups: true,
  padding: true,
  transposed: true,
  inputShape: true,
  layout: true,
};

/** Refuses an option, or an attribute in `options.layers`, that the readers do not know (before any reading). */
function checkReadOptions(fn: string, options: unknown): void {
  const subject = "read the model";
  checkKeys(subject, `each option must be one that ${fn} knows`, options, READ_OPTIONS);
  const layers = (options as ReadModelOptions | undefined)?.layers;
  if (typeof layers !== "object" || layers === null) return;
  for (const [name, attributes] of Object.entries(layers)) {
    checkKeys(
      subject,
      `each attribute of options.layers[${JSON.stringify(name)}] must be one a layer has`,
      attributes,
      LAYER_ATTRIBUTES,
    );
  }
}

/**
 * Reads the conv layers of a model held in memory, synchronously: the bytes
 * of a safetensors, npy, npz, ONNX or PyTorch (`torch.save`) file, or a TensorFlow.js model as
 * `{ modelJson, weights }` (see {@linkcode readModel} for what TF.js yields).
 *
 * What each format yields:
 * - **safetensors** (PyTorch state dicts): every `*.weight` tensor of rank
 *   3–5 (F32, F64, F16 or BF16) as a PyTorch kernel (`oiw`/`oihw`/`oidhw`);
 *   the file has no attributes, so stride 1, dilation 1, one group and
 *   circular padding unless `options.layers` says otherwise. A BatchNorm
 *   module (`weight`, `bias`, `running_mean`, `running_var`; epsilon 1e-5)
 *   becomes the `scale` of the conv it follows: `conv1` → `bn1`,
 *   `features.0` → `features.1`, or the module next in key order.
 * - **npy**: one array of rank 3–5 (`<f4`, `<f8`, `<f2`, either byte order,
 *   C or Fortran order) read through `options.layout` (default PyTorch's).
 * - **npz**: every such array of the archive, named by its key; arrays saved
 *   from a state dict pair with BatchNorms as for safetensors. Deflated
 *   members (`np.savez_compressed`) need the async {@linkcode readModel}.
 * - **onnx**: `Conv`/`ConvTranspose` nodes with strides, pads, dilations,
 *   group, auto_pad and output_padding, weights from initializers or
 *   `Constant` nodes; a `BatchNormalization` consuming a conv's output is its
 *   `scale`; input shapes propagated from the graph input (see
 *   `options.inputShape`).
 * - **torch** (`torch.save(model.state_dict())`, `.pt`/`.pth`, the zip
 *   format of PyTorch 1.6 and later): as safetensors, from Float, Double,
 *   Half and BFloat16 storages, views (offsets, strides, shared storages)
 *   read as torch.load reads them; nested dicts (`{"model": state_dict}`)
 *   give dotted names. The pickle is read by a restricted unpickler that runs
 *   nothing and refuses every global but the tensor-rebuilding ones,
 *   `collections.OrderedDict` and the storage types: a whole pickled model
 *   (`torch.save(model)`), TorchScript and the pre-1.6 format are refused.
 *
 * Kernels keep the file's precision: f32 (and f16/bf16, converted exactly)
 * in a Float32Array, f64 in a Float64Array. Sizes a header claims are
 * checked against the bytes before anything is allocated for them.
 *
 * @param input The file's bytes, or `{ modelJson, weights }` for TF.js.
 * @param options `format` (default: sniffed), `name` (for messages), `layout`, `inputShape`, `layers`.
 * @returns The model: its format and conv layers in file order.
 * @throws {TypeError} For an option, or an attribute in `options.layers`, that the readers do not know (the
 *   message names it and the one most likely meant), bytes of no known format, corrupt or truncated structure,
 *   unsupported dtypes,
 *   tensors whose byte length does not match their shape, deflated npz members (use
 *   {@linkcode readModel}), a TF.js manifest whose shard count differs from `weights` or with unknown
 *   quantisation, a PyTorch pickle naming a global or using an opcode a state dict does not need
 *   (a whole pickled model, `os.system`), a model with no conv layers, or `options.layers` naming
 *   unknown layers.
 * @throws {RangeError} For headers or offsets that point past the end of the file, a TF.js shard
 *   shorter than the manifest says, tensors of more than 2^31 − 1 values, PyTorch views past the end
 *   of their storage, overlapping npz entries, strides, dilations, kernel sizes or groups that are
 *   not positive integers (pads negative), TF.js models or PyTorch dicts nested more than 64 deep,
 *   or an `options.maxBytes` that is not a positive integer.
 *
 * @example A safetensors file with one Conv2d weight
 * ```ts
 * import { readModelSync } from "@convsv/convsv/models";
 * import { singularValuesSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const values = new Float32Array(2 * 1 * 1 * 2).fill(0.5);
 * const header = new TextEncoder().encode(
 *   JSON.stringify({ "conv.weight": { dtype: "F32", shape: [2, 1, 1, 2], data_offsets: [0, 16] } }),
 * );
 * const bytes = new Uint8Array(8 + header.length + 16);
 * new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
 * bytes.set(header, 8);
 * bytes.set(new Uint8Array(values.buffer), 8 + header.length);
 *
 * const model = readModelSync(bytes, { layers: { conv: { stride: 1 } } });
 * assert.equal(model.format, "safetensors");
 * const [conv] = model.layers;
 * assert.equal(conv.name, "conv");
 * assert.deepEqual(conv.kernel.shape, [2, 1, 1, 2]);
 * assert.equal(conv.layout, "oihw");
 * const sv = singularValuesSync(conv.kernel, { inputShape: [4, 4], layout: conv.layout });
 * assert.ok(Math.abs(sv[0] - Math.SQRT2) < 1e-12); // √2·|0.5 + 0.5| at frequency 0
 * ```
 */
export function readModelSync(input: Uint8Array | TfjsModelFiles, options: ReadModelOptions = {}): Model {
  checkReadOptions("readModelSync", options);
  const format = formatOf(input, options);
  maxBytesOf(options);
  if (format === "tfjs") {
    const src = source(options.name, "tfjs");
    if (!isTfjsFiles(input)) throw typeError(src, "a TF.js model that is not { modelJson, weights }", typeof input);
    return finish("tfjs", src, readTfjs({ modelJson: input.modelJson, weights: input.weights }, src, options), options);
  }
  if (isTfjsFiles(input)) {
    throw typeError(source(options.name, format), `a ${format} file from { modelJson, weights }`, Object.keys(input));
  }
  return readBytesSync(format, input, options);
}

/**
 * Reads the conv layers of a model held in memory: the bytes of a
 * safetensors, npy, npz, ONNX or PyTorch file, or a TensorFlow.js model as
 * `{ modelJson, weights }`. The same as {@linkcode readModelSync} plus
 * deflated npz members (`np.savez_compressed`), inflated by the platform's
 * `DecompressionStream("deflate-raw")`, never past the size the archive
 * states. What TF.js models yield:
 *
 * - **tfjs** `layers-model` (Keras topology): Conv1D/2D/3D,
 *   Conv2DTranspose/Conv3DTranspose, DepthwiseConv2D (groups = channels, the
 *   kernel `[k_h, k_w, C, M]` read as `[k_h, k_w, 1, C·M]` in `hwio`),
 *   SeparableConv1D/2D (two layers, `NAME/depthwise` and `NAME/pointwise`);
 *   a BatchNormalization fed only by a conv is its `scale`; input shapes from
 *   the InputLayer's `batch_input_shape`, propagated through conv, pooling,
 *   padding and elementwise layers.
 * - **tfjs** `graph-model`: Conv2D, _FusedConv2D, DepthwiseConv2dNative,
 *   FusedDepthwiseConv2dNative, Conv3D and Conv2DBackpropInput nodes with
 *   strides, padding, explicit paddings and dilations, shapes from the
 *   Placeholder's; a graph it cannot follow still yields its rank-4 weights
 *   (layout `hwio`, no input shape).
 * - **tfjs** bare weights manifest (face-api): every float weight of rank
 *   3–5 as a `hwio` kernel; `P/conv/filters` takes `P/scale/weights` and
 *   `P/scale/biases` as a `"scale"`.
 * - TF.js weights: float32, int32, float16, and the converter's quantised
 *   uint8/uint16 (`quantization: { dtype, scale, min }`, value = q·scale +
 *   min rounded to f32, as TF.js loads it; `offset` is taken for `min` when
 *   `min` is absent) and float16.
 *
 * @param input The file's bytes, or `{ modelJson, weights }` for TF.js.
 * @param options `format` (default: sniffed), `name` (for messages), `layout`, `inputShape`, `layers`.
 * @returns The model: its format and conv layers in file order.
 * @throws {TypeError} As {@linkcode readModelSync} (as a rejection), and for corrupt deflate data.
 * @throws {RangeError} As {@linkcode readModelSync}, and for an npz archive whose deflated members state
 *   more than `options.maxBytes` (default 2 GiB) in all, a member stating more than 1000 times its
 *   compressed size (above 1 MiB), entries that overlap, or a member that inflates past its stated size.
 *
 * @example A TF.js layers-model held in memory
 * ```ts
 * import { readModel } from "@convsv/convsv/models";
 * import assert from "node:assert/strict";
 * const modelJson = {
 *   format: "layers-model",
 *   modelTopology: {
 *     class_name: "Sequential",
 *     config: {
 *       name: "tiny",
 *       layers: [{
 *         class_name: "Conv2D",
 *         config: { name: "c", filters: 1, kernel_size: [2, 2], strides: [2, 2], padding: "valid", batch_input_shape: [null, 8, 6, 1] },
 *       }],
 *     },
 *   },
 *   weightsManifest: [{ paths: ["w.bin"], weights: [{ name: "c/kernel", shape: [2, 2, 1, 1], dtype: "float32" }] }],
 * };
 * const weights = [new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer)];
 * const model = await readModel({ modelJson, weights });
 * const [c] = model.layers;
 * assert.equal(c.layout, "hwio");
 * assert.deepEqual(c.stride, [2, 2]);
 * assert.equal(c.padding, "valid");
 * assert.deepEqual(c.inputShape, [8, 6]);
 * assert.deepEqual(Array.from(c.kernel.data), [1, 2, 3, 4]);
 * ```
 */
export async function readModel(input: Uint8Array | TfjsModelFiles, options: ReadModelOptions = {}): Promise<Model> {
  checkReadOptions("readModel", options);
  const format = formatOf(input, options);
  const maxBytes = maxBytesOf(options);
  if (format === "npz" && input instanceof Uint8Array) {
    const src = source(options.name, format);
    const entries = zipEntries(input, src);
    checkInflateBudget(src, entries.filter((e) => e.name.endsWith(".npy")), maxBytes);
    const members = [];
    for (const e of entries) {
      members.push({ name: e.name, bytes: e.name.endsWith(".npy") ? await inflateEntry(src, e) : new Uint8Array(0) });
    }
    return readBytesSync(format, input, options, members);
  }
  return readModelSync(input, options);
}

/**
 * Reads a model file from disk (Deno, Node, Bun; `node:fs/promises` is
 * imported only when this is called, so the module still loads in browsers
 * and edge runtimes). The format comes from `options.format`, else the
 * extension (`.safetensors`, `.npy`, `.npz`, `.onnx`, `.pt`/`.pth`, `.json` for TF.js;
 * a zip archive named `.npz`, `.pt` or `.pth` is npz or torch by its members), else the bytes. For TF.js, `path` is the `model.json` (or face-api's
 * `*-weights_manifest.json`); its shards are read from the paths the
 * manifest lists, relative to its folder: a path that leaves the folder
 * (after normalisation or through a symbolic link), is absolute or a URL, or
 * names something other than a regular file is refused, and so is a shard
 * larger than its group's weights declare (checked before it is read).
 * Files read are bounded by `options.maxBytes`. Errors name the file.
 *
 * @param path Path of the model file.
 * @param options `format`, `layout`, `inputShape`, `layers` (as {@linkcode readModel}); `name` defaults to `path`.
 * @returns The model: its format and conv layers in file order.
 * @throws {TypeError} As {@linkcode readModel}, and for a model.json that is not JSON, a shard path that
 *   is absolute, a URL or leaves the model's folder, or a model file or shard that is not a regular file.
 * @throws {RangeError} As {@linkcode readModel}, and for a shard larger than its manifest group declares
 *   or files larger than `options.maxBytes` (default 2 GiB).
 * @throws {Error} The file system's error when a file cannot be read (e.g. `ENOENT`).
 *
 * @example Reading an .npy kernel written to a temporary folder
 * ```ts
 * import { readModelFile } from "@convsv/convsv/models";
 * import assert from "node:assert/strict";
 * import { mkdtemp, rm, writeFile } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * // np.save of a float32 array of shape (4, 2, 3, 3)
 * const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2, 3, 3), }".padEnd(117) + "\n";
 * const data = new Float32Array(72).map((_, i) => i / 72);
 * const bytes = new Uint8Array(10 + header.length + data.byteLength);
 * bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
 * bytes.set(new TextEncoder().encode(header), 10);
 * bytes.set(new Uint8Array(data.buffer), 10 + header.length);
 * const dir = await mkdtemp(join(tmpdir(), "convsv-"));
 * try {
 *   await writeFile(join(dir, "conv1.npy"), bytes);
 *   const model = await readModelFile(join(dir, "conv1.npy"));
 *   assert.equal(model.format, "npy");
 *   assert.equal(model.layers[0].name, "conv1");
 *   assert.deepEqual(model.layers[0].kernel.shape, [4, 2, 3, 3]);
 * } finally {
 *   await rm(dir, { recursive: true });
 * }
 * ```
 */
export async function readModelFile(path: string, options: ReadModelOptions = {}): Promise<Model> {
  checkReadOptions("readModelFile", options);
  const fs = await import("node:fs/promises");
  const paths = await import("node:path");
  const opts: ReadModelOptions = { name: path, ...options };
  const maxBytes = maxBytesOf(options);
  const ext = /\.([a-z]+)$/i.exec(path)?.[1].toLowerCase();
  const byExt: Record<string, ModelFormat> = {
    safetensors: "safetensors",
    npy: "npy",
    npz: "npz",
    onnx: "onnx",
    json: "tfjs",
    pt: "torch",
    pth: "torch",
  };
  const format = options.format ?? (ext === undefined ? undefined : byExt[ext]);
  const src = source(opts.name, format ?? "model");
  const tooBig = (size: number) => rangeError(src, `a model file larger than maxBytes (${maxBytes})`, size);
  const notRegular = () =>
    typeError(src, "a model file: it is not a regular file (a FIFO, a device or a folder)", path);
  const bytes = await readRegularFile(fs, path, maxBytes, notRegular, tooBig);
  if (format !== "tfjs") {
    // a zip named .npz, .pt or .pth is whichever of the two its members say (torch.save's hold <name>/data.pkl)
    const zipByName = options.format === undefined && (format === "npz" || format === "torch") &&
      bytes[0] === 0x50 && bytes[1] === 0x4b;
    return readModel(bytes, format === undefined || zipByName ? opts : { ...opts, format });
  }

  let modelJson: unknown;
  const text = new TextDecoder().decode(bytes);
  try {
    modelJson = JSON.parse(text);
  } catch (e) {
    throw typeError(src, `a TF.js model.json that is not JSON (${(e as Error).message})`, text.slice(0, 40));
  }
  // every shard inside the manifest's folder (after normalisation and through links), a regular file,
  // no larger than its group's weights declare, and all of them within maxBytes
  const dir = paths.dirname(paths.resolve(path));
  const realDir = await fs.realpath(dir);
  let budget = maxBytes - bytes.length;
  const weights: Uint8Array[] = [];
  for (const group of shardGroups(src, modelJson)) {
    let left = group.bytes ?? Infinity;
    for (const p of group.paths) {
      const file = await shardPath(fs, paths, src, dir, realDir, p);
      const limit = Math.min(left, budget);
      const notRegular = () =>
        typeError(src, `a TF.js manifest whose shard ${JSON.stringify(p)} is not a regular file`, file);
      const shard = await readRegularFile(fs, file, limit, notRegular, (size) =>
        limit === left
          ? rangeError(
            src,
            `a TF.js manifest whose shard ${
              JSON.stringify(p)
            } is larger than its group's weights declare (${group.bytes} bytes, ${left} of them left for this shard)`,
            size,
          )
          : rangeError(src, `a TF.js model whose files together are larger than maxBytes (${maxBytes})`, size));
      left -= shard.length;
      budget -= shard.length;
      weights.push(shard);
    }
  }
  return readModel({ modelJson, weights }, { ...opts, format: "tfjs" });
}
