/**
 * Bad input: every entry point throws (sync) or rejects (async) before any
 * work, with TypeError for wrong types, lengths, shapes, ranks or layouts and
 * RangeError for values out of range, and the message names the offending value.
 * @module
 */
import { test } from "./_test.ts";
import { type ErrorClass, expectBothFail } from "./_failures.ts";
import assert from "node:assert/strict";
import {
  type Kernel,
  operatorNorm,
  operatorNormSync,
  singularValues,
  type SingularValuesOptions,
  singularValuesSync,
  spectrum,
  spectrumSync,
} from "../mod.ts";

interface Api {
  name: string;
  sync: (kernel: Kernel, options: SingularValuesOptions) => unknown;
  async: (kernel: Kernel, options: SingularValuesOptions) => Promise<unknown>;
}

const APIS: Api[] = [
  { name: "singularValues", sync: singularValuesSync, async: singularValues },
  { name: "operatorNorm", sync: operatorNormSync, async: operatorNorm },
  { name: "spectrum", sync: spectrumSync, async: spectrum },
];

/** A valid 2 → 2 layer with 2×2 taps on a 4×4 input. */
function goodKernel(): Kernel {
  return {
    data: Float64Array.from({ length: 16 }, (_, i) => Math.cos(i)),
    shape: [2, 2, 2, 2],
  };
}
const GOOD_OPTIONS: SingularValuesOptions = { inputShape: [4, 4] };

/**
 * Every API, sync and async, fails on (kernel, options) with one of `kinds`
 * and a message matching `value` (the offending value).
 */
async function expectFailure(
  label: string,
  kernel: unknown,
  options: unknown,
  kinds: ErrorClass | ErrorClass[],
  value: RegExp,
): Promise<void> {
  const k = kernel as Kernel, o = options as SingularValuesOptions;
  for (const api of APIS) {
    await expectBothFail(
      label,
      api.name,
      () => api.sync(k, o),
      () => api.async(k, o),
      kinds,
      value,
    );
  }
}

test("bad input: the valid baseline works (so the failures below are about the one bad field)", async () => {
  for (const api of APIS) {
    assert.doesNotThrow(() => api.sync(goodKernel(), GOOD_OPTIONS));
    await api.async(goodKernel(), GOOD_OPTIONS);
  }
  assert.doesNotThrow(() =>
    singularValuesSync(
      { ...goodKernel(), data: new Float32Array(16) },
      GOOD_OPTIONS,
    )
  );
  assert.doesNotThrow(() => singularValuesSync(goodKernel(), { ...GOOD_OPTIONS, layout: "hwio" }));
});

test("bad input: data.length ≠ product of shape is a TypeError naming the length", async () => {
  await expectFailure(
    "length 15",
    { data: new Float64Array(15), shape: [2, 2, 2, 2] },
    GOOD_OPTIONS,
    TypeError,
    /\b15\b/,
  );
  await expectFailure(
    "length 17",
    { data: new Float32Array(17), shape: [2, 2, 2, 2] },
    GOOD_OPTIONS,
    TypeError,
    /\b17\b/,
  );
  await expectFailure(
    "length 16 for hwio [3, 3, 2, 2]",
    { data: new Float64Array(16), shape: [3, 3, 2, 2] },
    { ...GOOD_OPTIONS, layout: "hwio" },
    TypeError,
    /\b16\b/,
  );
});

test("bad input: a kernel shape of rank 3 or 5 is a TypeError naming the shape", async () => {
  await expectFailure(
    "rank 3",
    { data: new Float64Array(16), shape: [2, 2, 4] },
    GOOD_OPTIONS,
    TypeError,
    /2,\s*2,\s*4/,
  );
  await expectFailure(
    "rank 5",
    { data: new Float64Array(16), shape: [2, 2, 2, 2, 1] },
    GOOD_OPTIONS,
    TypeError,
    /2,\s*2,\s*2,\s*2,\s*1/,
  );
  await expectFailure(
    "rank 0",
    { data: new Float64Array(1), shape: [] },
    GOOD_OPTIONS,
    TypeError,
    /\[\s*\]/,
  );
});

test("bad input: kernel shape entries 0, -1, 2.5, NaN are rejected with the entry in the message", async () => {
  await expectFailure(
    "entry 0",
    { data: new Float64Array(0), shape: [2, 0, 2, 2] },
    GOOD_OPTIONS,
    RangeError,
    /(^|[^\d.])0([^\d.]|$)/,
  );
  await expectFailure(
    "entry -1",
    { data: new Float64Array(16), shape: [2, 2, -1, 2] },
    GOOD_OPTIONS,
    RangeError,
    /-1\b/,
  );
  // Not an integer: a wrong type of size or a value out of range, either class.
  await expectFailure(
    "entry 2.5",
    { data: new Float64Array(20), shape: [2, 2, 2, 2.5] },
    GOOD_OPTIONS,
    [TypeError, RangeError],
    /2\.5/,
  );
  await expectFailure(
    "entry NaN",
    { data: new Float64Array(16), shape: [NaN, 2, 2, 2] },
    GOOD_OPTIONS,
    [TypeError, RangeError],
    /NaN/,
  );
  await expectFailure(
    "entry Infinity",
    { data: new Float64Array(16), shape: [2, 2, 2, Infinity] },
    GOOD_OPTIONS,
    [TypeError, RangeError],
    /Infinity/,
  );
  await expectFailure(
    'entry "2"',
    { data: new Float64Array(16), shape: [2, 2, 2, "2"] },
    GOOD_OPTIONS,
    TypeError,
    /"2"|'2'/,
  );
});

