/**
 * Where a TF.js conv layer's zero-padded operator sits: TensorFlow's padding
 * rules (`"same"`, `"valid"`, `"causal"`), the forward convolution a
 * transposed layer is the adjoint of, and the smallest circular grid that
 * holds the padded layer as a submatrix (the rule of convsv's own zero
 * padding, src/_problem/expand.ts `admissibleGrids`).
 * @module
 */

/** TensorFlow's padding of a conv layer. */
export type TfPadding = "same" | "valid" | "causal";

/** A conv layer's geometry as TF.js applies it. */
export interface TfGeometry {
  /** Spatial sizes of the layer's own input (a transposed layer's small side). */
  inputShape: number[];
  /** Spatial sizes of the forward convolution's input (a transposed layer's output). */
  forwardInput: number[];
  /** Spatial sizes of the forward convolution's output (a transposed layer's input). */
  forwardOutput: number[];
  /** Zeros before the forward convolution's input, per axis. */
  before: number[];
  /** Zeros after the forward convolution's input, per axis. */
  after: number[];
  /**
   * The forward input grid of the circular layer that holds the padded one as
   * a submatrix: per axis the smallest multiple of the stride that is at least
   * `forwardInput + max(before, after)` and `stride·forwardOutput`.
   */
  grid: number[];
  /** True when the padded layer's norm equals the circular layer's: a 1×1 kernel with no zeros added. */
  exact: boolean;
}

/** What a layer's geometry is computed from. */
export interface TfLayerShape {
  /** The layer's name, for messages. */
  name: string;
  /** Spatial sizes of the layer's own input. */
  inputShape: readonly number[];
  kernelSize: readonly number[];
  stride: readonly number[];
  dilation: readonly number[];
  padding: TfPadding;
  transposed: boolean;
}

/** Zeros before and after one axis of a forward convolution, and its output size (TensorFlow's rules). */
function forwardAxis(
  n: number,
  k: number,
  s: number,
  d: number,
  padding: TfPadding,
): { out: number; before: number; after: number } {
  const eff = d * (k - 1) + 1;
  if (padding === "valid") return { out: Math.floor((n - eff) / s) + 1, before: 0, after: 0 };
  const out = Math.ceil(n / s);
  if (padding === "causal") return { out, before: eff - 1, after: 0 };
  const total = Math.max((out - 1) * s + eff - n, 0);
  return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
}

/**
 * The layer's geometry. A transposed TF.js layer (`Conv2DTranspose`,
 * `Conv3DTranspose`; TF.js applies no dilation to them) is the adjoint of the
 * forward convolution with the same kernel, stride and padding on its output
 * shape: `n·s` for `"same"`, `n·s + max(k − s, 0)` for `"valid"`.
 *
 * @throws {RangeError} When the layer's output would be empty, naming the layer and the sizes.
 */
export function tfGeometry(layer: TfLayerShape): TfGeometry {
  const { inputShape: n, kernelSize: k, stride: s, dilation: d, padding, transposed } = layer;
  const forwardInput = n.map((nj, j) =>
    transposed ? (padding === "same" ? nj * s[j] : nj * s[j] + Math.max(k[j] - s[j], 0)) : nj
  );
  const axes = forwardInput.map((nj, j) => forwardAxis(nj, k[j], s[j], transposed ? 1 : d[j], padding));
  if (axes.some((a) => !(a.out >= 1))) {
    throw new RangeError(
      `Cannot clip TF.js layer ${JSON.stringify(layer.name)} as its output would be empty: current value is kernel ${
        k.join("x")
      } (dilation ${d.join("x")}, padding ${JSON.stringify(padding)}) on input ${n.join("x")}`,
    );
  }
  const before = axes.map((a) => a.before);
  const after = axes.map((a) => a.after);
  const forwardOutput = axes.map((a) => a.out);
  const grid = forwardInput.map((nj, j) => {
    const need = Math.max(nj + Math.max(before[j], after[j]), s[j] * forwardOutput[j]);
    return s[j] * Math.ceil(need / s[j]);
  });
  const exact = k.every((kj) => kj === 1) && before.every((b, j) => b === 0 && after[j] === 0);
  return { inputShape: [...n], forwardInput, forwardOutput, before, after, grid, exact };
}
