// Sorting a layer's values: an LSD radix sort on the IEEE bits.

/** Bits per radix digit, and the buckets of one digit. */
const DIGIT: i32 = 11;
const BUCKETS: i32 = 1 << DIGIT;
/**
 * From this many values the first sort takes two wide digits (WIDE bits
 * each) instead of three: a pass and the copy back fewer, its histograms'
 * clearing and prefix sums paid for by the values.
 */
const WIDE_N: i32 = 1 << 16;
const WIDE: i32 = 13;

/** The key of a value x ≥ 0: its bits (sign cleared) complemented, so that increasing keys are decreasing values. */
// @ts-ignore: decorator
@inline
function keyOf(bits: u64): u64 {
  return ~(bits & 0x7fffffffffffffff);
}

/** Bytes of scratch for sort_values_desc_f64: a second array of n values and the digit histograms. */
export function sort_values_work_bytes(n: i32): i32 {
  const bytes: i64 = <i64>n * 8 + max<i64>(6 * <i64>BUCKETS, 2 << WIDE) * 4 + 32;
  return bytes > 0x7fffffff ? -1 : <i32>bytes;
}

/**
 * Sorts the n values at p (sign cleared) stably by the bits [lo, lo + nbits)
 * of their keys less `base` (no key is below it), digit by digit from the
 * lowest in digits of `width` bits (at most 6 of DIGIT bits, or 2 of WIDE),
 * skipping a digit every value shares; tmp holds n values, hist
 * max(6·BUCKETS, 2·2^WIDE) u32.
 */
