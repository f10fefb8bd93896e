// The exact operator norm without every singular value: cheap lower
// estimates of each frequency's σ_max to find the candidate, then a
// certificate that a frequency's σ_max is below the best exact value so far
// (a Cholesky factorisation of s²(1 − η)·I − PᴴP), so that only the
// frequencies that may hold the maximum are factorised (svd_column_f64).
import { align16, buildPTapMajor, lead_dim, twiddles } from "./column";
import { EPS } from "./bdsqr";
import { madd, nmadd } from "./bidiag";

/** Bytes of scratch for norm_estimates_f64 and norm_below_f64 (cout × cin blocks of kh taps). */
export function norm_work_bytes(cout: i32, cin: i32, kh: i32): i32 {
  const n = <i64>min<i32>(cout, cin);
  const m = <i64>max<i32>(cout, cin);
  const ld = <i64>lead_dim(<i32>m);
  let bytes: i64 = 2 * <i64>kh * 8 + 32; // twiddles
  bytes += 2 * ld * n * 8 + 32; // A
  bytes += 2 * n * n * 8 + 32; // the lower triangle of s²(1 − η)I − AᴴA, column-major
  bytes += <i64>f32CopyBytes(<i32>n) + 16; // its f32 copy
  bytes += 2 * (ld + n + 2) * 8 + 64; // y = A·x and x
  return bytes > 0x7fffffff ? -1 : <i32>bytes;
}

/** Scratch offsets from `work`: twiddles, A (re, im), B (re, im), y (re, im), x (re, im). */
// @ts-ignore: decorator
@inline
function aBase(work: usize, kh: i32): usize {
  return align16(align16(work) + (<usize>kh << 4));
}

/** A = P(u, v) of group g (A = P, or Pᵀ when cout < cin), every padding row zero. */
// @ts-ignore: decorator
@inline
function buildBlock(tr: usize, ti: usize, g: i32, cout: i32, cin: i32, kh: i32, twr: usize, twi: usize,
  ar: usize, ai: usize, ld: i32): void {
  const n = min<i32>(cout, cin);
  const m = max<i32>(cout, cin);
  const ldb = <usize>ld << 3;
  memory.fill(ar, 0, <usize>n * ldb * 2);
  const goff = <usize>(g * cout * cin * kh) * 8;
  buildPTapMajor<f64>(tr + goff, ti + goff, m, n, kh, twr, twi, ar, ai, ldb);
}

/** y = A·x (A: ld × n column-major, re/im split; x: n complex; y: ld complex). */
function matVec(ar: usize, ai: usize, ld: i32, n: i32, xr: usize, xi: usize, yr: usize, yi: usize): void {
  const ldb = <usize>ld << 3;
  memory.fill(yr, 0, ldb);
  memory.fill(yi, 0, ldb);
  for (let j = 0; j < n; j++) {
    const cr = f64x2.splat(load<f64>(xr + (<usize>j << 3)));
    const ci = f64x2.splat(load<f64>(xi + (<usize>j << 3)));
    const colr = ar + <usize>j * ldb;
    const coli = ai + <usize>j * ldb;
    for (let o: usize = 0; o < ldb; o += 16) {
      const pr = v128.load(colr + o);
      const pi = v128.load(coli + o);
      v128.store(yr + o, madd<f64>(pr, cr, nmadd<f64>(pi, ci, v128.load(yr + o))));
      v128.store(yi + o, madd<f64>(pr, ci, madd<f64>(pi, cr, v128.load(yi + o))));
    }
  }
}

