/**
 * The operator (spectral) norm of a 2-D convolutional layer.
 * @module
 */
import type { Kernel, SingularValuesOptions } from "./types.ts";
import { layerNorm, layerNormSync } from "./_norm.ts";
import { checkOptions, LAYER_OPTIONS } from "./_options.ts";

/**
 * The largest singular value of the layer (its ℓ² operator norm, the
 * Lipschitz constant of the linear layer), exact up to f64 rounding: the
 * spectrum's largest value, bit for bit, computed without the whole
 * spectrum (only the frequencies that may hold the maximum are factorised;
 * every other one is proven below it, see docs/architecture.md).
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`.
 * @param options `inputShape` (`[h, w]`; `[w]` or `[d, h, w]` for 1-D/3-D layers), `layout`, the layer kind
 *   (`stride`, `dilation`, `groups`, `transposed`, `padding`: see {@linkcode SingularValuesOptions}),
 *   `precision` (`"f64"` default, `"f32"`) and, for the async form, `threads`.
 * @returns `σ_max ≥ 0`.
 * @throws {TypeError} For wrong types, ranks, lengths or an unknown layout.
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, a stride that does not divide the input,
 *   zero padding (no exact formula: use {@linkcode operatorNormBounds}), or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example The identity layer has norm 1
 * ```ts
 * import { operatorNormSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const data = new Float64Array([1, 0, 0, 0, 0, 0, 0, 0, 0]); // 3 × 3, delta at the first tap
 * assert.equal(operatorNormSync({ data, shape: [1, 1, 3, 3] }, { inputShape: [5, 5] }), 1);
 * ```
 */
export function operatorNormSync(kernel: Kernel, options: SingularValuesOptions): number {
  checkOptions("operatorNormSync", options, LAYER_OPTIONS);
  return layerNormSync(kernel, options);
}

/**
 * Asynchronous twin of {@linkcode operatorNormSync}. In f64 on wasm it runs
 * on one thread whatever `threads` says (the screening decides its order as
 * it goes); with a `signal`, on a core of its own, letting the event loop
 * run every ~20 ms.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`.
 * @param options `inputShape` (`[h, w]`; `[w]` or `[d, h, w]` for 1-D/3-D layers), `layout`, the layer kind
 *   (`stride`, `dilation`, `groups`, `transposed`, `padding`: see {@linkcode SingularValuesOptions}),
 *   `precision` (`"f64"` default, `"f32"`) and, for the async form, `threads`.
 * @returns `σ_max ≥ 0`.
 * @throws {TypeError} For wrong types, ranks, lengths or an unknown layout (as a rejection).
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, a stride that does not divide the input,
 *   zero padding (no exact formula: use {@linkcode operatorNormBounds}), or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example
 * ```ts
 * import { operatorNorm } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const norm = await operatorNorm({ data: new Float64Array([3, 4]), shape: [2, 1, 1, 1] }, { inputShape: [2, 2] });
 * assert.ok(Math.abs(norm - 5) < 1e-15);
 * ```
 */
export async function operatorNorm(kernel: Kernel, options: SingularValuesOptions): Promise<number> {
  checkOptions("operatorNorm", options, LAYER_OPTIONS);
  return await layerNorm(kernel, options);
}
