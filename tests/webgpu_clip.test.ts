/**
 * The clipping round on WebGPU (src/_webgpu/clip.ts, `clipOperatorNorm(...,
 * { backend: "webgpu" })`) against the wasm f64 clip.
 *
 * Bounds (f32): after one round every tap is within 1e-4·max|K| of wasm f64
 * (K the input kernel) and `normBefore`, `normAfter` within 1e-4·σ_max
 * (σ_max = the input's norm). The runs here stay near 1e-6·max|K| and
 * 1e-7·σ_max; the largest errors seen are printed. The GPU tests run wherever
 * `navigator.gpu` gives an adapter (in CI: Deno on Mesa's llvmpipe) and are
 * reported as ignored, with the reason, elsewhere (Bun, Node); the planner's
 * and the options' tests run everywhere.
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { clipOperatorNorm, clipOperatorNormSync, type ClipResult, type Kernel, operatorNormSync } from "../mod.ts";
import { ConvergenceError } from "../src/errors.ts";
import { getGpu, type GpuLimitOverrides } from "../src/_webgpu/device.ts";
import { type GpuPlan, planProblem } from "../src/_webgpu/plan.ts";
import { type ClipShape, createGpuClipper } from "../src/_webgpu/clip.ts";
import { gpu as device, noGpu, PLANNER_LIMITS as LIMITS } from "./_gpu.ts";
import { ansiLcg } from "./_random.ts";
import type { Dims } from "./_cases.ts";

/** Bound on each tap, relative to the input's largest entry. */
const TAP_TOL = 1e-4;
/** Bound on normBefore and normAfter, relative to the input's norm. */
const NORM_TOL = 1e-4;

interface Case extends Dims {
  layout: "oihw" | "hwio";
  f32: boolean;
  /** OIHW-independent: the data in `layout` order. */
  data: Float64Array;
  /** maxNorm as a fraction of the input's norm. */
  frac: number;
}

function kernelOf(c: Case): Kernel {
  const shape = c.layout === "oihw" ? [c.cOut, c.cIn, c.kh, c.kw] : [c.kh, c.kw, c.cIn, c.cOut];
  return { data: c.f32 ? Float32Array.from(c.data) : c.data.slice(), shape };
}

function describe(c: Case): string {
  return `${c.cOut}←${c.cIn} ${c.kh}×${c.kw} on ${c.h}×${c.w} ${c.layout} ${c.f32 ? "f32" : "f64"} data`;
}

/** Small layers: c_in ≠ c_out, h ≠ w, taps within the input, both layouts, both element types. */
const cases: fc.Arbitrary<Case> = fc.record({
  cOut: fc.integer({ min: 1, max: 6 }),
  cIn: fc.integer({ min: 1, max: 6 }),
  h: fc.integer({ min: 2, max: 7 }),
  w: fc.integer({ min: 2, max: 7 }),
  kh: fc.integer({ min: 1, max: 3 }),
  kw: fc.integer({ min: 1, max: 3 }),
  layout: fc.constantFrom("oihw" as const, "hwio" as const),
  f32: fc.boolean(),
  frac: fc.double({ min: 0.2, max: 0.9, noNaN: true }),
}).filter((d) => d.cOut !== d.cIn && d.h !== d.w).map((d) => ({
  ...d,
  kh: Math.min(d.kh, d.h),
  kw: Math.min(d.kw, d.w),
})).chain((d) =>
  fc.array(fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), {
    minLength: d.cOut * d.cIn * d.kh * d.kw,
    maxLength: d.cOut * d.cIn * d.kh * d.kw,
  }).map((xs) => ({ ...d, data: Float64Array.from(xs, (x) => x / 2 ** 20) }))
);

/** A case with seeded pseudo-random weights in [-0.5, 0.5). */
function seeded(
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
  seed: number,
  frac = 0.5,
): Case {
  const next = ansiLcg(seed);
  const data = Float64Array.from({ length: cOut * cIn * kh * kw }, next);
  return { cOut, cIn, kh, kw, h, w, layout: "oihw", f32: false, data, frac };
}

const largest = { tap: 0, norm: 0 };

