/**
 * The clipping round (Sedghi, Gupta & Long, Appendix A) on WebGPU, in f32.
 *
 * One round, for a real OIHW kernel `K` with `k_h ≤ h`, `k_w ≤ w` (already
 * scaled by the caller so that its largest entry is near 1) and a level `c`:
 *
 * 1. Per batch of Hermitian-half frequencies (the engine's order, as in
 *    run.ts): the transform pass writes each `A = P(u, v)` (or `Pᵀ` when
 *    `c_out < c_in`; clipping commutes with transposition) with room for `V`
 *    below every column; the Jacobi pass (jacobi.wgsl.ts with `VECTORS`)
 *    turns `[A; I]` into `[B; V]` with `A·V = B`, orthogonal columns of norm
 *    σ_j; the rebuild pass (clip.wgsl.ts) writes
 *    `ΔA = Σ_{σ_j > c} (1 − c/σ_j)·B_j·V_jᴴ`, the part clipping removes
 *    (`A − ΔA = U·min(Σ, c)·Vᴴ`; σ = 0 columns are never touched).
 * 2. The values and `ΔA` are read back; the new kernel is
 *
 *        K' = K − cut(ΔK),   ΔK[o, i, a, b] = Σ_{(u,v)} wgt · Re(ΔP(u, v)[o, i] · e^{−2πi(u·a/h + v·b/w)}) / (h·w)
 *
 *    over the Hermitian half, `wgt` = 2 for a frequency that stands for its
 *    mirror too and 1 for a self-conjugate one, so `ΔK` is real by
 *    construction. Since the inverse transform of the unclipped `P`
 *    restricted to the taps is `K` itself, this is the paper's round.
 *
 * The inverse transform runs on the CPU, in f64, after reading `ΔA` back:
 * - accuracy: `K` itself never passes through f32 (only the removed part
 *   does), and the sum over `h·w` frequencies is taken in f64, where an f32
 *   sum on the GPU would add `√(h·w)·eps` of rounding per tap;
 * - frequencies where nothing is clipped (often most of them) cost nothing:
 *   their `ΔA` is exactly zero and is skipped;
 * - the device keeps one batch of matrices, as the values path does; no
 *   per-tap accumulator over the whole grid, no cross-batch reduction and no
 *   extra loop-budget planning for software adapters.
 * Its cost, `O(k_h·k_w·c²)` per clipped frequency, is below the Jacobi's
 * `O(sweeps·c³)` on the device; the price is reading `ΔA` back (the size of
 * one batch of matrices per batch).
 *
 * Every round also checks the Frobenius identity on its values, as run.ts
 * does, and turns frequencies whose Jacobi did not converge into a
 * {@linkcode ConvergenceError}.
 * @module
 */
import { forEachFrequency, type Problem } from "../_problem/problem.ts";
import { twiddle } from "../_problem/expand.ts";
import { ConvergenceError } from "../errors.ts";
import { bufferPool, foldWorkgroups, getPipeline, type GpuContext, MAP_READ, scoped, USAGE } from "./device.ts";
import { type GpuPlan, type GpuRunOptions, planFor, REBUILD_WG } from "./plan.ts";
import { createSvdPasses, type SvdPasses, twoInFlight } from "./passes.ts";
import { batchTwiddles, FROBENIUS_TOLERANCE } from "./run.ts";
import { TRANSFORM_WGSL } from "./transform.wgsl.ts";
import { JACOBI_WGSL } from "./jacobi.wgsl.ts";
import { CLIP_WGSL } from "./clip.wgsl.ts";

/** The result of one round: the new (scaled) kernel and the largest σ of the kernel the round started from. */
export interface ClipRound {
  k: Float64Array;
  norm: number;
}

/** The shape of a clipping problem: a real 2-D layer whose taps fit the input. */
export type ClipShape = Pick<Problem, "cOut" | "cIn" | "kh" | "kw" | "h" | "w">;

/** Rounds of clipping on one device for one layer shape; buffers and pipelines are made once. */
export interface GpuClipper {
  /** The plan (tests check that splitting happened). */
  readonly plan: GpuPlan;
  /** One round on the scaled OIHW kernel `k` at level `c` (same scale). */
  round(k: Float64Array, c: number): Promise<ClipRound>;
  /** Frees the device buffers. */
  destroy(): void;
}

