/**
 * The choice between the wasm and WebGPU backends for one call.
 *
 * - `"wasm"` (or no `backend`): wasm, in the precision asked for (default f64).
 * - `"webgpu"`: WebGPU in f32, or an error that says why not (no
 *   `navigator.gpu`, no adapter, a failed device request; or an explicit
 *   `precision: "f64"`, which WebGPU cannot give). Never a silent fallback.
 * - `"auto"`: WebGPU only when the caller allowed f32 (`precision: "f32"`;
 *   `"auto"` never changes precision), the layer's work reaches
 *   {@linkcode WEBGPU_MIN_WORK}, an adapter exists and it is not a software
 *   one (llvmpipe and the like are CPU emulations, far slower than wasm);
 *   else wasm, with the reason each skipped backend was skipped.
 *
 * The cheap tests come first, so that `"auto"` on a small layer or in f64
 * never creates a device.
 * @module
 */
import type { Problem } from "../_engine.ts";
import { forEachFrequency } from "../_engine.ts";
import { getGpu, type GpuContext } from "./device.ts";

/** Values of the `backend` option. */
export type BackendOption = "wasm" | "webgpu" | "auto";

/** Precisions (as the public types say). */
type Precision = "f64" | "f32";

/**
 * The work (`Σ frequencies·max(c)·min(c)²` over the problems, the Jacobi
 * cost up to the sweep count) from which `"auto"` runs WebGPU.
 *
 * Infinity until measured: `bench/webgpu.ts` prints the crossover on a
 * machine with a real GPU; on the software adapter measured so far (llvmpipe,
 * 2 cores) wasm f32 was faster in every case (13–220×), so there is no
 * crossover to set. Replace with the measured value (and the GPU it was
 * measured on) before `"auto"` can pick WebGPU.
 */
export const WEBGPU_MIN_WORK = Infinity;

/** The backend a call runs on, its precision, and why each other backend was skipped. */
export type BackendChoice =
  | { backend: "wasm"; precision: Precision; skipped: { webgpu?: string } }
  | { backend: "webgpu"; precision: "f32"; gpu: GpuContext; skipped: { webgpu?: string } };

/** Checks the `backend` option. Throws TypeError for anything but the three names. */
export function validateBackend(value: unknown): BackendOption | undefined {
  if (value === undefined || value === "wasm" || value === "webgpu" || value === "auto") return value;
  throw new TypeError(
    `Cannot compute singular values as backend must be "wasm", "webgpu" or "auto": current value is ${
      typeof value === "string" ? JSON.stringify(value) : String(value)
    }`,
  );
}

/** `Σ visited frequencies · max(c_out, c_in) · min(c_out, c_in)²` over the problems. */
export function problemsWork(problems: readonly Problem[]): number {
  let work = 0;
  for (const p of problems) {
    let freqs = 0;
    forEachFrequency(p.h, p.w, p.im !== undefined, () => freqs++);
    const m = Math.max(p.cOut, p.cIn), n = Math.min(p.cOut, p.cIn);
    work += freqs * m * n * n;
  }
  return work;
}

function checkPrecision(requested: BackendOption | undefined, precision: unknown): void {
  if (requested === "webgpu" && precision === "f64") {
    throw new RangeError(
      'Cannot compute singular values as backend "webgpu" computes in f32 (WGSL has no f64): current value is precision "f64"',
    );
  }
}

/**
 * The backend for an async call.
 *
 * @param backend The `backend` option (validated here).
 * @param precision The `precision` option as given (undefined: the backend's default, f64 on wasm and f32 on WebGPU).
 * @param problems The layer's problems (for the work of `"auto"`).
 * @param minWork The crossover (tests lower it).
 * @throws {TypeError} For an unknown backend.
 * @throws {RangeError} For `"webgpu"` with `precision: "f64"`.
 * @throws {Error} For `"webgpu"` with no device; the message gives the reason.
 */
export async function chooseBackend(
  backend: unknown,
  precision: Precision | undefined,
  problems: readonly Problem[],
  minWork: number = WEBGPU_MIN_WORK,
): Promise<BackendChoice> {
  const requested = validateBackend(backend);
  checkPrecision(requested, precision);
  if (requested === "webgpu") {
    const gpu = await getGpu();
    if ("reason" in gpu) {
      throw new Error(
        `Cannot compute singular values as backend "webgpu" needs a WebGPU device: current value is ${gpu.reason}`,
      );
    }
    return { backend: "webgpu", precision: "f32", gpu, skipped: {} };
  }
  const wasm = (webgpu?: string): BackendChoice => ({
    backend: "wasm",
    precision: precision ?? "f64",
    skipped: webgpu === undefined ? {} : { webgpu },
  });
  if (requested !== "auto") return wasm();
  if (precision !== "f32") return wasm('f32 was not allowed (pass precision: "f32" to let "auto" use WebGPU)');
  const work = problemsWork(problems);
  if (!(work >= minWork)) {
    return wasm(
      Number.isFinite(minWork)
        ? `the layer is below the crossover (work ${work} < ${minWork})`
        : "no crossover has been measured on a real GPU yet (bench/webgpu.ts), so auto keeps to wasm",
    );
  }
  const gpu = await getGpu();
  if ("reason" in gpu) return wasm(gpu.reason);
  if (gpu.fallback) return wasm(`the adapter is a software one (${gpu.adapter}), slower than wasm`);
  return { backend: "webgpu", precision: "f32", gpu, skipped: {} };
}

/**
 * The backend for a `*Sync` call: always wasm, since WebGPU is asynchronous.
 *
 * @throws {TypeError} For an unknown backend, or `"webgpu"` (only the async functions can use it).
 */
export function chooseBackendSync(backend: unknown, precision: Precision | undefined): BackendChoice {
  const requested = validateBackend(backend);
  checkPrecision(requested, precision);
  if (requested === "webgpu") {
    throw new TypeError(
      'Cannot compute singular values synchronously as backend "webgpu" is asynchronous (use the async function): current value is "webgpu"',
    );
  }
  return {
    backend: "wasm",
    precision: precision ?? "f64",
    skipped: requested === "auto" ? { webgpu: "a synchronous call (WebGPU is asynchronous)" } : {},
  };
}

/**
 * For the functions with no WebGPU path (frequencySvd, topSingularVectors,
 * the bounds and estimators): `"webgpu"` is an error,
 * `"auto"` and `"wasm"` run wasm.
 *
 * @throws {TypeError} For an unknown backend, or `"webgpu"`.
 */
export function requireWasm(options: { backend?: unknown }, fn: string): void {
  if (validateBackend(options.backend) === "webgpu") {
    throw new TypeError(
      `Cannot compute ${fn} as backend "webgpu" supports singularValues, operatorNorm, spectrum and clipOperatorNorm only: current value is "webgpu"`,
    );
  }
}
