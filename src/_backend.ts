/**
 * Where a call runs: the one place that decides between the wasm and WebGPU
 * backends, and between the calling thread and the worker pool.
 *
 * - `"wasm"` (or no `backend`): wasm, in the precision asked for (default f64),
 *   on the pool when `threads` (default: the cores) is over 1 and the runtime
 *   can start workers, else on the calling thread. When more than one thread
 *   was meant to run (asked for, or the default on several cores) and none
 *   could start (no `SharedArrayBuffer`: a page that is not cross-origin
 *   isolated; a Content-Security-Policy refusing workers), the call runs on
 *   the calling thread and `skipped.threads` says why: never an error.
 * - `"webgpu"`: WebGPU in f32, or an error that says why not (no
 *   `navigator.gpu`, no adapter, a failed device request; an explicit
 *   `precision: "f64"`, which WebGPU cannot give; a function or option that
 *   has no WebGPU path). Never a silent fallback.
 * - `"auto"`: WebGPU only when the caller allowed f32 (`precision: "f32"`;
 *   `"auto"` never changes precision), the call has a WebGPU path, the
 *   layer's matrices and its work per wasm thread are past the measured
 *   crossover ({@linkcode autoSizeRefusal}), an adapter exists and
 *   it is not a software one (llvmpipe and the like are CPU emulations, far
 *   slower than wasm); else wasm, with the reason each skipped backend was
 *   skipped (as onnxruntime-web's `resolveBackend` collects them).
 *
 * The cheap tests come first, so that `"auto"` on a small layer or in f64
 * never creates a device.
 * @module
 */
import type { Precision, Progress, SimdBuild } from "./types.ts";
import { showTyped } from "./_checks.ts";
import { type Problem, problemsWork, type Sink } from "./_problem/problem.ts";
import { loadWasm, loadWasmSync, simdFlavour } from "./_wasm/loader.ts";
import type { CoreExports } from "./_wasm/abi.ts";
import { runProblem, runProblemAbortable, runProblemThreaded } from "./_wasm/engine.ts";
import { getPool, type Pool } from "./_threads/pool.ts";
import { defaultThreads, threadsUnavailable } from "./_threads/ports.ts";
import { getGpu, type GpuContext } from "./_webgpu/device.ts";
import { runProblemWebGPU } from "./_webgpu/run.ts";

/** Values of the `backend` option. */
export type BackendOption = "wasm" | "webgpu" | "auto";

/** How to compute, validated: the options as given (undefined where not given). */
export interface RunOptions {
  /** The `precision` option (undefined: the backend's own, f64 on wasm and f32 on WebGPU). */
  precision: Precision | undefined;
  threads: number | undefined;
  backend: BackendOption | undefined;
  signal: AbortSignal | undefined;
  onProgress: ((progress: Progress) => void) | undefined;
}

/** Checks `precision`, `threads` and `backend` before any work. Throws TypeError/RangeError. */
export function validateRun(
  options: { precision?: unknown; threads?: unknown; backend?: unknown; signal?: unknown; onProgress?: unknown },
): RunOptions {
  const precision = options.precision;
  if (precision !== undefined && precision !== "f64" && precision !== "f32") {
    throw new TypeError(
      `Cannot compute singular values as precision must be "f64" or "f32": current value is ${showTyped(precision)}`,
    );
  }
  const threads = options.threads;
  if (threads !== undefined) {
    if (typeof threads !== "number" || !Number.isInteger(threads)) {
      throw new TypeError(
        `Cannot compute singular values as threads must be an integer: current value is ${showTyped(threads)}`,
      );
    }
    if (threads < 1 || threads > 256) {
      throw new RangeError(
        `Cannot compute singular values as threads must be between 1 and 256: current value is ${threads}`,
      );
    }
  }
  const backend = options.backend;
  if (backend !== undefined && backend !== "wasm" && backend !== "webgpu" && backend !== "auto") {
    throw new TypeError(
      `Cannot compute singular values as backend must be "wasm", "webgpu" or "auto": current value is ${
        showTyped(backend)
      }`,
    );
  }
  const signal = options.signal;
  if (
    signal !== undefined &&
    (typeof signal !== "object" || signal === null || typeof (signal as AbortSignal).aborted !== "boolean" ||
      typeof (signal as AbortSignal).addEventListener !== "function")
  ) {
    throw new TypeError(
      `Cannot compute singular values as signal must be an AbortSignal: current value is ${showTyped(signal)}`,
    );
  }
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new TypeError(
      `Cannot compute singular values as onProgress must be a function: current value is ${showTyped(onProgress)}`,
    );
  }
  return {
    precision,
    threads,
    backend,
    signal: signal as AbortSignal | undefined,
    onProgress: onProgress as ((progress: Progress) => void) | undefined,
  };
}