/** Asserts the WebGPU result against the wasm f64 one; returns [tap error / max|K|, norm error / σ_max]. */
function assertClose(got: ClipResult, want: ClipResult, input: Kernel, what: string): [number, number] {
  assert.equal(got.backend, "webgpu", what);
  assert.equal(got.precision, "f32", what);
  assert.equal(got.method, "alternating", what);
  assert.equal(got.iterations, want.iterations, `${what}: iterations`);
  assert.deepEqual(got.kernel.shape, input.shape, what);
  assert.equal(got.kernel.data.constructor, input.data.constructor, `${what}: element type`);
  let kmax = 0;
  for (const x of input.data) kmax = Math.max(kmax, Math.abs(x));
  let tap = 0;
  for (let q = 0; q < want.kernel.data.length; q++) {
    const e = Math.abs(got.kernel.data[q] - want.kernel.data[q]);
    assert.ok(
      e <= TAP_TOL * kmax,
      `${what}: tap ${q}: webgpu ${got.kernel.data[q]}, wasm ${want.kernel.data[q]} (max|K| ${kmax})`,
    );
    tap = Math.max(tap, e);
  }
  const smax = want.normBefore;
  const before = Math.abs(got.normBefore - want.normBefore);
  const after = Math.abs(got.normAfter - want.normAfter);
  assert.ok(before <= NORM_TOL * smax, `${what}: normBefore ${got.normBefore}, wasm ${want.normBefore}`);
  assert.ok(after <= NORM_TOL * smax, `${what}: normAfter ${got.normAfter}, wasm ${want.normAfter}`);
  const rel: [number, number] = [kmax > 0 ? tap / kmax : 0, smax > 0 ? Math.max(before, after) / smax : 0];
  largest.tap = Math.max(largest.tap, rel[0]);
  largest.norm = Math.max(largest.norm, rel[1]);
  return rel;
}

async function compare(c: Case, extra: { iterations?: number; tolerance?: number } = {}): Promise<[number, number]> {
  const input = kernelOf(c);
  const layer = { inputShape: [c.h, c.w] as [number, number], layout: c.layout };
  const opts = { ...layer, ...extra };
  const norm = operatorNormSync(input, layer);
  const maxNorm = norm > 0 ? c.frac * norm : 1;
  const want = clipOperatorNormSync(input, maxNorm, opts);
  const got = await clipOperatorNorm(input, maxNorm, { ...opts, backend: "webgpu", precision: "f32" });
  return assertClose(got, want, input, describe(c));
}

// ---------------------------------------------------------------------------
// Planner (no device)

test("planProblem() with vectors leaves room for V below each matrix; values-only plans are unchanged", () => {
  const real = { cOut: 16, cIn: 12, kh: 3, kw: 3, complex: false };
  const values = planProblem(real, 40, LIMITS);
  assert.equal(values.ld, 16);
  assert.equal(values.jacobi.LD, 16);
  assert.equal(values.jacobi.VECTORS, false);
  assert.equal(values.jacobi.SH_LEN, values.perGroup * 16 * 12);
  const clip = planProblem({ ...real, vectors: true }, 40, LIMITS);
  assert.equal(clip.ld, 16 + 12);
  assert.equal(clip.jacobi.VECTORS, true);
  assert.equal(clip.transform.LD, 28);
  assert.deepEqual(clip.rebuild, { WG: 64, M: 16, N: 12, LD: 28 });
  const tight = planProblem({ ...real, vectors: true }, 40, { ...LIMITS, maxStorageBufferBindingSize: 4096 });
  assert.ok(tight.batch * 28 * 12 * 8 <= 4096, "one batch of [A; V] fits a binding");
  // 16×16 fits one 2 KiB binding alone, but not with its 16×16 V below.
  const square = { cOut: 16, cIn: 16, kh: 1, kw: 1, complex: false };
  planProblem(square, 1, { ...LIMITS, maxStorageBufferBindingSize: 2048 });
  assert.throws(
    () => planProblem({ ...square, vectors: true }, 1, { ...LIMITS, maxStorageBufferBindingSize: 2048 }),
    (err: unknown) => err instanceof RangeError && /with its right singular vectors/.test(err.message),
  );
  const budget = planProblem({ ...real, vectors: true }, 40, { ...LIMITS, maxComputeWorkgroupsPerDimension: 1 }, {
    loopBudget: 1000,
  });
  assert.ok(budget.batch * 16 * 12 <= 64 * Math.floor(999 / 13), "rebuild entries per invocation within the budget");
});

// ---------------------------------------------------------------------------
// Options (no device needed)

