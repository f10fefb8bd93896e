/**
 * The transform and Jacobi passes of a batch of frequencies, as the values
 * runner (run.ts) and the clipping round (clip.ts) both record them.
 *
 * {@linkcode createSvdPasses} makes, for one plan, the buffers of the two
 * passes and their bind groups: one batch of matrices (`LD × N` complex f32
 * each), the batch's twiddles, each matrix's column norms, the Jacobi state,
 * the Jacobi uniforms (one 256-byte slot per Jacobi dispatch: first step,
 * steps, whether it is the last), and per slice of output channels a kernel
 * buffer (which the caller fills) and a uniform. Its `encode` writes a batch's
 * twiddles and records, on a new command encoder, the transform pass (one
 * dispatch per kernel slice), a cleared Jacobi state and the Jacobi pass (one
 * dispatch per chunk of steps), each dispatch folded against
 * `maxComputeWorkgroupsPerDimension`; the caller adds its own passes and
 * copies and submits.
 *
 * {@linkcode twoInFlight} keeps two batches on the queue: batch `k` reads back
 * through staging `k % 2`, and each batch reaches the caller, in order, once
 * its readback is mapped.
 * @module
 */
import type { Problem } from "../_problem/problem.ts";
import { type BufferPool, foldWorkgroups, type GpuContext, USAGE } from "./device.ts";
import { type GpuPlan, TRANSFORM_WG } from "./plan.ts";

/** The buffers of the transform and Jacobi passes for one plan, and the recording of one batch. */
export interface SvdPasses {
  /** One buffer per slice of output channels, for the caller to fill with the kernel (f32, re/im interleaved when complex). */
  readonly kernels: readonly GPUBuffer[];
  /** The batch's matrices: `P(u, v)` after the transform pass; after the Jacobi pass `B` (and `V` below it with `vectors`). */
  readonly matrices: GPUBuffer;
  /** Each matrix's column norms after the Jacobi pass, unsorted; −1 in every slot of a matrix that did not converge. */
  readonly values: GPUBuffer;
  /**
   * Writes the twiddles `tw` of the `count` frequencies from `f0` and records
   * their transform and Jacobi passes on a new command encoder.
   */
  encode(f0: number, count: number, tw: Float32Array<ArrayBuffer>): GPUCommandEncoder;
}

/** What {@linkcode createSvdPasses} needs beside the device and the plan. */
export interface SvdPassesSetup {
  transform: GPUComputePipeline;
  jacobi: GPUComputePipeline;
  /** The layer's channels and folded kernel size. */
  shape: Pick<Problem, "cOut" | "cIn" | "kh" | "kw">;
  /** Whether the kernel is complex (two f32 per tap). */
  complex: boolean;
  /** Makes the buffers; its prefix starts the label of every bind group, encoder and pass too. */
  pool: BufferPool;
}

