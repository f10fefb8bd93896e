/**
 * WebGPU against wasm (all threads) over growing layers, and the crossover.
 *
 *     ./node_modules/.bin/deno run -A bench/webgpu.ts [--cases 8x16,16x64,7x512]
 *         [--budget S] [--max-reps N] [--threads N] [--json FILE]
 *
 * Cases are 3×3 kernels on `h × h` inputs, written `HxC` (c_in = c_out = C),
 * in the order given; the default list grows from 8×8 with 16 channels to
 * 56×56 with 64 and 7×7 with 512 (DESIGN.md §5's cases), and on a fallback
 * (software) adapter only its first, small cases run.
 *
 * Each side runs the same engine problem (`runProblemThreaded` on the worker
 * pool, `runProblemWebGPU` on the device) with the same sink; each side warms
 * up once (which also compiles its pipelines), then takes the median of N
 * runs, N chosen so that a case spends about `--budget` seconds (at least 3,
 * at most `--max-reps`). wasm runs in f32 (the alternative `"auto"` has when
 * the caller allows f32) and in f64 (the default). The crossover is the first
 * case from which WebGPU beats wasm f32 in every later case; its "work"
 * `h·w·max(c)·min(c)²` is what `"auto"` compares against.
 *
 * Check: every value of WebGPU must be within 1e-4·σ_max of wasm f64; the
 * program exits 1 when one is not.
 *
 * On a software adapter (llvmpipe, SwiftShader, WARP) the WebGPU numbers are
 * CPU emulation and are printed for correctness only: never quote them as
 * GPU speed.
 * @module
 */
import type { Problem, Sink } from "../src/_problem/problem.ts";
import { runProblemThreaded } from "../src/_wasm/engine.ts";
import { closeThreads, getPool } from "../src/_threads/pool.ts";
import { defaultThreads } from "../src/_threads/ports.ts";
import { getGpu } from "../src/_webgpu/device.ts";
import { runProblemWebGPU } from "../src/_webgpu/run.ts";

interface Case {
  h: number;
  c: number;
}

const DEFAULT_CASES: Case[] = [
  { h: 8, c: 16 },
  { h: 16, c: 16 },
  { h: 32, c: 16 },
  { h: 16, c: 64 },
  { h: 32, c: 64 },
  { h: 16, c: 128 },
  { h: 8, c: 256 },
  { h: 56, c: 64 },
  { h: 7, c: 512 },
];
/** Cases a software adapter runs by default (it is a CPU emulation: slow). */
const FALLBACK_CASES = 4;

function usage(msg: string): never {
  console.error(
    `${msg}\nusage: deno run -A bench/webgpu.ts [--cases 8x16,16x64] [--budget S] [--max-reps N] [--threads N] [--json FILE]`,
  );
  Deno.exit(2);
}

function parseArgs(args: string[]) {
  const o = { cases: undefined as Case[] | undefined, budget: 2, maxReps: 15, threads: 0, json: "" };
  for (let k = 0; k < args.length; k++) {
    const v = args[k + 1];
    switch (args[k]) {
      case "--cases":
        o.cases = (v ?? usage("--cases needs a list")).split(",").map((t) => {
          const m = /^(\d+)x(\d+)$/.exec(t.trim());
          if (!m) usage(`bad case ${t}`);
          return { h: Number(m[1]), c: Number(m[2]) };
        });
        k++;
        break;
      case "--budget":
        o.budget = Number(v);
        k++;
        break;
      case "--max-reps":
        o.maxReps = Number(v);
        k++;
        break;
      case "--threads":
        o.threads = Number(v);
        k++;
        break;
      case "--json":
        o.json = v ?? usage("--json needs a file");
        k++;
        break;
      default:
        usage(`unknown argument ${args[k]}`);
    }
  }
  return o;
}

function problemOf({ h, c }: Case): Problem {
  let s = 12345 + h * 7919 + c;
  const re = Float64Array.from({ length: c * c * 9 }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648 - 0.5) / 3;
  });
  return { cOut: c, cIn: c, kh: 3, kw: 3, h, w: h, re };
}

/** Median ms of `fn` after one warm-up run, with the repetition count from the budget. */
async function time(fn: () => Promise<void>, budgetS: number, maxReps: number): Promise<{ ms: number; reps: number }> {
  const t0 = performance.now();
  await fn();
  const first = performance.now() - t0;
  const reps = Math.max(3, Math.min(maxReps, Math.floor((budgetS * 1000) / Math.max(first, 1e-3))));
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], reps };
}

