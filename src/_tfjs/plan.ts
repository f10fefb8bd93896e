/**
 * The conv layers of a TF.js `LayersModel` as convsv sees them: which
 * weights hold the kernels, the layer's geometry from its config and the
 * input shape its inbound nodes record, and the `BatchNormalization` that
 * directly follows it. Reads configs and shapes only, never weights.
 * @module
 */
import type { LayersModel } from "@tensorflow/tfjs-layers";
import type { Layout } from "../types.ts";
import { show } from "../_checks.ts";
import { type TfGeometry, tfGeometry, type TfPadding } from "./geometry.ts";

/** A layer of a TF.js model. */
export type TfLayer = LayersModel["layers"][number];

/** How convsv reads a layer's kernel. */
export type ConvKind = "conv" | "transposed" | "depthwise" | "separable";

/** The BatchNormalization folded into a conv layer: where its weights are. */
export interface BatchNormRef {
  layer: TfLayer;
  name: string;
  /** Index of `gamma` in its weights; undefined when the layer has `scale: false` (γ = 1). */
  gamma: number | undefined;
  /** Index of `moving_variance` in its weights. */
  variance: number;
  epsilon: number;
}

/** One conv layer, planned. */
export interface ConvPlan {
  layer: TfLayer;
  name: string;
  className: string;
  kind: ConvKind;
  rank: number;
  layout: Layout;
  stride: number[];
  /** 1 on every axis for transposed and depthwise layers (TF.js 4.22 applies none to them). */
  dilation: number[];
  geometry: TfGeometry;
  /** Index in `layer.weights` of the kernel (`depthwise_kernel` for depthwise and separable layers). */
  kernel: number;
  /** Its shape as stored. */
  kernelShape: number[];
  /** Index and shape of a separable layer's `pointwise_kernel`. */
  pointwise?: { index: number; shape: number[] } | undefined;
  /** Output channels of the layer (what a following BatchNorm scales). */
  cOut: number;
  /** The BatchNorm to fold, when asked and it qualifies. */
  batchNorm?: BatchNormRef | undefined;
  /** Why a BatchNorm after the layer is not folded, when one is there and folding was asked. */
  batchNormNote?: string | undefined;
}

const CONV = new Set(["Conv1D", "Conv2D", "Conv3D"]);
const TRANSPOSED = new Set(["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"]);
const DEPTHWISE = new Set(["DepthwiseConv1D", "DepthwiseConv2D"]);
const SEPARABLE = new Set(["SeparableConv1D", "SeparableConv2D"]);

/** Whether convsv projects this class of layer. */
export function isConvClass(className: string): boolean {
  return CONV.has(className) || TRANSPOSED.has(className) || DEPTHWISE.has(className) || SEPARABLE.has(className);
}

/** The layers of a model, nested models (a `Sequential` inside a functional model) walked in place. */
export function modelLayers(model: { layers: readonly TfLayer[] }, depth = 0): TfLayer[] {
  if (depth > 64) throw new RangeError(`Cannot clip TF.js model as models nest too deep: current value is ${depth}`);
  const out: TfLayer[] = [];
  for (const l of model.layers) {
    const inner = (l as unknown as { layers?: unknown }).layers;
    if (Array.isArray(inner)) out.push(...modelLayers(l as unknown as { layers: TfLayer[] }, depth + 1));
    else out.push(l);
  }
  return out;
}

/** A layer's class name (`Conv2D`, …). */
export function classOf(layer: TfLayer): string {
  return layer.getClassName();
}

/** The index of the weight whose name ends in `/suffix`, or undefined. */
function weightIndex(layer: TfLayer, suffix: string): number | undefined {
  const at = layer.weights.findIndex((w) => (w.originalName ?? w.name).endsWith(`/${suffix}`));
  return at < 0 ? undefined : at;
}

function need(layer: TfLayer, suffix: string): number {
  const at = weightIndex(layer, suffix);
  if (at === undefined) {
    throw new TypeError(
      `Cannot clip TF.js layer ${show(layer.name)} as a ${
        classOf(layer)
      } must have a weight "${suffix}" (is it built?): current value is ${
        show(layer.weights.map((w) => w.originalName ?? w.name))
      }`,
    );
  }
  return at;
}

