// Grouped layers run as one engine problem with diagonal blocks (many groups,
// depthwise, vector blocks): each checked against the dense SVD of every
// group's own layer, whose union is the grouped layer's spectrum.
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { singularValues, singularValuesSync, spectrumSync } from "../mod.ts";
import { referenceSingularValues } from "./reference.ts";
import { lcgValues as kernel } from "./_random.ts";

/** The union of the groups' dense spectra, decreasing: independent of the library's grouping. */
function groupedReference(
  data: Float64Array,
  g: number,
  cOutG: number,
  cInG: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
) {
  const size = cOutG * cInG * kh * kw;
  const all: number[] = [];
  for (let j = 0; j < g; j++) {
    all.push(...referenceSingularValues(data.slice(j * size, (j + 1) * size), cOutG, cInG, kh, kw, h, w));
  }
  return Float64Array.from(all).sort().reverse();
}

const arb = fc.record({
  g: fc.integer({ min: 2, max: 40 }),
  cOutG: fc.integer({ min: 1, max: 3 }),
  cInG: fc.integer({ min: 1, max: 3 }),
  kh: fc.integer({ min: 1, max: 3 }),
  kw: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 1, max: 5 }),
  w: fc.integer({ min: 1, max: 5 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

test("groups: up to 40 groups (vector and matrix blocks, > 32 values per frequency) match the union of the groups' dense spectra", () => {
  fc.assert(
    fc.property(arb, (c) => {
      const data = kernel(c.seed, c.g * c.cOutG * c.cInG * c.kh * c.kw);
      const k = { data, shape: [c.g * c.cOutG, c.cInG, c.kh, c.kw] };
      const got = singularValuesSync(k, { inputShape: [c.h, c.w], groups: c.g, layout: "oihw" }); // may wrap
      const ref = groupedReference(data, c.g, c.cOutG, c.cInG, c.kh, c.kw, c.h, c.w);
      assert.equal(got.length, ref.length);
      const tol = 1e-12 * Math.max(ref[0], 1e-300);
      for (let i = 0; i < ref.length; i++) {
        assert.ok(Math.abs(got[i] - ref[i]) <= tol, `${JSON.stringify(c)} value ${i}: ${got[i]} vs ${ref[i]}`);
      }
      for (let i = 1; i < got.length; i++) assert.ok(got[i] <= got[i - 1], "decreasing");
    }),
    { numRuns: 40 },
  );
});

test("groups: each frequency's row of the spectrum is decreasing, and threads 1–3 and f32 agree with the sync f64 form", async () => {
  const [g, cOutG, cInG, h, w] = [24, 2, 1, 6, 7];
  const data = kernel(7, g * cOutG * cInG * 9);
  const k = { data, shape: [g * cOutG, cInG, 3, 3] };
  const opts = { inputShape: [h, w], groups: g };
  const sync = singularValuesSync(k, opts);
  for (const threads of [1, 2, 3]) assert.deepEqual(await singularValues(k, { ...opts, threads }), sync);
  const f32 = singularValuesSync(k, { ...opts, precision: "f32" });
  for (let i = 0; i < sync.length; i++) assert.ok(Math.abs(f32[i] - sync[i]) <= 1e-5 * sync[0]);
  const s = spectrumSync(k, opts);
  const r = g * Math.min(cOutG, cInG);
  assert.equal(s.values.length, h * w * r);
  for (let c = 0; c < h * w; c++) {
    for (let j = 1; j < r; j++) assert.ok(s.values[c * r + j] <= s.values[c * r + j - 1]);
  }
});

test("depthwise: each channel's values are |DFT of its filter| (closed form), 64 channels on 9×8", () => {
  const [c, h, w] = [64, 9, 8];
  const data = kernel(11, c * 9);
  const got = singularValuesSync({ data, shape: [c, 1, 3, 3] }, { inputShape: [h, w], groups: c });
  const ref: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    for (let u = 0; u < h; u++) {
      for (let v = 0; v < w; v++) {
        let re = 0, im = 0;
        for (let a = 0; a < 3; a++) {
          for (let b = 0; b < 3; b++) {
            const ang = 2 * Math.PI * (u * a / h + v * b / w);
            re += data[ch * 9 + a * 3 + b] * Math.cos(ang);
            im += data[ch * 9 + a * 3 + b] * Math.sin(ang);
          }
        }
        ref.push(Math.hypot(re, im));
      }
    }
  }
  ref.sort((x, y) => y - x);
  for (let i = 0; i < ref.length; i++) {
    assert.ok(Math.abs(got[i] - ref[i]) <= 1e-13 * ref[0], `${i}: ${got[i]} vs ${ref[i]}`);
  }
});
