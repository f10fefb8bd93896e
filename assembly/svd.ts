// Complex SVD with singular vectors, and the per-frequency clipping round.
import { applyLeft, applyLeftReal, bidiag_work_bytes, bidiagSplit, madd, nmadd } from "./bidiag";
import { buildPTapMajor, lead_dim, twiddles, TWO_PI } from "./column";
import { EPS, qrSweeps, scale_bidiag_f64 } from "./bdsqr";
import { dqds_values_f64, dqds_work_bytes } from "./dqds";
import { bdvec_work_bytes, bidiag_top_vectors_f64 } from "./bdvec";
import { certifyBelow } from "./norm";

/**
 * bdsqr_vectors_f64: SVD of an n×n real upper-bidiagonal B = U_B·diag(d)·V_Bᵀ
 * by implicit-shift QR (Golub–Reinsch), accumulating the rotations.
 *
 * Arguments:
 *   d      [in,out] f64[n]   diagonal; on return the singular values (≥ 0, unsorted)
 *   e      [in,out] f64[n]   superdiagonal e[1..n−1] (e[j] couples j−1, j); destroyed
 *   n      [in]
 *   ub, vb [out] f64[ldv·n]  column-major U_B and V_B (set to the identity first);
 *                            rows n..ldv−1 are zeroed
 *   ldv    [in]              even leading dimension ≥ n
 * Returns 0, or 1 when some value did not converge in MAXIT sweeps (then d is NaN).
 */
export function bdsqr_vectors_f64(d: usize, e: usize, n: i32, ub: usize, vb: usize, ldv: i32): i32 {
  const ldb = <usize>ldv << 3;
  memory.fill(ub, 0, <usize>n * ldb);
  memory.fill(vb, 0, <usize>n * ldb);
  for (let i = 0; i < n; i++) {
    store<f64>(ub + <usize>i * ldb + (<usize>i << 3), 1.0);
    store<f64>(vb + <usize>i * ldb + (<usize>i << 3), 1.0);
  }
  if (n <= 0) return 0;
  store<f64>(e, 0.0);
  const up = scale_bidiag_f64(d, e, n);
  if (up == 0.0) return 0;
  const st = qrSweeps(d, e, n, EPS, ub, vb, ldv);
  for (let i = 0; i < n; i++) store<f64>(d + (<usize>i << 3), load<f64>(d + (<usize>i << 3)) * up);
  return st;
}

/** Sorts d[0..n−1] decreasing and permutes the columns of ub and vb (ld ldv) alike. */
function sortWithVectors(d: usize, n: i32, ub: usize, vb: usize, ldv: i32): void {
  const ldb = <usize>ldv << 3;
  for (let i = 0; i < n - 1; i++) {
    let best = i;
    let bv = load<f64>(d + (<usize>i << 3));
    for (let j = i + 1; j < n; j++) {
      const x = load<f64>(d + (<usize>j << 3));
      if (x > bv) {
        bv = x;
        best = j;
      }
    }
    if (best != i) {
      store<f64>(d + (<usize>best << 3), load<f64>(d + (<usize>i << 3)));
      store<f64>(d + (<usize>i << 3), bv);
      swapCols(ub + <usize>i * ldb, ub + <usize>best * ldb, ldb);
      swapCols(vb + <usize>i * ldb, vb + <usize>best * ldb, ldb);
    }
  }
}

// @ts-ignore: decorator
@inline
function swapCols(a: usize, b: usize, nb: usize): void {
  for (let o: usize = 0; o < nb; o += 16) {
    const x = v128.load(a + o);
    v128.store(a + o, v128.load(b + o));
    v128.store(b + o, x);
  }
}

/** Bytes of scratch for svd_c64_split with an m×n matrix (m ≥ n). */
export function svd_work_bytes(m: i32, n: i32): i32 {
  const ld = lead_dim(m);
  const ldn = lead_dim(n);
  return (4 * n + 2 * (n + 2) + 2 * ldn * n + 2 * ld + n) * 8 + bidiag_work_bytes(ld, n) +
    max<i32>(dqds_work_bytes(n), bdvec_work_bytes(n)) + 160;
}

/**
 * svd_c64_split: thin SVD A = U·diag(s)·Vᴴ of a complex m×n matrix, m ≥ n.
 *
 * Golub–Kahan bidiagonalisation (bidiag_c64_split, reflectors kept), the
 * bidiagonal's values by dqds (so `s` holds the same bits as svd_column_f64's
 * values of the same matrix), and when vectors are wanted the implicit-shift
 * QR with rotations accumulated (bdsqr_vectors_f64) on a copy, sorted by its
 * own values; then the leading `k` columns of U = Q₁·U_B and V = Q₂·V_B are
 * formed by applying the reflectors in reverse order.
 *
 * Arguments:
 *   ar, ai   [in,out] f64[ld·n]  A, column-major re/im split, rows m..ld−1 zero; destroyed
 *   m, n, ld [in]                1 ≤ n ≤ m ≤ ld, ld even
 *   s        [out] f64[n]        singular values, decreasing
 *   k        [in]                number of singular vector pairs wanted, 0 ≤ k ≤ n
 *   ur, ui   [out] f64[ld·k]     U's first k columns (ld rows, padding rows zero)
 *   vr, vi   [out] f64[ldn·k]    V's first k columns, ldn = lead_dim(n)
 *   work     [in]  svd_work_bytes(m, n) bytes, 16-byte aligned
 * Returns 0, or 1 if the QR iteration did not converge (s is then NaN).
 */
export function svd_c64_split(ar: usize, ai: usize, m: i32, n: i32, ld: i32, s: usize, k: i32,
  ur: usize, ui: usize, vr: usize, vi: usize, work: usize): i32 {
  return svdCore(ar, ai, m, n, ld, s, k, Infinity, ur, ui, vr, vi, work);
}

