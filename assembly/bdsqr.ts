// Singular values of a real upper-bidiagonal matrix by implicit-shift QR.

// @ts-ignore: decorator
@inline
function pythag(a: f64, b: f64): f64 {
  const x = abs<f64>(a);
  const y = abs<f64>(b);
  const big = max<f64>(x, y);
  const small = min<f64>(x, y);
  if (big == 0.0) return 0.0;
  if (big == Infinity) return Infinity;
  const r = small / big;
  return big * Math.sqrt(1.0 + r * r);
}

// @ts-ignore: decorator
@inline
function signOf(a: f64, b: f64): f64 {
  return b >= 0.0 ? abs<f64>(a) : -abs<f64>(a);
}

/**
 * Scales d[0..n−1], e[1..n−1] by the power of two that brings max(|d_i| + |e_i|)
 * into [0.5, 1), so no product or square in the QR sweeps under- or overflows.
 * Returns the factor to multiply the singular values by afterwards; 0 when the
 * matrix is all zeros or below 2^−1000 (then d and e are zeroed: the values
 * are negligible against a kernel scaled to max |K| ∈ [0.5, 1)); NaN when an
 * entry is NaN or infinite.
 */
export function scale_bidiag_f64(d: usize, e: usize, n: i32): f64 {
  let anorm: f64 = 0.0;
  for (let i = 0; i < n; i++) {
    const s = abs<f64>(load<f64>(d + (<usize>i << 3))) + abs<f64>(load<f64>(e + (<usize>i << 3)));
    if (!(s <= anorm)) anorm = s;
  }
  if (!(anorm < Infinity)) return NaN;
  if (!(anorm >= 9.332636185032189e-302)) {
    for (let i = 0; i < n; i++) {
      store<f64>(d + (<usize>i << 3), 0.0);
      store<f64>(e + (<usize>i << 3), 0.0);
    }
    return 0.0;
  }
  // anorm = m·2^x with m in [1, 2): multiply by 2^−(x+1).
  const x = <i32>((reinterpret<u64>(anorm) >> 52) & 0x7ff) - 1023;
  const down = reinterpret<f64>(<u64>(1023 - x - 1) << 52);
  for (let i = 0; i < n; i++) {
    store<f64>(d + (<usize>i << 3), load<f64>(d + (<usize>i << 3)) * down);
    store<f64>(e + (<usize>i << 3), load<f64>(e + (<usize>i << 3)) * down);
  }
  return reinterpret<f64>(<u64>(1023 + x + 1) << 52);
}

/** Largest number of QR sweeps spent on one singular value before giving up. */
export const BDSQR_MAXIT: i32 = 75;

/**
 * bdsqr_values_f64: singular values of an n×n real upper-bidiagonal matrix B.
 *
 * B has diagonal d[0..n-1] and superdiagonal e[1..n-1], where e[j] couples
 * rows/columns j-1 and j (e[0] is ignored and overwritten with 0). Implicit
 * shift QR (Golub–Reinsch) with a Wilkinson-type shift taken from the
 * trailing 2×2 block, deflating on |e[l]| ≤ eps·‖B‖ and cancelling e[l] by
 * Givens rotations when |d[l-1]| ≤ eps·‖B‖. The result has absolute error
 * of a few eps·‖B‖ per value. No singular vectors are formed.
 *
 * Arguments:
 *   d  [in,out] f64[n]  diagonal; on return the singular values, unsorted, ≥ 0
 *   e  [in,out] f64[n]  superdiagonal (e[1..n-1]); destroyed
 *   n  [in]             order of B, n ≥ 0
 *
 * The matrix is first scaled by a power of two (scale_bidiag_f64), so the
 * shift and rotation arithmetic never under- or overflows.
 *
 * Returns 0 on success, or 1 when some value did not converge within
 * BDSQR_MAXIT sweeps (NaN or infinity in the input always ends this way):
 * then every d[i] is set to NaN. The loops are bounded by n·BDSQR_MAXIT
 * sweeps whatever the input.
 */
export function bdsqr_values_f64(d: usize, e: usize, n: i32): i32 {
  if (n <= 0) return 0;
  store<f64>(e, 0.0);
  const up = scale_bidiag_f64(d, e, n);
  if (up == 0.0) return 0;
  const st = qrValues(d, e, n);
  for (let i = 0; i < n; i++) store<f64>(d + (<usize>i << 3), load<f64>(d + (<usize>i << 3)) * up);
  return st;
}