/**
 * The crossover of `"auto"`, in work per wasm thread: `problemsWork` (the
 * Jacobi cost up to the sweep count) divided by the threads wasm would run
 * on. WebGPU's time grows with the layer's work alone, wasm's with its work
 * over its threads, so the crossover moves with the threads.
 *
 * Set from bench/webgpu.ts's run on a real GPU (bench/RESULTS.md, "WebGPU
 * against wasm", which names the device): the smallest work per thread from
 * which WebGPU beat wasm f32 in every measured case at that work or more and
 * at most {@linkcode WEBGPU_MAX_CHANNELS} channels. A slower GPU moves it up:
 * pass `backend: "wasm"` or `"webgpu"` to choose.
 */
export const WEBGPU_MIN_WORK = 6e7;

/**
 * The largest frequency matrix (`max(c_out, c_in)` of one group, after the
 * stride's phase split) that `"auto"` sends to WebGPU: one workgroup runs one
 * matrix's Jacobi sweeps, and from 256 channels that was slower than wasm f32
 * on 4 threads or more in every row measured (bench/RESULTS.md).
 */
export const WEBGPU_MAX_CHANNELS = 128;

/**
 * The most wasm threads against which `"auto"` clips on WebGPU: the WebGPU
 * clipping round (its f32 rounds, then the f64 norms on wasm) beat wasm's
 * f64 round on 2 threads in every row measured, and lost some rows on 4
 * threads or more (bench/RESULTS.md).
 */
export const WEBGPU_CLIP_MAX_THREADS = 2;

/**
 * Why `"auto"` keeps `problems` on wasm when wasm would run on `threads`
 * threads, or undefined when their size calls for WebGPU (the adapter is
 * checked apart). `maxThreads`: the most wasm threads WebGPU is measured to
 * beat for this call (clipping: {@linkcode WEBGPU_CLIP_MAX_THREADS}).
 */
export function autoSizeRefusal(
  problems: readonly Problem[],
  threads: number,
  minWork = WEBGPU_MIN_WORK,
  maxThreads = Infinity,
): string | undefined {
  if (threads > maxThreads) {
    return `wasm runs on ${threads} threads here, and WebGPU was measured faster for this call against at most ${maxThreads}`;
  }
  let channels = 0;
  for (const p of problems) channels = Math.max(channels, p.cOut, p.cIn);
  if (channels > WEBGPU_MAX_CHANNELS) {
    return `a frequency matrix has ${channels} channels, over the ${WEBGPU_MAX_CHANNELS} up to which WebGPU was measured faster`;
  }
  const perThread = problemsWork(problems) / Math.max(1, threads);
  if (!(perThread >= minWork)) {
    return `the layer is below the crossover (work per wasm thread ${perThread.toPrecision(3)} < ${minWork})`;
  }
  return undefined;
}

/** What a call asks of the backends. */
export interface BackendRequest {
  /** What the call does, for messages: `"compute singular values"`. */
  subject: string;
  /** The validated run options. */
  run: RunOptions;
  /** Why this call has no WebGPU path (`"webgpu"` is then an error naming it); undefined when it has one. */
  noWebgpu?: { reason: string; error: () => Error };
  /** The layer's problems, for the work of `"auto"` (called only when the cheap tests pass). */
  problems?: (() => readonly Problem[]) | undefined;
  /** The crossover of `"auto"` (tests lower it). */
  minWork?: number | undefined;
  /** The most wasm threads `"auto"` sends WebGPU against (clipping); unbounded when absent. */
  webgpuMaxThreads?: number | undefined;
  /** The call runs on the calling thread whatever `threads` says (it has no threaded path). */
  oneThread?: boolean | undefined;
}

/**
 * The request of a function with no WebGPU or threaded path: `"webgpu"` is a
 * TypeError naming the function, `"auto"` and `"wasm"` run wasm on the
 * calling thread.
 */