/** Columns formed by the last svdCore call. */
let formed: i32 = 0;

/** svd_c64_split, where k < 0 means "every column whose singular value exceeds thr". */
function svdCore(ar: usize, ai: usize, m: i32, n: i32, ld: i32, s: usize, k: i32, thr: f64,
  ur: usize, ui: usize, vr: usize, vi: usize, work: usize, formU: bool = true): i32 {
  const ldn = lead_dim(n);
  const ldb = <usize>ld << 3;
  const ldnb = <usize>ldn << 3;
  const taus = work;
  const e = taus + (<usize>(4 * n) << 3);
  const ub = (e + (<usize>(n + 2) << 3) + 15) & ~(<usize>15);
  const vb = ub + <usize>n * ldnb;
  const tmpr = vb + <usize>n * ldnb;
  const tmpi = tmpr + ldb;
  const bw = tmpi + ldb;
  const dv = (bw + <usize>bidiag_work_bytes(ld, n) + 15) & ~(<usize>15);
  const dqw = (dv + (<usize>n << 3) + 15) & ~(<usize>15);
  // A real A (a one-tap kernel's matrix) takes real arithmetic throughout: the same bits, U and V real.
  const real = bidiagSplit<f64>(ar, ai, m, n, ld, s, e, bw, taus);
  memory.copy(dv, s, <usize>n << 3);
  // Values by dqds (e is only read), decreasing.
  let st = dqds_values_f64(s, e, n, dqw);
  let clip = false;
  if (k < 0) {
    clip = true;
    k = 0;
    if (st == 0) {
      while (k < n && load<f64>(s + (<usize>k << 3)) > thr) k++;
      // Pairs whose weight σ_j − thr is below the rounding of P itself change
      // nothing that P's own rounding does not: they are not formed.
      const tiny = EPS * load<f64>(s);
      while (k > 0 && load<f64>(s + (<usize>(k - 1) << 3)) - thr <= tiny) k--;
    }
  }
  formed = k;
  if (k <= 0 || st != 0) {
    formed = 0;
    return st;
  }
  // Clipping: the k pairs alone, by inverse iteration on the Golub–Kahan
  // tridiagonal from the dqds values (bdvec.ts), in the order of s. Full SVD,
  // or when that routine cannot vouch for a pair: QR with rotations on the
  // copy, columns ordered by its own values.
  if (!clip || bidiag_top_vectors_f64(dv, e, n, s, k, ub, vb, ldn, dqw) != 0) {
    if (bdsqr_vectors_f64(dv, e, n, ub, vb, ldn) != 0) {
      for (let i = 0; i < n; i++) store<f64>(s + (<usize>i << 3), NaN);
      formed = 0;
      return 1;
    }
    sortWithVectors(dv, n, ub, vb, ldn);
  }
  // U = Q₁ [U_B; 0] on the first k columns.
  if (formU) formLeft(ar, ai, m, n, ld, k, ub, taus, ur, ui, tmpr, tmpi, real);
  // V = Q₂ V_B on the first k columns.
  for (let j = 0; j < k; j++) {
    const cr = vr + <usize>j * ldnb;
    const ci = vi + <usize>j * ldnb;
    memory.copy(cr, vb + <usize>j * ldnb, ldnb);
    memory.fill(ci, 0, ldnb);
  }
  for (let q = n - 2; q >= 0; q--) {
    const tr = load<f64>(taus + (<usize>(2 * n + 2 * q) << 3));
    const ti = load<f64>(taus + (<usize>(2 * n + 2 * q + 1) << 3));
    if (tr == 0.0 && ti == 0.0) continue;
    const r0 = q + 1;
    const i0 = r0 & ~1;
    for (let i = i0; i < ldn; i++) {
      let zr: f64 = 0.0;
      let zi: f64 = 0.0;
      if (i == r0) zr = 1.0;
      else if (i > r0 && i < n) {
        const off = <usize>i * ldb + (<usize>q << 3);
        zr = load<f64>(ar + off);
        if (!real) zi = load<f64>(ai + off);
      }
      store<f64>(tmpr + (<usize>i << 3), zr);
      store<f64>(tmpi + (<usize>i << 3), zi);
    }
    if (real) applyLeftReal(vr, ldnb, i0, ldn, 0, k, tmpr, tr);
    else applyLeft<f64>(vr, vi, ldnb, i0, ldn, 0, k, tmpr, tmpi, tr, -ti);
  }
  return st;
}

/** U = Q₁·[U_B; 0] on the first k columns (svdCore's left reflectors, kept in A's columns, and taus). */
function formLeft(ar: usize, ai: usize, m: i32, n: i32, ld: i32, k: i32, ub: usize, taus: usize,
  ur: usize, ui: usize, tmpr: usize, tmpi: usize, real: bool): void {
  const ldb = <usize>ld << 3;
  const ldnb = <usize>lead_dim(n) << 3;
  for (let j = 0; j < k; j++) {
    const cr = ur + <usize>j * ldb;
    const ci = ui + <usize>j * ldb;
    memory.fill(cr, 0, ldb);
    memory.fill(ci, 0, ldb);
    memory.copy(cr, ub + <usize>j * ldnb, <usize>n << 3);
  }
  for (let q = n - 1; q >= 0; q--) {
    const tr = load<f64>(taus + (<usize>(2 * q) << 3));
    const ti = load<f64>(taus + (<usize>(2 * q + 1) << 3));
    if (tr == 0.0 && ti == 0.0) continue;
    const i0 = q & ~1;
    const colr = ar + <usize>q * ldb;
    const coli = ai + <usize>q * ldb;
    for (let i = i0; i < ld; i++) {
      const inside = i > q && i < m;
      store<f64>(tmpr + (<usize>i << 3), inside ? load<f64>(colr + (<usize>i << 3)) : (i == q ? 1.0 : 0.0));
      if (!real) store<f64>(tmpi + (<usize>i << 3), inside ? load<f64>(coli + (<usize>i << 3)) : 0.0);
    }
    // H_q = I − tau·v·vᴴ; applyLeft subtracts v·(conj(param)·vᴴx), so pass conj(tau).
    if (real) applyLeftReal(ur, ldb, i0, ld, 0, k, tmpr, tr);
    else applyLeft<f64>(ur, ui, ldb, i0, ld, 0, k, tmpr, tmpi, tr, -ti);
  }
}

