/**
 * `clip`: projects every conv kernel of a model toward operator norm ≤
 * `maxNorm` with `clipOperatorNorm` (the paper's Appendix A, repeated
 * `iterations` times, then certified), whatever the layer's kind.
 * @module
 */
import type { Model } from "../model.ts";
import type { Kernel } from "../types.ts";
import { clipOperatorNorm } from "../clip_operator_norm.ts";
import { spectrum } from "../spectrum.ts";
import { type ProgressEvent, sampleSorted, type SortedSample } from "./analyse.ts";
import { foldScale, scaleFactors } from "./fold.ts";
import { CliError, type LayerKind, layerKind, planCalls, planLayers } from "./layers.ts";

/** What `clip` was asked for. */
export interface ClipRunOptions {
  maxNorm: number;
  iterations?: number | undefined;
  tolerance?: number | undefined;
  /** `--certify` / `--no-certify`; undefined: the library's default (on when `tolerance` is given). */
  certify?: boolean | undefined;
  /** `--fold-bn`: clip conv∘BatchNorm (the layer's scale), returning the conv kernel. */
  foldBn?: boolean | undefined;
  input?: string | undefined;
  threads?: number | undefined;
  /** Also compute each layer's sorted singular values before and after, on the grid of its norms (`clip --html`). */
  spectra?: boolean | undefined;
  onProgress?: ((e: ProgressEvent) => void) | undefined;
}

/** One layer's outcome. */
export interface ClippedLayer extends LayerKind {
  /** The kernel as read. */
  original: Kernel;
  /** The kernel written: clipped, or the one read when the layer could not be clipped. */
  kernel: Kernel;
  /**
   * The circular grid whose norms are reported: the layer's input (circular
   * padding, and 1×1 kernels without padding), or for zero padding the grid
   * whose circular layer contains the padded one.
   */
  grid?: number[] | undefined;
  /** True: the norms are the layer's exact norms; false: certified upper bounds (zero padding). */
  exact?: boolean | undefined;
  normBefore?: number | undefined;
  normAfter?: number | undefined;
  iterations?: number | undefined;
  /** The certify step ran: `normAfter ≤ maxNorm`. */
  certified?: boolean | undefined;
  certifyScale?: number | undefined;
  toleranceMet?: boolean | undefined;
  /** The BatchNorm / scale after the layer, and whether its factor was part of the clipped map. */
  scale?: { name: string; kind: string; folded: boolean } | undefined;
  /** How the norms relate to the layer, where it needs saying. */
  note?: string | undefined;
  /** Why the layer could not be clipped (its kernel is then written as read). */
  error?: string | undefined;
  /**
   * With `spectra`: the sorted singular values (sampled) of the map whose
   * norms are `normBefore` and `normAfter` (conv∘BN with `foldBn`), before
   * and after clipping.
   */
  spectra?: { before: SortedSample; after: SortedSample } | undefined;
  timeMs: number;
}

/**
 * Clips every layer with the options the report uses for its norm
 * (src/_cli/layers.ts `planCalls`): circular padding on the layer's input;
 * a 1×1 kernel without padding as its matrix (exact); zero padding on a
 * circular grid that contains the padded layer, so `normAfter` bounds the
 * padded layer's norm; TensorFlow's `"same"` with a stride (one more zero
 * after than before) as the layer padded `after` on both sides, whose
 * admissible grids hold the real layer. With `foldBn`, the layer's scale is
 * the map after the conv (`ClipOptions.scale`), so the norms are those of
 * conv∘BatchNorm and the conv kernel is returned. A layer the library
 * refuses keeps its kernel and carries the reason in `error`.
 */
export async function clipModel(model: Model, options: ClipRunOptions): Promise<ClippedLayer[]> {
  const { planned } = planLayers(model.layers, options.input);
  const out: ClippedLayer[] = [];
  for (const p of planned) {
    const { layer } = p;
    options.onProgress?.({ phase: "start", index: p.index, total: planned.length, name: layer.name });
    const start = performance.now();
    const base = {
      ...layerKind(p),
      original: layer.kernel,
      scale: layer.scale
        ? { name: layer.scale.name, kind: layer.scale.kind, folded: Boolean(options.foldBn) }
        : undefined,
    };
    let entry: ClippedLayer;
    try {
      const plan = planCalls(p);
      const call = plan.kind === "split" ? plan.upper : plan.call;
      const scale = options.foldBn && layer.scale ? scaleFactors(layer.scale, layer.name, p.cOut) : undefined;
      if (scale && layer.transposed && !call.transposed) {
        // Such a layer is clipped as the forward convolution it is the adjoint of, whose inputs the
        // BatchNorm scales: `scale` (per output channel) cannot say that.
        throw new CliError(
          `--fold-bn is not supported for a transposed layer with TensorFlow "same" padding (clipped as its forward convolution, whose input channels the BatchNorm would scale): its kernel is kept; clip it without --fold-bn`,
        );
      }
      const r = await clipOperatorNorm(layer.kernel, options.maxNorm, {
        ...call,
        iterations: options.iterations,
        tolerance: options.tolerance,
        certify: options.certify,
        threads: options.threads,
        maxWork: Infinity,
        ...(scale ? { scale } : {}),
      });
      const pointwise = plan.kind === "pointwise";
      let spectra: ClippedLayer["spectra"];
      if (options.spectra) {
        // The spectra of the circular layer whose norms were reported: the call itself where it is exact.
        const at = plan.kind === "exact" || pointwise
          ? call
          : { ...call, inputShape: r.grid, transposed: false, padding: "circular" as const };
        const m = plan.kind === "pointwise" ? plan.multiplicity : 1;
        const sorted = async (kernel: Kernel) => {
          const k = options.foldBn && layer.scale ? foldScale({ ...layer, kernel }).layer.kernel : kernel;
          const sp = await spectrum(k, { ...at, threads: options.threads, maxWork: Infinity });
          return sampleSorted(sp.values, m);
        };
        spectra = { before: await sorted(layer.kernel), after: await sorted(r.kernel) };
      }
      entry = {
        ...base,
        kernel: r.kernel,
        grid: pointwise ? p.inputShape : r.grid,
        exact: r.exact,
        normBefore: r.normBefore,
        normAfter: r.normAfter,
        iterations: r.iterations,
        certified: r.certified,
        certifyScale: r.certifyScale,
        toleranceMet: r.toleranceMet,
        note: plan.kind === "split"
          ? `TensorFlow "same" padding with stride ${
            base.stride.join("x")
          } pads one zero more after than before: clipped as the layer padded ${
            JSON.stringify(plan.upper.padding)
          } on both sides, whose circular grid also holds the real layer`
          : pointwise
          ? plan.note
          : undefined,
        spectra,
        timeMs: performance.now() - start,
      };
    } catch (e) {
      entry = {
        ...base,
        kernel: layer.kernel,
        error: e instanceof Error ? e.message : String(e),
        timeMs: performance.now() - start,
      };
    }
    out.push(entry);
    options.onProgress?.({
      phase: "done",
      index: p.index,
      total: planned.length,
      name: layer.name,
      timeMs: entry.timeMs,
    });
  }
  return out;
}
