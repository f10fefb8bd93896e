/**
 * WebGPU against wasm over growing layers and several thread counts, and the
 * crossover that `"auto"` uses (src/_backend.ts: WEBGPU_MIN_WORK,
 * WEBGPU_MAX_CHANNELS).
 *
 *     ./node_modules/.bin/deno run -A bench/webgpu.ts [--cases 8x16,16x64,7x512]
 *         [--threads 2,4,8,16] [--budget S] [--max-reps N] [--json FILE] [--write]
 *
 * Cases are 3×3 kernels on `h × h` inputs, written `HxC` (c_in = c_out = C),
 * in the order given; the default list grows from 8×8 with 16 channels to
 * 14×14 with 256 and 7×7 with 512, and on a fallback (software) adapter
 * only its first, small cases run. `--threads`: the wasm thread counts to
 * compare (default: the cores).
 *
 * Each side runs the same engine problem (`runProblemThreaded` on the worker
 * pool, `runProblemWebGPU` on the device) with the same sink; each warms up
 * once (which also compiles its pipelines), then takes the median of N runs,
 * N chosen so that a case spends about `--budget` seconds (at least 3, at
 * most `--max-reps`). wasm runs in f32 (the alternative `"auto"` has when the
 * caller allows f32) and in f64 (the default). WebGPU is timed once per case;
 * wasm once per case and thread count.
 *
 * "work / thread" is `problemsWork` (visited frequencies · max(c) · min(c)²)
 * over the wasm threads: what `"auto"` compares against WEBGPU_MIN_WORK. The
 * measured crossover is the smallest work per thread from which WebGPU beat
 * wasm f32 in every row at that work or more with at most
 * WEBGPU_MAX_CHANNELS channels; "auto picks" is the rule of src/_backend.ts
 * as committed, and "auto right" whether that pick was the faster one.
 *
 * Check: every value of WebGPU must be within 1e-4·σ_max of wasm f64; the
 * program exits 1 when one is not. `--write` puts the table in
 * bench/RESULTS.md under its heading (refused on a software adapter).
 *
 * On a software adapter (llvmpipe, SwiftShader, WARP) the WebGPU numbers are
 * CPU emulation and are printed for correctness only: never quote them as
 * GPU speed.
 * @module
 */
import { type Problem, problemsWork, type Sink } from "../src/_problem/problem.ts";
import { autoSizeRefusal, WEBGPU_CLIP_MAX_THREADS, WEBGPU_MAX_CHANNELS, WEBGPU_MIN_WORK } from "../src/_backend.ts";
import { KEPT_HEADINGS, writeSection } from "./bench.ts";
import { runProblemThreaded } from "../src/_wasm/engine.ts";
import { closeThreads, getPool } from "../src/_threads/pool.ts";
import { defaultThreads } from "../src/_threads/ports.ts";
import { getGpu } from "../src/_webgpu/device.ts";
import { runProblemWebGPU } from "../src/_webgpu/run.ts";
import { clipOperatorNorm } from "../mod.ts";

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
  { h: 56, c: 64 },
  { h: 8, c: 256 },
  { h: 28, c: 128 },
  { h: 112, c: 64 },
  { h: 14, c: 256 },
  { h: 7, c: 512 },
];
/** bench/bench.ts's `--write` keeps this section (KEPT_HEADINGS). */
const HEADING = "## WebGPU against wasm: the crossover of `auto` (issue 17, item 7)";
/** Cases a software adapter runs by default (it is a CPU emulation: slow). */
const FALLBACK_CASES = 4;

function usage(msg: string): never {
  console.error(
    `${msg}\nusage: deno run -A bench/webgpu.ts [--cases 8x16,16x64] [--threads 2,4] [--budget S] [--max-reps N] [--json FILE] [--write]`,
  );
  Deno.exit(2);
}

