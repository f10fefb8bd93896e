/**
 * The wasm backend: computes a problem's per-frequency singular values
 * (src/_problem/problem.ts) on the wasm core. It scales the kernel by a
 * power of two, walks the frequencies column by column (only the Hermitian
 * half for a real kernel), transforms a block of columns at a time and runs
 * each column's SVDs as {@linkcode SvdJob}s — on the calling thread, or
 * spread over the worker pool — then hands each frequency's decreasing values
 * to the sink, in the same order and with the same bits either way.
 * @module
 */
import { Arena, type CoreExports, JOB_KIND, svdColumn, type SvdJob } from "./abi.ts";
import {
  forEachFrequency,
  isDiagonal,
  ldexp,
  powerOfTwo,
  type Problem,
  scaleExponent,
  scaleInPlace,
  type Sink,
  valuesPerFrequency,
  visitedFrequencies,
  zeroProblem,
} from "../_problem/problem.ts";
import { ConvergenceError } from "../errors.ts";
import { withSpareCore } from "./loader.ts";
import { commits, MIN_RADIX } from "./sort.ts";
import { type Pool, runJobs, withPool } from "../_threads/pool.ts";

/** Budget for one block of transformed columns. */
const BLOCK_BYTES = 32 * 2 ** 20;

/** Memory plan of one problem, in bytes from the heap base. */
interface Plan {
  arena: Arena;
  nrows: number;
  nv: number;
  nvAll: number;
  counter: number;
  kPtr: number;
  kiPtr: number;
  tr: number;
  ti: number;
  twWork: number;
  colWork: number;
  colStride: number;
  out: number;
  outStride: number;
  stage: number;
}

/**
 * Lays out one problem's buffers: with `workers` > 0 every column of a block
 * gets its own output rows and every worker its own scratch; with 0 one
 * column at a time runs on the calling thread.
 */
function plan(core: CoreExports, p: Problem, workers: number): Plan {
  const { cOut, cIn, kh, kw, h, w } = p;
  const groups = p.groups ?? 1;
  const complex = p.im !== undefined;
  const nrows = groups * cOut * cIn * kh;
  const nvAll = complex ? w : Math.floor(w / 2) + 1;
  const outRow = h * valuesPerFrequency(p) * 8;
  const perColumn = nrows * 16 + (workers > 0 ? outRow : 0);
  const nv = Math.max(1, Math.min(nvAll, Math.floor(BLOCK_BYTES / perColumn)));
  const arena = new Arena(core);
  const counter = arena.bytes(16);
  const kPtr = arena.f64(nrows * kw);
  const kiPtr = arena.f64(complex ? nrows * kw : 0);
  const tr = arena.f64(nrows * nv);
  const ti = arena.f64(nrows * nv);
  const twWork = arena.bytes(Math.max(
    core.transform_w_work_bytes(nrows, kw, w, nv),
    core.transform_w_work_bytes(nrows, kw, w, nvAll % nv || nv),
  ));
  const nus = complex ? [h] : [h, Math.floor(h / 2) + 1];
  const colStride =
    Math.ceil(Math.max(...nus.map((nu) => core.svd_column_work_bytes(cOut, cIn, kh, h, nu, groups))) / 16) * 16;
  const colWork = arena.bytes(colStride * Math.max(workers, 1));
  const outStride = Math.ceil(outRow / 16) * 16;
  const out = arena.bytes(outStride * (workers > 0 ? nv : 1));
  // The kernel as given, staged for tap_major_f64 (see writeTapMajor).
  const stage = arena.f64(nrows * kw);
  arena.commit(
    "compute singular values",
    `c_out ${cOut}, c_in ${cIn}, folded kernel ${kh}×${kw}, grid [${h}, ${w}]${groups > 1 ? `, ${groups} groups` : ""}`,
  );
  return { arena, nrows, nv, nvAll, counter, kPtr, kiPtr, tr, ti, twWork, colWork, colStride, out, outStride, stage };
}

/**
 * Copies one part (re or im) of a problem's kernel, `groups·cOut·cIn·kh`
 * rows of `kw` taps, into the core's memory at byte offset `at`, scaled by
 * 2^−e, with the rows in svd_column's tap-major order (the core's
 * tap_major_f64, from a staging copy at byte offset `stage`: a JS loop
 * would run interpreted on a layer's first calls).
 */
function writeTapMajor(
  core: CoreExports,
  at: number,
  stage: number,
  k: Float32Array | Float64Array,
  prob: Problem,
  e: number,
): void {
  new Float64Array(core.memory.buffer, stage, k.length).set(k);
  // 2^−e is a normal number for |e| ≤ 1000: one exact multiply (ldexp's bits).
  const direct = Math.abs(e) <= 1000;
  core.tap_major_f64(stage, at, prob.groups ?? 1, prob.cOut, prob.cIn, prob.kh, prob.kw, direct ? 2 ** -e : 1);
  if (!direct) scaleInPlace(new Float64Array(core.memory.buffer, at, k.length), -e);
}

