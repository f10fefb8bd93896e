/**
 * Results say which wasm build ran (`simd`), on the calling thread and on
 * the worker pool, and WebGPU results carry none.
 * @module
 */
import assert from "node:assert/strict";
import { test } from "./_test.ts";
import {
  clipOperatorNorm,
  clipOperatorNormSync,
  closeThreads,
  frequencySvdSync,
  operatorNormBoundsSync,
  spectrum,
  spectrumSync,
  topSingularVectors,
} from "../mod.ts";
import { setSimdFlavour, usesRelaxedSimd } from "../src/_wasm/loader.ts";

const kernel = { data: Float64Array.from({ length: 4 * 3 * 9 }, (_, i) => Math.sin(i * 0.9)), shape: [4, 3, 3, 3] };
const options = { inputShape: [6, 6] };

for (const flavour of ["plain", "relaxed"] as const) {
  test(`results name the ${flavour} build when it runs (sync, one thread and the pool)`, async () => {
    setSimdFlavour(flavour);
    try {
      const want = usesRelaxedSimd() ? "relaxed" : "plain";
      assert.equal(want, flavour, "the build asked for is the one that loads");
      assert.equal(spectrumSync(kernel, options).simd, want);
      assert.equal((await spectrum(kernel, { ...options, threads: 1 })).simd, want);
      assert.equal((await spectrum(kernel, { ...options, threads: 2 })).simd, want);
      assert.equal(clipOperatorNormSync(kernel, 0.5, options).simd, want);
      assert.equal((await clipOperatorNorm(kernel, 0.5, { ...options, threads: 2 })).simd, want);
      assert.equal(frequencySvdSync(kernel, options).simd, want);
      assert.equal((await topSingularVectors(kernel, options)).simd, want);
      assert.equal(operatorNormBoundsSync(kernel, { ...options, padding: 1 }).simd, want);
    } finally {
      closeThreads();
      setSimdFlavour("auto");
    }
  }, {
    threads: true,
    ignore: flavour === "relaxed" && !relaxedAvailable() && "this engine does not validate relaxed SIMD",
  });
}

function relaxedAvailable(): boolean {
  setSimdFlavour("auto");
  return usesRelaxedSimd();
}
