/**
 * The benchmark: convsv against the peers users would otherwise run, all in
 * one run, printed as markdown tables (stdout) with progress on stderr.
 *
 *     ./node_modules/.bin/deno run -A bench/bench.ts [--write] [--quick]
 *         [--only sv,clip,dense,kinds,memory,scaling] [--cases 16x16,32x3-64,32x16-32s2,56x128dw]
 *         [--budget S] [--peer-budget S] [--max-reps N] [--slow S] [--threads 1,2]
 *         [--cores N] [--peers numpy-new,numpy-debian,torch] [--no-peers]
 *         [--python PATH] [--debian-python PATH] [--seed N] [--clip-to F]
 *         [--mem-shape 224x64] [--json FILE] [--extra]
 *
 * Sections (all by default; `--only` picks some):
 * - `sv`: issue 4's cases, 3×3 kernels, (h, c) in (16, 16) (32, 16) (32, 64)
 *   (16, 128) (8, 256) (7, 512) (14, 256) (28, 128) (56, 64) (32, 3→64). Ours
 *   in four columns: f64 on one thread (`singularValuesSync`), f64 on all
 *   cores (`await singularValues(k, { threads: N })`, N =
 *   `navigator.hardwareConcurrency`, the pool started by the warm-up), and
 *   the same two with `precision: "f32"`. Peers: the paper's numpy code under
 *   the machine's numpy 2.x and Debian's numpy 1.24, and PyTorch 1.13
 *   (`bench/peers.py`). Ratios per column against the fastest peer, GFLOP/s
 *   against the SIMD peak measured at the start of the run, and the medians
 *   over the cases next to issue 4's targets.
 * - `clip`: one round of the paper's projection (`iterations: 1`) on the same
 *   cases, ours on one thread and on all cores against the paper's numpy
 *   `Clip_OperatorNorm` and a PyTorch port of it; our clipped kernel must
 *   equal numpy's to 1e-9 relative. The radius is `--clip-to` (default 0.5)
 *   times the layer's norm.
 * - `dense`: the paper's §4.1 baseline, numpy's SVD of the explicit
 *   (c·h·w)² matrix, for c = 4, 8 and h = 4, 8, 16 (≤ 2048 rows).
 * - `kinds`: stride-2 and depthwise 3×3 layers (issue 6) against numpy and
 *   PyTorch ports of the phase split / per-channel |fft2|.
 * - `memory`: peak RSS of a child process computing h = 224, c = 64
 *   (`--mem-shape`), against numpy's transform size.
 * - `scaling`: a few more sizes (time against h at c = 64 and against c at
 *   h = 16) and, with `--write`, the log–log plot bench/scaling.svg.
 *
 * `--write` also writes the whole output to bench/RESULTS.md (machine, date,
 * command included). `--quick` is a smoke check: the smallest case of each
 * section, few runs, memory at 56×64. `--cases` lists the cases to run
 * (`HxC`, `HxCIN-COUT`, suffix `sS` for a stride, `gG` for groups, `dw` for
 * depthwise): plain ones go to `sv`/`clip`, the others to `kinds`; with
 * `--cases` and no `--only`, only the sections that have cases run.
 * `--extra` is accepted and does nothing (its two cases are now in the
 * default list).
 *
 * Timing: each side warms up once, then takes the median of N runs, N chosen
 * so that a column spends about `--budget` (ours) / `--peer-budget` (each
 * peer and BLAS thread count) seconds, at least 3 runs, at most
 * `--max-reps`. A warm-up of at least `--slow` seconds (default 1) counts as
 * the first run (at that size nothing is left to warm); from 4× that, two
 * runs in all are taken (the largest clipping rounds take 15–40 s per peer
 * run). Runs under a millisecond are timed in batches. Our runs are split in
 * two halves, before and after the peers, so both sides see the same load on
 * a shared machine. Each peer keeps the faster of `--threads` BLAS thread
 * counts (a count whose warm-up is already slower than the best median is
 * not timed further).
 *
 * Checks (the program exits 1 when one fails): σ_max against numpy's (1e-9
 * relative), the number of values, all cores bit-identical to one thread,
 * f32 within 1e-5·σ_max of f64, the clipped kernel against numpy's (1e-9
 * relative to its largest entry).
 * @module
 */

import {
  clipOperatorNorm,
  clipOperatorNormSync,
  closeThreads,
  singularValues,
  singularValuesSync,
  spectrumSync,
} from "../mod.ts";
import { DEFAULT_SEED, kernelOIHW } from "./_kernel.ts";
import { bidiagRate, type PeakRates, registerPeak } from "./_simd_peak.ts";
import { logLogSvg, type Panel, type Series } from "./_svg.ts";

// -------------------------------------------------------------------- cases

interface Case {
  h: number;
  w: number;
  cIn: number;
  cOut: number;
  k: number;
  stride: number;
  groups: number;
}

const plain = (h: number, cIn: number, cOut = cIn): Case => ({ h, w: h, cIn, cOut, k: 3, stride: 1, groups: 1 });

/** Issue 4's list. */
const SV_CASES: Case[] = [
  plain(16, 16),
  plain(32, 16),
  plain(32, 64),
  plain(16, 128),
  plain(8, 256),
  plain(7, 512),
  plain(14, 256),
  plain(28, 128),
  plain(56, 64),
  plain(32, 3, 64),
];
/** Stride-2 layers where ResNets downsample (CIFAR's 32→16 and two ImageNet-like ones), and MobileNet's depthwise layers. */
const KIND_CASES: Case[] = [
  { ...plain(32, 16, 32), stride: 2 },
  { ...plain(32, 64, 128), stride: 2 },
  { ...plain(16, 128, 256), stride: 2 },
  { ...plain(112, 32), groups: 32 },
  { ...plain(56, 128), groups: 128 },
  { ...plain(14, 512), groups: 512 },
];
/** The paper's §4.1 baseline: sizes whose explicit matrix has at most 2048 rows. */
const DENSE_CASES: Case[] = [4, 8].flatMap((c) => [4, 8, 16].map((h) => plain(h, c)));
/** Scaling: time against h at c = 64 and against c at h = 16. */
const SCALE_H = { c: 64, hs: [8, 16, 32, 56] };
const SCALE_C = { h: 16, cs: [8, 16, 32, 64, 128] };

const SIGMA_RTOL = 1e-9;
const CLIP_RTOL = 1e-9;
const F32_TOL = 1e-5;
const MEM_TARGET_MB = 256;
/** As in bench/peers.py: a warm-up of VERY_SLOW × `--slow` or more gives two runs in all. */
export const VERY_SLOW = 4;
const SECTIONS = ["sv", "clip", "dense", "kinds", "memory", "scaling"] as const;
type Section = typeof SECTIONS[number];

function isDepthwise(c: Case): boolean {
  return c.groups > 1 && c.groups === c.cIn && c.groups === c.cOut;
}

function caseLabel(c: Case): [string, string] {
  const hw = c.h === c.w ? `${c.h}` : `${c.h}×${c.w}`;
  let ch = `${c.cIn} → ${c.cOut}`;
  if (isDepthwise(c)) ch = `${c.cIn} depthwise`;
  else if (c.groups > 1) ch += `, groups ${c.groups}`;
  if (c.stride > 1) ch += `, stride ${c.stride}`;
  return [hw, ch];
}

const caseText = (c: Case) => caseLabel(c).join(", ");

// ---------------------------------------------------------------- arguments

export interface PeerSpec {
  id: string;
  python: string;
  peer: "numpy" | "torch";
  /** Column title until the peer reports its version. */
  title: string;
}

interface Options {
  quick: boolean;
  sections: Set<Section>;
  svCases: Case[];
  kindCases: Case[];
  denseCases: Case[];
  scaleCases: Case[];
  budgetS: number;
  peerBudgetS: number;
  maxReps: number;
  minReps: number;
  slowS: number;
  threads: number[];
  cores: number;
  peers: PeerSpec[];
  seed: number;
  clipTo: number;
  mem: { h: number; c: number };
  json: string | null;
  write: boolean;
}

const USAGE = "usage: deno run -A bench/bench.ts [--write] [--quick] [--only " + SECTIONS.join(",") + "] " +
  "[--cases 16x16,32x3-64,32x16-32s2,56x128dw] [--budget S] [--peer-budget S] [--max-reps N] [--slow S] " +
  "[--threads 1,2] [--cores N] [--peers numpy-new,numpy-debian,torch] [--no-peers] [--python PATH] " +
  "[--debian-python PATH] [--seed N] [--clip-to F] [--mem-shape HxC] [--json FILE] [--extra]";

function usage(msg: string): never {
  console.error(`bench.ts: ${msg}`);
  console.error(USAGE);
  Deno.exit(2);
}

function parseCase(text: string): Case {
  const m = /^(\d+)x(\d+)(?:-(\d+))?(?:s(\d+))?(?:g(\d+)|(dw))?$/.exec(text.trim());
  if (m === null) usage(`bad case ${JSON.stringify(text)} (want HxC, HxCIN-COUT, then sS, gG or dw)`);
  const h = Number(m[1]), cIn = Number(m[2]);
  const cOut = m[3] === undefined ? cIn : Number(m[3]);
  const stride = m[4] === undefined ? 1 : Number(m[4]);
  const groups = m[6] ? cIn : m[5] === undefined ? 1 : Number(m[5]);
  if (h < 1 || cIn < 1 || cOut < 1 || stride < 1 || groups < 1) usage(`bad case ${text}`);
  if (h % stride !== 0) usage(`stride ${stride} does not divide ${h} in ${text}`);
  if (cIn % groups !== 0 || cOut % groups !== 0) usage(`groups ${groups} do not divide the channels in ${text}`);
  return { h, w: h, cIn, cOut, k: 3, stride, groups };
}