/** x = Aᴴ·y; returns ‖x‖². */
function matVecH(ar: usize, ai: usize, ld: i32, n: i32, yr: usize, yi: usize, xr: usize, xi: usize): f64 {
  const ldb = <usize>ld << 3;
  let s: f64 = 0.0;
  for (let j = 0; j < n; j++) {
    const colr = ar + <usize>j * ldb;
    const coli = ai + <usize>j * ldb;
    let re = f64x2.splat(0.0);
    let im = f64x2.splat(0.0);
    for (let o: usize = 0; o < ldb; o += 16) {
      const pr = v128.load(colr + o);
      const pi = v128.load(coli + o);
      const qr = v128.load(yr + o);
      const qi = v128.load(yi + o);
      // conj(p)·q = (pr·qr + pi·qi) + i(pr·qi − pi·qr)
      re = madd<f64>(pr, qr, madd<f64>(pi, qi, re));
      im = madd<f64>(pr, qi, nmadd<f64>(pi, qr, im));
    }
    const xre = f64x2.extract_lane(re, 0) + f64x2.extract_lane(re, 1);
    const xim = f64x2.extract_lane(im, 0) + f64x2.extract_lane(im, 1);
    store<f64>(xr + (<usize>j << 3), xre);
    store<f64>(xi + (<usize>j << 3), xim);
    s += xre * xre + xim * xim;
  }
  return s;
}

/**
 * norm_estimates_f64: for u = u0 … u0 + nu − 1 of one column (the layout of
 * svd_column_f64: a tap-major column transform, `groups` blocks), a lower
 * estimate of σ_max(P(u, v)): per block, `steps` power steps on AᴴA from a
 * fixed start, then ‖A·x‖ for the unit vector x reached (≤ σ_max in exact
 * arithmetic); the largest over the blocks.
 *   out  [out] f64[nu]
 *   work [in]  norm_work_bytes(cout, cin, kh) bytes
 * Returns 0.
 */
export function norm_estimates_f64(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, h: i32, u0: i32,
  nu: i32, groups: i32, steps: i32, out: usize, work: usize): i32 {
  const n = min<i32>(cout, cin);
  const m = max<i32>(cout, cin);
  const ld = lead_dim(m);
  const ldb = <usize>ld << 3;
  const twr = align16(work);
  const twi = twr + (<usize>kh << 3);
  const ar = aBase(work, kh);
  const ai = ar + <usize>n * ldb;
  const yr = align16(ai + <usize>n * ldb + (<usize>(2 * n * n) << 3));
  const yi = yr + ldb;
  const xr = yi + ldb;
  const xi = xr + (<usize>n << 3);
  for (let u = u0; u < u0 + nu; u++) {
    twiddles(u, h, kh, twr, twi);
    let best: f64 = 0.0;
    for (let g = 0; g < groups; g++) {
      buildBlock(tr, ti, g, cout, cin, kh, twr, twi, ar, ai, ld);
      // A start with every component non-zero and no symmetry: 1 + j/n, 0.
      let s: f64 = 0.0;
      for (let j = 0; j < n; j++) {
        const x = 1.0 + <f64>j / <f64>n;
        store<f64>(xr + (<usize>j << 3), x);
        store<f64>(xi + (<usize>j << 3), 0.0);
        s += x * x;
      }
      for (let t = 0; t <= steps; t++) {
        const f = s > 0.0 ? 1.0 / Math.sqrt(s) : 0.0;
        for (let j = 0; j < n; j++) {
          store<f64>(xr + (<usize>j << 3), load<f64>(xr + (<usize>j << 3)) * f);
          store<f64>(xi + (<usize>j << 3), load<f64>(xi + (<usize>j << 3)) * f);
        }
        matVec(ar, ai, ld, n, xr, xi, yr, yi);
        if (t == steps) break;
        s = matVecH(ar, ai, ld, n, yr, yi, xr, xi);
      }
      let q: f64 = 0.0;
      for (let r = 0; r < m; r++) {
        const a = load<f64>(yr + (<usize>r << 3));
        const b = load<f64>(yi + (<usize>r << 3));
        q += a * a + b * b;
      }
      best = max<f64>(best, Math.sqrt(q));
    }
    store<f64>(out + (<usize>(u - u0) << 3), best);
  }
  return 0;
}

/**
 * B = c·I − AᴴA in B's lower triangle (column j holds rows i ≥ j at j·n + i;
 * n even-padded storage not needed: rows past n are never written), two
 * columns of A against two at a time (four complex dot products per pass
 * over the rows, each row pair loaded once).
 */
