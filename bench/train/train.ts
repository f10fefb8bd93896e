/**
 * The experiment of the paper's §5 at small scale: a BatchNorm ResNet
 * trained on Fashion-MNIST with and without the operator-norm projection
 * (Sedghi, Gupta & Long, ICLR 2019: every conv layer projected onto
 * `‖W‖ ≤ radius` every 100 steps), the projection done by convsv.
 *
 *     ./node_modules/.bin/deno run -A bench/train/train.ts [--quick] [--write] [options]
 *     npm run bench:train            (the full run; add `-- --write` for bench/RESULTS.md)
 *     npm run bench:train:quick      (< 60 s: 320 images, 20 steps, one seed, radii none and 1)
 *
 * It starts `--jobs` workers (`/usr/bin/python3 bench/train/train.py`, Debian's
 * PyTorch on one thread each), every worker with its own long-lived convsv
 * process (bench/train/clip_server.ts, its protocol documented there), and
 * splits the runs (radius × seed) between them. It writes to `--out-dir`
 * (default bench/train/ for the full run, a temporary folder for --quick):
 *   results.json  the settings, machine, versions and every run's record
 *                 (test error, loss curve, times, every projection's norms)
 *   norms.svg     the per-layer norms over training (convsv's normBefore at
 *                 each projection step), one panel per radius, the first seed
 *   summary.md    the section that --write puts into bench/RESULTS.md
 *
 * Options: --epochs N, --train-size N, --test-size N, --batch-size N,
 * --seeds N, --radii none,0.5,1,2, --clip-every N, --iterations N, --jobs N,
 * --python PATH, --out-dir DIR; --fold-bn projects conv∘BN (the BatchNorm
 * after each conv folded in through convsv's `scale`) instead of the conv
 * alone; --baseline FILE takes the radius-none runs from an earlier
 * results.json with the same settings instead of running them again.
 *
 * Needs Debian's `/usr/bin/python3` with torch (`apt-get install -y
 * python3-torch`) and Debian's Fashion-MNIST (`apt-get install -y
 * dataset-fashion-mnist`); it says so and exits with status 2 when either is
 * missing.
 * @module
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type Line, linLogSvg, type PlotPanel } from "./_plot.ts";
import { KEPT_HEADINGS, writeSection } from "../bench.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DATA_DIR = "/usr/share/datasets/fashion-mnist";
const DATA_FILES = [
  "train-images-idx3-ubyte.gz",
  "train-labels-idx1-ubyte.gz",
  "t10k-images-idx3-ubyte.gz",
  "t10k-labels-idx1-ubyte.gz",
];
/** bench/bench.ts's `--write` keeps these sections (KEPT_HEADINGS). */
const SECTION = KEPT_HEADINGS[2];
const SECTION_BN = KEPT_HEADINGS[3];

/** One run's record, as train.py prints it. */
export interface RunRecord {
  radius: number | null;
  seed: number;
  fold_bn: boolean;
  test_error: number;
  test_size: number;
  train_size: number;
  steps: number;
  epoch_loss: number[];
  loss_curve: { step: number; loss: number }[];
  train_s: number;
  proj_s: number;
  proj_server_ms: number;
  measure_s: number;
  eval_s: number;
  wall_s: number;
  layers: { name: string; shape: number[]; stride: number[]; padding: number[]; inputShape: number[] }[];
  projections: {
    step: number;
    layers: {
      normBefore: number;
      normAfter?: number;
      certified?: boolean;
      certifyScale?: number;
      iterations?: number;
    }[];
  }[];
  final_norms: number[];
}