export function wasmOnly(
  options: { precision?: unknown; threads?: unknown; backend?: unknown },
  fn: string,
): BackendRequest {
  const req: BackendRequest = {
    subject: `compute ${fn}`,
    run: validateRun(options),
    oneThread: true,
    noWebgpu: {
      reason: `${fn} has no WebGPU path`,
      error: () =>
        new TypeError(
          `Cannot compute ${fn} as backend "webgpu" supports singularValues, operatorNorm, spectrum and clipOperatorNorm only: current value is "webgpu"`,
        ),
    },
  };
  if (req.run.backend === "webgpu") throw req.noWebgpu!.error();
  req.run.signal?.throwIfAborted();
  return req;
}

/** A problem's values into a sink, on the chosen backend. */
export type Runner = (problem: Problem, sink: Sink) => void | Promise<void>;

/** The wasm backend, resolved: the calling thread's core, or the pool. */
export interface WasmBackend {
  backend: "wasm";
  precision: Precision;
  /** The pool when the call runs on worker threads. */
  pool: Pool | undefined;
  /** The calling thread's one-thread core (the pool has its own, shared with its workers). */
  core: CoreExports;
  /** The wasm build that runs the call's SVDs (the pool's when threaded). */
  simd: SimdBuild;
  /** Workers of the pool the call uses (the `threads` asked for, capped at the cores); 0 without a pool. */
  workers: number;
  /** Aborts the call (see `SingularValuesOptions.signal`). */
  signal: AbortSignal | undefined;
  /** Why each other backend was skipped (`"auto"` only), and why worker threads were not used when meant to be. */
  skipped: Skipped;
}

/** Why `"auto"` passed over WebGPU, and why a call meant to run on worker threads ran on the calling thread. */
export interface Skipped {
  webgpu?: string;
  threads?: string;
}

/** The WebGPU backend, resolved. */
export interface WebGpuBackend {
  backend: "webgpu";
  precision: "f32";
  gpu: GpuContext;
  signal: AbortSignal | undefined;
  skipped: Skipped;
}

/** Where a call runs. */
export type Resolved = WasmBackend | WebGpuBackend;

/**
 * The runner of a resolved backend (the wasm engine on the core or the pool,
 * or WebGPU); with `sortedRows` false the rows may come unsorted.
 */
export function runnerOf(b: Resolved, sortedRows = true): Runner {
  const { signal } = b;
  if (b.backend === "webgpu") {
    return async (p, sink) => {
      signal?.throwIfAborted();
      await runProblemWebGPU(b.gpu, p, sink);
      signal?.throwIfAborted();
    };
  }
  const { pool, core, precision, workers } = b;
  if (pool) return (p, sink) => runProblemThreaded(pool, p, sink, precision, { workers, signal, sortedRows });
  if (signal) return (p, sink) => runProblemAbortable(core, p, sink, precision, signal, sortedRows);
  return (p, sink) => runProblem(core, p, sink, precision, sortedRows);
}

function checkWebgpu(req: BackendRequest, sync: boolean): void {
  const { backend, precision } = req.run;
  if (backend !== "webgpu") return;
  if (req.noWebgpu) throw req.noWebgpu.error();
  if (precision === "f64") {
    throw new RangeError(
      `Cannot ${req.subject} as backend "webgpu" computes in f32 (WGSL has no f64): current value is precision "f64"`,
    );
  }
  if (sync) {
    throw new TypeError(
      `Cannot ${req.subject} synchronously as backend "webgpu" is asynchronous (use the async function): current value is "webgpu"`,
    );
  }
}

/**
 * The backend of a `*Sync` call: wasm on the calling thread, since WebGPU
 * and the pool are asynchronous.
 *
 * @throws {TypeError} For `"webgpu"` (only the async functions can use it), or a call with no WebGPU path.
 */
export function resolveBackendSync(req: BackendRequest): WasmBackend {
  checkWebgpu(req, true);
  req.run.signal?.throwIfAborted();
  return {
    backend: "wasm",
    precision: req.run.precision ?? "f64",
    pool: undefined,
    core: loadWasmSync(),
    simd: simdFlavour(),
    workers: 0,
    // A synchronous call checks the signal once, before any work.
    signal: undefined,
    skipped: req.run.backend === "auto" ? { webgpu: "a synchronous call (WebGPU is asynchronous)" } : {},
  };
}

/**
 * The backend of an async call (see the module doc).
 *
 * @throws {TypeError} For a call with no WebGPU path and `backend: "webgpu"`.
 * @throws {RangeError} For `"webgpu"` with `precision: "f64"`.
 * @throws {Error} For `"webgpu"` with no device; the message gives the reason.
 */
