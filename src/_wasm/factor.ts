/**
 * Per-frequency SVDs with singular vectors: P(u, v) = U·diag(s)·Vᴴ over the
 * Hermitian half of the frequencies, on the wasm core.
 * @module
 */
import { Arena, type CoreExports, svdBuffers } from "./abi.ts";
import { type LayerSpec, plainShape } from "../_options.ts";
import { forEachFrequency, ldexp, scaleExponent, scaleInPlace } from "../_problem/problem.ts";
import { plainProblem } from "../_problem/expand.ts";
import { ConvergenceError } from "../errors.ts";
import { withSpareCore } from "./loader.ts";

/**
 * Receives one frequency's factorisation: `s` (r values, decreasing, scaled
 * back), `U` (c_out × r) and `V` (c_in × r), complex interleaved row-major,
 * with P(u, v) = U·diag(s)·Vᴴ. The arrays are fresh copies.
 */
export type FactorSink = (
  u: number,
  v: number,
  s: Float64Array,
  U: Float64Array,
  V: Float64Array,
  mirrored: boolean,
) => void;

/**
 * Factorises every frequency of the Hermitian half (or only `only`, when
 * given) and hands each to `sink`. The zero kernel gives s = 0 and the
 * identity's first r columns for U and V.
 */
export function factorize(core: CoreExports, spec: LayerSpec, sink: FactorSink, only?: [number, number]): void {
  for (const _ of factorSteps(core, spec, sink, only));
}

/**
 * {@linkcode factorize} that can be aborted: it checks the signal after every
 * frequency and lets the event loop run every ~20 ms of work, on an instance
 * of the core of its own (without a signal it is {@linkcode factorize}).
 */
export async function factorizeAbortable(
  core: CoreExports,
  spec: LayerSpec,
  sink: FactorSink,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (!signal) return factorize(core, spec, sink);
  signal.throwIfAborted();
  await withSpareCore(async (own) => {
    let last = performance.now();
    for (const _ of factorSteps(own, spec, sink)) {
      if (performance.now() - last > 20) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        last = performance.now();
      }
      signal.throwIfAborted();
    }
  });
}

/** {@linkcode factorize}, one frequency at a time (the caller drives it). */
function* factorSteps(core: CoreExports, spec: LayerSpec, sink: FactorSink, only?: [number, number]): Generator<void> {
  const { cOut, cIn, h, w } = plainShape(spec);
  const r = Math.min(cOut, cIn);
  const m = Math.max(cOut, cIn);
  const tall = cOut >= cIn;
  const ld = core.lead_dim(m), ldn = core.lead_dim(r);
  const e = scaleExponent(spec.data) ?? 0;
  const { re, kh, kw } = plainProblem(spec);
  const k = Float64Array.from(re);
  scaleInPlace(k, -e);
  const nrows = cOut * cIn * kh;
  const arena = new Arena(core);
  const kPtr = arena.f64(k.length);
  const tr = arena.f64(nrows);
  const ti = arena.f64(nrows);
  const twWork = arena.bytes(Math.max(core.transform_w_work_bytes(nrows, kw, w, 1), 16 * kh));
  const { ar, ai, ur, ui, vr, vi, s, work } = svdBuffers(arena, m, r);
  arena.commit(
    "factorise the frequencies",
    `c_out ${cOut}, c_in ${cIn}, kernel ${spec.k[1]}×${spec.k[2]}, inputShape [${h}, ${w}]`,
  );
  const mem = () => new Float64Array(core.memory.buffer);
  mem().set(k, kPtr / 8);
  const failed: [number, number][] = [];
  let column = -1;
  const freqs: [number, number, boolean][] = [];
  forEachFrequency(h, w, false, (u, v, mirrored) => {
    if (!only || (only[0] === u && only[1] === v)) freqs.push([u, v, mirrored]);
  });
  for (const [u, v, mirrored] of freqs) {
    if (v !== column) {
      core.transform_w_f64(kPtr, 0, nrows, kw, w, v, 1, tr, ti, twWork);
      column = v;
    }
    mem().fill(0, ar / 8, (ai + ld * r * 8) / 8);
    core.build_p_f64(tr, ti, cOut, cIn, kh, h, u, ar, ai, ld, twWork);
    const st = core.svd_c64_split(ar, ai, m, r, ld, s, r, ur, ui, vr, vi, work);
    const f = mem();
    const sv = f.slice(s / 8, s / 8 + r).map((x) => ldexp(x, e));
    if (st !== 0) failed.push([u, v]);
    // A = P (tall) has A = Ũ·S·Ṽᴴ; A = Pᵀ has P = conj(Ṽ)·S·conj(Ũ)ᴴ.
    const Ut = new Float64Array(m * r * 2);
    const Vt = new Float64Array(r * r * 2);
    for (let j = 0; j < r; j++) {
      for (let i = 0; i < m; i++) {
        Ut[(i * r + j) * 2] = f[ur / 8 + j * ld + i];
        Ut[(i * r + j) * 2 + 1] = f[ui / 8 + j * ld + i];
      }
      for (let i = 0; i < r; i++) {
        Vt[(i * r + j) * 2] = f[vr / 8 + j * ldn + i];
        Vt[(i * r + j) * 2 + 1] = f[vi / 8 + j * ldn + i];
      }
    }
    if (tall) {
      sink(u, v, sv, Ut, Vt, mirrored);
    } else {
      for (let i = 1; i < Vt.length; i += 2) Vt[i] = -Vt[i];
      for (let i = 1; i < Ut.length; i += 2) Ut[i] = -Ut[i];
      sink(u, v, sv, Vt, Ut, mirrored);
    }
    yield;
  }
  if (failed.length > 0) throw new ConvergenceError(failed);
}
