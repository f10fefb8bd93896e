/**
 * The clipping round's singular vectors (assembly/bdvec.ts: inverse iteration
 * on the Golub–Kahan tridiagonal from the dqds values, with a fallback to QR
 * with vectors) on hard bidiagonals, through the public API:
 *
 * - every frequency matrix a scaled unitary (all values equal: the bidiagonal
 *   has one value of multiplicity n, or splits into equal blocks): clipping
 *   must give exactly the scaled kernel;
 * - channel-block-diagonal kernels with equal blocks (each value repeated),
 *   rank-deficient kernels (repeated channels: zero values), c_in ≠ c_out,
 *   tiny and large radii, against the dense reference of tests/clip_reference.ts;
 * - larger layers (64..128 channels) where the round is exact (kernel as large
 *   as the input, so no tap is cut): the result's singular values must be
 *   min(σ, c) of the input's, to 1e−12·σ_max.
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { clipOperatorNormSync, type Kernel, operatorNormSync, singularValuesSync } from "../mod.ts";
import { referenceClipRound } from "./clip_reference.ts";
import { mulberry32 as rng } from "./_random.ts";

/** An m×n (m ≥ n) matrix with orthonormal columns, row-major, by modified Gram–Schmidt on random columns. */
function orthonormalColumns(m: number, n: number, seed: number): Float64Array {
  const r = rng(seed);
  const Q = Float64Array.from({ length: m * n }, () => 2 * r() - 1);
  for (let j = 0; j < n; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        let dot = 0;
        for (let k = 0; k < m; k++) dot += Q[k * n + i] * Q[k * n + j];
        for (let k = 0; k < m; k++) Q[k * n + j] -= dot * Q[k * n + i];
      }
    }
    let nrm = 0;
    for (let k = 0; k < m; k++) nrm += Q[k * n + j] ** 2;
    nrm = Math.sqrt(nrm);
    for (let k = 0; k < m; k++) Q[k * n + j] /= nrm;
  }
  return Q;
}

/**
 * OIHW kernel alpha·M[o, i]·δ(a = a0, b = b0): every frequency matrix is
 * alpha·M times a phase. M is cOut×cIn with orthonormal columns or rows, so
 * every P(u, v) has all its singular values equal to alpha.
 */
function deltaKernel(
  M: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  a0: number,
  b0: number,
  alpha: number,
): Float64Array {
  const k = new Float64Array(cOut * cIn * kh * kw);
  for (let o = 0; o < cOut; o++) {
    for (let i = 0; i < cIn; i++) k[((o * cIn + i) * kh + a0) * kw + b0] = alpha * M[o * cIn + i];
  }
  return k;
}

/** cOut×cIn with orthonormal columns (cOut ≥ cIn) or rows (cOut < cIn), row-major. */
function partialIsometry(cOut: number, cIn: number, seed: number): Float64Array {
  if (cOut >= cIn) return orthonormalColumns(cOut, cIn, seed);
  const Q = orthonormalColumns(cIn, cOut, seed); // cIn×cOut
  const M = new Float64Array(cOut * cIn);
  for (let o = 0; o < cOut; o++) for (let i = 0; i < cIn; i++) M[o * cIn + i] = Q[i * cOut + o];
  return M;
}

/** Block-diagonal in channels: `blocks` copies of the bo×bi×kh×kw kernel `blk` on the diagonal. */
function blockKernel(blk: Float64Array, bo: number, bi: number, kh: number, kw: number, blocks: number): Float64Array {
  const cOut = bo * blocks;
  const cIn = bi * blocks;
  const k = new Float64Array(cOut * cIn * kh * kw);
  for (let b = 0; b < blocks; b++) {
    for (let o = 0; o < bo; o++) {
      for (let i = 0; i < bi; i++) {
        for (let t = 0; t < kh * kw; t++) {
          k[((b * bo + o) * cIn + b * bi + i) * kh * kw + t] = blk[(o * bi + i) * kh * kw + t];
        }
      }
    }
  }
  return k;
}

