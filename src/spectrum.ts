/**
 * Singular values per spatial frequency.
 * @module
 */
import type { Kernel, SingularValuesOptions, Spectrum } from "./types.ts";
import { type LayerGrid, layerGrid, layerGridSync } from "./_grid.ts";
import { checkOptions, LAYER_OPTIONS } from "./_options.ts";

function toSpectrum({ ex, grid, precision, backend, simd, threads, skipped }: LayerGrid): Spectrum {
  const at: number[] = [];
  let rest = grid.argmax;
  for (let d = ex.grid.length - 1; d >= 0; d--) {
    at[d] = rest % ex.grid[d];
    rest = Math.floor(rest / ex.grid[d]);
  }
  return {
    values: grid.values,
    shape: [...ex.grid, ex.r] as Spectrum["shape"],
    norm: grid.norm,
    argmax: at as Spectrum["argmax"],
    backend,
    precision,
    ...(simd ? { simd } : {}),
    ...(threads ? { threads } : {}),
    skipped,
  };
}

/**
 * Computes the singular values of a 2-D circular convolution grouped by
 * spatial frequency: for each `(u, v)`, `0 ≤ u < h`, `0 ≤ v < w`, the
 * singular values of the `c_out × c_in` complex matrix
 *
 * `P(u, v)[o, i] = Σ_{a,b} K[o, i, a, b] · exp(2πi (u·a/h + v·b/w))`.
 *
 * Their union is the layer's spectrum ({@linkcode singularValuesSync}). For a
 * real kernel `P(−u, −v) = conj P(u, v)`, so only half of the frequencies are
 * factorised and each row is copied to its mirror. The grid at `(u, v)` equals
 * numpy's `svd(fft2(K_hwio, (h, w), axes=(0, 1)))[u, v]` when the kernel fits
 * the input (numpy's transform has the opposite sign, which conjugates `P`
 * and leaves its singular values unchanged).
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`.
 * @param options `inputShape` (`[h, w]`; `[w]` or `[d, h, w]` for 1-D/3-D layers), `layout`, the layer kind
 *   (`stride`, `dilation`, `groups`, `transposed`, `padding`: see {@linkcode SingularValuesOptions}),
 *   `precision` (`"f64"` default, `"f32"`) and, for the async form, `threads`.
 * @returns The `[h, w, r]` grid (`r = min(c_in, c_out)`), each row decreasing,
 *   with the norm, the frequency that attains it, and the backend and precision.
 * @throws {TypeError} For wrong types, ranks, lengths or an unknown layout.
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, a stride that does not divide the input,
 *   zero padding (no exact formula: use {@linkcode operatorNormBounds}), or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example Where the norm of a smoothing filter sits
 * ```ts
 * import { spectrumSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const kernel = { data: new Float64Array([0.25, 0.5, 0.25]), shape: [1, 1, 1, 3] };
 * const s = spectrumSync(kernel, { inputShape: [1, 8] });
 * assert.deepEqual(s.shape, [1, 8, 1]);
 * assert.deepEqual(s.argmax, [0, 0]); // the constant image passes unchanged
 * assert.ok(Math.abs(s.norm - 1) < 1e-15);
 * assert.ok(s.values[4] < 1e-15);     // v = 4 (the checkerboard) is removed
 * ```
 */
export function spectrumSync(kernel: Kernel, options: SingularValuesOptions): Spectrum {
  checkOptions("spectrumSync", options, LAYER_OPTIONS);
  return toSpectrum(layerGridSync(kernel, options));
}

/**
 * Asynchronous twin of {@linkcode spectrumSync}.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`.
 * @param options `inputShape` (`[h, w]`; `[w]` or `[d, h, w]` for 1-D/3-D layers), `layout`, the layer kind
 *   (`stride`, `dilation`, `groups`, `transposed`, `padding`: see {@linkcode SingularValuesOptions}),
 *   `precision` (`"f64"` default, `"f32"`) and, for the async form, `threads`.
 * @returns The `[h, w, r]` grid, each row decreasing, with norm, argmax, backend and precision.
 * @throws {TypeError} For wrong types, ranks, lengths or an unknown layout (as a rejection).
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, a stride that does not divide the input,
 *   zero padding (no exact formula: use {@linkcode operatorNormBounds}), or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example
 * ```ts
 * import { spectrum } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const s = await spectrum({ data: new Float64Array([1, -1]), shape: [1, 1, 1, 2] }, { inputShape: [1, 2] });
 * assert.deepEqual(Array.from(s.values), [0, 2]); // v = 0: 1 − 1; v = 1: 1 + 1
 * assert.equal(s.backend, "wasm");
 * ```
 */
export async function spectrum(kernel: Kernel, options: SingularValuesOptions): Promise<Spectrum> {
  checkOptions("spectrum", options, LAYER_OPTIONS);
  return toSpectrum(await layerGrid(kernel, options));
}
