/**
 * Projection onto the operator-norm ball as one loop over a layer's
 * problems, whatever runs its rounds (wasm on one thread, the worker pool,
 * WebGPU).
 *
 * Every layer kind is clipped through its problems (src/_problem/expand.ts):
 * the layer folded and phase-split onto the circular grid, one real problem
 * per group, all of one shape. The kernel is scaled by a power of two
 * (largest entry in [0.5, 1)) and folded into the groups' kernels K', which
 * are handed round after round to a {@linkcode Rounds}: one round clips every
 * frequency's singular values at the (scaled) radius, transforms back and
 * keeps the problem's taps; entries of K' that no tap of the layer reaches
 * (a stride that does not divide the kernel) are then zeroed. Together this
 * is the orthogonal (Frobenius) projection of the clipped operator onto the
 * operators of the layer's kind: the phase split is an orthogonal relabelling
 * of the input and distinct entries of K' are orthogonal directions.
 * Alternating rounds repeat it; Dykstra's rounds clip `P + correction` and
 * keep a correction per frequency. The loop stops once the norm is within the
 * tolerance or after `iterations` rounds.
 *
 * Back to the layer's own taps: an entry of K' that one tap reaches is that
 * tap. Where several taps reach one entry (taps that wrap onto each other:
 * a dilation or kernel reaching past the input), the operator depends only on
 * their sum; the returned kernel is the one nearest to the input that gives
 * the projected operator: each of those taps moves by the same amount, the
 * change of the entry divided by their number.
 * @module
 */
import type { Kernel } from "../types.ts";
import type { ClipMethod } from "../clip_operator_norm.ts";
import type { Axes, LayerSpec } from "../_options.ts";
import { ldexp, type Problem, scaleExponent, scaleInPlace } from "../_problem/problem.ts";
import { foldedKernels, kernelMap, tapLayout } from "../_problem/expand.ts";
import { depthProblems, type DepthShape } from "./depth.ts";

/**
 * One round's outcome: the groups' new scaled K' and the largest σ of the
 * kernel the round started from over the frequencies it factorised; every
 * other frequency was certified below the level (so when `norm` exceeds the
 * level it is the kernel's norm, and otherwise the kernel is inside the ball).
 * Where {@linkcode Rounds}' `roughNorm` says so, the σ of some frequencies are
 * √λ of their Gram matrices: within a few ulps, not the norm's bits.
 */
export interface RoundResult {
  k: Float64Array;
  norm: number;
}

type Maybe<T, Async extends boolean> = Async extends true ? Promise<T> : T;

/** What runs the rounds of one clipping call, over every group's K' one after another. */
export interface Rounds<Async extends boolean> {
  /** f64 slots of Dykstra's correction, all groups (0 without it). */
  corrLength: number;
  /**
   * Whether a round's `norm` may differ from the exact norm in its last bits (some frequencies clipped
   * through their Gram matrix: its largest √λ): the loop then measures the input's norm itself.
   */
  roughNorm: boolean;
  /** One round from the groups' scaled K' (updating `corr` when given). */
  round(k: Float64Array, corr: Float64Array | undefined): Maybe<RoundResult, Async>;
}

/** The loop's parameters, validated. */
export interface ClipPlan {
  /** The layer that is projected: the caller's, its weights multiplied by `scale` when given. */
  spec: LayerSpec;
  /** The factor of each weight's scaled channel (see {@linkcode scaledWeights}), or undefined. */
  channelScale: Float64Array | undefined;
  /** The circular grid that is clipped. */
  grid: Axes;
  maxNorm: number;
  iterations: number;
  tolerance: number;
  method: ClipMethod;
}

/**
 * The factor of every weight (OI… order) for a per-channel `scale` of the
 * layer's outputs: the forward convolution's output channel `o`, or for a
 * transposed layer (whose outputs are the forward convolution's inputs) the
 * input channel `g·c_in/g + i`.
 */
export function scaledWeights(spec: LayerSpec, scale: ArrayLike<number>): Float64Array {
  const { cOut, cInG, cOutG, k, transposed } = spec;
  const taps = k[0] * k[1] * k[2];
  const f = new Float64Array(cOut * cInG * taps);
  for (let o = 0; o < cOut; o++) {
    const g = Math.floor(o / cOutG);
    for (let i = 0; i < cInG; i++) {
      const s = transposed ? scale[g * cInG + i] : scale[o];
      f.fill(s, (o * cInG + i) * taps, (o * cInG + i + 1) * taps);
    }
  }
  return f;
}

