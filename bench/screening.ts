/**
 * What the screened norm and the certified-inside frequencies buy (issue 17,
 * items 1 and 2), ours only, in one run:
 *
 *     ./node_modules/.bin/deno run -A bench/screening.ts [--write] [--quick]
 *
 * - `operatorNormSync` (only the frequencies that may hold the maximum are
 *   factorised) against the whole spectrum's largest value (`spectrumSync`),
 *   which it must equal bit for bit: random 3×3 layers at c ≥ 64 and the
 *   trained layers of the TF.js fixtures in tests/fixtures (circular, on the
 *   input sizes of tests/fixtures/cli/*.attributes.json).
 * - One clipping round (`iterations: 1`, the call's first round alone, no
 *   norms) on a random 128 → 128 3×3 layer at 0.5 × its norm, against the
 *   same round on that kernel once clipped and certified (`iterations: 30,
 *   tolerance: 1e-3`) and then moved by random updates of 1e-3 of its RMS
 *   (the kernel a training loop clips again after its optimizer steps).
 *
 * Each time is the median of 9 runs after a warm-up, the two calls compared
 * alternating run by run. `--write` puts the output in bench/RESULTS.md
 * under its heading.
 * @module
 */
import { clipOperatorNormSync, type Kernel, operatorNormSync, spectrumSync } from "../mod.ts";
import { readModelFile as readFile } from "../src/models.ts";
import { firstRoundSync } from "../src/_clip/clip.ts";
import { KEPT_HEADINGS, writeSection } from "./bench.ts";

/** bench/bench.ts's `--write` keeps this section (KEPT_HEADINGS). */
const HEADING = KEPT_HEADINGS[1];
const quick = Deno.args.includes("--quick");
const write = Deno.args.includes("--write");
const runs = quick ? 3 : 9;

/**
 * Medians of `runs` timed calls of f and of g, after one untimed call of each,
 * the calls alternating f, g, f, g, …: the drift of a shared machine's load
 * reaches both columns alike.
 */
function medians(f: () => unknown, g: () => unknown): [number, number] {
  f();
  g();
  const tf: number[] = [], tg: number[] = [];
  for (let i = 0; i < runs; i++) {
    let a = performance.now();
    f();
    tf.push(performance.now() - a);
    a = performance.now();
    g();
    tg.push(performance.now() - a);
  }
  tf.sort((a, b) => a - b);
  tg.sort((a, b) => a - b);
  return [tf[runs >> 1], tg[runs >> 1]];
}

function random(shape: number[], seed: number): Kernel {
  let s = seed;
  const data = Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647 - 0.5;
  });
  return { data, shape };
}

const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
const out: string[] = [];
const line = (s = "") => {
  console.log(s);
  out.push(s);
};