/**
 * Whether σ_max(A) < c is certified (certifyBelow, assembly/norm.ts), tried
 * only when no column of A is as long as c (a column's norm is a lower bound
 * of σ_max: then the answer is no at once). Zeroes A's padding rows first;
 * `work` holds the 2·n² f64 of the test's scratch (clip_column_work_bytes covers it).
 */
function insideBall(ar: usize, ai: usize, m: i32, n: i32, ld: i32, c: f64, work: usize): bool {
  const ldb = <usize>ld << 3;
  const c2 = c * c;
  zeroPadding(ar, ai, m, n, ld);
  for (let j = 0; j < n; j++) {
    let q: f64 = 0.0;
    for (let r = 0; r < m; r++) {
      const x = load<f64>(ar + <usize>j * ldb + (<usize>r << 3));
      const y = load<f64>(ai + <usize>j * ldb + (<usize>r << 3));
      q += x * x + y * y;
    }
    if (!(q < c2)) return false;
  }
  const br = (work + 15) & ~(<usize>15);
  // A frequency that reaches this test in a round is most often outside the ball (the screen, where the
  // shape has one, certified those inside): an f32 attempt would mostly fail and double the work.
  return certifyBelow(ar, ai, m, n, ld, c2, br, br + (<usize>(n * n) << 3), 0);
}

/** Rows m … ld − 1 of A's n columns set to zero. */
function zeroPadding(ar: usize, ai: usize, m: i32, n: i32, ld: i32): void {
  const ldb = <usize>ld << 3;
  for (let j = 0; j < n; j++) {
    for (let r = m; r < ld; r++) {
      store<f64>(ar + <usize>j * ldb + (<usize>r << 3), 0.0);
      store<f64>(ai + <usize>j * ldb + (<usize>r << 3), 0.0);
    }
  }
}

/** Bytes of scratch for clip_column_f64. */
export function clip_column_work_bytes(cout: i32, cin: i32, kh: i32): i32 {
  const n = min<i32>(cout, cin);
  const m = max<i32>(cout, cin);
  const ld = lead_dim(m);
  const ldn = lead_dim(n);
  let bytes: i64 = 4 * <i64>kh * 8 + 64; // twiddles
  bytes += 2 * <i64>kh * <i64>n * <i64>ld * 8 + 32; // S, per tap as A
  bytes += 2 * <i64>cout * <i64>cin * <i64>kh * 8 + 32; // the transform, tap-major
  bytes += 4 * <i64>ld * <i64>n * 8 + 64; // A, A0
  bytes += 2 * <i64>ld * <i64>n * 8 + 32; // U
  bytes += 2 * <i64>ldn * <i64>n * 8 + 32; // V
  bytes += max<i64>(<i64>svd_work_bytes(m, n), 2 * <i64>n * <i64>n * 8 + 16) + 32; // SVD, or the certificate
  return bytes > 0x7fffffff ? -1 : <i32>bytes;
}

/**
 * clip_column_f64: one column v of the paper's clipping round (Appendix A).
 *
 * For u = 0..nu−1: P = P(u, v) from the column transform T (as in
 * svd_column_f64), its SVD P = U·Σ·Vᴴ, then P' = U·min(Σ, c)·Vᴴ, formed as
 * P − Σ_{σ_j > c} (σ_j − c)·u_j·v_jᴴ (only the clipped pairs are formed).
 * P' goes back through the inverse DFT restricted to the kernel's taps:
 *
 *   kout[o, i, a, b] += wgt(u) · Re(P'[o, i] · exp(−2πi (u·a/h + v·b/w))) / (h·w)
 *
 * with wgt = 2 for a frequency that stands for itself and its mirror
 * (−u, −v) and 1 for a self-conjugate one, so the result is real by construction.
 *
 * Arguments:
 *   tr, ti           [in]  f64[cout·cin·kh]  the column's transform (taps a < kh)
 *   cout, cin, kh, h [in]  kh ≤ h
 *   kw, w, v         [in]  taps along the width, its length, this column (kw ≤ w)
 *   nu               [in]  frequencies u = 0..nu−1 of this column
 *   selfMirror       [in]  1 for the columns v = 0 and v = w/2 (u pairs with h−u), else 0
 *   c                [in]  the clipping level, ≥ 0
 *   kout             [in,out] f64[cout·cin·kh·kw] accumulated kernel (OIHW)
 *   sv               [out] f64[nu·r]  P's singular values before clipping, rows decreasing
 *   work             [in]  clip_column_work_bytes(cout, cin, kh) bytes, 16-byte aligned
 *   corr             [in,out] f64[nu·2·ld·n] or 0: Dykstra's correction for this
 *                          column (ld = lead_dim(max(cout, cin)), n = min(cout, cin),
 *                          per frequency the re then im plane of an ld×n block in
 *                          the layout of A). When non-zero, P + corr is clipped
 *                          instead of P, and corr becomes (P + corr) − P'.
 *   inside           [in]  u8[nu] or 0: 1 where σ_max(P(u, v)) < c is already
 *                          certified (assembly/gram.ts gram_screen_f64; only
 *                          without corr): P' = P there with no test of its own
 *   gram             [in]  1: a frequency may be clipped through AᴴA (gramRoute, for A
 *                          at least twice as tall as wide; its update fused), and its
 *                          values in `sv` are then √λ (the top one within a few ulps
 *                          of σ_max); 0: A's own SVD, the plain layers' bits
 * Returns the number of frequencies whose QR iteration did not converge.
 */
