/**
 * The WebGPU planner: how one problem runs on a device, decided from the
 * device limits alone (no device needed), so that tests can check the
 * splitting against lowered limits.
 *
 * A plan fixes the matrix shape (`max(c_out, c_in) × min(c_out, c_in)`, `Pᵀ`
 * when `c_out < c_in`, `V` stored below each matrix for the clipping round),
 * the frequencies per batch (one storage binding of matrices, one 2-D
 * dispatch), the slices of output channels the kernel is uploaded in (each
 * within one binding), the Jacobi layout (lanes per pair, matrices per
 * workgroup, workgroup or storage memory) and how many Jacobi steps one
 * dispatch runs: all of them, one sweep for large matrices in storage memory
 * (no dispatch long enough for a GPU watchdog), or what fits the loop budget
 * of a software adapter. It also holds each shader's specialisation.
 * @module
 */
import type { Problem } from "../_problem/problem.ts";
import type { GpuContext, GpuLimits, WgslConstant } from "./device.ts";

/** Sweeps before a matrix counts as not converged (f32 Jacobi needs 5–12). */
export const MAX_SWEEPS = 40;
/** Workgroup size of the transform pass. */
export const TRANSFORM_WG = 64;
/** Largest workgroup the Jacobi pass uses (the spec's default limit). */
const JACOBI_WG_MAX = 256;
/**
 * Loop iterations one shader invocation may run on a fallback adapter:
 * llvmpipe ends every loop once an invocation's iterations over all its loops
 * reach 65535 (`LP_MAX_TGSI_LOOP_ITERATIONS`), silently. Kept below with a margin.
 */
export const FALLBACK_LOOP_BUDGET = 60_000;
/** `M·N²` from which the Jacobi pass runs one sweep per dispatch (c = 256: about 1 GFLOP a sweep per matrix). */
const LONG_SWEEP = 2 ** 24;
/** Workgroup size of the rebuild pass of the clipping round (clip.wgsl.ts). */
export const REBUILD_WG = 64;

/** How one problem runs on the device: shapes, batches, slices, chunks and shader specialisations. */
export interface GpuPlan {
  /** Rows and columns of each matrix (`max(c_out, c_in)`, `min(c_out, c_in)`). */
  m: number;
  n: number;
  /** Rows stored per column: `m`, or `m + n` when the right singular vectors ride below (clipping). */
  ld: number;
  /** Whether the matrices are `Pᵀ` (`c_out < c_in`). */
  transposed: boolean;
  /** Frequencies per batch (one binding of matrices, one 2-D dispatch). */
  batch: number;
  /** Output channels per kernel slice (one binding). */
  slice: number;
  /** Number of kernel slices (transform dispatches per batch). */
  slices: number;
  /** Whether the matrices sit in workgroup memory (else rotated in place in the storage buffer). */
  shared: boolean;
  /** Matrices per workgroup. */
  perGroup: number;
  /** Sweep cap. */
  maxSweeps: number;
  /** Jacobi steps per dispatch (all `maxSweeps·(NP − 1)` in one unless the loop budget is finite). */
  chunk: number;
  /** Jacobi dispatches per batch. */
  chunks: number;
  transform: Record<string, WgslConstant>;
  jacobi: Record<string, WgslConstant>;
  /** The rebuild pass of the clipping round (only with `vectors`). */
  rebuild: Record<string, WgslConstant>;
}

