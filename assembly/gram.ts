// The operator norm's screen in the Gram domain. For a real kernel with
// taps A_t (m × n, t = (a, b)), every frequency's Gram matrix is one
// trigonometric polynomial with matrix coefficients:
//
//   G(u, v) = A(u, v)ᴴ·A(u, v) = Σ_d R_d · exp(+2πi·(u·d_a/h + v·d_b/w)),
//   R_d = Σ_{t' − t = d} A_tᵀ·A_{t'}   (real n × n, R_{−d} = R_dᵀ),
//
// over the (2kh − 1)(2kw − 1) offsets d. So the R_d are computed once per
// layer (gram_taps_f64), each column v of the grid folds them along w into
// 2kh − 1 complex matrices S_{d_a}(v) (gram_column_f64), and a frequency's
// Gram matrix costs 2kh − 1 complex multiply-adds per entry instead of a
// product of length m: its trace ‖A‖_F² costs 2kh − 1. The screen
// (gram_screen_f64) certifies σ_max(A(u, v)) < s by the trace, or by a
// Cholesky factorisation of s²(1 − η)·I − G(u, v) (norm.ts choleskyLower);
// gram_estimates_f64 gives the lower estimates that order the candidates.
import { madd, nmadd } from "./bidiag";
import { f32CopyBytes, gramLower, positiveDefinite } from "./norm";
import { align16, lead_dim, TWO_PI } from "./column";
import { EPS } from "./bdsqr";

/** Bytes of gram_taps_f64's R: groups · (2kh − 1)(2kw − 1) n × n matrices, real (cplx = 0) or complex; −1 past 2³¹. */
export function gram_r_bytes(n: i32, kh: i32, kw: i32, groups: i32, cplx: i32): i32 {
  const b = <i64>groups * <i64>(2 * kh - 1) * <i64>(2 * kw - 1) * <i64>n * <i64>n * (cplx != 0 ? 16 : 8);
  return b > 0x7fffffff ? -1 : <i32>b;
}

/**
 * Sample frequencies of the (2kh − 1) × (2kw − 1) grid: its Hermitian half,
 * kh + (kw − 1)(2kh − 1), for a real kernel; all of it for a complex one.
 */
// @ts-ignore: decorator
@inline
function sampleCount(kh: i32, kw: i32, cplx: bool): i32 {
  return cplx ? (2 * kh - 1) * (2 * kw - 1) : kh + (kw - 1) * (2 * kh - 1);
}

/**
 * Bytes of gram_taps_f64's scratch (the taps by column, one sample's A, every
 * sample's Gram matrix, weights, one column's samples and coefficients); −1
 * past 2³¹.
 */
export function gram_taps_work_bytes(m: i32, n: i32, kh: i32, kw: i32, cplx: i32): i32 {
  const ns = <i64>sampleCount(kh, kw, cplx != 0);
  const d = <i64>(2 * kh - 1) * <i64>(2 * kw - 1);
  const taps = <i64>kh * <i64>kw;
  const ld = <i64>lead_dim(m);
  const b = (taps * <i64>n * ld * (cplx != 0 ? 2 : 1) + 2 * ld * <i64>n + ns * 2 * <i64>n * <i64>n + ns * d * 4 + taps * 4 +
    (2 * ns + 2 * d) * <i64>n + 2 * d) * 8 + 144;
  return b > 0x7fffffff ? -1 : <i32>b;
}

/**
 * Real sample points. Along an axis of k ≤ 3 taps, node e in −(k − 1) … k − 1
 * stands for z_e: 1 (e = 0), 0 (e = 1), ∞ (e = −1), −2 (e = 2), −1/2 (e = −2),
 * with z_{−e} = 1/z_e. A real kernel's G(z) = Σ_d R_d·z^d = A(1/z)ᵀ·A(z) on
 * the real grid (z_{e_a}, z_{e_b}) is one real product Lᵀ·R with
 * L = Σ_t ℓ_e(t)·A_t and R = Σ_t r_e(t)·A_t, where ℓ, r are the product of
 * the axes' nodeLeft and nodeRight (at 0 and ∞: the extreme coefficients,
 * z^{k−1}·G at z = 0 and z^{1−k}·G at ∞): then G(z_{−e}) = G(z_e)ᵀ, so one
 * product gives two samples, and the (2k − 1)² samples of 3×3 taps cost
 * 12.5·m·n² multiply-adds against 26·m·n² for the Hermitian half of the
 * complex grid. The weights ℓ, r are powers of two (exact); R_d is recovered
 * by nodeWeight, the inverse of each axis's (2k − 1)-point interpolation.
 */
function nodeLeft(k: i32, e: i32, a: i32): f64 {
  if (e == 0) return 1.0;
  if (e == 1) return a == k - 1 ? 1.0 : 0.0;
  if (e == -1) return a == 0 ? 1.0 : 0.0;
  // z = −2: (−1/2)^a; z = −1/2: (−2)^a.
  const p = <f64>(1 << a);
  const v = e == 2 ? 1.0 / p : p;
  return (a & 1) != 0 ? -v : v;
}

/** r_e(a) of nodeLeft's sample e: ℓ_{−e}(a). */
// @ts-ignore: decorator
@inline
function nodeRight(k: i32, e: i32, a: i32): f64 {
  return nodeLeft(k, -e, a);
}

/** The node e of nodeLeft along an axis of k taps for the sample index p in 0 … 2k − 2 (e = p, or p − (2k − 1) past k − 1). */
// @ts-ignore: decorator
@inline
function nodeOf(k: i32, p: i32): i32 {
  return p < k ? p : p - (2 * k - 1);
}

/**
 * W[d][e]: the coefficient of z^d along an axis of k ≤ 3 taps is Σ_e W[d][e]·(sample at node e),
 * the inverse of V[e][d] = z_e^d (at 0 and ∞: V[±1][d] = 1 for d = ∓(k − 1), else 0).
 */
function nodeWeight(k: i32, d: i32, e: i32): f64 {
  if (k == 1) return 1.0;
  // The extreme coefficients are the samples at 0 and ∞.
  if (d == 1 - k) return e == 1 ? 1.0 : 0.0;
  if (d == k - 1) return e == -1 ? 1.0 : 0.0;
  if (k == 2) return e == 0 ? 1.0 : -1.0;
  // k = 3, d in −1 … 1, e = −2 … 2: (d = −1) −4/9, −1, 2/9, 3/2, 2/9; (0) 2/9, −3/2, 5/9, −3/2, 2/9;
  // (1) 2/9, 3/2, 2/9, −1, −4/9.
  if (d == 0) return e == 0 ? 5.0 / 9.0 : e == 2 || e == -2 ? 2.0 / 9.0 : -1.5;
  const f = d == 1 ? -e : e;
  return f == -2 ? -4.0 / 9.0 : f == -1 ? -1.0 : f == 1 ? 1.5 : 2.0 / 9.0;
}

/** Whether gram_taps_f64 samples a kernel on the real nodes (real, at most 3 taps along each axis). */
// @ts-ignore: decorator
@inline
function realNodes(kh: i32, kw: i32, cplx: bool): bool {
  return !cplx && kh <= 3 && kw <= 3;
}

/**
 * Σ_d Σ_e |W[d][e]|·max_{a, a'} |ℓ_e(a)·r_e(a')| along an axis of k taps: the
 * real nodes' rounding scale (an R_d's error is within this, times the
 * other axis's, times γ·MᵀM; see gram_screen_f64). 1, 5 and 163/9 for k = 1, 2, 3.
 */
function nodeScale(k: i32): f64 {
  let t: f64 = 0.0;
  for (let d = 1 - k; d < k; d++) {
    for (let e = 1 - k; e < k; e++) {
      let amp: f64 = 0.0;
      for (let a = 0; a < k; a++) {
        for (let b = 0; b < k; b++) amp = max<f64>(amp, Math.abs(nodeLeft(k, e, a) * nodeRight(k, e, b)));
      }
      t += Math.abs(nodeWeight(k, d, e)) * amp;
    }
  }
  return t;
}

/**
 * The N of gram_screen_f64's rounding bound γ_N·MᵀM on every entry of Ĝ: the
 * samples' scale (D offsets on the complex grid, nodeScale(kh)·nodeScale(kw)
 * on the real nodes; for kh, kw ≤ 3 the larger, whichever sampled) times
 * m + 6D + 160.
 */
function roundingTerms(m: i32, kh: i32, kw: i32): f64 {
  const offsets = <f64>((2 * kh - 1) * (2 * kw - 1));
  const scale = kh <= 3 && kw <= 3 ? max<f64>(offsets, nodeScale(kh) * nodeScale(kw) * 1.0000001) : offsets;
  return scale * (<f64>m + 6.0 * offsets + 160.0);
}

/**
 * C = Lᵀ·R (L, R: n columns of ld rows at ldb bytes, zero past m) split into
 * two lower triangles: C[i, j] for i ≥ j at p0 + (j·n + i)·8, and for i ≤ j at
 * p1 + (i·n + j)·8 (Cᵀ's lower triangle). `self` (R = L, C symmetric): only
 * i ≥ j, written to both. Three columns of L against three of R per pass
 * over the rows (nine dot products, six loads per nine multiply-adds).
 */
function crossLower(l: usize, r: usize, ldb: usize, n: i32, p0: usize, p1: usize, self: bool): void {
  for (let j = 0; j < n; j += 3) {
    const r0 = r + <usize>j * ldb;
    const r1 = r + <usize>min<i32>(j + 1, n - 1) * ldb;
    const r2 = r + <usize>min<i32>(j + 2, n - 1) * ldb;
    for (let i = self ? j : 0; i < n; i += 3) {
      const l0 = l + <usize>i * ldb;
      const l1 = l + <usize>min<i32>(i + 1, n - 1) * ldb;
      const l2 = l + <usize>min<i32>(i + 2, n - 1) * ldb;
      let c00 = f64x2.splat(0.0), c01 = f64x2.splat(0.0), c02 = f64x2.splat(0.0);
      let c10 = f64x2.splat(0.0), c11 = f64x2.splat(0.0), c12 = f64x2.splat(0.0);
      let c20 = f64x2.splat(0.0), c21 = f64x2.splat(0.0), c22 = f64x2.splat(0.0);
      for (let o: usize = 0; o < ldb; o += 16) {
        const y0 = v128.load(r0 + o), y1 = v128.load(r1 + o), y2 = v128.load(r2 + o);
        let x = v128.load(l0 + o);
        c00 = madd<f64>(x, y0, c00);
        c01 = madd<f64>(x, y1, c01);
        c02 = madd<f64>(x, y2, c02);
        x = v128.load(l1 + o);
        c10 = madd<f64>(x, y0, c10);
        c11 = madd<f64>(x, y1, c11);
        c12 = madd<f64>(x, y2, c12);
        x = v128.load(l2 + o);
        c20 = madd<f64>(x, y0, c20);
        c21 = madd<f64>(x, y1, c21);
        c22 = madd<f64>(x, y2, c22);
      }
      putCross(p0, p1, n, i, j, c00, self);
      putCross(p0, p1, n, i, j + 1, c01, self);
      putCross(p0, p1, n, i, j + 2, c02, self);
      putCross(p0, p1, n, i + 1, j, c10, self);
      putCross(p0, p1, n, i + 1, j + 1, c11, self);
      putCross(p0, p1, n, i + 1, j + 2, c12, self);
      putCross(p0, p1, n, i + 2, j, c20, self);
      putCross(p0, p1, n, i + 2, j + 1, c21, self);
      putCross(p0, p1, n, i + 2, j + 2, c22, self);
    }
  }
}

