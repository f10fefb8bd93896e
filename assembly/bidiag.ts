// Complex Householder bidiagonalisation (Golub–Kahan) to a REAL bidiagonal,
// generic over the element type T (f64: f64x2 lanes; f32: f32x4 lanes).

/** Horizontal sum of a v128 of T lanes, in f64. [a, b] => a + b; [a, b, c, d] => a + b + c + d */
// @ts-ignore: decorator
@inline
function hsum<T>(x: v128): f64 {
  if (sizeof<T>() == 8) {
    return f64x2.extract_lane(x, 0) + f64x2.extract_lane(x, 1);
  }
  return <f64>f32x4.extract_lane(x, 0) + <f64>f32x4.extract_lane(x, 1) +
    <f64>f32x4.extract_lane(x, 2) + <f64>f32x4.extract_lane(x, 3);
}

/**
 * a·b + c per lane: one fused multiply-add where the module is built with
 * relaxed SIMD (its rounding then depends on the CPU), else a multiply and an add.
 */
// @ts-ignore: decorator
@inline
export function madd<T>(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (sizeof<T>() == 8) return f64x2.relaxed_madd(a, b, c);
    return f32x4.relaxed_madd(a, b, c);
  }
  return v128.add<T>(v128.mul<T>(a, b), c);
}

/** c − a·b per lane (fused under relaxed SIMD, as madd). */
// @ts-ignore: decorator
@inline
export function nmadd<T>(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (sizeof<T>() == 8) return f64x2.relaxed_nmadd(a, b, c);
    return f32x4.relaxed_nmadd(a, b, c);
  }
  return v128.sub<T>(c, v128.mul<T>(a, b));
}

/** Columns whose largest entry is below 2^−1000 are taken as zero (the kernel is scaled to max |K| ∈ [0.5, 1)). */
const NEGLIGIBLE: f64 = 9.332636185032189e-302;

// @ts-ignore: decorator
@inline
function splat<T>(x: f64): v128 {
  return v128.splat<T>(<T>x);
}

/**
 * Generates an elementary reflector in LAPACK's zlarfg manner.
 *
 * Given x = (alpha, x[1..p-1]) with x[1..] stored at (xr, xi)[1..], finds tau
 * and v (v[0] = 1) such that Hᴴ x = (beta, 0, …, 0)ᵀ with H = I − tau·v·vᴴ
 * and beta REAL. v[1..] overwrites x[1..]. Returns beta; tau is written to
 * out[0] (re), out[1] (im) as f64. tau = 0 (H = I) when x[1..] = 0 and alpha
 * is real, or when every entry is below 2^−1000 (then beta = 0). The norm is
 * accumulated in f64 after scaling by the largest entry, so no square
 * underflows (LAPACK's dlapy3/dznrm2 concern). With `real` (a constant)
 * the imaginary parts are zero and not read: dlarfg, with the same bits as
 * the complex form on such x (its terms in the imaginary parts are exact zeros).
 */
// @ts-ignore: decorator
@inline
function larfg<T>(alphaR: f64, alphaI: f64, xr: usize, xi: usize, p: i32, out: usize, real: bool): f64 {
  const sz = <usize>sizeof<T>();
  // Scaled norm: no square underflows or overflows whatever the magnitudes.
  let xmax = max<f64>(abs<f64>(alphaR), abs<f64>(alphaI));
  let xtail: f64 = 0.0;
  for (let i = 1; i < p; i++) {
    const x = abs<f64>(<f64>load<T>(xr + <usize>i * sz));
    xtail = max<f64>(xtail, real ? x : max<f64>(x, abs<f64>(<f64>load<T>(xi + <usize>i * sz))));
  }
  xmax = max<f64>(xmax, xtail);
  if ((xtail == 0.0 && alphaI == 0.0) || !(xmax >= NEGLIGIBLE)) {
    // Nothing to annihilate, or a column so small (below 2^−1000, against a
    // matrix scaled to norm ~1) that it is taken as zero: H = I.
    store<f64>(out, 0.0);
    store<f64>(out, 0.0, 8);
    return xmax >= NEGLIGIBLE ? alphaR : 0.0;
  }
  const rs = 1.0 / xmax;
  let ss: f64 = 0.0;
  for (let i = 1; i < p; i++) {
    const a = <f64>load<T>(xr + <usize>i * sz) * rs;
    if (real) {
      ss += a * a;
    } else {
      const b = <f64>load<T>(xi + <usize>i * sz) * rs;
      ss += a * a + b * b;
    }
  }
  const ar = alphaR * rs;
  const ai = alphaI * rs;
  const nrm = xmax * Math.sqrt(ar * ar + ai * ai + ss);
  const beta = alphaR >= 0.0 ? -nrm : nrm;
  store<f64>(out, (beta - alphaR) / beta);
  store<f64>(out, -alphaI / beta, 8);
  // scale = 1 / (alpha − beta), |alpha − beta| ≥ nrm ≥ 2^−1000: no overflow.
  const dr = (alphaR - beta) * rs;
  const di = alphaI * rs;
  const den = dr * dr + di * di;
  const sr = dr / den * rs;
  const si = -di / den * rs;
  for (let i = 1; i < p; i++) {
    const a = <f64>load<T>(xr + <usize>i * sz);
    if (real) {
      store<T>(xr + <usize>i * sz, <T>(a * sr));
    } else {
      const b = <f64>load<T>(xi + <usize>i * sz);
      store<T>(xr + <usize>i * sz, <T>(a * sr - b * si));
      store<T>(xi + <usize>i * sz, <T>(a * si + b * sr));
    }
  }
  return beta;
}

