/**
 * The grid of a layer's values: one row of `r` decreasing values per
 * frequency of the layer's frequency grid, filled from its problems' values
 * by any backend's runner.
 * @module
 */
import type { Expanded, Part } from "./expand.ts";
import { forEachFrequency, type Problem, type Sink, visitedFrequencies } from "./problem.ts";
import type { Progress } from "../types.ts";
import { MAX_VALUES } from "../_options.ts";

/** The grid of values: `cells · r` values, each row of r decreasing; plus the norm and its cell. */
export interface Grid {
  values: Float64Array;
  norm: number;
  /** Flat index of a cell whose first value is the norm. */
  argmax: number;
}

function allocate(ex: Expanded): Float64Array {
  const cells = ex.grid.reduce((a, b) => a * b, 1);
  const total = cells * ex.r;
  if (total > MAX_VALUES) {
    throw new RangeError(
      `Cannot compute singular values as their number must be at most ${MAX_VALUES}: current value is ${total} (grid [${
        ex.grid.join(", ")
      }] × ${ex.r} per frequency)`,
    );
  }
  return new Float64Array(total);
}

/** Below this many values a row is copied by hand: a call of set() costs more than the copy. */
const SHORT_ROW = 48;

/** values[at..] = row. */
function put(values: Float64Array, row: Float64Array, at: number): void {
  const n = row.length;
  if (n > SHORT_ROW) values.set(row, at);
  else for (let j = 0; j < n; j++) values[at + j] = row[j];
}

function sinkFor(ex: Expanded, values: Float64Array, part: Part): Sink {
  return (u, v, row, mirrored) => {
    put(values, row, part.cell(u, v) * ex.r + part.slot);
    const m = part.mirror(u, v, mirrored);
    if (m >= 0) put(values, row, m * ex.r + part.slot);
  };
}

function finish(ex: Expanded, values: Float64Array, parts: readonly Part[]): Grid {
  const cells = values.length / ex.r;
  const shared = parts.some((p) => p.slot !== 0);
  let norm = 0;
  let argmax = 0;
  for (let c = 0; c < cells; c++) {
    if (shared) {
      const row = values.subarray(c * ex.r, (c + 1) * ex.r);
      row.sort();
      row.reverse();
    }
    const top = values[c * ex.r];
    if (top > norm) {
      norm = top;
      argmax = c;
    }
  }
  return { values, norm, argmax };
}

/**
 * Counts the frequencies a sink receives and reports `{ done, total }` to
 * `onProgress` at most about every 1% of `total`, and at the end.
 */
export function progressSink(
  total: number,
  onProgress: ((progress: Progress) => void) | undefined,
): (sink: Sink) => Sink {
  if (!onProgress) return (sink) => sink;
  let done = 0, next = 0;
  const step = Math.max(1, Math.floor(total / 100));
  return (sink) => (u, v, row, mirrored) => {
    sink(u, v, row, mirrored);
    done++;
    if (done >= next || done === total) {
      next = done + step;
      onProgress({ done, total });
    }
  };
}

/** Where a run's rows go: a sink per part, and the result once every part has run. */
interface Collector<T> {
  sink(part: Part): Sink;
  finish(): T;
}

/** Rows into the grid, each at its cells; rows shared by parts are sorted at the end. */
function gridCollector(ex: Expanded, parts: readonly Part[]): Collector<Grid> {
  const values = allocate(ex);
  return { sink: (part) => sinkFor(ex, values, part), finish: () => finish(ex, values, parts) };
}

/**
 * A layer's values as a multiset, in no order: the `twice` values at the
 * front of `values` each stand for two cells of the grid (a frequency and
 * its mirror), the `once` values at its back for one; `2·twice + once`
 * is the grid's number of values.
 */
export interface LayerValues {
  values: Float64Array;
  twice: number;
  once: number;
}

