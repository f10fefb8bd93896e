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

function sinkFor(ex: Expanded, values: Float64Array, part: Part): Sink {
  return (u, v, row, mirrored) => {
    for (const cell of part.places(u, v, mirrored)) values.set(row, cell * ex.r + part.slot);
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
  const values = allocate(ex);
  const counted = progressSink(parts.reduce((n, p) => n + visitedFrequencies(p.problem), 0), onProgress);
  for (const part of parts) {
    const sink = counted(sinkFor(ex, values, part));
    const one = singleTap(part.problem);
    if (!one) {
      await run(part.problem, sink);
      continue;
    }
    let row = new Float64Array(0);
    await run(one, (_u, _v, r) => row = r.slice());
    replicate(part.problem, row, sink);
  }
  return finish(ex, values, parts);
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

/** {@linkcode fillGrid} with a synchronous runner. */
export function fillGridSync(ex: Expanded, parts: readonly Part[], run: (problem: Problem, sink: Sink) => void): Grid {
  const values = allocate(ex);
  for (const part of parts) {
    const sink = sinkFor(ex, values, part);
    const one = singleTap(part.problem);
    if (!one) {
      run(part.problem, sink);
      continue;
    }
    let row = new Float64Array(0);
    run(one, (_u, _v, r) => row = r.slice());
    replicate(part.problem, row, sink);
  }
  return finish(ex, values, parts);
}
