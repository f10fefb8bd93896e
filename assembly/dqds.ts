// Singular values of a real upper-bidiagonal matrix by the dqds algorithm
// (differential quotient-difference with shifts; Fernando & Parlett 1994,
// Parlett & Marques 2000). Values only, high relative accuracy.
//
// The qd array of B (diagonal a_k, superdiagonal b_k) is q_k = a_k², e_k = b_k²
// (k = 0..n−1, e_k couples k and k+1, e_{n−1} = 0). One shifted transform maps
// (q, e) to (q̂, ê) with B̂ᵀB̂ = BBᵀ − τI:
//     d = q_0 − τ
//     for k: q̂_k = d + e_k;  t = q_{k+1} / q̂_k;  ê_k = e_k·t;  d = d·t − τ
//     q̂_{n−1} = d
// It succeeds (keeps positive definiteness) iff every d ≥ 0; the shifts τ are
// accumulated in σ, and an eigenvalue λ = σ + q_{n−1} of BᵀB is taken off the
// bottom once e_{n−2} is negligible. The transform actually run is the
// equivalent dqdsProjective, which keeps the division off the latency chain;
// the plain form above and a guarded one are its fallbacks for data near the
// ends of the exponent range. Shifts: Newton/Gershgorin-type bounds from the
// bottom rows (as in LAPACK's dlasq4 cases), retried smaller on failure.
// Working on squares costs range: the input
// is scaled by a power of two so that max |entry| ∈ [2^483, 2^484) (squares
// ≤ 2^968, no overflow in any sum of ≤ 2^50 of them). A singular value keeps
// full relative accuracy while σ/max|entry| ≳ 2^−995 ≈ 3e−300 (its square is
// then a normal number; tested to ~1e−270); smaller ones degrade gracefully
// through subnormal squares and read 0 below ≈ 2^−1021·max|entry| ≈
// 4e−308·max|entry|, i.e. their absolute error stays below 1e−307·max|entry|.

// @ts-ignore: decorator
@inline
function ld(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3));
}

// @ts-ignore: decorator
@inline
function st(p: usize, i: i32, v: f64): void {
  store<f64>(p + (<usize>i << 3), v);
}

/** 2^k for −1022 ≤ k ≤ 1023. */
// @ts-ignore: decorator
@inline
function pow2(k: i32): f64 {
  return reinterpret<f64>(<u64>(k + 1023) << 52);
}

const EPS_D: f64 = 2.220446049250313e-16;
/** Smallest normal f64: q/s is formed only when it lies in (SAFMIN, 1/SAFMIN). */
const SAFMIN: f64 = 2.2250738585072014e-308;
/** Negligibility threshold on singular values (relative) for full f64 accuracy. */
const TOL_F64: f64 = 100.0 * EPS_D;
/**
 * The threshold for bidiagonals that carry f32 rounding (svd_column_f32): a
 * value's relative error from deflation stays ~1e−9, 1/60 of f32's epsilon,
 * and the last transforms that would take it to f64 accuracy are skipped.
 */
export const TOL_F32_INPUT: f64 = 1e-9;
// The threshold of the current call (TOL) and its square (TOL2, on the squares).
let TOL: f64 = TOL_F64;
let TOL2: f64 = TOL_F64 * TOL_F64;
/** Reverse an unreduced block when its top q is below 1/CBIAS of its bottom q. */
const CBIAS: f64 = 1.5;
/** Transforms allowed per unit of n before giving up. */
const MAXIT_PER_N: i32 = 100;

// Results of the last transform (the minimum d overall, over all but the last,
// over all but the last two; the last three d's; the minimum new e but the
// last two, which the deflation tests watch).
let gDmin: f64 = 0.0;
let gDmin1: f64 = 0.0;
let gDmin2: f64 = 0.0;
let gDn: f64 = 0.0;
let gDn1: f64 = 0.0;
let gDn2: f64 = 0.0;
let gEmin: f64 = 0.0;
// Shift bookkeeping: kind of the last shift (for the adaptive fraction) and the fraction.
let gKind: i32 = 0;
let gFrac: f64 = 0.25;

const KIND_FRACTION: i32 = 6;

/**
 * One shifted dqds transform of rows i0..n0 (n0 − i0 ≥ 2) from (q, e) to (qq, ee),
 * in the plain form (the fallback of dqdsProjective).
 * Returns 0 on success (every d ≥ 0), 1 when some d before the last went
 * negative (stopped there), 2 when only the last d is negative, 3 when a ratio
 * q/s left the normal range (then dqdsGuarded redoes the step).
 */
