/**
 * One clipping round per layer kind (issue 14's Speed section): convsv's
 * `clipOperatorNorm` against the peers' own route, in the same run.
 *
 *     ./node_modules/.bin/deno run -A bench/clip_kinds.ts [--quick] [--write] [--case SUBSTRING]
 *         [--budget S] [--peer-budget S] [--max-reps N] [--slow S] [--threads 1,2] [--cores N]
 *         [--peers numpy-new,numpy-debian,torch] [--no-peers] [--python PATH]
 *         [--debian-python PATH] [--seed N] [--clip-to F] [--peer-transform dft|fft]
 *
 * Cases (3×3 kernels, or 3×3×3 for 3-D; circular padding): the issue's
 * stride-2 64 → 128 at 32×32, depthwise 128 at 56×56 and 3-D 32 → 32 at 16³,
 * plus a ResNeXt-like grouped layer and MobileNet's stride-2 depthwise
 * layer; `--quick` takes small variants of each kind (a CI-sized smoke
 * check, seconds).
 *
 * Ours: `clipOperatorNormSync(k, r, { inputShape, stride, groups,
 * iterations: 1 })` on one thread and `await clipOperatorNorm(k, r, { …,
 * threads: N })` (N = `--cores`, default 2). A kind convsv does not clip yet
 * (the call throws) is reported "not available" with the error, and its peers
 * still run. Radius r: `--clip-to` (default 0.5) × the layer's norm.
 *
 * Peers (bench/peers.py, task "clip" with a stride, groups or "d"): the
 * phase-split round of practical_svd_conv ported to numpy (the machine's
 * python3, numpy 2.x, and Debian's numpy 1.24) and PyTorch 1.13 (complex128):
 * the stride-1 kernel K'[o, (i, p…), a'…] = K[o, i, s·a' + p, …] on the n/s
 * grid, rfftn, batched full SVD per frequency and group (depthwise with
 * stride 1: P·min(1, r/|P|) elementwise, no SVD), clip, rebuild, irfftn, cut
 * to K' taps, back to K's taps. The two transforms run as direct DFTs over
 * the taps (small matrix products, the same values; faster than the
 * libraries' FFTs for 3×3 taps); `--peer-transform fft` runs np.fft /
 * torch.fft's rfftn and irfftn instead, as practical_svd_conv does. Each at `--threads` BLAS threads (1 and 2,
 * OPENBLAS_NUM_THREADS / torch.set_num_threads), in fresh processes, the
 * faster kept. bench/_check_clip_kinds.py checks the peers against the dense
 * layer matrix's SVD.
 *
 * Timing as bench/bench.ts (its Timer, runGroup and runPeer): a warm-up (fast calls repeated), then
 * the median of ≥ 3 runs (about `--budget` s of ours per column, `--peer-budget`
 * s per peer and thread count), our runs split around the peers'. Checks
 * (exit 1 on failure): ours against each peer's clipped kernel to 1e-10
 * relative to its largest tap, N threads bit-identical to one thread, the
 * peers against each other to 1e-10. No check asserts a time.
 *
 * `--write` puts the output's section into bench/RESULTS.md: it replaces a
 * section with the same heading, else it is appended.
 * @module
 */

import { clipOperatorNorm, clipOperatorNormSync, closeThreads, operatorNormSync } from "../mod.ts";
import { firstRoundSync } from "../src/_clip/clip.ts";
import { DEFAULT_SEED, kernelOIHW } from "./_kernel.ts";
import {
  best,
  fmtMs,
  fmtRatio,
  type GroupContext,
  KEPT_HEADINGS,
  loadAvg,
  machine,
  PEER_MARKS,
  peerCell,
  peerOf,
  peersMarkdown,
  type PeerSpec,
  type PeerTable,
  peerTitle,
  progress,
  readF64,
  runGroup,
  table,
  type Task,
  Timer,
  VERY_SLOW,
  WARM_MS,
  writeSection,
} from "./bench.ts";

