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

const TWO_PI: f64 = 6.283185307179586;

// @ts-ignore: decorator
@inline
function align16(x: usize): usize {
  return (x + 15) & ~(<usize>15);
}

/** Columns of the Hermitian half, rounded up to a whole number of f64x2 lanes. */
// @ts-ignore: decorator
@inline
function paddedColumns(w: i32): i32 {
  return ((w >> 1) + 2) & ~1;
}

/** Bytes of scratch for diag_clip_f64 and diag_norm_f64. */
export function diag_work_bytes(kh: i32, kw: i32, h: i32, w: i32): i32 {
  const nvp = <i64>paddedColumns(w);
  let bytes: i64 = 2 * (<i64>h + <i64>w) * 8; // cos/sin tables of h and w
  bytes += 4 * <i64>kw * nvp * 8; // the width taps' twiddles per column, plain and weighted
  bytes += 4 * <i64>kh * nvp * 8; // T and S, re and im
  bytes += 4 * nvp * 8 + 2 * <i64>kh * 8; // P(u) and P(h − u), re and im; a row's twiddles
  bytes += 18 * 8 + 8 * 16; // the layout's descriptor; alignment
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
  for (let a = 0; a < kh; a++) {
    const j = <usize>(<i32>((<i64>u * <i64>a) % <i64>h)) << 3;
    store<f64>(tc + (<usize>a << 3), load<f64>(ch + j));
    store<f64>(ts + (<usize>a << 3), load<f64>(sh + j));
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
 * P(u) and P(h − u) over the padded half from T: A = Σ_a T_a·cos, B = Σ_a T_a·sin,
 * P(u) = A + iB, P(h − u) = A − iB.
 */
// @ts-ignore: decorator
@inline
function rowPair(kh: i32, nvp: i32, tc: usize, ts: usize, tr: usize, ti: usize,
  pr: usize, pi: usize, qr: usize, qi: usize): void {
  const rowb = <usize>nvp << 3;
  for (let o: usize = 0; o < rowb; o += 16) {
    let ar = f64x2.splat(0.0);
    let ai = f64x2.splat(0.0);
    let br = f64x2.splat(0.0);
    let bi = f64x2.splat(0.0);
    for (let a = 0; a < kh; a++) {
      const c = f64x2.splat(load<f64>(tc + (<usize>a << 3)));
      const s = f64x2.splat(load<f64>(ts + (<usize>a << 3)));
      const xr = v128.load(tr + <usize>a * rowb + o);
      const xi = v128.load(ti + <usize>a * rowb + o);
      ar = f64x2.add(ar, f64x2.mul(xr, c));
      ai = f64x2.add(ai, f64x2.mul(xi, c));
      br = f64x2.add(br, f64x2.mul(xr, s));
      bi = f64x2.add(bi, f64x2.mul(xi, s));
    }
    // A + iB = (ar − bi) + i(ai + br); A − iB = (ar + bi) + i(ai − br).
    v128.store(pr + o, f64x2.sub(ar, bi));
    v128.store(pi + o, f64x2.add(ai, br));
    v128.store(qr + o, f64x2.add(ar, bi));
    v128.store(qi + o, f64x2.sub(ai, br));
  }
}

/** The largest modulus in a row of the padded half (the padding is zero). */
// @ts-ignore: decorator
@inline
function rowMax(pr: usize, pi: usize, nvp: i32, m: v128): v128 {
  for (let o: usize = 0; o < (<usize>nvp << 3); o += 16) {
    const xr = v128.load(pr + o);
    const xi = v128.load(pi + o);
    m = f64x2.max(m, f64x2.add(f64x2.mul(xr, xr), f64x2.mul(xi, xi)));
  }
  return m;
}

/**
 * Clips one row in place at modulus c: x·min(1, c/|x|). With a correction
 * row (Dykstra), y = x + corr is clipped instead and corr becomes y − clip(y).
 * Returns the largest squared modulus of what was clipped, lane-wise max with m.
 */
// @ts-ignore: decorator
@inline
function clipRow(pr: usize, pi: usize, nvp: i32, c: f64, cr: usize, m: v128): v128 {
  const cc = f64x2.splat(c * c);
  const cv = f64x2.splat(c);
  const one = f64x2.splat(1.0);
  const ci = cr + (<usize>nvp << 3);
  for (let o: usize = 0; o < (<usize>nvp << 3); o += 16) {
    let xr = v128.load(pr + o);
    let xi = v128.load(pi + o);
    if (cr != 0) {
      xr = f64x2.add(xr, v128.load(cr + o));
      xi = f64x2.add(xi, v128.load(ci + o));
    }
    const q = f64x2.add(f64x2.mul(xr, xr), f64x2.mul(xi, xi));
    m = f64x2.max(m, q);
    // f = 1 where q ≤ c², else c/|x| (q > c² ≥ 0, so the root is positive).
    const f = v128.bitselect(one, f64x2.div(cv, f64x2.sqrt(q)), f64x2.le(q, cc));
    const yr = f64x2.mul(xr, f);
    const yi = f64x2.mul(xi, f);
    if (cr != 0) {
      v128.store(cr + o, f64x2.sub(xr, yr));
      v128.store(ci + o, f64x2.sub(xi, yi));
    }
    v128.store(pr + o, yr);
    v128.store(pi + o, yi);
  }
  return m;
}

/**
 * S_a += P'(u)·exp(−2πiua/h) + P'(h − u)·exp(+2πiua/h)
 *      = cos·(P'(u) + P'(h − u)) − i·sin·(P'(u) − P'(h − u)); one row when `pair` is false.
 */
// @ts-ignore: decorator
@inline
function accumulate(kh: i32, nvp: i32, tc: usize, ts: usize, pr: usize, pi: usize,
  qr: usize, qi: usize, pair: bool, sr: usize, si: usize): void {
  const rowb = <usize>nvp << 3;
  for (let o: usize = 0; o < rowb; o += 16) {
    let er = v128.load(pr + o);
    let ei = v128.load(pi + o);
    let dr = er;
    let di = ei;
    if (pair) {
      const yr = v128.load(qr + o);
      const yi = v128.load(qi + o);
      er = f64x2.add(er, yr);
      ei = f64x2.add(ei, yi);
      dr = f64x2.sub(dr, yr);
      di = f64x2.sub(di, yi);
    }
    for (let a = 0; a < kh; a++) {
      const c = f64x2.splat(load<f64>(tc + (<usize>a << 3)));
      const s = f64x2.splat(load<f64>(ts + (<usize>a << 3)));
      // cos·E − i·sin·D = (c·er + s·di) + i(c·ei − s·dr)
      const dst = <usize>a * rowb + o;
      v128.store(sr + dst, f64x2.add(v128.load(sr + dst), f64x2.add(f64x2.mul(c, er), f64x2.mul(s, di))));
      v128.store(si + dst, f64x2.add(v128.load(si + dst), f64x2.sub(f64x2.mul(c, ei), f64x2.mul(s, dr))));
    }
  }
}

/** The scratch of both entry points, laid out from `work` (see diag_work_bytes). */
@unmanaged
class Scratch {
  ch: usize; sh: usize; cw: usize; sw: usize;
  bc: usize; bs: usize; ic: usize; is: usize;
  tr: usize; ti: usize; sr: usize; si: usize;
  pr: usize; pi: usize; qr: usize; qi: usize;
  tc: usize; ts: usize;
}

/** Lays out the scratch (the descriptor itself in its first 16·8 bytes) and fills the tables. */
function scratch(work: usize, kh: i32, kw: i32, h: i32, w: i32, nv: i32, nvp: i32): Scratch {
  const L = changetype<Scratch>(align16(work));
  const rowb = <usize>nvp << 3;
  L.ch = align16(changetype<usize>(L) + 18 * 8);
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
  const nv = (w >> 1) + 1;
  const nvp = paddedColumns(w);
  const L = scratch(work, kh, kw, h, w, nv, nvp);
  let m = f64x2.splat(0.0);
  for (let g = 0; g < groups; g++) {
    transformRows(k + (<usize>(g * kh * kw) << 3), kh, kw, nvp, L.bc, L.bs, L.tr, L.ti);
    for (let u = 0; 2 * u <= h; u++) {
      rowTwiddles(u, h, kh, L.ch, L.sh, L.tc, L.ts);
      rowPair(kh, nvp, L.tc, L.ts, L.tr, L.ti, L.pr, L.pi, L.qr, L.qi);
      m = rowMax(L.pr, L.pi, nvp, m);
      if (u != 0 && 2 * u != h) m = rowMax(L.qr, L.qi, nvp, m);
    }
  }
  return Math.sqrt(max<f64>(f64x2.extract_lane(m, 0), f64x2.extract_lane(m, 1)));
}

/**
 * diag_clip_f64: one clipping round of `groups` 1×1-block kernels (see
 * diag_norm_f64): P'(u, v) = P·min(1, c/|P|) at every frequency, transformed
 * back and restricted to the taps:
 *
 *   kout_g[a, b] = Σ_{u, v} Re(P'_g(u, v)·exp(−2πi(u·a/h + v·b/w))) / (h·w)
 *
 * Arguments:
 *   k      [in]  f64[groups·kh·kw]
 *   c      [in]  the clipping level, ≥ 0
 *   kout   [out] f64[groups·kh·kw] (may not alias k)
 *   corr   [in,out] diag_corr_bytes(groups, h, w) bytes, or 0: Dykstra's
 *                correction; when given, P + corr is clipped and corr becomes
 *                (P + corr) − P'
 *   work   [in]  diag_work_bytes(kh, kw, h, w) bytes
 * Returns the largest modulus clipped (|P|, or |P + corr|).
 */
export function diag_clip_f64(k: usize, groups: i32, kh: i32, kw: i32, h: i32, w: i32, c: f64, kout: usize,
  corr: usize, work: usize): f64 {
  const nv = (w >> 1) + 1;
  const nvp = paddedColumns(w);
  const rowb = <usize>nvp << 3;
  const L = scratch(work, kh, kw, h, w, nv, nvp);
  let m = f64x2.splat(0.0);
  for (let g = 0; g < groups; g++) {
    transformRows(k + (<usize>(g * kh * kw) << 3), kh, kw, nvp, L.bc, L.bs, L.tr, L.ti);
    memory.fill(L.sr, 0, <usize>kh * rowb);
    memory.fill(L.si, 0, <usize>kh * rowb);
    const cg = corr + <usize>g * <usize>h * 2 * rowb;
    for (let u = 0; 2 * u <= h; u++) {
      rowTwiddles(u, h, kh, L.ch, L.sh, L.tc, L.ts);
      rowPair(kh, nvp, L.tc, L.ts, L.tr, L.ti, L.pr, L.pi, L.qr, L.qi);
      const pair = u != 0 && 2 * u != h;
      m = clipRow(L.pr, L.pi, nvp, c, corr == 0 ? 0 : cg + <usize>u * 2 * rowb, m);
      if (pair) m = clipRow(L.qr, L.qi, nvp, c, corr == 0 ? 0 : cg + <usize>(h - u) * 2 * rowb, m);
      accumulate(kh, nvp, L.tc, L.ts, L.pr, L.pi, L.qr, L.qi, pair, L.sr, L.si);
    }
    inverseRows(kh, kw, nvp, L.ic, L.is, L.sr, L.si, kout + (<usize>(g * kh * kw) << 3));
  }
  return Math.sqrt(max<f64>(f64x2.extract_lane(m, 0), f64x2.extract_lane(m, 1)));
}

/**
 * Sorts f64[n] at p into decreasing order: a bottom-up merge sort whose merge
 * picks with `select` (no data-dependent branch), ping-ponging with tmp
 * (f64[n]). On ties it takes the left run first (stable).
 */
function sortDesc(p: usize, n: i32, tmp: usize): void {
  let src = p;
  let dst = tmp;
  for (let width = 1; width < n; width <<= 1) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = min<i32>(lo + width, n);
      const hi = min<i32>(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let o = lo;
      while (i < mid && j < hi) {
        const a = load<f64>(src + (<usize>i << 3));
        const b = load<f64>(src + (<usize>j << 3));
        const left = a >= b;
        store<f64>(dst + (<usize>o << 3), select<f64>(a, b, left));
        i += <i32>left;
        j += <i32>!left;
        o++;
      }
      while (i < mid) store<f64>(dst + (<usize>(o++) << 3), load<f64>(src + (<usize>(i++) << 3)));
      while (j < hi) store<f64>(dst + (<usize>(o++) << 3), load<f64>(src + (<usize>(j++) << 3)));
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src != p) memory.copy(p, src, <usize>n << 3);
}

/**
 * diag_values_f64: every group's singular value |P_g(u, v)| at the
 * frequencies of columns v0 … v0 + nvb − 1 (nvb ≥ 1, v0 + nvb ≤ ⌊w/2⌋ + 1),
 * for every u < h, each frequency's `groups` values sorted decreasing:
 *
 *   out[((v − v0)·h + u)·groups + j]
 *
 * Arguments as diag_norm_f64, plus
 *   out  [out] f64[nvb·h·groups]
 *   tmp  [in]  f64[groups] of scratch for the sort
 */
export function diag_values_f64(k: usize, groups: i32, kh: i32, kw: i32, h: i32, w: i32, v0: i32, nvb: i32,
  out: usize, tmp: usize, work: usize): i32 {
  const nv = (w >> 1) + 1;
  const nvp = paddedColumns(w);
  const L = scratch(work, kh, kw, h, w, nv, nvp);
  const gb = <usize>groups << 3;
  for (let g = 0; g < groups; g++) {
    transformRows(k + (<usize>(g * kh * kw) << 3), kh, kw, nvp, L.bc, L.bs, L.tr, L.ti);
    for (let u = 0; 2 * u <= h; u++) {
      rowTwiddles(u, h, kh, L.ch, L.sh, L.tc, L.ts);
      rowPair(kh, nvp, L.tc, L.ts, L.tr, L.ti, L.pr, L.pi, L.qr, L.qi);
      const mirror = h - u;
      for (let v = v0; v < v0 + nvb; v++) {
        const col = out + <usize>(v - v0) * <usize>h * gb + (<usize>g << 3);
        const at = <usize>v << 3;
        const xr = load<f64>(L.pr + at);
        const xi = load<f64>(L.pi + at);
        store<f64>(col + <usize>u * gb, Math.sqrt(xr * xr + xi * xi));
        if (u != 0 && mirror != u) {
          const yr = load<f64>(L.qr + at);
          const yi = load<f64>(L.qi + at);
          store<f64>(col + <usize>mirror * gb, Math.sqrt(yr * yr + yi * yi));
        }
      }
    }
  }
  for (let row = 0; row < nvb * h; row++) sortDesc(out + <usize>row * gb, groups, tmp);
  return 0;
}