interface Args {
  quick: boolean;
  write: boolean;
  outDir: string;
  jobs: number;
  python: string;
  seeds: number;
  radii: (number | null)[];
  foldBn: boolean;
  baseline: string | undefined;
  config: Record<string, unknown>;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes("--quick");
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`${name} needs a value`);
    return v;
  };
  const num = (name: string, dflt: number): number => {
    const v = get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: a positive number, not ${v}`);
    return n;
  };
  const known = new Set([
    "--quick",
    "--write",
    "--fold-bn",
    "--baseline",
    "--out-dir",
    "--jobs",
    "--python",
    "--seeds",
    "--radii",
    "--epochs",
    "--train-size",
    "--test-size",
    "--batch-size",
    "--clip-every",
    "--iterations",
  ]);
  for (let i = 0; i < argv.length; i++) {
    if (!known.has(argv[i])) throw new Error(`unknown argument ${argv[i]}`);
    if (!["--quick", "--write", "--fold-bn"].includes(argv[i])) i++;
  }
  const radii = (get("--radii") ?? (quick ? "none,1" : "none,0.5,1,2")).split(",").map((s) => {
    if (s === "none") return null;
    const r = Number(s);
    if (!(r > 0) || !Number.isFinite(r)) throw new Error(`--radii: "none" or positive numbers, not ${s}`);
    return r;
  });
  const outDir = get("--out-dir") ??
    (quick ? mkdtempSync(join(tmpdir(), "convsv-train-quick-")) : join(root, "bench", "train"));
  return {
    quick,
    write: argv.includes("--write"),
    outDir,
    jobs: num("--jobs", quick ? 1 : 2),
    python: get("--python") ?? "/usr/bin/python3",
    seeds: num("--seeds", quick ? 1 : 3),
    radii,
    foldBn: argv.includes("--fold-bn"),
    baseline: get("--baseline"),
    config: {
      train_size: num("--train-size", quick ? 320 : 60000),
      test_size: num("--test-size", quick ? 500 : 10000),
      epochs: num("--epochs", quick ? 2 : 2),
      batch_size: num("--batch-size", quick ? 32 : 64),
      clip_every: num("--clip-every", quick ? 5 : 100),
      lr: 0.05,
      momentum: 0.9,
      nesterov: false,
      weight_decay: 5e-4,
      widths: [16, 32, 64],
      blocks: [1, 1, 1],
      threads: 1,
      bn_batches: quick ? 4 : 20,
      clip: { iterations: num("--iterations", 5), tolerance: 0.01, certify: true, method: "alternating" },
    },
  };
}

function text(cmd: string, args: string[]): string | undefined {
  try {
    const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null", cwd: root }).outputSync();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** What is missing to run the experiment here, as advice; empty when nothing is. */
export function missing(python = "/usr/bin/python3"): string[] {
  const out: string[] = [];
  if (text(python, ["-c", "import torch"]) === undefined) {
    out.push(`${python} cannot import torch: \`apt-get install -y python3-torch\` (Debian's PyTorch 1.13)`);
  }
  const gone = DATA_FILES.filter((f) => !existsSync(join(DATA_DIR, f)));
  if (gone.length) {
    out.push(
      `Fashion-MNIST is missing (${gone.map((f) => join(DATA_DIR, f)).join(", ")}): ` +
        "`apt-get update && apt-get install -y dataset-fashion-mnist`",
    );
  }
  return out;
}

async function pump(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let i;
    while ((i = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, i));
      rest = rest.slice(i + 1);
    }
  }
  if (rest) onLine(rest);
}

async function runWorker(
  args: Args,
  runs: { radius: number | null; seed: number; fold_bn: boolean }[],
  tag: string,
  records: RunRecord[],
): Promise<void> {
  const config = {
    ...args.config,
    data_dir: DATA_DIR,
    server: [Deno.execPath(), "run", "-A", "bench/train/clip_server.ts"],
    runs,
  };
  const child = new Deno.Command(args.python, {
    args: ["bench/train/train.py"],
    cwd: root,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1" },
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(config)));
  await w.close();
  const stderr: string[] = [];
  await Promise.all([
    pump(child.stdout, (line) => {
      if (line.trim()) records.push(JSON.parse(line) as RunRecord);
    }),
    pump(child.stderr, (line) => {
      stderr.push(line);
      console.error(`[${tag}] ${line}`);
    }),
  ]);
  const status = await child.status;
  if (!status.success) throw new Error(`${tag} exited with status ${status.code}: ${stderr.slice(-5).join("\n")}`);
}