/** crossLower's store of C[i, j] (the lanes' sum), for i, j < n. */
// @ts-ignore: decorator
@inline
function putCross(p0: usize, p1: usize, n: i32, i: i32, j: i32, c: v128, self: bool): void {
  if (i >= n || j >= n) return;
  const v = f64x2.extract_lane(c, 0) + f64x2.extract_lane(c, 1);
  if (i >= j) {
    store<f64>(p0 + ((<usize>j * <usize>n + <usize>i) << 3), v);
    if (self) store<f64>(p1 + ((<usize>j * <usize>n + <usize>i) << 3), v);
  }
  if (i <= j && !self) store<f64>(p1 + ((<usize>i * <usize>n + <usize>j) << 3), v);
}

/**
 * Y = Σ_t ℓ_t·X_t over the taps t = (a, b) with ℓ_t = nodeLeft(kh, ea, a)·nodeLeft(kw, eb, b) ≠ 0 (L of
 * sample (ea, eb); R is L of (−ea, −eb)): X[t][j] at x + (t·n + j)·ldb, Y[j] at y + j·ldb. Scratch: the
 * weights (splat) at wv, the taps at idx (i32), kh·kw of each.
 */
function nodeFactor(x: usize, n: i32, ldb: usize, kh: i32, kw: i32, ea: i32, eb: i32, wv: usize, idx: usize,
  y: usize): void {
  const taps = kh * kw;
  let k = 0;
  for (let t = 0; t < taps; t++) {
    const w = nodeLeft(kh, ea, t / kw) * nodeLeft(kw, eb, t % kw);
    if (w == 0.0) continue;
    v128.store(wv + (<usize>k << 4), f64x2.splat(w));
    store<i32>(idx + (<usize>k << 2), t);
    k++;
  }
  // Tap by tap along the column (independent rows, no chain of dependent multiply-adds), in the taps' order.
  for (let j = 0; j < n; j++) {
    const yj = y + <usize>j * ldb;
    const w0 = v128.load(wv);
    const x0 = x + <usize>(load<i32>(idx) * n + j) * ldb;
    for (let o: usize = 0; o < ldb; o += 16) v128.store(yj + o, f64x2.mul(v128.load(x0 + o), w0));
    for (let q = 1; q < k; q++) {
      const w = v128.load(wv + (<usize>q << 4));
      const xt = x + <usize>(load<i32>(idx + (<usize>q << 2)) * n + j) * ldb;
      for (let o: usize = 0; o < ldb; o += 16) v128.store(yj + o, madd<f64>(v128.load(xt + o), w, v128.load(yj + o)));
    }
  }
}

/** Largest n for which gram_taps_f64 may sum a real kernel's tap pairs directly. */
const DIRECT_MAX_N: i32 = 32;

/**
 * Multiply-adds of gram_taps_f64's samples and inverse DFT for a real kernel (its A(ω_s), products, sums);
 * on the real nodes the products are ns − 1/2 of m·n² (a full one per pair, half of one at z = 1).
 */
function sampleCost(m: i32, n: i32, kh: i32, kw: i32, ns: i32, nodes: bool): f64 {
  const d = <f64>((2 * kh - 1) * (2 * kw - 1));
  const mn = <f64>m * <f64>n;
  const products = nodes ? (<f64>ns - 0.5) * mn * <f64>n : <f64>ns * 2.0 * mn * <f64>n;
  return <f64>ns * 2.0 * <f64>(kh * kw) * mn + products + <f64>ns * d * <f64>n * <f64>n;
}

/** Multiply-adds of directTaps: every pair of taps (t, t + d) for d in the half plane, n² dot products of m each. */
function directCost(m: i32, n: i32, kh: i32, kw: i32): f64 {
  let pairs = 0;
  for (let da = 0; da < kh; da++) {
    for (let db = da == 0 ? 0 : 1 - kw; db < kw; db++) pairs += (kh - da) * (kw - abs<i32>(db));
  }
  return <f64>pairs * <f64>n * <f64>n * <f64>m;
}

/**
 * R_d = Σ_{t'−t=d} A_tᵀA_{t'} of a real kernel, for d in the half plane (d_a > 0, or d_a = 0 and d_b ≥ 0),
 * and R_{−d} = R_dᵀ copied, into r (gram_taps_f64's layout, one group). Each entry is a sum over the tap
 * pairs of their dot products (each over the ld rows of X, zero past m): within γ_{m+T}·Σ|A_t|ᵀ|A_{t'}|,
 * inside the sampled coefficients' bound (gram_screen_f64). X[t][j] = A_t[·, j] at x + (t·n + j)·ldb.
 */
function directTaps(x: usize, n: i32, ldb: usize, kh: i32, kw: i32, r: usize): void {
  const dw = 2 * kw - 1;
  const offsets = (2 * kh - 1) * dw;
  const nn = <usize>n * <usize>n;
  for (let da = 0; da < kh; da++) {
    for (let db = da == 0 ? 0 : 1 - kw; db < kw; db++) {
      const at = (da + kh - 1) * dw + db + kw - 1;
      const rd = r + (<usize>at * nn << 3);
      const b0 = max<i32>(0, -db);
      const b1 = kw - max<i32>(0, db);
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          let acc: f64 = 0.0;
          for (let a = 0; a + da < kh; a++) {
            for (let b = b0; b < b1; b++) {
              const xi = x + <usize>((a * kw + b) * n + i) * ldb;
              const xj = x + <usize>(((a + da) * kw + b + db) * n + j) * ldb;
              acc += dotReal(xi, xj, <i32>(ldb >> 3));
            }
          }
          store<f64>(rd + ((<usize>j * <usize>n + <usize>i) << 3), acc);
        }
      }
      if (da == 0 && db == 0) continue;
      const rm = r + (<usize>(offsets - 1 - at) * nn << 3);
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          store<f64>(rm + ((<usize>j * <usize>n + <usize>i) << 3), load<f64>(rd + ((<usize>i * <usize>n + <usize>j) << 3)));
        }
      }
    }
  }
}

/** Bytes of one column's S (gram_column_f64): groups · (2kh − 1) complex n × n, their traces, twiddles; −1 past 2³¹. */
export function gram_column_bytes(n: i32, kh: i32, kw: i32, groups: i32): i32 {
  const b = <i64>groups * <i64>(2 * kh - 1) * (<i64>n * <i64>n * 16 + 16) + <i64>(2 * kw - 1) * 16 + 32;
  return b > 0x7fffffff ? -1 : <i32>b;
}

/** Side of the tiles in which gram_taps_f64 fills R_d's upper triangles from R_{−d}'s lower ones. */
const TILE: i32 = 16;

/** Most Lanczos steps of gram_estimates_f64. */
const MAX_STEPS = 64;

/**
 * Bytes of scratch for gram_screen_f64 and gram_estimates_f64 (a Gram
 * matrix, four vectors, the Lanczos tridiagonal, one u's twiddles, the
 * matrix's f32 copy).
 */
export function gram_work_bytes(n: i32, kh: i32): i32 {
  const b = (<i64>2 * <i64>n * <i64>n + 8 * <i64>n + 2 * MAX_STEPS + 4 * <i64>(2 * kh - 1)) * 8 + 64 +
    <i64>f32CopyBytes(n) + 16;
  return b > 0x7fffffff ? -1 : <i32>b;
}

/**
 * gram_taps_f64: the R_d of every group, and μ_g = Σ_{r, j} (Σ_t |A_t[r, j]|)²
 * (the rounding bound's scale: every |A(u, v)| ≤ Σ_t |A_t| entrywise).
 *   k, ki [in]  the kernel in svd_column_f64's tap-major order (tap_major_f64):
 *               row (g, a, j, r) at ((g·kh + a)·m·n + j·m + r)·kw, kw taps b;
 *               ki its imaginary part (a complex kernel: a 3-D layer's depth
 *               frequency), or 0 for a real one
 *   r     [out] gram_r_bytes: group g, offset (d_a, d_b) (d_a in −(kh−1) … kh−1,
 *               d_b likewise), matrix column-major: R_d[i, j] at
 *               ((g·D + (d_a + kh − 1)·(2kw − 1) + d_b + kw − 1)·P·n + j)·n + i
 *               with P = 1 for a real kernel; P = 2 for a complex one, the
 *               imaginary plane n² further; the lower triangles and the
 *               superdiagonal (gram_upper_f64 fills the rest; the direct
 *               tap-pair sums write all of it)
 *   mu    [out] f64[groups]
 *   work  [in]  gram_taps_work_bytes(m, n, kh, kw, ki ≠ 0) bytes
 * G is a trigonometric polynomial of D = (2kh − 1)(2kw − 1) coefficients
 * (R_d = Σ_{t'−t=d} A_tᴴA_{t'}, R_{−d} = R_dᴴ), so its values on the D-point
 * grid ω_k = 2π·(p/(2kh − 1), q/(2kw − 1)) give them by an inverse DFT:
 * R_d = (1/D)·Σ_k G(ω_k)·exp(−i·ω_k·d). The samples are products
 * A(ω_k)ᴴA(ω_k) (norm.ts gramLower): for a real kernel on the Hermitian half
 * of the grid only (G(−ω) = conj G(ω), R_d real), kh + (kw − 1)(2kh − 1)
 * products of 2m·n² multiply-adds; for a complex one on all D. A real kernel
 * of at most 3 taps along each axis is sampled on the real nodes instead
 * (nodeLeft: one real product of m·n² per pair of samples, half the
 * multiply-adds; the same layout, the pair in the two planes). A real kernel
 * whose sums over the tap pairs cost fewer multiply-adds than the samples and
 * their inverse DFT (few channels, many taps: a 7×7 stem of 3 input channels)
 * takes R_d = Σ_{t'−t=d} A_tᵀA_{t'} directly (directTaps). Returns 0.
 */