/** A per-axis config value (`kernelSize`, `strides`, `dilationRate`) as one number per axis. */
function perAxis(value: unknown, rank: number, fallback: number): number[] {
  if (typeof value === "number") return Array(rank).fill(value);
  if (Array.isArray(value) && value.length === rank && value.every((v) => typeof v === "number")) return [...value];
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === "number") return Array(rank).fill(value[0]);
  return Array(rank).fill(fallback);
}

/** The spatial sizes of one recorded input shape (`[batch, ...spatial, c]` or `[batch, c, ...spatial]`). */
function spatialOf(shape: unknown, rank: number, channelsFirst: boolean): (number | null)[] | undefined {
  if (!Array.isArray(shape) || shape.length !== rank + 2) return undefined;
  return (channelsFirst ? shape.slice(2) : shape.slice(1, -1)) as (number | null)[];
}

/**
 * The layer's spatial input sizes: `given` when the caller gives them, else
 * the one shape its inbound nodes record.
 *
 * @throws {RangeError} When the model does not fix them (a `null` size, several different shapes, or the layer
 *   was never called), naming the layer and `inputShapes`.
 */
function inputSizes(layer: TfLayer, rank: number, channelsFirst: boolean, given: readonly number[] | undefined) {
  if (given !== undefined) {
    if (given.length !== rank) {
      throw new RangeError(
        `Cannot clip TF.js layer ${show(layer.name)} as options.inputShapes[${
          show(layer.name)
        }] must have ${rank} spatial sizes: current value is ${show(given)}`,
      );
    }
    return [...given];
  }
  const seen = new Map<string, (number | null)[] | undefined>();
  for (const node of layer.inboundNodes) {
    const shapes = node.inputShapes as unknown;
    const one = Array.isArray(shapes) && Array.isArray(shapes[0]) ? shapes[0] : shapes;
    const s = spatialOf(one, rank, channelsFirst);
    seen.set(JSON.stringify(s ?? one), s);
  }
  const all = [...seen.values()];
  const hint = `pass its spatial sizes as options.inputShapes: { ${show(layer.name)}: [${
    Array(rank).fill("…").join(", ")
  }] }`;
  if (all.length !== 1 || all[0] === undefined || all[0].some((v) => typeof v !== "number" || !(v >= 1))) {
    const what = all.length === 0
      ? "the layer was never called"
      : all.length > 1
      ? `it is called on ${all.length} input shapes ${show([...seen.keys()])}`
      : `its input shape is ${[...seen.keys()][0]}`;
    throw new RangeError(
      `Cannot clip TF.js layer ${show(layer.name)} as its input size must be known (${hint}): current value is ${what}`,
    );
  }
  return all[0] as number[];
}

/** The BatchNormalization that is the only consumer of `layer`'s output, if any, or why there is none to fold. */
function followingBatchNorm(
  layer: TfLayer,
  outputs: ReadonlySet<TfLayer>,
  channelAxis: number,
  rank: number,
  cOut: number,
): { ref?: BatchNormRef; note?: string } {
  const next = layer.outboundNodes.map((n) => n.outboundLayer);
  const bn = next.find((l) => l !== undefined && classOf(l) === "BatchNormalization");
  if (bn === undefined) return {};
  const why = (what: string) => ({ note: `BatchNormalization ${show(bn.name)} not folded: ${what}` });
  if (next.length !== 1 || layer.inboundNodes.length !== 1) return why("it is not the layer's only consumer");
  if (outputs.has(layer)) return why("the layer's output is also a model output");
  const axis = (bn.getConfig() as { axis?: unknown }).axis;
  const axes = Array.isArray(axis) ? axis : [axis];
  const ok = axes.length === 1 && typeof axes[0] === "number" &&
    (axes[0] === channelAxis || axes[0] === channelAxis - (rank + 2));
  if (!ok) return why(`its axis ${show(axis)} is not the channel axis ${channelAxis}`);
  const variance = weightIndex(bn, "moving_variance");
  if (variance === undefined || bn.weights[variance].shape[0] !== cOut) {
    return why(`it has no moving_variance of ${cOut} channels`);
  }
  const eps = (bn.getConfig() as { epsilon?: unknown }).epsilon;
  return {
    ref: {
      layer: bn,
      name: bn.name,
      gamma: weightIndex(bn, "gamma"),
      variance,
      epsilon: typeof eps === "number" ? eps : 1e-3,
    },
  };
}

