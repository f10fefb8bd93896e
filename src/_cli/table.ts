/**
 * The report as text: a header, the per-layer table and the Lipschitz bound.
 * @module
 */
import type { Padding } from "../types.ts";
import type { Analysis, LayerResult } from "./analyse.ts";
import { dims } from "./layers.ts";

/** A number with 6 significant digits, exponent form outside [1e-4, 1e6). */
export function num(x: number, digits = 6): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-4) return x.toExponential(digits - 1).replace(/\.?0+e/, "e");
  return x.toPrecision(digits);
}

/** Padding as the table shows it. */
export function paddingText(p: Padding): string {
  if (typeof p === "string") return p;
  if (typeof p === "number") return String(p);
  return p.every((x) => x === p[0]) ? String(p[0]) : p.join("x");
}

/** The norm cell: the exact norm, or the interval. */
export function normText(l: LayerResult): string {
  if (l.error) return l.inputSource === "unknown" ? "size unknown" : "error";
  return l.exact ? num(l.upper) : `[${num(l.lower)}, ${num(l.upper)}]`;
}

/** Milliseconds, short. */
export function msText(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

/** The kernel cell: shape and layout, and the marks for transposed or grouped layers. */
export function kernelText(l: LayerResult): string {
  const extra = [l.transposed ? "T" : "", l.groups > 1 ? `g${l.groups}` : ""].filter(Boolean).join(",");
  return `${dims(l.kernelShape)} ${l.layout}${extra ? ` ${extra}` : ""}`;
}

/** The input cell, with `*` where the shape was propagated and `†` where it is `--input`'s. */
export function inputText(l: LayerResult): string {
  if (l.inputSource === "unknown") return "?";
  return dims(l.inputShape) + (l.inputSource === "propagated" ? "*" : l.inputSource === "input" ? "+" : "");
}

/** Paragraphs that give the Lipschitz bound and say what it covers. */
export function lipschitzParagraphs(a: Analysis): string[] {
  const ok = a.layers.filter((l) => !l.error).length;
  const failed = a.layers.length - ok;
  const what = a.layers.every((l) => l.exact || l.error)
    ? "exact norms"
    : "norms (exact, or the upper bound of the interval)";
  const out = [
    `Lipschitz bound (l2) of the conv part: ${num(a.lipschitz)}, the product of the ${ok} layers' ${what}${
      a.foldBn && a.scaled > 0 ? ", BatchNorm/scale folded in" : ""
    }. It is an upper bound for the conv part only: the conv layers applied one after another, with activations such as ReLU between them (those are 1-Lipschitz, so they do not raise it); residual connections, pooling and dense layers are not included.`,
  ];
  if (failed > 0) {
    out.push(`INCOMPLETE: ${failed} layer(s) failed and are left out, so this is not a bound for the conv part.`);
  }
  if (!a.foldBn && a.scaled > 0) {
    out.push(
      `The model has ${a.scaled} BatchNorm/scale layer(s), left out of this product: run with --fold-bn to fold them in${
        a.lipschitzWithScales !== undefined
          ? ` (taking each as its own factor max|gamma/sqrt(var+eps)| gives ${
            num(a.lipschitzWithScales)
          }, a looser bound)`
          : ""
      }.`,
    );
  }
  return out;
}

/** Breaks a paragraph into lines of at most `width` characters. */
export function wrap(text: string, width = 92): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** The header lines: file, format, input, folding. */
export function headerLines(a: Analysis, modelPath: string): string[] {
  const lines = [
    `convsv report: ${modelPath} (${a.format}, ${a.layers.length} conv layer${a.layers.length === 1 ? "" : "s"}${
      a.input ? `, --input ${a.input}` : ""
    }, ${a.precision})`,
  ];
  if (a.foldBn && a.scaled === 0) {
    lines.push(
      "--fold-bn: no BatchNorm/scale layers to fold (the file has none, or they are already fused into the kernels).",
    );
  } else if (a.foldBn) {
    const folded = a.layers.filter((l) => l.scale?.folded).length;
    lines.push(
      `--fold-bn: ${folded} BatchNorm/scale layer(s) folded into the preceding conv's kernel (output channel o times gamma_o/sqrt(var_o+eps), or gamma_o for a scale; biases do not change the norm).`,
    );
  }
  for (const w of a.warnings) lines.push(`warning: ${w}`);
  return lines;
}

/** The per-layer table, aligned. */
export function tableLines(a: Analysis): string[] {
  const head = ["#", "layer", "kernel", "input", "stride", "padding", "norm (exact) or [lower, upper]", "time"];
  if (a.layers.some((l) => l.scale)) head.splice(7, 0, a.foldBn ? "folded |factor|" : "scale |factor|");
  const rows = a.layers.map((l) => {
    const row = [
      String(l.index + 1),
      l.name,
      kernelText(l),
      inputText(l),
      dims(l.stride),
      paddingText(l.padding),
      normText(l),
      msText(l.timeMs),
    ];
    if (head.length > 8) row.splice(7, 0, l.scale ? `${num(l.scale.minAbs, 3)}..${num(l.scale.maxAbs, 3)}` : "-");
    return row;
  });
  const width = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const right = new Set([0, head.length - 1]);
  const fmt = (r: string[]) =>
    r.map((c, j) => (right.has(j) ? c.padStart(width[j]) : c.padEnd(width[j]))).join("  ").trimEnd();
  const lines = [fmt(head), ...rows.map(fmt)];
  const notes: string[] = [];
  if (a.layers.some((l) => l.inputSource === "propagated")) {
    notes.push("* input shape propagated from --input through the earlier conv layers (pooling is not seen)");
  }
  if (a.layers.some((l) => l.inputSource === "input")) notes.push("+ input shape from --input");
  if (a.layers.some((l) => !l.exact && !l.error)) {
    notes.push(
      "[lower, upper]: certified interval for zero padding (power iteration; circular layer on a larger grid)",
    );
  }
  if (a.layers.some((l) => l.transposed)) notes.push("T: transposed convolution");
  const pointwise = a.layers.filter((l) => l.note?.startsWith("1x1 kernel"));
  if (pointwise.length) {
    notes.push(
      `${pointwise.map((l) => `#${l.index + 1}`).join(", ")}: 1x1 kernel${
        pointwise.length > 1 ? "s" : ""
      } without padding: one matrix applied at every output position, so the norm is the matrix's, exactly`,
    );
  }
  for (const l of a.layers) {
    if (l.note && !pointwise.includes(l)) notes.push(`#${l.index + 1} ${l.name}: ${l.note}`);
    if (l.error) notes.push(`#${l.index + 1} ${l.name}: error: ${l.error}`);
  }
  const capped = a.layers.filter((l) => l.converged === false).length;
  if (capped) {
    notes.push(
      `power iteration reached its step cap on ${capped} layer(s): their lower bounds are valid, maybe not tight`,
    );
  }
  return [...lines, ...(notes.length ? ["", ...notes] : [])];
}

/** Everything `report` prints to stdout without `--json`. */
export function textReport(a: Analysis, modelPath: string, htmlPath?: string): string {
  const lines = [
    ...headerLines(a, modelPath),
    "",
    ...tableLines(a),
    "",
    ...lipschitzParagraphs(a).flatMap((p) => wrap(p)),
  ];
  if (htmlPath) lines.push("", `HTML report: ${htmlPath}`);
  lines.push(`total ${msText(a.totalMs)}`);
  return lines.join("\n") + "\n";
}