/** A problem laid out in a core's memory, ready for its column blocks. */
class Run {
  readonly p: Plan;
  readonly failed: [number, number][] = [];
  constructor(readonly core: CoreExports, readonly prob: Problem, readonly e: number, workers: number) {
    this.p = plan(core, prob, workers);
    writeTapMajor(core, this.p.kPtr, this.p.stage, prob.re, prob, e);
    if (prob.im) writeTapMajor(core, this.p.kiPtr, this.p.stage, prob.im, prob, e);
  }
  get complex(): boolean {
    return this.prob.im !== undefined;
  }
  /** The column blocks: [v0, nv]. */
  *blocks(): Generator<[number, number]> {
    for (let v0 = 0; v0 < this.p.nvAll; v0 += this.p.nv) yield [v0, Math.min(this.p.nv, this.p.nvAll - v0)];
  }
  transform(v0: number, nv: number): void {
    const { p, prob } = this;
    this.core.transform_w_f64(
      p.kPtr,
      this.complex ? p.kiPtr : 0,
      p.nrows,
      prob.kw,
      prob.w,
      v0,
      nv,
      p.tr,
      p.ti,
      p.twWork,
    );
  }
  /** The job of frequencies u0 … u0 + nu − 1 of column v of the block at v0, writing rows to `out`. */
  job(v0: number, v: number, u0: number, nu: number, out: number): SvdJob {
    const { p, prob } = this;
    const off = (v - v0) * p.nrows * 8;
    const { cOut, cIn, kh, h } = prob;
    return { tr: p.tr + off, ti: p.ti + off, cOut, cIn, kh, h, u0, nu, out, groups: prob.groups ?? 1 };
  }
  /** Bytes of one frequency's values in the output rows. */
  get rowBytes(): number {
    return valuesPerFrequency(this.prob) * 8;
  }
  /**
   * Column v's frequencies as [u0, nu] jobs for `workers` threads: whole
   * columns where the column uses the FFT along u (its rounding depends on
   * the range), else chunks small enough that the block's jobs number about
   * 32 per worker (the last job to finish holds the others up by about 1/32
   * of the block), but each worth at least ~0.5 ms of bidiagonalisation
   * ((32/3)·n²·m flops at 10 GFLOP/s), as many tiny jobs cost more than they
   * balance. Direct sums make every u independent: the values are the same
   * bits.
   */
  chunks(v: number, nvBlock: number, workers: number): [number, number][] {
    const nu = this.nu(v);
    const { kh, h } = this.prob;
    if (this.core.use_fft(kh, h, nu)) return [[0, nu]];
    const perFrequency = bidiagSeconds(this.prob);
    const minSize = Math.ceil(5e-4 / Math.max(perFrequency, 1e-9));
    const size = Math.max(
      1,
      Math.ceil((nvBlock * h) / (32 * workers)),
      Math.min(minSize, Math.ceil((nvBlock * h) / (8 * workers))),
    );
    const out: [number, number][] = [];
    for (let u0 = 0; u0 < nu; u0 += size) out.push([u0, Math.min(size, nu - u0)]);
    return out;
  }
  nu(v: number): number {
    return this.selfMirror(v) ? Math.floor(this.prob.h / 2) + 1 : this.prob.h;
  }
  selfMirror(v: number): boolean {
    return !this.complex && (v === 0 || 2 * v === this.prob.w);
  }
  /**
   * Hands column v's rows (at `out`) to the sink, scaled back in place: each
   * row is a view into the core's memory, valid only during the sink's call
   * (no per-frequency allocation; sinks copy what they keep).
   */
  emit(v: number, out: number, bad: boolean, sink: Sink): void {
    const { h } = this.prob;
    const r = valuesPerFrequency(this.prob);
    const nu = this.nu(v);
    const rows = new Float64Array(this.core.memory.buffer, out, nu * r);
    if (bad) {
      for (let u = 0; u < nu; u++) if (rows.subarray(u * r, (u + 1) * r).some(Number.isNaN)) this.failed.push([u, v]);
    }
    scaleInPlace(rows, this.e);
    const complex = this.complex, self = this.selfMirror(v);
    for (let u = 0; u < nu; u++) {
      const mirrored = complex ? false : self ? (h - u) % h !== u : true;
      sink(u, v, rows.subarray(u * r, (u + 1) * r), mirrored);
    }
  }
  finish(): void {
    if (this.failed.length > 0) throw new ConvergenceError(this.failed);
  }
}

/** The problem's scale exponent; for the zero kernel it reports zeros to the sink and returns undefined. */
function scaleOrZero(prob: Problem, sink: Sink): number | undefined {
  const e = scaleExponent(prob.re, prob.im);
  if (e === undefined) zeroProblem(prob, sink);
  return e;
}

/** Rows of up to this many values are copied into one reused array for the sink; longer ones are handed as views. */
const SHORT_ROW = 48;

/** The buffers of `diag_values_f64` for `nv` columns of a problem with 1×1 frequency matrices, laid out in `arena`. */
function diagonalLayout(
  arena: Arena,
  prob: Problem,
  nv: number,
): { k: number; out: number; tmp: number; work: number } {
  const { core } = arena;
  const groups = prob.groups ?? 1;
  const { kh, kw, h, w } = prob;
  return {
    k: arena.f64(groups * kh * kw),
    out: arena.f64(nv * h * groups),
    tmp: arena.bytes(core.diag_values_bytes(groups, kh, kw)),
    work: arena.bytes(core.diag_work_bytes(kh, kw, h, w)),
  };
}

/** The problem's kernel at `k` (laid out by diagonalLayout, committed), scaled by 2^−e. */
function writeDiagonalKernel(arena: Arena, k: number, prob: Problem, e: number): void {
  const kv = arena.view(k, prob.re.length);
  kv.set(prob.re);
  scaleInPlace(kv, -e);
}

/**
 * The columns of a problem with 1×1 frequency matrices: every group's
 * value |P_g(u, v)| from the core's `diag_values_f64` (assembly/diagonal.ts),
 * a block of columns at a time, no SVD; same order and rows as the SVD path
 * (each row sorted unless `sortedRows` is false: then in group order). Both
 * precisions take it: with no bidiagonalisation to run in f32, the f64
 * moduli are the faster and the more accurate values.
 */
function* diagonalColumns(core: CoreExports, prob: Problem, sink: Sink, sortedRows = true): Generator<void, void> {
  const e = scaleOrZero(prob, sink);
  if (e === undefined) return;
  const groups = prob.groups ?? 1;
  const { kh, kw, h, w } = prob;
  const nvAll = Math.floor(w / 2) + 1;
  const nv = Math.max(1, Math.min(nvAll, Math.floor(BLOCK_BYTES / (h * groups * 8))));
  const arena = new Arena(core);
  const { k, out, tmp, work } = diagonalLayout(arena, prob, nv);
  arena.commit("compute singular values", `${groups} groups of 1×1, kernel ${kh}×${kw}, grid [${h}, ${w}]`);
  writeDiagonalKernel(arena, k, prob, e);
  // One row handed to the sink, reused (a sink copies what it keeps): many small rows, no view each; rows of
  // more than SHORT_ROW values are handed out as views of the core's memory (a view costs less than the copy).
  const row = new Float64Array(groups);
  const views = groups > SHORT_ROW;
  // The core undoes the scaling as it stores each value (one multiply by a power of two, as scaleInPlace).
  const factor = powerOfTwo(e);
  for (let v0 = 0; v0 < nvAll; v0 += nv) {
    const nvb = Math.min(nv, nvAll - v0);
    core.diag_values_f64(k, groups, kh, kw, h, w, v0, nvb, out, tmp, work, sortedRows ? 1 : 0, factor ?? 1);
    for (let v = v0; v < v0 + nvb; v++) {
      const self = v === 0 || 2 * v === w;
      const nu = self ? Math.floor(h / 2) + 1 : h;
      const rows = arena.view(out + (v - v0) * h * groups * 8, nu * groups);
      if (factor === undefined) scaleInPlace(rows, e);
      for (let u = 0; u < nu; u++) {
        const at = u * groups;
        if (views) {
          sink(u, v, rows.subarray(at, at + groups), self ? (h - u) % h !== u : true);
          continue;
        }
        for (let j = 0; j < groups; j++) row[j] = rows[at + j];
        sink(u, v, row, self ? (h - u) % h !== u : true);
      }
      yield;
    }
  }
}