/** Plans one conv layer. */
function planLayer(
  layer: TfLayer,
  outputs: ReadonlySet<TfLayer>,
  foldBatchNorm: boolean,
  given: readonly number[] | undefined,
): ConvPlan {
  const className = classOf(layer);
  const kind: ConvKind = CONV.has(className)
    ? "conv"
    : TRANSPOSED.has(className)
    ? "transposed"
    : DEPTHWISE.has(className)
    ? "depthwise"
    : "separable";
  const kernel = need(layer, kind === "conv" || kind === "transposed" ? "kernel" : "depthwise_kernel");
  const kernelShape = [...layer.weights[kernel].shape] as number[];
  const rank = kernelShape.length - 2;
  if (rank < 1 || rank > 3) {
    throw new TypeError(
      `Cannot clip TF.js layer ${show(layer.name)} as its kernel must have 3, 4 or 5 axes: current value is ${
        show(kernelShape)
      }`,
    );
  }
  const config = layer.getConfig() as Record<string, unknown>;
  const format = (layer as unknown as { dataFormat?: unknown }).dataFormat ?? config.dataFormat;
  const channelsFirst = format === "channelsFirst";
  const padding = config.padding;
  if (padding !== "same" && padding !== "valid" && padding !== "causal") {
    throw new RangeError(
      `Cannot clip TF.js layer ${
        show(layer.name)
      } as its padding must be "same", "valid" or "causal": current value is ${show(padding)}`,
    );
  }
  const kernelSize = kernelShape.slice(0, rank);
  const stride = perAxis(config.strides, rank, 1);
  // TF.js 4.22 applies no dilation to transposed and depthwise layers (DepthwiseConv2D passes none to its op)
  const dilation = kind === "transposed" || kind === "depthwise"
    ? Array(rank).fill(1)
    : perAxis(config.dilationRate, rank, 1);
  const inputShape = inputSizes(layer, rank, channelsFirst, given);
  const geometry = tfGeometry({
    name: layer.name,
    inputShape,
    kernelSize,
    stride,
    dilation,
    padding: padding as TfPadding,
    transposed: kind === "transposed",
  });
  let pointwise: ConvPlan["pointwise"];
  let cOut: number;
  if (kind === "separable") {
    const index = need(layer, "pointwise_kernel");
    const shape = [...layer.weights[index].shape] as number[];
    pointwise = { index, shape };
    cOut = shape[rank + 1];
  } else if (kind === "depthwise") {
    cOut = kernelShape[rank] * kernelShape[rank + 1];
  } else {
    cOut = kind === "transposed" ? kernelShape[rank] : kernelShape[rank + 1];
  }
  const plan: ConvPlan = {
    layer,
    name: layer.name,
    className,
    kind,
    rank,
    layout: (["wio", "hwio", "dhwio"] as const)[rank - 1],
    stride,
    dilation,
    geometry,
    kernel,
    kernelShape,
    pointwise,
    cOut,
  };
  if (foldBatchNorm) {
    const { ref, note } = followingBatchNorm(layer, outputs, channelsFirst ? 1 : rank + 1, rank, cOut);
    plan.batchNorm = ref;
    plan.batchNormNote = note;
  }
  return plan;
}

/**
 * Plans every conv layer of the model, in the model's order (nested models
 * in place), before any weight is read.
 */
export function planModel(
  model: LayersModel,
  foldBatchNorm: boolean,
  inputShapes: Readonly<Record<string, readonly number[]>>,
): ConvPlan[] {
  const layers = modelLayers(model);
  // the output layers of the model and of every model nested in it
  const outputs = new Set<TfLayer>();
  const walk = (m: unknown) => {
    const { layers: inner, outputLayers } = m as { layers?: unknown; outputLayers?: TfLayer[] };
    for (const l of outputLayers ?? []) outputs.add(l);
    if (Array.isArray(inner)) inner.forEach(walk);
  };
  walk(model);
  const names = new Set(layers.filter((l) => isConvClass(classOf(l))).map((l) => l.name));
  for (const key of Object.keys(inputShapes)) {
    if (!names.has(key)) {
      throw new RangeError(
        `Cannot clip TF.js model as each key of options.inputShapes must name a conv layer of the model (${
          names.size === 0 ? "it has none" : `known: ${[...names].join(", ")}`
        }): current value is ${show(key)}`,
      );
    }
  }
  return layers.filter((l) => isConvClass(classOf(l))).map((l) =>
    planLayer(l, outputs, foldBatchNorm, Object.hasOwn(inputShapes, l.name) ? inputShapes[l.name] : undefined)
  );
}
