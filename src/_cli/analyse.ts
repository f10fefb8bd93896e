/**
 * Computes, layer by layer, what the report shows: the exact norm or a
 * certified interval, a sample of the sorted singular values and the grid of
 * σ_max over frequencies.
 * @module
 */
import type { ConvLayer, Model } from "../model.ts";
import type { Kernel, Precision, Spectrum } from "../types.ts";
import { spectrum } from "../spectrum.ts";
import { operatorNorm } from "../operator_norm.ts";
import { operatorNormBounds } from "../operator_norm_bounds.ts";
import {
  type LayerCall,
  type LayerKind,
  layerKind,
  perAxis,
  planCalls,
  planLayers,
  type PlannedLayer,
  type ShapeSource,
} from "./layers.ts";
import { foldScale, scaleFactors } from "./fold.ts";

/** What `report` was asked for. */
export interface AnalyseOptions {
  /** `--input`, as given. */
  input?: string | undefined;
  /** `--fold-bn`. */
  foldBn?: boolean | undefined;
  /** `--f32`. */
  precision?: Precision | undefined;
  /** `--threads`. */
  threads?: number | undefined;
  /** Power-iteration steps behind each certified lower bound (default 20). */
  powerIterations?: number | undefined;
  /** Keep each layer's whole spectrum in `LayerResult.spectrum` (`--values`, `--with-values`). */
  keepValues?: boolean | undefined;
  /**
   * Compute each layer's plotted spectrum (default true): the HTML report's
   * plots, `--json`'s count/min/median and `--values` need it. Without it a
   * layer's norm or interval comes from `operatorNorm` / `operatorNormBounds`
   * alone (the norm without the whole spectrum), and `spectrumShape`,
   * `sorted` and `heat` are empty.
   */
  spectra?: boolean | undefined;
  /** Called before and after each layer. */
  onProgress?: ((event: ProgressEvent) => void) | undefined;
  /** Called once the layers are planned, before any work (for a time estimate). */
  onPlanned?: ((planned: PlannedLayer[]) => void) | undefined;
}

/** A progress step. */
export interface ProgressEvent {
  phase: "start" | "done";
  /** 0-based layer index. */
  index: number;
  total: number;
  name: string;
  /** The layer's time (done only). */
  timeMs?: number | undefined;
}

/** The sorted singular values, sampled for plotting. */
export interface SortedSample {
  /** How many values the layer has (with multiplicity). */
  count: number;
  /** 1-based ranks sampled (1 = largest), increasing. */
  ranks: number[];
  /** The value at each sampled rank. */
  values: number[];
  /** The smallest positive value, or 0 if none. */
  minPositive: number;
  /** How many values are exactly 0. */
  zeros: number;
  /** The median of all values. */
  median: number;
}

/** The sample of a layer whose spectrum was not computed (or failed). */
const NO_SAMPLE: SortedSample = { count: 0, ranks: [], values: [], minPositive: 0, zeros: 0, median: NaN };

/** The largest singular value of every frequency (for 3-D layers, the largest over depth frequencies). */
export interface HeatGrid {
  /** `[h', w']` (2-D and 3-D layers) or `[w']` (1-D). */
  shape: number[];
  /** Row-major, unshifted (frequency 0 first). */
  values: Float64Array;
}

/** The heat grid of a layer whose spectrum was not computed (or failed). */
const NO_HEAT: HeatGrid = { shape: [], values: new Float64Array(0) };

