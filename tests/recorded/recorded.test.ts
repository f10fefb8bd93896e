/**
 * Results are bit-identical to the recorded ones (`values.json`, written by
 * `record.ts`): every layer kind and public numerical function, both SIMD
 * builds, sync, async and threaded.
 * @module
 */
import assert from "node:assert/strict";
import { test, underBun } from "../_test.ts";
import { computeAll } from "./cases.ts";
import { closeThreads } from "../../mod.ts";
import { setSimdFlavour } from "../../src/_wasm/loader.ts";
import recorded from "./values.json" with { type: "json" };

for (const flavour of ["plain", "relaxed"] as const) {
  test(`results are bit-identical to the recorded values (${flavour} SIMD build)`, async () => {
    setSimdFlavour(flavour);
    try {
      const want = (recorded as Record<string, Record<string, string>>)[flavour];
      const got = await computeAll();
      assert.equal(got.length, Object.keys(want).length, "the number of recorded outcomes");
      const differ = got.filter((r) => want[r.name] !== r.digest).map((r) => r.name);
      assert.deepEqual(differ, [], `outcomes whose bits changed (${flavour})`);
    } finally {
      closeThreads();
      setSimdFlavour("auto");
    }
  }, {
    timeoutMs: 600_000,
    threads: true,
    // The relaxed build's fused multiply-adds are recorded as V8 runs them (Deno, Node);
    // JavaScriptCore may not fuse them, so other bits there are expected.
    ignore: flavour === "relaxed" && underBun && "the relaxed build is recorded for V8, and Bun runs JavaScriptCore",
  });
}