/** Bytes of scratch that bidiag_c64_split / bidiag_c32_split need for leading dimension ld and n columns. */
export function bidiag_work_bytes(ld: i32, n: i32): i32 {
  return (4 * ld + 6 * (n + 2)) * 8 + 32;
}

/**
 * bidiag_c64_split: reduces a complex m×n matrix A (m ≥ n) to a real upper
 * bidiagonal B = Q₁ᴴ A Q₂ with unitary Q₁, Q₂ (Householder reflectors from
 * the left on columns, from the right on rows, alternately). The singular
 * values of B are those of A.
 *
 * Layout: column-major, re/im split: A[i, j] = (ar[i + j·ld], ai[i + j·ld]).
 * ld is a multiple of the lane count (2 for f64), ld ≥ m, and rows m..ld−1 of
 * every column are ZERO on entry (the SIMD loops run over whole lane groups;
 * zero rows stay zero).
 *
 * Arguments:
 *   ar, ai [in,out] T[ld·n]    the matrix; destroyed
 *   m, n   [in]                1 ≤ n ≤ m ≤ ld
 *   ld     [in]                leading dimension
 *   d      [out] f64[n]        diagonal of B
 *   e      [out] f64[n]        superdiagonal of B: e[j] couples j−1 and j; e[0] = 0
 *   work   [in]  scratch of bidiag_work_bytes(ld, n) bytes, 16-byte aligned
 *   taus   [out] f64[4n] or 0: when non-zero the reflectors are kept for the
 *                back-transformation (LAPACK zgebrd's storage): left reflector k
 *                has v[k] = 1 and v[k+1..m-1] in A[k+1.., k], tau at taus[2k],
 *                taus[2k+1]; right reflector k (acting on columns k+1..n-1) has
 *                z[0] = 1 and z[1..] in A[k, k+2..], tau at taus[2n+2k], taus[2n+2k+1].
 *
 * Cost: ≈ 32·Σ_k (m−k)(n−k) real flops (≈ 10.7·n³ for square A), in two
 * fused sweeps over the trailing columns per step (see bidiagFused) where
 * the textbook order takes four, with the same results bit for bit.
 * Returns 0. Never throws; NaN propagates into d and e.
 */
export function bidiag_c64_split(ar: usize, ai: usize, m: i32, n: i32, ld: i32, d: usize, e: usize, work: usize,
  taus: usize): i32 {
  return bidiagFused<f64>(ar, ai, m, n, ld, d, e, work, taus, false);
}

/**
 * bidiag_c32_split: bidiag_c64_split in f32 (f32x4 lanes): A is f32[ld·n] per
 * plane and ld a multiple of 4; d, e, taus stay f64 (computed from f32 data).
 * Accuracy is that of f32 arithmetic: about 1e−7·‖A‖·√n per entry.
 */
export function bidiag_c32_split(ar: usize, ai: usize, m: i32, n: i32, ld: i32, d: usize, e: usize, work: usize,
  taus: usize): i32 {
  return bidiagFused<f32>(ar, ai, m, n, ld, d, e, work, taus, false);
}

/**
 * bidiag_r64_split / bidiag_r32_split: bidiag_c64_split / bidiag_c32_split
 * for a matrix whose imaginary plane is zero: the imaginary plane is neither
 * read nor written, a quarter of the arithmetic, and d, e and the kept
 * reflectors (taus' imaginary parts zero) are the complex form's bit for bit,
 * up to the sign of a zero (the complex form's extra terms are exact zeros).
 */
export function bidiag_r64_split(ar: usize, m: i32, n: i32, ld: i32, d: usize, e: usize, work: usize,
  taus: usize): i32 {
  return bidiagFused<f64>(ar, 0, m, n, ld, d, e, work, taus, true);
}

/** bidiag_r64_split in f32 (f32x4 lanes). */
export function bidiag_r32_split(ar: usize, m: i32, n: i32, ld: i32, d: usize, e: usize, work: usize,
  taus: usize): i32 {
  return bidiagFused<f32>(ar, 0, m, n, ld, d, e, work, taus, true);
}

/**
 * bidiag_c64_split (T = f64) or bidiag_c32_split (T = f32), taking the real
 * form where A's imaginary plane is zero (the same values: see
 * bidiag_r64_split); returns whether it did, so that a caller applying the
 * reflectors can stay real too.
 */
export function bidiagSplit<T>(ar: usize, ai: usize, m: i32, n: i32, ld: i32, d: usize, e: usize, work: usize,
  taus: usize): bool {
  const real = isZero<T>(ai, m, n, <usize>ld * <usize>sizeof<T>());
  if (sizeof<T>() == 8) {
    if (real) bidiag_r64_split(ar, m, n, ld, d, e, work, taus);
    else bidiag_c64_split(ar, ai, m, n, ld, d, e, work, taus);
  } else {
    if (real) bidiag_r32_split(ar, m, n, ld, d, e, work, taus);
    else bidiag_c32_split(ar, ai, m, n, ld, d, e, work, taus);
  }
  return real;
}

