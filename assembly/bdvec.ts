// Leading singular vector pairs of a real upper-bidiagonal matrix, given its
// singular values, by inverse iteration on the Golub–Kahan tridiagonal.
//
// Method. For B (n×n, diagonal d, superdiagonal e[1..n−1]) the 2n×2n symmetric
// tridiagonal T_GK with zero diagonal and off-diagonal t = (d₀, e₁, d₁, e₂, …,
// d_{n−1}) has the eigenvalues ±σ_j, and the eigenvector of +σ_j is the perfect
// shuffle (v₀, u₀, v₁, u₁, …)/√2 of the pair with B·v = σ·u, Bᵀ·u = σ·v
// (LAPACK's dbdsvdx uses the same matrix). For each wanted σ_j (accurate to a
// few ulps, from dqds) T_GK − μ·I, μ = σ_j + 8·eps·σ_max, is factored once by
// Gaussian elimination with partial pivoting (tiny pivots raised to eps·‖T‖),
// and inverse iteration runs from a fixed pseudo-random start (deterministic
// results), as LAPACK's dstein: every iterate is orthogonalised (modified
// Gram–Schmidt, in the 2n space) against the earlier vectors of its cluster
// (consecutive values less than 1e−3·σ_max apart), so exactly repeated values
// (split blocks, scaled unitaries) get orthonormal vectors. An iterate is
// accepted when its residual ‖(T_GK − σ_j)·x‖₂ is at most RTOL = 16·√(2n)·eps·‖T‖
// (after at least two solves, at most MAXIT); it is then purified by one
// product with T_GK + σ_j·I when 3σ_j ≥ σ_max (removes its part along the
// mirror −σ_j, shrinks the others),
// orthogonalised once more against every earlier vector, so the whole set is
// orthonormal to rounding in the 2n space, and at the end split into v and u,
// each normalised. Every split pair is checked: ‖B·v − σ·u‖₂ and ‖Bᵀ·u − σ·v‖₂
// must both be ≤ 4·RTOL·‖B‖ (this also checks the sign pairing, uᵀBv = +σ,
// and catches tiny σ whose ±σ pair is not separated). Anything else — an
// iterate that does not reach RTOL in MAXIT solves, a non-finite solve, an
// empty half, a failed check — returns 1 and the caller falls back to QR with
// vectors for that matrix.
//
// Accuracy. Accepted pairs have residuals ≤ 4·RTOL·‖B‖ (≤ 1.2e−13·‖B‖ at
// n = 512; seen: ≤ 5e−15·‖B‖ on random 512-channel layers and on scaled
// unitaries, whose n values are all equal) and are orthonormal to a few ulps
// in the 2n space. For the clipping round P' = P − Σ_{σ_j > c} (σ_j − c)·u_j·v_jᴴ
// this is what matters: an error of size r/|σ_i − σ_j| mixing pairs i and j is
// weighted by the difference of their weights (σ_i − c) − (σ_j − c), and a
// part r/(σ_i + σ_j) along a mirror −σ_i by σ_j − c ≤ σ_j, so the round is
// accurate to about the residual whether or not the values are clustered
// (exactly equal values may mix freely).
//
// Cost: O(n) per solve and O(n·#cluster) per reorthogonalisation, O(k²·n) for
// the final passes: against the ≈ 24n³ flops of QR with all rotations.

import { EPS } from "./bdsqr";

/** Most inverse-iteration solves per vector. */
const MAXIT: i32 = 8;

/** Values closer than CLUSTER·σ_max form a cluster (LAPACK dstein's 1e−3). */
const CLUSTER: f64 = 1e-3;

/** Bytes of scratch bidiag_top_vectors_f64 needs for order n. */
export function bdvec_work_bytes(n: i32): i32 {
  // t, u1, u2, u3, lm (f64[2n] each), piv (u8[2n]), 16-byte alignment slack.
  return n > 0 ? 5 * (2 * n) * 8 + 2 * n + 64 : 64;
}

