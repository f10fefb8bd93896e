/**
 * Refusals before work (issue 18, items 5 and 7): every entry point, sync
 * and async, estimates its memory and its work from the sizes and refuses a
 * call that would take minutes or tens of GB with a RangeError naming the
 * size, in well under a second (each case is timed: a refusal that came
 * after the work would take minutes); wrong option types say the type.
 * Deno and Bun.
 */
import assert from "node:assert/strict";
import { test } from "./_test.ts";
import { expectBothFail } from "./_failures.ts";
import {
  clipOperatorNorm,
  clipOperatorNormSync,
  frequencySvd,
  frequencySvdSync,
  gramIterationNorm,
  gramIterationNormSync,
  operatorNorm,
  operatorNormBounds,
  operatorNormBoundsSync,
  operatorNormSync,
  powerIterationNorm,
  powerIterationNormSync,
  singularValues,
  singularValuesSync,
  spectrum,
  spectrumSync,
  topSingularVectors,
  topSingularVectorsSync,
} from "../mod.ts";
import type { Kernel } from "../mod.ts";

const one: Kernel = { data: new Float64Array(9).fill(1), shape: [1, 1, 3, 3] };
const wide = (c: number): Kernel => ({
  data: Float64Array.from({ length: c * c * 9 }, (_, i) => Math.sin(i + 1)),
  shape: [c, c, 3, 3],
});

/** Both forms refuse with a RangeError matching `size`, each within `ms`. */
async function refusesFast(
  label: string,
  sync: () => unknown,
  async: () => Promise<unknown>,
  size: RegExp,
  ms = 2000,
): Promise<void> {
  for (const [how, call] of [["sync", sync], ["async", async]] as const) {
    const t = performance.now();
    let err: unknown;
    try {
      await call();
    } catch (e) {
      err = e;
    }
    const elapsed = performance.now() - t;
    assert.ok(err instanceof RangeError, `${label} (${how}): expected a RangeError, got ${err}`);
    assert.match((err as Error).message, size, `${label} (${how}): the message does not name the size`);
    assert.ok(elapsed < ms, `${label} (${how}): refused after ${elapsed.toFixed(0)} ms (before work means < ${ms} ms)`);
  }
}

const MEMORY = /GiB|must be at most \d+: current value is \d+/;
const WORK = /estimated work must be at most maxWork = 1000000000000 .*current value is \d\.\d\de\+\d+/;

test("refusals: operatorNormBounds on a padded 3×3 at [20000, 20000] and [100000, 100000] refuses before work", async () => {
  for (const n of [20000, 100000]) {
    const o = { inputShape: [n, n], padding: 1 };
    await refusesFast(
      `bounds [${n}, ${n}]`,
      () => operatorNormBoundsSync(one, o),
      () => operatorNormBounds(one, o),
      /GiB|maxWork/,
    );
  }
  // The power iteration's operator at [20000, 20000]: 4e8 inputs, past 4 GiB of wasm memory.
  assert.throws(
    () => operatorNormBoundsSync(one, { inputShape: [20000, 20000], padding: 1 }),
    /wasm memory: current value is \d+\.\d\d GiB .*400000000 inputs/,
  );
});

test("refusals: gramIterationNorm at [20000, 20000] and [100000, 100000] refuses its work before starting", async () => {
  for (const n of [20000, 100000]) {
    for (const padding of [1, "circular"] as const) {
      const o = { inputShape: [n, n], padding };
      // Circular: validation already refuses a layer of more than 2^28 values.
      const size = padding === 1 ? WORK : new RegExp(`${WORK.source}|${MEMORY.source}`);
      await refusesFast(
        `gram [${n}, ${n}] ${padding}`,
        () => gramIterationNormSync(one, o),
        () => gramIterationNorm(one, o),
        size,
      );
    }
  }
});

test("refusals: powerIterationNorm past 4 GiB of wasm memory refuses before allocating", async () => {
  for (const n of [20000, 100000]) {
    const o = { inputShape: [n, n], padding: 1 };
    await refusesFast(
      `power [${n}, ${n}]`,
      () => powerIterationNormSync(one, o),
      () => powerIterationNorm(one, o),
      /GiB/,
    );
  }
});