/** Whether rows 0..m−1 of the n columns (ldb bytes apart) at a are all zero. */
// @ts-ignore: decorator
@inline
function isZero<T>(a: usize, m: i32, n: i32, ldb: usize): bool {
  const sz = <usize>sizeof<T>();
  for (let j = 0; j < n; j++) {
    const col = a + <usize>j * ldb;
    for (let i = 0; i < m; i++) if (load<T>(col + <usize>i * sz) != <T>0) return false;
  }
  return true;
}

/**
 * applyLeft on real A and v (imaginary planes zero, not touched) with a real
 * tau: A[i0.., j0..n−1] −= v·(tau·vᵀA[:, j]), four columns per pass; the
 * complex form's operations without its exact-zero terms (the same bits).
 */
export function applyLeftReal(ar: usize, ldb: usize, i0: i32, ld: i32, j0: i32, n: i32, vr: usize, tr: f64): void {
  const start = <usize>i0 << 3;
  const end = <usize>ld << 3;
  let j = j0;
  for (; j + 3 < n; j += 4) {
    const a0 = ar + <usize>j * ldb;
    const a1 = a0 + ldb;
    const a2 = a1 + ldb;
    const a3 = a2 + ldb;
    let w0 = f64x2.splat(0.0);
    let w1 = f64x2.splat(0.0);
    let w2 = f64x2.splat(0.0);
    let w3 = f64x2.splat(0.0);
    for (let o = start; o < end; o += 16) {
      const x = v128.load(vr + o);
      w0 = madd<f64>(x, v128.load(a0 + o), w0);
      w1 = madd<f64>(x, v128.load(a1 + o), w1);
      w2 = madd<f64>(x, v128.load(a2 + o), w2);
      w3 = madd<f64>(x, v128.load(a3 + o), w3);
    }
    const c0 = f64x2.splat(tr * hsum<f64>(w0));
    const c1 = f64x2.splat(tr * hsum<f64>(w1));
    const c2 = f64x2.splat(tr * hsum<f64>(w2));
    const c3 = f64x2.splat(tr * hsum<f64>(w3));
    for (let o = start; o < end; o += 16) {
      const x = v128.load(vr + o);
      v128.store(a0 + o, nmadd<f64>(x, c0, v128.load(a0 + o)));
      v128.store(a1 + o, nmadd<f64>(x, c1, v128.load(a1 + o)));
      v128.store(a2 + o, nmadd<f64>(x, c2, v128.load(a2 + o)));
      v128.store(a3 + o, nmadd<f64>(x, c3, v128.load(a3 + o)));
    }
  }
  for (; j < n; j++) {
    const a0 = ar + <usize>j * ldb;
    let w0 = f64x2.splat(0.0);
    for (let o = start; o < end; o += 16) w0 = madd<f64>(v128.load(vr + o), v128.load(a0 + o), w0);
    const c0 = f64x2.splat(tr * hsum<f64>(w0));
    for (let o = start; o < end; o += 16) {
      v128.store(a0 + o, nmadd<f64>(v128.load(vr + o), c0, v128.load(a0 + o)));
    }
  }
}

/**
 * A[i0.., j0..n-1] −= v · (conj(tau) · vᴴ A[:, j]) for each column j, two
 * columns per pass so each load of v serves both. Lanes run over rows:
 *   [vr(i), vr(i+1), …] against [ar(i, j), ar(i+1, j), …]
 * ldb is the column stride in bytes; rows i0..ld−1 are visited (i0 a lane multiple).
 */