test("clipOperatorNorm() options: webgpu refuses f64 and Dykstra, Sync refuses webgpu, auto says what it skipped", async () => {
  const k = { data: Float64Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => Math.sin(i + 1)), shape: [2, 3, 2, 2] };
  const o = { inputShape: [4, 5] as [number, number] };
  await assert.rejects(
    clipOperatorNorm(k, 1, { ...o, backend: "webgpu", method: "dykstra" }),
    (e: unknown) =>
      e instanceof RangeError && /method must be "alternating" on backend "webgpu".*"dykstra"/.test(e.message),
  );
  await assert.rejects(
    clipOperatorNorm(k, 1, { ...o, backend: "webgpu", precision: "f64" }),
    (e: unknown) => e instanceof RangeError && /computes in f32/.test(e.message),
  );
  assert.throws(() => clipOperatorNormSync(k, 1, { ...o, backend: "webgpu" }), TypeError);
  assert.throws(() => clipOperatorNormSync(k, 1, { ...o, precision: "f32" }), RangeError);
  await assert.rejects(clipOperatorNorm(k, 1, { ...o, backend: "gpu" as never }), TypeError);
  // auto: f64 (not allowed f32), or f32 below the crossover: wasm, in f64, with the reason.
  for (const precision of [undefined, "f32"] as const) {
    const res = await clipOperatorNorm(k, 1, { ...o, backend: "auto", precision, threads: 1 });
    assert.equal(res.backend, "wasm");
    assert.equal(res.precision, "f64", "wasm clips in f64 only");
    assert.ok(typeof res.skipped?.webgpu === "string" && res.skipped.webgpu.length > 0);
    assert.deepEqual(res.kernel, clipOperatorNormSync(k, 1, o).kernel);
  }
  const dyk = await clipOperatorNorm(k, 1, { ...o, backend: "auto", precision: "f32", method: "dykstra", threads: 1 });
  assert.equal(dyk.backend, "wasm");
  assert.match(dyk.skipped!.webgpu!, /Dykstra/);
  assert.match(clipOperatorNormSync(k, 1, { ...o, backend: "auto" }).skipped!.webgpu!, /synchronous/);
  assert.equal(clipOperatorNormSync(k, 1, o).skipped, undefined);
  const gpu = await getGpu();
  if ("reason" in gpu) {
    // An explicit "webgpu" with no adapter is an error, never a silent fallback.
    await assert.rejects(
      clipOperatorNorm(k, 1, { ...o, backend: "webgpu" }),
      (e: unknown) => e instanceof Error && e.message.includes(gpu.reason),
    );
    console.log(`  no WebGPU here: ${gpu.reason}`);
  }
});

// ---------------------------------------------------------------------------
// Against wasm f64

test("clipOperatorNorm() on WebGPU, one round, matches wasm f64 on random small layers", async () => {
  let seen: [number, number] = [0, 0];
  await fc.assert(
    fc.asyncProperty(cases, async (c) => {
      const [t, n] = await compare(c);
      seen = [Math.max(seen[0], t), Math.max(seen[1], n)];
    }),
    { numRuns: 25 },
  );
  console.log(
    `  largest errors: taps ${seen[0].toExponential(2)}·max|K| (bound ${TAP_TOL}), norms ${
      seen[1].toExponential(2)
    }·σ_max (bound ${NORM_TOL})`,
  );
}, { ignore: noGpu });

test(
  "clipOperatorNorm() on WebGPU matches wasm f64 for c = 16 (shared memory) and c = 64 (global memory)",
  async () => {
    const gpu = await device();
    for (const c of [seeded(16, 12, 3, 3, 8, 6, 7), seeded(48, 64, 3, 3, 4, 5, 11)]) {
      let plan: GpuPlan | undefined;
      await createGpuClipper(gpu, c, { onPlan: (p) => (plan = p) }).then((x) => x.destroy());
      const t0 = performance.now();
      const [t, n] = await compare(c);
      console.log(
        `  ${describe(c)}: ${plan!.shared ? "shared" : "global"} memory, tap error ${
          t.toExponential(2)
        }·max|K|, norm error ${n.toExponential(2)}·σ_max, ${(performance.now() - t0).toFixed(0)} ms (with wasm)`,
      );
    }
  },
  { ignore: noGpu },
);

