/**
 * Clipping rounds of a layer whose kernel has more than one tap along a depth
 * grid of more than one frequency (3-D layers): its frequency matrices are
 * complex, one 2-D problem per depth frequency `t` (src/_problem/expand.ts).
 *
 * A round, per group, per depth frequency `t ≤ d'/2`: the 2-D kernel `K_t`
 * (complex) is transformed along the width, then each column `v` goes through
 * the core's `clip_column_c64` (assembly/svd.ts): for every `u` the matrix
 * `P(u, v)`, its SVD, `P' = U·min(Σ, c)·Vᴴ`, and the column's share of the
 * inverse 2-D transform restricted to the kernel's taps, which sums to the
 * complex clipped kernel `K'_t` (a real `t`'s kernel is real: its Hermitian
 * half of columns goes through `clip_column_f64`). The depth frequencies combine by the inverse
 * DFT along depth restricted to the depth taps (the mirror `d' − t` is the
 * conjugate, so `K = (1/d')·Σ_t w_t·Re(K'_t·e^{−2πi·t·c/d'})` with `w_t` 1 for
 * the real frequencies and 2 for the others): the orthogonal projection of
 * the clipped operator onto the kernels of that support, as for the real
 * problems. Dykstra's correction is kept per frequency, as the core lays it
 * out for a column.
 * @module
 */
import { Arena, type CoreExports } from "../_wasm/abi.ts";
import { depthKernel, twiddle } from "../_problem/expand.ts";
import type { Problem } from "../_problem/problem.ts";
import { ConvergenceError } from "../errors.ts";
import type { RoundResult, Rounds } from "./loop.ts";

/** The shape of a layer's depth problems: each group's K' is `cOut × cIn × kd × kh × kw` on `d × h × w`. */
export interface DepthShape {
  groups: number;
  cOut: number;
  cIn: number;
  kd: number;
  kh: number;
  kw: number;
  d: number;
  h: number;
  w: number;
}

/** The problems (one per depth frequency `t ≤ d/2`, groups as diagonal blocks) of the groups' K', for a norm. */
export function depthProblems(shape: DepthShape, k: Float64Array): Problem[] {
  const { groups, cOut, cIn, kd, kh, kw, d, h, w } = shape;
  const rows = cOut * cIn, plane = kh * kw, len = rows * kd * plane;
  const problems: Problem[] = [];
  for (let t = 0; t <= Math.floor(d / 2); t++) {
    const real = t === 0 || 2 * t === d;
    const re = new Float64Array(groups * rows * plane);
    const im = real ? undefined : new Float64Array(groups * rows * plane);
    for (let g = 0; g < groups; g++) {
      const kt = depthKernel(k.subarray(g * len, (g + 1) * len), rows, kd, plane, t, d, real);
      re.set(kt.re, g * rows * plane);
      if (im && kt.im) im.set(kt.im, g * rows * plane);
    }
    problems.push({ cOut, cIn, kh, kw, h, w, re, ...(im ? { im } : {}), ...(groups > 1 ? { groups } : {}) });
  }
  return problems;
}

