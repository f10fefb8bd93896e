/**
 * A user's first call in a fresh process against the steady state (issue 17,
 * item 5), and a fresh Python process running the paper's numpy line on the
 * same layer, in one run:
 *
 *     ./node_modules/.bin/deno run -A bench/cold_start.ts [--runs N] [--write]
 *
 * Each of N fresh `deno run` processes imports mod.ts, times its first
 * `await singularValues(k, { inputShape: [24, 24], threads: 2 })` (c = 96,
 * 3×3), then the median of 5 more calls; its whole wall time is measured from
 * outside. Two more kinds of process take the first call apart: one starts
 * the pool with a 4-channel call before it (the pool's start, timed on its
 * own), one calls `singularValuesSync` (no pool: the wasm's compilation and
 * baseline tier alone). The same for `python3` (numpy: `svd(fft2(k, (24, 24)))`, one BLAS
 * thread). Prints the medians over the processes; `--write` puts them in
 * bench/RESULTS.md under its heading.
 * @module
 */
import { KEPT_HEADINGS, writeSection } from "./bench.ts";

const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1]) || 3;
/** bench/bench.ts's `--write` keeps this section (KEPT_HEADINGS). */
const HEADING = KEPT_HEADINGS[4];
const mod = new URL("../mod.ts", import.meta.url).href;

const DENO_CHILD = `
const mode = Deno.args[0];
// Minor page faults of this process so far (Linux), or NaN.
const faults = () => {
  try {
    return Number(Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ")[7]);
  } catch {
    return NaN;
  }
};
const t0 = performance.now();
const { singularValues, singularValuesSync } = await import(${JSON.stringify(mod)});
const t1 = performance.now();
const c = 96, n = 24;
const k = { data: Float64Array.from({ length: c * c * 9 }, (_, i) => Math.sin(i * 0.37) / 10), shape: [c, c, 3, 3] };
const call = mode === "sync"
  ? () => singularValuesSync(k, { inputShape: [n, n] })
  : () => singularValues(k, { inputShape: [n, n], threads: 2 });
let poolMs = 0;
if (mode === "pool") {
  // A 4-channel layer first: it starts the pool and runs little wasm.
  const tiny = { data: Float64Array.from({ length: 4 * 4 * 9 }, (_, i) => Math.sin(i)), shape: [4, 4, 3, 3] };
  const a = performance.now();
  await singularValues(tiny, { inputShape: [4, 4], threads: 2 });
  poolMs = performance.now() - a;
}
const f0 = faults();
const t2 = performance.now();
await call();
const first = performance.now() - t2;
const firstFaults = faults() - f0;
const steady = [];
let steadyFaults = 0;
for (let i = 0; i < 5; i++) {
  const f = faults();
  const a = performance.now();
  await call();
  steady.push(performance.now() - a);
  if (i === 4) steadyFaults = faults() - f;
}
steady.sort((a, b) => a - b);
console.log(JSON.stringify({ importMs: t1 - t0, poolMs, firstMs: first, steadyMs: steady[2], firstFaults, steadyFaults }));
Deno.exit(0);
`;

const PY_CHILD = `
import json, resource, time
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t0 = time.perf_counter()
import numpy as np
c, n = 96, 24
k = (np.sin(np.arange(c * c * 9) * 0.37) / 10).reshape(c, c, 3, 3)
f0 = faults()
t1 = time.perf_counter()
np.linalg.svd(np.fft.fft2(k, (n, n), axes=[2, 3]).transpose(2, 3, 0, 1), compute_uv=False)
first = time.perf_counter() - t1
first_faults = faults() - f0
steady = []
for i in range(5):
    f = faults()
    a = time.perf_counter()
    np.linalg.svd(np.fft.fft2(k, (n, n), axes=[2, 3]).transpose(2, 3, 0, 1), compute_uv=False)
    steady.append(time.perf_counter() - a)
    steady_faults = faults() - f
steady.sort()
print(json.dumps({"importMs": (t1 - t0) * 1e3, "poolMs": 0, "firstMs": first * 1e3, "steadyMs": steady[2] * 1e3,
                  "firstFaults": first_faults, "steadyFaults": steady_faults}))
`;