test("refusals: singularValues, spectrum and operatorNorm at huge grids refuse before work", async () => {
  const huge = { inputShape: [100000, 100000] };
  await refusesFast("singularValues", () => singularValuesSync(one, huge), () => singularValues(one, huge), MEMORY);
  await refusesFast("spectrum", () => spectrumSync(one, huge), () => spectrum(one, huge), MEMORY);
  await refusesFast("operatorNorm", () => operatorNormSync(one, huge), () => operatorNorm(one, huge), MEMORY);
  // Values that fit, work that does not: 256 channels on a 1024² grid (~1e14 multiply–adds).
  const big = wide(256), o = { inputShape: [1024, 1024] };
  await refusesFast("singularValues work", () => singularValuesSync(big, o), () => singularValues(big, o), WORK);
  await refusesFast("operatorNorm work", () => operatorNormSync(big, o), () => operatorNorm(big, o), WORK);
});

test("refusals: clipOperatorNorm with Dykstra's corrections on a huge grid refuses before work", async () => {
  for (const [kernel, n] of [[one, 12000], [wide(64), 2048]] as const) {
    const o = { inputShape: [n, n], method: "dykstra" as const };
    await refusesFast(
      `clip dykstra [${n}, ${n}]`,
      () => clipOperatorNormSync(kernel, 1, o),
      () => clipOperatorNorm(kernel, 1, o),
      /GiB/,
    );
  }
  const o = { inputShape: [100000, 100000] };
  await refusesFast(
    "clip [100000, 100000]",
    () => clipOperatorNormSync(one, 1, o),
    () => clipOperatorNorm(one, 1, o),
    MEMORY,
  );
});

test("refusals: a dilation of 1e6 with zero padding refuses its grid's size before allocating", async () => {
  const o = { inputShape: [8, 8], dilation: 1e6, padding: "same" as const };
  await refusesFast(
    "bounds dilation 1e6",
    () => operatorNormBoundsSync(one, o),
    () => operatorNormBounds(one, o),
    /GiB/,
  );
  await refusesFast("gram dilation 1e6", () => gramIterationNormSync(one, o), () => gramIterationNorm(one, o), /GiB/);
  // Circular: the dilated kernel folds onto the 8 × 8 grid (at most n taps per axis) and computes at once.
  const t = performance.now();
  const v = singularValuesSync(one, { inputShape: [8, 8], dilation: 1e6 });
  assert.equal(v.length, 64);
  assert.ok(performance.now() - t < 2000);
  const p = powerIterationNormSync(one, o);
  assert.ok(p.lower > 0);
});

test("refusals: frequencySvd and topSingularVectors at huge grids refuse before work", async () => {
  const huge = { inputShape: [100000, 100000] };
  await refusesFast("frequencySvd", () => frequencySvdSync(one, huge), () => frequencySvd(one, huge), MEMORY);
  await refusesFast(
    "topSingularVectors",
    () => topSingularVectorsSync(one, huge),
    () => topSingularVectors(one, huge),
    MEMORY,
  );
  const big = wide(128), o = { inputShape: [1024, 1024] };
  await refusesFast(
    "frequencySvd work",
    () => frequencySvdSync(big, o),
    () => frequencySvd(big, o),
    /GiB|maxWork|at most/,
  );
  await refusesFast(
    "topSingularVectors work",
    () => topSingularVectorsSync(big, o),
    () => topSingularVectors(big, o),
    WORK,
  );
});

test("refusals: maxWork raises or lowers the cap, and is checked", async () => {
  const o = { inputShape: [16, 16], padding: 1 };
  await refusesFast(
    "maxWork 1",
    () => gramIterationNormSync(one, { ...o, maxWork: 1 }),
    () => gramIterationNorm(one, { ...o, maxWork: 1 }),
    /maxWork = 1 /,
  );
  assert.ok(gramIterationNormSync(one, { ...o, maxWork: Infinity }).upper > 0);
  await expectBothFail(
    'maxWork "1"',
    "operatorNorm",
    () => operatorNormSync(one, { inputShape: [8, 8], maxWork: "1" as unknown as number }),
    () => operatorNorm(one, { inputShape: [8, 8], maxWork: "1" as unknown as number }),
    TypeError,
    /maxWork must be a positive number.*current value is "1" \(string\)/,
  );
  await expectBothFail(
    "maxWork 0",
    "operatorNorm",
    () => operatorNormSync(one, { inputShape: [8, 8], maxWork: 0 }),
    () => operatorNorm(one, { inputShape: [8, 8], maxWork: 0 }),
    RangeError,
    /maxWork.*current value is 0$/,
  );
});

