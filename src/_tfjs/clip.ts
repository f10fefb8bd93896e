/**
 * Projects one planned TF.js conv layer onto the operator-norm ball: reads
 * its weights (and a folded BatchNorm's) in one batch, runs
 * `clipOperatorNorm` on the circular layer that holds the padded one, and
 * writes the kernels back in one `setWeights`, only when they changed.
 * @module
 */
import { type Tensor, tensor } from "@tensorflow/tfjs-core";
import type { ClipOptions, ClipResult } from "../clip_operator_norm.ts";
import { clipOperatorNorm } from "../clip_operator_norm.ts";
import { operatorNorm } from "../operator_norm.ts";
import type { Kernel, SingularValuesOptions } from "../types.ts";
import { show } from "../_checks.ts";
import type { ConvPlan } from "./plan.ts";
import type { ClippedLayer } from "../tfjs.ts";

/** The options of clipOperatorNorm that clipModel passes on. */
export type PassOptions = Pick<
  ClipOptions,
  "iterations" | "tolerance" | "method" | "certify" | "threads" | "backend" | "precision" | "maxWork" | "signal"
>;

/** Norms and radius of one factor of a separable layer. */
export interface FactorResult {
  /** The radius this factor was projected onto. */
  radius: number;
  /** Its norm before (the pointwise factor's with the BatchNorm scale when folded). */
  normBefore: number;
  /** Its norm as written. */
  normAfter: number;
  /** Rounds of clipOperatorNorm. */
  iterations: number;
  /** Whether clipOperatorNorm certified `normAfter ≤ radius`. */
  certified: boolean;
}

/** The convsv options of a planned layer's kernel (the depthwise factor for a separable layer). */
function callOptions(plan: ConvPlan): SingularValuesOptions & { groups: number } {
  const { geometry: g, stride, dilation, layout, kind, kernelShape, rank } = plan;
  return {
    inputShape: kind === "transposed" ? g.grid.map((m, j) => m / stride[j]) : g.grid,
    layout,
    stride,
    dilation,
    groups: kind === "depthwise" || kind === "separable" ? kernelShape[rank] : 1,
    transposed: kind === "transposed",
    padding: "circular",
  };
}

/** The kernel shape convsv reads: a depthwise `[...k, c, m]` as `[...k, 1, c·m]` with `c` groups. */
function convsvShape(plan: ConvPlan): number[] {
  const { kernelShape: s, rank, kind } = plan;
  return kind === "depthwise" || kind === "separable" ? [...s.slice(0, rank), 1, s[rank] * s[rank + 1]] : [...s];
}

/** A BatchNorm's inference-form factors `γ/√(var + ε)`, checked finite and non-zero. */
async function batchNormScale(plan: ConvPlan): Promise<Float64Array | undefined> {
  const bn = plan.batchNorm;
  if (bn === undefined) return undefined;
  const ws = bn.layer.getWeights();
  const variance = await ws[bn.variance].data();
  const gamma = bn.gamma === undefined ? undefined : await ws[bn.gamma].data();
  const out = new Float64Array(plan.cOut);
  for (let c = 0; c < out.length; c++) {
    out[c] = (gamma === undefined ? 1 : gamma[c]) / Math.sqrt(variance[c] + bn.epsilon);
    if (!Number.isFinite(out[c]) || out[c] === 0) {
      throw new RangeError(
        `Cannot fold BatchNormalization ${show(bn.name)} into TF.js layer ${
          show(plan.name)
        } as each factor γ/√(var + ε) must be finite and non-zero: current value is ${out[c]} at channel ${c}`,
      );
    }
  }
  return out;
}

/** `data` (row-major, last axis `channels`) with each entry multiplied by its channel's factor, in f64. */
function scaleLast(data: ArrayLike<number>, factors: ArrayLike<number>): Float64Array {
  const c = factors.length;
  const out = new Float64Array(data.length);
  for (let i = 0; i < out.length; i++) out[i] = data[i] * factors[i % c];
  return out;
}

/**
 * The separable layer's composite kernel `[...k, c, f]` (TensorFlow layout):
 * `K[t, c, f] = Σ_j D[t, c, j]·P[c·m + j, f]`, each output channel times its factor.
 */