function parseArgs(args: string[]): Options {
  let quick = false, noPeers = false, write = false;
  let cases: Case[] | null = null;
  let only: Set<Section> | null = null;
  let budgetS: number | null = null, peerBudgetS: number | null = null;
  let maxReps: number | null = null, slowS = 1, clipTo = 0.5;
  let threads = [1, 2];
  let cores = navigator.hardwareConcurrency || 1;
  let peerIds: string[] | null = null;
  let python = "python3", debianPython = "/usr/bin/python3";
  let seed = DEFAULT_SEED;
  let json: string | null = null;
  let mem: { h: number; c: number } | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = (): string => {
      if (i + 1 >= args.length) usage(`${a} needs a value`);
      return args[++i];
    };
    const num = (): number => {
      const v = Number(value());
      if (!Number.isFinite(v) || v <= 0) usage(`${a} needs a positive number`);
      return v;
    };
    switch (a) {
      case "--quick":
        quick = true;
        break;
      case "--extra":
        break;
      case "--write":
        write = true;
        break;
      case "--no-peers":
        noPeers = true;
        break;
      case "--cases":
        cases = value().split(",").filter((s) => s !== "").map(parseCase);
        break;
      case "--only": {
        const list = value().split(",").filter((s) => s !== "");
        for (const s of list) if (!(SECTIONS as readonly string[]).includes(s)) usage(`unknown section ${s}`);
        only = new Set(list as Section[]);
        break;
      }
      case "--budget":
        budgetS = num();
        break;
      case "--peer-budget":
        peerBudgetS = num();
        break;
      case "--max-reps":
        maxReps = Math.floor(num());
        break;
      case "--slow":
        slowS = num();
        break;
      case "--clip-to":
        clipTo = num();
        break;
      case "--threads":
        threads = value().split(",").map(Number);
        if (threads.some((t) => !Number.isInteger(t) || t < 1)) usage("bad --threads");
        break;
      case "--cores":
        cores = Math.floor(num());
        break;
      case "--peers":
        peerIds = value().split(",").filter((s) => s !== "");
        break;
      case "--python":
        python = value();
        break;
      case "--debian-python":
        debianPython = value();
        break;
      case "--seed":
        seed = Math.floor(num());
        break;
      case "--json":
        json = value();
        break;
      case "--mem-shape": {
        const m = /^(\d+)x(\d+)$/.exec(value());
        if (m === null) usage("--mem-shape wants HxC");
        mem = { h: Number(m[1]), c: Number(m[2]) };
        break;
      }
      case "-h":
      case "--help":
        usage("help");
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  const smallest = (list: Case[], n: number) => [...list].sort((x, y) => workOf(x) - workOf(y)).slice(0, n);
  let svCases = SV_CASES, kindCases = KIND_CASES, denseCases = DENSE_CASES;
  let sections = only ?? new Set<Section>(SECTIONS);
  if (cases !== null) {
    svCases = cases.filter((c) => c.stride === 1 && c.groups === 1);
    kindCases = cases.filter((c) => c.stride !== 1 || c.groups !== 1);
    if (only === null) {
      sections = new Set<Section>();
      if (svCases.length) sections.add("sv").add("clip");
      if (kindCases.length) sections.add("kinds");
    }
  } else if (quick) {
    svCases = smallest(SV_CASES, 2);
    kindCases = [
      smallest(KIND_CASES.filter((c) => c.stride > 1), 1)[0],
      smallest(KIND_CASES.filter(isDepthwise), 1)[0],
    ];
    denseCases = smallest(DENSE_CASES, 2);
  }
  const scaleCases: Case[] = [];
  if (!quick) {
    const want = [...SCALE_H.hs.map((h) => plain(h, SCALE_H.c)), ...SCALE_C.cs.map((c) => plain(SCALE_C.h, c))];
    for (const c of want) {
      const key = JSON.stringify(c);
      if (!svCases.some((d) => JSON.stringify(d) === key) && !scaleCases.some((d) => JSON.stringify(d) === key)) {
        scaleCases.push(c);
      }
    }
  }
  const allPeers: PeerSpec[] = [
    { id: "numpy-new", python, peer: "numpy", title: "numpy 2.x" },
    { id: "numpy-debian", python: debianPython, peer: "numpy", title: "numpy 1.24" },
    { id: "torch", python: debianPython, peer: "torch", title: "torch 1.13" },
  ];
  let peers = allPeers;
  if (noPeers) peers = [];
  else if (peerIds !== null) {
    for (const id of peerIds) if (!allPeers.some((p) => p.id === id)) usage(`unknown peer ${id}`);
    peers = allPeers.filter((p) => peerIds!.includes(p.id));
  }
  return {
    quick,
    sections,
    svCases,
    kindCases,
    denseCases,
    scaleCases,
    budgetS: budgetS ?? (quick ? 0.2 : 1),
    peerBudgetS: peerBudgetS ?? (quick ? 0.2 : 1),
    maxReps: maxReps ?? (quick ? 5 : 25),
    minReps: 3,
    slowS,
    threads,
    cores,
    peers,
    seed,
    clipTo,
    mem: mem ?? (quick ? { h: 56, c: 64 } : { h: 224, c: 64 }),
    json,
    write,
  };
}

// --------------------------------------------------------------- flop model

const FLOP_MODEL =
  "flop model: F·g·(16·m·n² − 16·n³/3) real flops, where m and n are the larger and smaller side of each " +
  "frequency's matrix (c_out/g and s²·c_in/g for g groups and stride s), F = (h'·w' + σ)/2 the frequencies left " +
  "by Hermitian symmetry on the h'×w' = (h/s)×(w/s) grid (σ = 1, 2 or 4 self-conjugate ones), and " +
  "16·m·n² − 16·n³/3 complex Householder bidiagonalisation without U, V (4× the real count; (32/3)·n³ when m = n). " +
  "The transform and the bidiagonal singular values (lower order) are not counted: useful work, not executed " +
  "instructions. The same model for f32.";

/** The model above. */
function modelFlops(c: Case): number {
  const h = c.h / c.stride, w = c.w / c.stride;
  const f = (h * w + (h % 2 === 0 ? 2 : 1) * (w % 2 === 0 ? 2 : 1)) / 2;
  const a = c.cOut / c.groups, b = (c.cIn / c.groups) * c.stride * c.stride;
  const m = Math.max(a, b), n = Math.min(a, b);
  return c.groups * f * (16 * m * n * n - (16 * n * n * n) / 3);
}

/** A cost estimate for ordering cases (depthwise has no SVD but is not free). */
function workOf(c: Case): number {
  return modelFlops(c) + 50 * c.h * c.w * c.cIn * c.cOut / c.groups;
}

// ------------------------------------------------------------------- timing

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function medianOrNull(xs: number[]): number | null {
  return xs.length ? median(xs) : null;
}

/** What {@linkcode Timer} reads of the options (bench/clip_kinds.ts passes its own). */
export type TimingOptions = Pick<Options, "budgetS" | "maxReps" | "minReps" | "slowS">;

/** Untimed calls of ours per column before its timed runs (see {@linkcode Timer.warm}). */
export const WARM_MS = 300;

/**
 * One of our columns: a warm-up, then timed runs split in two halves around
 * the peers. Runs under a millisecond are timed in batches of `inner`.
 */
export class Timer {
  times: number[] = [];
  reps = 0;
  inner = 1;
  warmMs = 0;
  value: unknown;
  constructor(readonly run: () => unknown, readonly opts: TimingOptions) {}

  private async once(): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; i < this.inner; i++) {
      const r = this.run();
      if (r instanceof Promise) await r;
    }
    return (performance.now() - t0) / this.inner;
  }

  async warm(): Promise<void> {
    const t0 = performance.now();
    let r = this.run();
    if (r instanceof Promise) r = await r;
    this.value = r;
    this.warmMs = performance.now() - t0;
    let est = this.warmMs;
    // A fast call is repeated, untimed, for WARM_MS in all: V8 optimises the call's own JavaScript and
    // wasm after some hundreds of calls (a 0.5 ms depthwise clip ran at 0.67 ms for its first 200).
    for (let spent = this.warmMs; spent < WARM_MS;) {
      const a = performance.now();
      const r = this.run();
      if (r instanceof Promise) await r;
      spent += performance.now() - a;
    }
    if (est < 5) est = await this.once(); // the warm-up of a small case is mostly first-call cost
    if (est < 1) this.inner = Math.ceil(2 / Math.max(est, 1e-3));
    const budget = this.opts.budgetS * 1000;
    this.reps = Math.min(this.opts.maxReps, Math.max(this.opts.minReps, Math.ceil(budget / (est * this.inner))));
    if (this.warmMs >= this.opts.slowS * 1000) {
      this.times.push(this.warmMs);
      this.reps--;
      if (this.warmMs >= VERY_SLOW * this.opts.slowS * 1000) this.reps = Math.min(this.reps, 1);
    }
  }

  async half(first: boolean): Promise<void> {
    const n = first ? Math.ceil(this.reps / 2) : this.reps - Math.ceil(this.reps / 2);
    for (let i = 0; i < n; i++) this.times.push(await this.once());
  }

  get ms(): number {
    return median(this.times);
  }

  get runs(): string {
    return this.inner > 1 ? `${this.times.length}×${this.inner}` : `${this.times.length}`;
  }
}

// -------------------------------------------------------------------- peers

