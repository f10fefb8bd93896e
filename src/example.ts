/**
 * The built-in example: a deterministic 64 → 64 3×3 layer on 32×32 inputs
 * (He-initialised, as a freshly built ResNet layer would be). Prints its
 * operator norm, a summary of its spectrum, the backend and the time.
 * Run: `npm run example` (or `deno run src/example.ts [h] [c]`).
 * @module
 */
import { spectrumSync } from "../mod.ts";
import { random } from "./_wasm/conv.ts";

/** He-normal weights for a c_out × c_in × k × k kernel (Box–Muller on a seeded mulberry32). */
export function exampleKernel(cOut: number, cIn: number, k: number, seed = 1): Float64Array {
  // random() is uniform in [−1, 1); (x + 1)/2 gives back its uniform [0, 1) exactly.
  const uniform = random(seed);
  const rand = () => (uniform() + 1) / 2;
  const std = Math.sqrt(2 / (cIn * k * k));
  const data = new Float64Array(cOut * cIn * k * k);
  for (let i = 0; i < data.length; i++) {
    const u = 1 - rand();
    const v = rand();
    data[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return data;
}

if (import.meta.main) {
  const h = Number(Deno.args[0] ?? 32);
  const c = Number(Deno.args[1] ?? 64);
  const kernel = { data: exampleKernel(c, c, 3), shape: [c, c, 3, 3] };
  const t0 = performance.now();
  const s = spectrumSync(kernel, { inputShape: [h, h] });
  const ms = performance.now() - t0;
  const all = Float64Array.from(s.values).sort();
  const q = (p: number) => all[Math.min(all.length - 1, Math.floor(p * all.length))];
  let sq = 0;
  for (const x of all) sq += x * x;
  let fro = 0;
  for (const x of kernel.data) fro += x * x;
  console.log(
    `layer: Conv2d(${c}, ${c}, 3×3), circular padding, stride 1, input ${h}×${h}, He-normal weights (seed 1)`,
  );
  console.log(`operator norm (σ_max): ${s.norm.toPrecision(12)} at frequency (u, v) = (${s.argmax.join(", ")})`);
  console.log(`singular values: ${all.length} = ${h}·${h}·${c}`);
  console.log(
    `  min ${all[0].toPrecision(6)}  p25 ${q(0.25).toPrecision(6)}  median ${q(0.5).toPrecision(6)}  p75 ${
      q(0.75).toPrecision(6)
    }  max ${all[all.length - 1].toPrecision(6)}`,
  );
  console.log(`  condition number σ_max/σ_min: ${(s.norm / all[0]).toPrecision(6)}`);
  console.log(`  check Σσ² = h·w·‖K‖²_F: ${sq.toPrecision(12)} vs ${(h * h * fro).toPrecision(12)}`);
  console.log(`backend: ${s.backend}, precision: ${s.precision}, 1 thread`);
  console.log(`time: ${ms.toFixed(1)} ms (including wasm compilation on first use)`);
}
