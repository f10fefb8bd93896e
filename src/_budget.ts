/**
 * What a call will hold and do, estimated from the sizes before any work or
 * large allocation: every entry point adds up the memory it holds at once
 * (its JS arrays and the wasm arena of its largest problem or operator) and
 * the multiply–adds it will do, and refuses with a RangeError that names the
 * size when
 *
 * - the wasm arena passes 4 GiB (wasm32 memory; {@linkcode MAX_WASM_BYTES}),
 * - the memory in all passes {@linkcode MAX_BYTES} (8 GiB), or
 * - the work passes `maxWork` (default {@linkcode MAX_WORK}, 1e12: about
 *   four minutes of one core at the engine's best rate; raise it with the
 *   `maxWork` option, `Infinity` for no cap).
 *
 * The estimates sit beside the code that allocates (`expandPlan` beside
 * `expandSpec`, `operatorBytes` beside `convOperator`) or mirror it
 * (`problemArenaBytes`: the wasm engine's plan on the calling thread, from
 * the sizes alone, so that no check needs the wasm core). Work
 * counts multiply–adds with a fixed charge per frequency for the work that
 * does not scale with the channels (the transforms, the calls per frequency;
 * the JS loops of gramIterationNorm are charged more): an estimate to refuse
 * calls that could not finish in reasonable time, not a timing.
 * @module
 */
import type { Axes, LayerSpec } from "./_options.ts";
import { fromAxes } from "./_options.ts";
import { fail, show } from "./_checks.ts";
import { MAX_WASM_BYTES } from "./_wasm/abi.ts";
import { type ProblemShape, visitedFrequencies } from "./_problem/problem.ts";
import { expandPlan } from "./_problem/expand.ts";
import { operatorBytes } from "./_wasm/conv.ts";

/** Most memory (JS arrays and wasm memory together) one call may hold: 8 GiB. */
export const MAX_BYTES = 2 ** 33;

/**
 * Default cap on a call's estimated work, in multiply–adds (option
 * `maxWork`): 1e12, about four minutes of one core at the engine's best rate
 * (~4e9 a second for large channel counts), less on the worker pool.
 */
export const MAX_WORK = 1e12;

/** Work charged per frequency of the wasm engine beyond its SVD (transforms, scaling, the sink's call). */
const ENGINE_PER_FREQUENCY = 1000;
/** Work charged per frequency and step of gramIterationNorm's JS loops (allocations, twiddles). */
const GRAM_PER_STEP = 5000;

/** A call's estimate. */
export interface Estimate {
  /** Bytes of JS arrays held at once. */
  js: number;
  /** Bytes of the largest wasm arena. */
  wasm: number;
  /** Multiply–adds. */
  work: number;
}

