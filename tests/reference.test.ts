/**
 * Checks of the test reference itself (tests/reference.ts), independent of the
 * package: the Jacobi SVD against matrices with known singular values, and the
 * dense layer matrix against a separately written convolution.
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import {
  complexSingularValues,
  denseLayerMatrix,
  foldKernel,
  frequencyMatrix,
  hwioFromOihw,
  jacobiSingularValues,
  oihwFromHwio,
  realEmbedding,
  referenceSingularValues,
  swapChannels,
} from "./reference.ts";
import { mulberry32 as rng } from "./_random.ts";

function randomArray(n: number, rand: () => number): Float64Array {
  const a = new Float64Array(n);
  for (let k = 0; k < n; k++) a[k] = 2 * rand() - 1;
  return a;
}

/** Row-major product of (m×k)·(k×n). */
function matmul(
  a: Float64Array,
  b: Float64Array,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let l = 0; l < k; l++) {
      const x = a[i * k + l];
      for (let j = 0; j < n; j++) c[i * n + j] += x * b[l * n + j];
    }
  }
  return c;
}

function transpose(a: Float64Array, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
  }
  return t;
}

/** A random n×n orthogonal matrix: a product of n Householder reflections. */
function randomOrthogonal(n: number, rand: () => number): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let r = 0; r < n; r++) {
    const v = randomArray(n, rand);
    let vv = 0;
    for (const x of v) vv += x * x;
    // q ← q · (I − 2 v vᵀ / vᵀv)
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let j = 0; j < n; j++) d += q[i * n + j] * v[j];
      const f = (2 * d) / vv;
      for (let j = 0; j < n; j++) q[i * n + j] -= f * v[j];
    }
  }
  return q;
}

/** U · diag(s) · Vᵀ for random orthogonal U (m×m), V (n×n); s has min(m, n) entries. */
function withSingularValues(
  s: number[],
  m: number,
  n: number,
  rand: () => number,
): Float64Array {
  const u = randomOrthogonal(m, rand);
  const v = randomOrthogonal(n, rand);
  const d = new Float64Array(m * n);
  for (let j = 0; j < s.length; j++) d[j * n + j] = s[j];
  return matmul(matmul(u, d, m, m, n), transpose(v, n, n), m, n, n);
}

function sortedDesc(xs: Iterable<number>): number[] {
  return [...xs].sort((a, b) => b - a);
}

/** Every |got[j] − want[j]| ≤ tol·max|want| (both already sorted decreasing). */
function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  what = "",
): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 0;
  for (let j = 0; j < want.length; j++) {
    scale = Math.max(scale, Math.abs(want[j]));
  }
  for (let j = 0; j < want.length; j++) {
    const err = Math.abs(got[j] - want[j]);
    assert.ok(
      err <= tol * scale,
      `${what}: value ${j}: got ${got[j]}, want ${want[j]} (error ${err}, allowed ${tol * scale})`,
    );
  }
}

function assertDecreasing(xs: ArrayLike<number>, what = ""): void {
  for (let j = 1; j < xs.length; j++) {
    assert.ok(xs[j - 1] >= xs[j], `${what}: not decreasing at ${j}`);
  }
}

test("jacobiSingularValues() of diagonal matrices gives the sorted |diagonal|", () => {
  const cases: [number, number, number[]][] = [
    [1, 1, [-3]],
    [3, 3, [2, -5, 0]],
    [4, 2, [-1e-3, 7]],
    [2, 5, [0, 0]],
    [5, 5, [1, 1, 1, 1, 1]],
    [6, 4, [1e-100, -1e100, 3, 0]],
  ];
  for (const [m, n, d] of cases) {
    const a = new Float64Array(m * n);
    d.forEach((x, j) => (a[j * n + j] = x));
    const s = jacobiSingularValues(a, m, n);
    assert.deepEqual(
      [...s],
      sortedDesc(d.map(Math.abs)),
      `${m}×${n} diag(${d})`,
    );
  }
});

