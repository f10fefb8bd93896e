// Per-column driver: frequency transform of the kernel, then one SVD per frequency.
import { fft_plan_bytes, fft_plan_init, fft_c64_batch } from "./fft";
import { bidiag_work_bytes, bidiagSplit } from "./bidiag";
import { sort_desc_f64 } from "./bdsqr";
import { dqds_values_f64, dqds_work_bytes, dqdsValues, TOL_F32_INPUT } from "./dqds";

/** 2π. */
export const TWO_PI: f64 = 6.283185307179586;

/** x rounded up to a multiple of 16 (a v128's alignment). */
// @ts-ignore: decorator
@inline
export function align16(x: usize): usize {
  return (x + 15) & ~(<usize>15);
}

// @ts-ignore: decorator
@inline
function ceilLog2(n: i32): i32 {
  let l = 0;
  while ((1 << l) < n) l++;
  return l;
}

/**
 * Cost of a length-n FFT in units of one complex multiply-add of the direct
 * sum, fitted to timings of fft_c64_batch here (n = 64..4096): radix-2 for
 * powers of two, Bluestein (through a power of two p ≥ 2n − 1) otherwise.
 */
export function fft_cost(n: i32): i32 {
  if ((n & (n - 1)) == 0) return (n * max<i32>(ceilLog2(n), 1)) / 2 + n;
  const p = 1 << ceilLog2(2 * n - 1);
  return (6 * p * ceilLog2(p)) / 5 + 2 * n;
}

/** Leading dimension used for an m-row column-major f64 block: even, and never a multiple of 4 KiB. */
export function lead_dim(m: i32): i32 {
  let ld = (m + 1) & ~1;
  if (((ld << 3) & 4095) == 0) ld += 8;
  return ld;
}

/** Leading dimension of an m-row f32 block: a multiple of 4, never a multiple of 4 KiB (≤ lead_dim(m)·2 floats). */
export function lead_dim32(m: i32): i32 {
  let ld = (m + 3) & ~3;
  if (((ld << 2) & 4095) == 0) ld += 16;
  return ld;
}

/** Whether the axis transform of a length-k sequence, evaluated at `outs` frequencies of a length-n DFT, uses the FFT. */
export function use_fft(k: i32, n: i32, outs: i32): bool {
  return k > 8 && fft_cost(n) < k * outs;
}

/** Bytes of scratch for transform_w_f64 (nrows rows of kw taps, width w, nv columns). */
export function transform_w_work_bytes(nrows: i32, kw: i32, w: i32, nv: i32): i32 {
  if (!use_fft(kw, w, nv)) return 2 * kw * 8 + 32;
  return fft_plan_bytes(w) + 2 * 64 * w * 8 + 64;
}

/**
 * transform_w_f64: the DFT along the kernel's last axis at columns v0..v0+nv−1.
 *
 *   out[v − v0][r] = Σ_{b<kw} (K[r·kw + b] + i·KI[r·kw + b]) · exp(+2πi·v·b / w)
 *
 * Arguments:
 *   k          [in]  f64[nrows·kw]  rows of taps, real parts (kw ≤ w: taps already folded)
 *   ki         [in]  f64[nrows·kw]  imaginary parts, or 0 for a real kernel
 *   nrows, kw  [in]  ≥ 1
 *   w          [in]  transform length, ≥ kw
 *   v0, nv     [in]  first column and number of columns, 0 ≤ v0, v0 + nv ≤ w
 *   outr, outi [out] f64[nv·nrows]  real and imaginary parts, column v at (v−v0)·nrows
 *   work       [in]  transform_w_work_bytes(nrows, kw, w, nv) bytes, 16-byte aligned
 * Direct sums (exact twiddles, angle reduced mod w) for short rows; a batched
 * FFT of the zero-padded rows otherwise. Returns 0.
 */
