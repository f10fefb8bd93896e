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
// the final passes: against the ≈ 24n³ flops of QR with all rotations. The
// factorisations and solves are chains of dependent divisions, so four (or
// two) consecutive vectors whose clusters hold no earlier vector run at once,
// interleaved, each with the same operations as alone (the same bits).

import { EPS } from "./bdsqr";

/** Most inverse-iteration solves per vector. */
const MAXIT: i32 = 8;

/** Values closer than CLUSTER·σ_max form a cluster (LAPACK dstein's 1e−3). */
const CLUSTER: f64 = 1e-3;

/** Bytes of scratch bidiag_top_vectors_f64 needs for order n. */
export function bdvec_work_bytes(n: i32): i32 {
  // t (f64[2n]), four sets of factors (factorBytes(2n) each), 16-byte alignment slack.
  return n > 0 ? (2 * n) * 8 + 4 * <i32>factorBytes(2 * n) + 64 : 64;
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

/** f64 planes of one set of factors (U's three diagonals, L's multipliers), before its N pivot bytes. */
const FACTOR_F64: i32 = 4;

/** Bytes of one set of factors of an N × N tridiagonal (16-byte multiple). */
// @ts-ignore: decorator
@inline
function factorBytes(N: i32): usize {
  return ((<usize>(FACTOR_F64 * N) << 3) + <usize>N + 15) & ~(<usize>15);
}

/**
 * Factors T_GK − μI = P·L·U by Gaussian elimination with partial pivoting
 * into f (U's diagonals u1, u2, u3, L's multipliers lm, f64[N] each, then
 * the pivots u8[N]); U's pivots below pertol in size are raised to it. T_GK
 * has zero diagonal and off-diagonal t[0..N−2]. The row being reduced has
 * entries (a at column p, b at p+1).
 */
function factor(t: usize, N: i32, mu: f64, f: usize, pertol: f64): void {
  const u1 = f;
  const u2 = u1 + (<usize>N << 3);
  const u3 = u2 + (<usize>N << 3);
  const lm = u3 + (<usize>N << 3);
  const piv = lm + (<usize>N << 3);
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
      // Swap: U row p = (t_p, −μ, t_{p+1}); the old row −= l·(that row).
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
  raisePivots(u1, N, pertol);
}

/** factor for two shifts at once (into f and g), each factorisation's steps exactly as alone. */
function factor2(t: usize, N: i32, mu: f64, f: usize, nu: f64, g: usize, pertol: f64): void {
  const u1 = f;
  const u2 = u1 + (<usize>N << 3);
  const u3 = u2 + (<usize>N << 3);
  const lm = u3 + (<usize>N << 3);
  const piv = lm + (<usize>N << 3);
  const w1 = g;
  const w2 = w1 + (<usize>N << 3);
  const w3 = w2 + (<usize>N << 3);
  const wm = w3 + (<usize>N << 3);
  const wiv = wm + (<usize>N << 3);
  let a = -mu;
  let b = ld(t, 0);
  let c = -nu;
  let d = b;
  for (let p = 0; p < N - 1; p++) {
    const tp = ld(t, p);
    const tn = p + 1 < N - 1 ? ld(t, p + 1) : 0.0;
    if (abs<f64>(a) >= abs<f64>(tp)) {
      store<u8>(piv + <usize>p, 0);
      const l = a != 0.0 ? tp / a : 0.0;
      st(u1, p, a);
      st(u2, p, b);
      st(u3, p, 0.0);
      st(lm, p, l);
      a = -mu - l * b;
      b = tn;
    } else {
      store<u8>(piv + <usize>p, 1);
      const l = a / tp;
      st(u1, p, tp);
      st(u2, p, -mu);
      st(u3, p, tn);
      st(lm, p, l);
      a = b + l * mu;
      b = -l * tn;
    }
    if (abs<f64>(c) >= abs<f64>(tp)) {
      store<u8>(wiv + <usize>p, 0);
      const l = c != 0.0 ? tp / c : 0.0;
      st(w1, p, c);
      st(w2, p, d);
      st(w3, p, 0.0);
      st(wm, p, l);
      c = -nu - l * d;
      d = tn;
    } else {
      store<u8>(wiv + <usize>p, 1);
      const l = c / tp;
      st(w1, p, tp);
      st(w2, p, -nu);
      st(w3, p, tn);
      st(wm, p, l);
      c = d + l * nu;
      d = -l * tn;
    }
  }
  st(u1, N - 1, a);
  st(u2, N - 1, 0.0);
  st(u3, N - 1, 0.0);
  st(w1, N - 1, c);
  st(w2, N - 1, 0.0);
  st(w3, N - 1, 0.0);
  raisePivots(u1, N, pertol);
  raisePivots(w1, N, pertol);
}

/** factor for four shifts at once (into f, g, h, q), each factorisation's steps exactly as alone. */
function factor4(t: usize, N: i32, mu0: f64, f: usize, mu1: f64, g: usize, mu2: f64, h: usize, mu3: f64, q: usize,
  pertol: f64): void {
  const u10 = f;
  const u20 = u10 + (<usize>N << 3);
  const u30 = u20 + (<usize>N << 3);
  const lm0 = u30 + (<usize>N << 3);
  const pv0 = lm0 + (<usize>N << 3);
  const u11 = g;
  const u21 = u11 + (<usize>N << 3);
  const u31 = u21 + (<usize>N << 3);
  const lm1 = u31 + (<usize>N << 3);
  const pv1 = lm1 + (<usize>N << 3);
  const u12 = h;
  const u22 = u12 + (<usize>N << 3);
  const u32 = u22 + (<usize>N << 3);
  const lm2 = u32 + (<usize>N << 3);
  const pv2 = lm2 + (<usize>N << 3);
  const u13 = q;
  const u23 = u13 + (<usize>N << 3);
  const u33 = u23 + (<usize>N << 3);
  const lm3 = u33 + (<usize>N << 3);
  const pv3 = lm3 + (<usize>N << 3);
  const t0 = ld(t, 0);
  let a0 = -mu0;
  let b0 = t0;
  let a1 = -mu1;
  let b1 = t0;
  let a2 = -mu2;
  let b2 = t0;
  let a3 = -mu3;
  let b3 = t0;
  for (let p = 0; p < N - 1; p++) {
    const tp = ld(t, p);
    const tn = p + 1 < N - 1 ? ld(t, p + 1) : 0.0;
    if (abs<f64>(a0) >= abs<f64>(tp)) {
      store<u8>(pv0 + <usize>p, 0);
      const l = a0 != 0.0 ? tp / a0 : 0.0;
      st(u10, p, a0);
      st(u20, p, b0);
      st(u30, p, 0.0);
      st(lm0, p, l);
      a0 = -mu0 - l * b0;
      b0 = tn;
    } else {
      store<u8>(pv0 + <usize>p, 1);
      const l = a0 / tp;
      st(u10, p, tp);
      st(u20, p, -mu0);
      st(u30, p, tn);
      st(lm0, p, l);
      a0 = b0 + l * mu0;
      b0 = -l * tn;
    }
    if (abs<f64>(a1) >= abs<f64>(tp)) {
      store<u8>(pv1 + <usize>p, 0);
      const l = a1 != 0.0 ? tp / a1 : 0.0;
      st(u11, p, a1);
      st(u21, p, b1);
      st(u31, p, 0.0);
      st(lm1, p, l);
      a1 = -mu1 - l * b1;
      b1 = tn;
    } else {
      store<u8>(pv1 + <usize>p, 1);
      const l = a1 / tp;
      st(u11, p, tp);
      st(u21, p, -mu1);
      st(u31, p, tn);
      st(lm1, p, l);
      a1 = b1 + l * mu1;
      b1 = -l * tn;
    }
    if (abs<f64>(a2) >= abs<f64>(tp)) {
      store<u8>(pv2 + <usize>p, 0);
      const l = a2 != 0.0 ? tp / a2 : 0.0;
      st(u12, p, a2);
      st(u22, p, b2);
      st(u32, p, 0.0);
      st(lm2, p, l);
      a2 = -mu2 - l * b2;
      b2 = tn;
    } else {
      store<u8>(pv2 + <usize>p, 1);
      const l = a2 / tp;
      st(u12, p, tp);
      st(u22, p, -mu2);
      st(u32, p, tn);
      st(lm2, p, l);
      a2 = b2 + l * mu2;
      b2 = -l * tn;
    }
    if (abs<f64>(a3) >= abs<f64>(tp)) {
      store<u8>(pv3 + <usize>p, 0);
      const l = a3 != 0.0 ? tp / a3 : 0.0;
      st(u13, p, a3);
      st(u23, p, b3);
      st(u33, p, 0.0);
      st(lm3, p, l);
      a3 = -mu3 - l * b3;
      b3 = tn;
    } else {
      store<u8>(pv3 + <usize>p, 1);
      const l = a3 / tp;
      st(u13, p, tp);
      st(u23, p, -mu3);
      st(u33, p, tn);
      st(lm3, p, l);
      a3 = b3 + l * mu3;
      b3 = -l * tn;
    }
  }
  st(u10, N - 1, a0);
  st(u20, N - 1, 0.0);
  st(u30, N - 1, 0.0);
  st(u11, N - 1, a1);
  st(u21, N - 1, 0.0);
  st(u31, N - 1, 0.0);
  st(u12, N - 1, a2);
  st(u22, N - 1, 0.0);
  st(u32, N - 1, 0.0);
  st(u13, N - 1, a3);
  st(u23, N - 1, 0.0);
  st(u33, N - 1, 0.0);
  raisePivots(u10, N, pertol);
  raisePivots(u11, N, pertol);
  raisePivots(u12, N, pertol);
  raisePivots(u13, N, pertol);
}

/** U's diagonal entries below pertol in size raised to ±pertol. */
function raisePivots(u1: usize, N: i32, pertol: f64): void {
  for (let p = 0; p < N; p++) {
    const x = ld(u1, p);
    if (abs<f64>(x) < pertol) st(u1, p, x < 0.0 ? -pertol : pertol);
  }
}

/** A pseudo-random start (xorshift64*), uniform in (−1, 1), unit 2-norm; returns the generator's next state. */
function start(xv: usize, xu: usize, n: i32, nb: usize, seed: u64): u64 {
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
  return seed;
}

/** Solves (T − μI)·y = x in place with the factors at f: forward (P·L), then back (U). */
function solve(xv: usize, xu: usize, f: usize, N: i32): void {
  const u1 = f;
  const u2 = u1 + (<usize>N << 3);
  const u3 = u2 + (<usize>N << 3);
  const lm = u3 + (<usize>N << 3);
  const piv = lm + (<usize>N << 3);
  let cur = load<f64>(at(xv, xu, 0));
  for (let p = 0; p < N - 1; p++) {
    const xn = load<f64>(at(xv, xu, p + 1));
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
}

/** solve for two right-hand sides and factors at once (x with f, y with g), each exactly as alone. */
function solve2(xv: usize, xu: usize, f: usize, yv: usize, yu: usize, g: usize, N: i32): void {
  const u1 = f;
  const u2 = u1 + (<usize>N << 3);
  const u3 = u2 + (<usize>N << 3);
  const lm = u3 + (<usize>N << 3);
  const piv = lm + (<usize>N << 3);
  const w1 = g;
  const w2 = w1 + (<usize>N << 3);
  const w3 = w2 + (<usize>N << 3);
  const wm = w3 + (<usize>N << 3);
  const wiv = wm + (<usize>N << 3);
  let cur = load<f64>(at(xv, xu, 0));
  let cuy = load<f64>(at(yv, yu, 0));
  for (let p = 0; p < N - 1; p++) {
    const xn = load<f64>(at(xv, xu, p + 1));
    const l = ld(lm, p);
    if (load<u8>(piv + <usize>p) == 0) {
      store<f64>(at(xv, xu, p), cur);
      cur = xn - l * cur;
    } else {
      store<f64>(at(xv, xu, p), xn);
      cur = cur - l * xn;
    }
    const yn = load<f64>(at(yv, yu, p + 1));
    const k = ld(wm, p);
    if (load<u8>(wiv + <usize>p) == 0) {
      store<f64>(at(yv, yu, p), cuy);
      cuy = yn - k * cuy;
    } else {
      store<f64>(at(yv, yu, p), yn);
      cuy = cuy - k * yn;
    }
  }
  let x2: f64 = cur / ld(u1, N - 1);
  let z2: f64 = cuy / ld(w1, N - 1);
  store<f64>(at(xv, xu, N - 1), x2);
  store<f64>(at(yv, yu, N - 1), z2);
  let x1: f64 = (load<f64>(at(xv, xu, N - 2)) - ld(u2, N - 2) * x2) / ld(u1, N - 2);
  let z1: f64 = (load<f64>(at(yv, yu, N - 2)) - ld(w2, N - 2) * z2) / ld(w1, N - 2);
  store<f64>(at(xv, xu, N - 2), x1);
  store<f64>(at(yv, yu, N - 2), z1);
  for (let p = N - 3; p >= 0; p--) {
    const x0 = (load<f64>(at(xv, xu, p)) - ld(u2, p) * x1 - ld(u3, p) * x2) / ld(u1, p);
    const z0 = (load<f64>(at(yv, yu, p)) - ld(w2, p) * z1 - ld(w3, p) * z2) / ld(w1, p);
    store<f64>(at(xv, xu, p), x0);
    store<f64>(at(yv, yu, p), z0);
    x2 = x1;
    x1 = x0;
    z2 = z1;
    z1 = z0;
  }
}

/** solve for four right-hand sides and factors at once (x_c with the factors at its f_c), each exactly as alone. */
function solve4(x0v: usize, x0u: usize, f: usize, x1v: usize, x1u: usize, g: usize, x2v: usize, x2u: usize, h: usize,
  x3v: usize, x3u: usize, q: usize, N: i32): void {
  const u10 = f;
  const u20 = u10 + (<usize>N << 3);
  const u30 = u20 + (<usize>N << 3);
  const lm0 = u30 + (<usize>N << 3);
  const pv0 = lm0 + (<usize>N << 3);
  const u11 = g;
  const u21 = u11 + (<usize>N << 3);
  const u31 = u21 + (<usize>N << 3);
  const lm1 = u31 + (<usize>N << 3);
  const pv1 = lm1 + (<usize>N << 3);
  const u12 = h;
  const u22 = u12 + (<usize>N << 3);
  const u32 = u22 + (<usize>N << 3);
  const lm2 = u32 + (<usize>N << 3);
  const pv2 = lm2 + (<usize>N << 3);
  const u13 = q;
  const u23 = u13 + (<usize>N << 3);
  const u33 = u23 + (<usize>N << 3);
  const lm3 = u33 + (<usize>N << 3);
  const pv3 = lm3 + (<usize>N << 3);
  let cur0 = load<f64>(at(x0v, x0u, 0));
  let cur1 = load<f64>(at(x1v, x1u, 0));
  let cur2 = load<f64>(at(x2v, x2u, 0));
  let cur3 = load<f64>(at(x3v, x3u, 0));
  for (let p = 0; p < N - 1; p++) {
    {
      const xn = load<f64>(at(x0v, x0u, p + 1));
      const l = ld(lm0, p);
      if (load<u8>(pv0 + <usize>p) == 0) {
        store<f64>(at(x0v, x0u, p), cur0);
        cur0 = xn - l * cur0;
      } else {
        store<f64>(at(x0v, x0u, p), xn);
        cur0 = cur0 - l * xn;
      }
    }
    {
      const xn = load<f64>(at(x1v, x1u, p + 1));
      const l = ld(lm1, p);
      if (load<u8>(pv1 + <usize>p) == 0) {
        store<f64>(at(x1v, x1u, p), cur1);
        cur1 = xn - l * cur1;
      } else {
        store<f64>(at(x1v, x1u, p), xn);
        cur1 = cur1 - l * xn;
      }
    }
    {
      const xn = load<f64>(at(x2v, x2u, p + 1));
      const l = ld(lm2, p);
      if (load<u8>(pv2 + <usize>p) == 0) {
        store<f64>(at(x2v, x2u, p), cur2);
        cur2 = xn - l * cur2;
      } else {
        store<f64>(at(x2v, x2u, p), xn);
        cur2 = cur2 - l * xn;
      }
    }
    {
      const xn = load<f64>(at(x3v, x3u, p + 1));
      const l = ld(lm3, p);
      if (load<u8>(pv3 + <usize>p) == 0) {
        store<f64>(at(x3v, x3u, p), cur3);
        cur3 = xn - l * cur3;
      } else {
        store<f64>(at(x3v, x3u, p), xn);
        cur3 = cur3 - l * xn;
      }
    }
  }
  let y02: f64 = cur0 / ld(u10, N - 1);
  store<f64>(at(x0v, x0u, N - 1), y02);
  let y12: f64 = cur1 / ld(u11, N - 1);
  store<f64>(at(x1v, x1u, N - 1), y12);
  let y22: f64 = cur2 / ld(u12, N - 1);
  store<f64>(at(x2v, x2u, N - 1), y22);
  let y32: f64 = cur3 / ld(u13, N - 1);
  store<f64>(at(x3v, x3u, N - 1), y32);
  let y01: f64 = (load<f64>(at(x0v, x0u, N - 2)) - ld(u20, N - 2) * y02) / ld(u10, N - 2);
  store<f64>(at(x0v, x0u, N - 2), y01);
  let y11: f64 = (load<f64>(at(x1v, x1u, N - 2)) - ld(u21, N - 2) * y12) / ld(u11, N - 2);
  store<f64>(at(x1v, x1u, N - 2), y11);
  let y21: f64 = (load<f64>(at(x2v, x2u, N - 2)) - ld(u22, N - 2) * y22) / ld(u12, N - 2);
  store<f64>(at(x2v, x2u, N - 2), y21);
  let y31: f64 = (load<f64>(at(x3v, x3u, N - 2)) - ld(u23, N - 2) * y32) / ld(u13, N - 2);
  store<f64>(at(x3v, x3u, N - 2), y31);
  for (let p = N - 3; p >= 0; p--) {
    const y00 = (load<f64>(at(x0v, x0u, p)) - ld(u20, p) * y01 - ld(u30, p) * y02) / ld(u10, p);
    const y10 = (load<f64>(at(x1v, x1u, p)) - ld(u21, p) * y11 - ld(u31, p) * y12) / ld(u11, p);
    const y20 = (load<f64>(at(x2v, x2u, p)) - ld(u22, p) * y21 - ld(u32, p) * y22) / ld(u12, p);
    const y30 = (load<f64>(at(x3v, x3u, p)) - ld(u23, p) * y31 - ld(u33, p) * y32) / ld(u13, p);
    store<f64>(at(x0v, x0u, p), y00);
    y02 = y01;
    y01 = y00;
    store<f64>(at(x1v, x1u, p), y10);
    y12 = y11;
    y11 = y10;
    store<f64>(at(x2v, x2u, p), y20);
    y22 = y21;
    y21 = y20;
    store<f64>(at(x3v, x3u, p), y30);
    y32 = y31;
    y31 = y30;
  }
}

/**
 * After a solve of vector j: scaled by its largest entry (the solve can reach
 * ~1/eps²), orthogonalised against vectors c0 … j − 1 (its cluster's earlier
 * ones), unit length; from the second solve (it ≥ 1) its residual
 * ‖(T − λI)x‖₂ is tested against rtol. Returns 1 when accepted, 0 to go on,
 * −1 on a non-finite or vanishing iterate.
 */
function settle(xv: usize, xu: usize, n: i32, nb: usize, t: usize, lam: f64, rtol: f64, vb: usize, ub: usize,
  ldb: usize, c0: i32, j: i32, it: i32): i32 {
  let ymax: f64 = 0.0;
  for (let i = 0; i < n; i++) ymax = max<f64>(ymax, max<f64>(abs<f64>(ld(xv, i)), abs<f64>(ld(xu, i))));
  if (!(ymax > 0.0 && ymax < Infinity)) return -1;
  scal2(xv, xu, 1.0 / ymax, nb);
  for (let i = c0; i < j; i++) {
    const bv = vb + <usize>i * ldb;
    const bu = ub + <usize>i * ldb;
    axpy2(xv, bv, xu, bu, dot2(xv, bv, xu, bu, nb), nb);
  }
  const nrm = Math.sqrt(dot2(xv, xv, xu, xu, nb));
  if (!(nrm > 1e-150)) return -1;
  scal2(xv, xu, 1.0 / nrm, nb);
  if (it < 1) return 0;
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
  return Math.sqrt(rr) <= rtol ? 1 : 0;
}

/**
 * Vector j, a cluster's first, alone from solve `it` on until accepted (its
 * state st from settle: 1 accepted, 0 not yet); returns settle's last state,
 * or 0 when MAXIT solves did not reach it.
 */
function goOn(xv: usize, xu: usize, f: usize, st: i32, it: i32, n: i32, nb: usize, t: usize, lam: f64, rtol: f64,
  vb: usize, ub: usize, ldb: usize, j: i32, N: i32): i32 {
  for (let r = it; r < MAXIT && st == 0; r++) {
    solve(xv, xu, f, N);
    st = settle(xv, xu, n, nb, t, lam, rtol, vb, ub, ldb, j, j, r);
  }
  return st;
}

/**
 * An accepted vector j made final: purified, orthogonalised once more against
 * every earlier vector, unit length. False on a non-finite purification.
 */
function finish(xv: usize, xu: usize, n: i32, nb: usize, t: usize, lam: f64, smax: f64, vb: usize, ub: usize,
  ldb: usize, j: i32): bool {
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
    if (!(pn > 0.0 && pn < Infinity)) return false;
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
  return true;
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
  // Four sets of factors (up to four vectors run at once): FACTOR_F64 f64[N] planes and N pivot bytes each.
  const f0 = t + (<usize>N << 3);
  const f1 = f0 + factorBytes(N);
  const f2 = f1 + factorBytes(N);
  const f3 = f2 + factorBytes(N);

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
  // Each T − μI is factored with μ = λ + 8·eps·σ_max: with μ = λ exactly, a
  // cluster of (numerically) equal values puts the pivots at rounding level,
  // and the rounding then decides which direction of the cluster the solve
  // amplifies most, so the direction still missing after the earlier ones may
  // grow ~100× less than the others and the reorthogonalised vector is left
  // with a residual of ~1e−14. A shift a few ulps away amplifies the whole
  // cluster nearly alike. It is taken above λ: the values it may favour,
  // larger ones, are those of earlier vectors (removed by the
  // reorthogonalisation when close).
  const shift = 8.0 * EPS * smax;
  let c0 = 0; // first vector of the current cluster
  let seed: u64 = 0x9e3779b97f4a7c15;
  let j = 0;
  while (j < k) {
    const lam = ld(sigma, j) * down;
    if (j > 0 && ld(sigma, j - 1) * down - lam > ctol) c0 = j;
    const xv = vb + <usize>j * ldb;
    const xu = ub + <usize>j * ldb;
    // Vectors j … j + 3, or j and j + 1, run at once (their dependent divisions interleaved) when none has an
    // earlier vector in its cluster: their iterations are then independent, each the same steps as alone.
    const lam1 = j + 1 < k ? ld(sigma, j + 1) * down : 0.0;
    const lam2 = j + 2 < k ? ld(sigma, j + 2) * down : 0.0;
    const lam3 = j + 3 < k ? ld(sigma, j + 3) * down : 0.0;
    if (c0 == j && j + 3 < k && lam - lam1 > ctol && lam1 - lam2 > ctol && lam2 - lam3 > ctol) {
      for (let i = 0; i < 4; i++) seed = start(xv + <usize>i * ldb, xu + <usize>i * ldb, n, nb, seed);
      factor4(t, N, lam + shift, f0, lam1 + shift, f1, lam2 + shift, f2, lam3 + shift, f3, pertol);
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let it = 0;
      for (; it < MAXIT && s0 == 0 && s1 == 0 && s2 == 0 && s3 == 0; it++) {
        solve4(xv, xu, f0, xv + ldb, xu + ldb, f1, xv + 2 * ldb, xu + 2 * ldb, f2, xv + 3 * ldb, xu + 3 * ldb, f3, N);
        s0 = settle(xv, xu, n, nb, t, lam, rtol, vb, ub, ldb, j, j, it);
        s1 = settle(xv + ldb, xu + ldb, n, nb, t, lam1, rtol, vb, ub, ldb, j + 1, j + 1, it);
        s2 = settle(xv + 2 * ldb, xu + 2 * ldb, n, nb, t, lam2, rtol, vb, ub, ldb, j + 2, j + 2, it);
        s3 = settle(xv + 3 * ldb, xu + 3 * ldb, n, nb, t, lam3, rtol, vb, ub, ldb, j + 3, j + 3, it);
        if (s0 < 0 || s1 < 0 || s2 < 0 || s3 < 0) return 1;
      }
      // The ones not yet accepted go on alone, from the same step.
      if (goOn(xv, xu, f0, s0, it, n, nb, t, lam, rtol, vb, ub, ldb, j, N) != 1) return 1;
      if (goOn(xv + ldb, xu + ldb, f1, s1, it, n, nb, t, lam1, rtol, vb, ub, ldb, j + 1, N) != 1) return 1;
      if (goOn(xv + 2 * ldb, xu + 2 * ldb, f2, s2, it, n, nb, t, lam2, rtol, vb, ub, ldb, j + 2, N) != 1) return 1;
      if (goOn(xv + 3 * ldb, xu + 3 * ldb, f3, s3, it, n, nb, t, lam3, rtol, vb, ub, ldb, j + 3, N) != 1) return 1;
      if (!finish(xv, xu, n, nb, t, lam, smax, vb, ub, ldb, j)) return 1;
      if (!finish(xv + ldb, xu + ldb, n, nb, t, lam1, smax, vb, ub, ldb, j + 1)) return 1;
      if (!finish(xv + 2 * ldb, xu + 2 * ldb, n, nb, t, lam2, smax, vb, ub, ldb, j + 2)) return 1;
      if (!finish(xv + 3 * ldb, xu + 3 * ldb, n, nb, t, lam3, smax, vb, ub, ldb, j + 3)) return 1;
      c0 = j + 3;
      j += 4;
      continue;
    }
    if (c0 == j && j + 1 < k && lam - lam1 > ctol) {
      const yv = xv + ldb;
      const yu = xu + ldb;
      factor2(t, N, lam + shift, f0, lam1 + shift, f1, pertol);
      seed = start(xv, xu, n, nb, seed);
      seed = start(yv, yu, n, nb, seed);
      let s0 = 0;
      let s1 = 0;
      let it = 0;
      for (; it < MAXIT && s0 == 0 && s1 == 0; it++) {
        solve2(xv, xu, f0, yv, yu, f1, N);
        s0 = settle(xv, xu, n, nb, t, lam, rtol, vb, ub, ldb, j, j, it);
        s1 = settle(yv, yu, n, nb, t, lam1, rtol, vb, ub, ldb, j + 1, j + 1, it);
        if (s0 < 0 || s1 < 0) return 1;
      }
      for (; it < MAXIT && s0 == 0; it++) {
        solve(xv, xu, f0, N);
        s0 = settle(xv, xu, n, nb, t, lam, rtol, vb, ub, ldb, j, j, it);
        if (s0 < 0) return 1;
      }
      for (; it < MAXIT && s1 == 0; it++) {
        solve(yv, yu, f1, N);
        s1 = settle(yv, yu, n, nb, t, lam1, rtol, vb, ub, ldb, j + 1, j + 1, it);
        if (s1 < 0) return 1;
      }
      if (s0 == 0 || s1 == 0) return 1;
      if (!finish(xv, xu, n, nb, t, lam, smax, vb, ub, ldb, j)) return 1;
      if (!finish(yv, yu, n, nb, t, lam1, smax, vb, ub, ldb, j + 1)) return 1;
      c0 = j + 1;
      j += 2;
      continue;
    }
    factor(t, N, lam + shift, f0, pertol);
    seed = start(xv, xu, n, nb, seed);
    let st = 0;
    for (let it = 0; it < MAXIT && st == 0; it++) {
      solve(xv, xu, f0, N);
      st = settle(xv, xu, n, nb, t, lam, rtol, vb, ub, ldb, c0, j, it);
      if (st < 0) return 1;
    }
    if (st == 0) return 1;
    if (!finish(xv, xu, n, nb, t, lam, smax, vb, ub, ldb, j)) return 1;
    j++;
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