export function clip_column_f64(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, h: i32,
  kw: i32, w: i32, v: i32, nu: i32, selfMirror: i32, c: f64, kout: usize, sv: usize, work: usize,
  corr: usize, inside: usize, gram: i32): i32 {
  return clipColumn(tr, ti, cout, cin, kh, h, kw, w, v, nu, selfMirror, c, kout, 0, sv, work, corr, inside, gram);
}

/**
 * clip_column_c64: clip_column_f64 for a complex kernel (a depth frequency of a
 * 3-D layer), whose frequencies have no mirror: the caller passes every u
 * (nu = h), each weighted 1, and the column's share of the clipped kernel is
 * complex,
 *
 *   kout + i·kouti [o, i, a, b] += P'[o, i] · exp(−2πi (u·a/h + v·b/w)) / (h·w).
 *
 * Arguments as clip_column_f64 (selfMirror is not taken), plus
 *   kouti  [in,out] f64[cout·cin·kh·kw] accumulated imaginary part
 */
export function clip_column_c64(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, h: i32,
  kw: i32, w: i32, v: i32, nu: i32, c: f64, kout: usize, kouti: usize, sv: usize, work: usize,
  corr: usize, inside: usize, gram: i32): i32 {
  return clipColumn(tr, ti, cout, cin, kh, h, kw, w, v, nu, 0, c, kout, kouti, sv, work, corr, inside, gram);
}

/**
 * Re of acc − x·coef, coef = (cr, ci) = g·conj(v_j[q]): one rank-1 step's operations on B's real plane;
 * `fused` (a constant): as multiply-adds (madd, nmadd), else the product's rounding first.
 */
// @ts-ignore: decorator
@inline
function subRe(acc: v128, xr: v128, xi: v128, cr: v128, ci: v128, fused: bool): v128 {
  if (fused) return madd<f64>(xi, ci, nmadd<f64>(xr, cr, acc));
  return f64x2.sub(acc, f64x2.sub(f64x2.mul(xr, cr), f64x2.mul(xi, ci)));
}

/** Im of acc − x·coef: the same step on B's imaginary plane. */
// @ts-ignore: decorator
@inline
function subIm(acc: v128, xr: v128, xi: v128, cr: v128, ci: v128, fused: bool): v128 {
  if (fused) return nmadd<f64>(xi, cr, nmadd<f64>(xr, ci, acc));
  return f64x2.sub(acc, f64x2.add(f64x2.mul(xr, ci), f64x2.mul(xi, cr)));
}

/**
 * B −= Σ_{j < formed} g_j·u_j·v_jᴴ with g_j = σ_j − c (σ at sv): for each
 * element the rank-1 steps j = 0, 1, … in order, each exactly as written
 * alone (the same bits), but four steps per load and store of B's column
 * (B, ld × n, does not stay in cache between passes at c ≥ 128).
 * The plain layers' bits are those of the unfused steps; clipping through the
 * Gram matrix (gramRoute) has no bits to keep and takes the fused ones.
 */
function clippedUpdate(br: usize, bi: usize, ur: usize, ui: usize, vr: usize, vi: usize, sv: usize, formed: i32,
  c: f64, n: i32, ldb: usize, ldnb: usize, fused: bool): void {
  if (fused) updateSteps(br, bi, ur, ui, vr, vi, sv, formed, c, n, ldb, ldnb, true);
  else updateSteps(br, bi, ur, ui, vr, vi, sv, formed, c, n, ldb, ldnb, false);
}