/** A clipping problem after scaling. */
export interface Scaled {
  e: number;
  /** The shape every group's problem shares (its kernel is group 0's scaled K'), for layers with real problems. */
  problem: Problem;
  /** The shape of the depth problems, for 3-D layers with several depth taps on several depth frequencies. */
  depth: DepthShape | undefined;
  groups: number;
  /** The groups' scaled K', one after another: the first round's kernel. */
  k0: Float64Array;
  /**
   * Where each weight of one group lands in K', and how many weights reach each entry ({@linkcode kernelMap});
   * undefined when every tap keeps its place (K' is the kernel itself).
   */
  map: { dest: Int32Array; count: Int32Array } | undefined;
  /** Whether some entry of K' is reached by no tap (it is zeroed after every round). */
  unreached: boolean;
  /**
   * Whether the rounds may clip a frequency's matrix through its Gram matrix: a strided layer whose
   * phase-split matrices are at least twice as wide as tall (or tall as wide); never a stride-1 layer.
   */
  gram: boolean;
  c: number;
  target: number;
}

/** Scales and folds the kernel (undefined for the zero kernel, which is inside every ball). */
export function scaled(plan: ClipPlan): Scaled | undefined {
  const e = scaleExponent(plan.spec.weights);
  if (e === undefined) return undefined;
  const { np, kp, cInP, identity } = tapLayout(plan.spec, plan.grid);
  const folded = foldedKernels(plan.spec, plan.grid);
  const len = folded[0].length;
  const k0 = new Float64Array(len * folded.length);
  folded.forEach((kq, g) => k0.set(kq, g * len));
  scaleInPlace(k0, -e);
  const map = identity ? undefined : kernelMap(plan.spec, plan.grid);
  const unreached = map !== undefined && map.count.includes(0);
  const c = ldexp(plan.maxNorm, -e);
  const [kd, kh, kw] = kp, [d, h, w] = np, cOut = plan.spec.cOutG;
  // One depth tap: every depth frequency has the same (real) matrices, those of K' itself.
  const depth = kd > 1 && d > 1 ? { groups: folded.length, cOut, cIn: cInP, kd, kh, kw, d, h, w } : undefined;
  // One tap in all: every frequency has the same matrix K', so the round is that one matrix clipped
  // (on a 1 × 1 grid; the inverse transform's average over h·w equal matrices is that matrix).
  const one = kd === 1 && kh === 1 && kw === 1;
  const strided = plan.spec.stride.some((x) => x > 1);
  const gram = strided && Math.max(cOut, cInP) >= 2 * Math.min(cOut, cInP);
  return {
    e,
    problem: { cOut, cIn: cInP, kh, kw, h: one ? 1 : h, w: one ? 1 : w, re: k0.subarray(0, len) },
    depth,
    groups: folded.length,
    k0,
    map,
    unreached,
    gram,
    c,
    target: c * (1 + plan.tolerance),
  };
}

/** What the loop asks for. */
type Request =
  | { kind: "round"; k: Float64Array; corr: Float64Array | undefined }
  | { kind: "norm"; k: Float64Array };

/** The loop's outcome: the final scaled K' (undefined: the input as it is), the rounds run and the input's scaled norm. */
export interface Outcome {
  k: Float64Array | undefined;
  done: number;
  norm0: number;
}

/** Zeroes the entries of every group's K' that no tap reaches. */
function applyMask(k: Float64Array, s: Scaled): Float64Array {
  const count = s.unreached ? s.map?.count : undefined;
  if (count) {
    for (let base = 0; base < k.length; base += count.length) {
      for (let j = 0; j < count.length; j++) if (count[j] === 0) k[base + j] = 0;
    }
  }
  return k;
}

/**
 * The iteration: yields requests, receives a {@linkcode RoundResult} for a
 * round or a number for a norm.
 */
function* iterate(plan: ClipPlan, s: Scaled, rounds: Rounds<boolean>): Generator<Request, Outcome, unknown> {
  const dykstra = plan.method === "dykstra";
  const corr = dykstra ? new Float64Array(rounds.corrLength) : undefined;
  // Rounds whose norm is rough: the input's norm is measured first, and decides whether there is anything to do.
  const norm0 = rounds.roughNorm ? (yield { kind: "norm", k: s.k0 }) as number : undefined;
  if (norm0 !== undefined && norm0 <= s.target) return { k: undefined, done: 0, norm0 };
  // Otherwise round 1 also measures the input's norm: inside the ball, nothing is to be done (the norm is then
  // measured on its own, as the round may have certified frequencies below the level without their values).
  const first = (yield { kind: "round", k: s.k0, corr }) as RoundResult;
  if (norm0 === undefined && first.norm <= s.target) {
    return { k: undefined, done: 0, norm0: (yield { kind: "norm", k: s.k0 }) as number };
  }
  let k = applyMask(first.k, s);
  let done = 1;
  for (let t = 2; t <= plan.iterations; t++) {
    if (dykstra) {
      // Dykstra's rounds clip P + correction, so their σ are not the iterate's norm: measure it.
      if (((yield { kind: "norm", k }) as number) <= s.target) break;
      k = applyMask(((yield { kind: "round", k, corr }) as RoundResult).k, s);
    } else {
      // An alternating round measures the norm of the kernel it starts from (roughly: enough to stop on).
      const res = (yield { kind: "round", k, corr: undefined }) as RoundResult;
      if (res.norm <= s.target) break;
      k = applyMask(res.k, s);
    }
    done = t;
  }
  return { k, done, norm0: norm0 ?? first.norm };
}

