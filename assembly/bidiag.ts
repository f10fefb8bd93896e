// Complex Householder bidiagonalisation (Golub–Kahan) to a REAL bidiagonal.

/**
 * Generates an elementary reflector in LAPACK's zlarfg manner.
 *
 * Given x = (alpha, x[1..p-1]) with x[1..] stored at (xr, xi)[1..] (stride 8
 * bytes), finds tau and v (v[0] = 1) such that
 * Hᴴ x = (beta, 0, …, 0)ᵀ with H = I − tau·v·vᴴ and beta REAL. v[1..]
 * overwrites x[1..]. Returns beta; tau is written to out[0] (re), out[1] (im).
 * tau = 0 (H = I) when x[1..] = 0 and alpha is real.
 */
// @ts-ignore: decorator
@inline
function larfg(alphaR: f64, alphaI: f64, xr: usize, xi: usize, p: i32, out: usize): f64 {
  let ss: f64 = 0.0;
  let i = 1;
  let acc = f64x2.splat(0.0);
  for (; i + 1 < p; i += 2) {
    const a = v128.load(xr + (<usize>i << 3));
    const b = v128.load(xi + (<usize>i << 3));
    acc = f64x2.add(acc, f64x2.add(f64x2.mul(a, a), f64x2.mul(b, b)));
  }
  ss = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < p; i++) {
    const a = load<f64>(xr + (<usize>i << 3));
    const b = load<f64>(xi + (<usize>i << 3));
    ss += a * a + b * b;
  }
  if (ss == 0.0 && alphaI == 0.0) {
    store<f64>(out, 0.0);
    store<f64>(out, 0.0, 8);
    return alphaR;
  }
  const nrm = Math.sqrt(alphaR * alphaR + alphaI * alphaI + ss);
  const beta = alphaR >= 0.0 ? -nrm : nrm;
  store<f64>(out, (beta - alphaR) / beta);
  store<f64>(out, -alphaI / beta, 8);
  // scale = 1 / (alpha − beta)
  const dr = alphaR - beta;
  const di = alphaI;
  const den = dr * dr + di * di;
  const sr = dr / den;
  const si = -di / den;
  const vsr = f64x2.splat(sr);
  const vsi = f64x2.splat(si);
  i = 1;
  for (; i + 1 < p; i += 2) {
    const a = v128.load(xr + (<usize>i << 3));
    const b = v128.load(xi + (<usize>i << 3));
    v128.store(xr + (<usize>i << 3), f64x2.sub(f64x2.mul(a, vsr), f64x2.mul(b, vsi)));
    v128.store(xi + (<usize>i << 3), f64x2.add(f64x2.mul(a, vsi), f64x2.mul(b, vsr)));
  }
  for (; i < p; i++) {
    const a = load<f64>(xr + (<usize>i << 3));
    const b = load<f64>(xi + (<usize>i << 3));
    store<f64>(xr + (<usize>i << 3), a * sr - b * si);
    store<f64>(xi + (<usize>i << 3), a * si + b * sr);
  }
  return beta;
}

/** Bytes of scratch that bidiag_c64_split needs for leading dimension ld and n columns. */
export function bidiag_work_bytes(ld: i32, n: i32): i32 {
  return (4 * ld + 4 * (n + 2)) * 8;
}

