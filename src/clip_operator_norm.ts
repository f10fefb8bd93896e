/**
 * Projection of a kernel onto an operator-norm ball (Sedghi, Gupta & Long,
 * Appendix A). The rounds, the alternating and Dykstra logic and the
 * write-back live in src/_clip/.
 * @module
 */
import type { Backend, Kernel, Precision, SimdBuild, SingularValuesOptions } from "./types.ts";
import { clip, clipSync } from "./_clip/clip.ts";
import { checkOptions, LAYER_OPTIONS } from "./_options.ts";
import type { KnownKeys } from "./_checks.ts";

/** How {@linkcode clipOperatorNorm} combines the two projections over several iterations. */
export type ClipMethod = "alternating" | "dykstra";

/**
 * Options of {@linkcode clipOperatorNorm}: the layer's (`inputShape`,
 * `layout`, `threads`), how many rounds and which method, and where to run.
 *
 * Backends: `"wasm"` (default) clips in f64 only (`precision: "f32"` is a
 * RangeError there). `"webgpu"` (async only) runs each round on the GPU in
 * f32 (`precision` defaults to `"f32"`; `"f64"` and `method: "dykstra"` are
 * RangeErrors; no adapter is an error, never a fallback): taps within
 * 1e−4·max|K| and norms within 1e−4·σ_max of wasm f64 in the tests (seen: a
 * few 1e−7). `"auto"` runs WebGPU under the rule of `singularValues` (an
 * adapter that is not a software one, `precision: "f32"`, a layer past the
 * measured crossover, and here also the alternating method and wasm on at
 * most 2 threads, as measured for clipping), else wasm in
 * f64, with the reason in {@linkcode ClipResult.skipped}.
 */
export interface ClipOptions extends SingularValuesOptions {
  /**
   * Rounds of (clip the singular values at `maxNorm`, cut back to the kernel's
   * taps) to run at most, up to 100,000. Default 1: exactly the paper's
   * Appendix A. `signal` bounds a long run's time.
   */
  iterations?: number | undefined;
  /**
   * Stop early once the norm is at most `maxNorm·(1 + tolerance)`. Default 0
   * (run every iteration unless the norm is already at most `maxNorm`).
   */
  tolerance?: number | undefined;
  /**
   * `"alternating"` (default; the paper's rounds, repeated) or `"dykstra"`:
   * Dykstra's algorithm, which converges to the kernel NEAREST to the input
   * (in the Frobenius norm) among those with norm ≤ `maxNorm`; plain
   * alternation converges to some point of that set, not always the nearest.
   * Dykstra keeps a correction for every frequency: `16·h·(w/2+1)·c²` bytes.
   * Wasm only: with `backend: "webgpu"` it is a RangeError.
   */
  method?: ClipMethod | undefined;
  /**
   * A per-output-channel factor applied after the convolution (`c_out`
   * finite, non-zero numbers), e.g. BatchNorm in inference form
   * `γ/√(var + ε)`: the composite `diag(scale)·conv` is projected onto the
   * ball and the convolution kernel that achieves it is returned (the scale
   * itself is not changed). `normBefore`/`normAfter` are then the
   * composite's norms.
   */
  scale?: ArrayLike<number> | undefined;
  /**
   * After the last round, multiply the kernel by `min(1, maxNorm/normAfter)`
   * (exact: a norm is positively homogeneous), so that the returned layer is
   * guaranteed inside the ball: `normAfter ≤ maxNorm`, for f32 kernels too.
   * Default: `true` when `tolerance` is given, else `false` (one round is the
   * paper's Appendix A as it is).
   */
  certify?: boolean | undefined;
}

/** The options of {@linkcode clipOperatorNorm}. */
const OPTIONS: KnownKeys<ClipOptions> = {
  ...LAYER_OPTIONS,
  iterations: true,
  tolerance: true,
  method: true,
  scale: true,
  certify: true,
};

const SUBJECT = "clip the operator norm";

