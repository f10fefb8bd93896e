/**
 * An edge function: POST a convolution kernel, get a summary of its
 * spectrum back as JSON. It uses only the package's embedded wasm through the
 * synchronous API (one thread, no workers, no file system), so it runs where
 * edge runtimes run (Deno Deploy and the like).
 *
 * - `POST` with `Content-Type: application/json`:
 *   `{ "data": number[], "shape": [64, 32, 3, 3], "inputShape": [32, 32], "layout"?: "oihw" }`
 *   (plus, optionally, `stride`, `dilation`, `groups`, `transposed`, `padding`, `precision`).
 * - `POST` with `Content-Type: application/octet-stream`: the weights as
 *   little-endian f32, the rest in the query:
 *   `?shape=64,32,3,3&inputShape=32,32[&layout=hwio&stride=2&dilation=1&groups=1&transposed=true&padding=circular&precision=f32]`.
 *
 * Answer: `200` `{ norm, argmax, min, median, count, shape, kernelShape,
 * inputShape, backend, precision, timeMs }`; `400` `{ error }` for bad input
 * (the library's message); `413` `{ error }` past a size limit (the limit is in
 * the message; see {@linkcode LIMITS}); `405` for methods other than POST;
 * `500` `{ error }` for anything else. It never throws.
 *
 * Run: `deno run --allow-net examples/edge/main.ts` (listens on port 8000;
 * `PORT` env var to change, with `--allow-env`). Outside this repository import
 * from `jsr:@convsv/convsv` instead of `../../mod.ts`.
 * @module
 */
import { spectrumSync } from "../../mod.ts";
import type { Layout, Padding, Precision, SingularValuesOptions } from "../../mod.ts";

/** Size limits; each answers 413 when passed. */
export const LIMITS = {
  /** Request body, bytes (checked on `Content-Length` and while reading). */
  bodyBytes: 8 * 1024 * 1024,
  /** Kernel weights (elements). */
  weights: 1 << 20,
  /** Spatial positions of the input (`Π inputShape`). */
  cells: 1 << 16,
  /**
   * Work estimate `Π inputShape · c_out · c_in · min(c_out, c_in)` (the
   * per-frequency SVDs): about a second of one core at the limit.
   */
  work: 4e9,
} as const;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

async function readBody(req: Request): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > LIMITS.bodyBytes) {
    throw new HttpError(
      413,
      `Request body is too large: the limit is ${LIMITS.bodyBytes} bytes, Content-Length says ${declared}`,
    );
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > LIMITS.bodyBytes) {
      await reader.cancel().catch(() => {});
      throw new HttpError(413, `Request body is too large: the limit is ${LIMITS.bodyBytes} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function intList(name: string, text: string | null): number[] | undefined {
  if (text === null) return undefined;
  const list = text.split(",").map((s) => Number(s.trim()));
  if (text.trim() === "" || list.some((n) => !Number.isInteger(n))) {
    throw new HttpError(
      400,
      `Query parameter ${name} must be integers separated by commas: current value is ${JSON.stringify(text)}`,
    );
  }
  return list;
}

interface Job {
  data: Float32Array | Float64Array;
  shape: number[];
  options: SingularValuesOptions;
}

function fromQuery(url: URL, bytes: Uint8Array): Job {
  const q = url.searchParams;
  const shape = intList("shape", q.get("shape"));
  const inputShape = intList("inputShape", q.get("inputShape"));
  if (!shape || !inputShape) {
    throw new HttpError(
      400,
      "A binary body needs the query parameters shape and inputShape, e.g. ?shape=64,32,3,3&inputShape=32,32",
    );
  }
  if (bytes.length % 4 !== 0) {
    throw new HttpError(
      400,
      `A binary body must hold little-endian f32 values (a multiple of 4 bytes): current value is ${bytes.length} bytes`,
    );
  }
  const n = bytes.length / 4;
  if (n > LIMITS.weights) {
    throw new HttpError(413, `Too many weights: the limit is ${LIMITS.weights}, the body holds ${n}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = view.getFloat32(4 * i, true);
  const stride = intList("stride", q.get("stride"));
  const dilation = intList("dilation", q.get("dilation"));
  const groups = intList("groups", q.get("groups"));
  const padding = q.get("padding");
  const options: SingularValuesOptions = { inputShape };
  if (q.has("layout")) options.layout = q.get("layout") as Layout;
  const one = (list: number[]) => (list.length === 1 ? list[0] : list);
  if (stride) options.stride = one(stride);
  if (dilation) options.dilation = one(dilation);
  if (groups) options.groups = groups.length === 1 ? groups[0] : NaN;
  if (q.has("transposed")) options.transposed = q.get("transposed") === "true" || q.get("transposed") === "1";
  if (padding !== null) {
    options.padding = /^[\d,\s]+$/.test(padding) ? one(intList("padding", padding)!) : padding as Padding;
  }
  if (q.has("precision")) options.precision = q.get("precision") as Precision;
  return { data, shape, options };
}

function fromJson(bytes: Uint8Array): Job {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new HttpError(400, `The body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "The body must be a JSON object { data, shape, inputShape, layout? }");
  }
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.data)) throw new HttpError(400, "The body's data must be an array of numbers");
  if (b.data.length > LIMITS.weights) {
    throw new HttpError(413, `Too many weights: the limit is ${LIMITS.weights}, data holds ${b.data.length}`);
  }
  const data = new Float64Array(b.data.length);
  for (let i = 0; i < data.length; i++) {
    const x = b.data[i];
    if (typeof x !== "number") {
      throw new HttpError(
        400,
        `The body's data must be an array of numbers: current value is ${JSON.stringify(x)} at index ${i}`,
      );
    }
    data[i] = x;
  }
  const options = { inputShape: b.inputShape } as SingularValuesOptions;
  for (const key of ["layout", "stride", "dilation", "groups", "transposed", "padding", "precision"] as const) {
    if (b[key] !== undefined) (options as unknown as Record<string, unknown>)[key] = b[key];
  }
  return { data, shape: b.shape as number[], options };
}

