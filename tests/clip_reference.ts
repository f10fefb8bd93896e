/**
 * A dense, deliberately slow reference for ONE round of `clipOperatorNorm`,
 * independent of the package: build the layer's explicit real matrix `A`,
 * take its full SVD `A = U·Σ·Vᵀ` by a one-sided Jacobi method (Hestenes) that
 * also returns `U` and `V`, form `A' = U·min(Σ, c)·Vᵀ`, then project `A'`
 * orthogonally onto the matrices of `k_h × k_w` circular convolutions.
 *
 * The projection: in the layer's matrix, tap `K[o, i, a, b]` (with `a < h`,
 * `b < w`) sits at the `h·w` entries
 * `(o·h·w + x·w + y, i·h·w + ((x+a) mod h)·w + ((y+b) mod w))`, each with unit
 * weight, and distinct taps never share an entry. So the structured matrices
 * are spanned by orthogonal 0/1 matrices of equal norm, and the orthogonal
 * (Frobenius) projection of `A'` sets each tap to the average of `A'` over its
 * `h·w` entries.
 *
 * Nothing here transforms to frequencies: it shares no algorithm with the package.
 * @module
 */
import { denseLayerMatrix } from "./reference.ts";

/** A thin SVD `A = U·diag(s)·Vᵀ` of an `m × n` matrix, `r = min(m, n)`, all row-major. */
export interface DenseSvd {
  /** `m × r`, orthonormal columns (a column whose singular value is 0 is left 0). */
  U: Float64Array;
  /** `r` singular values, in no particular order (they pair with the columns of `U` and `V`). */
  s: Float64Array;
  /** `n × r`, orthonormal columns. */
  V: Float64Array;
  m: number;
  n: number;
  r: number;
  /** Jacobi sweeps used. */
  sweeps: number;
}

/**
 * One-sided Jacobi SVD of the column-major `len × ncol` matrix `W` (`ncol ≤ len`),
 * in place: rotates pairs of columns until every pair is orthogonal to about
 * `1e-15` relative, accumulating the rotations in `Q` (`ncol × ncol`,
 * column-major, starts as the identity). On return `W_in = W_out·Qᵀ` with the
 * columns of `W_out` orthogonal.
 */
function hestenes(W: Float64Array, len: number, ncol: number, maxSweeps: number): { Q: Float64Array; sweeps: number } {
  const Q = new Float64Array(ncol * ncol);
  for (let j = 0; j < ncol; j++) Q[j * ncol + j] = 1;
  let frob2 = 0;
  for (let k = 0; k < W.length; k++) frob2 += W[k] * W[k];
  // Columns this far below the whole matrix contribute nothing a test can see;
  // rotating them only chases rounding noise (nearly parallel noise columns).
  const negligible = frob2 * 2 ** -200;
  const tol = Math.max(1e-15, Math.sqrt(len) * Number.EPSILON);
  for (let sweep = 1; sweep <= maxSweeps; sweep++) {
    let rotated = false;
    for (let p = 0; p < ncol - 1; p++) {
      const op = p * len;
      for (let q = p + 1; q < ncol; q++) {
        const oq = q * len;
        let alpha = 0, beta = 0, gamma = 0;
        for (let k = 0; k < len; k++) {
          const x = W[op + k], y = W[oq + k];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || alpha <= negligible || beta <= negligible) continue;
        if (Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
        rotated = true;
        // [c s; -s c] applied to (w_p, w_q): t is the smaller root of t² + 2ζt − 1 = 0.
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.abs(zeta) > 1e150
          ? 1 / (2 * zeta)
          : Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let k = 0; k < len; k++) {
          const x = W[op + k], y = W[oq + k];
          W[op + k] = c * x - s * y;
          W[oq + k] = s * x + c * y;
        }
        const qp = p * ncol, qq = q * ncol;
        for (let k = 0; k < ncol; k++) {
          const x = Q[qp + k], y = Q[qq + k];
          Q[qp + k] = c * x - s * y;
          Q[qq + k] = s * x + c * y;
        }
      }
    }
    if (!rotated) return { Q, sweeps: sweep };
  }
  throw new Error(`clip reference: one-sided Jacobi did not converge in ${maxSweeps} sweeps (${len}×${ncol})`);
}

/**
 * Full thin SVD of the row-major `m × n` matrix `A` by one-sided Jacobi.
 * Works on `Aᵀ` when `m < n`, so it always rotates `min(m, n)` columns.
 * Throws if it has not converged after `maxSweeps` sweeps.
 */
