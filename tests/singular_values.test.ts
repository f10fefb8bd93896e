/**
 * Property tests of the public API against the independent reference in
 * tests/reference.ts (the layer's dense matrix and a one-sided Jacobi SVD,
 * and per-frequency Jacobi SVDs of P(u, v) built here).
 *
 * Every comparison covers the full sorted spectrum, value by value, with
 * |ours − ref| ≤ 1e-12 · σ_max(ref); only the all-zero kernel gets an
 * absolute floor.
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Layout,
  operatorNorm,
  operatorNormSync,
  singularValues,
  singularValuesSync,
  spectrum,
  spectrumSync,
} from "../mod.ts";
import {
  complexSingularValues,
  foldKernel,
  frequencyMatrix,
  referenceSingularValues,
  swapChannels,
} from "./reference.ts";
import { type Case, caseOf, describe, type Dims, kernelOf, optionsOf } from "./_cases.ts";

/** Relative tolerance of every comparison, against σ_max of the reference. */
const TOL = 1e-12;
/** Absolute floor used only when the reference is all zeros. */
const ZERO_FLOOR = 1e-300;
/** Largest side of the dense layer matrix the Jacobi reference is given. */
const MAX_DENSE = 200;

// ---------------------------------------------------------------------------
// Cases

const side = fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8);
const channels = fc.integer({ min: 1, max: 5 });
const taps = fc.integer({ min: 1, max: 5 });

/** Sizes whose dense matrix stays within MAX_DENSE. */
const denseDims: fc.Arbitrary<Dims> = fc
  .record({
    cOut: channels,
    cIn: channels,
    kh: taps,
    kw: taps,
    h: side,
    w: side,
  })
  .filter((d) => d.h * d.w * Math.max(d.cIn, d.cOut) <= MAX_DENSE);

/** Reals in [-1, 1] on a grid of 2^-31 (fast-check biases towards 0, ±1 and small numerators). */
const moderate = fc.integer({ min: -(2 ** 31), max: 2 ** 31 }).map((x) => x / 2 ** 31);
/** Any double in [-1, 1], subnormals included: entries that span hundreds of orders of magnitude. */
const wide = fc.double({ min: -1, max: 1, noNaN: true });

/**
 * Kernel weights of one of three styles: moderate reals, small integers (exact
 * cancellations, repeated values, zeros of the transform), or mostly zeros.
 */
function weights(
  n: number,
  real: fc.Arbitrary<number> = moderate,
): fc.Arbitrary<Float64Array> {
  const int = fc.integer({ min: -3, max: 3 });
  const sparse = fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, {
    arbitrary: real,
    weight: 1,
  });
  const style: fc.Arbitrary<fc.Arbitrary<number>> = fc.oneof(
    { arbitrary: fc.constant(real), weight: 3 },
    { arbitrary: fc.constant(int), weight: 1 },
    { arbitrary: fc.constant(sparse), weight: 1 },
  );
  return style
    .chain((elem) => fc.array(elem, { minLength: n, maxLength: n }))
    .map((xs) => Float64Array.from(xs));
}

function reference(c: Case): Float64Array {
  return referenceSingularValues(c.data, c.cOut, c.cIn, c.kh, c.kw, c.h, c.w);
}

// ---------------------------------------------------------------------------
// Assertions

function assertDecreasing(xs: ArrayLike<number>, what: string): void {
  for (let j = 1; j < xs.length; j++) {
    assert.ok(
      xs[j - 1] >= xs[j],
      `${what}: not decreasing at ${j}: ${xs[j - 1]} < ${xs[j]}`,
    );
  }
}

/** Full-spectrum comparison: |got[j] − want[j]| ≤ TOL·σ_max(want) for every j (floor only if want is all zeros). */
function assertSpectrumClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  what: string,
  scale?: number,
): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const smax = scale ?? (want.length > 0 ? want[0] : 0);
  const allowed = smax > 0 ? TOL * smax : ZERO_FLOOR;
  for (let j = 0; j < want.length; j++) {
    const err = Math.abs(got[j] - want[j]);
    assert.ok(
      err <= allowed,
      `${what}: value ${j} of ${want.length}: got ${got[j]}, reference ${want[j]} (error ${err}, allowed ${allowed})`,
    );
  }
}

