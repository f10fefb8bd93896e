/**
 * Runs an expanded layer on the engine and gathers the per-frequency grid.
 * @module
 */
import type { CoreExports } from "./_wasm/loader.ts";
import type { Expanded } from "./_layers.ts";
import { runProblem, runProblemThreaded, type Sink } from "./_engine.ts";
import { MAX_VALUES } from "./_validate.ts";
import type { Pool } from "./_threads/pool.ts";
import type { Backend, Kernel, Precision, SingularValuesOptions } from "./types.ts";
import { runProblemWebGPU } from "./_webgpu/run.ts";
import type { GpuContext } from "./_webgpu/device.ts";
import { chooseBackend, chooseBackendSync } from "./_webgpu/choose.ts";
import { expandLayer } from "./_layers.ts";
import { resolvePool, validateRunOptions } from "./_run_options.ts";
import { loadWasm, loadWasmSync } from "./_wasm/loader.ts";

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

function sinkFor(ex: Expanded, values: Float64Array, slot: number, places: Expanded["parts"][number]["places"]): Sink {
  return (u, v, row, mirrored) => {
    for (const cell of places(u, v, mirrored)) values.set(row, cell * ex.r + slot);
  };
}

/**
 * The parts the wasm engine runs: a grouped layer's per-group problems of one
 * depth frequency merged into one problem with `groups` diagonal blocks, so
 * that a depthwise layer is one pass over its frequencies (not one per
 * channel) and each frequency's row comes out sorted. Other layers: as expanded.
 */
export function engineParts(ex: Expanded): Expanded["parts"] {
  if (ex.parts.every((p) => p.group === 0)) return ex.parts;
  const byT = new Map<number, Expanded["parts"]>();
  for (const p of ex.parts) {
    const list = byT.get(p.t) ?? [];
    list.push(p);
    byT.set(p.t, list);
  }
  return [...byT.values()].map((list) => {
    const first = list[0].problem;
    const size = first.re.length;
    const re = new Float64Array(size * list.length);
    const im = first.im ? new Float64Array(size * list.length) : undefined;
    list.forEach((p, g) => {
      re.set(p.problem.re, g * size);
      if (im && p.problem.im) im.set(p.problem.im, g * size);
    });
    return { ...list[0], slot: 0, problem: { ...first, re, ...(im ? { im } : {}), groups: list.length } };
  });
}

function finish(ex: Expanded, values: Float64Array, parts: Expanded["parts"]): Grid {
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

/** Computes every part of `ex` on the calling thread and fills the grid; rows are sorted when parts share them. */
export function computeGrid(core: CoreExports, ex: Expanded, precision: Precision = "f64"): Grid {
  const values = allocate(ex);
  const parts = engineParts(ex);
  for (const part of parts) runProblem(core, part.problem, sinkFor(ex, values, part.slot, part.places), precision);
  return finish(ex, values, parts);
}

/** {@linkcode computeGrid} on a worker pool (identical values). */
export async function computeGridThreaded(pool: Pool, ex: Expanded, precision: Precision = "f64"): Promise<Grid> {
  const values = allocate(ex);
  const parts = engineParts(ex);
  for (const part of parts) {
    await runProblemThreaded(pool, part.problem, sinkFor(ex, values, part.slot, part.places), precision);
  }
  return finish(ex, values, parts);
}

/** {@linkcode computeGrid} on a WebGPU device (f32). */
export async function computeGridWebGPU(gpu: GpuContext, ex: Expanded): Promise<Grid> {
  const values = allocate(ex);
  for (const part of ex.parts) await runProblemWebGPU(gpu, part.problem, sinkFor(ex, values, part.slot, part.places));
  return finish(ex, values, ex.parts);
}

/** A layer's validated expansion, its computed grid, and what computed it. */
export interface LayerGrid {
  ex: Expanded;
  grid: Grid;
  precision: Precision;
  backend: Backend;
  skipped: { webgpu?: string };
}

/** Validates everything, then computes the grid on the calling thread (wasm). */
export function layerGridSync(kernel: Kernel, options: SingularValuesOptions): LayerGrid {
  const ex = expandLayer(kernel, options);
  validateRunOptions(options);
  const c = chooseBackendSync(options.backend, options.precision);
  return { ex, grid: computeGrid(loadWasmSync(), ex, c.precision), precision: c.precision, backend: "wasm", skipped: c.skipped };
}

/**
 * Validates everything, then computes the grid on the backend the options
 * choose: WebGPU, or wasm on the worker pool (or the calling thread when
 * threads is 1).
 */
export async function layerGrid(kernel: Kernel, options: SingularValuesOptions): Promise<LayerGrid> {
  const ex = expandLayer(kernel, options);
  const { threads } = validateRunOptions(options);
  const c = await chooseBackend(options.backend, options.precision, ex.parts.map((p) => p.problem));
  if (c.backend === "webgpu") {
    return { ex, grid: await computeGridWebGPU(c.gpu, ex), precision: "f32", backend: "webgpu", skipped: {} };
  }
  try {
    const pool = await resolvePool(threads);
    const grid = pool ? await computeGridThreaded(pool, ex, c.precision) : computeGrid(await loadWasm(), ex, c.precision);
    return { ex, grid, precision: c.precision, backend: "wasm", skipped: c.skipped };
  } catch (err) {
    // Under "auto", one error lists every backend's reason.
    if (c.skipped.webgpu && !(err instanceof RangeError) && !(err instanceof TypeError)) {
      throw new Error(
        `Cannot compute singular values on any backend: wasm failed (${
          err instanceof Error ? err.message : err
        }); webgpu was skipped (${c.skipped.webgpu})`,
        { cause: err },
      );
    }
    throw err;
  }
}