export function transform_w_f64(k: usize, ki: usize, nrows: i32, kw: i32, w: i32, v0: i32, nv: i32,
  outr: usize, outi: usize, work: usize): i32 {
  const rowsb = <usize>nrows << 3;
  const rowb = <usize>kw << 3;
  if (!use_fft(kw, w, nv)) {
    const twr = work;
    const twi = work + rowb;
    for (let v = v0; v < v0 + nv; v++) {
      for (let b = 0; b < kw; b++) {
        const ang = TWO_PI * <f64>(<i32>((<i64>v * <i64>b) % <i64>w)) / <f64>w;
        store<f64>(twr + (<usize>b << 3), Math.cos(ang));
        store<f64>(twi + (<usize>b << 3), Math.sin(ang));
      }
      const or = outr + <usize>(v - v0) * rowsb;
      const oi = outi + <usize>(v - v0) * rowsb;
      for (let r = 0; r < nrows; r++) {
        const kr = k + <usize>r * rowb;
        let sr: f64 = 0.0;
        let si: f64 = 0.0;
        for (let b = 0; b < kw; b++) {
          const x = load<f64>(kr + (<usize>b << 3));
          sr += x * load<f64>(twr + (<usize>b << 3));
          si += x * load<f64>(twi + (<usize>b << 3));
        }
        if (ki != 0) {
          const kq = ki + <usize>r * rowb;
          for (let b = 0; b < kw; b++) {
            const y = load<f64>(kq + (<usize>b << 3));
            sr -= y * load<f64>(twi + (<usize>b << 3));
            si += y * load<f64>(twr + (<usize>b << 3));
          }
        }
        store<f64>(or + (<usize>r << 3), sr);
        store<f64>(oi + (<usize>r << 3), si);
      }
    }
    return 0;
  }
  const plan = work;
  const bufr = align16(plan + <usize>fft_plan_bytes(w));
  const bufi = bufr + <usize>(64 * w) * 8;
  fft_plan_init(w, plan);
  for (let r0 = 0; r0 < nrows; r0 += 64) {
    const cnt = min<i32>(64, nrows - r0);
    for (let s = 0; s < cnt; s++) {
      const off = <usize>(r0 + s) * rowb;
      const br = bufr + <usize>(s * w) * 8;
      const bi = bufi + <usize>(s * w) * 8;
      for (let b = 0; b < w; b++) {
        const inside = b < kw;
        store<f64>(br + (<usize>b << 3), inside ? load<f64>(k + off + (<usize>b << 3)) : 0.0);
        store<f64>(bi + (<usize>b << 3), inside && ki != 0 ? load<f64>(ki + off + (<usize>b << 3)) : 0.0);
      }
    }
    fft_c64_batch(bufr, bufi, w, cnt, plan);
    for (let s = 0; s < cnt; s++) {
      for (let v = v0; v < v0 + nv; v++) {
        const src = <usize>(s * w + v) << 3;
        const dst = <usize>(v - v0) * rowsb + (<usize>(r0 + s) << 3);
        store<f64>(outr + dst, load<f64>(bufr + src));
        store<f64>(outi + dst, load<f64>(bufi + src));
      }
    }
  }
  return 0;
}

/** twr/twi[a] = exp(+2πi·u·a/h) for a < kh, angle reduced mod h (exact). */
// @ts-ignore: decorator
@inline
export function twiddles(u: i32, h: i32, kh: i32, twr: usize, twi: usize): void {
  for (let a = 0; a < kh; a++) {
    const ang = TWO_PI * <f64>(<i32>((<i64>u * <i64>a) % <i64>h)) / <f64>h;
    store<f64>(twr + (<usize>a << 3), Math.cos(ang));
    store<f64>(twi + (<usize>a << 3), Math.sin(ang));
  }
}

/**
 * Writes (accumulate = false) or adds (true) P[o, i] = Σ_a T[(o·cin + i)·kh + a]·tw[a]
 * into the column-major block (ar, ai) with column stride ldb bytes: at (o, i)
 * when tall (cout ≥ cin), else transposed at (i, o).
 */