// @ts-ignore: decorator
@inline
function ld(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3));
}

// @ts-ignore: decorator
@inline
function st(p: usize, i: i32, x: f64): void {
  store<f64>(p + (<usize>i << 3), x);
}

/** Address of entry p of the shuffled 2n-vector stored split: even p in v[p/2], odd p in u[p/2]. */
// @ts-ignore: decorator
@inline
function at(v: usize, u: usize, p: i32): usize {
  return ((p & 1) != 0 ? u : v) + (<usize>(p >> 1) << 3);
}

/** Σ a_i·b_i + Σ c_i·g_i over n entries (two split halves), f64x2 lanes (n padded to even with zeros). */
function dot2(a: usize, b: usize, c: usize, g: usize, nb: usize): f64 {
  let acc = f64x2.splat(0.0);
  for (let o: usize = 0; o < nb; o += 16) {
    acc = f64x2.add(acc, f64x2.mul(v128.load(a + o), v128.load(b + o)));
    acc = f64x2.add(acc, f64x2.mul(v128.load(c + o), v128.load(g + o)));
  }
  return f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
}

/** (a, c) −= s·(b, g) over nb bytes of each half. */
function axpy2(a: usize, b: usize, c: usize, g: usize, s: f64, nb: usize): void {
  const sv = f64x2.splat(s);
  for (let o: usize = 0; o < nb; o += 16) {
    v128.store(a + o, f64x2.sub(v128.load(a + o), f64x2.mul(sv, v128.load(b + o))));
    v128.store(c + o, f64x2.sub(v128.load(c + o), f64x2.mul(sv, v128.load(g + o))));
  }
}

/** (a, c) *= s over nb bytes of each half. */
function scal2(a: usize, c: usize, s: f64, nb: usize): void {
  const sv = f64x2.splat(s);
  for (let o: usize = 0; o < nb; o += 16) {
    v128.store(a + o, f64x2.mul(sv, v128.load(a + o)));
    v128.store(c + o, f64x2.mul(sv, v128.load(c + o)));
  }
}

/**
 * bidiag_top_vectors_f64: the singular vector pairs of the k largest values of
 * an n×n real upper-bidiagonal B, given its singular values.
 *
 * Arguments:
 *   d      [in]  f64[n]       diagonal of B; not modified
 *   e      [in]  f64[n]       superdiagonal e[1..n−1] (e[j] couples j−1, j; e[0] ignored); not modified
 *   n      [in]               order, n ≥ 1
 *   sigma  [in]  f64[n]       B's singular values, decreasing, accurate to a few ulps (dqds)
 *   k      [in]               pairs wanted, 0 ≤ k ≤ n: those of sigma[0..k−1]
 *   ub, vb [out] f64[ldv·k]   column-major U_B, V_B (first k columns): B·v_j = σ_j·u_j,
 *                             Bᵀ·u_j = σ_j·v_j; rows n..ldv−1 zero
 *   ldv    [in]               even leading dimension ≥ n
 *   work   [in]               bdvec_work_bytes(n) bytes
 * Returns 0, or 1 when some pair could not be computed to the accuracy stated
 * at the top of this file (the caller then uses QR with vectors instead).
 */
