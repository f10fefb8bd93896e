/**
 * Layer kinds → engine problems. A layer's spectrum is the union of the
 * spectra of one or more 2-D circular stride-1 problems (DESIGN.md §3); this
 * module validates the options and says where each problem's per-frequency
 * values go in the layer's frequency grid.
 * @module
 */
import type { Kernel, SingularValuesOptions } from "./types.ts";
import { validateLayer } from "./_validate.ts";
import { layerProblem, type Problem } from "./_engine.ts";

/** One problem and where its values land. */
export interface Part {
  problem: Problem;
  /**
   * Flat indices into the grid (row-major over `Expanded.grid`) that receive
   * the values the engine reports for frequency (u, v) of this problem;
   * `mirrored` is the engine's flag (see `Sink`).
   */
  places(u: number, v: number, mirrored: boolean): number[];
  /** Offset of this problem's values within a grid row of `Expanded.r`. */
  slot: number;
}

/** A layer expanded into problems. */
export interface Expanded {
  /** The frequency grid's shape: `[h, w]` for a plain 2-D layer. */
  grid: number[];
  /** Values per frequency (sum over the parts that share a frequency). */
  r: number;
  /** The parts; together they fill every `r`-row of the grid exactly once. */
  parts: Part[];
}

/** Validates kernel and options and expands the layer into problems. Throws TypeError/RangeError. */
export function expandLayer(kernel: Kernel, options: SingularValuesOptions): Expanded {
  const layer = validateLayer(kernel, options);
  const { h, w } = layer;
  const problem = layerProblem(layer);
  return {
    grid: [h, w],
    r: Math.min(layer.cIn, layer.cOut),
    parts: [{
      problem,
      slot: 0,
      places: (u, v, mirrored) => mirrored ? [u * w + v, ((h - u) % h) * w + ((w - v) % w)] : [u * w + v],
    }],
  };
}