// @ts-ignore: decorator
@inline
function updateSteps(br: usize, bi: usize, ur: usize, ui: usize, vr: usize, vi: usize, sv: usize, formed: i32,
  c: f64, n: i32, ldb: usize, ldnb: usize, fused: bool): void {
  let j = 0;
  for (; j + 4 <= formed; j += 4) {
    const g0 = load<f64>(sv + (<usize>j << 3)) - c;
    const g1 = load<f64>(sv + (<usize>(j + 1) << 3)) - c;
    const g2 = load<f64>(sv + (<usize>(j + 2) << 3)) - c;
    const g3 = load<f64>(sv + (<usize>(j + 3) << 3)) - c;
    const u0r = ur + <usize>j * ldb, u0i = ui + <usize>j * ldb;
    const u1r = u0r + ldb, u1i = u0i + ldb;
    const u2r = u1r + ldb, u2i = u1i + ldb;
    const u3r = u2r + ldb, u3i = u2i + ldb;
    for (let q = 0; q < n; q++) {
      const qb = <usize>q << 3;
      const c0r = f64x2.splat(g0 * load<f64>(vr + <usize>j * ldnb + qb));
      const c0i = f64x2.splat(-g0 * load<f64>(vi + <usize>j * ldnb + qb));
      const c1r = f64x2.splat(g1 * load<f64>(vr + <usize>(j + 1) * ldnb + qb));
      const c1i = f64x2.splat(-g1 * load<f64>(vi + <usize>(j + 1) * ldnb + qb));
      const c2r = f64x2.splat(g2 * load<f64>(vr + <usize>(j + 2) * ldnb + qb));
      const c2i = f64x2.splat(-g2 * load<f64>(vi + <usize>(j + 2) * ldnb + qb));
      const c3r = f64x2.splat(g3 * load<f64>(vr + <usize>(j + 3) * ldnb + qb));
      const c3i = f64x2.splat(-g3 * load<f64>(vi + <usize>(j + 3) * ldnb + qb));
      const colr = br + <usize>q * ldb;
      const coli = bi + <usize>q * ldb;
      for (let o: usize = 0; o < ldb; o += 16) {
        let ar = v128.load(colr + o);
        let ai = v128.load(coli + o);
        let xr = v128.load(u0r + o), xi = v128.load(u0i + o);
        ar = subRe(ar, xr, xi, c0r, c0i, fused);
        ai = subIm(ai, xr, xi, c0r, c0i, fused);
        xr = v128.load(u1r + o);
        xi = v128.load(u1i + o);
        ar = subRe(ar, xr, xi, c1r, c1i, fused);
        ai = subIm(ai, xr, xi, c1r, c1i, fused);
        xr = v128.load(u2r + o);
        xi = v128.load(u2i + o);
        ar = subRe(ar, xr, xi, c2r, c2i, fused);
        ai = subIm(ai, xr, xi, c2r, c2i, fused);
        xr = v128.load(u3r + o);
        xi = v128.load(u3i + o);
        ar = subRe(ar, xr, xi, c3r, c3i, fused);
        ai = subIm(ai, xr, xi, c3r, c3i, fused);
        v128.store(colr + o, ar);
        v128.store(coli + o, ai);
      }
    }
  }
  for (; j < formed; j++) {
    const g = load<f64>(sv + (<usize>j << 3)) - c;
    const ujr = ur + <usize>j * ldb;
    const uji = ui + <usize>j * ldb;
    for (let q = 0; q < n; q++) {
      // coef = g · conj(v_j[q])
      const cr = f64x2.splat(g * load<f64>(vr + <usize>j * ldnb + (<usize>q << 3)));
      const ci = f64x2.splat(-g * load<f64>(vi + <usize>j * ldnb + (<usize>q << 3)));
      const colr = br + <usize>q * ldb;
      const coli = bi + <usize>q * ldb;
      for (let o: usize = 0; o < ldb; o += 16) {
        const xr = v128.load(ujr + o);
        const xi = v128.load(uji + o);
        v128.store(colr + o, subRe(v128.load(colr + o), xr, xi, cr, ci, fused));
        v128.store(coli + o, subIm(v128.load(coli + o), xr, xi, cr, ci, fused));
      }
    }
  }
}

/**
 * G = AᴴA (n × n, Hermitian) of the m × n A (column-major, ld rows whose
 * padding rows are zero), written column-major with leading dimension ldn,
 * rows n … ldn − 1 zero. Each entry above the diagonal is one sum over the
 * rows and its mirror is its conjugate, so G is Hermitian to the bit; the
 * diagonal is real.
 */
function gramOf(ar: usize, ai: usize, n: i32, ld: i32, gr: usize, gi: usize, ldn: i32): void {
  const ldb = <usize>ld << 3;
  const ldnb = <usize>ldn << 3;
  memory.fill(gr, 0, <usize>n * ldnb);
  memory.fill(gi, 0, <usize>n * ldnb);
  for (let j0 = 0; j0 < n; j0 += 2) {
    const j1 = j0 + 1 < n ? j0 + 1 : j0;
    const y0r = ar + <usize>j0 * ldb, y0i = ai + <usize>j0 * ldb;
    const y1r = ar + <usize>j1 * ldb, y1i = ai + <usize>j1 * ldb;
    for (let i0 = 0; i0 <= j0; i0 += 2) {
      const i1 = i0 + 1 < n ? i0 + 1 : i0;
      const x0r = ar + <usize>i0 * ldb, x0i = ai + <usize>i0 * ldb;
      const x1r = ar + <usize>i1 * ldb, x1i = ai + <usize>i1 * ldb;
      let s00r = f64x2.splat(0), s00i = f64x2.splat(0), s01r = f64x2.splat(0), s01i = f64x2.splat(0);
      let s10r = f64x2.splat(0), s10i = f64x2.splat(0), s11r = f64x2.splat(0), s11i = f64x2.splat(0);
      for (let o: usize = 0; o < ldb; o += 16) {
        const ar0 = v128.load(x0r + o), ai0 = v128.load(x0i + o);
        const ar1 = v128.load(x1r + o), ai1 = v128.load(x1i + o);
        const br0 = v128.load(y0r + o), bi0 = v128.load(y0i + o);
        const br1 = v128.load(y1r + o), bi1 = v128.load(y1i + o);
        // conj(x)·y = (xr·yr + xi·yi) + i(xr·yi − xi·yr)
        s00r = madd<f64>(ar0, br0, madd<f64>(ai0, bi0, s00r));
        s00i = madd<f64>(ar0, bi0, nmadd<f64>(ai0, br0, s00i));
        s01r = madd<f64>(ar0, br1, madd<f64>(ai0, bi1, s01r));
        s01i = madd<f64>(ar0, bi1, nmadd<f64>(ai0, br1, s01i));
        s10r = madd<f64>(ar1, br0, madd<f64>(ai1, bi0, s10r));
        s10i = madd<f64>(ar1, bi0, nmadd<f64>(ai1, br0, s10i));
        s11r = madd<f64>(ar1, br1, madd<f64>(ai1, bi1, s11r));
        s11i = madd<f64>(ar1, bi1, nmadd<f64>(ai1, br1, s11i));
      }
      gramPut(gr, gi, ldnb, i0, j0, s00r, s00i);
      if (j1 != j0) gramPut(gr, gi, ldnb, i0, j1, s01r, s01i);
      if (i1 != i0 && i1 < j0) gramPut(gr, gi, ldnb, i1, j0, s10r, s10i);
      if (i1 != i0 && j1 != j0) gramPut(gr, gi, ldnb, i1, j1, s11r, s11i);
    }
  }
}