/** One layer of the report. */
export interface LayerResult extends LayerKind {
  index: number;
  cIn: number;
  cOut: number;
  inputSource: ShapeSource;
  outputShape: number[];
  /** True when the norm is exact (circular padding); then lower = upper = norm. */
  exact: boolean;
  norm?: number | undefined;
  lower: number;
  upper: number;
  /** Power-iteration steps behind `lower` (intervals only). */
  iterations?: number | undefined;
  converged?: boolean | undefined;
  /** How the interval was obtained, where it needs saying. */
  note?: string | undefined;
  /** Input shape of the circular layer whose spectrum is plotted (its norm is `upper`). */
  grid: number[];
  /** Shape of that spectrum: `[...frequencies, r]`; empty when no spectrum was computed. */
  spectrumShape: number[];
  sorted: SortedSample;
  heat: HeatGrid;
  /** The BatchNorm / scale after the layer, with the range of |factor| it multiplies output channels by. */
  scale?: { name: string; kind: string; folded: boolean; minAbs: number; maxAbs: number } | undefined;
  /**
   * With `keepValues`: the spectrum plotted, as `spectrum()` returned it
   * (`values` row-major over `shape = [...grid, r]`); each value stands for
   * `multiplicity` values of the layer (a 1×1 kernel without padding: one
   * matrix at every output position).
   */
  spectrum?: { shape: number[]; values: Float64Array; multiplicity: number } | undefined;
  /** Time spent on the layer (norm or interval, and the plotted spectrum), in ms. */
  timeMs: number;
  /** Set when the layer could not be computed; the numbers above are then NaN. */
  error?: string | undefined;
}

/** The whole report. */
export interface Analysis {
  format: string;
  input?: string | undefined;
  foldBn: boolean;
  precision: Precision;
  threads?: number | undefined;
  layers: LayerResult[];
  /** Product of the layers' upper bounds (conv layers, folded scales included when folded). */
  lipschitz: number;
  /** When scales exist and were not folded: the product with each scale's max |factor| as its own factor. */
  lipschitzWithScales?: number | undefined;
  /** Layers with a scale (folded or not). */
  scaled: number;
  /** Notes on the input and the shapes. */
  warnings: string[];
  /** Names of the layers whose input shape `--attributes` gave (the file's otherwise, for `inputSource: "model"`). */
  shapesFromAttributes?: string[] | undefined;
  totalMs: number;
}

const SAMPLE_POINTS = 400;

/** Samples the sorted values, each counted `multiplicity` times. */
export function sampleSorted(values: Float64Array, multiplicity = 1): SortedSample {
  const v = Float64Array.from(values).sort(); // increasing
  const distinct = v.length;
  const n = distinct * multiplicity;
  // The j-th smallest (0-based) of the values with multiplicity.
  const at = (j: number) => v[Math.floor(j / multiplicity)];
  let z = 0;
  while (z < distinct && v[z] <= 0) z++;
  const minPositive = z < distinct ? v[z] : 0;
  const k = Math.min(n, SAMPLE_POINTS);
  const ranks: number[] = [];
  const out: number[] = [];
  for (let j = 0; j < k; j++) {
    const rank = k === 1 ? 1 : 1 + Math.round((j * (n - 1)) / (k - 1));
    if (ranks.length && ranks[ranks.length - 1] === rank) continue;
    ranks.push(rank);
    out.push(at(n - rank));
  }
  const median = n % 2 ? at((n - 1) / 2) : (at(n / 2 - 1) + at(n / 2)) / 2;
  return { count: n, ranks, values: out, minPositive, zeros: z * multiplicity, median };
}

function heatGrid(s: Spectrum): HeatGrid {
  const grid = s.shape.slice(0, -1);
  const r = s.shape[s.shape.length - 1];
  if (grid.length === 3) {
    const [d, h, w] = grid;
    const values = new Float64Array(h * w);
    for (let t = 0; t < d; t++) {
      for (let c = 0; c < h * w; c++) values[c] = Math.max(values[c], s.values[(t * h * w + c) * r]);
    }
    return { shape: [h, w], values };
  }
  const cells = grid.reduce((a, b) => a * b, 1);
  const values = new Float64Array(cells);
  for (let c = 0; c < cells; c++) values[c] = s.values[c * r];
  return { shape: grid, values };
}

function circularAt(call: LayerCall, grid: number[]): LayerCall {
  return { ...call, inputShape: grid, transposed: false, padding: "circular" };
}

