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

/** Runs `report` on `model`; resolves to the exit status. */
export async function report(io: CliIo, model: string, v: Values): Promise<number> {
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
