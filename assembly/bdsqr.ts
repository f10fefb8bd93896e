// Singular values of a real upper-bidiagonal matrix by implicit-shift QR.

/**
 * √(a² + b²) without scaling: valid inside the QR sweeps, which run on a
 * bidiagonal scaled to max(|d_i| + |e_i|) ∈ [0.5, 1) where no square can
 * overflow (the largest intermediate is below 1e32) and an underflow only
 * yields an exact-zero rotation, which the callers guard.
 */
// @ts-ignore: decorator
@inline
function hyp(a: f64, b: f64): f64 {
  return Math.sqrt(a * a + b * b);
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

/** f64 machine epsilon. */
export const EPS: f64 = 2.220446049250313e-16;

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
 *   rtol [in]           deflation threshold relative to ‖B‖ (0: f64 epsilon,
 *                       2.2e−16; the f32 path passes f32's 1.2e−7, below
 *                       which its bidiagonal carries no information)
 *
 * The matrix is first scaled by a power of two (scale_bidiag_f64), so the
 * shift and rotation arithmetic never under- or overflows.
 *
 * Returns 0 on success, or 1 when some value did not converge within
 * BDSQR_MAXIT sweeps (NaN or infinity in the input always ends this way):
 * then every d[i] is set to NaN. The loops are bounded by n·BDSQR_MAXIT
 * sweeps whatever the input.
 */
export function bdsqr_values_f64(d: usize, e: usize, n: i32, rtol: f64): i32 {
  if (n <= 0) return 0;
  store<f64>(e, 0.0);
  const up = scale_bidiag_f64(d, e, n);
  if (up == 0.0) return 0;
  const st = qrSweeps(d, e, n, rtol > 0.0 ? rtol : EPS, 0, 0, 0);
  for (let i = 0; i < n; i++) store<f64>(d + (<usize>i << 3), load<f64>(d + (<usize>i << 3)) * up);
  return st;
}

/**
 * Plane rotation of two real columns (f64x2 over row pairs, nb bytes, even rows):
 *   [x, z] => [x·c + z·s, z·c − x·s]
 */
// @ts-ignore: decorator
@inline
function rot(px: usize, pz: usize, nb: usize, c: f64, s: f64): void {
  const vc = f64x2.splat(c);
  const vs = f64x2.splat(s);
  for (let o: usize = 0; o < nb; o += 16) {
    const x = v128.load(px + o);
    const z = v128.load(pz + o);
    v128.store(px + o, f64x2.add(f64x2.mul(x, vc), f64x2.mul(z, vs)));
    v128.store(pz + o, f64x2.sub(f64x2.mul(z, vc), f64x2.mul(x, vs)));
  }
}

/**
 * Golub–Reinsch implicit-shift QR on a bidiagonal already scaled by
 * scale_bidiag_f64 (d[0..n−1], e[1..n−1], e[0] = 0). Deflates on
 * |e[l]| ≤ rtol·‖B‖, cancels e[l] by rotations when |d[l−1]| ≤ rtol·‖B‖.
 * When ub ≠ 0 the left and right rotations are applied to the columns of
 * ub, vb (column-major, leading dimension ldv, rows ldv·8 bytes, even ldv)
 * and a negative converged value flips its column of vb.
 * Returns 0, or 1 (d set to NaN) after BDSQR_MAXIT sweeps on one value.
 */
export function qrSweeps(d: usize, e: usize, n: i32, rtol: f64, ub: usize, vb: usize, ldv: i32): i32 {
  const ldb = <usize>ldv << 3;
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
  const tol = rtol * anorm;
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
          const hh = hyp(f, g);
          store<f64>(d + (<usize>i << 3), hh);
          const rh = 1.0 / hh;
          c = g * rh;
          s = -f * rh;
          if (ub != 0) rot(ub + <usize>(l - 1) * ldb, ub + <usize>i * ldb, ldb, c, s);
        }
      }
      let z = load<f64>(d + (<usize>k << 3));
      if (l == k) {
        if (z < 0.0) {
          store<f64>(d + (<usize>k << 3), -z);
          if (vb != 0) {
            const col = vb + <usize>k * ldb;
            for (let i = 0; i < n; i++) store<f64>(col + (<usize>i << 3), -load<f64>(col + (<usize>i << 3)));
          }
        }
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
      g = hyp(f, 1.0);
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
        z = hyp(f, h);
        store<f64>(e + (<usize>j << 3), z);
        if (z != 0.0) {
          const rz = 1.0 / z;
          c = f * rz;
          s = h * rz;
        } else {
          c = 1.0;
          s = 0.0;
        }
        f = x * c + g * s;
        g = g * c - x * s;
        h = y * s;
        y = y * c;
        if (vb != 0) rot(vb + <usize>j * ldb, vb + <usize>i * ldb, ldb, c, s);
        z = hyp(f, h);
        store<f64>(d + (<usize>j << 3), z);
        if (z != 0.0) {
          const rz = 1.0 / z;
          c = f * rz;
          s = h * rz;
        }
        f = c * g + s * y;
        x = c * y - s * g;
        if (ub != 0) rot(ub + <usize>j * ldb, ub + <usize>i * ldb, ldb, c, s);
      }
      store<f64>(e + (<usize>l << 3), 0.0);
      store<f64>(e + (<usize>k << 3), f);
      store<f64>(d + (<usize>k << 3), x);
    }
  }
  return 0;
}

/**
 * Sorts f64[n] at p into decreasing order: insertion sort up to 32 values
 * (a matrix order: the QR output is nearly sorted), heapsort above (the
 * concatenated values of many groups). NaN-safe: terminates.
 */
export function sort_desc_f64(p: usize, n: i32): void {
  if (n <= 32) {
    for (let i = 1; i < n; i++) {
      const x = load<f64>(p + (<usize>i << 3));
      let j = i - 1;
      while (j >= 0 && load<f64>(p + (<usize>j << 3)) < x) {
        store<f64>(p + (<usize>(j + 1) << 3), load<f64>(p + (<usize>j << 3)));
        j--;
      }
      store<f64>(p + (<usize>(j + 1) << 3), x);
    }
    return;
  }
  // Min-heap (smallest at the root), then repeatedly move the root to the end.
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDownMin(p, i, n);
  for (let end = n - 1; end > 0; end--) {
    const t = load<f64>(p);
    store<f64>(p, load<f64>(p + (<usize>end << 3)));
    store<f64>(p + (<usize>end << 3), t);
    siftDownMin(p, 0, end);
  }
}

// @ts-ignore: decorator
@inline
function siftDownMin(p: usize, i: i32, n: i32): void {
  const x = load<f64>(p + (<usize>i << 3));
  while (true) {
    let c = 2 * i + 1;
    if (c >= n) break;
    let y = load<f64>(p + (<usize>c << 3));
    if (c + 1 < n) {
      const z = load<f64>(p + (<usize>(c + 1) << 3));
      if (z < y) {
        c++;
        y = z;
      }
    }
    if (!(y < x)) break;
    store<f64>(p + (<usize>i << 3), y);
    i = c;
  }
  store<f64>(p + (<usize>i << 3), x);
}
