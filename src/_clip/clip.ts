/**
 * A clipping call from options to result: validate, resolve where the rounds
 * run (wasm on the calling thread, the worker pool, or WebGPU), run the loop
 * (src/_clip/loop.ts), write the kernel back, measure its norm on the same
 * backend and, with `certify`, scale it into the ball.
 * @module
 */
import type { Backend, Kernel, Precision, SimdBuild } from "../types.ts";
import type { ClipMethod, ClipOptions, ClipResult } from "../clip_operator_norm.ts";
import { type Axes, fromAxes, type LayerSpec, validateSpec, withData } from "../_options.ts";
import { fail as failWith, isList, show, showTyped } from "../_checks.ts";
import {
  type BackendRequest,
  resolveBackend,
  resolveBackendSync,
  type Resolved,
  validateRun,
  WEBGPU_CLIP_MAX_THREADS,
} from "../_backend.ts";
import { isDiagonal, ldexp, type Problem, type Sink } from "../_problem/problem.ts";
import { admissibleGrids, expandSpec, mergeGroups, tapLayout } from "../_problem/expand.ts";
import { checkClip } from "../_budget.ts";
import { layerProblemsNorm, layerProblemsNormAbortable } from "../_wasm/engine.ts";
import { loadWasm } from "../_wasm/loader.ts";
import type { CoreExports } from "../_wasm/abi.ts";
import { runProblemWebGPU } from "../_webgpu/run.ts";
import {
  callerKernel,
  type ClipPlan,
  type Outcome,
  type Rounds,
  runLoop,
  runLoopSync,
  type Scaled,
  scaled,
  scaledWeights,
} from "./loop.ts";
import { poolRounds, wasmRounds } from "./wasm.ts";
import { gpuRounds } from "./webgpu.ts";
import { depthPoolRounds, depthRounds } from "./depth.ts";
import { diagRounds } from "./diagonal.ts";

const SUBJECT = "clip the operator norm";

/** Most rounds one call runs: alternation converges long before (a longer run is bounded by `signal`). */
export const MAX_ITERATIONS = 100_000;

/** Whether the layer's problems are complex: several depth taps on several depth frequencies. */
function depthOf(spec: LayerSpec, grid: Axes): boolean {
  const { kp, np } = tapLayout(spec, grid);
  return kp[0] > 1 && np[0] > 1;
}

function fail(Kind: typeof TypeError | typeof RangeError, what: string, rule: string, value: unknown): never {
  throw new Kind(
    `Cannot clip the operator norm as ${what} must be ${rule}: current value is ${
      Kind === TypeError ? showTyped(value) : show(value)
    }`,
  );
}

/** The validated call: the plan, the backend request, and what the result needs. */
interface Call {
  plan: ClipPlan;
  req: BackendRequest;
  /** The caller's layer (its data is what is returned, scaled). */
  layer: LayerSpec;
  certify: boolean;
  /** Whether the caller gave a tolerance (the result then says whether it was met). */
  toleranceGiven: boolean;
  exact: boolean;
}

/** The per-channel scale, checked: `n` finite non-zero numbers. */
function checkScale(scale: unknown, n: number, transposed: boolean): Float64Array {
  const what = "scale";
  if (!isList(scale)) fail(TypeError, what, `an array of ${n} numbers (one per output channel)`, scale);
  const list = Array.from(scale as ArrayLike<unknown>);
  if (list.length !== n) {
    failWith(
      TypeError,
      what,
      `${n} numbers, one per output channel of the layer${
        transposed ? " (the kernel's input-channel axis × groups, for a transposed layer)" : ""
      }`,
      `${list.length} numbers`,
    );
  }
  list.forEach((x, j) => {
    if (typeof x !== "number") fail(TypeError, `scale[${j}]`, "a number", x);
    if (!Number.isFinite(x) || x === 0) fail(RangeError, `scale[${j}]`, "finite and non-zero", x);
  });
  return Float64Array.from(list as number[]);
}

