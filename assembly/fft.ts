/**
 * Batched complex DFT of any length n >= 1, f64, split re/im planes, sign +:
 *
 *     X[k] = sum_{j=0}^{n-1} x[j] * exp(+2*pi*i*j*k/n)      (no scaling)
 *
 * Algorithm
 *   - n a power of two: in-place iterative radix-2 decimation in time:
 *     bit-reversal permutation; stages h = 1 and 2 fused into one scalar
 *     radix-4 pass (twiddles 1 and +i, no multiplies); then stages h = 4, 8,
 *     ... taken two at a time in one sweep (the arithmetic of two radix-2
 *     stages, half the memory passes), two butterflies per f64x2 on the split
 *     planes, plus one single radix-2 stage when log2(n) is odd.
 *   - any other n: Bluestein's chirp-z algorithm. With c[j] = exp(+i*pi*j^2/n)
 *     and j*k = (j^2 + k^2 - (k-j)^2)/2,
 *         X[k] = c[k] * sum_j (x[j] c[j]) conj(c[k-j]),
 *     a linear convolution done as a circular one of power-of-two length
 *     m >= 2n-1 through the radix-2 transform above. The transform of the
 *     zero-padded conj(c) kernel (divided by m) is precomputed in the plan; the
 *     inverse transform is taken as conj(F+(conj(.))) so that no index reversal
 *     is needed.
 *
 * Accuracy: every twiddle and chirp value is one direct Math.cos/Math.sin call
 * (no recurrences); chirp angles are reduced exactly in integers,
 * pi * (j^2 mod 2n) / n, then folded to [-pi, pi].
 *
 * Plan memory layout (all offsets from `plan`, f64 planes):
 *     [0, 64)                  header: i32 n, i32 m, i32 magic
 *     TW_RE, TW_IM  m f64 each twiddles of the size-m radix-2 transform:
 *                              entry h + j (h = 1, 2, 4, ..., m/2; 0 <= j < h)
 *                              holds exp(+i*pi*j/h); entry 0 is unused (1 + 0i)
 *   Bluestein only (n not a power of two), after the twiddles:
 *     CH_RE, CH_IM  n f64 each chirp c[j] = exp(+i*pi*(j^2 mod 2n)/n)
 *     BK_RE, BK_IM  m f64 each F+(b) / m, b[t] = b[m-t] = conj(c[t]) (t < n), 0 else
 *     SC_RE, SC_IM  m f64 each scratch for one sequence
 * where m = n for powers of two, else the least power of two >= 2n-1.
 *
 * The file allocates nothing with the AssemblyScript runtime: all memory is
 * owned by the caller and reached through raw pointers.
 */

/** Largest supported length (plan size stays below 2^31 bytes). */
const FFT_MAX_N: i32 = 1 << 24;
/** Header bytes at the start of a plan. */
const HDR: usize = 64;
/** Marks an initialised plan (header word 2). */
const PLAN_MAGIC: i32 = 0x46465431; // "FFT1"

/** Status codes. */
const ST_OK: i32 = 0;
const ST_N_SMALL: i32 = -1;
const ST_N_LARGE: i32 = -2;
const ST_BAD_PLAN: i32 = -3;
const ST_BAD_COUNT: i32 = -4;

// ---------------------------------------------------------------------------
// small helpers

// @ts-ignore: decorator
@inline function isPow2(n: i32): bool {
  return (n & (n - 1)) == 0;
}

/** Length of the inner power-of-two transform for a length-n DFT (1 <= n <= FFT_MAX_N). */
// @ts-ignore: decorator
@inline function innerSize(n: i32): i32 {
  if (isPow2(n)) return n;
  // n >= 3 and not a power of two: least power of two >= 2n-1 (> 2n-2).
  return 1 << (32 - clz<i32>(2 * n - 2));
}

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f64 {
  return load<f64>(p + ((<usize>i) << 3));
}

// @ts-ignore: decorator
@inline function stf(p: usize, i: i32, v: f64): void {
  store<f64>(p + ((<usize>i) << 3), v);
}

// @ts-ignore: decorator
@inline function ldv(p: usize, i: i32): v128 {
  return v128.load(p + ((<usize>i) << 3));
}

