/**
 * Where the time goes: the profile behind bench/RESULTS.md's unmet targets.
 * Run: `npm run bench:profile` (about 1 min; nothing else should run).
 *
 * 1. The bidiagonalisation kernel alone (one n × n complex matrix in cache)
 *    against the register-only SIMD peak of this machine.
 * 2. One frequency column of a layer, single thread: building P, the
 *    bidiagonalisation, and the rest (the bidiagonal's values by dqds, copies).
 * 3. Two threads: the same single-thread work in two processes at once, each
 *    pinned to one CPU with `taskset` where it exists: how much one core
 *    slows the other down on this machine (the ceiling of any 2-thread speedup).
 * @module
 */
import { coreBytes } from "../src/_wasm/loader.ts";
import { bidiagRate, registerPeak } from "./_simd_peak.ts";
import { kernelOIHW } from "./_kernel.ts";

// deno-lint-ignore no-explicit-any
type Core = any;

function best(f: () => void, reps: number): number {
  f();
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

/** Milliseconds of svd_column (one column v, all h frequencies) and of its parts, single thread. */
function columnProfile(h: number, c: number): { column: number; buildP: number; bidiag: number; f32: number } {
  const core: Core = new WebAssembly.Instance(new WebAssembly.Module(coreBytes()), {}).exports;
  const kh = 3;
  const nrows = c * c * kh;
  const base = (core.heap_base() + 15) & ~15;
  const tr = base, ti = tr + nrows * 8, out = ti + nrows * 8, work = (out + h * c * 8 + 64) & ~15;
  const wb = core.svd_column_work_bytes(c, c, kh, h, h, 1);
  const ld = core.lead_dim(c);
  const a = (work + wb + 64) & ~15, ai = a + ld * c * 8, d = ai + ld * c * 8, e = d + c * 8 + 16;
  const bw = e + c * 8 + 16, pw = (bw + core.bidiag_work_bytes(ld, c) + 64) & ~15;
  core.memory.grow(Math.ceil((pw + 4096) / 65536));
  const mem = new Float64Array(core.memory.buffer);
  const k = kernelOIHW(2 * nrows, 1);
  for (let i = 0; i < nrows; i++) {
    mem[tr / 8 + i] = k[i] * 0.5;
    mem[ti / 8 + i] = k[nrows + i] * 0.5;
  }
  const reps = c >= 256 ? 5 : 15;
  const column = best(() => core.svd_column_f64(tr, ti, c, c, kh, h, 0, h, out, 1, work), reps);
  const f32 = best(() => core.svd_column_f32(tr, ti, c, c, kh, h, 0, h, out, 1, work), reps);
  const buildP = best(() => {
    for (let u = 0; u < h; u++) core.build_p_tap_f64(tr, ti, c, c, kh, h, u, a, ai, ld, pw);
  }, reps);
  const both = best(() => {
    for (let u = 0; u < h; u++) {
      core.build_p_tap_f64(tr, ti, c, c, kh, h, u, a, ai, ld, pw);
      core.bidiag_c64_split(a, ai, c, c, ld, d, e, bw, 0);
    }
  }, reps);
  return { column, buildP, bidiag: both - buildP, f32 };
}

if (Deno.args[0] === "--child") {
  // One single-thread run of a column profile, printed as JSON (for the pinned pairs).
  const [h, c] = Deno.args[1].split(":").map(Number);
  console.log(JSON.stringify(columnProfile(h, c)));
  Deno.exit(0);
}

const peak = registerPeak();
console.log(`# convsv profile (${new Date().toISOString()}, Deno ${Deno.version.deno})\n`);
console.log(
  `Register-only SIMD peak, one thread: f64 FMA ${peak.f64Fma?.toFixed(1)} GFLOP/s, f32 FMA ${
    peak.f32Fma?.toFixed(1)
  }\n`,
);
console.log("## 1. bidiag_c64/c32_split alone, one n × n matrix, best of 25\n");
console.log("| n | f64 GFLOP/s | % of f64 peak | f32 GFLOP/s | % of f32 peak |\n|---:|---:|---:|---:|---:|");
for (const n of [32, 64, 128, 256, 512]) {
  const r = bidiagRate(n, n >= 256 ? 8 : 25);
  const p64 = peak.f64Fma ?? peak.f64MulAdd, p32 = peak.f32Fma ?? peak.f32MulAdd;
  console.log(
    `| ${n} | ${r.f64.toFixed(1)} | ${(100 * r.f64 / p64).toFixed(0)}% | ${r.f32.toFixed(1)} | ${
      (100 * r.f32 / p32).toFixed(0)
    }% |`,
  );
}
console.log("\n## 2. One column of h frequencies (3×3 kernel, c → c), one thread, best of several (ms)\n");
console.log(
  "| h | c | column f64 | build P | bidiag | rest (dqds, copies) | rest share | column f32 | f32 rest share (est.) |",
);
console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
const cases = [[32, 64], [16, 128], [8, 256]];
for (const [h, c] of cases) {
  const p = columnProfile(h, c);
  const rest = p.column - p.buildP - p.bidiag;
  console.log(
    `| ${h} | ${c} | ${p.column.toFixed(2)} | ${p.buildP.toFixed(2)} | ${p.bidiag.toFixed(2)} | ${rest.toFixed(2)} | ${
      (100 * rest / p.column).toFixed(0)
    }% | ${p.f32.toFixed(2)} | ${(100 * rest / p.f32).toFixed(0)}% |`,
  );
}
console.log("\n## 3. Two cores at once: the same column profile in two processes\n");
const hasTaskset = (() => {
  try {
    return new Deno.Command("taskset", { args: ["-c", "0", "true"] }).outputSync().success;
  } catch {
    return false;
  }
})();
const child = (cpu: number | null) => {
  const args = ["run", "-A", new URL(import.meta.url).pathname, "--child", "16:128"];
  const cmd = cpu === null || !hasTaskset
    ? new Deno.Command(Deno.execPath(), { args })
    : new Deno.Command("taskset", { args: ["-c", String(cpu), Deno.execPath(), ...args] });
  return cmd.output().then((o) => JSON.parse(new TextDecoder().decode(o.stdout)).column as number);
};
console.log(
  `h = 16, c = 128, svd_column_f64 ms (best of 15)${
    hasTaskset ? ", pinned with taskset" : " (no taskset: not pinned)"
  }\n`,
);
console.log("| run | CPU 0 | CPU 1 |\n|---|---:|---:|");
const solo0 = await child(0), solo1 = await child(1);
console.log(`| alone, one after the other | ${solo0.toFixed(2)} | ${solo1.toFixed(2)} |`);
const [pair0, pair1] = await Promise.all([child(0), child(1)]);
console.log(`| both at once | ${pair0.toFixed(2)} | ${pair1.toFixed(2)} |`);
const ideal = 1 / (1 / pair0 + 1 / pair1);
console.log(
  `\nTwo threads can at best reach ${(Math.min(solo0, solo1) / ideal).toFixed(2)}× one thread here ` +
    `(throughput of both cores at once against the faster core alone).`,
);
