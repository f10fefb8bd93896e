/**
 * A long-lived convsv process that projects convolution kernels for a
 * trainer in another language (bench/train/train.py): one JSON request per
 * line on standard input, one JSON reply per line on standard output, in
 * order. It runs until standard input closes.
 *
 * Run: `./node_modules/.bin/deno run -A bench/train/clip_server.ts`
 * (also `bun bench/train/clip_server.ts`). It prints nothing until the first
 * request; messages for people go to standard error.
 *
 * Request (one line of JSON):
 *
 *     {"id": 7, "op": "clip",             // "clip" (default) or "norm"
 *      "kernel": "<base64>",              // the weights' bytes, little-endian
 *      "dtype": "float32",                // "float32" or "float64"
 *      "shape": [32, 16, 3, 3],           // PyTorch's Conv2d weight: O, I/groups, kh, kw
 *      "layout": "oihw",                  // optional, convsv's layout name (default "oihw")
 *      "inputShape": [28, 28],            // the layer's real input size
 *      "stride": 2, "padding": 1,         // convsv's names: padding is a number, one per
 *      "groups": 1, "dilation": 1,        //   axis, "same", "valid" or "circular"
 *      "maxNorm": 1.0,                    // the radius (clip only)
 *      "scale": [0.9, ...],               // optional: c_out factors applied after the conv
 *                                         //   (BatchNorm's γ/√(var+ε)); the composite is projected
 *      "iterations": 20,                  // optional clip options, as clipOperatorNorm takes them;
 *      "tolerance": 0.001,                //   certify defaults to true here, so the reply's
 *      "certify": true,                   //   normAfter ≤ maxNorm is guaranteed
 *      "method": "alternating"}
 *
 * Reply to "clip" (one line): the projected kernel in the request's dtype
 * and layout, and convsv's report of it:
 *
 *     {"id": 7, "ok": true, "kernel": "<base64>", "dtype": "float32",
 *      "normBefore": 1.83, "normAfter": 0.9999, "certified": true,
 *      "certifyScale": 0.98, "iterations": 20, "grid": [30, 30],
 *      "exact": false, "ms": 4.1}
 *
 * `normBefore`/`normAfter` are operator norms of the circular layer on
 * `grid`: exact for circular padding, certified upper bounds of the
 * zero-padded layer's norms otherwise (`exact: false`). With `scale` they are
 * the composite's. `ms` is the time spent in convsv for this request.
 *
 * Reply to "norm": `{"id", "ok": true, "norm", "grid", "exact", "ms"}`, the
 * same quantity as a clip's `normBefore` (bit for bit), no kernel.
 *
 * A request that fails gets `{"id", "ok": false, "error": "<message>"}` and
 * the server goes on with the next line.
 * @module
 */
import { createInterface } from "node:readline";
import { Buffer } from "node:buffer";
import process from "node:process";
import { clipOperatorNormSync } from "../../mod.ts";
import type { ClipOptions, Kernel, Padding } from "../../mod.ts";

/** One request line, as the trainer sends it. */
export interface ClipRequest {
  id?: unknown;
  op?: "clip" | "norm";
  kernel: string;
  dtype?: "float32" | "float64";
  shape: number[];
  layout?: ClipOptions["layout"];
  inputShape: number[];
  stride?: number | number[];
  padding?: Padding;
  groups?: number;
  dilation?: number | number[];
  maxNorm?: number;
  scale?: number[];
  iterations?: number;
  tolerance?: number;
  certify?: boolean;
  method?: ClipOptions["method"];
}

function decode(b64: string, dtype: string): Float32Array | Float64Array {
  const bytes = Buffer.from(b64, "base64");
  const size = dtype === "float64" ? 8 : 4;
  if (bytes.length % size !== 0) {
    throw new RangeError(`kernel: ${bytes.length} bytes is not a whole number of ${dtype}`);
  }
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return dtype === "float64" ? new Float64Array(copy) : new Float32Array(copy);
}

function encode(data: ArrayLike<number>, dtype: string): string {
  const typed = dtype === "float64" ? Float64Array.from(data) : Float32Array.from(data);
  return Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength).toString("base64");
}

/** Answers one request (an object; the reply is an object too). Exported for tests. */
export function handle(req: ClipRequest): Record<string, unknown> {
  const dtype = req.dtype ?? "float32";
  if (dtype !== "float32" && dtype !== "float64") throw new TypeError(`dtype: "float32" or "float64", not ${dtype}`);
  const kernel: Kernel = { data: decode(req.kernel, dtype), shape: req.shape };
  const layer: ClipOptions = {
    inputShape: req.inputShape,
    layout: req.layout ?? "oihw",
    stride: req.stride ?? 1,
    padding: req.padding ?? "circular",
    groups: req.groups ?? 1,
    dilation: req.dilation ?? 1,
    ...(req.scale !== undefined ? { scale: req.scale } : {}),
  };
  const t0 = performance.now();
  if ((req.op ?? "clip") === "norm") {
    // A radius no norm reaches: the result is the input's norm with no round run.
    const res = clipOperatorNormSync(kernel, Number.MAX_VALUE, layer);
    return { id: req.id, ok: true, norm: res.normBefore, grid: res.grid, exact: res.exact, ms: performance.now() - t0 };
  }
  if (typeof req.maxNorm !== "number") throw new TypeError("maxNorm: a positive number is required for op clip");
  const res = clipOperatorNormSync(kernel, req.maxNorm, {
    ...layer,
    iterations: req.iterations ?? 1,
    ...(req.tolerance !== undefined ? { tolerance: req.tolerance } : {}),
    certify: req.certify ?? true,
    method: req.method ?? "alternating",
  });
  return {
    id: req.id,
    ok: true,
    kernel: encode(res.kernel.data, dtype),
    dtype,
    normBefore: res.normBefore,
    normAfter: res.normAfter,
    certified: res.certified,
    certifyScale: res.certifyScale,
    iterations: res.iterations,
    grid: res.grid,
    exact: res.exact,
    ms: performance.now() - t0,
  };
}

if (import.meta.main) {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let reply: Record<string, unknown>;
    let id: unknown = null;
    try {
      const req = JSON.parse(line) as ClipRequest;
      id = req.id ?? null;
      reply = handle(req);
    } catch (e) {
      reply = { id, ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
    }
    process.stdout.write(JSON.stringify(reply) + "\n");
  }
}