// @ts-ignore: decorator
@inline function stv(p: usize, i: i32, v: v128): void {
  v128.store(p + ((<usize>i) << 3), v);
}

// ---------------------------------------------------------------------------
// power-of-two core

/** Fills the radix-2 twiddle table for size m: entry h + j = exp(+i*pi*j/h). */
function fillTwiddles(twr: usize, twi: usize, m: i32): void {
  stf(twr, 0, 1.0);
  stf(twi, 0, 0.0);
  for (let h = 1; h < m; h <<= 1) {
    const inv = 1.0 / <f64>h; // exact: h is a power of two
    for (let j = 0; j < h; j++) {
      const a = Math.PI * (<f64>j * inv); // |a| < pi, one rounding
      stf(twr, h + j, Math.cos(a));
      stf(twi, h + j, Math.sin(a));
    }
  }
}

/** In-place bit-reversal permutation of a length-m (power of two) split-plane sequence. */
function bitReverse(re: usize, im: usize, m: i32): void {
  let j = 0;
  for (let i = 0; i < m - 1; i++) {
    if (i < j) {
      const tr = ldf(re, i);
      const ti = ldf(im, i);
      stf(re, i, ldf(re, j));
      stf(im, i, ldf(im, j));
      stf(re, j, tr);
      stf(im, j, ti);
    }
    let k = m >> 1;
    while (k > 0 && k <= j) {
      j -= k;
      k >>= 1;
    }
    j += k;
  }
}

