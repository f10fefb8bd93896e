/**
 * What the CLI needs to know about each conv layer before computing: its
 * channels, the spatial shape of its input (from the file, or propagated from
 * `--input` through the earlier conv layers), its output shape, and the
 * library calls that give its norm (exactly, or as a certified interval).
 * @module
 */
import type { ConvLayer } from "../model.ts";
import type { Layout, Padding } from "../types.ts";

/** Where a layer's input shape came from. */
export type ShapeSource = "model" | "input" | "propagated" | "unknown";

/** The network input given with `--input`: spatial sizes, and channels where the text names them. */
export interface NetworkInput {
  /** The text as given. */
  text: string;
  /** Spatial sizes (one per spatial axis). */
  spatial: number[];
  /** Channels, when the text has them. */
  channels?: number | undefined;
}

/** A layer with its input shape resolved. */
export interface PlannedLayer {
  layer: ConvLayer;
  index: number;
  rank: number;
  /** Input channels of the layer itself (for a transposed layer, what it is applied to). */
  cIn: number;
  /** Output channels of the layer itself. */
  cOut: number;
  /** Spatial kernel sizes, one per axis. */
  kernelSize: number[];
  inputShape: number[];
  inputSource: ShapeSource;
  /** Spatial output shape (per axis). */
  outputShape: number[];
  /**
   * Set when the layer's input size is not known (then `inputShape` and
   * `outputShape` are empty): the reader's reason (the op that stopped
   * propagation) and how to give the size. Such a layer is listed, never
   * computed on a guessed size.
   */
  unknown?: string | undefined;
}

/** A layer as the outputs describe it: its name, kernel, how it is applied, and its input. */
export interface LayerKind {
  name: string;
  kernelShape: number[];
  layout: string;
  transposed: boolean;
  /** One value per spatial axis. */
  stride: number[];
  /** One value per spatial axis. */
  dilation: number[];
  groups: number;
  padding: Padding;
  /** Spatial sizes. */
  inputShape: number[];
}

/** The planned layer's kind. */
export function layerKind(p: PlannedLayer): LayerKind {
  const { layer } = p;
  return {
    name: layer.name,
    kernelShape: [...layer.kernel.shape],
    layout: layer.layout,
    transposed: layer.transposed,
    stride: perAxis(layer.stride, p.rank, 1),
    dilation: perAxis(layer.dilation, p.rank, 1),
    groups: layer.groups,
    padding: layer.padding,
    inputShape: p.inputShape,
  };
}

/**
 * One call's options for the library, describing a forward (or transposed)
 * layer with library-expressible padding.
 */
export interface LayerCall {
  inputShape: number[];
  layout: Layout;
  stride: number[];
  dilation: number[];
  groups: number;
  transposed: boolean;
  padding: Padding;
}

/**
 * How to get a layer's norm from the library: one exact spectrum (circular
 * padding), one interval (zero padding the library expresses), or, for
 * TensorFlow's `"same"` with a stride (asymmetric zeros), the lower bound of
 * one layer and the upper bound of another (see {@linkcode planCalls}).
 */
export type NormPlan =
  | { kind: "exact"; call: LayerCall }
  | { kind: "interval"; call: LayerCall }
  | { kind: "split"; lower: LayerCall; upper: LayerCall; note: string }
  | { kind: "pointwise"; call: LayerCall; multiplicity: number; layerInput: number[]; note: string };