// @ts-ignore: decorator
@inline
export function buildP<T>(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, twr: usize, twi: usize,
  ar: usize, ai: usize, ldb: usize, accumulate: bool): void {
  const tall = cout >= cin;
  const sz = <usize>sizeof<T>();
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      const p = o * cin + i;
      const sr = tr + <usize>(p * kh) * 8;
      const si = ti + <usize>(p * kh) * 8;
      let pr: f64 = 0.0;
      let pi: f64 = 0.0;
      for (let a = 0; a < kh; a++) {
        const xr = load<f64>(sr + (<usize>a << 3));
        const xi = load<f64>(si + (<usize>a << 3));
        const cr = load<f64>(twr + (<usize>a << 3));
        const ci = load<f64>(twi + (<usize>a << 3));
        pr += xr * cr - xi * ci;
        pi += xr * ci + xi * cr;
      }
      const off = tall ? <usize>i * ldb + <usize>o * sz : <usize>o * ldb + <usize>i * sz;
      if (accumulate) {
        pr += <f64>load<T>(ar + off);
        pi += <f64>load<T>(ai + off);
      }
      store<T>(ar + off, <T>pr);
      store<T>(ai + off, <T>pi);
    }
  }
}

/**
 * Writes P(u, v) from a column transform in tap-major order (see
 * svd_column_f64): T holds kh matrices of m × n, each column-major with
 * leading dimension m and laid out like A (tall: A = P, column i holds
 * P[·, i]; wide: A = Pᵀ), so A[·, j] = Σ_a tw[a]·T_a[·, j] runs down
 * contiguous memory, two rows per f64x2 step. Per element it is the same
 * operations in the same order as buildP (no fused multiply-add): the same
 * bits.
 */
// @ts-ignore: decorator
@inline
export function buildPTapMajor<T>(tr: usize, ti: usize, m: i32, n: i32, kh: i32, twr: usize, twi: usize,
  ar: usize, ai: usize, ldb: usize): void {
  const sz = <usize>sizeof<T>();
  const tapb = <usize>m * <usize>n * 8;
  for (let j = 0; j < n; j++) {
    const src = <usize>j * <usize>m * 8;
    const dr = ar + <usize>j * ldb;
    const di = ai + <usize>j * ldb;
    let r = 0;
    for (; r + 2 <= m; r += 2) {
      let pr = f64x2.splat(0.0);
      let pi = f64x2.splat(0.0);
      let at = src + (<usize>r << 3);
      for (let a = 0; a < kh; a++) {
        const xr = v128.load(tr + at);
        const xi = v128.load(ti + at);
        const cr = f64x2.splat(load<f64>(twr + (<usize>a << 3)));
        const ci = f64x2.splat(load<f64>(twi + (<usize>a << 3)));
        pr = f64x2.add(pr, f64x2.sub(f64x2.mul(xr, cr), f64x2.mul(xi, ci)));
        pi = f64x2.add(pi, f64x2.add(f64x2.mul(xr, ci), f64x2.mul(xi, cr)));
        at += tapb;
      }
      if (sz == 8) {
        v128.store(dr + (<usize>r << 3), pr);
        v128.store(di + (<usize>r << 3), pi);
      } else {
        v128.store64_lane(dr + (<usize>r << 2), f32x4.demote_f64x2_zero(pr), 0);
        v128.store64_lane(di + (<usize>r << 2), f32x4.demote_f64x2_zero(pi), 0);
      }
    }
    if (r < m) {
      let pr: f64 = 0.0;
      let pi: f64 = 0.0;
      let at = src + (<usize>r << 3);
      for (let a = 0; a < kh; a++) {
        const xr = load<f64>(tr + at);
        const xi = load<f64>(ti + at);
        const cr = load<f64>(twr + (<usize>a << 3));
        const ci = load<f64>(twi + (<usize>a << 3));
        pr += xr * cr - xi * ci;
        pi += xr * ci + xi * cr;
        at += tapb;
      }
      store<T>(dr + <usize>r * sz, <T>pr);
      store<T>(di + <usize>r * sz, <T>pi);
    }
  }
}

/**
 * build_p_f64: writes P(u, v) for one u of the column transform T (see
 * svd_column_f64) into a zeroed column-major re/im block with leading
 * dimension ld: at (o, i) when cout ≥ cin, else transposed at (i, o).
 * work: 16·kh bytes for the twiddles. Returns 0.
 */
