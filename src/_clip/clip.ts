/**
 * A clipping call from options to result: validate, resolve where the rounds
 * run (wasm on the calling thread, the worker pool, or WebGPU), run the loop
 * (src/_clip/loop.ts), write the kernel back and measure its norm on the same
 * backend.
 * @module
 */
import type { Backend, ClipMethod, ClipOptions, ClipResult, Kernel, Precision, SimdBuild } from "../types.ts";
import { fromAxes, plainShape, plainSpec } from "../_options.ts";
import { show } from "../_checks.ts";
import { type BackendRequest, resolveBackend, resolveBackendSync, type Resolved, validateRun } from "../_backend.ts";
import { ldexp, type Problem } from "../_problem/problem.ts";
import { runProblem, runProblemThreaded } from "../_wasm/engine.ts";
import { runProblemWebGPU } from "../_webgpu/run.ts";
import {
  callerKernel,
  type ClipPlan,
  type Outcome,
  returnedProblem,
  runLoop,
  runLoopSync,
  type Scaled,
  scaled,
} from "./loop.ts";
import { poolRounds, wasmRounds } from "./wasm.ts";
import { gpuRounds } from "./webgpu.ts";

const SUBJECT = "clip the operator norm";

function fail(Kind: typeof TypeError | typeof RangeError, what: string, rule: string, value: unknown): never {
  throw new Kind(`Cannot clip the operator norm as ${what} must be ${rule}: current value is ${show(value)}`);
}

/** Validates everything a clipping call takes, before any work. */
function validate(kernel: Kernel, maxNorm: number, options: ClipOptions): { plan: ClipPlan; req: BackendRequest } {
  const spec = plainSpec(kernel, options);
  if (typeof maxNorm !== "number") fail(TypeError, "maxNorm", "a number", maxNorm);
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) fail(RangeError, "maxNorm", "a positive finite number", maxNorm);
  const iterations = options.iterations ?? 1;
  if (typeof iterations !== "number" || !Number.isInteger(iterations) || iterations < 1) {
    fail(RangeError, "iterations", "a positive integer", iterations);
  }
  const tolerance = options.tolerance ?? 0;
  if (typeof tolerance !== "number" || !(tolerance >= 0) || !Number.isFinite(tolerance)) {
    fail(RangeError, "tolerance", "a finite number ≥ 0", tolerance);
  }
  const method: ClipMethod = options.method ?? "alternating";
  if (method !== "alternating" && method !== "dykstra") fail(TypeError, "method", `"alternating" or "dykstra"`, method);
  const { kh, kw, h, w } = plainShape(spec);
  if (kh > h || kw > w) {
    throw new RangeError(
      `Cannot clip the operator norm as the kernel's taps must fit the input (wrapped taps have no place to go back to): current value is kernel ${kh}×${kw} on inputShape [${h}, ${w}]`,
    );
  }
  const run = validateRun(options);
  if ((run.backend ?? "wasm") === "wasm" && run.precision === "f32") {
    throw new RangeError(
      `Cannot clip the operator norm as precision must be "f64" on backend "wasm" (f32 clipping runs on backend "webgpu"): current value is "f32"`,
    );
  }
  const plan = { spec, maxNorm, iterations, tolerance, method };
  const req: BackendRequest = {
    subject: SUBJECT,
    run,
    problems: () => [plainProblem(plan)],
    ...(method === "dykstra"
      ? {
        noWebgpu: {
          reason: "Dykstra's method runs on wasm only",
          error: () =>
            new RangeError(
              'Cannot clip the operator norm as method must be "alternating" on backend "webgpu" (Dykstra\'s per-frequency corrections run on wasm only): current value is "dykstra"',
            ),
        },
      }
      : {}),
  };
  return { plan, req };
}

function plainProblem(plan: ClipPlan): Problem {
  return returnedProblem(plan, { data: plan.spec.data, shape: [] });
}