/** The checks every result of singularValues() must pass. */
function assertWellFormed(sv: Float64Array, c: Case, what: string): void {
  assert.ok(sv instanceof Float64Array, `${what}: not a Float64Array`);
  assert.equal(
    sv.length,
    c.h * c.w * Math.min(c.cIn, c.cOut),
    `${what}: length`,
  );
  for (let j = 0; j < sv.length; j++) {
    assert.ok(
      Number.isFinite(sv[j]) && sv[j] >= 0,
      `${what}: value ${j} is ${sv[j]}`,
    );
  }
  assertDecreasing(sv, what);
}

/** Squared Frobenius norm of the kernel after folding wrapped taps. */
function foldedSquaredNorm(c: Case): number {
  const f = foldKernel(c.data, c.cOut, c.cIn, c.kh, c.kw, c.h, c.w);
  let s = 0;
  for (const x of f.data) s += x * x;
  return s;
}

function sumOfSquares(xs: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < xs.length; j++) s += xs[j] * xs[j];
  return s;
}

// ---------------------------------------------------------------------------
// Against the dense reference

/** The sync result matches the dense Jacobi SVD; the input is left untouched. */
function checkAgainstDense(c: Case): void {
  const kernel = kernelOf(c);
  const before = kernel.data.slice();
  const sv = singularValuesSync(kernel, optionsOf(c));
  assert.deepEqual(kernel.data, before, "kernel.data was modified");
  const what = describe(c);
  assertWellFormed(sv, c, what);
  assertSpectrumClose(sv, reference(c), what);
}

test("singularValues() matches the dense SVD for random shapes", () => {
  fc.assert(fc.property(caseOf(denseDims, weights), checkAgainstDense), {
    numRuns: 300,
    examples: [
      // Kernels larger than the input, both axes and one at a time.
      [{
        cOut: 2,
        cIn: 3,
        kh: 5,
        kw: 5,
        h: 2,
        w: 2,
        data: Float64Array.from({ length: 150 }, (_, i) => Math.sin(i + 1)),
        f32: false,
        layout: "oihw",
      }],
      [{
        cOut: 1,
        cIn: 2,
        kh: 5,
        kw: 1,
        h: 2,
        w: 7,
        data: Float64Array.from({ length: 10 }, (_, i) => i - 4.5),
        f32: false,
        layout: "hwio",
      }],
      [{
        cOut: 3,
        cIn: 1,
        kh: 2,
        kw: 4,
        h: 1,
        w: 3,
        data: Float64Array.from({ length: 24 }, (_, i) => Math.cos(3 * i)),
        f32: false,
        layout: "oihw",
      }],
    ],
  });
});

test("singularValues() matches the dense SVD when c_in ≠ c_out, h ≠ w and the kernel is not square", () => {
  const dims = denseDims.filter((d) => d.cIn !== d.cOut && d.h !== d.w && d.kh !== d.kw);
  fc.assert(fc.property(caseOf(dims, weights), checkAgainstDense), { numRuns: 100 });
});

/**
 * The folded kernel's largest entry is a normal number well clear of the
 * subnormals: below that, rounding the transform's phases at the subnormal
 * grid alone exceeds TOL·σ_max, whatever the algorithm.
 */
function notSubnormalScale(c: Case): boolean {
  let max = 0;
  for (
    const x of foldKernel(c.data, c.cOut, c.cIn, c.kh, c.kw, c.h, c.w).data
  ) max = Math.max(max, Math.abs(x));
  return max >= 1e-250;
}

test("singularValues() matches the dense SVD for kernels whose entries span hundreds of orders of magnitude", () => {
  // Entries from fast-check's full double range in [-1, 1]: 1e-300 next to 0.5,
  // subnormals. The tolerance is still TOL·σ_max: a backward-stable SVD meets it.
  fc.assert(
    fc.property(
      caseOf(denseDims, (n) => weights(n, wide)).filter(notSubnormalScale),
      checkAgainstDense,
    ),
    { numRuns: 300 },
  );
});

test("singularValues() folds kernels larger than the input (taps that wrap add up)", () => {
  const dims = fc
    .record({
      cOut: channels,
      cIn: channels,
      kh: taps,
      kw: taps,
      h: fc.integer({ min: 1, max: 4 }),
      w: fc.integer({ min: 1, max: 4 }),
    })
    .filter((d) =>
      (d.kh > d.h || d.kw > d.w) &&
      d.h * d.w * Math.max(d.cIn, d.cOut) <= MAX_DENSE
    );
  fc.assert(fc.property(caseOf(dims, weights), checkAgainstDense), { numRuns: 100 });
});