/** Values in the engine's sink order, flattened. */
function recorder(): { sink: Sink; values: number[] } {
  const values: number[] = [];
  return { values, sink: (_u, _v, row) => values.push(...row) };
}

const opts = parseArgs(Deno.args);
const gpu = await getGpu();
if ("reason" in gpu) {
  console.log(`No WebGPU device: ${gpu.reason}. Nothing to compare.`);
  Deno.exit(0);
}
const threads = opts.threads || await defaultThreads();
const pool = await getPool(threads);
const cases = opts.cases ?? (gpu.fallback ? DEFAULT_CASES.slice(0, FALLBACK_CASES) : DEFAULT_CASES);

console.log(`WebGPU adapter: ${gpu.adapter}`);
console.log(
  `wasm: ${threads} worker thread(s); ${navigator.hardwareConcurrency} logical cores; Deno ${Deno.version.deno}`,
);
if (gpu.fallback) {
  console.log(
    "NOTE: a software (fallback) adapter: its WebGPU times are a CPU emulation, for correctness only. Do not quote them as GPU speed.",
  );
}
console.log("");
console.log("| h | c | work h·w·c³ | wasm f64 ms | wasm f32 ms | WebGPU ms | WebGPU / wasm f32 | max error / σ_max |");
console.log("|---|---|---|---|---|---|---|---|");

interface Result {
  h: number;
  c: number;
  work: number;
  wasmF64: number;
  wasmF32: number;
  webgpu: number;
  error: number;
}
const results: Result[] = [];
let bad = false;
for (const cs of cases) {
  const p = problemOf(cs);
  const ref = recorder();
  await runProblemThreaded(pool, p, ref.sink, "f64");
  const got = recorder();
  await runProblemWebGPU(gpu, p, got.sink);
  let smax = 0;
  for (const x of ref.values) smax = Math.max(smax, x);
  let err = 0;
  for (let k = 0; k < ref.values.length; k++) err = Math.max(err, Math.abs(ref.values[k] - got.values[k]));
  const error = err / smax;
  if (!(error <= 1e-4) || got.values.length !== ref.values.length) bad = true;
  const noop: Sink = () => {};
  const f64 = await time(() => runProblemThreaded(pool, p, noop, "f64"), opts.budget, opts.maxReps);
  const f32 = await time(() => runProblemThreaded(pool, p, noop, "f32"), opts.budget, opts.maxReps);
  const wgpu = await time(() => runProblemWebGPU(gpu, p, noop), opts.budget, opts.maxReps);
  const r: Result = {
    h: cs.h,
    c: cs.c,
    work: cs.h * cs.h * cs.c ** 3,
    wasmF64: f64.ms,
    wasmF32: f32.ms,
    webgpu: wgpu.ms,
    error,
  };
  results.push(r);
  console.log(
    `| ${r.h} | ${r.c} | ${r.work.toExponential(2)} | ${r.wasmF64.toFixed(1)} | ${r.wasmF32.toFixed(1)} | ${
      r.webgpu.toFixed(1)
    } | ${(r.webgpu / r.wasmF32).toFixed(2)} | ${r.error.toExponential(1)} |`,
  );
}

// Crossover: the first case from which WebGPU wins in every later case (cases sorted by work).
const byWork = [...results].sort((a, b) => a.work - b.work);
let from = -1;
for (let k = byWork.length - 1; k >= 0 && byWork[k].webgpu < byWork[k].wasmF32; k--) from = k;
console.log("");
if (from < 0) {
  console.log("Crossover: none; wasm f32 was faster in the largest case measured.");
} else if (from === 0) {
  console.log(`Crossover: at or below the smallest case (WebGPU faster from h=${byWork[0].h}, c=${byWork[0].c}).`);
} else {
  const lo = byWork[from - 1], hi = byWork[from];
  console.log(
    `Crossover: between work ${lo.work.toExponential(2)} (h=${lo.h}, c=${lo.c}) and ${
      hi.work.toExponential(2)
    } (h=${hi.h}, c=${hi.c}).`,
  );
}
if (gpu.fallback) console.log("(software adapter: this crossover says nothing about real GPUs)");
if (opts.json) {
  await Deno.writeTextFile(
    opts.json,
    JSON.stringify({ adapter: gpu.adapter, fallback: gpu.fallback, threads, results }, null, 2),
  );
}
closeThreads();
if (bad) {
  console.error("FAILED: WebGPU and wasm f64 disagree by more than 1e-4·σ_max");
  Deno.exit(1);
}