/** An error whose message is meant for the user as it is (no stack trace). */
export class CliError extends Error {
  /** Exit status: 2 for usage errors, 1 otherwise. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** Channel and kernel sizes of a layer, read through its layout. */
export function layerGeometry(layer: ConvLayer): { rank: number; cIn: number; cOut: number; kernelSize: number[] } {
  const shape = layer.kernel.shape;
  const rank = shape.length - 2;
  if (rank < 1 || rank > 3) {
    throw new CliError(`Layer ${show(layer.name)} has a kernel of rank ${shape.length}: expected 3, 4 or 5 axes`);
  }
  const first = layer.layout.startsWith("oi");
  const o = first ? shape[0] : shape[rank + 1];
  const i = first ? shape[1] : shape[rank];
  const kernelSize = first ? shape.slice(2) : shape.slice(0, rank);
  const g = layer.groups;
  // A transposed layer's kernel is the weight of the forward convolution whose
  // adjoint it is: its "o" axis holds the layer's input channels.
  return layer.transposed
    ? { rank, cIn: o, cOut: i * g, kernelSize: [...kernelSize] }
    : { rank, cIn: i * g, cOut: o, kernelSize: [...kernelSize] };
}

/**
 * Parses `--input`: sizes joined by `x` (or commas): spatial sizes alone
 * (`224x224`), channels first (`3x224x224`, `1x3x224x224`: PyTorch's NCHW)
 * or channels last (`1x224x224x3`: TensorFlow's NHWC). With a batch axis the
 * channel axis is the one that matches the first layer's input channels
 * (NCHW when both or neither do, unless the model's layout is channels-last).
 */
export function parseInput(
  text: string,
  rank: number,
  firstCIn: number | undefined,
  channelsLast: boolean,
): NetworkInput {
  const parts = text.split(/[x×,]/).map((s) => s.trim());
  const sizes = parts.map(Number);
  if (parts.length === 0 || sizes.some((n, j) => parts[j] === "" || !Number.isInteger(n) || n < 1)) {
    throw new CliError(
      `--input must be positive integers joined by "x", e.g. 1x3x224x224: current value is ${show(text)}`,
      2,
    );
  }
  if (sizes.length === rank) return { text, spatial: sizes };
  if (sizes.length === rank + 1) {
    // C + spatial, or spatial + C.
    const lastMatches = firstCIn !== undefined && sizes[rank] === firstCIn && sizes[0] !== firstCIn;
    return lastMatches || (channelsLast && sizes[0] !== firstCIn)
      ? { text, spatial: sizes.slice(0, rank), channels: sizes[rank] }
      : { text, spatial: sizes.slice(1), channels: sizes[0] };
  }
  if (sizes.length === rank + 2) {
    const cFirst = sizes[1], cLast = sizes[rank + 1];
    const last = firstCIn !== undefined
      ? (cLast === firstCIn && cFirst !== firstCIn) || (channelsLast && cLast === firstCIn)
      : channelsLast;
    return last
      ? { text, spatial: sizes.slice(1, rank + 1), channels: cLast }
      : { text, spatial: sizes.slice(2), channels: cFirst };
  }
  throw new CliError(
    `--input must have ${rank} (spatial), ${rank + 1} (with channels) or ${
      rank + 2
    } (with batch and channels) sizes for ${rank}-D layers: current value is ${show(text)}`,
    2,
  );
}

/** A per-axis attribute with one value per spatial axis: `fallback` where absent, one value repeated, or a copy. */
export function perAxis(value: number[] | undefined, rank: number, fallback: number): number[] {
  if (!value || value.length === 0) return Array(rank).fill(fallback);
  if (value.length === 1) return Array(rank).fill(value[0]);
  return [...value];
}

/** Zero padding per axis as `[before, after]`, or undefined for circular padding. */
export function zeroPadding(layer: ConvLayer, n: number[], k: number[]): [number, number][] | undefined {
  const p = layer.padding;
  const rank = k.length;
  const stride = perAxis(layer.stride, rank, 1);
  const dilation = perAxis(layer.dilation, rank, 1);
  if (p === "circular") return undefined;
  if (p === "valid") return k.map(() => [0, 0]);
  if (p === "same") {
    // TensorFlow's rule (PyTorch's for stride 1): the output has ceil(n/s)
    // positions; the odd zero goes after.
    return k.map((kj, j) => {
      const eff = dilation[j] * (kj - 1) + 1;
      const total = Math.max((Math.ceil(n[j] / stride[j]) - 1) * stride[j] + eff - n[j], 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  }
  const list = typeof p === "number" ? Array(rank).fill(p) : perAxis([...p], rank, 0);
  return list.map((x) => [x, x]);
}

/** The spatial output shape of a layer on input `n`, or a message why there is none. */
export function outputShape(layer: ConvLayer, n: number[], k: number[]): number[] | string {
  const rank = k.length;
  const stride = perAxis(layer.stride, rank, 1);
  const dilation = perAxis(layer.dilation, rank, 1);
  const out = k.map((kj, j) => {
    const s = stride[j];
    const eff = dilation[j] * (kj - 1) + 1;
    if (layer.transposed) {
      if (layer.padding === "circular" || layer.padding === "same") return n[j] * s;
      const pad = zeroPadding(layer, n, k)!;
      return (n[j] - 1) * s - pad[j][0] - pad[j][1] + eff;
    }
    if (layer.padding === "circular" || layer.padding === "same") return Math.ceil(n[j] / s);
    const pad = zeroPadding(layer, n, k)!;
    return Math.floor((n[j] + pad[j][0] + pad[j][1] - eff) / s) + 1;
  });
  if (out.some((x) => x < 1)) {
    return `its output would be empty: kernel ${k.join("x")} (dilation ${dilation.join("x")}) on input ${
      n.join("x")
    } with padding ${show(layer.padding)}`;
  }
  return out;
}

/**
 * Resolves every layer's input shape: the file's where it gives one; a
 * layer the graph readers could not size (`inputShapeReason`) is listed as
 * unknown with the reason (an error naming `--input` when the reason is a
 * symbolic graph input and none was given); else the output shape of the latest earlier layer (or the network input) whose
 * output channels equal this layer's input channels; else that of the
 * previous layer (or the network input). Pooling and other non-conv layers
 * are not seen, so propagated shapes are those of the chain of conv layers.
 *
 * @throws {CliError} Naming the first layer whose input shape stays unknown.
 */
export function planLayers(
  layers: readonly ConvLayer[],
  input: string | undefined,
): { planned: PlannedLayer[]; network?: NetworkInput | undefined; warnings: string[] } {
  const warnings: string[] = [];
  const geo = layers.map(layerGeometry);
  let network: NetworkInput | undefined;
  if (input !== undefined) {
    const first = geo[0];
    network = parseInput(input, first.rank, first.cIn, !layers[0].layout.startsWith("oi"));
    if (network.channels !== undefined && network.channels !== first.cIn) {
      warnings.push(
        `--input ${input} has ${network.channels} channels but the first layer ${
          show(layers[0].name)
        } takes ${first.cIn}`,
      );
    }
  }
  type Source = { channels?: number | undefined; shape: number[]; rank: number };
  const sources: Source[] = [];
  if (network) sources.push({ channels: network.channels, shape: network.spatial, rank: network.spatial.length });
  const planned: PlannedLayer[] = [];
  for (let idx = 0; idx < layers.length; idx++) {
    const layer = layers[idx];
    const g = geo[idx];
    let inputShape: number[] | undefined;
    let inputSource: ShapeSource = "model";
    if (layer.inputShape && layer.inputShape.length > 0) {
      inputShape = [...layer.inputShape];
      if (inputShape.length !== g.rank) {
        throw new CliError(
          `Layer ${show(layer.name)} has inputShape [${inputShape.join(", ")}] but a ${g.rank}-D kernel (shape [${
            layer.kernel.shape.join(", ")
          }])`,
        );
      }
    } else if (layer.inputShapeReason !== undefined) {
      // A graph reader followed the graph and had to stop: the size is asked for, never guessed.
      const reason = layer.inputShapeReason;
      if (input === undefined && /^the graph input /.test(reason)) {
        throw new CliError(
          `Cannot find the input shape of layer ${show(layer.name)} (#${idx + 1}, kernel [${
            layer.kernel.shape.join(", ")
          }] ${layer.layout}): ${reason}; pass the network's input shape with --input`,
          2,
        );
      }
      planned.push({
        layer,
        index: idx,
        ...g,
        inputShape: [],
        inputSource: "unknown",
        outputShape: [],
        unknown: `input size unknown: ${reason}; give it with --attributes FILE.json ({${
          JSON.stringify(layer.name)
        }: {"inputShape": [${Array(g.rank).fill("n").join(", ")}]}})${
          /^the graph input /.test(reason) ? " or --input" : ""
        }`,
      });
      continue;
    } else {
      const sameRank = sources.filter((s) => s.rank === g.rank);
      const match = [...sameRank].reverse().find((s) => s.channels === g.cIn) ?? sameRank[sameRank.length - 1];
      if (match) {
        inputShape = [...match.shape];
        inputSource = network && match.shape === network.spatial ? "input" : "propagated";
      }
    }
    if (!inputShape) {
      const hint = input === undefined
        ? `pass the network's input shape with --input (e.g. --input ${
          layer.layout.startsWith("oi")
            ? `1x${g.cIn}x${Array(g.rank).fill(224).join("x")}`
            : `1x${Array(g.rank).fill(224).join("x")}x${g.cIn}`
        })`
        : `--input ${input} has ${network!.spatial.length} spatial sizes, the layer needs ${g.rank}`;
      throw new CliError(
        `Cannot find the input shape of layer ${show(layer.name)} (#${idx + 1}, kernel [${
          layer.kernel.shape.join(", ")
        }] ${layer.layout}): the file does not give it and no earlier layer's output has ${g.cIn} channels; ${hint}`,
        2,
      );
    }
    const out = outputShape(layer, inputShape, g.kernelSize);
    if (typeof out === "string") {
      throw new CliError(
        `Cannot use layer ${show(layer.name)} (#${idx + 1}) on input ${inputShape.join("x")}${
          inputSource === "model" ? "" : ` (${inputSource === "input" ? "from --input" : "propagated from --input"})`
        }: ${out}`,
      );
    }
    planned.push({ layer, index: idx, ...g, inputShape, inputSource, outputShape: out });
    sources.push({ channels: g.cOut, shape: out, rank: g.rank });
  }
  return { planned, network, warnings };
}

/**
 * The library calls that give a layer's norm. Circular padding: one exact
 * spectrum. Zero padding the library takes as it is (numbers, `"valid"`,
 * `"same"` at stride 1): one certified interval.
 *
 * TensorFlow's `"same"` with a stride pads `before ≤ after` zeros, and a
 * transposed `"same"` layer is the adjoint of such a forward layer on its
 * output shape. With `before = after` that is a plain number. Otherwise
 * (`after = before + 1` on some axis) no library padding is the layer, but
 * two bracket it: the layer padded `before` on both sides computes a subset
 * of its outputs (a submatrix: norm ≤ the layer's), so its certified lower
 * bound is one for the layer; and every circular grid admissible for the
 * layer padded `after` on both sides is admissible for the layer (the
 * circular norm does not depend on where the input sits), so its certified
 * upper bound is one for the layer.
 */
export function planCalls(p: PlannedLayer): NormPlan {
  if (p.unknown !== undefined) throw new CliError(p.unknown);
  const { layer, rank, kernelSize, inputShape } = p;
  const stride = perAxis(layer.stride, rank, 1);
  const dilation = perAxis(layer.dilation, rank, 1);
  const base = { layout: layer.layout, stride, dilation, groups: layer.groups };
  if (layer.padding === "circular") {
    return { kind: "exact", call: { ...base, inputShape, transposed: layer.transposed, padding: "circular" } };
  }
  // A 1×1 kernel with no zeros added applies one matrix at each output
  // position it computes (a stride only skips positions): the layer is
  // I_m ⊗ W up to a coordinate restriction, so its singular values are W's,
  // each m times (m output positions), and its norm is W's, exactly.
  if (kernelSize.every((k) => k === 1)) {
    const forwardOut = layer.transposed ? inputShape : p.outputShape;
    const pads = zeroPadding(
      { ...layer, transposed: false },
      layer.transposed ? p.outputShape : inputShape,
      kernelSize,
    )!;
    if (pads.every(([b, a]) => b === 0 && a === 0)) {
      const m = forwardOut.reduce((a, b) => a * b, 1);
      return {
        kind: "pointwise",
        call: {
          ...base,
          stride: stride.map(() => 1),
          dilation: dilation.map(() => 1),
          inputShape: inputShape.map(() => 1),
          transposed: layer.transposed,
          padding: "circular",
        },
        multiplicity: m,
        layerInput: inputShape,
        note:
          `1x1 kernel without padding: the same matrix at each of the ${m} output positions, so the norm is the matrix's, exactly`,
      };
    }
  }
  const strided = stride.some((s) => s !== 1);
  if (layer.padding !== "same" || (!strided && !layer.transposed)) {
    return { kind: "interval", call: { ...base, inputShape, transposed: layer.transposed, padding: layer.padding } };
  }
  // "same" with a stride, or a transposed "same" layer: the forward layer on
  // the forward input (the transposed layer's output), TensorFlow's split.
  const forwardInput = layer.transposed ? p.outputShape : inputShape;
  const pads = zeroPadding({ ...layer, transposed: false }, forwardInput, kernelSize)!;
  const before = pads.map((x) => x[0]);
  const after = pads.map((x) => x[1]);
  const forward = { ...base, inputShape: forwardInput, transposed: false };
  if (before.every((b, j) => b === after[j])) {
    return { kind: "interval", call: { ...forward, padding: before } };
  }
  return {
    kind: "split",
    lower: { ...forward, padding: before },
    upper: { ...forward, padding: after },
    note: `TensorFlow "same" padding with stride ${stride.join("x")} pads [${before.join(", ")}] before and [${
      after.join(", ")
    }] after: lower bound from the layer padded [${
      before.join(", ")
    }] on both sides (a submatrix), upper bound from circular grids admissible for [${after.join(", ")}]`,
  };
}

/** A value as the messages show it: strings quoted, arrays bracketed. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  return String(value);
}

/** Sizes joined by "x" (`[3, 3]` → `"3x3"`). */
export function dims(sizes: readonly number[]): string {
  return sizes.join("x");
}
