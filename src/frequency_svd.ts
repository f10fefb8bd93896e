/**
 * The per-frequency factorisation P(u, v) = U·diag(S)·Vᴴ of a layer.
 * @module
 */
import type { Backend, Kernel, Precision, SimdBuild, SingularValuesOptions } from "./types.ts";
import { checkOptions, LAYER_OPTIONS, type LayerSpec, plainShape, plainSpec } from "./_options.ts";
import { factorize, factorizeAbortable, type FactorSink } from "./_wasm/factor.ts";
import { type BackendRequest, resolveBackendSync, resolveWasm, type WasmBackend, wasmOnly } from "./_backend.ts";
import { checkPlain } from "./_budget.ts";

/**
 * Every frequency's SVD. For frequency `(u, v)` (`f = u·w + v`) and
 * `r = min(c_in, c_out)`:
 *
 * - `S[f·r + j]`: the j-th singular value, decreasing in j;
 * - `U[((f·c_out + o)·r + j)·2 + {0, 1}]`: re, im of `U[o, j]` (c_out × r);
 * - `V[((f·c_in + i)·r + j)·2 + {0, 1}]`: re, im of `V[i, j]` (c_in × r);
 *
 * with `P(u, v) = U·diag(S)·Vᴴ` and orthonormal columns in U and V.
 */
export interface FrequencySvd {
  /** `[h, w, r]`. */
  shape: [number, number, number];
  /** Output channels (rows of each P). */
  cOut: number;
  /** Input channels (columns of each P). */
  cIn: number;
  /** Singular values, `h·w·r`. */
  S: Float64Array;
  /** Left singular vectors, complex interleaved, `h·w·c_out·r·2`. */
  U: Float64Array;
  /** Right singular vectors, complex interleaved, `h·w·c_in·r·2`. */
  V: Float64Array;
  /** The engine that computed the result. */
  backend: Backend;
  /** The precision of the computation. */
  precision: Precision;
  /** The wasm build that ran (`"relaxed"` or `"plain"` SIMD). */
  simd: SimdBuild;
}

/** Largest number of f64 the three arrays may hold together (2 GiB). */
const MAX_F64 = 2 ** 28;

/** Validates the call and checks its memory (the three arrays, the engine's) and work before any of it. */
function validate(
  fn: string,
  kernel: Kernel,
  options: SingularValuesOptions,
): { spec: LayerSpec; req: BackendRequest } {
  checkOptions(fn, options, LAYER_OPTIONS);
  const spec = plainSpec(kernel, options);
  const req = wasmOnly(options, "frequencySvd");
  const { h, w, cOut, cIn } = plainShape(spec);
  const r = Math.min(cOut, cIn);
  const total = h * w * r * (1 + 2 * (cOut + cIn));
  if (total > MAX_F64) {
    throw new RangeError(
      `Cannot factorise the frequencies as h·w·r·(1 + 2·(c_out + c_in)) must be at most ${MAX_F64}: current value is ${total} (inputShape [${h}, ${w}], c_out ${cOut}, c_in ${cIn})`,
    );
  }
  checkPlain(spec, true, total * 8, options.maxWork, "frequencySvd");
  return { spec, req };
}

/** The factorisation's arrays, and the sink that fills them. */
function gather(spec: LayerSpec): { result: (simd: WasmBackend["simd"]) => FrequencySvd; sink: FactorSink } {
  const { h, w, cOut, cIn } = plainShape(spec);
  const r = Math.min(cOut, cIn);
  const S = new Float64Array(h * w * r);
  const U = new Float64Array(h * w * cOut * r * 2);
  const V = new Float64Array(h * w * cIn * r * 2);
  const sink: FactorSink = (u, v, s, Uf, Vf, mirrored) => {
    const fs = [u * w + v];
    if (mirrored) fs.push(((h - u) % h) * w + ((w - v) % w));
    fs.forEach((f, idx) => {
      S.set(s, f * r);
      U.set(Uf, f * cOut * r * 2);
      V.set(Vf, f * cIn * r * 2);
      if (idx === 1) {
        // P(−u, −v) = conj P(u, v): conjugate both factors.
        for (let i = f * cOut * r * 2 + 1; i < (f + 1) * cOut * r * 2; i += 2) U[i] = -U[i];
        for (let i = f * cIn * r * 2 + 1; i < (f + 1) * cIn * r * 2; i += 2) V[i] = -V[i];
      }
    });
  };
  return {
    sink,
    result: (simd) => ({ shape: [h, w, r], cOut, cIn, S, U, V, backend: "wasm", precision: "f64", simd }),
  };
}

