/**
 * Gram iteration (Delattre, Barthélemy, Araujo & Allauzen, ICML 2023): an
 * upper bound on a layer's norm that tightens with every step.
 * @module
 */
import type { GramIterationOptions, GramIterationResult, Kernel } from "./types.ts";
import { checkOptions, fromAxes, LAYER_OPTIONS, validateSpec } from "./_options.ts";
import { checkGram } from "./_budget.ts";
import { integerOption, type KnownKeys } from "./_checks.ts";
import { admissibleGrids, expandSpec, frequencyMatrix } from "./_problem/expand.ts";
import { forEachFrequency } from "./_problem/problem.ts";
import { wasmOnly } from "./_backend.ts";

/** Relative rounding allowance of the bounds (f64 transforms, products, logarithms). */
const ALLOWANCE = 1e-12;

/**
 * `H = GᴴG` (when `n ≤ m`) or `G Gᴴ` for the complex row-major `m × n` matrix
 * G; returns H (`q × q`, `q = min(m, n)`) and its Frobenius norm.
 */
function gram(gr: Float64Array, gi: Float64Array, m: number, n: number): [Float64Array, Float64Array, number, number] {
  const byCols = n <= m;
  const q = byCols ? n : m;
  const len = byCols ? m : n;
  const hr = new Float64Array(q * q), hi = new Float64Array(q * q);
  // Element (a, b) of the pair's sum: Σ_k conj(x_a[k])·x_b[k], x_a a column (GᴴG) or a row conjugated (GGᴴ).
  const at = (a: number, k: number) => (byCols ? k * n + a : a * n + k);
  const sign = byCols ? 1 : -1; // rows of G Gᴴ: Σ_k G[a,k]·conj(G[b,k]) = Σ_k conj(conj G[a,k])·conj G[b,k]
  let fro = 0;
  for (let a = 0; a < q; a++) {
    for (let b = a; b < q; b++) {
      let sr = 0, si = 0;
      for (let k = 0; k < len; k++) {
        const ar = gr[at(a, k)], ai = sign * gi[at(a, k)];
        const br = gr[at(b, k)], bi = sign * gi[at(b, k)];
        sr += ar * br + ai * bi;
        si += ar * bi - ai * br;
      }
      hr[a * q + b] = sr;
      hi[a * q + b] = si;
      hr[b * q + a] = sr;
      hi[b * q + a] = -si;
      fro += (a === b ? 1 : 2) * (sr * sr + si * si);
    }
  }
  return [hr, hi, q, Math.sqrt(fro)];
}

function frobenius(re: Float64Array, im: Float64Array): number {
  let big = 0;
  for (let j = 0; j < re.length; j++) big = Math.max(big, Math.abs(re[j]), Math.abs(im[j]));
  if (big === 0) return 0;
  let s = 0;
  for (let j = 0; j < re.length; j++) {
    const a = re[j] / big, b = im[j] / big;
    s += a * a + b * b;
  }
  return big * Math.sqrt(s);
}

/**
 * Per-frequency Gram bounds of one complex matrix: `out[k]` (k = 0..steps)
 * gets the larger of itself and the bound after k steps.
 */
function bound(re: Float64Array, im: Float64Array, m: number, n: number, steps: number, out: number[]): void {
  const f0 = frobenius(re, im);
  if (f0 === 0) return;
  let gr: Float64Array = re.map((x) => x / f0), gi: Float64Array = im.map((x) => x / f0);
  let rows = m, cols = n;
  // log σ(P) ≤ log f0 + Σ_j 2^−j log f_j, f_j the Frobenius norm of the j-th Gram before rescaling.
  let logb = Math.log(f0);
  out[0] = Math.max(out[0], f0);
  for (let k = 1; k <= steps; k++) {
    const [hr, hi, q, f] = gram(gr, gi, rows, cols);
    logb += Math.log(f) / 2 ** k;
    out[k] = Math.max(out[k], Math.exp(logb));
    for (let j = 0; j < hr.length; j++) {
      hr[j] /= f;
      hi[j] /= f;
    }
    gr = hr;
    gi = hi;
    rows = cols = q;
  }
}

/** The options of {@linkcode gramIterationNorm}. */
const OPTIONS: KnownKeys<GramIterationOptions> = { ...LAYER_OPTIONS, iterations: true };

/** The computation, one frequency at a time (the caller drives it). */
function* compute(kernel: Kernel, options: GramIterationOptions): Generator<void, GramIterationResult> {
  const spec = validateSpec(kernel, options);
  wasmOnly(options, "gramIterationNorm");
  const steps = integerOption("iterations", options.iterations, 6, 0, 30);
  const grid = spec.pad ? admissibleGrids(spec, 1)[0] : spec.n;
  checkGram(spec, grid, steps, options.maxWork);
  const ex = expandSpec(spec, grid);
  const bounds = new Array(steps + 1).fill(0);
  for (const part of ex.parts) {
    const p = part.problem;
    const freqs: [number, number][] = [];
    forEachFrequency(p.h, p.w, p.im !== undefined, (u, v) => freqs.push([u, v]));
    for (const [u, v] of freqs) {
      const P = frequencyMatrix(p, u, v);
      bound(P.re, P.im, p.cOut, p.cIn, steps, bounds);
      yield;
    }
  }
  // Each step's bound is at most the previous one's; keep rounding from showing otherwise.
  for (let k = 1; k <= steps; k++) bounds[k] = Math.min(bounds[k], bounds[k - 1]);
  // Converged bounds meet the norm: raise them past the rounding of the f64 sums.
  for (let k = 0; k <= steps; k++) bounds[k] *= 1 + ALLOWANCE;
  return { upper: bounds[steps], bounds, iterations: steps, grid: fromAxes(grid, spec.rank) };
}

