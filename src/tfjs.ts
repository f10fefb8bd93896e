/**
 * The operator-norm regulariser (Sedghi, Gupta & Long, ICLR 2019, Appendix A)
 * for TensorFlow.js training: {@linkcode clipModel} projects every conv layer
 * of a `tf.LayersModel` onto the ball `‖layer‖ ≤ maxNorm`, and
 * {@linkcode spectralClipCallback} does it every `every` steps of
 * `model.fit` / `model.fitDataset`. TF.js has no spectral constraint of its
 * own (a layer's `kernelConstraint` is not applied by `fit`).
 *
 * Needs `@tensorflow/tfjs-core` and `@tensorflow/tfjs-layers` (4.x; peer
 * dependencies, not installed by convsv) and any TF.js backend: weights are
 * read to the CPU, projected by convsv's wasm core (or WebGPU with
 * `backend`), and written back with `layer.setWeights`.
 *
 * @example Project a small model's conv layers
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import * as tfl from "@tensorflow/tfjs-layers";
 * import { clipModel } from "@convsv/convsv/tfjs";
 * import assert from "node:assert/strict";
 * await tf.setBackend("cpu");
 * const model = tfl.sequential({
 *   layers: [tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: "same" })],
 * });
 * const res = await clipModel(model, 1, { threads: 1 });
 * assert.equal(res.layers.length, 1);
 * assert.ok(res.layers[0].certified && res.layers[0].normAfter <= 1);
 * ```
 * @module
 */
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { Callback } from "@tensorflow/tfjs-layers";
import type { ClipMethod } from "./clip_operator_norm.ts";
import { clipOperatorNorm } from "./clip_operator_norm.ts";
import type { Precision } from "./types.ts";
import { checkKeys, show, showTyped } from "./_checks.ts";
import { clipLayer, type FactorResult, type PassOptions } from "./_tfjs/clip.ts";
import { planModel } from "./_tfjs/plan.ts";

export type { FactorResult };

/**
 * A TF.js `tf.LayersModel` (`tf.sequential()`, `tf.model()`,
 * `tf.loadLayersModel()`), as this module takes it: the model from the same
 * `@tensorflow/tfjs-layers` that this module imports.
 */
export interface LayersModelLike {
  /** The model's layers (nested models are walked too). */
  readonly layers: readonly object[];
}

/** Options of {@linkcode clipModel}: what to project, and how (passed on to `clipOperatorNorm`). */
export interface ClipModelOptions {
  /**
   * Project each conv layer composed with the `BatchNormalization` that
   * directly follows it (its only consumer, normalising the channel axis),
   * in inference form: `diag(γ/√(var + ε))·conv` is projected onto the ball
   * and the conv kernel that achieves it is written; the BatchNorm is not
   * changed. Default false: the conv layer alone.
   */
  foldBatchNorm?: boolean | undefined;
  /**
   * Spatial input sizes by layer name, for conv layers whose input size the
   * model leaves open (`null` sizes, or a layer called on several shapes):
   * `{ conv2d_1: [32, 32] }`. Without them such a layer is a RangeError.
   */
  inputShapes?: Readonly<Record<string, readonly number[]>> | undefined;
  /** Rounds of clip + cut back per layer (`clipOperatorNorm`'s; default 1, the paper's Appendix A). */
  iterations?: number | undefined;
  /** Stop a layer's rounds once its norm is at most `maxNorm·(1 + tolerance)` (default 0). */
  tolerance?: number | undefined;
  /** `"alternating"` (default) or `"dykstra"` (the nearest kernel inside the ball). */
  method?: ClipMethod | undefined;
  /**
   * Scale each projected kernel into the ball after the last round, so that
   * its norm is certified `≤ maxNorm` (default **true** here, unlike
   * `clipOperatorNorm`).
   */
  certify?: boolean | undefined;
  /** Worker threads for convsv (default: the cores the runtime reports). */
  threads?: number | undefined;
  /** Where convsv computes: `"wasm"` (default, f64), `"webgpu"` (f32) or `"auto"`. */
  backend?: "wasm" | "webgpu" | "auto" | undefined;
  /** convsv's precision (see `clipOperatorNorm`). */
  precision?: Precision | undefined;
  /** Cap on each convsv call's work in multiply–adds (default 1e12). */
  maxWork?: number | undefined;
  /** Aborts the projection between convsv's steps (layers already written stay written). */
  signal?: AbortSignal | undefined;
}

