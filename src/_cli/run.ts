/**
 * The CLI's commands, with their input and output passed in (so tests run
 * them in-process and `src/cli.ts` wires them to the process).
 * @module
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Model } from "../model.ts";
import type { Precision } from "../types.ts";
import { closeThreads } from "../_threads/pool.ts";
import { analyseModel, estimateSeconds } from "./analyse.ts";
import { clipModel, type ClippedLayer } from "./clip.ts";
import { htmlReport } from "./html.ts";
import { jsonReport } from "./json.ts";
import { CliError, dims, layerGeometry, parseInput, type PlannedLayer } from "./layers.ts";
import { progressReporter, type ProgressSink } from "./progress.ts";
import { encodeSafetensors } from "./safetensors.ts";
import { msText, num, paddingText, textReport } from "./table.ts";
import { type SourceFiles, writeModel, type WriteOutcome } from "./write_model.ts";

/** Where the CLI reads and writes. */
export interface CliIo {
  stdout(text: string): void;
  stderr: ProgressSink;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  readTextFile(path: string): Promise<string>;
  /** Reads a file's bytes (clip --model-out reads the model's files to write them back). */
  readFile?: ((path: string) => Promise<Uint8Array>) | undefined;
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
  convsv clip MODEL --max-norm C [-o OUT.safetensors] [--model-out PATH] [--fold-bn]
                    [--iterations N] [--tolerance T] [--certify | --no-certify] [--json]
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
clip     Project every conv kernel (any stride, dilation, groups, transposed, 1-D/3-D;
         zero padding on a circular grid that holds it, so its norms are upper bounds)
         toward operator norm <= C (the paper's Appendix A, --iterations rounds,
         default 1) and print each layer's norm before and after.
  -o F.safetensors  the kernels, named by layer (layout in the metadata)
  --model-out PATH  the model in its own format, only the kernels changed: .safetensors,
                    .npy, .npz (members stored), .onnx (raw/packed weights in place),
                    TF.js model.json (shards beside it, same paths and sizes)
  --fold-bn       clip conv∘BatchNorm (or scale); the conv kernel is written
  --iterations N  rounds of clip + cut back to the taps (default 1)
  --tolerance T   stop once the norm is <= C(1+T); turns certify on
  --certify       scale each kernel by min(1, C/normAfter): normAfter <= C guaranteed
  --no-certify    leave the rounds' result as it is (the default without --tolerance)
  --json          print one JSON object instead of the table

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
  "model-out": { type: "string" },
  certify: { type: "boolean" },
  "no-certify": { type: "boolean" },
  iterations: { type: "string" },
  tolerance: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const ALLOWED: Record<string, string[]> = {
  report: [
    "input",
    "attributes",
    "power-iterations",
    "fold-bn",
    "json",
    "html",
    "no-html",
    "threads",
    "f32",
    "quiet",
    "help",
  ],
  clip: [
    "max-norm",
    "output",
    "model-out",
    "iterations",
    "tolerance",
    "certify",
    "no-certify",
    "fold-bn",
    "json",
    "input",
    "attributes",
    "threads",
    "quiet",
    "help",
  ],
};

function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new CliError(`--${flag} must be a positive integer: current value is ${text}`, 2);
  }
  return n;
}

function positiveNumber(flag: string, text: string | undefined, allowZero = false): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw new CliError(
      `--${flag} must be a ${allowZero ? "non-negative" : "positive"} number: current value is ${text}`,
      2,
    );
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
  return `this may take ${
    minutes < 1.5 ? "about a minute" : `about ${Math.round(minutes)} minutes`
  }; the largest layer is ${JSON.stringify(big.layer.name)} (${big.cIn} -> ${big.cOut} channels on ${
    dims(big.inputShape)
  }). A smaller --input, or input shapes per layer (--attributes), make it faster.`;
}

