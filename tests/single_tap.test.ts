/**
 * One-tap (1×1) kernels have the same matrix at every frequency: computed
 * once and replicated, their values are the same bits as the full frequency
 * walk gives (forced here by a second, zero tap, which adds exact zeros).
 * @module
 */
import assert from "node:assert/strict";
import { test } from "./_test.ts";
import { closeThreads, singularValues, singularValuesSync, spectrumSync } from "../mod.ts";
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