function dqdsShifted(q: usize, e: usize, qq: usize, ee: usize, i0: i32, n0: i32, tau: f64): i32 {
  let d = ld(q, i0) - tau;
  if (d < 0.0) return 1;
  // ok: every ratio t so far in [SAFMIN, 1/SAFMIN] (false for NaN too). Running
  // minima of d (lane 0) and of the new e (lane 1) by pmin, which does not branch.
  let ok: i32 = 1;
  let vmin = f64x2.replace_lane(f64x2.splat(d), 1, Infinity);
  const jend = n0 - 2;
  for (let j = i0; j < jend; j++) {
    const ej = ld(e, j);
    const s = d + ej;
    st(qq, j, s);
    const t = ld(q, j + 1) / s;
    const en = ej * t;
    st(ee, j, en);
    d = d * t - tau;
    ok &= <i32>(t >= SAFMIN) & <i32>(t <= 1.0 / SAFMIN);
    if (d < 0.0) return 1;
    vmin = f64x2.pmin(vmin, f64x2.replace_lane(f64x2.splat(d), 1, en));
  }
  // The last two steps, unrolled to record dn2, dn1, dmin2, dmin1 (their new e's
  // are left out of emin: the deflation tests watch them).
  const dn2 = d;
  const dmin2 = f64x2.extract_lane(vmin, 0);
  let ej = ld(e, n0 - 2);
  let s = dn2 + ej;
  st(qq, n0 - 2, s);
  let t = ld(q, n0 - 1) / s;
  st(ee, n0 - 2, ej * t);
  const dn1 = dn2 * t - tau;
  ok &= <i32>(t >= SAFMIN) & <i32>(t <= 1.0 / SAFMIN);
  if (dn1 < 0.0) return 1;
  const dmin1 = min<f64>(dmin2, dn1);
  ej = ld(e, n0 - 1);
  s = dn1 + ej;
  st(qq, n0 - 1, s);
  t = ld(q, n0) / s;
  st(ee, n0 - 1, ej * t);
  const dn = dn1 * t - tau;
  st(qq, n0, dn);
  gDn = dn;
  gDn1 = dn1;
  gDn2 = dn2;
  gDmin1 = dmin1;
  gDmin2 = dmin2;
  gEmin = f64x2.extract_lane(vmin, 1);
  // A ratio t = q/s outside the normal range (or NaN, from 0/0) means some
  // product d·t or e·t may have over- or underflowed where q·(d/s) would not:
  // report it, and the step is redone by dqdsGuarded. At the last step t = 0
  // from q = 0 (an exactly singular bottom, left by a shift equal to an
  // eigenvalue) is exact and common, so it is let through.
  if (ok == 0 || !(t <= 1.0 / SAFMIN) || (!(t >= SAFMIN) && ld(q, n0) != 0.0)) return 3;
  if (dn < 0.0) {
    gDmin = dn;
    return 2;
  }
  gDmin = min<f64>(dmin1, dn);
  return 0;
}

/** 2^−k for x = m·2^k, m ∈ [1, 2), x > 0 normal (exact power of two). */
// @ts-ignore: decorator
@inline
function recipPow2(x: f64): f64 {
  return reinterpret<f64>((<u64>2046 - ((reinterpret<u64>(x) >> 52) & 0x7ff)) << 52);
}

/** 2^k for x = m·2^k, m ∈ [1, 2), x > 0 normal: the exact reciprocal of recipPow2(x). */
// @ts-ignore: decorator
@inline
function pow2Of(x: f64): f64 {
  return reinterpret<f64>(reinterpret<u64>(x) & 0x7ff0000000000000);
}

/** Magnitude the scaled quantities of dqdsProjective are renormalised to (2^400), and its bounds. */
const PZ: f64 = 2.5822498780869086e+120;
const PBIG: f64 = 1.0715086071862673e+301; // 2^1000
const PSMALL: f64 = 3.054936363499605e-151; // 2^−500
const PTINY: f64 = 9.332636185032189e-302; // 2^−1000

/**
 * The transform of dqdsShifted with the division taken off the critical path.
 * d_j is carried as the ratio N_j/D_j; with S_j = N_j + e_j·D_j (so q̂_j = S_j/D_j)
 *     N_{j+1} = c_j·(q_{j+1}·N_j − τ·S_j),   D_{j+1} = c_j·S_j,
 * with c_j = 2^−k for q_{j+1} + e_{j+1} = m·2^k, which keeps S_{j+1}/S_j ∈ (0, 2);
 * every 8 rows N and S are brought back near 2^400 by an exact power of two.
 * The products c_j·q_{j+1}, c_j·τ, c_j·e_{j+1} are exact and off the chain, so
 * each row's latency is mul + sub + add instead of add + div + mul + sub. The
 * outputs need 1/D_j = 2^k·(1/S_{j−1}): one division per row, in parallel:
 *     q̂_j = S_j/D_j,  d_j = N_j/D_j,  ê_j = q_{j+1}·(e_jD_j/S_j).
 * Rounding: S_j is a sum of nonnegative terms as q̂ = d + e is in the plain
 * form; the rounding of c_j·τ·S_j is a relative perturbation of q_{j+1} of at
 * most one ulp (τ ≤ q_{j+1}·d_j/q̂_j whenever d_{j+1} ≥ 0); the outputs carry one
 * or two roundings more than in the plain form. Returns as dqdsShifted; 3 also
 * when some q + e is not a normal number or N, S leave [2^−500, 2^1000] (the
 * plain form then redoes the step).
 */
