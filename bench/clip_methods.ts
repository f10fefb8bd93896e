/**
 * Clipping methods compared: rounds to reach the tolerance and distance to the
 * input, for the paper's alternating rounds and for Dykstra's algorithm.
 *
 * Run: ./node_modules/.bin/deno run -A bench/clip_methods.ts [--tolerance 1e-6] [--max 20000]
 * @module
 */
import { clipOperatorNormSync, operatorNormSync } from "../mod.ts";
import { exampleKernel } from "../src/example.ts";

const arg = (name: string, dflt: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
};
const tolerance = arg("--tolerance", 1e-6);
const max = arg("--max", 5000);
const cases: [number, number][] = [[8, 8], [8, 16], [16, 16], [32, 16]];

console.log(`clipping to maxNorm = 1 (He-normal 3×3 kernels, seed 1), tolerance ${tolerance}, at most ${max} rounds`);
console.log("distance = ‖K − K₀‖_F / ‖K₀‖_F; one round = the paper's Appendix A");
console.log(
  ["h", "c", "σ(K₀)", "1 round: norm", "method", "rounds", "normAfter", "distance", "ms"].map((s) => s.padStart(11))
    .join(""),
);
for (const [h, c] of cases) {
  const data = exampleKernel(c, c, 3, 1);
  const kernel = { data, shape: [c, c, 3, 3] };
  const opts = { inputShape: [h, h] };
  const norm0 = operatorNormSync(kernel, opts);
  const one = clipOperatorNormSync(kernel, 1, opts);
  let n0 = 0;
  for (const x of data) n0 += x * x;
  for (const method of ["alternating", "dykstra"] as const) {
    const t0 = performance.now();
    const res = clipOperatorNormSync(kernel, 1, { ...opts, method, iterations: max, tolerance });
    const ms = performance.now() - t0;
    let d = 0;
    for (let i = 0; i < data.length; i++) d += (data[i] - res.kernel.data[i]) ** 2;
    console.log(
      [
        h,
        c,
        norm0.toFixed(4),
        one.normAfter.toFixed(4),
        method,
        res.iterations,
        res.normAfter.toFixed(7),
        Math.sqrt(d / n0).toFixed(6),
        ms.toFixed(0),
      ].map((s) => String(s).padStart(11)).join(""),
    );
  }
}
