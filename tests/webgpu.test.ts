/**
 * The WebGPU backend (src/_webgpu/) against the wasm core in f64 and against
 * the dense reference (tests/reference.ts).
 *
 * Every comparison is value by value over a frequency's (or the layer's)
 * decreasing values: |webgpu − reference| ≤ 1e-4 · σ_max (the bound
 * for f32; the runs here stay near 3e-7 · σ_max, printed at the end of each
 * property). The GPU tests run wherever `navigator.gpu` gives an adapter (in
 * CI: Deno on Mesa's llvmpipe, printed once by tests/_gpu.ts) and are
 * reported as ignored, with the reason, elsewhere (Bun, Node, machines with
 * no driver). The planner's tests need no device and run everywhere.
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { forEachFrequency, type Problem, problemsWork, type Sink } from "../src/_problem/problem.ts";
import { runProblem } from "../src/_wasm/engine.ts";
import { loadWasmSync } from "../src/_wasm/loader.ts";
import { ConvergenceError } from "../src/errors.ts";
import { foldWorkgroups, getGpu, type GpuContext } from "../src/_webgpu/device.ts";
import { type GpuPlan, planProblem } from "../src/_webgpu/plan.ts";
import { runProblemWebGPU } from "../src/_webgpu/run.ts";
import {
  autoSizeRefusal,
  resolveBackend,
  resolveBackendSync,
  type Resolved,
  validateRun,
  wasmOnly,
  WEBGPU_CLIP_MAX_THREADS,
  WEBGPU_MAX_CHANNELS,
  WEBGPU_MIN_WORK,
} from "../src/_backend.ts";
import { denseLayerMatrix, jacobiSingularValues } from "./reference.ts";
import { gpu as device, noGpu, noHardwareGpu, PLANNER_LIMITS as LIMITS } from "./_gpu.ts";
import { spectrum } from "../mod.ts";
import { ansiLcg } from "./_random.ts";

/** Tolerance of every comparison, relative to σ_max of the reference. */
const TOL = 1e-4;

declare const Deno: {
  execPath(): string;
  Command: new (
    cmd: string,
    o: unknown,
  ) => { output(): Promise<{ code: number; stdout: Uint8Array; stderr: Uint8Array }> };
} | undefined;

// ---------------------------------------------------------------------------
// Problems and results

interface Row {
  u: number;
  v: number;
  mirrored: boolean;
  values: Float64Array;
}

function collect(rows: Row[]): Sink {
  return (u, v, values, mirrored) => rows.push({ u, v, mirrored, values: values.slice() });
}

function wasmRows(p: Problem): Row[] {
  const rows: Row[] = [];
  runProblem(loadWasmSync(), p, collect(rows));
  return rows;
}

async function gpuRows(
  gpu: GpuContext,
  p: Problem,
  options: Parameters<typeof runProblemWebGPU>[3] = {},
): Promise<Row[]> {
  const rows: Row[] = [];
  await runProblemWebGPU(gpu, p, collect(rows), options);
  return rows;
}

function describe(p: Problem): string {
  return `c_out=${p.cOut} c_in=${p.cIn} k=${p.kh}×${p.kw} grid=${p.h}×${p.w}${p.im ? " complex" : ""}`;
}

/** Largest error seen by the property tests, relative to σ_max. */
let worst = 0;

/** Same sink calls, in the same order, with values within TOL·σ_max; returns the error relative to σ_max. */
function assertRowsClose(got: Row[], want: Row[], what: string): number {
  assert.equal(got.length, want.length, `${what}: number of sink calls`);
  let smax = 0;
  for (const r of want) smax = Math.max(smax, r.values[0] ?? 0);
  const allowed = smax > 0 ? TOL * smax : 1e-300;
  let err = 0;
  for (let k = 0; k < want.length; k++) {
    const g = got[k], w = want[k];
    assert.deepEqual([g.u, g.v, g.mirrored], [w.u, w.v, w.mirrored], `${what}: sink call ${k}`);
    assert.equal(g.values.length, w.values.length, `${what}: values at (${w.u}, ${w.v})`);
    for (let j = 0; j < w.values.length; j++) {
      const e = Math.abs(g.values[j] - w.values[j]);
      assert.ok(j === 0 || g.values[j] <= g.values[j - 1], `${what}: not decreasing at (${w.u}, ${w.v}) ${j}`);
      assert.ok(
        e <= allowed,
        `${what}: (${w.u}, ${w.v}) value ${j}: webgpu ${g.values[j]}, wasm ${
          w.values[j]
        } (error ${e}, allowed ${allowed})`,
      );
      err = Math.max(err, e);
    }
  }
  const rel = smax > 0 ? err / smax : 0;
  worst = Math.max(worst, rel);
  return rel;
}