/**
 * An upper bound on the operator norm of a layer by Gram iteration (Delattre
 * et al., *Efficient Bound of Lipschitz Constant for Convolutional Layers by
 * Gram Iteration*, ICML 2023), an estimator to compare with the exact
 * {@linkcode operatorNorm}.
 *
 * For every frequency matrix `P` of the circular layer (the layer kinds
 * reduce to these as in {@linkcode spectrum}): `G₀ = P/‖P‖_F`, then
 * `G_k = G_{k−1}ᴴG_{k−1} / f_k` with `f_k = ‖G_{k−1}ᴴG_{k−1}‖_F`. Since
 * `σ(G_k) = σ(G_{k−1})² / f_k ≤ ‖G_k‖_F = 1`, `σ_max(P) ≤ ‖P‖_F ·
 * Π_{j≤k} f_j^{1/2^j}` **after every step** k; the bound falls towards
 * `σ_max(P)` (geometrically in the exponent) and the layer's bound is its
 * maximum over the frequencies, raised by a relative 1e−12 for rounding (a
 * converged bound meets the norm). Rescaling every step keeps it free of
 * overflow. Delattre et al. bound the whole block-diagonal matrix at once with
 * one Frobenius norm; the per-frequency maximum here is never larger. For
 * zero padding the bounded layer is the circular one on the smallest
 * admissible grid (see {@linkcode operatorNormBoundsSync}), which is also an
 * upper bound. Runs in plain TypeScript, f64: `O(cells · c³ · iterations)`.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`; not modified.
 * @param options The layer (as for {@linkcode singularValues}, any padding) and
 *   `iterations` (Gram steps, default 6).
 * @returns The upper bound after the last step, the bound after every step, and the grid bounded.
 * @throws {TypeError} For wrong types, ranks, lengths or layouts.
 * @throws {RangeError} For values out of range or NaN or infinity in the data.
 *
 * @example Six steps come within a hair of the exact norm
 * ```ts
 * import { gramIterationNormSync, operatorNormSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const data = Float64Array.from({ length: 3 * 3 * 3 * 3 }, (_, i) => Math.cos(i * 1.3));
 * const kernel = { data, shape: [3, 3, 3, 3] };
 * const g = gramIterationNormSync(kernel, { inputShape: [8, 8] });
 * const exact = operatorNormSync(kernel, { inputShape: [8, 8] });
 * assert.ok(g.upper >= exact && g.upper < exact * 1.01);
 * assert.ok(g.bounds[0] >= g.bounds[1] && g.bounds[1] >= g.upper); // never increases
 * ```
 */
export function gramIterationNormSync(kernel: Kernel, options: GramIterationOptions): GramIterationResult {
  checkOptions("gramIterationNormSync", options, OPTIONS);
  const steps = compute(kernel, options);
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

/**
 * Asynchronous twin of {@linkcode gramIterationNormSync} (the same result,
 * computed on the calling thread).
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`; not modified.
 * @param options The layer and `iterations` (default 6).
 * @returns The upper bound, the bound after every step, and the grid bounded.
 * @throws {TypeError} For wrong types, ranks, lengths or layouts (as a rejection).
 * @throws {RangeError} For values out of range or NaN or infinity in the data (as a rejection).
 *
 * @example A depthwise layer: the norm is the largest |filter response|
 * ```ts
 * import { gramIterationNorm } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * // Two channels, groups = 2: filters [1, 1] and [1, −1] on 4 samples; both peak at 2.
 * const kernel = { data: new Float64Array([1, 1, 1, -1]), shape: [2, 1, 2] };
 * const g = await gramIterationNorm(kernel, { inputShape: [4], groups: 2, iterations: 3 });
 * assert.ok(g.upper >= 2 && g.upper - 2 < 1e-11); // 1 × 1 frequency matrices: exact at once
 * ```
 */
export async function gramIterationNorm(kernel: Kernel, options: GramIterationOptions): Promise<GramIterationResult> {
  checkOptions("gramIterationNorm", options, OPTIONS);
  await Promise.resolve();
  const steps = compute(kernel, options);
  const signal = options.signal;
  let last = performance.now();
  let step = steps.next();
  while (!step.done) {
    // With a signal, let the event loop deliver an abort every ~20 ms of work.
    if (signal && performance.now() - last > 20) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      last = performance.now();
      signal.throwIfAborted();
    }
    step = steps.next();
  }
  return step.value;
}
