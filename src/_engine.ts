/**
 * The wasm engine. Every layer kind reduces to one or more "problems": a
 * 2-D circular, stride-1 convolution on an h × w grid with a folded kernel
 * (real, or complex for the depth frequencies of 3-D layers). The engine
 * scales the kernel by a power of two, walks the frequencies column by
 * column (only the Hermitian half for a real kernel) and hands each
 * frequency's decreasing singular values to a sink.
 * @module
 */
import type { CoreExports } from "./_wasm/loader.ts";
import type { Layer } from "./_validate.ts";
import { ConvergenceError } from "./errors.ts";
import { type Pool, runJobs, withPool } from "./_threads/pool.ts";

/** Bytes the module may address (wasm32: 4 GiB less one page for safety). */
export const MAX_WASM_BYTES = 2 ** 32 - 2 ** 16;
/** Budget for one block of transformed columns. */
const BLOCK_BYTES = 32 * 2 ** 20;

/**
 * One 2-D circular stride-1 convolution: kernel `re (+ i·im)`, OIHW,
 * `cOut × cIn × kh × kw` with `kh ≤ h`, `kw ≤ w` (taps already folded); with
 * `groups` > 1, that many such kernels one after another, the diagonal
 * blocks of a grouped layer (each frequency's values are the union of the
 * blocks', `groups·min(cOut, cIn)` of them).
 */
export interface Problem {
  /** Output channels of one group. */
  cOut: number;
  /** Input channels of one group. */
  cIn: number;
  /** Diagonal blocks (default 1). */
  groups?: number;
  kh: number;
  kw: number;
  h: number;
  w: number;
  /** Real part (the caller's own f32 or f64 weights where nothing had to move: read only). */
  re: Float32Array | Float64Array;
  /** Imaginary part of a complex kernel; absent for a real one. */
  im?: Float64Array;
}

/**
 * Receives the singular values of one frequency (u, v), decreasing, already
 * scaled back. `values` may be a view of scratch memory that is reused after
 * the call returns: a sink copies what it keeps. For a real kernel only the Hermitian half is visited and
 * `mirrored` is true when (−u mod h, −v mod w) is a different frequency with
 * the same values; for a complex kernel every frequency is visited and
 * `mirrored` is false.
 */
export type Sink = (u: number, v: number, values: Float64Array, mirrored: boolean) => void;

/** Rounds a byte offset up to a multiple of 16. */
export const alignBytes = (x: number): number => Math.ceil(x / 16) * 16;

/** Multiplies x by 2^e exactly, for any e that keeps the result in range. */
export function ldexp(x: number, e: number): number {
  while (e > 1000) {
    x *= 2 ** 1000;
    e -= 1000;
  }
  while (e < -1000) {
    x *= 2 ** -1000;
    e += 1000;
  }
  return x * 2 ** e;
}

/** Multiplies every value by 2^e, exactly (one multiply per value while 2^e is a normal number). */
export function scaleInPlace(values: Float64Array, e: number): void {
  if (e === 0) return;
  if (Math.abs(e) <= 1000) {
    const f = 2 ** e;
    for (let i = 0; i < values.length; i++) values[i] *= f;
  } else {
    for (let i = 0; i < values.length; i++) values[i] = ldexp(values[i], e);
  }
}

/** The power-of-two exponent e with max|data|·2^−e in [0.5, 1); undefined when all are zero. */
export function scaleExponent(...arrays: (Float32Array | Float64Array | undefined)[]): number | undefined {
  let mx = 0;
  for (const data of arrays) {
    if (!data) continue;
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i]);
      if (a > mx) mx = a;
    }
  }
  if (mx === 0) return undefined;
  let e = Math.ceil(Math.log2(mx));
  // log2 rounding: make sure mx·2^−e lands in [0.5, 1).
  while (ldexp(mx, -e) >= 1) e++;
  while (ldexp(mx, -e) < 0.5) e--;
  return e;
}

