/**
 * Concurrent callers, aborts, progress and the worker cap: calls of any
 * thread counts share one pool and equal their sequential results bit for
 * bit; an aborted call rejects promptly with an AbortError and the others
 * finish; the pool stays usable; `onProgress` counts what was done. A soak
 * run (10,000 async calls) is behind `CONVSV_SOAK=1`.
 * @module
 */
import assert from "node:assert/strict";
import { test } from "./_test.ts";
import {
  clipOperatorNorm,
  clipOperatorNormSync,
  closeThreads,
  frequencySvd,
  gramIterationNorm,
  operatorNormBounds,
  operatorNormBoundsSync,
  powerIterationNorm,
  singularValues,
  singularValuesSync,
  spectrum,
  spectrumSync,
  topSingularVectors,
} from "../mod.ts";
import { getPool } from "../src/_threads/pool.ts";
import { defaultThreads } from "../src/_threads/ports.ts";
import { lcgValues } from "./_random.ts";

declare const process: { env: Record<string, string | undefined>; memoryUsage(): { rss: number } };

const kernel = (cOut: number, cIn: number, k: number, seed: number) => ({
  data: lcgValues(seed, cOut * cIn * k * k),
  shape: [cOut, cIn, k, k],
});

const isAbort = (err: unknown) => err instanceof Error && err.name === "AbortError";

