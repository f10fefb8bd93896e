/**
 * Public types shared by every entry point.
 * @module
 */

/**
 * A convolution kernel: its weights and their shape, read through a {@linkcode Layout}.
 *
 * `data` is never modified. Its length must equal the product of `shape`.
 */
export interface Kernel {
  /** The weights, in the order that `shape` and the layout describe (row-major). */
  data: Float32Array | Float64Array;
  /** The kernel's shape: four positive integers. */
  shape: readonly number[];
}

/**
 * How a 2-D kernel's four axes are stored.
 *
 * - `"oihw"`: `[c_out, c_in, k_h, k_w]`, PyTorch's `Conv2d.weight` (the default).
 * - `"hwio"`: `[k_h, k_w, c_in, c_out]`, TensorFlow / Keras and the paper's code.
 */
export type Layout = "oihw" | "hwio";

/** Options of {@linkcode singularValues}, {@linkcode operatorNorm} and {@linkcode spectrum}. */
export interface SingularValuesOptions {
  /** Spatial shape `[h, w]` of the layer's input (positive integers). */
  inputShape: readonly number[];
  /** How `kernel.shape` is read. Default `"oihw"`. */
  layout?: Layout;
}

/** Which engine produced a result. */
export type Backend = "wasm";

/** The floating-point precision the result was computed in. */
export type Precision = "f64";

/**
 * The singular values of a layer, grouped by spatial frequency.
 *
 * `values[(u * w + v) * r + j]` is the `j`-th largest singular value of the
 * `c_out × c_in` matrix `P(u, v)` (see the module docs); each row of `r`
 * values is in decreasing order.
 */
export interface Spectrum {
  /** `h · w · r` values, row-major over `[u, v, j]`. */
  values: Float64Array;
  /** `[h, w, r]` with `r = min(c_in, c_out)`. */
  shape: [number, number, number];
  /** The largest singular value: the layer's operator norm (spectral norm). */
  norm: number;
  /** A frequency `[u, v]` whose largest singular value equals {@linkcode Spectrum.norm}. */
  argmax: [number, number];
  /** The engine that computed the values. */
  backend: Backend;
  /** The precision the values were computed in. */
  precision: Precision;
}
