// Layers whose every frequency matrix is 1×1 per group (depthwise, stride 1): a
// frequency's singular value is the modulus of one complex number, so the
// clipping round is elementwise and needs no SVD.
//
// Conventions as in column.ts and svd.ts: P(u, v) = Σ_{a,b} K[a, b]·exp(+2πi(u·a/h + v·b/w)),
// the Hermitian half v = 0..⌊w/2⌋ of a real kernel, inverse transform with
// exp(−2πi…)/(h·w) restricted to the kernel's taps, a column v standing for
// itself and its mirror w − v weighted 2 (1 for v = 0 and v = w/2, whose
// columns are taken whole). Frequencies u and h − u share their twiddles'
// products: with A = Σ_a T_a·cos(2πua/h) and B = Σ_a T_a·sin(2πua/h),
// P(u) = A + iB and P(h − u) = A − iB.

import { madd, nmadd } from "./bidiag";
import { align16, TWO_PI } from "./column";

/** Columns of the Hermitian half, rounded up to a whole number of f64x2 lanes. */
// @ts-ignore: decorator
@inline
function paddedColumns(w: i32): i32 {
  return ((w >> 1) + 2) & ~1;
}

/** Bytes of scratch for diag_clip_f64, diag_norm_f64 and diag_values_f64. */
export function diag_work_bytes(kh: i32, kw: i32, h: i32, w: i32): i32 {
  const nvp = <i64>paddedColumns(w);
  let bytes: i64 = 2 * (<i64>h + <i64>w) * 8; // cos/sin tables of h and w
  bytes += 4 * <i64>kw * nvp * 8; // the width taps' twiddles per column, plain and weighted
  bytes += 4 * <i64>kh * nvp * 8; // T and S, re and im
  bytes += 4 * nvp * 8 + 2 * <i64>kh * 8; // P(u) and P(h − u), re and im; a row's twiddles
  bytes += 2 * <i64>kh * 8; // a second row's twiddles
  bytes += nvp * 8 + nvp + <i64>h; // the columns' bounds, their skip flags and the rows'
  bytes += 23 * 8 + 64 + 9 * 16; // the layout's descriptor; a pair of frequencies in registers' stead; alignment
  return bytes > 0x7fffffff ? -1 : <i32>bytes;
}

/** Bytes of Dykstra's correction for diag_clip_f64: per group, h rows of the padded half, re then im. */
export function diag_corr_bytes(groups: i32, h: i32, w: i32): f64 {
  return <f64>groups * <f64>h * 2 * <f64>paddedColumns(w) * 8;
}

/**
 * cos/sin tables of 2π·j/n, j < n, exact at the quarter turns: sin(π) is
 * then 0, so the columns v = 0 and v = w/2 of a real kernel are real and
 * P(h − u) is exactly the conjugate of P(u) there (both give one modulus).
 */
function tables(n: i32, c: usize, s: usize): void {
  for (let j = 0; j < n; j++) {
    let x: f64, y: f64;
    if ((4 * j) % n == 0) {
      const q = (4 * j) / n;
      x = q == 0 ? 1.0 : q == 2 ? -1.0 : 0.0;
      y = q == 1 ? 1.0 : q == 3 ? -1.0 : 0.0;
    } else {
      const ang = TWO_PI * <f64>j / <f64>n;
      x = Math.cos(ang);
      y = Math.sin(ang);
    }
    store<f64>(c + (<usize>j << 3), x);
    store<f64>(s + (<usize>j << 3), y);
  }
}

/** tc/ts[a] = cos/sin(2π·u·a/h), a < kh, from the tables of h. */
// @ts-ignore: decorator
@inline
function rowTwiddles(u: i32, h: i32, kh: i32, ch: usize, sh: usize, tc: usize, ts: usize): void {
  let j = 0; // u·a mod h (u < h)
  for (let a = 0; a < kh; a++) {
    store<f64>(tc + (<usize>a << 3), load<f64>(ch + (<usize>j << 3)));
    store<f64>(ts + (<usize>a << 3), load<f64>(sh + (<usize>j << 3)));
    j += u;
    if (j >= h) j -= h;
  }
}

/**
 * bc/bs[b][v] = cos/sin(2π·v·b/w) for the half's columns v < nv (0 on the
 * padding), and ic/is the same times the inverse's column weight
 * (1 for v = 0 and v = w/2, else 2) over h·w.
 */
function columnTables(kw: i32, h: i32, w: i32, nv: i32, nvp: i32, cw: usize, sw: usize,
  bc: usize, bs: usize, ic: usize, is: usize): void {
  const scale = 1.0 / (<f64>h * <f64>w);
  for (let b = 0; b < kw; b++) {
    for (let v = 0; v < nvp; v++) {
      const at = (<usize>(b * nvp + v)) << 3;
      let c: f64 = 0.0;
      let s: f64 = 0.0;
      let wt: f64 = 0.0;
      if (v < nv) {
        const j = <usize>(<i32>((<i64>v * <i64>b) % <i64>w)) << 3;
        c = load<f64>(cw + j);
        s = load<f64>(sw + j);
        wt = (v == 0 || 2 * v == w ? 1.0 : 2.0) * scale;
      }
      store<f64>(bc + at, c);
      store<f64>(bs + at, s);
      store<f64>(ic + at, c * wt);
      store<f64>(is + at, s * wt);
    }
  }
}