async function report(io: CliIo, model: string, v: Record<string, string | boolean | undefined>): Promise<number> {
  const threads = positiveInteger("threads", v.threads as string | undefined);
  if (v.html !== undefined && v["no-html"]) throw new CliError("--html and --no-html exclude each other", 2);
  const steps = v["power-iterations"] === "0"
    ? 0
    : positiveInteger("power-iterations", v["power-iterations"] as string | undefined) ?? 20;
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

const MODEL_EXT: Record<string, string> = {
  safetensors: ".safetensors",
  npy: ".npy",
  npz: ".npz",
  onnx: ".onnx",
  tfjs: ".json",
};

/** The folder part of a path, with its separator ("" for a bare name). */
function folderOf(path: string): string {
  return path.replace(/[^\\/]*$/, "");
}

/** The model's files as the writer takes them: the file, and for TF.js the shards its manifest names. */
async function sourceFiles(io: CliIo, path: string, m: Model): Promise<SourceFiles> {
  if (!io.readFile) {
    throw new CliError("--model-out needs to read the model file's bytes, which this host does not offer");
  }
  const read = async (p: string) => {
    try {
      return await io.readFile!(p);
    } catch (e) {
      throw new CliError(`Cannot read ${p}: ${oneLine(e)}`);
    }
  };
  const bytes = await read(path);
  const files: SourceFiles = {
    format: m.format,
    bytes,
    name: path,
    npyName: m.format === "npy" ? m.layers[0]?.name : undefined,
  };
  if (m.format === "tfjs") {
    const json = JSON.parse(new TextDecoder().decode(bytes));
    const groups = Array.isArray(json) ? json : json?.weightsManifest;
    files.shards = [];
    for (const g of Array.isArray(groups) ? groups : []) {
      for (const p of Array.isArray(g?.paths) ? g.paths.map(String) : []) {
        if (/^([a-z][a-z0-9+.-]*:|[\\/])|(^|[\\/])\.\.([\\/]|$)/i.test(p)) {
          throw new CliError(
            `Cannot write the TF.js model back as shard path ${
              JSON.stringify(p)
            } is absolute, a URL or leaves the folder`,
          );
        }
        files.shards.push({ path: p.replace(/^\.\//, ""), bytes: await read(folderOf(path) + p.replace(/^\.\//, "")) });
      }
    }
  }
  return files;
}

/** The kernel cell of the clip table: shape, layout, and T / gN marks. */
function kindText(l: ClippedLayer): string {
  const extra = [l.transposed ? "T" : "", l.groups > 1 ? `g${l.groups}` : ""].filter(Boolean).join(",");
  const d = l.dilation.some((x) => x !== 1) ? ` d${dims(l.dilation)}` : "";
  return `${dims(l.kernelShape)} ${l.layout}${extra ? ` ${extra}` : ""}${d}`;
}

async function clip(io: CliIo, model: string, v: Record<string, string | boolean | undefined>): Promise<number> {
  const maxNorm = positiveNumber("max-norm", v["max-norm"] as string | undefined);
  if (maxNorm === undefined) throw new CliError("clip needs --max-norm C (a positive number)", 2);
  const out = v.output as string | undefined;
  const modelOut = v["model-out"] as string | undefined;
  if (!out && !modelOut) throw new CliError("clip needs -o OUT.safetensors, --model-out PATH, or both", 2);
  if (out !== undefined && !out.endsWith(".safetensors")) {
    throw new CliError(
      `clip writes the clipped kernels as safetensors, so -o must end in .safetensors (the model in its own format goes to --model-out): current value is ${out}`,
      2,
    );
  }
  if (v.certify && v["no-certify"]) throw new CliError("--certify and --no-certify exclude each other", 2);
  const iterations = positiveInteger("iterations", v.iterations as string | undefined) ?? 1;
  const tolerance = positiveNumber("tolerance", v.tolerance as string | undefined, true);
  const threads = positiveInteger("threads", v.threads as string | undefined);
  const certify = v.certify ? true : v["no-certify"] ? false : undefined;
  const foldBn = Boolean(v["fold-bn"]);
  const { model: m, notes } = await loadWithInput(io, model, v);
  let source: SourceFiles | undefined;
  if (modelOut !== undefined) {
    const ext = MODEL_EXT[m.format];
    if (ext === undefined || !modelOut.toLowerCase().endsWith(ext)) {
      throw new CliError(
        `--model-out writes the model in its own format (${m.format}), so it must end in ${
          ext ?? "the format's extension"
        }: current value is ${modelOut}`,
        2,
      );
    }
    const same = m.format === "tfjs"
      ? resolve(folderOf(modelOut) || ".") === resolve(folderOf(model) || ".")
      : resolve(modelOut) === resolve(model);
    if (same) {
      throw new CliError(
        `--model-out must not overwrite the model it reads (${
          m.format === "tfjs"
            ? "a TF.js model's shards lie beside its model.json: choose another folder"
            : "choose another path"
        }): current value is ${modelOut}`,
        2,
      );
    }
    source = await sourceFiles(io, model, m);
  }
  const progress = v.quiet || v.json ? undefined : progressReporter(io.stderr);
  let layers: ClippedLayer[];
  try {
    layers = await clipModel(m, {
      maxNorm,
      iterations,
      tolerance,
      certify,
      foldBn,
      input: v.input as string | undefined,
      threads,
      onProgress: progress?.onProgress,
    });
  } finally {
    progress?.end();
  }
  const clipped = layers.filter((l) => !l.error);
  const failed = layers.filter((l) => l.error);

  const written: string[] = [];
  if (out !== undefined) {
    const metadata: Record<string, string> = {
      producer: "convsv clip",
      source: model,
      sourceFormat: m.format,
      maxNorm: String(maxNorm),
      iterations: String(iterations),
      foldBn: String(foldBn),
    };
    for (const l of layers) {
      metadata[`layout.${l.name}`] = l.layout;
      if (l.normAfter !== undefined) metadata[`normAfter.${l.name}`] = String(l.normAfter);
      if (l.error) metadata[`notClipped.${l.name}`] = oneLine(l.error);
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
    written.push(out);
  }
  let outcomes = new Map<string, WriteOutcome>();
  const modelPaths: string[] = [];
  if (modelOut !== undefined && source !== undefined) {
    let result;
    try {
      result = await writeModel(source, clipped.map((l) => ({ name: l.name, original: l.original, kernel: l.kernel })));
    } catch (e) {
      throw new CliError(`Cannot write the model back as ${m.format}: ${oneLine(e)}`);
    }
    outcomes = result.outcomes;
    for (const f of result.files) {
      const path = f.path === "" ? modelOut : folderOf(modelOut) + f.path;
      try {
        await io.writeFile(path, f.bytes);
      } catch (e) {
        throw new CliError(`Cannot write ${path}: ${oneLine(e)}`);
      }
      modelPaths.push(path);
    }
  }
  const notWritten = modelOut === undefined ? [] : clipped.filter((l) => !outcomes.get(l.name)?.written);
  const rounded = clipped.filter((l) => {
    const o = outcomes.get(l.name);
    return o?.written && !o.exact;
  });
  const limit = maxNorm * (1 + (tolerance ?? 0)) * (1 + 1e-12);
  const above = clipped.filter((l) => l.normAfter! > limit);
  const unfolded = layers.filter((l) => l.scale && !l.scale.folded);

  if (v.json) {
    const finite = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? null : x);
    const json = {
      command: "clip",
      model,
      format: m.format,
      maxNorm,
      iterations,
      tolerance: tolerance ?? null,
      certify: certify ?? null,
      foldBn,
      layers: layers.map((l) => {
        const o = outcomes.get(l.name);
        const entry: Record<string, unknown> = {
          name: l.name,
          kernelShape: l.kernelShape,
          layout: l.layout,
          transposed: l.transposed,
          stride: l.stride,
          dilation: l.dilation,
          groups: l.groups,
          padding: l.padding,
          inputShape: l.inputShape,
        };
        if (l.error) {
          entry.clipped = false;
          entry.error = oneLine(l.error);
        } else {
          Object.assign(entry, {
            clipped: true,
            grid: l.grid,
            exact: l.exact,
            normBefore: finite(l.normBefore),
            normAfter: finite(l.normAfter),
            iterations: l.iterations,
            certified: l.certified,
            certifyScale: l.certifyScale,
            toleranceMet: l.toleranceMet ?? null,
          });
          if (l.note) entry.note = l.note;
        }
        if (l.scale) entry.scale = l.scale;
        if (modelOut !== undefined) {
          entry.modelWrite = l.error
            ? { written: false, reason: "not clipped: written as read" }
            : o === undefined
            ? null
            : o.written
            ? { written: true, encoding: o.encoding, exact: o.exact, maxRoundingError: o.maxRoundingError }
            : { written: false, reason: o.reason };
        }
        entry.timeMs = Math.round(l.timeMs * 10) / 10;
        return entry;
      }),
      outputs: { safetensors: out ?? null, model: modelOut === undefined ? null : modelPaths },
      complete: failed.length === 0 && notWritten.length === 0,
      warnings: notes,
    };
    io.stdout(JSON.stringify(json) + "\n");
  } else {
    const head = [
      "#",
      "layer",
      "kernel",
      "stride",
      "padding",
      "grid",
      "norm before",
      "norm after",
      "rounds",
      "certified",
      "time",
    ];
    const bound = (l: ClippedLayer, x: number | undefined) =>
      x === undefined ? "-" : `${l.exact ? "" : "<= "}${num(x)}`;
    const rows = layers.map((l, j) => [
      String(j + 1),
      l.name,
      kindText(l),
      dims(l.stride),
      paddingText(l.padding),
      l.grid ? dims(l.grid) : "-",
      l.error ? "-" : bound(l, l.normBefore),
      l.error ? "not clipped" : bound(l, l.normAfter),
      l.iterations === undefined ? "-" : String(l.iterations),
      l.error ? "-" : l.certified ? "yes" : "no",
      msText(l.timeMs),
    ]);
    const width = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
    const fmt = (r: string[]) =>
      r.map((c, j) => (j === 0 ? c.padStart(width[j]) : c.padEnd(width[j]))).join("  ").trimEnd();
    const certText = certify === undefined
      ? (tolerance !== undefined ? "certify on" : "certify off")
      : certify
      ? "certify on"
      : "certify off";
    const lines = [
      `convsv clip: ${model} (${m.format}, ${layers.length} conv layers), max norm ${maxNorm}, ${iterations} round(s) at most, ${certText}${
        foldBn ? ", BatchNorm/scale folded in (norms of conv∘BN; the conv kernel is written)" : ""
      }`,
      "",
      fmt(head),
      ...rows.map(fmt),
      "",
    ];
    for (const n of notes) lines.push(`note: ${n}`);
    if (clipped.some((l) => !l.exact)) {
      lines.push(
        "<=: zero padding: the norms are certified upper bounds of the padded layer's norm: the exact norms of the circular layer on the grid shown, which holds the padded layer.",
      );
    }
    for (const l of clipped) if (l.note) lines.push(`${l.name}: ${l.note}`);
    for (const l of failed) lines.push(`${l.name}: NOT CLIPPED, written as read: ${oneLine(l.error)}`);
    if (unfolded.length) {
      lines.push(
        `${unfolded.length} layer(s) have a BatchNorm/scale after them that these norms leave out: --fold-bn clips conv∘BN instead.`,
      );
    }
    if (above.length) {
      lines.push(
        `${above.length} layer(s) are still above ${maxNorm} (${
          above.map((l) => l.name).join(", ")
        }): raise --iterations, or certify (--certify) to scale them into the ball.`,
      );
    }
    if (out !== undefined) {
      lines.push(
        `Wrote ${out}: ${layers.length} kernels (${clipped.filter((l) => l.iterations! > 0).length} clipped, ${
          clipped.filter((l) => l.iterations === 0).length
        } already within ${maxNorm}, ${failed.length} not clipped) in safetensors, named by layer, as stored in the model (layout per tensor in the metadata); biases and BatchNorm are not in it.`,
      );
    }
    if (modelOut !== undefined) {
      lines.push(
        `Wrote the model as ${m.format}: ${modelPaths.join(", ")}: ${
          clipped.length - notWritten.length
        } of ${layers.length} kernels replaced${
          rounded.length
            ? ` (${rounded.length} rounded to the file's encoding: ${
              rounded.map((l) => `${l.name} ${(outcomes.get(l.name) as { encoding: string }).encoding}`).join(", ")
            }; the norms above are of the unrounded kernels)`
            : ""
        }, everything else as read.`,
      );
      for (const l of notWritten) {
        const o = outcomes.get(l.name);
        lines.push(`${l.name}: NOT WRITTEN to the model: ${o && !o.written ? o.reason : "no outcome"}`);
      }
    }
    io.stdout(lines.join("\n") + "\n");
  }
  for (const l of failed) {
    io.stderr.write(`convsv: error: layer ${JSON.stringify(l.name)} not clipped: ${oneLine(l.error)}\n`);
  }
  for (const l of notWritten) {
    const o = outcomes.get(l.name);
    io.stderr.write(
      `convsv: error: layer ${JSON.stringify(l.name)} not written to ${modelOut}: ${
        o && !o.written ? o.reason : "no outcome"
      }\n`,
    );
  }
  return failed.length || notWritten.length ? 1 : 0;
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
    if (!ALLOWED[command]) {
      throw new CliError(`Unknown command ${JSON.stringify(command)}: expected report, clip or help`, 2);
    }
    if (values.help) {
      io.stdout(USAGE + "\n");
      return 0;
    }
    for (const key of Object.keys(values)) {
      if (!ALLOWED[command].includes(key)) {
        throw new CliError(`--${key} is not an option of ${command} (see: convsv help)`, 2);
      }
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