export function applyLeft<T>(ar: usize, ai: usize, ldb: usize, i0: i32, ld: i32, j0: i32, n: i32,
  vr: usize, vi: usize, tr: f64, ti: f64): void {
  const sz = <usize>sizeof<T>();
  const start = <usize>i0 * sz;
  const end = <usize>ld * sz;
  let j = j0;
  for (; j + 3 < n; j += 4) {
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    const ar1 = ar0 + ldb;
    const ai1 = ai0 + ldb;
    const ar2 = ar1 + ldb;
    const ai2 = ai1 + ldb;
    const ar3 = ar2 + ldb;
    const ai3 = ai2 + ldb;
    let w0r = splat<T>(0.0);
    let w0i = splat<T>(0.0);
    let w1r = splat<T>(0.0);
    let w1i = splat<T>(0.0);
    let w2r = splat<T>(0.0);
    let w2i = splat<T>(0.0);
    let w3r = splat<T>(0.0);
    let w3i = splat<T>(0.0);
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      let pr = v128.load(ar0 + o);
      let pi = v128.load(ai0 + o);
      w0r = madd<T>(xr, pr, madd<T>(xi, pi, w0r));
      w0i = madd<T>(xr, pi, nmadd<T>(xi, pr, w0i));
      pr = v128.load(ar1 + o);
      pi = v128.load(ai1 + o);
      w1r = madd<T>(xr, pr, madd<T>(xi, pi, w1r));
      w1i = madd<T>(xr, pi, nmadd<T>(xi, pr, w1i));
      pr = v128.load(ar2 + o);
      pi = v128.load(ai2 + o);
      w2r = madd<T>(xr, pr, madd<T>(xi, pi, w2r));
      w2i = madd<T>(xr, pi, nmadd<T>(xi, pr, w2i));
      pr = v128.load(ar3 + o);
      pi = v128.load(ai3 + o);
      w3r = madd<T>(xr, pr, madd<T>(xi, pi, w3r));
      w3i = madd<T>(xr, pi, nmadd<T>(xi, pr, w3i));
    }
    const s0r = hsum<T>(w0r);
    const s0i = hsum<T>(w0i);
    const s1r = hsum<T>(w1r);
    const s1i = hsum<T>(w1i);
    const s2r = hsum<T>(w2r);
    const s2i = hsum<T>(w2i);
    const s3r = hsum<T>(w3r);
    const s3i = hsum<T>(w3i);
    const c0r = splat<T>(tr * s0r + ti * s0i);
    const c0i = splat<T>(tr * s0i - ti * s0r);
    const c1r = splat<T>(tr * s1r + ti * s1i);
    const c1i = splat<T>(tr * s1i - ti * s1r);
    const c2r = splat<T>(tr * s2r + ti * s2i);
    const c2i = splat<T>(tr * s2i - ti * s2r);
    const c3r = splat<T>(tr * s3r + ti * s3i);
    const c3i = splat<T>(tr * s3i - ti * s3r);
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      v128.store(ar0 + o, nmadd<T>(xr, c0r, madd<T>(xi, c0i, v128.load(ar0 + o))));
      v128.store(ai0 + o, nmadd<T>(xr, c0i, nmadd<T>(xi, c0r, v128.load(ai0 + o))));
      v128.store(ar1 + o, nmadd<T>(xr, c1r, madd<T>(xi, c1i, v128.load(ar1 + o))));
      v128.store(ai1 + o, nmadd<T>(xr, c1i, nmadd<T>(xi, c1r, v128.load(ai1 + o))));
      v128.store(ar2 + o, nmadd<T>(xr, c2r, madd<T>(xi, c2i, v128.load(ar2 + o))));
      v128.store(ai2 + o, nmadd<T>(xr, c2i, nmadd<T>(xi, c2r, v128.load(ai2 + o))));
      v128.store(ar3 + o, nmadd<T>(xr, c3r, madd<T>(xi, c3i, v128.load(ar3 + o))));
      v128.store(ai3 + o, nmadd<T>(xr, c3i, nmadd<T>(xi, c3r, v128.load(ai3 + o))));
    }
  }
  for (; j + 1 < n; j += 2) {
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    const ar1 = ar0 + ldb;
    const ai1 = ai0 + ldb;
    // w = vᴴ a = Σ (vr ar + vi ai) + i (vr ai − vi ar)
    let w0r = splat<T>(0.0);
    let w0i = splat<T>(0.0);
    let w1r = splat<T>(0.0);
    let w1i = splat<T>(0.0);
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      const a0r = v128.load(ar0 + o);
      const a0i = v128.load(ai0 + o);
      const a1r = v128.load(ar1 + o);
      const a1i = v128.load(ai1 + o);
      w0r = madd<T>(xr, a0r, madd<T>(xi, a0i, w0r));
      w0i = madd<T>(xr, a0i, nmadd<T>(xi, a0r, w0i));
      w1r = madd<T>(xr, a1r, madd<T>(xi, a1i, w1r));
      w1i = madd<T>(xr, a1i, nmadd<T>(xi, a1r, w1i));
    }
    const s0r = hsum<T>(w0r);
    const s0i = hsum<T>(w0i);
    const s1r = hsum<T>(w1r);
    const s1i = hsum<T>(w1i);
    // c = conj(tau) · w
    const c0r = splat<T>(tr * s0r + ti * s0i);
    const c0i = splat<T>(tr * s0i - ti * s0r);
    const c1r = splat<T>(tr * s1r + ti * s1i);
    const c1i = splat<T>(tr * s1i - ti * s1r);
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      v128.store(ar0 + o, nmadd<T>(xr, c0r, madd<T>(xi, c0i, v128.load(ar0 + o))));
      v128.store(ai0 + o, nmadd<T>(xr, c0i, nmadd<T>(xi, c0r, v128.load(ai0 + o))));
      v128.store(ar1 + o, nmadd<T>(xr, c1r, madd<T>(xi, c1i, v128.load(ar1 + o))));
      v128.store(ai1 + o, nmadd<T>(xr, c1i, nmadd<T>(xi, c1r, v128.load(ai1 + o))));
    }
  }
  for (; j < n; j++) {
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    let w0r = splat<T>(0.0);
    let w0i = splat<T>(0.0);
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      const a0r = v128.load(ar0 + o);
      const a0i = v128.load(ai0 + o);
      w0r = madd<T>(xr, a0r, madd<T>(xi, a0i, w0r));
      w0i = madd<T>(xr, a0i, nmadd<T>(xi, a0r, w0i));
    }
    const s0r = hsum<T>(w0r);
    const s0i = hsum<T>(w0i);
    const c0r = splat<T>(tr * s0r + ti * s0i);
    const c0i = splat<T>(tr * s0i - ti * s0r);
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      v128.store(ar0 + o, nmadd<T>(xr, c0r, madd<T>(xi, c0i, v128.load(ar0 + o))));
      v128.store(ai0 + o, nmadd<T>(xr, c0i, nmadd<T>(xi, c0r, v128.load(ai0 + o))));
    }
  }
}

// ---------------------------------------------------------------------------
// The fused sweeps (Howell et al.'s "BLAS 2.5" idea, as in Van Zee, van de
// Geijn & Quintana-Ortí's fused bidiagonalisation): the right update of step
// k shares one pass over the trailing columns with the dot products of step
// k+1's left reflector, and step k+1's left update shares one with y = A·z of
// its right reflector. Each trailing entry is then read and written twice per
// step instead of read four times and written twice; the arithmetic, and so
// every rounding, is that of the two-sided algorithm step by step (same
// operations in the same order), only interleaved.