/** T[a][v] = Σ_b K[a, b]·exp(+2πi·v·b/w) over the padded half (0 past it). */
function transformRows(k: usize, kh: i32, kw: i32, nvp: i32, bc: usize, bs: usize, tr: usize, ti: usize): void {
  const rowb = <usize>nvp << 3;
  for (let a = 0; a < kh; a++) {
    for (let o: usize = 0; o < rowb; o += 16) {
      let sr = f64x2.splat(0.0);
      let si = f64x2.splat(0.0);
      for (let b = 0; b < kw; b++) {
        const x = f64x2.splat(load<f64>(k + (<usize>(a * kw + b) << 3)));
        sr = f64x2.add(sr, f64x2.mul(x, v128.load(bc + <usize>b * rowb + o)));
        si = f64x2.add(si, f64x2.mul(x, v128.load(bs + <usize>b * rowb + o)));
      }
      v128.store(tr + <usize>a * rowb + o, sr);
      v128.store(ti + <usize>a * rowb + o, si);
    }
  }
}

/** kout[a, b] = Σ_v wt(v)·Re(S_a(v)·exp(−2πi·v·b/w)) / (h·w), from the weighted tables. */
function inverseRows(kh: i32, kw: i32, nvp: i32, ic: usize, is: usize, sr: usize, si: usize, kout: usize): void {
  const rowb = <usize>nvp << 3;
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      let x = f64x2.splat(0.0);
      for (let o: usize = 0; o < rowb; o += 16) {
        x = f64x2.add(x, f64x2.mul(v128.load(sr + <usize>a * rowb + o), v128.load(ic + <usize>b * rowb + o)));
        x = f64x2.add(x, f64x2.mul(v128.load(si + <usize>a * rowb + o), v128.load(is + <usize>b * rowb + o)));
      }
      store<f64>(kout + (<usize>(a * kw + b) << 3), f64x2.extract_lane(x, 0) + f64x2.extract_lane(x, 1));
    }
  }
}

/**
 * P(u) and P(h − u) at one f64x2 of the padded half from T (twiddles splatted
 * from tc/ts): A = Σ_a T_a·cos, B = Σ_a T_a·sin, P(u) = A + iB, P(h − u) = A − iB.
 * Every entry point computes a frequency's value through this one function,
 * so norms, values and clipping rounds see the same bits; diag_values_f64,
 * with the groups in the lanes, repeats its operations in the same order in
 * registers (the recorded digests hold the two to the same bits).
 */
// @ts-ignore: decorator
@inline
function pairAt(kh: i32, rowb: usize, o: usize, tc: usize, ts: usize, tr: usize, ti: usize, out: usize): void {
  let ar = f64x2.splat(0.0);
  let ai = f64x2.splat(0.0);
  let br = f64x2.splat(0.0);
  let bi = f64x2.splat(0.0);
  for (let a = 0; a < kh; a++) {
    const c = v128.load64_splat(tc + (<usize>a << 3));
    const s = v128.load64_splat(ts + (<usize>a << 3));
    const xr = v128.load(tr + <usize>a * rowb + o);
    const xi = v128.load(ti + <usize>a * rowb + o);
    ar = madd<f64>(xr, c, ar);
    ai = madd<f64>(xi, c, ai);
    br = madd<f64>(xr, s, br);
    bi = madd<f64>(xi, s, bi);
  }
  // A + iB = (ar − bi) + i(ai + br); A − iB = (ar + bi) + i(ai − br).
  v128.store(out, f64x2.sub(ar, bi));
  v128.store(out + 16, f64x2.add(ai, br));
  v128.store(out + 32, f64x2.add(ar, bi));
  v128.store(out + 48, f64x2.sub(ai, br));
}

/** P(u) and P(h − u) over the whole padded half (pairAt per f64x2), into pr/pi and qr/qi. */
// @ts-ignore: decorator
@inline
function rowPair(kh: i32, nvp: i32, tc: usize, ts: usize, tr: usize, ti: usize,
  pr: usize, pi: usize, qr: usize, qi: usize, reg: usize): void {
  const rowb = <usize>nvp << 3;
  for (let o: usize = 0; o < rowb; o += 16) {
    pairAt(kh, rowb, o, tc, ts, tr, ti, reg);
    v128.store(pr + o, v128.load(reg));
    v128.store(pi + o, v128.load(reg + 16));
    v128.store(qr + o, v128.load(reg + 32));
    v128.store(qi + o, v128.load(reg + 48));
  }
}

/**
 * One group's sweep over the Hermitian half, pair of rows u and h − u at a
 * time: the largest squared modulus (lane-wise max with m) and, when `clip`,
 * the transform of what the round removes, E = P − P' with
 * P' = y·min(1, c/|y|) and y = P (or P + corr, Dykstra's correction, which
 * then becomes y − P'), accumulated per tap row as
 *
 *   S_a += E(u)·exp(−2πiua/h) + E(h − u)·exp(+2πiua/h)
 *        = cos·(E(u) + E(h − u)) − i·sin·(E(u) − E(h − u))   (one row when u = h − u mod h).
 *
 * Without a correction a pair of f64x2 lanes with nothing above c adds
 * nothing (E = 0 there) and is skipped: a frequency inside the ball costs its
 * transform and modulus only.
 */