/**
 * bidiag_c64_split: reduces a complex m×n matrix A (m ≥ n) to a real upper
 * bidiagonal B = Q₁ᴴ A Q₂ with unitary Q₁, Q₂ (Householder reflectors from
 * the left on columns, from the right on rows, alternately). The singular
 * values of B are those of A.
 *
 * Layout: column-major, re/im split: A[i, j] = (ar[i + j·ld], ai[i + j·ld]).
 * ld is even, ld ≥ m, and rows m..ld−1 of every column are ZERO on entry
 * (the f64x2 loops run over whole row pairs; zero rows stay zero).
 *
 * Arguments:
 *   ar, ai [in,out] f64[ld·n]  the matrix; destroyed
 *   m, n   [in]                1 ≤ n ≤ m ≤ ld
 *   ld     [in]                leading dimension, even
 *   d      [out] f64[n]        diagonal of B
 *   e      [out] f64[n]        superdiagonal of B: e[j] couples j−1 and j; e[0] = 0
 *   work   [in]  scratch of bidiag_work_bytes(ld, n) bytes, 16-byte aligned
 *   taus   [out] f64[4n] or 0: when non-zero the reflectors are kept for
 *                bidiag_apply_q_c64 / bidiag_apply_p_c64 (LAPACK zgebrd's
 *                storage): left reflector k has v[k] = 1 and v[k+1..m-1] in
 *                A[k+1.., k], tau at taus[2k], taus[2k+1]; right reflector k
 *                (acting on columns k+1..n-1) has z[0] = 1 and z[1..] in
 *                A[k, k+2..], tau at taus[2n+2k], taus[2n+2k+1].
 *
 * Cost: ≈ 32·Σ_k (m−k)(n−k) real flops (≈ 10.7·n³ for square A).
 * Returns 0. Never throws; NaN propagates into d and e.
 */
export function bidiag_c64_split(ar: usize, ai: usize, m: i32, n: i32, ld: i32, d: usize, e: usize, work: usize,
  taus: usize): i32 {
  const ldb = <usize>ld << 3;
  const vr = work;
  const vi = vr + ldb;
  const yr = vi + ldb;
  const yi = yr + ldb;
  const zr = yi + ldb; // n + 2 entries each
  const zi = zr + ((<usize>(n + 2)) << 3);
  const tau = zi + ((<usize>(n + 2)) << 3); // 2 entries
  store<f64>(e, 0.0);
  for (let k = 0; k < n; k++) {
    // ---- Left reflector: annihilate A[k+1..m-1, k]. ----
    const colr = ar + <usize>k * ldb;
    const coli = ai + <usize>k * ldb;
    const i0 = k & ~1;
    // v over rows i0..ld-1: zeros above k, x below.
    for (let i = i0; i < ld; i++) {
      const ok = i > k && i < m;
      store<f64>(vr + (<usize>i << 3), ok ? load<f64>(colr + (<usize>i << 3)) : 0.0);
      store<f64>(vi + (<usize>i << 3), ok ? load<f64>(coli + (<usize>i << 3)) : 0.0);
    }
    const aR = load<f64>(colr + (<usize>k << 3));
    const aI = load<f64>(coli + (<usize>k << 3));
    // larfg on (alpha, v[k+1..m-1]): pass base so that index 1 is row k+1.
    const beta = larfg(aR, aI, vr + (<usize>k << 3), vi + (<usize>k << 3), m - k, tau);
    store<f64>(vr + (<usize>k << 3), 1.0);
    store<f64>(vi + (<usize>k << 3), 0.0);
    store<f64>(d + (<usize>k << 3), beta);
    const tr = load<f64>(tau);
    const ti = load<f64>(tau, 8);
    if (tr != 0.0 || ti != 0.0) {
      applyLeft(ar, ai, ldb, i0, ld, k + 1, n, vr, vi, tr, ti);
    }
    if (taus != 0) {
      store<f64>(taus + (<usize>(2 * k) << 3), tr);
      store<f64>(taus + (<usize>(2 * k + 1) << 3), ti);
      for (let i = k + 1; i < m; i++) {
        store<f64>(colr + (<usize>i << 3), load<f64>(vr + (<usize>i << 3)));
        store<f64>(coli + (<usize>i << 3), load<f64>(vi + (<usize>i << 3)));
      }
    }
    if (k >= n - 1) {
      if (taus != 0) {
        store<f64>(taus + (<usize>(2 * n + 2 * k) << 3), 0.0);
        store<f64>(taus + (<usize>(2 * n + 2 * k + 1) << 3), 0.0);
      }
      break;
    }
    // ---- Right reflector: make row k zero beyond k+1, with A[k, k+1] real. ----
    const p = n - k - 1;
    for (let j = 0; j < p; j++) {
      const off = <usize>(k + 1 + j) * ldb + (<usize>k << 3);
      store<f64>(zr + (<usize>j << 3), load<f64>(ar + off));
      store<f64>(zi + (<usize>j << 3), -load<f64>(ai + off));
    }
    const bR = load<f64>(zr);
    const bI = load<f64>(zi);
    const beta2 = larfg(bR, bI, zr, zi, p, tau);
    store<f64>(zr, 1.0);
    store<f64>(zi, 0.0);
    store<f64>(e + (<usize>(k + 1) << 3), beta2);
    const ur = load<f64>(tau);
    const ui = load<f64>(tau, 8);
    if (ur != 0.0 || ui != 0.0) {
      applyRight(ar, ai, ldb, k + 1, ld, k + 1, n, zr, zi, yr, yi, ur, ui);
    }
    if (taus != 0) {
      store<f64>(taus + (<usize>(2 * n + 2 * k) << 3), ur);
      store<f64>(taus + (<usize>(2 * n + 2 * k + 1) << 3), ui);
      for (let j = 1; j < p; j++) {
        const off = <usize>(k + 1 + j) * ldb + (<usize>k << 3);
        store<f64>(ar + off, load<f64>(zr + (<usize>j << 3)));
        store<f64>(ai + off, load<f64>(zi + (<usize>j << 3)));
      }
    }
  }
  return 0;
}

