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
 *
 * The plan (batches, slices, chunks, specialisations) comes from plan.ts; the
 * buffers and recording of the transform and Jacobi passes from passes.ts.
 * @module
 */
import { forEachFrequency, ldexp, type Problem, scaleExponent, type Sink } from "../_problem/problem.ts";
import { twiddle } from "../_problem/expand.ts";
import { ConvergenceError } from "../errors.ts";
import { bufferPool, getPipeline, type GpuContext, MAP_READ, scoped, USAGE } from "./device.ts";
import { type GpuRunOptions, planFor } from "./plan.ts";
import { createSvdPasses, twoInFlight } from "./passes.ts";
import { TRANSFORM_WGSL } from "./transform.wgsl.ts";
import { JACOBI_WGSL } from "./jacobi.wgsl.ts";

/** Relative tolerance of the Frobenius check (f32 results are good to about 1e-6). */
export const FROBENIUS_TOLERANCE = 1e-3;

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
  const plan = planFor(gpu, { cOut, cIn, kh, kw, complex }, freqs.length, options);
  const e = scaleExponent(prob.re, prob.im);
  if (e === undefined) {
    const zeros = new Float64Array(plan.n);
    for (const { u, v, mirrored } of freqs) sink(u, v, zeros, mirrored);
    return;
  }
  const { device } = gpu;
  const { n, batch, slice, slices } = plan;
  const pool = bufferPool(device, "convsv");
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
      const passes = createSvdPasses(gpu, plan, { transform, jacobi, shape: prob, complex, pool });
      const staging = [0, 1].map((k) => pool.make(`staging ${k}`, batch * n * 4, USAGE.MAP_READ | USAGE.COPY_DST));
      // The kernel, scaled by 2^−e and rounded to f32, one buffer per slice of output channels.
      const per = cIn * kh * kw;
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
        device.queue.writeBuffer(passes.kernels[s], 0, data);
      }

      const submit = (f0: number, count: number, out: GPUBuffer): Promise<void> => {
        const encoder = passes.encode(f0, count, batchTwiddles(freqs, f0, count, prob));
        encoder.copyBufferToBuffer(passes.values, 0, out, 0, count * n * 4);
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

      await twoInFlight(freqs.length, batch, staging, submit, emit);
    });
  } finally {
    pool.destroy();
  }
  if (failed.length > 0) throw new ConvergenceError(failed);
  const expected = h * w * kernelSq;
  if (!(Math.abs(valueSq - expected) <= FROBENIUS_TOLERANCE * expected)) {
    throw new Error(
      `Cannot compute singular values on WebGPU as the device's result fails the Frobenius check Σσ² = h·w·‖K‖²: current value is ${valueSq} against ${expected} (relative to the kernel scaled by 2^${-e}; adapter ${gpu.adapter})`,
    );
  }
}