/** Input channels repeated: K[o, i] = K0[o, i mod cIn0] (so P = [P0, P0, …]: rank ≤ cIn0 and zero values). */
function repeatInputs(k0: Float64Array, cOut: number, cIn0: number, reps: number, taps: number): Float64Array {
  const cIn = cIn0 * reps;
  const k = new Float64Array(cOut * cIn * taps);
  for (let o = 0; o < cOut; o++) {
    for (let i = 0; i < cIn; i++) {
      for (let t = 0; t < taps; t++) k[(o * cIn + i) * taps + t] = k0[(o * cIn0 + (i % cIn0)) * taps + t];
    }
  }
  return k;
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, label: string): void {
  assert.equal(got.length, want.length, `${label}: lengths`);
  let d = 0;
  let at = 0;
  for (let i = 0; i < got.length; i++) {
    const x = Math.abs(got[i] - want[i]);
    if (!(x <= d)) {
      d = x;
      at = i;
    }
  }
  assert.ok(
    d <= tol,
    `${label}: max abs diff ${d.toExponential(3)} > ${tol.toExponential(3)} at ${at}: ${got[at]} vs ${want[at]}`,
  );
}

const kernelOf = (data: Float64Array, cOut: number, cIn: number, kh: number, kw: number): Kernel => ({
  data,
  shape: [cOut, cIn, kh, kw],
});

/**
 * One exact round (kh = h, kw = w: nothing is cut): the result's singular
 * values are min(σ, c) of the input's, normAfter ≤ c(1 + 1e−12), and
 * normBefore is the operator norm bit for bit.
 */
function checkExactRound(
  data: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  c: number,
  label: string,
): void {
  const kernel = kernelOf(data, cOut, cIn, kh, kw);
  const opts = { inputShape: [kh, kw] };
  const before = singularValuesSync(kernel, opts);
  const res = clipOperatorNormSync(kernel, c, opts);
  assert.equal(res.normBefore, operatorNormSync(kernel, opts), `${label}: normBefore`);
  const after = singularValuesSync(res.kernel, opts);
  const smax = before[0];
  const want = Float64Array.from(before, (s) => Math.min(s, c)).sort((a, b) => b - a);
  assertClose(after, want, 1e-12 * smax, `${label}: values after = min(σ, c)`);
  assert.ok(res.normAfter <= c * (1 + 1e-12) + 1e-12 * smax, `${label}: normAfter ${res.normAfter} > c = ${c}`);
}

// ---------------------------------------------------------------------------

test("clip vectors: scaled unitary frequency matrices (all values equal) clip to exactly the scaled kernel", () => {
  const cases: [number, number, number, number, number, number][] = [
    // cOut, cIn, kh, kw, h, w
    [4, 4, 3, 3, 5, 4],
    [16, 16, 3, 3, 6, 6],
    [64, 64, 3, 3, 4, 4],
    [48, 20, 2, 3, 4, 5],
    [20, 48, 3, 2, 3, 3],
    [128, 128, 1, 1, 2, 3],
  ];
  let seed = 1;
  for (const [cOut, cIn, kh, kw, h, w] of cases) {
    const M = partialIsometry(cOut, cIn, seed++);
    for (const alpha of [1, 3e-5, 7e4]) {
      const k = deltaKernel(M, cOut, cIn, kh, kw, kh - 1, 0, alpha);
      const kernel = kernelOf(k, cOut, cIn, kh, kw);
      const label = `${cOut}←${cIn} ${kh}×${kw} on ${h}×${w}, α = ${alpha}`;
      for (const ratio of [0.5, 0.999, 1e-3]) {
        const c = ratio * alpha;
        const res = clipOperatorNormSync(kernel, c, { inputShape: [h, w] });
        assert.ok(Math.abs(res.normBefore - alpha) <= 1e-13 * alpha, `${label}: normBefore ${res.normBefore}`);
        assertClose(res.kernel.data, Float64Array.from(k, (x) => x * ratio), 1e-13 * alpha, `${label}, c = ${ratio}·α`);
        assert.ok(Math.abs(res.normAfter - c) <= 1e-12 * alpha, `${label}, c = ${ratio}·α: normAfter ${res.normAfter}`);
      }
    }
  }
});

