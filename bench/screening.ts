/**
 * What the screened norm and the certified-inside frequencies buy (issue 17,
 * items 1 and 2), in one run:
 *
 *     ./node_modules/.bin/deno run -A bench/screening.ts [--write] [--quick] [--gram-python PATH]
 *
 * - `operatorNormSync` (only the frequencies that may hold the maximum are
 *   factorised) against the whole spectrum's largest value (`spectrumSync`),
 *   which it must equal bit for bit: random 3×3 layers at c ≥ 64 and the
 *   trained layers of the TF.js fixtures in tests/fixtures (circular, on the
 *   input sizes of tests/fixtures/cli/*.attributes.json). The peer: Gram
 *   iteration (Delattre et al. 2023, 6 steps, an upper bound) in PyTorch
 *   (bench/gram_iteration_peer.py, Debian's /usr/bin/python3 by default) on
 *   the stride-1 2-D rows.
 * - One clipping round (`iterations: 1`, the call's first round alone, no
 *   norms) on a random 128 → 128 3×3 layer at 0.5 × its norm, against the
 *   same round on that kernel once clipped and certified (`iterations: 30,
 *   tolerance: 1e-3`) and then moved by random updates of 1e-3 of its RMS
 *   (the kernel a training loop clips again after its optimizer steps).
 *
 * Each time is the median of 9 runs after ~0.3 s of warm-up calls (as
 * bench/bench.ts warms ours; the PyTorch peer warms up the same way), the
 * two calls compared alternating run by run. `--write` puts the output in bench/RESULTS.md
 * under its heading.
 * @module
 */
import { clipOperatorNormSync, type Kernel, operatorNormSync, spectrumSync } from "../mod.ts";
import { readModelFile as readFile } from "../src/models.ts";
import { firstRoundSync } from "../src/_clip/clip.ts";
import { KEPT_HEADINGS, writeSection } from "./bench.ts";
import { encodeNpy } from "../src/_cli/npy_write.ts";

/** bench/bench.ts's `--write` keeps this section (KEPT_HEADINGS). */
const HEADING = KEPT_HEADINGS[1];
const quick = Deno.args.includes("--quick");
const write = Deno.args.includes("--write");
const runs = quick ? 3 : 9;

/** Warm-up: untimed calls for about this long (at least one of each). */
const WARM_MS = 300;

/**
 * Medians of `runs` timed calls of f and of g, after untimed calls of each
 * for about {@linkcode WARM_MS} (V8 optimises the JS around the core), the
 * calls alternating f, g, f, g, …: the drift of a shared machine's load
 * reaches both columns alike.
 */
function medians(f: () => unknown, g: () => unknown): [number, number] {
  const warm = performance.now();
  do {
    f();
    g();
  } while (!quick && performance.now() - warm < WARM_MS);
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

/** Gram steps of the peer (the paper's 5–6). */
const GRAM_STEPS = 6;

/** A kernel in OIHW order (the peer's), from OIHW or HWIO. */
function oihw(c: Case): { data: Float64Array; shape: number[] } {
  const d = Float64Array.from(c.kernel.data as ArrayLike<number>);
  if (c.options.layout !== "hwio") return { data: d, shape: [...c.kernel.shape] };
  const [kh, kw, ci, co] = c.kernel.shape;
  const out = new Float64Array(d.length);
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      for (let i = 0; i < ci; i++) {
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + a) * kw + b] = d[((a * kw + b) * ci + i) * co + o];
      }
    }
  }
  return { data: out, shape: [co, ci, kh, kw] };
}

/**
 * Times Gram iteration in Debian's PyTorch (`/usr/bin/python3`, or `--gram-python PATH`) on every
 * stride-1 2-D case: its kernels go to .npy files in a temporary folder. A missing peer leaves
 * every row n/a and says why.
 */