function dqdsProjective(q: usize, e: usize, qq: usize, ee: usize, i0: i32, n0: i32, tau: f64): i32 {
  const q0 = ld(q, i0);
  const d0 = q0 - tau;
  if (d0 < 0.0) return 1;
  const e0 = ld(e, i0);
  const x0 = q0 + e0;
  // D_{i0} = 2^400·recipPow2(x0); 1/D_{i0} = pow2Of(x0)·rPrev with rPrev = 2^−400.
  const c0 = PZ * recipPow2(x0);
  let N = d0 * c0;
  let eD = e0 * c0;
  let S = N + eD;
  let rPrev: f64 = 1.0 / PZ;
  let cInv = pow2Of(x0);
  // ok stays 1 while every q + e is normal and every S, N (but the last N) is in range;
  // comparisons with NaN are false, so a NaN clears it too.
  let ok = <i32>(x0 >= SAFMIN);
  // Running minima of the d's (lane 0) and the new e's (lane 1), kept in a
  // vector with pmin (one minpd): a scalar min would branch on the data.
  let vmin = f64x2.splat(Infinity);
  let vmOld = vmin;
  let dn1: f64 = 0.0;
  let cnt = 0;
  const last = n0 - 1;
  for (let j = i0; j < last; j++) {
    const qn = ld(q, j + 1);
    const en = ld(e, j + 1);
    const x = qn + en;
    const c = recipPow2(x);
    // The chain: N_{j+1}, S_{j+1} from N_j, S_j.
    const qc = qn * c;
    let nN = qc * N - (tau * c) * S;
    let neD = (en * c) * S;
    let nS = nN + neD;
    // Outputs for row j, off the chain. With x normal and q_{j+1}·c_j, N_j ≥ 2^−500
    // no product here underflows.
    ok &= <i32>(x >= SAFMIN) & <i32>(qc >= PSMALL);
    // 1/D_j = 2^k/S_{j−1}: form S_j/S_{j−1} < 2 first, then scale (no overflow).
    const sr = S * rPrev;
    ok &= <i32>(sr >= PSMALL);
    const dj = (N * rPrev) * cInv;
    st(qq, j, sr * cInv);
    const r = 1.0 / S;
    const ej = qn * (eD * r);
    st(ee, j, ej);
    vmOld = vmin;
    vmin = f64x2.pmin(vmin, f64x2.replace_lane(f64x2.splat(dj), 1, ej));
    dn1 = dj;
    rPrev = r;
    cInv = pow2Of(x);
    if (++cnt == 8) {
      // Renormalise N, S (and with them D) near 2^400: exact. Each row scales S
      // by c_j·q̂_{j+1} < 2, so the S of the last 8 rows lay within
      // [S_{j+1}·2^−8, 2^408]: checking S_{j+1} checks them all.
      cnt = 0;
      ok &= <i32>(nS >= PSMALL) & <i32>(nS <= PBIG);
      const g = PZ * recipPow2(nS);
      nN *= g;
      nS *= g;
      neD *= g;
      rPrev *= 1.0 / g;
    }
    N = nN;
    S = nS;
    eD = neD;
    if (nN < PSMALL) {
      if (nN < 0.0) return 1;
      ok = 0;
    }
  }
  // Row n0−1 → n0 (e_{n0} is not part of the block).
  const dn2 = dn1;
  const dmin2 = f64x2.extract_lane(vmin, 0);
  const qn = ld(q, n0);
  // q_{n0} = 0 (left by a shift equal to an eigenvalue) gives d_{n0} = −τ; any c serves.
  const x = qn == 0.0 ? 1.0 : qn;
  const c = recipPow2(x);
  const a = (qn * c) * N;
  const b = (tau * c) * S;
  const nN = a - b;
  ok &= <i32>(S >= PSMALL) & <i32>(S <= PBIG) & <i32>(x >= SAFMIN);
  const sr = S * rPrev;
  ok &= <i32>(sr >= PSMALL);
  dn1 = (N * rPrev) * cInv;
  st(qq, last, sr * cInv);
  const r = 1.0 / S;
  const ej = qn * (eD * r);
  st(ee, last, ej);
  const dmin1 = min<f64>(dmin2, dn1);
  const nr = nN * r;
  const dn = nr * pow2Of(x);
  st(qq, n0, dn);
  gDn = dn;
  gDn1 = dn1;
  gDn2 = dn2;
  gDmin1 = dmin1;
  gDmin2 = dmin2;
  gEmin = f64x2.extract_lane(vmOld, 1);
  // The last N needs only be normal (nothing more is formed from it); it may also
  // be negative, or an exact 0: from q_{n0} = 0, or from a shift equal to an
  // eigenvalue (q_{n0}·N and τ·S cancelled exactly).
  if (ok == 0 || !((nN >= PTINY && nr >= PTINY) || nN < 0.0 || (nN == 0.0 && (b >= PSMALL || qn == 0.0)))) return 3;
  if (dn < 0.0) {
    gDmin = dn;
    return 2;
  }
  gDmin = min<f64>(dmin1, dn);
  return 0;
}