/** The `maxWork` option: a positive number (Infinity for no cap), default {@linkcode MAX_WORK}. */
export function maxWorkOption(value: unknown): number {
  if (value === undefined) return MAX_WORK;
  if (typeof value !== "number") {
    fail(TypeError, "maxWork", "a positive number (multiply–adds; Infinity for no cap)", value);
  }
  if (!(value > 0)) fail(RangeError, "maxWork", "a positive number (multiply–adds; Infinity for no cap)", value);
  return value;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/**
 * Refuses an estimate over the limits (see the module doc).
 *
 * @param subject What the caller cannot do otherwise ("compute singular values").
 * @param context The sizes that made the estimate, for the message.
 * @throws {RangeError} Naming the size: the wasm arena, the memory in all, or the work.
 */
export function checkEstimate(subject: string, e: Estimate, maxWork: number, context: string): void {
  if (!(e.wasm <= MAX_WASM_BYTES)) {
    throw new RangeError(
      `Cannot ${subject} as the working memory must fit in 4 GiB of wasm memory: current value is ${
        gib(e.wasm)
      } (${context})`,
    );
  }
  const bytes = e.js + e.wasm;
  if (!(bytes <= MAX_BYTES)) {
    throw new RangeError(
      `Cannot ${subject} as the memory it holds must be at most ${gib(MAX_BYTES)}: current value is ${
        gib(bytes)
      } (${context})`,
    );
  }
  if (!(e.work <= maxWork)) {
    throw new RangeError(
      `Cannot ${subject} as its estimated work must be at most maxWork = ${maxWork} multiply–adds (raise maxWork to run it): current value is ${
        e.work.toExponential(2)
      } (${context})`,
    );
  }
}

/** The larger of two estimates' memory, their work added. */
function both(a: Estimate, b: Estimate): Estimate {
  return { js: Math.max(a.js, b.js), wasm: Math.max(a.wasm, b.wasm), work: a.work + b.work };
}

/** `lead_dim` of the core (assembly/column.ts): rows of a column-major block, even, never a multiple of 4 KiB. */
function leadDim(m: number): number {
  const ld = m + (m % 2);
  return (ld * 8) % 4096 === 0 ? ld + 8 : ld;
}

/**
 * Bytes the wasm engine's plan takes for one problem on the calling thread
 * (engine.ts `plan`: the kernel, a block of transformed columns, one
 * column's SVD scratch and values), from the sizes alone: the scratch is
 * counted as its matrices (`svd_column_work_bytes`' A and, when the column
 * transform is an FFT, the transformed rows), so this is at most the plan by
 * the few small work areas, which the plan itself checks again.
 */
export function problemArenaBytes(p: ProblemShape): number {
  const { cOut, cIn, kh, kw, h, w, complex } = p;
  const groups = p.groups ?? 1;
  const nrows = groups * cOut * cIn * kh;
  const nvAll = complex ? w : Math.floor(w / 2) + 1;
  const n = Math.min(cOut, cIn);
  const nv = Math.max(1, Math.min(nvAll, Math.floor(32 * 2 ** 20 / (nrows * 16))));
  const kernel = nrows * kw * 8 * (complex ? 3 : 2);
  const columns = nrows * nv * 16;
  const fft = kh > 8 ? 2 * groups * cOut * cIn * h * 8 : 0;
  const column = 2 * leadDim(Math.max(cOut, cIn)) * n * 8 + groups * n * 8 + fft;
  const values = h * groups * n * 8;
  return kernel + columns + column + values;
}

/** Multiply–adds of the wasm engine's values of one problem: per visited frequency, its SVD and transform share. */
export function problemWork(p: ProblemShape): number {
  const m = Math.max(p.cOut, p.cIn), n = Math.min(p.cOut, p.cIn);
  const perFrequency = (p.groups ?? 1) * (4 * m * n * n + 2 * p.cOut * p.cIn * (p.kh + p.kw)) + ENGINE_PER_FREQUENCY;
  return visitedFrequencies(p) * perFrequency;
}

/** The layer's sizes for messages. */
export function layerContext(spec: LayerSpec, grid?: Axes): string {
  return `inputShape ${show(fromAxes(spec.n, spec.rank))}, c_out ${spec.cOut}, c_in ${spec.cIn}, kernel ${
    show(fromAxes(spec.k, spec.rank))
  }${grid ? `, grid ${show(fromAxes(grid, spec.rank))}` : ""}`;
}

/**
 * The circular layer on `grid` through the wasm engine: its kernels (JS),
 * the largest problem's arena, every problem's work; with `values`, the grid
 * of values it returns (`cells · r` f64).
 */
export function gridEstimate(spec: LayerSpec, grid: Axes, values: boolean): Estimate {
  const { problems, bytes } = expandPlan(spec, grid);
  const cells = problems.length === 0 ? 0 : problems[0].h * problems[0].w * (grid[0] / spec.stride[0]);
  const r = problems.length === 0 ? 0 : (problems[0].groups ?? 1) * Math.min(problems[0].cOut, problems[0].cIn);
  let wasm = 0, work = 0;
  for (const p of problems) {
    wasm = Math.max(wasm, problemArenaBytes(p));
    work += problemWork(p);
  }
  return { js: bytes + (values ? cells * r * 8 : 0), wasm, work };
}

/**
 * Power iteration on the zero-padded (or circular) layer applied directly:
 * the operator's arena and `vectors` JS vectors of the input's length plus
 * `outputs` of the output's, and `steps` applications of `AᵀA`.
 */
export function powerEstimate(spec: LayerSpec, steps: number, vectors: number, outputs: number): Estimate {
  const op = operatorBytes(spec);
  return {
    js: op.js + (vectors * op.cols + outputs * op.rows) * 8,
    wasm: op.wasm,
    work: (steps + 1) * (2 * op.flops + 4 * (op.cols + op.rows)),
  };
}

/** Checks a circular layer's grid through the engine (singularValues, spectrum, operatorNorm). */
export function checkGrid(spec: LayerSpec, maxWork: unknown, subject: string): void {
  checkEstimate(subject, gridEstimate(spec, spec.n, true), maxWorkOption(maxWork), layerContext(spec, spec.n));
}

/**
 * operatorNormBounds: every grid's problems through the engine (the values
 * are not kept) and, with zero padding, the power iteration: the operator,
 * the start vector's four input-length vectors and one output, the
 * iteration's own input and output vectors, `maxIterations` steps.
 */
export function checkBounds(
  spec: LayerSpec,
  grids: Axes[],
  maxIterations: number,
  maxWork: unknown,
): void {
  const cap = maxWorkOption(maxWork);
  const subject = "compute operatorNormBounds";
  let e: Estimate = { js: 0, wasm: 0, work: 0 };
  for (const grid of grids) {
    const g = gridEstimate(spec, grid, false);
    checkEstimate(subject, g, cap, layerContext(spec, grid));
    e = both(e, g);
  }
  if (spec.pad) {
    const power = powerEstimate(spec, maxIterations, 4, 2);
    const op = operatorBytes(spec);
    checkEstimate(
      subject,
      power,
      cap,
      `${layerContext(spec)}: the power iteration's ${op.cols} inputs and ${op.rows} outputs, ${maxIterations} steps`,
    );
    e = both(e, power);
  }
  checkEstimate(subject, e, cap, `${layerContext(spec, grids[grids.length - 1])}, ${grids.length} grids`);
}

/** powerIterationNorm: the operator, the start vector and the next iterate (inputs), one output vector. */
export function checkPower(spec: LayerSpec, maxIterations: number, maxWork: unknown): void {
  const op = operatorBytes(spec);
  checkEstimate(
    "compute powerIterationNorm",
    powerEstimate(spec, maxIterations, 2, 1),
    maxWorkOption(maxWork),
    `${layerContext(spec)}: ${op.cols} inputs and ${op.rows} outputs, ${maxIterations} steps`,
  );
}

/**
 * gramIterationNorm: per visited frequency the frequency matrix (`c_out·c_in`
 * complex, from every tap) and `steps` Gram products of the smaller side, in
 * JS; memory: the kernels and a few matrices of one frequency.
 */
export function checkGram(spec: LayerSpec, grid: Axes, steps: number, maxWork: unknown): void {
  const { problems, bytes } = expandPlan(spec, grid);
  let work = 0, matrix = 0;
  for (const p of problems) {
    const m = Math.max(p.cOut, p.cIn), q = Math.min(p.cOut, p.cIn), taps = p.kh * p.kw;
    const perFrequency = (p.groups ?? 1) *
      (4 * p.cOut * p.cIn * taps + 4 * m * q * q + steps * 4 * q * q * q + (steps + 1) * GRAM_PER_STEP);
    work += visitedFrequencies(p) * perFrequency;
    matrix = Math.max(matrix, 4 * (p.cOut * p.cIn + q * q) * 8);
  }
  checkEstimate(
    "compute gramIterationNorm",
    { js: bytes + matrix, wasm: 0, work },
    maxWorkOption(maxWork),
    layerContext(spec, grid),
  );
}

/**
 * frequencySvd and topSingularVectors (plain 2-D layers): the values pass
 * through the engine, then factorisations with vectors (`vectors`: all
 * frequencies, or one); `js` bytes of the results.
 */
export function checkPlain(spec: LayerSpec, all: boolean, js: number, maxWork: unknown, fn: string): void {
  const { problems, bytes } = expandPlan(spec, spec.n);
  const p = problems[0];
  const m = Math.max(p.cOut, p.cIn), n = Math.min(p.cOut, p.cIn);
  const svd = 12 * m * n * n + ENGINE_PER_FREQUENCY;
  const e: Estimate = {
    js: bytes + js,
    wasm: problemArenaBytes(p),
    work: all ? visitedFrequencies(p) * svd : problemWork(p) + svd + 4 * (p.cOut + p.cIn) * p.h * p.w,
  };
  checkEstimate(`compute ${fn}`, e, maxWorkOption(maxWork), layerContext(spec, spec.n));
}

/**
 * clipOperatorNorm: the layer's grid through the engine (the norms before
 * and after) and the clipping round on that grid: every column's transform,
 * kernel accumulators and values in wasm (`wasm/clip.ts`'s round plan, with
 * Dykstra's per-frequency corrections, `2·ld·r` f64 per frequency, held in
 * wasm and in JS), one round's SVDs with vectors.
 */
export function checkClip(spec: LayerSpec, grid: Axes, dykstra: boolean, maxWork: unknown): void {
  const norm = gridEstimate(spec, grid, false);
  const { problems } = expandPlan(spec, grid);
  let corr = 0, arena = 0, work = 0;
  for (const p of problems) {
    const groups = p.groups ?? 1;
    const m = Math.max(p.cOut, p.cIn), r = Math.min(p.cOut, p.cIn);
    const ld = m + 2;
    const nvAll = p.complex ? p.w : Math.floor(p.w / 2) + 1;
    const nrows = groups * p.cOut * p.cIn * p.kh;
    const frequencies = p.complex ? 2 * p.h * p.w : p.h * p.w;
    const c = dykstra ? groups * frequencies * 2 * ld * r * 8 : 0;
    corr += c;
    arena = Math.max(arena, nrows * p.kw * 8 * (1 + nvAll) + nrows * nvAll * 16 + groups * p.h * r * 8 * nvAll + c);
    work += visitedFrequencies(p) * groups * (12 * m * r * r + 4 * p.cOut * p.cIn * p.kh * p.kw);
  }
  const round: Estimate = { js: corr + norm.js, wasm: arena, work };
  const e = both(both(norm, norm), round);
  checkEstimate(
    "clip the operator norm",
    e,
    maxWorkOption(maxWork),
    `${layerContext(spec, grid)}${dykstra ? ", method dykstra" : ""}`,
  );
}