test(
  "20 mixed calls under Promise.all (threads 1/2/4/default, f64/f32, clip, spectrum, bounds) equal their sequential results; an aborted one rejects and the others finish",
  async () => {
    const small = kernel(12, 10, 3, 1), mid = kernel(24, 24, 3, 2);
    const o = { inputShape: [12, 12] };
    type Call = { run: () => Promise<unknown>; want: () => unknown };
    const calls: Call[] = [];
    const threadCounts = [1, 2, 4, undefined];
    for (let i = 0; i < 20; i++) {
      const threads = threadCounts[i % 4];
      const k = i % 2 ? small : mid;
      switch (i % 5) {
        case 0:
          calls.push({ run: () => singularValues(k, { ...o, threads }), want: () => singularValuesSync(k, o) });
          break;
        case 1:
          calls.push({
            run: () => singularValues(k, { ...o, threads, precision: "f32" }),
            want: () => singularValuesSync(k, { ...o, precision: "f32" }),
          });
          break;
        case 2:
          calls.push({
            run: async () => (await clipOperatorNorm(k, 0.5, { ...o, threads, iterations: 3 })).kernel.data,
            want: () => clipOperatorNormSync(k, 0.5, { ...o, iterations: 3 }).kernel.data,
          });
          break;
        case 3:
          calls.push({
            run: async () => (await spectrum(k, { ...o, threads })).values,
            want: () => spectrumSync(k, o).values,
          });
          break;
        default:
          calls.push({
            run: async () => {
              const b = await operatorNormBounds(k, { ...o, threads, padding: 1 });
              return [b.lower, b.upper];
            },
            want: () => {
              const b = operatorNormBoundsSync(k, { ...o, padding: 1 });
              return [b.lower, b.upper];
            },
          });
      }
    }
    const wants = calls.map((c) => c.want());
    const controller = new AbortController();
    const big = kernel(64, 64, 3, 3);
    const aborted = singularValues(big, { inputShape: [48, 48], threads: 2, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const [results, abort] = await Promise.all([
      Promise.all(calls.map((c) => c.run())),
      aborted.then(() => "finished", (err) => err),
    ]);
    results.forEach((r, i) => assert.deepEqual(r, wants[i], `call ${i}`));
    assert.ok(isAbort(abort), `the aborted call rejects with an AbortError: ${abort}`);
    // The pool is still usable.
    assert.deepEqual(await singularValues(small, { ...o, threads: 2 }), singularValuesSync(small, o));
    closeThreads();
  },
  { threads: true, timeoutMs: 300_000 },
);

test(
  "an abort rejects promptly on the pool and on the calling thread; the next calls still give the same bits",
  async () => {
    const big = kernel(96, 96, 3, 4);
    const o = { inputShape: [48, 48] };
    for (const threads of [1, 2]) {
      const controller = new AbortController();
      const t0 = performance.now();
      const call = singularValues(big, { ...o, threads, signal: controller.signal });
      setTimeout(() => controller.abort(), 30);
      await assert.rejects(call, isAbort, `threads ${threads}`);
      const ms = performance.now() - t0;
      // The whole layer takes seconds here; the abort lands within a job or a column (tens of ms).
      assert.ok(ms < 1500, `threads ${threads}: rejected after ${ms.toFixed(0)} ms`);
    }
    const controller = new AbortController();
    const clip = clipOperatorNorm(kernel(16, 16, 3, 5), 0.1, {
      inputShape: [16, 16],
      iterations: 100_000,
      threads: 2,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error("stop")), 50);
    await assert.rejects(clip, /stop/);
    // The per-frequency functions in TypeScript and with vectors: aborted between frequencies.
    for (
      const [name, run] of [
        [
          "gramIterationNorm",
          (signal: AbortSignal) => gramIterationNorm(kernel(48, 48, 3, 12), { inputShape: [64, 64], signal }),
        ],
        [
          "frequencySvd",
          (signal: AbortSignal) => frequencySvd(kernel(48, 48, 3, 13), { inputShape: [64, 64], signal }),
        ],
        [
          "topSingularVectors",
          (signal: AbortSignal) => topSingularVectors(kernel(96, 96, 3, 14), { inputShape: [48, 48], signal }),
        ],
      ] as const
    ) {
      const c = new AbortController();
      const t0 = performance.now();
      const call = run(c.signal);
      setTimeout(() => c.abort(), 30);
      await assert.rejects(call, isAbort, name);
      assert.ok(performance.now() - t0 < 1500, `${name}: rejected after ${(performance.now() - t0).toFixed(0)} ms`);
    }
    const small = kernel(8, 8, 3, 6);
    assert.deepEqual(
      await singularValues(small, { inputShape: [8, 8], threads: 2 }),
      singularValuesSync(small, { inputShape: [8, 8] }),
    );
    closeThreads();
  },
  { threads: true, timeoutMs: 300_000 },
);

test("an already-aborted signal: every entry point refuses before any work (sync throws, async rejects)", async () => {
  const k = kernel(4, 4, 3, 7);
  const o = { inputShape: [8, 8] };
  const signal = AbortSignal.abort();
  assert.throws(() => singularValuesSync(k, { ...o, signal }), isAbort);
  assert.throws(() => clipOperatorNormSync(k, 1, { ...o, signal }), isAbort);
  assert.throws(() => operatorNormBoundsSync(k, { ...o, signal }), isAbort);
  for (
    const run of [
      () => singularValues(k, { ...o, signal }),
      () => spectrum(k, { ...o, signal }),
      () => clipOperatorNorm(k, 1, { ...o, signal }),
      () => operatorNormBounds(k, { ...o, padding: 1, signal }),
      () => gramIterationNorm(k, { ...o, signal }),
      () => powerIterationNorm(k, { ...o, padding: 1, signal }),
      () => frequencySvd(k, { ...o, signal }),
      () => topSingularVectors(k, { ...o, signal }),
    ]
  ) {
    await assert.rejects(run(), isAbort);
  }
});

test("signal and onProgress of the wrong type are TypeErrors naming the type", async () => {
  const k = kernel(2, 2, 3, 8);
  const o = { inputShape: [4, 4] };
  assert.throws(
    () => singularValuesSync(k, { ...o, signal: "stop" as unknown as AbortSignal }),
    (e: unknown) =>
      e instanceof TypeError && /signal must be an AbortSignal: current value is "stop" \(string\)/.test(e.message),
  );
  await assert.rejects(
    singularValues(k, { ...o, onProgress: 3 as unknown as () => void }),
    (e: unknown) =>
      e instanceof TypeError && /onProgress must be a function: current value is 3 \(number\)/.test(e.message),
  );
});

test(
  "onProgress counts the frequencies (every problem's visited ones) and the clipping rounds, ending at the total",
  async () => {
    const k = kernel(8, 6, 3, 9);
    for (const threads of [1, 2]) {
      const seen: { done: number; total: number }[] = [];
      await spectrum(k, { inputShape: [20, 20], threads, onProgress: (p) => seen.push(p) });
      // A real 20×20 problem visits its Hermitian half: 11 columns, 2 of them (v = 0, 10) with 11 rows.
      const total = 9 * 20 + 2 * 11;
      assert.ok(seen.length >= 2 && seen.length <= 102, `threads ${threads}: ${seen.length} reports`);
      assert.ok(seen.every((p) => p.total === total), `threads ${threads}: total`);
      assert.ok(seen.every((p, i) => i === 0 || p.done > seen[i - 1].done), "done increases");
      assert.deepEqual(seen.at(-1), { done: total, total });
    }
    // operatorNormBounds counts every candidate grid's frequencies.
    const seenB: { done: number; total: number }[] = [];
    const b = await operatorNormBounds(k, {
      inputShape: [6, 6],
      padding: 1,
      gridCandidates: 2,
      onProgress: (p) => seenB.push(p),
    });
    // The Hermitian halves of the two grids: 7×7 has 3 full columns and 1 of 4 rows, 8×8 3 full ones and 2 of 5 rows.
    const want = (3 * 7 + 4) + (3 * 8 + 2 * 5);
    assert.deepEqual(b.gridSizes, [[7, 7], [8, 8]]);
    assert.deepEqual(seenB.at(-1), { done: want, total: want });
    const rounds: number[] = [];
    const res = await clipOperatorNorm(k, 0.2, {
      inputShape: [8, 8],
      iterations: 7,
      certify: false,
      onProgress: (p) => {
        assert.equal(p.total, 7);
        rounds.push(p.done);
      },
    });
    assert.equal(res.iterations, 7);
    assert.deepEqual(rounds, [1, 2, 3, 4, 5, 6, 7]);
    closeThreads();
  },
  { threads: true },
);

test("threads above the cores are capped at the cores: the pool does not start 64 workers", async () => {
  closeThreads();
  const cores = await defaultThreads();
  const k = kernel(8, 8, 3, 10);
  const sv = await singularValues(k, { inputShape: [8, 8], threads: 64 });
  assert.deepEqual(sv, singularValuesSync(k, { inputShape: [8, 8] }));
  if (cores > 1) assert.equal((await getPool(1)).size, cores);
  closeThreads();
}, { threads: true });

test("soak: 10,000 async calls keep the RSS flat (CONVSV_SOAK=1)", async () => {
  const k = kernel(8, 8, 3, 11);
  const o = { inputShape: [8, 8], threads: 2 };
  for (let i = 0; i < 500; i++) await singularValues(k, o);
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 10_000; i++) await singularValues(k, o);
  const grew = (process.memoryUsage().rss - before) / 2 ** 20;
  console.log(`soak: RSS grew ${grew.toFixed(1)} MB over 10,000 calls`);
  assert.ok(grew < 32, `RSS grew ${grew.toFixed(1)} MB`);
  closeThreads();
}, {
  threads: true,
  timeoutMs: 600_000,
  ignore: typeof process === "undefined" || process.env?.CONVSV_SOAK !== "1" ? "set CONVSV_SOAK=1 to run it" : false,
});