export function gramLower(ar: usize, ai: usize, ld: i32, n: i32, c: f64, br: usize, bi: usize): void {
  const ldb = <usize>ld << 3;
  for (let j = 0; j < n; j += 2) {
    const j1 = min<i32>(j + 1, n - 1);
    const ajr = ar + <usize>j * ldb, aji = ai + <usize>j * ldb;
    const bjr = ar + <usize>j1 * ldb, bji = ai + <usize>j1 * ldb;
    for (let i = j; i < n; i += 2) {
      const i1 = min<i32>(i + 1, n - 1);
      const pir = ar + <usize>i * ldb, pii = ai + <usize>i * ldb;
      const qir = ar + <usize>i1 * ldb, qii = ai + <usize>i1 * ldb;
      let r00 = f64x2.splat(0.0), m00 = f64x2.splat(0.0);
      let r01 = f64x2.splat(0.0), m01 = f64x2.splat(0.0);
      let r10 = f64x2.splat(0.0), m10 = f64x2.splat(0.0);
      let r11 = f64x2.splat(0.0), m11 = f64x2.splat(0.0);
      for (let o: usize = 0; o < ldb; o += 16) {
        const xr = v128.load(pir + o), xi = v128.load(pii + o);
        const yr = v128.load(qir + o), yi = v128.load(qii + o);
        const ur = v128.load(ajr + o), ui = v128.load(aji + o);
        const wr = v128.load(bjr + o), wi = v128.load(bji + o);
        // conj(A[r, i])·A[r, j] = (xr·ur + xi·ui) + i(xr·ui − xi·ur)
        r00 = madd<f64>(xr, ur, madd<f64>(xi, ui, r00));
        m00 = madd<f64>(xr, ui, nmadd<f64>(xi, ur, m00));
        r01 = madd<f64>(xr, wr, madd<f64>(xi, wi, r01));
        m01 = madd<f64>(xr, wi, nmadd<f64>(xi, wr, m01));
        r10 = madd<f64>(yr, ur, madd<f64>(yi, ui, r10));
        m10 = madd<f64>(yr, ui, nmadd<f64>(yi, ur, m10));
        r11 = madd<f64>(yr, wr, madd<f64>(yi, wi, r11));
        m11 = madd<f64>(yr, wi, nmadd<f64>(yi, wr, m11));
      }
      storeEntry(br, bi, n, i, j, c, r00, m00);
      if (j1 != j && i >= j1) storeEntry(br, bi, n, i, j1, c, r01, m01);
      if (i1 != i) {
        storeEntry(br, bi, n, i1, j, c, r10, m10);
        if (j1 != j) storeEntry(br, bi, n, i1, j1, c, r11, m11);
      }
    }
  }
}

/** B[i, j] = (i == j ? c : 0) − (the lanes' sums), for i ≥ j. */
// @ts-ignore: decorator
@inline
function storeEntry(br: usize, bi: usize, n: i32, i: i32, j: i32, c: f64, re: v128, im: v128): void {
  const at = (<usize>(j * n + i)) << 3;
  const gr = f64x2.extract_lane(re, 0) + f64x2.extract_lane(re, 1);
  const gi = f64x2.extract_lane(im, 0) + f64x2.extract_lane(im, 1);
  store<f64>(br + at, (i == j ? c : 0.0) - gr);
  store<f64>(bi + at, i == j ? 0.0 : -gi);
}

/** Pivot column j of B: false when B[j, j] ≤ 0 (or NaN); else L[j, j] = √B[j, j] and rows below divided by it. */
// @ts-ignore: decorator
@inline
function pivotColumn<T>(colr: usize, coli: usize, j: i32, n: i32): bool {
  const sz = <usize>sizeof<T>();
  const d = <f64>load<T>(colr + <usize>j * sz);
  if (!(d > 0.0)) return false;
  const ljj = <T>Math.sqrt(d);
  const inv = <T>1.0 / ljj;
  store<T>(colr + <usize>j * sz, ljj);
  for (let i = j + 1; i < n; i++) {
    store<T>(colr + <usize>i * sz, load<T>(colr + <usize>i * sz) * inv);
    store<T>(coli + <usize>i * sz, load<T>(coli + <usize>i * sz) * inv);
  }
  return true;
}

