/**
 * All singular values of a 2-D convolutional layer.
 * @module
 */
import type { Kernel, SingularValuesOptions } from "./types.ts";
import { sortedValues, sortedValuesSync } from "./_grid.ts";
import { checkOptions, LAYER_OPTIONS } from "./_options.ts";

/**
 * Computes every singular value of a 2-D convolution with circular padding
 * and stride 1 (Sedghi, Gupta & Long, ICLR 2019), in f64 on the SIMD wasm core.
 *
 * The layer maps `R^{c_in·h·w} → R^{c_out·h·w}`:
 * `out[o, x, y] = Σ_i Σ_{a,b} K[o, i, a, b] · in[i, (x + a) mod h, (y + b) mod w]`.
 * Its singular values are the union over the `h·w` frequencies of those of
 * the `c_out × c_in` matrices `P(u, v)` (see {@linkcode spectrum}). Kernels
 * larger than the input wrap: taps `a` and `a + h` add up (numpy's `fft2(K, s)`
 * crops them instead).
 *
 * Accuracy: each value has absolute error of a few `1e-16·σ_max·√c` (Householder
 * bidiagonalisation, then dqds on the real bidiagonal, in f64); tested to ≤ 1e-12·σ_max
 * against a dense one-sided Jacobi SVD. `kernel.data` is not modified.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`.
 * @param options `inputShape` (`[h, w]`; `[w]` or `[d, h, w]` for 1-D/3-D layers), `layout`, the layer kind
 *   (`stride`, `dilation`, `groups`, `transposed`, `padding`: see {@linkcode SingularValuesOptions}),
 *   `precision` (`"f64"` default, `"f32"`) and, for the async form, `threads`.
 * @returns `h·w·min(c_in, c_out)` values in decreasing order.
 * @throws {TypeError} For wrong types, ranks, lengths or an unknown layout.
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, a stride that does not divide the input,
 *   zero padding (no exact formula: use {@linkcode operatorNormBounds}), or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example A 1-channel 2-tap filter on 4 × 1 inputs
 * ```ts
 * import { singularValuesSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * // out[x] = in[x] + in[x + 1]: |1 + e^{2πiu/4}| = 2, √2, 0, √2
 * const kernel = { data: new Float64Array([1, 1]), shape: [1, 1, 2, 1] };
 * const sv = singularValuesSync(kernel, { inputShape: [4, 1] });
 * assert.deepEqual(Array.from(sv, (x) => Math.round(x * 1e12) / 1e12), [2, 1.414213562373, 1.414213562373, 0]);
 * ```
 */
export function singularValuesSync(kernel: Kernel, options: SingularValuesOptions): Float64Array {
  checkOptions("singularValuesSync", options, LAYER_OPTIONS);
  return sortedValuesSync(kernel, options);
}

/**
 * Asynchronous twin of {@linkcode singularValuesSync}: same result; loads the
 * wasm core asynchronously (what a browser's main thread needs).
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`.
 * @param options `inputShape` (`[h, w]`; `[w]` or `[d, h, w]` for 1-D/3-D layers), `layout`, the layer kind
 *   (`stride`, `dilation`, `groups`, `transposed`, `padding`: see {@linkcode SingularValuesOptions}),
 *   `precision` (`"f64"` default, `"f32"`) and, for the async form, `threads`.
 * @returns `h·w·min(c_in, c_out)` values in decreasing order.
 * @throws {TypeError} For wrong types, ranks, lengths or an unknown layout (as a rejection).
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, a stride that does not divide the input,
 *   zero padding (no exact formula: use {@linkcode operatorNormBounds}), or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example A random 64 → 32 layer on 8 × 8 inputs, TensorFlow layout
 * ```ts
 * import { singularValues } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const data = Float32Array.from({ length: 3 * 3 * 64 * 32 }, (_, i) => Math.sin(i));
 * const sv = await singularValues({ data, shape: [3, 3, 64, 32] }, { inputShape: [8, 8], layout: "hwio" });
 * assert.equal(sv.length, 8 * 8 * 32);
 * assert.ok(sv[0] >= sv[sv.length - 1]);
 * ```
 */
export async function singularValues(kernel: Kernel, options: SingularValuesOptions): Promise<Float64Array> {
  checkOptions("singularValues", options, LAYER_OPTIONS);
  return await sortedValues(kernel, options);
}
