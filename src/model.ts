/**
 * The layers of a model file, as the readers return them and the CLI and
 * report consume them.
 * @module
 */
import type { Kernel, Layout, Padding } from "./types.ts";

/** A per-output-channel affine map that follows a convolution: BatchNorm or a plain scale. */
export interface ChannelScale {
  /** `"batchnorm"`: y = gamma·(x − mean)/√(var + eps) + beta; `"scale"`: y = gamma·x + beta. */
  kind: "batchnorm" | "scale";
  /** Name of the scale layer / node in the file. */
  name: string;
  /** Per-channel multiplier (BatchNorm's weight). */
  gamma: Float64Array;
  /** Per-channel offset (BatchNorm's bias); does not change a Lipschitz constant. */
  beta?: Float64Array | undefined;
  /** BatchNorm's running mean. */
  mean?: Float64Array | undefined;
  /** BatchNorm's running variance. */
  variance?: Float64Array | undefined;
  /** BatchNorm's epsilon. */
  epsilon?: number | undefined;
}

/** One convolution layer found in a model file. */
export interface ConvLayer {
  /** The layer's (or node's) name in the file. */
  name: string;
  /** The weights, read through `layout` (f32 as stored, dequantised where the file quantises). */
  kernel: Kernel;
  /** How `kernel.shape` is laid out (rank 3, 4 or 5 matches a 1-D, 2-D or 3-D layer). */
  layout: Layout;
  /** A transposed convolution (PyTorch ConvTranspose, ONNX ConvTranspose, Keras Conv2DTranspose). */
  transposed: boolean;
  /** Per spatial axis. */
  stride: number[];
  /** Per spatial axis. */
  dilation: number[];
  /** Channel groups (depthwise: groups = input channels). */
  groups: number;
  /** The padding with PyTorch's meaning (per axis, or "same"/"valid"/"circular"). */
  padding: Padding;
  /**
   * Zero padding as the file gives it, `[begin_1, …, begin_n, end_1, …, end_n]` (ONNX's
   * order), present only when some axis pads differently before and after (ONNX `pads`,
   * TensorFlow explicit paddings, Keras `causal`). `padding` then holds the larger of the two
   * per axis, which is not the same layer: consumers that need the exact one read this.
   */
  pads?: number[] | undefined;
  /** Extra output size on the far side of a transposed layer (ONNX / PyTorch `output_padding`), when not 0. */
  outputPadding?: number[] | undefined;
  /** Spatial shape of this layer's input where the file lets it be known (else undefined: ask the user). */
  inputShape?: number[] | undefined;
  /**
   * Why `inputShape` is undefined, where a graph reader (ONNX, TF.js graph-model) followed the
   * graph and had to stop: the op that stopped propagation (`Resize node "up" has scales that are
   * not constant`), or a graph input of symbolic size. Give the size with `options.layers` (the
   * CLI's `--attributes`) or, for a symbolic graph input, `options.inputShape` (`--input`).
   * Absent for files that store weights only.
   */
  inputShapeReason?: string | undefined;
  /** The per-channel scale that follows this layer (BatchNorm, or a scale layer), when the file has one. */
  scale?: ChannelScale | undefined;
}

/** What a reader returns. */
export interface Model {
  /** `"safetensors"`, `"npy"`, `"npz"`, `"onnx"`, `"tfjs"` or `"torch"`. */
  format: string;
  /** The convolution layers, in the file's order. */
  layers: ConvLayer[];
}