export function build_p_f64(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, h: i32, u: i32,
  ar: usize, ai: usize, ld: i32, work: usize): i32 {
  const twr = work;
  const twi = work + (<usize>kh << 3);
  twiddles(u, h, kh, twr, twi);
  buildP<f64>(tr, ti, cout, cin, kh, twr, twi, ar, ai, <usize>ld << 3, false);
  return 0;
}

/**
 * tap_major_f64: copies a kernel's rows (groups·cout·cin·kh rows of kw taps,
 * OIHW order, at src) to dst in svd_column_f64's tap-major order, each value
 * times `scale`: row (g, o, i, a) goes to g·cout·cin·kh + a·cout·cin +
 * (cout ≥ cin ? i·cout + o : o·cin + i). transform_w_f64 keeps the row
 * order, so the column transforms of dst come out tap-major. src and dst
 * must not overlap. Returns 0.
 */
export function tap_major_f64(src: usize, dst: usize, groups: i32, cout: i32, cin: i32, kh: i32, kw: i32, scale: f64): i32 {
  const pairs = cout * cin;
  const tall = cout >= cin;
  const rowb = <usize>kw << 3;
  const planeb = <usize>pairs * rowb;
  let from = src;
  for (let g = 0; g < groups; g++) {
    const gb = dst + <usize>(g * pairs * kh) * rowb;
    for (let o = 0; o < cout; o++) {
      for (let i = 0; i < cin; i++) {
        let to = gb + <usize>(tall ? i * cout + o : o * cin + i) * rowb;
        for (let a = 0; a < kh; a++) {
          for (let b = 0; b < kw; b++) {
            store<f64>(to + (<usize>b << 3), load<f64>(from + (<usize>b << 3)) * scale);
          }
          from += rowb;
          to += planeb;
        }
      }
    }
  }
  return 0;
}

/**
 * build_p_tap_f64: build_p_f64 for a column transform in svd_column_f64's
 * tap-major order: the same P, the same bits, written the way svd_column
 * builds it (A = P when cout ≥ cin, else Pᵀ, at leading dimension ld).
 * work: 16·kh bytes for the twiddles. Returns 0.
 */
export function build_p_tap_f64(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, h: i32, u: i32,
  ar: usize, ai: usize, ld: i32, work: usize): i32 {
  const twr = work;
  const twi = work + (<usize>kh << 3);
  twiddles(u, h, kh, twr, twi);
  buildPTapMajor<f64>(tr, ti, max<i32>(cout, cin), min<i32>(cout, cin), kh, twr, twi, ar, ai, <usize>ld << 3);
  return 0;
}

/** Bytes of scratch for svd_column_f64 (`groups` blocks of cout × cin). */
export function svd_column_work_bytes(cout: i32, cin: i32, kh: i32, h: i32, nu: i32, groups: i32): i32 {
  const n = min<i32>(cout, cin);
  const m = max<i32>(cout, cin);
  const ld = lead_dim(m);
  let bytes: i64 = 2 * <i64>kh * 8 + 32; // twiddles for one u
  bytes += 2 * <i64>ld * <i64>n * 8 + 32; // A
  bytes += 2 * <i64>(n + 2) * 8 + 32; // d, e
  bytes += <i64>bidiag_work_bytes(ld, n) + 32;
  bytes += <i64>dqds_work_bytes(n) + 32;
  if (groups > 1) bytes += <i64>groups * <i64>n * 8 + 32; // one frequency's values of every group
  if (use_fft(kh, h, nu)) {
    bytes += <i64>fft_plan_bytes(h) + 32;
    bytes += 2 * <i64>groups * <i64>cout * <i64>cin * <i64>h * 8 + 32;
  }
  return bytes > 0x7fffffff ? -1 : <i32>bytes;
}