export function jacobiSvd(A: Float64Array, m: number, n: number, maxSweeps = 80): DenseSvd {
  if (A.length !== m * n) throw new TypeError(`jacobiSvd: length ${A.length} != ${m}·${n}`);
  for (let k = 0; k < A.length; k++) {
    if (!Number.isFinite(A[k])) throw new RangeError(`jacobiSvd: non-finite entry ${A[k]} at ${k}`);
  }
  const tall = m >= n;
  const len = tall ? m : n;
  const r = tall ? n : m;
  // Column-major copy of A (tall) or of Aᵀ (wide): column j at [j·len, (j+1)·len).
  const W = new Float64Array(len * r);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      if (tall) W[j * len + i] = A[i * n + j];
      else W[i * len + j] = A[i * n + j];
    }
  }
  const { Q, sweeps } = hestenes(W, len, r, maxSweeps);
  // B = W·Qᵀ with B = A (tall) or Aᵀ (wide); W's columns are σ_j·u_j.
  const s = new Float64Array(r);
  const left = new Float64Array(len * r); // row-major len × r: the normalised columns of W
  for (let j = 0; j < r; j++) {
    let big = 0;
    for (let k = 0; k < len; k++) big = Math.max(big, Math.abs(W[j * len + k]));
    let sum = 0;
    if (big > 0) {
      for (let k = 0; k < len; k++) sum += (W[j * len + k] / big) ** 2;
    }
    s[j] = big * Math.sqrt(sum);
    if (s[j] > 0) { for (let k = 0; k < len; k++) left[k * r + j] = W[j * len + k] / s[j]; }
  }
  const right = new Float64Array(r * r); // row-major r × r: Q
  for (let j = 0; j < r; j++) for (let k = 0; k < r; k++) right[k * r + j] = Q[j * r + k];
  // tall: A = left·diag(s)·rightᵀ.  wide: Aᵀ = left·diag(s)·rightᵀ, so A = right·diag(s)·leftᵀ.
  return tall ? { U: left, s, V: right, m, n, r, sweeps } : { U: right, s, V: left, m, n, r, sweeps };
}

/** `U·diag(f(s))·Vᵀ` (row-major `m × n`) of a {@linkcode DenseSvd}. */
export function rebuild(svd: DenseSvd, f: (sigma: number) => number = (x) => x): Float64Array {
  const { U, s, V, m, n, r } = svd;
  const out = new Float64Array(m * n);
  for (let j = 0; j < r; j++) {
    const g = f(s[j]);
    if (g === 0) continue;
    for (let i = 0; i < m; i++) {
      const ug = U[i * r + j] * g;
      if (ug === 0) continue;
      for (let k = 0; k < n; k++) out[i * n + k] += ug * V[k * r + j];
    }
  }
  return out;
}

/**
 * Orthogonal projection of the row-major `(cOut·h·w) × (cIn·h·w)` matrix `M`
 * onto the layer matrices of `kh × kw` circular convolutions (`kh ≤ h`,
 * `kw ≤ w`): each tap is the average of `M` over the `h·w` entries it occupies.
 * Returns the kernel, OIHW.
 */
export function projectOntoKernel(
  M: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
): Float64Array {
  if (kh > h || kw > w) throw new RangeError(`projectOntoKernel: kernel ${kh}×${kw} larger than input ${h}×${w}`);
  const hw = h * w;
  const cols = cIn * hw;
  if (M.length !== cOut * hw * cols) throw new TypeError(`projectOntoKernel: length ${M.length}`);
  const K = new Float64Array(cOut * cIn * kh * kw);
  for (let o = 0; o < cOut; o++) {
    for (let i = 0; i < cIn; i++) {
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) {
          let sum = 0;
          for (let x = 0; x < h; x++) {
            for (let y = 0; y < w; y++) {
              sum += M[(o * hw + x * w + y) * cols + i * hw + ((x + a) % h) * w + ((y + b) % w)];
            }
          }
          K[((o * cIn + i) * kh + a) * kw + b] = sum / hw;
        }
      }
    }
  }
  return K;
}

/** `x · 2^k` exactly (barring under/overflow of the result), for |k| up to ~2000. */
function ldexp(x: number, k: number): number {
  const half = Math.trunc(k / 2);
  return x * 2 ** half * 2 ** (k - half);
}