test("jacobiSingularValues() of small matrices with closed-form singular values", () => {
  // All-ones m×n: rank one, σ = √(mn).
  for (const [m, n] of [[1, 1], [3, 7], [7, 3], [5, 5]]) {
    const s = jacobiSingularValues(new Float64Array(m * n).fill(1), m, n);
    assertClose(
      s,
      [Math.sqrt(m * n), ...new Array(Math.min(m, n) - 1).fill(0)],
      1e-15,
      `ones ${m}×${n}`,
    );
  }
  // [[3, 0], [4, 5]]: AᵀA = [[25, 20], [20, 25]], eigenvalues 45 and 5.
  assertClose(jacobiSingularValues(Float64Array.of(3, 0, 4, 5), 2, 2), [
    3 * Math.sqrt(5),
    Math.sqrt(5),
  ], 1e-15);
  // A single column or row: its Euclidean norm.
  const col = Float64Array.of(1, 2, 2, 4);
  assertClose(jacobiSingularValues(col, 4, 1), [5], 1e-15, "column");
  assertClose(jacobiSingularValues(col, 1, 4), [5], 1e-15, "row");
  // Random 2×2: σ1·σ2 = |det|, σ1² + σ2² = ‖A‖²_F.
  const rand = rng(11);
  for (let t = 0; t < 50; t++) {
    const [a, b, c, d] = randomArray(4, rand);
    const [s1, s2] = jacobiSingularValues(Float64Array.of(a, b, c, d), 2, 2);
    assert.ok(Math.abs(s1 * s2 - Math.abs(a * d - b * c)) <= 1e-14, "det");
    assert.ok(
      Math.abs(s1 * s1 + s2 * s2 - (a * a + b * b + c * c + d * d)) <= 1e-14,
      "frobenius",
    );
  }
  // Empty.
  assert.equal(jacobiSingularValues(new Float64Array(0), 0, 4).length, 0);
});

test("jacobiSingularValues() recovers U·diag(s)·Vᵀ for random orthogonal U, V", () => {
  const rand = rng(1);
  const spectra: [number, number, number[]][] = [
    [6, 6, [5, 4, 3, 2, 1, 0.5]],
    [9, 4, [10, 10, 10, 1e-6]], // a repeated value and a small one
    [4, 9, [3, 2.999999, 1, 0]], // a near-repeat and a zero
    [12, 12, [1e3, 1e2, 10, 1, 0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]],
    [40, 25, Array.from({ length: 25 }, (_, j) => 1 + Math.cos(j))],
  ];
  for (const [m, n, s] of spectra) {
    const a = withSingularValues(s, m, n, rand);
    const got = jacobiSingularValues(a, m, n);
    assertClose(got, sortedDesc(s), 1e-14, `${m}×${n}`);
    assertDecreasing(got);
  }
});

test("jacobiSingularValues() finds the exact rank of rank-deficient matrices and zero columns", () => {
  const rand = rng(2);
  for (
    const [m, n, k] of [[8, 6, 2], [6, 8, 3], [10, 10, 1], [7, 7, 6], [
      12,
      5,
      0,
    ]]
  ) {
    // Sum of k random outer products.
    const a = new Float64Array(m * n);
    for (let r = 0; r < k; r++) {
      const x = randomArray(m, rand), y = randomArray(n, rand);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) a[i * n + j] += x[i] * y[j];
      }
    }
    const s = jacobiSingularValues(a, m, n);
    const smax = s[0];
    const zeros = s.filter((x) => x <= 1e-14 * smax).length;
    assert.equal(
      zeros,
      k === 0 ? Math.min(m, n) : Math.min(m, n) - k,
      `${m}×${n} rank ${k}: ${s}`,
    );
  }
  // Zero columns and rows interleaved with a known block.
  const a = new Float64Array(5 * 4);
  a[0 * 4 + 1] = 3; // column 0 and 2 stay zero
  a[2 * 4 + 3] = -4;
  a[4 * 4 + 1] = 4; // column 1 = (3, 0, 0, 0, 4): norm 5
  assert.deepEqual([...jacobiSingularValues(a, 5, 4)], [5, 4, 0, 0]);
  assert.deepEqual([...jacobiSingularValues(transpose(a, 5, 4), 4, 5)], [
    5,
    4,
    0,
    0,
  ]);
});

