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
  clipOperatorNorm,
  clipOperatorNormSync,
  frequencySvd,
  frequencySvdSync,
  gramIterationNorm,
  gramIterationNormSync,
  type Kernel,
  operatorNorm,
  operatorNormBounds,
  operatorNormBoundsSync,
  operatorNormSync,
  powerIterationNorm,
  powerIterationNormSync,
  singularValues,
  type SingularValuesOptions,
  singularValuesSync,
  spectrum,
  spectrumSync,
  topSingularVectors,
  topSingularVectorsSync,
} from "../mod.ts";
import type { KnownKeys } from "../src/_checks.ts";
import { LAYER_OPTIONS } from "../src/_options.ts";

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

// ---------------------------------------------------------------------------
// Unknown option keys and the default layout

/** Every public function with options, as `(kernel, options)`, and the keys only it knows. */
const EVERY: { name: string; sync: Api["sync"]; async: Api["async"]; own: string[] }[] = [
  { name: "singularValues", sync: singularValuesSync, async: singularValues, own: [] },
  { name: "operatorNorm", sync: operatorNormSync, async: operatorNorm, own: [] },
  { name: "spectrum", sync: spectrumSync, async: spectrum, own: [] },
  { name: "frequencySvd", sync: frequencySvdSync, async: frequencySvd, own: [] },
  { name: "topSingularVectors", sync: topSingularVectorsSync, async: topSingularVectors, own: [] },
  {
    name: "operatorNormBounds",
    sync: operatorNormBoundsSync,
    async: operatorNormBounds,
    own: ["maxIterations", "tolerance", "gridCandidates", "denseEntries"],
  },
  { name: "gramIterationNorm", sync: gramIterationNormSync, async: gramIterationNorm, own: ["iterations"] },
  {
    name: "powerIterationNorm",
    sync: powerIterationNormSync,
    async: powerIterationNorm,
    own: ["maxIterations", "tolerance", "seed"],
  },
  {
    name: "clipOperatorNorm",
    sync: (k, o) => clipOperatorNormSync(k, 1, o),
    async: (k, o) => clipOperatorNorm(k, 1, o),
    own: ["iterations", "tolerance", "method", "scale", "certify"],
  },
];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("bad input: an unknown option key is a TypeError naming the key, the function and the key meant", async () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ strides: 2 }, "strides", "stride"],
    [{ dilations: 2 }, "dilations", "dilation"],
    [{ dilation_rate: 2 }, "dilation_rate", "dilation"],
    [{ group: 2 }, "group", "groups"],
    [{ data_format: "NHWC" }, "data_format", "layout"],
    [{ padding_mode: "circular" }, "padding_mode", "padding"],
    [{ output_padding: 1 }, "output_padding", "outputPadding"],
    [{ transpose: true }, "transpose", "transposed"],
    [{ num_threads: 2 }, "num_threads", "threads"],
    [{ precison: "f32" }, "precison", "precision"],
    [{ max_work: 1 }, "max_work", "maxWork"],
  ];
  for (const api of EVERY) {
    for (const [extra, key, meant] of cases) {
      await expectBothFail(
        `${api.name} ${key}`,
        api.name,
        () => api.sync(goodKernel(), { ...GOOD_OPTIONS, ...extra } as never),
        () => api.async(goodKernel(), { ...GOOD_OPTIONS, ...extra } as never),
        TypeError,
        new RegExp(
          `^Cannot (compute singular values|clip the operator norm) as each option must be one that ${api.name}(Sync)? knows \\(did you mean \`${meant}\`\\?\\): current value is "${key}"$`,
        ),
      );
    }
    // The input's shape under other names: refused before inputShape is missed.
    for (const key of ["input_shape", "inputSize", "inputshape", "InputShape"]) {
      await expectBothFail(
        `${api.name} ${key}`,
        api.name,
        () => api.sync(goodKernel(), { [key]: [4, 4] } as never),
        () => api.async(goodKernel(), { [key]: [4, 4] } as never),
        TypeError,
        new RegExp(`did you mean \`inputShape\`\\?\\): current value is "${key}"$`),
      );
    }
  }
});