/**
 * Left reflector of column k (rows k..m−1): v into (vr, vi) over rows
 * i0..ld−1 (zero above k and from m), d[k] = beta, tau at `tau`; with taus,
 * tau and v[k+1..] are kept (zgebrd storage). With `real`, the imaginary
 * planes are neither read nor written. Returns nothing.
 */
// @ts-ignore: decorator
@inline
function leftReflector<T>(ar: usize, ai: usize, ldb: usize, k: i32, m: i32, ld: i32, vr: usize, vi: usize,
  d: usize, tau: usize, taus: usize, real: bool): void {
  const sz = <usize>sizeof<T>();
  const lanes = 16 / <i32>sizeof<T>();
  const colr = ar + <usize>k * ldb;
  const coli = ai + <usize>k * ldb;
  const i0 = k - k % lanes;
  for (let i = i0; i < ld; i++) {
    const ok = i > k && i < m;
    store<T>(vr + <usize>i * sz, ok ? load<T>(colr + <usize>i * sz) : <T>0);
    if (!real) store<T>(vi + <usize>i * sz, ok ? load<T>(coli + <usize>i * sz) : <T>0);
  }
  const aR = <f64>load<T>(colr + <usize>k * sz);
  const aI = real ? 0.0 : <f64>load<T>(coli + <usize>k * sz);
  const beta = larfg<T>(aR, aI, vr + <usize>k * sz, vi + <usize>k * sz, m - k, tau, real);
  store<T>(vr + <usize>k * sz, <T>1);
  if (!real) store<T>(vi + <usize>k * sz, <T>0);
  store<f64>(d + (<usize>k << 3), beta);
  if (taus != 0) {
    store<f64>(taus + (<usize>(2 * k) << 3), load<f64>(tau));
    store<f64>(taus + (<usize>(2 * k + 1) << 3), load<f64>(tau, 8));
    for (let i = k + 1; i < m; i++) {
      store<T>(colr + <usize>i * sz, load<T>(vr + <usize>i * sz));
      if (!real) store<T>(coli + <usize>i * sz, load<T>(vi + <usize>i * sz));
    }
  }
}

/**
 * Sweep 1 over columns j0..n−1, rows from byte `start` to `end`:
 *   a_j −= y·c_j   (c_j = (cr, ci)[j − j0], the right update; c = 0: none)
 *   w_j  = vᴴ a_j  (written to (wr, wi)[j − j0] as f64)
 */
// @ts-ignore: decorator
@inline
function sweepRightDot<T>(ar: usize, ai: usize, ldb: usize, start: usize, end: usize, j0: i32, n: i32,
  yr: usize, yi: usize, cr: usize, ci: usize, vr: usize, vi: usize, wr: usize, wi: usize): void {
  let j = j0;
  for (; j + 1 < n; j += 2) {
    const q = <usize>(j - j0) << 3;
    const c0r = splat<T>(load<f64>(cr + q));
    const c0i = splat<T>(load<f64>(ci + q));
    const c1r = splat<T>(load<f64>(cr + q, 8));
    const c1i = splat<T>(load<f64>(ci + q, 8));
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    const ar1 = ar0 + ldb;
    const ai1 = ai0 + ldb;
    let w0r = splat<T>(0.0);
    let w0i = splat<T>(0.0);
    let w1r = splat<T>(0.0);
    let w1i = splat<T>(0.0);
    for (let o = start; o < end; o += 16) {
      const sr = v128.load(yr + o);
      const si = v128.load(yi + o);
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      const p0r = nmadd<T>(sr, c0r, madd<T>(si, c0i, v128.load(ar0 + o)));
      const p0i = nmadd<T>(sr, c0i, nmadd<T>(si, c0r, v128.load(ai0 + o)));
      v128.store(ar0 + o, p0r);
      v128.store(ai0 + o, p0i);
      w0r = madd<T>(xr, p0r, madd<T>(xi, p0i, w0r));
      w0i = madd<T>(xr, p0i, nmadd<T>(xi, p0r, w0i));
      const p1r = nmadd<T>(sr, c1r, madd<T>(si, c1i, v128.load(ar1 + o)));
      const p1i = nmadd<T>(sr, c1i, nmadd<T>(si, c1r, v128.load(ai1 + o)));
      v128.store(ar1 + o, p1r);
      v128.store(ai1 + o, p1i);
      w1r = madd<T>(xr, p1r, madd<T>(xi, p1i, w1r));
      w1i = madd<T>(xr, p1i, nmadd<T>(xi, p1r, w1i));
    }
    store<f64>(wr + q, hsum<T>(w0r));
    store<f64>(wi + q, hsum<T>(w0i));
    store<f64>(wr + q, hsum<T>(w1r), 8);
    store<f64>(wi + q, hsum<T>(w1i), 8);
  }
  if (j < n) {
    const q = <usize>(j - j0) << 3;
    const c0r = splat<T>(load<f64>(cr + q));
    const c0i = splat<T>(load<f64>(ci + q));
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    let w0r = splat<T>(0.0);
    let w0i = splat<T>(0.0);
    for (let o = start; o < end; o += 16) {
      const sr = v128.load(yr + o);
      const si = v128.load(yi + o);
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      const p0r = nmadd<T>(sr, c0r, madd<T>(si, c0i, v128.load(ar0 + o)));
      const p0i = nmadd<T>(sr, c0i, nmadd<T>(si, c0r, v128.load(ai0 + o)));
      v128.store(ar0 + o, p0r);
      v128.store(ai0 + o, p0i);
      w0r = madd<T>(xr, p0r, madd<T>(xi, p0i, w0r));
      w0i = madd<T>(xr, p0i, nmadd<T>(xi, p0r, w0i));
    }
    store<f64>(wr + q, hsum<T>(w0r));
    store<f64>(wi + q, hsum<T>(w0i));
  }
}