/**
 * A[i0.., j0..n-1] -= v · (conj(tau) · vᴴ A[:, j]) for each column j, two
 * columns per pass so each load of v serves both.
 *   per row pair: [vr0, vr1] [vi0, vi1] against [ar0, ar1] [ai0, ai1]
 */
export function applyLeft(ar: usize, ai: usize, ldb: usize, i0: i32, ld: i32, j0: i32, n: i32,
  vr: usize, vi: usize, tr: f64, ti: f64): void {
  const start = <usize>i0 << 3;
  const end = <usize>ld << 3;
  let j = j0;
  for (; j + 1 < n; j += 2) {
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    const ar1 = ar0 + ldb;
    const ai1 = ai0 + ldb;
    // w = vᴴ a = Σ (vr ar + vi ai) + i (vr ai − vi ar)
    let w0r = f64x2.splat(0.0);
    let w0i = f64x2.splat(0.0);
    let w1r = f64x2.splat(0.0);
    let w1i = f64x2.splat(0.0);
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      const a0r = v128.load(ar0 + o);
      const a0i = v128.load(ai0 + o);
      const a1r = v128.load(ar1 + o);
      const a1i = v128.load(ai1 + o);
      w0r = f64x2.add(w0r, f64x2.add(f64x2.mul(xr, a0r), f64x2.mul(xi, a0i)));
      w0i = f64x2.add(w0i, f64x2.sub(f64x2.mul(xr, a0i), f64x2.mul(xi, a0r)));
      w1r = f64x2.add(w1r, f64x2.add(f64x2.mul(xr, a1r), f64x2.mul(xi, a1i)));
      w1i = f64x2.add(w1i, f64x2.sub(f64x2.mul(xr, a1i), f64x2.mul(xi, a1r)));
    }
    const s0r = f64x2.extract_lane(w0r, 0) + f64x2.extract_lane(w0r, 1);
    const s0i = f64x2.extract_lane(w0i, 0) + f64x2.extract_lane(w0i, 1);
    const s1r = f64x2.extract_lane(w1r, 0) + f64x2.extract_lane(w1r, 1);
    const s1i = f64x2.extract_lane(w1i, 0) + f64x2.extract_lane(w1i, 1);
    // c = conj(tau) · w
    const c0r = f64x2.splat(tr * s0r + ti * s0i);
    const c0i = f64x2.splat(tr * s0i - ti * s0r);
    const c1r = f64x2.splat(tr * s1r + ti * s1i);
    const c1i = f64x2.splat(tr * s1i - ti * s1r);
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      v128.store(ar0 + o, f64x2.sub(v128.load(ar0 + o), f64x2.sub(f64x2.mul(xr, c0r), f64x2.mul(xi, c0i))));
      v128.store(ai0 + o, f64x2.sub(v128.load(ai0 + o), f64x2.add(f64x2.mul(xr, c0i), f64x2.mul(xi, c0r))));
      v128.store(ar1 + o, f64x2.sub(v128.load(ar1 + o), f64x2.sub(f64x2.mul(xr, c1r), f64x2.mul(xi, c1i))));
      v128.store(ai1 + o, f64x2.sub(v128.load(ai1 + o), f64x2.add(f64x2.mul(xr, c1i), f64x2.mul(xi, c1r))));
    }
  }
  for (; j < n; j++) {
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    let w0r = f64x2.splat(0.0);
    let w0i = f64x2.splat(0.0);
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      const a0r = v128.load(ar0 + o);
      const a0i = v128.load(ai0 + o);
      w0r = f64x2.add(w0r, f64x2.add(f64x2.mul(xr, a0r), f64x2.mul(xi, a0i)));
      w0i = f64x2.add(w0i, f64x2.sub(f64x2.mul(xr, a0i), f64x2.mul(xi, a0r)));
    }
    const s0r = f64x2.extract_lane(w0r, 0) + f64x2.extract_lane(w0r, 1);
    const s0i = f64x2.extract_lane(w0i, 0) + f64x2.extract_lane(w0i, 1);
    const c0r = f64x2.splat(tr * s0r + ti * s0i);
    const c0i = f64x2.splat(tr * s0i - ti * s0r);
    for (let o = start; o < end; o += 16) {
      const xr = v128.load(vr + o);
      const xi = v128.load(vi + o);
      v128.store(ar0 + o, f64x2.sub(v128.load(ar0 + o), f64x2.sub(f64x2.mul(xr, c0r), f64x2.mul(xi, c0i))));
      v128.store(ai0 + o, f64x2.sub(v128.load(ai0 + o), f64x2.add(f64x2.mul(xr, c0i), f64x2.mul(xi, c0r))));
    }
  }
}

