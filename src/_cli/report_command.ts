/**
 * `convsv report`: the per-layer norms as a table or JSON on stdout, an HTML
 * report beside (unless `--no-html`), progress and a note on long runs on
 * stderr. Exits 1 when a layer failed.
 * @module
 */
import type { Precision } from "../types.ts";
import { analyseModel, estimateSeconds } from "./analyse.ts";
import { htmlReport } from "./html.ts";
import { jsonReport } from "./json.ts";
import { encodeNpz } from "./npy_write.ts";
import { CliError, dims, type PlannedLayer } from "./layers.ts";
import { type CliIo, loadWithInput, oneLine, type Values } from "./load.ts";
import { progressReporter } from "./progress.ts";
import { textReport } from "./table.ts";
import { positiveInteger } from "./usage.ts";

/** `dir/name.ext` → `name.report.html`, in the current directory. */
export function defaultHtmlPath(model: string): string {
  const base = model.replace(/[\\/]+$/, "").split(/[\\/]/).pop() || "model";
  const stem = base.includes(".") ? base.slice(0, base.lastIndexOf(".")) : base;
  return `${stem || base}.report.html`;
}

/** A note on stderr when the layers are estimated to take 30 s or more. */
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

/**
 * The `--values` archive's member name of each layer: the layer's name, with
 * `#N` (its 1-based index) appended where an earlier layer has the same name.
 */
export function valueNames(names: readonly string[]): string[] {
  const seen = new Set<string>();
  return names.map((n, j) => {
    const name = seen.has(n) ? `${n}#${j + 1}` : n;
    seen.add(name);
    return name;
  });
}

/** Runs `report` on `model`; resolves to the exit status. */
export async function report(io: CliIo, model: string, v: Values): Promise<number> {
  const threads = positiveInteger("threads", v.threads as string | undefined);
  if (v.html !== undefined && v["no-html"]) throw new CliError("--html and --no-html exclude each other", 2);
  const valuesPath = v.values as string | undefined;
  if (valuesPath !== undefined && !valuesPath.toLowerCase().endsWith(".npz")) {
    throw new CliError(
      `--values writes one .npz (an array per layer, named after the layer), so it must end in .npz: current value is ${valuesPath}`,
      2,
    );
  }
  if (v["with-values"] && !v.json) {
    throw new CliError("--with-values adds the values to --json's output: give --json", 2);
  }
  const steps = v["power-iterations"] === "0"
    ? 0
    : positiveInteger("power-iterations", v["power-iterations"] as string | undefined) ?? 20;
  const { model: m, notes, attributes } = await loadWithInput(io, model, v);
  const progress = v.quiet ? undefined : progressReporter(io.stderr);
  const precision: Precision = v.f32 ? "f32" : "f64";
  const htmlPath = v["no-html"] ? undefined : (v.html as string | undefined) ?? defaultHtmlPath(model);
  let analysis;
  try {
    analysis = await analyseModel(m, {
      input: v.input as string | undefined,
      foldBn: Boolean(v["fold-bn"]),
      precision,
      threads,
      powerIterations: steps,
      keepValues: valuesPath !== undefined || Boolean(v["with-values"]),
      // The table alone needs each layer's norm or interval, not its spectrum.
      spectra: htmlPath !== undefined || Boolean(v.json) || valuesPath !== undefined,
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
  analysis.shapesFromAttributes = Object.entries(attributes ?? {})
    .filter(([, a]) => a.inputShape !== undefined)
    .map(([name]) => name);
  const members = valueNames(analysis.layers.map((l) => l.name));
  if (valuesPath !== undefined) {
    const arrays = analysis.layers.flatMap((l, j) =>
      l.spectrum ? [{ name: members[j], values: l.spectrum.values, shape: l.spectrum.shape }] : []
    );
    try {
      await io.writeFile(valuesPath, encodeNpz(arrays));
    } catch (e) {
      throw new CliError(`Cannot write the values to ${valuesPath}: ${oneLine(e)}`);
    }
  }
  if (htmlPath) {
    try {
      await io.writeFile(htmlPath, htmlReport(analysis, model));
    } catch (e) {
      throw new CliError(`Cannot write the HTML report to ${htmlPath}: ${oneLine(e)}`);
    }
  }
  if (v.json) {
    const values = { file: valuesPath, members, inline: Boolean(v["with-values"]) };
    io.stdout(JSON.stringify(jsonReport(analysis, model, htmlPath, values)) + "\n");
  } else {
    io.stdout(textReport(analysis, model, htmlPath));
    if (valuesPath !== undefined) {
      io.stdout(
        `Values: ${valuesPath} (one float64 array per layer, named after it: np.load(path)[name], shape [...grid, r])\n`,
      );
    }
  }
  const failed = analysis.layers.filter((l) => l.error);
  for (const l of failed) io.stderr.write(`convsv: error: layer ${JSON.stringify(l.name)}: ${oneLine(l.error)}\n`);
  return failed.length ? 1 : 0;
}