test(
  "clipOperatorNorm() on WebGPU: a kernel inside the ball comes back unchanged (0 rounds), a zero kernel too",
  async () => {
    for (const f32 of [false, true]) {
      const c = { ...seeded(5, 3, 3, 2, 6, 5, 13), f32, layout: "hwio" as const };
      const input = kernelOf(c);
      const opts = { inputShape: [c.h, c.w] as [number, number], layout: c.layout };
      const norm = operatorNormSync(input, opts);
      const res = await clipOperatorNorm(input, 1.01 * norm, { ...opts, backend: "webgpu", iterations: 7 });
      assert.equal(res.iterations, 0);
      assert.deepEqual(res.kernel, input, "the input's data, copied");
      assert.notEqual(res.kernel.data, input.data, "a copy");
      assert.ok(Math.abs(res.normBefore - norm) <= NORM_TOL * norm);
      assert.ok(Math.abs(res.normAfter - norm) <= NORM_TOL * norm);
      assert.equal(res.backend, "webgpu");
    }
    const zero = { data: new Float32Array(4 * 3 * 2 * 2), shape: [4, 3, 2, 2] };
    const res = await clipOperatorNorm(zero, 1, { inputShape: [3, 4], backend: "webgpu" });
    assert.deepEqual([res.normBefore, res.normAfter, res.iterations, res.backend], [0, 0, 0, "webgpu"]);
    assert.ok(res.kernel.data instanceof Float32Array);
  },
  { ignore: noGpu },
);

test("clipOperatorNorm() on WebGPU: Float32Array in, Float32Array out, in the input's layout", async () => {
  const c = { ...seeded(3, 7, 2, 3, 5, 4, 17), f32: true, layout: "hwio" as const };
  const input = kernelOf(c);
  const res = await clipOperatorNorm(input, 0.5, { inputShape: [5, 4], layout: "hwio", backend: "webgpu" });
  assert.ok(res.kernel.data instanceof Float32Array);
  assert.deepEqual(res.kernel.shape, [2, 3, 7, 3]);
  assert.ok(res.normAfter < res.normBefore);
  assert.ok(
    Math.abs(res.normAfter - operatorNormSync(res.kernel, { inputShape: [5, 4], layout: "hwio" })) <=
      1e-5 * res.normBefore,
  );
}, { ignore: noGpu });

test(
  "clipOperatorNorm() on WebGPU: more rounds never raise the norm (beyond f32 rounding) and meet the tolerance rule",
  async () => {
    const gpu = await device();
    // Round by round through the clipper: each round reports the norm of the kernel it started from.
    const c = seeded(6, 4, 3, 3, 7, 6, 19);
    const shape: ClipShape = c;
    const clipper = await createGpuClipper(gpu, shape);
    try {
      let k: Float64Array = c.data.slice();
      const level = 0.4 * operatorNormSync(kernelOf(c), { inputShape: [c.h, c.w] });
      const norms: number[] = [];
      for (let t = 0; t < 12; t++) {
        const r = await clipper.round(k, level);
        norms.push(r.norm);
        k = r.k;
      }
      for (let t = 1; t < norms.length; t++) {
        assert.ok(norms[t] <= norms[t - 1] * (1 + 1e-5), `round ${t}: ${norms[t]} after ${norms[t - 1]}`);
      }
      assert.ok(norms[norms.length - 1] < norms[1], "the alternation makes progress");
      console.log(`  norms/level over 12 rounds: ${norms.map((x) => (x / level).toFixed(4)).join(" ")}`);
    } finally {
      clipper.destroy();
    }
    // Through the public function: against wasm f64 after 4 rounds, and the tolerance rule.
    for (const f32 of [false, true]) {
      const d = { ...c, f32, frac: 0.5 };
      await compare(d, { iterations: 4 });
      const input = kernelOf(d);
      const opts = { inputShape: [d.h, d.w] as [number, number] };
      const one = await clipOperatorNorm(input, 1, { ...opts, backend: "webgpu" });
      const many = await clipOperatorNorm(input, 1, { ...opts, backend: "webgpu", iterations: 200, tolerance: 0.02 });
      assert.ok(many.normAfter <= one.normAfter * (1 + 1e-5));
      assert.ok(many.iterations > 1 && many.iterations < 200, `stopped after ${many.iterations} rounds`);
      assert.ok(many.normAfter <= 1.02 * (1 + 1e-5), `normAfter ${many.normAfter} within the tolerance`);
      const wasm = clipOperatorNormSync(input, 1, { ...opts, iterations: 200, tolerance: 0.02 });
      assert.ok(
        Math.abs(many.iterations - wasm.iterations) <= 1,
        `rounds: webgpu ${many.iterations}, wasm ${wasm.iterations}`,
      );
    }
  },
  { ignore: noGpu },
);