/** The problems of the groups' K' (groups as diagonal blocks), for a norm on wasm. */
export function problemsOf(s: Scaled, k: Float64Array): Problem[] {
  if (s.depth) return depthProblems(s.depth, k);
  return [{ ...s.problem, re: k, ...(s.groups > 1 ? { groups: s.groups } : {}) }];
}

/** Runs the loop with synchronous rounds; `norm` measures the norm of problems. */
export function runLoopSync(
  plan: ClipPlan,
  s: Scaled,
  rounds: Rounds<false>,
  norm: (problems: readonly Problem[]) => number,
): Outcome {
  const loop = iterate(plan, s, rounds);
  let step = loop.next();
  while (!step.done) {
    const req = step.value;
    step = loop.next(req.kind === "norm" ? norm(problemsOf(s, req.k)) : rounds.round(req.k, req.corr));
  }
  return step.value;
}

/** Runs the loop with asynchronous rounds. */
export async function runLoop(
  plan: ClipPlan,
  s: Scaled,
  rounds: Rounds<true>,
  norm: (problems: readonly Problem[]) => Promise<number>,
): Promise<Outcome> {
  const loop = iterate(plan, s, rounds);
  let step = loop.next();
  while (!step.done) {
    const req = step.value;
    step = loop.next(req.kind === "norm" ? await norm(problemsOf(s, req.k)) : await rounds.round(req.k, req.corr));
  }
  return step.value;
}

/**
 * The returned weights (OI… order, f64, unscaled, of the projected layer):
 * the final K' taken back to the layer's taps (see the module doc).
 */
function finalWeights(plan: ClipPlan, s: Scaled, k: Float64Array): Float64Array {
  let w: Float64Array;
  if (!s.map) {
    w = k;
  } else {
    const { dest, count } = s.map;
    const { weights } = plan.spec;
    const per = dest.length, len = k.length / s.groups;
    w = new Float64Array(per * s.groups);
    for (let g = 0; g < s.groups; g++) {
      for (let j = 0; j < per; j++) {
        const q = g * len + dest[j];
        const n = count[dest[j]];
        // One tap on the entry: the entry. Several: the input's taps, each moved by an equal share.
        w[g * per + j] = n === 1 ? k[q] : ldexp(weights[g * per + j], -s.e) + (k[q] - s.k0[q]) / n;
      }
    }
  }
  scaleInPlace(w, s.e);
  return w;
}

/**
 * The kernel to return: the final weights in the caller's layout and element
 * type, divided by the channel scale when one was given; or a copy of the
 * input when nothing was to be done.
 */
export function callerKernel(
  plan: ClipPlan,
  data: Float32Array | Float64Array,
  s: Scaled | undefined,
  out: Outcome,
  shape: readonly number[],
): Kernel {
  if (!s || !out.k) return { data: data.slice(), shape: [...shape] };
  const w = finalWeights(plan, s, out.k);
  if (plan.channelScale) { for (let j = 0; j < w.length; j++) w[j] /= plan.channelScale[j]; }
  return { data: toLayout(plan.spec, w, data instanceof Float32Array), shape: [...shape] };
}

/** Weights in OI… order written in the layer's layout (channels first, or spatial axes first), f32 or f64. */
export function toLayout(spec: LayerSpec, w: Float64Array, f32: boolean): Float32Array | Float64Array {
  const out = f32 ? new Float32Array(w.length) : new Float64Array(w.length);
  if (spec.layout.startsWith("oi")) {
    out.set(w);
    return out;
  }
  const { cOut, cInG, k } = spec;
  const taps = k[0] * k[1] * k[2];
  for (let oi = 0; oi < cOut * cInG; oi++) {
    const o = Math.floor(oi / cInG), i = oi % cInG;
    for (let t = 0; t < taps; t++) out[(t * cInG + i) * cOut + o] = w[oi * taps + t];
  }
  return out;
}