function radixBits(p: usize, n: i32, tmp: usize, hist: usize, lo: i32, nbits: i32, base: u64, width: i32 = DIGIT): void {
  const buckets = 1 << width;
  const mask = <u64>(buckets - 1);
  const digits = (nbits + width - 1) / width;
  memory.fill(hist, 0, <usize>(digits * buckets) << 2);
  for (let i = 0; i < n; i++) {
    const key = (keyOf(load<u64>(p + (<usize>i << 3))) - base) >> <u64>lo;
    for (let d = 0; d < digits; d++) {
      const h = hist + (<usize>(d * buckets + <i32>((key >> (<u64>(width * d))) & mask)) << 2);
      store<u32>(h, load<u32>(h) + 1);
    }
  }
  let src = p;
  let dst = tmp;
  for (let d = 0; d < digits; d++) {
    const hd = hist + (<usize>(d * buckets) << 2);
    // Skip a digit every value shares.
    let trivial = false;
    for (let b = 0; b < buckets; b++) {
      const c = load<u32>(hd + (<usize>b << 2));
      if (c != 0) {
        trivial = c == <u32>n;
        break;
      }
    }
    if (trivial) continue;
    let sum: u32 = 0;
    for (let b = 0; b < buckets; b++) {
      const c = load<u32>(hd + (<usize>b << 2));
      store<u32>(hd + (<usize>b << 2), sum);
      sum += c;
    }
    const shift = <u64>(lo + width * d);
    for (let i = 0; i < n; i++) {
      const bits = load<u64>(src + (<usize>i << 3)) & 0x7fffffffffffffff;
      const h = hd + (<usize>(<i32>(((keyOf(bits) - base) >> shift) & mask)) << 2);
      const at = load<u32>(h);
      store<u32>(h, at + 1);
      store<u64>(dst + (<usize>at << 3), bits);
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src != p) memory.copy(p, src, <usize>n << 3);
}

/** Runs of equal high keys up to this long are finished by insertion; longer ones by radix passes on the low bits. */
const SHORT_RUN: i32 = 24;

/**
 * sort_values_desc_f64: sorts f64[n] at p into decreasing order.
 *
 * The values must be non-negative or NaN-free singular values: for x ≥ 0 the
 * IEEE bit patterns order like the numbers, so radix passes on the key ~bits
 * give decreasing order in O(n). −0 sorts with +0, and the sign bit comes back
 * cleared. The keys' range is found first, and the digits are taken from
 * key − min key, below its highest set bit: the 33 bits there (three 11-bit
 * digits; from WIDE_N values 26 bits in two 13-bit digits; one counting
 * pass, a digit every value shares skipped) order nearly everything, and each
 * run of values equal on those bits is finished on the bits below: by
 * insertion when short, else by radix passes of its own (a layer whose values
 * all agree to those bits, such as a scaled orthogonal one, costs the passes
 * of a full sort, never more).
 * work: sort_values_work_bytes(n) bytes, 16-byte aligned. Returns 0.
 */
export function sort_values_desc_f64(p: usize, n: i32, work: usize): i32 {
  if (n < 2) {
    if (n == 1) store<u64>(p, load<u64>(p) & 0x7fffffffffffffff);
    return 0;
  }
  const tmp = work;
  const hist = (work + (<usize>n << 3) + 15) & ~(<usize>15);
  let kmin = keyOf(load<u64>(p));
  let kmax = kmin;
  for (let i = 1; i < n; i++) {
    const k = keyOf(load<u64>(p + (<usize>i << 3)));
    kmin = min<u64>(kmin, k);
    kmax = max<u64>(kmax, k);
  }
  if (kmax == kmin) {
    for (let i = 0; i < n; i++) store<u64>(p + (<usize>i << 3), load<u64>(p + (<usize>i << 3)) & 0x7fffffffffffffff);
    return 0;
  }
  // The digits are taken from key − kmin (< 2^top; the order is kept): for values spanning a few binades
  // they fall on the exponent bits that differ and the mantissa's leading bits, not on exponent bits all
  // share but for a carry (the keys of 1.9 and 2.1 differ from bit 62 down).
  const top = 64 - <i32>clz<u64>(kmax - kmin);
  const wide = n >= WIDE_N;
  const lo = max<i32>(0, top - (wide ? 2 * WIDE : 3 * DIGIT));
  radixBits(p, n, tmp, hist, lo, top - lo, kmin, wide ? WIDE : DIGIT);
  if (lo == 0) return 0;
  // Runs of equal (key − kmin) >> lo, each finished on the bits below lo.
  let start = 0;
  while (start < n) {
    const high = (keyOf(load<u64>(p + (<usize>start << 3))) - kmin) >> <u64>lo;
    let end = start + 1;
    while (end < n && (keyOf(load<u64>(p + (<usize>end << 3))) - kmin) >> <u64>lo == high) end++;
    const len = end - start;
    const run = p + (<usize>start << 3);
    if (len > SHORT_RUN) {
      radixBits(run, len, tmp, hist, 0, lo, kmin);
    } else if (len > 1) {
      for (let i = 1; i < len; i++) {
        const x = load<u64>(run + (<usize>i << 3));
        const kx = keyOf(x);
        let j = i - 1;
        while (j >= 0 && keyOf(load<u64>(run + (<usize>j << 3))) > kx) {
          store<u64>(run + (<usize>(j + 1) << 3), load<u64>(run + (<usize>j << 3)));
          j--;
        }
        store<u64>(run + (<usize>(j + 1) << 3), x);
      }
    }
    start = end;
  }
  return 0;
}

/** Bytes of scratch for sort_twice_desc_f64 (na and nb values). */
export function sort_twice_work_bytes(na: i32, nb: i32): i32 {
  return sort_values_work_bytes(max<i32>(na, nb));
}

/**
 * sort_twice_desc_f64: out[2·na + nb] = the values at a, each counted twice,
 * and those at b, once, in decreasing order (a real kernel's layer holds
 * every value of a frequency that is not its own mirror twice: sorting one
 * copy halves the sort). a and b are sorted in place on the way (signs
 * cleared, as sort_values_desc_f64 does); out must not overlap them.
 * work: sort_twice_work_bytes(na, nb) bytes, 16-byte aligned. Returns 0.
 */
export function sort_twice_desc_f64(a: usize, na: i32, b: usize, nb: i32, out: usize, work: usize): i32 {
  sort_values_desc_f64(a, na, work);
  sort_values_desc_f64(b, nb, work);
  let i = 0;
  let j = 0;
  let o = out;
  while (i < na && j < nb) {
    const x = load<f64>(a + (<usize>i << 3));
    const y = load<f64>(b + (<usize>j << 3));
    if (x >= y) {
      store<f64>(o, x);
      store<f64>(o + 8, x);
      o += 16;
      i++;
    } else {
      store<f64>(o, y);
      o += 8;
      j++;
    }
  }
  for (; i < na; i++) {
    const x = load<f64>(a + (<usize>i << 3));
    store<f64>(o, x);
    store<f64>(o + 8, x);
    o += 16;
  }
  if (j < nb) memory.copy(o, b + (<usize>j << 3), <usize>(nb - j) << 3);
  return 0;
}