export function bidiag_top_vectors_f64(d: usize, e: usize, n: i32, sigma: usize, k: i32, ub: usize, vb: usize,
  ldv: i32, work: usize): i32 {
  if (k <= 0) return 0;
  if (n <= 0 || k > n) return 1;
  const ldb = <usize>ldv << 3;
  const nb = <usize>ldv << 3; // every column is ldv long; padding rows stay zero
  const N = 2 * n;
  const t = (work + 15) & ~(<usize>15);
  const u1 = t + (<usize>N << 3);
  const u2 = u1 + (<usize>N << 3);
  const u3 = u2 + (<usize>N << 3);
  const lm = u3 + (<usize>N << 3);
  const piv = lm + (<usize>N << 3);

  // Scale by a power of two so that max |entry| ∈ [0.5, 1): ‖T‖ ≤ 2, nothing under- or overflows below.
  let amax: f64 = 0.0;
  for (let i = 0; i < n; i++) amax = max<f64>(amax, abs<f64>(ld(d, i)));
  for (let i = 1; i < n; i++) amax = max<f64>(amax, abs<f64>(ld(e, i)));
  if (!(amax < Infinity) || !(amax >= 1e-290)) return 1;
  const ex = <i32>((reinterpret<u64>(amax) >> 52) & 0x7ff) - 1023;
  const down = reinterpret<f64>(<u64>(1023 - ex - 1) << 52);
  for (let i = 0; i < n; i++) {
    st(t, 2 * i, ld(d, i) * down);
    if (i + 1 < n) st(t, 2 * i + 1, ld(e, i + 1) * down);
  }
  st(t, N - 1, 0.0);
  const smax = ld(sigma, 0) * down;
  if (!(smax > 0.0)) return 1;
  // Residual thresholds, relative to ‖T‖ ≤ 2 (‖T‖ ≥ max|t| ≥ 0.5).
  const rtol = 16.0 * Math.sqrt(<f64>N) * EPS;
  const pertol = EPS;
  const ctol = CLUSTER * smax;

  memory.fill(ub, 0, <usize>k * ldb);
  memory.fill(vb, 0, <usize>k * ldb);
  let c0 = 0; // first vector of the current cluster
  let seed: u64 = 0x9e3779b97f4a7c15;
  for (let j = 0; j < k; j++) {
    const lam = ld(sigma, j) * down;
    if (j > 0 && ld(sigma, j - 1) * down - lam > ctol) c0 = j;
    const xv = vb + <usize>j * ldb;
    const xu = ub + <usize>j * ldb;

    // Factor T − μI = P·L·U by Gaussian elimination with partial pivoting,
    // μ = λ + 8·eps·σ_max: with μ = λ exactly, a cluster of (numerically)
    // equal values puts the pivots at rounding level, and the rounding then
    // decides which direction of the cluster the solve amplifies most, so the
    // direction still missing after the earlier ones may grow ~100× less than
    // the others and the reorthogonalised vector is left with a residual of
    // ~1e−14. A shift a few ulps away amplifies the whole cluster nearly
    // alike. It is taken above λ: the values it may favour, larger ones, are
    // those of earlier vectors (removed by the reorthogonalisation when close).
    // The row being reduced has entries (a at column p, b at p+1).
    const mu = lam + 8.0 * EPS * smax;
    let a = -mu;
    let b = ld(t, 0);
    for (let p = 0; p < N - 1; p++) {
      const tp = ld(t, p);
      const tn = p + 1 < N - 1 ? ld(t, p + 1) : 0.0;
      if (abs<f64>(a) >= abs<f64>(tp)) {
        // No swap: U row p = (a, b, 0); next row −= l·(a, b).
        store<u8>(piv + <usize>p, 0);
        const l = a != 0.0 ? tp / a : 0.0;
        st(u1, p, a);
        st(u2, p, b);
        st(u3, p, 0.0);
        st(lm, p, l);
        a = -mu - l * b;
        b = tn;
      } else {
        // Swap: U row p = (t_p, −λ, t_{p+1}); the old row −= l·(that row).
        store<u8>(piv + <usize>p, 1);
        const l = a / tp;
        st(u1, p, tp);
        st(u2, p, -mu);
        st(u3, p, tn);
        st(lm, p, l);
        a = b + l * mu;
        b = -l * tn;
      }
    }
    st(u1, N - 1, a);
    st(u2, N - 1, 0.0);
    st(u3, N - 1, 0.0);
    for (let p = 0; p < N; p++) {
      const x = ld(u1, p);
      if (abs<f64>(x) < pertol) st(u1, p, x < 0.0 ? -pertol : pertol);
    }

    // Pseudo-random start (xorshift64*), uniform in (−1, 1), unit 2-norm.
    for (let i = 0; i < n; i++) {
      seed ^= seed >> 12;
      seed ^= seed << 25;
      seed ^= seed >> 27;
      const r = seed * 0x2545f4914f6cdd1d;
      st(xv, i, <f64>(r >> 11) * 2.220446049250313e-16 - 1.0);
      seed ^= seed >> 12;
      seed ^= seed << 25;
      seed ^= seed >> 27;
      const q = seed * 0x2545f4914f6cdd1d;
      st(xu, i, <f64>(q >> 11) * 2.220446049250313e-16 - 1.0);
    }
    scal2(xv, xu, 1.0 / Math.sqrt(dot2(xv, xv, xu, xu, nb)), nb);

    let ok = false;
    for (let it = 0; it < MAXIT; it++) {
      // Solve (T − λI)·y = x in place: forward (P·L), then back (U).
      let cur = load<f64>(at(xv, xu, 0));
      for (let p = 0; p < N - 1; p++) {
        const an = at(xv, xu, p + 1);
        const xn = load<f64>(an);
        const l = ld(lm, p);
        if (load<u8>(piv + <usize>p) == 0) {
          store<f64>(at(xv, xu, p), cur);
          cur = xn - l * cur;
        } else {
          store<f64>(at(xv, xu, p), xn);
          cur = cur - l * xn;
        }
      }
      let y2: f64 = cur / ld(u1, N - 1);
      store<f64>(at(xv, xu, N - 1), y2);
      let y1: f64 = (load<f64>(at(xv, xu, N - 2)) - ld(u2, N - 2) * y2) / ld(u1, N - 2);
      store<f64>(at(xv, xu, N - 2), y1);
      for (let p = N - 3; p >= 0; p--) {
        const y0 = (load<f64>(at(xv, xu, p)) - ld(u2, p) * y1 - ld(u3, p) * y2) / ld(u1, p);
        store<f64>(at(xv, xu, p), y0);
        y2 = y1;
        y1 = y0;
      }
      // Scale by the largest entry first (the solve can reach ~1/eps²), then orthogonalise.
      let ymax: f64 = 0.0;
      for (let i = 0; i < n; i++) ymax = max<f64>(ymax, max<f64>(abs<f64>(ld(xv, i)), abs<f64>(ld(xu, i))));
      if (!(ymax > 0.0 && ymax < Infinity)) return 1;
      scal2(xv, xu, 1.0 / ymax, nb);
      for (let i = c0; i < j; i++) {
        const bv = vb + <usize>i * ldb;
        const bu = ub + <usize>i * ldb;
        axpy2(xv, bv, xu, bu, dot2(xv, bv, xu, bu, nb), nb);
      }
      const nrm = Math.sqrt(dot2(xv, xv, xu, xu, nb));
      if (!(nrm > 1e-150)) return 1;
      scal2(xv, xu, 1.0 / nrm, nb);
      if (it >= 1) {
        // ‖(T − λI)x‖₂ with x = (v, u) shuffled: rows of v are (Bᵀu − λv), rows of u are (Bv − λu).
        let rr: f64 = 0.0;
        for (let i = 0; i < n; i++) {
          const di = ld(t, 2 * i);
          const ei = i > 0 ? ld(t, 2 * i - 1) : 0.0;
          const en = i + 1 < n ? ld(t, 2 * i + 1) : 0.0;
          const rv = di * ld(xu, i) + (i > 0 ? ei * ld(xu, i - 1) : 0.0) - lam * ld(xv, i);
          const ru = di * ld(xv, i) + (i + 1 < n ? en * ld(xv, i + 1) : 0.0) - lam * ld(xu, i);
          rr += rv * rv + ru * ru;
        }
        if (Math.sqrt(rr) <= rtol) {
          ok = true;
          break;
        }
      }
    }
    if (!ok) return 1;
    // Purify: x ← (T + λI)·x scales the component along an eigenvector of
    // eigenvalue μ by (λ + μ): it removes the part along the mirror −σ_j (and
    // the −σ of a cluster of equal values, which the solves put there at
    // rounding level and the reorthogonalisation would otherwise pass from one
    // vector to the next) and shrinks every other part relative to +σ_j
    // whenever 3λ ≥ σ_max (|λ + μ| ≤ 2λ for −σ_max ≤ μ ≤ σ_max; the parts
    // along larger +σ are removed by the pass below).
    if (3.0 * lam >= smax) {
      let prevU: f64 = 0.0;
      for (let i = 0; i < n; i++) {
        const vi = ld(xv, i);
        const ui = ld(xu, i);
        const di = ld(t, 2 * i);
        // (T + λI) rows: v_i ← d_i u_i + e_i u_{i−1} + λ v_i, u_i ← d_i v_i + e_{i+1} v_{i+1} + λ u_i.
        const nv = di * ui + (i > 0 ? ld(t, 2 * i - 1) * prevU : 0.0) + lam * vi;
        const nu = di * vi + (i + 1 < n ? ld(t, 2 * i + 1) * ld(xv, i + 1) : 0.0) + lam * ui;
        prevU = ui; // the old u_i, needed by row v_{i+1}
        st(xv, i, nv);
        st(xu, i, nu);
      }
      const pn = Math.sqrt(dot2(xv, xv, xu, xu, nb));
      if (!(pn > 0.0 && pn < Infinity)) return 1;
      scal2(xv, xu, 1.0 / pn, nb);
    }
    // One more pass against every earlier vector (those of earlier clusters
    // are orthogonal to it up to residual/gap already), then unit length again.
    for (let i = 0; i < j; i++) {
      const bv = vb + <usize>i * ldb;
      const bu = ub + <usize>i * ldb;
      axpy2(xv, bv, xu, bu, dot2(xv, bv, xu, bu, nb), nb);
    }
    scal2(xv, xu, 1.0 / Math.sqrt(dot2(xv, xv, xu, xu, nb)), nb);
  }
  // Split every x = (v, u)/√2 into unit v and u (only now: the iteration
  // orthogonalises against the unit vectors of the 2n space), and check.
  for (let j = 0; j < k; j++) {
    const lam = ld(sigma, j) * down;
    const xv = vb + <usize>j * ldb;
    const xu = ub + <usize>j * ldb;
    const nv = Math.sqrt(dot2(xv, xv, xv, xv, nb) * 0.5);
    const nu = Math.sqrt(dot2(xu, xu, xu, xu, nb) * 0.5);
    if (!(nv > 0.25 && nu > 0.25)) return 1; // each half should hold ≈ 1/√2 of the unit vector
    const sv = f64x2.splat(1.0 / nv);
    const su = f64x2.splat(1.0 / nu);
    for (let o: usize = 0; o < nb; o += 16) {
      v128.store(xv + o, f64x2.mul(sv, v128.load(xv + o)));
      v128.store(xu + o, f64x2.mul(su, v128.load(xu + o)));
    }
    let r1: f64 = 0.0;
    let r2: f64 = 0.0;
    for (let i = 0; i < n; i++) {
      const di = ld(t, 2 * i);
      const rv = di * ld(xu, i) + (i > 0 ? ld(t, 2 * i - 1) * ld(xu, i - 1) : 0.0) - lam * ld(xv, i);
      const ru = di * ld(xv, i) + (i + 1 < n ? ld(t, 2 * i + 1) * ld(xv, i + 1) : 0.0) - lam * ld(xu, i);
      r1 += rv * rv;
      r2 += ru * ru;
    }
    if (!(Math.sqrt(r1) <= 4.0 * rtol && Math.sqrt(r2) <= 4.0 * rtol)) return 1;
  }
  return 0;
}