/** Reals in [-1, 1] on a 2^-24 grid, small integers (exact cancellations), or mostly zeros. */
function weights(n: number): fc.Arbitrary<Float64Array> {
  const real = fc.integer({ min: -(2 ** 24), max: 2 ** 24 }).map((x) => x / 2 ** 24);
  const int = fc.integer({ min: -3, max: 3 });
  const sparse = fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: real, weight: 1 });
  return fc.oneof(
    { arbitrary: fc.constant(real), weight: 3 },
    { arbitrary: fc.constant(int), weight: 1 },
    { arbitrary: fc.constant(sparse), weight: 1 },
  ).chain((elem) => fc.array(elem, { minLength: n, maxLength: n })).map((xs) => Float64Array.from(xs));
}

/** Problems with c ≤ `maxC`, grids up to 8 × 8, folded kernels up to the grid (and 4 × 4). */
function problems(maxC: number, complex: boolean): fc.Arbitrary<Problem> {
  return fc.record({
    cOut: fc.integer({ min: 1, max: maxC }),
    cIn: fc.integer({ min: 1, max: maxC }),
    h: fc.integer({ min: 1, max: 8 }),
    w: fc.integer({ min: 1, max: 8 }),
    kh: fc.integer({ min: 1, max: 4 }),
    kw: fc.integer({ min: 1, max: 4 }),
  }).map((d) => ({ ...d, kh: Math.min(d.kh, d.h), kw: Math.min(d.kw, d.w) })).chain((d) => {
    const n = d.cOut * d.cIn * d.kh * d.kw;
    return fc.record({ re: weights(n), im: complex ? weights(n) : fc.constant(undefined) })
      .map(({ re, im }) => ({ ...d, re, ...(im ? { im } : {}) }) as Problem);
  });
}

/** A problem with seeded pseudo-random weights in [-0.5, 0.5). */
function seeded(
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
  seed = 1,
  complex = false,
): Problem {
  const next = ansiLcg(seed);
  const n = cOut * cIn * kh * kw;
  const re = Float64Array.from({ length: n }, next);
  return { cOut, cIn, kh, kw, h, w, re, ...(complex ? { im: Float64Array.from({ length: n }, next) } : {}) };
}

// ---------------------------------------------------------------------------
// Device

test("getGpu() finds an adapter once, reuses the device, and lowers limits only on request", async () => {
  const gpu = await device();
  const again = await getGpu();
  assert.equal(again, gpu, "the context is cached");
  const small = await getGpu({ limits: { maxStorageBufferBindingSize: 4099, maxComputeWorkgroupsPerDimension: 3 } });
  assert.ok(!("reason" in small));
  assert.equal(small.device, gpu.device, "same device");
  assert.equal(small.pipelines, gpu.pipelines, "same pipeline cache");
  assert.equal(small.limits.maxStorageBufferBindingSize, 4096, "rounded down to a multiple of 4");
  assert.equal(small.limits.maxComputeWorkgroupsPerDimension, 3);
  assert.equal(small.limits.maxComputeWorkgroupStorageSize, gpu.limits.maxComputeWorkgroupStorageSize);
  const big = await getGpu({ limits: { maxComputeWorkgroupsPerDimension: 2 ** 31 } });
  assert.ok(!("reason" in big));
  assert.equal(
    big.limits.maxComputeWorkgroupsPerDimension,
    gpu.limits.maxComputeWorkgroupsPerDimension,
    "never raised",
  );
  await assert.rejects(getGpu({ limits: { maxStorageBufferBindingSize: 1.5 } }), TypeError);
  await assert.rejects(getGpu({ limits: { maxStorageBufferBindingSize: 8 } }), RangeError);
  await assert.rejects(getGpu({ limits: { maxBufferSize: 8 } as never }), TypeError);
}, { ignore: noGpu });