/** B[i, ·] −= x·(lr + i·li) at byte offset at of the columns (dr, di) and (xr, xi): one entry. */
// @ts-ignore: decorator
@inline
function subEntry<T>(dr: usize, di: usize, xr: usize, xi: usize, at: usize, lr: T, li: T): void {
  const a = load<T>(xr + at);
  const b = load<T>(xi + at);
  store<T>(dr + at, load<T>(dr + at) - (a * lr - b * li));
  store<T>(di + at, load<T>(di + at) - (a * li + b * lr));
}

/**
 * Right-looking Cholesky factorisation B = L·Lᴴ in place, in B's lower
 * triangle (n × n of T, column j holds rows i ≥ j at j·n + i, re/im split);
 * false at the first pivot ≤ 0 (or NaN), true when it completes. Pivot
 * columns are taken two at a time: the second is updated by the first, then
 * every later column by both in one pass (a rank-2 update, a lane's rows per
 * step), which halves the passes over the trailing matrix. Its rounding obeys
 * the same bound as any order of the sums (Higham, Thm 10.3), which is all a
 * certificate built on it uses.
 */
export function choleskyLower<T>(br: usize, bi: usize, n: i32): bool {
  const sz = <usize>sizeof<T>();
  const lanes = <i32>(16 / sz);
  const nb = <usize>n * sz;
  for (let j = 0; j < n; j += 2) {
    const c0r = br + <usize>j * nb;
    const c0i = bi + <usize>j * nb;
    if (!pivotColumn<T>(c0r, c0i, j, n)) return false;
    if (j + 1 == n) break;
    const c1r = c0r + nb;
    const c1i = c0i + nb;
    // Column j + 1 by column j, then its pivot.
    {
      const lr = load<T>(c0r + <usize>(j + 1) * sz);
      const li = -load<T>(c0i + <usize>(j + 1) * sz);
      for (let i = j + 1; i < n; i++) subEntry<T>(c1r, c1i, c0r, c0i, <usize>i * sz, lr, li);
    }
    if (!pivotColumn<T>(c1r, c1i, j + 1, n)) return false;
    // Column k > j + 1: B[i, k] −= L[i, j]·conj(L[k, j]) + L[i, j + 1]·conj(L[k, j + 1]) for i ≥ k.
    for (let k = j + 2; k < n; k++) {
      const kb = <usize>k * sz;
      const l0r = load<T>(c0r + kb);
      const l0i = -load<T>(c0i + kb);
      const l1r = load<T>(c1r + kb);
      const l1i = -load<T>(c1i + kb);
      const dr = br + <usize>k * nb;
      const di = bi + <usize>k * nb;
      let i = k;
      for (; i < n && i % lanes != 0; i++) {
        subEntry<T>(dr, di, c0r, c0i, <usize>i * sz, l0r, l0i);
        subEntry<T>(dr, di, c1r, c1i, <usize>i * sz, l1r, l1i);
      }
      const a0r = v128.splat<T>(l0r);
      const a0i = v128.splat<T>(l0i);
      const a1r = v128.splat<T>(l1r);
      const a1i = v128.splat<T>(l1i);
      for (; i + lanes <= n; i += lanes) {
        const at = <usize>i * sz;
        const x0r = v128.load(c0r + at);
        const x0i = v128.load(c0i + at);
        const x1r = v128.load(c1r + at);
        const x1i = v128.load(c1i + at);
        // x·conj(L[k, ·]) = (xr·lr − xi·li) + i(xr·li + xi·lr), li already conjugated
        const yr = madd<T>(x1i, a1i, nmadd<T>(x1r, a1r, madd<T>(x0i, a0i, nmadd<T>(x0r, a0r, v128.load(dr + at)))));
        const yi = nmadd<T>(x1i, a1r, nmadd<T>(x1r, a1i, nmadd<T>(x0i, a0r, nmadd<T>(x0r, a0i, v128.load(di + at)))));
        v128.store(dr + at, yr);
        v128.store(di + at, yi);
      }
      for (; i < n; i++) {
        subEntry<T>(dr, di, c0r, c0i, <usize>i * sz, l0r, l0i);
        subEntry<T>(dr, di, c1r, c1i, <usize>i * sz, l1r, l1i);
      }
    }
  }
  return true;
}