/** In-place unscaled DFT, sign +, of one length-m (power of two) split-plane sequence. */
function fftPow2(re: usize, im: usize, m: i32, twr: usize, twi: usize): void {
  if (m < 2) return;
  bitReverse(re, im, m);
  // h = 1: twiddle 1; h = 2: twiddles 1 and +i. Fused as one radix-4 pass.
  if (m == 2) {
    const ar = ldf(re, 0), ai = ldf(im, 0), br = ldf(re, 1), bi = ldf(im, 1);
    stf(re, 0, ar + br);
    stf(im, 0, ai + bi);
    stf(re, 1, ar - br);
    stf(im, 1, ai - bi);
    return;
  }
  for (let b = 0; b < m; b += 4) {
    const x0r = ldf(re, b), x0i = ldf(im, b);
    const x1r = ldf(re, b + 1), x1i = ldf(im, b + 1);
    const x2r = ldf(re, b + 2), x2i = ldf(im, b + 2);
    const x3r = ldf(re, b + 3), x3i = ldf(im, b + 3);
    // first stage (h = 1)
    const s0r = x0r + x1r, s0i = x0i + x1i;
    const d0r = x0r - x1r, d0i = x0i - x1i;
    const s1r = x2r + x3r, s1i = x2i + x3i;
    const d1r = x2r - x3r, d1i = x2i - x3i;
    // second stage (h = 2): twiddles 1 and +i; i*(d1r + i d1i) = -d1i + i d1r
    stf(re, b, s0r + s1r);
    stf(im, b, s0i + s1i);
    stf(re, b + 2, s0r - s1r);
    stf(im, b + 2, s0i - s1i);
    stf(re, b + 1, d0r - d1i);
    stf(im, b + 1, d0i + d1r);
    stf(re, b + 3, d0r + d1i);
    stf(im, b + 3, d0i - d1r);
  }
  // remaining stages h = 4, 8, ..., m/2: two at a time (h and 2h fused, the
  // same arithmetic as two radix-2 stages), two butterflies per f64x2.
  let h = 4;
  for (; (h << 1) < m; h <<= 2) {
    const h2 = h << 1;
    const span = h << 2;
    for (let b = 0; b < m; b += span) {
      for (let j = 0; j < h; j += 2) {
        const p0 = b + j;
        const p1 = p0 + h;
        const p2 = p1 + h;
        const p3 = p2 + h;
        // stage h: (p0, p1) and (p2, p3) with w = exp(i*pi*j/h)
        const wr = ldv(twr, h + j);
        const wi = ldv(twi, h + j);
        let xr = ldv(re, p1);
        let xi = ldv(im, p1);
        let tr = f64x2.sub(f64x2.mul(wr, xr), f64x2.mul(wi, xi));
        let ti = f64x2.add(f64x2.mul(wr, xi), f64x2.mul(wi, xr));
        const a0r = ldv(re, p0);
        const a0i = ldv(im, p0);
        const b0r = f64x2.add(a0r, tr);
        const b0i = f64x2.add(a0i, ti);
        const b1r = f64x2.sub(a0r, tr);
        const b1i = f64x2.sub(a0i, ti);
        xr = ldv(re, p3);
        xi = ldv(im, p3);
        tr = f64x2.sub(f64x2.mul(wr, xr), f64x2.mul(wi, xi));
        ti = f64x2.add(f64x2.mul(wr, xi), f64x2.mul(wi, xr));
        const a2r = ldv(re, p2);
        const a2i = ldv(im, p2);
        const b2r = f64x2.add(a2r, tr);
        const b2i = f64x2.add(a2i, ti);
        const b3r = f64x2.sub(a2r, tr);
        const b3i = f64x2.sub(a2i, ti);
        // stage 2h: (p0, p2) with v = exp(i*pi*j/(2h)), (p1, p3) with
        // exp(i*pi*(j+h)/(2h)) (both straight from the table)
        const vr = ldv(twr, h2 + j);
        const vi = ldv(twi, h2 + j);
        tr = f64x2.sub(f64x2.mul(vr, b2r), f64x2.mul(vi, b2i));
        ti = f64x2.add(f64x2.mul(vr, b2i), f64x2.mul(vi, b2r));
        stv(re, p0, f64x2.add(b0r, tr));
        stv(im, p0, f64x2.add(b0i, ti));
        stv(re, p2, f64x2.sub(b0r, tr));
        stv(im, p2, f64x2.sub(b0i, ti));
        const ur = ldv(twr, h2 + h + j);
        const ui = ldv(twi, h2 + h + j);
        tr = f64x2.sub(f64x2.mul(ur, b3r), f64x2.mul(ui, b3i));
        ti = f64x2.add(f64x2.mul(ur, b3i), f64x2.mul(ui, b3r));
        stv(re, p1, f64x2.add(b1r, tr));
        stv(im, p1, f64x2.add(b1i, ti));
        stv(re, p3, f64x2.sub(b1r, tr));
        stv(im, p3, f64x2.sub(b1i, ti));
      }
    }
  }
  // a last single radix-2 stage when log2(m) is odd
  if (h < m) {
    for (let j = 0; j < h; j += 2) {
      const q = j + h;
      const wr = ldv(twr, h + j);
      const wi = ldv(twi, h + j);
      const xr = ldv(re, q);
      const xi = ldv(im, q);
      const tr = f64x2.sub(f64x2.mul(wr, xr), f64x2.mul(wi, xi));
      const ti = f64x2.add(f64x2.mul(wr, xi), f64x2.mul(wi, xr));
      const ur = ldv(re, j);
      const ui = ldv(im, j);
      stv(re, q, f64x2.sub(ur, tr));
      stv(im, q, f64x2.sub(ui, ti));
      stv(re, j, f64x2.add(ur, tr));
      stv(im, j, f64x2.add(ui, ti));
    }
  }
}

// ---------------------------------------------------------------------------
// Bluestein

/** Bytes of plan memory for length n, as i64 (no overflow checks needed for n <= FFT_MAX_N). */
function planBytes64(n: i32): i64 {
  const m = <i64>innerSize(n);
  if (isPow2(n)) return <i64>HDR + 16 * m;
  return <i64>HDR + 48 * m + 16 * <i64>n;
}

