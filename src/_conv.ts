/**
 * The real layer applied directly (no transform): the forward convolution of
 * a validated {@linkcode LayerSpec} — strided, dilated, grouped, zero-padded
 * or circular, on `[d, h, w]` — and its adjoint, plus the power iteration
 * that gives certified lower bounds on the norm.
 *
 * Forward convolution, per axis (cross-correlation, as PyTorch computes it):
 *
 *     y[o, x] = Σ_{i in o's group} Σ_a K[o, i, a] · in[i, x·s + δ·a − p_before]
 *
 * where an index outside `[0, n)` reads zero (zero padding) or wraps mod `n`
 * (circular, `p_before = 0`). A transposed layer is the adjoint of this map.
 * Vectors are channel-major: `x[(i·n_d + z)·n_h + y)·n_w + x]`.
 * @module
 */
import type { Axes, LayerSpec } from "./_validate.ts";

/** A linear map given by its action and the action of its adjoint. */
export interface LinearOperator {
  /** Length of the input vector. */
  cols: number;
  /** Length of the output vector. */
  rows: number;
  /** `y = A x` (y is overwritten). */
  apply(x: Float64Array, y: Float64Array): void;
  /** `x = Aᵀ y` (x is overwritten). */
  adjoint(y: Float64Array, x: Float64Array): void;
  /** Multiply–adds per application (for cost estimates). */
  flops: number;
}

/**
 * One axis's reads for one tap: outputs `x` in `[lo, hi)` read input
 * `x·s + off`; every other output reads a zero of the padding.
 */
interface Segment {
  lo: number;
  hi: number;
  off: number;
}

/**
 * For each tap `a` of one axis, the segments of outputs whose reads are
 * `x·s + δ·a − p_before` inside `[0, n)` (zero padding: one segment), or
 * `(x·s + δ·a) mod n` (circular: at most two segments, as `δ·a mod n + x·s <
 * 2n` for `x < n/s`).
 */
function axisSegments(
  n: number,
  out: number,
  k: number,
  s: number,
  dl: number,
  pad: [number, number] | undefined,
): Segment[][] {
  const taps: Segment[][] = [];
  for (let a = 0; a < k; a++) {
    const segs: Segment[] = [];
    if (pad) {
      const off = dl * a - pad[0];
      // 0 ≤ x·s + off < n
      const lo = Math.max(0, Math.ceil(-off / s));
      const hi = Math.min(out, Math.floor((n - 1 - off) / s) + 1);
      if (hi > lo) segs.push({ lo, hi, off });
    } else {
      const off = (dl * a) % n;
      const wrap = Math.min(out, Math.max(0, Math.ceil((n - off) / s)));
      if (wrap > 0) segs.push({ lo: 0, hi: wrap, off });
      if (out > wrap) segs.push({ lo: wrap, hi: out, off: off - n });
    }
    taps.push(segs);
  }
  return taps;
}

/**
 * The forward convolution of `spec` on the input grid `n` (default the
 * layer's own) with output grid `out`, zero-padded when `spec.pad` is set and
 * circular otherwise. Transposition is ignored: the returned operator is the
 * forward convolution (a transposed layer is its adjoint).
 *
 * Inside, vectors are moved to channels-last so that every (tap, output
 * position) is a small dense product `W_tap (c_out/g × c_in/g) · x[pos, group]`
 * with contiguous inner loops.
 */