function composite(
  d: ArrayLike<number>,
  p: ArrayLike<number>,
  taps: number,
  c: number,
  m: number,
  f: number,
  factors: ArrayLike<number> | undefined,
): Float64Array {
  const k = new Float64Array(taps * c * f);
  for (let t = 0; t < taps; t++) {
    for (let ci = 0; ci < c; ci++) {
      const row = (t * c + ci) * f;
      for (let j = 0; j < m; j++) {
        const w = d[(t * c + ci) * m + j];
        const prow = (ci * m + j) * f;
        for (let o = 0; o < f; o++) k[row + o] += w * p[prow + o];
      }
    }
  }
  if (factors !== undefined) { for (let i = 0; i < k.length; i++) k[i] *= factors[i % f]; }
  return k;
}

/** The base of an outcome: what the plan says. */
function base(plan: ConvPlan) {
  return {
    name: plan.name,
    className: plan.className,
    kind: plan.kind,
    exact: plan.geometry.exact,
    grid: [...plan.geometry.grid],
    inputShape: [...plan.geometry.inputShape],
    padding: { before: [...plan.geometry.before], after: [...plan.geometry.after] },
    batchNorm: plan.batchNorm?.name,
    batchNormNote: plan.batchNormNote,
  };
}

/**
 * Writes new values for some of the layer's weights in one `setWeights`, the
 * others passed as they are. Returns a note when a written weight has a
 * constraint that `setWeights` applies after the projection and that may
 * raise the norm (any but `MaxNorm`, which only scales filters down).
 */
function write(plan: ConvPlan, current: Tensor[], values: Map<number, Float32Array>): string | undefined {
  const made: Tensor[] = [];
  try {
    const list = current.map((t, i) => {
      const v = values.get(i);
      if (v === undefined) return t;
      const n = tensor(v, t.shape, "float32");
      made.push(n);
      return n;
    });
    plan.layer.setWeights(list);
  } finally {
    for (const t of made) t.dispose();
  }
  for (const i of values.keys()) {
    const c = plan.layer.weights[i].constraint as { getClassName?: () => string } | null | undefined;
    const name = c?.getClassName?.();
    if (c != null && name !== "MaxNorm") {
      return `the weight's constraint ${name ?? "(unnamed)"} was applied by setWeights after the projection`;
    }
  }
  return undefined;
}

/** Why a layer whose clip ran no round and did not scale was left as it is. */
function untouched(r: { normBefore: number }, maxNorm: number): string {
  return r.normBefore <= maxNorm
    ? `inside the ball (norm ${r.normBefore} ≤ ${maxNorm}): kernel untouched`
    : `within the tolerance of the ball (norm ${r.normBefore}): kernel untouched`;
}

/** Projects a conv, transposed or depthwise layer. */
async function clipPlain(plan: ConvPlan, maxNorm: number, pass: PassOptions, start: number): Promise<ClippedLayer> {
  const ws = plan.layer.getWeights();
  const data = (await ws[plan.kernel].data()) as Float32Array;
  const scale = await batchNormScale(plan);
  const kernel: Kernel = { data, shape: convsvShape(plan) };
  const r: ClipResult = await clipOperatorNorm(kernel, maxNorm, {
    ...pass,
    ...callOptions(plan),
    ...(scale ? { scale } : {}),
  });
  const keep = r.iterations === 0 && r.certifyScale === 1;
  const constraint = keep ? undefined : write(plan, ws, new Map([[plan.kernel, r.kernel.data as Float32Array]]));
  return {
    ...base(plan),
    normBefore: r.normBefore,
    normAfter: r.normAfter,
    certified: keep ? r.normBefore <= maxNorm : r.certified && constraint === undefined,
    constraint,
    written: !keep,
    skipped: keep ? untouched(r, maxNorm) : undefined,
    iterations: r.iterations,
    certifyScale: r.certifyScale,
    timeMs: performance.now() - start,
  };
}

/**
 * Projects a separable layer: its composite (a full conv with the depthwise
 * geometry) is measured; when it is outside the ball, each factor is
 * projected onto a radius such that the two radii multiply to `maxNorm`,
 * both shrunk by the same ratio `√(maxNorm/(‖D‖·‖P‖))` (so the result does
 * not depend on how the layer splits a scale between its factors).
 */
