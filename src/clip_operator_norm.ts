/**
 * Projection of a kernel onto an operator-norm ball (Sedghi, Gupta & Long, Appendix A).
 * @module
 */
import type { Backend, Kernel, Precision, SingularValuesOptions } from "./types.ts";
import { type Layer, validateLayer } from "./_validate.ts";
import {
  alignBytes,
  ensureMemory,
  foldKernel,
  ldexp,
  MAX_WASM_BYTES,
  runEngine,
  runProblem,
  scaleExponent,
} from "./_engine.ts";
import { type CoreExports, loadWasm, loadWasmSync } from "./_wasm/loader.ts";
import { ConvergenceError } from "./errors.ts";

/** How {@linkcode clipOperatorNorm} combines the two projections over several iterations. */
export type ClipMethod = "alternating" | "dykstra";

/** Options of {@linkcode clipOperatorNorm}. */
export interface ClipOptions extends SingularValuesOptions {
  /**
   * Rounds of (clip the singular values at `maxNorm`, cut back to the kernel's
   * taps) to run at most. Default 1: exactly the paper's Appendix A.
   */
  iterations?: number;
  /**
   * Stop early once the norm is at most `maxNorm·(1 + tolerance)`. Default 0
   * (run every iteration unless the norm is already at most `maxNorm`).
   */
  tolerance?: number;
  /**
   * `"alternating"` (default; the paper's rounds, repeated) or `"dykstra"`:
   * Dykstra's algorithm, which converges to the kernel NEAREST to the input
   * (in the Frobenius norm) among those with norm ≤ `maxNorm`; plain
   * alternation converges to some point of that set, not always the nearest.
   * Dykstra keeps a correction for every frequency: `16·h·(w/2+1)·c²` bytes.
   */
  method?: ClipMethod;
}

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
}

interface Clip {
  layer: Layer;
  maxNorm: number;
  iterations: number;
  tolerance: number;
  method: ClipMethod;
}

function fail(Kind: typeof TypeError | typeof RangeError, what: string, rule: string, value: unknown): never {
  throw new Kind(`Cannot clip the operator norm as ${what} must be ${rule}: current value is ${String(value)}`);
}

function validateClip(kernel: Kernel, maxNorm: number, options: ClipOptions): Clip {
  const layer = validateLayer(kernel, options);
  if (typeof maxNorm !== "number") fail(TypeError, "maxNorm", "a number", maxNorm);
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) fail(RangeError, "maxNorm", "a positive finite number", maxNorm);
  const iterations = options.iterations ?? 1;
  if (typeof iterations !== "number" || !Number.isInteger(iterations) || iterations < 1) {
    fail(RangeError, "iterations", "a positive integer", iterations);
  }
  const tolerance = options.tolerance ?? 0;
  if (typeof tolerance !== "number" || !(tolerance >= 0) || !Number.isFinite(tolerance)) {
    fail(RangeError, "tolerance", "a finite number ≥ 0", tolerance);
  }
  const method = options.method ?? "alternating";
  if (method !== "alternating" && method !== "dykstra") {
    fail(TypeError, "method", `"alternating" or "dykstra"`, JSON.stringify(method));
  }
  if (layer.kh > layer.h || layer.kw > layer.w) {
    throw new RangeError(
      `Cannot clip the operator norm as the kernel's taps must fit the input (wrapped taps have no place to go back to): current value is kernel ${layer.kh}×${layer.kw} on inputShape [${layer.h}, ${layer.w}]`,
    );
  }
  return { layer, maxNorm, iterations, tolerance, method };
}

interface RoundPlan {
  nrows: number;
  kPtr: number;
  kOut: number;
  tr: number;
  ti: number;
  twWork: number;
  clipWork: number;
  sv: number;
  corr: number;
  corrLen: number[];
  end: number;
}