/**
 * The folded kernel of a validated 2-D layer in OIHW order, scaled by 2^−e:
 * taps a, b land at (a mod h, b mod w), so kernels larger than the input wrap.
 */
export function foldKernel(layer: Layer, e: number): { k: Float64Array; kh: number; kw: number } {
  const { data, layout, cOut, cIn, h, w } = layer;
  const kh = Math.min(layer.kh, h);
  const kw = Math.min(layer.kw, w);
  const k = new Float64Array(cOut * cIn * kh * kw);
  if (layout === "oihw" && kh === layer.kh && kw === layer.kw) {
    // Nothing wraps: the same bits as the loop below, in bulk.
    k.set(data);
    scaleInPlace(k, -e);
    return { k, kh, kw };
  }
  for (let o = 0; o < cOut; o++) {
    for (let i = 0; i < cIn; i++) {
      for (let a = 0; a < layer.kh; a++) {
        for (let b = 0; b < layer.kw; b++) {
          const src = layout === "oihw"
            ? ((o * cIn + i) * layer.kh + a) * layer.kw + b
            : ((a * layer.kw + b) * cIn + i) * cOut + o;
          k[((o * cIn + i) * kh + (a % h)) * kw + (b % w)] += ldexp(data[src], -e);
        }
      }
    }
  }
  return { k, kh, kw };
}

/** The problem of a validated 2-D layer (folded, unscaled). */
export function layerProblem(layer: Layer): Problem {
  const { data, layout, cOut, cIn, h, w } = layer;
  if (layout === "oihw" && layer.kh <= h && layer.kw <= w) {
    // Nothing to fold: the caller's weights themselves (read only).
    return { cOut, cIn, kh: layer.kh, kw: layer.kw, h, w, re: data };
  }
  const { k, kh, kw } = foldKernel(layer, 0);
  return { cOut: layer.cOut, cIn: layer.cIn, kh, kw, h: layer.h, w: layer.w, re: k };
}

/** How a problem is computed. */
export interface RunOptions {
  /** `"f64"` (default) or `"f32"`: the precision of the per-frequency bidiagonalisation. */
  precision?: "f64" | "f32";
  /** Worker threads for the async path (1: the calling thread only). */
  threads?: number;
}

/** Memory plan of one problem, in bytes from the heap base. */
interface Plan {
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
  end: number;
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
  const r = groups * Math.min(cOut, cIn);
  const nvAll = complex ? w : Math.floor(w / 2) + 1;
  const outStride = alignBytes(h * r * 8);
  const perColumn = nrows * 16 + (workers > 0 ? outStride : 0);
  const nv = Math.max(1, Math.min(nvAll, Math.floor(BLOCK_BYTES / perColumn)));
  const counter = alignBytes(core.heap_base());
  const kPtr = counter + 16;
  const kiPtr = alignBytes(kPtr + nrows * kw * 8);
  const tr = alignBytes(kiPtr + (complex ? nrows * kw * 8 : 0));
  const ti = alignBytes(tr + nrows * nv * 8);
  const twWork = alignBytes(ti + nrows * nv * 8);
  const twBytes = Math.max(
    core.transform_w_work_bytes(nrows, kw, w, nv),
    core.transform_w_work_bytes(nrows, kw, w, nvAll % nv || nv),
  );
  const colWork = alignBytes(twWork + twBytes);
  const nus = complex ? [h] : [h, Math.floor(h / 2) + 1];
  const colBytes = nus.map((nu) => core.svd_column_work_bytes(cOut, cIn, kh, h, nu, groups));
  const colStride = alignBytes(Math.max(...colBytes));
  const out = alignBytes(colWork + colStride * Math.max(workers, 1));
  // The kernel as given, staged for tap_major_f64 (see writeTapMajor).
  const stage = alignBytes(out + outStride * (workers > 0 ? nv : 1));
  const end = alignBytes(stage + nrows * kw * 8);
  const sizes = [nrows * kw * 8, nrows * nv * 16, twBytes, ...colBytes, h * r * 8];
  if (sizes.some((x) => !(x >= 0) || x > MAX_WASM_BYTES) || end > MAX_WASM_BYTES) {
    throw new RangeError(
      `Cannot compute singular values as the working memory must fit in 4 GiB of wasm memory: current value is ${
        sizes.some((x) => x < 0) ? "over 2 GiB for one frequency column" : `${(end / 2 ** 30).toFixed(2)} GiB`
      } (c_out ${cOut}, c_in ${cIn}, folded kernel ${kh}×${kw}, grid [${h}, ${w}])`,
    );
  }
  return { nrows, nv, nvAll, counter, kPtr, kiPtr, tr, ti, twWork, colWork, colStride, out, outStride, stage, end };
}