function sweepGroup(L: Scratch, kh: i32, h: i32, nvp: i32, c: f64, clip: bool, cg: usize, skip: usize, m: v128): v128 {
  const rowb = <usize>nvp << 3;
  const cc = f64x2.splat(c * c);
  const cv = f64x2.splat(c);
  const zero = f64x2.splat(0.0);
  const reg = L.reg;
  const tr = L.tr;
  const ti = L.ti;
  let u = 0;
  // With `skip`, its row flags follow its column flags (see diag_clip_f64): a row u (and h − u) is skipped whole.
  const rskip = skip + (rowb >> 4);
  while (2 * u <= h) {
    if (skip != 0 && load<u8>(rskip + <usize>u) != 0) {
      u++;
      continue;
    }
    rowTwiddles(u, h, kh, L.ch, L.sh, L.tc, L.ts);
    const pair = u != 0 && 2 * u != h;
    const c1 = cg == 0 ? 0 : cg + <usize>u * 2 * rowb;
    const c2 = cg == 0 ? 0 : cg + <usize>(h - u) * 2 * rowb;
    if (kh == 3 && pair && 2 * (u + 1) < h && (skip == 0 || load<u8>(rskip + <usize>(u + 1)) == 0)) {
      // Rows u and u + 1 (both with a mirror) from one load of T: pairAt's arithmetic with the
      // twiddles in registers (the same bits: tap 0's twiddles are exactly 1 and 0).
      rowTwiddles(u + 1, h, kh, L.ch, L.sh, L.tc2, L.ts2);
      const d1 = cg == 0 ? 0 : c1 + 2 * rowb;
      const d2 = cg == 0 ? 0 : c2 - 2 * rowb;
      const t1c = v128.load64_splat(L.tc + 8);
      const t1s = v128.load64_splat(L.ts + 8);
      const t2c = v128.load64_splat(L.tc + 16);
      const t2s = v128.load64_splat(L.ts + 16);
      const w1c = v128.load64_splat(L.tc2 + 8);
      const w1s = v128.load64_splat(L.ts2 + 8);
      const w2c = v128.load64_splat(L.tc2 + 16);
      const w2s = v128.load64_splat(L.ts2 + 16);
      for (let o: usize = 0; o < rowb; o += 16) {
        if (skip != 0 && load<u8>(skip + (o >> 4)) != 0) continue;
        const x0r = f64x2.add(v128.load(tr + o), zero);
        const x0i = f64x2.add(v128.load(ti + o), zero);
        const x1r = v128.load(tr + rowb + o);
        const x1i = v128.load(ti + rowb + o);
        const x2r = v128.load(tr + 2 * rowb + o);
        const x2i = v128.load(ti + 2 * rowb + o);
        let ar = madd<f64>(x2r, t2c, madd<f64>(x1r, t1c, x0r));
        let ai = madd<f64>(x2i, t2c, madd<f64>(x1i, t1c, x0i));
        let br = madd<f64>(x2r, t2s, madd<f64>(x1r, t1s, zero));
        let bi = madd<f64>(x2i, t2s, madd<f64>(x1i, t1s, zero));
        m = visit(L.tc, L.ts, L, kh, rowb, o, true, clip, cg, c1, c2, cc, cv, f64x2.sub(ar, bi), f64x2.add(ai, br),
          f64x2.add(ar, bi), f64x2.sub(ai, br), m);
        ar = madd<f64>(x2r, w2c, madd<f64>(x1r, w1c, x0r));
        ai = madd<f64>(x2i, w2c, madd<f64>(x1i, w1c, x0i));
        br = madd<f64>(x2r, w2s, madd<f64>(x1r, w1s, zero));
        bi = madd<f64>(x2i, w2s, madd<f64>(x1i, w1s, zero));
        m = visit(L.tc2, L.ts2, L, kh, rowb, o, true, clip, cg, d1, d2, cc, cv, f64x2.sub(ar, bi), f64x2.add(ai, br),
          f64x2.add(ar, bi), f64x2.sub(ai, br), m);
      }
      u += 2;
      continue;
    }
    for (let o: usize = 0; o < rowb; o += 16) {
      if (skip != 0 && load<u8>(skip + (o >> 4)) != 0) continue;
      pairAt(kh, rowb, o, L.tc, L.ts, tr, ti, reg);
      m = visit(L.tc, L.ts, L, kh, rowb, o, pair, clip, cg, c1, c2, cc, cv, v128.load(reg), v128.load(reg + 16),
        v128.load(reg + 32), v128.load(reg + 48), m);
    }
    u++;
  }
  return m;
}

/** sweepGroup at one f64x2 of the rows u (P = pr + i·pi) and h − u (qr + i·qi). */
// @ts-ignore: decorator
@inline
function visit(tc: usize, ts: usize, L: Scratch, kh: i32, rowb: usize, o: usize, pair: bool, clip: bool, cg: usize, c1: usize, c2: usize,
  cc: v128, cv: v128, pr: v128, pi: v128, qr: v128, qi: v128, m: v128): v128 {
  let xr = pr;
  let xi = pi;
  let yr = qr;
  let yi = qi;
  if (cg != 0) {
    xr = f64x2.add(xr, v128.load(c1 + o));
    xi = f64x2.add(xi, v128.load(c1 + rowb + o));
    if (pair) {
      yr = f64x2.add(yr, v128.load(c2 + o));
      yi = f64x2.add(yi, v128.load(c2 + rowb + o));
    }
  }
  const q1 = f64x2.add(f64x2.mul(xr, xr), f64x2.mul(xi, xi));
  const q2 = pair ? f64x2.add(f64x2.mul(yr, yr), f64x2.mul(yi, yi)) : f64x2.splat(0.0);
  m = f64x2.pmax(m, f64x2.pmax(q1, q2)); // pmax: q is finite (the kernel is), and pmax is one instruction
  if (!clip) return m;
  const above1 = f64x2.gt(q1, cc);
  const above2 = f64x2.gt(q2, cc);
  if (cg == 0 && !v128.any_true(v128.or(above1, above2))) return m;
  // f = 1 where q ≤ c², else c/|y| (q > c² ≥ 0, so the root is positive).
  const one = f64x2.splat(1.0);
  const f1 = v128.bitselect(f64x2.div(cv, f64x2.sqrt(q1)), one, above1);
  let er = f64x2.sub(pr, f64x2.mul(xr, f1));
  let ei = f64x2.sub(pi, f64x2.mul(xi, f1));
  if (cg != 0) {
    v128.store(c1 + o, f64x2.sub(xr, f64x2.mul(xr, f1)));
    v128.store(c1 + rowb + o, f64x2.sub(xi, f64x2.mul(xi, f1)));
  }
  let dr = er;
  let di = ei;
  if (pair) {
    const f2 = v128.bitselect(f64x2.div(cv, f64x2.sqrt(q2)), one, above2);
    const e2r = f64x2.sub(qr, f64x2.mul(yr, f2));
    const e2i = f64x2.sub(qi, f64x2.mul(yi, f2));
    if (cg != 0) {
      v128.store(c2 + o, f64x2.sub(yr, f64x2.mul(yr, f2)));
      v128.store(c2 + rowb + o, f64x2.sub(yi, f64x2.mul(yi, f2)));
    }
    dr = f64x2.sub(er, e2r);
    di = f64x2.sub(ei, e2i);
    er = f64x2.add(er, e2r);
    ei = f64x2.add(ei, e2i);
  }
  for (let a = 0; a < kh; a++) {
    const ca = v128.load64_splat(tc + (<usize>a << 3));
    const sa = v128.load64_splat(ts + (<usize>a << 3));
    // cos·E − i·sin·D = (c·er + s·di) + i(c·ei − s·dr)
    const dst = <usize>a * rowb + o;
    v128.store(L.sr + dst, madd<f64>(sa, di, madd<f64>(ca, er, v128.load(L.sr + dst))));
    v128.store(L.si + dst, nmadd<f64>(sa, dr, madd<f64>(ca, ei, v128.load(L.si + dst))));
  }
  return m;
}

