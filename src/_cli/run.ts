/**
 * The CLI's commands, with their input and output passed in (so tests run
 * them in-process and `src/cli.ts` wires them to the process).
 * @module
 */
import { parseArgs } from "node:util";
import type { Model } from "../model.ts";
import type { Precision } from "../types.ts";
import { closeThreads } from "../_threads/pool.ts";
import { analyseModel, estimateSeconds } from "./analyse.ts";
import { clipModel } from "./clip.ts";
import { htmlReport } from "./html.ts";
import { jsonReport } from "./json.ts";
import { CliError, dims, layerGeometry, parseInput, type PlannedLayer } from "./layers.ts";
import { type ProgressSink, progressReporter } from "./progress.ts";
import { encodeSafetensors } from "./safetensors.ts";
import { msText, num, textReport } from "./table.ts";

/** Where the CLI reads and writes. */
export interface CliIo {
  stdout(text: string): void;
  stderr: ProgressSink;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  readTextFile(path: string): Promise<string>;
  /** Reads a model; `options` go to the readers (`inputShape` of a graph's input, per-layer `layers` attributes). */
  loadModel(path: string, options?: LoadOptions): Promise<Model>;
}

/** What the CLI passes to the readers. */
export interface LoadOptions {
  inputShape?: number[] | undefined;
  layers?: Record<string, Record<string, unknown>> | undefined;
}

/** `convsv help`. */
export const USAGE = `convsv: exact singular values of the conv layers of a model file
(Sedghi, Gupta & Long, The Singular Values of Convolutional Layers, ICLR 2019)

Usage:
  convsv report MODEL [--input 1x3x224x224] [--attributes FILE.json] [--fold-bn]
                      [--json] [--html OUT.html | --no-html] [--threads N] [--f32]
                      [--power-iterations N] [--quiet]
  convsv clip MODEL --max-norm C -o OUT.safetensors [--iterations N] [--tolerance T]
                    [--input 1x3x224x224] [--attributes FILE.json] [--threads N] [--quiet]
  convsv help

MODEL: .safetensors, .npy, .npz, .onnx, or a TensorFlow.js model.json or
weights manifest (weight shards beside it).

report   Per-layer table: kernel, input, stride, padding, the exact operator norm
         (circular padding) or a certified interval [lower, upper] (zero padding),
         time; the product of the norms as a Lipschitz bound of the conv part; an
         HTML report with plots (default ./MODEL.report.html).
  --input SHAPE   network input, e.g. 1x3x224x224 (NCHW), 1x224x224x3 (NHWC) or
                  224x224; layers whose input shape the file does not give get
                  it from the graph (ONNX, TF.js) or propagated through the earlier
                  conv layers
  --attributes F  JSON object: layer name -> { stride, padding, dilation, groups,
                  transposed, inputShape, layout }, for files that store weights
                  only (safetensors, npy, npz, TF.js weights manifests)
  --fold-bn       fold each BatchNorm / scale into the preceding conv's kernel
  --json          print one JSON object instead of the table
  --html PATH     where to write the HTML report; --no-html: none
  --threads N     worker threads (default: all cores)
  --f32           f32 bidiagonalisation (about twice as fast, ~1e-6 relative)
  --power-iterations N  steps behind each certified lower bound (default 20)
  --quiet         no progress on stderr
clip     Project each 2-D stride-1 kernel toward operator norm <= C (the paper's
         Appendix A, --iterations rounds, default 1) and write the kernels as
         safetensors (layout in the metadata).

Exit status: 0 on success, 1 on errors (also when a layer failed), 2 on usage errors.`;

const OPTIONS = {
  input: { type: "string" },
  attributes: { type: "string" },
  "power-iterations": { type: "string" },
  "fold-bn": { type: "boolean" },
  json: { type: "boolean" },
  html: { type: "string" },
  "no-html": { type: "boolean" },
  threads: { type: "string" },
  f32: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  "max-norm": { type: "string" },
  output: { type: "string", short: "o" },
  iterations: { type: "string" },
  tolerance: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const ALLOWED: Record<string, string[]> = {
  report: ["input", "attributes", "power-iterations", "fold-bn", "json", "html", "no-html", "threads", "f32", "quiet", "help"],
  clip: ["max-norm", "output", "iterations", "tolerance", "input", "attributes", "threads", "quiet", "help"],
};

function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`--${flag} must be a positive integer: current value is ${text}`, 2);
  return n;
}