test("singularValues(): the same kernel in oihw and hwio gives identical results", () => {
  fc.assert(
    fc.property(caseOf(denseDims, weights), (c) => {
      const a = singularValuesSync(kernelOf(c, "oihw"), optionsOf(c, "oihw"));
      const b = singularValuesSync(kernelOf(c, "hwio"), optionsOf(c, "hwio"));
      assert.deepEqual(b, a, describe(c));
      const sa = spectrumSync(kernelOf(c, "oihw"), optionsOf(c, "oihw"));
      const sb = spectrumSync(kernelOf(c, "hwio"), optionsOf(c, "hwio"));
      assert.deepEqual(sb.values, sa.values, describe(c));
    }),
    { numRuns: 150 },
  );
});

test("singularValues(): Float32Array and Float64Array holding the same values give identical results", () => {
  fc.assert(
    fc.property(caseOf(denseDims, weights), (c) => {
      const c32 = {
        ...c,
        data: Float64Array.from(Float32Array.from(c.data)),
        f32: true,
      };
      const a = singularValuesSync(
        kernelOf(c32, c.layout, true),
        optionsOf(c32),
      );
      const b = singularValuesSync(
        kernelOf(c32, c.layout, false),
        optionsOf(c32),
      );
      assert.deepEqual(a, b, describe(c32));
    }),
    { numRuns: 150 },
  );
});

// ---------------------------------------------------------------------------
// Identities that need no dense reference (so the shapes can be larger)

const largerDims: fc.Arbitrary<Dims> = fc.record({
  cOut: fc.integer({ min: 1, max: 8 }),
  cIn: fc.integer({ min: 1, max: 8 }),
  kh: fc.integer({ min: 1, max: 7 }),
  kw: fc.integer({ min: 1, max: 7 }),
  h: fc.integer({ min: 1, max: 16 }),
  w: fc.integer({ min: 1, max: 16 }),
});

test("singularValues(): Σσ² = h·w·‖K_folded‖²_F", () => {
  fc.assert(
    fc.property(caseOf(largerDims, weights), (c) => {
      const sv = singularValuesSync(kernelOf(c), optionsOf(c));
      assertWellFormed(sv, c, describe(c));
      const want = c.h * c.w * foldedSquaredNorm(c);
      const got = sumOfSquares(sv);
      assert.ok(
        Math.abs(got - want) <= TOL * want || (want === 0 && got === 0),
        `${describe(c)}: Σσ² = ${got}, h·w·‖K_folded‖² = ${want} (relative error ${Math.abs(got - want) / want})`,
      );
    }),
    { numRuns: 300 },
  );
});

test("singularValues(αK) = |α|·singularValues(K), α of either sign", () => {
  const alpha = fc
    .double({ min: -1e3, max: 1e3, noNaN: true })
    .filter((a) => Math.abs(a) >= 1e-3);
  fc.assert(
    fc.property(caseOf(largerDims, weights), alpha, (c, a) => {
      const base = singularValuesSync(
        kernelOf(c, c.layout, false),
        optionsOf(c),
      );
      const scaled = singularValuesSync({
        ...kernelOf(c, c.layout, false),
        data: kernelOf(c, c.layout, false).data.map((x) => a * x),
      }, optionsOf(c));
      const want = base.map((x) => Math.abs(a) * x);
      // Folding wrapped taps (k > n) rounds α·K's sums, not K's: errors scale with |α|·‖K‖_F,
      // which is the scale when the folded kernel cancels to (near) zero.
      const frob = Math.hypot(...kernelOf(c, c.layout, false).data);
      assertSpectrumClose(scaled, want, `${describe(c)} α=${a}`, Math.max(want[0] ?? 0, Math.abs(a) * frob));
    }),
    { numRuns: 200 },
  );
});

test("singularValues(): swapping c_in and c_out (o ↔ i) gives the same spectrum", () => {
  fc.assert(
    fc.property(caseOf(largerDims, weights), (c) => {
      const swapped: Case = {
        ...c,
        cOut: c.cIn,
        cIn: c.cOut,
        data: swapChannels(c.data, c.cOut, c.cIn, c.kh, c.kw),
      };
      const a = singularValuesSync(kernelOf(c), optionsOf(c));
      const b = singularValuesSync(kernelOf(swapped), optionsOf(swapped));
      assertSpectrumClose(b, a, describe(c));
    }),
    { numRuns: 200 },
  );
});