test("messages: a wrong type says the type (threads, precision, backend, iterations, scale, options of the layer)", async () => {
  const k = wide(2), base = { inputShape: [8, 8] };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['threads "2"', { threads: "2" }, /threads must be an integer: current value is "2" \(string\)$/],
    ["threads true", { threads: true }, /threads must be an integer: current value is true \(boolean\)$/],
    ["precision 1", { precision: 1 }, /precision must be "f64" or "f32": current value is 1 \(number\)$/],
    [
      "backend true",
      { backend: true },
      /backend must be "wasm", "webgpu" or "auto": current value is true \(boolean\)$/,
    ],
    ['backend "gpu"', { backend: "gpu" }, /current value is "gpu" \(string\)$/],
    ['groups "1"', { groups: "1" }, /groups must be a positive integer: current value is "1" \(string\)$/],
    ['transposed "yes"', { transposed: "yes" }, /transposed must be a boolean: current value is "yes" \(string\)$/],
    ["stride {}", { stride: {} }, /current value is Object \(object\)$/],
  ];
  for (const [label, extra, message] of cases) {
    await expectBothFail(
      label,
      "singularValues",
      () => singularValuesSync(k, { ...base, ...extra } as never),
      () => singularValues(k, { ...base, ...extra } as never),
      TypeError,
      message,
    );
  }
  const bounds: [string, Record<string, unknown>, RegExp][] = [
    ['maxIterations "3"', { maxIterations: "3" }, /maxIterations must be an integer: current value is "3" \(string\)$/],
    ['tolerance "1e-6"', { tolerance: "1e-6" }, /tolerance must be a number: current value is "1e-6" \(string\)$/],
  ];
  for (const [label, extra, message] of bounds) {
    await expectBothFail(
      label,
      "operatorNormBounds",
      () => operatorNormBoundsSync(k, { ...base, ...extra } as never),
      () => operatorNormBounds(k, { ...base, ...extra } as never),
      TypeError,
      message,
    );
  }
  await expectBothFail(
    'gram iterations "3"',
    "gramIterationNorm",
    () => gramIterationNormSync(k, { ...base, iterations: "3" } as never),
    () => gramIterationNorm(k, { ...base, iterations: "3" } as never),
    TypeError,
    /iterations must be an integer: current value is "3" \(string\)$/,
  );
  const clips: [string, Record<string, unknown>, RegExp][] = [
    ['iterations "3"', { iterations: "3" }, /iterations must be a positive integer: current value is "3" \(string\)$/],
    ['scale "x"', { scale: "x" }, /scale must be an array of 2 numbers.*current value is "x" \(string\)$/],
    ['scale[0] "1"', { scale: ["1", 1] }, /scale\[0\] must be a number: current value is "1" \(string\)$/],
    [
      "tolerance false",
      { tolerance: false },
      /tolerance must be a finite number ≥ 0: current value is false \(boolean\)$/,
    ],
    ["method 1", { method: 1 }, /method must be "alternating" or "dykstra": current value is 1 \(number\)$/],
  ];
  for (const [label, extra, message] of clips) {
    await expectBothFail(
      label,
      "clipOperatorNorm",
      () => clipOperatorNormSync(k, 1, { ...base, ...extra } as never),
      () => clipOperatorNorm(k, 1, { ...base, ...extra } as never),
      TypeError,
      message,
    );
  }
  await expectBothFail(
    'maxNorm "1"',
    "clipOperatorNorm",
    () => clipOperatorNormSync(k, "1" as never, base),
    () => clipOperatorNorm(k, "1" as never, base),
    TypeError,
    /maxNorm must be a number: current value is "1" \(string\)$/,
  );
});

test("messages: the CLI names a missing file and refuses a negative --max-norm as a value", async () => {
  const { run } = await import("../src/_cli/run.ts");
  const { readModelFile } = await import("../src/read_model.ts");
  const fs = await import("node:fs/promises");
  let err = "";
  const io = {
    stdout: () => {},
    stderr: { write: (s: string) => void (err += s), isTTY: false },
    writeFile: () => Promise.resolve(),
    readTextFile: (p: string) => fs.readFile(p, "utf8"),
    loadModel: (p: string) => readModelFile(p),
  } as never;
  assert.equal(await run(["report", "/no/such/model.onnx"], io), 1);
  assert.match(err, /^convsv: error: Cannot read \/no\/such\/model\.onnx: no such file\n$/);
  err = "";
  assert.equal(await run(["clip", "/no/such/model.onnx", "--max-norm", "-1"], io), 2);
  assert.match(err, /--max-norm must be a positive number: current value is -1\n$/);
});