async function computeLayer(
  kernel: Kernel,
  plan: ReturnType<typeof planCalls>,
  precision: Precision,
  threads: number | undefined,
  maxIterations: number,
  spectra: boolean,
): Promise<
  Pick<LayerResult, "exact" | "norm" | "lower" | "upper" | "iterations" | "converged" | "note" | "grid"> & {
    s: Spectrum | undefined;
    multiplicity?: number | undefined;
  }
> {
  // The command computes what it is asked for: the library's default work cap guards services, not the CLI.
  const run = { precision, threads, maxWork: Infinity };
  const bounds = { ...run, maxIterations };
  /** The spectrum on the circular layer `call`, when it is wanted. */
  const plotted = (call: LayerCall) => spectra ? spectrum(kernel, { ...call, ...run }) : undefined;
  if (plan.kind === "exact" || plan.kind === "pointwise") {
    // Its norm: the spectrum's largest value, or the same bits without the spectrum.
    const s = await plotted(plan.call);
    const norm = s ? s.norm : await operatorNorm(kernel, { ...plan.call, ...run });
    if (plan.kind === "exact") return { exact: true, norm, lower: norm, upper: norm, grid: plan.call.inputShape, s };
    // The layer's own input (the call runs on a 1×1 grid, `multiplicity` times over).
    return {
      exact: true,
      norm,
      lower: norm,
      upper: norm,
      grid: plan.layerInput,
      note: plan.note,
      s,
      multiplicity: plan.multiplicity,
    };
  }
  if (plan.kind === "interval") {
    // Small groups (≤ 2^17 entries each: a 362 × 362 operator, 1 MiB) get their zero-padded norm exactly.
    const b = await operatorNormBounds(kernel, { ...plan.call, ...bounds, denseEntries: 2 ** 17 });
    const s = await plotted(circularAt(plan.call, b.grid));
    return {
      exact: b.exact,
      ...(b.exact
        ? {
          norm: b.upper,
          note: "zero padding without overlapping windows, or small enough for the dense operator: the norm is exact",
        }
        : {}),
      lower: b.lower,
      upper: b.upper,
      iterations: b.iterations,
      converged: b.converged,
      grid: b.grid,
      s,
    };
  }
  const lo = await operatorNormBounds(kernel, { ...plan.lower, ...bounds });
  const up = await operatorNormBounds(kernel, { ...plan.upper, ...bounds, maxIterations: 0 });
  const s = await plotted(circularAt(plan.upper, up.grid));
  return {
    exact: false,
    lower: Math.min(lo.lower, up.upper),
    upper: up.upper,
    iterations: lo.iterations,
    converged: lo.converged,
    note: plan.note,
    grid: up.grid,
    s,
  };
}

/**
 * A rough single-thread time for a layer, in seconds: the per-frequency SVDs
 * (`cells · c_out · c_in · min(c_out, c_in)` per group, after the phase split
 * of a stride, at about 2e9 per second here) — four spectra for an interval
 * (three grids and the plotted one) — plus the power iteration's direct
 * applications for zero padding.
 */