test("singularValues() of the zero kernel is all zeros", () => {
  fc.assert(
    fc.property(
      largerDims,
      fc.boolean(),
      fc.constantFrom<Layout>("oihw", "hwio"),
      (d, f32, layout) => {
        const c: Case = {
          ...d,
          data: new Float64Array(d.cOut * d.cIn * d.kh * d.kw),
          f32,
          layout,
        };
        const sv = singularValuesSync(kernelOf(c), optionsOf(c));
        assertWellFormed(sv, c, describe(c));
        for (let j = 0; j < sv.length; j++) {
          assert.ok(
            sv[j] <= ZERO_FLOOR,
            `${describe(c)}: value ${j} is ${sv[j]}`,
          );
        }
        assert.ok(operatorNormSync(kernelOf(c), optionsOf(c)) <= ZERO_FLOOR);
      },
    ),
    { numRuns: 60 },
  );
});

// ---------------------------------------------------------------------------
// Rank-deficient kernels

/** Number of values ≤ TOL·σ_max. */
function zeroCount(xs: ArrayLike<number>, smax: number): number {
  let n = 0;
  for (let j = 0; j < xs.length; j++) if (xs[j] <= TOL * smax) n++;
  return n;
}

/** Values the count of zeros could legitimately disagree on: none may fall in (1e-2, 1e2)·TOL·σ_max. */
function ambiguous(xs: ArrayLike<number>, smax: number): boolean {
  for (let j = 0; j < xs.length; j++) {
    if (xs[j] > 1e-2 * TOL * smax && xs[j] < 1e2 * TOL * smax) return true;
  }
  return false;
}

function checkRankDeficient(c: Case, rank: number): void {
  const what = `${describe(c)} (rank ≤ ${rank} per frequency)`;
  const want = reference(c);
  const got = singularValuesSync(kernelOf(c), optionsOf(c));
  assertSpectrumClose(got, want, what);
  const smax = want[0];
  if (smax === 0) return;
  fc.pre(!ambiguous(want, smax));
  const structural = c.h * c.w * (Math.min(c.cIn, c.cOut) - rank);
  const refZeros = zeroCount(want, smax);
  assert.ok(
    refZeros >= structural,
    `${what}: the reference has ${refZeros} zeros, fewer than ${structural}`,
  );
  assert.equal(
    zeroCount(got, smax),
    refZeros,
    `${what}: number of zeros (reference ${refZeros})`,
  );
}

test("singularValues(): c_out > 1 copies of one filter give the right number of zeros", () => {
  const dims = denseDims.filter((d) => d.cOut > 1 && d.cIn > 1);
  const arb = dims.chain((d) =>
    fc.record({
      d: fc.constant(d),
      filter: weights(d.cIn * d.kh * d.kw),
      coeff: fc.array(
        fc.oneof(
          fc.constant(1),
          fc.constant(-2),
          moderate.filter((x) => x !== 0),
        ),
        {
          minLength: d.cOut,
          maxLength: d.cOut,
        },
      ),
      layout: fc.constantFrom<Layout>("oihw", "hwio"),
    })
  );
  fc.assert(
    fc.property(arb, ({ d, filter, coeff, layout }) => {
      const t = d.cIn * d.kh * d.kw;
      const data = new Float64Array(d.cOut * t);
      for (let o = 0; o < d.cOut; o++) {
        for (let k = 0; k < t; k++) data[o * t + k] = coeff[o] * filter[k];
      }
      checkRankDeficient({ ...d, data, f32: false, layout }, 1);
    }),
    { numRuns: 100 },
  );
});

test("singularValues(): input channels that repeat give the right number of zeros", () => {
  const arb = denseDims
    .filter((d) => d.cIn > 1 && d.cOut > 1)
    .chain((d) =>
      fc.record({
        d: fc.constant(d),
        distinct: fc.integer({ min: 1, max: d.cIn - 1 }),
        layout: fc.constantFrom<Layout>("oihw", "hwio"),
      }).chain(({ d, distinct, layout }) =>
        weights(d.cOut * distinct * d.kh * d.kw).map((base) => ({
          d,
          distinct,
          layout,
          base,
        }))
      )
    );
  fc.assert(
    fc.property(arb, ({ d, distinct, layout, base }) => {
      // K[o, i] = B[o, i mod distinct]: columns of every P(u, v) repeat.
      const t = d.kh * d.kw;
      const data = new Float64Array(d.cOut * d.cIn * t);
      for (let o = 0; o < d.cOut; o++) {
        for (let i = 0; i < d.cIn; i++) {
          for (let k = 0; k < t; k++) {
            data[(o * d.cIn + i) * t + k] = base[(o * distinct + (i % distinct)) * t + k];
          }
        }
      }
      checkRankDeficient({ ...d, data, f32: false, layout }, distinct);
    }),
    { numRuns: 100 },
  );
});

