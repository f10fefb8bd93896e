/**
 * `clip`: projects each conv kernel toward operator norm ≤ `maxNorm` (the
 * paper's Appendix A, repeated `iterations` times) and writes the kernels.
 * @module
 */
import type { Model } from "../model.ts";
import type { Kernel } from "../types.ts";
import { clipOperatorNorm } from "../clip_operator_norm.ts";
import type { ProgressEvent } from "./analyse.ts";
import { dims, planLayers, zeroPadding } from "./layers.ts";

/** What `clip` was asked for. */
export interface ClipRunOptions {
  maxNorm: number;
  iterations?: number | undefined;
  tolerance?: number | undefined;
  input?: string | undefined;
  threads?: number | undefined;
  onProgress?: ((e: ProgressEvent) => void) | undefined;
}

/** One layer's outcome. */
export interface ClippedLayer {
  name: string;
  kernelShape: number[];
  layout: string;
  /** The kernel written: clipped, or the input's when skipped. */
  kernel: Kernel;
  /** The circular grid the clip ran on (the layer's input, or a grid holding the zero-padded layer). */
  grid?: number[] | undefined;
  normBefore?: number | undefined;
  normAfter?: number | undefined;
  iterations?: number | undefined;
  /** Why the layer was left as it is. */
  skipped?: string | undefined;
  timeMs: number;
}

/**
 * Clips every 2-D stride-1 layer. Circular layers are clipped on their
 * input; a zero-padded layer is a submatrix of the circular layer on the
 * grid `n + max(p_before, p_after)` per axis, so clipping that circular layer
 * bounds the zero-padded one by its `normAfter` too. Other layers (strided,
 * grouped, dilated, transposed, 1-D/3-D) are written unchanged and say why.
 */
export async function clipModel(model: Model, options: ClipRunOptions): Promise<ClippedLayer[]> {
  const { planned } = planLayers(model.layers, options.input);
  const out: ClippedLayer[] = [];
  for (const p of planned) {
    const { layer } = p;
    options.onProgress?.({ phase: "start", index: p.index, total: planned.length, name: layer.name });
    const start = performance.now();
    const base = { name: layer.name, kernelShape: [...layer.kernel.shape], layout: layer.layout };
    const stride = layer.stride ?? [];
    const dilation = layer.dilation ?? [];
    let why: string | undefined;
    if (p.rank !== 2) why = `${p.rank}-D layer`;
    else if (layer.transposed) why = "transposed layer";
    else if (layer.groups !== 1) why = `groups ${layer.groups}`;
    else if (stride.some((s) => s !== 1)) why = `stride ${dims(stride)}`;
    else if (dilation.some((d) => d !== 1)) why = `dilation ${dims(dilation)}`;
    let entry: ClippedLayer;
    if (why) {
      entry = { ...base, kernel: layer.kernel, skipped: `${why}: clipping takes 2-D stride-1 layers only`, timeMs: 0 };
    } else {
      const pads = zeroPadding(layer, p.inputShape, p.kernelSize);
      const grid = pads ? p.inputShape.map((n, j) => n + Math.max(pads[j][0], pads[j][1])) : p.inputShape;
      try {
        const r = await clipOperatorNorm(layer.kernel, options.maxNorm, {
          inputShape: grid,
          layout: layer.layout,
          iterations: options.iterations,
          tolerance: options.tolerance,
          threads: options.threads,
        });
        entry = {
          ...base,
          kernel: r.kernel,
          grid,
          normBefore: r.normBefore,
          normAfter: r.normAfter,
          iterations: r.iterations,
          timeMs: performance.now() - start,
        };
      } catch (e) {
        entry = {
          ...base,
          kernel: layer.kernel,
          grid,
          skipped: e instanceof Error ? e.message : String(e),
          timeMs: performance.now() - start,
        };
      }
    }
    out.push(entry);
    options.onProgress?.({ phase: "done", index: p.index, total: planned.length, name: layer.name, timeMs: entry.timeMs });
  }
  return out;
}
