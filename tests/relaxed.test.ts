// Both SIMD builds ship: relaxed (fused multiply-adds, picked where the engine
// validates it) and plain (the fallback). Both must meet the accuracy bar.
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { clipOperatorNormSync, singularValues, singularValuesSync } from "../mod.ts";
import { decode, setSimdFlavour, usesRelaxedSimd } from "../src/_wasm/loader.ts";
import { WASM_RELAXED_BASE64 } from "../src/_wasm/binary_relaxed.ts";
import { denseLayerMatrix, jacobiSingularValues } from "./reference.ts";
import { lcgValues as kernel } from "./_random.ts";

const arb = fc.record({
  cOut: fc.integer({ min: 1, max: 5 }),
  cIn: fc.integer({ min: 1, max: 5 }),
  kh: fc.integer({ min: 1, max: 3 }),
  kw: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 1, max: 5 }),
  w: fc.integer({ min: 1, max: 5 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

/** Whether this engine (V8 in Deno, JavaScriptCore in Bun) validates the relaxed build. */
const relaxedValid = WebAssembly.validate(decode(WASM_RELAXED_BASE64));
const noRelaxed = !relaxedValid && "this engine does not validate relaxed SIMD";

for (const flavour of ["plain", "relaxed"] as const) {
  test(`the ${flavour} SIMD build matches the dense SVD to 1e-12·σ_max`, () => {
    try {
      setSimdFlavour(flavour);
      fc.assert(
        fc.property(arb, (c) => {
          const data = kernel(c.seed, c.cOut * c.cIn * c.kh * c.kw);
          const sv = singularValuesSync({ data, shape: [c.cOut, c.cIn, c.kh, c.kw] }, {
            inputShape: [c.h, c.w],
            layout: "oihw", // kernels may be larger than the input: they wrap
          });
          const A = denseLayerMatrix(data, c.cOut, c.cIn, c.kh, c.kw, c.h, c.w);
          const ref = jacobiSingularValues(A, c.cOut * c.h * c.w, c.cIn * c.h * c.w);
          for (let i = 0; i < sv.length; i++) {
            assert.ok(Math.abs(sv[i] - ref[i]) <= 1e-12 * ref[0], `${flavour}: σ_${i} ${sv[i]} vs ${ref[i]}`);
          }
        }),
        { numRuns: 60 },
      );
    } finally {
      setSimdFlavour("auto");
    }
  }, { ignore: flavour === "relaxed" && noRelaxed });
}

test("usesRelaxedSimd(): the flavour asked for, else (auto) relaxed exactly where the engine validates it", () => {
  try {
    setSimdFlavour("plain");
    assert.equal(usesRelaxedSimd(), false);
    setSimdFlavour("relaxed");
    assert.equal(usesRelaxedSimd(), true);
  } finally {
    setSimdFlavour("auto");
  }
  assert.equal(usesRelaxedSimd(), relaxedValid);
});

test("plain and relaxed builds agree to 1e-13·σ_max on larger layers, async (threads) too; clipping too", async () => {
  const data = kernel(11, 24 * 20 * 9);
  const k = { data, shape: [24, 20, 3, 3] };
  const opts = { inputShape: [9, 10] };
  try {
    setSimdFlavour("plain");
    const a = singularValuesSync(k, opts);
    const aT = await singularValues(k, { ...opts, threads: 2 });
    const ca = clipOperatorNormSync(k, 1, { ...opts, iterations: 2 });
    setSimdFlavour("relaxed");
    const b = singularValuesSync(k, opts);
    const bT = await singularValues(k, { ...opts, threads: 2 });
    const cb = clipOperatorNormSync(k, 1, { ...opts, iterations: 2 });
    assert.deepEqual(aT, a);
    assert.deepEqual(bT, b);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-13 * a[0]);
    for (let i = 0; i < ca.kernel.data.length; i++) assert.ok(Math.abs(ca.kernel.data[i] - cb.kernel.data[i]) <= 1e-13);
  } finally {
    setSimdFlavour("auto");
  }
}, { ignore: noRelaxed });