function qrValues(d: usize, e: usize, n: i32): i32 {
  let anorm: f64 = 0.0;
  for (let i = 0; i < n; i++) {
    const s = abs<f64>(load<f64>(d + (<usize>i << 3))) + abs<f64>(load<f64>(e + (<usize>i << 3)));
    // NaN compares false: keep it visible in anorm.
    if (!(s <= anorm)) anorm = s;
  }
  if (anorm == 0.0) return 0;
  if (!(anorm < Infinity)) {
    for (let i = 0; i < n; i++) store<f64>(d + (<usize>i << 3), NaN);
    return 1;
  }
  const tol = 2.220446049250313e-16 * anorm;
  for (let k = n - 1; k >= 0; k--) {
    let its = 0;
    while (true) {
      // Find l: the top of the unreduced block ending at k.
      let l = k;
      let cancel = false;
      for (; l >= 0; l--) {
        if (l == 0 || abs<f64>(load<f64>(e + (<usize>l << 3))) <= tol) break;
        if (abs<f64>(load<f64>(d + (<usize>(l - 1) << 3))) <= tol) {
          cancel = true;
          break;
        }
      }
      if (cancel) {
        // d[l-1] is negligible: chase e[l] out of row l-1 with rotations.
        let c: f64 = 0.0;
        let s: f64 = 1.0;
        for (let i = l; i <= k; i++) {
          const ei = load<f64>(e + (<usize>i << 3));
          const f = s * ei;
          store<f64>(e + (<usize>i << 3), c * ei);
          if (abs<f64>(f) <= tol) break;
          const g = load<f64>(d + (<usize>i << 3));
          const hh = pythag(f, g);
          store<f64>(d + (<usize>i << 3), hh);
          const rh = 1.0 / hh;
          c = g * rh;
          s = -f * rh;
        }
      }
      let z = load<f64>(d + (<usize>k << 3));
      if (l == k) {
        store<f64>(d + (<usize>k << 3), abs<f64>(z));
        break;
      }
      if (its >= BDSQR_MAXIT) {
        for (let i = 0; i < n; i++) store<f64>(d + (<usize>i << 3), NaN);
        return 1;
      }
      its++;
      // Shift from the trailing 2×2 block of BᵀB.
      let x = load<f64>(d + (<usize>l << 3));
      const nm = k - 1;
      let y = load<f64>(d + (<usize>nm << 3));
      let g = load<f64>(e + (<usize>nm << 3));
      let h = load<f64>(e + (<usize>k << 3));
      let f = ((y - z) * (y + z) + (g - h) * (g + h)) / (2.0 * h * y);
      g = pythag(f, 1.0);
      f = ((x - z) * (x + z) + h * ((y / (f + signOf(g, f))) - h)) / x;
      // One QR sweep over rows l..k.
      let c: f64 = 1.0;
      let s: f64 = 1.0;
      for (let j = l; j <= nm; j++) {
        const i = j + 1;
        g = load<f64>(e + (<usize>i << 3));
        y = load<f64>(d + (<usize>i << 3));
        h = s * g;
        g = c * g;
        z = pythag(f, h);
        store<f64>(e + (<usize>j << 3), z);
        if (z != 0.0) {
          c = f / z;
          s = h / z;
        } else {
          c = 1.0;
          s = 0.0;
        }
        f = x * c + g * s;
        g = g * c - x * s;
        h = y * s;
        y = y * c;
        z = pythag(f, h);
        store<f64>(d + (<usize>j << 3), z);
        if (z != 0.0) {
          const rz = 1.0 / z;
          c = f * rz;
          s = h * rz;
        }
        f = c * g + s * y;
        x = c * y - s * g;
      }
      store<f64>(e + (<usize>l << 3), 0.0);
      store<f64>(e + (<usize>k << 3), f);
      store<f64>(d + (<usize>k << 3), x);
    }
  }
  return 0;
}

/** Sorts f64[n] at p into decreasing order (insertion sort; n is a matrix order). NaN-safe: terminates. */
export function sort_desc_f64(p: usize, n: i32): void {
  for (let i = 1; i < n; i++) {
    const x = load<f64>(p + (<usize>i << 3));
    let j = i - 1;
    while (j >= 0 && load<f64>(p + (<usize>j << 3)) < x) {
      store<f64>(p + (<usize>(j + 1) << 3), load<f64>(p + (<usize>j << 3)));
      j--;
    }
    store<f64>(p + (<usize>(j + 1) << 3), x);
  }
}