/**
 * A[r0..m-1, j0..n-1] := A · H with H = I − tau·z·zᴴ (z over columns j0..n-1):
 * y = A z (column axpys, over rows), rows above r0 masked to zero, then
 * A[:, j] −= y · (tau · conj(z_j)).
 */
// @ts-ignore: decorator
@inline
function applyRight(ar: usize, ai: usize, ldb: usize, r0: i32, ld: i32, j0: i32, n: i32,
  zr: usize, zi: usize, yr: usize, yi: usize, tr: f64, ti: f64): void {
  const i1 = r0 & ~1;
  const start = <usize>i1 << 3;
  const end = <usize>ld << 3;
  for (let o = start; o < end; o += 16) {
    v128.store(yr + o, f64x2.splat(0.0));
    v128.store(yi + o, f64x2.splat(0.0));
  }
  let j = j0;
  for (; j + 1 < n; j += 2) {
    const jz = <usize>(j - j0) << 3;
    const z0r = f64x2.splat(load<f64>(zr + jz));
    const z0i = f64x2.splat(load<f64>(zi + jz));
    const z1r = f64x2.splat(load<f64>(zr + jz, 8));
    const z1i = f64x2.splat(load<f64>(zi + jz, 8));
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    const ar1 = ar0 + ldb;
    const ai1 = ai0 + ldb;
    for (let o = start; o < end; o += 16) {
      const a0r = v128.load(ar0 + o);
      const a0i = v128.load(ai0 + o);
      const a1r = v128.load(ar1 + o);
      const a1i = v128.load(ai1 + o);
      let sr = v128.load(yr + o);
      let si = v128.load(yi + o);
      sr = f64x2.add(sr, f64x2.sub(f64x2.mul(a0r, z0r), f64x2.mul(a0i, z0i)));
      si = f64x2.add(si, f64x2.add(f64x2.mul(a0r, z0i), f64x2.mul(a0i, z0r)));
      sr = f64x2.add(sr, f64x2.sub(f64x2.mul(a1r, z1r), f64x2.mul(a1i, z1i)));
      si = f64x2.add(si, f64x2.add(f64x2.mul(a1r, z1i), f64x2.mul(a1i, z1r)));
      v128.store(yr + o, sr);
      v128.store(yi + o, si);
    }
  }
  for (; j < n; j++) {
    const jz = <usize>(j - j0) << 3;
    const z0r = f64x2.splat(load<f64>(zr + jz));
    const z0i = f64x2.splat(load<f64>(zi + jz));
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    for (let o = start; o < end; o += 16) {
      const a0r = v128.load(ar0 + o);
      const a0i = v128.load(ai0 + o);
      let sr = v128.load(yr + o);
      let si = v128.load(yi + o);
      sr = f64x2.add(sr, f64x2.sub(f64x2.mul(a0r, z0r), f64x2.mul(a0i, z0i)));
      si = f64x2.add(si, f64x2.add(f64x2.mul(a0r, z0i), f64x2.mul(a0i, z0r)));
      v128.store(yr + o, sr);
      v128.store(yi + o, si);
    }
  }
  // Rows above r0 (at most one, from the pair alignment) take no update.
  for (let i = i1; i < r0; i++) {
    store<f64>(yr + (<usize>i << 3), 0.0);
    store<f64>(yi + (<usize>i << 3), 0.0);
  }
  // A[:, j] −= y · c_j with c_j = tau · conj(z_j).
  j = j0;
  for (; j + 1 < n; j += 2) {
    const jz = <usize>(j - j0) << 3;
    const p0r = load<f64>(zr + jz);
    const p0i = load<f64>(zi + jz);
    const p1r = load<f64>(zr + jz, 8);
    const p1i = load<f64>(zi + jz, 8);
    const c0r = f64x2.splat(tr * p0r + ti * p0i);
    const c0i = f64x2.splat(ti * p0r - tr * p0i);
    const c1r = f64x2.splat(tr * p1r + ti * p1i);
    const c1i = f64x2.splat(ti * p1r - tr * p1i);
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    const ar1 = ar0 + ldb;
    const ai1 = ai0 + ldb;
    for (let o = start; o < end; o += 16) {
      const sr = v128.load(yr + o);
      const si = v128.load(yi + o);
      v128.store(ar0 + o, f64x2.sub(v128.load(ar0 + o), f64x2.sub(f64x2.mul(sr, c0r), f64x2.mul(si, c0i))));
      v128.store(ai0 + o, f64x2.sub(v128.load(ai0 + o), f64x2.add(f64x2.mul(sr, c0i), f64x2.mul(si, c0r))));
      v128.store(ar1 + o, f64x2.sub(v128.load(ar1 + o), f64x2.sub(f64x2.mul(sr, c1r), f64x2.mul(si, c1i))));
      v128.store(ai1 + o, f64x2.sub(v128.load(ai1 + o), f64x2.add(f64x2.mul(sr, c1i), f64x2.mul(si, c1r))));
    }
  }
  for (; j < n; j++) {
    const jz = <usize>(j - j0) << 3;
    const p0r = load<f64>(zr + jz);
    const p0i = load<f64>(zi + jz);
    const c0r = f64x2.splat(tr * p0r + ti * p0i);
    const c0i = f64x2.splat(ti * p0r - tr * p0i);
    const ar0 = ar + <usize>j * ldb;
    const ai0 = ai + <usize>j * ldb;
    for (let o = start; o < end; o += 16) {
      const sr = v128.load(yr + o);
      const si = v128.load(yi + o);
      v128.store(ar0 + o, f64x2.sub(v128.load(ar0 + o), f64x2.sub(f64x2.mul(sr, c0r), f64x2.mul(si, c0i))));
      v128.store(ai0 + o, f64x2.sub(v128.load(ai0 + o), f64x2.add(f64x2.mul(sr, c0i), f64x2.mul(si, c0r))));
    }
  }
}