/** One conv layer's outcome in {@linkcode ClipModelResult}. */
export interface ClippedLayer {
  /** The layer's name in the model. */
  name: string;
  /** Its class: `Conv2D`, `Conv2DTranspose`, `DepthwiseConv2D`, `SeparableConv2D`, … */
  className: string;
  /** How convsv read it. */
  kind: "conv" | "transposed" | "depthwise" | "separable";
  /**
   * Its norm before (with the BatchNorm's scale when folded): a certified
   * upper bound, the exact norm of the circular layer on `grid` (for a
   * separable layer, of its composite depthwise∘pointwise).
   */
  normBefore: number;
  /** Its norm as written, measured on the written kernel (an upper bound, as `normBefore`). */
  normAfter: number;
  /** Whether `normAfter ≤ maxNorm` is guaranteed (certified by convsv, or already inside the ball). */
  certified: boolean;
  /**
   * True when the norms are the layer's exact norms (a 1×1 kernel with no
   * zeros added); false when they are upper bounds of the zero-padded layer's.
   */
  exact: boolean;
  /**
   * The input grid (per spatial axis) of the circular forward convolution
   * whose norm bounds the zero-padded layer's: the smallest multiple of the
   * stride holding the input plus the larger side's zeros (for a transposed
   * layer, its forward convolution's input, i.e. its output).
   */
  grid: number[];
  /** The layer's spatial input sizes, from the model or `options.inputShapes`. */
  inputShape: number[];
  /** TensorFlow's zeros before and after the forward convolution's input, per axis. */
  padding: { before: number[]; after: number[] };
  /** Whether new kernels were written with `setWeights`. */
  written: boolean;
  /** Why the layer was left untouched (its weights are then unchanged bit for bit). */
  skipped?: string | undefined;
  /**
   * Set when `setWeights` applied a `kernelConstraint` of the layer after the
   * projection that may raise the norm (any but `MaxNorm`): `certified` is
   * then false, as the norms were measured before it.
   */
  constraint?: string | undefined;
  /** Rounds of clipOperatorNorm (the larger of the two factors' for a separable layer). */
  iterations: number;
  /** The certify step's factor (the product of the factors' for a separable layer; 1 when it did not scale). */
  certifyScale: number;
  /** The BatchNormalization whose scale was part of the projected map. */
  batchNorm?: string | undefined;
  /** Why a BatchNormalization after the layer was not folded (with `foldBatchNorm`). */
  batchNormNote?: string | undefined;
  /** A separable layer's factors: each projected onto its own radius, the two radii multiplying to `maxNorm`. */
  factors?: { depthwise: FactorResult; pointwise: FactorResult } | undefined;
  /** Milliseconds this layer took (reading, projecting, writing). */
  timeMs: number;
}

/** The result of {@linkcode clipModel}. */
export interface ClipModelResult {
  /** The radius. */
  maxNorm: number;
  /** One entry per conv layer, in the model's order (nested models in place). */
  layers: ClippedLayer[];
  /** Milliseconds the whole projection took. */
  timeMs: number;
}

const PASS_KEYS = {
  iterations: true,
  tolerance: true,
  method: true,
  certify: true,
  threads: true,
  backend: true,
  precision: true,
  maxWork: true,
  signal: true,
} as const;

const CLIP_MODEL_OPTIONS: { readonly [K in keyof ClipModelOptions]-?: true } = {
  ...PASS_KEYS,
  foldBatchNorm: true,
  inputShapes: true,
};

/** Checks `clipModel`'s arguments (types of its own options; convsv checks the ones it passes on). */
function checkArgs(
  fn: string,
  model: unknown,
  maxNorm: unknown,
  options: unknown,
  known: Readonly<Record<string, true>>,
): void {
  const subject = "clip TF.js model";
  if (typeof model !== "object" || model === null || !Array.isArray((model as { layers?: unknown }).layers)) {
    throw new TypeError(`Cannot ${subject} as model must be a tf.LayersModel: current value is ${showTyped(model)}`);
  }
  if (typeof maxNorm !== "number") {
    throw new TypeError(`Cannot ${subject} as maxNorm must be a number: current value is ${showTyped(maxNorm)}`);
  }
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new RangeError(`Cannot ${subject} as maxNorm must be positive and finite: current value is ${maxNorm}`);
  }
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`Cannot ${subject} as options must be an object: current value is ${showTyped(options)}`);
  }
  checkKeys(subject, `each option must be one that ${fn} knows`, options, known);
  const o = options as ClipModelOptions;
  for (const key of ["foldBatchNorm", "certify"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "boolean") {
      throw new TypeError(
        `Cannot ${subject} as options.${key} must be a boolean: current value is ${showTyped(o[key])}`,
      );
    }
  }
  const shapes = o.inputShapes;
  if (shapes !== undefined) {
    if (typeof shapes !== "object" || shapes === null || Array.isArray(shapes)) {
      throw new TypeError(
        `Cannot ${subject} as options.inputShapes must be an object of spatial sizes by layer name: current value is ${
          showTyped(shapes)
        }`,
      );
    }
    for (const [name, s] of Object.entries(shapes)) {
      if (!Array.isArray(s) || s.some((v) => typeof v !== "number" || !Number.isInteger(v))) {
        throw new TypeError(
          `Cannot ${subject} as options.inputShapes[${show(name)}] must be an array of integers: current value is ${
            showTyped(s)
          }`,
        );
      }
      if (s.some((v) => v < 1)) {
        throw new RangeError(
          `Cannot ${subject} as options.inputShapes[${show(name)}] must be positive: current value is ${show(s)}`,
        );
      }
    }
  }
}