/**
 * svd_column_f64: singular values of P(u, v) for u = u0..u0+nu−1 at one column v.
 *
 *   P(u, v)[o, i] = Σ_{a<kh} T_a[o, i] · exp(+2πi·u·a / h)
 *
 * where T (from transform_w_f64) already holds the sums over the last axis at v.
 * T is tap-major, laid out like the block A that is reduced: A = P when
 * cout ≥ cin, else A = Pᵀ (same singular values), m × n with m = max(cout,
 * cin); T_a is m × n column-major with leading dimension m, T_a[row, col] at
 * element (a·m·n + col·m + row), i.e. for cout ≥ cin (o, i, a) at
 * a·cout·cin + i·cout + o and otherwise at a·cout·cin + o·cin + i (the
 * engine orders the kernel's rows so before transform_w_f64, which keeps
 * the row order). Each P is built into a padded column-major block, two rows
 * per SIMD step, reduced by bidiag_c64_split, and its
 * bidiagonal's values found by dqds (dqds_values_f64: faster than the
 * implicit-shift QR of bdsqr_values_f64, and accurate to a few ulps per
 * value, small ones included).
 *
 * With groups > 1 the layer is block-diagonal: T holds `groups` blocks of
 * cout·cin·kh rows one after another, each frequency's matrix is
 * diag(P_0, …, P_{groups−1}), and its groups·r values (the union of the
 * blocks') are written in decreasing order; a block with one row or column
 * is a vector, whose one singular value is its scaled 2-norm.
 *
 * Arguments:
 *   tr, ti           [in]  f64[groups·cout·cin·kh] the column's transform (kh ≤ h), tap-major
 *                          as above, one block of cout·cin·kh after another per group
 *   cout, cin, kh, h [in]  ≥ 1
 *   u0, nu           [in]  0 ≤ u0, u0 + nu ≤ h
 *   out              [out] f64[nu·r], r = groups·min(cout, cin): row u−u0 holds P(u, v)'s
 *                          singular values in decreasing order (NaN if not converged)
 *   groups           [in]  ≥ 1: diagonal blocks of cout × cin (cout, cin are per group)
 *   work             [in]  svd_column_work_bytes(cout, cin, kh, h, nu, groups) bytes, 16-byte aligned
 * Returns the number of frequencies whose QR iteration did not converge (0 on success).
 */
export function svd_column_f64(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, h: i32,
  u0: i32, nu: i32, out: usize, groups: i32, work: usize): i32 {
  return svdColumn<f64>(tr, ti, cout, cin, kh, h, u0, nu, out, groups, work);
}

/**
 * svd_column_f32: svd_column_f64 with P rounded to f32 and bidiagonalised in
 * f32x4 lanes (the transform, the bidiagonal dqds and the output stay f64;
 * dqds stops at a relative 1e−9 instead of 100·eps, below what the f32
 * bidiagonal carries). Same arguments and scratch size. Accuracy: about
 * 1e−6·σ_max per value.
 */
export function svd_column_f32(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, h: i32,
  u0: i32, nu: i32, out: usize, groups: i32, work: usize): i32 {
  return svdColumn<f32>(tr, ti, cout, cin, kh, h, u0, nu, out, groups, work);
}