function gramIterationPeer(all: Case[]): { results: ({ ms: number; bound: number } | undefined)[]; note: string } {
  const at = Deno.args.indexOf("--gram-python");
  const python = at >= 0 ? Deno.args[at + 1] : "/usr/bin/python3";
  const dir = Deno.makeTempDirSync({ prefix: "convsv-gram-" });
  const tasks: { path: string; h: number; w: number; iters: number; runs: number }[] = [];
  const index: number[] = [];
  for (const [i, c] of all.entries()) {
    const k = oihw(c);
    if (k.shape.length !== 4 || c.options.stride !== undefined || c.options.inputShape.length !== 2) continue;
    const path = `${dir}/${i}.npy`;
    Deno.writeFileSync(path, encodeNpy(k.data, k.shape));
    // A 1×1 kernel has the same matrix at every frequency: the peer runs it on a 1×1 grid (the same bound).
    const one = k.shape[2] === 1 && k.shape[3] === 1;
    const [h, w] = one ? [1, 1] : c.options.inputShape;
    tasks.push({ path, h, w, iters: GRAM_STEPS, runs: runs });
    index.push(i);
  }
  const results: ({ ms: number; bound: number } | undefined)[] = all.map(() => undefined);
  try {
    const file = `${dir}/tasks.json`;
    Deno.writeTextFileSync(file, JSON.stringify(tasks));
    const res = new Deno.Command(python, { args: ["bench/gram_iteration_peer.py", file] }).outputSync();
    if (!res.success) throw new Error(new TextDecoder().decode(res.stderr).trim().split("\n").pop());
    const got = JSON.parse(new TextDecoder().decode(res.stdout)) as { ms: number; bound: number; torch: string }[];
    got.forEach((g, j) => results[index[j]] = g);
    return { results, note: `PyTorch ${got[0]?.torch ?? "?"} (${python}), complex128, one thread` };
  } catch (e) {
    return { results, note: `not run (${(e as Error).message})` };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
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
line(
  "| layer | input | spectrum's max ms | operatorNorm ms | × | same bits | Gram iteration ms | its bound / norm − 1 | × vs Gram iteration |",
);
line("|---|---|--:|--:|--:|---|--:|--:|--:|");

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

// The peer: Gram iteration in PyTorch (bench/gram_iteration_peer.py) on the stride-1 2-D layers, one thread.
const gram = gramIterationPeer(cases);

let totalSpec = 0, totalNorm = 0, same = true;
for (const [ci, c] of cases.entries()) {
  const a = spectrumSync(c.kernel, c.options).norm;
  const b = operatorNormSync(c.kernel, c.options);
  const [ts, tn] = medians(() => spectrumSync(c.kernel, c.options), () => operatorNormSync(c.kernel, c.options));
  totalSpec += ts;
  totalNorm += tn;
  same &&= Object.is(a, b);
  const g = gram.results[ci];
  line(
    `| ${c.name} | ${c.options.inputShape.join("×")}, ${c.kernel.shape.join("×")} | ${fmt(ts)} | ${fmt(tn)} | ${
      (ts / tn).toFixed(2)
    }× | ${Object.is(a, b) ? "yes" : `NO (${a} vs ${b})`} | ${
      g ? `${fmt(g.ms)} | ${(g.bound / a - 1).toExponential(1)} | ${(g.ms / tn).toFixed(2)}×` : "n/a | | "
    } |`,
  );
}
line(
  `| all | | ${fmt(totalSpec)} | ${fmt(totalNorm)} | ${(totalSpec / totalNorm).toFixed(2)}× | ${
    same ? "yes" : "NO"
  } | | | |`,
);
line();
line(
  `Gram iteration: ${gram.note}. Delattre, Barthélemy, Araujo & Allauzen (ICML 2023), ${GRAM_STEPS} steps on every ` +
    "frequency's matrix at once (rfft2 of the kernel zero-padded to the input, Frobenius rescaling in logarithms), " +
    "an upper bound of the norm; stride-1 2-D layers only (n/a: strided and 3-D), a 1×1 kernel on a 1×1 grid (its " +
    'matrix is the same at every frequency). "× vs Gram iteration": its time over operatorNorm\'s.',
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
    "coefficients R_d once (for 3×3 taps 12.5 real products LᵀR, each giving G = PᴴP at two real points z and 1/z, " +
    "where complex samples would take 13 complex products; the tap pairs' products A_tᵀA_t' where fewer, as for a " +
    "stem of 3 input channels), then per frequency G from " +
    "them, a few Lanczos steps on it (n/16, 2 to 6; 12 from n = 192) to order the frequencies, the first factorised, and every " +
    "other certified below the best exact value s (tr G; ‖G‖_F, from its own trigonometric polynomial where that " +
    "pays, so that a frequency it certifies is never assembled; or a Cholesky factorisation of s²(1 − η)I − G, in " +
    "f32 first where its margin allows, the margin checked on the f32 factor where it is thin) or factorised (where several are left open, in " +
    "the order of longer estimates). An alternating " +
    "clipping round screens its frequencies the same way at the radius and leaves those certified inside the ball " +
    "unfactorised. Times are one thread, each the median of 9 runs with the two calls of a row alternating. " +
    "Times under a millisecond, and spectra whose result runs to megabytes (the pointwise rows), move far more " +
    "from run to run than the rest, in both columns (whether the allocator returns recycled or fresh pages " +
    "differs between processes): their ratios are indicative only.",
);

if (write) {
  writeSection(HEADING, out.join("\n"));
  console.error("wrote the section to bench/RESULTS.md");
}