/** Unit roundoff of f32, 2^−24. */
const U32: f64 = 5.9604644775390625e-8;

/** Bytes of the f32 copy {@linkcode positiveDefinite} takes as scratch for n × n, with three f64 vectors of n. */
// @ts-ignore: decorator
@inline
export function f32CopyBytes(n: i32): usize {
  return (<usize>n * <usize>n << 3) + <usize>n * 24 + 32;
}

/** Products by |L̂|·|L̂|ᵀ in {@linkcode absFactorBound}: each one's bound nears ρ at the power method's rate. */
const BOUND_PRODUCTS = 3;

/**
 * An upper bound of ‖|L̂|‖₂² = ρ(|L̂|·|L̂|ᵀ) for the f32 Cholesky factor L̂
 * in b32 (choleskyLower's layout; its real plane is overwritten by the
 * moduli |L̂[i, j]|): for any x > 0, ρ(N) ≤ max_i (N·x)_i / x_i when N ≥ 0
 * (Collatz–Wielandt), here x = 1 and then the last N·x scaled, the least of
 * BOUND_PRODUCTS bounds kept. Each modulus is rounded to f32 (within 2^−24)
 * and each product summed in f64 from non-negative terms (within
 * 2(n + 2)·2^−53), so the bound is multiplied by 1 + 1e−6, more than both
 * (n < 2³¹). Infinity where an x_i has underflowed to 0.
 */
function absFactorBound(b32: usize, n: i32): f64 {
  const nn = <usize>n * <usize>n;
  const b32i = b32 + (nn << 2);
  const x = align16(b32 + (nn << 3));
  const y = x + (<usize>n << 3);
  const z = y + (<usize>n << 3);
  for (let j = 0; j < n; j++) {
    const col = b32 + (<usize>j * <usize>n << 2);
    const coli = b32i + (<usize>j * <usize>n << 2);
    let i = j;
    for (; i + 2 <= n; i += 2) {
      const a = f64x2.promote_low_f32x4(v128.load64_zero(col + (<usize>i << 2)));
      const b = f64x2.promote_low_f32x4(v128.load64_zero(coli + (<usize>i << 2)));
      const r = f32x4.demote_f64x2_zero(f64x2.sqrt(f64x2.add(f64x2.mul(a, a), f64x2.mul(b, b))));
      v128.store64_lane(col + (<usize>i << 2), r, 0);
    }
    if (i < n) {
      const a = <f64>load<f32>(col + (<usize>i << 2));
      const b = <f64>load<f32>(coli + (<usize>i << 2));
      store<f32>(col + (<usize>i << 2), <f32>Math.sqrt(a * a + b * b));
    }
    store<f64>(x + (<usize>j << 3), 1.0);
  }
  let bound: f64 = Infinity;
  for (let p = 0; p < BOUND_PRODUCTS; p++) {
    // y_j = (|L̂|ᵀ·x)_j, a column's dot product, then that column's share of z = |L̂|·y (one pass over it);
    // the bound max_i z_i/x_i; x ← z.
    memory.fill(z, 0, <usize>n << 3);
    for (let j = 0; j < n; j++) {
      const col = b32 + (<usize>j * <usize>n << 2);
      let acc = f64x2.splat(0.0);
      let i = j;
      for (; i + 2 <= n; i += 2) {
        const l = f64x2.promote_low_f32x4(v128.load64_zero(col + (<usize>i << 2)));
        acc = madd<f64>(l, v128.load(x + (<usize>i << 3)), acc);
      }
      let t = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
      if (i < n) t += <f64>load<f32>(col + (<usize>i << 2)) * load<f64>(x + (<usize>i << 3));
      store<f64>(y + (<usize>j << 3), t);
      const yj = f64x2.splat(t);
      i = j;
      for (; i + 2 <= n; i += 2) {
        const l = f64x2.promote_low_f32x4(v128.load64_zero(col + (<usize>i << 2)));
        v128.store(z + (<usize>i << 3), madd<f64>(l, yj, v128.load(z + (<usize>i << 3))));
      }
      if (i < n) store<f64>(z + (<usize>i << 3), load<f64>(z + (<usize>i << 3)) + <f64>load<f32>(col + (<usize>i << 2)) * t);
    }
    let worst: f64 = 0.0;
    let big: f64 = 0.0;
    for (let i = 0; i < n; i++) {
      const t = load<f64>(z + (<usize>i << 3));
      const xi = load<f64>(x + (<usize>i << 3));
      worst = max<f64>(worst, xi > 0.0 ? t / xi : Infinity);
      big = max<f64>(big, t);
      store<f64>(x + (<usize>i << 3), t);
    }
    bound = min<f64>(bound, worst);
    if (!(big > 0.0) || !(big < Infinity)) break;
    const f = 1.0 / big;
    for (let i = 0; i < n; i++) store<f64>(x + (<usize>i << 3), load<f64>(x + (<usize>i << 3)) * f);
  }
  return bound * (1.0 + 1e-6);
}

