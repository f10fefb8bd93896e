// The frequency transform has two paths (direct DFT over the taps, and an FFT
// of the folded kernel for kernels as long as the input). Small property-test
// shapes only reach the direct path, so these cases force the FFT path and
// compare with a naive DFT: with r = min(c_in, c_out) = 1 every P(u, v) is a
// vector and its one singular value is its Euclidean norm.
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import { singularValuesSync, spectrumSync } from "../mod.ts";
import { loadWasmSync } from "../src/_wasm/loader.ts";

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** σ(u, v) = ‖P(u, v)‖₂ for a kernel with c_in = 1 (OIHW), folded onto h × w, by a naive DFT. */
function naiveVectorNorms(k: Float64Array, cOut: number, kh: number, kw: number, h: number, w: number): Float64Array {
  const out = new Float64Array(h * w);
  for (let u = 0; u < h; u++) {
    for (let v = 0; v < w; v++) {
      let ss = 0;
      for (let o = 0; o < cOut; o++) {
        let re = 0;
        let im = 0;
        for (let a = 0; a < kh; a++) {
          for (let b = 0; b < kw; b++) {
            const t = 2 * Math.PI * (((u * a) % h) / h + ((v * b) % w) / w);
            const x = k[(o * kh + a) * kw + b];
            re += x * Math.cos(t);
            im += x * Math.sin(t);
          }
        }
        ss += re * re + im * im;
      }
      out[u * w + v] = Math.sqrt(ss);
    }
  }
  return out;
}

for (const [h, w, kh, kw] of [[64, 64, 64, 64], [41, 37, 41, 30], [96, 5, 96, 3], [3, 128, 2, 128], [50, 50, 75, 60]]) {
  test(`spectrum() takes the FFT path and matches a naive DFT: ${kh}×${kw} kernel, 2→1 and 1→2, on ${h}×${w}`, () => {
    const core = loadWasmSync();
    const fh = Math.min(kh, h);
    const fw = Math.min(kw, w);
    // At least one axis must use the FFT, or this test does not test what it says.
    assert.ok(core.use_fft(fh, h, h) !== 0 || core.use_fft(fw, w, Math.floor(w / 2) + 1) !== 0);
    const r = rand(h * 1000 + kw);
    const data = Float64Array.from({ length: 2 * kh * kw }, r);
    // Fold wrapped taps for the naive reference (kernels larger than the input).
    const folded = new Float64Array(2 * fh * fw);
    for (let o = 0; o < 2; o++) {
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) folded[(o * fh + (a % h)) * fw + (b % w)] += data[(o * kh + a) * kw + b];
      }
    }
    const want = naiveVectorNorms(folded, 2, fh, fw, h, w);
    const max = want.reduce((m, x) => Math.max(m, x), 0);
    for (const shape of [[2, 1, kh, kw], [1, 2, kh, kw]]) {
      const s = spectrumSync({ data, shape }, { inputShape: [h, w] });
      assert.deepEqual(s.shape, [h, w, 1]);
      let worst = 0;
      for (let i = 0; i < h * w; i++) worst = Math.max(worst, Math.abs(s.values[i] - want[i]));
      assert.ok(worst <= 1e-12 * max, `max error ${worst} vs σ_max ${max}`);
    }
    const sv = singularValuesSync({ data, shape: [2, 1, kh, kw] }, { inputShape: [h, w] });
    const sorted = Array.from(want).sort((a, b) => b - a);
    for (let i = 0; i < sv.length; i++) assert.ok(Math.abs(sv[i] - sorted[i]) <= 1e-12 * max);
  });
}