test("bad input: a key with nothing near it lists the function's options; each function knows its own", async () => {
  for (const api of EVERY) {
    await expectBothFail(
      `${api.name} foo`,
      api.name,
      () => api.sync(goodKernel(), { ...GOOD_OPTIONS, foo: 1 } as never),
      () => api.async(goodKernel(), { ...GOOD_OPTIONS, foo: 1 } as never),
      TypeError,
      new RegExp(
        `known: inputShape, layout, .*maxWork, backend${
          api.own.map((k) => `.*${k}`).join("")
        }\\): current value is "foo"$`,
      ),
    );
    // Another function's option is refused where it means nothing.
    const foreign = ["iterations", "gridCandidates", "seed", "method"].find((k) => !api.own.includes(k))!;
    await expectBothFail(
      `${api.name} ${foreign}`,
      api.name,
      () => api.sync(goodKernel(), { ...GOOD_OPTIONS, [foreign]: 1 } as never),
      () => api.async(goodKernel(), { ...GOOD_OPTIONS, [foreign]: 1 } as never),
      TypeError,
      new RegExp(`${api.name}(Sync)? knows .*: current value is "${foreign}"$`),
    );
    // Typos of its own options.
    for (const key of api.own) {
      const typo = key.slice(0, -1);
      await expectBothFail(
        `${api.name} ${typo}`,
        api.name,
        () => api.sync(goodKernel(), { ...GOOD_OPTIONS, [typo]: 1 } as never),
        () => api.async(goodKernel(), { ...GOOD_OPTIONS, [typo]: 1 } as never),
        TypeError,
        new RegExp(`did you mean \`${key}\`\\?\\): current value is "${typo}"$`),
      );
    }
  }
});

test("bad input: every known key is accepted (undefined values), by every function", async () => {
  const every = Object.fromEntries(Object.keys(LAYER_OPTIONS).map((k) => [k, undefined]));
  for (const api of EVERY) {
    const options = { ...every, ...Object.fromEntries(api.own.map((k) => [k, undefined])), inputShape: [4, 4] };
    assert.doesNotThrow(() => api.sync(goodKernel(), options as never), api.name);
    await api.async(goodKernel(), options as never);
  }
});

test("bad input: a model layer spread into the options, or the kernel among them, says what to pass instead", async () => {
  const layer = { name: "conv1", kernel: goodKernel(), layout: "oihw", stride: [1, 1], inputShape: [4, 4] };
  await expectFailure("a ConvLayer", goodKernel(), layer, TypeError, /ConvLayer is not an options object.*"name"$/);
  await expectFailure(
    "kernel in options",
    goodKernel(),
    { ...GOOD_OPTIONS, kernel: goodKernel() },
    TypeError,
    /the kernel is the first argument, not an option\): current value is "kernel"$/,
  );
});

test("bad input: a kernel field other than data and shape is a TypeError; layout there says where it goes", async () => {
  for (const api of EVERY) {
    await expectBothFail(
      `${api.name} kernel.layout`,
      api.name,
      () => api.sync({ ...goodKernel(), layout: "hwio" } as never, GOOD_OPTIONS),
      () => api.async({ ...goodKernel(), layout: "hwio" } as never, GOOD_OPTIONS),
      TypeError,
      /each field of a kernel must be data or shape \(layout is an option: pass it next to inputShape\): current value is "layout"$/,
    );
  }
  await expectFailure(
    "kernel.strides",
    { ...goodKernel(), strides: 1 },
    GOOD_OPTIONS,
    TypeError,
    /each field of a kernel must be data or shape \(known: data, shape\): current value is "strides"$/,
  );
  await expectFailure(
    "kernel.dta",
    { ...goodKernel(), dta: 1 },
    GOOD_OPTIONS,
    TypeError,
    /each field of a kernel must be data or shape \(did you mean `data`\?\): current value is "dta"$/,
  );
});

