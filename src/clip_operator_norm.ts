/**
 * Projection of a kernel onto an operator-norm ball (Sedghi, Gupta & Long, Appendix A).
 * @module
 */
import { type BackendOption, chooseBackend, validateBackend } from "./_webgpu/choose.ts";
import { getGpu, type GpuContext } from "./_webgpu/device.ts";
import { createGpuClipper } from "./_webgpu/clip.ts";
import { runProblemWebGPU } from "./_webgpu/run.ts";
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
  scaleInPlace,
} from "./_engine.ts";
import { resolvePool, validateRunOptions } from "./_run_options.ts";
import { type Pool, runJobs, withPool } from "./_threads/pool.ts";
import { type CoreExports, loadWasm, loadWasmSync } from "./_wasm/loader.ts";
import { ConvergenceError } from "./errors.ts";

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
 * measured crossover, and here also the alternating method), else wasm in
 * f64, with the reason in {@linkcode ClipResult.skipped}.
 */
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
   * Wasm only: with `backend: "webgpu"` it is a RangeError.
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
  /** Why `backend: "auto"` passed over WebGPU (absent when it did not). */
  skipped?: { webgpu?: string };
}

interface Clip {
  threads: number | undefined;
  /** The `backend` option (default `"wasm"`). */
  backend: BackendOption;
  /** The `precision` option as given (undefined: the backend's own, f64 on wasm and f32 on WebGPU). */
  precision: Precision | undefined;
  layer: Layer;
  maxNorm: number;
  iterations: number;
  tolerance: number;
  method: ClipMethod;
}

function fail(Kind: typeof TypeError | typeof RangeError, what: string, rule: string, value: unknown): never {
  throw new Kind(`Cannot clip the operator norm as ${what} must be ${rule}: current value is ${String(value)}`);
}

function validateClip(kernel: Kernel, maxNorm: number, options: ClipOptions, sync: boolean): Clip {
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
  const backend = validateBackend(options.backend) ?? "wasm";
  const asked = options.precision === undefined ? undefined : precision;
  if (backend === "webgpu") {
    if (sync) {
      throw new TypeError(
        'Cannot clip the operator norm synchronously as backend "webgpu" is asynchronous (use clipOperatorNorm): current value is "webgpu"',
      );
    }
    if (asked === "f64") {
      throw new RangeError(
        'Cannot clip the operator norm as backend "webgpu" computes in f32 (WGSL has no f64): current value is precision "f64"',
      );
    }
    if (method === "dykstra") {
      throw new RangeError(
        'Cannot clip the operator norm as method must be "alternating" on backend "webgpu" (Dykstra\'s per-frequency corrections run on wasm only): current value is "dykstra"',
      );
    }
  } else if (backend === "wasm" && precision !== "f64") {
    throw new RangeError(
      `Cannot clip the operator norm as precision must be "f64" on backend "wasm" (f32 clipping runs on backend "webgpu"): current value is "${precision}"`,
    );
  }
  return { layer, maxNorm, iterations, tolerance, method, threads, backend, precision: asked };
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

/**
 * Writes the scaled OIHW f64 kernel back in the caller's layout, scale and
 * element type. `k` is scaled in place (it is not used afterwards); f32
 * output rounds the scaled value once.
 */
function toCallerKernel(layer: Layer, k: Float64Array, e: number, shape: readonly number[]): Kernel {
  const { cOut, cIn, kh, kw, layout } = layer;
  const out = layer.data instanceof Float32Array ? new Float32Array(k.length) : new Float64Array(k.length);
  scaleInPlace(k, e);
  if (layout === "oihw") {
    out.set(k);
    return { data: out, shape: [...shape] };
  }
  const taps = kh * kw;
  for (let oi = 0; oi < cOut * cIn; oi++) {
    const o = Math.floor(oi / cIn), i = oi % cIn;
    for (let t = 0; t < taps; t++) out[(t * cIn + i) * cOut + o] = k[oi * taps + t];
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
  ran: { backend: Backend; precision: Precision } = { backend: "wasm", precision: "f64" },
): ClipResult {
  const common = { method: clip.method, ...ran };
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
      // A round lays out, runs and reads back its columns with the pool to itself.
      const round = await withPool(pool, async () => {
        const bad = await engine.exec(roundJobs(engine, layer, req.k, s.c, req.corr), p);
        return roundResult(engine, layer, bad, req.corr);
      });
      step = loop.next(round);
    }
  }
  // The final norm is measured on the kernel as returned (its own layout and element type).
  const res = result(clip, shape, s, step.value, () => 0);
  res.normAfter = await threadedNorm(layerProblem({ ...layer, data: res.kernel.data }));
  return res;
}