/** The scratch of every entry point, laid out from `work` (see diag_work_bytes). */
@unmanaged
class Scratch {
  ch: usize; sh: usize; cw: usize; sw: usize;
  bc: usize; bs: usize; ic: usize; is: usize;
  tr: usize; ti: usize; sr: usize; si: usize;
  pr: usize; pi: usize; qr: usize; qi: usize;
  tc: usize; ts: usize; tc2: usize; ts2: usize; reg: usize; cb: usize; skip: usize;
}

/** Lays out the scratch (the descriptor itself in its first 16·8 bytes) and fills the tables. */
function scratch(work: usize, kh: i32, kw: i32, h: i32, w: i32, nv: i32, nvp: i32): Scratch {
  const L = changetype<Scratch>(align16(work));
  const rowb = <usize>nvp << 3;
  L.ch = align16(changetype<usize>(L) + 23 * 8);
  L.sh = L.ch + (<usize>h << 3);
  L.cw = L.sh + (<usize>h << 3);
  L.sw = L.cw + (<usize>w << 3);
  L.bc = align16(L.sw + (<usize>w << 3));
  L.bs = L.bc + <usize>kw * rowb;
  L.ic = L.bs + <usize>kw * rowb;
  L.is = L.ic + <usize>kw * rowb;
  L.tr = L.is + <usize>kw * rowb;
  L.ti = L.tr + <usize>kh * rowb;
  L.sr = L.ti + <usize>kh * rowb;
  L.si = L.sr + <usize>kh * rowb;
  L.pr = L.si + <usize>kh * rowb;
  L.pi = L.pr + rowb;
  L.qr = L.pi + rowb;
  L.qi = L.qr + rowb;
  L.tc = L.qi + rowb;
  L.ts = L.tc + (<usize>kh << 3);
  L.tc2 = L.ts + (<usize>kh << 3);
  L.ts2 = L.tc2 + (<usize>kh << 3);
  L.reg = align16(L.ts2 + (<usize>kh << 3));
  L.cb = L.reg + 64;
  L.skip = L.cb + rowb;
  tables(h, L.ch, L.sh);
  tables(w, L.cw, L.sw);
  columnTables(kw, h, w, nv, nvp, L.cw, L.sw, L.bc, L.bs, L.ic, L.is);
  return L;
}

/**
 * diag_norm_f64: the largest |P_g(u, v)| over groups g and all frequencies of
 * `groups` real kernels K_g (kh × kw taps each, one after another, kh ≤ h, kw ≤ w),
 * each the 1×1 frequency matrix of one group on an h × w grid.
 *   work [in] diag_work_bytes(kh, kw, h, w) bytes
 */
export function diag_norm_f64(k: usize, groups: i32, kh: i32, kw: i32, h: i32, w: i32, work: usize): f64 {
  const nvp = paddedColumns(w);
  const L = scratch(work, kh, kw, h, w, (w >> 1) + 1, nvp);
  let m = f64x2.splat(0.0);
  for (let g = 0; g < groups; g++) {
    transformRows(k + (<usize>(g * kh * kw) << 3), kh, kw, nvp, L.bc, L.bs, L.tr, L.ti);
    // Every |P_g(u, v)| = |Σ_a T_a(v)·exp(2πiua/h)| is at most Σ_a |T_a(v)|, computed from the same
    // T (so also for the rounded values, with room to spare): a group bounded below the largest value
    // so far cannot change it and is not swept.
    const sofar = max<f64>(f64x2.extract_lane(m, 0), f64x2.extract_lane(m, 1));
    if (rowBound(L.tr, L.ti, kh, nvp, 0) * (1.0 + 1e-12) < sofar) continue;
    m = sweepGroup(L, kh, h, nvp, 0.0, false, 0, 0, m);
  }
  return Math.sqrt(max<f64>(f64x2.extract_lane(m, 0), f64x2.extract_lane(m, 1)));
}

/**
 * Row flags for diag_clip_f64: flags[u] = 1 for u ≤ h/2 when the bound
 * Σ_b |Σ_a K[a, b]·exp(2πiua/h)| of every |P(u, v)| (and of |P(h − u, v)|, the
 * same for a real kernel), times `eta`, squared, is at most c2.
 */