test("jacobiSingularValues() is exact under power-of-two scaling, from tiny to huge", () => {
  const rand = rng(3);
  const m = 7, n = 5;
  const a = randomArray(m * n, rand);
  const base = jacobiSingularValues(a, m, n);
  for (const k of [-1060, -1000, -500, -60, 60, 500, 1000]) {
    const f = 2 ** (k / 2) * 2 ** (k / 2);
    const scaled = a.map((x) => x * f);
    const got = jacobiSingularValues(scaled, m, n);
    // Scaling by 2^k is exact and the method prescales by a power of two, so the
    // result is bit-identical. At 2^-1060 the entries go subnormal and lose bits:
    // compare with the matrix they actually hold, scaled back up (exactly).
    const held = jacobiSingularValues(scaled.map((x) => x / f), m, n);
    assert.deepEqual([...got], [...held].map((x) => x * f), `2^${k}`);
    if (k >= -1000) assert.deepEqual([...held], [...base], `2^${k}`);
  }
  for (const f of [1e-300, 1e-150, 1e150, 1e300]) {
    const got = jacobiSingularValues(a.map((x) => x * f), m, n);
    assertClose(got.map((x) => x / f), base, 1e-14, `×${f}`);
  }
});

test("jacobiSingularValues(): Σσ² = ‖A‖²_F and σ(A) = σ(Aᵀ) for random matrices", () => {
  const rand = rng(4);
  for (let t = 0; t < 30; t++) {
    const m = 1 + Math.floor(rand() * 30), n = 1 + Math.floor(rand() * 30);
    const a = randomArray(m * n, rand);
    const s = jacobiSingularValues(a, m, n);
    assert.equal(s.length, Math.min(m, n));
    assertDecreasing(s);
    let fro = 0;
    for (const x of a) fro += x * x;
    let sum = 0;
    for (const x of s) sum += x * x;
    assert.ok(
      Math.abs(sum - fro) <= 1e-13 * fro,
      `${m}×${n}: Σσ² = ${sum}, ‖A‖²_F = ${fro}`,
    );
    assertClose(
      jacobiSingularValues(transpose(a, m, n), n, m),
      s,
      1e-14,
      `${m}×${n} transposed`,
    );
  }
});

test("jacobiSingularValues() throws past its sweep cap and on non-finite entries", () => {
  const rand = rng(5);
  const a = randomArray(100, rand);
  assert.throws(
    () => jacobiSingularValues(a, 10, 10, { maxSweeps: 1 }),
    /not converged after 1 sweeps/,
  );
  assert.doesNotThrow(() => jacobiSingularValues(a, 10, 10));
  const b = a.slice();
  b[3] = NaN;
  assert.throws(() => jacobiSingularValues(b, 10, 10), RangeError);
  b[3] = Infinity;
  assert.throws(() => jacobiSingularValues(b, 10, 10), RangeError);
  assert.throws(() => jacobiSingularValues(a, 10, 9), TypeError);
});

/** The circular cross-correlation, written independently of denseLayerMatrix: tile the input, then slide. */
function convolve(
  k: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
  input: Float64Array,
): Float64Array {
  // Tile the input so that rows x..x+kh-1 and columns y..y+kw-1 are all present.
  const th = h + kh, tw = w + kw;
  const tiled = new Float64Array(cIn * th * tw);
  for (let i = 0; i < cIn; i++) {
    for (let x = 0; x < th; x++) {
      for (let y = 0; y < tw; y++) {
        tiled[(i * th + x) * tw + y] = input[(i * h + (x % h)) * w + (y % w)];
      }
    }
  }
  const out = new Float64Array(cOut * h * w);
  for (let o = 0; o < cOut; o++) {
    for (let x = 0; x < h; x++) {
      for (let y = 0; y < w; y++) {
        let acc = 0;
        for (let i = 0; i < cIn; i++) {
          for (let a = 0; a < kh; a++) {
            for (let b = 0; b < kw; b++) {
              acc += k[((o * cIn + i) * kh + a) * kw + b] *
                tiled[(i * th + x + a) * tw + y + b];
            }
          }
        }
        out[(o * h + x) * w + y] = acc;
      }
    }
  }
  return out;
}