export function gram_taps_f64(k: usize, ki: usize, m: i32, n: i32, kh: i32, kw: i32, groups: i32, r: usize,
  mu: usize, work: usize): i32 {
  const cplx = ki != 0;
  const ld = lead_dim(m);
  const ldb = <usize>ld << 3;
  const dh = 2 * kh - 1;
  const dw = 2 * kw - 1;
  const offsets = dh * dw;
  const taps = kh * kw;
  const ns = sampleCount(kh, kw, cplx);
  const nn = <usize>n * <usize>n;
  const planes: usize = cplx ? 2 : 1;
  // The direct sums are dot products, each reading two columns: past n = DIRECT_MAX_N they run from L2 at
  // a fraction of the samples' products' rate, so the multiply-adds alone do not decide.
  const nodes = realNodes(kh, kw, cplx);
  const direct = !cplx && n <= DIRECT_MAX_N && directCost(m, n, kh, kw) < sampleCost(m, n, kh, kw, ns, nodes);
  const rowb = <usize>kw << 3;
  const x = align16(work);
  const xi = x + <usize>taps * <usize>n * ldb;
  const ar = x + planes * <usize>taps * <usize>n * ldb;
  const ai = ar + <usize>n * ldb;
  const gs = ai + <usize>n * ldb;
  const wts = gs + <usize>ns * nn * 16;
  const tws = wts + (<usize>(ns * offsets) << 5);
  // cos/sin of 2π·(i/dh + j/dw) for i < dh, j < dw: every angle of the weights and the samples' twiddles
  // is one of these (the same expression, so the same bits as computing each where it is used).
  const tab = align16(tws + (<usize>taps << 5) + (<usize>(2 * ns + 2 * offsets) * <usize>n << 3));
  for (let i = 0; i < dh; i++) {
    for (let j = 0; j < dw; j++) {
      const ang = TWO_PI * (<f64>i / <f64>dh + <f64>j / <f64>dw);
      store<f64>(tab + (<usize>(i * dw + j) << 4), Math.cos(ang));
      store<f64>(tab + (<usize>(i * dw + j) << 4) + 8, Math.sin(ang));
    }
  }
  // Weights, lane-splat: sample s's contribution to R_d is −(Re B_s·c + Im B_s·e) with B_s = −G_s,
  // c = wt·cos(ω_s·d), e = wt·sin(ω_s·d), wt = 2/D off the self-conjugate ω = 0 (1/D there). On the real
  // nodes the two planes are G(z_e) and G(z_{−e}) (the same at e = 0), weighted W_a·W_b at e and at −e.
  for (let sIdx = 0; sIdx < ns; sIdx++) {
    const p = samplePU(sIdx, kh, dh, cplx);
    const q = sampleQ(sIdx, kh, dh, cplx);
    const wt = (sIdx == 0 || cplx ? 1.0 : 2.0) / <f64>offsets;
    const ea = nodeOf(kh, p);
    const eb = nodeOf(kw, q);
    for (let ia = 0; ia < dh; ia++) {
      for (let ib = 0; ib < dw; ib++) {
        const at = wts + (<usize>((ia * dw + ib) * ns + sIdx) << 5);
        if (nodes) {
          const da = ia - kh + 1;
          const db = ib - kw + 1;
          const w0 = nodeWeight(kh, da, ea) * nodeWeight(kw, db, eb);
          const w1 = sIdx == 0 ? 0.0 : nodeWeight(kh, da, -ea) * nodeWeight(kw, db, -eb);
          v128.store(at, f64x2.splat(w0));
          v128.store(at + 16, f64x2.splat(w1));
          continue;
        }
        const cs = tab + (<usize>(modIndex(p, ia - kh + 1, dh) * dw + modIndex(q, ib - kw + 1, dw)) << 4);
        v128.store(at, f64x2.splat(-wt * load<f64>(cs)));
        v128.store(at + 16, f64x2.splat(-wt * load<f64>(cs + 8)));
      }
    }
  }
  for (let g = 0; g < groups; g++) {
    const kg = <usize>(g * kh * m * n) * rowb;
    // X[t][j] = A_t[·, j], ld rows (zero past m), and its imaginary plane; μ_g.
    let total: f64 = 0.0;
    for (let j = 0; j < n; j++) {
      for (let q = 0; q < ld; q++) {
        let t: f64 = 0.0;
        for (let a = 0; a < kh; a++) {
          const src = kg + <usize>(a * m * n + j * m + q) * rowb;
          for (let b = 0; b < kw; b++) {
            const at = <usize>((a * kw + b) * n + j) * ldb + (<usize>q << 3);
            const v = q < m ? load<f64>(k + src + (<usize>b << 3)) : 0.0;
            store<f64>(x + at, v);
            if (cplx) {
              const y = q < m ? load<f64>(ki + src + (<usize>b << 3)) : 0.0;
              store<f64>(xi + at, y);
              t += Math.sqrt(v * v + y * y);
            } else {
              t += Math.abs(v);
            }
          }
        }
        total += t * t;
      }
    }
    store<f64>(mu + (<usize>g << 3), total);
    if (direct) {
      directTaps(x, n, ldb, kh, kw, r + <usize>g * <usize>offsets * nn * 8);
      continue;
    }
    // The samples: B_s = −A(ω_s)ᴴA(ω_s), lower triangles; on the real nodes G(z_e) and G(z_{−e}) = G(z_e)ᵀ.
    for (let sIdx = 0; sIdx < ns && nodes; sIdx++) {
      const p = samplePU(sIdx, kh, dh, false);
      const q = sampleQ(sIdx, kh, dh, false);
      const ea = nodeOf(kh, p);
      const eb = nodeOf(kw, q);
      const idx = align16(tws + (<usize>taps << 5));
      nodeFactor(x, n, ldb, kh, kw, ea, eb, tws, idx, ar);
      if (sIdx != 0) nodeFactor(x, n, ldb, kh, kw, -ea, -eb, tws, idx, ai);
      const p0 = gs + <usize>sIdx * nn * 16;
      crossLower(ar, sIdx == 0 ? ar : ai, ldb, n, p0, p0 + nn * 8, sIdx == 0);
    }
    for (let sIdx = 0; sIdx < ns && !nodes; sIdx++) {
      const p = samplePU(sIdx, kh, dh, cplx);
      const q = sampleQ(sIdx, kh, dh, cplx);
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) {
          const cs = tab + (<usize>(modIndex(p, a, dh) * dw + modIndex(q, b, dw)) << 4);
          v128.store(tws + (<usize>(a * kw + b) << 5), v128.load64_splat(cs));
          v128.store(tws + (<usize>(a * kw + b) << 5) + 16, v128.load64_splat(cs + 8));
        }
      }
      for (let j = 0; j < n; j++) {
        for (let o: usize = 0; o < ldb; o += 16) {
          let pr = f64x2.splat(0.0);
          let pi = f64x2.splat(0.0);
          for (let t = 0; t < taps; t++) {
            const v = v128.load(x + <usize>(t * n + j) * ldb + o);
            pr = madd<f64>(v, v128.load(tws + (<usize>t << 5)), pr);
            pi = madd<f64>(v, v128.load(tws + (<usize>t << 5) + 16), pi);
            if (cplx) {
              // (v + i·y)(c + i·e) = (v·c − y·e) + i(v·e + y·c)
              const y = v128.load(xi + <usize>(t * n + j) * ldb + o);
              pr = nmadd<f64>(y, v128.load(tws + (<usize>t << 5) + 16), pr);
              pi = madd<f64>(y, v128.load(tws + (<usize>t << 5)), pi);
            }
          }
          v128.store(ar + <usize>j * ldb + o, pr);
          v128.store(ai + <usize>j * ldb + o, pi);
        }
      }
      const br = gs + <usize>sIdx * nn * 16;
      gramLower(ar, ai, ld, n, 0.0, br, br + nn * 8);
    }
    // R_d's lower triangles (i ≥ j, from j rounded down to even), then each upper entry R_d[j, i] = R_{−d}[i, j].
    // Complex: R_d's imaginary plane follows its real plane, Im R_d = Σ_s (Im B_s·c − Re B_s·e).
    const rg = r + <usize>g * <usize>offsets * planes * nn * 8;
    const rstride = planes * nn * 8;
    // Column by column through scratch: the samples' segments of column j gathered, and its R_d segments
    // written back, each as one sequential copy (an entry at a time across 2·ns + offsets arrays of n² defeats
    // the prefetchers). The same sums in the same order.
    const cs = align16(tws + (<usize>taps << 5));
    const nb = <usize>n << 3;
    const co = cs + (<usize>ns * nb << 1);
    const ostride = planes * nb;
    for (let j = 0; j < n; j++) {
      const i0 = j & ~1;
      const off = <usize>i0 << 3;
      const len = <usize>(n - i0) << 3;
      const colAt = <usize>j * nb;
      for (let sIdx = 0; sIdx < ns; sIdx++) {
        const src = gs + <usize>sIdx * nn * 16 + colAt + off;
        const dst = cs + (<usize>sIdx * nb << 1) + off;
        memory.copy(dst, src, len);
        memory.copy(dst + nb, src + nn * 8, len);
      }
      let i = i0;
      for (; i + 1 < n; i += 2) {
        const at = <usize>i << 3;
        idftPair(cs, <usize>n, ns, offsets, wts, co, ostride, at, false);
        if (cplx) idftPair(cs, <usize>n, ns, offsets, wts, co + nb, ostride, at, true);
      }
      if (i < n) {
        const at = <usize>i << 3;
        for (let d = 0; d < offsets; d++) {
          let acc: f64 = 0.0;
          let accI: f64 = 0.0;
          for (let sIdx = 0; sIdx < ns; sIdx++) {
            const br = cs + (<usize>sIdx * nb << 1);
            const wt = wts + (<usize>(d * ns + sIdx) << 5);
            acc += load<f64>(br + at) * load<f64>(wt) + load<f64>(br + nb + at) * load<f64>(wt + 16);
            accI += load<f64>(br + nb + at) * load<f64>(wt) - load<f64>(br + at) * load<f64>(wt + 16);
          }
          store<f64>(co + <usize>d * ostride + at, acc);
          if (cplx) store<f64>(co + <usize>d * ostride + nb + at, accI);
        }
      }
      for (let d = 0; d < offsets; d++) {
        memory.copy(rg + <usize>d * rstride + colAt + off, co + <usize>d * ostride + off, len);
        if (cplx) memory.copy(rg + <usize>d * rstride + nn * 8 + colAt + off, co + <usize>d * ostride + nb + off, len);
      }
    }
    // The superdiagonal entries gram_column_f64 reads (R_d[j − 1, j], j odd); gram_upper_f64 fills the rest.
    for (let d = 0; d < offsets; d++) {
      const rd = rg + <usize>d * rstride;
      const rm = rg + <usize>(offsets - 1 - d) * rstride;
      for (let j = 1; j < n; j += 2) {
        const to = (<usize>j * <usize>n + <usize>(j - 1)) << 3;
        const from = (<usize>(j - 1) * <usize>n + <usize>j) << 3;
        store<f64>(rd + to, load<f64>(rm + from));
        if (cplx) store<f64>(rd + nn * 8 + to, -load<f64>(rm + nn * 8 + from));
      }
    }
  }
  return 0;
}

/**
 * gram_upper_f64: R_d[j, i] = conj(R_{−d}[i, j]) for i > j, every group and
 * d, in gram_taps_f64's R (which holds the lower triangles and the
 * superdiagonal: all gram_column_f64 reads); gram_frob_coeffs_f64 calls it
 * first. Tiles of TILE × TILE (a transposing copy: one side is strided).
 * Returns 0.
 */