function rowFlags(k: usize, kh: i32, kw: i32, h: i32, ch: usize, sh: usize, c2: f64, eta: f64, flags: usize): void {
  for (let u = 0; 2 * u <= h; u++) {
    let sum: f64 = 0.0;
    for (let b = 0; b < kw; b++) {
      let re: f64 = 0.0;
      let im: f64 = 0.0;
      let j = 0; // u·a mod h
      for (let a = 0; a < kh; a++) {
        const x = load<f64>(k + (<usize>(a * kw + b) << 3));
        re += x * load<f64>(ch + (<usize>j << 3));
        im += x * load<f64>(sh + (<usize>j << 3));
        j += u;
        if (j >= h) j -= h;
      }
      sum += Math.sqrt(re * re + im * im);
    }
    store<u8>(flags + <usize>u, <u8>(sum * sum * eta <= c2));
  }
}

/**
 * (max_v Σ_a |T_a(v)|)² over the padded half of T (kh rows of re, then of im);
 * with `cb` ≠ 0 each f64x2 of sums Σ_a |T_a(v)| is also stored there (at the same offset as in a row).
 */
function rowBound(tr: usize, ti: usize, kh: i32, nvp: i32, cb: usize): f64 {
  const rowb = <usize>nvp << 3;
  let mb = f64x2.splat(0.0);
  for (let o: usize = 0; o < rowb; o += 16) {
    let sum = f64x2.splat(0.0);
    for (let a = 0; a < kh; a++) {
      const xr = v128.load(tr + <usize>a * rowb + o);
      const xi = v128.load(ti + <usize>a * rowb + o);
      sum = f64x2.add(sum, f64x2.sqrt(f64x2.add(f64x2.mul(xr, xr), f64x2.mul(xi, xi))));
    }
    if (cb != 0) v128.store(cb + o, sum);
    mb = f64x2.pmax(mb, sum);
  }
  const b = max<f64>(f64x2.extract_lane(mb, 0), f64x2.extract_lane(mb, 1));
  return b * b;
}

/**
 * diag_clip_f64: one clipping round of `groups` 1×1-block kernels (see
 * diag_norm_f64): P'(u, v) = P·min(1, c/|P|) at every frequency, transformed
 * back and restricted to the taps:
 *
 *   kout_g[a, b] = Σ_{u, v} Re(P'_g(u, v)·exp(−2πi(u·a/h + v·b/w))) / (h·w)
 *
 * computed as K_g minus the same restriction of E = P − P' (the restriction
 * of P itself is K_g, as kh ≤ h and kw ≤ w): a group with no frequency above
 * c comes back with its own bits.
 *
 * Arguments:
 *   k      [in]  f64[groups·kh·kw]
 *   c      [in]  the clipping level, ≥ 0
 *   kout   [out] f64[groups·kh·kw] (may not alias k)
 *   corr   [in,out] diag_corr_bytes(groups, h, w) bytes, or 0: Dykstra's
 *                correction; when given, P + corr is clipped and corr becomes
 *                (P + corr) − P'
 *   work   [in]  diag_work_bytes(kh, kw, h, w) bytes
 * Returns the largest modulus (|P|, or |P + corr|) when it is above c (the
 * round's norm); when nothing is above c, some value ≤ c (as the SVD path's
 * round, which leaves frequencies certified inside the ball without values).
 */
export function diag_clip_f64(k: usize, groups: i32, kh: i32, kw: i32, h: i32, w: i32, c: f64, kout: usize,
  corr: usize, work: usize): f64 {
  const nvp = paddedColumns(w);
  const rowb = <usize>nvp << 3;
  const L = scratch(work, kh, kw, h, w, (w >> 1) + 1, nvp);
  const taps = kh * kw;
  const c2 = c * c;
  const eta = 1.0 + 1e-12;
  let m = f64x2.splat(0.0);
  for (let g = 0; g < groups; g++) {
    const kg = k + (<usize>(g * taps) << 3);
    const og = kout + (<usize>(g * taps) << 3);
    transformRows(kg, kh, kw, nvp, L.bc, L.bs, L.tr, L.ti);
    if (corr == 0) {
      // Without a correction, a column v whose bound Σ_a |T_a(v)| (see diag_norm_f64) is inside the
      // ball clips nothing (E = 0 there) and is skipped, and a group whose columns all are comes
      // back as it is. The largest value is then taken over the columns swept: exact whenever
      // anything is clipped (the skipped ones are at most c), else some value ≤ c.
      if (rowBound(L.tr, L.ti, kh, nvp, L.cb) * eta <= c2) {
        memory.copy(og, kg, <usize>taps << 3);
        continue;
      }
      const lim = f64x2.splat(c2);
      const e = f64x2.splat(eta);
      for (let o: usize = 0; o < rowb; o += 16) {
        const b = v128.load(L.cb + o);
        store<u8>(L.skip + (o >> 4), <u8>i64x2.all_true(f64x2.le(f64x2.mul(f64x2.mul(b, b), e), lim)));
      }
      rowFlags(kg, kh, kw, h, L.ch, L.sh, c2, eta, L.skip + (rowb >> 4));
    }
    memory.fill(L.sr, 0, <usize>kh * rowb * 2); // S's re and im rows are contiguous
    const cg = corr == 0 ? 0 : corr + <usize>g * <usize>h * 2 * rowb;
    m = sweepGroup(L, kh, h, nvp, c, true, cg, corr == 0 ? L.skip : 0, m);
    inverseRows(kh, kw, nvp, L.ic, L.is, L.sr, L.si, og);
    for (let j = 0; j < taps; j++) {
      const at = <usize>j << 3;
      store<f64>(og + at, load<f64>(kg + at) - load<f64>(og + at));
    }
  }
  return Math.sqrt(max<f64>(f64x2.extract_lane(m, 0), f64x2.extract_lane(m, 1)));
}