line(HEADING);
line();
line(`- command: \`./node_modules/.bin/deno run -A bench/screening.ts${quick ? " --quick" : ""}\``);
line(`- date: ${new Date().toISOString()}; load average at start ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
line(
  `- machine: ${navigator.hardwareConcurrency} logical CPUs, ${Deno.build.os}/${Deno.build.arch}; Deno ${Deno.version.deno}`,
);
line();
line("| layer | input | spectrum's max ms | operatorNorm ms | × | same bits |");
line("|---|---|--:|--:|--:|---|");

interface Case {
  name: string;
  kernel: Kernel;
  options: { inputShape: number[]; layout?: "oihw" | "hwio"; stride?: number; groups?: number };
}

const cases: Case[] = [
  { name: "random 3×3, 64 → 64", kernel: random([64, 64, 3, 3], 1), options: { inputShape: [24, 24] } },
  { name: "random 3×3, 128 → 128", kernel: random([128, 128, 3, 3], 2), options: { inputShape: [16, 16] } },
  {
    name: "random 3×3, 64 → 128 stride 2",
    kernel: random([128, 64, 3, 3], 3),
    options: { inputShape: [32, 32], stride: 2 },
  },
  { name: "random 3×3, 256 → 256", kernel: random([256, 256, 3, 3], 4), options: { inputShape: [8, 8] } },
  { name: "random 3×3×3, 32 → 32", kernel: random([32, 32, 3, 3, 3], 5), options: { inputShape: [16, 16, 16] } },
].filter((_, i) => !quick || i < 2);

// Trained layers: the TF.js fixtures, circular, on the input sizes the CLI's attributes give.
for (
  const [file, attrs] of [
    [
      "tests/fixtures/tfjs/tiny_face_detector_model-weights_manifest.json",
      "tests/fixtures/cli/tiny_face_detector.attributes.json",
    ],
    [
      "tests/fixtures/tfjs/face_recognition_head-weights_manifest.json",
      "tests/fixtures/cli/face_recognition.attributes.json",
    ],
  ]
) {
  const sizes = JSON.parse(Deno.readTextFileSync(attrs)) as Record<string, { inputShape?: number[] }>;
  const model = await readFile(file);
  for (const l of model.layers) {
    const inputShape = sizes[l.name]?.inputShape;
    if (!inputShape || l.kernel.shape.length !== 4 || (l.groups ?? 1) > 1) continue;
    const [h, w] = quick ? inputShape.map((n) => Math.min(n, 32)) : inputShape;
    cases.push({
      name: `${file.split("/").pop()!.split("-")[0].split("_model")[0]} ${l.name}`,
      kernel: l.kernel,
      options: { inputShape: [h, w], layout: l.layout as "hwio" },
    });
  }
}

let totalSpec = 0, totalNorm = 0, same = true;
for (const c of cases) {
  const a = spectrumSync(c.kernel, c.options).norm;
  const b = operatorNormSync(c.kernel, c.options);
  const [ts, tn] = medians(() => spectrumSync(c.kernel, c.options), () => operatorNormSync(c.kernel, c.options));
  totalSpec += ts;
  totalNorm += tn;
  same &&= Object.is(a, b);
  line(
    `| ${c.name} | ${c.options.inputShape.join("×")}, ${c.kernel.shape.join("×")} | ${fmt(ts)} | ${fmt(tn)} | ${
      (ts / tn).toFixed(2)
    }× | ${Object.is(a, b) ? "yes" : `NO (${a} vs ${b})`} |`,
  );
}
line(
  `| all | | ${fmt(totalSpec)} | ${fmt(totalNorm)} | ${(totalSpec / totalNorm).toFixed(2)}× | ${same ? "yes" : "NO"} |`,
);
line();

// Re-clipping a kernel clipped earlier.
{
  const shape = [128, 128, 3, 3], o = { inputShape: quick ? [8, 8] : [16, 16] };
  const k0 = random(shape, 9);
  const r = 0.5 * operatorNormSync(k0, o);
  const clipped = clipOperatorNormSync(k0, r, { ...o, iterations: 30, tolerance: 1e-3 });
  const d = clipped.kernel.data as Float64Array;
  const rms = Math.sqrt(d.reduce((s, x) => s + x * x, 0) / d.length);
  let s = 11;
  const moved = {
    data: Float64Array.from(d, (x) => {
      s = (s * 16807) % 2147483647;
      return x + 1e-3 * rms * (2 * (s / 2147483647) - 1);
    }),
    shape,
  };
  const [first, again] = medians(
    firstRoundSync(k0, r, { ...o, iterations: 1 })!,
    firstRoundSync(moved, r, { ...o, iterations: 1 })!,
  );
  line("| clipping round, 128 → 128 3×3 on " + o.inputShape.join("×") + " at r = 0.5·‖A‖ | ms |");
  line("|---|--:|");
  line(`| first round on the random kernel | ${fmt(first)} |`);
  line(
    `| round on it clipped (${clipped.iterations} rounds, certified: ${clipped.certified}) and moved by 1e-3·RMS (norm ${
      (operatorNormSync(moved, o) / r).toFixed(5)
    }·r) | ${fmt(again)} |`,
  );
  line(`| first / again | ${(first / again).toFixed(2)}× |`);
  line();
}
line(
  "operatorNorm works in the Gram domain where the shape allows (docs/architecture.md): the layer's Gram " +
    "coefficients R_d once (13 products PᴴP at sample frequencies for 3×3 taps), then per frequency G = PᴴP from " +
    "them, one power step on it to order the frequencies, the first factorised, and every other certified below " +
    "the best exact value s (tr G, or a Cholesky factorisation of s²(1 − η)I − G) or factorised. An alternating " +
    "clipping round screens its frequencies the same way at the radius and leaves those certified inside the ball " +
    "unfactorised. Times are one thread, each the median of 9 runs with the two calls of a row alternating.",
);

if (write) {
  writeSection(HEADING, out.join("\n"));
  console.error("wrote the section to bench/RESULTS.md");
}
