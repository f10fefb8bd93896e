// The frequency transform has two paths (direct DFT over the taps, and an FFT
// of the folded kernel for kernels as long as the input). Small property-test
// shapes only reach the direct path, so these cases force the FFT path and
// compare with a naive DFT: with r = min(c_in, c_out) = 1 every P(u, v) is a
// vector and its one singular value is its Euclidean norm.
import { test } from "./_test.ts";
import { lcg32 } from "./_random.ts";
import assert from "node:assert/strict";
import { singularValuesSync, spectrumSync } from "../mod.ts";
import { loadWasmSync } from "../src/_wasm/loader.ts";

/** Uniform in [−0.5, 0.5). */
function rand(seed: number): () => number {
  const u = lcg32(seed);
  return () => u() - 0.5;
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
      const s = spectrumSync({ data, shape }, { inputShape: [h, w], layout: "oihw" });
      assert.deepEqual(s.shape, [h, w, 1]);
      let worst = 0;
      for (let i = 0; i < h * w; i++) worst = Math.max(worst, Math.abs(s.values[i] - want[i]));
      assert.ok(worst <= 1e-12 * max, `max error ${worst} vs σ_max ${max}`);
    }
    const sv = singularValuesSync({ data, shape: [2, 1, kh, kw] }, { inputShape: [h, w], layout: "oihw" });
    const sorted = Array.from(want).sort((a, b) => b - a);
    for (let i = 0; i < sv.length; i++) assert.ok(Math.abs(sv[i] - sorted[i]) <= 1e-12 * max);
  });
}

test("P from a tap-major transform (svd_column's SIMD path) has the same bits as from the row-major one", () => {
  const core = loadWasmSync();
  const cases = [[1, 1, 1, 5], [3, 5, 3, 7], [5, 3, 3, 8], [7, 7, 2, 9], [16, 9, 3, 16], [9, 16, 4, 12], [
    33,
    17,
    3,
    10,
  ]];
  for (const [cout, cin, kh, h] of cases) {
    const m = Math.max(cout, cin), n = Math.min(cout, cin), pairs = cout * cin, nrows = pairs * kh;
    const ld = core.lead_dim(m);
    const at = (core.heap_base() + 15) & ~15;
    const tr = at, ti = tr + nrows * 8, pr = ti + nrows * 8, pi = pr + nrows * 8;
    const a1 = pi + nrows * 8, a2 = a1 + 2 * ld * n * 8, work = a2 + 2 * ld * n * 8;
    const end = work + 16 * kh + 64;
    if (end > core.memory.buffer.byteLength) core.memory.grow(Math.ceil((end - core.memory.buffer.byteLength) / 65536));
    const mem = new Float64Array(core.memory.buffer);
    const r = rand(cout * 1000 + cin * 10 + kh);
    for (let o = 0; o < cout; o++) {
      for (let i = 0; i < cin; i++) {
        for (let a = 0; a < kh; a++) {
          const x = r(), y = r();
          const row = (o * cin + i) * kh + a;
          const tap = a * pairs + (cout >= cin ? i * cout + o : o * cin + i);
          mem[tr / 8 + row] = x;
          mem[ti / 8 + row] = y;
          mem[pr / 8 + tap] = x;
          mem[pi / 8 + tap] = y;
        }
      }
    }
    for (let u = 0; u < h; u++) {
      mem.fill(0, a1 / 8, work / 8);
      core.build_p_f64(tr, ti, cout, cin, kh, h, u, a1, a1 + ld * n * 8, ld, work);
      core.build_p_tap_f64(pr, pi, cout, cin, kh, h, u, a2, a2 + ld * n * 8, ld, work);
      const one = mem.subarray(a1 / 8, a1 / 8 + 2 * ld * n), two = mem.subarray(a2 / 8, a2 / 8 + 2 * ld * n);
      for (let j = 0; j < 2 * ld * n; j++) {
        if (!Object.is(one[j], two[j])) {
          assert.fail(`${cout}×${cin}, kh ${kh}, u ${u}: element ${j}: ${one[j]} vs ${two[j]}`);
        }
      }
    }
  }
});