test("bad input: inputShape of length 1 or 3 is a TypeError; entries 0, 1.5, -2 are rejected", async () => {
  await expectFailure(
    "inputShape [5]",
    goodKernel(),
    { inputShape: [5] },
    TypeError,
    /\[\s*5\s*\]/,
  );
  await expectFailure(
    "inputShape [5, 6, 7]",
    goodKernel(),
    { inputShape: [5, 6, 7] },
    TypeError,
    /5,\s*6,\s*7/,
  );
  await expectFailure(
    "inputShape [0, 4]",
    goodKernel(),
    { inputShape: [0, 4] },
    RangeError,
    /(^|[^\d.])0([^\d.]|$)/,
  );
  await expectFailure(
    "inputShape [4, -2]",
    goodKernel(),
    { inputShape: [4, -2] },
    RangeError,
    /-2\b/,
  );
  await expectFailure(
    "inputShape [1.5, 4]",
    goodKernel(),
    { inputShape: [1.5, 4] },
    [TypeError, RangeError],
    /1\.5/,
  );
  await expectFailure(
    "inputShape missing",
    goodKernel(),
    {},
    TypeError,
    /undefined/,
  );
});

test("bad input: an unknown layout is a TypeError naming it", async () => {
  await expectFailure(
    "layout nchw",
    goodKernel(),
    { ...GOOD_OPTIONS, layout: "nchw" },
    TypeError,
    /nchw/,
  );
  await expectFailure(
    "layout OIHW",
    goodKernel(),
    { ...GOOD_OPTIONS, layout: "OIHW" },
    TypeError,
    /OIHW/,
  );
});

test("bad input: data that is not a Float32Array or Float64Array is a TypeError naming it", async () => {
  // A plain array: the message shows it (its type or its contents).
  const plain = new Array(16).fill(0.125);
  await expectFailure(
    "plain array",
    { data: plain, shape: [2, 2, 2, 2] },
    GOOD_OPTIONS,
    TypeError,
    /\bArray\b|0\.125/,
  );
  await expectFailure(
    "Int32Array",
    { data: new Int32Array(16), shape: [2, 2, 2, 2] },
    GOOD_OPTIONS,
    TypeError,
    /Int32Array/,
  );
  await expectFailure(
    "Uint8Array",
    { data: new Uint8Array(16), shape: [2, 2, 2, 2] },
    GOOD_OPTIONS,
    TypeError,
    /Uint8Array/,
  );
  await expectFailure(
    "missing data",
    { shape: [2, 2, 2, 2] },
    GOOD_OPTIONS,
    TypeError,
    /undefined/,
  );
  await expectFailure("kernel null", null, GOOD_OPTIONS, TypeError, /null/);
});

test("bad input: NaN or ±Infinity in the data is a RangeError naming the value and its index", async () => {
  for (
    const [bad, index, f32] of [[NaN, 7, false], [NaN, 7, true], [
      Infinity,
      12,
      false,
    ], [-Infinity, 3, true]] as const
  ) {
    const data = f32 ? new Float32Array(16) : new Float64Array(16);
    data.fill(0.5);
    data[index] = bad;
    const shown = Number.isNaN(bad) ? "NaN" : String(bad);
    const kernel = { data, shape: [2, 2, 2, 2] };
    const label = `${shown} at ${index}${f32 ? " (f32)" : ""}`;
    await expectFailure(
      label,
      kernel,
      GOOD_OPTIONS,
      RangeError,
      new RegExp(shown.replace("-", "\\-")),
    );
    await expectFailure(
      label,
      kernel,
      GOOD_OPTIONS,
      RangeError,
      new RegExp(`\\b${index}\\b`),
    );
    await expectFailure(
      label,
      kernel,
      { ...GOOD_OPTIONS, layout: "hwio" },
      RangeError,
      new RegExp(`\\b${index}\\b`),
    );
  }
});

test("bad input: an absurd size is a RangeError, raised quickly instead of allocating", async () => {
  const kernel = {
    data: new Float32Array(64 * 64 * 3 * 3).fill(0.01),
    shape: [64, 64, 3, 3],
  };
  const options = { inputShape: [100000, 100000] };
  const start = performance.now();
  await expectFailure(
    "inputShape [100000, 100000], 64 → 64",
    kernel,
    options,
    RangeError,
    /100000/,
  );
  const elapsed = performance.now() - start;
  assert.ok(
    elapsed < 1000,
    `6 rejections of an absurd size took ${elapsed.toFixed(0)} ms`,
  );
});

test("bad input: the kernel is never modified by a failing call", async () => {
  const data = Float64Array.from({ length: 16 }, (_, i) => i - 7.5);
  data[5] = NaN;
  const before = data.slice();
  await expectFailure(
    "NaN at 5",
    { data, shape: [2, 2, 2, 2] },
    GOOD_OPTIONS,
    RangeError,
    /\b5\b/,
  );
  assert.deepEqual(data, before);
});