/** Validates everything a clipping call takes, before any work. */
function validate(kernel: Kernel, maxNorm: number, options: ClipOptions): Call {
  const layer = validateSpec(kernel, options);
  if (typeof maxNorm !== "number") fail(TypeError, "maxNorm", "a number", maxNorm);
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) fail(RangeError, "maxNorm", "a positive finite number", maxNorm);
  const iterations = options.iterations ?? 1;
  if (typeof iterations !== "number") fail(TypeError, "iterations", "a positive integer", iterations);
  if (!Number.isInteger(iterations) || iterations < 1) {
    fail(RangeError, "iterations", "a positive integer", iterations);
  }
  if (iterations > MAX_ITERATIONS) {
    fail(RangeError, "iterations", `at most ${MAX_ITERATIONS} (bound a longer run's time with signal)`, iterations);
  }
  const tolerance = options.tolerance ?? 0;
  if (typeof tolerance !== "number") fail(TypeError, "tolerance", "a finite number ≥ 0", tolerance);
  if (!(tolerance >= 0) || !Number.isFinite(tolerance)) {
    fail(RangeError, "tolerance", "a finite number ≥ 0", tolerance);
  }
  const method: ClipMethod = options.method ?? "alternating";
  if (method !== "alternating" && method !== "dykstra") fail(TypeError, "method", `"alternating" or "dykstra"`, method);
  const certify = options.certify ?? options.tolerance !== undefined;
  if (typeof certify !== "boolean") fail(TypeError, "certify", "a boolean", certify);
  const outputs = layer.transposed ? layer.cIn : layer.cOut;
  const scale = options.scale === undefined ? undefined : checkScale(options.scale, outputs, layer.transposed);
  const run = validateRun(options);
  if ((run.backend ?? "wasm") === "wasm" && run.precision === "f32") {
    throw new RangeError(
      `Cannot clip the operator norm as precision must be "f64" on backend "wasm" (f32 clipping runs on backend "webgpu"): current value is "f32"`,
    );
  }
  const grid: Axes = layer.pad ? admissibleGrids(layer, 1)[0] : layer.n;
  // Memory (Dykstra's corrections included) and work, before any of it.
  checkClip(layer, grid, method === "dykstra", options.maxWork);
  const channelScale = scale ? scaledWeights(layer, scale) : undefined;
  const spec = channelScale
    ? { ...layer, weights: Float64Array.from(layer.weights, (x, j) => x * channelScale[j]) }
    : layer;
  const plan: ClipPlan = { spec, channelScale, grid, maxNorm, iterations, tolerance, method };
  const req: BackendRequest = {
    subject: SUBJECT,
    run,
    problems: () => expandSpec(spec, grid).parts.map((p) => p.problem),
    webgpuMaxThreads: WEBGPU_CLIP_MAX_THREADS,
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
      : depthOf(spec, grid)
      ? {
        noWebgpu: {
          reason: "a 3-D layer with several depth taps has complex frequency matrices, which WebGPU does not clip",
          error: () =>
            new RangeError(
              `Cannot clip the operator norm on backend "webgpu" as a 3-D layer with several depth taps has complex frequency matrices (WebGPU clips real ones; use backend "wasm"): current value is kernel ${
                show(fromAxes(layer.k, 3))
              } on grid ${show(fromAxes(grid, 3))}`,
            ),
        },
      }
      : {}),
  };
  return { plan, req, layer, certify, toleranceGiven: options.tolerance !== undefined, exact: !layer.pad };
}

/** The largest norm of the problems, exact (the engine's screened norm: src/_wasm/engine.ts layerProblemsNorm), f64. */
function normSync(core: CoreExports): (problems: readonly Problem[]) => number {
  return (problems) => layerProblemsNorm(core, problems);
}

/** {@linkcode normSync} for an async call: with a signal, on a core of its own, letting the event loop run. */
function normAsync(core: CoreExports, signal?: AbortSignal): (problems: readonly Problem[]) => Promise<number> {
  return (problems) => layerProblemsNormAbortable(core, problems, signal);
}

/** The largest first value of the problems' frequencies through a runner (WebGPU's f32 values). */
function normThrough(
  run: (p: Problem, sink: Sink) => void | Promise<void>,
): (problems: readonly Problem[]) => Promise<number> {
  return async (problems) => {
    let norm = 0;
    for (const p of problems) await run(p, (_u, _v, row) => norm = row[0] > norm ? row[0] : norm);
    return norm;
  };
}

/** The problems of the layer with the returned kernel's data (times the channel scale), for its norm. */
function returnedProblems(call: Call, data: Float32Array | Float64Array, merge: boolean): Problem[] {
  const { plan } = call;
  let spec = withData(call.layer, data);
  if (plan.channelScale) {
    const f = plan.channelScale;
    spec = { ...spec, weights: Float64Array.from(spec.weights, (x, j) => x * f[j]) };
  }
  const ex = expandSpec(spec, plan.grid);
  return (merge ? mergeGroups(ex) : ex.parts).map((p) => p.problem);
}