test("bad input: KnownKeys tables must list every option (a compile-time check)", () => {
  // @ts-expect-error: the table lacks every option but inputShape
  const partial: KnownKeys<SingularValuesOptions> = { inputShape: true };
  // @ts-expect-error: the table lists an option the interface does not have
  const extra: KnownKeys<{ a?: number }> = { a: true, b: true };
  assert.ok(partial && extra);
  assert.deepEqual(
    Object.keys(LAYER_OPTIONS).sort(),
    [
      "backend",
      "dilation",
      "groups",
      "inputShape",
      "layout",
      "maxWork",
      "onProgress",
      "outputPadding",
      "padding",
      "precision",
      "signal",
      "stride",
      "threads",
      "transposed",
    ],
  );
});

test("bad input: a TensorFlow kernel passed without a layout is refused, naming the layout to pass and the shapes", async () => {
  const tf = { data: Float64Array.from({ length: 3 * 3 * 8 * 8 }, (_, i) => Math.sin(i)), shape: [3, 3, 8, 8] };
  for (const api of EVERY) {
    await expectBothFail(
      `${api.name} hwio [3, 3, 8, 8] on [6, 6]`,
      api.name,
      () => api.sync(tf, { inputShape: [6, 6] }),
      () => api.async(tf, { inputShape: [6, 6] }),
      RangeError,
      new RegExp(
        escape(
          `default layout "oihw" [c_out, c_in, k_h, k_w] must not have more taps than the input has positions on any axis (a TensorFlow kernel "hwio" [k_h, k_w, c_in, c_out] needs layout: "hwio"; pass layout: "oihw" to let a larger kernel wrap): current value is kernel.shape [3, 3, 8, 8] (taps [8, 8]) for inputShape [6, 6]`,
        ),
      ),
    );
  }
  // One axis is enough; 1-D and 3-D name their own layouts.
  await expectFailure(
    "taps [8, 8] on [16, 6]",
    tf,
    { inputShape: [16, 6] },
    RangeError,
    /needs layout: "hwio".*taps \[8, 8\]\) for inputShape \[16, 6\]$/,
  );
  assert.throws(
    () => singularValuesSync({ data: new Float64Array(3 * 4 * 4), shape: [3, 4, 4] }, { inputShape: [3] }),
    /default layout "oiw" \[c_out, c_in, k_w\].*"wio" \[k_w, c_in, c_out\] needs layout: "wio".*taps \[4\]\) for inputShape \[3\]$/,
  );
  assert.throws(
    () => singularValuesSync({ data: new Float64Array(27 * 16), shape: [3, 3, 3, 4, 4] }, { inputShape: [8, 8, 3] }),
    /default layout "oidhw".*"dhwio" \[k_d, k_h, k_w, c_in, c_out\] needs layout: "dhwio".*taps \[3, 4, 4\]\) for inputShape \[8, 8, 3\]$/,
  );
  // A transposed layer is compared with its forward input (stride × its own).
  assert.throws(
    () => singularValuesSync(tf, { inputShape: [3, 3], stride: 2, transposed: true }),
    /needs layout: "hwio".*taps \[8, 8\]\) for the forward input \[6, 6\] of inputShape \[3, 3\]$/,
  );
  assert.doesNotThrow(() => singularValuesSync(tf, { inputShape: [4, 4], stride: 2, transposed: true }));
  // With the layout given: as TensorFlow means it, or a PyTorch kernel that wraps (the same values as it folded).
  const hwio = singularValuesSync(tf, { inputShape: [6, 6], layout: "hwio" });
  assert.equal(hwio.length, 6 * 6 * 8);
  const wrapped = singularValuesSync(tf, { inputShape: [6, 6], layout: "oihw" });
  assert.equal(wrapped.length, 6 * 6 * 3);
  const folded = new Float64Array(3 * 3 * 6 * 6);
  for (let oi = 0; oi < 9; oi++) {
    for (let a = 0; a < 8; a++) {
      for (let b = 0; b < 8; b++) folded[oi * 36 + (a % 6) * 6 + (b % 6)] += tf.data[oi * 64 + a * 8 + b];
    }
  }
  const ref = singularValuesSync({ data: folded, shape: [3, 3, 6, 6] }, { inputShape: [6, 6] });
  ref.forEach((x, i) => assert.ok(Math.abs(x - wrapped[i]) <= 1e-12 * ref[0], `σ_${i}`));
});
