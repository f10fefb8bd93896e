/**
 * Projection onto the operator-norm ball as one loop over a problem,
 * whatever runs its rounds (wasm on one thread, the worker pool, WebGPU).
 *
 * The kernel is scaled by a power of two (largest entry in [0.5, 1)), folded
 * into the layer's problem, and handed round after round to a
 * {@linkcode Rounds}: one round clips every frequency's singular values at the
 * (scaled) radius and cuts the result back to the kernel's taps. Alternating
 * rounds repeat that; Dykstra's rounds clip `P + correction` and keep a
 * correction per frequency. The loop stops once the norm is within the
 * tolerance or after `iterations` rounds; the kernel is written back in the
 * caller's layout, scale and element type.
 * @module
 */
import type { ClipMethod, Kernel } from "../types.ts";
import { type LayerSpec, plainShape, withData } from "../_options.ts";
import { ldexp, type Problem, scaleExponent, scaleInPlace } from "../_problem/problem.ts";
import { plainProblem } from "../_problem/expand.ts";

/** One round's outcome: the new scaled kernel and the largest σ of the kernel the round started from. */
export interface RoundResult {
  k: Float64Array;
  norm: number;
}

type Maybe<T, Async extends boolean> = Async extends true ? Promise<T> : T;

/** What runs the rounds (and measures norms) of one clipping call. */
export interface Rounds<Async extends boolean> {
  /** f64 slots of Dykstra's correction (0 without it). */
  corrLength: number;
  /** One round from the scaled OIHW kernel `k` (updating `corr` when given). */
  round(k: Float64Array, corr: Float64Array | undefined): Maybe<RoundResult, Async>;
}

/** The loop's parameters, validated. */
export interface ClipPlan {
  spec: LayerSpec;
  maxNorm: number;
  iterations: number;
  tolerance: number;
  method: ClipMethod;
}

/** A clipping problem after scaling: the exponent, the scaled problem, the scaled radius and stopping level. */
export interface Scaled {
  e: number;
  problem: Problem;
  c: number;
  target: number;
}

/** Scales the kernel (undefined for the zero kernel, which is inside every ball). */
export function scaled(plan: ClipPlan): Scaled | undefined {
  const e = scaleExponent(plan.spec.data);
  if (e === undefined) return undefined;
  const problem = plainProblem(plan.spec);
  const k = Float64Array.from(problem.re);
  scaleInPlace(k, -e);
  const c = ldexp(plan.maxNorm, -e);
  return { e, problem: { ...problem, re: k }, c, target: c * (1 + plan.tolerance) };
}

/** What the loop asks for. */
type Request =
  | { kind: "round"; k: Float64Array; corr: Float64Array | undefined }
  | { kind: "norm"; k: Float64Array };

/** The loop's outcome: the final scaled kernel (undefined: the input as it is), the rounds run and the input's scaled norm. */
export interface Outcome {
  k: Float64Array | undefined;
  done: number;
  norm0: number;
}

/**
 * The iteration: yields requests, receives a {@linkcode RoundResult} for a
 * round or a number for a norm.
 */
function* iterate(plan: ClipPlan, s: Scaled, corrLength: number): Generator<Request, Outcome, unknown> {
  const dykstra = plan.method === "dykstra";
  const corr = dykstra ? new Float64Array(corrLength) : undefined;
  // Round 1 also measures the input's norm: inside the ball, nothing is to be done.
  const first = (yield { kind: "round", k: s.problem.re as Float64Array, corr }) as RoundResult;
  if (first.norm <= s.target) return { k: undefined, done: 0, norm0: first.norm };
  let k = first.k;
  let done = 1;
  for (let t = 2; t <= plan.iterations; t++) {
    if (dykstra) {
      // Dykstra's rounds clip P + correction, so their σ are not the iterate's norm: measure it.
      if (((yield { kind: "norm", k }) as number) <= s.target) break;
      k = ((yield { kind: "round", k, corr }) as RoundResult).k;
    } else {
      // An alternating round measures the norm of the kernel it starts from.
      const res = (yield { kind: "round", k, corr: undefined }) as RoundResult;
      if (res.norm <= s.target) break;
      k = res.k;
    }
    done = t;
  }
  return { k, done, norm0: first.norm };
}

/** The scaled problem of kernel `k` (for a norm). */
function withKernel(s: Scaled, k: Float64Array): Problem {
  return { ...s.problem, re: k };
}

/** Runs the loop with synchronous rounds; `norm` measures a problem's norm. */
export function runLoopSync(plan: ClipPlan, s: Scaled, rounds: Rounds<false>, norm: (p: Problem) => number): Outcome {
  const loop = iterate(plan, s, rounds.corrLength);
  let step = loop.next();
  while (!step.done) {
    const req = step.value;
    step = loop.next(req.kind === "norm" ? norm(withKernel(s, req.k)) : rounds.round(req.k, req.corr));
  }
  return step.value;
}

/** Runs the loop with asynchronous rounds. */
export async function runLoop(
  plan: ClipPlan,
  s: Scaled,
  rounds: Rounds<true>,
  norm: (p: Problem) => Promise<number>,
): Promise<Outcome> {
  const loop = iterate(plan, s, rounds.corrLength);
  let step = loop.next();
  while (!step.done) {
    const req = step.value;
    step = loop.next(req.kind === "norm" ? await norm(withKernel(s, req.k)) : await rounds.round(req.k, req.corr));
  }
  return step.value;
}

/**
 * The kernel to return: the final scaled OIHW f64 kernel written back in the
 * caller's layout, scale and element type (`k` is scaled in place; f32
 * output rounds the scaled value once), or a copy of the input.
 */
export function callerKernel(plan: ClipPlan, s: Scaled | undefined, out: Outcome, shape: readonly number[]): Kernel {
  const { spec } = plan;
  if (!s || !out.k) return { data: spec.data.slice(), shape: [...shape] };
  const { cOut, cIn, kh, kw } = plainShape(spec);
  const k = out.k;
  const data = spec.data instanceof Float32Array ? new Float32Array(k.length) : new Float64Array(k.length);
  scaleInPlace(k, s.e);
  if (spec.layout === "oihw") {
    data.set(k);
    return { data, shape: [...shape] };
  }
  const taps = kh * kw;
  for (let oi = 0; oi < cOut * cIn; oi++) {
    const o = Math.floor(oi / cIn), i = oi % cIn;
    for (let t = 0; t < taps; t++) data[(t * cIn + i) * cOut + o] = k[oi * taps + t];
  }
  return { data, shape: [...shape] };
}

/** The returned kernel's problem, for its norm (read in its own layout and element type). */
export function returnedProblem(plan: ClipPlan, kernel: Kernel): Problem {
  return plainProblem(withData(plan.spec, kernel.data as Float32Array | Float64Array));
}
