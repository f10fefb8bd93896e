/**
 * The layer's top singular vector pair as images.
 * @module
 */
import type { Backend, Kernel, Precision, SimdBuild, SingularValuesOptions } from "./types.ts";
import { checkOptions, LAYER_OPTIONS, type LayerSpec, plainShape, plainSpec } from "./_options.ts";
import { factorize } from "./_wasm/factor.ts";
import { runProblem, runProblemAbortable } from "./_wasm/engine.ts";
import type { Sink } from "./_problem/problem.ts";
import { plainProblem } from "./_problem/expand.ts";
import { type BackendRequest, resolveBackendSync, resolveWasm, type WasmBackend, wasmOnly } from "./_backend.ts";
import { checkPlain } from "./_budget.ts";

/** The top singular triple of a layer `A`: `A·input = sigma·output`, `Aᵀ·output = sigma·input`. */
export interface TopSingularVectors {
  /** The largest singular value (the operator norm). */
  sigma: number;
  /** Unit-norm input image `c_in × h × w` (row-major `[i][x][y]`): the pattern the layer amplifies most. */
  input: Float64Array;
  /** Unit-norm output image `c_out × h × w`: the layer's response to `input`, divided by `sigma`. */
  output: Float64Array;
  /** The frequency `[u, v]` of the plane waves that make up both images. */
  frequency: [number, number];
  /** The engine that computed the result. */
  backend: Backend;
  /** The precision of the computation. */
  precision: Precision;
  /** The wasm build that ran (`"relaxed"` or `"plain"` SIMD). */
  simd: SimdBuild;
}

/** Validates the call and checks its memory (the engine's, the two images) and work before any of it. */
function validate(
  fn: string,
  kernel: Kernel,
  options: SingularValuesOptions,
): { spec: LayerSpec; req: BackendRequest } {
  checkOptions(fn, options, LAYER_OPTIONS);
  const spec = plainSpec(kernel, options);
  const req = wasmOnly(options, "topSingularVectors");
  const { h, w, cOut, cIn } = plainShape(spec);
  checkPlain(spec, false, (cOut + cIn) * h * w * 8, options.maxWork, "topSingularVectors");
  return { spec, req };
}

/** The frequency whose first value is the layer's norm, and that value. */
interface Top {
  sigma: number;
  at: [number, number];
}

/** A sink keeping the frequency of the largest first value. */
function tracker(top: Top): Sink {
  return (u, v, row) => {
    if (row[0] > top.sigma) {
      top.sigma = row[0];
      top.at = [u, v];
    }
  };
}

function compute({ core, simd }: WasmBackend, spec: LayerSpec, top?: Top): TopSingularVectors {
  const { h, w, cOut, cIn } = plainShape(spec);
  if (!top) {
    top = { sigma: -1, at: [0, 0] };
    runProblem(core, plainProblem(spec), tracker(top));
  }
  const { sigma, at } = top;
  let U: Float64Array = new Float64Array(0);
  let V: Float64Array = new Float64Array(0);
  let r = 0;
  factorize(core, spec, (_u, _v, s, Uf, Vf) => {
    U = Uf;
    V = Vf;
    r = s.length;
  }, at);
  // The first singular pair of P(u, v): u1 (c_out), v1 (c_in), complex. Fix
  // the phase so v1's largest entry is real: for a self-conjugate frequency
  // (P real) this makes both vectors real, so the real images below are not lost.
  let big = 0;
  let pr = 1;
  let pi = 0;
  for (let i = 0; i < cIn; i++) {
    const re = V[i * r * 2];
    const im = V[i * r * 2 + 1];
    const mag = Math.hypot(re, im);
    if (mag > big) {
      big = mag;
      pr = re / mag;
      pi = -im / mag; // conj phase
    }
  }
  // Plane wave: in[i, x, y] = Re(v1[i]·e^{iθ}), θ = 2π(u·x/h + v·y/w); then out = σ·Re(u1·e^{iθ}).
  const [u, v] = at;
  const image = (vec: Float64Array, c: number): Float64Array => {
    const img = new Float64Array(c * h * w);
    for (let ch = 0; ch < c; ch++) {
      const re0 = vec[ch * r * 2] * pr - vec[ch * r * 2 + 1] * pi;
      const im0 = vec[ch * r * 2] * pi + vec[ch * r * 2 + 1] * pr;
      for (let x = 0; x < h; x++) {
        for (let y = 0; y < w; y++) {
          const t = 2 * Math.PI * (((u * x) % h) / h + ((v * y) % w) / w);
          img[(ch * h + x) * w + y] = re0 * Math.cos(t) - im0 * Math.sin(t);
        }
      }
    }
    let n = 0;
    for (const z of img) n += z * z;
    n = Math.sqrt(n);
    if (n > 0) { for (let i = 0; i < img.length; i++) img[i] /= n; }
    return img;
  };
  return {
    sigma: Math.max(sigma, 0),
    input: image(V, cIn),
    output: image(U, cOut),
    frequency: at,
    backend: "wasm",
    simd,
    precision: "f64",
  };
}

/**
 * The layer's top singular vector pair as real images: the unit input
 * `x` (`c_in × h × w`) that the layer stretches most, and the unit output
 * `y = A·x / σ_max` (`c_out × h × w`). Both are plane waves at the frequency
 * that carries the norm, built from the first singular pair of that
 * frequency's `P(u, v)`. For the zero kernel `sigma` is 0 and the images are
 * an arbitrary unit pair.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`.
 * @param options `inputShape: [h, w]` and `layout` (`"oihw"`, default, or `"hwio"`).
 * @returns `sigma`, `input`, `output` and the `frequency`.
 * @throws {TypeError} For wrong types, ranks, lengths or an unknown layout.
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example A vertical edge detector amplifies the vertical stripes
 * ```ts
 * import { topSingularVectorsSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const t = topSingularVectorsSync({ data: new Float64Array([1, -1]), shape: [1, 1, 1, 2] }, { inputShape: [4, 4] });
 * assert.ok(Math.abs(t.sigma - 2) < 1e-14);
 * assert.deepEqual(t.frequency, [0, 2]);
 * assert.ok(Math.abs(Math.abs(t.input[0]) - 0.25) < 1e-14 && t.input[0] === -t.input[1]);
 * ```
 */
export function topSingularVectorsSync(kernel: Kernel, options: SingularValuesOptions): TopSingularVectors {
  const { spec, req } = validate("topSingularVectorsSync", kernel, options);
  return compute(resolveBackendSync(req), spec);
}

/**
 * Asynchronous twin of {@linkcode topSingularVectorsSync}.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`.
 * @param options `inputShape: [h, w]` and `layout` (`"oihw"`, default, or `"hwio"`).
 * @returns `sigma`, `input`, `output` and the `frequency`.
 * @throws {TypeError} For wrong types, ranks, lengths or an unknown layout (as a rejection).
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example
 * ```ts
 * import { topSingularVectors } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const t = await topSingularVectors({ data: new Float64Array([2]), shape: [1, 1, 1, 1] }, { inputShape: [3, 3] });
 * assert.equal(t.sigma, 2);
 * ```
 */
export async function topSingularVectors(kernel: Kernel, options: SingularValuesOptions): Promise<TopSingularVectors> {
  const { spec, req } = validate("topSingularVectors", kernel, options);
  const b = await resolveWasm(req);
  // The values pass (the long part) can be aborted; the one factorisation after it is short.
  const top: Top = { sigma: -1, at: [0, 0] };
  await runProblemAbortable(b.core, plainProblem(spec), tracker(top), "f64", req.run.signal);
  return compute(b, spec, top);
}