/**
 * Factorises every frequency's matrix `P(u, v)` (see {@linkcode spectrumSync})
 * as `U·diag(S)·Vᴴ`: Householder bidiagonalisation with the reflectors kept,
 * implicit-shift QR with the rotations accumulated, then back-transformation,
 * in f64 on the wasm core. Only the Hermitian half is factorised; the mirror
 * `(−u, −v)` gets the conjugated factors. Singular vectors of repeated
 * singular values are any orthonormal basis of their subspace.
 *
 * Memory: the result holds `16·h·w·r·(c_out + c_in)` bytes.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`.
 * @param options `inputShape: [h, w]` and `layout` (`"oihw"`, default, or `"hwio"`).
 * @returns The factorisation, with `S`, `U`, `V` laid out as {@linkcode FrequencySvd} says.
 * @throws {TypeError} For wrong types, ranks, lengths or an unknown layout.
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, or a result that would not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example Reassembling P(0, 0), the sum of the taps
 * ```ts
 * import { frequencySvdSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * // c_out = 2, c_in = 1, 1 × 2 taps: P(0, 0) = [1 + 2, 3 + 4]ᵀ = [3, 7]ᵀ
 * const f = frequencySvdSync({ data: new Float64Array([1, 2, 3, 4]), shape: [2, 1, 1, 2] }, { inputShape: [1, 3] });
 * assert.deepEqual(f.shape, [1, 3, 1]);
 * assert.ok(Math.abs(f.S[0] - Math.sqrt(58)) < 1e-14);
 * // P[o, 0] = S·U[o]·conj(V[0]); its real part at o = 1:
 * const p10 = f.S[0] * (f.U[2] * f.V[0] + f.U[3] * f.V[1]);
 * assert.ok(Math.abs(p10 - 7) < 1e-13);
 * ```
 */
export function frequencySvdSync(kernel: Kernel, options: SingularValuesOptions): FrequencySvd {
  const { spec, req } = validate("frequencySvdSync", kernel, options);
  const b = resolveBackendSync(req);
  const g = gather(spec);
  factorize(b.core, spec, g.sink);
  return g.result(b.simd);
}

/**
 * Asynchronous twin of {@linkcode frequencySvdSync}.
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`.
 * @param options `inputShape: [h, w]` and `layout` (`"oihw"`, default, or `"hwio"`).
 * @returns The factorisation, with `S`, `U`, `V` laid out as {@linkcode FrequencySvd} says.
 * @throws {TypeError} For wrong types, ranks, lengths or an unknown layout (as a rejection).
 * @throws {RangeError} For non-positive sizes, NaN or infinity in the data, or a result that would not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example
 * ```ts
 * import { frequencySvd } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const f = await frequencySvd({ data: new Float64Array([3, 4]), shape: [1, 2, 1, 1] }, { inputShape: [2, 2] });
 * assert.ok(f.S.every((s) => Math.abs(s - 5) < 1e-14));
 * ```
 */
export async function frequencySvd(kernel: Kernel, options: SingularValuesOptions): Promise<FrequencySvd> {
  const { spec, req } = validate("frequencySvd", kernel, options);
  const b = await resolveWasm(req);
  const g = gather(spec);
  await factorizeAbortable(b.core, spec, g.sink, req.run.signal);
  return g.result(b.simd);
}