// ---------------------------------------------------------------------------
// Splitting

test("a clipping round larger than one binding, one dispatch and one loop budget gives the same answer", async () => {
  const runs: [string, GpuLimitOverrides | undefined, number | undefined][] = [
    ["device limits", undefined, undefined],
    [
      "1 KiB bindings, 2 × 2 workgroups, global memory, 3000-iteration loops",
      { maxStorageBufferBindingSize: 1024, maxComputeWorkgroupsPerDimension: 2, maxComputeWorkgroupStorageSize: 0 },
      3000,
    ],
    [
      "2 KiB bindings, 1 workgroup per dispatch, shared memory",
      { maxStorageBufferBindingSize: 2048, maxComputeWorkgroupsPerDimension: 1 },
      undefined,
    ],
  ];
  // c_out > c_in, and c_out < c_in (transposed matrices)
  for (const c of [seeded(10, 7, 3, 3, 8, 7, 23), seeded(6, 11, 2, 3, 5, 6, 31)]) {
    const input = kernelOf(c);
    const level = 0.5 * operatorNormSync(input, { inputShape: [c.h, c.w] });
    const want = clipOperatorNormSync(input, level, { inputShape: [c.h, c.w] }).kernel.data;
    let kmax = 0;
    for (const x of c.data) kmax = Math.max(kmax, Math.abs(x));
    let first: Float64Array | undefined;
    for (const [label, limits, loopBudget] of runs) {
      const gpu = await device(limits);
      let plan: GpuPlan | undefined;
      const clipper = await createGpuClipper(gpu, c, { loopBudget, onPlan: (p) => (plan = p) });
      let got: Float64Array;
      try {
        got = (await clipper.round(c.data, level)).k;
      } finally {
        clipper.destroy();
      }
      let freqs = 0;
      for (let v = 0; v <= c.w / 2; v++) freqs += v === 0 || 2 * v === c.w ? Math.floor(c.h / 2) + 1 : c.h;
      if (limits) {
        assert.ok(plan!.batch < freqs, `${label}: several batches (${plan!.batch} of ${freqs})`);
        const rowBytes = c.cIn * c.kh * c.kw * 4;
        if (rowBytes * c.cOut > limits.maxStorageBufferBindingSize!) {
          assert.ok(plan!.slices > 1, `${label}: several kernel slices`);
        }
        if (loopBudget) assert.ok(plan!.chunks > 1, `${label}: several Jacobi dispatches`);
        assert.equal(plan!.shared, limits.maxComputeWorkgroupStorageSize !== 0, label);
      }
      let err = 0, spread = 0;
      for (let q = 0; q < want.length; q++) {
        err = Math.max(err, Math.abs(got[q] - want[q]));
        if (first) spread = Math.max(spread, Math.abs(got[q] - first[q]));
      }
      assert.ok(err <= TAP_TOL * kmax, `${label}: tap error ${err} against wasm f64`);
      assert.ok(spread <= 1e-5 * kmax, `${label}: ${spread} from the run within the device's limits`);
      first ??= got;
      largest.tap = Math.max(largest.tap, err / kmax);
      console.log(
        `  ${describe(c)}, ${label}: ${Math.ceil(freqs / plan!.batch)} batches × (${plan!.slices} transform + ${
          plan!.chunks
        } Jacobi + 1 rebuild dispatches), tap error ${(err / kmax).toExponential(2)}·max|K|`,
      );
    }
  }
}, { ignore: noGpu });

test("a clipping round whose Jacobi does not converge throws ConvergenceError", async () => {
  const gpu = await device();
  const c = seeded(8, 8, 3, 3, 4, 4, 29);
  const clipper = await createGpuClipper(gpu, c, { maxSweeps: 1 });
  try {
    await assert.rejects(clipper.round(c.data, 0.1), (err: unknown) => {
      assert.ok(err instanceof ConvergenceError);
      assert.ok(err.frequencies.length > 0);
      return true;
    });
  } finally {
    clipper.destroy();
  }
  if (largest.tap > 0) {
    console.log(
      `  largest errors over this file: taps ${largest.tap.toExponential(2)}·max|K|, norms ${
        largest.norm.toExponential(2)
      }·σ_max`,
    );
  }
}, { ignore: noGpu });