/** G[i, j] = the lanes' sum and G[j, i] its conjugate (i ≤ j; on the diagonal, the real part alone). */
// @ts-ignore: decorator
@inline
function gramPut(gr: usize, gi: usize, ldnb: usize, i: i32, j: i32, sr: v128, si: v128): void {
  const x = f64x2.extract_lane(sr, 0) + f64x2.extract_lane(sr, 1);
  const at = <usize>j * ldnb + (<usize>i << 3);
  store<f64>(gr + at, x);
  if (i == j) return;
  const y = f64x2.extract_lane(si, 0) + f64x2.extract_lane(si, 1);
  const mirror = <usize>i * ldnb + (<usize>j << 3);
  store<f64>(gi + at, y);
  store<f64>(gr + mirror, x);
  store<f64>(gi + mirror, -y);
}

/**
 * u_j = A·v_j / σ_j for j < k (A m × n with ld rows, zero padding; V n × k
 * with ldn rows; σ at s): the left vectors of the pairs found from AᴴA.
 * Two columns at a time, four rows per step (two at the end of an ld ≢ 0 mod 4),
 * over every column q of A.
 */
function leftFromRight(ar: usize, ai: usize, n: i32, ld: i32, vr: usize, vi: usize, ldn: i32, k: i32,
  s: usize, ur: usize, ui: usize): void {
  const ldb = <usize>ld << 3;
  const ldnb = <usize>ldn << 3;
  const four = ldb & ~(<usize>31);
  for (let j0 = 0; j0 < k; j0 += 2) {
    const j1 = j0 + 1 < k ? j0 + 1 : j0;
    const v0r = vr + <usize>j0 * ldnb, v0i = vi + <usize>j0 * ldnb;
    const v1r = vr + <usize>j1 * ldnb, v1i = vi + <usize>j1 * ldnb;
    const f0 = f64x2.splat(1.0 / load<f64>(s + (<usize>j0 << 3)));
    const f1 = f64x2.splat(1.0 / load<f64>(s + (<usize>j1 << 3)));
    const d0r = ur + <usize>j0 * ldb, d0i = ui + <usize>j0 * ldb;
    const d1r = ur + <usize>j1 * ldb, d1i = ui + <usize>j1 * ldb;
    for (let o: usize = 0; o < four; o += 32) {
      let w0r = f64x2.splat(0), w0i = f64x2.splat(0), w1r = f64x2.splat(0), w1i = f64x2.splat(0);
      let x0r = f64x2.splat(0), x0i = f64x2.splat(0), x1r = f64x2.splat(0), x1i = f64x2.splat(0);
      let cr = ar + o, ci = ai + o;
      for (let q = 0; q < n; q++) {
        const qb = <usize>q << 3;
        const pr = v128.load(cr), pi = v128.load(ci);
        const pr2 = v128.load(cr, 16), pi2 = v128.load(ci, 16);
        const a0r = v128.load64_splat(v0r + qb), a0i = v128.load64_splat(v0i + qb);
        const a1r = v128.load64_splat(v1r + qb), a1i = v128.load64_splat(v1i + qb);
        // w += p·a = (pr·ar − pi·ai) + i(pr·ai + pi·ar)
        w0r = madd<f64>(pr, a0r, nmadd<f64>(pi, a0i, w0r));
        w0i = madd<f64>(pr, a0i, madd<f64>(pi, a0r, w0i));
        w1r = madd<f64>(pr, a1r, nmadd<f64>(pi, a1i, w1r));
        w1i = madd<f64>(pr, a1i, madd<f64>(pi, a1r, w1i));
        x0r = madd<f64>(pr2, a0r, nmadd<f64>(pi2, a0i, x0r));
        x0i = madd<f64>(pr2, a0i, madd<f64>(pi2, a0r, x0i));
        x1r = madd<f64>(pr2, a1r, nmadd<f64>(pi2, a1i, x1r));
        x1i = madd<f64>(pr2, a1i, madd<f64>(pi2, a1r, x1i));
        cr += ldb;
        ci += ldb;
      }
      v128.store(d0r + o, f64x2.mul(w0r, f0));
      v128.store(d0i + o, f64x2.mul(w0i, f0));
      v128.store(d1r + o, f64x2.mul(w1r, f1));
      v128.store(d1i + o, f64x2.mul(w1i, f1));
      v128.store(d0r + o, f64x2.mul(x0r, f0), 16);
      v128.store(d0i + o, f64x2.mul(x0i, f0), 16);
      v128.store(d1r + o, f64x2.mul(x1r, f1), 16);
      v128.store(d1i + o, f64x2.mul(x1i, f1), 16);
    }
    if (four < ldb) {
      let w0r = f64x2.splat(0), w0i = f64x2.splat(0), w1r = f64x2.splat(0), w1i = f64x2.splat(0);
      let cr = ar + four, ci = ai + four;
      for (let q = 0; q < n; q++) {
        const qb = <usize>q << 3;
        const pr = v128.load(cr), pi = v128.load(ci);
        const a0r = v128.load64_splat(v0r + qb), a0i = v128.load64_splat(v0i + qb);
        const a1r = v128.load64_splat(v1r + qb), a1i = v128.load64_splat(v1i + qb);
        w0r = madd<f64>(pr, a0r, nmadd<f64>(pi, a0i, w0r));
        w0i = madd<f64>(pr, a0i, madd<f64>(pi, a0r, w0i));
        w1r = madd<f64>(pr, a1r, nmadd<f64>(pi, a1i, w1r));
        w1i = madd<f64>(pr, a1i, madd<f64>(pi, a1r, w1i));
        cr += ldb;
        ci += ldb;
      }
      v128.store(d0r + four, f64x2.mul(w0r, f0));
      v128.store(d0i + four, f64x2.mul(w0i, f0));
      v128.store(d1r + four, f64x2.mul(w1r, f1));
      v128.store(d1i + four, f64x2.mul(w1i, f1));
    }
  }
}

