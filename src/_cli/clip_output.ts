/**
 * What `convsv clip` prints: one JSON object (`--json`), or a table of the
 * layers with notes below it (why a layer was not clipped or not written,
 * layers still above the bound, the files written).
 * @module
 */
import type { ClippedLayer } from "./clip.ts";
import { finite, kindJson } from "./json.ts";
import { dims } from "./layers.ts";
import { oneLine } from "./load.ts";
import { msText, num, paddingText } from "./table.ts";
import type { WriteOutcome } from "./write_model.ts";

/** A finished clip run, as the output describes it. */
export interface ClipRun {
  model: string;
  format: string;
  maxNorm: number;
  iterations: number;
  tolerance: number | undefined;
  certify: boolean | undefined;
  foldBn: boolean;
  layers: ClippedLayer[];
  /** Per layer name, what writing it into the model did (empty without `--model-out`). */
  outcomes: Map<string, WriteOutcome>;
  out: string | undefined;
  modelOut: string | undefined;
  modelPaths: string[];
  notes: string[];
  /** The layers clipped, and those that could not be. */
  clipped: ClippedLayer[];
  failed: ClippedLayer[];
  /** Clipped layers `--model-out` could not write. */
  notWritten: ClippedLayer[];
  /** Layers written rounded to the file's encoding. */
  rounded: ClippedLayer[];
  /** Clipped layers still above the bound. */
  above: ClippedLayer[];
  /** Layers with a BatchNorm/scale after them left out of the norms. */
  unfolded: ClippedLayer[];
  /** `--html`: where the before/after page went. */
  html?: string | undefined;
  /** Wall time of the whole run, in ms. */
  totalMs?: number | undefined;
}

/** The run's totals: counts of layers, the largest norms and the products of the norms, before and after. */
export function clipTotals(r: ClipRun): Record<string, unknown> {
  const { clipped } = r;
  const before = clipped.map((l) => l.normBefore!);
  const after = clipped.map((l) => l.normAfter!);
  const product = (xs: number[]) => xs.reduce((a, x) => a * x, 1);
  return {
    layers: r.layers.length,
    clipped: clipped.length,
    changed: clipped.filter((l) => (l.iterations ?? 0) > 0).length,
    failed: r.failed.length,
    certified: clipped.filter((l) => l.certified).length,
    aboveMaxNorm: r.above.length,
    exact: clipped.every((l) => l.exact),
    maxNormBefore: clipped.length ? finite(Math.max(...before)) : null,
    maxNormAfter: clipped.length ? finite(Math.max(...after)) : null,
    productBefore: clipped.length ? finite(product(before)) : null,
    productAfter: clipped.length ? finite(product(after)) : null,
    timeMs: r.totalMs === undefined ? null : Math.round(r.totalMs),
  };
}

/** The kernel cell of the clip table: shape, layout, and T / gN marks. */
export function kindText(l: ClippedLayer): string {
  const extra = [l.transposed ? "T" : "", l.groups > 1 ? `g${l.groups}` : ""].filter(Boolean).join(",");
  const d = l.dilation.some((x) => x !== 1) ? ` d${dims(l.dilation)}` : "";
  return `${dims(l.kernelShape)} ${l.layout}${extra ? ` ${extra}` : ""}${d}`;
}

/** The JSON value printed by `clip --json`: plain data, every number finite or null. */
export function clipJson(r: ClipRun): Record<string, unknown> {
  const { model, maxNorm, iterations, tolerance, certify, foldBn, layers, outcomes, out, modelOut } = r;
  const { modelPaths, notes, failed, notWritten } = r;
  return {
    command: "clip",
    model,
    format: r.format,
    maxNorm,
    iterations,
    tolerance: tolerance ?? null,
    certify: certify ?? null,
    foldBn,
    layers: layers.map((l) => {
      const o = outcomes.get(l.name);
      const entry = kindJson(l);
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
    totals: clipTotals(r),
    outputs: { safetensors: out ?? null, model: modelOut === undefined ? null : modelPaths, html: r.html ?? null },
    complete: failed.length === 0 && notWritten.length === 0,
    warnings: notes,
  };
}

/** The table and notes printed by `clip`. */
export function clipText(r: ClipRun): string {
  const { model, maxNorm, iterations, tolerance, certify, foldBn, layers, outcomes, out, modelOut } = r;
  const { modelPaths, notes, clipped, failed, notWritten, rounded, above, unfolded } = r;
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
  const bound = (l: ClippedLayer, x: number | undefined) => x === undefined ? "-" : `${l.exact ? "" : "<= "}${num(x)}`;
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
    `convsv clip: ${model} (${r.format}, ${layers.length} conv layers), max norm ${maxNorm}, ${iterations} round(s) at most, ${certText}${
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
  if (r.html !== undefined) lines.push(`HTML before/after: ${r.html}`);
  if (modelOut !== undefined) {
    lines.push(
      `Wrote the model as ${r.format}: ${modelPaths.join(", ")}: ${
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
  return lines.join("\n") + "\n";
}