/** One length-n DFT (n not a power of two) by Bluestein, in place on (re, im). */
function bluestein(re: usize, im: usize, n: i32, m: i32, plan: usize): void {
  const twr = plan + HDR;
  const twi = twr + ((<usize>m) << 3);
  const chr = twi + ((<usize>m) << 3);
  const chi = chr + ((<usize>n) << 3);
  const bkr = chi + ((<usize>n) << 3);
  const bki = bkr + ((<usize>m) << 3);
  const scr = bki + ((<usize>m) << 3);
  const sci = scr + ((<usize>m) << 3);
  const n2 = n & ~1;

  // a[j] = x[j] * c[j] (j < n), 0 (n <= j < m)
  let j = 0;
  for (; j < n2; j += 2) {
    const xr = ldv(re, j), xi = ldv(im, j);
    const cr = ldv(chr, j), ci = ldv(chi, j);
    stv(scr, j, f64x2.sub(f64x2.mul(xr, cr), f64x2.mul(xi, ci)));
    stv(sci, j, f64x2.add(f64x2.mul(xr, ci), f64x2.mul(xi, cr)));
  }
  if (j < n) {
    const xr = ldf(re, j), xi = ldf(im, j);
    const cr = ldf(chr, j), ci = ldf(chi, j);
    stf(scr, j, xr * cr - xi * ci);
    stf(sci, j, xr * ci + xi * cr);
    j++;
  }
  const zeroBytes = (<usize>(m - j)) << 3;
  memory.fill(scr + ((<usize>j) << 3), 0, zeroBytes);
  memory.fill(sci + ((<usize>j) << 3), 0, zeroBytes);

  fftPow2(scr, sci, m, twr, twi);

  // a[k] = conj(a[k] * B[k])   (m >= 8, even)
  for (let k = 0; k < m; k += 2) {
    const ar = ldv(scr, k), ai = ldv(sci, k);
    const br = ldv(bkr, k), bi = ldv(bki, k);
    stv(scr, k, f64x2.sub(f64x2.mul(ar, br), f64x2.mul(ai, bi)));
    stv(sci, k, f64x2.neg(f64x2.add(f64x2.mul(ar, bi), f64x2.mul(ai, br))));
  }

  fftPow2(scr, sci, m, twr, twi);

  // X[k] = c[k] * conj(a[k])
  let k = 0;
  for (; k < n2; k += 2) {
    const ar = ldv(scr, k), ai = ldv(sci, k);
    const cr = ldv(chr, k), ci = ldv(chi, k);
    stv(re, k, f64x2.add(f64x2.mul(cr, ar), f64x2.mul(ci, ai)));
    stv(im, k, f64x2.sub(f64x2.mul(ci, ar), f64x2.mul(cr, ai)));
  }
  if (k < n) {
    const ar = ldf(scr, k), ai = ldf(sci, k);
    const cr = ldf(chr, k), ci = ldf(chi, k);
    stf(re, k, cr * ar + ci * ai);
    stf(im, k, ci * ar - cr * ai);
  }
}

// ---------------------------------------------------------------------------
// exports

/**
 * FFT_PLAN_BYTES: bytes of plan memory needed for a length-n DFT.
 *
 * The plan holds the radix-2 twiddles and, when n is not a power of two, the
 * Bluestein chirp, the transform of the padded chirp kernel and scratch for one
 * sequence. Sizes: 64 + 16n bytes for n a power of two, else 64 + 48m + 16n
 * with m the least power of two >= 2n-1 (e.g. n = 4095: m = 8192, 458,800
 * bytes; n = 4096: 65,600 bytes).
 *
 * Arguments
 *   n       [in] i32. Transform length, 1 <= n <= 2^24.
 *
 * Returns
 *   > 0     the number of bytes (a multiple of 8);
 *   -1      n < 1;
 *   -2      n > 2^24.
 */
export function fft_plan_bytes(n: i32): i32 {
  if (n < 1) return ST_N_SMALL;
  if (n > FFT_MAX_N) return ST_N_LARGE;
  return <i32>planBytes64(n);
}

/**
 * FFT_PLAN_INIT: fills a plan for length-n DFTs (sign +, unscaled).
 *
 * Arguments
 *   n       [in] i32. Transform length, 1 <= n <= 2^24.
 *   plan    [out] pointer to fft_plan_bytes(n) bytes, 8-byte aligned. On exit
 *           holds the plan; it is read-only for fft_c64_batch except for its
 *           scratch area, so one plan serves any number of calls (not
 *           concurrently).
 *
 * Returns
 *   0       success;
 *   -1      n < 1 (plan untouched);
 *   -2      n > 2^24 (plan untouched).
 */