/** The f32 copy of M − shift·I (lower triangle) in b32 and its Cholesky factorisation: whether it completed. */
function choleskyShifted32(br: usize, bi: usize, n: i32, b32: usize, shift: f64): bool {
  const nb = <usize>n << 3;
  const b32i = b32 + (<usize>n * <usize>n << 2);
  for (let j = 0; j < n; j++) {
    const col = <usize>j * nb;
    const col32 = <usize>j * <usize>n << 2;
    store<f32>(b32 + col32 + (<usize>j << 2), <f32>(load<f64>(br + col + (<usize>j << 3)) - shift));
    store<f32>(b32i + col32 + (<usize>j << 2), 0.0);
    for (let i = j + 1; i < n; i++) {
      store<f32>(b32 + col32 + (<usize>i << 2), <f32>load<f64>(br + col + (<usize>i << 3)));
      store<f32>(b32i + col32 + (<usize>i << 2), <f32>load<f64>(bi + col + (<usize>i << 3)));
    }
  }
  return choleskyLower<f32>(b32, b32i, n);
}

/**
 * Whether the Hermitian M (n × n, f64, lower triangle of br/bi as
 * choleskyLower reads it) is certified positive definite (see
 * {@linkcode definiteBy}).
 */
export function positiveDefinite(br: usize, bi: usize, n: i32, b32: usize, room: f64): bool {
  return definiteBy(br, bi, n, b32, room) != 0;
}

