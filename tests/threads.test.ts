// Worker threads and f32: results identical whatever the thread count; f32 within its documented accuracy.
import { test, underBun } from "./_test.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  clipOperatorNorm,
  clipOperatorNormSync,
  closeThreads,
  singularValues,
  singularValuesSync,
  spectrum,
  spectrumSync,
} from "../mod.ts";
import { lcgValues } from "./_random.ts";
import { LOCAL_MAX_SECONDS, problemSeconds } from "../src/_wasm/engine.ts";
import { getPool, jobCounts, runJobs } from "../src/_threads/pool.ts";
import { JOB_KIND } from "../src/_wasm/abi.ts";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

function kernel(seed: number, cOut: number, cIn: number, kh: number, kw: number): Float64Array {
  return lcgValues(seed, cOut * cIn * kh * kw);
}

const shapeArb = fc.record({
  cOut: fc.integer({ min: 1, max: 9 }),
  cIn: fc.integer({ min: 1, max: 9 }),
  kh: fc.integer({ min: 1, max: 3 }),
  kw: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 3, max: 9 }),
  w: fc.integer({ min: 3, max: 12 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

test("singularValues() and spectrum() are bit-identical for threads 1, 2, 3 and the sync form, f64 and f32", async () => {
  await fc.assert(
    fc.asyncProperty(shapeArb, fc.constantFrom("f64" as const, "f32" as const), async (c, precision) => {
      const k = { data: kernel(c.seed, c.cOut, c.cIn, c.kh, c.kw), shape: [c.cOut, c.cIn, c.kh, c.kw] };
      const opts = { inputShape: [c.h, c.w], precision };
      const ref = singularValuesSync(k, opts);
      for (const threads of [1, 2, 3]) {
        assert.deepEqual(await singularValues(k, { ...opts, threads }), ref);
      }
      const sref = spectrumSync(k, opts);
      const s = await spectrum(k, { ...opts, threads: 2 });
      assert.deepEqual(s.values, sref.values);
      assert.equal(s.precision, precision);
      assert.equal(sref.precision, precision);
    }),
    { numRuns: 25 },
  );
});

test("precision f32 is within 1e-5·σ_max of f64 (documented ~1e-6) and says so", () => {
  fc.assert(
    fc.property(shapeArb, (c) => {
      const k = { data: kernel(c.seed, c.cOut, c.cIn, c.kh, c.kw), shape: [c.cOut, c.cIn, c.kh, c.kw] };
      const a = singularValuesSync(k, { inputShape: [c.h, c.w] });
      const b = singularValuesSync(k, { inputShape: [c.h, c.w], precision: "f32" });
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      assert.ok(worst <= 1e-5 * a[0], `f32 error ${worst} vs σ_max ${a[0]}`);
    }),
    { numRuns: 40 },
  );
  // A larger layer, where the f32 error accumulates over c = 96.
  const k = { data: kernel(7, 96, 96, 3, 3), shape: [96, 96, 3, 3] };
  const a = singularValuesSync(k, { inputShape: [6, 6] });
  const b = singularValuesSync(k, { inputShape: [6, 6], precision: "f32" });
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  assert.ok(worst <= 1e-5 * a[0], `f32 error ${worst} vs σ_max ${a[0]}`);
});

test("clipOperatorNorm() is bit-identical for threads 1, 2 and the sync form (alternating and dykstra)", async () => {
  for (const [cOut, cIn, h, w] of [[6, 4, 5, 6], [3, 8, 4, 4], [5, 5, 7, 3]]) {
    const data = kernel(cOut * 100 + h, cOut, cIn, 3, 3);
    const k = { data, shape: [cOut, cIn, 3, 3] };
    for (const method of ["alternating", "dykstra"] as const) {
      const opts = { inputShape: [h, w], iterations: 4, method };
      const ref = clipOperatorNormSync(k, 0.5, opts);
      for (const threads of [1, 2]) {
        const res = await clipOperatorNorm(k, 0.5, { ...opts, threads });
        assert.deepEqual(res.kernel.data, ref.kernel.data);
        assert.equal(res.normAfter, ref.normAfter);
        assert.equal(res.normBefore, ref.normBefore);
        assert.equal(res.iterations, ref.iterations);
      }
    }
  }
});

test("closeThreads() ends the pool; the next async call starts a new one", async () => {
  const k = { data: kernel(3, 4, 4, 3, 3), shape: [4, 4, 3, 3] };
  const a = await singularValues(k, { inputShape: [6, 6], threads: 2 });
  closeThreads();
  const b = await singularValues(k, { inputShape: [6, 6], threads: 2 });
  assert.deepEqual(a, b);
  closeThreads();
});

test("bad precision and threads are refused with the value", async () => {
  const k = { data: kernel(3, 2, 2, 1, 1), shape: [2, 2, 1, 1] };
  assert.throws(
    () => singularValuesSync(k, { inputShape: [2, 2], precision: "f16" as "f32" }),
    (e) => e instanceof TypeError && /f16/.test(e.message),
  );
  await assert.rejects(
    singularValues(k, { inputShape: [2, 2], threads: 0 }),
    (e) => e instanceof RangeError && /: current value is 0/.test((e as Error).message),
  );
  await assert.rejects(
    singularValues(k, { inputShape: [2, 2], threads: 1.5 }),
    (e) => e instanceof TypeError && /1\.5/.test((e as Error).message),
  );
  assert.throws(
    () => clipOperatorNormSync(k, 1, { inputShape: [2, 2], precision: "f32" }),
    (e) => e instanceof RangeError && /f32/.test((e as Error).message),
  );
});

test("threads split long columns into chunks (direct sums) and keep FFT columns whole: still bit-identical", async () => {
  const cases = [
    { cOut: 20, cIn: 24, kh: 3, kw: 3, h: 7, w: 7 }, // few long columns: chunked
    { cOut: 3, cIn: 2, kh: 11, kw: 11, h: 32, w: 24 }, // u-transform by FFT: whole columns
    { cOut: 5, cIn: 5, kh: 10, kw: 3, h: 13, w: 5 }, // Bluestein length along u
  ];
  for (const c of cases) {
    const k = { data: kernel(c.h * 7 + c.kh, c.cOut, c.cIn, c.kh, c.kw), shape: [c.cOut, c.cIn, c.kh, c.kw] };
    for (const precision of ["f64", "f32"] as const) {
      const opts = { inputShape: [c.h, c.w], precision };
      const ref = singularValuesSync(k, opts);
      for (const threads of [2, 3]) {
        assert.deepEqual(await singularValues(k, { ...opts, threads }), ref, JSON.stringify(c));
      }
    }
  }
});

test("small layers (the calling thread takes jobs too) and large ones (workers only) are bit-identical to one thread", async () => {
  const cases = [
    { c: 8, h: 8, local: true },
    { c: 64, h: 16, local: false },
  ];
  for (const { c, h, local } of cases) {
    const problem = { cOut: c, cIn: c, kh: 3, kw: 3, h, w: h, re: new Float64Array(c * c * 9) };
    assert.equal(problemSeconds(problem) < LOCAL_MAX_SECONDS, local, `c = ${c}, h = ${h}`);
    const k = { data: kernel(c + h, c, c, 3, 3), shape: [c, c, 3, 3] };
    for (const precision of ["f64", "f32"] as const) {
      const opts = { inputShape: [h, h], precision };
      const ref = singularValuesSync(k, opts);
      for (const threads of [2, 3]) {
        // Which path ran: the calling thread joined the blocks (local) or not; the workers' jobs ran on their
        // own unshared instances (all of them on the workers-only path).
        const before = jobCounts(await getPool(threads));
        assert.deepEqual(await singularValues(k, { ...opts, threads }), ref, `c = ${c}, ${precision}`);
        const after = jobCounts(await getPool(threads));
        const joined = after.localBlocks - before.localBlocks, own = after.own - before.own;
        if (local) assert.ok(joined > 0, `c = ${c}: the calling thread joined the blocks`);
        else assert.equal(joined, 0, `c = ${c}: the calling thread joined no block`);
        if (!local) {
          assert.ok(own >= h / 2 + 1, `c = ${c}: at least one job per column ran on the workers' own instances`);
        }
      }
    }
  }
});

test("the kernel is read in place, never written: f32 and f64 data, both layouts, sync and 2 threads", async () => {
  for (const Kind of [Float32Array, Float64Array]) {
    for (const layout of ["oihw", "hwio"] as const) {
      const data = Kind.from(kernel(7, 6, 5, 3, 3).map((x) => x * 1e3));
      const before = data.slice();
      const shape = layout === "oihw" ? [6, 5, 3, 3] : [3, 3, 5, 6];
      const opts = { inputShape: [8, 7], layout };
      const ref = singularValuesSync({ data, shape }, opts);
      assert.deepEqual(await singularValues({ data, shape }, { ...opts, threads: 2 }), ref);
      // The f64 copy of f32 data gives the same bits: f32 → f64 is exact.
      assert.deepEqual(singularValuesSync({ data: Float64Array.from(data), shape }, opts), ref);
      assert.deepEqual(data, before, `${Kind.name} ${layout}`);
    }
  }
  closeThreads();
});

test("a job that traps in a worker rejects with the worker's error (no hang); the pool keeps working", async () => {
  const k = { data: kernel(3, 4, 4, 3, 3), shape: [4, 4, 3, 3] };
  const opts = { inputShape: [6, 6], threads: 2 };
  const ref = singularValuesSync(k, opts);
  assert.deepEqual(await singularValues(k, opts), ref);
  const pool = await getPool(2);
  const at = (pool.core.heap_base() + 15) & ~15;
  // Input pointers past the end of memory: the first load traps, in every worker that takes a job.
  const far = pool.core.memory.buffer.byteLength + 65536;
  const job = { tr: far, ti: far, cOut: 4, cIn: 4, kh: 1, h: 4, u0: 0, nu: 4, out: at + 64, groups: 1 };
  const jobs = Array.from({ length: 8 }, () => job);
  for (const local of [false, true]) {
    await assert.rejects(
      runJobs(pool, { kind: JOB_KIND.svdF64, counter: at, workBase: at + 1024, workStride: 0, jobs }, local),
      (e) => e instanceof Error && /out of bounds|convsv worker failed/i.test(e.message),
    );
  }
  assert.deepEqual(await singularValues(k, opts), ref);
  closeThreads();
});

test("an idle pool does not keep a script alive (no closeThreads), in this runtime", () => {
  const mod = fileURLToPath(new URL("../mod.ts", import.meta.url));
  const script = `import { singularValues } from ${JSON.stringify(mod)};
const sv = await singularValues({ data: new Float64Array(2 * 3 * 9).fill(0.5), shape: [2, 3, 3, 3] }, { inputShape: [8, 8], threads: 2 });
console.log("values " + sv.length);`;
  const bun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
  const exe = bun ? process.execPath : Deno.execPath();
  const args = bun ? ["-e", script] : ["eval", script];
  const t0 = Date.now();
  const r = spawnSync(exe, args, { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `exit ${r.status} (${r.signal ?? "no signal"}): ${r.stderr}`);
  assert.match(r.stdout, /values 128/);
  assert.ok(Date.now() - t0 < 60_000);
});

test("Deno: a threaded call asks for no permission (deno run --no-prompt, no flags): its jobs ran on workers", () => {
  const dir = mkdtempSync(join(tmpdir(), "convsv-perm-"));
  try {
    const mod = new URL("../mod.ts", import.meta.url).href;
    const pool = new URL("../src/_threads/pool.ts", import.meta.url).href;
    const script = join(dir, "main.ts");
    writeFileSync(
      script,
      `import { singularValues, singularValuesSync, spectrum } from ${JSON.stringify(mod)};
import { getPool, jobCounts } from ${JSON.stringify(pool)};
const k = { data: Float64Array.from({ length: 64 * 64 * 9 }, (_, i) => Math.sin(i * 0.37)), shape: [64, 64, 3, 3] };
const o = { inputShape: [16, 16], threads: 2 };
const same = String(await singularValues(k, o)) === String(singularValuesSync(k, o));
const s = await spectrum(k, o);
console.log(JSON.stringify({ same, threads: s.threads, skipped: s.skipped, own: jobCounts(await getPool(2)).own }));`,
    );
    // Deno writes every permission it checks to this file (none expected: the file is then not made).
    const audit = join(dir, "audit.jsonl");
    const r = spawnSync(Deno.execPath(), ["run", "--no-prompt", "--no-config", script], {
      encoding: "utf8",
      timeout: 120_000,
      env: { ...process.env, DENO_AUDIT_PERMISSIONS: audit, NO_COLOR: "1", RUST_BACKTRACE: "0" },
    });
    assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    assert.deepEqual(out.skipped, {});
    assert.equal(out.threads, 2);
    assert.equal(out.same, true);
    assert.ok(out.own >= 16 / 2 + 1, `jobs ran on the workers' own instances: ${out.own}`);
    assert.equal(existsSync(audit) ? readFileSync(audit, "utf8") : "", "", "permissions checked");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, {
  timeoutMs: 120_000,
  ignore: underBun
    ? "runs a deno subprocess: Deno's permissions (Bun has none)"
    : navigator.hardwareConcurrency < 2 && "one core: calls run on the calling thread",
});

test(
  "where threads cannot run (a page that is not cross-origin isolated), a call asking for them runs on one thread and says why",
  async () => {
    const k = { data: kernel(9, 6, 5, 3, 3), shape: [6, 5, 3, 3] };
    const o = { inputShape: [7, 6] };
    const ref = spectrumSync(k, o);
    assert.equal(ref.threads, 1);
    assert.deepEqual(ref.skipped, {});
    const g = globalThis as { crossOriginIsolated?: boolean };
    g.crossOriginIsolated = false;
    try {
      const s = await spectrum(k, { ...o, threads: 2 });
      assert.equal(s.threads, 1);
      assert.match(
        s.skipped?.threads ?? "",
        /SharedArrayBuffer is not available: the page is not cross-origin isolated/,
      );
      assert.deepEqual(s.values, ref.values);
      // One thread asked for: nothing was skipped.
      assert.deepEqual((await spectrum(k, { ...o, threads: 1 })).skipped, {});
    } finally {
      delete g.crossOriginIsolated;
    }
    if (navigator.hardwareConcurrency > 1) {
      const s = await spectrum(k, { ...o, threads: 2 });
      assert.equal(s.threads, 2);
      assert.deepEqual(s.skipped, {});
      assert.deepEqual(s.values, ref.values);
    }
    closeThreads();
  },
  { threads: true },
);

test("without Atomics.waitAsync the pool learns that a block is done from the workers' messages: same bits", async () => {
  const k = { data: kernel(5, 6, 4, 3, 3), shape: [6, 4, 3, 3] };
  const ref = singularValuesSync(k, { inputShape: [9, 7] });
  const atomics = Atomics as unknown as { waitAsync?: unknown };
  const saved = atomics.waitAsync;
  atomics.waitAsync = undefined;
  try {
    for (const threads of [2, 3]) assert.deepEqual(await singularValues(k, { inputShape: [9, 7], threads }), ref);
    const clip = clipOperatorNormSync(k, 1, { inputShape: [9, 7], iterations: 2 });
    assert.deepEqual(await clipOperatorNorm(k, 1, { inputShape: [9, 7], iterations: 2, threads: 2 }), clip);
  } finally {
    atomics.waitAsync = saved;
  }
  closeThreads();
});

test("closeThreads() while a threaded call runs: the call rejects, it does not hang; the next call starts a new pool", async () => {
  const k = { data: kernel(11, 64, 64, 3, 3), shape: [64, 64, 3, 3] };
  const opts = { inputShape: [32, 32], threads: 2 };
  await singularValues(k, opts); // pool up, code warm
  const running = singularValues(k, opts);
  await new Promise((r) => setTimeout(r, 15));
  closeThreads();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    running.then(
      () => "resolved",
      (e) => (e instanceof Error && /closed/.test(e.message) ? "rejected" : `other: ${e}`),
    ),
    new Promise((r) => (timer = setTimeout(() => r("hung"), 20_000))),
  ]);
  clearTimeout(timer);
  // It may have finished before the close; it must never hang or fail otherwise.
  assert.ok(outcome === "rejected" || outcome === "resolved", String(outcome));
  assert.deepEqual(await singularValues(k, opts), singularValuesSync(k, opts));
  closeThreads();
});

test("concurrent threaded calls on one pool (Promise.all over layers) take turns: each equals its sync result", async () => {
  const a = { data: kernel(21, 32, 32, 3, 3), shape: [32, 32, 3, 3] };
  const b = { data: kernel(22, 48, 24, 3, 3), shape: [48, 24, 3, 3] };
  const c = { data: kernel(23, 5, 4, 3, 3), shape: [5, 4, 3, 3] };
  const o = { inputShape: [16, 16], threads: 2 };
  const [ra, rb, rc, clip, sa32] = await Promise.all([
    singularValues(a, o),
    singularValues(b, o),
    singularValues(c, { inputShape: [6, 7], threads: 2 }),
    clipOperatorNorm(b, 1, { ...o, iterations: 2 }),
    singularValues(a, { ...o, precision: "f32" }),
  ]);
  assert.deepEqual(ra, singularValuesSync(a, o));
  assert.deepEqual(rb, singularValuesSync(b, o));
  assert.deepEqual(rc, singularValuesSync(c, { inputShape: [6, 7] }));
  assert.deepEqual(clip, clipOperatorNormSync(b, 1, { ...o, iterations: 2 }));
  assert.deepEqual(sa32, singularValuesSync(a, { ...o, precision: "f32" }));
  closeThreads();
});