export function gram_upper_f64(r: usize, n: i32, kh: i32, kw: i32, groups: i32, cplx: i32): i32 {
  const offsets = (2 * kh - 1) * (2 * kw - 1);
  const nn = <usize>n * <usize>n;
  const planes: usize = cplx != 0 ? 2 : 1;
  const rstride = planes * nn * 8;
  for (let g = 0; g < groups; g++) {
    const rg = r + <usize>g * <usize>offsets * rstride;
    for (let d = 0; d < offsets; d++) {
      const rd = rg + <usize>d * rstride;
      const rm = rg + <usize>(offsets - 1 - d) * rstride;
      for (let jt = 0; jt < n; jt += TILE) {
        const jEnd = min<i32>(jt + TILE, n);
        for (let it = jt; it < n; it += TILE) {
          const iEnd = min<i32>(it + TILE, n);
          for (let j = jt; j < jEnd; j++) {
            for (let i = max<i32>(it, j + 1); i < iEnd; i++) {
              const to = (<usize>i * <usize>n + <usize>j) << 3;
              const from = (<usize>j * <usize>n + <usize>i) << 3;
              store<f64>(rd + to, load<f64>(rm + from));
              if (cplx != 0) store<f64>(rd + nn * 8 + to, -load<f64>(rm + nn * 8 + from));
            }
          }
        }
      }
    }
  }
  return 0;
}

/**
 * Sample s's index along u: real kernels, p < kh on the row q = 0, then every
 * p of rows q = 1 … kw − 1; complex, every p of every row.
 */
// @ts-ignore: decorator
@inline
function samplePU(s: i32, kh: i32, dh: i32, cplx: bool): i32 {
  return cplx ? s % dh : s < kh ? s : (s - kh) % dh;
}

/** Sample s's index along v. */
// @ts-ignore: decorator
@inline
function sampleQ(s: i32, kh: i32, dh: i32, cplx: bool): i32 {
  return cplx ? s / dh : s < kh ? 0 : 1 + (s - kh) / dh;
}

/**
 * Two rows of R_d[·, j] at byte offset `at` for every d (matrices `rstride`
 * bytes apart from rg): Σ_s the samples' entries times their weights, five
 * d at a time; `im`: the imaginary part, Σ_s (Im B_s·c − Re B_s·e).
 */
// @ts-ignore: decorator
@inline
function idftPair(gs: usize, nn: usize, ns: i32, offsets: i32, wts: usize, rg: usize, rstride: usize, at: usize,
  im: bool): void {
  let d = 0;
  for (; d + 5 <= offsets; d += 5) {
    let a0 = f64x2.splat(0.0), a1 = f64x2.splat(0.0), a2 = f64x2.splat(0.0), a3 = f64x2.splat(0.0),
      a4 = f64x2.splat(0.0);
    const step = <usize>ns << 5;
    for (let sIdx = 0; sIdx < ns; sIdx++) {
      const br = gs + <usize>sIdx * nn * 16;
      const re = v128.load(br + at);
      const ie = v128.load(br + nn * 8 + at);
      // Real part: Re B·c + Im B·e; imaginary part: Im B·c − Re B·e.
      const gr = im ? ie : re;
      const gi = im ? f64x2.neg(re) : ie;
      const w0 = wts + (<usize>(d * ns + sIdx) << 5);
      a0 = madd<f64>(gr, v128.load(w0), madd<f64>(gi, v128.load(w0 + 16), a0));
      a1 = madd<f64>(gr, v128.load(w0 + step), madd<f64>(gi, v128.load(w0 + step + 16), a1));
      a2 = madd<f64>(gr, v128.load(w0 + 2 * step), madd<f64>(gi, v128.load(w0 + 2 * step + 16), a2));
      a3 = madd<f64>(gr, v128.load(w0 + 3 * step), madd<f64>(gi, v128.load(w0 + 3 * step + 16), a3));
      a4 = madd<f64>(gr, v128.load(w0 + 4 * step), madd<f64>(gi, v128.load(w0 + 4 * step + 16), a4));
    }
    v128.store(rg + <usize>d * rstride + at, a0);
    v128.store(rg + <usize>(d + 1) * rstride + at, a1);
    v128.store(rg + <usize>(d + 2) * rstride + at, a2);
    v128.store(rg + <usize>(d + 3) * rstride + at, a3);
    v128.store(rg + <usize>(d + 4) * rstride + at, a4);
  }
  for (; d < offsets; d++) {
    let acc = f64x2.splat(0.0);
    for (let sIdx = 0; sIdx < ns; sIdx++) {
      const br = gs + <usize>sIdx * nn * 16;
      const re = v128.load(br + at);
      const ie = v128.load(br + nn * 8 + at);
      const gr = im ? ie : re;
      const gi = im ? f64x2.neg(re) : ie;
      const w0 = wts + (<usize>(d * ns + sIdx) << 5);
      acc = madd<f64>(gr, v128.load(w0), madd<f64>(gi, v128.load(w0 + 16), acc));
    }
    v128.store(rg + <usize>d * rstride + at, acc);
  }
}

/** (v·d) mod w in 0 … w − 1 for any sign of d. */
// @ts-ignore: decorator
@inline
function modIndex(v: i32, d: i32, w: i32): i32 {
  const x = <i32>((<i64>v * <i64>d) % <i64>w);
  return x < 0 ? x + w : x;
}

/**
 * gram_column_f64: column v's S_{d_a}(v) = Σ_{d_b} R_{(d_a, d_b)}·exp(+2πi·v·d_b/w)
 * for every group and d_a, in the lower triangle (i ≥ j rounded down to
 * even), and their traces.
 *   cplx [in]  1 when R is complex (gram_taps_f64 of a complex kernel)
 *   s [out] gram_column_bytes(n, kh, kw, groups): group g, d_a: re at
 *           ((g·(2kh − 1) + d_a + kh − 1)·2)·n², im n² further, column-major;
 *           then the traces, (re, im) per (g, d_a), then the twiddles along w
 * Returns 0.
 */
export function gram_column_f64(r: usize, n: i32, kh: i32, kw: i32, w: i32, v: i32, groups: i32, cplx: i32,
  s: usize): i32 {
  const planes: usize = cplx != 0 ? 2 : 1;
  const dw = 2 * kw - 1;
  const dh = 2 * kh - 1;
  const nn = <usize>n * <usize>n;
  const sb = align16(s);
  const traces = sb + <usize>groups * <usize>dh * nn * 16;
  const tw = traces + (<usize>(groups * dh) << 4);
  for (let ib = 0; ib < dw; ib++) {
    const ang = TWO_PI * <f64>modIndex(v, ib - kw + 1, w) / <f64>w;
    store<f64>(tw + (<usize>ib << 4), Math.cos(ang));
    store<f64>(tw + (<usize>ib << 4) + 8, Math.sin(ang));
  }
  for (let g = 0; g < groups; g++) {
    for (let ia = 0; ia < dh; ia++) {
      const sr = sb + <usize>(g * dh + ia) * nn * 16;
      const si = sr + nn * 8;
      const rBase = r + <usize>((g * dh + ia) * dw) * planes * nn * 8;
      const rs = planes * nn * 8;
      let tr: f64 = 0.0;
      let ti: f64 = 0.0;
      for (let j = 0; j < n; j++) {
        const col = <usize>j * <usize>n << 3;
        let i = j & ~1;
        for (; i + 1 < n; i += 2) {
          let ar = f64x2.splat(0.0);
          let ai = f64x2.splat(0.0);
          for (let ib = 0; ib < dw; ib++) {
            const x = v128.load(rBase + <usize>ib * rs + col + (<usize>i << 3));
            const c = v128.load64_splat(tw + (<usize>ib << 4));
            const e = v128.load64_splat(tw + (<usize>ib << 4) + 8);
            ar = madd<f64>(x, c, ar);
            ai = madd<f64>(x, e, ai);
            if (cplx != 0) {
              // (x + i·y)(c + i·e): y's part −y·e + i·y·c
              const y = v128.load(rBase + <usize>ib * rs + nn * 8 + col + (<usize>i << 3));
              ar = nmadd<f64>(y, e, ar);
              ai = madd<f64>(y, c, ai);
            }
          }
          v128.store(sr + col + (<usize>i << 3), ar);
          v128.store(si + col + (<usize>i << 3), ai);
        }
        if (i < n) {
          let ar: f64 = 0.0;
          let ai: f64 = 0.0;
          for (let ib = 0; ib < dw; ib++) {
            const x = load<f64>(rBase + <usize>ib * rs + col + (<usize>i << 3));
            const y = cplx != 0 ? load<f64>(rBase + <usize>ib * rs + nn * 8 + col + (<usize>i << 3)) : 0.0;
            const c = load<f64>(tw + (<usize>ib << 4));
            const e = load<f64>(tw + (<usize>ib << 4) + 8);
            ar += x * c - y * e;
            ai += x * e + y * c;
          }
          store<f64>(sr + col + (<usize>i << 3), ar);
          store<f64>(si + col + (<usize>i << 3), ai);
        }
        tr += load<f64>(sr + col + (<usize>j << 3));
        ti += load<f64>(si + col + (<usize>j << 3));
      }
      store<f64>(traces + (<usize>(g * dh + ia) << 4), tr);
      store<f64>(traces + (<usize>(g * dh + ia) << 4) + 8, ti);
    }
  }
  return 0;
}

/**
 * work's twiddles of one u (after the matrix, the four vectors and the
 * tridiagonal): exp(+2πi·u·d_a/h) as (cos, sin), each lane-splat, per d_a.
 */
// @ts-ignore: decorator
@inline
function uTwiddles(work: usize, n: i32, tab: usize, h: i32, kh: i32, u: i32): usize {
  const tw = align16(work) + ((<usize>2 * <usize>n * <usize>n + 8 * <usize>n + 2 * MAX_STEPS) << 3);
  for (let ia = 0; ia < 2 * kh - 1; ia++) {
    const q = modIndex(u, ia - kh + 1, h);
    v128.store(tw + (<usize>ia << 5), v128.load64_splat(tab + (<usize>q << 4)));
    v128.store(tw + (<usize>ia << 5) + 16, v128.load64_splat(tab + (<usize>q << 4) + 8));
  }
  return tw;
}

/** gram_table_f64: tab[q] = (cos, sin)(2π·q/h) for q < h (f64[2h]), the table of gram_screen_f64 and gram_estimates_f64. Returns 0. */
export function gram_table_f64(h: i32, tab: usize): i32 {
  for (let q = 0; q < h; q++) {
    const ang = TWO_PI * <f64>q / <f64>h;
    store<f64>(tab + (<usize>q << 4), Math.cos(ang));
    store<f64>(tab + (<usize>q << 4) + 8, Math.sin(ang));
  }
  return 0;
}

/**
 * B = c·I − G_g(u, v) in B's lower triangle (column j holds rows i ≥ j at
 * j·n + i; the rows from j rounded down to even are written), G from
 * column v's S: G[i, j] = Σ_{d_a} S_{d_a}[i, j]·exp(+2πi·u·d_a/h).
 */