/**
 * Every value of a problem with 1×1 frequency matrices, sorted decreasing,
 * gathered and sorted in the core's memory: `diag_values_f64` over every
 * column at once (rows unsorted, as {@linkcode diagonalColumns} computes
 * them for a sorted list), each row copied to the values that stand for two
 * cells (`twice(u, v, mirrored)`, the caller's rule) or to those that stand
 * for one, then `sort_twice_desc_f64`. The same values and bits as its rows
 * handed to a sink and sorted by `sortTwiceDescending` (sort.ts), without
 * the copies through JS. Undefined where that path is needed: a one-tap or
 * zero kernel, a scale past the core's factor, fewer values than the radix
 * sort takes, or more than the core's memory holds.
 */
export function diagonalSorted(
  core: CoreExports,
  prob: Problem,
  twice: (u: number, v: number, mirrored: boolean) => boolean,
): Float64Array | undefined {
  if (!isDiagonal(prob) || (prob.kh === 1 && prob.kw === 1)) return undefined;
  const e = scaleExponent(prob.re);
  const factor = e === undefined ? undefined : powerOfTwo(e);
  if (e === undefined || factor === undefined) return undefined;
  const groups = prob.groups ?? 1;
  const { kh, kw, h, w } = prob;
  const nv = Math.floor(w / 2) + 1;
  // Runs of rows of one kind, [first value, count, twice], in the order diagonalColumns hands them out.
  const runs: [number, number, boolean][] = [];
  let na = 0, nb = 0;
  forEachFrequency(h, w, false, (u, v, mirrored) => {
    const two = twice(u, v, mirrored);
    const last = runs[runs.length - 1];
    const at = (v * h + u) * groups;
    if (last && last[2] === two && last[0] + last[1] === at) last[1] += groups;
    else runs.push([at, groups, two]);
    if (two) na += groups;
    else nb += groups;
  });
  const n = 2 * na + nb;
  if (n < MIN_RADIX) return undefined;
  const arena = new Arena(core);
  const { k, out, tmp, work } = diagonalLayout(arena, prob, nv);
  const a = arena.f64(na), b = arena.f64(nb), sorted = arena.f64(n);
  const scratch = arena.bytes(core.sort_twice_work_bytes(na, nb));
  if (!commits(arena, `${n} values`)) return undefined;
  writeDiagonalKernel(arena, k, prob, e);
  core.diag_values_f64(k, groups, kh, kw, h, w, 0, nv, out, tmp, work, 0, factor);
  const mem = new Float64Array(core.memory.buffer);
  let ta = a / 8, tb = b / 8;
  for (const [at, count, two] of runs) {
    const from = out / 8 + at;
    if (two) {
      mem.copyWithin(ta, from, from + count);
      ta += count;
    } else {
      mem.copyWithin(tb, from, from + count);
      tb += count;
    }
  }
  core.sort_twice_desc_f64(a, na, b, nb, sorted, scratch);
  return arena.view(sorted, n).slice();
}

/** {@linkcode runProblem}'s columns, one step each (the caller drives it). */
function* columns(
  core: CoreExports,
  prob: Problem,
  sink: Sink,
  precision: "f64" | "f32",
  sortedRows = true,
): Generator<void, void> {
  if (isDiagonal(prob)) return yield* diagonalColumns(core, prob, sink, sortedRows);
  const e = scaleOrZero(prob, sink);
  if (e === undefined) return;
  const run = new Run(core, prob, e, 0);
  const f32 = precision === "f32";
  for (const [v0, nv] of run.blocks()) {
    run.transform(v0, nv);
    for (let v = v0; v < v0 + nv; v++) {
      const bad = svdColumn(core, f32, run.job(v0, v, 0, run.nu(v), run.p.out), run.p.colWork);
      run.emit(v, run.p.out, bad > 0, sink);
      yield;
    }
  }
  run.finish();
}

/**
 * Computes every frequency of a problem (the Hermitian half for a real
 * kernel) on the calling thread and passes its values to `sink`. The memory
 * check happens before anything is written. With `sortedRows` false a
 * caller that gathers the values in no order lets rows come unsorted.
 */
export function runProblem(
  core: CoreExports,
  prob: Problem,
  sink: Sink,
  precision: "f64" | "f32" = "f64",
  sortedRows = true,
): void {
  for (const _ of columns(core, prob, sink, precision, sortedRows));
}

/** How often (ms) an abortable run on the calling thread lets the event loop deliver an abort. */
const YIELD_MS = 20;

/**
 * {@linkcode runProblem} that can be aborted: between columns it checks the
 * signal, and every ~20 ms of work it lets the event loop run, on an
 * instance of the core of its own (without a signal it is
 * {@linkcode runProblem} on `core`).
 */
export async function runProblemAbortable(
  core: CoreExports,
  prob: Problem,
  sink: Sink,
  precision: "f64" | "f32" = "f64",
  signal?: AbortSignal,
  sortedRows = true,
): Promise<void> {
  if (!signal) return runProblem(core, prob, sink, precision, sortedRows);
  signal.throwIfAborted();
  // The run yields to the event loop: it keeps its layout in memory of its own.
  await withSpareCore(async (own) => {
    let last = performance.now();
    for (const _ of columns(own, prob, sink, precision, sortedRows)) {
      if (performance.now() - last > YIELD_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        last = performance.now();
      }
      signal.throwIfAborted();
    }
  });
}

/**
 * {@linkcode runProblem} spread over a pool of worker threads: each block's
 * columns are jobs that the workers pull; rows are emitted in the same order
 * with the same values as on one thread.
 */