/** The smallest power of two ≥ n (n ≥ 1). */
// @ts-ignore: decorator
@inline
function pow2Above(n: i32): i32 {
  return n <= 1 ? 1 : 1 << (32 - clz<i32>(n - 1));
}

/**
 * Bytes of diag_values_f64's scratch `tmp` for `groups` values per frequency
 * and a kh × kw kernel: the sort's interleaved lanes, the kernel taps-major
 * (groups contiguous) and one column's T, groups rounded up to even.
 */
export function diag_values_bytes(groups: i32, kh: i32, kw: i32): i32 {
  const gp = <i64>((groups + 1) & ~1);
  const bytes: i64 = 2 * <i64>pow2Above(groups) * 8 + (<i64>kh * <i64>kw + 2 * <i64>kh) * gp * 8 + 32;
  return bytes > 0x7fffffff ? -1 : <i32>bytes;
}

/** A comparator's first output per lane: the larger of a and b when `down`, else the smaller. */
// @ts-ignore: decorator
@inline
function first(a: v128, b: v128, down: bool): v128 {
  return down ? f64x2.pmax(a, b) : f64x2.pmin(a, b);
}

/** A comparator's second output per lane: the other of a and b. */
// @ts-ignore: decorator
@inline
function second(a: v128, b: v128, down: bool): v128 {
  return down ? f64x2.pmin(a, b) : f64x2.pmax(a, b);
}

/**
 * Strides 4q, 2q and q of one bitonic stage on a block of 8q lanes' pairs at p
 * (qb = 16·q bytes): for each o < q the lanes o, o + q, …, o + 7q in
 * registers; decreasing when `down`, else increasing. With q = 1 the
 * strides 4, 2 and 1 of 8 consecutive f64x2. Callers pass `down` as a
 * constant, so each direction compiles to its own branch-free loop.
 */
// @ts-ignore: decorator
@inline
function oct(p: usize, qb: usize, down: bool): void {
  for (let o: usize = 0; o < qb; o += 16) {
    let x0 = v128.load(p + o);
    let x1 = v128.load(p + o + qb);
    let x2 = v128.load(p + o + 2 * qb);
    let x3 = v128.load(p + o + 3 * qb);
    let x4 = v128.load(p + o + 4 * qb);
    let x5 = v128.load(p + o + 5 * qb);
    let x6 = v128.load(p + o + 6 * qb);
    let x7 = v128.load(p + o + 7 * qb);
    let t: v128;
    t = second(x0, x4, down);
    x0 = first(x0, x4, down);
    x4 = t;
    t = second(x1, x5, down);
    x1 = first(x1, x5, down);
    x5 = t;
    t = second(x2, x6, down);
    x2 = first(x2, x6, down);
    x6 = t;
    t = second(x3, x7, down);
    x3 = first(x3, x7, down);
    x7 = t;
    t = second(x0, x2, down);
    x0 = first(x0, x2, down);
    x2 = t;
    t = second(x1, x3, down);
    x1 = first(x1, x3, down);
    x3 = t;
    t = second(x4, x6, down);
    x4 = first(x4, x6, down);
    x6 = t;
    t = second(x5, x7, down);
    x5 = first(x5, x7, down);
    x7 = t;
    t = second(x0, x1, down);
    x0 = first(x0, x1, down);
    x1 = t;
    t = second(x2, x3, down);
    x2 = first(x2, x3, down);
    x3 = t;
    t = second(x4, x5, down);
    x4 = first(x4, x5, down);
    x5 = t;
    t = second(x6, x7, down);
    x6 = first(x6, x7, down);
    x7 = t;
    v128.store(p + o, x0);
    v128.store(p + o + qb, x1);
    v128.store(p + o + 2 * qb, x2);
    v128.store(p + o + 3 * qb, x3);
    v128.store(p + o + 4 * qb, x4);
    v128.store(p + o + 5 * qb, x5);
    v128.store(p + o + 6 * qb, x6);
    v128.store(p + o + 7 * qb, x7);
  }
}

/**
 * Sorts each lane of 8 consecutive f64x2 at p by a 19-comparator network in
 * registers (Knuth's optimal network for 8): decreasing when `down`, else
 * increasing (`down` a constant at the call, as for oct).
 */
// @ts-ignore: decorator
@inline
function sort8(p: usize, down: bool): void {
  let x0 = v128.load(p + 0);
  let x1 = v128.load(p + 16);
  let x2 = v128.load(p + 32);
  let x3 = v128.load(p + 48);
  let x4 = v128.load(p + 64);
  let x5 = v128.load(p + 80);
  let x6 = v128.load(p + 96);
  let x7 = v128.load(p + 112);
  let t: v128;
  t = second(x0, x2, down);
  x0 = first(x0, x2, down);
  x2 = t;
  t = second(x1, x3, down);
  x1 = first(x1, x3, down);
  x3 = t;
  t = second(x4, x6, down);
  x4 = first(x4, x6, down);
  x6 = t;
  t = second(x5, x7, down);
  x5 = first(x5, x7, down);
  x7 = t;
  t = second(x0, x4, down);
  x0 = first(x0, x4, down);
  x4 = t;
  t = second(x1, x5, down);
  x1 = first(x1, x5, down);
  x5 = t;
  t = second(x2, x6, down);
  x2 = first(x2, x6, down);
  x6 = t;
  t = second(x3, x7, down);
  x3 = first(x3, x7, down);
  x7 = t;
  t = second(x0, x1, down);
  x0 = first(x0, x1, down);
  x1 = t;
  t = second(x2, x3, down);
  x2 = first(x2, x3, down);
  x3 = t;
  t = second(x4, x5, down);
  x4 = first(x4, x5, down);
  x5 = t;
  t = second(x6, x7, down);
  x6 = first(x6, x7, down);
  x7 = t;
  t = second(x2, x4, down);
  x2 = first(x2, x4, down);
  x4 = t;
  t = second(x3, x5, down);
  x3 = first(x3, x5, down);
  x5 = t;
  t = second(x1, x4, down);
  x1 = first(x1, x4, down);
  x4 = t;
  t = second(x3, x6, down);
  x3 = first(x3, x6, down);
  x6 = t;
  t = second(x1, x2, down);
  x1 = first(x1, x2, down);
  x2 = t;
  t = second(x3, x4, down);
  x3 = first(x3, x4, down);
  x4 = t;
  t = second(x5, x6, down);
  x5 = first(x5, x6, down);
  x6 = t;
  v128.store(p + 0, x0);
  v128.store(p + 16, x1);
  v128.store(p + 32, x2);
  v128.store(p + 48, x3);
  v128.store(p + 64, x4);
  v128.store(p + 80, x5);
  v128.store(p + 96, x6);
  v128.store(p + 112, x7);
}

