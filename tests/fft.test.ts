/**
 * Tests of the wasm core's batched DFT (assembly/fft.ts):
 *
 *     X[k] = Σ_j x[j] · exp(+2πi·j·k/n)      (no scaling)
 *
 * against a naive O(n²) DFT in plain TypeScript whose twiddles use exact
 * angles 2π·((j·k) mod n)/n and whose sums are compensated (Neumaier), so the
 * reference is far more accurate than the bound checked:
 *
 *     max_k |X[k] − X_ref[k]|  ≤  1e-13 · ‖x‖₂ · √n · max(1, log₂ n)   per sequence.
 *
 * @module
 */
import { test } from "./_test.ts";
import { mulberry32 } from "./_random.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { loadWasmSync } from "../src/_wasm/loader.ts";

const wasm = loadWasmSync();

const TOL = 1e-13;
const HARD_LENGTHS = [
  1,
  2,
  3,
  4,
  5,
  7,
  8,
  64,
  97,
  127,
  128,
  210,
  223,
  1024,
  4095,
];

// ---------------------------------------------------------------------------
// helpers

const align16 = (p: number) => (p + 15) & ~15;

/** Grows the module's memory so that [0, end) is addressable. */
function ensureMemory(end: number): void {
  const have = wasm.memory.buffer.byteLength;
  if (end > have) wasm.memory.grow(Math.ceil((end - have) / 65536));
}

interface Layout {
  plan: number;
  re: number;
  im: number;
  /** Guard words just before re and just after the end of im. */
  guardLo: number;
  guardHi: number;
}

/** Places a plan for n and count·n complex values (split planes) at heap_base() and above. */
function layout(n: number, count: number): Layout {
  const planBytes = wasm.fft_plan_bytes(n);
  assert.ok(
    planBytes > 0 && planBytes % 8 === 0,
    `fft_plan_bytes(${n}) = ${planBytes}`,
  );
  const plan = align16(wasm.heap_base());
  const guardLo = align16(plan + planBytes);
  const re = guardLo + 16;
  const im = re + count * n * 8 + 8; // deliberately not 16-byte aligned
  const guardHi = im + count * n * 8;
  ensureMemory(guardHi + 16);
  return { plan, re, im, guardLo, guardHi };
}

const GUARD = 12345.678;

/** Writes the data and guards, initialises the plan, runs the batch; returns the result planes. */
function runBatch(
  n: number,
  count: number,
  xr: Float64Array,
  xi: Float64Array,
): { yr: Float64Array; yi: Float64Array } {
  const L = layout(n, count);
  assert.equal(wasm.fft_plan_init(n, L.plan), 0);
  const f64 = (p: number, len: number) => new Float64Array(wasm.memory.buffer, p, len);
  f64(L.re, count * n).set(xr);
  f64(L.im, count * n).set(xi);
  f64(L.guardLo, 2).fill(GUARD);
  f64(L.re + count * n * 8, 1).fill(GUARD);
  f64(L.guardHi, 2).fill(GUARD);
  assert.equal(wasm.fft_c64_batch(L.re, L.im, n, count, L.plan), 0);
  for (
    const g of [
      ...f64(L.guardLo, 2),
      ...f64(L.re + count * n * 8, 1),
      ...f64(L.guardHi, 2),
    ]
  ) {
    assert.equal(g, GUARD, "fft_c64_batch wrote outside its sequences");
  }
  return { yr: f64(L.re, count * n).slice(), yi: f64(L.im, count * n).slice() };
}

/** Naive DFT (sign +) with exact-angle twiddles and compensated sums. */
function naiveDft(
  xr: Float64Array,
  xi: Float64Array,
): { yr: Float64Array; yi: Float64Array } {
  const n = xr.length;
  const c = new Float64Array(n), s = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const a = (2 * Math.PI * t) / n;
    c[t] = Math.cos(a);
    s[t] = Math.sin(a);
  }
  const yr = new Float64Array(n), yi = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sr = 0, er = 0, si = 0, ei = 0, t = 0;
    for (let j = 0; j < n; j++) {
      const pr = xr[j] * c[t] - xi[j] * s[t];
      const pi = xr[j] * s[t] + xi[j] * c[t];
      let u = sr + pr;
      er += Math.abs(sr) >= Math.abs(pr) ? sr - u + pr : pr - u + sr;
      sr = u;
      u = si + pi;
      ei += Math.abs(si) >= Math.abs(pi) ? si - u + pi : pi - u + si;
      si = u;
      t += k;
      if (t >= n) t -= n; // t = j·k mod n
    }
    yr[k] = sr + er;
    yi[k] = si + ei;
  }
  return { yr, yi };
}

/** max_k |y[k] − ref[k]| / (‖x‖₂ √n max(1, log₂ n)) for one sequence (0 for x = 0 and exact y). */
function normalizedError(
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
): number {
  const n = xr.length;
  const ref = naiveDft(xr, xi);
  let err = 0;
  for (let k = 0; k < n; k++) {
    const e = Math.hypot(yr[k] - ref.yr[k], yi[k] - ref.yi[k]);
    if (!(e <= err)) err = e; // NaN propagates
  }
  let norm = 0;
  for (let j = 0; j < n; j++) norm = Math.hypot(norm, xr[j], xi[j]);
  if (err === 0) return 0;
  return err / (norm * Math.sqrt(n) * Math.max(1, Math.log2(n)));
}