test("clip vectors: equal channel blocks, repeated channels (zero values), c_in ≠ c_out, against the dense reference", () => {
  const r = rng(77);
  for (
    const [bo, bi, blocks, kh, kw, h, w] of [
      [2, 2, 2, 3, 3, 4, 4],
      [1, 2, 3, 2, 2, 3, 4],
      [3, 1, 2, 2, 3, 3, 3],
      [2, 3, 2, 3, 1, 5, 3],
    ]
  ) {
    const blk = Float64Array.from({ length: bo * bi * kh * kw }, () => 2 * r() - 1);
    const k = blockKernel(blk, bo, bi, kh, kw, blocks);
    const cOut = bo * blocks;
    const cIn = bi * blocks;
    const norm = operatorNormSync(kernelOf(k, cOut, cIn, kh, kw), { inputShape: [h, w] });
    for (const ratio of [0.9, 0.4, 0.05]) {
      const c = ratio * norm;
      const got = clipOperatorNormSync(kernelOf(k, cOut, cIn, kh, kw), c, { inputShape: [h, w] }).kernel.data;
      const want = referenceClipRound(k, cOut, cIn, kh, kw, h, w, c);
      assertClose(
        got,
        want,
        1e-10 * norm,
        `blocks ${blocks}×(${bo}←${bi}) ${kh}×${kw} on ${h}×${w}, c = ${ratio}·σ_max`,
      );
    }
  }
  for (
    const [cOut, cIn0, reps, kh, kw, h, w] of [
      [3, 1, 3, 2, 2, 3, 3],
      [4, 2, 2, 3, 3, 4, 4],
      [2, 2, 3, 1, 3, 2, 4],
    ]
  ) {
    const k0 = Float64Array.from({ length: cOut * cIn0 * kh * kw }, () => 2 * r() - 1);
    const k = repeatInputs(k0, cOut, cIn0, reps, kh * kw);
    const cIn = cIn0 * reps;
    const norm = operatorNormSync(kernelOf(k, cOut, cIn, kh, kw), { inputShape: [h, w] });
    // Radii down to far below every nonzero value (then every nonzero value is clipped).
    for (const ratio of [0.6, 1e-3, 1e-9]) {
      const c = ratio * norm;
      const got = clipOperatorNormSync(kernelOf(k, cOut, cIn, kh, kw), c, { inputShape: [h, w] }).kernel.data;
      const want = referenceClipRound(k, cOut, cIn, kh, kw, h, w, c);
      assertClose(
        got,
        want,
        1e-10 * norm,
        `repeated inputs ${cOut}←${cIn0}×${reps} ${kh}×${kw} on ${h}×${w}, c = ${ratio}·σ_max`,
      );
    }
  }
});

test("clip vectors: random structured small layers (fast-check) match the dense reference to 1e-10", () => {
  fc.assert(
    fc.property(
      fc.record({
        bo: fc.integer({ min: 1, max: 3 }),
        bi: fc.integer({ min: 1, max: 3 }),
        blocks: fc.integer({ min: 1, max: 3 }),
        kh: fc.integer({ min: 1, max: 3 }),
        kw: fc.integer({ min: 1, max: 3 }),
        dh: fc.integer({ min: 0, max: 2 }),
        dw: fc.integer({ min: 0, max: 2 }),
        seed: fc.integer({ min: 1, max: 1 << 30 }),
        ratio: fc.constantFrom(0.95, 0.5, 0.2, 0.01, 1e-6),
        kind: fc.constantFrom("blocks", "repeat", "unitary"),
      }),
      ({ bo, bi, blocks, kh, kw, dh, dw, seed, ratio, kind }) => {
        const h = kh + dh;
        const w = kw + dw;
        const r = rng(seed);
        let k: Float64Array;
        let cOut: number;
        let cIn: number;
        if (kind === "blocks") {
          k = blockKernel(Float64Array.from({ length: bo * bi * kh * kw }, () => 2 * r() - 1), bo, bi, kh, kw, blocks);
          cOut = bo * blocks;
          cIn = bi * blocks;
        } else if (kind === "repeat") {
          cOut = bo;
          cIn = bi * blocks;
          k = repeatInputs(
            Float64Array.from({ length: bo * bi * kh * kw }, () => 2 * r() - 1),
            bo,
            bi,
            blocks,
            kh * kw,
          );
        } else {
          cOut = bo * blocks;
          cIn = bi;
          k = deltaKernel(partialIsometry(cOut, cIn, seed), cOut, cIn, kh, kw, seed % kh, (seed >> 3) % kw, 1 + r());
        }
        const kernel = kernelOf(k, cOut, cIn, kh, kw);
        const norm = operatorNormSync(kernel, { inputShape: [h, w] });
        const c = ratio * norm;
        const got = clipOperatorNormSync(kernel, c, { inputShape: [h, w] }).kernel.data;
        const want = referenceClipRound(k, cOut, cIn, kh, kw, h, w, c);
        assertClose(got, want, 1e-10 * norm, `${kind} ${cOut}←${cIn} ${kh}×${kw} on ${h}×${w}, c = ${ratio}·σ_max`);
      },
    ),
    { numRuns: 60, seed: 20240611 },
  );
});