/**
 * Strides j and j/2 of one bitonic stage on a block of 2j lanes' pairs at p
 * (jb = 16·j, hb = jb/2 bytes): for each o < j/2 the lanes o, o + j/2, o + j,
 * o + 3j/2 in registers, compared across j then across j/2; decreasing when
 * `down` (a constant at the call, as for oct).
 */
// @ts-ignore: decorator
@inline
function quad(p: usize, hb: usize, jb: usize, down: bool): void {
  for (let o: usize = 0; o < hb; o += 16) {
    const a0 = v128.load(p + o);
    const a1 = v128.load(p + o + hb);
    const a2 = v128.load(p + o + jb);
    const a3 = v128.load(p + o + jb + hb);
    const b0 = first(a0, a2, down);
    const b2 = second(a0, a2, down);
    const b1 = first(a1, a3, down);
    const b3 = second(a1, a3, down);
    v128.store(p + o, first(b0, b1, down));
    v128.store(p + o + hb, second(b0, b1, down));
    v128.store(p + o + jb, first(b2, b3, down));
    v128.store(p + o + jb + hb, second(b2, b3, down));
  }
}

/** Stride j of stage k over np lanes' pairs at tmp: pairs (i, i + j) with i & j = 0; blocks of 2j share i & k, the direction. */
function single(tmp: usize, np: i32, j: i32, k: i32): void {
  for (let base = 0; base < np; base += 2 * j) {
    const down = (base & k) == 0;
    const lo = tmp + (<usize>base << 4);
    const hi = lo + (<usize>j << 4);
    const top = down ? lo : hi;
    const bottom = down ? hi : lo;
    for (let o: usize = 0; o < (<usize>j << 4); o += 16) {
      const a = v128.load(lo + o);
      const b = v128.load(hi + o);
      v128.store(top + o, f64x2.pmax(a, b));
      v128.store(bottom + o, f64x2.pmin(a, b));
    }
  }
}

/**
 * Sorts rows r and r + 1 (n values each, `gb` bytes apart, at p) into
 * decreasing order at once: they are interleaved into the f64x2 lanes of
 * `tmp` (2·np f64, np = pow2Above(n), padded with −1, below every value),
 * sorted by a network of pmin/pmax (no data-dependent branch: blocks of 8 by
 * sort8, then the bitonic merges of 16, 32, … lanes), and written back. Only the second row is a copy of the first when `one`.
 * The values are moduli: ≥ 0 and never NaN.
 */
function sortPairDesc(p: usize, gb: usize, n: i32, one: bool, tmp: usize): void {
  const np = pow2Above(n);
  const q = one ? p : p + gb;
  for (let j = 0; j < np; j++) {
    const x = j < n ? load<f64>(p + (<usize>j << 3)) : -1.0;
    const y = j < n ? load<f64>(q + (<usize>j << 3)) : -1.0;
    v128.store(tmp + (<usize>j << 4), f64x2.replace_lane(f64x2.splat(x), 1, y));
  }
  // Blocks of 8 sorted in registers (each in the direction stage 8 of the network leaves it), then the
  // stages k ≥ 16; fewer than 8 lanes: every stage as below.
  if (np >= 8) {
    for (let base = 0; base < np; base += 8) {
      const at = tmp + (<usize>base << 4);
      if ((base & 8) == 0) sort8(at, true);
      else sort8(at, false);
    }
  }
  for (let k = np >= 8 ? 16 : 2; k <= np; k <<= 1) {
    // Stage k's strides k/2, …, 1 in passes that hold 8 lanes' pairs in registers (three strides each),
    // the first pass taking the one or two strides left over; fewer than 8 lanes: a stride per pass.
    let j = k >> 1;
    if (k >= 16) {
      const rest = (31 - clz<i32>(k)) % 3;
      if (rest == 1) {
        single(tmp, np, j, k);
        j >>= 1;
      } else if (rest == 2) {
        const hb = <usize>(j >> 1) << 4;
        const jb = <usize>j << 4;
        for (let base = 0; base < np; base += 2 * j) {
          const at = tmp + (<usize>base << 4);
          if ((base & k) == 0) quad(at, hb, jb, true);
          else quad(at, hb, jb, false);
        }
        j >>= 2;
      }
      for (; j >= 4; j >>= 3) {
        const qb = <usize>(j >> 2) << 4;
        for (let base = 0; base < np; base += 2 * j) {
          const at = tmp + (<usize>base << 4);
          if ((base & k) == 0) oct(at, qb, true);
          else oct(at, qb, false);
        }
      }
    } else {
      for (; j > 0; j >>= 1) single(tmp, np, j, k);
    }
  }
  for (let j = 0; j < n; j++) {
    const v = v128.load(tmp + (<usize>j << 4));
    store<f64>(p + (<usize>j << 3), f64x2.extract_lane(v, 0));
    if (!one) store<f64>(q + (<usize>j << 3), f64x2.extract_lane(v, 1));
  }
}