/** Bytes of wasm memory a problem needs on one thread (throws RangeError when over the limit). */
export function memoryNeeded(core: CoreExports, p: Problem): number {
  return plan(core, p, 0).end;
}

/** Grows the core's memory to at least `bytes` (RangeError if the engine refuses). */
export function ensureMemory(core: CoreExports, bytes: number): void {
  const have = core.memory.buffer.byteLength;
  if (bytes > have) {
    const pages = Math.ceil((bytes - have) / 65536);
    try {
      core.memory.grow(pages);
    } catch (err) {
      throw new RangeError(
        `Cannot compute singular values as the wasm memory must grow to ${bytes} bytes: current value is ${have} bytes and the engine refused to grow (${
          err instanceof Error ? err.message : err
        })`,
      );
    }
  }
}

/**
 * Copies one part (re or im) of a problem's kernel, `groups·cOut·cIn·kh`
 * rows of `kw` taps, into the core's memory at byte offset `at`, scaled by
 * 2^−e, with the rows in svd_column's tap-major order (the core's
 * tap_major_f64, from a staging copy at byte offset `stage`: a JS loop ran
 * interpreted on a layer's first calls, ~0.1 s at 7×7, c = 512).
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
    ensureMemory(core, this.p.end);
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
    this.core.transform_w_f64(p.kPtr, this.complex ? p.kiPtr : 0, p.nrows, prob.kw, prob.w, v0, nv, p.tr, p.ti, p.twWork);
  }
  /** svd_column's arguments (without the scratch) for column v of the block at v0, writing rows to `out`. */
  job(v0: number, v: number, out: number): number[] {
    const { p, prob } = this;
    const off = (v - v0) * p.nrows * 8;
    return [p.tr + off, p.ti + off, prob.cOut, prob.cIn, prob.kh, prob.h, 0, this.nu(v), out, prob.groups ?? 1];
  }
  /** Bytes of one frequency's values in the output rows. */
  get rowBytes(): number {
    return (this.prob.groups ?? 1) * Math.min(this.prob.cOut, this.prob.cIn) * 8;
  }
  /**
   * Column v's frequencies as [u0, nu] jobs for `workers` threads: whole
   * columns where the column uses the FFT along u (its rounding depends on
   * the range), else chunks small enough that the block's jobs number about
   * 32 per worker (the last job to finish holds the others up by about 1/32
   * of the block; at 8 per worker 14×14 with c = 256 lost 6%), but each worth
   * at least ~0.5 ms of bidiagonalisation ((32/3)·n²·m flops at 10 GFLOP/s),
   * as many tiny jobs cost more than they balance (16×16, c = 16). Direct
   * sums make every u independent: the values are the same bits.
   */
  chunks(v: number, nvBlock: number, workers: number): [number, number][] {
    const nu = this.nu(v);
    const { kh, h } = this.prob;
    if (this.core.use_fft(kh, h, nu)) return [[0, nu]];
    const perFrequency = bidiagSeconds(this.prob);
    const minSize = Math.ceil(5e-4 / Math.max(perFrequency, 1e-9));
    const size = Math.max(1, Math.ceil((nvBlock * h) / (32 * workers)), Math.min(minSize, Math.ceil((nvBlock * h) / (8 * workers))));
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
    const r = (this.prob.groups ?? 1) * Math.min(this.prob.cOut, this.prob.cIn);
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
  if (e === undefined) {
    const zeros = new Float64Array((prob.groups ?? 1) * Math.min(prob.cOut, prob.cIn));
    forEachFrequency(prob.h, prob.w, prob.im !== undefined, (u, v, mirrored) => sink(u, v, zeros, mirrored));
  }
  return e;
}

