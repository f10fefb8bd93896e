/**
 * Exact singular values of convolutional layers, after Sedghi, Gupta & Long,
 * *The Singular Values of Convolutional Layers* (ICLR 2019), on a SIMD
 * WebAssembly core that runs in Deno, Bun, Node, browsers and edge runtimes.
 *
 * A 2-D convolution with circular padding and stride 1 is block-circulant:
 * its singular values are the union, over the `h·w` spatial frequencies, of
 * the singular values of small `c_out × c_in` complex matrices. That costs a
 * transform plus `h·w/2` small SVDs instead of one dense SVD of size
 * `c·h·w`.
 *
 * @example The operator norm of a layer
 * ```ts
 * import { operatorNorm, singularValues } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const data = Float64Array.from({ length: 16 * 8 * 3 * 3 }, (_, i) => Math.cos(i * 0.7) / 10);
 * const kernel = { data, shape: [16, 8, 3, 3] }; // PyTorch Conv2d(8, 16, 3).weight
 * const sv = await singularValues(kernel, { inputShape: [12, 12] });
 * assert.equal(sv.length, 12 * 12 * 8);
 * assert.equal(await operatorNorm(kernel, { inputShape: [12, 12] }), sv[0]);
 * ```
 *
 * @module
 */
export * from "./src/types.ts";
export * from "./src/errors.ts";
export * from "./src/singular_values.ts";
export * from "./src/operator_norm.ts";
export * from "./src/spectrum.ts";
export * from "./src/clip_operator_norm.ts";
export * from "./src/frequency_svd.ts";
export * from "./src/top_singular_vectors.ts";
export * from "./src/close_threads.ts";
export * from "./src/operator_norm_bounds.ts";
export * from "./src/gram_iteration.ts";
export * from "./src/power_iteration.ts";