/** Largest σ_max(A)/c for which gramRoute clips through AᴴA (its rounding grows as (σ_max/c)², see gramRoute). */
const GRAM_RATIO: f64 = 4.0;

/**
 * The clipped pairs of A (m × n, ld rows, padding rows zero) from G = AᴴA:
 * its SVD (svdCore at the level c², V alone) gives λ_j = σ_j² and the right
 * vectors v_j; σ_j = √λ_j and u_j = A·v_j/σ_j (leftFromRight), ready for
 * clippedUpdate, and `s` holds the σ_j. A is left as it is. Declines (returns
 * −1, having written nothing the caller reads) when σ_max(A) may exceed
 * GRAM_RATIO·c: G's rounding, ε·σ_max², moves the clipped matrix by about
 * ε·σ_max·(σ_max/c)², against ε·σ_max through A's own SVD; and when G's QR
 * iteration does not converge (A's own may). Returns 0 when it clipped.
 */
function gramRoute(ar: usize, ai: usize, n: i32, ld: i32, c: f64, s: usize,
  ur: usize, ui: usize, vr: usize, vi: usize, sw: usize): i32 {
  const ldb = <usize>ld << 3;
  const ldn = lead_dim(n);
  // G must fit where U goes (n·ld f64 per plane): always so for A twice as tall as wide, the route's matrices.
  if (ldn > ld) return -1;
  const limit = GRAM_RATIO * GRAM_RATIO * c * c;
  // A column's norm is a lower bound of σ_max.
  for (let j = 0; j < n; j++) {
    let q = f64x2.splat(0);
    for (let o: usize = 0; o < ldb; o += 16) {
      const x = v128.load(ar + <usize>j * ldb + o);
      const y = v128.load(ai + <usize>j * ldb + o);
      q = f64x2.add(q, f64x2.add(f64x2.mul(x, x), f64x2.mul(y, y)));
    }
    if (!(f64x2.extract_lane(q, 0) + f64x2.extract_lane(q, 1) <= limit)) return -1;
  }
  // G lives where U goes: svdCore reads it until V is formed, and forms no U.
  gramOf(ar, ai, n, ld, ur, ui, ldn);
  const st = svdCore(ur, ui, n, n, ldn, s, -1, c * c, 0, 0, vr, vi, sw, false);
  if (st != 0 || !(load<f64>(s) <= limit)) return -1;
  for (let j = 0; j < n; j++) store<f64>(s + (<usize>j << 3), Math.sqrt(max<f64>(load<f64>(s + (<usize>j << 3)), 0.0)));
  leftFromRight(ar, ai, n, ld, vr, vi, ldn, formed, s, ur, ui);
  return 0;
}