type Kind = "dense" | "real" | "sparse";

function makeInput(
  n: number,
  count: number,
  seed: number,
  scale: number,
  kind: Kind,
) {
  const u = mulberry32(seed);
  const r = () => 2 * u() - 1;
  const xr = new Float64Array(n * count), xi = new Float64Array(n * count);
  for (let i = 0; i < n * count; i++) {
    if (kind === "sparse" && r() < 0.8) continue;
    xr[i] = scale * r();
    if (kind !== "real") xi[i] = scale * r();
  }
  return { xr, xi };
}

/** Runs one batch and checks every sequence against the naive DFT; returns the worst normalized error. */
function checkBatch(
  n: number,
  count: number,
  seed: number,
  scale = 1,
  kind: Kind = "dense",
): number {
  const { xr, xi } = makeInput(n, count, seed, scale, kind);
  const { yr, yi } = runBatch(n, count, xr, xi);
  let worst = 0;
  for (let s = 0; s < count; s++) {
    const sl = (a: Float64Array) => a.subarray(s * n, (s + 1) * n);
    const e = normalizedError(sl(xr), sl(xi), sl(yr), sl(yi));
    assert.ok(
      e <= TOL,
      `n=${n} count=${count} seq=${s} seed=${seed} kind=${kind}: normalized error ${e}`,
    );
    worst = Math.max(worst, e);
  }
  return worst;
}

// ---------------------------------------------------------------------------
// tests

test("fft: hard lengths against the naive DFT", () => {
  let seed = 1;
  for (const n of HARD_LENGTHS) {
    const count = n > 1000 ? 2 : 1 + (n % 4);
    checkBatch(n, count, seed++);
    checkBatch(n, 1, seed++, 1, "real");
    checkBatch(n, 1, seed++, 1, "sparse");
  }
});

test("fft: random lengths 1..300 and batches 1..4 (fast-check)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 0x7fffffff }),
      fc.integer({ min: -60, max: 60 }),
      fc.constantFrom<Kind>("dense", "real", "sparse"),
      (n, count, seed, e, kind) => {
        checkBatch(n, count, seed, 2 ** e, kind);
      },
    ),
    { numRuns: 200 },
  );
});

test("fft: hard lengths in random batches (fast-check)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...HARD_LENGTHS.filter((n) => n < 4095)),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 0x7fffffff }),
      (n, count, seed) => {
        checkBatch(n, count, seed);
      },
    ),
    { numRuns: 40 },
  );
});

test("fft: every sequence of a batch equals its own single transform, and plans are reusable", () => {
  for (const n of [6, 64, 97, 223, 256]) {
    const count = 4;
    const { xr, xi } = makeInput(n, count, 1000 + n, 1, "dense");
    const batch = runBatch(n, count, xr, xi);
    for (let s = 0; s < count; s++) {
      const one = runBatch(
        n,
        1,
        xr.slice(s * n, (s + 1) * n),
        xi.slice(s * n, (s + 1) * n),
      );
      assert.deepEqual(one.yr, batch.yr.slice(s * n, (s + 1) * n));
      assert.deepEqual(one.yi, batch.yi.slice(s * n, (s + 1) * n));
    }
  }
});

test("fft: impulses at large lengths give exact-angle exponentials", () => {
  for (const n of [8192, 10007, 65536]) {
    const j0 = 4321 % n;
    const xr = new Float64Array(n), xi = new Float64Array(n);
    xr[j0] = 1;
    const { yr, yi } = runBatch(n, 1, xr, xi);
    let err = 0;
    for (let k = 0; k < n; k++) {
      const a = (2 * Math.PI * ((j0 * k) % n)) / n;
      err = Math.max(err, Math.hypot(yr[k] - Math.cos(a), yi[k] - Math.sin(a)));
    }
    assert.ok(
      err <= TOL * Math.sqrt(n) * Math.log2(n),
      `n=${n}: impulse error ${err}`,
    );
  }
});

test("fft: status codes, count = 0, NaN input", () => {
  assert.ok(wasm.fft_plan_bytes(0) < 0);
  assert.ok(wasm.fft_plan_bytes(-7) < 0);
  assert.ok(wasm.fft_plan_bytes(1) > 0);
  const L = layout(97, 1);
  assert.ok(wasm.fft_plan_init(0, L.plan) < 0);
  assert.ok(wasm.fft_plan_init(-1, L.plan) < 0);
  assert.equal(wasm.fft_plan_init(97, L.plan), 0);
  assert.ok(wasm.fft_c64_batch(L.re, L.im, 0, 1, L.plan) < 0);
  assert.ok(
    wasm.fft_c64_batch(L.re, L.im, 96, 1, L.plan) < 0,
    "plan for 97 used with n = 96",
  );
  assert.ok(wasm.fft_c64_batch(L.re, L.im, 97, -1, L.plan) < 0);

  const re = new Float64Array(wasm.memory.buffer, L.re, 97);
  re.fill(3);
  assert.equal(wasm.fft_c64_batch(L.re, L.im, 97, 0, L.plan), 0);
  assert.ok(
    new Float64Array(wasm.memory.buffer, L.re, 97).every((v) => v === 3),
  );

  for (const n of [64, 97]) {
    const { yr } = runBatch(
      n,
      2,
      new Float64Array(2 * n).fill(NaN),
      new Float64Array(2 * n),
    );
    assert.ok(yr.every(Number.isNaN));
  }
});
