/**
 * A dense reference for clipping EVERY layer kind (issue 14), independent of
 * the package: the layer's explicit matrix from its definition
 * (tests/dense_layers.ts), one-sided Jacobi SVDs (tests/reference.ts,
 * tests/clip_reference.ts), and the orthogonal (Frobenius) projection onto
 * the subspace `S = {A(K)}` of the layer kind's operators computed by least
 * squares over the dense matrices of the kernel's basis (one unit kernel
 * entry at a time): no frequencies, no phase split, no folding rules.
 *
 * Where several taps give the same basis matrix (taps that wrap onto each
 * other) the map `K ↦ A(K)` is not injective; the kernel that realises an
 * operator `X ∈ S` with the least change from `K₀` is the minimum-norm
 * solution `K₀ + A⁺(X − A(K₀))`, with `A⁺ = G⁺·Aᵀ` and `G` the Gram matrix of
 * the basis (computed by a pseudo-inverse, so that no structure is assumed).
 * @module
 */
import { type Dense, type DenseLayer, denseLayer } from "./dense_layers.ts";
import { jacobiSingularValues } from "./reference.ts";
import { jacobiSvd, rebuild } from "./clip_reference.ts";

/** A linear map from kernel data (as stored, in the layer's layout) to a dense matrix. */
export type Operator = (data: ArrayLike<number>) => Dense;

/** The layer as it is applied (padding, transposition and all). */
export function layerOperator(layer: DenseLayer): Operator {
  return (data) => denseLayer({ ...layer, data });
}

/**
 * The circular layer with the layer's kernel, stride, dilation, groups and
 * transposition whose FORWARD convolution has the input grid `grid`: the
 * layer that `clipOperatorNorm` projects (`ClipResult.grid`). For a
 * transposed layer it is the transpose of that forward convolution (rows are
 * the transposed layer's output channels, as `scale` needs).
 */
export function circularOperator(
  layer: DenseLayer,
  grid: readonly number[],
): Operator {
  const { outputPadding: _op, padding: _p, transposed, ...rest } = layer;
  return (data) => {
    const m = denseLayer({
      ...rest,
      data,
      inputShape: [...grid],
      padding: "circular",
      transposed: false,
    });
    return transposed ? transpose(m) : m;
  };
}

function transpose(m: Dense): Dense {
  const a = new Float64Array(m.a.length);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) a[c * m.rows + r] = m.a[r * m.cols + c];
  }
  return { a, rows: m.cols, cols: m.rows };
}

/** `diag(scale)·M`: row block `c` (of `rows / scale.length` rows, channel-major) times `scale[c]`. */
export function scaleRows(m: Dense, scale: ArrayLike<number>): Dense {
  const per = m.rows / scale.length;
  if (!Number.isInteger(per)) {
    throw new RangeError(`scaleRows: ${m.rows} rows, ${scale.length} channels`);
  }
  const a = new Float64Array(m.a.length);
  for (let r = 0; r < m.rows; r++) {
    const s = scale[Math.floor(r / per)];
    for (let c = 0; c < m.cols; c++) {
      a[r * m.cols + c] = s * m.a[r * m.cols + c];
    }
  }
  return { a, rows: m.rows, cols: m.cols };
}

/** An operator followed by `diag(scale)` on its output channels. */
export function scaledOperator(
  op: Operator,
  scale: ArrayLike<number>,
): Operator {
  return (data) => scaleRows(op(data), scale);
}

/** The largest singular value of a dense matrix (one-sided Jacobi). */
export function sigmaMax(m: Dense): number {
  return jacobiSingularValues(m.a, m.rows, m.cols, { maxSweeps: 100 })[0] ?? 0;
}

/** `U·min(Σ, c)·Vᵀ`: the Frobenius projection of `M` onto the ball `{‖X‖₂ ≤ c}`. */
export function clipBall(
  a: Float64Array,
  rows: number,
  cols: number,
  c: number,
): Float64Array {
  return rebuild(jacobiSvd(a, rows, cols, 100), (s) => Math.min(s, c));
}

/** One basis matrix, sparse: its non-zero entries. */
interface Sparse {
  idx: Int32Array;
  val: Float64Array;
}

function sparse(m: Dense): Sparse {
  const idx: number[] = [], val: number[] = [];
  for (let j = 0; j < m.a.length; j++) {
    if (m.a[j] !== 0) idx.push(j), val.push(m.a[j]);
  }
  return { idx: Int32Array.from(idx), val: Float64Array.from(val) };
}

function dot(s: Sparse, a: Float64Array): number {
  let sum = 0;
  for (let j = 0; j < s.idx.length; j++) sum += s.val[j] * a[s.idx[j]];
  return sum;
}

/**
 * The subspace `S = {A(K)}` of a layer kind's operators, by its basis (the
 * matrices of the unit kernels), with the least-squares machinery.
 */
export class Subspace {
  readonly rows: number;
  readonly cols: number;
  /** Number of kernel entries. */
  readonly size: number;
  private readonly basis: Sparse[];
  /** G⁺ (row-major size × size). */
  private readonly pinv: Float64Array;
  /** Kernel entries (storage indices) whose basis matrices are equal: the taps that fold onto one position. */
  readonly folds: number[][];