export interface Task {
  task: "sv" | "clip" | "dense";
  id: string;
  h: number;
  w: number;
  c_in: number;
  c_out: number;
  k: number;
  stride: number;
  groups: number;
  reps: number;
  clip_to?: number | undefined;
  /** A 3-D layer's depth (clip tasks of bench/clip_kinds.ts; cubic `k` taps). */
  d?: number | undefined;
  /** bench/clip_kinds.ts: the peers' transforms, direct DFTs over the taps (default) or the libraries' FFTs. */
  transform?: "dft" | "fft" | undefined;
  /** The best time another peer took on this task already (peers.py stops far slower runs). */
  beat_ms?: number | undefined;
}

export interface PeerResult {
  task: string;
  id: string;
  ms: number;
  threads: number;
  ms_by_threads: Record<string, number>;
  reps_by_threads: Record<string, number>;
  stopped_threads?: number[] | undefined;
  /** Every thread count was stopped: `ms` is a lower bound. */
  stopped?: boolean | undefined;
  /** One run only: already slower than another peer or thread count. */
  cut?: boolean | undefined;
  warm_counted?: boolean | undefined;
  sigma_max?: number | undefined;
  sum_sq?: number | undefined;
  count?: number | undefined;
  kernel_norm?: number | undefined;
  file?: string | undefined;
  build_ms?: number | undefined;
}

export interface PeerReport {
  peer: string;
  python: string;
  executable: string;
  numpy: string;
  torch: string | null;
  blas: Record<string, unknown>[];
  openblas_env_unset: string[];
  results: PeerResult[];
}

const PEERS_PY = decodeURIComponent(new URL("./peers.py", import.meta.url).pathname);

function makeTask(kind: Task["task"], c: Case, opts: Options, extra: Partial<Task> = {}): Task {
  return {
    task: kind,
    id: `${kind}-${c.h}x${c.w}-${c.cIn}-${c.cOut}-s${c.stride}-g${c.groups}`,
    h: c.h,
    w: c.w,
    c_in: c.cIn,
    c_out: c.cOut,
    k: c.k,
    stride: c.stride,
    groups: c.groups,
    reps: opts.maxReps,
    ...extra,
  };
}

/** What {@linkcode runPeer} reads of the options. */
export type PeerRunOptions = Pick<Options, "threads" | "peerBudgetS" | "minReps" | "slowS" | "seed">;