function result(
  plan: ClipPlan,
  s: Scaled | undefined,
  out: Outcome,
  shape: readonly number[],
  ran: { backend: Backend; precision: Precision; simd?: SimdBuild },
): { res: ClipResult; returned: Problem | undefined } {
  const kernel = callerKernel(plan, s, out, shape);
  const normBefore = s ? ldexp(out.norm0, s.e) : 0;
  const res: ClipResult = {
    kernel,
    normBefore,
    normAfter: 0,
    iterations: out.done,
    method: plan.method,
    ...ran,
    grid: fromAxes(plan.spec.n, plan.spec.rank),
    exact: true,
    certified: false,
    certifyScale: 1,
  };
  return { res, returned: s ? returnedProblem(plan, kernel) : undefined };
}

/** The largest first value a problem's frequencies report through `run`. */
function maxOf(run: (p: Problem, sink: (u: number, v: number, row: Float64Array) => void) => void, p: Problem): number {
  let norm = 0;
  run(p, (_u, _v, row) => norm = row[0] > norm ? row[0] : norm);
  return norm;
}

async function maxOfAsync(
  run: (p: Problem, sink: (u: number, v: number, row: Float64Array) => void) => Promise<void>,
  p: Problem,
): Promise<number> {
  let norm = 0;
  await run(p, (_u, _v, row) => norm = row[0] > norm ? row[0] : norm);
  return norm;
}

const NO_ROUNDS: Outcome = { k: undefined, done: 0, norm0: 0 };

/** Clips on the calling thread (wasm, f64). */
export function clipSync(kernel: Kernel, maxNorm: number, options: ClipOptions): ClipResult {
  const { plan, req } = validate(kernel, maxNorm, options);
  const b = resolveBackendSync(req);
  const norm = (p: Problem) => maxOf((q, sink) => runProblem(b.core, q, sink), p);
  const s = scaled(plan);
  const out = s ? runLoopSync(plan, s, wasmRounds(b.core, s.problem, s.c, plan.method === "dykstra"), norm) : NO_ROUNDS;
  const { res, returned } = result(plan, s, out, kernel.shape, { backend: "wasm", precision: "f64", simd: b.simd });
  if (returned) res.normAfter = norm(returned);
  if (b.skipped.webgpu !== undefined) res.skipped = b.skipped;
  return res;
}

/** Clips where the options resolve: WebGPU (f32), the worker pool or the calling thread (wasm, f64). */
export async function clip(kernel: Kernel, maxNorm: number, options: ClipOptions): Promise<ClipResult> {
  const { plan, req } = validate(kernel, maxNorm, options);
  const b: Resolved = await resolveBackend(req);
  const s = scaled(plan);
  const dykstra = plan.method === "dykstra";
  let out = NO_ROUNDS;
  let norm: (p: Problem) => Promise<number>;
  if (b.backend === "webgpu") {
    norm = (p) => maxOfAsync((q, sink) => runProblemWebGPU(b.gpu, q, sink), p);
    if (s) {
      const rounds = await gpuRounds(b.gpu, s.problem, s.c);
      try {
        out = await runLoop(plan, s, rounds, norm);
      } finally {
        rounds.destroy();
      }
    }
  } else {
    const { pool, core } = b;
    norm = pool
      ? (p) => maxOfAsync((q, sink) => runProblemThreaded(pool, q, sink), p)
      : (p) => Promise.resolve(maxOf((q, sink) => runProblem(core, q, sink), p));
    if (s) {
      const rounds = pool ? poolRounds(pool, s.problem, s.c, dykstra) : asyncRounds(wasmRounds(core, s.problem, s.c, dykstra));
      out = await runLoop(plan, s, rounds, norm);
    }
  }
  const ran = b.backend === "webgpu"
    ? { backend: "webgpu", precision: "f32" } as const
    : { backend: "wasm", precision: "f64", simd: b.simd } as const;
  const { res, returned } = result(plan, s, out, kernel.shape, ran);
  if (returned) res.normAfter = await norm(returned);
  if (b.skipped.webgpu !== undefined) res.skipped = b.skipped;
  return res;
}

function asyncRounds(r: ReturnType<typeof wasmRounds>) {
  return { corrLength: r.corrLength, round: (k: Float64Array, corr: Float64Array | undefined) => Promise.resolve(r.round(k, corr)) };
}