/**
 * Computes every frequency of a problem (the Hermitian half for a real
 * kernel) on the calling thread and passes its values to `sink`. The memory
 * check happens before anything is written.
 */
export function runProblem(core: CoreExports, prob: Problem, sink: Sink, precision: "f64" | "f32" = "f64"): void {
  const e = scaleOrZero(prob, sink);
  if (e === undefined) return;
  const run = new Run(core, prob, e, 0);
  const column = precision === "f32" ? core.svd_column_f32 : core.svd_column_f64;
  for (const [v0, nv] of run.blocks()) {
    run.transform(v0, nv);
    for (let v = v0; v < v0 + nv; v++) {
      const a = run.job(v0, v, run.p.out);
      const bad = column(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], run.p.colWork);
      run.emit(v, run.p.out, bad > 0, sink);
    }
  }
  run.finish();
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
): Promise<void> {
  const e = scaleOrZero(prob, sink);
  if (e === undefined) return;
  await withPool(pool, () => runLaidOut(pool, prob, e, sink, precision));
}

/** {@linkcode runProblemThreaded} once it holds the pool. */
async function runLaidOut(pool: Pool, prob: Problem, e: number, sink: Sink, precision: "f64" | "f32"): Promise<void> {
  // Small problems: the calling thread takes jobs too (one more scratch slot).
  const local = problemSeconds(prob) < LOCAL_MAX_SECONDS;
  const run = new Run(pool.core, prob, e, pool.size + (local ? 1 : 0));
  for (const [v0, nv] of run.blocks()) {
    run.transform(v0, nv);
    const jobs: number[][] = [];
    for (let v = v0; v < v0 + nv; v++) {
      const job = run.job(v0, v, run.p.out + (v - v0) * run.p.outStride);
      for (const [u0, nu] of run.chunks(v, nv, pool.size)) {
        jobs.push([...job.slice(0, 6), u0, nu, job[8] + u0 * run.rowBytes, job[9]]);
      }
    }
    const bad = await runJobs(pool, {
      kind: "svd",
      f32: precision === "f32",
      counter: run.p.counter,
      workBase: run.p.colWork,
      workStride: run.p.colStride,
      jobs,
    }, local);
    for (let v = v0; v < v0 + nv; v++) run.emit(v, run.p.out + (v - v0) * run.p.outStride, bad > 0, sink);
  }
  run.finish();
}

/**
 * Below this estimated single-thread time a threaded call lets the calling
 * thread take jobs beside the workers (so it is blocked at most about this
 * long): at 16×16, c = 16 (~2 ms) waking the workers cost as much as the
 * work they took over.
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

/** Computes every frequency of the Hermitian half of a validated 2-D layer (see {@linkcode runProblem}). */
export function runEngine(core: CoreExports, layer: Layer, sink: Sink): void {
  runProblem(core, layerProblem(layer), sink);
}

/**
 * Visits (u, v, mirrored) in the engine's order: the Hermitian half of an
 * h × w grid (real kernels), or every frequency with mirrored = false (complex).
 */
export function forEachFrequency(
  h: number,
  w: number,
  complex: boolean,
  fn: (u: number, v: number, mirrored: boolean) => void,
): void {
  const nvAll = complex ? w : Math.floor(w / 2) + 1;
  for (let v = 0; v < nvAll; v++) {
    const selfMirror = !complex && (v === 0 || 2 * v === w);
    const nu = selfMirror ? Math.floor(h / 2) + 1 : h;
    for (let u = 0; u < nu; u++) fn(u, v, complex ? false : selfMirror ? (h - u) % h !== u : true);
  }
}