/**
 * diag_values_f64: every group's singular value |P_g(u, v)| at the
 * frequencies of columns v0 … v0 + nvb − 1 (nvb ≥ 1, v0 + nvb ≤ ⌊w/2⌋ + 1),
 * for every u < h, each frequency's `groups` values sorted decreasing when
 * `sorted` is 1 (in group order when 0):
 *
 *   out[((v − v0)·h + u)·groups + j]
 *
 * The groups run in the f64x2 lanes (the kernel laid out taps-major), so a
 * frequency's row is written contiguously; each lane performs transformRows'
 * and pairAt's operations in their order, so every value has the bits those
 * give (and diag_norm_f64 and diag_clip_f64 see).
 *
 * Arguments as diag_norm_f64, plus
 *   out    [out] f64[nvb·h·groups]
 *   tmp    [in]  diag_values_bytes(groups, kh, kw) bytes of scratch, 16-byte aligned
 *   sorted [in]  1: sort each frequency's values; 0: leave them in group order
 *   scale  [in]  a power of two each value is multiplied by as it is stored
 *                (the kernel's scaling undone: exact while the product is normal)
 */
export function diag_values_f64(k: usize, groups: i32, kh: i32, kw: i32, h: i32, w: i32, v0: i32, nvb: i32,
  out: usize, tmp: usize, work: usize, sorted: i32, scale: f64): i32 {
  const sc = f64x2.splat(scale);
  const nv = (w >> 1) + 1;
  const nvp = paddedColumns(w);
  const L = scratch(work, kh, kw, h, w, nv, nvp);
  const taps = kh * kw;
  const gp = (groups + 1) & ~1;
  const gpb = <usize>gp << 3;
  const gb = <usize>groups << 3;
  // The lanes of whole pairs of groups, then (groups odd) the last group's lane alone.
  const whole = <usize>(groups & ~1) << 3;
  const kt = align16(tmp + (<usize>(2 * pow2Above(groups)) << 3));
  const t = kt + <usize>taps * gpb;
  for (let j = 0; j < taps; j++) {
    for (let g = 0; g < groups; g++) {
      store<f64>(kt + <usize>j * gpb + (<usize>g << 3), load<f64>(k + (<usize>(g * taps + j) << 3)));
    }
    if (gp > groups) store<f64>(kt + <usize>j * gpb + gb, 0.0);
  }
  for (let v = v0; v < v0 + nvb; v++) {
    // T_a(v) = Σ_b K[a, b]·exp(+2πi·v·b/w) per group, as transformRows.
    for (let a = 0; a < kh; a++) {
      for (let o: usize = 0; o < gpb; o += 16) {
        let sr = f64x2.splat(0.0);
        let si = f64x2.splat(0.0);
        for (let b = 0; b < kw; b++) {
          const x = v128.load(kt + <usize>(a * kw + b) * gpb + o);
          const at = <usize>(b * nvp + v) << 3;
          sr = f64x2.add(sr, f64x2.mul(x, v128.load64_splat(L.bc + at)));
          si = f64x2.add(si, f64x2.mul(x, v128.load64_splat(L.bs + at)));
        }
        v128.store(t + <usize>(2 * a) * gpb + o, sr);
        v128.store(t + <usize>(2 * a + 1) * gpb + o, si);
      }
    }
    const col = out + <usize>(v - v0) * <usize>h * gb;
    for (let u = 0; 2 * u <= h; u++) {
      rowTwiddles(u, h, kh, L.ch, L.sh, L.tc, L.ts);
      const mirror = h - u;
      const both = u != 0 && mirror != u;
      const rowU = col + <usize>u * gb;
      const rowM = col + <usize>mirror * gb;
      for (let o: usize = 0; o < gpb; o += 16) {
        // pairAt's arithmetic on a pair of groups.
        let ar = f64x2.splat(0.0);
        let ai = f64x2.splat(0.0);
        let br = f64x2.splat(0.0);
        let bi = f64x2.splat(0.0);
        for (let a = 0; a < kh; a++) {
          const c = v128.load64_splat(L.tc + (<usize>a << 3));
          const s = v128.load64_splat(L.ts + (<usize>a << 3));
          const xr = v128.load(t + <usize>(2 * a) * gpb + o);
          const xi = v128.load(t + <usize>(2 * a + 1) * gpb + o);
          ar = madd<f64>(xr, c, ar);
          ai = madd<f64>(xi, c, ai);
          br = madd<f64>(xr, s, br);
          bi = madd<f64>(xi, s, bi);
        }
        const pr = f64x2.sub(ar, bi);
        const pi = f64x2.add(ai, br);
        const mu = f64x2.mul(f64x2.sqrt(f64x2.add(f64x2.mul(pr, pr), f64x2.mul(pi, pi))), sc);
        if (o < whole) v128.store(rowU + o, mu);
        else store<f64>(rowU + o, f64x2.extract_lane(mu, 0));
        if (both) {
          const qr = f64x2.add(ar, bi);
          const qi = f64x2.sub(ai, br);
          const mm = f64x2.mul(f64x2.sqrt(f64x2.add(f64x2.mul(qr, qr), f64x2.mul(qi, qi))), sc);
          if (o < whole) v128.store(rowM + o, mm);
          else store<f64>(rowM + o, f64x2.extract_lane(mm, 0));
        }
      }
    }
  }
  if (sorted == 0) return 0;
  const rows = nvb * h;
  for (let row = 0; row < rows; row += 2) sortPairDesc(out + <usize>row * gb, gb, groups, row + 1 == rows, tmp);
  return 0;
}