/** Makes the buffers and bind groups of the transform and Jacobi passes for `plan` (see the module doc). */
export function createSvdPasses(gpu: GpuContext, plan: GpuPlan, setup: SvdPassesSetup): SvdPasses {
  const { device } = gpu;
  const { transform, jacobi, complex, pool } = setup;
  const { cOut, cIn, kh, kw } = setup.shape;
  const { ld, n, batch, slice, slices, chunk, chunks } = plan;
  const label = pool.prefix;
  const matrices = pool.make("matrices", batch * ld * n * 8, USAGE.STORAGE);
  const twiddles = pool.make("twiddles", batch * (kh + kw) * 8, USAGE.STORAGE | USAGE.COPY_DST);
  const values = pool.make("values", batch * n * 4, USAGE.STORAGE | USAGE.COPY_SRC);
  const state = pool.make("jacobi state", batch * 4, USAGE.STORAGE | USAGE.COPY_DST);
  const batchParams = pool.make("jacobi batch params", 16, USAGE.UNIFORM | USAGE.COPY_DST);
  // One uniform slot per Jacobi dispatch: [step0, steps, last].
  const totalSteps = plan.maxSweeps * (n + (n % 2) - 1);
  const chunkParams = pool.make("jacobi chunk params", chunks * 256, USAGE.UNIFORM | USAGE.COPY_DST);
  const slots = new Uint32Array(chunks * 64);
  for (let c = 0; c < chunks; c++) {
    slots.set([c * chunk, Math.min(chunk, totalSteps - c * chunk), c === chunks - 1 ? 1 : 0], c * 64);
  }
  device.queue.writeBuffer(chunkParams, 0, slots);

  const per = cIn * kh * kw * (complex ? 2 : 1);
  const kernels: GPUBuffer[] = [];
  const sliceParams: GPUBuffer[] = [];
  const transformGroups: GPUBindGroup[] = [];
  for (let s = 0; s < slices; s++) {
    const no = Math.min(slice, cOut - s * slice);
    const kbuf = pool.make(`kernel slice ${s}`, no * per * 4, USAGE.STORAGE | USAGE.COPY_DST);
    const pbuf = pool.make(`transform params ${s}`, 16, USAGE.UNIFORM | USAGE.COPY_DST);
    kernels.push(kbuf);
    sliceParams.push(pbuf);
    transformGroups.push(device.createBindGroup({
      label: `${label} transform bindings ${s}`,
      layout: transform.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: pbuf } },
        { binding: 1, resource: { buffer: kbuf } },
        { binding: 2, resource: { buffer: twiddles } },
        { binding: 3, resource: { buffer: matrices } },
      ],
    }));
  }
  const jacobiGroups: GPUBindGroup[] = [];
  for (let c = 0; c < chunks; c++) {
    jacobiGroups.push(device.createBindGroup({
      label: `${label} jacobi bindings ${c}`,
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
  const encode = (f0: number, count: number, tw: Float32Array<ArrayBuffer>): GPUCommandEncoder => {
    device.queue.writeBuffer(twiddles, 0, tw);
    const encoder = device.createCommandEncoder({ label: `${label} batch at ${f0}` });
    const pass = encoder.beginComputePass({ label: `${label} transform at ${f0}` });
    pass.setPipeline(transform);
    for (let s = 0; s < slices; s++) {
      const no = Math.min(slice, cOut - s * slice);
      const groups = Math.ceil((count * no * cIn) / TRANSFORM_WG);
      const [x, y] = foldWorkgroups(Math.min(groups, maxDim * maxDim), maxDim);
      device.queue.writeBuffer(sliceParams[s], 0, new Uint32Array([count, s * slice, no, x * y * TRANSFORM_WG]));
      pass.setBindGroup(0, transformGroups[s]);
      pass.dispatchWorkgroups(x, y);
    }
    pass.end();
    encoder.clearBuffer(state, 0, count * 4);
    const svd = encoder.beginComputePass({ label: `${label} jacobi at ${f0}` });
    const [x, y] = foldWorkgroups(Math.ceil(count / plan.perGroup), maxDim);
    device.queue.writeBuffer(batchParams, 0, new Uint32Array([count, x, 0, 0]));
    svd.setPipeline(jacobi);
    for (let c = 0; c < chunks; c++) {
      svd.setBindGroup(0, jacobiGroups[c]);
      svd.dispatchWorkgroups(x, y);
    }
    svd.end();
    return encoder;
  };
  return { kernels, matrices, values, encode };
}

/**
 * Runs the batches of `total` frequencies, `batch` at a time, two on the
 * queue: `submit` records batch `k`, reading back through `staging[k % 2]`,
 * and resolves once the readback is mapped; `emit` then takes the batch (in
 * order, each before its staging is used again). The first failure rejects.
 */
export async function twoInFlight<T>(
  total: number,
  batch: number,
  staging: readonly T[],
  submit: (f0: number, count: number, out: T) => Promise<void>,
  emit: (f0: number, count: number, out: T) => void,
): Promise<void> {
  const inFlight: { f0: number; count: number; out: T; done: Promise<void> }[] = [];
  for (let k = 0, f0 = 0; f0 < total; k++, f0 += batch) {
    if (inFlight.length === 2) {
      const first = inFlight.shift()!;
      await first.done;
      emit(first.f0, first.count, first.out);
    }
    const count = Math.min(batch, total - f0);
    const out = staging[k % 2];
    const done = submit(f0, count, out);
    done.catch(() => {}); // awaited below; keeps a failure of a later batch from going unhandled meanwhile
    inFlight.push({ f0, count, out, done });
  }
  for (const job of inFlight) {
    await job.done;
    emit(job.f0, job.count, job.out);
  }
}