function positiveNumber(flag: string, text: string | undefined, allowZero = false): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw new CliError(`--${flag} must be a ${allowZero ? "non-negative" : "positive"} number: current value is ${text}`, 2);
  }
  return n;
}

/** `dir/name.ext` → `name.report.html`, in the current directory. */
export function defaultHtmlPath(model: string): string {
  const base = model.replace(/[\\/]+$/, "").split(/[\\/]/).pop() || "model";
  const stem = base.includes(".") ? base.slice(0, base.lastIndexOf(".")) : base;
  return `${stem || base}.report.html`;
}

function oneLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/\s*\n\s*/g, " ").trim();
}

async function load(io: CliIo, path: string, options: LoadOptions): Promise<Model> {
  try {
    return await io.loadModel(path, options);
  } catch (e) {
    const m = oneLine(e);
    throw new CliError(m.includes(path) ? m : `Cannot read ${path}: ${m}`);
  }
}

async function attributes(io: CliIo, path: string | undefined): Promise<LoadOptions["layers"]> {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = await io.readTextFile(path);
  } catch (e) {
    throw new CliError(`Cannot read --attributes ${path}: ${oneLine(e)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CliError(`Cannot read --attributes ${path}: not JSON (${oneLine(e)})`);
  }
  const isObject = (x: unknown) => typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObject(value) || !Object.values(value as object).every(isObject)) {
    throw new CliError(
      `Cannot read --attributes ${path}: expected a JSON object mapping layer names to { stride, padding, inputShape, ... }`,
    );
  }
  return value as LoadOptions["layers"];
}

/**
 * Reads the model. With `--input` and layers whose input shape the file
 * leaves open, reads it again with the input's spatial size, which the
 * ONNX and TF.js readers propagate through the graph (pooling included).
 */
async function loadWithInput(io: CliIo, path: string, v: Record<string, string | boolean | undefined>) {
  let layers = await attributes(io, v.attributes as string | undefined);
  const input = v.input as string | undefined;
  let model = await load(io, path, {});
  const notes: string[] = [];
  if (model.layers.length === 0) throw new CliError(`${path} has no conv layers`);
  if (layers) {
    // Names the model lacks are reported and left out (a typo, or a file cut short).
    const names = new Set(model.layers.map((l) => l.name));
    const unknown = Object.keys(layers).filter((k) => !names.has(k));
    if (unknown.length) {
      notes.push(
        `--attributes names ${unknown.length} layer(s) the model does not have, ignored: ${
          unknown.slice(0, 6).map((k) => JSON.stringify(k)).join(", ")
        }${unknown.length > 6 ? ", ..." : ""}`,
      );
      layers = Object.fromEntries(Object.entries(layers).filter(([k]) => names.has(k)));
    }
    model = await load(io, path, { layers });
  }
  const open = model.layers.some((l) => !l.inputShape || l.inputShape.length === 0);
  if (input !== undefined && !open) {
    notes.push(`the file gives every layer's input shape, so --input ${input} is not used`);
  } else if (input !== undefined && (model.format === "onnx" || model.format === "tfjs")) {
    const first = model.layers[0];
    const g = layerGeometry(first);
    const spatial = parseInput(input, g.rank, g.cIn, !first.layout.startsWith("oi")).spatial;
    model = await load(io, path, { layers, inputShape: spatial });
  }
  const defaults = model.layers.every((l) =>
    l.padding === "circular" && (l.stride ?? []).every((s) => s === 1) && !l.inputShape
  );
  if (defaults && !layers) {
    notes.push(
      `${path} stores weights only (${model.format}): strides, padding and input shapes are unknown, so every layer is taken as stride 1 with circular padding on the propagated input; give them with --attributes FILE.json`,
    );
  }
  return { model, notes };
}

