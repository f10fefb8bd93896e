/**
 * `convsv clip`: checks the options, reads the model (and with `--model-out`
 * its files' bytes), clips every conv kernel, writes `-o` (the kernels as
 * safetensors) and `--model-out` (the model in its own format), and prints
 * the outcome (clip_output.ts). Exits 1 when a layer was not clipped or not
 * written. The model it reads is never overwritten.
 * @module
 */
import { resolve } from "node:path";
import type { Model } from "../model.ts";
import { clipModel, type ClippedLayer } from "./clip.ts";
import { clipHtml } from "./clip_html.ts";
import { clipJson, type ClipRun, clipText } from "./clip_output.ts";
import { CliError } from "./layers.ts";
import { type CliIo, loadWithInput, oneLine, type Values } from "./load.ts";
import { progressReporter } from "./progress.ts";
import { encodeSafetensors } from "./safetensors.ts";
import { positiveInteger, positiveNumber } from "./usage.ts";
import { type SourceFiles, writeModel, type WriteOutcome } from "./write_model.ts";

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

/** Runs `clip` on `model`; resolves to the exit status. */
export async function clip(io: CliIo, model: string, v: Values): Promise<number> {
  const t0 = performance.now();
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
  const html = v.html as string | undefined;
  const { model: m, notes } = await loadWithInput(io, model, v);
  let source: SourceFiles | undefined;
  if (modelOut !== undefined) {
    const ext = MODEL_EXT[m.format];
    if (ext === undefined) {
      throw new CliError(
        `--model-out writes safetensors, npy, npz, ONNX and TF.js models, not ${m.format} ones (-o OUT.safetensors writes the clipped kernels): current value is ${modelOut}`,
        2,
      );
    }
    if (!modelOut.toLowerCase().endsWith(ext)) {
      throw new CliError(
        `--model-out writes the model in its own format (${m.format}), so it must end in ${ext}: current value is ${modelOut}`,
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
      spectra: html !== undefined,
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

  const summary: ClipRun = {
    model,
    format: m.format,
    maxNorm,
    iterations,
    tolerance,
    certify,
    foldBn,
    layers,
    outcomes,
    out,
    modelOut,
    modelPaths,
    notes,
    clipped,
    failed,
    notWritten,
    rounded,
    above,
    unfolded,
    html,
  };
  if (html !== undefined) {
    summary.totalMs = performance.now() - t0;
    try {
      await io.writeFile(html, clipHtml(summary));
    } catch (e) {
      throw new CliError(`Cannot write the HTML page to ${html}: ${oneLine(e)}`);
    }
  }
  summary.totalMs = performance.now() - t0;
  if (v.json) io.stdout(JSON.stringify(clipJson(summary)) + "\n");
  else io.stdout(clipText(summary));
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
