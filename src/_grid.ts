/**
 * Runs an expanded layer on the engine and gathers the per-frequency grid.
 * @module
 */
import type { CoreExports } from "./_wasm/loader.ts";
import type { Expanded } from "./_layers.ts";
import { runProblem } from "./_engine.ts";
import { MAX_VALUES } from "./_validate.ts";

/** The grid of values: `cells · r` values, each row of r decreasing; plus the norm and its cell. */
export interface Grid {
  values: Float64Array;
  norm: number;
  /** Flat index of a cell whose first value is the norm. */
  argmax: number;
}

/** Computes every part of `ex` and fills the grid; rows are sorted when several parts share them. */
export function computeGrid(core: CoreExports, ex: Expanded): Grid {
  const cells = ex.grid.reduce((a, b) => a * b, 1);
  const total = cells * ex.r;
  if (total > MAX_VALUES) {
    throw new RangeError(
      `Cannot compute singular values as their number must be at most ${MAX_VALUES}: current value is ${total} (grid [${
        ex.grid.join(", ")
      }] × ${ex.r} per frequency)`,
    );
  }
  const values = new Float64Array(total);
  for (const part of ex.parts) {
    runProblem(core, part.problem, (u, v, row, mirrored) => {
      for (const cell of part.places(u, v, mirrored)) values.set(row, cell * ex.r + part.slot);
    });
  }
  const shared = ex.parts.some((p) => p.slot !== 0);
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