// ---------------------------------------------------------------------------
// Magnitudes

test("singularValues() scales exactly at magnitudes near 1e±150", () => {
  const dims = denseDims.filter((d) => d.h * d.w * Math.max(d.cIn, d.cOut) <= 100);
  fc.assert(
    fc.property(caseOf(dims, weights), (c0) => {
      const c = { ...c0, f32: false };
      const base = singularValuesSync(kernelOf(c), optionsOf(c));
      const ref = reference(c);
      assertSpectrumClose(base, ref, describe(c));
      for (const f of [1e150, 1e-150, 2 ** 500, 2 ** -500]) {
        const scaled: Case = { ...c, data: c.data.map((x) => x * f) };
        const got = singularValuesSync(kernelOf(scaled), optionsOf(scaled));
        const what = `${describe(c)} scaled by ${f}`;
        assertWellFormed(got, scaled, what);
        // Against the package's own unscaled result, and against the reference of the scaled kernel.
        assertSpectrumClose(got.map((x) => x / f), base, what);
        assertSpectrumClose(got, reference(scaled), what);
      }
    }),
    { numRuns: 60 },
  );
});

// ---------------------------------------------------------------------------
// spectrum()

/** Every row of the spectrum against the Jacobi SVD of that frequency's P(u, v). */
function checkSpectrum(c: Case): void {
  const what = describe(c);
  const kernel = kernelOf(c);
  const s = spectrumSync(kernel, optionsOf(c));
  const r = Math.min(c.cIn, c.cOut);
  assert.deepEqual(s.shape, [c.h, c.w, r], `${what}: shape`);
  assert.ok(
    s.values instanceof Float64Array,
    `${what}: values is not a Float64Array`,
  );
  assert.equal(s.values.length, c.h * c.w * r, `${what}: length`);
  assert.equal(s.backend, "wasm");
  assert.equal(s.precision, "f64");

  // Per-frequency reference for every row; its largest value sets the tolerance.
  const rows: Float64Array[] = [];
  let smax = 0;
  for (let u = 0; u < c.h; u++) {
    for (let v = 0; v < c.w; v++) {
      const { re, im } = frequencyMatrix(
        c.data,
        c.cOut,
        c.cIn,
        c.kh,
        c.kw,
        c.h,
        c.w,
        u,
        v,
      );
      const row = complexSingularValues(re, im, c.cOut, c.cIn);
      rows.push(row);
      smax = Math.max(smax, row[0]);
    }
  }
  let max = -Infinity;
  for (let u = 0; u < c.h; u++) {
    for (let v = 0; v < c.w; v++) {
      const row = s.values.subarray((u * c.w + v) * r, (u * c.w + v + 1) * r);
      assertDecreasing(row, `${what}: row (${u}, ${v})`);
      assertSpectrumClose(
        row,
        rows[u * c.w + v],
        `${what}: row (${u}, ${v})`,
        smax,
      );
      max = Math.max(max, row[0]);
    }
  }
  assert.equal(s.norm, max, `${what}: norm is not the largest value`);
  const [au, av] = s.argmax;
  assert.ok(
    Number.isInteger(au) && Number.isInteger(av) && au >= 0 && au < c.h &&
      av >= 0 && av < c.w,
    `${what}: argmax ${s.argmax}`,
  );
  assert.equal(
    s.values[(au * c.w + av) * r],
    s.norm,
    `${what}: argmax row does not start with the norm`,
  );

  // The multiset of all values is singularValues().
  const sorted = s.values.slice().sort().reverse();
  assert.deepEqual(
    sorted,
    singularValuesSync(kernel, optionsOf(c)),
    `${what}: values differ from singularValues()`,
  );
}

