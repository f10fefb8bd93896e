/**
 * Power iteration on the layer itself: a lower bound on its norm, for any
 * layer kind and padding.
 * @module
 */
import { loadWasm } from "./_wasm/loader.ts";
import type { Kernel, PowerIterationOptions, PowerIterationResult } from "./types.ts";
import { checkOptions, LAYER_OPTIONS, validateSpec } from "./_options.ts";
import { checkPower } from "./_budget.ts";
import { integerOption, type KnownKeys, toleranceOption } from "./_checks.ts";
import { convOperator, powerIterate, powerIterateAbortable, type PowerResult, random } from "./_wasm/conv.ts";
import { wasmOnly } from "./_backend.ts";

/** Relative rounding allowance of the Rayleigh quotient (f64 sums). */
const ALLOWANCE = 1e-12;

/** The options of {@linkcode powerIterationNorm}. */
const OPTIONS: KnownKeys<PowerIterationOptions> = {
  ...LAYER_OPTIONS,
  maxIterations: true,
  tolerance: true,
  seed: true,
};

/** The validated call: the operator, its start vector and the iteration's limits. */
function prepare(fn: string, kernel: Kernel, options: PowerIterationOptions) {
  checkOptions(fn, options, OPTIONS);
  const spec = validateSpec(kernel, options);
  const { run } = wasmOnly(options, "powerIterationNorm");
  const maxIterations = integerOption("maxIterations", options.maxIterations, 100, 0, 1e7);
  const tolerance = toleranceOption("tolerance", options.tolerance, 1e-6);
  const seed = integerOption("seed", options.seed, 1, -(2 ** 31), 2 ** 32 - 1);
  checkPower(spec, maxIterations, options.maxWork);
  const op = convOperator(spec);
  const x0 = Float64Array.from({ length: op.cols }, random(seed));
  return { op, x0, maxIterations, tolerance, signal: run.signal };
}

function result(run: PowerResult, tolerance: number): PowerIterationResult {
  return { lower: run.lower * (1 - ALLOWANCE), iterations: run.iterations, tolerance, converged: run.converged };
}

/**
 * A lower bound on the operator norm of a layer by power iteration on the
 * layer itself (the classic estimator of spectral normalisation and of many
 * Lipschitz papers), to compare with the exact {@linkcode operatorNorm} or
 * the interval of {@linkcode operatorNormBoundsSync}.
 *
 * The real layer — any stride, dilation, groups, 1-D/2-D/3-D, circular or
 * zero padding — is applied directly (direct convolution and its adjoint in the wasm core, f64):
 * `x ← AᵀA x / ‖AᵀA x‖` from a seeded random start. Every iterate's Rayleigh
 * quotient `‖A x‖ / ‖x‖` is the norm of `A` on an actual vector, so the
 * largest one, lowered by a relative 1e−12 for rounding, is a **certified
 * lower bound**, never an upper one. It converges from below and can be slow
 * when the top singular values are clustered, as they are for convolutions
 * (the quotient's relative change is then not its distance to the norm).
 * Transposed layers have the norm of their forward convolution, which is what
 * is iterated. Each step costs `2·c_out·(c_in/g)·k·out` multiply–adds.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`; not modified.
 * @param options The layer (as for {@linkcode singularValues}, any padding),
 *   `maxIterations` (default 100), `tolerance` (default 1e-6), `seed` (default 1).
 * @returns The lower bound, the steps made, the tolerance and whether it was met.
 * @throws {TypeError} For wrong types, ranks, lengths or layouts.
 * @throws {RangeError} For values out of range or NaN or infinity in the data.
 *
 * @example Below the exact norm, and close to it
 * ```ts
 * import { operatorNormSync, powerIterationNormSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const data = Float64Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => Math.sin(3 * i));
 * const kernel = { data, shape: [2, 2, 3, 3] };
 * const p = powerIterationNormSync(kernel, { inputShape: [8, 8], maxIterations: 500 });
 * const exact = operatorNormSync(kernel, { inputShape: [8, 8] });
 * assert.ok(p.lower <= exact && p.lower > 0.99 * exact);
 * ```
 */
export function powerIterationNormSync(kernel: Kernel, options: PowerIterationOptions): PowerIterationResult {
  const p = prepare("powerIterationNormSync", kernel, options);
  return result(powerIterate(p.op, p.x0, p.maxIterations, p.tolerance), p.tolerance);
}

/**
 * Asynchronous twin of {@linkcode powerIterationNormSync} (the same result,
 * computed on the calling thread).
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`; not modified.
 * @param options The layer and `maxIterations`, `tolerance`, `seed`.
 * @returns The lower bound, the steps made, the tolerance and whether it was met.
 * @throws {TypeError} For wrong types, ranks, lengths or layouts (as a rejection).
 * @throws {RangeError} For values out of range or NaN or infinity in the data (as a rejection).
 *
 * @example A zero-padded 1-D layer
 * ```ts
 * import { powerIterationNorm } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * // out[x] = in[x − 1] + in[x] (zero-padded): norm 2·cos(π/(2·9)) on 8 samples
 * const kernel = { data: new Float64Array([1, 1]), shape: [1, 1, 2] };
 * const p = await powerIterationNorm(kernel, { inputShape: [8], padding: 1, maxIterations: 2000, tolerance: 1e-14 });
 * assert.ok(Math.abs(p.lower - 2 * Math.cos(Math.PI / 18)) < 1e-6);
 * ```
 */
export async function powerIterationNorm(
  kernel: Kernel,
  options: PowerIterationOptions,
): Promise<PowerIterationResult> {
  await loadWasm(); // compiled asynchronously (browsers refuse large synchronous compiles)
  const p = prepare("powerIterationNorm", kernel, options);
  return result(await powerIterateAbortable(p.op, p.x0, p.maxIterations, p.tolerance, p.signal), p.tolerance);
}
