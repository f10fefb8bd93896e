/**
 * Projection of a kernel onto an operator-norm ball (Sedghi, Gupta & Long, Appendix A).
 * @module
 */
import { requireWasm } from "./_webgpu/choose.ts";
import type { Backend, Kernel, Precision, SingularValuesOptions } from "./types.ts";
import { type Layer, validateLayer } from "./_validate.ts";
import {
  alignBytes,
  ensureMemory,
  foldKernel,
  ldexp,
  MAX_WASM_BYTES,
  layerProblem,
  type Problem,
  runEngine,
  runProblem,
  runProblemThreaded,
  scaleExponent,
} from "./_engine.ts";
import { resolvePool, validateRunOptions } from "./_run_options.ts";
import { type Pool, runJobs } from "./_threads/pool.ts";
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
  threads: number | undefined;
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
  const { precision, threads } = validateRunOptions(options);
  requireWasm(options, "clipOperatorNorm");
  if (precision !== "f64") {
    throw new RangeError(`Cannot clip the operator norm as precision must be "f64": current value is "${precision}"`);
  }
  return { layer, maxNorm, iterations, tolerance, method, threads };
}

interface RoundPlan {
  nrows: number;
  nvAll: number;
  counter: number;
  kPtr: number;
  tr: number;
  ti: number;
  twWork: number;
  clipWork: number;
  clipStride: number;
  kOut: number;
  kStride: number;
  sv: number;
  svStride: number;
  corr: number[];
  corrLen: number[];
  end: number;
}

/**
 * Lays out a round: the kernel, every column's transform, and per column its
 * own kernel accumulator, singular values and (Dykstra) correction, so the
 * columns can run in any order on any thread; `workers` scratch areas.
 */
function planRound(core: CoreExports, layer: Layer, dykstra: boolean, workers: number): RoundPlan {
  const { cOut, cIn, kh, kw, h, w } = layer;
  const nrows = cOut * cIn * kh;
  const r = Math.min(cOut, cIn);
  const ld = core.lead_dim(Math.max(cOut, cIn));
  const nvAll = Math.floor(w / 2) + 1;
  const counter = alignBytes(core.heap_base());
  const kPtr = counter + 16;
  const tr = alignBytes(kPtr + nrows * kw * 8);
  const ti = alignBytes(tr + nrows * nvAll * 8);
  const twWork = alignBytes(ti + nrows * nvAll * 8);
  const twBytes = core.transform_w_work_bytes(nrows, kw, w, nvAll);
  const clipWork = alignBytes(twWork + twBytes);
  const clipBytes = core.clip_column_work_bytes(cOut, cIn, kh);
  const clipStride = alignBytes(Math.max(clipBytes, 0));
  const kOut = alignBytes(clipWork + clipStride * workers);
  const kStride = alignBytes(nrows * kw * 8);
  const sv = kOut + kStride * nvAll;
  const svStride = alignBytes(h * r * 8);
  let at = sv + svStride * nvAll;
  const corr: number[] = [];
  const corrLen: number[] = [];
  for (let v = 0; v < nvAll; v++) {
    const nu = v === 0 || 2 * v === w ? Math.floor(h / 2) + 1 : h;
    corrLen.push(dykstra ? nu * 2 * ld * r : 0);
    corr.push(at);
    at = alignBytes(at + corrLen[v] * 8);
  }
  const end = at;
  if (clipBytes < 0 || end > MAX_WASM_BYTES) {
    throw new RangeError(
      `Cannot clip the operator norm as the working memory must fit in 4 GiB of wasm memory: current value is ${
        clipBytes < 0 ? "over 2 GiB per frequency" : `${(end / 2 ** 30).toFixed(2)} GiB`
      } (c_out ${cOut}, c_in ${cIn}, kernel ${kh}×${kw}, inputShape [${h}, ${w}])`,
    );
  }
  return {
    nrows, nvAll, counter, kPtr, tr, ti, twWork, clipWork, clipStride, kOut, kStride, sv, svStride, corr, corrLen, end,
  };
}

/** Runs clip_column jobs (arguments without the scratch pointer) and returns the sum of their statuses. */
type Exec = (jobs: number[][], p: RoundPlan) => number | Promise<number>;

/** Everything a round needs: the core whose memory holds the plan, and how its columns run. */
interface RoundEngine {
  core: CoreExports;
  p: RoundPlan;
  exec: Exec;
  /** Norm of a scaled OIHW kernel (values only). */
  norm(k: Float64Array): number | Promise<number>;
}

