/**
 * The grid of a layer's values: one row of `r` decreasing values per
 * frequency of the layer's frequency grid, filled from its problems' values
 * by any backend's runner.
 * @module
 */
import type { Expanded, Part } from "./expand.ts";
import { type Problem, type Sink, visitedFrequencies } from "./problem.ts";
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
  for (const part of parts) await run(part.problem, counted(sinkFor(ex, values, part)));
  return finish(ex, values, parts);
}

/** {@linkcode fillGrid} with a synchronous runner. */
export function fillGridSync(ex: Expanded, parts: readonly Part[], run: (problem: Problem, sink: Sink) => void): Grid {
  const values = allocate(ex);
  for (const part of parts) run(part.problem, sinkFor(ex, values, part));
  return finish(ex, values, parts);
}
