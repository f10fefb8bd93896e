/**
 * operatorNorm without the whole spectrum (src/_norm.ts, the engine's
 * screened norm): it must be the spectrum's largest value, bit for bit, on
 * every layer kind — including layers whose frequencies tie or nearly tie
 * (the certificate must then send them to the SVD) and peaked spectra
 * (almost every frequency proven below). The spectrum itself is checked
 * against dense references elsewhere (tests/layer_kinds.test.ts,
 * tests/singular_values.test.ts).
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { test } from "./_test.ts";
import { signedUniform } from "./_random.ts";
import {
  clipOperatorNormSync,
  closeThreads,
  type Kernel,
  operatorNorm,
  operatorNormSync,
  type SingularValuesOptions,
  spectrum,
  spectrumSync,
} from "../mod.ts";

interface Layer {
  kernel: Kernel;
  options: SingularValuesOptions;
  what: string;
}

/** A random layer of one kind, c and d channels (c_in, c_out) on grids of about n. */
const layerOf = (c: fc.Arbitrary<number>, d: fc.Arbitrary<number>, n: fc.Arbitrary<number>): fc.Arbitrary<Layer> =>
  fc.record({
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    kind: fc.constantFrom(
      "plain",
      "stride",
      "groups",
      "depthwise",
      "depthwise 1-D",
      "dilation",
      "transposed",
      "1-D",
      "3-D",
      "1×1",
      "wide",
    ),
    c,
    d,
    n,
    k: fc.integer({ min: 1, max: 4 }),
  }).map(({ seed, kind, c, d, n, k }) => {
    const base = { what: `${kind} c ${c}/${d} n ${n} k ${k} seed ${seed}` };
    const data = (len: number) => signedUniform(seed, len);
    switch (kind) {
      case "stride":
        return {
          ...base,
          kernel: { data: data(d * c * k * k), shape: [d, c, k, k] },
          options: { inputShape: [2 * n, 2 * n + 2], stride: 2, layout: "oihw" },
        };
      case "groups":
        return {
          ...base,
          kernel: { data: data(2 * d * c * k * k), shape: [2 * d, c, k, k] },
          options: { inputShape: [n, n + 1], groups: 2, layout: "oihw" },
        };
      case "depthwise":
        // 1×1 frequency matrices: elementwise, groups bounded below the largest value skipped.
        return {
          ...base,
          kernel: { data: data(d * 4 * k * (k + 1)), shape: [4 * d, 1, k + 1, k] },
          options: { inputShape: [n + 3, n + 1], groups: 4 * d, layout: "oihw" },
        };
      case "depthwise 1-D":
        return {
          ...base,
          kernel: { data: data(c * k), shape: [c, 1, k] },
          options: { inputShape: [2 * n], groups: c, layout: "oiw" },
        };
      case "dilation":
        return {
          ...base,
          kernel: { data: data(d * c * k * k), shape: [d, c, k, k] },
          options: { inputShape: [n + 3, n + 2], dilation: 2, layout: "oihw" },
        };
      case "transposed":
        return {
          ...base,
          kernel: { data: data(c * d * k * k), shape: [c, d, k, k] },
          options: { inputShape: [n, n], stride: 2, transposed: true, layout: "oihw" },
        };
      case "1-D":
        return {
          ...base,
          kernel: { data: data(d * c * k), shape: [d, c, k] },
          options: { inputShape: [3 * n], layout: "oiw" },
        };
      case "3-D":
        return {
          ...base,
          kernel: { data: data(d * c * 2 * k * k), shape: [d, c, 2, k, k] },
          options: { inputShape: [3, n, n], layout: "oidhw" },
        };
      case "1×1":
        return { ...base, kernel: { data: data(d * c), shape: [d, c, 1, 1] }, options: { inputShape: [n, n + 3] } };
      case "wide":
        return {
          ...base,
          kernel: { data: data(c * 2 * d * k * k), shape: [c, 2 * d, k, k] },
          options: { inputShape: [n + 1, n], layout: "oihw" },
        };
      default:
        return {
          ...base,
          kernel: { data: data(d * c * k * k), shape: [d, c, k, k] },
          options: { inputShape: [n, n + 2], layout: "oihw" },
        };
    }
  });

/** At least 8 values per block (screened in the Gram domain or by products PᴴP), grids up to ~9. */
const layerArb = layerOf(
  fc.integer({ min: 8, max: 20 }),
  fc.integer({ min: 8, max: 24 }),
  fc.integer({ min: 2, max: 9 }),
);

test("operatorNorm: equals the spectrum's largest value bit for bit on random layers of every kind (sync, async, async with a signal)", async () => {
  await fc.assert(
    fc.asyncProperty(layerArb, async ({ kernel, options, what }) => {
      const want = spectrumSync(kernel, options).norm;
      assert.ok(Object.is(operatorNormSync(kernel, options), want), `sync: ${what}`);
      assert.ok(Object.is(await operatorNorm(kernel, options), want), `async: ${what}`);
      const signal = new AbortController().signal;
      assert.ok(Object.is(await operatorNorm(kernel, { ...options, signal }), want), `signal: ${what}`);
    }),
    { numRuns: 60, seed: 4242 },
  );
});