/** A round's columns as jobs, after transforming every column on the calling thread. */
function roundJobs(e: RoundEngine, layer: Layer, k: Float64Array, c: number, corr: Float64Array | undefined): number[][] {
  const { core, p } = e;
  const { cOut, cIn, kh, kw, h, w } = layer;
  ensureMemory(core, p.end);
  const mem = new Float64Array(core.memory.buffer);
  mem.set(k, p.kPtr / 8);
  mem.fill(0, p.kOut / 8, (p.kOut + p.kStride * p.nvAll) / 8);
  if (corr) mem.set(corr, p.corr[0] / 8);
  core.transform_w_f64(p.kPtr, 0, p.nrows, kw, w, 0, p.nvAll, p.tr, p.ti, p.twWork);
  const jobs: number[][] = [];
  for (let v = 0; v < p.nvAll; v++) {
    const selfMirror = v === 0 || 2 * v === w;
    const nu = selfMirror ? Math.floor(h / 2) + 1 : h;
    const off = v * p.nrows * 8;
    jobs.push([
      p.tr + off, p.ti + off, cOut, cIn, kh, h, kw, w, v, nu, selfMirror ? 1 : 0, c,
      p.kOut + v * p.kStride, p.sv + v * p.svStride, corr ? p.corr[v] : 0,
    ]);
  }
  return jobs;
}

/**
 * Gathers a round: the new kernel is the sum of the columns' accumulators in
 * column order (the same additions whatever thread ran which column), the
 * norm is the largest singular value seen, the correction is copied back.
 */
function roundResult(
  e: RoundEngine,
  layer: Layer,
  bad: number,
  corr: Float64Array | undefined,
): { k: Float64Array; norm: number } {
  const { core, p } = e;
  const { cOut, cIn, kw, h, w } = layer;
  const r = Math.min(cOut, cIn);
  const mem = new Float64Array(core.memory.buffer);
  const len = p.nrows * kw;
  const k = new Float64Array(len);
  let norm = 0;
  const failed: [number, number][] = [];
  for (let v = 0; v < p.nvAll; v++) {
    const base = (p.kOut + v * p.kStride) / 8;
    for (let i = 0; i < len; i++) k[i] += mem[base + i];
    const nu = v === 0 || 2 * v === w ? Math.floor(h / 2) + 1 : h;
    for (let u = 0; u < nu; u++) {
      const top = mem[(p.sv + v * p.svStride) / 8 + u * r];
      if (bad > 0 && Number.isNaN(top)) failed.push([u, v]);
      if (top > norm) norm = top;
    }
  }
  if (failed.length > 0) throw new ConvergenceError(failed);
  if (corr) corr.set(mem.subarray(p.corr[0] / 8, p.corr[0] / 8 + corr.length));
  return { k, norm };
}

/** What the clipping loop asks its driver for. */
type Request =
  | { kind: "round"; k: Float64Array; corr: Float64Array | undefined }
  | { kind: "norm"; k: Float64Array };

/**
 * The iteration, independent of how rounds run: yields requests, receives
 * `{ k, norm }` for a round (norm of the kernel it started from) or a number
 * for a norm. Returns the final scaled kernel (undefined: the input as it is),
 * the rounds run and the input's scaled norm.
 */