/** The options passed on to convsv, with `certify` on unless the caller says otherwise. */
function passOn(o: ClipModelOptions): PassOptions {
  const pass: PassOptions = { certify: o.certify ?? true };
  for (const key of Object.keys(PASS_KEYS) as (keyof PassOptions)[]) {
    if (key !== "certify" && o[key] !== undefined) (pass as Record<string, unknown>)[key] = o[key];
  }
  return pass;
}

/** Runs the projection of a checked model. */
async function run(model: LayersModel, maxNorm: number, options: ClipModelOptions): Promise<ClipModelResult> {
  const start = performance.now();
  const plans = planModel(model, options.foldBatchNorm ?? false, options.inputShapes ?? {});
  const pass = passOn(options);
  const layers: ClippedLayer[] = [];
  for (const plan of plans) layers.push(await clipLayer(plan, maxNorm, pass));
  return { maxNorm, layers, timeMs: performance.now() - start };
}

/**
 * Projects every conv layer of a TF.js `LayersModel` onto the ball of
 * layers with operator norm at most `maxNorm`, in place: `Conv1D`,
 * `Conv2D`, `Conv3D`, `Conv2DTranspose`, `Conv3DTranspose`,
 * `DepthwiseConv2D` and `SeparableConv2D` (nested models included), each
 * with its real stride, dilation, padding, `dataFormat` and input size.
 *
 * TensorFlow's zero padding (`"same"`, `"valid"`) has no exact frequency
 * formula: each layer is projected as the circular layer on the smallest
 * grid that holds the padded layer as a submatrix (`grid` in the result),
 * whose norm bounds the real layer's, so `normAfter ≤ maxNorm` (certified by
 * default) holds for the layer as TF.js applies it. A layer already inside
 * the ball is left untouched, bit for bit (`skipped` says so).
 *
 * A `SeparableConv2D` (depthwise then pointwise) is measured as its
 * composite; when that is outside the ball, each factor is projected onto
 * its own radius, the two radii multiplying to `maxNorm` and both shrunk
 * from the factor's norm by the same ratio, so the composite is certified
 * `≤ ‖depthwise‖·‖pointwise‖ ≤ maxNorm`.
 *
 * Each layer's weights are read in one `getWeights()` and written in one
 * `setWeights()` (which applies the layer's own `kernelConstraint`, if it
 * has one); no tensor is left allocated.
 *
 * @param model A built `tf.LayersModel` (`tf.sequential` or `tf.model`); its conv kernels are replaced.
 * @param maxNorm The radius of the ball, a positive finite number.
 * @param options `foldBatchNorm`, `inputShapes`, and `clipOperatorNorm`'s `iterations`, `tolerance`, `method`,
 *   `certify` (default true), `threads`, `backend`, `precision`, `maxWork`, `signal`.
 * @returns One entry per conv layer: name, class, norms before and after, whether certified and exact, the grid,
 *   whether written or why skipped, the folded BatchNorm, a separable layer's factors, and the time.
 * @throws {TypeError} For a model that is not a `LayersModel`, a non-number `maxNorm`, an unknown option or one of
 *   the wrong type, a conv layer without its kernel weight.
 * @throws {RangeError} For `maxNorm` not positive and finite, a layer whose input size the model does not fix (pass
 *   `inputShapes`), an `inputShapes` key that names no conv layer, a layer whose output would be empty, a folded
 *   BatchNorm factor that is zero or not finite, or what `clipOperatorNorm` refuses.
 *
 * @example Fold a BatchNormalization into the projected map
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import * as tfl from "@tensorflow/tfjs-layers";
 * import { clipModel } from "@convsv/convsv/tfjs";
 * import assert from "node:assert/strict";
 * await tf.setBackend("cpu");
 * const model = tfl.sequential({
 *   layers: [
 *     tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, strides: 2, padding: "same" }),
 *     tfl.layers.batchNormalization(),
 *   ],
 * });
 * const res = await clipModel(model, 0.5, { foldBatchNorm: true, threads: 1 });
 * const [conv] = res.layers;
 * assert.equal(conv.batchNorm, model.layers[1].name);
 * assert.deepEqual(conv.grid, [10, 10]); // 8 + one zero after, rounded up to the stride
 * assert.ok(conv.normAfter <= 0.5);
 * ```
 */