/**
 * Sweep 2 over columns j0..n−1, rows from byte `start` to `end`:
 *   a_j −= v·c_j        (c_j = (cr, ci)[j − j0], the left update)
 *   y   += a_j·z_{j−j0} (z = (zr, zi) in T)
 * y is zeroed first over the rows swept.
 */
// @ts-ignore: decorator
@inline
function sweepLeftGemv<T>(ar: usize, ai: usize, ldb: usize, start: usize, end: usize, j0: i32, n: i32,
  vr: usize, vi: usize, cr: usize, ci: usize, zr: usize, zi: usize, yr: usize, yi: usize): void {
  const sz = <usize>sizeof<T>();
  for (let o = start; o < end; o += 16) {
    v128.store(yr + o, splat<T>(0.0));
    v128.store(yi + o, splat<T>(0.0));
  }
  let j = j0;
  for (; j + 1 < n; j += 2) {
    const q = <usize>(j - j0) << 3;
    const qz = <usize>(j - j0) * sz;
    const c0r = splat<T>(load<f64>(cr + q));
    const c0i = splat<T>(load<f64>(ci + q));
    const c1r = splat<T>(load<f64>(cr + q, 8));
    const c1i = splat<T>(load<f64>(ci + q, 8));
    const z0r = v128.splat<T>(load<T>(zr + qz));
    const z0i = v128.splat<T>(load<T>(zi + qz));
    const z1r = v128.splat<T>(load<T>(zr + qz + sz));
    const z1i = v128.splat<T>(load<T>(zi + qz + sz));
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    const ar1 = ar0 + ldb;
    const ai1 = ai0 + ldb;
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      const p0r = nmadd<T>(xr, c0r, madd<T>(xi, c0i, v128.load(ar0 + o)));
      const p0i = nmadd<T>(xr, c0i, nmadd<T>(xi, c0r, v128.load(ai0 + o)));
      v128.store(ar0 + o, p0r);
      v128.store(ai0 + o, p0i);
      const p1r = nmadd<T>(xr, c1r, madd<T>(xi, c1i, v128.load(ar1 + o)));
      const p1i = nmadd<T>(xr, c1i, nmadd<T>(xi, c1r, v128.load(ai1 + o)));
      v128.store(ar1 + o, p1r);
      v128.store(ai1 + o, p1i);
      let sr = v128.load(yr + o);
      let si = v128.load(yi + o);
      sr = madd<T>(p0r, z0r, nmadd<T>(p0i, z0i, sr));
      si = madd<T>(p0r, z0i, madd<T>(p0i, z0r, si));
      sr = madd<T>(p1r, z1r, nmadd<T>(p1i, z1i, sr));
      si = madd<T>(p1r, z1i, madd<T>(p1i, z1r, si));
      v128.store(yr + o, sr);
      v128.store(yi + o, si);
    }
  }
  if (j < n) {
    const q = <usize>(j - j0) << 3;
    const qz = <usize>(j - j0) * sz;
    const c0r = splat<T>(load<f64>(cr + q));
    const c0i = splat<T>(load<f64>(ci + q));
    const z0r = v128.splat<T>(load<T>(zr + qz));
    const z0i = v128.splat<T>(load<T>(zi + qz));
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      const p0r = nmadd<T>(xr, c0r, madd<T>(xi, c0i, v128.load(ar0 + o)));
      const p0i = nmadd<T>(xr, c0i, nmadd<T>(xi, c0r, v128.load(ai0 + o)));
      v128.store(ar0 + o, p0r);
      v128.store(ai0 + o, p0i);
      let sr = v128.load(yr + o);
      let si = v128.load(yi + o);
      sr = madd<T>(p0r, z0r, nmadd<T>(p0i, z0i, sr));
      si = madd<T>(p0r, z0i, madd<T>(p0i, z0r, si));
      v128.store(yr + o, sr);
      v128.store(yi + o, si);
    }
  }
}

/**
 * sweepRightDot on a real matrix (imaginary planes zero and not touched):
 *   a_j −= y·c_j, w_j = vᵀ a_j
 * the same operations as the complex sweep without its exact-zero terms.
 */