test("spectrum() rows match the per-frequency SVD of P(u, v), with shape, norm and argmax", () => {
  const dims = largerDims.filter((d) => d.h * d.w <= 100);
  fc.assert(fc.property(caseOf(dims, weights), checkSpectrum), {
    numRuns: 200,
    examples: [
      [{
        cOut: 2,
        cIn: 3,
        kh: 5,
        kw: 5,
        h: 2,
        w: 3,
        data: Float64Array.from({ length: 150 }, (_, i) => Math.sin(7 * i)),
        f32: false,
        layout: "oihw",
      }],
    ],
  });
});

// ---------------------------------------------------------------------------
// Async and sync forms

test("singularValues(), operatorNorm() and spectrum() agree exactly with their sync forms", async () => {
  await fc.assert(
    fc.asyncProperty(caseOf(largerDims, weights), async (c) => {
      const what = describe(c);
      const kernel = kernelOf(c), options = optionsOf(c);
      const sync = singularValuesSync(kernel, options);
      const promise = singularValues(kernel, options);
      assert.ok(
        promise instanceof Promise,
        "singularValues() does not return a Promise",
      );
      assert.deepEqual(await promise, sync, what);
      const norm = operatorNormSync(kernel, options);
      assert.equal(
        norm,
        sync[0],
        `${what}: operatorNormSync() is not the first value`,
      );
      assert.equal(
        await operatorNorm(kernel, options),
        sync[0],
        `${what}: operatorNorm() is not the first value`,
      );
      const s = spectrumSync(kernel, options);
      const sa = await spectrum(kernel, options);
      // Everything but the threads that ran (the async form uses the pool).
      assert.deepEqual({ ...sa, threads: 1 }, s, what);
      assert.ok(sa.threads! >= 1, `${what}: threads ${sa.threads}`);
      assert.equal(
        s.norm,
        sync[0],
        `${what}: spectrum().norm is not the first value`,
      );
    }),
    { numRuns: 100 },
  );
});

test("singularValues() and spectrum() give identical results for any thread count", async () => {
  await fc.assert(
    fc.asyncProperty(
      caseOf(largerDims, weights),
      fc.integer({ min: 1, max: 4 }),
      async (c, threads) => {
        const what = `${describe(c)} threads=${threads}`;
        const kernel = kernelOf(c);
        const sync = singularValuesSync(kernel, optionsOf(c));
        const options = { ...optionsOf(c), threads };
        assert.deepEqual(await singularValues(kernel, options), sync, what);
        const sa = await spectrum(kernel, options);
        // Everything but the threads that ran, which are as many as asked for, up to the cores.
        assert.deepEqual({ ...sa, threads: 1 }, spectrumSync(kernel, optionsOf(c)), what);
        assert.equal(sa.threads, Math.min(threads, navigator.hardwareConcurrency || 1), what);
      },
    ),
    { numRuns: 60 },
  );
});

// ---------------------------------------------------------------------------
// Named regression fixtures

function sv(
  data: number[],
  shape: number[],
  inputShape: number[],
  layout: Layout = "oihw",
): Float64Array {
  return singularValuesSync({ data: Float64Array.from(data), shape }, {
    inputShape,
    layout,
  });
}

test("fixture: a 1×1 kernel on a 1×1 input is the plain matrix's SVD", () => {
  assert.deepEqual(sv([-2.5], [1, 1, 1, 1], [1, 1]), Float64Array.of(2.5));
  // [[3, 0], [4, 5]]: σ = 3√5, √5.
  assertSpectrumClose(sv([3, 0, 4, 5], [2, 2, 1, 1], [1, 1]), [
    3 * Math.sqrt(5),
    Math.sqrt(5),
  ], "2×2");
  // 1×3 and 3×1 matrices: one value, the Euclidean norm.
  assertSpectrumClose(sv([1, 2, 2], [1, 3, 1, 1], [1, 1]), [3], "1×3");
  assertSpectrumClose(sv([1, 2, 2], [3, 1, 1, 1], [1, 1]), [3], "3×1");
});

test("fixture: a 3×3 kernel with c = 1 on a 1×1 input folds all taps into one", () => {
  const taps = [0.5, -1, 2, 0.25, 3, -0.75, 1, 1, -2];
  const sum = taps.reduce((a, b) => a + b, 0);
  assertSpectrumClose(
    sv(taps, [1, 1, 3, 3], [1, 1]),
    [Math.abs(sum)],
    "sum of taps",
  );
  assertSpectrumClose(
    sv(taps, [3, 3, 1, 1], [1, 1], "hwio"),
    [Math.abs(sum)],
    "sum of taps, hwio",
  );
  // Taps that cancel exactly.
  assert.ok(
    sv([1, -1, 2, -2, 0, 0, 3, -3, 0], [1, 1, 3, 3], [1, 1])[0] <= ZERO_FLOOR,
    "cancelling taps",
  );
});