// ---- statistics ----

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function sd(xs: number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

function lnGamma(x: number): number {
  // Lanczos, g = 7, n = 9: about 15 digits for x > 0.
  const c = [
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The regularised incomplete beta function I_x(a, b), by its continued fraction (modified Lentz). */
function betaInc(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - betaInc(1 - x, b, a);
  const front = Math.exp(a * Math.log(x) + b * Math.log(1 - x) - (lnGamma(a) + lnGamma(b) - lnGamma(a + b))) / a;
  const tiny = 1e-300;
  let f = 1, c = 1, d = 0;
  for (let i = 0; i <= 400; i++) {
    const m = Math.floor(i / 2);
    let num: number;
    if (i === 0) num = 1;
    else if (i % 2 === 0) num = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    else num = -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    d = 1 / d;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    const cd = c * d;
    f *= cd;
    if (Math.abs(1 - cd) < 1e-15) break;
  }
  return front * (f - 1);
}

/** Welch's two-sample t-test: t, its degrees of freedom and the two-sided p-value. */
export function welch(a: number[], b: number[]): { t: number; df: number; p: number } {
  const va = sd(a) ** 2 / a.length, vb = sd(b) ** 2 / b.length;
  const se = Math.sqrt(va + vb);
  if (!(se > 0)) return { t: NaN, df: NaN, p: NaN };
  const t = (mean(a) - mean(b)) / se;
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  return { t, df, p: betaInc(df / (df + t * t), df / 2, 0.5) };
}

// ---- the report ----

const COLORS = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

function settingName(radius: number | null, foldBn: boolean): string {
  return radius === null ? "none" : `${radius}${foldBn ? " (conv∘BN)" : ""}`;
}

interface Setting {
  radius: number | null;
  foldBn: boolean;
  runs: RunRecord[];
}

function settings(records: RunRecord[]): Setting[] {
  const out: Setting[] = [];
  for (const r of records) {
    let s = out.find((x) => x.radius === r.radius && x.foldBn === r.fold_bn);
    if (!s) out.push(s = { radius: r.radius, foldBn: r.fold_bn, runs: [] });
    s.runs.push(r);
  }
  for (const s of out) s.runs.sort((a, b) => a.seed - b.seed);
  return out.sort((a, b) => Number(a.foldBn) - Number(b.foldBn) || (a.radius ?? -1) - (b.radius ?? -1));
}

function normsSvg(list: Setting[], caption: string): string {
  const panels: PlotPanel[] = list.map((s) => {
    const run = s.runs[0];
    const lines: Line[] = run.layers.map((layer, j) => ({
      name: `${layer.name} ${layer.shape[0]}←${layer.shape[1]} ${layer.shape[2]}×${layer.shape[3]}` +
        (layer.stride[0] > 1 ? ` /${layer.stride[0]}` : ""),
      color: COLORS[j % COLORS.length],
      dash: j >= COLORS.length ? "5 3" : undefined,
      points: run.projections.map((p) => [p.step, p.layers[j].normBefore] as [number, number]),
    }));
    return {
      title: `radius ${settingName(s.radius, s.foldBn)}, seed ${run.seed}`,
      xLabel: "training step",
      yLabel: s.foldBn ? "‖diag(scale)·conv‖ before projection" : "‖conv‖ before projection",
      lines,
      level: s.radius ?? undefined,
    };
  });
  return linLogSvg(panels, caption, Math.min(4, panels.length));
}

function pct(x: number, digits = 2): string {
  return (100 * x).toFixed(digits);
}

function sh(cmd: string, args: string[]): string {
  return text(cmd, args) ?? "n/a";
}

function machine(): string {
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const cpus = (cpuinfo.match(/^processor\s*:/gm) ?? []).length || navigator.hardwareConcurrency;
  const mem = existsSync("/proc/meminfo") ? /^MemTotal:\s*(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8")) : null;
  return `${model}, ${cpus} logical CPUs${
    mem ? `, ${Math.round(Number(mem[1]) / 2 ** 20)} GiB RAM` : ""
  }, ${Deno.build.os}/${Deno.build.arch}`;
}

function loadavg(): string {
  return existsSync("/proc/loadavg") ? readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ") : "n/a";
}

interface Meta {
  command: string;
  date: string;
  tookS: number;
  loadStart: string;
  loadEnd: string;
  machine: string;
  versions: Record<string, string>;
}

function summary(args: Args, meta: Meta, list: Setting[], svgPath: string): string {
  const cfg = args.config;
  const clip = cfg.clip as Record<string, unknown>;
  const base = list.find((s) => s.radius === null);
  const baseErr = base?.runs.map((r) => r.test_error) ?? [];
  const lines: string[] = [args.foldBn ? SECTION_BN : SECTION, ""];
  const v = meta.versions;
  lines.push(
    `- command: \`${meta.command}\``,
    `- date: ${meta.date} (took ${
      meta.tookS.toFixed(0)
    } s, ${args.jobs} worker processes); load average ${meta.loadStart} at start, ${meta.loadEnd} at end`,
    `- machine: ${meta.machine}`,
    `- versions: convsv ${v.convsv} (${v.commit}), Deno ${v.deno}; ${v.python}, PyTorch ${v.torch}, NumPy ${v.numpy} (Debian's /usr/bin/python3), one torch thread per worker`,
    `- data: Fashion-MNIST (Debian's dataset-fashion-mnist), ${cfg.train_size} training images (a fixed subset when fewer than 60,000), the first ${cfg.test_size} test images; inputs standardised, no augmentation`,
    `- model: ResNet with BatchNorm: 3×3 stem conv 1→16, three stages of ${
      (cfg.blocks as number[]).join("/")
    } basic block(s) at ${
      (cfg.widths as number[]).join("/")
    } channels (stride-2 3×3 conv and 1×1 stride-2 shortcut conv at each downsampling), global average pooling, linear: ${
      list[0]?.runs[0]?.layers.length ?? "?"
    } conv layers`,
    `- training: SGD, momentum ${cfg.momentum}, weight decay ${cfg.weight_decay}, batch ${cfg.batch_size}, learning rate ${cfg.lr} on a cosine to 0, ${cfg.epochs} epoch(s) = ${
      list[0]?.runs[0]?.steps ?? "?"
    } steps; after the last step BatchNorm's running statistics are re-estimated on ${cfg.bn_batches} training batches (weights unchanged) in every run`,
    `- projection: every ${cfg.clip_every} steps every conv layer (stride and zero padding as in the model, inputShape = its real input size) goes through convsv's \`clipOperatorNormSync(kernel, radius, { iterations: ${clip.iterations}, tolerance: ${clip.tolerance}, certify: true })\` in a long-lived server process (bench/train/clip_server.ts): certified ‖W‖ ≤ radius on the containing circular grid, so also for the zero-padded layer; "none" asks the server for the same norms and changes nothing`,
    "",
  );
  lines.push(
    "| radius | runs | test error % (mean ± sd) | per seed | Δ vs none (points) | Welch p | projection share of training time | ms per projection (convsv's part) | certified / projected layers | max normAfter / radius |",
    "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
  );
  for (const s of list) {
    const errs = s.runs.map((r) => r.test_error);
    const train = s.runs.reduce((a, r) => a + r.train_s, 0), proj = s.runs.reduce((a, r) => a + r.proj_s, 0);
    const nProj = s.runs.reduce((a, r) => a + (s.radius === null ? 0 : r.projections.length), 0);
    const server = s.runs.reduce((a, r) => a + r.proj_server_ms, 0);
    const layersAll = s.runs.flatMap((r) => s.radius === null ? [] : r.projections.flatMap((p) => p.layers));
    const certified = layersAll.filter((l) => l.certified && (l.normAfter ?? Infinity) <= (s.radius ?? 0)).length;
    const maxAfter = layersAll.reduce((a, l) => Math.max(a, l.normAfter ?? 0), 0);
    const test = s.radius === null || baseErr.length < 2 || errs.length < 2 ? undefined : welch(errs, baseErr);
    const from = s.radius === null && args.baseline !== undefined ? ` (from ${args.baseline})` : "";
    lines.push(
      `| ${settingName(s.radius, s.foldBn)}${from} | ${s.runs.length} | ${pct(mean(errs))} ± ${
        Number.isNaN(sd(errs)) ? "n/a" : pct(sd(errs))
      } | ${errs.map((e) => pct(e)).join(", ")} | ${
        s.radius === null || !baseErr.length ? "" : (100 * (mean(errs) - mean(baseErr))).toFixed(2)
      } | ${test ? test.p.toFixed(3) : ""} | ${s.radius === null ? "" : `${pct(proj / (train + proj), 1)}%`} | ${
        nProj ? `${(1000 * proj / nProj).toFixed(0)} (${(server / nProj).toFixed(0)})` : ""
      } | ${s.radius === null ? "" : `${certified} / ${layersAll.length}`} | ${
        s.radius === null ? "" : (maxAfter / s.radius).toFixed(6)
      } |`,
    );
  }
  lines.push("");
  lines.push(
    "Test error on the " + cfg.test_size +
      " test images after the last step; sd is the sample standard deviation over seeds; Δ and Welch's two-sided t-test are against radius none. The projection share is the wall time of the projection requests (the Python side's encoding and copying included) over that plus the training steps' wall time, summed over the setting's runs; evaluation and the norm measurements of the none runs are not counted.",
    "",
  );
  const verdicts: string[] = [];
  for (const s of list) {
    if (s.radius === null || baseErr.length < 2 || s.runs.length < 2) continue;
    const errs = s.runs.map((r) => r.test_error);
    const { p } = welch(errs, baseErr);
    const d = 100 * (mean(errs) - mean(baseErr));
    verdicts.push(
      `radius ${settingName(s.radius, s.foldBn)}: ${d < 0 ? "−" : "+"}${Math.abs(d).toFixed(2)} points (p = ${
        p.toFixed(3)
      }, ${
        p < 0.05
          ? `significant at 5%: the projection ${d < 0 ? "lowers" : "raises"} the error`
          : "not significant at 5%"
      })`,
    );
  }
  if (verdicts.length) {
    const any = list.some((s) =>
      s.radius !== null && baseErr.length >= 2 && s.runs.length >= 2 &&
      welch(s.runs.map((r) => r.test_error), baseErr).p < 0.05 &&
      mean(s.runs.map((r) => r.test_error)) < mean(baseErr)
    );
    lines.push(
      `Verdict at this scale (${base?.runs.length ?? 0} seeds per setting): ${verdicts.join("; ")}. ` +
        (any
          ? "At least one radius improves on no projection significantly at the 5% level."
          : "No radius improves on no projection significantly at the 5% level: the paper's gain (6.2% → 5.3% on CIFAR-10) is not reproduced here."),
      "",
    );
  }
  const first = list[0]?.runs[0];
  if (first) {
    const finals = list.map((s) =>
      `${settingName(s.radius, s.foldBn)}: ${mean(s.runs.map((r) => Math.max(...r.final_norms))).toFixed(2)}`
    );
    lines.push(
      `Largest layer norm after training (convsv's bound on the padded layer, mean over seeds; after the BatchNorm statistics were re-estimated): ${
        finals.join("; ")
      }.`,
      "",
    );
  }
  lines.push(
    `![per-layer norms over training](${svgPath}) — convsv's normBefore of every conv layer at each projection step (first seed of each setting; for none, the same norm measured without projecting). Written by the command above, with every run's numbers in ${
      svgPath.replace(/norms\.svg$/, "results.json")
    }.`,
    "",
  );
  return lines.join("\n");
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(Deno.args);
  } catch (e) {
    console.error(`train.ts: ${(e as Error).message}`);
    return 2;
  }
  const lack = missing(args.python);
  if (lack.length) {
    for (const m of lack) console.error(`train.ts: ${m}`);
    return 2;
  }
  mkdirSync(args.outDir, { recursive: true });
  const t0 = performance.now();
  const loadStart = loadavg();
  const runs: { radius: number | null; seed: number; fold_bn: boolean }[] = [];
  const baseline: RunRecord[] = [];
  if (args.baseline !== undefined) {
    const old = JSON.parse(readFileSync(args.baseline, "utf8")) as {
      config: Record<string, unknown>;
      records: RunRecord[];
    };
    const same = (c: Record<string, unknown>) => JSON.stringify({ ...c, clip: undefined });
    if (same(old.config) !== same(args.config)) {
      console.error(`train.ts: ${args.baseline} was run with other settings: ${JSON.stringify(old.config)}`);
      return 2;
    }
    baseline.push(...old.records.filter((r) => r.radius === null && r.seed < args.seeds));
  }
  for (let seed = 0; seed < args.seeds; seed++) {
    for (const radius of args.radii) {
      if (radius === null && baseline.length) continue;
      runs.push({ radius, seed, fold_bn: radius !== null && args.foldBn });
    }
  }
  const jobs = Math.max(1, Math.min(args.jobs, runs.length));
  console.error(
    `train.ts: ${runs.length} runs on ${jobs} worker(s), ${JSON.stringify(args.config)}; load average ${loadStart}`,
  );
  const records: RunRecord[] = [];
  await Promise.all(
    Array.from(
      { length: jobs },
      (_, j) => runWorker(args, runs.filter((_, i) => i % jobs === j), `worker ${j}`, records),
    ),
  );
  const tookS = (performance.now() - t0) / 1000;
  const versions: Record<string, string> = {
    convsv: (JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as { version: string }).version,
    commit: sh("git", ["rev-parse", "--short", "HEAD"]) +
      (sh("git", ["status", "--porcelain"]) ? ", tree with changes" : ""),
    deno: Deno.version.deno,
  };
  const py = text(args.python, [
    "-c",
    "import sys, torch, numpy; print(sys.version.split()[0]); print(torch.__version__); print(numpy.__version__)",
  ])?.split("\n") ?? [];
  versions.python = `Python ${py[0] ?? "?"}`;
  versions.torch = py[1] ?? "?";
  versions.numpy = py[2] ?? "?";
  const meta: Meta = {
    command: "./node_modules/.bin/deno run -A bench/train/train.ts" +
      (Deno.args.length ? " " + Deno.args.join(" ") : ""),
    date: new Date().toISOString(),
    tookS,
    loadStart,
    loadEnd: loadavg(),
    machine: machine(),
    versions,
  };
  const list = settings([...baseline, ...records]);
  const svgFile = join(args.outDir, "norms.svg");
  const rel = relative(join(root, "bench"), svgFile);
  const caption = `convsv's normBefore per conv layer at each projection (every ${args.config.clip_every} steps); ` +
    `dotted: the radius. ${meta.date.slice(0, 10)}`;
  writeFileSync(svgFile, normsSvg(list, caption));
  const md = summary(args, meta, list, rel.startsWith("..") ? svgFile : rel);
  writeFileSync(join(args.outDir, "summary.md"), md);
  writeFileSync(
    join(args.outDir, "results.json"),
    JSON.stringify({ ...meta, quick: args.quick, config: args.config, seeds: args.seeds, records }, null, 1) + "\n",
  );
  console.log(md);
  console.error(`train.ts: wrote ${join(args.outDir, "results.json")}, ${svgFile}, ${join(args.outDir, "summary.md")}`);
  if (args.write) {
    writeSection(args.foldBn ? SECTION_BN : SECTION, md);
    console.error("train.ts: updated bench/RESULTS.md");
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