/** Rounds on the calling thread's core (see the module doc). */
export function depthRounds(core: CoreExports, shape: DepthShape, c: number, dykstra: boolean): Rounds<false> {
  const { groups, cOut, cIn, kd, kh, kw, d, h, w } = shape;
  const rows = cOut * cIn, plane = kh * kw, len = rows * kd * plane;
  const r = Math.min(cOut, cIn), ld = core.lead_dim(Math.max(cOut, cIn));
  const nrows = rows * kh;
  const depths = Math.floor(d / 2) + 1;
  // Dykstra's correction, per group, depth frequency and column v: h frequencies of an ld × r complex block.
  const corrPer = h * 2 * ld * r;
  const corrLength = dykstra ? groups * depths * w * corrPer : 0;
  const arena = new Arena(core);
  const kr = arena.f64(nrows * kw);
  const ki = arena.f64(nrows * kw);
  const tr = arena.f64(nrows * w);
  const ti = arena.f64(nrows * w);
  const twWork = arena.bytes(core.transform_w_work_bytes(nrows, kw, w, w));
  const outR = arena.f64(nrows * kw);
  const outI = arena.f64(nrows * kw);
  const sv = arena.f64(h * r);
  const clipWork = arena.bytes(core.clip_column_work_bytes(cOut, cIn, kh));
  const corrAt = arena.f64(dykstra ? w * corrPer : 0);
  const context = `c_out ${cOut}, c_in ${cIn}, kernel ${kd}×${kh}×${kw}, grid [${d}, ${h}, ${w}]`;
  arena.commit("clip the operator norm", context);
  // exp(−2πi·t·c/d) for the depth taps c < kd of each depth frequency t, from exact twiddles.
  const depthTw = Array.from(
    { length: depths },
    (_, t) => Array.from({ length: kd }, (_, cd) => twiddle((t * cd) % d, d)),
  );
  return {
    corrLength,
    round(k, corr) {
      arena.commit("clip the operator norm", context);
      const out = new Float64Array(k.length);
      let norm = 0;
      const failed: [number, number][] = [];
      for (let g = 0; g < groups; g++) {
        const kq = k.subarray(g * len, (g + 1) * len);
        for (let t = 0; t < depths; t++) {
          const real = t === 0 || 2 * t === d;
          const kt = depthKernel(kq, rows, kd, plane, t, d, real);
          // The kernel's rows (o, i, a) of kw taps, as transform_w_f64 reads them.
          arena.view(kr, nrows * kw).set(kt.re);
          if (kt.im) arena.view(ki, nrows * kw).set(kt.im);
          else arena.view(ki, nrows * kw).fill(0);
          arena.view(outR, nrows * kw).fill(0);
          arena.view(outI, nrows * kw).fill(0);
          const corrBase = ((g * depths + t) * w) * corrPer;
          if (corr) arena.view(corrAt, w * corrPer).set(corr.subarray(corrBase, corrBase + w * corrPer));
          core.transform_w_f64(kr, ki, nrows, kw, w, 0, w, tr, ti, twWork);
          // A real depth frequency's kernel is real: its Hermitian half of columns (u paired with h − u) suffices.
          const columns = real ? Math.floor(w / 2) + 1 : w;
          for (let v = 0; v < columns; v++) {
            const mirror = v === 0 || 2 * v === w;
            const nu = real && mirror ? Math.floor(h / 2) + 1 : h;
            const at = { tr: tr + v * nrows * 8, ti: ti + v * nrows * 8, corr: corr ? corrAt + v * corrPer * 8 : 0 };
            const bad = real
              ? core.clip_column_f64(
                at.tr,
                at.ti,
                cOut,
                cIn,
                kh,
                h,
                kw,
                w,
                v,
                nu,
                mirror ? 1 : 0,
                c,
                outR,
                sv,
                clipWork,
                at.corr,
              )
              : core.clip_column_c64(
                at.tr,
                at.ti,
                cOut,
                cIn,
                kh,
                h,
                kw,
                w,
                v,
                nu,
                c,
                outR,
                outI,
                sv,
                clipWork,
                at.corr,
              );
            const values = arena.view(sv, nu * r);
            for (let u = 0; u < nu; u++) {
              const top = values[u * r];
              if (bad > 0 && Number.isNaN(top)) failed.push([u, v]);
              if (top > norm) norm = top;
            }
          }
          if (corr) corr.set(arena.view(corrAt, w * corrPer), corrBase);
          // Back along depth: K[c] += (w_t/d)·Re(K'_t·e^{−2πi·t·c/d}).
          const wt = (real ? 1 : 2) / d;
          const kR = arena.view(outR, nrows * kw), kI = arena.view(outI, nrows * kw);
          for (let cd = 0; cd < kd; cd++) {
            const [er, ei] = depthTw[t][cd];
            for (let row = 0; row < rows; row++) {
              const dst = g * len + (row * kd + cd) * plane, src = row * plane;
              // Re((kR + i·kI)·(er − i·ei)) = kR·er + kI·ei
              for (let j = 0; j < plane; j++) out[dst + j] += wt * (kR[src + j] * er + kI[src + j] * ei);
            }
          }
        }
      }
      if (failed.length > 0) throw new ConvergenceError(failed);
      return { k: out, norm } satisfies RoundResult;
    },
  };
}