test("operatorNorm: blocks of 1 to 7 values on larger grids (screened in the Gram domain), bit for bit", () => {
  const small = layerOf(
    fc.integer({ min: 1, max: 7 }),
    fc.integer({ min: 1, max: 7 }),
    fc.integer({ min: 6, max: 14 }),
  );
  fc.assert(
    fc.property(small, ({ kernel, options, what }) => {
      assert.ok(Object.is(operatorNormSync(kernel, options), spectrumSync(kernel, options).norm), what);
    }),
    { numRuns: 80, seed: 99 },
  );
});

test("operatorNorm: 3×3 kernels of 128 to 160 channels on grids of 9 to 16 frequencies (screened only from 128 values per block, on the real sample points), bit for bit", () => {
  for (const [cOut, cIn, h, w, seed] of [[128, 128, 4, 4, 41], [160, 136, 3, 4, 42], [130, 150, 4, 3, 43]]) {
    const kernel = { data: signedUniform(seed, cOut * cIn * 9), shape: [cOut, cIn, 3, 3] };
    const options = { inputShape: [h, w] };
    const what = `${cOut} → ${cIn} on ${h}×${w}`;
    assert.ok(Object.is(operatorNormSync(kernel, options), spectrumSync(kernel, options).norm), what);
  }
});

test("operatorNorm: ties and near-ties between frequencies (the certificate refuses them, they are factorised)", () => {
  const c = 12;
  // The centre tap alone: every frequency has the same matrix, so the same σ_max.
  const centre = signedUniform(7, c * c);
  for (const eps of [0, 1e-15, 1e-13, 1e-9]) {
    const data = new Float64Array(c * c * 9);
    for (let o = 0; o < c; o++) {
      for (let i = 0; i < c; i++) {
        const at = (o * c + i) * 9;
        data[at + 4] = centre[o * c + i];
        // Other taps of size eps: every frequency's σ_max within ~eps of the others.
        for (const t of [0, 1, 2, 3, 5, 6, 7, 8]) data[at + t] = eps * Math.sin(o * 13 + i * 7 + t);
      }
    }
    const kernel = { data, shape: [c, c, 3, 3] };
    for (const inputShape of [[6, 6], [5, 7], [8, 1]]) {
      const options = { inputShape, layout: "oihw" } as const;
      const want = spectrumSync(kernel, options).norm;
      assert.ok(Object.is(operatorNormSync(kernel, options), want), `eps ${eps} on ${inputShape}`);
    }
  }
  // An orthogonal-like layer: the identity at one tap (every value 1 at every frequency).
  const id = new Float64Array(c * c * 9);
  for (let o = 0; o < c; o++) id[(o * c + o) * 9 + 4] = 1;
  assert.equal(operatorNormSync({ data: id, shape: [c, c, 3, 3] }, { inputShape: [5, 5] }), 1);
});

test("operatorNorm: clipped kernels, whose frequencies tie within a percent (the screen leaves several open, ordered by longer estimates), bit for bit", async () => {
  for (const [c, h, w] of [[16, 6, 6], [24, 8, 8], [32, 6, 7], [48, 5, 8], [20, 9, 9]]) {
    const kernel = { data: signedUniform(c + h, c * c * 9), shape: [c, c, 3, 3] };
    const options = { inputShape: [h, w] };
    const r = 0.5 * operatorNormSync(kernel, options);
    for (const iterations of [1, 3]) {
      const clipped = clipOperatorNormSync(kernel, r, { ...options, iterations }).kernel;
      const what = `${c} channels on ${h}×${w}, ${iterations} round(s)`;
      const want = spectrumSync(clipped, options).norm;
      assert.ok(Object.is(operatorNormSync(clipped, options), want), what);
      assert.ok(Object.is(await operatorNorm(clipped, options), want), `${what}, async`);
    }
  }
});

test("operatorNorm: a 3-D layer whose norm is in a depth frequency taken after another (its floor leaves many frequencies open, ordered by their estimates), bit for bit", () => {
  // Depth taps K_0 = A + B, K_1 = A − B: depth frequency 0 is 2A, depth frequency d/2 is 2B. B is spread
  // (the larger Frobenius norm: taken first), A a rank-one plane wave per tap (the larger σ at many (u, v)).
  const c = 12, kh = 3, taps = kh * kh;
  const x = signedUniform(31, c), y = signedUniform(32, c), w = signedUniform(33, taps);
  for (const scaleA of [0.35, 0.6, 1]) {
    const b = signedUniform(34, c * c * taps);
    const data = new Float64Array(c * c * 2 * taps);
    for (let o = 0; o < c; o++) {
      for (let i = 0; i < c; i++) {
        for (let t = 0; t < taps; t++) {
          const a = scaleA * 4 * x[o] * y[i] * w[t], bt = b[(o * c + i) * taps + t];
          data[((o * c + i) * 2 + 0) * taps + t] = a + bt;
          data[((o * c + i) * 2 + 1) * taps + t] = a - bt;
        }
      }
    }
    const kernel = { data, shape: [c, c, 2, kh, kh] };
    for (const inputShape of [[4, 9, 9], [6, 8, 7]]) {
      const options = { inputShape, layout: "oidhw" } as const;
      const want = spectrumSync(kernel, options).norm;
      assert.ok(Object.is(operatorNormSync(kernel, options), want), `A × ${scaleA} on ${inputShape}`);
    }
  }
});

