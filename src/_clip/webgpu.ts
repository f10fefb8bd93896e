/**
 * Clipping rounds on WebGPU, in f32 (src/_webgpu/clip.ts): alternating only,
 * each round one pass over the frequencies on the device.
 * @module
 */
import type { Problem } from "../_problem/problem.ts";
import { createGpuClipper } from "../_webgpu/clip.ts";
import type { GpuContext } from "../_webgpu/device.ts";
import type { Rounds } from "./loop.ts";

/** Rounds on a device for the layer's shape; `destroy` frees the device buffers. */
export async function gpuRounds(gpu: GpuContext, prob: Problem, c: number): Promise<Rounds<true> & { destroy(): void }> {
  const { cOut, cIn, kh, kw, h, w } = prob;
  const clipper = await createGpuClipper(gpu, { cOut, cIn, kh, kw, h, w });
  return {
    corrLength: 0,
    // Dykstra is refused on WebGPU, so `corr` is always undefined here.
    round: (k) => clipper.round(k, c),
    destroy: () => clipper.destroy(),
  };
}
