/**
 * The report as one JSON object (`report --json`), and the JSON of a
 * layer's kind and of numbers that both commands print.
 * @module
 */
import type { Analysis } from "./analyse.ts";
import type { LayerKind } from "./layers.ts";
import { lipschitzParagraphs } from "./table.ts";

/** `x` where it is a finite number, else null (JSON has no NaN or infinities). */
export function finite(x: number | undefined): number | null {
  return x === undefined || !Number.isFinite(x) ? null : x;
}

/** A layer's kind as both commands' JSON gives it, in this order. */
export function kindJson(l: LayerKind): Record<string, unknown> {
  return {
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
}

/** Where the layers' values went: the `--values` archive and its member names, and whether the JSON holds them. */
export interface ValuesOutput {
  file?: string | undefined;
  /** One per layer, in order. */
  members: string[];
  /** `--with-values`: each layer's `spectrum.values` in the JSON. */
  inline: boolean;
}

/** The JSON value printed by `report --json`: plain data, every number finite or null. */
export function jsonReport(
  a: Analysis,
  modelPath: string,
  htmlPath?: string,
  values?: ValuesOutput,
): Record<string, unknown> {
  const fromAttributes = new Set(a.shapesFromAttributes ?? []);
  return {
    model: modelPath,
    format: a.format,
    input: a.input ?? null,
    foldBn: a.foldBn,
    precision: a.precision,
    threads: a.threads ?? null,
    layers: a.layers.map((l) => {
      const entry: Record<string, unknown> = {
        index: l.index,
        ...kindJson(l),
        inputShapeSource: l.inputSource === "model" && fromAttributes.has(l.name) ? "attributes" : l.inputSource,
        outputShape: l.outputShape,
        exact: l.exact,
      };
      if (l.inputSource === "unknown") {
        entry.inputShape = null;
        entry.size = "unknown";
      }
      if (l.error) {
        entry.error = l.error;
      } else if (l.exact) {
        entry.norm = l.upper;
      } else {
        entry.lower = l.lower;
        entry.upper = l.upper;
        entry.iterations = l.iterations;
        entry.converged = l.converged;
        if (l.note) entry.note = l.note;
      }
      if (!l.error) {
        // The spectrum behind the plots: the layer's own when exact, else that
        // of the circular layer on `grid` whose norm is `upper`.
        entry.spectrum = {
          ofLayer: l.exact,
          grid: l.grid,
          count: l.sorted.count,
          min: l.sorted.zeros > 0 ? 0 : l.sorted.minPositive,
          median: finite(l.sorted.median),
        };
        const s = entry.spectrum as Record<string, unknown>;
        if (l.spectrum && (values?.file !== undefined || values?.inline)) {
          s.shape = l.spectrum.shape;
          s.multiplicity = l.spectrum.multiplicity;
        }
        if (l.spectrum && values?.file !== undefined) s.member = values.members[l.index];
        if (l.spectrum && values?.inline) s.values = Array.from(l.spectrum.values);
      }
      if (l.scale) entry.scale = l.scale;
      entry.timeMs = Math.round(l.timeMs * 10) / 10;
      return entry;
    }),
    lipschitz: {
      upper: a.layers.length > a.layers.filter((l) => l.error).length ? finite(a.lipschitz) : null,
      complete: a.layers.every((l) => !l.error),
      withScales: finite(a.lipschitzWithScales),
      note: lipschitzParagraphs(a).join(" "),
    },
    warnings: a.warnings,
    html: htmlPath ?? null,
    ...(values?.file !== undefined ? { values: values.file } : {}),
    totalMs: Math.round(a.totalMs),
  };
}
