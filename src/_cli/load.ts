/**
 * Where the CLI reads and writes, and reading the model for a command: the
 * file, `--attributes` (layer names the model lacks are noted and left out),
 * and `--input` (a graph's input size, read again so ONNX and TF.js readers
 * propagate it). A failure to read is one line naming the file.
 * @module
 */
import type { Model } from "../model.ts";
import { CliError, layerGeometry, parseInput } from "./layers.ts";
import type { ProgressSink } from "./progress.ts";

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

/** The parsed options of a command. */
export type Values = Record<string, string | boolean | undefined>;

/** An error's message on one line. */
export function oneLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/\s*\n\s*/g, " ").trim();
}

/** Whether an error is a file system's "no such file" (Node's ENOENT, Deno's NotFound). */
function missing(e: unknown): boolean {
  return (e as { code?: unknown })?.code === "ENOENT" || (e as Error)?.name === "NotFound";
}

async function load(io: CliIo, path: string, options: LoadOptions): Promise<Model> {
  try {
    return await io.loadModel(path, options);
  } catch (e) {
    if (missing(e)) throw new CliError(`Cannot read ${path}: no such file`);
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
    throw new CliError(`Cannot read --attributes ${path}: ${missing(e) ? "no such file" : oneLine(e)}`);
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
export async function loadWithInput(io: CliIo, path: string, v: Values) {
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
    l.padding === "circular" && (l.stride ?? []).every((s) => s === 1) && !l.inputShape && !l.inputShapeReason
  );
  if (defaults && !layers) {
    notes.push(
      `${path} stores weights only (${model.format}): strides, padding and input shapes are unknown, so every layer is taken as stride 1 with circular padding on the propagated input; give them with --attributes FILE.json`,
    );
  }
  return { model, notes, attributes: layers };
}