test("getGpu() says why where there is no WebGPU or no adapter", async () => {
  if (typeof Deno === "undefined") {
    // Bun and Node: no navigator.gpu at all.
    const gpu = await getGpu();
    assert.ok("reason" in gpu, "no device expected outside Deno");
    assert.match(gpu.reason, /navigator\.gpu is not available/);
    return;
  }
  // Deno with Vulkan pointed at no driver: navigator.gpu exists but finds no adapter.
  const script = `import { getGpu } from ${JSON.stringify(new URL("../src/_webgpu/device.ts", import.meta.url).href)};
console.log(JSON.stringify(await getGpu()));`;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    // VK_DRIVER_FILES overrides VK_ICD_FILENAMES where a machine sets it (as GPU machines often do).
    env: {
      VK_ICD_FILENAMES: "/nonexistent",
      VK_DRIVER_FILES: "/nonexistent",
      DENO_WEBGPU_BACKEND: "vulkan",
      RUST_BACKTRACE: "0",
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await cmd.output();
  const out = new TextDecoder().decode(stdout).trim();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const result = JSON.parse(out.split("\n").pop()!);
  assert.ok(typeof result.reason === "string", out);
  assert.match(result.reason, /no adapter|not available|failed/, result.reason);
  console.log(`  with no driver: ${result.reason}`);
});

// ---------------------------------------------------------------------------
// Planner (no device)

test("planProblem() splits matrices, kernel and workgroups against the limits", () => {
  const real = { cOut: 16, cIn: 12, kh: 3, kw: 3, complex: false };
  const roomy = planProblem(real, 40, LIMITS);
  assert.equal(roomy.batch, 40);
  assert.equal(roomy.slices, 1);
  assert.equal(roomy.chunks, 1, "all sweeps in one dispatch without a loop budget");
  assert.ok(roomy.shared);
  assert.equal(roomy.m, 16);
  assert.equal(roomy.n, 12);
  assert.equal(roomy.transposed, false);
  assert.equal(planProblem({ ...real, cOut: 12, cIn: 16 }, 40, LIMITS).transposed, true);

  const tight = planProblem(real, 40, {
    ...LIMITS,
    maxStorageBufferBindingSize: 4096,
    maxComputeWorkgroupsPerDimension: 2,
  });
  assert.ok(tight.batch * tight.m * tight.n * 8 <= 4096, "one batch of matrices fits a binding");
  assert.ok(Math.ceil(tight.batch / tight.perGroup) <= 4, "one batch fits a 2 × 2 dispatch");
  assert.ok(tight.slice * 12 * 9 * 4 <= 4096 && tight.slices === Math.ceil(16 / tight.slice) && tight.slices > 1);

  const global = planProblem({ ...real, cOut: 64, cIn: 64 }, 10, LIMITS);
  assert.equal(global.shared, false, "64 × 64 complex f32 is 32 KiB: rotated in global memory");
  assert.equal(global.perGroup, 1);

  const budget = planProblem({ ...real, cOut: 64, cIn: 64 }, 10, LIMITS, { loopBudget: 60_000 });
  assert.ok(budget.chunks > 1 && budget.chunk * budget.chunks >= 40 * 63);

  assert.throws(
    () => planProblem({ ...real, cOut: 64, cIn: 64 }, 1, { ...LIMITS, maxStorageBufferBindingSize: 16384 }),
    RangeError,
  );
  assert.throws(() => planProblem({ ...real, kh: 300, kw: 300 }, 1, LIMITS, { loopBudget: 60_000 }), RangeError);
  assert.deepEqual(foldWorkgroups(4, 2), [2, 2]);
  assert.deepEqual(foldWorkgroups(70000, 65535), [65535, 2]);
  assert.throws(() => foldWorkgroups(5, 2), RangeError);
});

// ---------------------------------------------------------------------------
// Against wasm f64

test("runProblemWebGPU() matches wasm f64 on random real problems (same sink calls)", async () => {
  const gpu = await device();
  let seen = 0;
  await fc.assert(
    fc.asyncProperty(problems(8, false), async (p) => {
      seen = Math.max(seen, assertRowsClose(await gpuRows(gpu, p), wasmRows(p), describe(p)));
    }),
    { numRuns: 20 },
  );
  console.log(`  largest error: ${seen.toExponential(2)}·σ_max (bound ${TOL})`);
}, { ignore: noGpu });

test("runProblemWebGPU() matches wasm f64 on random complex problems (every frequency)", async () => {
  const gpu = await device();
  let seen = 0;
  await fc.assert(
    fc.asyncProperty(problems(6, true), async (p) => {
      seen = Math.max(seen, assertRowsClose(await gpuRows(gpu, p), wasmRows(p), describe(p)));
    }),
    { numRuns: 12 },
  );
  console.log(`  largest error: ${seen.toExponential(2)}·σ_max (bound ${TOL})`);
}, { ignore: noGpu });

test("runProblemWebGPU() on c = 16 (shared memory) and c = 64 (global memory) matches wasm f64", async () => {
  const gpu = await device();
  for (
    const p of [seeded(16, 16, 3, 3, 8, 8, 7), seeded(64, 64, 3, 3, 4, 4, 11), seeded(48, 64, 3, 2, 3, 2, 13, true)]
  ) {
    let plan: GpuPlan | undefined;
    const t0 = performance.now();
    const rows = await gpuRows(gpu, p, { onPlan: (x) => (plan = x) });
    const ms = performance.now() - t0;
    const err = assertRowsClose(rows, wasmRows(p), describe(p));
    console.log(
      `  ${describe(p)}: ${plan!.shared ? "shared" : "global"} memory, ${plan!.chunks} dispatch(es) of Jacobi, error ${
        err.toExponential(2)
      }·σ_max, ${ms.toFixed(0)} ms`,
    );
  }
}, { ignore: noGpu });

// ---------------------------------------------------------------------------
// Against the dense reference

test("runProblemWebGPU() matches the dense layer's Jacobi SVD", async () => {
  const gpu = await device();
  let seen = 0;
  await fc.assert(
    fc.asyncProperty(
      problems(4, false).filter((p) => Math.max(p.cOut, p.cIn) * p.h * p.w <= 120),
      async (p) => {
        const all: number[] = [];
        await runProblemWebGPU(gpu, p, (_u, _v, values, mirrored) => {
          for (const x of values) {
            all.push(x);
            if (mirrored) all.push(x);
          }
        });
        all.sort((a, b) => b - a);
        const want = jacobiSingularValues(
          denseLayerMatrix(p.re, p.cOut, p.cIn, p.kh, p.kw, p.h, p.w),
          p.cOut * p.h * p.w,
          p.cIn * p.h * p.w,
        );
        assert.equal(all.length, want.length, describe(p));
        const allowed = want[0] > 0 ? TOL * want[0] : 1e-300;
        for (let j = 0; j < want.length; j++) {
          const e = Math.abs(all[j] - want[j]);
          assert.ok(e <= allowed, `${describe(p)}: value ${j}: webgpu ${all[j]}, dense ${want[j]}`);
          if (want[0] > 0) seen = Math.max(seen, e / want[0]);
        }
      },
    ),
    { numRuns: 12 },
  );
  worst = Math.max(worst, seen);
  console.log(`  largest error: ${seen.toExponential(2)}·σ_max (bound ${TOL})`);
}, { ignore: noGpu });

// ---------------------------------------------------------------------------
// Splitting

test("a layer larger than one binding, one dispatch and one loop budget gives the wasm answer", async () => {
  for (
    const [label, limits, loopBudget, p] of [
      [
        "4 KiB bindings, 2 × 2 workgroups, global memory, 2000-iteration loops",
        {
          maxStorageBufferBindingSize: 4096,
          maxComputeWorkgroupsPerDimension: 2,
          maxComputeWorkgroupStorageSize: 0,
        },
        2000,
        seeded(16, 12, 3, 3, 8, 8, 3),
      ],
      [
        "2 KiB bindings, 1 workgroup per dispatch, shared memory",
        {
          maxStorageBufferBindingSize: 2048,
          maxComputeWorkgroupsPerDimension: 1,
        },
        undefined,
        seeded(16, 12, 3, 3, 8, 8, 3),
      ],
      [
        "1 KiB bindings, 2 × 2 workgroups, complex, c_out < c_in (transposed), 1000-iteration loops",
        {
          maxStorageBufferBindingSize: 1024,
          maxComputeWorkgroupsPerDimension: 2,
        },
        1000,
        seeded(6, 9, 2, 3, 5, 4, 31, true),
      ],
    ] as const
  ) {
    const want = wasmRows(p);
    const gpu = await device(limits);
    let plan: GpuPlan | undefined;
    const rows = await gpuRows(gpu, p, { onPlan: (x) => (plan = x), loopBudget });
    const freqs = want.length;
    assert.ok(plan!.batch < freqs, `${label}: several batches (${plan!.batch} of ${freqs} frequencies each)`);
    assert.ok(plan!.slices > 1, `${label}: several kernel slices`);
    if (loopBudget) assert.ok(plan!.chunks > 1, `${label}: several Jacobi dispatches`);
    if ("maxComputeWorkgroupStorageSize" in limits) assert.equal(plan!.shared, false, label);
    const err = assertRowsClose(rows, want, `${describe(p)} with ${label}`);
    console.log(
      `  ${label}: ${Math.ceil(freqs / plan!.batch)} batches × (${plan!.slices} transform + ${
        plan!.chunks
      } Jacobi dispatches), error ${err.toExponential(2)}·σ_max`,
    );
  }
}, { ignore: noGpu });

// ---------------------------------------------------------------------------
// Hard cases

test("runProblemWebGPU() handles zero, rank-one, orthogonal, single-column and extreme-scale kernels", async () => {
  const gpu = await device();
  const cases: [string, Problem][] = [];
  cases.push(["zero kernel", { cOut: 3, cIn: 4, kh: 2, kw: 2, h: 4, w: 4, re: new Float64Array(48) }]);
  // rank one: K[o, i] = a_o · b_i · g(taps): every P(u, v) has rank ≤ 1
  const r1 = seeded(6, 5, 2, 2, 5, 6, 5);
  for (let o = 0; o < 6; o++) {
    for (let i = 0; i < 5; i++) {
      for (let t = 0; t < 4; t++) r1.re[(o * 5 + i) * 4 + t] = (o + 1) * (i - 2) * (t + 1) / 16;
    }
  }
  cases.push(["rank one", r1]);
  // 1×1 orthogonal kernel (a rotation): every singular value is 1 (all columns tie)
  const c = Math.cos(0.3), s = Math.sin(0.3);
  cases.push(["orthogonal 1×1", { cOut: 2, cIn: 2, kh: 1, kw: 1, h: 3, w: 4, re: Float64Array.from([c, -s, s, c]) }]);
  // identity on 8 channels plus a tap: clustered values
  const id = new Float64Array(8 * 8 * 2);
  for (let o = 0; o < 8; o++) id[(o * 8 + o) * 2] = 1;
  id[1] = 1e-3;
  cases.push(["identity + tiny tap", { cOut: 8, cIn: 8, kh: 1, kw: 2, h: 2, w: 6, re: id }]);
  cases.push(["single input channel", seeded(7, 1, 3, 3, 5, 5, 17)]);
  cases.push(["single output channel", seeded(1, 9, 3, 2, 4, 7, 19)]);
  for (const [scale, name] of [[1e-200, "tiny"], [1e200, "huge"]] as const) {
    const p = seeded(5, 4, 3, 3, 6, 6, 23);
    for (let k = 0; k < p.re.length; k++) p.re[k] *= scale;
    cases.push([`${name} weights (×${scale})`, p]);
  }
  for (const [name, p] of cases) assertRowsClose(await gpuRows(gpu, p), wasmRows(p), `${name}: ${describe(p)}`);
}, { ignore: noGpu });

test("runProblemWebGPU() reports frequencies that do not converge as ConvergenceError after NaN rows", async () => {
  const gpu = await device();
  const p = seeded(8, 8, 3, 3, 4, 4, 29);
  const rows: Row[] = [];
  await assert.rejects(runProblemWebGPU(gpu, p, collect(rows), { maxSweeps: 1 }), (err: unknown) => {
    assert.ok(err instanceof ConvergenceError);
    assert.ok(err.frequencies.length > 0);
    return true;
  });
  let visited = 0;
  forEachFrequency(p.h, p.w, false, () => visited++);
  assert.equal(rows.length, visited, "every frequency still reaches the sink");
  assert.ok(rows.some((r) => r.values.every(Number.isNaN)), "failed rows are NaN");
  // and the same problem converges with the default cap
  assertRowsClose(await gpuRows(gpu, p), wasmRows(p), describe(p));
}, { ignore: noGpu });

test("runProblemWebGPU() errors clearly when one matrix cannot fit one binding", async () => {
  const gpu = await device({ maxStorageBufferBindingSize: 1024 });
  await assert.rejects(gpuRows(gpu, seeded(16, 16, 1, 1, 2, 2)), (err: unknown) => {
    assert.ok(err instanceof RangeError);
    assert.match(err.message, /must fit one storage binding of 1024 bytes: current value is 2048 bytes/);
    return true;
  });
  if (worst > 0) console.log(`  largest error over this file so far: ${worst.toExponential(2)}·σ_max (bound ${TOL})`);
}, { ignore: noGpu });

// ---------------------------------------------------------------------------
// Backend choice

test("auto's size rule: work per wasm thread against WEBGPU_MIN_WORK, matrices up to WEBGPU_MAX_CHANNELS", () => {
  assert.ok(Number.isFinite(WEBGPU_MIN_WORK) && WEBGPU_MIN_WORK > 0, "a measured crossover");
  // 32×32 real, 64 channels: 514 visited frequencies · 64³.
  const mid = [{ ...seeded(64, 64, 3, 3, 32, 32) }];
  const work = problemsWork(mid);
  assert.equal(work, 514 * 64 ** 3);
  const under = Math.ceil(work / WEBGPU_MIN_WORK) + 1;
  assert.equal(autoSizeRefusal(mid, 1, work), undefined, "at the crossover: WebGPU");
  assert.match(autoSizeRefusal(mid, 2, work)!, /below the crossover \(work per wasm thread/, "two threads halve it");
  assert.match(autoSizeRefusal(mid, under)!, /below the crossover/);
  assert.equal(autoSizeRefusal(mid, 0, work), undefined, "no threads counts as one");
  const wide = [{ ...seeded(WEBGPU_MAX_CHANNELS + 1, 3, 3, 3, 64, 64) }];
  assert.match(autoSizeRefusal(wide, 1, 0)!, new RegExp(`has ${WEBGPU_MAX_CHANNELS + 1} channels`));
  assert.equal(autoSizeRefusal([{ ...seeded(WEBGPU_MAX_CHANNELS, 3, 3, 3, 4, 4) }], 1, 0), undefined);
  assert.match(autoSizeRefusal([], 1)!, /below the crossover/, "no problems: no work");
  // Clipping: WebGPU only against at most WEBGPU_CLIP_MAX_THREADS wasm threads.
  assert.equal(autoSizeRefusal(mid, WEBGPU_CLIP_MAX_THREADS, 0, WEBGPU_CLIP_MAX_THREADS), undefined);
  assert.match(
    autoSizeRefusal(mid, WEBGPU_CLIP_MAX_THREADS + 1, 0, WEBGPU_CLIP_MAX_THREADS)!,
    new RegExp(`wasm runs on ${WEBGPU_CLIP_MAX_THREADS + 1} threads here`),
  );
});

test("resolveBackend() picks WebGPU only when asked, or under auto with f32, a big layer and a hardware adapter", async () => {
  const small = [seeded(4, 4, 3, 3, 4, 4)];
  assert.equal(problemsWork(small), 10 * 4 * 16, "10 visited frequencies of a 4×4 real problem");
  const req = (backend: unknown, precision: unknown, minWork?: number) => ({
    subject: "compute singular values",
    run: validateRun({ backend, precision, threads: 1 }),
    problems: () => small,
    ...(minWork === undefined ? {} : { minWork }),
  });
  const resolve = (backend: unknown, precision: unknown, minWork?: number) =>
    resolveBackend(req(backend, precision, minWork));
  const pick = (b: Resolved) => ({ backend: b.backend, precision: b.precision, skipped: b.skipped });
  assert.deepEqual(pick(await resolve(undefined, undefined)), { backend: "wasm", precision: "f64", skipped: {} });
  assert.deepEqual(pick(await resolve("wasm", "f32")), { backend: "wasm", precision: "f32", skipped: {} });
  assert.throws(() => validateRun({ backend: "gpu" }), TypeError);
  await assert.rejects(resolve("webgpu", "f64"), RangeError);
  const f64 = await resolve("auto", undefined, 0);
  assert.equal(f64.backend, "wasm");
  assert.equal(f64.precision, "f64", "auto never changes precision");
  assert.match(f64.skipped.webgpu!, /f32 was not allowed/);
  const tiny = await resolve("auto", "f32", 1e9);
  assert.equal(tiny.backend, "wasm");
  assert.match(tiny.skipped.webgpu!, /below the crossover/);
  const committed = await resolve("auto", "f32");
  assert.match(committed.skipped.webgpu!, /below the crossover/, "640 work on one thread is below WEBGPU_MIN_WORK");
  const gpu = await getGpu();
  const auto = await resolve("auto", "f32", 0);
  const explicit = resolve("webgpu", undefined);
  if ("reason" in gpu) {
    assert.equal(auto.backend, "wasm");
    assert.equal(auto.skipped.webgpu, gpu.reason);
    await assert.rejects(explicit, (err: unknown) => err instanceof Error && err.message.includes(gpu.reason));
  } else {
    const chosen = await explicit;
    assert.equal(chosen.backend, "webgpu");
    assert.equal(chosen.precision, "f32");
    if (gpu.fallback) {
      assert.equal(auto.backend, "wasm");
      assert.match(auto.skipped.webgpu!, /software/);
    } else {
      assert.equal(auto.backend, "webgpu");
    }
  }
  assert.throws(() => resolveBackendSync(req("webgpu", undefined)), TypeError);
  assert.equal(resolveBackendSync(req("auto", "f32")).backend, "wasm");
  assert.match(resolveBackendSync(req("auto", "f32")).skipped.webgpu!, /synchronous/);
  assert.throws(() => wasmOnly({ backend: "webgpu" }, "frequencySvd"), TypeError);
  assert.throws(() => wasmOnly({ backend: 3 }, "frequencySvd"), TypeError);
  assert.equal(wasmOnly({ backend: "auto" }, "frequencySvd").run.backend, "auto");
  assert.equal(wasmOnly({}, "frequencySvd").run.backend, undefined);
});

test(
  'spectrum(…, { backend: "auto", precision: "f32" }) runs WebGPU past the crossover on a hardware GPU',
  async () => {
    // 32×32, 64 → 64 on one wasm thread: 514 · 64³ work per thread, past WEBGPU_MIN_WORK.
    const p = seeded(64, 64, 3, 3, 32, 32, 7);
    assert.equal(autoSizeRefusal([p], 1), undefined, "past the crossover on one thread");
    const kernel = { data: p.re as Float64Array, shape: [64, 64, 3, 3] };
    const opts = { inputShape: [32, 32] as [number, number], threads: 1 };
    const got = await spectrum(kernel, { ...opts, backend: "auto", precision: "f32" });
    assert.equal(got.backend, "webgpu", JSON.stringify(got.skipped));
    assert.equal(got.precision, "f32");
    const ref = await spectrum(kernel, opts);
    assert.equal(ref.backend, "wasm");
    assert.equal(got.values.length, ref.values.length);
    const smax = ref.values[0];
    let err = 0;
    for (let k = 0; k < ref.values.length; k++) err = Math.max(err, Math.abs(got.values[k] - ref.values[k]));
    assert.ok(err <= TOL * smax, `error ${err / smax}·σ_max`);
    // More threads for wasm lower its work per thread below the crossover: wasm, with the reason.
    const many = Math.ceil(problemsWork([p]) / WEBGPU_MIN_WORK) + 1;
    if ((navigator.hardwareConcurrency ?? 1) >= many) {
      const wasm = await spectrum(kernel, { ...opts, threads: many, backend: "auto", precision: "f32" });
      assert.equal(wasm.backend, "wasm");
      assert.match(wasm.skipped!.webgpu!, /below the crossover/);
    }
    console.log(`  auto on ${(await device()).adapter}: WebGPU, error ${(err / smax).toExponential(2)}·σ_max`);
  },
  { ignore: noHardwareGpu },
);