test("clip vectors: 64..128 channels, exact rounds: values after are min(σ, c) to 1e-12·σ_max", () => {
  const r = rng(4242);
  const rand = (n: number) => Float64Array.from({ length: n }, () => 2 * r() - 1);
  // Random kernels, square and not.
  for (const [cOut, cIn, kh, kw] of [[64, 64, 3, 3], [96, 64, 2, 3], [64, 128, 2, 2], [128, 128, 1, 2]]) {
    const k = rand(cOut * cIn * kh * kw);
    const norm = operatorNormSync(kernelOf(k, cOut, cIn, kh, kw), { inputShape: [kh, kw] });
    for (const ratio of [0.5, 0.1, 1e-3]) {
      checkExactRound(k, cOut, cIn, kh, kw, ratio * norm, `random ${cOut}←${cIn} ${kh}×${kw}, c = ${ratio}·σ_max`);
    }
  }
  // Equal blocks (every value repeated 8 or 16 times: wide clusters of equal values).
  for (const [bo, bi, blocks, kh, kw] of [[8, 8, 8, 3, 3], [4, 8, 16, 2, 2]]) {
    const k = blockKernel(rand(bo * bi * kh * kw), bo, bi, kh, kw, blocks);
    const cOut = bo * blocks;
    const cIn = bi * blocks;
    const norm = operatorNormSync(kernelOf(k, cOut, cIn, kh, kw), { inputShape: [kh, kw] });
    for (const ratio of [0.7, 0.2]) {
      checkExactRound(
        k,
        cOut,
        cIn,
        kh,
        kw,
        ratio * norm,
        `blocks ${blocks}×(${bo}←${bi}) ${kh}×${kw}, c = ${ratio}·σ_max`,
      );
    }
  }
  // Rank-deficient: 32 input channels repeated 3 times (two thirds of the values are zero), tiny radius.
  {
    const k = repeatInputs(rand(64 * 32 * 4), 64, 32, 3, 4);
    const norm = operatorNormSync(kernelOf(k, 64, 96, 2, 2), { inputShape: [2, 2] });
    for (const ratio of [0.3, 1e-6]) {
      checkExactRound(k, 64, 96, 2, 2, ratio * norm, `repeated inputs 64←32×3, c = ${ratio}·σ_max`);
    }
  }
  // Graded: channel o scaled by 2^−o/4 (values spread over many orders of magnitude).
  {
    const cOut = 64;
    const cIn = 64;
    const k = rand(cOut * cIn * 4);
    for (let o = 0; o < cOut; o++) for (let t = 0; t < cIn * 4; t++) k[o * cIn * 4 + t] *= 2 ** (-o / 4);
    const norm = operatorNormSync(kernelOf(k, cOut, cIn, 2, 2), { inputShape: [2, 2] });
    for (const ratio of [0.5, 1e-4, 1e-9]) {
      checkExactRound(k, cOut, cIn, 2, 2, ratio * norm, `graded, c = ${ratio}·σ_max`);
    }
  }
});

test("clip vectors: a 64-channel scaled unitary plus a rank-one bump keeps its n−1 equal values at c", () => {
  // P = α·Q + β·x·yᵀ per frequency (delta tap): one large value, the others near α (a tight cluster).
  const n = 64;
  const Q = orthonormalColumns(n, n, 9);
  const r = rng(10);
  const x = Float64Array.from({ length: n }, () => 2 * r() - 1);
  const y = Float64Array.from({ length: n }, () => 2 * r() - 1);
  const M = new Float64Array(n * n);
  for (let o = 0; o < n; o++) for (let i = 0; i < n; i++) M[o * n + i] = Q[o * n + i] + 1e-9 * x[o] * y[i];
  const k = deltaKernel(M, n, n, 2, 2, 1, 1, 1);
  for (const c of [0.5, 0.9999999]) checkExactRound(k, n, n, 2, 2, c, `unitary + 1e-9 bump, c = ${c}`);
});