export function fft_plan_init(n: i32, plan: usize): i32 {
  if (n < 1) return ST_N_SMALL;
  if (n > FFT_MAX_N) return ST_N_LARGE;
  const m = innerSize(n);
  store<i32>(plan, n);
  store<i32>(plan, m, 4);
  store<i32>(plan, 0, 8); // magic written last
  const twr = plan + HDR;
  const twi = twr + ((<usize>m) << 3);
  fillTwiddles(twr, twi, m);

  if (!isPow2(n)) {
    const chr = twi + ((<usize>m) << 3);
    const chi = chr + ((<usize>n) << 3);
    const bkr = chi + ((<usize>n) << 3);
    const bki = bkr + ((<usize>m) << 3);
    const n2 = <i64>n << 1;
    const fn = <f64>n;
    // chirp c[j] = exp(+i*pi*r/n), r = j^2 mod 2n folded to (-n, n]
    for (let j = 0; j < n; j++) {
      let r = (<i64>j * <i64>j) % n2;
      if (r > <i64>n) r -= n2;
      const a = (Math.PI * <f64>r) / fn;
      stf(chr, j, Math.cos(a));
      stf(chi, j, Math.sin(a));
    }
    // kernel b[t] = b[m-t] = conj(c[t]) for 0 <= t < n, zero elsewhere
    memory.fill(bkr, 0, (<usize>m) << 3);
    memory.fill(bki, 0, (<usize>m) << 3);
    stf(bkr, 0, ldf(chr, 0));
    stf(bki, 0, -ldf(chi, 0));
    for (let t = 1; t < n; t++) {
      const cr = ldf(chr, t);
      const ci = -ldf(chi, t);
      stf(bkr, t, cr);
      stf(bki, t, ci);
      stf(bkr, m - t, cr);
      stf(bki, m - t, ci);
    }
    fftPow2(bkr, bki, m, twr, twi);
    const s = f64x2.splat(1.0 / <f64>m); // exact: m is a power of two
    for (let k = 0; k < m; k += 2) {
      stv(bkr, k, f64x2.mul(ldv(bkr, k), s));
      stv(bki, k, f64x2.mul(ldv(bki, k), s));
    }
  }
  store<i32>(plan, PLAN_MAGIC, 8);
  return ST_OK;
}

/**
 * FFT_C64_BATCH: in-place unscaled DFT, sign +, of `count` complex sequences
 * of length n:  X[k] = sum_j x[j] exp(+2*pi*i*j*k/n),  k = 0, ..., n-1.
 *
 * Arguments
 *   re      [in,out] pointer to count*n f64. Sequence s has its real parts at
 *           re + s*n*8, contiguous. Overwritten by the real parts of its DFT.
 *   im      [in,out] pointer to count*n f64, the imaginary parts, laid out
 *           like re. re and im must not overlap.
 *   n       [in] i32. Transform length, 1 <= n <= 2^24; must match the plan.
 *   count   [in] i32. Number of sequences, count >= 0 (0: nothing to do).
 *   plan    [in,out] pointer to a plan filled by fft_plan_init(n, plan). Only
 *           its scratch area is written (Bluestein lengths).
 *
 * Returns
 *   0       success;
 *   -1      n < 1;
 *   -2      n > 2^24;
 *   -3      plan was not initialised by fft_plan_init for this n;
 *   -4      count < 0.
 *   On a nonzero status no data is touched.
 */
export function fft_c64_batch(re: usize, im: usize, n: i32, count: i32, plan: usize): i32 {
  if (n < 1) return ST_N_SMALL;
  if (n > FFT_MAX_N) return ST_N_LARGE;
  const m = innerSize(n);
  if (load<i32>(plan) != n || load<i32>(plan, 4) != m || load<i32>(plan, 8) != PLAN_MAGIC) {
    return ST_BAD_PLAN;
  }
  if (count < 0) return ST_BAD_COUNT;
  const stride = (<usize>n) << 3;
  const twr = plan + HDR;
  const twi = twr + ((<usize>m) << 3);
  if (isPow2(n)) {
    for (let s = 0; s < count; s++) {
      const off = (<usize>s) * stride;
      fftPow2(re + off, im + off, n, twr, twi);
    }
  } else {
    for (let s = 0; s < count; s++) {
      const off = (<usize>s) * stride;
      bluestein(re + off, im + off, n, m, plan);
    }
  }
  return ST_OK;
}

/** Start of free linear memory (for test harnesses placing buffers). */
export function fft_heap_base(): usize {
  return __heap_base;
}
