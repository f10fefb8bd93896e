// Node smoke test: the bundled package (build/convsv.mjs, made by `deno bundle`
// in tests/run_all.mjs) loads its embedded wasm in Node and matches known values.
import { test } from "node:test";
import assert from "node:assert/strict";

const lib = await import("../build/convsv.mjs");

test("Node: singularValuesSync() of a 2-tap filter matches |1 + e^{2πiu/4}|", () => {
  const sv = lib.singularValuesSync({ data: new Float64Array([1, 1]), shape: [1, 1, 2, 1] }, { inputShape: [4, 1] });
  const want = [2, Math.SQRT2, Math.SQRT2, 0];
  assert.equal(sv.length, 4);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(sv[i] - want[i]) < 1e-15, `${sv[i]} vs ${want[i]}`);
});

test("Node: async API, hwio layout and Float32Array agree with the sync oihw form", async () => {
  const oihw = Float32Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => Math.sin(i * 0.37));
  const hwio = new Float32Array(oihw.length);
  for (let o = 0; o < 4; o++) {
    for (let i = 0; i < 3; i++) {
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) hwio[((a * 3 + b) * 3 + i) * 4 + o] = oihw[((o * 3 + i) * 3 + a) * 3 + b];
      }
    }
  }
  const a = lib.singularValuesSync({ data: oihw, shape: [4, 3, 3, 3] }, { inputShape: [5, 6] });
  const b = await lib.singularValues({ data: hwio, shape: [3, 3, 3, 4] }, { inputShape: [5, 6], layout: "hwio" });
  assert.deepEqual(Array.from(a), Array.from(b));
  const norm = await lib.operatorNorm({ data: oihw, shape: [4, 3, 3, 3] }, { inputShape: [5, 6] });
  assert.equal(norm, a[0]);
});

test("Node: bad input is refused with the value in the message", () => {
  assert.throws(
    () => lib.singularValuesSync({ data: new Float64Array(9), shape: [1, 1, 3, 3] }, { inputShape: [0, 4] }),
    (e) => e instanceof RangeError && e.message.includes("[0, 4]"),
  );
});