/** Rows into the multiset of the layer's values, by how many cells each stands for. */
function valuesCollector(ex: Expanded): Collector<LayerValues> {
  const values = allocate(ex);
  const n = values.length;
  let twice = 0, once = 0;
  return {
    sink: (part) => (u, v, row, mirrored) => {
      if (part.mirror(u, v, mirrored) >= 0) {
        put(values, row, twice);
        twice += row.length;
      } else {
        once += row.length;
        put(values, row, n - once);
      }
    },
    finish: () => ({ values, twice, once }),
  };
}

/**
 * The runs that hand `parts`' rows to a collector, in order: each part's
 * problem with its sink, or, for a one-tap problem, that problem on one
 * frequency, whose row is replicated when the caller resumes the generator.
 */
function* runs(parts: readonly Part[], sinkOf: (part: Part) => Sink): Generator<[Problem, Sink]> {
  for (const part of parts) {
    const sink = sinkOf(part);
    const one = singleTap(part.problem);
    if (!one) {
      yield [part.problem, sink];
      continue;
    }
    let row = new Float64Array(0);
    yield [one, (_u, _v, r) => row = r.slice()];
    replicate(part.problem, row, sink);
  }
}

/** Runs `parts` one after another through `run` into the collector and returns its result. */
async function collect<T>(
  parts: readonly Part[],
  into: Collector<T>,
  run: (problem: Problem, sink: Sink) => void | Promise<void>,
  onProgress?: (progress: Progress) => void,
): Promise<T> {
  const counted = progressSink(parts.reduce((n, p) => n + visitedFrequencies(p.problem), 0), onProgress);
  for (const [problem, sink] of runs(parts, (part) => counted(into.sink(part)))) await run(problem, sink);
  return into.finish();
}

/** {@linkcode collect} with a synchronous runner. */
function collectSync<T>(parts: readonly Part[], into: Collector<T>, run: (problem: Problem, sink: Sink) => void): T {
  for (const [problem, sink] of runs(parts, (part) => into.sink(part))) run(problem, sink);
  return into.finish();
}

/**
 * Runs `parts` (the layer's parts, or its merged groups) one after another
 * through `run` and fills the grid; rows are sorted where parts share them.
 */
export async function fillGrid(
  ex: Expanded,
  parts: readonly Part[],
  run: (problem: Problem, sink: Sink) => void | Promise<void>,
  onProgress?: (progress: Progress) => void,
): Promise<Grid> {
  return await collect(parts, gridCollector(ex, parts), run, onProgress);
}

/** {@linkcode fillGrid} with a synchronous runner. */
export function fillGridSync(ex: Expanded, parts: readonly Part[], run: (problem: Problem, sink: Sink) => void): Grid {
  return collectSync(parts, gridCollector(ex, parts), run);
}

/**
 * Runs `parts` like {@linkcode fillGrid} but gathers the layer's values as a
 * multiset (rows may come in any order): what a sorted list of all the
 * values needs, without placing each row at its cells.
 */
export async function fillValues(
  ex: Expanded,
  parts: readonly Part[],
  run: (problem: Problem, sink: Sink) => void | Promise<void>,
  onProgress?: (progress: Progress) => void,
): Promise<LayerValues> {
  return await collect(parts, valuesCollector(ex), run, onProgress);
}

/** {@linkcode fillValues} with a synchronous runner. */
export function fillValuesSync(
  ex: Expanded,
  parts: readonly Part[],
  run: (problem: Problem, sink: Sink) => void,
): LayerValues {
  return collectSync(parts, valuesCollector(ex), run);
}

/**
 * A problem whose kernel has one tap (1×1, real) has the same matrix at every
 * frequency: `P(u, v) = K·e^0 = K`, the same bits. It is then computed once,
 * on a 1 × 1 grid, and its values replicated.
 */
function singleTap(p: Problem): Problem | undefined {
  if (p.kh !== 1 || p.kw !== 1 || p.im !== undefined || (p.h === 1 && p.w === 1)) return undefined;
  return { ...p, h: 1, w: 1 };
}

/** Hands `row` to `sink` for every frequency a backend would visit. */
function replicate(p: Problem, row: Float64Array, sink: Sink): void {
  forEachFrequency(p.h, p.w, false, (u, v, mirrored) => sink(u, v, row, mirrored));
}