function parseArgs(args: string[]) {
  const o = {
    cases: undefined as Case[] | undefined,
    budget: 1,
    maxReps: 9,
    threads: [] as number[],
    json: "",
    write: false,
  };
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
        o.threads = (v ?? usage("--threads needs a list")).split(",").map((t) => {
          const n = Number(t);
          if (!Number.isInteger(n) || n < 1) usage(`bad thread count ${t}`);
          return n;
        });
        k++;
        break;
      case "--write":
        o.write = true;
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
if (opts.write && gpu.fallback) usage("--write is refused on a software adapter: its times are CPU emulation");
const cores = await defaultThreads();
// The pool only grows: thread counts run in increasing order.
const threadCounts = [...new Set(opts.threads.length ? opts.threads : [cores])].sort((a, b) => a - b);
const cases = opts.cases ?? (gpu.fallback ? DEFAULT_CASES.slice(0, FALLBACK_CASES) : DEFAULT_CASES);

const out: string[] = [];
const line = (s = "") => {
  console.log(s);
  out.push(s);
};
line(HEADING);
line("");
line(`- command: \`./node_modules/.bin/deno run -A bench/webgpu.ts ${Deno.args.join(" ")}\``);
line(`- date: ${new Date().toISOString()}; load average at start ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
line(
  `- machine: WebGPU adapter ${gpu.adapter}${
    gpu.fallback ? " (software)" : ""
  }; ${cores} logical CPUs, ${Deno.build.os}/${Deno.build.arch}; Deno ${Deno.version.deno}`,
);
line(
  `- the rule as committed: WEBGPU_MIN_WORK = ${WEBGPU_MIN_WORK} per thread, WEBGPU_MAX_CHANNELS = ${WEBGPU_MAX_CHANNELS}; clipping also WEBGPU_CLIP_MAX_THREADS = ${WEBGPU_CLIP_MAX_THREADS}`,
);
if (gpu.fallback) {
  line(
    "- NOTE: a software (fallback) adapter: its WebGPU times are a CPU emulation, for correctness only. Do not quote them as GPU speed.",
  );
}
line("");
line(
  "| h | c | work | WebGPU ms | error / σ_max | wasm threads | work / thread | wasm f64 ms | wasm f32 ms | WebGPU / wasm f32 | auto picks | auto right |",
);
line("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|");

interface Row {
  h: number;
  c: number;
  work: number;
  threads: number;
  perThread: number;
  wasmF64: number;
  wasmF32: number;
  webgpu: number;
  error: number;
  auto: "webgpu" | "wasm";
}
const gpuTimes = new Map<Case, { ms: number; error: number; bad: boolean; norm: number }>();
const rows: Row[] = [];
let bad = false;
const noop: Sink = () => {};
for (const threads of threadCounts) {
  const pool = await getPool(threads);
  for (const cs of cases) {
    const p = problemOf(cs);
    let g = gpuTimes.get(cs);
    if (!g) {
      const ref = recorder();
      await runProblemThreaded(pool, p, ref.sink, "f64");
      const got = recorder();
      await runProblemWebGPU(gpu, p, got.sink);
      let smax = 0;
      for (const x of ref.values) smax = Math.max(smax, x);
      let err = 0;
      for (let k = 0; k < ref.values.length; k++) err = Math.max(err, Math.abs(ref.values[k] - got.values[k]));
      const error = err / smax;
      const ms = (await time(() => runProblemWebGPU(gpu, p, noop), opts.budget, opts.maxReps)).ms;
      g = { ms, error, bad: !(error <= 1e-4) || got.values.length !== ref.values.length, norm: smax };
      gpuTimes.set(cs, g);
    }
    bad ||= g.bad;
    const f64 = await time(() => runProblemThreaded(pool, p, noop, "f64"), opts.budget, opts.maxReps);
    const f32 = await time(() => runProblemThreaded(pool, p, noop, "f32"), opts.budget, opts.maxReps);
    const work = problemsWork([p]);
    const r: Row = {
      h: cs.h,
      c: cs.c,
      work,
      threads,
      perThread: work / threads,
      wasmF64: f64.ms,
      wasmF32: f32.ms,
      webgpu: g.ms,
      error: g.error,
      auto: autoSizeRefusal([p], threads) === undefined && !gpu.fallback ? "webgpu" : "wasm",
    };
    rows.push(r);
    const right = (r.auto === "webgpu") === (r.webgpu < r.wasmF32);
    line(
      `| ${r.h} | ${r.c} | ${r.work.toExponential(2)} | ${r.webgpu.toFixed(1)} | ${
        r.error.toExponential(1)
      } | ${threads} | ${r.perThread.toExponential(2)} | ${r.wasmF64.toFixed(1)} | ${r.wasmF32.toFixed(1)} | ${
        (r.webgpu / r.wasmF32).toFixed(2)
      } | ${r.auto} | ${right ? "yes" : "no"} |`,
    );
  }
}

// The crossover: the smallest work per thread from which WebGPU wins in every
// row at that work or more, among the rows with at most WEBGPU_MAX_CHANNELS.
const eligible = rows.filter((r) => r.c <= WEBGPU_MAX_CHANNELS).sort((a, b) => a.perThread - b.perThread);
let from = -1;
for (let k = eligible.length - 1; k >= 0 && eligible[k].webgpu < eligible[k].wasmF32; k--) from = k;
line("");
if (from < 0) {
  line(
    `- measured crossover: none; wasm f32 was faster in the row with the most work per thread (≤ ${WEBGPU_MAX_CHANNELS} channels).`,
  );
} else if (from === 0) {
  line(
    `- measured crossover: at or below the least work per thread measured (${eligible[0].perThread.toExponential(2)}).`,
  );
} else {
  line(
    `- measured crossover: WebGPU beat wasm f32 in every row from ${
      eligible[from].perThread.toExponential(2)
    } work per thread (≤ ${WEBGPU_MAX_CHANNELS} channels); the last row it lost had ${
      eligible[from - 1].perThread.toExponential(2)
    } (h = ${eligible[from - 1].h}, c = ${eligible[from - 1].c}, ${eligible[from - 1].threads} threads).`,
  );
}
const wrong = rows.filter((r) => (r.auto === "webgpu") !== (r.webgpu < r.wasmF32));
const slower = wrong.filter((r) => r.auto === "webgpu");
line(
  `- the committed rule picks the faster backend in ${
    rows.length - wrong.length
  } of ${rows.length} rows; it picks WebGPU where wasm f32 was faster in ${slower.length}${
    slower.length ? ` (${slower.map((r) => `h = ${r.h}, c = ${r.c}, ${r.threads} threads`).join("; ")})` : ""
  }.`,
);
line(
  "- work: `problemsWork`, Σ visited frequencies · max(c) · min(c)² (a real kernel visits the Hermitian half); WebGPU: `runProblemWebGPU` (f32 one-sided Jacobi, src/_webgpu/); wasm: `runProblemThreaded` on the worker pool (Golub–Kahan SVD); each the median of ≥ 3 runs after a warm-up; error: WebGPU's values against wasm f64, max |difference| / σ_max (≤ 1e-4 checked).",
);
if (gpu.fallback) line("- (software adapter: this crossover says nothing about real GPUs)");

// Clipping under the same rule: one round through the public API, where the rule picks WebGPU.
const picked = rows.filter((r) => r.auto === "webgpu");
if (picked.length) {
  line("");
  line(
    'Clipping, in the rows where the rule picks WebGPU: `clipOperatorNorm(k, 0.5·‖K‖, { inputShape, iterations: 1 })` with `backend: "webgpu"` (f32 rounds) against `backend: "wasm"` (f64 rounds) on the row\'s threads; both return normBefore and normAfter (measured on wasm in f64).',
  );
  line("");
  line(
    "| h | c | wasm threads | wasm clip ms | WebGPU clip ms | WebGPU / wasm | max tap difference / max abs(K) | clip auto picks |",
  );
  line("|--:|--:|--:|--:|--:|--:|--:|---|");
  const gpuClip = new Map<string, { ms: number; kernel: Float64Array }>();
  for (const r of picked) {
    const cs = cases.find((c) => c.h === r.h && c.c === r.c)!;
    const p = problemOf(cs);
    const kernel = { data: p.re as Float64Array, shape: [r.c, r.c, 3, 3] };
    const radius = 0.5 * gpuTimes.get(cs)!.norm;
    const o = { inputShape: [r.h, r.h] as [number, number], iterations: 1 };
    const key = `${r.h}x${r.c}`;
    let g = gpuClip.get(key);
    if (!g) {
      let k: Float64Array = new Float64Array();
      const ms = (await time(
        async () => {
          k = (await clipOperatorNorm(kernel, radius, { ...o, backend: "webgpu" })).kernel.data as Float64Array;
        },
        opts.budget,
        opts.maxReps,
      )).ms;
      g = { ms, kernel: k };
      gpuClip.set(key, g);
    }
    let w: Float64Array = new Float64Array();
    const wms = (await time(
      async () => {
        w = (await clipOperatorNorm(kernel, radius, { ...o, backend: "wasm", threads: r.threads })).kernel
          .data as Float64Array;
      },
      opts.budget,
      opts.maxReps,
    )).ms;
    let big = 0, diff = 0;
    for (let k = 0; k < w.length; k++) {
      big = Math.max(big, Math.abs(p.re[k]));
      diff = Math.max(diff, Math.abs(w[k] - g.kernel[k]));
    }
    if (!(diff <= 1e-4 * big)) bad = true;
    line(
      `| ${r.h} | ${r.c} | ${r.threads} | ${wms.toFixed(1)} | ${g.ms.toFixed(1)} | ${(g.ms / wms).toFixed(2)} | ${
        (diff / big).toExponential(1)
      } | ${
        autoSizeRefusal([p], r.threads, WEBGPU_MIN_WORK, WEBGPU_CLIP_MAX_THREADS) === undefined ? "webgpu" : "wasm"
      } |`,
    );
  }
}
if (opts.json) {
  await Deno.writeTextFile(
    opts.json,
    JSON.stringify({ adapter: gpu.adapter, fallback: gpu.fallback, cores, rows }, null, 2),
  );
}
if (opts.write) {
  if (!KEPT_HEADINGS.includes(HEADING)) throw new Error("the heading is not among bench.ts's KEPT_HEADINGS");
  writeSection(HEADING, out.join("\n"));
  console.error("wrote the section to bench/RESULTS.md");
}
closeThreads();
if (bad) {
  console.error("FAILED: WebGPU and wasm f64 disagree by more than 1e-4·σ_max");
  Deno.exit(1);
}