test("operatorNorm: a peaked spectrum (one frequency far above the rest) and scaled kernels (1e-200, 1e200)", () => {
  const c = 16, n = 10;
  const base = signedUniform(11, c * c * 9);
  // Add a strong component at one frequency: a rank-one plane wave along the taps.
  const u = signedUniform(12, c), v = signedUniform(13, c);
  for (let o = 0; o < c; o++) {
    for (let i = 0; i < c; i++) {
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) {
          base[((o * c + i) * 3 + a) * 3 + b] += 8 * u[o] * v[i] * Math.cos((2 * Math.PI * (2 * a + 3 * b)) / n);
        }
      }
    }
  }
  for (const f of [1, 1e-200, 1e200]) {
    const kernel = { data: Float64Array.from(base, (x) => x * f), shape: [c, c, 3, 3] };
    const want = spectrumSync(kernel, { inputShape: [n, n] }).norm;
    assert.ok(Object.is(operatorNormSync(kernel, { inputShape: [n, n] }), want), `scale ${f}`);
  }
});

test("operatorNorm: onProgress reaches its total; an aborted signal rejects with its reason before any work", async () => {
  const kernel = { data: signedUniform(3, 16 * 16 * 9), shape: [16, 16, 3, 3] };
  const seen: { done: number; total: number }[] = [];
  await operatorNorm(kernel, { inputShape: [8, 8], onProgress: (p) => seen.push(p) });
  assert.ok(seen.length > 0 && seen.at(-1)!.done === seen.at(-1)!.total, JSON.stringify(seen));
  // The same units as the spectrum's: the frequencies of the layer's problems.
  const walked: { done: number; total: number }[] = [];
  await spectrum(kernel, { inputShape: [8, 8], onProgress: (p) => walked.push(p) });
  assert.equal(seen.at(-1)!.total, walked.at(-1)!.total);
  const ac = new AbortController();
  ac.abort(new Error("stop"));
  await assert.rejects(operatorNorm(kernel, { inputShape: [8, 8], signal: ac.signal }), /stop/);
});

test("operatorNorm: f32 and threads are still served (the spectrum's path for f32)", async () => {
  const kernel = { data: signedUniform(5, 16 * 16 * 9), shape: [16, 16, 3, 3] };
  const f64 = operatorNormSync(kernel, { inputShape: [8, 8] });
  assert.ok(Object.is(await operatorNorm(kernel, { inputShape: [8, 8], threads: 2 }), f64));
  const f32 = operatorNormSync(kernel, { inputShape: [8, 8], precision: "f32" });
  assert.ok(Object.is(f32, spectrumSync(kernel, { inputShape: [8, 8], precision: "f32" }).norm));
  assert.ok(Math.abs(f32 - f64) <= 1e-5 * f64);
  closeThreads();
}, { threads: true });

test("operatorNorm: one frequency per problem (one-tap kernels, grouped or not; a 1×1 grid; 3-D depth problems under a floor), bit for bit", () => {
  const cases: [string, { data: Float64Array; shape: number[] }, SingularValuesOptions][] = [
    ["1×1, 40 → 24", { data: signedUniform(71, 24 * 40), shape: [24, 40, 1, 1] }, { inputShape: [5, 7] }],
    ["1×1, 4 groups", { data: signedUniform(72, 32 * 10), shape: [32, 10, 1, 1] }, { inputShape: [6, 6], groups: 4 }],
    ["3×3 on a 1×1 grid", { data: signedUniform(73, 20 * 12 * 9), shape: [20, 12, 3, 3] }, {
      inputShape: [1, 1],
      layout: "oihw",
    }],
    // Depth taps, one spatial tap: each depth frequency is one problem of one frequency, the later ones under the
    // floor of those before.
    ["3-D, 3×1×1", { data: signedUniform(74, 16 * 16 * 3), shape: [16, 16, 3, 1, 1] }, { inputShape: [6, 4, 4] }],
  ];
  for (const [what, kernel, options] of cases) {
    const want = spectrumSync(kernel, options).norm;
    assert.ok(want > 0, what);
    assert.ok(Object.is(operatorNormSync(kernel, options), want), what);
  }
});