export async function runProblemThreaded(
  pool: Pool,
  prob: Problem,
  sink: Sink,
  precision: "f64" | "f32" = "f64",
  control: RunControl = {},
): Promise<void> {
  control.signal?.throwIfAborted();
  if (isDiagonal(prob)) {
    // Elementwise: less work than handing it out; it runs on the pool's core while it holds the pool.
    return withPool(pool, () => {
      for (const _ of diagonalColumns(pool.core, prob, sink, control.sortedRows ?? true));
      return Promise.resolve();
    });
  }
  const e = scaleOrZero(prob, sink);
  if (e === undefined) return;
  await withPool(pool, () => runLaidOut(pool, prob, e, sink, precision, control));
}

/** How a threaded run shares the pool: how many of its workers it uses, and what aborts it. */
export interface RunControl {
  /** Workers that take jobs (default: all the pool has). */
  workers?: number | undefined;
  /** Aborts the run between jobs; it then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** False: rows may come unsorted (for a caller that gathers the values in no order). */
  sortedRows?: boolean | undefined;
}

/** {@linkcode runProblemThreaded} once it holds the pool. */
async function runLaidOut(
  pool: Pool,
  prob: Problem,
  e: number,
  sink: Sink,
  precision: "f64" | "f32",
  control: RunControl,
): Promise<void> {
  const workers = Math.min(control.workers ?? pool.size, pool.size);
  // Small problems: the calling thread takes jobs too (one more scratch slot).
  const local = problemSeconds(prob) < LOCAL_MAX_SECONDS;
  const run = new Run(pool.core, prob, e, workers + (local ? 1 : 0));
  for (const [v0, nv] of run.blocks()) {
    control.signal?.throwIfAborted();
    run.transform(v0, nv);
    const jobs: SvdJob[] = [];
    for (let v = v0; v < v0 + nv; v++) {
      const out = run.p.out + (v - v0) * run.p.outStride;
      for (const [u0, nu] of run.chunks(v, nv, workers)) jobs.push(run.job(v0, v, u0, nu, out + u0 * run.rowBytes));
    }
    const bad = await runJobs(pool, {
      kind: precision === "f32" ? JOB_KIND.svdF32 : JOB_KIND.svdF64,
      counter: run.p.counter,
      workBase: run.p.colWork,
      workStride: run.p.colStride,
      jobs,
      workers,
      signal: control.signal,
    }, local);
    for (let v = v0; v < v0 + nv; v++) run.emit(v, run.p.out + (v - v0) * run.p.outStride, bad > 0, sink);
  }
  run.finish();
}

/**
 * Below this estimated single-thread time a threaded call lets the calling
 * thread take jobs beside the workers (so it is blocked at most about this
 * long): on calls this small, waking the workers costs as much as the work
 * they take over.
 */
export const LOCAL_MAX_SECONDS = 4e-3;

/** Rough seconds of one frequency's bidiagonalisations ((32/3)·n²·m flops per block at 10 GFLOP/s). */
function bidiagSeconds(prob: Problem): number {
  const n = Math.min(prob.cOut, prob.cIn), m = Math.max(prob.cOut, prob.cIn);
  return ((32 / 3) * n * n * m * (prob.groups ?? 1)) / 1e10;
}

/**
 * Rough single-thread seconds of a problem's frequencies: the
 * bidiagonalisation plus ~2 µs per matrix for building it and its
 * bidiagonal's values.
 */
export function problemSeconds(prob: Problem): number {
  const freqs = prob.im ? prob.h * prob.w : prob.h * (Math.floor(prob.w / 2) + 1);
  return freqs * (bidiagSeconds(prob) + 2e-6 * (prob.groups ?? 1));
}

/**
 * The largest |P_g(u, v)| of a problem with 1×1 frequency matrices: its
 * operator norm (`diag_norm_f64`). The kernel is scaled by a power of two on
 * its way into the core and the norm scaled back, exactly.
 */
export function diagonalNorm(core: CoreExports, p: Problem): number {
  const groups = p.groups ?? 1;
  const e = scaleExponent(p.re);
  if (e === undefined) return 0;
  const n = groups * p.kh * p.kw;
  const arena = new Arena(core);
  const k = arena.f64(n);
  const work = arena.bytes(core.diag_work_bytes(p.kh, p.kw, p.h, p.w));
  arena.commit(
    "compute the operator norm",
    `${groups} groups of 1×1, kernel ${p.kh}×${p.kw}, inputShape [${p.h}, ${p.w}]`,
  );
  const view = arena.view(k, n);
  view.set(p.re);
  scaleInPlace(view, -e);
  return ldexp(core.diag_norm_f64(k, groups, p.kh, p.kw, p.h, p.w, work), e);
}

/** Power steps of the per-block screen's estimates (they only order the frequencies: no bound is taken from them). */
const ESTIMATE_STEPS = 1;

/**
 * Lanczos steps of the Gram-domain screen's estimates for n × n Gram
 * matrices: n/16 from 2 to 6, and 12 from n = 192. Each costs 3/n of a
 * Cholesky test; sharper estimates make the first frequency factorised the
 * maximum more often, so that each other one is screened once. Extra steps
 * pay where a wasted factorisation weighs most: large n on few frequencies
 * (c ≥ 192 on small inputs); with many small frequencies (and the trained
 * layers' n = 3) they cost more than they save (bench/RESULTS.md, screened
 * norm).
 */
function lanczosSteps(n: number): number {
  return n >= 192 ? 12 : Math.min(6, Math.max(2, Math.round(n / 16)));
}

/** Below this many values per block (min(cOut, cIn)) the frequencies are factorised without screening. */
const SCREEN_MIN = 8;