// @ts-ignore: decorator
@inline
function sweepRightDotReal<T>(ar: usize, ldb: usize, start: usize, end: usize, j0: i32, n: i32,
  yr: usize, cr: usize, vr: usize, wr: usize): void {
  let j = j0;
  for (; j + 1 < n; j += 2) {
    const q = <usize>(j - j0) << 3;
    const c0 = splat<T>(load<f64>(cr + q));
    const c1 = splat<T>(load<f64>(cr + q, 8));
    const a0 = ar + <usize>j * ldb;
    const a1 = a0 + ldb;
    let w0 = splat<T>(0.0);
    let w1 = splat<T>(0.0);
    for (let o = start; o < end; o += 16) {
      const y = v128.load(yr + o);
      const x = v128.load(vr + o);
      const p0 = nmadd<T>(y, c0, v128.load(a0 + o));
      const p1 = nmadd<T>(y, c1, v128.load(a1 + o));
      v128.store(a0 + o, p0);
      v128.store(a1 + o, p1);
      w0 = madd<T>(x, p0, w0);
      w1 = madd<T>(x, p1, w1);
    }
    store<f64>(wr + q, hsum<T>(w0));
    store<f64>(wr + q, hsum<T>(w1), 8);
  }
  if (j < n) {
    const q = <usize>(j - j0) << 3;
    const c0 = splat<T>(load<f64>(cr + q));
    const a0 = ar + <usize>j * ldb;
    let w0 = splat<T>(0.0);
    for (let o = start; o < end; o += 16) {
      const p0 = nmadd<T>(v128.load(yr + o), c0, v128.load(a0 + o));
      v128.store(a0 + o, p0);
      w0 = madd<T>(v128.load(vr + o), p0, w0);
    }
    store<f64>(wr + q, hsum<T>(w0));
  }
}

/**
 * sweepLeftGemv on a real matrix (imaginary planes zero and not touched):
 *   a_j −= v·c_j, y += a_j·z_j
 * the same operations as the complex sweep without its exact-zero terms.
 */
// @ts-ignore: decorator
@inline
function sweepLeftGemvReal<T>(ar: usize, ldb: usize, start: usize, end: usize, j0: i32, n: i32,
  vr: usize, cr: usize, zr: usize, yr: usize): void {
  const sz = <usize>sizeof<T>();
  for (let o = start; o < end; o += 16) v128.store(yr + o, splat<T>(0.0));
  let j = j0;
  for (; j + 1 < n; j += 2) {
    const q = <usize>(j - j0) << 3;
    const qz = <usize>(j - j0) * sz;
    const c0 = splat<T>(load<f64>(cr + q));
    const c1 = splat<T>(load<f64>(cr + q, 8));
    const z0 = v128.splat<T>(load<T>(zr + qz));
    const z1 = v128.splat<T>(load<T>(zr + qz + sz));
    const a0 = ar + <usize>j * ldb;
    const a1 = a0 + ldb;
    for (let o = start; o < end; o += 16) {
      const x = v128.load(vr + o);
      const p0 = nmadd<T>(x, c0, v128.load(a0 + o));
      const p1 = nmadd<T>(x, c1, v128.load(a1 + o));
      v128.store(a0 + o, p0);
      v128.store(a1 + o, p1);
      v128.store(yr + o, madd<T>(p1, z1, madd<T>(p0, z0, v128.load(yr + o))));
    }
  }
  if (j < n) {
    const q = <usize>(j - j0) << 3;
    const qz = <usize>(j - j0) * sz;
    const c0 = splat<T>(load<f64>(cr + q));
    const z0 = v128.splat<T>(load<T>(zr + qz));
    const a0 = ar + <usize>j * ldb;
    for (let o = start; o < end; o += 16) {
      const p0 = nmadd<T>(v128.load(vr + o), c0, v128.load(a0 + o));
      v128.store(a0 + o, p0);
      v128.store(yr + o, madd<T>(p0, z0, v128.load(yr + o)));
    }
  }
}