const positiveInts = (x: unknown): x is number[] =>
  Array.isArray(x) && x.length > 0 && x.every((n) => Number.isInteger(n) && n > 0);

/** Checks the work limits where the shapes are well formed (the library reports malformed ones). */
function checkWork(job: Job): void {
  const { shape, options } = job;
  const inputShape = options.inputShape as unknown;
  if (!positiveInts(shape) || !positiveInts(inputShape)) return;
  const cells = inputShape.reduce((a, b) => a * b, 1);
  if (cells > LIMITS.cells) {
    throw new HttpError(
      413,
      `The input is too large: the limit is ${LIMITS.cells} positions, inputShape [${
        inputShape.join(", ")
      }] has ${cells}`,
    );
  }
  const rank = shape.length - 2;
  const first = options.layout === undefined || String(options.layout).startsWith("oi");
  const o = first ? shape[0] : shape[rank + 1];
  const i = first ? shape[1] : shape[rank];
  const work = cells * o * i * Math.min(o, i);
  if (work > LIMITS.work) {
    throw new HttpError(
      413,
      `The layer is too large for this endpoint: the limit is ${LIMITS.work} for Π inputShape · c_out · c_in · min(c_out, c_in), this layer needs ${work}`,
    );
  }
}

function summary(job: Job): Record<string, unknown> {
  const t0 = performance.now();
  const s = spectrumSync({ data: job.data, shape: job.shape }, job.options);
  const sorted = Float64Array.from(s.values).sort();
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return {
    norm: s.norm,
    argmax: s.argmax,
    min: sorted[0],
    median,
    count: n,
    shape: s.shape,
    kernelShape: job.shape,
    inputShape: job.options.inputShape,
    backend: s.backend,
    precision: s.precision,
    timeMs: Math.round((performance.now() - t0) * 1000) / 1000,
  };
}

/**
 * Answers one request (see the module docs for the protocol).
 *
 * @param req The request.
 * @returns The JSON answer; never rejects.
 *
 * @example A 3-tap smoothing filter keeps the constant image
 * ```ts
 * import { handler } from "./main.ts";
 * import assert from "node:assert/strict";
 * const res = await handler(new Request("http://localhost/", {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: JSON.stringify({ data: [0.25, 0.5, 0.25], shape: [1, 1, 1, 3], inputShape: [1, 8] }),
 * }));
 * assert.equal(res.status, 200);
 * const body = await res.json();
 * assert.ok(Math.abs(body.norm - 1) < 1e-15);
 * assert.equal(body.count, 8);
 * ```
 */
export async function handler(req: Request): Promise<Response> {
  try {
    if (req.method !== "POST") {
      return json(405, { error: `Method ${req.method} is not allowed: POST a kernel` }, { allow: "POST" });
    }
    const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    const binary = type === "application/octet-stream";
    if (!binary && type !== "application/json") {
      throw new HttpError(
        400,
        `Content-Type must be application/json or application/octet-stream: current value is ${JSON.stringify(type)}`,
      );
    }
    const bytes = await readBody(req);
    const job = binary ? fromQuery(new URL(req.url), bytes) : fromJson(bytes);
    checkWork(job);
    return json(200, summary(job));
  } catch (e) {
    if (e instanceof HttpError) return json(e.status, { error: e.message });
    if (e instanceof TypeError || e instanceof RangeError) return json(400, { error: e.message });
    return json(500, { error: e instanceof Error ? e.message : String(e) });
  }
}

if (import.meta.main) {
  let port = 8000;
  try {
    port = Number(Deno.env.get("PORT") ?? 8000);
  } catch { /* no --allow-env: the default port */ }
  Deno.serve({ port }, handler);
}
