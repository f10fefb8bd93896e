/**
 * The WebGPU runner: the backend contract of src/_problem/problem.ts on WGSL
 * compute, in f32.
 *
 * For one problem: scale the kernel by a power of two (largest entry in
 * [0.5, 1), so f32 neither overflows nor loses small columns), round it to
 * f32 and upload it in slices of whole output channels, each within one
 * storage binding. Then, per batch of frequencies (as many as fit one binding
 * of `M·N` complex matrices and one 2-D dispatch): the CPU writes the batch's
 * twiddles (f64, rounded), the transform pass writes every `P(u, v)` of the
 * batch (one dispatch per kernel slice), the Jacobi pass turns each matrix
 * into its column norms (all sweeps in one dispatch, or in chunks on a
 * software adapter, whose shader loops are capped), and the norms are copied
 * to a staging buffer and read back. Two batches are in flight at a time (two staging buffers); the
 * other buffers are reused, since the queue runs a batch's writes after the
 * previous batch's work. The values are scaled back, sorted decreasing and
 * handed to the sink in the engine's order. At the end the values must pass
 * the Frobenius identity `Σσ² = h·w·‖K‖²_F` to 1e-3, so that a driver that
 * computes garbage without reporting an error is caught.
 *
 * Memory on the device: the kernel, plus one batch (at most one binding:
 * `maxStorageBufferBindingSize`, 128 MiB on most adapters) of matrices. It
 * does not grow with `h·w·c²`.
 * @module
 */
import { forEachFrequency, ldexp, type Problem, scaleExponent, type Sink } from "../_problem/problem.ts";
import { twiddle } from "../_problem/expand.ts";
import { ConvergenceError } from "../errors.ts";
import {
  foldWorkgroups,
  getPipeline,
  type GpuContext,
  type GpuLimits,
  MAP_READ,
  USAGE,
  type WgslConstant,
} from "./device.ts";
import { TRANSFORM_WGSL } from "./transform.wgsl.ts";
import { JACOBI_WGSL } from "./jacobi.wgsl.ts";

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
/** Relative tolerance of the Frobenius check (f32 results are good to about 1e-6). */
export const FROBENIUS_TOLERANCE = 1e-3;
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
  maxSweeps?: number;
  /** Loop iterations per shader invocation (default: Infinity, or {@linkcode FALLBACK_LOOP_BUDGET} on fallback adapters). */
  loopBudget?: number;
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

/**
 * The transform's twiddles for frequencies `f0 .. f0 + count`: per frequency
 * `kh` row factors `exp(2πi·u·a/h)` then `kw` column factors `exp(2πi·v·b/w)`,
 * interleaved re/im, computed in f64 with the phase reduced in integers and
 * rounded to f32.
 */
export function batchTwiddles(
  freqs: readonly { u: number; v: number }[],
  f0: number,
  count: number,
  dims: Pick<Problem, "kh" | "kw" | "h" | "w">,
): Float32Array<ArrayBuffer> {
  const { kh, kw, h, w } = dims;
  const tw = new Float32Array(count * (kh + kw) * 2);
  for (let f = 0; f < count; f++) {
    const { u, v } = freqs[f0 + f];
    const base = f * (kh + kw) * 2;
    for (let a = 0; a < kh; a++) {
      const [c, s] = twiddle((u * a) % h, h);
      tw[base + 2 * a] = c;
      tw[base + 2 * a + 1] = s;
    }
    for (let b = 0; b < kw; b++) {
      const [c, s] = twiddle((v * b) % w, w);
      tw[base + 2 * (kh + b)] = c;
      tw[base + 2 * (kh + b) + 1] = s;
    }
  }
  return tw;
}

/** Test knobs of {@linkcode runProblemWebGPU}. */
export interface GpuRunOptions extends PlanOptions {
  /** Receives the plan before anything runs (tests check that splitting happened). */
  onPlan?: (plan: GpuPlan) => void;
}

