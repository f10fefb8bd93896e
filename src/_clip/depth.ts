/**
 * Clipping rounds of a layer whose kernel has more than one tap along a depth
 * grid of more than one frequency (3-D layers): its frequency matrices are
 * complex, one 2-D problem per depth frequency `t` (src/_problem/expand.ts).
 *
 * A round, per group, per depth frequency `t ≤ d'/2`: the 2-D kernel `K_t`
 * (complex), for every frequency `(u, v)` of the `h' × w'` grid its matrix
 * `P` (the wasm core's transform and `build_p_f64`), its SVD with vectors
 * (`svd_c64_split`) and the part above the radius
 * `ΔP = Σ_{σ_j > c} (σ_j − c)·u_j·v_jᴴ`; the inverse transform of `ΔP`
 * restricted to the kernel's taps gives `ΔK_t`; the depth frequencies combine
 * by the inverse DFT along depth restricted to the depth taps (the mirror
 * `d' − t` is the conjugate, so `ΔK = (1/d')·Σ_t w_t·Re(ΔK_t·e^{−2πi·t·c/d'})`
 * with `w_t` 1 for the real frequencies and 2 for the others), and the new
 * kernel is `K' − ΔK`: the orthogonal projection of the clipped operator onto
 * the kernels of that support, as for the real problems. Dykstra's
 * correction is kept per frequency in the matrix's orientation.
 * @module
 */