// @ts-ignore: decorator
@inline
function bidiagFused<T>(ar: usize, ai: usize, m: i32, n: i32, ld: i32, d: usize, e: usize, work: usize,
  taus: usize, real: bool): i32 {
  const sz = <usize>sizeof<T>();
  const lanes = 16 / <i32>sizeof<T>();
  const ldb = <usize>ld * sz;
  const nb = <usize>(n + 2) << 3;
  const vr = (work + 15) & ~(<usize>15);
  const vi = vr + ldb;
  const yr = vi + ldb;
  const yi = yr + ldb;
  const zr = yi + ldb; // T[n + 2]
  const zi = zr + nb;
  const cr = zi + nb; // f64[n + 2]: left coefficients conj(tau)·w_j, then reused
  const ci = cr + nb;
  const gr = ci + nb; // f64[n + 2]: right coefficients tau2·conj(z_j)
  const gi = gr + nb;
  const tau = gi + nb; // 2 f64
  const end = <usize>ld * sz;
  store<f64>(e, 0.0);
  // Step 0's left reflector and its dots (no right update before it).
  leftReflector<T>(ar, ai, ldb, 0, m, ld, vr, vi, d, tau, taus, real);
  if (n == 1) {
    if (taus != 0) {
      store<f64>(taus + (<usize>(2 * n) << 3), 0.0);
      store<f64>(taus + (<usize>(2 * n + 1) << 3), 0.0);
    }
    return 0;
  }
  // y = 0, g = 0: sweep 1 then only takes the dots.
  for (let o: usize = 0; o < end; o += 16) {
    v128.store(yr + o, splat<T>(0.0));
    v128.store(yi + o, splat<T>(0.0));
  }
  for (let j = 0; j < n; j++) {
    store<f64>(gr + (<usize>j << 3), 0.0);
    store<f64>(gi + (<usize>j << 3), 0.0);
  }
  if (real) sweepRightDotReal<T>(ar, ldb, 0, end, 1, n, yr, gr, vr, cr);
  else sweepRightDot<T>(ar, ai, ldb, 0, end, 1, n, yr, yi, gr, gi, vr, vi, cr, ci);
  for (let k = 0; k < n - 1; k++) {
    // Left reflector k is in v with tau, the dots w_j (j = k+1..n−1) in (cr, ci).
    const tr = load<f64>(tau);
    const ti = load<f64>(tau, 8);
    const p = n - k - 1;
    // c_j = conj(tau)·w_j; row k after the left update: x_j = A[k, j] − c_j; z = conj(x).
    for (let j = 0; j < p; j++) {
      const q = <usize>j << 3;
      const off = <usize>(k + 1 + j) * ldb + <usize>k * sz;
      const sr = load<f64>(cr + q);
      if (real) {
        const c0r = <T>(tr * sr);
        store<f64>(cr + q, <f64>c0r);
        store<T>(zr + <usize>j * sz, <T>(load<T>(ar + off) - c0r));
        continue;
      }
      const si = load<f64>(ci + q);
      const c0r = <T>(tr * sr + ti * si);
      const c0i = <T>(tr * si - ti * sr);
      store<f64>(cr + q, <f64>c0r);
      store<f64>(ci + q, <f64>c0i);
      store<T>(zr + <usize>j * sz, <T>(load<T>(ar + off) - c0r));
      store<T>(zi + <usize>j * sz, <T>(c0i - load<T>(ai + off)));
    }
    const beta2 = larfg<T>(<f64>load<T>(zr), real ? 0.0 : <f64>load<T>(zi), zr, zi, p, tau, real);
    store<T>(zr, <T>1);
    store<T>(zi, <T>0);
    store<f64>(e + (<usize>(k + 1) << 3), beta2);
    const ur = load<f64>(tau);
    const ui = load<f64>(tau, 8);
    // Sweep 2: left update of columns k+1..n−1 with y = A[k+1.., :]·z.
    const i0 = k - k % lanes;
    if (real) sweepLeftGemvReal<T>(ar, ldb, <usize>i0 * sz, end, k + 1, n, vr, cr, zr, yr);
    else sweepLeftGemv<T>(ar, ai, ldb, <usize>i0 * sz, end, k + 1, n, vr, vi, cr, ci, zr, zi, yr, yi);
    for (let i = i0; i <= k; i++) {
      store<T>(yr + <usize>i * sz, <T>0);
      store<T>(yi + <usize>i * sz, <T>0);
    }
    if (taus != 0) {
      store<f64>(taus + (<usize>(2 * n + 2 * k) << 3), ur);
      store<f64>(taus + (<usize>(2 * n + 2 * k + 1) << 3), ui);
      for (let j = 1; j < p; j++) {
        const off = <usize>(k + 1 + j) * ldb + <usize>k * sz;
        store<T>(ar + off, load<T>(zr + <usize>j * sz));
        if (!real) store<T>(ai + off, load<T>(zi + <usize>j * sz));
      }
    }
    // g_j = tau2·conj(z_j).
    for (let j = 0; j < p; j++) {
      const p0r = <f64>load<T>(zr + <usize>j * sz);
      if (real) {
        store<f64>(gr + (<usize>j << 3), <f64><T>(ur * p0r));
        continue;
      }
      const p0i = <f64>load<T>(zi + <usize>j * sz);
      store<f64>(gr + (<usize>j << 3), <f64><T>(ur * p0r + ui * p0i));
      store<f64>(gi + (<usize>j << 3), <f64><T>(ui * p0r - ur * p0i));
    }
    // Right update of column k+1, then its left reflector.
    const i1 = (k + 1) - (k + 1) % lanes;
    const start1 = <usize>i1 * sz;
    {
      const c0r = splat<T>(load<f64>(gr));
      const c0i = splat<T>(load<f64>(gi));
      const ar0 = ar + <usize>(k + 1) * ldb;
      const ai0 = ai + <usize>(k + 1) * ldb;
      for (let o = start1; o < end; o += 16) {
        const sr = v128.load(yr + o);
        if (real) {
          v128.store(ar0 + o, nmadd<T>(sr, c0r, v128.load(ar0 + o)));
          continue;
        }
        const si = v128.load(yi + o);
        v128.store(ar0 + o, nmadd<T>(sr, c0r, madd<T>(si, c0i, v128.load(ar0 + o))));
        v128.store(ai0 + o, nmadd<T>(sr, c0i, nmadd<T>(si, c0r, v128.load(ai0 + o))));
      }
    }
    leftReflector<T>(ar, ai, ldb, k + 1, m, ld, vr, vi, d, tau, taus, real);
    if (k + 1 == n - 1) {
      if (taus != 0) {
        store<f64>(taus + (<usize>(2 * n + 2 * (k + 1)) << 3), 0.0);
        store<f64>(taus + (<usize>(2 * n + 2 * (k + 1) + 1) << 3), 0.0);
      }
      break;
    }
    // Sweep 1: right update of columns k+2..n−1 with the dots of the next left reflector.
    if (real) sweepRightDotReal<T>(ar, ldb, start1, end, k + 2, n, yr, gr + 8, vr, cr);
    else sweepRightDot<T>(ar, ai, ldb, start1, end, k + 2, n, yr, yi, gr + 8, gi + 8, vr, vi, cr, ci);
  }
  return 0;
}