/** bench/bench.ts's `--write` keeps this section (KEPT_HEADINGS). */
const HEADING = KEPT_HEADINGS[0];
const RTOL = 1e-10;

interface KindCase {
  id: string;
  /** What the layer is (the table's first column). */
  what: string;
  /** The input's spatial shape: [h, w] or [d, h, w]. */
  dims: number[];
  cIn: number;
  cOut: number;
  k: number;
  stride: number;
  groups: number;
  /** One of the issue's three named shapes (target ≥ 2× on one thread). */
  named: boolean;
}

const kcase = (
  what: string,
  dims: number[],
  cIn: number,
  cOut: number,
  o: { stride?: number; groups?: number; named?: boolean } = {},
): KindCase => {
  const stride = o.stride ?? 1, groups = o.groups ?? 1;
  const id = `${dims.join("x")}-${cIn}-${cOut}-s${stride}-g${groups}`;
  return { id, what, dims, cIn, cOut, k: 3, stride, groups, named: o.named ?? false };
};

const FULL: KindCase[] = [
  kcase("ResNet downsampling, stride 2", [32, 32], 64, 128, { stride: 2, named: true }),
  kcase("MobileNet depthwise", [56, 56], 128, 128, { groups: 128, named: true }),
  kcase("3-D (C3D/I3D-like)", [16, 16, 16], 32, 32, { named: true }),
  kcase("ResNeXt grouped, 32 groups", [56, 56], 128, 128, { groups: 32 }),
  kcase("MobileNet depthwise, stride 2", [112, 112], 64, 64, { groups: 64, stride: 2 }),
];

const QUICK: KindCase[] = [
  kcase("stride 2", [16, 16], 16, 32, { stride: 2 }),
  kcase("depthwise", [16, 16], 32, 32, { groups: 32 }),
  kcase("3-D", [8, 8, 8], 8, 8),
  kcase("grouped, 4 groups", [16, 16], 16, 16, { groups: 4 }),
  kcase("depthwise, stride 2", [16, 16], 16, 16, { groups: 16, stride: 2 }),
];

interface Opts {
  quick: boolean;
  write: boolean;
  filter: string | null;
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
  peerTransform: "dft" | "fft";
}

const USAGE = "usage: deno run -A bench/clip_kinds.ts [--quick] [--write] [--case SUBSTRING] [--budget S] " +
  "[--peer-budget S] [--max-reps N] [--slow S] [--threads 1,2] [--cores N] [--peers numpy-new,numpy-debian,torch] " +
  "[--no-peers] [--python PATH] [--debian-python PATH] [--seed N] [--clip-to F] [--peer-transform dft|fft]";

function usage(msg: string): never {
  console.error(`clip_kinds.ts: ${msg}`);
  console.error(USAGE);
  Deno.exit(2);
}