/** Runs `fn` inside validation and out-of-memory error scopes and throws the first GPU error. */
export async function scoped<T>(device: GPUDevice, what: string, fn: () => Promise<T>): Promise<T> {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  let result: T;
  let failure: unknown;
  try {
    result = await fn();
  } catch (err) {
    failure = err;
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  const gpuError = validation ?? oom;
  if (gpuError) {
    throw new Error(`Cannot compute singular values on WebGPU as ${what} failed: ${gpuError.message}`, {
      cause: failure,
    });
  }
  if (failure !== undefined) throw failure;
  return result!;
}

/**
 * Computes every frequency of a problem (the Hermitian half for a real
 * kernel) on the GPU in f32 and passes its values to `sink`: the same calls,
 * in the same order, as {@linkcode runProblem}, with values accurate to a few
 * `1e-7·σ_max` (one-sided Jacobi; see jacobi.wgsl.ts).
 *
 * @throws {RangeError} When one frequency's matrix or one output channel of the kernel exceeds one storage
 *   binding, or (software adapters) one step does not fit the loop budget. Nothing has reached the sink then.
 * @throws {ConvergenceError} When some frequency's Jacobi sweeps do not converge (after the sink saw NaN rows).
 * @throws {Error} On a GPU validation or out-of-memory error, a lost device, or a failed Frobenius check.
 */
export async function runProblemWebGPU(
  gpu: GpuContext,
  prob: Problem,
  sink: Sink,
  options: GpuRunOptions = {},
): Promise<void> {
  const { cOut, cIn, kh, kw, h, w } = prob;
  const complex = prob.im !== undefined;
  const freqs: { u: number; v: number; mirrored: boolean }[] = [];
  forEachFrequency(h, w, complex, (u, v, mirrored) => freqs.push({ u, v, mirrored }));
  const plan = planProblem({ cOut, cIn, kh, kw, complex }, freqs.length, gpu.limits, {
    maxSweeps: options.maxSweeps,
    loopBudget: options.loopBudget ?? (gpu.fallback ? FALLBACK_LOOP_BUDGET : Infinity),
  });
  options.onPlan?.(plan);
  const e = scaleExponent(prob.re, prob.im);
  if (e === undefined) {
    const zeros = new Float64Array(plan.n);
    for (const { u, v, mirrored } of freqs) sink(u, v, zeros, mirrored);
    return;
  }
  const { device } = gpu;
  const { m, n, batch, slice, slices, chunk, chunks } = plan;
  const owned: GPUBuffer[] = [];
  const buffer = (label: string, size: number, usage: number): GPUBuffer => {
    const b = device.createBuffer({ label: `convsv ${label}`, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
    owned.push(b);
    return b;
  };
  const failed: [number, number][] = [];
  // Frobenius check (Σσ² = h·w·‖K‖²_F, in the scaled units the device saw):
  // catches a device or driver that returns garbage without an error.
  let kernelSq = 0;
  let valueSq = 0;
  try {
    const [transform, jacobi] = await scoped(device, "compiling the shaders", () =>
      Promise.all([
        getPipeline(gpu, "transform", TRANSFORM_WGSL, plan.transform),
        getPipeline(gpu, "jacobi", JACOBI_WGSL, plan.jacobi),
      ]));

    await scoped(device, "running the transform and Jacobi passes", async () => {
      // The kernel, scaled by 2^−e and rounded to f32, one buffer per slice of output channels.
      const per = cIn * kh * kw;
      const kernels: GPUBindGroup[] = [];
      const sliceParams: GPUBuffer[] = [];
      const matrices = buffer("matrices", batch * m * n * 8, USAGE.STORAGE);
      const twiddles = buffer("twiddles", batch * (kh + kw) * 8, USAGE.STORAGE | USAGE.COPY_DST);
      const values = buffer("values", batch * n * 4, USAGE.STORAGE | USAGE.COPY_SRC);
      const staging = [0, 1].map((k) => buffer(`staging ${k}`, batch * n * 4, USAGE.MAP_READ | USAGE.COPY_DST));
      const state = buffer("jacobi state", batch * 4, USAGE.STORAGE | USAGE.COPY_DST);
      const batchParams = buffer("jacobi batch params", 16, USAGE.UNIFORM | USAGE.COPY_DST);
      // One uniform slot per Jacobi dispatch: [step0, steps, last].
      const totalSteps = plan.maxSweeps * (n + (n % 2) - 1);
      const chunkParams = buffer("jacobi chunk params", chunks * 256, USAGE.UNIFORM | USAGE.COPY_DST);
      const slots = new Uint32Array(chunks * 64);
      for (let c = 0; c < chunks; c++) {
        slots.set([c * chunk, Math.min(chunk, totalSteps - c * chunk), c === chunks - 1 ? 1 : 0], c * 64);
      }
      device.queue.writeBuffer(chunkParams, 0, slots);
      for (let s = 0; s < slices; s++) {
        const o0 = s * slice;
        const no = Math.min(slice, cOut - o0);
        const data = new Float32Array(no * per * (complex ? 2 : 1));
        for (let k = 0; k < no * per; k++) {
          const src = o0 * per + k;
          if (complex) {
            data[2 * k] = ldexp(prob.re[src], -e);
            data[2 * k + 1] = ldexp(prob.im![src], -e);
            kernelSq += data[2 * k] ** 2 + data[2 * k + 1] ** 2;
          } else {
            data[k] = ldexp(prob.re[src], -e);
            kernelSq += data[k] ** 2;
          }
        }
        const kbuf = buffer(`kernel slice ${s}`, data.byteLength, USAGE.STORAGE | USAGE.COPY_DST);
        device.queue.writeBuffer(kbuf, 0, data);
        const pbuf = buffer(`transform params ${s}`, 16, USAGE.UNIFORM | USAGE.COPY_DST);
        sliceParams.push(pbuf);
        kernels.push(device.createBindGroup({
          label: `convsv transform bindings ${s}`,
          layout: transform.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: pbuf } },
            { binding: 1, resource: { buffer: kbuf } },
            { binding: 2, resource: { buffer: twiddles } },
            { binding: 3, resource: { buffer: matrices } },
          ],
        }));
      }
      const jacobiBindings: GPUBindGroup[] = [];
      for (let c = 0; c < chunks; c++) {
        jacobiBindings.push(device.createBindGroup({
          label: `convsv jacobi bindings ${c}`,
          layout: jacobi.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: batchParams } },
            { binding: 1, resource: { buffer: chunkParams, offset: c * 256, size: 16 } },
            { binding: 2, resource: { buffer: matrices } },
            { binding: 3, resource: { buffer: state } },
            { binding: 4, resource: { buffer: values } },
          ],
        }));
      }

      const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
      const submit = (f0: number, count: number, out: GPUBuffer): Promise<void> => {
        device.queue.writeBuffer(twiddles, 0, batchTwiddles(freqs, f0, count, prob));
        const encoder = device.createCommandEncoder({ label: `convsv batch at ${f0}` });
        const pass = encoder.beginComputePass({ label: `convsv transform at ${f0}` });
        pass.setPipeline(transform);
        for (let s = 0; s < slices; s++) {
          const no = Math.min(slice, cOut - s * slice);
          const groups = Math.ceil((count * no * cIn) / TRANSFORM_WG);
          const [x, y] = foldWorkgroups(Math.min(groups, maxDim * maxDim), maxDim);
          device.queue.writeBuffer(sliceParams[s], 0, new Uint32Array([count, s * slice, no, x * y * TRANSFORM_WG]));
          pass.setBindGroup(0, kernels[s]);
          pass.dispatchWorkgroups(x, y);
        }
        pass.end();
        encoder.clearBuffer(state, 0, count * 4);
        const svd = encoder.beginComputePass({ label: `convsv jacobi at ${f0}` });
        const [x, y] = foldWorkgroups(Math.ceil(count / plan.perGroup), maxDim);
        device.queue.writeBuffer(batchParams, 0, new Uint32Array([count, x, 0, 0]));
        svd.setPipeline(jacobi);
        for (let c = 0; c < chunks; c++) {
          svd.setBindGroup(0, jacobiBindings[c]);
          svd.dispatchWorkgroups(x, y);
        }
        svd.end();
        encoder.copyBufferToBuffer(values, 0, out, 0, count * n * 4);
        device.queue.submit([encoder.finish()]);
        return out.mapAsync(MAP_READ, 0, count * n * 4);
      };

      const emit = (f0: number, count: number, out: GPUBuffer) => {
        const raw = new Float32Array(out.getMappedRange(0, count * n * 4).slice(0));
        out.unmap();
        for (let f = 0; f < count; f++) {
          const { u, v, mirrored } = freqs[f0 + f];
          const row = new Float64Array(n);
          let bad = false;
          for (let j = 0; j < n; j++) {
            const x = raw[f * n + j];
            if (x < 0 || Number.isNaN(x)) bad = true;
            row[j] = ldexp(x, e);
            valueSq += (mirrored ? 2 : 1) * x * x;
          }
          if (bad) {
            row.fill(NaN);
            failed.push([u, v]);
          } else {
            row.sort();
            row.reverse();
          }
          sink(u, v, row, mirrored);
        }
      };

      // Two batches in flight: batch k reads back through staging[k % 2].
      const inFlight: { f0: number; count: number; out: GPUBuffer; done: Promise<void> }[] = [];
      for (let k = 0, f0 = 0; f0 < freqs.length; k++, f0 += batch) {
        if (inFlight.length === 2) {
          const first = inFlight.shift()!;
          await first.done;
          emit(first.f0, first.count, first.out);
        }
        const count = Math.min(batch, freqs.length - f0);
        const out = staging[k % 2];
        const done = submit(f0, count, out);
        done.catch(() => {}); // awaited below; keeps a failure of a later batch from going unhandled meanwhile
        inFlight.push({ f0, count, out, done });
      }
      for (const job of inFlight) {
        await job.done;
        emit(job.f0, job.count, job.out);
      }
    });
  } finally {
    for (const b of owned) b.destroy();
  }
  if (failed.length > 0) throw new ConvergenceError(failed);
  const expected = h * w * kernelSq;
  if (!(Math.abs(valueSq - expected) <= FROBENIUS_TOLERANCE * expected)) {
    throw new Error(
      `Cannot compute singular values on WebGPU as the device's result fails the Frobenius check Σσ² = h·w·‖K‖²: current value is ${valueSq} against ${expected} (relative to the kernel scaled by 2^${-e}; adapter ${gpu.adapter})`,
    );
  }
}