interface Sample {
  importMs: number;
  poolMs: number;
  firstMs: number;
  steadyMs: number;
  /** Minor page faults (fresh pages) during the first call and during the last steady one (NaN off Linux). */
  firstFaults: number;
  steadyFaults: number;
  processMs: number;
}

async function sample(cmd: string, args: string[], env: Record<string, string>): Promise<Sample> {
  const t = performance.now();
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const processMs = performance.now() - t;
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
  return { ...JSON.parse(text), processMs };
}

const load = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const file = await Deno.makeTempFile({ suffix: ".ts" });
Deno.writeTextFileSync(file, DENO_CHILD);
const MODES = ["threads", "pool", "sync"] as const;
const ours: Record<(typeof MODES)[number], Sample[]> = { threads: [], pool: [], sync: [] };
const numpy: Sample[] = [];
const denoEnv = { RUST_BACKTRACE: "0", NO_COLOR: "1" };
for (let r = 0; r < runs; r++) {
  for (const mode of MODES) ours[mode].push(await sample(Deno.execPath(), ["run", "-A", file, mode], denoEnv));
  numpy.push(await sample("python3", ["-c", PY_CHILD], { OPENBLAS_NUM_THREADS: "1" }));
}
Deno.removeSync(file);
const row = (name: string, s: Sample[]) => {
  const m = (k: keyof Sample) => median(s.map((x) => x[k]));
  const pool = m("poolMs") > 0 ? m("poolMs").toFixed(0) : "";
  const faults = Number.isNaN(m("firstFaults")) ? "" : `${m("firstFaults")} / ${m("steadyFaults")}`;
  return `| ${name} | ${m("importMs").toFixed(0)} | ${pool} | ${m("firstMs").toFixed(0)} | ${
    m("steadyMs").toFixed(0)
  } | ${(m("firstMs") / m("steadyMs")).toFixed(2)}× | ${faults} | ${m("processMs").toFixed(0)} |`;
};
const lines = [
  HEADING,
  "",
  `- command: \`./node_modules/.bin/deno run -A bench/cold_start.ts --runs ${runs}\` (\`npm run bench:cold-start\`)`,
  `- date: ${new Date().toISOString()}; load average at start ${load}`,
  `- machine: ${navigator.hardwareConcurrency} logical CPUs, ${Deno.build.os}/${Deno.build.arch}; Deno ${Deno.version.deno}`,
  `- layer: 96 → 96, 3×3 on 24×24; ${runs} fresh processes each, medians; numpy is the machine's \`python3\`, one BLAS thread`,
  "",
  "| process | import ms | pool start ms | first call ms | steady call ms | first / steady | page faults, first / steady call | whole process ms |",
  "|---|--:|--:|--:|--:|--:|--:|--:|",
  row("convsv (Deno, `threads: 2`)", ours.threads),
  row("convsv (Deno, `threads: 2`, pool started by a 4-channel call first)", ours.pool),
  row("convsv (Deno, `singularValuesSync`: no pool)", ours.sync),
  row("numpy (python3)", numpy),
  "",
  "The first threaded call pays the worker pool's start and V8's baseline tier of the wasm (its optimised code " +
  'replaces it while the call runs); the second row takes the pool\'s start apart ("pool start": the 4-channel ' +
  "call), the third has no pool. Every first call also touches fresh memory (the core's memory grown for the " +
  "layer, the workers' and the engine's own): \"page faults\" counts the process's minor page faults (a page " +
  "mapped on first touch; /proc/self/stat, Python's getrusage) during the first call and during the last steady " +
  "one. Issue 17's target is first / steady ≤ 1.3×.",
  "",
];
console.log(lines.join("\n"));
if (Deno.args.includes("--write")) {
  writeSection(HEADING, lines.join("\n"));
  console.error("wrote the section to bench/RESULTS.md");
}