/**
 * The shifted transform of dqdsShifted in a form that cannot overflow nor lose
 * a representable result to underflow: t = q/s is used only when it lies in
 * (SAFMIN, 1/SAFMIN), otherwise the step forms q·(e/s) and q·(d/s) (both ratios
 * ≤ 1 while d ≥ 0). Slower; used for a block once dqdsShifted has reported 3.
 * Returns 0, 1 or 2 as dqdsShifted (with tau = 0 it always succeeds).
 */
function dqdsGuarded(q: usize, e: usize, qq: usize, ee: usize, i0: i32, n0: i32, tau: f64): i32 {
  let d = ld(q, i0) - tau;
  if (d < 0.0) return 1;
  let dmin = d;
  let dmin1 = d;
  let dmin2 = d;
  let dn1 = d;
  let dn2 = d;
  let emin: f64 = Infinity;
  for (let j = i0; j < n0; j++) {
    const ej = ld(e, j);
    const s = d + ej;
    st(qq, j, s);
    const qn = ld(q, j + 1);
    dn2 = dn1;
    dn1 = d;
    dmin2 = dmin1;
    dmin1 = dmin;
    if (s == 0.0) {
      // d = e = 0: the rows above are decoupled (with an exact zero); restart below.
      st(ee, j, 0.0);
      d = qn - tau;
      dmin = d;
      emin = 0.0;
    } else {
      let en: f64;
      if (SAFMIN * qn < s && SAFMIN * s < qn) {
        const t = qn / s;
        en = ej * t;
        d = d * t - tau;
      } else {
        en = qn * (ej / s);
        d = qn * (d / s) - tau;
      }
      st(ee, j, en);
      if (j < n0 - 2) emin = min<f64>(emin, en);
      dmin = min<f64>(dmin, d);
    }
    if (d < 0.0 && j + 1 < n0) return 1;
  }
  st(qq, n0, d);
  gDn = d;
  gDn1 = dn1;
  gDn2 = dn2;
  gDmin1 = dmin1;
  gDmin2 = dmin2;
  gEmin = emin;
  gDmin = dmin;
  return d < 0.0 ? 2 : 0;
}

/** Reverses rows i0..n0 of the qd array (q, e): B ↦ J·Bᵀ·J has the same singular values. */
function reverseBlock(q: usize, e: usize, i0: i32, n0: i32): void {
  for (let i = i0, j = n0; i < j; i++, j--) {
    const t = ld(q, i);
    st(q, i, ld(q, j));
    st(q, j, t);
  }
  for (let i = i0, j = n0 - 1; i < j; i++, j--) {
    const t = ld(e, i);
    st(e, i, ld(e, j));
    st(e, j, t);
  }
}

/**
 * Σ_{k} Π_{j=k}^{n0−1} e_j/q_j summed from the bottom of the block upwards: the
 * squared norm, relative to its last entry, of the vector x with (B x)_j = 0 for
 * j < n0 (so λ_min ≤ q_{n0}/(1 + Σ)). Stops when the terms have become small;
 * returns −1 when some ratio exceeds 1 (no useful bound).
 */
function tailSum(q: usize, e: usize, i0: i32, n0: i32): f64 {
  let e1 = ld(e, n0 - 1);
  let q1 = ld(q, n0 - 1);
  if (e1 > q1) return -1.0;
  let b = e1 / q1;
  let sum = b;
  for (let k = n0 - 2; k >= i0; k--) {
    if (b == 0.0) break;
    const ek = ld(e, k);
    const qk = ld(q, k);
    if (ek > qk) return -1.0;
    const prev = b;
    b *= ek / qk;
    sum += b;
    if (100.0 * max<f64>(b, prev) < sum || sum > 0.563) break;
  }
  return sum;
}

