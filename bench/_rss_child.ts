/**
 * Child process of bench/bench.ts for the peak-memory measurement: computes
 * one layer's singular values and prints, as one JSON line, the process's
 * peak resident set (`VmHWM` of `/proc/self/status`, worker threads
 * included: they share the process) and its time.
 *
 *     deno run -A bench/_rss_child.ts MODE H C SEED   (Deno wants -A for /proc/self)
 *
 * MODE: `baseline` (load the package and run a 4×4, 2→2 layer: the
 * runtime's own footprint), `sync` (`singularValuesSync`, one thread) or
 * `threads` (`await singularValues(…)` on all cores). The kernel is C→C
 * 3×3 on H×H, from the benchmark's generator.
 * @module
 */
import { closeThreads, singularValues, singularValuesSync } from "../mod.ts";
import { kernelOIHW } from "./_kernel.ts";

function statusKb(field: string): number {
  const m = new RegExp(`^${field}:\\s*(\\d+)\\s*kB`, "m").exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? Number(m[1]) : NaN;
}

const [mode, hText, cText, seedText] = Deno.args;
const h = Number(hText), c = Number(cText), seed = Number(seedText);
const small = mode === "baseline";
const n = small ? 2 : c, size = small ? 4 : h;
const kernel = { data: kernelOIHW(n * n * 9, seed), shape: [n, n, 3, 3] };
const options = { inputShape: [size, size] };
const t0 = performance.now();
let sv: Float64Array;
if (mode === "threads") sv = await singularValues(kernel, { ...options, threads: navigator.hardwareConcurrency });
else if (mode === "sync" || mode === "baseline") sv = singularValuesSync(kernel, options);
else throw new TypeError(`unknown mode ${mode}`);
const ms = performance.now() - t0;
console.log(JSON.stringify({
  mode,
  h: size,
  c: n,
  ms,
  count: sv.length,
  sigmaMax: sv[0],
  vmHwmKb: statusKb("VmHWM"),
  vmRssKb: statusKb("VmRSS"),
}));
closeThreads();