/**
 * The operator norm of a problem (f64), exact, without every singular value:
 *
 * 1. per block of columns, a lower estimate of each frequency's σ_max
 *    (`norm_estimates_f64`: a few power steps), frequencies in decreasing
 *    order of it;
 * 2. a frequency whose estimate is below the best exact value `s` so far is
 *    skipped when `norm_below_f64` certifies σ_max < s (‖P‖_F < s, or a
 *    Cholesky factorisation of s²(1 − η)·I − PᴴP with η covering the
 *    rounding: see assembly/norm.ts); any other is factorised by
 *    `svd_column_f64` on that one frequency, the same bits as the full
 *    spectrum's, and `s` becomes the larger of the two.
 *
 * The result is the full spectrum's largest value: every skipped frequency
 * is proven below one that was factorised. Problems with 1×1 matrices take
 * {@linkcode diagonalNorm}; one frequency (a one-tap kernel, a 1×1 grid)
 * with no floor, small blocks (under 8 values) and kernels whose column
 * transform uses the FFT (over 8 taps along the height) walk every
 * frequency. One step per block of work (the caller drives it).
 *
 * `floor` (unscaled, ≥ 0; not taken with `located`): a norm the caller
 * already holds, of another problem of the same layer. The Gram-domain path
 * then certifies frequencies below it too, and where this problem's norm is
 * below it, returns some value at most `floor` (the caller's maximum is
 * unchanged, with its bits).
 */
function* normSteps(core: CoreExports, prob: Problem, located = false, floor = 0): Generator<void, NormAt> {
  // Where the maximum is, when asked: the first frequency in the walk's order (v, then u) that holds it.
  const at: NormAt = { norm: 0, u: 0, v: 0 };
  const walk = function* (p: Problem): Generator<void, NormAt> {
    const sink: Sink = (u, v, row) => {
      if (row[0] > at.norm) Object.assign(at, { norm: row[0], u, v });
    };
    for (const _ of columns(core, p, sink, "f64")) yield;
    return at;
  };
  if (isDiagonal(prob)) {
    if (!located) return { ...at, norm: diagonalNorm(core, prob) };
    return yield* walk(prob);
  }
  // One tap: the same matrix at every frequency (the walk's first is (0, 0)).
  if (prob.kh === 1 && prob.kw === 1 && prob.im === undefined) prob = { ...prob, h: 1, w: 1 };
  // One frequency and no floor to screen against: its values are the norm, and nothing can be skipped.
  if (visitedFrequencies(prob) === 1 && (located || !(floor > 0))) return yield* walk(prob);
  if (gramScreens(core, prob)) return yield* gramNormSteps(core, prob, at, located ? 0 : floor);
  const groups = prob.groups ?? 1;
  const { cOut, cIn, kh, h } = prob;
  if (Math.min(cOut, cIn) < SCREEN_MIN || core.use_fft(kh, h, h)) return yield* walk(prob);
  const e = scaleExponent(prob.re, prob.im);
  if (e === undefined) return at;
  const run = new Run(core, prob, e, 0);
  const arena = run.p.arena;
  const est = arena.f64(run.p.nv * h);
  const work = arena.bytes(core.norm_work_bytes(cOut, cIn, kh));
  arena.commit(
    "compute the operator norm",
    `c_out ${cOut}, c_in ${cIn}, kernel ${kh}×${prob.kw}, grid [${h}, ${prob.w}]`,
  );
  const out = run.p.out;
  let s = 0;
  for (const [v0, nv] of run.blocks()) {
    run.transform(v0, nv);
    const order: { v: number; u: number; est: number }[] = [];
    for (let v = v0; v < v0 + nv; v++) {
      const job = run.job(v0, v, 0, run.nu(v), 0);
      core.norm_estimates_f64(job.tr, job.ti, cOut, cIn, kh, h, 0, job.nu, groups, ESTIMATE_STEPS, est, work);
      const values = arena.view(est, job.nu);
      for (let u = 0; u < job.nu; u++) order.push({ v, u, est: values[u] });
    }
    order.sort((a, b) => b.est - a.est || a.v - b.v || a.u - b.u);
    let since = 0;
    for (const { v, u, est: lower } of order) {
      const job = run.job(v0, v, u, 1, out);
      if (s > 0 && lower < s && core.norm_below_f64(job.tr, job.ti, cOut, cIn, kh, h, u, groups, s * s, work) === 1) {
        if (++since % 64 === 0) yield;
        continue;
      }
      const bad = svdColumn(core, false, job, run.p.colWork);
      const top = arena.view(out, 1)[0];
      if (bad > 0 || Number.isNaN(top)) run.failed.push([u, v]);
      else if (top > s || (top === s && (v < at.v || (v === at.v && u < at.u)))) {
        s = top;
        at.u = u;
        at.v = v;
      }
      yield;
    }
  }
  run.finish();
  at.norm = ldexp(s, e);
  return at;
}

/** Bytes the Gram-domain screen may hold for a layer's R_d (assembly/gram.ts). */
const GRAM_MAX_BYTES = 256 * 2 ** 20;

/** Bytes it may hold for the estimates' Gram matrices (each reused by the screen instead of assembled again). */
const GRAM_CACHE_BYTES = 64 * 2 ** 20;

/** Values per block from which a real kernel's cheaper samples on the real nodes count in gramScreens. */
const NODES_MIN_N = 128;

/**
 * Whether {@linkcode gramNormSteps} serves a problem: a kernel whose column
 * transform along u is direct sums (the factorised frequencies then give the
 * spectrum's bits), whose R_d fit in GRAM_MAX_BYTES, and with more
 * frequencies to screen (the Hermitian half for a real kernel) than the
 * cost of forming the R_d, counted in sample products PᴴP: four per sample
 * for a complex kernel (twice the planes, every frequency screened, a complex
 * inverse DFT), half of one per sample on the real nodes (from NODES_MIN_N
 * values per block), one otherwise.
 */
export function gramScreens(core: CoreExports, prob: Problem): boolean {
  if (core.use_fft(prob.kh, prob.h, prob.h)) return false;
  const complex = prob.im !== undefined;
  const n = Math.min(prob.cOut, prob.cIn);
  const freqs = prob.h * columnsOf(prob);
  const bytes = core.gram_r_bytes(n, prob.kh, prob.kw, prob.groups ?? 1, complex ? 1 : 0);
  const samples = complex ? (2 * prob.kh - 1) * (2 * prob.kw - 1) : prob.kh + (prob.kw - 1) * (2 * prob.kh - 1);
  // A complex kernel's R_d (twice the planes, every sample, a complex inverse DFT) pay from ~4 frequencies per sample;
  // a real one's on the real nodes (up to 3 taps per axis: assembly/gram.ts realNodes) cost half a complex sample's,
  // and on grids with that few frequencies they pay only where each factorisation saved is large (NODES_MIN_N).
  const nodes = !complex && prob.kh <= 3 && prob.kw <= 3 && n >= NODES_MIN_N;
  const cost = complex ? 4 * samples : nodes ? (samples - 0.5) / 2 : samples;
  return freqs > 2 && bytes >= 0 && bytes <= GRAM_MAX_BYTES && cost < freqs;
}