test("denseLayerMatrix() agrees with applying the convolution to random inputs", () => {
  const rand = rng(6);
  const shapes = [
    [1, 1, 1, 1, 1, 1],
    [2, 3, 3, 3, 4, 5],
    [3, 2, 1, 2, 3, 1],
    [1, 2, 5, 5, 2, 2], // kernel larger than the input: taps wrap and add
    [2, 1, 4, 1, 3, 7],
    [2, 2, 2, 3, 1, 1], // every tap folds onto one pixel
  ];
  for (const [cOut, cIn, kh, kw, h, w] of shapes) {
    const k = randomArray(cOut * cIn * kh * kw, rand);
    const mat = denseLayerMatrix(k, cOut, cIn, kh, kw, h, w);
    const rows = cOut * h * w, cols = cIn * h * w;
    for (let t = 0; t < 3; t++) {
      const x = randomArray(cols, rand);
      const want = convolve(k, cOut, cIn, kh, kw, h, w, x);
      const got = matmul(mat, x, rows, cols, 1);
      assertClose(got, want, 1e-14, `${[cOut, cIn, kh, kw, h, w]}`);
    }
  }
  // By hand: h = 1, w = 3, kernel [1, 2]: out[y] = in[y] + 2·in[y + 1 mod 3].
  assert.deepEqual([
    ...denseLayerMatrix(Float64Array.of(1, 2), 1, 1, 1, 2, 1, 3),
  ], [1, 2, 0, 0, 1, 2, 2, 0, 1]);
  // Wrapping: kernel [1, 2, 3] on w = 2: taps 0 and 2 hit the same pixel, 1 + 3 = 4.
  assert.deepEqual([
    ...denseLayerMatrix(Float64Array.of(1, 2, 3), 1, 1, 1, 3, 1, 2),
  ], [4, 2, 2, 4]);
});

test("reference: a 1-channel layer has singular values |DFT of the kernel| (closed form)", () => {
  // Kernel [1, 2, 1] along w on 1×n: |e^{-iθ} + 2 + e^{iθ}|·|e^{iθ}| = 2 + 2cos θ, θ = 2πv/n.
  for (const n of [1, 2, 3, 5, 8, 13]) {
    const want = sortedDesc(
      Array.from(
        { length: n },
        (_, v) => 2 + 2 * Math.cos((2 * Math.PI * v) / n),
      ),
    );
    assertClose(
      referenceSingularValues(Float64Array.of(1, 2, 1), 1, 1, 1, 3, 1, n),
      want,
      1e-14,
      `1×${n}`,
    );
  }
  // Separable [1, 2, 1] ⊗ [1, 2, 1] on h × w: (2 + 2cos(2πu/h)) · (2 + 2cos(2πv/w)).
  for (const [h, w] of [[3, 4], [5, 2], [6, 6]]) {
    const k = Float64Array.of(1, 2, 1, 2, 4, 2, 1, 2, 1);
    const want: number[] = [];
    for (let u = 0; u < h; u++) {
      for (let v = 0; v < w; v++) {
        want.push(
          (2 + 2 * Math.cos((2 * Math.PI * u) / h)) *
            (2 + 2 * Math.cos((2 * Math.PI * v) / w)),
        );
      }
    }
    assertClose(
      referenceSingularValues(k, 1, 1, 3, 3, h, w),
      sortedDesc(want),
      1e-14,
      `${h}×${w}`,
    );
  }
  // Kernel [a, b] along h on n×1: |a + b·e^{iθ}| = √(a² + b² + 2ab·cos θ).
  const [a, b] = [0.7, -1.9];
  for (const n of [2, 3, 7]) {
    const want = Array.from(
      { length: n },
      (_, u) => Math.sqrt(a * a + b * b + 2 * a * b * Math.cos((2 * Math.PI * u) / n)),
    );
    assertClose(
      referenceSingularValues(Float64Array.of(a, b), 1, 1, 2, 1, n, 1),
      sortedDesc(want),
      1e-14,
      `${n}×1`,
    );
  }
});