/**
 * The next shift for the block i0..n0 whose current qd array is (q, e), from
 * the d's of the last transform (taken when the block ended at n0 + ndefl).
 * Aims at just below the smallest eigenvalue: exactly there convergence is
 * fastest, above it the transform fails and is retried with a smaller shift.
 */
function chooseShift(q: usize, e: usize, i0: i32, n0: i32, ndefl: i32): f64 {
  const dmin = gDmin;
  let s: f64 = 0.0;
  if (ndefl == 0 && dmin <= 0.0) {
    // Block start (−dmin is the initial estimate), or an exact zero pivot.
    gKind = 1;
    s = -dmin;
  } else if (ndefl == 0) {
    const dn = gDn;
    if (dmin == dn) {
      if (gDmin1 == gDn1) {
        // The smallest value sits at the bottom, the next one just above it: bound
        // λ_min from below by the 2×2 (or Gershgorin) view of the bottom rows of BBᵀ,
        //   [ a2  b1 ]   with  a2 = q_{n0−1} + e_{n0−1}, b1² = q_{n0}·e_{n0−1},
        //   [ b1  dn ]   and the coupling b2² = q_{n0−1}·e_{n0−2} to the rows above.
        const qn1 = ld(q, n0 - 1);
        const en1 = ld(e, n0 - 1);
        const b1 = Math.sqrt(dn) * Math.sqrt(en1);
        const b2 = Math.sqrt(qn1) * Math.sqrt(ld(e, n0 - 2));
        const a2 = qn1 + en1;
        const gap2 = 0.75 * gDmin2 - a2;
        let gap1: f64;
        if (gap2 > 0.0 && gap2 > b2) gap1 = a2 - dn - (b2 / gap2) * b2;
        else gap1 = a2 - dn - (b1 + b2);
        if (gap1 > 0.0 && gap1 > b1) {
          s = max<f64>(dn - (b1 / gap1) * b1, 0.5 * dmin);
          gKind = 2;
        } else {
          s = dn > b1 ? dn - b1 : 0.0;
          if (a2 > b1 + b2) s = min<f64>(s, a2 - (b1 + b2));
          s = max<f64>(s, dmin * (1.0 / 3.0));
          gKind = 3;
        }
      } else {
        // Smallest at the bottom only: Rayleigh-quotient bound from the tail sum.
        s = 0.25 * dmin;
        gKind = 4;
        const a = tailSum(q, e, i0, n0);
        if (a >= 0.0) {
          const a2 = 1.05 * a;
          if (a2 < 0.563) s = dn * (1.0 - Math.sqrt(a2)) / (1.0 + a2);
        }
      }
    } else {
      // No information on where the smallest value is: a growing fraction of dmin.
      if (gKind == KIND_FRACTION) gFrac += (1.0 - gFrac) * (1.0 / 3.0);
      else if (gKind == KIND_FRACTION + 100) gFrac = 0.25 * (1.0 / 3.0);
      else gFrac = 0.25;
      s = gFrac * dmin;
      gKind = KIND_FRACTION;
    }
  } else if (ndefl <= 2) {
    // One or two values just deflated: the d's of the last transform restricted
    // to the remaining rows are the leading ones, so use dmin1/dn1 (dmin2/dn2).
    const m = ndefl == 1 ? gDmin1 : gDmin2;
    const mn = ndefl == 1 ? gDn1 : gDn2;
    gKind = 7;
    if (!(m > 0.0)) {
      s = 0.0;
    } else if (m == mn && (ndefl == 1 ? gDmin2 == gDn2 : 2.0 * ld(e, n0 - 1) < ld(q, n0 - 1))) {
      s = m * (1.0 / 3.0);
      const a = tailSum(q, e, i0, n0);
      if (a >= 0.0) {
        const b2 = Math.sqrt(1.05 * a);
        const a2 = m / (1.0 + b2 * b2);
        let gap2: f64;
        if (ndefl == 1) gap2 = 0.5 * gDmin2 - a2;
        else gap2 = ld(q, n0 - 1) + ld(e, n0 - 2) - Math.sqrt(ld(q, n0 - 2)) * Math.sqrt(ld(e, n0 - 2)) - a2;
        if (gap2 > 0.0 && gap2 > b2 * a2) s = max<f64>(s, a2 * (1.0 - 1.01 * a2 * (b2 / gap2) * b2));
        else s = max<f64>(s, a2 * (1.0 - 1.01 * b2));
      }
    } else {
      s = (ndefl == 1 && m == mn ? 0.5 : 0.25) * m;
    }
    if (!(s >= 0.0)) s = 0.0;
  } else {
    gKind = 12;
    s = 0.0;
  }
  return s;
}