function assemble(s: usize, g: i32, n: i32, kh: i32, tw: usize, c: f64, br: usize, bi: usize): void {
  const dh = 2 * kh - 1;
  const nn = <usize>n * <usize>n;
  const base = align16(s) + <usize>(g * dh) * nn * 16;
  if (dh == 5) {
    assemble5(base, n, tw, c, br, bi);
    return;
  }
  for (let j = 0; j < n; j++) {
    const col = <usize>j * <usize>n << 3;
    let i = j & ~1;
    for (; i + 1 < n; i += 2) {
      const at = col + (<usize>i << 3);
      let gr = f64x2.splat(0.0);
      let gi = f64x2.splat(0.0);
      for (let ia = 0; ia < dh; ia++) {
        const cr = v128.load(tw + (<usize>ia << 5));
        const ci = v128.load(tw + (<usize>ia << 5) + 16);
        const sr = v128.load(base + <usize>ia * nn * 16 + at);
        const si = v128.load(base + <usize>ia * nn * 16 + nn * 8 + at);
        gr = madd<f64>(sr, cr, nmadd<f64>(si, ci, gr));
        gi = madd<f64>(sr, ci, madd<f64>(si, cr, gi));
      }
      v128.store(br + at, f64x2.neg(gr));
      v128.store(bi + at, f64x2.neg(gi));
    }
    if (i < n) {
      const at = col + (<usize>i << 3);
      let gr: f64 = 0.0;
      let gi: f64 = 0.0;
      for (let ia = 0; ia < dh; ia++) {
        const cr = load<f64>(tw + (<usize>ia << 5));
        const ci = load<f64>(tw + (<usize>ia << 5) + 16);
        const sr = load<f64>(base + <usize>ia * nn * 16 + at);
        const si = load<f64>(base + <usize>ia * nn * 16 + nn * 8 + at);
        gr += sr * cr - si * ci;
        gi += sr * ci + si * cr;
      }
      store<f64>(br + at, -gr);
      store<f64>(bi + at, -gi);
    }
    const d = col + (<usize>j << 3);
    store<f64>(br + d, c + load<f64>(br + d));
    store<f64>(bi + d, 0.0);
  }
}

/** G += S·t for one offset's S (re at p, im at p + im) and twiddle t = (cr, ci) at byte offset `at`. */
// @ts-ignore: decorator
@inline
function term(p: usize, im: usize, at: usize, cr: v128, ci: v128, g: v128, re: bool): v128 {
  const sr = v128.load(p + at);
  const si = v128.load(p + im + at);
  return re ? madd<f64>(sr, cr, nmadd<f64>(si, ci, g)) : madd<f64>(sr, ci, madd<f64>(si, cr, g));
}

/**
 * assemble for kh = 3 (five offsets along u): the twiddles held in locals
 * across the whole matrix, the same operations in the same order as the
 * general loop (the same bits).
 */
function assemble5(base: usize, n: i32, tw: usize, c: f64, br: usize, bi: usize): void {
  const nn = <usize>n * <usize>n;
  const im = nn * 8;
  const stride = nn * 16;
  const c0 = v128.load(tw), s0 = v128.load(tw + 16);
  const c1 = v128.load(tw + 32), s1 = v128.load(tw + 48);
  const c2 = v128.load(tw + 64), s2 = v128.load(tw + 80);
  const c3 = v128.load(tw + 96), s3 = v128.load(tw + 112);
  const c4 = v128.load(tw + 128), s4 = v128.load(tw + 144);
  const p1 = base + stride, p2 = p1 + stride, p3 = p2 + stride, p4 = p3 + stride;
  for (let j = 0; j < n; j++) {
    const col = <usize>j * <usize>n << 3;
    let i = j & ~1;
    for (; i + 1 < n; i += 2) {
      const at = col + (<usize>i << 3);
      let gr = f64x2.splat(0.0);
      let gi = f64x2.splat(0.0);
      gr = term(base, im, at, c0, s0, gr, true);
      gi = term(base, im, at, c0, s0, gi, false);
      gr = term(p1, im, at, c1, s1, gr, true);
      gi = term(p1, im, at, c1, s1, gi, false);
      gr = term(p2, im, at, c2, s2, gr, true);
      gi = term(p2, im, at, c2, s2, gi, false);
      gr = term(p3, im, at, c3, s3, gr, true);
      gi = term(p3, im, at, c3, s3, gi, false);
      gr = term(p4, im, at, c4, s4, gr, true);
      gi = term(p4, im, at, c4, s4, gi, false);
      v128.store(br + at, f64x2.neg(gr));
      v128.store(bi + at, f64x2.neg(gi));
    }
    if (i < n) {
      const at = col + (<usize>i << 3);
      let gr: f64 = 0.0;
      let gi: f64 = 0.0;
      for (let ia = 0; ia < 5; ia++) {
        const cr = load<f64>(tw + (<usize>ia << 5));
        const ci = load<f64>(tw + (<usize>ia << 5) + 16);
        const sr = load<f64>(base + <usize>ia * stride + at);
        const si = load<f64>(base + <usize>ia * stride + im + at);
        gr += sr * cr - si * ci;
        gi += sr * ci + si * cr;
      }
      store<f64>(br + at, -gr);
      store<f64>(bi + at, -gi);
    }
    const d = col + (<usize>j << 3);
    store<f64>(br + d, c + load<f64>(br + d));
    store<f64>(bi + d, 0.0);
  }
}

/** Σ_j B[j, j] of an n × n column-major real plane. */
function diagonalSum(b: usize, n: i32): f64 {
  let t: f64 = 0.0;
  for (let j = 0; j < n; j++) t += load<f64>(b + (<usize>(j * n + j) << 3));
  return t;
}

/**
 * ‖B‖_F² of a Hermitian B held in its lower triangle (column j holds rows
 * i ≥ j at j·n + i, re/im split): the diagonal's squares and twice the
 * strictly lower part's, as computed (for nonnegative terms the relative
 * error is within γ_{n²+2}).
 */
function frobenius2(br: usize, bi: usize, n: i32): f64 {
  let d: f64 = 0.0;
  let off: f64 = 0.0;
  for (let j = 0; j < n; j++) {
    const col = <usize>j * <usize>n << 3;
    const at = col + (<usize>j << 3);
    d += load<f64>(br + at) * load<f64>(br + at) + load<f64>(bi + at) * load<f64>(bi + at);
    for (let i = j + 1; i < n; i++) {
      const x = col + (<usize>i << 3);
      off += load<f64>(br + x) * load<f64>(br + x) + load<f64>(bi + x) * load<f64>(bi + x);
    }
  }
  return d + 2.0 * off;
}

/**
 * Whether λ_max(G) < s² follows from ‖G‖_F ≥ λ_max(G) (G ⪰ 0), given f, the
 * computed ‖Ĝ‖_F² (frobenius2): ‖G‖_F ≤ ‖Ĝ‖_F + ‖Ĝ − G‖_F, and ‖Ĝ − G‖_F ≤
 * γ_N·‖MᵀM‖_F ≤ γ_N·μ_g (gram_screen_f64's entrywise bound), covered twice
 * over as in the trace test; f's own rounding (γ_{n²+2}) and the root's
 * twice over as well.
 */
// @ts-ignore: decorator
@inline
function frobeniusBelow(f: f64, n: i32, big: f64, mug: f64, s2: f64): bool {
  return Math.sqrt(f) * (1.0 + 2.0 * (<f64>n * <f64>n + 8.0) * EPS) + 4.0 * big * EPS * mug < s2 * (1.0 - 4.0 * EPS);
}

/**
 * Bytes of gram_frob_coeffs_f64's output: per group the (4kh − 3)(4kw − 3)
 * coefficients of ‖G‖_F², then per group the 4kh − 3 of one column's fold
 * (gram_frob_column_f64), complex; −1 past 2³¹.
 */
export function gram_frob_bytes(kh: i32, kw: i32, groups: i32): i32 {
  const b = <i64>groups * <i64>(4 * kh - 3) * <i64>(4 * kw - 2) * 16;
  return b > 0x7fffffff ? -1 : <i32>b;
}

/** Entries of R_d per block of gram_frob_coeffs_f64 (every R_d's block stays in cache across the pairs). */
const FROB_BLOCK: i32 = 256;

/**
 * gram_frob_coeffs_f64: ‖G_g(u, v)‖_F² as a trigonometric polynomial of
 * (4kh − 3)(4kw − 3) coefficients per group. With G = Σ_d R_d·exp(+i·d·ω),
 *   ‖G(ω)‖_F² = Σ_{i, j} |G[i, j]|² = Σ_e C_e·exp(+i·e·ω),
 *   C_e = Σ_{d − d' = e} ⟨R_d, R_{d'}⟩,  ⟨X, Y⟩ = Σ_{i, j} X[i, j]·conj(Y[i, j]),
 * over e = d − d' in [−2(kh − 1), 2(kh − 1)] × [−2(kw − 1), 2(kw − 1)];
 * C_{−e} = conj(C_e), so the half with e_b > 0, or e_b = 0 and e_a ≥ 0, is
 * summed and the rest mirrored. The entries go in blocks of FROB_BLOCK, each
 * block's pairs summed in two lanes and added to C_e: C_e is a sum of at most
 * 2D·n² products (D offsets, complex R) in some order, within γ_{2D·n²} of
 * their absolute values' sum (see frobPolyBelow).
 *   r    [in]  gram_taps_f64's R (cplx: complex planes); its upper triangles
 *              are filled first (gram_upper_f64)
 *   fc   [out] gram_frob_bytes(kh, kw, groups): group g's C_e, (re, im), at
 *              ((g·(4kh − 3) + e_a + 2kh − 2)·(4kw − 3) + e_b + 2kw − 2)·16
 * Returns 0.
 */
export function gram_frob_coeffs_f64(r: usize, n: i32, kh: i32, kw: i32, groups: i32, cplx: i32, fc: usize): i32 {
  gram_upper_f64(r, n, kh, kw, groups, cplx);
  const dh = 2 * kh - 1;
  const dw = 2 * kw - 1;
  const eh = 4 * kh - 3;
  const ew = 4 * kw - 3;
  const nn = n * n;
  const plane = <usize>nn << 3;
  const mat = cplx != 0 ? plane * 2 : plane;
  for (let g = 0; g < groups; g++) {
    const c = fc + <usize>(g * eh * ew) * 16;
    memory.fill(c, 0, <usize>(eh * ew) * 16);
    const rg = r + <usize>(g * dh * dw) * mat;
    for (let b0 = 0; b0 < nn; b0 += FROB_BLOCK) {
      const len = min<i32>(FROB_BLOCK, nn - b0);
      const off = <usize>b0 << 3;
      for (let ea = -(dh - 1); ea <= dh - 1; ea++) {
        for (let eb = 0; eb <= dw - 1; eb++) {
          if (eb == 0 && ea < 0) continue;
          let sr: f64 = 0.0;
          let si: f64 = 0.0;
          // Pairs d = d' + e with both offsets inside the (2kh − 1) × (2kw − 1) range.
          for (let pa = max<i32>(0, -ea); pa < min<i32>(dh, dh - ea); pa++) {
            for (let pb = 0; pb < dw - eb; pb++) {
              const y = rg + <usize>(pa * dw + pb) * mat + off;
              const x = rg + <usize>((pa + ea) * dw + pb + eb) * mat + off;
              if (cplx != 0) {
                const d = dotConj(x, x + plane, y, y + plane, len);
                sr += f64x2.extract_lane(d, 0);
                si += f64x2.extract_lane(d, 1);
              } else {
                sr += dotReal(x, y, len);
              }
            }
          }
          const at = c + <usize>((ea + dh - 1) * ew + eb + dw - 1) * 16;
          store<f64>(at, load<f64>(at) + sr);
          store<f64>(at + 8, load<f64>(at + 8) + si);
        }
      }
    }
    // C_{−e} = conj(C_e).
    for (let ea = -(dh - 1); ea <= dh - 1; ea++) {
      for (let eb = 0; eb <= dw - 1; eb++) {
        if (eb == 0 && ea <= 0) continue;
        const from = c + <usize>((ea + dh - 1) * ew + eb + dw - 1) * 16;
        const to = c + <usize>((dh - 1 - ea) * ew + dw - 1 - eb) * 16;
        store<f64>(to, load<f64>(from));
        store<f64>(to + 8, -load<f64>(from + 8));
      }
    }
  }
  return 0;
}