export async function clipModel(
  model: LayersModelLike,
  maxNorm: number,
  options: ClipModelOptions = {},
): Promise<ClipModelResult> {
  checkArgs("clipModel", model, maxNorm, options, CLIP_MODEL_OPTIONS);
  return await run(model as LayersModel, maxNorm, options);
}

/** One projection made by a {@linkcode SpectralClipCallback}. */
export interface SpectralClipEntry {
  /** The global step (batches since the callback was made, across epochs and `fit` calls) after which it ran. */
  step: number;
  /** The epoch of `fit` in which it ran (`undefined` at the end of training with `atEnd`). */
  epoch: number | undefined;
  /** Milliseconds the projection took, every layer included. */
  timeMs: number;
  /** Each conv layer's outcome. */
  layers: ClippedLayer[];
}

/** Options of {@linkcode spectralClipCallback}: {@linkcode ClipModelOptions} and when to project. */
export interface SpectralClipOptions extends ClipModelOptions {
  /** Project after every `every`-th batch, counted across epochs (default 100, as in the paper). */
  every?: number | undefined;
  /**
   * Project once more when training ends, so that the model `fit` leaves is
   * inside the ball (default true).
   */
  atEnd?: boolean | undefined;
  /** Called after each projection with its entry (awaited: training waits for it). */
  onClip?: ((entry: SpectralClipEntry) => void | Promise<void>) | undefined;
}

const CALLBACK_OPTIONS: { readonly [K in keyof SpectralClipOptions]-?: true } = {
  ...CLIP_MODEL_OPTIONS,
  every: true,
  atEnd: true,
  onClip: true,
};

/**
 * A `model.fit` / `model.fitDataset` callback (a `tf.Callback`) that projects
 * the model's conv layers every `every` steps; see
 * {@linkcode spectralClipCallback}.
 */
export interface SpectralClipCallback {
  /** Every projection made, in order. */
  readonly history: SpectralClipEntry[];
  /** Batches seen so far, across epochs and `fit` calls. */
  readonly step: number;
  /** Checks, before the first step, that the model can be projected and that convsv takes the options. */
  onTrainBegin(logs?: unknown): Promise<void>;
  /** Remembers the epoch. */
  onEpochBegin(epoch: number, logs?: unknown): Promise<void>;
  /** Counts the step and projects on every `every`-th. */
  onBatchEnd(batch: number, logs?: unknown): Promise<void>;
  /** Projects once more with `atEnd` (unless the last step just did). */
  onTrainEnd(logs?: unknown): Promise<void>;
}

/** The callback: a `tf.Callback`, so that `fit` gives it the model and takes it in an array of callbacks. */
class ClipCallback extends Callback implements SpectralClipCallback {
  readonly history: SpectralClipEntry[] = [];
  step = 0;
  readonly #maxNorm: number;
  readonly #options: SpectralClipOptions;
  readonly #every: number;
  #epoch: number | undefined = undefined;
  #checked = false;

  constructor(maxNorm: number, options: SpectralClipOptions) {
    super();
    this.#maxNorm = maxNorm;
    this.#options = options;
    this.#every = options.every ?? 100;
  }