/**
 * The rounds on WebGPU, in f32 (src/_webgpu/clip.ts): the same loop as wasm
 * (alternating only), each round one pass over the frequencies on the
 * device; `normAfter` from the returned kernel through the GPU
 * singular-values path.
 */
async function computeWebGPU(gpu: GpuContext, clip: Clip, shape: readonly number[]): Promise<ClipResult> {
  const s = setup(clip);
  const { layer } = clip;
  const ran = { backend: "webgpu", precision: "f32" } as const;
  if (!s) return result(clip, shape, s, { k: undefined, done: 0, norm0: 0 }, () => 0, ran);
  const { cOut, cIn, kh, kw, h, w } = layer;
  const clipper = await createGpuClipper(gpu, { cOut, cIn, kh, kw, h, w });
  let out;
  try {
    const loop = clipLoop(clip, s.k0, 0, s.target);
    let step = loop.next();
    while (!step.done) {
      // Only alternating rounds reach here (Dykstra is refused on WebGPU), so every request is a round.
      step = loop.next(await clipper.round(step.value.k, s.c));
    }
    out = step.value;
  } finally {
    clipper.destroy();
  }
  const res = result(clip, shape, s, out, () => 0, ran);
  let norm = 0;
  await runProblemWebGPU(gpu, layerProblem({ ...layer, data: res.kernel.data }), (_u, _v, row) => {
    norm = maxOf(norm, row);
  });
  res.normAfter = norm;
  return res;
}

/** Where an async clip runs: WebGPU (explicit, or chosen by `"auto"`), else wasm with the reason. */
async function chooseClipBackend(
  clip: Clip,
): Promise<{ gpu: GpuContext } | { gpu?: undefined; skipped?: string }> {
  if (clip.backend === "webgpu") {
    const gpu = await getGpu();
    if ("reason" in gpu) {
      throw new Error(
        `Cannot clip the operator norm as backend "webgpu" needs a WebGPU device: current value is ${gpu.reason}`,
      );
    }
    return { gpu };
  }
  if (clip.backend !== "auto") return {};
  if (clip.precision === "f32" && clip.method === "dykstra") {
    return { skipped: "Dykstra's method runs on wasm only" };
  }
  const c = await chooseBackend("auto", clip.precision, [layerProblem(clip.layer)]);
  return c.backend === "webgpu" ? { gpu: c.gpu } : { skipped: c.skipped.webgpu };
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
 * @param options `inputShape`, `layout`, `iterations` (default 1), `tolerance` (default 0), `method`,
 *   `backend` (`"wasm"` or `"auto"`, which runs wasm here).
 * @returns The projected kernel (same shape, layout and element type), `normBefore`, `normAfter`, `iterations`.
 * @throws {TypeError} For wrong types, ranks, lengths, an unknown layout or method, or `backend: "webgpu"`
 *   (asynchronous: use {@linkcode clipOperatorNorm}).
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, `maxNorm` not positive and finite,
 *   `iterations` not a positive integer, a kernel larger than the input, sizes that do not fit in memory, or
 *   `precision: "f32"` (wasm clips in f64).
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
  const clip = validateClip(kernel, maxNorm, options, true);
  const res = computeSync(loadWasmSync(), clip, kernel.shape);
  if (clip.backend === "auto") res.skipped = { webgpu: "a synchronous call (WebGPU is asynchronous)" };
  return res;
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
  const clip = validateClip(kernel, maxNorm, options, false);
  const where = await chooseClipBackend(clip);
  if (where.gpu) return computeWebGPU(where.gpu, clip, kernel.shape);
  const pool = await resolvePool(clip.threads);
  const res = pool ? await computeThreaded(pool, clip, kernel.shape) : computeSync(await loadWasm(), clip, kernel.shape);
  if (where.skipped !== undefined) res.skipped = { webgpu: where.skipped };
  return res;
}

