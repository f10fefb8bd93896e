/**
 * Clipping rounds on WebGPU, in f32 (src/_webgpu/clip.ts): alternating only,
 * each round one pass over the frequencies on the device.
 * @module
 */
import type { Problem } from "../_problem/problem.ts";
import { createGpuClipper } from "../_webgpu/clip.ts";
import type { GpuContext } from "../_webgpu/device.ts";
import type { Rounds } from "./loop.ts";

/**
 * Rounds on a device for the shape every group's problem shares (one clipper
 * serves the groups in turn); `destroy` frees the device buffers.
 */
export async function gpuRounds(
  gpu: GpuContext,
  prob: Problem,
  groups: number,
  c: number,
): Promise<Rounds<true> & { destroy(): void }> {
  const { cOut, cIn, kh, kw, h, w } = prob;
  const clipper = await createGpuClipper(gpu, { cOut, cIn, kh, kw, h, w });
  return {
    corrLength: 0,
    roughNorm: false,
    // Dykstra is refused on WebGPU, so `corr` is always undefined here.
    round: async (k) => {
      if (groups === 1) return clipper.round(k, c);
      const len = k.length / groups;
      const out = new Float64Array(k.length);
      let norm = 0;
      for (let g = 0; g < groups; g++) {
        const r = await clipper.round(k.slice(g * len, (g + 1) * len), c);
        out.set(r.k, g * len);
        if (r.norm > norm) norm = r.norm;
      }
      return { k: out, norm };
    },
    destroy: () => clipper.destroy(),
  };
}