function parseArgs(args: string[]): Opts {
  let quick = false, write = false, noPeers = false;
  let filter: string | null = null;
  let budgetS: number | null = null, peerBudgetS: number | null = null, maxReps: number | null = null;
  let slowS = 1, clipTo = 0.5, cores = 2, seed = DEFAULT_SEED;
  let threads = [1, 2];
  let peerIds: string[] | null = null;
  let python = "python3", debianPython = "/usr/bin/python3";
  let peerTransform: "dft" | "fft" = "dft";
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
      case "--write":
        write = true;
        break;
      case "--no-peers":
        noPeers = true;
        break;
      case "--case":
        filter = value();
        break;
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
      case "--cores":
        cores = Math.floor(num());
        break;
      case "--seed":
        seed = Math.floor(num());
        break;
      case "--threads":
        threads = value().split(",").map(Number);
        if (threads.some((t) => !Number.isInteger(t) || t < 1)) usage("bad --threads");
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
      case "--peer-transform": {
        const v = value();
        if (v !== "dft" && v !== "fft") usage("--peer-transform wants dft or fft");
        peerTransform = v;
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
  const allPeers: PeerSpec[] = [
    { id: "numpy-new", python, peer: "numpy", title: "numpy 2.x" },
    { id: "numpy-debian", python: debianPython, peer: "numpy", title: "numpy 1.24" },
    { id: "torch", python: debianPython, peer: "torch", title: "torch 1.13" },
  ];
  let peers = noPeers ? [] : allPeers;
  if (!noPeers && peerIds !== null) {
    for (const id of peerIds) if (!allPeers.some((p) => p.id === id)) usage(`unknown peer ${id}`);
    peers = allPeers.filter((p) => peerIds!.includes(p.id));
  }
  return {
    quick,
    write,
    filter,
    budgetS: budgetS ?? (quick ? 0.2 : 1),
    peerBudgetS: peerBudgetS ?? (quick ? 0.2 : 1),
    maxReps: maxReps ?? (quick ? 5 : 15),
    minReps: 3,
    slowS,
    threads,
    cores,
    peers,
    seed,
    clipTo,
    peerTransform,
  };
}

// ---------------------------------------------------------------- one case

function kernelOf(c: KindCase, seed: number) {
  const shape = [c.cOut, c.cIn / c.groups, ...c.dims.map(() => c.k)];
  return { data: kernelOIHW(shape.reduce((a, b) => a * b, 1), seed), shape };
}

function layerOptions(c: KindCase) {
  return { inputShape: c.dims, stride: c.stride, groups: c.groups };
}

/** "16×16 grid, 128 × 256" : the phase-split grid and each frequency's matrices. */
function matrices(c: KindCase): string {
  const grid = c.dims.map((n) => n / c.stride).join("×");
  const m = c.cOut / c.groups, n = (c.cIn / c.groups) * c.stride ** c.dims.length;
  return `${grid}, ${c.groups > 1 ? `${c.groups} × ` : ""}${m}×${n}`;
}

function label(c: KindCase): string {
  const shape = c.dims.length === 3 ? `${c.dims[0]}³` : c.dims.join("×");
  const ch = c.groups === c.cIn && c.groups === c.cOut ? `${c.cIn} dw` : `${c.cIn} → ${c.cOut}`;
  return `${shape}, ${ch}${c.groups > 1 && c.groups !== c.cIn ? ` g${c.groups}` : ""}${
    c.stride > 1 ? ` s${c.stride}` : ""
  }`;
}

function taskOf(c: KindCase, clipTo: number, opts: Opts): Task {
  const [d, h, w] = c.dims.length === 3 ? c.dims : [undefined, ...c.dims];
  return {
    task: "clip",
    id: `clipk-${c.id}`,
    h: h!,
    w: w!,
    ...(d === undefined ? {} : { d }),
    c_in: c.cIn,
    c_out: c.cOut,
    k: c.k,
    stride: c.stride,
    groups: c.groups,
    reps: opts.maxReps,
    clip_to: clipTo,
    transform: opts.peerTransform,
  };
}

interface Row {
  c: KindCase;
  task: Task;
  clipTo: number;
  normBefore: number;
  /** Why ours did not run (the error's message), or null. */
  unavailable: string | null;
  one: Timer | null;
  all: Timer | null;
  /** `operatorNormSync` on the same layer, one thread. */
  norm: Timer;
  /** The first round alone (no norms, no write-back), one thread: what the peers' round computes. */
  round: Timer | null;
  normAfter: number | null;
  identical: boolean | null;
  /** The peers' results. */
  table: PeerTable;
  /** max |ours − peer| / max |peer| per peer id. */
  vsPeer: Map<string, number>;
  /** max |numpy-new − other| / max |numpy-new| for the other peers. */
  peersAgree: number | null;
}

interface ClipValue {
  kernel: { data: Float64Array };
  normAfter: number;
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

async function runCase(c: KindCase, opts: Opts, ctx: GroupContext, failures: string[]): Promise<Row> {
  const kernel = kernelOf(c, opts.seed);
  const lo = layerOptions(c);
  const normBefore = operatorNormSync(kernel, lo);
  const clipTo = opts.clipTo * normBefore;
  const o = { ...lo, iterations: 1 };
  let unavailable: string | null = null;
  try {
    clipOperatorNormSync(kernel, clipTo, o); // a probe: the kinds convsv does not clip yet throw here
  } catch (e) {
    unavailable = `${e instanceof Error ? e.name : "Error"}: ${e instanceof Error ? e.message : String(e)}`;
  }
  const timerOpts = { budgetS: opts.budgetS, maxReps: opts.maxReps, minReps: opts.minReps, slowS: opts.slowS };
  const one = unavailable === null ? new Timer(() => clipOperatorNormSync(kernel, clipTo, o), timerOpts) : null;
  const all = unavailable === null
    ? new Timer(() => clipOperatorNorm(kernel, clipTo, { ...o, threads: opts.cores }), timerOpts)
    : null;
  // Context for our times: one operatorNorm (ClipResult's normBefore and normAfter are two such).
  const norm = new Timer(() => operatorNormSync(kernel, lo), timerOpts);
  const roundOnly = unavailable === null ? firstRoundSync(kernel, clipTo, o) : undefined;
  const round = roundOnly ? new Timer(roundOnly, timerOpts) : null;
  const task = taskOf(c, clipTo, opts);
  const t0 = performance.now();
  const peerTable = await runGroup(
    one && all ? [one, all, norm, ...(round ? [round] : [])] : [norm],
    opts.peers.map((spec) => ({ spec, tasks: [task] })),
    ctx,
  );
  const row: Row = {
    c,
    task,
    clipTo,
    normBefore,
    unavailable,
    one,
    all,
    norm,
    round,
    normAfter: null,
    identical: null,
    table: peerTable,
    vsPeer: new Map(),
    peersAgree: null,
  };
  const files = new Map<string, Float64Array>();
  for (const spec of opts.peers) {
    const r = peerOf(peerTable, task, spec);
    if (r?.file) files.set(spec.id, readF64(r.file));
  }
  const ref = files.get("numpy-new") ?? files.values().next().value;
  if (ref !== undefined) {
    let agree = 0;
    for (const arr of files.values()) agree = Math.max(agree, relDiff(arr, ref));
    row.peersAgree = files.size > 1 ? agree : null;
    if (!(agree <= RTOL)) failures.push(`peers disagree on ${label(c)}: ${agree.toExponential(1)}`);
  }
  if (one && all) {
    const r1 = one.value as ClipValue, rN = all.value as ClipValue;
    row.normAfter = r1.normAfter;
    row.identical = relDiff(r1.kernel.data, rN.kernel.data) === 0;
    if (!row.identical) failures.push(`ours on ${label(c)}: ${opts.cores} threads differ from one thread`);
    for (const [id, arr] of files) {
      const rel = relDiff(r1.kernel.data, arr);
      row.vsPeer.set(id, rel);
      if (!(rel <= RTOL)) failures.push(`ours on ${label(c)}: ${rel.toExponential(1)} from ${id}'s clipped kernel`);
    }
  }
  const b = best(peerTable, task, opts.peers);
  progress(
    `[${label(c)}] ours ${one ? `1 thr ${fmtMs(one.ms)}, ${opts.cores} thr ${fmtMs(all!.ms)} ms` : "not available"}` +
      (b ? `; best peer ${b.spec.id} ${fmtMs(b.ms)} ms` : "") + ` (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
  return row;
}

// ------------------------------------------------------------------ output

function markdown(rows: Row[], opts: Opts, ctx: GroupContext, meta: string[]): string[] {
  const header = [
    "layer",
    "input, c_in → c_out",
    "grid, matrices",
    "ours 1 thr ms",
    `ours ${opts.cores} thr ms`,
    ...opts.peers.map((p) => `${peerTitle(ctx, p)} ms (thr)`),
    "× 1 thr",
    `× ${opts.cores} thr`,
    "target 1 thr",
    "vs peers (worst)",
    "operatorNorm 1 thr ms",
    "round alone 1 thr ms (×)",
  ];
  const body = rows.map((row) => {
    const t = row.table;
    const b = best(t, row.task, opts.peers);
    const ratio = (tm: Timer | null) => (tm && b ? fmtRatio(b.ms / tm.ms) : "n/a");
    const one = row.one, all = row.all;
    let target = "";
    if (row.c.named) {
      target = one && b ? (b.ms / one.ms >= 2 ? "≥ 2×: met" : "≥ 2×: NOT met") : "≥ 2×: n/a";
    }
    const vs = row.vsPeer.size ? Math.max(...row.vsPeer.values()) : undefined;
    return [
      row.c.what,
      label(row.c),
      matrices(row.c),
      one ? fmtMs(one.ms) : "not available",
      all ? fmtMs(all.ms) : "not available",
      ...opts.peers.map((p) => peerCell(peerOf(t, row.task, p))),
      ratio(one),
      ratio(all),
      target,
      vs === undefined ? "n/a" : `${vs.toExponential(1)} ${vs <= RTOL ? "ok" : "FAIL"}`,
      fmtMs(row.norm.ms),
      row.round ? `${fmtMs(row.round.ms)} (${ratio(row.round)})` : "n/a",
    ];
  });
  const missing = rows.filter((r) => r.unavailable !== null);
  const agree = rows.map((r) => r.peersAgree).filter((x): x is number => x !== null);
  const lines = [
    HEADING,
    "",
    ...(opts.quick ? ["**Quick run (`--quick`): small variants, few runs; a smoke check, not results.**", ""] : []),
    ...meta,
    "",
    table(header, body, 3),
    "",
    `Ratios: the fastest peer's time / ours (> 1: convsv is faster); "target 1 thr": issue 14's ≥ 2× the faster ` +
    `peer on one thread, for its three named shapes. Radius: ${opts.clipTo} × the layer's norm. Ours: ` +
    `\`clipOperatorNormSync(k, r, { inputShape, stride, groups, iterations: 1 })\` and \`await clipOperatorNorm(k, ` +
    `r, { …, iterations: 1, threads: ${opts.cores} })\` (both also compute normBefore and normAfter). Peers: ` +
    `practical_svd_conv's phase-split round (bench/peers.py \`numpy_clip_kinds\` / \`torch_clip_kinds\`): the ` +
    `stride-1 kernel K'[o, (i, p, q), a', b'] = K[o, i, s·a' + p, s·b' + q] on the n/s grid, rfftn (Hermitian ` +
    `half), batched \`svd(full_matrices=False)\` per frequency and group (the smaller factor scaled in the ` +
    `rebuild; depthwise at stride 1: P·min(1, r/|P|) elementwise, no SVD), clip, irfftn, cut to K' taps, back to ` +
    `K's taps; numpy on the OIHW/OIDHW float64 kernel, torch in complex128. Transforms: ${
      opts.peerTransform === "dft"
        ? "rfftn and irfftn as direct DFTs over the taps (small matrix products: the same values, faster than " +
          "the libraries' FFTs for 3×3 taps; `--peer-transform fft` times np.fft / torch.fft's instead)"
        : "np.fft / torch.fft's rfftn and irfftn (`--peer-transform fft`)"
    }. "grid, matrices": the phase-split ` +
    `grid and each frequency's matrix (groups × c_out/g × s^D·c_in/g). "operatorNorm 1 thr": ` +
    `\`operatorNormSync(k, { inputShape, stride, groups })\` on the same layer, for context: a clipping result ` +
    `reports normBefore and normAfter, which the peers' round does not compute. "round alone": the call's first ` +
    `round without the returned kernel's norm and the write-back (\`firstRoundSync\` in src/_clip/clip.ts, ` +
    `private), the work the peers' round does, with the fastest peer's time / it in parentheses.`,
    "",
    `Checks: "vs peers": max |ours − theirs| / max |theirs| over the clipped kernel, the worst of the peers ` +
    `(≤ ${RTOL}); ` +
    `${opts.cores} threads bit-identical to one thread: ${
      rows.every((r) => r.identical !== false) ? "yes where ours ran" : "NO"
    }; the peers against each other: worst ${
      agree.length ? Math.max(...agree).toExponential(1) : "n/a"
    } (≤ ${RTOL}); the peers' round against the dense layer matrix's SVD clip and tap projection: ` +
    "`python3 bench/_check_clip_kinds.py` (run separately).",
    "",
  ];
  if (missing.length) {
    lines.push(
      `Not available (convsv threw on the probe call, so only the peers ran): ` +
        missing.map((r) => `${label(r.c)} (${r.unavailable!.split("(")[0].trim()})`).join("; ") + ".",
      "",
    );
  }
  return lines;
}

function gitDescribe(): string {
  try {
    const out = new Deno.Command("git", {
      args: ["describe", "--always", "--dirty"],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return new TextDecoder().decode(out.stdout).trim() || "unknown";
  } catch {
    return "unknown";
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(Deno.args);
  const command = ["./node_modules/.bin/deno", "run", "-A", "bench/clip_kinds.ts", ...Deno.args].join(" ");
  const started = new Date();
  const loadStart = loadAvg();
  const outDir = await Deno.makeTempDir({ prefix: "convsv-clip-kinds-" });
  const ctx: GroupContext = { opts, outDir, errors: [], reports: new Map() };
  const failures: string[] = [];
  let cases = opts.quick ? QUICK : FULL;
  if (opts.filter !== null) cases = cases.filter((c) => c.id.includes(opts.filter!) || c.what.includes(opts.filter!));
  if (!cases.length) usage(`no case matches ${opts.filter}`);
  try {
    // As bench/bench.ts: wasm compiled, pool started, hot functions optimised
    // (~2 s of plain clipping rounds, which every build supports) before any timed run.
    const warm = { data: kernelOIHW(32 * 32 * 9, 1), shape: [32, 32, 3, 3] };
    const ws = { inputShape: [16, 16], iterations: 1 };
    for (const t0 = performance.now(); performance.now() - t0 < 2000;) {
      clipOperatorNormSync(warm, 1, ws);
      await clipOperatorNorm(warm, 1, { ...ws, threads: opts.cores });
    }
    const rows: Row[] = [];
    for (const c of cases) rows.push(await runCase(c, opts, ctx, failures));
    const took = ((Date.now() - started.getTime()) / 1000).toFixed(0);
    const meta = [
      `- command: \`RUST_BACKTRACE=0 NO_COLOR=1 ${command}\` (\`npm run bench:clip-kinds\`)`,
      `- date: ${started.toISOString()} (took ${took} s); load average ${loadStart} at start, ${loadAvg()} at end ` +
      `(a shared 2-core machine: other jobs' load shows in both sides' times)`,
      `- machine: ${machine()}; Deno ${Deno.version.deno}, V8 ${Deno.version.v8}; convsv at ${gitDescribe()}`,
      ...peersMarkdown(ctx),
      `- timing: per case a warm-up (calls of ours repeated for ${WARM_MS} ms), then the median of ≥ ${opts.minReps} runs (~${opts.budgetS} s per column of ` +
      `ours, ~${opts.peerBudgetS} s per peer and BLAS thread count ${opts.threads.join(" and ")}); a warm-up ≥ ` +
      `${opts.slowS} s counts as a run, from ${VERY_SLOW * opts.slowS} s two runs in all are taken`,
      `- ${PEER_MARKS}`,
    ];
    for (const e of ctx.errors) meta.push(`- error: ${e}`);
    const lines = markdown(rows, opts, ctx, meta);
    if (failures.length) lines.push(`**FAILED checks:**`, "", ...failures.map((f) => `- ${f}`), "");
    const section = lines.join("\n").replace(/\n{3,}/g, "\n\n");
    console.log(section);
    if (opts.write) {
      writeSection(HEADING, section);
      progress("wrote the section into bench/RESULTS.md");
    }
  } finally {
    closeThreads();
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
  }
  for (const f of failures) console.error(`FAILED: ${f}`);
  return failures.length ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