// @ts-ignore: decorator
@inline
function svdColumn<T>(tr: usize, ti: usize, cout: i32, cin: i32, kh: i32, h: i32,
  u0: i32, nu: i32, out: usize, groups: i32, work: usize): i32 {
  const sz = <usize>sizeof<T>();
  const n = min<i32>(cout, cin);
  const m = max<i32>(cout, cin);
  const ld = sz == 8 ? lead_dim(m) : lead_dim32(m);
  const ldb = <usize>ld * sz;
  const twr = align16(work);
  const twi = twr + (<usize>kh << 3);
  const ar = align16(twi + (<usize>kh << 3));
  const ai = ar + <usize>n * ldb;
  const d = align16(ai + <usize>n * ldb);
  const e = d + (<usize>(n + 2) << 3);
  const bw = align16(e + (<usize>(n + 2) << 3));
  const dq = align16(bw + <usize>bidiag_work_bytes(ld, n));
  const stage = align16(dq + <usize>dqds_work_bytes(n));
  const fft = use_fft(kh, h, nu);
  let plan: usize = 0;
  let t2r: usize = 0;
  let t2i: usize = 0;
  const pairs = cout * cin;
  const all = groups * pairs;
  if (fft) {
    plan = align16(stage + (groups > 1 ? <usize>(groups * n) << 3 : 0));
    t2r = align16(plan + <usize>fft_plan_bytes(h));
    t2i = t2r + <usize>all * <usize>h * 8;
    fft_plan_init(h, plan);
    // Rows of t2 in the order of T's elements within a tap (p = g·pairs + j·m + r).
    for (let p = 0; p < all; p++) {
      const g = p / pairs;
      const sr = tr + (<usize>(g * pairs * kh + p % pairs) << 3);
      const si = ti + (<usize>(g * pairs * kh + p % pairs) << 3);
      const dr = t2r + <usize>p * <usize>h * 8;
      const di = t2i + <usize>p * <usize>h * 8;
      for (let a = 0; a < h; a++) {
        const inside = a < kh;
        const at = <usize>a * <usize>pairs * 8;
        store<f64>(dr + (<usize>a << 3), inside ? load<f64>(sr + at) : 0.0);
        store<f64>(di + (<usize>a << 3), inside ? load<f64>(si + at) : 0.0);
      }
    }
    fft_c64_batch(t2r, t2i, h, all, plan);
  }
  // Padding rows m..ld−1 stay zero for the whole call.
  for (let j = 0; j < n; j++) {
    for (let i = m; i < ld; i++) {
      store<T>(ar + <usize>j * ldb + <usize>i * sz, <T>0);
      store<T>(ai + <usize>j * ldb + <usize>i * sz, <T>0);
    }
  }
  let failed = 0;
  for (let u = u0; u < u0 + nu; u++) {
    if (!fft) twiddles(u, h, kh, twr, twi);
    const row = out + <usize>((u - u0) * groups * n) * 8;
    let bad = false;
    for (let g = 0; g < groups; g++) {
      if (fft) {
        for (let j = 0; j < n; j++) {
          for (let r = 0; r < m; r++) {
            const src = (<usize>(g * pairs + j * m + r) * <usize>h + <usize>u) << 3;
            const off = <usize>j * ldb + <usize>r * sz;
            store<T>(ar + off, <T>load<f64>(t2r + src));
            store<T>(ai + off, <T>load<f64>(t2i + src));
          }
        }
      } else {
        const goff = <usize>(g * pairs * kh) * 8;
        buildPTapMajor<T>(tr + goff, ti + goff, m, n, kh, twr, twi, ar, ai, ldb);
      }
      if (n == 1 && groups > 1) {
        // Vector blocks of a grouped layer (depthwise): the norm directly. Ungrouped
        // layers keep the reflector path, so their values equal the clip's and
        // factorisation's bit for bit.
        store<f64>(d, vectorNorm<T>(ar, ai, m));
      } else {
        // A real P (a one-tap kernel; frequencies whose twiddles are exactly ±1) takes real arithmetic: same values.
        bidiagSplit<T>(ar, ai, m, n, ld, d, e, bw, 0);
        if ((sz == 8 ? dqds_values_f64(d, e, n, dq) : dqdsValues(d, e, n, dq, TOL_F32_INPUT)) != 0) bad = true;
      }
      memory.copy(groups > 1 ? stage + (<usize>(g * n) << 3) : row, d, <usize>n << 3);
    }
    if (groups > 1) {
      sort_desc_f64(stage, groups * n);
      memory.copy(row, stage, <usize>(groups * n) << 3);
    }
    if (bad) failed++;
  }
  return failed;
}

/** The 2-norm of the complex m-vector (ar, ai), scaled so no square under- or overflows. */
// @ts-ignore: decorator
@inline
function vectorNorm<T>(ar: usize, ai: usize, m: i32): f64 {
  const sz = <usize>sizeof<T>();
  let mx: f64 = 0.0;
  for (let i = 0; i < m; i++) {
    const x = max<f64>(abs<f64>(<f64>load<T>(ar + <usize>i * sz)), abs<f64>(<f64>load<T>(ai + <usize>i * sz)));
    if (!(x <= mx)) mx = x;
  }
  if (mx == 0.0 || !(mx < Infinity)) return mx;
  let s: f64 = 0.0;
  for (let i = 0; i < m; i++) {
    const x = <f64>load<T>(ar + <usize>i * sz) / mx;
    const y = <f64>load<T>(ai + <usize>i * sz) / mx;
    s += x * x + y * y;
  }
  return mx * Math.sqrt(s);
}