/** The result of {@linkcode clipOperatorNorm}. */
export interface ClipResult {
  /** The projected kernel: same shape, layout and element type as the input. */
  kernel: Kernel;
  /** Operator norm of the input kernel. */
  normBefore: number;
  /** Operator norm of `kernel` as returned (computed from it, not assumed). */
  normAfter: number;
  /**
   * Rounds of clip + cut back that produced `kernel`: 0 when the input's norm
   * is already at most `maxNorm·(1 + tolerance)` (then `kernel` holds a copy
   * of the input's data).
   */
  iterations: number;
  /** The method that ran. */
  method: ClipMethod;
  /** The engine that computed the result. */
  backend: Backend;
  /** The precision of the computation (the returned kernel has the input's element type). */
  precision: Precision;
  /** The wasm build that ran (`"relaxed"`: fused multiply-adds; `"plain"` SIMD); absent on WebGPU. */
  simd?: SimdBuild | undefined;
  /**
   * Why `backend: "auto"` passed over WebGPU, and why worker threads were not
   * used where `threads` asked for them (absent when neither happened).
   */
  skipped?: { webgpu?: string; threads?: string } | undefined;
  /**
   * The input grid (one size per spatial axis) of the circular layer that was
   * projected: the layer's own for circular padding; for zero padding the
   * smallest circular grid that contains the padded layer as a submatrix
   * (`operatorNormBounds`' rule), whose norm bounds the padded layer's.
   */
  grid: number[];
  /**
   * True for circular padding: `normBefore` and `normAfter` are the layer's
   * exact norms. False for zero padding: they are certified upper bounds of
   * the zero-padded layer's norms (the norms of the circular layer on `grid`).
   */
  exact: boolean;
  /**
   * Whether the returned layer is guaranteed inside the ball: `certify` ran
   * (scaling by {@linkcode ClipResult.certifyScale}), so `normAfter ≤ maxNorm`.
   */
  certified: boolean;
  /** The factor of the certify step (1 when it did not scale, or did not run). */
  certifyScale: number;
  /**
   * With `tolerance`: whether the rounds reached `normAfter ≤ maxNorm·(1 +
   * tolerance)` before the certify step; undefined without `tolerance`.
   */
  toleranceMet?: boolean | undefined;
}

/**
 * Projects a kernel onto the set of kernels whose layer has operator norm at
 * most `maxNorm` (the paper's regulariser, Appendix A), for every layer kind
 * `singularValues` takes: stride, dilation, groups (depthwise), transposed,
 * 1-D, 2-D and 3-D, both layouts, circular or zero padding.
 *
 * One round: the layer's own frequency matrices (the phase-split ones for a
 * stride, one block per group) are factorised, their singular values clipped
 * at `maxNorm`, the result transformed back and kept on the kernel's own taps.
 * Clipping is the exact (Frobenius) projection onto the operator-norm ball;
 * keeping the taps is the exact projection onto the operators of the layer's
 * kind (where taps wrap onto each other, the returned kernel is the nearest
 * to the input that gives that operator: those taps move by equal shares).
 * One round of both does not guarantee `normAfter ≤ maxNorm` (it typically
 * leaves 1.1–1.5 × `maxNorm`); more `iterations` alternate them, and
 * `method: "dykstra"` converges to the nearest kernel inside the ball.
 * `certify` (the default when `tolerance` is given) then scales the kernel
 * into the ball, so `normAfter ≤ maxNorm` is guaranteed. `normAfter` is always
 * computed from the returned kernel.
 *
 * Zero padding has no exact frequency formula: the circular layer on the
 * smallest grid that contains the padded one (`result.grid`) is projected,
 * and `normBefore`/`normAfter` are certified upper bounds of the padded
 * layer's norms (`result.exact` is false). With `scale` (BatchNorm's
 * `γ/√(var + ε)` per output channel), the composite `diag(scale)·conv` is
 * projected and the convolution kernel returned.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`; not modified.
 * @param maxNorm The radius of the ball, a positive finite number.
 * @param options The layer's options (as `singularValues`), `iterations` (default 1), `tolerance` (default 0),
 *   `method`, `certify`, `scale`, `backend` (`"wasm"` or `"auto"`, which runs wasm here).
 * @returns The projected kernel (same shape, layout and element type), `normBefore`, `normAfter`, `iterations`,
 *   `grid`, `exact`, `certified`, `certifyScale`, `toleranceMet`, and what ran.
 * @throws {TypeError} For wrong types, ranks, lengths, an unknown layout or method, a `scale` of the wrong length,
 *   or `backend: "webgpu"` (asynchronous: use {@linkcode clipOperatorNorm}).
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, `maxNorm` not positive and finite,
 *   `iterations` not a positive integer, a `scale` entry that is zero or not finite, sizes that do not fit in
 *   memory, or `precision: "f32"` (wasm clips in f64).
 * @throws {ConvergenceError} If the SVD of some frequency does not converge.
 *
 * @example One round, as the paper does every 100 training steps
 * ```ts
 * import { clipOperatorNormSync, operatorNormSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const data = Float32Array.from({ length: 8 * 8 * 3 * 3 }, (_, i) => Math.sin(i * 1.7) / 3);
 * const kernel = { data, shape: [8, 8, 3, 3] };
 * const res = clipOperatorNormSync(kernel, 1, { inputShape: [16, 16] });
 * assert.ok(res.normBefore > 1);
 * assert.ok(res.normAfter < res.normBefore);
 * assert.ok(res.kernel.data instanceof Float32Array);
 * assert.equal(res.normAfter, operatorNormSync(res.kernel, { inputShape: [16, 16] }));
 * ```
 */