function* clipLoop(
  clip: Clip,
  k0: Float64Array,
  corrLength: number,
  target: number,
): Generator<Request, { k: Float64Array | undefined; done: number; norm0: number }, unknown> {
  const dykstra = clip.method === "dykstra";
  const corr = dykstra ? new Float64Array(corrLength) : undefined;
  // Round 1 also measures the input's norm: inside the ball, nothing is to be done.
  const first = (yield { kind: "round", k: k0, corr }) as { k: Float64Array; norm: number };
  if (first.norm <= target) return { k: undefined, done: 0, norm0: first.norm };
  let k = first.k;
  let done = 1;
  for (let t = 2; t <= clip.iterations; t++) {
    if (dykstra) {
      // Dykstra's rounds clip P + correction, so their σ are not the iterate's norm: measure it.
      if (((yield { kind: "norm", k }) as number) <= target) break;
      k = ((yield { kind: "round", k, corr }) as { k: Float64Array }).k;
    } else {
      // An alternating round measures the norm of the kernel it starts from.
      const res = (yield { kind: "round", k, corr: undefined }) as { k: Float64Array; norm: number };
      if (res.norm <= target) break;
      k = res.k;
    }
    done = t;
  }
  return { k, done, norm0: first.norm };
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

/** The clipping problem after validation: the scale, the scaled kernel and the scaled radius. */
interface Setup {
  e: number;
  k0: Float64Array;
  c: number;
  target: number;
}

function setup(clip: Clip): Setup | undefined {
  const e = scaleExponent(clip.layer.data);
  if (e === undefined) return undefined;
  const c = ldexp(clip.maxNorm, -e);
  return { e, k0: foldKernel(clip.layer, e).k, c, target: c * (1 + clip.tolerance) };
}

function result(
  clip: Clip,
  shape: readonly number[],
  s: Setup | undefined,
  out: { k: Float64Array | undefined; done: number; norm0: number },
  normAfter: (data: Float32Array | Float64Array) => number,
): ClipResult {
  const common = { method: clip.method, backend: "wasm" as const, precision: "f64" as const };
  const kernel = s && out.k
    ? toCallerKernel(clip.layer, out.k, s.e, shape)
    : { data: clip.layer.data.slice(), shape: [...shape] };
  const normBefore = s ? ldexp(out.norm0, s.e) : 0;
  return { kernel, normBefore, normAfter: s ? normAfter(kernel.data) : 0, iterations: out.done, ...common };
}

function maxOf(norm: number, row: Float64Array): number {
  return row[0] > norm ? row[0] : norm;
}

function scaledProblem(layer: Layer, k: Float64Array): Problem {
  const { cOut, cIn, kh, kw, h, w } = layer;
  return { cOut, cIn, kh, kw, h, w, re: k };
}

function computeSync(core: CoreExports, clip: Clip, shape: readonly number[]): ClipResult {
  const s = setup(clip);
  const { layer } = clip;
  const normOfData = (data: Float32Array | Float64Array) => {
    let norm = 0;
    runEngine(core, { ...layer, data }, (_u, _v, row) => norm = maxOf(norm, row));
    return norm;
  };
  if (!s) return result(clip, shape, s, { k: undefined, done: 0, norm0: 0 }, normOfData);
  const p = planRound(core, layer, clip.method === "dykstra", 1);
  const engine: RoundEngine = {
    core,
    p,
    exec: (jobs) => {
      let bad = 0;
      for (const a of jobs) {
        bad += core.clip_column_f64(
          a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], p.clipWork, a[14],
        );
      }
      return bad;
    },
    norm: (k) => {
      let norm = 0;
      runProblem(core, scaledProblem(layer, k), (_u, _v, row) => norm = maxOf(norm, row));
      return norm;
    },
  };
  const loop = clipLoop(clip, s.k0, p.corrLen.reduce((a, b) => a + b, 0), s.target);
  let step = loop.next();
  while (!step.done) {
    const req = step.value;
    if (req.kind === "norm") {
      step = loop.next(engine.norm(req.k));
    } else {
      const bad = engine.exec(roundJobs(engine, layer, req.k, s.c, req.corr), p) as number;
      step = loop.next(roundResult(engine, layer, bad, req.corr));
    }
  }
  return result(clip, shape, s, step.value, normOfData);
}

async function computeThreaded(pool: Pool, clip: Clip, shape: readonly number[]): Promise<ClipResult> {
  const s = setup(clip);
  const { layer } = clip;
  const core = pool.core;
  const threadedNorm = async (prob: Problem) => {
    let norm = 0;
    await runProblemThreaded(pool, prob, (_u, _v, row) => norm = maxOf(norm, row));
    return norm;
  };
  if (!s) return result(clip, shape, s, { k: undefined, done: 0, norm0: 0 }, () => 0);
  const p = planRound(core, layer, clip.method === "dykstra", pool.size);
  const engine: RoundEngine = {
    core,
    p,
    exec: (jobs) =>
      runJobs(pool, { kind: "clip", counter: p.counter, workBase: p.clipWork, workStride: p.clipStride, jobs }),
    norm: (k) => threadedNorm(scaledProblem(layer, k)),
  };
  const loop = clipLoop(clip, s.k0, p.corrLen.reduce((a, b) => a + b, 0), s.target);
  let step = loop.next();
  while (!step.done) {
    const req = step.value;
    if (req.kind === "norm") {
      step = loop.next(await engine.norm(req.k));
    } else {
      const bad = await engine.exec(roundJobs(engine, layer, req.k, s.c, req.corr), p);
      step = loop.next(roundResult(engine, layer, bad, req.corr));
    }
  }
  // The final norm is measured on the kernel as returned (its own layout and element type).
  const res = result(clip, shape, s, step.value, () => 0);
  res.normAfter = await threadedNorm(layerProblem({ ...layer, data: res.kernel.data }));
  return res;
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
  return computeSync(loadWasmSync(), clip, kernel.shape);
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
  const pool = await resolvePool(clip.threads);
  return pool ? computeThreaded(pool, clip, kernel.shape) : computeSync(await loadWasm(), clip, kernel.shape);
}