  /** Checks, before the first step, that the model can be projected and that convsv takes the options. */
  override async onTrainBegin(): Promise<void> {
    if (this.#checked) return;
    planModel(this.model, this.#options.foldBatchNorm ?? false, this.#options.inputShapes ?? {});
    const pass = passOn(this.#options);
    await clipOperatorNorm({ data: Float32Array.of(2), shape: [1, 1, 1] }, 1, {
      ...pass,
      signal: undefined,
      inputShape: [1],
      layout: "wio",
    });
    this.#checked = true;
  }

  /** Remembers the epoch. */
  override async onEpochBegin(epoch: number): Promise<void> {
    this.#epoch = epoch;
    await Promise.resolve();
  }

  /** Counts the step and projects on every `every`-th. */
  override async onBatchEnd(): Promise<void> {
    this.step++;
    if (this.step % this.#every === 0) await this.#project(this.#epoch);
  }

  /** Projects once more with `atEnd` (unless the last step just did). */
  override async onTrainEnd(): Promise<void> {
    const last = this.history[this.history.length - 1];
    if ((this.#options.atEnd ?? true) && last?.step !== this.step) await this.#project(undefined);
  }

  async #project(epoch: number | undefined): Promise<void> {
    const res = await run(this.model, this.#maxNorm, this.#options);
    const entry: SpectralClipEntry = { step: this.step, epoch, timeMs: res.timeMs, layers: res.layers };
    this.history.push(entry);
    await this.#options.onClip?.(entry);
  }
}

/**
 * The paper's regulariser as a TF.js training callback: every `every` steps
 * (batches, counted across epochs; default 100 as in the paper) it runs
 * {@linkcode clipModel} on the model being trained, and once more when
 * training ends (`atEnd`, default true), so the trained model is inside the
 * ball. Each projection is recorded in `callback.history` (step, epoch, time,
 * every layer's norms) and passed to `onClip`.
 *
 * Pass it in `callbacks:` of `model.fit` or `model.fitDataset`, alone or in
 * an array of `tf.Callback`s (TF.js takes an array as callbacks when its first
 * entry is one). It works with any backend: weights are read to the CPU
 * (`await tensor.data()`), projected by convsv and written back with
 * `setWeights`, which keeps the optimizer's state attached to the same
 * variables. Training waits for each projection.
 *
 * @param maxNorm The radius of the ball, a positive finite number.
 * @param options `every` (default 100), `atEnd` (default true), `onClip`, and {@linkcode clipModel}'s options.
 * @returns A `tf.Callback` with `history` and `step`.
 * @throws {TypeError} For a non-number `maxNorm`, an unknown option or one of the wrong type.
 * @throws {RangeError} For `maxNorm` not positive and finite or `every` not a positive integer; when training
 *   starts, for a model whose layers `clipModel` refuses or options convsv refuses.
 *
 * @example Project every 5 steps while training
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import * as tfl from "@tensorflow/tfjs-layers";
 * import { spectralClipCallback } from "@convsv/convsv/tfjs";
 * import assert from "node:assert/strict";
 * await tf.setBackend("cpu");
 * const model = tfl.sequential({
 *   layers: [
 *     tfl.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, padding: "same" }),
 *     tfl.layers.flatten(),
 *     tfl.layers.dense({ units: 1 }),
 *   ],
 * });
 * model.compile({ optimizer: "sgd", loss: "meanSquaredError" });
 * const [x, y] = [tf.randomNormal([20, 6, 6, 1]), tf.randomNormal([20, 1])];
 * const clip = spectralClipCallback(1, { every: 5, threads: 1 });
 * await model.fit(x, y, { batchSize: 4, epochs: 2, callbacks: clip, verbose: 0 });
 * assert.deepEqual(clip.history.map((e) => e.step), [5, 10]);
 * assert.ok(clip.history.every((e) => e.layers.every((l) => l.normAfter <= 1)));
 * tf.dispose([x, y]);
 * ```
 */
export function spectralClipCallback(maxNorm: number, options: SpectralClipOptions = {}): SpectralClipCallback {
  checkArgs("spectralClipCallback", { layers: [] }, maxNorm, options, CALLBACK_OPTIONS);
  const subject = "make the spectral clip callback";
  const { every, atEnd, onClip } = options;
  if (every !== undefined) {
    if (typeof every !== "number" || !Number.isInteger(every)) {
      throw new TypeError(
        `Cannot ${subject} as options.every must be an integer: current value is ${showTyped(every)}`,
      );
    }
    if (every < 1) {
      throw new RangeError(`Cannot ${subject} as options.every must be positive: current value is ${every}`);
    }
  }
  if (atEnd !== undefined && typeof atEnd !== "boolean") {
    throw new TypeError(`Cannot ${subject} as options.atEnd must be a boolean: current value is ${showTyped(atEnd)}`);
  }
  if (onClip !== undefined && typeof onClip !== "function") {
    throw new TypeError(
      `Cannot ${subject} as options.onClip must be a function: current value is ${showTyped(onClip)}`,
    );
  }
  return new ClipCallback(maxNorm, { ...options });
}