/**
 * The result: the returned kernel's norm and, with `certify`, the kernel
 * scaled into the ball (the factor shrunk by a few ulps at a time while
 * rounding, f32 in particular, leaves the measured norm above). Yields the
 * kernel data whose norm it needs and receives that norm.
 */
function* finish(
  call: Call,
  s: Scaled | undefined,
  out: Outcome,
  shape: readonly number[],
  ran: { backend: Backend; precision: Precision; simd?: SimdBuild | undefined },
): Generator<Float32Array | Float64Array, ClipResult, number> {
  const { plan } = call;
  const kernel = callerKernel(plan, call.layer.data, s, out, shape);
  let normAfter = s ? yield kernel.data : 0;
  const res: ClipResult = {
    kernel,
    normBefore: s ? ldexp(out.norm0, s.e) : 0,
    normAfter,
    iterations: out.done,
    method: plan.method,
    ...ran,
    grid: fromAxes(plan.grid, call.layer.rank),
    exact: call.exact,
    certified: false,
    certifyScale: 1,
  };
  if (ran.simd === undefined) delete res.simd;
  if (call.toleranceGiven) res.toleranceMet = normAfter <= plan.maxNorm * (1 + plan.tolerance);
  if (call.certify) {
    const f32 = kernel.data instanceof Float32Array;
    const base = Float64Array.from(kernel.data);
    let f = 1;
    for (let step = 0; normAfter > plan.maxNorm; step++) {
      if (step === 8) {
        throw new Error(
          `Cannot clip the operator norm as the certify step must bring the norm within ${plan.maxNorm}: current value is ${normAfter}`,
        );
      }
      f = step === 0 ? plan.maxNorm / normAfter : f * (1 - (f32 ? 2 ** -22 : 2 ** -50) * 2 ** step);
      const data = f32 ? new Float32Array(base.length) : new Float64Array(base.length);
      for (let j = 0; j < base.length; j++) data[j] = base[j] * f;
      kernel.data = data;
      normAfter = yield data;
    }
    res.normAfter = normAfter;
    res.certified = true;
    res.certifyScale = f;
  }
  return res;
}

function finishSync(
  call: Call,
  s: Scaled | undefined,
  out: Outcome,
  shape: readonly number[],
  ran: { backend: Backend; precision: Precision; simd?: SimdBuild | undefined },
  norm: (problems: readonly Problem[]) => number,
): ClipResult {
  const steps = finish(call, s, out, shape, ran);
  let step = steps.next();
  while (!step.done) step = steps.next(norm(returnedProblems(call, step.value, true)));
  return step.value;
}

async function finishAsync(
  call: Call,
  s: Scaled | undefined,
  out: Outcome,
  shape: readonly number[],
  ran: { backend: Backend; precision: Precision; simd?: SimdBuild | undefined },
  norm: (problems: readonly Problem[]) => Promise<number>,
  merge: boolean,
): Promise<ClipResult> {
  const steps = finish(call, s, out, shape, ran);
  let step = steps.next();
  while (!step.done) step = steps.next(await norm(returnedProblems(call, step.value, merge)));
  return step.value;
}

const NO_ROUNDS: Outcome = { k: undefined, done: 0, norm0: 0 };

/** The rounds of a scaled problem on one core: complex (3-D), elementwise (1×1 matrices) or per-frequency SVDs. */
function roundsOn(core: CoreExports, s: Scaled, dykstra: boolean): Rounds<false> {
  if (s.depth) return depthRounds(core, s.depth, s.c, dykstra, s.gram);
  if (isDiagonal(s.problem)) return diagRounds(core, s.problem, s.groups, s.c, dykstra);
  return wasmRounds(core, s.problem, s.groups, s.c, dykstra, s.gram);
}

/**
 * The first round of a clipping call on the calling thread, without its
 * norms or write-back: what bench/clip_kinds.ts times beside the whole call
 * (undefined for the zero kernel).
 */
export function firstRoundSync(kernel: Kernel, maxNorm: number, options: ClipOptions): (() => number) | undefined {
  const call = validate(kernel, maxNorm, options);
  const b = resolveBackendSync(call.req);
  const s = scaled(call.plan);
  if (!s) return undefined;
  const rounds = roundsOn(b.core, s, call.plan.method === "dykstra");
  return () => rounds.round(s.k0, undefined).norm;
}