export function estimateNote(planned: PlannedLayer[], threads: number | undefined, steps: number): string | undefined {
  const times = planned.map((p) => ({ p, t: estimateSeconds(p, steps) }));
  const total = times.reduce((a, x) => a + x.t, 0) / Math.max(1, Math.min(threads ?? 2, 2) * 0.75);
  if (total < 30) return undefined;
  const big = times.sort((a, b) => b.t - a.t)[0].p;
  const minutes = total / 60;
  return `this may take ${minutes < 1.5 ? "about a minute" : `about ${Math.round(minutes)} minutes`}; the largest layer is ${
    JSON.stringify(big.layer.name)
  } (${big.cIn} -> ${big.cOut} channels on ${dims(big.inputShape)}). A smaller --input, or input shapes per layer (--attributes), make it faster.`;
}

async function report(io: CliIo, model: string, v: Record<string, string | boolean | undefined>): Promise<number> {
  const threads = positiveInteger("threads", v.threads as string | undefined);
  if (v.html !== undefined && v["no-html"]) throw new CliError("--html and --no-html exclude each other", 2);
  const steps = v["power-iterations"] === "0" ? 0 : positiveInteger("power-iterations", v["power-iterations"] as string | undefined) ?? 20;
  const { model: m, notes } = await loadWithInput(io, model, v);
  const progress = v.quiet ? undefined : progressReporter(io.stderr);
  const precision: Precision = v.f32 ? "f32" : "f64";
  let analysis;
  try {
    analysis = await analyseModel(m, {
      input: v.input as string | undefined,
      foldBn: Boolean(v["fold-bn"]),
      precision,
      threads,
      powerIterations: steps,
      onProgress: progress?.onProgress,
      onPlanned: (planned) => {
        const note = v.quiet ? undefined : estimateNote(planned, threads, steps);
        if (note) io.stderr.write(`convsv: note: ${note}\n`);
      },
    });
  } finally {
    progress?.end();
  }
  analysis.warnings.unshift(...notes);
  const htmlPath = v["no-html"] ? undefined : (v.html as string | undefined) ?? defaultHtmlPath(model);
  if (htmlPath) {
    try {
      await io.writeFile(htmlPath, htmlReport(analysis, model));
    } catch (e) {
      throw new CliError(`Cannot write the HTML report to ${htmlPath}: ${oneLine(e)}`);
    }
  }
  if (v.json) io.stdout(JSON.stringify(jsonReport(analysis, model, htmlPath)) + "\n");
  else io.stdout(textReport(analysis, model, htmlPath));
  const failed = analysis.layers.filter((l) => l.error);
  for (const l of failed) io.stderr.write(`convsv: error: layer ${JSON.stringify(l.name)}: ${oneLine(l.error)}\n`);
  return failed.length ? 1 : 0;
}