/** Both: a Hermitian half's column (kouti = 0, real result) or a complex kernel's column (kouti ≠ 0). */
function clipColumn(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, h: i32,
  kw: i32, w: i32, v: i32, nu: i32, selfMirror: i32, c: f64, kout: usize, kouti: usize, sv: usize, work: usize,
  corr: usize, inside: usize, gram: i32): i32 {
  const n = min<i32>(cout, cin);
  const m = max<i32>(cout, cin);
  const ld = lead_dim(m);
  const ldn = lead_dim(n);
  const ldb = <usize>ld << 3;
  const ldnb = <usize>ldn << 3;
  const tall = cout >= cin;
  const pairs = cout * cin;
  const twr = (work + 15) & ~(<usize>15);
  const twi = twr + (<usize>kh << 3);
  const itr = twi + (<usize>kh << 3);
  const iti = itr + (<usize>kh << 3);
  // S: per tap a, an ld × n block laid out as A (column j, row r), re then im planes.
  const sPlane = <usize>kh * <usize>n * ldb;
  const sr = (iti + (<usize>kh << 3) + 15) & ~(<usize>15);
  const si = sr + sPlane;
  // The column transform again, tap-major (T_a as m × n column-major, as buildPTapMajor reads it).
  const tmr = (si + sPlane + 15) & ~(<usize>15);
  const tmi = tmr + (<usize>(pairs * kh) << 3);
  const ar = (tmi + (<usize>(pairs * kh) << 3) + 15) & ~(<usize>15);
  const ai = ar + <usize>n * ldb;
  const br = ai + <usize>n * ldb;
  const bi = br + <usize>n * ldb;
  const ur = bi + <usize>n * ldb;
  const ui = ur + <usize>n * ldb;
  const vr = ui + <usize>n * ldb;
  const vi = vr + <usize>n * ldnb;
  const sw = (vi + <usize>n * ldnb + 15) & ~(<usize>15);
  memory.fill(sr, 0, sPlane * 2);
  memory.fill(ar, 0, <usize>n * ldb * 2);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      const p = o * cin + i;
      const to = <usize>(tall ? i * cout + o : o * cin + i) << 3;
      for (let a = 0; a < kh; a++) {
        const at = (<usize>a * <usize>pairs << 3) + to;
        store<f64>(tmr + at, load<f64>(tr + (<usize>(p * kh + a) << 3)));
        store<f64>(tmi + at, load<f64>(ti + (<usize>(p * kh + a) << 3)));
      }
    }
  }
  let failed = 0;
  for (let u = 0; u < nu; u++) {
    twiddles(u, h, kh, twr, twi);
    // The same bits as buildP (see buildPTapMajor).
    buildPTapMajor<f64>(tmr, tmi, m, n, kh, twr, twi, ar, ai, ldb);
    const cu = corr + <usize>u * <usize>n * ldb * 2;
    if (corr != 0) {
      for (let o: usize = 0; o < <usize>n * ldb * 2; o += 16) {
        v128.store(ar + o, f64x2.add(v128.load(ar + o), v128.load(cu + o)));
      }
    }
    memory.copy(br, ar, <usize>n * ldb * 2); // B = A (br, bi are contiguous after ar, ai)
    // A frequency certified inside the ball (σ_max < c) is left as it is: P' = P, no SVD, its values
    // written as 0 (the round's norm is then the largest value of the frequencies factorised).
    let st = 0;
    let viaGram = false;
    const certified = inside != 0 && load<u8>(inside + <usize>u) != 0;
    if (certified) zeroPadding(ar, ai, m, n, ld);
    if (certified || insideBall(ar, ai, m, n, ld, c, sw)) {
      memory.fill(sv + <usize>(u * n) * 8, 0, <usize>n << 3);
      formed = 0;
    } else {
      st = gram != 0 ? gramRoute(ar, ai, n, ld, c, sv + <usize>(u * n) * 8, ur, ui, vr, vi, sw) : -1;
      viaGram = st >= 0;
      if (st < 0) st = svdCore(ar, ai, m, n, ld, sv + <usize>(u * n) * 8, -1, c, ur, ui, vr, vi, sw);
    }
    if (st != 0) {
      failed++;
    } else {
      // B −= Σ_j (σ_j − c)·u_j·v_jᴴ over the formed pairs, four pairs per pass over B.
      clippedUpdate(br, bi, ur, ui, vr, vi, sv + <usize>(u * n) * 8, formed, c, n, ldb, ldnb, viaGram);
    }
    if (corr != 0) {
      // corr ← (P + corr) − P' (A was destroyed by the SVD: build P again, add, then subtract P' = B).
      buildPTapMajor<f64>(tmr, tmi, m, n, kh, twr, twi, ar, ai, ldb);
      for (let o: usize = 0; o < <usize>n * ldb * 2; o += 16) {
        v128.store(cu + o, f64x2.add(v128.load(ar + o), v128.load(cu + o)));
      }
      for (let o: usize = 0; o < <usize>n * ldb * 2; o += 16) {
        v128.store(cu + o, f64x2.sub(v128.load(cu + o), v128.load(br + o)));
      }
    }
    // S[o, i, a] += wgt · P'[o, i] · exp(−2πi·u·a/h)
    const wgt: f64 = kouti != 0 || (selfMirror != 0 && (h - u) % h == u) ? 1.0 : 2.0;
    for (let a = 0; a < kh; a++) {
      store<f64>(itr + (<usize>a << 3), wgt * load<f64>(twr + (<usize>a << 3)));
      store<f64>(iti + (<usize>a << 3), -wgt * load<f64>(twi + (<usize>a << 3)));
    }
    // Two rows per step over B's columns (padding rows are zero and stay so); per element the same
    // operations in the same order as a scalar S += (pr·cr − pi·ci, pr·ci + pi·cr).
    for (let a = 0; a < kh; a++) {
      const cr = f64x2.splat(load<f64>(itr + (<usize>a << 3)));
      const ci = f64x2.splat(load<f64>(iti + (<usize>a << 3)));
      const dr = sr + <usize>a * <usize>n * ldb;
      const di = si + <usize>a * <usize>n * ldb;
      for (let o: usize = 0; o < <usize>n * ldb; o += 16) {
        const pr = v128.load(br + o);
        const pi = v128.load(bi + o);
        v128.store(dr + o, f64x2.sub(f64x2.add(v128.load(dr + o), f64x2.mul(pr, cr)), f64x2.mul(pi, ci)));
        v128.store(di + o, f64x2.add(f64x2.add(v128.load(di + o), f64x2.mul(pr, ci)), f64x2.mul(pi, cr)));
      }
    }
  }
  // kout[o, i, a, b] += Re(S[o, i, a] · exp(−2πi·v·b/w)) / (h·w), in the kernel's OIHW order.
  const scale = 1.0 / (<f64>h * <f64>w);
  const tapb = <usize>n * ldb;
  for (let b = 0; b < kw; b++) {
    const ang = TWO_PI * <f64>(<i32>((<i64>v * <i64>b) % <i64>w)) / <f64>w;
    const cr = Math.cos(ang) * scale;
    const ci = -Math.sin(ang) * scale;
    let dst = kout + (<usize>b << 3);
    let dsti = kouti + (<usize>b << 3);
    const step = <usize>kw << 3;
    for (let o = 0; o < cout; o++) {
      for (let i = 0; i < cin; i++) {
        // S's entry (o, i) of tap 0: column j, row r of an ld × n block.
        let at = tall ? <usize>i * ldb + (<usize>o << 3) : <usize>o * ldb + (<usize>i << 3);
        for (let a = 0; a < kh; a++) {
          const x = load<f64>(sr + at) * cr - load<f64>(si + at) * ci;
          store<f64>(dst, load<f64>(dst) + x);
          if (kouti != 0) {
            const y = load<f64>(sr + at) * ci + load<f64>(si + at) * cr;
            store<f64>(dsti, load<f64>(dsti) + y);
          }
          at += tapb;
          dst += step;
          dsti += step;
        }
      }
    }
  }
  return failed;
}