const pow2Floor = (x: number): number => 2 ** Math.floor(Math.log2(Math.max(1, x)));
const pow2Ceil = (x: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

/** What {@linkcode planProblem} may tune (tests and benchmarks). */
export interface PlanOptions {
  /** Sweep cap (default {@linkcode MAX_SWEEPS}). */
  maxSweeps?: number | undefined;
  /** Loop iterations per shader invocation (default: Infinity, or {@linkcode FALLBACK_LOOP_BUDGET} on fallback adapters). */
  loopBudget?: number | undefined;
}

/**
 * Plans a problem against the device limits (pure; no device needed).
 * `frequencies` is the number of frequencies the problem visits; `vectors`
 * plans the clipping round (Jacobi with `V` below each matrix, then the
 * rebuild pass) instead of values only.
 * Throws RangeError when one frequency's matrix or one output channel of the
 * kernel does not fit one storage binding, or one step of the work does not
 * fit the loop budget.
 */
export function planProblem(
  prob: Pick<Problem, "cOut" | "cIn" | "kh" | "kw"> & { complex: boolean; vectors?: boolean },
  frequencies: number,
  limits: Readonly<GpuLimits>,
  options: PlanOptions = {},
): GpuPlan {
  const { cOut, cIn, kh, kw, complex } = prob;
  const vectors = prob.vectors === true;
  const maxSweeps = options.maxSweeps ?? MAX_SWEEPS;
  const budget = options.loopBudget ?? Infinity;
  const transposed = cOut < cIn;
  const m = Math.max(cOut, cIn);
  const n = Math.min(cOut, cIn);
  const ld = vectors ? m + n : m;
  const bind = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const describe = `(c_out ${cOut}, c_in ${cIn}, folded kernel ${kh}×${kw})`;
  const matrixBytes = ld * n * 8;
  if (matrixBytes > bind) {
    throw new RangeError(
      `Cannot compute singular values on WebGPU as one frequency's ${ld}×${n} complex f32 matrix${
        vectors ? " (with its right singular vectors)" : ""
      } must fit one storage binding of ${bind} bytes: current value is ${matrixBytes} bytes ${describe}`,
    );
  }
  const rowBytes = cIn * kh * kw * 4 * (complex ? 2 : 1);
  if (rowBytes > bind) {
    throw new RangeError(
      `Cannot compute singular values on WebGPU as one output channel of the kernel must fit one storage binding of ${bind} bytes: current value is ${rowBytes} bytes ${describe}`,
    );
  }
  const slice = Math.min(cOut, Math.floor(bind / rowBytes));
  const perEntry = 1 + kh * (1 + kw); // transform loop iterations per matrix entry
  if (perEntry + 1 > budget) {
    throw new RangeError(
      `Cannot compute singular values on this WebGPU adapter as its shader loops stop after ${budget} iterations: current value is ${perEntry} for one entry of the transform ${describe}`,
    );
  }

  // Jacobi layout: L lanes per pair (about 8 rows each, at most 32 lanes), a
  // workgroup large enough for one step's pairs, F matrices per workgroup to
  // fill it while they fit in workgroup memory.
  const np = n + (n % 2);
  const half = np / 2;
  const wgMax = Math.min(
    JACOBI_WG_MAX,
    pow2Floor(limits.maxComputeInvocationsPerWorkgroup),
    pow2Floor(limits.maxComputeWorkgroupSizeX),
  );
  const lanes = Math.min(32, pow2Floor(m / 8), wgMax);
  const wg = Math.max(lanes, Math.min(wgMax, Math.max(64, pow2Ceil(half * lanes))));
  const pairsInFlight = wg / lanes;
  const sharedBytes = (f: number) => f * matrixBytes + wg * 16 + f * 8 + 16;
  let perGroup = Math.max(1, Math.min(Math.floor(pairsInFlight / half), frequencies));
  while (perGroup > 1 && sharedBytes(perGroup) > limits.maxComputeWorkgroupStorageSize) perGroup--;
  const shared = sharedBytes(perGroup) <= limits.maxComputeWorkgroupStorageSize;

  // Steps per dispatch under the loop budget: each step runs ITERS tasks of
  // ⌈M/L⌉ + ⌈LD/L⌉ + L inner iterations; the fixed part loads, stores, zeroes,
  // sets V = I and takes the norms.
  const iters = Math.ceil((perGroup * half) / pairsInFlight);
  const perStep = 2 + perGroup + iters * (1 + Math.ceil(m / lanes) + Math.ceil(ld / lanes) + lanes);
  const fixed = 4 * perGroup + 3 * Math.ceil((perGroup * ld * n + wg * 2) / wg) +
    (vectors ? Math.ceil((perGroup * n * n) / wg) : 0) + Math.ceil((perGroup * n) / wg) * (m + 1) + 16;
  const totalSteps = maxSweeps * (np - 1);
  // Large matrices in global memory: one sweep per dispatch, so that no
  // dispatch runs long enough for a GPU watchdog (Windows TDR: 2 s) to kill
  // it; the chunks cost nothing there (the state stays in the storage buffer).
  const perDispatch = !shared && m * n * n >= LONG_SWEEP ? np - 1 : totalSteps;
  const chunk = Math.max(0, Math.min(perDispatch, Math.floor((budget - fixed) / perStep)));
  if (chunk < 1) {
    throw new RangeError(
      `Cannot compute singular values on this WebGPU adapter as its shader loops stop after ${budget} iterations: current value is ${
        fixed + perStep
      } for one Jacobi step ${describe}`,
    );
  }

  const maxDim = limits.maxComputeWorkgroupsPerDimension;
  const maxThreads = maxDim * maxDim * TRANSFORM_WG;
  if (vectors && n + 2 > budget) {
    throw new RangeError(
      `Cannot clip on this WebGPU adapter as its shader loops stop after ${budget} iterations: current value is ${
        n + 1
      } for one entry of the rebuild ${describe}`,
    );
  }
  const batch = Math.max(
    1,
    Math.min(
      frequencies,
      Math.floor(bind / matrixBytes),
      Math.floor(bind / ((kh + kw) * 8)),
      Math.floor(bind / (n * 4)),
      Math.floor(bind / 4),
      maxDim * maxDim * perGroup,
      // transform entries per invocation within the budget
      Number.isFinite(budget)
        ? Math.floor((maxThreads * Math.floor((budget - 1) / perEntry)) / (slice * cIn))
        : Infinity,
      // rebuild entries per invocation within the budget
      vectors && Number.isFinite(budget)
        ? Math.floor((maxDim * maxDim * REBUILD_WG * Math.floor((budget - 1) / (n + 1))) / (m * n))
        : Infinity,
    ),
  );
  return {
    m,
    n,
    ld,
    transposed,
    batch,
    slice,
    slices: Math.ceil(cOut / slice),
    shared,
    perGroup,
    maxSweeps,
    chunk,
    chunks: Math.ceil(totalSteps / chunk),
    transform: {
      WG: TRANSFORM_WG,
      CIN: cIn,
      KH: kh,
      KW: kw,
      M: m,
      N: n,
      LD: ld,
      COMPLEX: complex,
      TRANSPOSED: transposed,
    },
    jacobi: {
      WG: wg,
      L: lanes,
      M: m,
      N: n,
      LD: ld,
      NP: np,
      F: perGroup,
      SH_LEN: shared ? perGroup * ld * n : 1,
      SHARED: shared,
      VECTORS: vectors,
      TOL: { f32: Math.sqrt(m) * 2 ** -23 },
    },
    rebuild: { WG: REBUILD_WG, M: m, N: n, LD: ld },
  };
}

/** Test knobs of the runners (run.ts, clip.ts): the plan's, and a look at the plan. */
export interface GpuRunOptions extends PlanOptions {
  /** Receives the plan before anything runs (tests check that splitting happened). */
  onPlan?: ((plan: GpuPlan) => void) | undefined;
}

/**
 * Plans a problem for `gpu` as the runners do: against its limits, with the
 * loop budget of a fallback adapter unless `options` sets one, and hands the
 * plan to `options.onPlan`. Throws as {@linkcode planProblem} does.
 */
export function planFor(
  gpu: GpuContext,
  prob: Parameters<typeof planProblem>[0],
  frequencies: number,
  options: GpuRunOptions,
): GpuPlan {
  const plan = planProblem(prob, frequencies, gpu.limits, {
    maxSweeps: options.maxSweeps,
    loopBudget: options.loopBudget ?? (gpu.fallback ? FALLBACK_LOOP_BUDGET : Infinity),
  });
  options.onPlan?.(plan);
  return plan;
}
