/**
 * One-tap (1×1) kernels have the same matrix at every frequency: computed
 * once and replicated, their values are the same bits as the full frequency
 * walk gives (forced here by a second, zero tap, which adds exact zeros).
 * Their one matrix is real and is reduced in real arithmetic: checked against
 * a dense Jacobi SVD of the matrix.
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { test } from "./_test.ts";
import { jacobiSingularValues } from "./reference.ts";
import {
  clipOperatorNorm,
  clipOperatorNormSync,
  closeThreads,
  operatorNormSync,
  singularValues,
  singularValuesSync,
  spectrumSync,
} from "../mod.ts";
import { lcgValues } from "./_random.ts";

/** The kernel `[o, i, 1, 1]` as `[o, i, 2, 1]` with a zero second tap (the same layer). */
function withZeroTap(data: Float64Array, cOut: number, cIn: number): Float64Array {
  const out = new Float64Array(cOut * cIn * 2);
  for (let j = 0; j < cOut * cIn; j++) out[2 * j] = data[j];
  return out;
}

test("1×1 kernels: replicated values are the full walk's bits (plain, grouped, strided, hwio, threads)", async () => {
  for (
    const [cOut, cIn, options] of [
      [12, 9, { inputShape: [7, 6] }],
      [8, 4, { inputShape: [6, 6], groups: 2 }],
      [6, 3, { inputShape: [8, 4], stride: 2 }],
      [5, 7, { inputShape: [9] }],
    ] as const
  ) {
    const data = lcgValues(cOut * cIn + 17, cOut * cIn * (options.groups ? 1 / options.groups : 1));
    const rank = options.inputShape.length;
    const one = { data, shape: [cOut, cIn / (options.groups ?? 1), ...Array(rank).fill(1)] };
    const two = {
      data: withZeroTap(data, cOut, cIn / (options.groups ?? 1)),
      shape: [cOut, cIn / (options.groups ?? 1), ...Array(rank - 1).fill(1), 2],
    };
    const label = JSON.stringify(options);
    const fast = singularValuesSync(one, options);
    assert.deepEqual(fast, singularValuesSync(two, options), label);
    assert.deepEqual(await singularValues(one, { ...options, threads: 2 }), fast, `${label} threads 2`);
    // Every frequency's row is the same.
    const s = spectrumSync(one, options);
    const r = s.shape.at(-1)!;
    for (let cell = 1; cell < s.values.length / r; cell++) {
      assert.deepEqual(s.values.subarray(cell * r, (cell + 1) * r), s.values.subarray(0, r), `${label} cell ${cell}`);
    }
  }
  closeThreads();
}, { threads: true });

test(
  "1×1 kernels: clipping clips the one matrix (the full walk's round within 1e-13; plain, grouped, depthwise, strided, Dykstra, threads)",
  async () => {
    for (
      const [cOut, cIn, options] of [
        [12, 9, { inputShape: [7, 6] }],
        [8, 4, { inputShape: [6, 6], groups: 2 }],
        [6, 6, { inputShape: [5, 5], groups: 6 }],
        [6, 3, { inputShape: [8, 4], stride: 2 }],
        [5, 7, { inputShape: [9] }],
      ] as const
    ) {
      const g = "groups" in options ? options.groups : 1;
      const data = lcgValues(cOut * cIn + 29, (cOut * cIn) / g);
      const rank = options.inputShape.length;
      const one = { data, shape: [cOut, cIn / g, ...Array(rank).fill(1)] };
      const two = { data: withZeroTap(data, cOut, cIn / g), shape: [cOut, cIn / g, ...Array(rank - 1).fill(1), 2] };
      const wide = { ...options, layout: rank === 1 ? "oiw" : "oihw" } as const;
      const r = 0.5 * spectrumSync(one, options).norm;
      for (
        const extra of [{ iterations: 1 }, { iterations: 4, method: "dykstra" }, { iterations: 3, threads: 2 }] as const
      ) {
        const label = `${JSON.stringify(options)} ${JSON.stringify(extra)}`;
        const a = "threads" in extra
          ? await clipOperatorNorm(one, r, { ...options, ...extra })
          : clipOperatorNormSync(one, r, { ...options, ...extra });
        const b = clipOperatorNormSync(two, r, {
          ...wide,
          iterations: extra.iterations,
          ...("method" in extra ? { method: extra.method } : {}),
        });
        assert.equal(a.normBefore, b.normBefore, label);
        let diff = 0, top = 0, zero = 0;
        for (let j = 0; j < data.length; j++) {
          diff = Math.max(diff, Math.abs(a.kernel.data[j] - b.kernel.data[2 * j]));
          top = Math.max(top, Math.abs(b.kernel.data[2 * j]));
          zero = Math.max(zero, Math.abs(b.kernel.data[2 * j + 1]));
        }
        assert.ok(diff <= 1e-13 * top && zero <= 1e-13 * top, `${label}: ${diff / top}, zero tap ${zero / top}`);
        assert.ok(Math.abs(a.normAfter - b.normAfter) <= 1e-13 * b.normAfter, `${label}: normAfter`);
      }
    }
    closeThreads();
  },
  { threads: true },
);

test("1×1 kernels: the real reduction's values match a dense Jacobi SVD of the matrix (tall, wide, scaled, f32)", () => {
  const arb = fc.record({
    cOut: fc.integer({ min: 1, max: 40 }),
    cIn: fc.integer({ min: 1, max: 40 }),
    exp: fc.constantFrom(0, -200, 150),
    f32: fc.boolean(),
    seed: fc.integer({ min: 1, max: 2 ** 31 - 2 }),
  });
  fc.assert(
    fc.property(arb, ({ cOut, cIn, exp, f32, seed }) => {
      const data = lcgValues(seed, cOut * cIn).map((x) => x * 2 ** exp);
      const kernel = { data, shape: [cOut, cIn, 1, 1] };
      const options = { inputShape: [2, 3], ...(f32 ? { precision: "f32" as const } : {}) };
      const got = singularValuesSync(kernel, options);
      // A is c_out × c_in, row-major: the kernel's OIHW data with 1×1 taps.
      const ref = jacobiSingularValues(data, cOut, cIn);
      const r = Math.min(cOut, cIn);
      assert.equal(got.length, 6 * r);
      const tol = (f32 ? 1e-5 : 1e-13) * ref[0];
      for (let j = 0; j < r; j++) {
        for (let c = 0; c < 6; c++) {
          const err = Math.abs(got[6 * j + c] - ref[j]);
          assert.ok(err <= tol, `${cOut}×${cIn} 2^${exp} ${f32 ? "f32" : "f64"}: σ${j} ${got[6 * j + c]} vs ${ref[j]}`);
        }
      }
      if (!f32) assert.equal(operatorNormSync(kernel, { inputShape: [2, 3] }), got[0]);
    }),
    { numRuns: 200, seed: 4242 },
  );
});