test("reference: the union of the per-frequency SVDs equals the dense SVD (the theorem, within the reference)", () => {
  const rand = rng(7);
  for (
    const [cOut, cIn, kh, kw, h, w] of [
      [2, 3, 3, 3, 3, 4],
      [3, 1, 2, 5, 4, 2],
      [2, 2, 5, 5, 2, 3],
      [1, 4, 1, 1, 5, 5],
    ]
  ) {
    const k = randomArray(cOut * cIn * kh * kw, rand);
    const dense = referenceSingularValues(k, cOut, cIn, kh, kw, h, w);
    const all: number[] = [];
    for (let u = 0; u < h; u++) {
      for (let v = 0; v < w; v++) {
        const { re, im } = frequencyMatrix(k, cOut, cIn, kh, kw, h, w, u, v);
        all.push(...complexSingularValues(re, im, cOut, cIn));
      }
    }
    assertClose(sortedDesc(all), dense, 1e-13, `${[cOut, cIn, kh, kw, h, w]}`);
  }
});

test("reference: realEmbedding() doubles each singular value of the complex matrix", () => {
  // A diagonal complex matrix diag(3 + 4i, −1i): σ = 5, 1.
  const re = Float64Array.of(3, 0, 0, 0), im = Float64Array.of(4, 0, 0, -1);
  assertClose(jacobiSingularValues(realEmbedding(re, im, 2, 2), 4, 4), [
    5,
    5,
    1,
    1,
  ], 1e-15);
  assertClose(complexSingularValues(re, im, 2, 2), [5, 1], 1e-15);
  // A rank-one complex matrix x·yᴴ has σ = ‖x‖‖y‖.
  const x = [[1, 2], [0, -1], [3, 0]], y = [[2, 1], [-1, 1]]; // (re, im) pairs, 3×2
  const r2 = new Float64Array(6), i2 = new Float64Array(6);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 2; j++) {
      // x_i · conj(y_j)
      r2[i * 2 + j] = x[i][0] * y[j][0] + x[i][1] * y[j][1];
      i2[i * 2 + j] = x[i][1] * y[j][0] - x[i][0] * y[j][1];
    }
  }
  const nx = Math.sqrt(1 + 4 + 1 + 9), ny = Math.sqrt(4 + 1 + 1 + 1);
  assertClose(complexSingularValues(r2, i2, 3, 2), [nx * ny, 0], 1e-15);
});

test("reference: layout and channel helpers, and folding keeps the layer", () => {
  const rand = rng(8);
  const [cOut, cIn, kh, kw] = [3, 2, 4, 5];
  const k = randomArray(cOut * cIn * kh * kw, rand);
  const hwio = hwioFromOihw(k, cOut, cIn, kh, kw);
  // Spot-check the index maps.
  assert.equal(
    hwio[((1 * kw + 3) * cIn + 1) * cOut + 2],
    k[((2 * cIn + 1) * kh + 1) * kw + 3],
  );
  assert.deepEqual(oihwFromHwio(hwio, kh, kw, cIn, cOut), k);
  const k32 = Float32Array.from(k);
  const hwio32 = hwioFromOihw(k32, cOut, cIn, kh, kw);
  assert.ok(hwio32 instanceof Float32Array);
  assert.deepEqual(oihwFromHwio(hwio32, kh, kw, cIn, cOut), k32);
  // Swapping o and i twice is the identity; once, it transposes the layer's blocks.
  const sw = swapChannels(k, cOut, cIn, kh, kw);
  assert.deepEqual(swapChannels(sw, cIn, cOut, kh, kw), k);
  assert.equal(
    sw[((1 * cOut + 2) * kh + 3) * kw + 4],
    k[((2 * cIn + 1) * kh + 3) * kw + 4],
  );
  // Folding onto a smaller input gives the same layer matrix.
  for (const [h, w] of [[2, 3], [1, 1], [4, 5], [3, 7]]) {
    const f = foldKernel(k, cOut, cIn, kh, kw, h, w);
    assert.equal(f.kh, Math.min(kh, h));
    assert.equal(f.kw, Math.min(kw, w));
    const a = denseLayerMatrix(k, cOut, cIn, kh, kw, h, w);
    const b = denseLayerMatrix(f.data, cOut, cIn, f.kh, f.kw, h, w);
    assertClose(b, a, 1e-15, `fold onto ${h}×${w}`);
  }
});