/** Σ x·y over len f64 (two lanes, then their sum). */
function dotReal(x: usize, y: usize, len: i32): f64 {
  let acc = f64x2.splat(0.0);
  let o: usize = 0;
  const end = <usize>(len & ~1) << 3;
  for (; o < end; o += 16) acc = madd<f64>(v128.load(x + o), v128.load(y + o), acc);
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  if (len & 1) s += load<f64>(x + end) * load<f64>(y + end);
  return s;
}

/** Σ x·conj(y) over len complex entries (re/im planes): (re, im) in the two lanes. */
function dotConj(xr: usize, xi: usize, yr: usize, yi: usize, len: i32): v128 {
  let ar = f64x2.splat(0.0);
  let ai = f64x2.splat(0.0);
  let o: usize = 0;
  const end = <usize>(len & ~1) << 3;
  for (; o < end; o += 16) {
    const a = v128.load(xr + o), b = v128.load(xi + o);
    const c = v128.load(yr + o), d = v128.load(yi + o);
    ar = madd<f64>(a, c, madd<f64>(b, d, ar));
    ai = madd<f64>(b, c, nmadd<f64>(a, d, ai));
  }
  let sr = f64x2.extract_lane(ar, 0) + f64x2.extract_lane(ar, 1);
  let si = f64x2.extract_lane(ai, 0) + f64x2.extract_lane(ai, 1);
  if (len & 1) {
    const a = load<f64>(xr + end), b = load<f64>(xi + end);
    const c = load<f64>(yr + end), d = load<f64>(yi + end);
    sr += a * c + b * d;
    si += b * c - a * d;
  }
  return f64x2.replace_lane(f64x2.splat(sr), 1, si);
}

/**
 * gram_frob_column_f64: column v's fold of gram_frob_coeffs_f64's
 * coefficients, P_{e_a}(v) = Σ_{e_b} C_{(e_a, e_b)}·exp(+2πi·v·e_b/w), so
 * that ‖G_g(u, v)‖_F² = Re Σ_{e_a} P_{e_a}(v)·exp(+2πi·u·e_a/h). Returns
 * the fold's address (inside fc's bytes: group g's P_{e_a} at
 * ((g·(4kh − 3) + e_a + 2kh − 2)·16), for gram_screen_f64 and
 * gram_estimates_f64.
 */
export function gram_frob_column_f64(fc: usize, kh: i32, kw: i32, groups: i32, w: i32, v: i32): usize {
  const eh = 4 * kh - 3;
  const ew = 4 * kw - 3;
  const pc = fc + <usize>(groups * eh * ew) * 16;
  const rows = groups * eh;
  memory.fill(pc, 0, <usize>rows * 16);
  // One twiddle per e_b, added to every row's sum in the order of e_b.
  for (let ib = 0; ib < ew; ib++) {
    const ang = TWO_PI * <f64>modIndex(v, ib - 2 * kw + 2, w) / <f64>w;
    const cr = Math.cos(ang);
    const ci = Math.sin(ang);
    for (let row = 0; row < rows; row++) {
      const x = fc + <usize>(row * ew + ib) * 16;
      const p = pc + <usize>row * 16;
      const xr = load<f64>(x);
      const xi = load<f64>(x + 8);
      store<f64>(p, load<f64>(p) + (xr * cr - xi * ci));
      store<f64>(p + 8, load<f64>(p + 8) + (xr * ci + xi * cr));
    }
  }
  return pc;
}

/**
 * ‖G̃_g(u, v)‖_F², computed, from column v's fold at pc: G̃ = Σ_d R̂_d·exp(+i·d·ω),
 * the polynomial of the computed R̂_d summed exactly (not Ĝ, the assembled one).
 */
function frobPoly(pc: usize, g: i32, kh: i32, h: i32, u: i32, tab: usize): f64 {
  const eh = 4 * kh - 3;
  const p = pc + <usize>(g * eh) * 16;
  let f: f64 = 0.0;
  for (let ia = 0; ia < eh; ia++) {
    const q = modIndex(u, ia - 2 * kh + 2, h);
    f += load<f64>(p + (<usize>ia << 4)) * load<f64>(tab + (<usize>q << 4)) -
      load<f64>(p + (<usize>ia << 4) + 8) * load<f64>(tab + (<usize>q << 4) + 8);
  }
  return f;
}

/**
 * Whether λ_max(G) < s² follows from ‖G‖_F ≥ λ_max(G), given f = frobPoly's
 * ‖G̃‖_F². ‖G‖_F ≤ ‖G̃‖_F + ‖G̃ − G‖_F, and G̃ − G = Σ_d (R̂_d − R_d)·exp(+i·d·ω)
 * is within D·γ_{m+2T+2D+90}·MᵀM ≤ γ_N·MᵀM entrywise (gram_screen_f64's
 * bound without the assembly's rounding), so ‖G̃ − G‖_F ≤ γ_N·μ_g. f is within
 * (γ_K + γ_E)·Σ_e |C_e| of ‖G̃‖_F², with K = 2D·n² (each C_e's products), E =
 * 4·(4kh − 3)(4kw − 3) + 200 (the folds' sums and their twiddles, each within
 * ~15ε), and Σ_e |C_e| ≤ Σ_{i, j} (Σ_d |R̂_d[i, j]|)² ≤ ‖MᵀM‖_F²·(1 + γ_N)² ≤
 * μ_g²·(1 + γ_N)². Each of the two covered twice over, and the root's rounding.
 */
function frobPolyBelow(f: f64, n: i32, kh: i32, kw: i32, big: f64, mug: f64, s2: f64): bool {
  const d = <f64>((2 * kh - 1) * (2 * kw - 1));
  const k = 2.0 * d * <f64>n * <f64>n;
  const e = 4.0 * <f64>((4 * kh - 3) * (4 * kw - 3)) + 200.0;
  const x = max<f64>(f, 0.0) + 4.0 * (k + e) * EPS * mug * mug;
  return Math.sqrt(x) * (1.0 + 4.0 * EPS) + 4.0 * big * EPS * mug < s2 * (1.0 - 4.0 * EPS);
}

/** Whether some B[j, j] ≤ x (B an n × n column-major real plane). */
function diagonalBelow(b: usize, n: i32, x: f64): bool {
  for (let j = 0; j < n; j++) if (load<f64>(b + (<usize>(j * n + j) << 3)) <= x) return true;
  return false;
}

/** Whether some G_g(u, v)[j, j] computed from column v's S is ≥ s2. */
function diagonalReaches(s: usize, g: i32, n: i32, kh: i32, tw: usize, s2: f64): bool {
  const dh = 2 * kh - 1;
  const nn = <usize>n * <usize>n;
  const base = align16(s) + <usize>(g * dh) * nn * 16;
  for (let j = 0; j < n; j++) {
    const at = (<usize>j * <usize>n + <usize>j) << 3;
    let t: f64 = 0.0;
    for (let ia = 0; ia < dh; ia++) {
      const p = base + <usize>ia * nn * 16;
      t += load<f64>(p + at) * load<f64>(tw + (<usize>ia << 5)) - load<f64>(p + nn * 8 + at) * load<f64>(tw + (<usize>ia << 5) + 16);
    }
    if (t >= s2) return true;
  }
  return false;
}

/** tr G_g(u, v) from column v's traces (the real part: G is Hermitian). */
// @ts-ignore: decorator
@inline
function traceAt(s: usize, g: i32, n: i32, kh: i32, groups: i32, tw: usize): f64 {
  const dh = 2 * kh - 1;
  const traces = align16(s) + <usize>groups * <usize>dh * <usize>n * <usize>n * 16 + (<usize>(g * dh) << 4);
  let t: f64 = 0.0;
  for (let ia = 0; ia < dh; ia++) {
    t += load<f64>(traces + (<usize>ia << 4)) * load<f64>(tw + (<usize>ia << 5)) -
      load<f64>(traces + (<usize>ia << 4) + 8) * load<f64>(tw + (<usize>ia << 5) + 16);
  }
  return t;
}