export async function resolveBackend(req: BackendRequest): Promise<Resolved> {
  checkWebgpu(req, false);
  req.run.signal?.throwIfAborted();
  const { backend } = req.run;
  if (backend === "webgpu") {
    const gpu = await getGpu();
    if ("reason" in gpu) {
      throw new Error(
        `Cannot ${req.subject} as backend "webgpu" needs a WebGPU device: current value is ${gpu.reason}`,
      );
    }
    return { backend: "webgpu", precision: "f32", gpu, signal: req.run.signal, skipped: {} };
  }
  const reason = backend === "auto" ? await webgpuRefusal(req) : undefined;
  if (typeof reason !== "string" && reason !== undefined) return reason;
  const skipped: Skipped = reason === undefined ? {} : { webgpu: reason };
  const { threadsSkipped, ...wasm } = await withReasons(
    skipped,
    req.subject,
    () => wasmBackend(req.run, req.oneThread),
  );
  if (threadsSkipped !== undefined) skipped.threads = threadsSkipped;
  return { ...wasm, skipped };
}

/** Why `"auto"` does not run WebGPU, or the WebGPU backend when it does. */
async function webgpuRefusal(req: BackendRequest): Promise<string | WebGpuBackend> {
  if (req.run.precision !== "f32") return 'f32 was not allowed (pass precision: "f32" to let "auto" use WebGPU)';
  if (req.noWebgpu) return req.noWebgpu.reason;
  const threads = req.oneThread || threadsUnavailable() !== undefined ? 1 : await wantedThreads(req.run);
  const size = autoSizeRefusal(req.problems?.() ?? [], threads, req.minWork, req.webgpuMaxThreads);
  if (size !== undefined) return size;
  const gpu = await getGpu();
  if ("reason" in gpu) return gpu.reason;
  if (gpu.fallback) return `the adapter is a software one (${gpu.adapter}), slower than wasm`;
  return { backend: "webgpu", precision: "f32", gpu, signal: req.run.signal, skipped: {} };
}

/** The threads a call asks wasm for (`threads`, by default the cores), capped at the cores. */
async function wantedThreads(run: RunOptions): Promise<number> {
  // More workers than cores only add switching.
  return Math.min(run.threads ?? Infinity, await defaultThreads());
}

/**
 * The wasm backend for an async call: the pool when more than one thread is
 * asked for (or the cores) and workers can start; else the calling thread,
 * with `threadsSkipped` saying why when more than one was meant to run.
 */
async function wasmBackend(
  run: RunOptions,
  oneThread = false,
): Promise<Omit<WasmBackend, "skipped"> & { threadsSkipped?: string }> {
  const precision = run.precision ?? "f64";
  let pool: Pool | undefined;
  let workers = 0;
  let threadsSkipped: string | undefined;
  if (!oneThread) {
    const wanted = await wantedThreads(run);
    if (wanted > 1) {
      threadsSkipped = threadsUnavailable();
      if (threadsSkipped === undefined) {
        try {
          pool = await getPool(wanted);
          workers = wanted;
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          threadsSkipped = `worker threads could not start: ${message.replace(/^convsv worker failed: /, "")}`;
        }
      }
    }
  }
  const core = await loadWasm();
  const simd = pool ? (pool.relaxed ? "relaxed" : "plain") : simdFlavour();
  const b = { backend: "wasm" as const, precision, pool, core, simd, workers, signal: run.signal };
  return threadsSkipped === undefined ? b : { ...b, threadsSkipped };
}

/**
 * Runs `fn` on the wasm backend; when `"auto"` skipped WebGPU, an error of
 * the backend (not a refusal of the input) lists every backend's reason.
 */
export async function withReasons<T>(skipped: Skipped, subject: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (skipped.webgpu && !(err instanceof RangeError) && !(err instanceof TypeError)) {
      throw new Error(
        `Cannot ${subject} on any backend: wasm failed (${
          err instanceof Error ? err.message : err
        }); webgpu was skipped (${skipped.webgpu})`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** {@linkcode resolveBackend} for a call with no WebGPU path (see {@linkcode wasmOnly}). */
export async function resolveWasm(req: BackendRequest): Promise<WasmBackend> {
  const b = await resolveBackend(req);
  if (b.backend !== "wasm") throw new Error(`convsv: ${req.subject} resolved to ${b.backend} without a path there`);
  return b;
}