test("fixture: a kernel with one nonzero tap", () => {
  // c = 1: every frequency has |P| = |t|.
  const one = sv([0, 0, 0, 0, 0, 0, 0, -1.5, 0], [1, 1, 3, 3], [4, 5]);
  assertSpectrumClose(one, new Float64Array(20).fill(1.5), "c = 1");
  // c_out = 3, c_in = 2, tap at (o=2, i=1, a=1, b=0): each P has one entry of modulus |t|.
  const data = new Array(3 * 2 * 2 * 2).fill(0);
  data[((2 * 2 + 1) * 2 + 1) * 2 + 0] = 4;
  const got = sv(data, [3, 2, 2, 2], [3, 3]);
  const want = new Float64Array(18);
  want.fill(4, 0, 9);
  assertSpectrumClose(got, want, "multi-channel");
});

test("fixture: an identity-like kernel (delta at tap 0, c_in = c_out = 3) has all σ = 1", () => {
  const data = new Array(3 * 3 * 3 * 3).fill(0);
  for (let c = 0; c < 3; c++) data[(c * 3 + c) * 9] = 1;
  for (const [h, w] of [[1, 1], [2, 5], [7, 3], [8, 8]]) {
    const got = sv(data, [3, 3, 3, 3], [h, w]);
    assertSpectrumClose(got, new Float64Array(h * w * 3).fill(1), `${h}×${w}`);
    const s = spectrumSync({
      data: Float64Array.from(data),
      shape: [3, 3, 3, 3],
    }, { inputShape: [h, w], layout: "oihw" });
    assert.equal(s.norm, got[0]);
  }
  // A shifted delta (tap (2, 1)) and a channel permutation are orthogonal too.
  const shifted = new Array(3 * 3 * 3 * 3).fill(0);
  for (let c = 0; c < 3; c++) {
    shifted[((c * 3 + ((c + 1) % 3)) * 3 + 2) * 3 + 1] = -1;
  }
  assertSpectrumClose(
    sv(shifted, [3, 3, 3, 3], [4, 6]),
    new Float64Array(72).fill(1),
    "shifted permutation",
  );
});

// Found by the wide-range property above: complex P(u, v) whose entries span
// many orders of magnitude (tiny imaginary parts from the phases included).

test("regression: P(0, 1) = [[a, 0], [0, −1], [−1e-54, −1e-118]] (wrong σ_max, non-convergence)", () => {
  // OIHW [3, 2, 1, 2] on 1 × 2: K[0,0,0,0] = a, K[1,1,0,1] = 1, K[2,0,0,1] = 1e-54, K[2,1,0,0] = −1e-118.
  for (const a of [1e-11, 1e-3, 0.5]) {
    const c: Case = {
      cOut: 3,
      cIn: 2,
      kh: 1,
      kw: 2,
      h: 1,
      w: 2,
      f32: false,
      layout: "oihw",
      data: Float64Array.of(a, 0, 0, 0, 0, 0, 0, 1, 0, 1e-54, -1e-118, 0),
    };
    checkAgainstDense(c);
  }
});

test("regression: P(1, 0) = diag(−1e-200·e^{2πi/3}, 1) converges", () => {
  // OIHW [2, 2, 2, 1] on 3 × 1: K[0,0,1,0] = 1e-200, K[1,1,1,0] = 1.
  for (const tiny of [1e-200, 1e-300]) {
    checkAgainstDense({
      cOut: 2,
      cIn: 2,
      kh: 2,
      kw: 1,
      h: 3,
      w: 1,
      f32: false,
      layout: "oihw",
      data: Float64Array.of(0, tiny, 0, 0, 0, 0, 1, 0),
    });
  }
});

test("regression: entries 1e-35, 1e-24, 1e-78, −1e-142 on 1 × 3 (σ_max 4% low)", () => {
  checkAgainstDense({
    cOut: 3,
    cIn: 2,
    kh: 1,
    kw: 2,
    h: 1,
    w: 3,
    f32: false,
    layout: "oihw",
    data: Float64Array.of(1e-35, 0, 0, 0, 0, 0, 0, 1e-24, 0, 1e-78, -1e-142, 0),
  });
});