/**
 * gram_screen_f64: for u = u0 … u0 + nu − 1 of column v (S from
 * gram_column_f64), flags[u − u0] = 1 when σ_max(A_g(u, v)) < s for every
 * group g (certified), else 0 (or 2, see `column`); returns the number not 1.
 *
 * The rounding bound, with M = Σ_t |A_t| entrywise (|A(ω)| ≤ M, |R_d| ≤
 * Σ_{t'−t=d} |A_t|ᵀ|A_{t'}|, Σ_d |R_d| ≤ MᵀM), T = kh·kw taps and D offsets:
 * a sample A(ω_s) is within γ_{T+26}·M (its twiddles' angles are below 4π),
 * its product within γ_{m+2T+60}·MᵀM, each R_d (an average of D samples'
 * weighted entries) within γ_{m+2T+2D+90}·MᵀM, and G(u, v), a sum over the D
 * offsets, within D·γ_{m+2T+2D+120}·MᵀM. So every entry of Ĝ is within
 * γ_N·(MᵀM)[i, j] of G's with N = D·(m + 6D + 160) ≥ that (T ≤ D; a complex
 * kernel's samples, twice the terms of a real one's, within γ_{2T+30}·M). On
 * the real nodes (nodeLeft) a sample's L and R are sums with exact weights,
 * |L|ᵀ|R| ≤ 4^{[3 taps along a]}·4^{[along b]}·MᵀM at z = −2 or −1/2 along an
 * axis (1 at 1, 0, ∞), and R_d, Σ_e W_a[d_a][e_a]·W_b[d_b][e_b]·Ĝ(z_e) with
 * weights within γ_3, is within F_a(d_a)·F_b(d_b)·γ_{m+2T+2D+90}·MᵀM, F(d) =
 * Σ_e |W[d][e]|·max|ℓ_e·r_e|; Σ_d F_a·F_b = nodeScale(kh)·nodeScale(kw)
 * takes D's place (328 for 3×3 taps against D = 25; roundingTerms uses the
 * larger of the two wherever kh, kw ≤ 3, whichever way the R_d were formed), and
 * ‖Ĝ − G‖₂ ≤ γ_N·‖M‖_F² = γ_N·μ_g; the trace, n more terms, within
 * 2γ_N·μ_g (summed from column v's traces, or from a kept Ĝ's diagonal,
 * whose entries are within γ_N·(MᵀM)[j, j] each). Certified when
 *   - tr Ĝ + 4N·ε·μ_g < s²(1 − 4ε) (σ_max² ≤ tr G), or
 *   - ‖Ĝ‖_F, with its rounding, + 4N·ε·μ_g < s²(1 − 4ε) (σ_max² ≤ ‖G‖_F,
 *     and ‖Ĝ − G‖_F ≤ γ_N·‖MᵀM‖_F ≤ γ_N·μ_g: frobeniusBelow; or ‖G̃‖_F
 *     from the polynomial of the R̂_d: frobPolyBelow), or
 *   - the Cholesky factorisation of s²(1 − η)·I − Ĝ completes, with
 *     η = 8ε·((n + 1)·n + 2N·μ_g/s²): norm_below_f64's argument with
 *     ‖Ĝ − G‖ in place of the product's rounding, covered twice over.
 * A diagonal entry of Ĝ at s² or above (a column's squared norm, ≤ σ_max²)
 * leaves the frequency open at once, without the factorisation (an open
 * verdict is always safe: the frequency is then factorised); so does, for one
 * group, an estimate e from gram_estimates_f64 with e² ≥ s²(1 − η) (e is below
 * σ_max but for rounding). Otherwise s²(1 − η) − e² bounds λ_min from above,
 * and it decides whether, and with what shift, the factorisation is tried in
 * f32 first (see definiteBy in norm.ts): where it cannot leave the f32
 * step's least margin, only the f64 one runs.
 *   mu   [in] f64[groups] from gram_taps_f64
 *   s2   [in] s², > 0
 *   tab  [in] gram_table_f64(h)
 *   cache, held [in] gram_estimates_f64's cache of the column, or 0; where
 *             it holds every group's Ĝ of a frequency, the tests read that
 *             and not S (S need not be column v's when it holds all of them)
 *   est  [in] f64[nu]: gram_estimates_f64's estimates of u0 … u0 + nu − 1
 *             (0 where it passed a group over), or 0 for none
 *   pc   [in] column v's fold of ‖G‖_F²'s polynomial (gram_frob_column_f64),
 *             or 0: then the Frobenius test reads the assembled Ĝ. With it
 *             the test runs before any assembly (frobPolyBelow), and a group
 *             the estimates passed over by it (held 2) takes it first
 *   column [in] 1 when S is column v's; 0 when it may not be (every group
 *             held): a group held 2 that needs more than the polynomial's
 *             test then leaves its frequency's flag at 2 (open, and S wanted)
 *   work [in] gram_work_bytes(n, kh) bytes
 */
export function gram_screen_f64(s: usize, m: i32, n: i32, kh: i32, kw: i32, h: i32, u0: i32, nu: i32, groups: i32,
  mu: usize, s2: f64, tab: usize, cache: usize, held: usize, est: usize, pc: usize, column: i32, flags: usize,
  work: usize): i32 {
  const br = align16(work);
  const nb = <usize>n * <usize>n << 3;
  const bi = br + nb;
  const big = roundingTerms(m, kh, kw);
  let open = 0;
  for (let u = u0; u < u0 + nu; u++) {
    const tw = uTwiddles(work, n, tab, h, kh, u);
    let ok = true;
    let needs = false;
    for (let g = 0; g < groups && ok; g++) {
      const mug = load<f64>(mu + (<usize>g << 3));
      const slot = <usize>(u * groups + g);
      const state = cache != 0 ? load<u8>(held + slot) : 0;
      // Passed over by the estimates on ‖G̃‖_F (nothing kept): that test, else the others on column v's S.
      if (state == 2) {
        if (pc != 0 && frobPolyBelow(frobPoly(pc, g, kh, h, u, tab), n, kh, kw, big, mug, s2)) continue;
        if (column == 0) {
          ok = false;
          needs = true;
          break;
        }
      }
      // −G, where the cache holds it (then S need not be column v's).
      const kept = state == 1 ? cache + slot * nb * 2 : 0;
      const trace = kept != 0 ? -diagonalSum(kept, n) : traceAt(s, g, n, kh, groups, tw);
      if (trace + 4.0 * big * EPS * mug < s2 * (1.0 - 4.0 * EPS)) continue;
      // A diagonal entry (a column's ‖·‖², ≤ σ_max²) at s² or above: not below, without a factorisation.
      if (kept != 0 ? diagonalBelow(kept, n, -s2) : diagonalReaches(s, g, n, kh, tw, s2)) {
        ok = false;
        break;
      }
      const eta = 8.0 * EPS * (<f64>(n + 1) * <f64>n + 2.0 * big * mug / s2);
      const c = s2 * (1.0 - eta);
      // λ_min(c·I − G) ≤ c − e² (one group: the estimate is its own).
      const e = est != 0 && groups == 1 ? load<f64>(est + (<usize>(u - u0) << 3)) : 0.0;
      const room = e > 0.0 ? c - e * e : Infinity;
      if (!(c > 0.0) || !(room > 0.0)) {
        ok = false;
        break;
      }
      // ‖G‖_F ≥ tr G/√n: where that reaches s² the Frobenius test cannot pass (a flat spectrum), and is not run.
      // With the polynomial of ‖G̃‖_F² (pc), it runs before any matrix is assembled, and in place of ‖Ĝ‖_F's.
      const frob = trace < s2 * Math.sqrt(<f64>n);
      if (frob && pc != 0 && state != 2 && frobPolyBelow(frobPoly(pc, g, kh, h, u, tab), n, kh, kw, big, mug, s2)) {
        continue;
      }
      // −G (as gram_estimates_f64 assembled it, where kept: the same values); then the Frobenius test, and
      // c added on the diagonal for the factorisation (assemble's own order: the same bits as assembling c·I − G).
      if (kept != 0) {
        memory.copy(br, kept, nb);
        memory.copy(bi, kept + nb, nb);
      } else {
        assemble(s, g, n, kh, tw, 0.0, br, bi);
      }
      if (frob && pc == 0 && frobeniusBelow(frobenius2(br, bi, n), n, big, mug, s2)) continue;
      for (let j = 0; j < n; j++) {
        const d = br + (<usize>(j * n + j) << 3);
        store<f64>(d, c + load<f64>(d));
      }
      ok = positiveDefinite(br, bi, n, align16(tw + (<usize>(2 * kh - 1) << 5)), room);
    }
    store<u8>(flags + <usize>(u - u0), ok ? 1 : needs ? 2 : 0);
    if (!ok) open++;
  }
  return open;
}

/**
 * y = B·x for Hermitian B held in its lower triangle (column-major, re/im
 * split), two columns per pass over the rows (each y[i] read and written once
 * per pair of columns).
 */
function hermVec(br: usize, bi: usize, n: i32, xr: usize, xi: usize, yr: usize, yi: usize): void {
  memory.fill(yr, 0, <usize>n << 3);
  memory.fill(yi, 0, <usize>n << 3);
  let j = 0;
  for (; j + 1 < n; j += 2) {
    const c0 = <usize>j * <usize>n << 3;
    const c1 = c0 + (<usize>n << 3);
    const j0 = <usize>j << 3;
    const j1 = j0 + 8;
    const x0r = load<f64>(xr + j0), x0i = load<f64>(xi + j0);
    const x1r = load<f64>(xr + j1), x1i = load<f64>(xi + j1);
    // The diagonal block: B[j, j], B[j + 1, j + 1] real; B[j + 1, j] = br + i·bm.
    const d0 = load<f64>(br + c0 + j0), d1 = load<f64>(br + c1 + j1);
    const er = load<f64>(br + c0 + j1), em = load<f64>(bi + c0 + j1);
    let s0r = d0 * x0r + (er * x1r + em * x1i);
    let s0i = d0 * x0i + (er * x1i - em * x1r);
    let s1r = d1 * x1r + (er * x0r - em * x0i);
    let s1i = d1 * x1i + (er * x0i + em * x0r);
    const v0r = f64x2.splat(x0r), v0i = f64x2.splat(x0i);
    const v1r = f64x2.splat(x1r), v1i = f64x2.splat(x1i);
    let a0r = f64x2.splat(0.0), a0i = f64x2.splat(0.0);
    let a1r = f64x2.splat(0.0), a1i = f64x2.splat(0.0);
    let i = j + 2;
    for (; i + 1 < n; i += 2) {
      const ib = <usize>i << 3;
      const pr = v128.load(br + c0 + ib), pi = v128.load(bi + c0 + ib);
      const qr = v128.load(br + c1 + ib), qi = v128.load(bi + c1 + ib);
      // y[i] += B[i, j]·x[j] + B[i, j + 1]·x[j + 1]
      let yre = v128.load(yr + ib), yim = v128.load(yi + ib);
      yre = madd<f64>(pr, v0r, nmadd<f64>(pi, v0i, yre));
      yim = madd<f64>(pr, v0i, madd<f64>(pi, v0r, yim));
      v128.store(yr + ib, madd<f64>(qr, v1r, nmadd<f64>(qi, v1i, yre)));
      v128.store(yi + ib, madd<f64>(qr, v1i, madd<f64>(qi, v1r, yim)));
      // y[j] += conj(B[i, j])·x[i], y[j + 1] += conj(B[i, j + 1])·x[i]
      const xre = v128.load(xr + ib), xim = v128.load(xi + ib);
      a0r = madd<f64>(pr, xre, madd<f64>(pi, xim, a0r));
      a0i = madd<f64>(pr, xim, nmadd<f64>(pi, xre, a0i));
      a1r = madd<f64>(qr, xre, madd<f64>(qi, xim, a1r));
      a1i = madd<f64>(qr, xim, nmadd<f64>(qi, xre, a1i));
    }
    if (i < n) {
      hermEntry(br, bi, c0, i, x0r, x0i, xr, xi, yr, yi);
      hermEntry(br, bi, c1, i, x1r, x1i, xr, xi, yr, yi);
      const ib = <usize>i << 3;
      const cr = load<f64>(xr + ib), ci = load<f64>(xi + ib);
      s0r += load<f64>(br + c0 + ib) * cr + load<f64>(bi + c0 + ib) * ci;
      s0i += load<f64>(br + c0 + ib) * ci - load<f64>(bi + c0 + ib) * cr;
      s1r += load<f64>(br + c1 + ib) * cr + load<f64>(bi + c1 + ib) * ci;
      s1i += load<f64>(br + c1 + ib) * ci - load<f64>(bi + c1 + ib) * cr;
    }
    s0r += f64x2.extract_lane(a0r, 0) + f64x2.extract_lane(a0r, 1);
    s0i += f64x2.extract_lane(a0i, 0) + f64x2.extract_lane(a0i, 1);
    s1r += f64x2.extract_lane(a1r, 0) + f64x2.extract_lane(a1r, 1);
    s1i += f64x2.extract_lane(a1i, 0) + f64x2.extract_lane(a1i, 1);
    store<f64>(yr + j0, load<f64>(yr + j0) + s0r);
    store<f64>(yi + j0, load<f64>(yi + j0) + s0i);
    store<f64>(yr + j1, load<f64>(yr + j1) + s1r);
    store<f64>(yi + j1, load<f64>(yi + j1) + s1i);
  }
  // An odd n's last column: its diagonal only.
  if (j < n) {
    const jb = <usize>j << 3;
    const d = load<f64>(br + (<usize>j * <usize>n << 3) + jb);
    store<f64>(yr + jb, load<f64>(yr + jb) + d * load<f64>(xr + jb));
    store<f64>(yi + jb, load<f64>(yi + jb) + d * load<f64>(xi + jb));
  }
}