/**
 * Prepares clipping rounds for `shape` on `gpu`.
 *
 * @throws {RangeError} When one frequency's matrix with its vectors, or one output channel, exceeds one
 *   storage binding, or (software adapters) one step does not fit the loop budget.
 * @throws {Error} On a GPU validation or out-of-memory error while compiling.
 */
export async function createGpuClipper(
  gpu: GpuContext,
  shape: ClipShape,
  options: GpuRunOptions = {},
): Promise<GpuClipper> {
  const { cOut, cIn, kh, kw, h, w } = shape;
  const freqs: { u: number; v: number; mirrored: boolean }[] = [];
  forEachFrequency(h, w, false, (u, v, mirrored) => freqs.push({ u, v, mirrored }));
  const plan = planFor(gpu, { cOut, cIn, kh, kw, complex: false, vectors: true }, freqs.length, options);
  const { device } = gpu;
  const [transform, jacobi, rebuild] = await scoped(device, "compiling the clipping shaders", () =>
    Promise.all([
      getPipeline(gpu, "transform", TRANSFORM_WGSL, plan.transform),
      getPipeline(gpu, "jacobi", JACOBI_WGSL, plan.jacobi),
      getPipeline(gpu, "clip", CLIP_WGSL, plan.rebuild),
    ]));
  const { m, n, batch, slice, slices, transposed } = plan;
  const per = cIn * kh * kw;
  const pool = bufferPool(device, "convsv clip");

  let bindings: {
    passes: SvdPasses;
    rebuildGroup: GPUBindGroup;
    rebuildParams: GPUBuffer;
    delta: GPUBuffer;
    staging: { values: GPUBuffer; delta: GPUBuffer }[];
  };
  try {
    bindings = await scoped(device, "allocating the clipping buffers", () => {
      const passes = createSvdPasses(gpu, plan, { transform, jacobi, shape, complex: false, pool });
      const delta = pool.make("delta", batch * m * n * 8, USAGE.STORAGE | USAGE.COPY_SRC);
      const staging = [0, 1].map((k) => ({
        values: pool.make(`staging values ${k}`, batch * n * 4, USAGE.MAP_READ | USAGE.COPY_DST),
        delta: pool.make(`staging delta ${k}`, batch * m * n * 8, USAGE.MAP_READ | USAGE.COPY_DST),
      }));
      const rebuildParams = pool.make("rebuild params", 16, USAGE.UNIFORM | USAGE.COPY_DST);
      const rebuildGroup = device.createBindGroup({
        label: "convsv clip rebuild bindings",
        layout: rebuild.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: rebuildParams } },
          { binding: 1, resource: { buffer: passes.matrices } },
          { binding: 2, resource: { buffer: passes.values } },
          { binding: 3, resource: { buffer: delta } },
        ],
      });
      return Promise.resolve({ passes, rebuildGroup, rebuildParams, delta, staging });
    });
  } catch (err) {
    pool.destroy();
    throw err;
  }
  const b = bindings;
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;

  const submit = (f0: number, count: number, c: number, out: { values: GPUBuffer; delta: GPUBuffer }) => {
    const encoder = b.passes.encode(f0, count, batchTwiddles(freqs, f0, count, shape));
    const re = encoder.beginComputePass({ label: `convsv clip rebuild at ${f0}` });
    const groups = Math.ceil((count * m * n) / REBUILD_WG);
    const [rx, ry] = foldWorkgroups(Math.min(groups, maxDim * maxDim), maxDim);
    const params = new ArrayBuffer(16);
    new Uint32Array(params, 0, 2).set([count, rx * ry * REBUILD_WG]);
    new Float32Array(params, 8, 1)[0] = c;
    device.queue.writeBuffer(b.rebuildParams, 0, params);
    re.setPipeline(rebuild);
    re.setBindGroup(0, b.rebuildGroup);
    re.dispatchWorkgroups(rx, ry);
    re.end();
    encoder.copyBufferToBuffer(b.passes.values, 0, out.values, 0, count * n * 4);
    encoder.copyBufferToBuffer(b.delta, 0, out.delta, 0, count * m * n * 8);
    device.queue.submit([encoder.finish()]);
    return Promise.all([
      out.values.mapAsync(MAP_READ, 0, count * n * 4),
      out.delta.mapAsync(MAP_READ, 0, count * m * n * 8),
    ]).then(() => {});
  };

  const round = async (k: Float64Array, c: number): Promise<ClipRound> => {
    let kernelSq = 0;
    let valueSq = 0;
    let norm = 0;
    const failed: [number, number][] = [];
    const dk = new Float64Array(k.length);
    const inv = 1 / (h * w);
    const ta = new Float64Array(2 * kh);
    const tb = new Float64Array(2 * kw);

    /** Adds frequency f's removed part, transformed back to the taps, to dk (f64). */
    const addBack = (u: number, v: number, mirrored: boolean, d: Float32Array, at: number) => {
      for (let a = 0; a < kh; a++) [ta[2 * a], ta[2 * a + 1]] = twiddle((u * a) % h, h);
      for (let bb = 0; bb < kw; bb++) [tb[2 * bb], tb[2 * bb + 1]] = twiddle((v * bb) % w, w);
      const wgt = (mirrored ? 2 : 1) * inv;
      for (let o = 0; o < cOut; o++) {
        for (let i = 0; i < cIn; i++) {
          const idx = at + 2 * (transposed ? o * m + i : i * m + o);
          const zr = d[idx] * wgt, zi = d[idx + 1] * wgt;
          if (zr === 0 && zi === 0) continue;
          const row = (o * cIn + i) * kh;
          for (let a = 0; a < kh; a++) {
            // z·e^{−2πi·u·a/h}
            const ca = ta[2 * a], sa = ta[2 * a + 1];
            const xr = zr * ca + zi * sa, xi = zi * ca - zr * sa;
            const base = (row + a) * kw;
            // Re(x·e^{−2πi·v·b/w})
            for (let bb = 0; bb < kw; bb++) dk[base + bb] += xr * tb[2 * bb] + xi * tb[2 * bb + 1];
          }
        }
      }
    };

    const emit = (f0: number, count: number, out: { values: GPUBuffer; delta: GPUBuffer }) => {
      const vals = new Float32Array(out.values.getMappedRange(0, count * n * 4).slice(0));
      out.values.unmap();
      const d = new Float32Array(out.delta.getMappedRange(0, count * m * n * 8).slice(0));
      out.delta.unmap();
      for (let f = 0; f < count; f++) {
        const { u, v, mirrored } = freqs[f0 + f];
        let top = 0;
        let bad = false;
        for (let j = 0; j < n; j++) {
          const x = vals[f * n + j];
          if (!(x >= 0)) bad = true;
          valueSq += (mirrored ? 2 : 1) * x * x;
          if (x > top) top = x;
        }
        if (bad) {
          failed.push([u, v]);
          continue;
        }
        if (top > norm) norm = top;
        if (top > c) addBack(u, v, mirrored, d, f * m * n * 2);
      }
    };

    await scoped(device, "running the clipping round", async () => {
      for (let s = 0; s < slices; s++) {
        const o0 = s * slice;
        const no = Math.min(slice, cOut - o0);
        const data = new Float32Array(no * per);
        for (let q = 0; q < no * per; q++) {
          data[q] = k[o0 * per + q];
          kernelSq += data[q] * data[q];
        }
        device.queue.writeBuffer(b.passes.kernels[s], 0, data);
      }
      await twoInFlight(freqs.length, batch, b.staging, (f0, count, out) => submit(f0, count, c, out), emit);
    });
    if (failed.length > 0) throw new ConvergenceError(failed);
    const expected = h * w * kernelSq;
    if (!(Math.abs(valueSq - expected) <= FROBENIUS_TOLERANCE * expected)) {
      throw new Error(
        `Cannot clip the operator norm on WebGPU as the device's result fails the Frobenius check Σσ² = h·w·‖K‖²: current value is ${valueSq} against ${expected} (adapter ${gpu.adapter})`,
      );
    }
    const out = new Float64Array(k.length);
    for (let q = 0; q < k.length; q++) out[q] = k[q] - dk[q];
    return { k: out, norm };
  };

  return { plan, round, destroy: pool.destroy };
}