  constructor(op: Operator, size: number) {
    this.size = size;
    const unit = new Float64Array(size);
    const mats: Dense[] = [];
    for (let t = 0; t < size; t++) {
      unit.fill(0);
      unit[t] = 1;
      mats.push(op(unit));
    }
    this.rows = mats[0].rows;
    this.cols = mats[0].cols;
    this.basis = mats.map(sparse);
    // Gram matrix and its pseudo-inverse (symmetric PSD: the SVD's U = V on its range).
    const g = new Float64Array(size * size);
    for (let t = 0; t < size; t++) {
      for (let u = 0; u < size; u++) {
        g[t * size + u] = dot(this.basis[t], mats[u].a);
      }
    }
    const svd = jacobiSvd(g, size, size, 100);
    let top = 0;
    for (const s of svd.s) top = Math.max(top, s);
    this.pinv = rebuild(svd, (s) => (s > 1e-9 * top ? 1 / s : 0));
    // Only the pseudo-inverse's pairing of U and V matters: rebuild gives U·f(Σ)·Vᵀ = (V·f(Σ)·Uᵀ)ᵀ; G is symmetric, so transpose.
    for (let t = 0; t < size; t++) {
      for (let u = t + 1; u < size; u++) {
        const x = this.pinv[t * size + u];
        this.pinv[t * size + u] = this.pinv[u * size + t];
        this.pinv[u * size + t] = x;
      }
    }
    const key = (s: Sparse) => `${Array.from(s.idx)}|${Array.from(s.val)}`;
    const byKey = new Map<string, number[]>();
    this.basis.forEach((s, t) => {
      const k = key(s);
      const list = byKey.get(k);
      if (list) list.push(t);
      else byKey.set(k, [t]);
    });
    this.folds = [...byKey.values()].filter((l) => l.length > 1);
  }

  /** `A(K)` as a flat row-major matrix. */
  apply(k: ArrayLike<number>): Float64Array {
    const out = new Float64Array(this.rows * this.cols);
    this.basis.forEach((s, t) => {
      const c = k[t];
      if (c !== 0) {
        for (let j = 0; j < s.idx.length; j++) out[s.idx[j]] += c * s.val[j];
      }
    });
    return out;
  }

  /** The minimum-norm kernel `K` with `A(K)` nearest to `m`: `G⁺·Aᵀ(m)`. */
  leastSquares(m: Float64Array): Float64Array {
    const n = this.size;
    const b = Float64Array.from(this.basis, (s) => dot(s, m));
    const k = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      let sum = 0;
      for (let u = 0; u < n; u++) sum += this.pinv[t * n + u] * b[u];
      k[t] = sum;
    }
    return k;
  }

  /** The orthogonal (Frobenius) projection of `m` onto `S`. */
  project(m: Float64Array): Float64Array {
    return this.apply(this.leastSquares(m));
  }

  /** The kernel nearest to `k0` whose operator is `x` (for `x ∈ S`): `K₀ + A⁺(x − A(K₀))`. */
  lift(k0: ArrayLike<number>, x: Float64Array): Float64Array {
    const a0 = this.apply(k0);
    const d = new Float64Array(x.length);
    for (let j = 0; j < x.length; j++) d[j] = x[j] - a0[j];
    const dk = this.leastSquares(d);
    return Float64Array.from(dk, (v, t) => k0[t] + v);
  }

  /** One round of the paper's Appendix A on the operator: `P_S(clip_c(A(K)))`. */
  round(k: ArrayLike<number>, c: number): Float64Array {
    return this.project(clipBall(this.apply(k), this.rows, this.cols, c));
  }

  /**
   * Dykstra's algorithm on the operator for the ball `{‖X‖₂ ≤ c}` and the
   * subspace `S` (which needs no correction): `x₀ = A(K)`, `p₀ = 0`,
   * `y = clip(x + p)`, `p ← x + p − y`, `x ← P_S(y)`. Returns the operator
   * after `rounds` rounds; it converges to the point of `S ∩ ball` nearest
   * to `A(K)` in the Frobenius norm.
   */
  dykstra(k: ArrayLike<number>, c: number, rounds: number): Float64Array {
    let x = this.apply(k);
    const p = new Float64Array(x.length);
    const z = new Float64Array(x.length);
    for (let t = 0; t < rounds; t++) {
      for (let j = 0; j < z.length; j++) z[j] = x[j] + p[j];
      const y = clipBall(z, this.rows, this.cols, c);
      for (let j = 0; j < z.length; j++) p[j] = z[j] - y[j];
      x = this.project(y);
    }
    return x;
  }
}

/** ‖a − b‖_F of two flat arrays. */
export function frobeniusDistance(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): number {
  if (a.length !== b.length) {
    throw new RangeError(
      `frobeniusDistance: lengths ${a.length} and ${b.length}`,
    );
  }
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j] - b[j]) ** 2;
  return Math.sqrt(s);
}

/** max |a_j| of a flat array. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let j = 0; j < a.length; j++) m = Math.max(m, Math.abs(a[j]));
  return m;
}