/** y[i] += B[i, j]·x[j] for one row i of column j (at byte offset col), x[j] = (cr, ci). */
// @ts-ignore: decorator
@inline
function hermEntry(br: usize, bi: usize, col: usize, i: i32, cr: f64, ci: f64, xr: usize, xi: usize, yr: usize,
  yi: usize): void {
  const at = col + (<usize>i << 3);
  const ib = <usize>i << 3;
  const pr = load<f64>(br + at);
  const pi = load<f64>(bi + at);
  store<f64>(yr + ib, load<f64>(yr + ib) + (pr * cr - pi * ci));
  store<f64>(yi + ib, load<f64>(yi + ib) + (pr * ci + pi * cr));
}

/** A fixed start component in [−1, 1) \ {0} (an integer hash of i): the start has no structure a layer shares. */
// @ts-ignore: decorator
@inline
function startComponent(i: i32): f64 {
  let x = <u32>i * 0x9E3779B9 + 0x7F4A7C15;
  x = (x ^ (x >> 16)) * 0x85EBCA6B;
  x = (x ^ (x >> 13)) * 0xC2B2AE35;
  x ^= x >> 16;
  return (<f64>x + 0.5) * 4.656612873077393e-10 - 1.0;
}

/**
 * The largest eigenvalue of the symmetric tridiagonal T (diagonal a[0..k−1],
 * off-diagonal b[0..k−2]), enough to order frequencies: Newton's steps on
 * det(T − x·I) from Gershgorin's upper end, which decrease monotonically to
 * it (every root lies to the left), the step from the pivots d_i of
 * T − x·I = L·D·Lᵀ and their derivatives (no determinant is formed, so
 * nothing overflows), until a step moves x by under 1e-9 of it.
 */
function tridiagMax(a: usize, b: usize, k: i32): f64 {
  if (k == 1) return load<f64>(a);
  if (k == 2) {
    const a0 = load<f64>(a);
    const a1 = load<f64>(a + 8);
    const half = 0.5 * (a0 - a1);
    return 0.5 * (a0 + a1) + Math.hypot(half, load<f64>(b));
  }
  let x: f64 = -Infinity;
  let scale: f64 = 0.0;
  for (let i = 0; i < k; i++) {
    const r = (i > 0 ? Math.abs(load<f64>(b + (<usize>(i - 1) << 3))) : 0.0) +
      (i + 1 < k ? Math.abs(load<f64>(b + (<usize>i << 3))) : 0.0);
    const d = load<f64>(a + (<usize>i << 3));
    x = max<f64>(x, d + r);
    scale = max<f64>(scale, Math.abs(d) + r);
  }
  const tiny = 1e-300 + 1e-30 * scale;
  for (let it = 0; it < 40; it++) {
    // Σ d_i′/d_i = (log |det(T − x·I)|)′, with d_i′ = −1 + b²·d_{i−1}′/d_{i−1}².
    let d: f64 = 1.0;
    let dp: f64 = 0.0;
    let sum: f64 = 0.0;
    for (let i = 0; i < k; i++) {
      const bb = i > 0 ? load<f64>(b + (<usize>(i - 1) << 3)) : 0.0;
      const q = i > 0 ? bb * bb / d : 0.0;
      const ndp = -1.0 + (i > 0 ? q * dp / d : 0.0);
      d = load<f64>(a + (<usize>i << 3)) - x - q;
      if (Math.abs(d) < tiny) d = -tiny;
      dp = ndp;
      sum += dp / d;
    }
    const step = 1.0 / sum;
    if (!(step > 0.0)) break;
    x -= step;
    if (step <= 1e-9 * Math.abs(x)) break;
  }
  return x;
}

/**
 * gram_estimates_f64: for u = u0 … u0 + nu − 1 of column v (S from
 * gram_column_f64), an estimate of σ_max(A(u, v)) (the largest over the
 * groups): `steps` Lanczos steps on G from a fixed start with every
 * component non-zero (no reorthogonalisation: a lost orthogonality only
 * repeats converged Ritz values), then √ of the largest Ritz value (≤ σ_max
 * in exact arithmetic). A group whose tr G or ‖G‖_F (each ≥ σ_max²) is below
 * floor² is passed over (0): its frequency cannot beat the estimate `floor`
 * already has, and the screen certifies it by the same test. It only orders
 * the candidates: no bound is taken from it.
 *   steps [in]  1 … 64 Lanczos steps
 *   floor [in]  an estimate already had (0 for none)
 *   tab   [in]  gram_table_f64(h)
 *   cache [out] 0, or room for −G of each (u, g) of the column (2n² f64 each,
 *               at (u·groups + g)·16n² bytes) for gram_screen_f64 to reuse
 *   held  [out] with a cache: u8 per (u, g), 1 where −G was kept, 2 where
 *               the group was passed over by ‖G̃‖_F (pc) without assembling it
 *   pc    [in]  column v's fold of ‖G‖_F²'s polynomial (gram_frob_column_f64),
 *               or 0: then ‖Ĝ‖_F, from the assembled matrix
 *   out   [out] f64[nu]
 *   work  [in]  gram_work_bytes(n, kh) bytes
 * Returns the number of groups where the Frobenius test ran (tr G between
 * floor² and floor²·√n): what the polynomial would have spared.
 */
export function gram_estimates_f64(s: usize, n: i32, kh: i32, h: i32, u0: i32, nu: i32, groups: i32, steps: i32,
  floor: f64, tab: usize, cache: usize, held: usize, pc: usize, out: usize, work: usize): i32 {
  const br = align16(work);
  const nb = <usize>n * <usize>n << 3;
  const bi = br + nb;
  const nv = <usize>n << 3;
  const xr = bi + nb;
  const xi = xr + nv;
  const yr = xi + nv;
  const yi = yr + nv;
  const pr = yi + nv;
  const pi = pr + nv;
  const sr = pi + nv;
  const si = sr + nv;
  const al = si + nv;
  const be = al + (<usize>MAX_STEPS << 3);
  // n steps span G's Krylov space from the start: their Ritz values are G's.
  const k = min<i32>(min<i32>(max<i32>(steps, 1), MAX_STEPS), n);
  // The start q₁ = x/‖x‖, the same for every frequency.
  let q: f64 = 0.0;
  for (let j = 0; j < n; j++) {
    const a = startComponent(2 * j);
    const b = startComponent(2 * j + 1);
    store<f64>(sr + (<usize>j << 3), a);
    store<f64>(si + (<usize>j << 3), b);
    q += a * a + b * b;
  }
  const f0 = 1.0 / Math.sqrt(q);
  for (let j = 0; j < n; j++) {
    store<f64>(sr + (<usize>j << 3), load<f64>(sr + (<usize>j << 3)) * f0);
    store<f64>(si + (<usize>j << 3), load<f64>(si + (<usize>j << 3)) * f0);
  }
  let floor2 = floor * floor;
  let tried = 0;
  for (let u = u0; u < u0 + nu; u++) {
    const tw = uTwiddles(work, n, tab, h, kh, u);
    let best: f64 = 0.0;
    for (let g = 0; g < groups; g++) {
      const slot = <usize>(u * groups + g);
      if (cache != 0) store<u8>(held + slot, 0);
      const trace = traceAt(s, g, n, kh, groups, tw);
      if (trace < floor2) continue;
      const frob = trace < floor2 * Math.sqrt(<f64>n);
      if (frob) tried++;
      // Below the floor by ‖G̃‖_F (the polynomial, pc): nothing assembled; the screen takes the same test.
      if (frob && pc != 0 && Math.sqrt(max<f64>(frobPoly(pc, g, kh, h, u, tab), 0.0)) < floor2) {
        if (cache != 0) store<u8>(held + slot, 2);
        continue;
      }
      assemble(s, g, n, kh, tw, 0.0, br, bi);
      if (cache != 0) {
        memory.copy(cache + slot * nb * 2, br, nb);
        memory.copy(cache + slot * nb * 2 + nb, bi, nb);
        store<u8>(held + slot, 1);
      }
      // σ_max² ≤ ‖G‖_F below floor² too: passed over (the screen's Frobenius test then certifies it, or factorises it).
      if (frob && pc == 0 && Math.sqrt(frobenius2(br, bi, n)) < floor2) continue;
      // q₁ the start, q₀ = 0; B = −G, so G·q = −(B·q).
      memory.copy(xr, sr, nv * 2);
      memory.fill(pr, 0, nv * 2);
      let beta: f64 = 0.0;
      let done = 0;
      for (let t = 0; t < k; t++) {
        hermVec(br, bi, n, xr, xi, yr, yi);
        // α = Re qᴴ(G·q)
        let alpha: f64 = 0.0;
        for (let j = 0; j < n; j++) {
          const jb = <usize>j << 3;
          alpha -= load<f64>(xr + jb) * load<f64>(yr + jb) + load<f64>(xi + jb) * load<f64>(yi + jb);
        }
        store<f64>(al + (<usize>t << 3), alpha);
        done = t + 1;
        if (t + 1 == k) break;
        // w = G·q − α·q − β·q_prev (into y), β' = ‖w‖
        let w2: f64 = 0.0;
        for (let j = 0; j < n; j++) {
          const jb = <usize>j << 3;
          const wr = -load<f64>(yr + jb) - alpha * load<f64>(xr + jb) - beta * load<f64>(pr + jb);
          const wi = -load<f64>(yi + jb) - alpha * load<f64>(xi + jb) - beta * load<f64>(pi + jb);
          store<f64>(yr + jb, wr);
          store<f64>(yi + jb, wi);
          w2 += wr * wr + wi * wi;
        }
        beta = Math.sqrt(w2);
        // An invariant subspace: T's values are G's.
        if (!(beta > 1e-14 * Math.abs(alpha))) break;
        store<f64>(be + (<usize>t << 3), beta);
        const f = 1.0 / beta;
        memory.copy(pr, xr, nv);
        memory.copy(pi, xi, nv);
        for (let j = 0; j < n; j++) {
          const jb = <usize>j << 3;
          store<f64>(xr + jb, load<f64>(yr + jb) * f);
          store<f64>(xi + jb, load<f64>(yi + jb) * f);
        }
      }
      best = max<f64>(best, Math.sqrt(max<f64>(tridiagMax(al, be, done), 0.0)));
    }
    floor2 = max<f64>(floor2, best * best);
    store<f64>(out + (<usize>(u - u0) << 3), best);
  }
  return tried;
}