export function clipOperatorNormSync(kernel: Kernel, maxNorm: number, options: ClipOptions): ClipResult {
  checkOptions("clipOperatorNormSync", options, OPTIONS, SUBJECT);
  return clipSync(kernel, maxNorm, options);
}

/**
 * Asynchronous twin of {@linkcode clipOperatorNormSync}, on worker threads
 * or, with `backend: "webgpu"`, on the GPU.
 *
 * On WebGPU each round runs in f32: per batch of (Hermitian-half)
 * frequencies, the transform, a one-sided Jacobi SVD with the right singular
 * vectors (`P·V = B`, `σ_j = ‖B_j‖`) and the removed part
 * `ΔP = Σ_{σ_j > c} (1 − c/σ_j)·B_j·V_jᴴ` are computed on the device; `ΔP` is
 * read back and transformed back to the kernel's taps on the CPU in f64
 * (`K' = K − cut(ΔK)`, real by construction). `normBefore` is the first
 * round's largest value and `normAfter` comes from the returned kernel through
 * the GPU singular-values path, both in f32. Taps are within 1e−4·max|K| and
 * norms within 1e−4·σ_max of the wasm f64 result (tested; seen: a few 1e−7).
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`; not modified.
 * @param maxNorm The radius of the ball, a positive finite number.
 * @param options `inputShape`, `layout`, `iterations` (default 1), `tolerance` (default 0), `method`,
 *   `backend` (`"wasm"`, `"webgpu"` or `"auto"`), `precision`, `threads`.
 * @returns The projected kernel (same shape, layout and element type), `normBefore`, `normAfter`, `iterations`,
 *   and the backend and precision that ran.
 * @throws {TypeError} For wrong types, ranks, lengths, an unknown layout, method or backend (as a rejection).
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, `maxNorm` not positive and finite,
 *   `iterations` not a positive integer, a kernel larger than the input, sizes that do not fit in memory (or in
 *   one WebGPU storage binding), `precision: "f32"` on wasm, or `precision: "f64"` or `method: "dykstra"` on
 *   WebGPU.
 * @throws {ConvergenceError} If the QR iteration (wasm) or the Jacobi sweeps (WebGPU) of some frequency do not
 *   converge.
 * @throws {Error} For `backend: "webgpu"` with no WebGPU device (the message says why), or a GPU error.
 *
 * @example A stride-2 layer, certified inside the ball
 * ```ts
 * import { clipOperatorNorm, operatorNorm } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const data = Float64Array.from({ length: 8 * 4 * 3 * 3 }, (_, i) => Math.cos(i * 0.9));
 * const options = { inputShape: [8, 8], stride: 2 };
 * const res = await clipOperatorNorm({ data, shape: [8, 4, 3, 3] }, 1, { ...options, iterations: 200, tolerance: 1e-6 });
 * assert.ok(res.certified && res.normAfter <= 1);
 * assert.equal(res.normAfter, await operatorNorm(res.kernel, options));
 * ```
 *
 * @example Alternate until the norm is within 1e-3 of the radius
 * ```ts
 * import { clipOperatorNorm } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const data = Float64Array.from({ length: 4 * 4 * 3 * 3 }, (_, i) => Math.cos(i * 0.9));
 * const res = await clipOperatorNorm({ data, shape: [4, 4, 3, 3] }, 1, {
 *   inputShape: [8, 8], iterations: 500, tolerance: 1e-3,
 * });
 * assert.ok(res.normAfter <= 1.001);
 * ```
 *
 * @example On WebGPU in f32, where an adapter exists
 * ```ts
 * import { clipOperatorNorm } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const data = Float32Array.from({ length: 8 * 6 * 3 * 3 }, (_, i) => Math.sin(i * 0.7) / 2);
 * const kernel = { data, shape: [8, 6, 3, 3] };
 * const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
 * if (gpu && await gpu.requestAdapter()) {
 *   const res = await clipOperatorNorm(kernel, 1, { inputShape: [8, 8], backend: "webgpu" });
 *   assert.equal(res.backend, "webgpu");
 *   assert.equal(res.precision, "f32");
 *   assert.ok(res.kernel.data instanceof Float32Array);
 *   assert.ok(res.normAfter < res.normBefore);
 * } else {
 *   // no adapter: an explicit "webgpu" is an error, never a silent fallback
 *   await assert.rejects(clipOperatorNorm(kernel, 1, { inputShape: [8, 8], backend: "webgpu" }));
 * }
 * ```
 */
export async function clipOperatorNorm(kernel: Kernel, maxNorm: number, options: ClipOptions): Promise<ClipResult> {
  checkOptions("clipOperatorNorm", options, OPTIONS, SUBJECT);
  return await clip(kernel, maxNorm, options);
}