/**
 * Eigenvalues of the bottom 2×2 of BBᵀ for the qd rows (a, b; c): sum a + b + c,
 * product a·c, computed without cancellation. Stores big + σ at out[i], small + σ at out[i+1].
 */
function deflate2(a: f64, b: f64, c: f64, sig: f64, out: usize, i: i32): void {
  let hi = a;
  let lo = c;
  if (lo > hi) {
    hi = c;
    lo = a;
  }
  if (b > lo * TOL2) {
    const t = 0.5 * ((hi - lo) + b); // > 0
    const r = Math.sqrt(t) * Math.sqrt(t + lo * (b / t)); // √(t² + lo·b)
    const big = hi + (b + lo * (b / (t + r)));
    lo = lo * (hi / big);
    hi = big;
  }
  st(out, i, hi + sig);
  st(out, i + 1, lo + sig);
}

/**
 * dqds core on the scaled qd array in (qA, eA), rows 0..n−1 (n ≥ 2), with
 * (qB, eB) as the second half of the ping-pong pair. Writes the n eigenvalues
 * of BᵀB (squares of the singular values, any order) to out. Returns 0, or 1
 * when the transform budget ran out.
 */
function dqdsCore(qA: usize, eA: usize, qB: usize, eB: usize, n: i32, out: usize): i32 {
  const last = n - 1;
  if (CBIAS * ld(qA, 0) < ld(qA, last)) reverseBlock(qA, eA, 0, last);

  // Two zero-shift passes (A→B, B→A) with Li's splitting test: a row pair
  // whose e is negligible against the running d of the dqd recurrence (from
  // either end) is split off (e set to −0). The data end in A, the previous
  // array in B.
  for (let pass = 0; pass < 2; pass++) {
    const qi = pass == 0 ? qA : qB;
    const ei = pass == 0 ? eA : eB;
    const qo = pass == 0 ? qB : qA;
    const eo = pass == 0 ? eB : eA;
    let d = ld(qi, last);
    for (let j = last - 1; j >= 0; j--) {
      const ej = ld(ei, j);
      if (ej <= TOL2 * d) {
        st(ei, j, -0.0);
        d = ld(qi, j);
      } else {
        const qj = ld(qi, j);
        const s = d + ej;
        d = SAFMIN * qj < s && SAFMIN * s < qj ? d * (qj / s) : qj * (d / s);
      }
    }
    d = ld(qi, 0);
    for (let j = 0; j < last; j++) {
      const ej = ld(ei, j);
      const qn = ld(qi, j + 1);
      if (ej <= TOL2 * d) {
        st(ei, j, -0.0);
        st(qo, j, d);
        st(eo, j, 0.0);
        d = qn;
      } else {
        const s = d + ej;
        st(qo, j, s);
        if (SAFMIN * qn < s && SAFMIN * s < qn) {
          const t = qn / s;
          st(eo, j, ej * t);
          d = d * t;
        } else {
          st(eo, j, qn * (ej / s));
          d = qn * (d / s);
        }
      }
    }
    st(qo, last, d);
    st(eo, last, 0.0);
  }

  const maxit = MAXIT_PER_N * n + 10;
  let iters = 0;
  let n0 = last;
  // Each unreduced block i0..n0 starts with its data in A. A block split off
  // above a lower one carries, in eA[n0] (its last row's e, otherwise unused),
  // −σ: the shift already applied to it.
  while (n0 >= 0) {
    let sigma: f64 = n0 == last ? 0.0 : -ld(eA, n0);
    if (!(sigma >= 0.0)) sigma = 0.0;
    let desig: f64 = 0.0;
    // Find the top of the block; estimate an initial shift from the bottom rows
    // while the q's dominate the e's (Gershgorin-like), and an upper bound qmax.
    let qmin = ld(qA, n0);
    let qmax = qmin;
    let emax: f64 = 0.0;
    let i0 = n0;
    while (i0 > 0) {
      const ek = ld(eA, i0 - 1);
      if (!(ek > 0.0)) break;
      if (qmin >= 4.0 * emax) {
        qmin = min<f64>(qmin, ld(qA, i0));
        emax = max<f64>(emax, ek);
      }
      qmax = max<f64>(qmax, ld(qA, i0 - 1) + ek);
      i0--;
    }
    if (n0 - i0 > 1) {
      // Flip the block when the smallest running d sits in its upper part.
      let dee = ld(qA, i0);
      let deemin = dee;
      let kmin = i0;
      for (let k = i0 + 1; k <= n0; k++) {
        dee = ld(qA, k) * (dee / (dee + ld(eA, k - 1)));
        if (dee <= deemin) {
          deemin = dee;
          kmin = k;
        }
      }
      if (2 * (kmin - i0) < n0 - kmin && deemin <= 0.5 * ld(qA, n0)) {
        reverseBlock(qA, eA, i0, n0);
        // The previous array no longer matches row by row: disable the tests on it.
        for (let k = i0; k < n0; k++) st(eB, k, Infinity);
      }
    }
    const tau0 = max<f64>(0.0, qmin - 2.0 * Math.sqrt(qmin) * Math.sqrt(emax));
    gDmin = -tau0;
    gKind = 0;
    gFrac = 0.25;
    let nAtLast = n0;
    let emPrev: f64 = Infinity;
    // Transform form for this block: 0 projective, 1 plain, 2 guarded; a form
    // that reports an out-of-range quantity hands the block to the next one.
    let form = 0;
    // Current (c) and previous (o) arrays.
    let qc = qA;
    let ec = eA;
    let qo = qB;
    let eo = eB;

    while (true) {
      // Deflate converged values at the bottom.
      const n0in = n0;
      const sig = sigma + desig;
      while (n0 >= i0) {
        if (n0 == i0) {
          st(out, n0, ld(qc, n0) + sig);
          n0--;
          continue;
        }
        const qn = ld(qc, n0);
        if (!(ld(ec, n0 - 1) > TOL2 * (sigma + qn) && ld(eo, n0 - 1) > TOL2 * ld(qc, n0 - 1))) {
          st(out, n0, qn + sig);
          n0--;
          continue;
        }
        if (n0 == i0 + 1 || !(ld(ec, n0 - 2) > TOL2 * sigma && ld(eo, n0 - 2) > TOL2 * ld(qc, n0 - 2))) {
          deflate2(ld(qc, n0 - 1), ld(ec, n0 - 1), qn, sig, out, n0 - 1);
          n0 -= 2;
          continue;
        }
        break;
      }
      if (n0 < i0) break;
      let ndefl = nAtLast - n0;
      if (ndefl > 0) form = 0;
      if (n0 < n0in && CBIAS * ld(qc, i0) < ld(qc, n0)) {
        reverseBlock(qc, ec, i0, n0);
        for (let k = i0; k < n0; k++) st(eo, k, Infinity);
        gDmin = -0.0;
        ndefl = 0;
      }

      let tau = chooseShift(qc, ec, i0, n0, ndefl);
      // Transform, retrying with smaller shifts on failure.
      let nfail = 0;
      while (true) {
        if (++iters > maxit) return 1;
        let r: i32;
        if (form == 0) r = dqdsProjective(qc, ec, qo, eo, i0, n0, tau);
        else if (form == 1) r = dqdsShifted(qc, ec, qo, eo, i0, n0, tau);
        else r = dqdsGuarded(qc, ec, qo, eo, i0, n0, tau);
        if (r == 0) break;
        if (r == 3) {
          form++;
          continue;
        }
        if (r == 2) {
          // Only the last d is negative. When it is negligible against σ and the
          // last e is small, the value has converged at σ + τ: accept with dn = 0.
          if (gDmin1 > 0.0 && ld(eo, n0 - 1) < TOL * (sigma + gDn1) && abs<f64>(gDn) < TOL * sigma) {
            st(qo, n0, 0.0);
            gDn = 0.0;
            gDmin = 0.0;
            break;
          }
        }
        nfail++;
        if (nfail >= 3) {
          tau = 0.0; // cannot fail
        } else if (r == 2 && gDmin1 > 0.0) {
          // Late failure: τ + dn is just below the smallest eigenvalue.
          tau = max<f64>(0.0, (tau + gDn) * (1.0 - 2.0 * EPS_D));
          gKind += 100;
        } else {
          tau *= 0.25;
          gKind += 100;
        }
      }
      // Accumulate σ += τ with a compensation term.
      {
        const t = sigma + tau;
        const bp = t - sigma;
        desig += (sigma - (t - bp)) + (tau - bp);
        sigma = t;
      }
      nAtLast = n0;
      const emNow = gEmin;
      // Swap current and previous arrays.
      let tp = qc;
      qc = qo;
      qo = tp;
      tp = ec;
      ec = eo;
      eo = tp;

      // Split off negligible e's inside the block (only when the data are in A,
      // so that every block waiting above keeps its data in A).
      if (qc == qA && n0 - i0 >= 3 && (emNow <= TOL2 * max<f64>(qmax, sigma) || emPrev <= TOL2 * qmax)) {
        let splt = i0 - 1;
        for (let j = i0; j <= n0 - 3; j++) {
          if (ld(eo, j) <= TOL2 * ld(qc, j) || ld(ec, j) <= TOL2 * sigma) {
            st(ec, j, -sigma);
            splt = j;
          }
        }
        if (splt >= i0) {
          i0 = splt + 1;
        }
      }
      emPrev = emNow;
    }
  }
  return 0;
}