function planRound(core: CoreExports, layer: Layer, dykstra: boolean): RoundPlan {
  const { cOut, cIn, kh, kw, h, w } = layer;
  const nrows = cOut * cIn * kh;
  const r = Math.min(cOut, cIn);
  const ld = core.lead_dim(Math.max(cOut, cIn));
  const nvAll = Math.floor(w / 2) + 1;
  const kPtr = alignBytes(core.heap_base());
  const kOut = alignBytes(kPtr + nrows * kw * 8);
  const tr = alignBytes(kOut + nrows * kw * 8);
  const ti = alignBytes(tr + nrows * 8);
  const twWork = alignBytes(ti + nrows * 8);
  const twBytes = core.transform_w_work_bytes(nrows, kw, w, 1);
  const clipWork = alignBytes(twWork + twBytes);
  const clipBytes = core.clip_column_work_bytes(cOut, cIn, kh);
  const sv = alignBytes(clipWork + Math.max(clipBytes, 0));
  const corr = alignBytes(sv + h * r * 8);
  const corrLen: number[] = [];
  for (let v = 0; v < nvAll; v++) {
    const nu = v === 0 || 2 * v === w ? Math.floor(h / 2) + 1 : h;
    corrLen.push(dykstra ? nu * 2 * ld * r : 0);
  }
  const end = alignBytes(corr + Math.max(...corrLen) * 8);
  const corrTotal = corrLen.reduce((a, b) => a + b, 0) * 8;
  if (clipBytes < 0 || end > MAX_WASM_BYTES || corrTotal > 2 ** 31) {
    throw new RangeError(
      `Cannot clip the operator norm as the working memory must fit in 4 GiB of wasm memory (and Dykstra's corrections in 2 GiB): current value is ${
        clipBytes < 0 ? "over 2 GiB per frequency" : `${(end / 2 ** 30).toFixed(2)} GiB + ${(corrTotal / 2 ** 30).toFixed(2)} GiB`
      } (c_out ${cOut}, c_in ${cIn}, kernel ${kh}×${kw}, inputShape [${h}, ${w}])`,
    );
  }
  return { nrows, kPtr, kOut, tr, ti, twWork, clipWork, sv, corr, corrLen, end };
}

/**
 * One round on the scaled OIHW kernel `k`: clip every frequency at `c`, cut
 * back to the taps. Returns the new kernel and the norm of `k`.
 */
function round(
  core: CoreExports,
  layer: Layer,
  p: RoundPlan,
  k: Float64Array,
  c: number,
  corr: Float64Array[] | undefined,
): { k: Float64Array; norm: number } {
  const { cOut, cIn, kh, kw, h, w } = layer;
  const r = Math.min(cOut, cIn);
  ensureMemory(core, p.end);
  new Float64Array(core.memory.buffer, p.kPtr, k.length).set(k);
  new Float64Array(core.memory.buffer, p.kOut, k.length).fill(0);
  const nvAll = Math.floor(w / 2) + 1;
  let norm = 0;
  const failed: [number, number][] = [];
  for (let v = 0; v < nvAll; v++) {
    const selfMirror = v === 0 || 2 * v === w;
    const nu = selfMirror ? Math.floor(h / 2) + 1 : h;
    core.transform_w_f64(p.kPtr, 0, p.nrows, kw, w, v, 1, p.tr, p.ti, p.twWork);
    if (corr) new Float64Array(core.memory.buffer, p.corr, corr[v].length).set(corr[v]);
    const bad = core.clip_column_f64(
      p.tr, p.ti, cOut, cIn, kh, h, kw, w, v, nu, selfMirror ? 1 : 0, c, p.kOut, p.sv, p.clipWork,
      corr ? p.corr : 0,
    );
    if (corr) corr[v].set(new Float64Array(core.memory.buffer, p.corr, corr[v].length));
    const sv = new Float64Array(core.memory.buffer, p.sv, nu * r);
    for (let u = 0; u < nu; u++) {
      const top = sv[u * r];
      if (bad > 0 && Number.isNaN(top)) failed.push([u, v]);
      if (top > norm) norm = top;
    }
  }
  if (failed.length > 0) throw new ConvergenceError(failed);
  return { k: new Float64Array(core.memory.buffer, p.kOut, k.length).slice(), norm };
}

/** Writes the scaled OIHW f64 kernel back in the caller's layout, scale and element type. */
function toCallerKernel(layer: Layer, k: Float64Array, e: number, shape: readonly number[]): Kernel {
  const { cOut, cIn, kh, kw, layout } = layer;
  const out = layer.data instanceof Float32Array ? new Float32Array(k.length) : new Float64Array(k.length);
  for (let o = 0; o < cOut; o++) {
    for (let i = 0; i < cIn; i++) {
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) {
          const dst = layout === "oihw" ? ((o * cIn + i) * kh + a) * kw + b : ((a * kw + b) * cIn + i) * cOut + o;
          out[dst] = ldexp(k[((o * cIn + i) * kh + a) * kw + b], e);
        }
      }
    }
  }
  return { data: out, shape: [...shape] };
}

function normOf(core: CoreExports, layer: Layer, data: Float32Array | Float64Array): number {
  let norm = 0;
  runEngine(core, { ...layer, data }, (_u, _v, row) => {
    if (row[0] > norm) norm = row[0];
  });
  return norm;
}