/** Columns v a problem's walk visits: ⌊w/2⌋ + 1 of the Hermitian half for a real kernel, all w for a complex one. */
function columnsOf(prob: Problem): number {
  return prob.im !== undefined ? prob.w : Math.floor(prob.w / 2) + 1;
}

/**
 * A problem laid out for the Gram-domain screen (assembly/gram.ts): the
 * kernel scaled by 2^−e (as a {@linkcode Run}, whose transforms serve the
 * frequencies that are factorised), its R_d, and scratch for one column at a
 * time (columns v = 0 … ⌊w/2⌋ of the Hermitian half for a real kernel, every
 * column for a complex one).
 */
export class GramScreen {
  readonly run: Run;
  readonly #r: number;
  readonly #mu: number;
  readonly #col: number;
  readonly #work: number;
  readonly #est: number;
  readonly #flags: number;
  /** One refined estimate (refine()). */
  readonly #one: number;
  readonly #tab: number;
  readonly #cache: number;
  readonly #held: number;
  readonly #slotBytes: number;
  /** Room for ‖G‖_F²'s polynomial (gram_frob_coeffs_f64), 0 where it is never used. */
  readonly #fc: number;
  #ready = false;
  /** The column its fold (at #pc) is of. */
  #pv = -1;
  #pc = 0;
  /** Frobenius tests the estimates ran on assembled matrices, and how many pay for the polynomial. */
  #tried = 0;
  readonly #pays: number;
  #v = -1;
  /** Columns whose estimates are held (the screen reads them). */
  readonly #estimated = new Set<number>();
  /**
   * `polynomial`: whether the Frobenius test reads ‖G‖_F²'s polynomial from
   * the start (true), never (false), or (undefined) from when the tests run
   * on assembled matrices would have paid for it: its coefficients cost
   * (D² + D)/2 products of two R_d (four times as many, complex), a test on
   * an assembled matrix ~(2(2kh − 1) + 1)·n² (assembly and ‖Ĝ‖_F).
   */
  constructor(readonly core: CoreExports, readonly prob: Problem, e: number, polynomial?: boolean) {
    const groups = prob.groups ?? 1;
    const { cOut, cIn, kh, kw, h, w } = prob;
    const n = Math.min(cOut, cIn), m = Math.max(cOut, cIn);
    this.run = new Run(core, prob, e, 0);
    const arena = this.run.p.arena;
    const complex = prob.im !== undefined ? 1 : 0;
    this.#r = arena.bytes(core.gram_r_bytes(n, kh, kw, groups, complex));
    const taps = arena.bytes(core.gram_taps_work_bytes(m, n, kh, kw, complex));
    this.#mu = arena.f64(groups);
    this.#col = arena.bytes(core.gram_column_bytes(n, kh, kw, groups));
    this.#work = arena.bytes(core.gram_work_bytes(n, kh));
    this.#tab = arena.f64(2 * h);
    // The estimates' Gram matrices, kept for the screen where they fit in GRAM_CACHE_BYTES.
    const slots = columnsOf(prob) * h * groups;
    this.#slotBytes = 16 * n * n;
    const cached = slots * this.#slotBytes <= GRAM_CACHE_BYTES;
    this.#cache = cached ? arena.bytes(slots * this.#slotBytes) : 0;
    this.#held = arena.bytes(slots);
    this.#est = arena.f64(columnsOf(prob) * h);
    this.#flags = arena.bytes(h);
    this.#one = arena.f64(1);
    const d = (2 * kh - 1) * (2 * kw - 1);
    this.#pays = polynomial === undefined
      ? Math.ceil(((d * d + d) * (complex ? 4 : 1)) / (2 * (2 * (2 * kh - 1) + 1)))
      : polynomial
      ? 0
      : Infinity;
    this.#fc = this.#pays < Infinity ? arena.bytes(core.gram_frob_bytes(kh, kw, groups)) : 0;
    arena.commit(
      "compute the operator norm",
      `c_out ${cOut}, c_in ${cIn}, kernel ${kh}×${kw}, grid [${h}, ${w}]${groups > 1 ? `, ${groups} groups` : ""}`,
    );
    core.gram_taps_f64(this.run.p.kPtr, complex ? this.run.p.kiPtr : 0, m, n, kh, kw, groups, this.#r, this.#mu, taps);
    core.gram_table_f64(h, this.#tab);
    // No Gram matrix kept yet: the screen assembles each until estimates() keeps them.
    new Uint8Array(core.memory.buffer, this.#held, slots).fill(0);
    if (this.#pays === 0) this.#polynomial();
  }
  /** ‖G‖_F²'s coefficients, from the R_d. */
  #polynomial(): void {
    const { cOut, cIn, kh, kw } = this.prob;
    const complex = this.prob.im !== undefined ? 1 : 0;
    this.core.gram_frob_coeffs_f64(this.#r, Math.min(cOut, cIn), kh, kw, this.prob.groups ?? 1, complex, this.#fc);
    this.#ready = true;
  }
  /** Column v's fold of the polynomial, or 0 while there is none. */
  #fold(v: number): number {
    if (!this.#ready) return 0;
    if (v !== this.#pv) {
      const { kh, kw, w } = this.prob;
      this.#pc = this.core.gram_frob_column_f64(this.#fc, kh, kw, this.prob.groups ?? 1, w, v);
      this.#pv = v;
    }
    return this.#pc;
  }
  /** Column v's part of the Gram matrices' cache and of its flags (0, 0: no cache). */
  #cacheOf(v: number): [number, number] {
    if (this.#cache === 0) return [0, 0];
    const first = v * this.prob.h * (this.prob.groups ?? 1);
    return [this.#cache + first * this.#slotBytes, this.#held + first];
  }
  /**
   * Whether the cache holds every group of u0 … u0 + nu − 1 in column v, as
   * a kept Gram matrix or as passed over by the polynomial (the screen then
   * reads no S, unless the polynomial's test fails: see screen()).
   */
  #keeps(v: number, u0: number, nu: number): boolean {
    const [, held] = this.#cacheOf(v);
    if (held === 0) return false;
    const groups = this.prob.groups ?? 1;
    const flags = new Uint8Array(this.core.memory.buffer, held + u0 * groups, nu * groups);
    return flags.every((f) => f !== 0);
  }
  /** S_{d_a}(v) of column v, unless it is the column already folded. */
  #column(v: number): void {
    if (v === this.#v) return;
    const { cOut, cIn, kh, kw, w } = this.prob;
    const complex = this.prob.im !== undefined ? 1 : 0;
    this.core.gram_column_f64(this.#r, Math.min(cOut, cIn), kh, kw, w, v, this.prob.groups ?? 1, complex, this.#col);
    this.#v = v;
  }
  /**
   * Column v's lower estimates of σ_max (scaled), one per u < nu(v), 0 where
   * tr PᴴP or ‖PᴴP‖_F is below floor² (kept until the next call for v).
   */
  estimates(v: number, floor = 0): Float64Array {
    const { cOut, cIn, kh, h } = this.prob;
    const nu = this.run.nu(v);
    this.#column(v);
    const at = this.#est + v * h * 8;
    const tried = this.core.gram_estimates_f64(
      this.#col,
      Math.min(cOut, cIn),
      kh,
      h,
      0,
      nu,
      this.prob.groups ?? 1,
      lanczosSteps(Math.min(cOut, cIn)),
      floor,
      this.#tab,
      ...this.#cacheOf(v),
      this.#fold(v),
      at,
      this.#work,
    );
    this.#estimated.add(v);
    if (!this.#ready && (this.#tried += tried) >= this.#pays) this.#polynomial();
    return this.run.p.arena.view(at, nu);
  }
  /**
   * A lower estimate of σ_max (scaled) at (u, v) from `steps` Lanczos steps
   * (≤ 64), sharper than estimates()' own: it orders the frequencies that the
   * screen left open. Nothing is kept or passed over.
   */
  refine(v: number, u: number, steps: number): number {
    const { cOut, cIn, kh, h } = this.prob;
    this.#column(v);
    const n = Math.min(cOut, cIn);
    const groups = this.prob.groups ?? 1;
    this.core.gram_estimates_f64(
      this.#col,
      n,
      kh,
      h,
      u,
      1,
      groups,
      steps,
      0,
      this.#tab,
      0,
      0,
      0,
      this.#one,
      this.#work,
    );
    return this.run.p.arena.view(this.#one, 1)[0];
  }
  /**
   * Flags for u = u0 … u0 + nu − 1 of column v: 1 where σ_max < s (scaled)
   * is certified, 0 where it is not (valid until the next call).
   * A column whose groups the cache holds is screened without its S; the
   * frequencies that then need it (flag 2) are screened again with it.
   */
  screen(v: number, u0: number, nu: number, s: number): Uint8Array {
    if (!this.#keeps(v, u0, nu)) this.#column(v);
    const flags = this.#screen(v, u0, nu, s);
    if (this.#v === v || !flags.includes(2)) return flags;
    // A group passed over by the polynomial that its test does not certify at s: the full tests on column v's S.
    const out = Uint8Array.from(flags);
    this.#column(v);
    for (let u = u0; u < u0 + nu; u++) if (out[u - u0] === 2) out[u - u0] = this.#screen(v, u, 1, s)[0];
    return out;
  }
  #screen(v: number, u0: number, nu: number, s: number): Uint8Array {
    const { cOut, cIn, kh, kw, h } = this.prob;
    this.core.gram_screen_f64(
      this.#col,
      Math.max(cOut, cIn),
      Math.min(cOut, cIn),
      kh,
      kw,
      h,
      u0,
      nu,
      this.prob.groups ?? 1,
      this.#mu,
      s * s,
      this.#tab,
      ...this.#cacheOf(v),
      this.#estimated.has(v) ? this.#est + (v * h + u0) * 8 : 0,
      this.#fold(v),
      this.#v === v ? 1 : 0,
      this.#flags,
      this.#work,
    );
    return new Uint8Array(this.core.memory.buffer, this.#flags, nu);
  }
}

/**
 * The screened norm in the Gram domain ({@linkcode GramScreen}), for the
 * problems {@linkcode gramScreens} admits (real or complex kernels):
 *
 * 1. per column v, every frequency's lower estimate of σ_max;
 * 2. the frequency with the largest estimate (the first in (v, u) order
 *    among equals) is factorised by `svd_column_f64`: its σ_max is `s`;
 * 3. per column, the screen certifies σ_max < s for each other frequency
 *    (by tr G, by ‖G‖_F, or a Cholesky factorisation of s²(1 − η)·I − G);
 * 4. the ones it leaves open are taken in decreasing estimate: each is
 *    screened again when `s` has grown past rounding since, and factorised if
 *    it is still open, `s` becoming the larger value.
 *
 * The result is the full spectrum's largest value, with its bits: every
 * value taken is a factorisation of svd_column_f64, and every frequency
 * skipped is proven below one of them.
 */
function* gramNormSteps(core: CoreExports, prob: Problem, at: NormAt, floor: number): Generator<void, NormAt> {
  const e = scaleExponent(prob.re, prob.im);
  if (e === undefined) return at;
  const screen = new GramScreen(core, prob, e);
  const { run } = screen;
  const nvAll = columnsOf(prob);
  yield;
  const est: Float64Array[] = [];
  // The floor in the problem's scale (exact: a power of two), or none where that would underflow.
  const scaledFloor = ldexp(floor, -e);
  const low = scaledFloor >= 2 ** -1000 ? scaledFloor : 0;
  let best = -1, bu = 0, bv = 0;
  // Under a floor (another problem's norm) the screen runs first, at the floor, and the estimates order only
  // what it leaves open: most often the floor certifies every frequency, and no Lanczos step is spent.
  const floored = low > 0;
  for (let v = 0; v < nvAll && !floored; v++) {
    const values = est[v] = screen.estimates(v, Math.max(best, low, 0));
    for (let u = 0; u < values.length; u++) {
      if (values[u] > best) [best, bu, bv] = [values[u], u, v];
    }
    yield;
  }
  let s = 0;
  const out = run.p.out;
  const factorise = (u: number, v: number) => {
    run.transform(v, 1);
    const bad = svdColumn(core, false, run.job(v, v, u, 1, out), run.p.colWork);
    const top = run.p.arena.view(out, 1)[0];
    if (bad > 0 || Number.isNaN(top)) run.failed.push([u, v]);
    else if (top > s || (top === s && (v < at.v || (v === at.v && u < at.u)))) {
      s = top;
      at.u = u;
      at.v = v;
    }
  };
  // Every estimate below the floor (or none made): nothing is factorised first, the screen runs at the floor.
  const first = best >= low;
  if (first) factorise(bu, bv);
  yield;
  const open: { u: number; v: number; est: number }[] = [];
  const screenedAt = Math.max(s, low);
  for (let v = 0; v < nvAll; v++) {
    const nu = run.nu(v);
    // At 0 (a zero frequency, or one that did not converge, and no floor) nothing is certified: all are
    // factorised. The frequency factorised is not screened (its value is s: it cannot be certified below it).
    for (const [u0, u1] of first && v === bv ? [[0, bu], [bu + 1, nu]] : [[0, nu]]) {
      if (u1 <= u0) continue;
      const flags = screenedAt > 0 ? screen.screen(v, u0, u1 - u0, screenedAt) : new Uint8Array(u1 - u0);
      for (let u = u0; u < u1; u++) if (flags[u - u0] === 0) open.push({ u, v, est: est[v]?.[u] ?? 0 });
    }
    yield;
  }
  // Several open at a level above 0: each reaches it but for rounding, and the norm is the largest of them (or, under
  // a floor, may be). Estimates longer than the first ones order them (those could not tell frequencies that tie
  // within a percent, as a clipped kernel's do; under a floor there are none), so that the largest is factorised
  // first and the others are screened again at its value (in the walk's order each could raise s in turn).
  if (open.length > 1 && screenedAt > 0) {
    const steps = Math.min(64, 2 * lanczosSteps(Math.min(prob.cOut, prob.cIn)));
    // In the walk's (v, u) order, as the screen left them: each column's S is folded once.
    for (const o of open) {
      o.est = screen.refine(o.v, o.u, steps);
      yield;
    }
  }
  open.sort((a, b) => b.est - a.est || a.v - b.v || a.u - b.u);
  // A frequency left open at screenedAt is screened again only once s has grown past rounding: it was not
  // certified below screenedAt, so below s ≤ screenedAt·(1 + 1e-9) it would not be either (a clipped kernel's
  // frequencies tie at the radius: each would pay a failing factorisation twice).
  for (const { u, v } of open) {
    if (s > screenedAt * (1 + 1e-9) && screen.screen(v, u, 1, s)[0] === 1) continue;
    factorise(u, v);
    yield;
  }
  run.finish();
  at.norm = ldexp(s, e);
  return at;
}

/** A problem's norm and the frequency (u, v) of the Hermitian half (or the whole grid, complex) that holds it. */
export interface NormAt {
  norm: number;
  u: number;
  v: number;
}

/** The exact operator norm of a problem and where it is, on the calling thread (f64; see normSteps). */
export function problemNormAt(core: CoreExports, prob: Problem): NormAt {
  const steps = normSteps(core, prob, true);
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

/**
 * The problems of one layer in decreasing Frobenius norm of their kernels
 * (ties in their order): the likeliest to hold the layer's norm first, so that
 * the others' screens start from a high floor (see normSteps).
 */
export function likeliestFirst(problems: readonly Problem[]): Problem[] {
  if (problems.length < 2) return [...problems];
  const weight = (p: Problem) => {
    let f = 0;
    for (const x of p.re) f += x * x;
    if (p.im) { for (const x of p.im) f += x * x; }
    return f;
  };
  const ranked = problems.map((p, i) => ({ p, i, f: weight(p) }));
  ranked.sort((a, b) => b.f - a.f || a.i - b.i);
  return ranked.map((x) => x.p);
}

/** The exact operator norm of a problem on the calling thread (f64; see normSteps). */
export function problemNorm(core: CoreExports, prob: Problem, floor = 0): number {
  const steps = normSteps(core, prob, false, floor);
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value.norm;
}

/**
 * {@linkcode problemNorm} that can be aborted: between steps it checks the
 * signal, and every ~20 ms of work it lets the event loop run, on an instance
 * of the core of its own (without a signal it is {@linkcode problemNorm} on `core`).
 */
export async function problemNormAbortable(
  core: CoreExports,
  prob: Problem,
  signal?: AbortSignal,
  floor = 0,
): Promise<number> {
  return (await problemNormAtAbortable(core, prob, signal, false, floor)).norm;
}

/**
 * The norm of a layer made of several problems (exact, f64): the largest of
 * their norms, the problems taken {@linkcode likeliestFirst}, each screened
 * from the largest norm found so far (a floor: see normSteps).
 */
export function layerProblemsNorm(core: CoreExports, problems: readonly Problem[]): number {
  let norm = 0;
  for (const p of likeliestFirst(problems)) norm = Math.max(norm, problemNorm(core, p, norm));
  return norm;
}

/**
 * {@linkcode layerProblemsNorm} that can be aborted (see
 * {@linkcode problemNormAbortable}); `done(p)` is called as each problem ends.
 */
export async function layerProblemsNormAbortable(
  core: CoreExports,
  problems: readonly Problem[],
  signal?: AbortSignal,
  done?: (p: Problem) => void,
): Promise<number> {
  let norm = 0;
  for (const p of likeliestFirst(problems)) {
    norm = Math.max(norm, await problemNormAbortable(core, p, signal, norm));
    done?.(p);
  }
  return norm;
}

/** {@linkcode problemNormAt} that can be aborted (see {@linkcode problemNormAbortable}). */
export async function problemNormAtAbortable(
  core: CoreExports,
  prob: Problem,
  signal?: AbortSignal,
  located = true,
  floor = 0,
): Promise<NormAt> {
  if (!signal) {
    const steps = normSteps(core, prob, located, floor);
    let step = steps.next();
    while (!step.done) step = steps.next();
    return step.value;
  }
  signal.throwIfAborted();
  return await withSpareCore(async (own) => {
    const steps = normSteps(own, prob, located, floor);
    let last = performance.now();
    let step = steps.next();
    while (!step.done) {
      if (performance.now() - last > YIELD_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        last = performance.now();
      }
      signal.throwIfAborted();
      step = steps.next();
    }
    return step.value;
  });
}