/** Bytes of scratch dqds_values_f64 needs for order n (four f64[n] arrays). */
export function dqds_work_bytes(n: i32): i32 {
  return n > 0 ? n << 5 : 0;
}

/**
 * dqds_values_f64: singular values of an n×n real upper-bidiagonal matrix B.
 *
 * Arguments:
 *   d     [in,out] f64[n]  diagonal; on return the singular values, ≥ 0, sorted decreasing
 *   e     [in]     f64[n]  superdiagonal in e[1..n−1] (e[j] couples rows/columns j−1, j;
 *                          e[0] is ignored); not modified
 *   n     [in]             order of B, n ≥ 0
 *   work  [scratch]        dqds_work_bytes(n) bytes, 8-byte aligned
 *
 * Every singular value is computed to high relative accuracy (a small multiple
 * of n·eps) while it is above ≈ 3e−300·max|entry|; below that it carries an
 * absolute error under 1e−307·max|entry| (see the scaling note at the top).
 *
 * Returns 0 on success; 1 when the iteration budget (100·n transforms) ran
 * out, 2 when an entry is NaN or infinite; in both cases d is set to NaN.
 */
export function dqds_values_f64(d: usize, e: usize, n: i32, work: usize): i32 {
  return dqdsValues(d, e, n, work, TOL_F64);
}