/**
 * The power of two `e` with `max|K| · 2^-e` in [1, 2), or undefined for an
 * all-zero kernel. The dense work runs on the scaled kernel (exact), so that
 * tiny or huge kernels neither under- nor overflow in the Jacobi sums.
 */
function scaleExponent(k: Float64Array): number | undefined {
  let m = 0;
  for (let i = 0; i < k.length; i++) m = Math.max(m, Math.abs(k[i]));
  if (m === 0) return undefined;
  let e = Math.floor(Math.log2(m));
  while (ldexp(m, -e) >= 2) e++;
  while (ldexp(m, -e) < 1) e--;
  return e;
}

function checkRound(
  k: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
  c: number,
) {
  if (!(c >= 0) || !Number.isFinite(c)) throw new RangeError(`clip reference: c = ${c}`);
  if (k.length !== cOut * cIn * kh * kw) throw new TypeError(`clip reference: kernel length ${k.length}`);
  if (kh > h || kw > w) throw new RangeError(`clip reference: kernel ${kh}×${kw} larger than input ${h}×${w}`);
}

/** Clip the singular values of the dense matrix `M` (`m × n`) at `c`: `U·min(Σ, c)·Vᵀ`. */
function clipDense(M: Float64Array, m: number, n: number, c: number): Float64Array {
  return rebuild(jacobiSvd(M, m, n), (sigma) => Math.min(sigma, c));
}

/**
 * One round of the paper's Appendix A, densely: clip the singular values of
 * the layer's matrix at `c`, then project back onto `kh × kw` kernels.
 * Kernel in and out OIHW, `[cOut, cIn, kh, kw]`, with `kh ≤ h`, `kw ≤ w`.
 */
export function referenceClipRound(
  kernelOIHW: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
  c: number,
): Float64Array {
  return referenceClipRounds(kernelOIHW, cOut, cIn, kh, kw, h, w, c, 1);
}

/** `rounds` rounds of {@linkcode referenceClipRound}, one after the other (plain alternation). */
export function referenceClipRounds(
  kernelOIHW: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
  c: number,
  rounds: number,
): Float64Array {
  checkRound(kernelOIHW, cOut, cIn, kh, kw, h, w, c);
  const e = scaleExponent(kernelOIHW);
  if (e === undefined) return new Float64Array(kernelOIHW.length);
  let k: Float64Array = kernelOIHW.map((x) => ldexp(x, -e));
  const cs = ldexp(c, -e);
  const m = cOut * h * w, n = cIn * h * w;
  for (let t = 0; t < rounds; t++) {
    const A = denseLayerMatrix(k, cOut, cIn, kh, kw, h, w);
    k = projectOntoKernel(clipDense(A, m, n, cs), cOut, cIn, kh, kw, h, w);
  }
  return k.map((x) => ldexp(x, e));
}

/**
 * `rounds` rounds of Dykstra's algorithm for the two sets {operators of norm
 * ≤ c} (a convex ball) and {k_h × k_w convolutions} (a subspace, which needs
 * no correction), densely: with `x₀ = A(K)`, `p₀ = 0`,
 *
 *     y = clip(x + p),  p ← x + p − y,  x ← A(P_S(y)).
 *
 * Round 1 is {@linkcode referenceClipRound}. Kernel in and out OIHW.
 */
export function referenceDykstraRounds(
  kernelOIHW: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
  c: number,
  rounds: number,
): Float64Array {
  checkRound(kernelOIHW, cOut, cIn, kh, kw, h, w, c);
  const e = scaleExponent(kernelOIHW);
  if (e === undefined) return new Float64Array(kernelOIHW.length);
  let k: Float64Array = kernelOIHW.map((x) => ldexp(x, -e));
  const cs = ldexp(c, -e);
  const m = cOut * h * w, n = cIn * h * w;
  const p = new Float64Array(m * n);
  for (let t = 0; t < rounds; t++) {
    const z = denseLayerMatrix(k, cOut, cIn, kh, kw, h, w);
    for (let i = 0; i < z.length; i++) z[i] += p[i];
    const y = clipDense(z, m, n, cs);
    for (let i = 0; i < z.length; i++) p[i] = z[i] - y[i];
    k = projectOntoKernel(y, cOut, cIn, kh, kw, h, w);
  }
  return k.map((x) => ldexp(x, e));
}
