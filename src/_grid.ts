/**
 * A layer's grid of values, computed: validate the layer and how to run it,
 * expand it into problems, resolve the backend, run the problems there and
 * gather the grid. Serves singularValues, spectrum and operatorNorm.
 * @module
 */
import type { Backend, Kernel, Precision, SimdBuild, SingularValuesOptions } from "./types.ts";
import { exactSpec } from "./_options.ts";
import { type Expanded, expandSpec, mergeGroups, type Part } from "./_problem/expand.ts";
import { fillGrid, fillGridSync, fillValues, fillValuesSync, type Grid } from "./_problem/grid.ts";
import {
  type BackendRequest,
  resolveBackend,
  resolveBackendSync,
  runnerOf,
  type Skipped,
  validateRun,
  withReasons,
} from "./_backend.ts";
import { diagonalSorted, runProblem } from "./_wasm/engine.ts";
import type { CoreExports } from "./_wasm/abi.ts";
import { sortTwiceDescending } from "./_wasm/sort.ts";
import { loadWasm } from "./_wasm/loader.ts";
import { checkGrid } from "./_budget.ts";

/** A layer's expansion, its computed grid, and what computed it. */
export interface LayerGrid {
  ex: Expanded;
  grid: Grid;
  precision: Precision;
  backend: Backend;
  simd: SimdBuild | undefined;
  /** Threads that ran the values on wasm (the pool's workers used, or 1); undefined on WebGPU. */
  threads: number | undefined;
  skipped: Skipped;
}

const SUBJECT = "compute singular values";

/**
 * Validates the layer and the run options, and checks the call's memory and
 * work (before any work), then expands the layer into problems.
 */
export function prepareLayer(kernel: Kernel, options: SingularValuesOptions): { ex: Expanded; req: BackendRequest } {
  const spec = exactSpec(kernel, options);
  const run = validateRun(options);
  checkGrid(spec, options.maxWork, SUBJECT);
  const ex = expandSpec(spec, spec.n);
  return { ex, req: { subject: SUBJECT, run, problems: () => ex.parts.map((p) => p.problem) } };
}

/** Validates everything, then computes the grid on the calling thread (wasm). */
export function layerGridSync(kernel: Kernel, options: SingularValuesOptions): LayerGrid {
  const { ex, req } = prepareLayer(kernel, options);
  const b = resolveBackendSync(req);
  const grid = fillGridSync(ex, mergeGroups(ex), (p, sink) => runProblem(b.core, p, sink, b.precision));
  return { ex, grid, precision: b.precision, backend: "wasm", simd: b.simd, threads: 1, skipped: b.skipped };
}

/**
 * Validates everything, then computes the grid on the backend the options
 * resolve to: WebGPU, or wasm on the worker pool or the calling thread.
 */
export async function layerGrid(kernel: Kernel, options: SingularValuesOptions): Promise<LayerGrid> {
  const { ex, req } = prepareLayer(kernel, options);
  const b = await resolveBackend(req);
  // The wasm engine takes a grouped layer's blocks in one problem; WebGPU takes them one by one.
  const parts = b.backend === "wasm" ? mergeGroups(ex) : ex.parts;
  const grid = await withReasons(b.skipped, SUBJECT, () => fillGrid(ex, parts, runnerOf(b), req.run.onProgress));
  return {
    ex,
    grid,
    precision: b.precision,
    backend: b.backend,
    simd: b.backend === "wasm" ? b.simd : undefined,
    threads: b.backend === "wasm" ? Math.max(1, b.workers) : undefined,
    skipped: b.skipped,
  };
}

/**
 * Validates everything, then computes every value of the layer on the
 * calling thread (wasm), in decreasing order. The rows are gathered as a
 * multiset, not placed at their cells, and a value that stands for a
 * frequency and its mirror is sorted once.
 */
export function sortedValuesSync(kernel: Kernel, options: SingularValuesOptions): Float64Array {
  const { ex, req } = prepareLayer(kernel, options);
  const b = resolveBackendSync(req);
  const parts = mergeGroups(ex);
  const inCore = diagonalInCore(b.core, parts);
  if (inCore) return inCore;
  const got = fillValuesSync(ex, parts, (p, sink) => runProblem(b.core, p, sink, b.precision, false));
  return sortTwiceDescending(b.core, got.values, got.twice, got.once);
}

/**
 * A layer that is one problem of 1×1 frequency matrices (a depthwise layer
 * at stride 1), computed and sorted without its rows leaving the core
 * (diagonalSorted, synchronously: the core's memory is touched by no other
 * call meanwhile); undefined for any other layer, or where that path is not
 * taken.
 */
function diagonalInCore(core: CoreExports, parts: readonly Part[]): Float64Array | undefined {
  if (parts.length !== 1) return undefined;
  const [part] = parts;
  return diagonalSorted(core, part.problem, (u, v, mirrored) => part.mirror(u, v, mirrored) >= 0);
}

/** {@linkcode sortedValuesSync} on the backend the options resolve to (sorted on the wasm core). */
export async function sortedValues(kernel: Kernel, options: SingularValuesOptions): Promise<Float64Array> {
  const { ex, req } = prepareLayer(kernel, options);
  const b = await resolveBackend(req);
  const parts = b.backend === "wasm" ? mergeGroups(ex) : ex.parts;
  // Elementwise, on the calling thread whatever the pool (as a threaded run of such a problem is); a call that
  // reports progress or can be aborted takes the rows' path, which does both as it goes.
  if (b.backend === "wasm" && !req.run.onProgress && !req.run.signal) {
    const inCore = diagonalInCore(await loadWasm(), parts);
    if (inCore) return inCore;
  }
  const run = runnerOf(b, false);
  const got = await withReasons(b.skipped, SUBJECT, () => fillValues(ex, parts, run, req.run.onProgress));
  return sortTwiceDescending(await loadWasm(), got.values, got.twice, got.once);
}