import { Arena, type CoreExports, svdBuffers } from "../_wasm/abi.ts";
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
  const m = Math.max(cOut, cIn), n = Math.min(cOut, cIn), tall = cOut >= cIn;
  const ld = core.lead_dim(m), ldn = core.lead_dim(n);
  const nrows = rows * kh;
  const depths = Math.floor(d / 2) + 1;
  // Dykstra's correction: per group, depth frequency and (u, v), an m × n complex matrix in A's orientation.
  const corrPer = m * n * 2;
  const corrLength = dykstra ? groups * depths * h * w * corrPer : 0;
  const arena = new Arena(core);
  const kr = arena.f64(nrows * kw);
  const ki = arena.f64(nrows * kw);
  const tr = arena.f64(nrows);
  const ti = arena.f64(nrows);
  const twWork = arena.bytes(Math.max(core.transform_w_work_bytes(nrows, kw, w, 1), 16 * kh));
  const { ar, ai, ur, ui, vr, vi, s: sPtr, work } = svdBuffers(arena, m, n);
  const context = `c_out ${cOut}, c_in ${cIn}, kernel ${kd}×${kh}×${kw}, grid [${d}, ${h}, ${w}]`;
  arena.commit("clip the operator norm", context);
  // exp(−2πi(u·a/h + v·b/w)) / (h·w) for every tap, per frequency, from exact twiddles.
  const inv = (u: number, v: number): [Float64Array, Float64Array] => {
    const cr = new Float64Array(plane), cim = new Float64Array(plane);
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        const [x, y] = twiddle((((u * a) % h) * w + ((v * b) % w) * h) % (h * w), h * w);
        cr[a * kw + b] = x / (h * w);
        cim[a * kw + b] = -y / (h * w);
      }
    }
    return [cr, cim];
  };
  return {
    corrLength,
    round(k, corr) {
      arena.commit("clip the operator norm", context);
      const out = Float64Array.from(k);
      let norm = 0;
      const failed: [number, number][] = [];
      const dr = new Float64Array(rows * plane), di = new Float64Array(rows * plane);
      for (let g = 0; g < groups; g++) {
        const kq = k.subarray(g * len, (g + 1) * len);
        for (let t = 0; t < depths; t++) {
          const real = t === 0 || 2 * t === d;
          const kt = depthKernel(kq, rows, kd, plane, t, d, real);
          // The kernel's rows (o, i, a) of kw taps, as transform_w_f64 reads them.
          new Float64Array(core.memory.buffer, kr, nrows * kw).set(kt.re);
          const kim = new Float64Array(core.memory.buffer, ki, nrows * kw);
          if (kt.im) kim.set(kt.im);
          else kim.fill(0);
          dr.fill(0);
          di.fill(0);
          for (let v = 0; v < w; v++) {
            core.transform_w_f64(kr, ki, nrows, kw, w, v, 1, tr, ti, twWork);
            for (let u = 0; u < h; u++) {
              const mem = new Float64Array(core.memory.buffer);
              mem.fill(0, ar / 8, (ai + ld * n * 8) / 8);
              core.build_p_f64(tr, ti, cOut, cIn, kh, h, u, ar, ai, ld, twWork);
              const at = (((g * depths + t) * h + u) * w + v) * corrPer;
              if (corr) {
                for (let j = 0; j < n; j++) {
                  for (let i = 0; i < m; i++) {
                    mem[ar / 8 + j * ld + i] += corr[at + (j * m + i) * 2];
                    mem[ai / 8 + j * ld + i] += corr[at + (j * m + i) * 2 + 1];
                  }
                }
              }
              const status = core.svd_c64_split(ar, ai, m, n, ld, sPtr, n, ur, ui, vr, vi, work);
              const f = new Float64Array(core.memory.buffer);
              if (status !== 0) failed.push([u, v]);
              const s0 = f[sPtr / 8];
              if (s0 > norm) norm = s0;
              // ΔA = Σ_{σ_j > c} (σ_j − c)·ũ_j·ṽ_jᴴ in A's orientation (A = P, or Pᵀ when c_out < c_in).
              let above = 0;
              while (above < n && f[sPtr / 8 + above] > c) above++;
              if (above === 0 && !corr) continue;
              const [cr, cim] = inv(u, v);
              for (let i = 0; i < m; i++) {
                for (let j2 = 0; j2 < n; j2++) {
                  let xr = 0, xi = 0;
                  for (let q = 0; q < above; q++) {
                    const sc = f[sPtr / 8 + q] - c;
                    const uR = f[ur / 8 + q * ld + i], uI = f[ui / 8 + q * ld + i];
                    const vR = f[vr / 8 + q * ldn + j2], vI = f[vi / 8 + q * ldn + j2];
                    // ũ·conj(ṽ)
                    xr += sc * (uR * vR + uI * vI);
                    xi += sc * (uI * vR - uR * vI);
                  }
                  if (corr) {
                    // Dykstra: the kernel moves by the inverse of (ΔA − p); the new correction is ΔA.
                    const ci = at + (j2 * m + i) * 2;
                    const pr = corr[ci], pi = corr[ci + 1];
                    corr[ci] = xr;
                    corr[ci + 1] = xi;
                    xr -= pr;
                    xi -= pi;
                  }
                  if (xr === 0 && xi === 0) continue;
                  // ΔP[o, i']: A = P when tall, else A = Pᵀ (A[i', o] = P[o, i']).
                  const o = tall ? i : j2, ip = tall ? j2 : i;
                  const row = (o * cIn + ip) * plane;
                  for (let j = 0; j < plane; j++) {
                    dr[row + j] += xr * cr[j] - xi * cim[j];
                    di[row + j] += xr * cim[j] + xi * cr[j];
                  }
                }
              }
            }
          }
          // Back along depth: ΔK[c] += (w_t/d)·Re(ΔK_t·e^{−2πi·t·c/d}).
          const wt = real ? 1 : 2;
          for (let cd = 0; cd < kd; cd++) {
            const [er, ei] = twiddle((t * cd) % d, d);
            for (let row = 0; row < rows; row++) {
              for (let j = 0; j < plane; j++) {
                const q = row * plane + j;
                // Re((dr + i·di)·(er − i·ei)) = dr·er + di·ei
                out[g * len + (row * kd + cd) * plane + j] -= (wt / d) * (dr[q] * er + di[q] * ei);
              }
            }
          }
        }
      }
      if (failed.length > 0) throw new ConvergenceError(failed);
      return { k: out, norm } satisfies RoundResult;
    },
  };
}