/**
 * Whether the Hermitian M (n × n, f64, lower triangle of br/bi as
 * choleskyLower reads it) is certified positive definite, and how: 2 by a
 * Cholesky factorisation in f32 of M − δ·I (twice the speed), 3 by one of
 * M − δ'·I with a smaller shift δ' checked on its factor, 1 by one of M itself
 * in f64, in place (M is then destroyed); 0 when none completes.
 *
 * The f32 step (b32: f32CopyBytes(n) of scratch; 0 skips it). With u = 2^−24, a Cholesky
 * factorisation that completes on the rounded copy B of M − δ·I gives
 * R̂ᴴR̂ = B + E with |E| ≤ γ·|R̂ᴴ||R̂| (Higham, Accuracy and Stability, Thm
 * 10.3, whose γ_{n+1} becomes √2·γ_{2n+2} in complex arithmetic: the real
 * and imaginary parts of a complex inner product of length n are real ones
 * of length 2n, and |a_r·b_r| + |a_i·b_i| ≤ |a|·|b|; γ = 4(n + 1)u/(1 − 4(n + 1)u)
 * is at least that), and
 * ‖|R̂ᴴ||R̂|‖₂ ≤ ‖R̂‖_F² = tr(B + E) ≤ tr B/(1 − γ); R̂ has a positive
 * diagonal, so λ_min(B) > −γ·tr B/(1 − γ). Rounding M − δ·I to f32 moves it
 * by at most 2u·(‖M‖_F + δ√n) in norm, and f32 underflow adds at most
 * (n + 2)(2n + max M[i, i])·2^−146 to any entry's error (Rump, BIT 46, 2006,
 * the same argument's underflow term, eight times over). So
 * δ = 2·(γ·T/(1 − γ) + 2u·‖M‖_F + n(n + 2)(2n + max M[i, i])·2^−146), with
 * T ≥ tr M rounded up, gives λ_min(M) > 0 (δ's own rounding term is below
 * δ/2 for any n that fits in memory). Entries of M beyond f32's range leave
 * it to the f64 step.
 *
 * `room`, an upper bound of λ_min(M) that the caller may know (Infinity when
 * it does not), picks the shift: from 2δ, δ (path 2). Below, the shift
 * δ' = max(room/4, δ/8) where room exceeds 2δ' (a flat spectrum's M, whose
 * λ_min is a small share of tr M/n): the bound above with ‖|R̂ᴴ||R̂|‖₂ =
 * ‖|R̂|‖₂² from absFactorBound in place of tr B/(1 − γ), which it never
 * exceeds (to its own rounding) and, on a dense factor, falls far below: the
 * factor certifies when δ' ≥ 2·(γ·‖|R̂|‖₂²/(1 − γ) + 2u·‖M‖_F + the
 * underflow term) (path 3). Below δ/4, or where a step fails, the f64 step
 * alone.
 */
export function definiteBy(br: usize, bi: usize, n: i32, b32: usize, room: f64): i32 {
  const nb = <usize>n << 3;
  if (n >= 16 && b32 != 0) {
    let tr: f64 = 0.0;
    let fro: f64 = 0.0;
    let dmax: f64 = 0.0;
    for (let j = 0; j < n; j++) {
      const d = load<f64>(br + <usize>j * nb + (<usize>j << 3));
      if (!(d > 0.0)) return 0; // a pivot ≤ 0 at once in either precision
      tr += d;
      dmax = max<f64>(dmax, d);
      fro += d * d;
      for (let i = j + 1; i < n; i++) {
        const x = load<f64>(br + <usize>j * nb + (<usize>i << 3));
        const y = load<f64>(bi + <usize>j * nb + (<usize>i << 3));
        fro += 2.0 * (x * x + y * y);
      }
    }
    const g = 4.0 * <f64>(n + 1) * U32;
    const gamma = g / (1.0 - g);
    const t = tr * (1.0 + 1e-12);
    const under = <f64>n * <f64>(n + 2) * (2.0 * <f64>n + dmax) * 1.1210387714598537e-44; // 2^−146
    const rest = 2.0 * U32 * Math.sqrt(fro) * (1.0 + 1e-12) + under;
    const delta = 2.0 * (gamma * t / (1.0 - gamma) + rest);
    if (g < 0.25 && fro < 1e70) {
      if (room > 2.0 * delta) {
        if (choleskyShifted32(br, bi, n, b32, delta)) return 2;
      } else {
        const shift = max<f64>(0.25 * room, 0.125 * delta);
        if (room > 2.0 * shift && choleskyShifted32(br, bi, n, b32, shift) &&
          shift > 2.0 * (gamma * absFactorBound(b32, n) / (1.0 - gamma) + rest)) return 3;
      }
    }
  }
  return choleskyLower<f64>(br, bi, n) ? 1 : 0;
}

/** Bytes of positive_definite_f64's scratch for n × n. */
export function positive_definite_work_bytes(n: i32): i32 {
  const b = <i64>f32CopyBytes(n) + 16;
  return b > 0x7fffffff ? -1 : <i32>b;
}