/** Clips on the calling thread (wasm, f64). */
export function clipSync(kernel: Kernel, maxNorm: number, options: ClipOptions): ClipResult {
  const call = validate(kernel, maxNorm, options);
  const b = resolveBackendSync(call.req);
  const norm = normSync(b.core);
  const s = scaled(call.plan);
  const dykstra = call.plan.method === "dykstra";
  const rounds = s && roundsOn(b.core, s, dykstra);
  const out = s && rounds ? runLoopSync(call.plan, s, rounds, norm) : NO_ROUNDS;
  const res = finishSync(call, s, out, kernel.shape, { backend: "wasm", precision: "f64", simd: b.simd }, norm);
  if (Object.keys(b.skipped).length > 0) res.skipped = { ...b.skipped };
  return res;
}

/** Clips where the options resolve: WebGPU (f32), the worker pool or the calling thread (wasm, f64). */
export async function clip(kernel: Kernel, maxNorm: number, options: ClipOptions): Promise<ClipResult> {
  const call = validate(kernel, maxNorm, options);
  const b: Resolved = await resolveBackend(call.req);
  const s = scaled(call.plan);
  const dykstra = call.plan.method === "dykstra";
  let out = NO_ROUNDS;
  let norm: (problems: readonly Problem[]) => Promise<number>;
  if (b.backend === "webgpu") {
    norm = normThrough((p, sink) => runProblemWebGPU(b.gpu, p, sink));
    if (s) {
      const rounds = await gpuRounds(b.gpu, s.problem, s.groups, s.c);
      try {
        out = await runLoop(call.plan, s, counted(rounds, call), norm);
      } finally {
        rounds.destroy();
      }
    }
  } else {
    const { pool, core, workers, signal } = b;
    norm = normAsync(core, signal);
    if (s) {
      // Diagonal rounds run on the calling thread's core (elementwise: less work than handing it to the pool).
      const rounds: Rounds<true> = pool && s.depth
        ? depthPoolRounds(pool, s.depth, s.c, dykstra, s.gram, { workers, signal })
        : pool && !isDiagonal(s.problem)
        ? poolRounds(pool, s.problem, s.groups, s.c, dykstra, s.gram, { workers, signal })
        : asyncRounds(roundsOn(core, s, dykstra), signal);
      out = await runLoop(call.plan, s, counted(rounds, call), norm);
    }
  }
  const ran = b.backend === "webgpu"
    ? { backend: "webgpu", precision: "f32" } as const
    : { backend: "wasm", precision: "f64", simd: b.simd } as const;
  // A certificate is an f64 norm: on WebGPU (f32) the returned kernel is then measured on wasm.
  // WebGPU runs a grouped layer's groups one by one; the wasm engine takes them as one problem.
  const gpuOnly = b.backend === "webgpu" && !call.certify;
  const measure = b.backend === "webgpu" && call.certify ? normAsync(await loadWasm(), call.req.run.signal) : norm;
  const res = await finishAsync(call, s, out, kernel.shape, ran, measure, !gpuOnly);
  if (Object.keys(b.skipped).length > 0) res.skipped = { ...b.skipped };
  return res;
}

/**
 * Synchronous rounds as asynchronous ones; with a signal, each round first
 * lets the event loop run (so that an abort arrives) and checks it.
 */
function asyncRounds(r: Rounds<false>, signal?: AbortSignal): Rounds<true> {
  const { corrLength, roughNorm } = r;
  if (!signal) return { corrLength, roughNorm, round: (k, corr) => Promise.resolve(r.round(k, corr)) };
  return {
    corrLength,
    roughNorm,
    round: async (k, corr) => {
      await new Promise((resolve) => setTimeout(resolve, 0));
      signal.throwIfAborted();
      return r.round(k, corr);
    },
  };
}

/** Rounds that check the call's signal before each round and report the rounds run to its `onProgress`. */
function counted(r: Rounds<true>, call: Call): Rounds<true> {
  const { onProgress, signal } = call.req.run;
  let done = 0;
  return {
    corrLength: r.corrLength,
    roughNorm: r.roughNorm,
    round: async (k, corr) => {
      signal?.throwIfAborted();
      const res = await r.round(k, corr);
      onProgress?.({ done: ++done, total: call.plan.iterations });
      return res;
    },
  };
}