async function clip(io: CliIo, model: string, v: Record<string, string | boolean | undefined>): Promise<number> {
  const maxNorm = positiveNumber("max-norm", v["max-norm"] as string | undefined);
  if (maxNorm === undefined) throw new CliError("clip needs --max-norm C (a positive number)", 2);
  const out = v.output as string | undefined;
  if (!out) throw new CliError("clip needs -o OUT.safetensors", 2);
  if (!out.endsWith(".safetensors")) {
    throw new CliError(
      `clip writes the clipped kernels as safetensors, so -o must end in .safetensors: current value is ${out}`,
      2,
    );
  }
  const iterations = positiveInteger("iterations", v.iterations as string | undefined) ?? 1;
  const tolerance = positiveNumber("tolerance", v.tolerance as string | undefined, true);
  const threads = positiveInteger("threads", v.threads as string | undefined);
  const { model: m, notes } = await loadWithInput(io, model, v);
  const progress = v.quiet ? undefined : progressReporter(io.stderr);
  let layers;
  try {
    layers = await clipModel(m, {
      maxNorm,
      iterations,
      tolerance,
      input: v.input as string | undefined,
      threads,
      onProgress: progress?.onProgress,
    });
  } finally {
    progress?.end();
  }
  const metadata: Record<string, string> = {
    producer: "convsv clip",
    source: model,
    sourceFormat: m.format,
    maxNorm: String(maxNorm),
    iterations: String(iterations),
  };
  for (const l of layers) {
    metadata[`layout.${l.name}`] = l.layout;
    if (l.normAfter !== undefined) metadata[`normAfter.${l.name}`] = String(l.normAfter);
  }
  const bytes = encodeSafetensors(
    layers.map((l) => ({ name: l.name, data: l.kernel.data, shape: l.kernel.shape })),
    metadata,
  );
  try {
    await io.writeFile(out, bytes);
  } catch (e) {
    throw new CliError(`Cannot write ${out}: ${oneLine(e)}`);
  }
  const head = ["#", "layer", "kernel", "grid", "norm before", "norm after", "rounds", "time"];
  const rows = layers.map((l, j) => [
    String(j + 1),
    l.name,
    `${dims(l.kernelShape)} ${l.layout}`,
    l.grid ? dims(l.grid) : "-",
    l.normBefore === undefined ? "-" : num(l.normBefore),
    l.normAfter === undefined ? "skipped" : num(l.normAfter),
    l.iterations === undefined ? "-" : String(l.iterations),
    msText(l.timeMs),
  ]);
  const width = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const fmt = (r: string[]) => r.map((c, j) => (j === 0 ? c.padStart(width[j]) : c.padEnd(width[j]))).join("  ").trimEnd();
  const clipped = layers.filter((l) => l.normAfter !== undefined);
  const above = clipped.filter((l) => l.normAfter! > maxNorm * (1 + (tolerance ?? 0)) * (1 + 1e-9));
  const lines = [
    `convsv clip: ${model} (${m.format}, ${layers.length} conv layers), max norm ${maxNorm}, ${iterations} round(s) at most`,
    "",
    fmt(head),
    ...rows.map(fmt),
    "",
  ];
  for (const n of notes) lines.push(`note: ${n}`);
  for (const l of layers) if (l.skipped) lines.push(`${l.name}: unchanged: ${oneLine(l.skipped)}`);
  lines.push(
    "Norms are of the circular layer on the grid shown: for zero padding that grid holds the padded layer,",
    "so its norm after clipping bounds the zero-padded layer's norm from above.",
  );
  if (above.length) {
    lines.push(
      `${above.length} layer(s) are still above ${maxNorm} (one round of clip + cut back to the taps does not reach the ball): raise --iterations.`,
    );
  }
  lines.push(
    `Wrote ${out}: ${layers.length} kernels (${clipped.filter((l) => l.iterations! > 0).length} clipped, ${
      clipped.filter((l) => l.iterations === 0).length
    } already within ${maxNorm}, ${layers.length - clipped.length} not clippable) in safetensors,`,
    "named by layer, as stored in the model (layout per tensor in the metadata); biases and BatchNorm are not in it.",
  );
  io.stdout(lines.join("\n") + "\n");
  return 0;
}

/** Runs the CLI on `args` (without the program name); resolves to the exit status. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
    } catch (e) {
      throw new CliError(`${oneLine(e).split(". ")[0]} (see: convsv help)`, 2);
    }
    const { values, positionals } = parsed;
    const [command, model, ...extra] = positionals;
    if (command === undefined || command === "help" || (values.help && !ALLOWED[command])) {
      io.stdout(USAGE + "\n");
      return command === undefined && !values.help ? 2 : 0;
    }
    if (!ALLOWED[command]) throw new CliError(`Unknown command ${JSON.stringify(command)}: expected report, clip or help`, 2);
    if (values.help) {
      io.stdout(USAGE + "\n");
      return 0;
    }
    for (const key of Object.keys(values)) {
      if (!ALLOWED[command].includes(key)) throw new CliError(`--${key} is not an option of ${command} (see: convsv help)`, 2);
    }
    if (model === undefined) throw new CliError(`${command} needs a MODEL file (see: convsv help)`, 2);
    if (extra.length) throw new CliError(`Unexpected argument ${JSON.stringify(extra[0])} (see: convsv help)`, 2);
    const v = values as Record<string, string | boolean | undefined>;
    return command === "report" ? await report(io, model, v) : await clip(io, model, v);
  } catch (e) {
    io.stderr.write(`convsv: error: ${oneLine(e)}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  } finally {
    closeThreads();
  }
}