/** Runs `tasks` under one peer; the results in the same order, or the reason it failed. */
export async function runPeer(
  spec: PeerSpec,
  tasks: Task[],
  opts: PeerRunOptions,
  outDir: string,
): Promise<PeerReport | string> {
  const args = [
    PEERS_PY,
    spec.peer,
    JSON.stringify(tasks),
    "--threads",
    opts.threads.join(","),
    "--budget-s",
    String(opts.peerBudgetS),
    "--min-reps",
    String(opts.minReps),
    "--slow-s",
    String(opts.slowS),
    "--seed",
    String(opts.seed),
    "--out-dir",
    outDir,
  ];
  try {
    const out = await new Deno.Command(spec.python, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    if (!out.success) {
      const last = stderr.split("\n").filter((l) => l.trim() !== "").slice(-1)[0] ?? "";
      return `exit ${out.code}: ${last}`;
    }
    const rep = JSON.parse(new TextDecoder().decode(out.stdout)) as PeerReport;
    if (rep.results.length !== tasks.length) return `returned ${rep.results.length} results for ${tasks.length} tasks`;
    return rep;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Peer results of one group of work, keyed by `${task.id} ${peer.id}`. */
export type PeerTable = Map<string, PeerResult | string>;

/**
 * One group of work run as a unit: our timers warm up, run their first
 * halves, then every peer runs its tasks (one process per peer and BLAS
 * thread count), then our second halves.
 */
export async function runGroup(
  timers: Timer[],
  work: { spec: PeerSpec; tasks: Task[] }[],
  ctx: GroupContext,
): Promise<PeerTable> {
  for (const t of timers) await t.warm();
  for (const t of timers) await t.half(true);
  const table: PeerTable = new Map();
  const fastest = new Map<string, number>();
  for (const { spec, tasks } of work) {
    if (tasks.length === 0) continue;
    const sent = tasks.map((t) => (fastest.has(t.id) ? { ...t, beat_ms: fastest.get(t.id) } : t));
    const rep = await runPeer(spec, sent, ctx.opts, ctx.outDir);
    tasks.forEach((task, i) => {
      if (typeof rep === "string") {
        table.set(`${task.id} ${spec.id}`, rep);
      } else {
        const r = rep.results[i];
        table.set(`${task.id} ${spec.id}`, r);
        if (!r.stopped) fastest.set(task.id, Math.min(fastest.get(task.id) ?? Infinity, r.ms));
      }
    });
    if (typeof rep === "string") {
      ctx.errors.push(`${spec.id} (${spec.python}) on ${tasks.map((t) => t.id).join(", ")}: ${rep}`);
    } else if (!ctx.reports.has(spec.id)) ctx.reports.set(spec.id, rep);
  }
  for (const t of timers) await t.half(false);
  return table;
}

export function peerOf(table: PeerTable, task: Task, spec: PeerSpec): PeerResult | null {
  const r = table.get(`${task.id} ${spec.id}`);
  return typeof r === "object" ? r : null;
}

export function best(table: PeerTable, task: Task, specs: PeerSpec[]): { ms: number; spec: PeerSpec } | null {
  let out: { ms: number; spec: PeerSpec } | null = null;
  for (const s of specs) {
    const r = peerOf(table, task, s);
    if (r && !r.stopped && (out === null || r.ms < out.ms)) out = { ms: r.ms, spec: s };
  }
  return out;
}

// ----------------------------------------------------------------- context

/** What {@linkcode runGroup} and the peer notes read of the context. */
export interface GroupContext {
  opts: PeerRunOptions & { peers: PeerSpec[] };
  outDir: string;
  errors: string[];
  reports: Map<string, PeerReport>;
}

interface Context extends GroupContext {
  opts: Options;
  failures: string[];
  md: string[];
  json: Record<string, unknown>;
}

function fail(ctx: Context, msg: string): void {
  ctx.failures.push(msg);
  console.error(`FAILED: ${msg}`);
}

export function progress(msg: string): void {
  console.error(msg);
}

// ------------------------------------------------------------------ formats

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "n/a";
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 0.1) return ms.toFixed(2);
  return ms.toFixed(3);
}

export function fmtRatio(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return "n/a";
  return r >= 100 ? `${r.toFixed(0)}×` : r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

export function table(header: string[], rows: string[][], left = 2): string {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, j) => (j < left ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join(" | ") + " |";
  const rule = "|" + widths.map((w, j) => (j < left ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|";
  return [line(header), rule, ...rows.map(line)].join("\n");
}

export function peerTitle(ctx: GroupContext, spec: PeerSpec): string {
  const rep = ctx.reports.get(spec.id);
  if (rep === undefined) return spec.title;
  return spec.peer === "torch" ? `torch ${rep.torch}` : `numpy ${rep.numpy}`;
}

export function peerCell(r: PeerResult | null): string {
  if (!r) return "n/a";
  if (r.stopped) return `> ${fmtMs(r.ms)} (${r.threads})`;
  return `${fmtMs(r.ms)} (${r.threads})${r.cut ? "*" : ""}`;
}

/** The legend of {@linkcode peerCell}'s marks. */
export const PEER_MARKS =
  `Peer cells: median ms (the BLAS thread count that won). "*": one run only, since it was already ` +
  `slower than another peer (or thread count) on that case, so it cannot be the fastest; "> X": stopped after X ms ` +
  `(2× the fastest time known for the case + 1 s), a lower bound.`;

/** numpy 2.x if selected, else another numpy, else any peer: the reference for value checks. */
function referenceOrder(specs: PeerSpec[]): PeerSpec[] {
  const rank = (p: PeerSpec) => (p.id === "numpy-new" ? 0 : p.peer === "numpy" ? 1 : 2);
  return [...specs].sort((a, b) => rank(a) - rank(b));
}

function reference(table: PeerTable, task: Task, specs: PeerSpec[]): { r: PeerResult; spec: PeerSpec } | null {
  for (const spec of referenceOrder(specs)) {
    const r = peerOf(table, task, spec);
    if (r && !r.stopped) return { r, spec };
  }
  return null;
}

// ------------------------------------------------------------------ our runs

type Col = "f64-1" | "f64-N" | "f32-1" | "f32-N";
const COLS: Col[] = ["f64-1", "f64-N", "f32-1", "f32-N"];

function colTitle(col: Col, cores: number): string {
  const [p, t] = col.split("-");
  return `${p} ${t === "1" ? 1 : cores} thr`;
}

function kernelOf(c: Case, seed: number) {
  const shape = [c.cOut, c.cIn / c.groups, c.k, c.k];
  return { data: kernelOIHW(shape[0] * shape[1] * shape[2] * shape[3], seed), shape };
}

/** The options of a case's layer (the kernel is OIHW, as kernelOf lays it out). */
function layerOf(c: Case) {
  return { inputShape: [c.h, c.w], layout: "oihw" as const, stride: c.stride, groups: c.groups };
}

function svTimers(c: Case, opts: Options): Map<Col, Timer> {
  const kernel = kernelOf(c, opts.seed);
  const base = layerOf(c);
  const f32 = { ...base, precision: "f32" as const };
  return new Map<Col, Timer>([
    ["f64-1", new Timer(() => singularValuesSync(kernel, base), opts)],
    ["f64-N", new Timer(() => singularValues(kernel, { ...base, threads: opts.cores }), opts)],
    ["f32-1", new Timer(() => singularValuesSync(kernel, f32), opts)],
    ["f32-N", new Timer(() => singularValues(kernel, { ...f32, threads: opts.cores }), opts)],
  ]);
}

/** Checks of our four columns on one case; returns notes for the table's check column. */
interface SvChecks {
  sigma: number;
  count: number;
  frobeniusRel: number;
  sigmaRel: number | null;
  refName: string;
  threadsIdentical: boolean;
  f32Err: number;
}

function checkSv(c: Case, timers: Map<Col, Timer>, table: PeerTable, task: Task, ctx: Context): SvChecks {
  const sv = timers.get("f64-1")!.value as Float64Array;
  const svN = timers.get("f64-N")!.value as Float64Array;
  const sv32 = timers.get("f32-1")!.value as Float64Array;
  const sv32N = timers.get("f32-N")!.value as Float64Array;
  const data = kernelOf(c, ctx.opts.seed).data;
  let kk = 0;
  for (const x of data) kk += x * x;
  // Σσ² = h'·w'·‖K_split‖² with the phase split, whose squared norm is ‖K‖²: so h·w/s²·‖K‖².
  const expect = (c.h * c.w / (c.stride * c.stride)) * kk;
  let ss = 0;
  for (const x of sv) ss += x * x;
  const want = (c.h / c.stride) * (c.w / c.stride) * c.groups *
    Math.min(c.cOut / c.groups, (c.cIn / c.groups) * c.stride * c.stride);
  if (sv.length !== want) fail(ctx, `ours on ${caseText(c)}: ${sv.length} values, want ${want}`);
  let identical = svN.length === sv.length;
  for (let i = 0; identical && i < sv.length; i++) identical = sv[i] === svN[i];
  if (!identical) fail(ctx, `ours on ${caseText(c)}: ${ctx.opts.cores} threads differ from one thread`);
  let f32Err = 0;
  for (let i = 0; i < sv.length; i++) f32Err = Math.max(f32Err, Math.abs(sv32[i] - sv[i]), Math.abs(sv32N[i] - sv[i]));
  f32Err /= sv[0];
  if (!(f32Err <= F32_TOL)) fail(ctx, `ours f32 on ${caseText(c)}: ${f32Err.toExponential(1)}·σ_max from f64`);
  const ref = reference(table, task, ctx.opts.peers);
  let sigmaRel: number | null = null;
  if (ref && ref.r.sigma_max !== undefined) {
    sigmaRel = Math.abs(sv[0] - ref.r.sigma_max) / ref.r.sigma_max;
    if (!(sigmaRel <= SIGMA_RTOL)) {
      fail(ctx, `σ_max on ${caseText(c)}: ours ${sv[0]}, ${ref.spec.id} ${ref.r.sigma_max}`);
    }
    if (ref.r.count !== undefined && ref.r.count !== sv.length) {
      fail(ctx, `${ref.spec.id} on ${caseText(c)} gave ${ref.r.count} values, ours ${sv.length}`);
    }
  }
  return {
    sigma: sv[0],
    count: sv.length,
    frobeniusRel: Math.abs(ss - expect) / expect,
    sigmaRel,
    refName: ref?.spec.id ?? "",
    threadsIdentical: identical,
    f32Err,
  };
}

// --------------------------------------------------------- section: sv+clip

interface SvRow {
  c: Case;
  task: Task;
  timers: Map<Col, Timer>;
  table: PeerTable;
  checks: SvChecks;
  flops: number;
}

interface ClipRow {
  c: Case;
  task: Task;
  one: Timer;
  all: Timer;
  table: PeerTable;
  clipTo: number;
  fractionClipped: number;
  normBefore: number;
  normAfter: number;
  checks: Map<string, number | null>;
  identical: boolean;
}

function clippedFraction(sv: Float64Array, c: number): number {
  let n = 0;
  for (const x of sv) if (x > c) n++;
  return n / sv.length;
}

export function readF64(path: string): Float64Array {
  const bytes = Deno.readFileSync(path);
  return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
}

/** The sv and clip sections share cases: one group per case. */
async function runMain(ctx: Context, svCases: Case[], svOn: boolean, clipOn: boolean) {
  const { opts } = ctx;
  const svRows: SvRow[] = [];
  const clipRows: ClipRow[] = [];
  const clipPeers = secondaryPeers(opts.peers);
  for (const c of svCases) {
    const kernel = kernelOf(c, opts.seed);
    const inputShape = [c.h, c.w];
    const timers = svOn ? svTimers(c, opts) : new Map<Col, Timer>();
    const svTask = makeTask("sv", c, opts);
    let clip: { one: Timer; all: Timer; task: Task; clipTo: number; frac: number } | null = null;
    if (clipOn) {
      const sv = singularValuesSync(kernel, { inputShape });
      const clipTo = opts.clipTo * sv[0];
      const o = { inputShape, iterations: 1 };
      clip = {
        one: new Timer(() => clipOperatorNormSync(kernel, clipTo, o), opts),
        all: new Timer(() => clipOperatorNorm(kernel, clipTo, { ...o, threads: opts.cores }), opts),
        task: makeTask("clip", c, opts, { clip_to: clipTo }),
        clipTo,
        frac: clippedFraction(sv, clipTo),
      };
    }
    const work = opts.peers.map((spec) => ({
      spec,
      tasks: [
        ...(svOn ? [svTask] : []),
        ...(clip && clipPeers.includes(spec) ? [clip.task] : []),
      ],
    }));
    const all = [...timers.values(), ...(clip ? [clip.one, clip.all] : [])];
    const t0 = performance.now();
    const peerTable = await runGroup(all, work, ctx);
    const parts: string[] = [];
    if (svOn) {
      const checks = checkSv(c, timers, peerTable, svTask, ctx);
      svRows.push({ c, task: svTask, timers, table: peerTable, checks, flops: modelFlops(c) });
      const b = best(peerTable, svTask, opts.peers);
      parts.push(
        "sv: " + COLS.map((col) => `${col} ${fmtMs(timers.get(col)!.ms)}`).join(", ") +
          (b ? ` ms; best peer ${b.spec.id} ${fmtMs(b.ms)} ms` : " ms"),
      );
    }
    if (clip) {
      const res1 = clip.one.value as { kernel: { data: Float64Array }; normBefore: number; normAfter: number };
      const resN = clip.all.value as { kernel: { data: Float64Array } };
      let identical = res1.kernel.data.length === resN.kernel.data.length;
      for (let i = 0; identical && i < res1.kernel.data.length; i++) {
        identical = res1.kernel.data[i] === resN.kernel.data[i];
      }
      if (!identical) fail(ctx, `clip on ${caseText(c)}: ${opts.cores} threads differ from one thread`);
      const checks = new Map<string, number | null>();
      for (const spec of clipPeers) {
        const r = peerOf(peerTable, clip.task, spec);
        if (!r?.file) {
          checks.set(spec.id, null);
          continue;
        }
        const theirs = readF64(r.file);
        let diff = 0, scale = 0;
        for (let i = 0; i < theirs.length; i++) {
          diff = Math.max(diff, Math.abs(theirs[i] - res1.kernel.data[i]));
          scale = Math.max(scale, Math.abs(theirs[i]));
        }
        const rel = theirs.length === res1.kernel.data.length ? diff / scale : Infinity;
        checks.set(spec.id, rel);
        if (spec.peer === "numpy" && !(rel <= CLIP_RTOL)) {
          fail(ctx, `clipped kernel on ${caseText(c)}: ${rel.toExponential(1)} from ${spec.id}'s`);
        }
      }
      clipRows.push({
        c,
        task: clip.task,
        one: clip.one,
        all: clip.all,
        table: peerTable,
        clipTo: clip.clipTo,
        fractionClipped: clip.frac,
        normBefore: res1.normBefore,
        normAfter: res1.normAfter,
        checks,
        identical,
      });
      const b = best(peerTable, clip.task, clipPeers);
      parts.push(
        `clip: 1 thr ${fmtMs(clip.one.ms)}, ${opts.cores} thr ${fmtMs(clip.all.ms)} ms` +
          (b ? `; best peer ${b.spec.id} ${fmtMs(b.ms)} ms` : ""),
      );
    }
    progress(`[${caseText(c)}] ${parts.join("; ")} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  return { svRows, clipRows };
}

/** The peers for the sections beyond the main table: numpy 1.24 is left out when numpy 2.x runs. */
function secondaryPeers(peers: PeerSpec[]): PeerSpec[] {
  const hasNew = peers.some((p) => p.id === "numpy-new");
  return peers.filter((p) => !(p.id === "numpy-debian" && hasNew));
}

interface Peak {
  reg: PeakRates;
  bidiag: { n: number; f64: number; f32: number; relaxed: boolean };
  /** The one-thread peak our GFLOP/s are held against: the higher of mul+add and (where the relaxed build runs) FMA. */
  f64: number;
  f32: number;
}

function svMarkdown(ctx: Context, rows: SvRow[], title: string): string[] {
  const { opts } = ctx;
  const header = [
    "h = w",
    "c_in → c_out",
    ...COLS.map((c) => `${colTitle(c, opts.cores)} ms`),
    ...opts.peers.map((p) => `${peerTitle(ctx, p)} ms (thr)`),
    ...COLS.map((c) => `× ${colTitle(c, opts.cores)}`),
    "σ_max check",
  ];
  const body = rows.map((row) => {
    const b = best(row.table, row.task, opts.peers);
    const ch = row.checks;
    let check = "n/a";
    if (row.c.k > row.c.h || row.c.k > row.c.w) check = "n/a (k > h: numpy crops)";
    else if (ch.sigmaRel !== null) {
      check = `${ch.sigmaRel.toExponential(1)} ${ch.sigmaRel <= SIGMA_RTOL ? "ok" : "FAIL"}`;
    }
    return [
      ...caseLabel(row.c),
      ...COLS.map((col) => fmtMs(row.timers.get(col)!.ms)),
      ...opts.peers.map((p) => peerCell(peerOf(row.table, row.task, p))),
      ...COLS.map((col) => (b ? fmtRatio(b.ms / row.timers.get(col)!.ms) : "n/a")),
      check,
    ];
  });
  return [title, "", table(header, body), ""];
}

function gflopsMarkdown(ctx: Context, rows: SvRow[], peak: Peak): string[] {
  const { opts } = ctx;
  const header = [
    "h = w",
    "c_in → c_out",
    "GFLOP (model)",
    ...COLS.map((c) => `${colTitle(c, opts.cores)} GFLOP/s (% peak)`),
  ];
  const body = rows.map((row) => [
    ...caseLabel(row.c),
    (row.flops / 1e9).toFixed(3),
    ...COLS.map((col) => {
      const g = row.flops / (row.timers.get(col)!.ms * 1e6);
      const p = peakFor(col, peak, opts.cores);
      return `${g.toFixed(1)} (${((100 * g) / p).toFixed(0)}%)`;
    }),
  ]);
  return [table(header, body), ""];
}

/** The peak a column is held against: one thread's, times the threads. */
function peakFor(col: Col, peak: Peak, cores: number): number {
  return (col.startsWith("f64") ? peak.f64 : peak.f32) * (col.endsWith("N") ? cores : 1);
}

function svNotes(ctx: Context, rows: SvRow[]): string[] {
  const { opts } = ctx;
  const worstFrob = Math.max(...rows.map((r) => r.checks.frobeniusRel));
  const worstF32 = Math.max(...rows.map((r) => r.checks.f32Err));
  return [
    `Ratios: the fastest peer's time / ours per column (> 1: convsv is faster). Peers: the faster of ` +
    `${opts.threads.join(" and ")} BLAS threads (thr); numpy runs the paper's code on an HWIO kernel, torch runs ` +
    `svdvals(fft2(K_oihw, s=(h, w)).permute(2, 3, 0, 1)) in complex128. Ours: \`singularValuesSync\` (1 thr) and ` +
    `\`await singularValues(k, { threads: ${opts.cores} })\` (navigator.hardwareConcurrency, pool started by a ` +
    `warm-up call), f64 and \`precision: "f32"\`.`,
    "",
    `Checks: σ_max against numpy's ≤ ${SIGMA_RTOL} relative; ${opts.cores} threads bit-identical to one thread: ` +
    `${rows.every((r) => r.checks.threadsIdentical) ? "yes, every case" : "NO"}; f32 against f64, worst ` +
    `${worstF32.toExponential(1)}·σ_max (limit ${F32_TOL}); Frobenius identity |Σσ² − h·w·‖K‖²| / (h·w·‖K‖²), ` +
    `worst ${worstFrob.toExponential(1)}.`,
    "",
  ];
}

function clipMarkdown(ctx: Context, rows: ClipRow[]): string[] {
  const { opts } = ctx;
  const peers = secondaryPeers(opts.peers);
  const header = [
    "h = w",
    "c_in → c_out",
    "clipped",
    "ours 1 thr ms",
    `ours ${opts.cores} thr ms`,
    ...peers.map((p) => `${peerTitle(ctx, p)} ms (thr)`),
    "× 1 thr",
    `× ${opts.cores} thr`,
    "norm after / radius",
    ...peers.map((p) => `vs ${peerTitle(ctx, p)}`),
  ];
  const body = rows.map((row) => {
    const b = best(row.table, row.task, peers);
    return [
      ...caseLabel(row.c),
      `${(100 * row.fractionClipped).toFixed(row.fractionClipped < 0.01 ? 2 : 1)}%`,
      fmtMs(row.one.ms),
      fmtMs(row.all.ms),
      ...peers.map((p) => peerCell(peerOf(row.table, row.task, p))),
      b ? fmtRatio(b.ms / row.one.ms) : "n/a",
      b ? fmtRatio(b.ms / row.all.ms) : "n/a",
      (row.normAfter / row.clipTo).toFixed(3),
      ...peers.map((p) => {
        const v = row.checks.get(p.id);
        if (v === null || v === undefined) return "n/a";
        return `${v.toExponential(1)}${p.peer === "numpy" ? (v <= CLIP_RTOL ? " ok" : " FAIL") : ""}`;
      }),
    ];
  });
  return [
    `## Clipping: one round of the paper's projection (\`iterations: 1\`)`,
    "",
    table(header, body),
    "",
    `Radius: ${opts.clipTo} × the layer's norm; "clipped" is the share of the layer's singular values above it ` +
    `(ours forms singular vectors only for those; numpy and torch form all of them whatever the radius). Ours: ` +
    `\`clipOperatorNormSync(k, r, { iterations: 1 })\` and \`await clipOperatorNorm(k, r, { iterations: 1, threads: ` +
    `${opts.cores} })\`, which also compute normBefore and normAfter (a second pass over the clipped kernel); the ` +
    `peers return the kernel only. Peers: the paper's \`Clip_OperatorNorm\` in numpy (HWIO; fft2 → ` +
    `svd(full_matrices=False) → minimum(D, r) → rebuild scaling the smaller factor → ifft2(…).real → crop) and its ` +
    `PyTorch port (OIHW, complex128, torch.linalg.svd)${
      opts.peers.some((p) => p.id === "numpy-debian") && peers.length < opts.peers.length
        ? "; numpy 1.24 runs in the first table only (it saves minutes; it is never the faster numpy there)"
        : ""
    }. Checks ("vs"): max |ours − theirs| / max |theirs| over ` +
    `the clipped kernel (≤ ${CLIP_RTOL} against numpy); ${opts.cores} threads bit-identical to one thread: ` +
    `${rows.every((r) => r.identical) ? "yes, every case" : "NO"}. "norm after / radius": the one round leaves the ` +
    `norm above the radius (cutting back to 3×3 undoes part of the clip).`,
    "",
  ];
}

// ------------------------------------------------------------ section: dense

async function runDense(ctx: Context, cases: Case[]): Promise<string[]> {
  const { opts } = ctx;
  const spec = referenceOrder(opts.peers).find((p) => p.peer === "numpy");
  const timers = cases.map((c) => {
    const kernel = kernelOf(c, opts.seed);
    return new Timer(() => singularValuesSync(kernel, { inputShape: [c.h, c.w] }), opts);
  });
  const tasks = cases.map((c) => ({ dense: makeTask("dense", c, opts), sv: makeTask("sv", c, opts) }));
  progress(`[dense] ${cases.length} cases, peer ${spec?.id ?? "none"}`);
  const t = await runGroup(timers, spec ? [{ spec, tasks: tasks.flatMap((x) => [x.dense, x.sv]) }] : [], ctx);
  const rows = cases.map((c, i) => {
    const d = spec ? peerOf(t, tasks[i].dense, spec) : null;
    const p = spec ? peerOf(t, tasks[i].sv, spec) : null;
    const ours = timers[i].ms;
    const sv = timers[i].value as Float64Array;
    let check = "n/a";
    if (d?.sigma_max !== undefined) {
      const rel = Math.abs(sv[0] - d.sigma_max) / d.sigma_max;
      check = `${rel.toExponential(1)} ${rel <= SIGMA_RTOL ? "ok" : "FAIL"}`;
      if (!(rel <= SIGMA_RTOL)) fail(ctx, `σ_max on ${caseText(c)}: ours ${sv[0]}, dense ${d.sigma_max}`);
      if (d.count !== sv.length) fail(ctx, `dense on ${caseText(c)}: ${d.count} values, ours ${sv.length}`);
    }
    const n = c.cIn * c.h * c.w;
    return {
      c,
      ours,
      dense: d?.ms ?? null,
      paper: p?.ms ?? null,
      cells: [
        ...caseLabel(c),
        `${n} × ${n}`,
        fmtMs(ours),
        peerCell(p),
        peerCell(d),
        d ? fmtRatio(d.ms / ours) : "n/a",
        d && p ? fmtRatio(d.ms / p.ms) : "n/a",
        check,
      ],
    };
  });
  ctx.json.dense = rows.map(({ c, ours, dense, paper }) => ({ case: c, ours, dense, paper }));
  const title = spec ? peerTitle(ctx, spec) : "numpy";
  return [
    `## The paper's §4.1 baseline: dense SVD of the layer's explicit matrix`,
    "",
    table(
      [
        "h = w",
        "c_in → c_out",
        "matrix",
        "ours f64 1 thr ms",
        `paper's code (${title}) ms (thr)`,
        `dense SVD (${title}) ms (thr)`,
        "dense / ours",
        "dense / paper's code",
        "σ_max vs dense",
      ],
      rows.map((r) => r.cells),
    ),
    "",
    `Dense: \`np.linalg.svd(A, compute_uv=False)\` of the (c·h·w)² matrix of the circular layer, built in python ` +
    `from the same kernel (not timed). Its σ_max must match ours to ${SIGMA_RTOL}: an independent check of the ` +
    `whole frequency characterisation.`,
    "",
  ];
}

// ------------------------------------------------------------ section: kinds

async function runKinds(ctx: Context, cases: Case[]): Promise<string[]> {
  const { opts } = ctx;
  const peers = secondaryPeers(opts.peers);
  const out: string[] = [];
  const rows: string[][] = [];
  const jsonRows: unknown[] = [];
  for (const c of cases) {
    const timers = svTimers(c, opts);
    // The spectrum (each frequency's values sorted, not the whole layer's): what the depthwise peer's |fft2| computes.
    const kernel = kernelOf(c, opts.seed), layer = layerOf(c);
    const spectrum = new Timer(() => spectrumSync(kernel, layer), opts);
    const task = makeTask("sv", c, opts);
    const t0 = performance.now();
    const t = await runGroup([...timers.values(), spectrum], peers.map((spec) => ({ spec, tasks: [task] })), ctx);
    const checks = checkSv(c, timers, t, task, { ...ctx, opts: { ...opts, peers } });
    const b = best(t, task, peers);
    progress(
      `[${caseText(c)}] ` + COLS.map((col) => `${col} ${fmtMs(timers.get(col)!.ms)}`).join(", ") +
        (b ? ` ms; best peer ${b.spec.id} ${fmtMs(b.ms)} ms` : " ms") +
        ` (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
    );
    rows.push([
      ...caseLabel(c),
      ...COLS.map((col) => fmtMs(timers.get(col)!.ms)),
      fmtMs(spectrum.ms),
      ...peers.map((p) => peerCell(peerOf(t, task, p))),
      ...COLS.map((col) => (b ? fmtRatio(b.ms / timers.get(col)!.ms) : "n/a")),
      b ? fmtRatio(b.ms / spectrum.ms) : "n/a",
      checks.sigmaRel === null
        ? "n/a"
        : `${checks.sigmaRel.toExponential(1)} ${checks.sigmaRel <= SIGMA_RTOL ? "ok" : "FAIL"}`,
    ]);
    jsonRows.push({
      case: c,
      ours: { ...Object.fromEntries(COLS.map((col) => [col, timers.get(col)!.ms])), "spectrum-f64-1": spectrum.ms },
      peers: Object.fromEntries(peers.map((p) => [p.id, peerOf(t, task, p)])),
      checks,
    });
  }
  ctx.json.kinds = jsonRows;
  out.push(
    `## Layer kinds: stride 2 and depthwise (issue 6)`,
    "",
    table(
      [
        "h = w",
        "layer",
        ...COLS.map((c) => `${colTitle(c, opts.cores)} ms`),
        "spectrum f64 1 thr ms",
        ...peers.map((p) => `${peerTitle(ctx, p)} ms (thr)`),
        ...COLS.map((c) => `× ${colTitle(c, opts.cores)}`),
        "× spectrum",
        "σ_max check",
      ],
      rows,
    ),
    "",
    `Ours: \`singularValues(k, { inputShape, stride: 2 })\` / \`{ groups: c }\` (kernel \`[c, 1, 3, 3]\`), all the ` +
      `layer's values sorted; "spectrum": \`spectrumSync\` on the same layer, each frequency's values sorted ` +
      `(issue 17 item 4: ≥ 1× the depthwise peer for the spectrum, ≥ 0.5× for the sorted values). Peers ` +
      `(same call shape as above): stride by the phase split of DESIGN.md §3 (tap a = 2a' + p becomes input channel ` +
      `(i, p, q) of a stride-1 layer on the (h/2)×(w/2) grid, 2×2 taps), then the paper's code / torch svdvals; ` +
      `depthwise as |fft2| of each channel's filter (each frequency's 1×1 matrix is its own singular value), ` +
      `unsorted (ours returns the values sorted).`,
    "",
  );
  return out;
}

// ----------------------------------------------------------- section: memory

interface MemRow {
  mode: string;
  h: number;
  c: number;
  ms: number;
  vmHwmKb: number;
  sigmaMax: number;
}

async function childRss(mode: string, h: number, c: number, seed: number): Promise<MemRow | string> {
  const script = decodeURIComponent(new URL("./_rss_child.ts", import.meta.url).pathname);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, mode, String(h), String(c), String(seed)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0] ?? "";
      return `exit ${out.code}: ${err}`;
    }
    return JSON.parse(text.split("\n").slice(-1)[0]) as MemRow;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

async function runMemory(ctx: Context): Promise<{ md: string[]; peakMb: number | null }> {
  const { opts } = ctx;
  const { h, c } = opts.mem;
  const rows: string[][] = [];
  let peakMb: number | null = null;
  const got: Record<string, MemRow | string> = {};
  for (const mode of ["baseline", "sync", "threads"]) {
    progress(`[memory] ${mode} at ${h}×${h}, ${c} → ${c}`);
    const r = await childRss(mode, h, c, opts.seed);
    got[mode] = r;
    if (typeof r === "string") {
      ctx.errors.push(`memory child ${mode}: ${r}`);
      rows.push([mode, "n/a", r, "n/a", "n/a"]);
      continue;
    }
    const mb = r.vmHwmKb / 1024;
    if (mode !== "baseline") {
      peakMb = Math.max(peakMb ?? 0, mb);
      if (!opts.quick && !(mb < MEM_TARGET_MB)) {
        fail(ctx, `peak RSS ${mb.toFixed(0)} MB (${mode}) at h = ${h}, c = ${c}`);
      }
    }
    const what = mode === "baseline"
      ? "Deno + convsv loaded, a 4×4 2→2 layer: the runtime's own footprint"
      : mode === "sync"
      ? "`singularValuesSync`, f64, one thread"
      : `\`await singularValues(…, { threads: ${opts.cores} })\`, f64 (workers included)`;
    rows.push([mode, mode === "baseline" ? "4×4, 2 → 2" : `${h}×${h}, ${c} → ${c}`, what, mb.toFixed(0), fmtMs(r.ms)]);
  }
  ctx.json.memory = got;
  const numpyBytes = h * h * c * c * 16;
  return {
    peakMb,
    md: [
      `## Peak memory`,
      "",
      table(["run", "layer", "what", "peak RSS MB", "ms"], rows, 3),
      "",
      `Peak RSS: \`VmHWM\` of /proc/self/status in a child process (\`bench/_rss_child.ts\`) at the end of the run. ` +
      `Target (issue 4): below ${MEM_TARGET_MB} MB at h = 224, c = 64. numpy's paper code holds the whole complex ` +
      `transform, h·w·c²·16 bytes = ${(numpyBytes / 1e9).toFixed(2)} GB here, before its SVD's own workspace ` +
      `(not run). The result alone (h·w·c float64 values) is ${((h * h * c * 8) / 1e6).toFixed(1)} MB.`,
      "",
    ],
  };
}

// ---------------------------------------------------------- section: scaling

async function runScaling(ctx: Context, cases: Case[]): Promise<SvRow[]> {
  const { opts } = ctx;
  if (cases.length === 0) return [];
  const items = cases.map((c) => ({ c, timers: svTimers(c, opts), task: makeTask("sv", c, opts) }));
  progress(`[scaling] ${cases.map(caseText).join("; ")}`);
  const t = await runGroup(
    items.flatMap((i) => [...i.timers.values()]),
    opts.peers.map((spec) => ({ spec, tasks: items.map((i) => i.task) })),
    ctx,
  );
  return items.map((i) => ({
    c: i.c,
    task: i.task,
    timers: i.timers,
    table: t,
    checks: checkSv(i.c, i.timers, t, i.task, ctx),
    flops: modelFlops(i.c),
  }));
}

function scalingSvg(ctx: Context, rows: SvRow[], caption: string): string {
  const { opts } = ctx;
  const pick = (pred: (c: Case) => boolean, x: (c: Case) => number) =>
    rows.filter((r) => pred(r.c)).map((r) => ({ x: x(r.c), r }));
  const plainCase = (c: Case) => c.stride === 1 && c.groups === 1 && c.cIn === c.cOut;
  const byH = pick((c) => plainCase(c) && c.cIn === SCALE_H.c, (c) => c.h);
  const byC = pick((c) => plainCase(c) && c.h === SCALE_C.h, (c) => c.cIn);
  const styles: {
    name: string;
    color: string;
    dash?: string;
    marker: Series["marker"];
    y: (r: SvRow) => number | null;
  }[] = [
    { name: "convsv f64, 1 thread", color: "#1f77b4", marker: "circle", y: (r) => r.timers.get("f64-1")!.ms },
    {
      name: `convsv f64, ${opts.cores} threads`,
      color: "#1f77b4",
      dash: "6 3",
      marker: "square",
      y: (r) => r.timers.get("f64-N")!.ms,
    },
    {
      name: `convsv f32, ${opts.cores} threads`,
      color: "#17becf",
      dash: "2 2",
      marker: "square",
      y: (r) => r.timers.get("f32-N")!.ms,
    },
  ];
  const colors = ["#d62728", "#ff7f0e", "#2ca02c"];
  opts.peers.forEach((spec, i) => {
    styles.push({
      name: `${peerTitle(ctx, spec)} (paper's code${spec.peer === "torch" ? ", ported" : ""})`,
      color: colors[i % colors.length],
      marker: spec.peer === "torch" ? "triangle" : "diamond",
      y: (r) => {
        const p = peerOf(r.table, r.task, spec);
        return p && !p.stopped ? p.ms : null;
      },
    });
  });
  const series = (pts: { x: number; r: SvRow }[]): Series[] =>
    styles.map((s) => ({
      name: s.name,
      color: s.color,
      dash: s.dash,
      marker: s.marker,
      points: pts.map((p) => [p.x, s.y(p.r) ?? NaN] as [number, number]).filter(([, y]) => Number.isFinite(y)),
    }));
  const panels: Panel[] = [
    {
      title: `time against h (c_in = c_out = ${SCALE_H.c}, 3×3)`,
      xLabel: "h = w",
      yLabel: "median ms",
      series: series(byH),
    },
    {
      title: `time against c (h = w = ${SCALE_C.h}, 3×3)`,
      xLabel: "c_in = c_out",
      yLabel: "median ms",
      series: series(byC),
    },
  ];
  return logLogSvg(panels, caption);
}

// ------------------------------------------------------------------ machine

function readText(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

export function machine(): string {
  const cpuinfo = readText("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const processors = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const flags = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
  const simd = ["avx2", "fma", "avx512f"].filter((f) => flags.includes(f)).join(" ");
  const memKb = Number(/^MemTotal:\s*(\d+)/m.exec(readText("/proc/meminfo"))?.[1] ?? 0);
  return `${model}, ${processors || navigator.hardwareConcurrency} logical CPUs` +
    (simd ? ` (${simd})` : "") +
    (memKb ? `, ${(memKb / 1048576).toFixed(0)} GiB RAM` : "") +
    `, ${Deno.build.os}/${Deno.build.arch}`;
}

export function loadAvg(): string {
  return readText("/proc/loadavg").split(" ").slice(0, 3).join(" ") || "n/a";
}

function measurePeak(): Peak {
  progress("[peak] SIMD peak (register-bound wasm loop) and the bidiagonalisation kernel in L2");
  const reg = registerPeak();
  const n = 128;
  const b = bidiagRate(n);
  return {
    reg,
    bidiag: { n, ...b },
    f64: Math.max(reg.f64MulAdd, b.relaxed ? reg.f64Fma ?? 0 : 0),
    f32: Math.max(reg.f32MulAdd, b.relaxed ? reg.f32Fma ?? 0 : 0),
  };
}

function peakMarkdown(peak: Peak): string[] {
  const r = peak.reg;
  const fused = (v: number | null) => (v === null ? "n/a (no relaxed SIMD)" : v.toFixed(1));
  return [
    `SIMD peak measured in this run, one thread, GFLOP/s: f64x2 mul+add ${
      r.f64MulAdd.toFixed(1)
    }, relaxed_madd (FMA) ` +
    `${fused(r.f64Fma)}; f32x4 mul+add ${r.f32MulAdd.toFixed(1)}, FMA ${fused(r.f32Fma)} (a wasm loop assembled ` +
    `in bench/_simd_peak.ts: 12 independent accumulators, operands in registers). The package's own kernel ` +
    `\`bidiag_c64_split\` on one ${peak.bidiag.n}×${peak.bidiag.n} complex matrix in L2: ` +
    `${peak.bidiag.f64.toFixed(1)} GFLOP/s f64, ${peak.bidiag.f32.toFixed(1)} f32 (${
      peak.bidiag.relaxed ? "relaxed-SIMD build" : "plain SIMD build"
    }). "% peak" below is against ${peak.f64.toFixed(1)} (f64) / ${peak.f32.toFixed(1)} (f32) per thread ` +
    `(the higher of mul+add and${
      peak.bidiag.relaxed ? "" : " (not used: the plain build runs)"
    } FMA) times the threads.`,
    "",
  ];
}

// ------------------------------------------------------------------- summary

/** Issue 17 item 6's targets per column: medians over issue 4's cases and over held-out sizes. */
const MARGIN_TARGETS: Record<Col, number | null> = { "f64-1": 3, "f64-N": 5, "f32-1": null, "f32-N": 8 };

/** Issue 17 item 6's one-thread clipping target, on every case. */
const CLIP_MARGIN = 2;

function summaryMarkdown(
  ctx: Context,
  svRows: SvRow[],
  clipRows: ClipRow[],
  peakMb: number | null,
  peak: Peak | null,
  heldOut: SvRow[],
): string[] {
  const { opts } = ctx;
  const lines: string[][] = [];
  const verdict = (v: number | null, target: number | null, less = false) =>
    v === null || target === null ? "" : (less ? v < target : v >= target) ? "met" : "NOT met";
  const ratioOf = (rows: SvRow[], col: Col) =>
    medianOrNull(rows.flatMap((r) => {
      const b = best(r.table, r.task, opts.peers);
      return b ? [b.ms / r.timers.get(col)!.ms] : [];
    }));
  const svRatio = (col: Col) => ratioOf(svRows, col);
  const targets: Record<Col, [number | null, string]> = {
    "f64-1": [2, "≥ 2× (issue 4, f64 one thread)"],
    "f64-N": [4, "≥ 4× (issue 4, f64 all cores)"],
    "f32-1": [null, "none (issue 4's f32 target is taken at all cores)"],
    "f32-N": [6, "≥ 6× (issue 4's f32 target, at all cores)"],
  };
  if (svRows.length) {
    for (const col of COLS) {
      const m = svRatio(col);
      const [t, text] = targets[col];
      lines.push([`singular values, ${colTitle(col, opts.cores)}`, fmtRatio(m), text, verdict(m, t)]);
    }
  }
  if (clipRows.length) {
    const peers = secondaryPeers(opts.peers);
    const ratio = (pick: (r: ClipRow) => Timer) =>
      medianOrNull(clipRows.flatMap((r) => {
        const b = best(r.table, r.task, peers);
        return b ? [b.ms / pick(r).ms] : [];
      }));
    const one = ratio((r) => r.one), all = ratio((r) => r.all);
    lines.push([
      "clipping round, 1 thr",
      fmtRatio(one),
      "≥ 1× (issue 3: at least the faster peer, ours single-threaded)",
      verdict(one, 1),
    ]);
    lines.push([`clipping round, ${opts.cores} thr`, fmtRatio(all), "≥ 2.5× (issue 4)", verdict(all, 2.5)]);
  }
  // Issue 17 item 6: wider margins, over issue 4's cases and over sizes none of the work was tuned on (the
  // scaling section's own sizes), and one-thread clipping on every case.
  for (const col of COLS) {
    const t = MARGIN_TARGETS[col];
    if (t === null) continue;
    for (const [rows, what] of [[svRows, "issue 4's cases"], [heldOut, "held-out sizes"]] as const) {
      if (!rows.length) continue;
      const m = ratioOf(rows, col);
      lines.push([
        `singular values, ${colTitle(col, opts.cores)}, ${what}`,
        fmtRatio(m),
        `≥ ${t}× (issue 17 item 6)`,
        verdict(m, t),
      ]);
    }
  }
  if (clipRows.length) {
    let worst: { r: number; c: Case } | null = null;
    for (const row of clipRows) {
      const b = best(row.table, row.task, secondaryPeers(opts.peers));
      if (b && (worst === null || b.ms / row.one.ms < worst.r)) worst = { r: b.ms / row.one.ms, c: row.c };
    }
    if (worst) {
      lines.push([
        "clipping round, 1 thr, worst case",
        `${fmtRatio(worst.r)} (${worst.c.h}², ${worst.c.cIn} → ${worst.c.cOut})`,
        `≥ ${CLIP_MARGIN}× on every case (issue 17 item 6)`,
        verdict(worst.r, CLIP_MARGIN),
      ]);
    }
  }
  if (peakMb !== null) {
    lines.push([
      `peak RSS at h = ${opts.mem.h}, c = ${opts.mem.c}`,
      `${peakMb.toFixed(0)} MB`,
      `< ${MEM_TARGET_MB} MB at h = 224, c = 64 (issue 4)`,
      opts.mem.h === 224 && opts.mem.c === 64 ? verdict(peakMb, MEM_TARGET_MB, true) : "(other size)",
    ]);
  }
  if (svRows.length && peak) {
    for (const col of COLS) {
      const p = peakFor(col, peak, opts.cores);
      const g = median(svRows.map((r) => r.flops / (r.timers.get(col)!.ms * 1e6)));
      lines.push([
        `GFLOP/s, ${colTitle(col, opts.cores)}`,
        `${g.toFixed(1)} (${((100 * g) / p).toFixed(0)}% of peak)`,
        `peak ${p.toFixed(1)} measured`,
        "",
      ]);
    }
  }
  if (!lines.length) return [];
  return [
    `## Summary: medians over the cases against the issues' targets`,
    "",
    table(["what", "median", "target", ""], lines, 1),
    "",
    `Ratio = the fastest peer's time / ours (> 1: convsv is faster), median over the ${svRows.length} cases of the ` +
    `singular-value table${clipRows.length ? ` and the ${clipRows.length} of the clipping table` : ""}` +
    `${heldOut.length ? `; "held-out sizes": the ${heldOut.length} of the scaling section's own table` : ""}.`,
    "",
  ];
}

export function peersMarkdown(ctx: GroupContext): string[] {
  const out: string[] = [];
  for (const spec of ctx.opts.peers) {
    const rep = ctx.reports.get(spec.id);
    if (rep === undefined) {
      out.push(`- peer ${spec.id}: did not run (${spec.python})`);
      continue;
    }
    const blas = (rep.blas ?? []).map((b) =>
      [b.lib, b.corename ? `kernel ${b.corename}` : "", b.version ? `v${b.version}` : ""].filter((s) =>
        s
      ).join(" ")
    ).join(" + ") || "unknown";
    const unset = rep.openblas_env_unset.length ? `; unset for it: ${rep.openblas_env_unset.join(" ")}` : "";
    out.push(
      `- peer ${spec.id}: python ${rep.python} (${rep.executable}), numpy ${rep.numpy}` +
        (rep.torch ? `, torch ${rep.torch}` : "") + `; BLAS/LAPACK: ${blas}${unset}`,
    );
  }
  const tuning = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"].map((v) => `${v}=${Deno.env.get(v) ?? "(unset)"}`).join(" ");
  out.push(`- environment: ${tuning}`);
  return out;
}

// ------------------------------------------------------------ RESULTS.md

/**
 * Headings of RESULTS.md sections that other scripts write (bench/clip_kinds.ts,
 * bench/screening.ts, bench/train/train.ts, bench/cold_start.ts); `--write` keeps them.
 */
export const KEPT_HEADINGS = [
  "## Clipping per layer kind: one round against the peers' own route (issue 14)",
  "## Screened norm and re-clipping (issue 17, items 1–2)",
  "## Training with the projection: Fashion-MNIST ResNet (issue 16)",
  "## Training with the projection of conv∘BN: Fashion-MNIST ResNet (issue 16)",
  "## Cold start: a first call in a fresh process (issue 17, item 5)",
  "## WebGPU against wasm: the crossover of `auto` (issue 17, item 7)",
];

/** A section of `text` from `heading` to the next level-2 heading (or the end); null if absent. */
export function sectionOf(text: string, heading: string): { start: number; end: number } | null {
  const start = text.indexOf(heading);
  if (start < 0) return null;
  const next = text.slice(start + heading.length).search(/\n## /);
  return { start, end: next < 0 ? text.length : start + heading.length + next + 1 };
}

/**
 * Puts `section` (which starts with `heading`) into bench/RESULTS.md: in
 * place of the section of that heading, or at the end. The scripts that own
 * a kept section (KEPT_HEADINGS) write it through this.
 */
export function writeSection(heading: string, section: string): void {
  const url = new URL("./RESULTS.md", import.meta.url);
  let text = "";
  try {
    text = Deno.readTextFileSync(url);
  } catch {
    text = "";
  }
  const body = section.replace(/\n*$/, "\n");
  const old = sectionOf(text, heading);
  text = old
    ? text.slice(0, old.start) + body + (old.end < text.length ? "\n" : "") + text.slice(old.end)
    : text.replace(/\n*$/, "\n\n") + body;
  Deno.writeTextFileSync(url, text);
}

/** The kept sections of the current RESULTS.md, as lines to append. */
function keptSections(url: URL): string[] {
  const text = readText(decodeURIComponent(url.pathname));
  const out: string[] = [];
  for (const h of KEPT_HEADINGS) {
    const s = sectionOf(text, h);
    if (s) out.push("", text.slice(s.start, s.end).trimEnd(), "");
  }
  return out;
}

// --------------------------------------------------------------------- main

async function main(): Promise<number> {
  const opts = parseArgs(Deno.args);
  const command = ["./node_modules/.bin/deno", "run", "-A", "bench/bench.ts", ...Deno.args].join(" ");
  const loadStart = loadAvg();
  const started = new Date();
  const outDir = await Deno.makeTempDir({ prefix: "convsv-bench-" });
  const ctx: Context = { opts, outDir, errors: [], failures: [], reports: new Map(), md: [], json: {} };
  const on = (s: Section) => opts.sections.has(s);

  const peak = on("sv") ? measurePeak() : null;
  // Compile the wasm core, start the worker pool and let the engine's hot
  // functions reach their optimised tier (V8 compiles wasm with a baseline
  // compiler first and re-compiles hot functions in the background) outside
  // any timed run: ~2 s of every path on a 16×16, 32-channel layer. Without
  // it the first case measured up to 35% slower than the same case later.
  const warmKernel = { data: kernelOIHW(32 * 32 * 9, 1), shape: [32, 32, 3, 3] };
  const warmShape = { inputShape: [16, 16] };
  for (const t0 = performance.now(); performance.now() - t0 < 2000;) {
    singularValuesSync(warmKernel, warmShape);
    singularValuesSync(warmKernel, { ...warmShape, precision: "f32" });
    await singularValues(warmKernel, { ...warmShape, threads: opts.cores });
    await singularValues(warmKernel, { ...warmShape, threads: opts.cores, precision: "f32" });
    if (on("clip")) {
      clipOperatorNormSync(warmKernel, 1, { ...warmShape, iterations: 1 });
      await clipOperatorNorm(warmKernel, 1, { ...warmShape, iterations: 1, threads: opts.cores });
    }
  }

  let svRows: SvRow[] = [], clipRows: ClipRow[] = [];
  const sections: string[][] = [];
  try {
    if ((on("sv") || on("clip")) && opts.svCases.length) {
      ({ svRows, clipRows } = await runMain(ctx, opts.svCases, on("sv"), on("clip")));
    }
    if (svRows.length) {
      sections.push([
        ...svMarkdown(ctx, svRows, `## Singular values: issue 4's cases (3×3 kernels, h = w, median ms)`),
        ...svNotes(ctx, svRows),
        ...(peak ? [`### Achieved GFLOP/s`, "", ...peakMarkdown(peak), ...gflopsMarkdown(ctx, svRows, peak)] : []),
        FLOP_MODEL,
        "",
      ]);
    }
    if (clipRows.length) sections.push(clipMarkdown(ctx, clipRows));
    if (on("dense") && opts.denseCases.length) sections.push(await runDense(ctx, opts.denseCases));
    if (on("kinds") && opts.kindCases.length) sections.push(await runKinds(ctx, opts.kindCases));
    let peakMb: number | null = null;
    if (on("memory")) {
      const m = await runMemory(ctx);
      peakMb = m.peakMb;
      sections.push(m.md);
    }
    let scaleRows: SvRow[] = [];
    if (on("scaling")) {
      scaleRows = await runScaling(ctx, opts.scaleCases);
      const md = [`## Scaling`, ""];
      if (opts.write) md.push(`![time against h and against c, log–log](scaling.svg)`, "");
      if (scaleRows.length) {
        md.push(...svMarkdown(ctx, scaleRows, `More sizes for the plot (the rest come from the first table):`));
      } else {
        md.push(`No sizes beyond the first table's${opts.quick ? " (--quick)" : ""}.`, "");
      }
      if (opts.write) {
        const svg = scalingSvg(
          ctx,
          [...svRows, ...scaleRows],
          `convsv vs the paper's code, median ms, ${machine().split(",")[0]}, ${started.toISOString().slice(0, 10)}`,
        );
        Deno.writeTextFileSync(new URL("./scaling.svg", import.meta.url), svg);
        md.push(`(bench/scaling.svg: written by this run.)`, "");
      }
      sections.push(md);
    }
    const summary = summaryMarkdown(ctx, svRows, clipRows, peakMb, peak, scaleRows);

    const took = ((Date.now() - started.getTime()) / 1000).toFixed(0);
    const head = [
      `# convsv benchmark`,
      "",
      ...(opts.quick ? ["**Quick run (`--quick`): a smoke check with few runs, not results.**", ""] : []),
      `- machine: ${machine()}`,
      `- runtime: Deno ${Deno.version.deno}, V8 ${Deno.version.v8}; ours uses ${opts.cores} threads for "all cores" ` +
      `(navigator.hardwareConcurrency ${navigator.hardwareConcurrency})`,
      `- date: ${started.toISOString()} (took ${took} s); load average ${loadStart} at start, ${loadAvg()} at end`,
      `- command: \`RUST_BACKTRACE=0 NO_COLOR=1 ${command}\``,
      `- kernels: fixed-seed uniform(−1, 1) float64 weights (seed ${opts.seed}), the same bits in every peer`,
      `- timing: ~2 s of every path of ours on a 16×16, 32-channel layer first (wasm compiled, hot functions ` +
      `optimised, worker pool started); then per case the median of ≥ ${opts.minReps} runs after a warm-up (calls of ours repeated for ${WARM_MS} ms) ` +
      `(~${opts.budgetS} s per column of ours, ` +
      `~${opts.peerBudgetS} s per peer and BLAS thread count); a warm-up ≥ ${opts.slowS} s counts as a run, and ` +
      `from ${VERY_SLOW * opts.slowS} s two runs in all are taken`,
      `- ${PEER_MARKS}`,
      "",
    ];
    const tail = [`## Peers`, "", ...peersMarkdown(ctx), ""];
    for (const e of ctx.errors) tail.push(`- error: ${e}`);
    if (ctx.failures.length) {
      tail.push("", `**FAILED checks:**`, "", ...ctx.failures.map((f) => `- ${f}`));
    }
    const join = (parts: string[]) => parts.join("\n").replace(/\n{3,}/g, "\n\n") + "\n";
    // The console ends with the summary; RESULTS.md opens with it.
    console.log(join([...head, ...sections.flat(), ...summary, ...tail]));
    if (opts.write) {
      const results = new URL("./RESULTS.md", import.meta.url);
      const kept = keptSections(results);
      Deno.writeTextFileSync(results, join([...head, ...summary, ...sections.flat(), ...tail, ...kept]));
      progress("wrote bench/RESULTS.md" + (on("scaling") ? " and bench/scaling.svg" : ""));
    }
    if (opts.json !== null) {
      const rowJson = (r: SvRow) => ({
        case: r.c,
        flops: r.flops,
        ours: Object.fromEntries(COLS.map((c) => [c, { ms: r.timers.get(c)!.ms, runs: r.timers.get(c)!.runs }])),
        peers: Object.fromEntries(opts.peers.map((p) => [p.id, r.table.get(`${r.task.id} ${p.id}`)])),
        checks: r.checks,
      });
      Deno.writeTextFileSync(
        opts.json,
        JSON.stringify(
          {
            command,
            date: started.toISOString(),
            machine: machine(),
            flopModel: FLOP_MODEL,
            peak,
            peers: Object.fromEntries(ctx.reports),
            sv: svRows.map(rowJson),
            scaling: scaleRows.map(rowJson),
            clip: clipRows.map((r) => ({
              case: r.c,
              clipTo: r.clipTo,
              fractionClipped: r.fractionClipped,
              ours: { one: r.one.ms, all: r.all.ms },
              normBefore: r.normBefore,
              normAfter: r.normAfter,
              peers: Object.fromEntries(
                secondaryPeers(opts.peers).map((p) => [p.id, r.table.get(`${r.task.id} ${p.id}`)]),
              ),
              checks: Object.fromEntries(r.checks),
            })),
            ...ctx.json,
            errors: ctx.errors,
            failures: ctx.failures,
          },
          null,
          2,
        ),
      );
    }
  } finally {
    closeThreads();
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
  }
  return ctx.failures.length ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