export function convOperator(spec: LayerSpec, n: Axes = spec.n, out: Axes = spec.out): LinearOperator {
  const { cOut, cIn, cInG, cOutG, groups, k, stride } = spec;
  const segs = [0, 1, 2].map((j) => axisSegments(n[j], out[j], k[j], stride[j], spec.dilation[j], spec.pad?.[j]));
  const [sd, sh, sw] = segs;
  const [, nh, nw] = n;
  const [, oh, ow] = out;
  const [s0, s1, s2] = stride;
  const taps = k[0] * k[1] * k[2];
  const inPlane = n[0] * nh * nw;
  const outPlane = out[0] * oh * ow;
  // wt[tap][o][il]: per tap, the cOut × cInG block (rows of a group are contiguous).
  const block = cOut * cInG;
  const wt = new Float64Array(taps * block);
  for (let o = 0; o < cOut; o++) {
    for (let il = 0; il < cInG; il++) {
      for (let t = 0; t < taps; t++) wt[t * block + o * cInG + il] = spec.weights[(o * cInG + il) * taps + t];
    }
  }
  const xl = new Float64Array(cIn * inPlane);
  const yl = new Float64Array(cOut * outPlane);
  /** Adds the layer (forward) or its adjoint over every (tap, output, input position) that reads the input. */
  const run = (fwd: boolean): void => {
    for (let c = 0; c < k[0]; c++) {
      for (let a = 0; a < k[1]; a++) {
        for (let b = 0; b < k[2]; b++) {
          const wBase = ((c * k[1] + a) * k[2] + b) * block;
          const segD = sd[c], segH = sh[a], segW = sw[b];
          for (let q = 0; q < segD.length; q++) {
            const D = segD[q];
            for (let zd = D.lo; zd < D.hi; zd++) {
              const jd = zd * s0 + D.off;
              for (let r = 0; r < segH.length; r++) {
                const H = segH[r];
                for (let zh = H.lo; zh < H.hi; zh++) {
                  const jh = zh * s1 + H.off;
                  const yRow = (zd * oh + zh) * ow;
                  const xRow = (jd * nh + jh) * nw;
                  for (let t = 0; t < segW.length; t++) {
                    const W = segW[t];
                    for (let zw = W.lo; zw < W.hi; zw++) {
                      const yAt = (yRow + zw) * cOut;
                      const xAt = (xRow + zw * s2 + W.off) * cIn;
                      if (fwd) {
                        for (let g = 0; g < groups; g++) {
                          const xb = xAt + g * cInG;
                          const yb = yAt + g * cOutG;
                          for (let o = 0; o < cOutG; o++) {
                            const wr = wBase + (g * cOutG + o) * cInG;
                            let acc = 0;
                            for (let il = 0; il < cInG; il++) acc += wt[wr + il] * xl[xb + il];
                            yl[yb + o] += acc;
                          }
                        }
                      } else {
                        for (let g = 0; g < groups; g++) {
                          const xb = xAt + g * cInG;
                          const yb = yAt + g * cOutG;
                          for (let o = 0; o < cOutG; o++) {
                            const wr = wBase + (g * cOutG + o) * cInG;
                            const yv = yl[yb + o];
                            for (let il = 0; il < cInG; il++) xl[xb + il] += wt[wr + il] * yv;
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  };
  return {
    cols: cIn * inPlane,
    rows: cOut * outPlane,
    apply(x, y) {
      for (let i = 0; i < cIn; i++) for (let p = 0; p < inPlane; p++) xl[p * cIn + i] = x[i * inPlane + p];
      yl.fill(0);
      run(true);
      for (let o = 0; o < cOut; o++) for (let p = 0; p < outPlane; p++) y[o * outPlane + p] = yl[p * cOut + o];
    },
    adjoint(y, x) {
      for (let o = 0; o < cOut; o++) for (let p = 0; p < outPlane; p++) yl[p * cOut + o] = y[o * outPlane + p];
      xl.fill(0);
      run(false);
      for (let i = 0; i < cIn; i++) for (let p = 0; p < inPlane; p++) x[i * inPlane + p] = xl[p * cIn + i];
    },
    flops: cOut * cInG * taps * outPlane,
  };
}

/** A small deterministic generator (mulberry32) of uniform numbers in [−1, 1). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** Euclidean norm, safe from overflow and underflow. */
export function norm2(x: Float64Array): number {
  let big = 0;
  for (let j = 0; j < x.length; j++) big = Math.max(big, Math.abs(x[j]));
  if (big === 0 || !Number.isFinite(big)) return big;
  let s = 0;
  for (let j = 0; j < x.length; j++) {
    const t = x[j] / big;
    s += t * t;
  }
  return big * Math.sqrt(s);
}

/** What {@linkcode powerIterate} found. */
export interface PowerResult {
  /** The largest Rayleigh quotient `‖A x‖ / ‖x‖` seen (a lower bound on `‖A‖` up to rounding). */
  lower: number;
  /** Applications of `AᵀA` made. */
  iterations: number;
  /** Whether the quotient's relative change fell to the tolerance. */
  converged: boolean;
  /** The quotient after each step. */
  history: number[];
}

/**
 * Power iteration on `AᵀA` from `x0`: `x ← Aᵀ A x / ‖·‖`, recording the
 * Rayleigh quotient `‖A x‖ / ‖x‖` of every iterate. Stops when the quotient's
 * relative change between steps is at most `tolerance` or after
 * `maxIterations` steps. `x0` is overwritten.
 */
export function powerIterate(
  op: LinearOperator,
  x0: Float64Array,
  maxIterations: number,
  tolerance: number,
): PowerResult {
  const y = new Float64Array(op.rows);
  const x = x0;
  let xn = norm2(x);
  const history: number[] = [];
  let best = 0;
  let prev = NaN;
  let converged = false;
  let iterations = 0;
  if (xn === 0) return { lower: 0, iterations: 0, converged: true, history };
  for (let j = 0; j < x.length; j++) x[j] /= xn;
  const next = new Float64Array(op.cols);
  for (;;) {
    op.apply(x, y);
    xn = norm2(x);
    const q = norm2(y) / xn;
    history.push(q);
    if (q > best) best = q;
    if (q === 0 || Math.abs(q - prev) <= tolerance * q) {
      converged = true;
      break;
    }
    if (iterations >= maxIterations) break;
    prev = q;
    op.adjoint(y, next);
    iterations++;
    const nn = norm2(next);
    if (nn === 0) {
      converged = true;
      break;
    }
    for (let j = 0; j < next.length; j++) x[j] = next[j] / nn;
  }
  return { lower: best, iterations, converged, history };
}