/**
 * dqds_values_f64 with the relative negligibility threshold `tol` (≥ TOL_F64)
 * in place of 100·eps: every value then carries a relative error of about
 * tol (plus the usual few ulps), which is what a bidiagonal from f32 data
 * can use.
 */
export function dqdsValues(d: usize, e: usize, n: i32, work: usize, tol: f64): i32 {
  TOL = tol;
  TOL2 = tol * tol;
  if (n <= 0) return 0;
  // f64.max propagates NaN, so a NaN anywhere reaches amax.
  let amax: f64 = 0.0;
  for (let i = 0; i < n; i++) amax = max<f64>(amax, abs<f64>(ld(d, i)));
  for (let i = 1; i < n; i++) amax = max<f64>(amax, abs<f64>(ld(e, i)));
  if (!(amax < Infinity)) {
    for (let i = 0; i < n; i++) st(d, i, NaN);
    return 2;
  }
  if (amax == 0.0) {
    for (let i = 0; i < n; i++) st(d, i, 0.0);
    return 0;
  }
  if (n == 1) {
    st(d, 0, abs<f64>(ld(d, 0)));
    return 0;
  }
  // amax = m·2^ex, m ∈ [1, 2); scale by 2^(483 − ex) in two exact steps.
  let a = amax;
  let pre = 0;
  if (a < 1e-270) {
    a *= pow2(600);
    pre = 600;
  }
  const ex = <i32>((reinterpret<u64>(a) >> 52) & 0x7ff) - 1023 - pre;
  const sh = 483 - ex;
  const s1 = sh >> 1;
  const s2 = sh - s1;
  const f1 = pow2(s1);
  const f2 = pow2(s2);
  const nb = <usize>n << 3;
  const qA = work;
  const eA = work + nb;
  const qB = work + 2 * nb;
  const eB = work + 3 * nb;
  for (let i = 0; i < n; i++) {
    const x = ld(d, i) * f1 * f2;
    st(qA, i, x * x);
  }
  for (let i = 0; i < n - 1; i++) {
    const y = ld(e, i + 1) * f1 * f2;
    st(eA, i, y * y);
  }
  st(eA, n - 1, 0.0);
  st(eB, n - 1, 0.0);
  const status = dqdsCore(qA, eA, qB, eB, n, d);
  if (status != 0) {
    for (let i = 0; i < n; i++) st(d, i, NaN);
    return 1;
  }
  const g1 = pow2(-s1);
  const g2 = pow2(-s2);
  for (let i = 0; i < n; i++) {
    const l = ld(d, i);
    st(d, i, Math.sqrt(l > 0.0 ? l : 0.0) * g1 * g2);
  }
  // Sort decreasing (insertion sort: the values come out nearly ordered).
  for (let i = 1; i < n; i++) {
    const x = ld(d, i);
    let j = i - 1;
    while (j >= 0 && ld(d, j) < x) {
      st(d, j + 1, ld(d, j));
      j--;
    }
    st(d, j + 1, x);
  }
  return 0;
}