/** The norm of a scaled OIHW kernel (in the same scale). */
function scaledNorm(core: CoreExports, layer: Layer, k: Float64Array): number {
  let norm = 0;
  const { cOut, cIn, kh, kw, h, w } = layer;
  runProblem(core, { cOut, cIn, kh, kw, h, w, re: k }, (_u, _v, row) => {
    if (row[0] > norm) norm = row[0];
  });
  return norm;
}

function compute(core: CoreExports, clip: Clip, shape: readonly number[]): ClipResult {
  const { layer, maxNorm, iterations, tolerance, method } = clip;
  const common = { method, backend: "wasm" as const, precision: "f64" as const };
  const e = scaleExponent(layer.data);
  if (e === undefined) {
    return { kernel: { data: layer.data.slice(), shape: [...shape] }, normBefore: 0, normAfter: 0, iterations: 0, ...common };
  }
  const dykstra = method === "dykstra";
  const p = planRound(core, layer, dykstra);
  const corr = dykstra ? p.corrLen.map((n) => new Float64Array(n)) : undefined;
  const c = ldexp(maxNorm, -e);
  const target = c * (1 + tolerance);
  let k = foldKernel(layer, e).k;
  // Round 1 also measures the input's norm: inside the ball, nothing is to be done.
  const first = round(core, layer, p, k, c, corr);
  const normBefore = ldexp(first.norm, e);
  if (first.norm <= target) {
    const kernel = { data: layer.data.slice(), shape: [...shape] };
    return { kernel, normBefore, normAfter: normOf(core, layer, kernel.data), iterations: 0, ...common };
  }
  k = first.k;
  let done = 1;
  for (let t = 2; t <= iterations; t++) {
    if (dykstra) {
      // Dykstra's rounds clip P + correction, so their σ are not the iterate's norm: measure it.
      if (scaledNorm(core, layer, k) <= target) break;
      k = round(core, layer, p, k, c, corr).k;
    } else {
      // An alternating round measures the norm of the kernel it starts from.
      const res = round(core, layer, p, k, c, undefined);
      if (res.norm <= target) break;
      k = res.k;
    }
    done = t;
  }
  const kernel = toCallerKernel(layer, k, e, shape);
  const normAfter = normOf(core, layer, kernel.data);
  return { kernel, normBefore, normAfter, iterations: done, ...common };
}

/**
 * Projects a kernel toward the set of kernels whose layer has operator norm
 * at most `maxNorm` (the paper's regulariser, Appendix A): transform to the
 * per-frequency matrices `P(u, v)`, take each one's SVD `U·Σ·Vᴴ`, replace `Σ`
 * by `min(Σ, maxNorm)`, transform back and keep only the kernel's own
 * `k_h × k_w` taps. Only the Hermitian half of the frequencies is factorised
 * and the inverse transform pairs each frequency with its mirror, so the result
 * is real by construction.
 *
 * Clipping is the exact projection onto the operator-norm ball; cutting back
 * to `k_h × k_w` taps is the exact projection onto kernels of that size. One
 * round of both does not guarantee `normAfter ≤ maxNorm` (it typically leaves
 * 1.1–1.5 × `maxNorm`); more `iterations` alternate them, and
 * `method: "dykstra"` converges to the nearest such kernel. `normAfter` is
 * always computed from the returned kernel.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`; not modified.
 * @param maxNorm The radius of the ball, a positive finite number.
 * @param options `inputShape`, `layout`, `iterations` (default 1), `tolerance` (default 0), `method`.
 * @returns The projected kernel (same shape, layout and element type), `normBefore`, `normAfter`, `iterations`.
 * @throws {TypeError} For wrong types, ranks, lengths, an unknown layout or method.
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, `maxNorm` not positive and finite,
 *   `iterations` not a positive integer, a kernel larger than the input, or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the QR iteration of some frequency does not converge.
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
  const clip = validateClip(kernel, maxNorm, options);
  return compute(loadWasmSync(), clip, kernel.shape);
}

/**
 * Asynchronous twin of {@linkcode clipOperatorNormSync}.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`; not modified.
 * @param maxNorm The radius of the ball, a positive finite number.
 * @param options `inputShape`, `layout`, `iterations` (default 1), `tolerance` (default 0), `method`.
 * @returns The projected kernel (same shape, layout and element type), `normBefore`, `normAfter`, `iterations`.
 * @throws {TypeError} For wrong types, ranks, lengths, an unknown layout or method (as a rejection).
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, `maxNorm` not positive and finite,
 *   `iterations` not a positive integer, a kernel larger than the input, or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the QR iteration of some frequency does not converge.
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
 */
export async function clipOperatorNorm(kernel: Kernel, maxNorm: number, options: ClipOptions): Promise<ClipResult> {
  const clip = validateClip(kernel, maxNorm, options);
  return compute(await loadWasm(), clip, kernel.shape);
}