export function estimateSeconds(p: PlannedLayer, powerIterations = 20): number {
  const { layer } = p;
  const g = layer.groups;
  const s = perAxis(layer.stride, p.rank, 1).reduce((a, b) => a * b, 1);
  const cells = p.inputShape.reduce((a, b) => a * b, 1) * (layer.transposed ? s : 1);
  const o = p.cOut / g, i = (p.cIn / g) * s;
  const grid = cells / s;
  const svd = g * grid * o * i * Math.min(o, i);
  const exact = layer.padding === "circular";
  if (p.kernelSize.every((k) => k === 1)) return (g * o * i * Math.min(o, i)) / 2e9;
  const taps = p.kernelSize.reduce((a, b) => a * b, 1);
  const power = exact ? 0 : 2 * powerIterations * (p.cOut * (p.cIn / g) * taps * cells) / s;
  return (svd * (exact ? 1 : 4)) / 2e9 + power / 1e9;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Computes every layer of the model. Planning errors (an input shape that
 * cannot be found) throw; a layer that fails to compute is kept with its
 * `error` and left out of the Lipschitz product.
 */
export async function analyseModel(model: Model, options: AnalyseOptions = {}): Promise<Analysis> {
  const t0 = performance.now();
  const precision = options.precision ?? "f64";
  const foldBn = options.foldBn ?? false;
  const { planned, warnings } = planLayers(model.layers, options.input);
  options.onPlanned?.(planned);
  // Compile the wasm module and start the workers before the first timing.
  await spectrum({ data: new Float64Array([1]), shape: [1, 1, 1, 1] }, {
    inputShape: [1, 1],
    precision,
    threads: options.threads,
  });
  const layers: LayerResult[] = [];
  for (const p of planned) {
    options.onProgress?.({ phase: "start", index: p.index, total: planned.length, name: p.layer.name });
    const start = performance.now();
    const layer0: ConvLayer = p.layer;
    const base = {
      index: p.index,
      ...layerKind(p),
      cIn: p.cIn,
      cOut: p.cOut,
      inputSource: p.inputSource,
      outputShape: p.outputShape,
    };
    let result: LayerResult;
    try {
      if (p.unknown !== undefined) throw new Error(p.unknown);
      let kernel = layer0.kernel;
      let scale: LayerResult["scale"];
      if (layer0.scale) {
        let factors: Float64Array | undefined;
        if (foldBn) {
          const folded = foldScale(layer0);
          kernel = folded.layer.kernel;
          factors = folded.factors;
        } else {
          try {
            factors = scaleFactors(layer0.scale, layer0.name, p.cOut);
          } catch (e) {
            warnings.push(messageOf(e));
          }
        }
        if (factors) {
          let minAbs = Infinity, maxAbs = 0;
          for (const f of factors) {
            minAbs = Math.min(minAbs, Math.abs(f));
            maxAbs = Math.max(maxAbs, Math.abs(f));
          }
          scale = { name: layer0.scale.name, kind: layer0.scale.kind, folded: foldBn, minAbs, maxAbs };
        }
      }
      const c = await computeLayer(
        kernel,
        planCalls(p),
        precision,
        options.threads,
        options.powerIterations ?? 20,
        options.spectra ?? true,
      );
      const { s, multiplicity, ...numbers } = c;
      result = {
        ...base,
        ...numbers,
        spectrumShape: s ? [...s.shape] : [],
        sorted: s ? sampleSorted(s.values, multiplicity) : NO_SAMPLE,
        heat: s ? heatGrid(s) : NO_HEAT,
        spectrum: s && options.keepValues
          ? { shape: [...s.shape], values: s.values, multiplicity: multiplicity ?? 1 }
          : undefined,
        scale,
        timeMs: performance.now() - start,
      };
    } catch (e) {
      result = {
        ...base,
        exact: false,
        lower: NaN,
        upper: NaN,
        grid: [],
        spectrumShape: [],
        sorted: NO_SAMPLE,
        heat: NO_HEAT,
        timeMs: performance.now() - start,
        error: messageOf(e),
      };
    }
    layers.push(result);
    options.onProgress?.({
      phase: "done",
      index: p.index,
      total: planned.length,
      name: p.layer.name,
      timeMs: result.timeMs,
    });
  }
  const ok = layers.filter((l) => !l.error);
  const lipschitz = ok.reduce((a, l) => a * l.upper, 1);
  const scaled = model.layers.filter((l) => l.scale).length;
  const unfolded = ok.filter((l) => l.scale && !l.scale.folded);
  const lipschitzWithScales = unfolded.length > 0
    ? ok.reduce((a, l) => a * l.upper * (l.scale && !l.scale.folded ? l.scale.maxAbs : 1), 1)
    : undefined;
  return {
    format: model.format,
    input: options.input,
    foldBn,
    precision,
    threads: options.threads,
    layers,
    lipschitz,
    lipschitzWithScales,
    scaled,
    warnings,
    totalMs: performance.now() - t0,
  };
}