async function clipSeparable(
  plan: ConvPlan,
  maxNorm: number,
  pass: PassOptions,
  start: number,
): Promise<ClippedLayer> {
  const { rank, kernelShape, pointwise } = plan;
  const ws = plan.layer.getWeights();
  const d = (await ws[plan.kernel].data()) as Float32Array;
  const p = (await ws[pointwise!.index].data()) as Float32Array;
  const scale = await batchNormScale(plan);
  const taps = kernelShape.slice(0, rank).reduce((a, b) => a * b, 1);
  const [c, m] = [kernelShape[rank], kernelShape[rank + 1]];
  const f = pointwise!.shape[rank + 1];
  const depthwise = callOptions(plan);
  const run = { threads: pass.threads, backend: pass.backend, precision: pass.precision, maxWork: pass.maxWork };
  const compositeOptions = { ...run, ...depthwise, groups: 1, signal: pass.signal };
  const compositeNorm = (dd: ArrayLike<number>, pp: ArrayLike<number>) =>
    operatorNorm({ data: composite(dd, pp, taps, c, m, f, scale), shape: [...kernelShape.slice(0, rank), c, f] }, {
      ...compositeOptions,
    });
  const normBefore = await compositeNorm(d, p);
  if (normBefore <= maxNorm) {
    return {
      ...base(plan),
      normBefore,
      normAfter: normBefore,
      certified: true,
      written: false,
      skipped: untouched({ normBefore }, maxNorm),
      iterations: 0,
      certifyScale: 1,
      timeMs: performance.now() - start,
    };
  }
  const pointwiseOptions = {
    inputShape: Array(rank).fill(1),
    layout: plan.layout,
    padding: "circular" as const,
  };
  const dKernel: Kernel = { data: d, shape: convsvShape(plan) };
  const pKernel: Kernel = { data: p, shape: pointwise!.shape };
  const nD = await operatorNorm(dKernel, { ...run, ...depthwise, signal: pass.signal });
  const nP = await operatorNorm(scale ? { data: scaleLast(p, scale), shape: pointwise!.shape } : pKernel, {
    ...run,
    ...pointwiseOptions,
    signal: pass.signal,
  });
  const ratio = Math.sqrt(maxNorm / (nD * nP));
  const rD = nD * ratio;
  // rD·rP ≤ maxNorm in exact arithmetic: the quotient's rounding is at most 2^-53 relative
  const rP = (maxNorm / rD) * (1 - 2 ** -50);
  const cd = await clipOperatorNorm(dKernel, rD, { ...pass, ...depthwise });
  const cp = await clipOperatorNorm(pKernel, rP, { ...pass, ...pointwiseOptions, ...(scale ? { scale } : {}) });
  const dOut = cd.kernel.data as Float32Array;
  const pOut = cp.kernel.data as Float32Array;
  const normAfter = await compositeNorm(dOut, pOut);
  const values = new Map<number, Float32Array>();
  if (!(cd.iterations === 0 && cd.certifyScale === 1)) values.set(plan.kernel, dOut);
  if (!(cp.iterations === 0 && cp.certifyScale === 1)) values.set(pointwise!.index, pOut);
  const constraint = values.size > 0 ? write(plan, ws, values) : undefined;
  const factor = (r: ClipResult, radius: number): FactorResult => ({
    radius,
    normBefore: r.normBefore,
    normAfter: r.normAfter,
    iterations: r.iterations,
    certified: r.certified,
  });
  return {
    ...base(plan),
    normBefore,
    normAfter,
    certified: cd.certified && cp.certified && normAfter <= maxNorm && constraint === undefined,
    constraint,
    written: values.size > 0,
    skipped: values.size > 0 ? undefined : untouched({ normBefore }, maxNorm),
    iterations: Math.max(cd.iterations, cp.iterations),
    certifyScale: cd.certifyScale * cp.certifyScale,
    factors: { depthwise: factor(cd, rD), pointwise: factor(cp, rP) },
    timeMs: performance.now() - start,
  };
}

/** Projects one planned layer onto the ball of radius `maxNorm`. */
export async function clipLayer(plan: ConvPlan, maxNorm: number, pass: PassOptions): Promise<ClippedLayer> {
  const start = performance.now();
  return plan.kind === "separable"
    ? await clipSeparable(plan, maxNorm, pass, start)
    : await clipPlain(plan, maxNorm, pass, start);
}