/**
 * positive_definite_f64: {@linkcode definiteBy} on M (lower triangle of br,
 * bi; destroyed where the f64 step runs) with positive_definite_work_bytes(n)
 * of scratch at work: 0 (not certified), 1 (f64), 2 (f32, shift from tr M),
 * 3 (f32, shift checked on its factor). The screens' certificate, exported
 * for its tests.
 */
export function positive_definite_f64(br: usize, bi: usize, n: i32, work: usize, room: f64): i32 {
  return definiteBy(br, bi, n, align16(work), room);
}

/**
 * Whether σ_max(A) < s is certified for A (m × n, ld, re/im split, padding
 * rows zero; read only): ‖A‖_F below s, or a completed Cholesky
 * factorisation of s²(1 − η)·I − AᴴA (see norm_below_f64). B (br, bi: n·n
 * f64 each) and b32 (f32CopyBytes(n), or 0: the f64 step only) are
 * scratch.
 */
export function certifyBelow(ar: usize, ai: usize, m: i32, n: i32, ld: i32, s2: f64, br: usize, bi: usize,
  b32: usize): bool {
  const ldb = <usize>ld << 3;
  let frob: f64 = 0.0;
  for (let j = 0; j < n; j++) {
    let acc = f64x2.splat(0.0);
    for (let o: usize = 0; o < ldb; o += 16) {
      const pr = v128.load(ar + <usize>j * ldb + o);
      const pi = v128.load(ai + <usize>j * ldb + o);
      acc = madd<f64>(pr, pr, madd<f64>(pi, pi, acc));
    }
    frob += f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  }
  if (frob < s2 * (1.0 - 4.0 * <f64>(m * n + 2) * EPS)) return true; // ‖A‖₂ ≤ ‖A‖_F: below already
  const eta = 8.0 * EPS * (<f64>(n + 1) * <f64>n + 2.0 * <f64>m * frob / s2);
  const c = s2 * (1.0 - eta);
  if (!(c > 0.0)) return false;
  // B = cI − AᴴA, lower triangle: column j holds rows i ≥ j at (j·n + i).
  gramLower(ar, ai, ld, n, c, br, bi);
  return positiveDefinite(br, bi, n, b32, Infinity);
}

/**
 * norm_below_f64: 1 when σ_max(P(u, v)) < s for every block (certified),
 * else 0 (then the frequency is to be factorised).
 *
 * The certificate is a Cholesky factorisation, in f64, of
 * B = s²(1 − η)·I − AᴴA that meets no pivot ≤ 0. With Ĝ the computed AᴴA,
 * |Ĝ − AᴴA| ≤ γ·‖A‖_F² elementwise-summed (γ ≈ 2m·ε for complex products),
 * and a completed Cholesky of B̂ proves λ_min(B̂) ≥ −2(n+1)n·ε·‖B̂‖ with
 * ‖B̂‖ ≤ 2s² (Higham, Accuracy and Stability, Thm 10.5 and its corollary);
 * η = 8ε·((n + 1)·n + 2m·‖A‖_F²/s²) covers both twice over, so σ_max² < s².
 *   s2   [in]  s², > 0
 *   work [in]  norm_work_bytes(cout, cin, kh) bytes
 */
export function norm_below_f64(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, h: i32, u: i32,
  groups: i32, s2: f64, work: usize): i32 {
  const n = min<i32>(cout, cin);
  const m = max<i32>(cout, cin);
  const ld = lead_dim(m);
  const ldb = <usize>ld << 3;
  const nb = <usize>n << 3;
  const twr = align16(work);
  const twi = twr + (<usize>kh << 3);
  const ar = aBase(work, kh);
  const ai = ar + <usize>n * ldb;
  const br = align16(ai + <usize>n * ldb);
  const bi = br + <usize>n * nb;
  twiddles(u, h, kh, twr, twi);
  for (let g = 0; g < groups; g++) {
    buildBlock(tr, ti, g, cout, cin, kh, twr, twi, ar, ai, ld);
    if (!certifyBelow(ar, ai, m, n, ld, s2, br, bi, align16(bi + <usize>n * nb))) return 0;
  }
  return 1;
}
