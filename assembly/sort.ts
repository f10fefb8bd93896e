// Sorting a layer's values: an LSD radix sort on the IEEE bits.

/** Bytes of scratch for sort_values_desc_f64: a second array of n values and the digit histograms. */
export function sort_values_work_bytes(n: i32): i32 {
  const bytes: i64 = <i64>n * 8 + 6 * 2048 * 4 + 32;
  return bytes > 0x7fffffff ? -1 : <i32>bytes;
}

/**
 * sort_values_desc_f64: sorts f64[n] at p into decreasing order.
 *
 * The values must be non-negative or NaN-free singular values: for x ≥ 0 the
 * IEEE bit patterns order like the numbers, so an LSD radix sort on the key
 * ~bits (six 11-bit digits, one counting pass, passes whose digit is the same
 * for every value skipped) gives decreasing order in O(n). −0 sorts with +0.
 * work: sort_values_work_bytes(n) bytes, 16-byte aligned. Returns 0.
 */
export function sort_values_desc_f64(p: usize, n: i32, work: usize): i32 {
  if (n < 2) return 0;
  const tmp = work;
  const hist = (work + (<usize>n << 3) + 15) & ~(<usize>15);
  memory.fill(hist, 0, 6 * 2048 * 4);
  for (let i = 0; i < n; i++) {
    const key = ~(load<u64>(p + (<usize>i << 3)) & 0x7fffffffffffffff);
    for (let d = 0; d < 6; d++) {
      const h = hist + (<usize>(d * 2048 + <i32>((key >> (<u64>(11 * d))) & 2047)) << 2);
      store<u32>(h, load<u32>(h) + 1);
    }
  }
  let src = p;
  let dst = tmp;
  for (let d = 0; d < 6; d++) {
    const hd = hist + (<usize>(d * 2048) << 2);
    // Skip a digit every value shares.
    let trivial = false;
    for (let b = 0; b < 2048; b++) {
      const c = load<u32>(hd + (<usize>b << 2));
      if (c != 0) {
        trivial = c == <u32>n;
        break;
      }
    }
    if (trivial) continue;
    let sum: u32 = 0;
    for (let b = 0; b < 2048; b++) {
      const c = load<u32>(hd + (<usize>b << 2));
      store<u32>(hd + (<usize>b << 2), sum);
      sum += c;
    }
    const shift = <u64>(11 * d);
    for (let i = 0; i < n; i++) {
      const bits = load<u64>(src + (<usize>i << 3)) & 0x7fffffffffffffff;
      const key = ~bits;
      const h = hd + (<usize>(<i32>((key >> shift) & 2047)) << 2);
      const at = load<u32>(h);
      store<u32>(h, at + 1);
      store<u64>(dst + (<usize>at << 3), bits);
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src != p) memory.copy(p, src, <usize>n << 3);
  return 0;
}
