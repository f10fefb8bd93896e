/**
 * An edge function: POST a convolution kernel, get a summary of its
 * spectrum back as JSON. It uses only the package's embedded wasm on the
 * calling thread (no workers, no file system), so it runs where edge
 * runtimes run (Deno Deploy and the like).
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
 * (the library's message, or the field and its value); `413` `{ error }` past
 * a limit, named in the message (see {@linkcode LIMITS}); `405` for methods
 * other than POST; `500` `{ error }` for anything else. It never throws.
 *
 * Requests do not wait for each other: each runs through the async
 * `spectrum` on the calling thread with an `AbortSignal`, and an async call
 * given a signal yields to the event loop about every 20 ms of work
 * (docs/threads.md). A small request that arrives while a large one runs is
 * answered within a few of those slices. Each request's work is bounded by
 * the library's `maxWork` (about a second of one core), checked before any work.
 *
 * Run: `deno run --allow-net --allow-env examples/edge/main.ts [--host 127.0.0.1] [--port 8000]`: it listens
 * on 127.0.0.1:8000 unless `--host`/`--port` or the `HOST`/`PORT` environment
 * variables say otherwise (`--host 0.0.0.0` to accept other machines).
 * Outside this repository import from `jsr:@convsv/convsv` instead of `../../mod.ts`.
 * @module
 */
import { spectrum } from "../../mod.ts";
import type { Kernel, Spectrum } from "../../mod.ts";

/** Limits; each answers 413 when passed. */
export const LIMITS = {
  /** Request body, bytes (checked on `Content-Length` and while reading). */
  bodyBytes: 8 * 1024 * 1024,
  /** Kernel weights (elements). */
  weights: 1 << 20,
  /** Spatial positions of the input (`Π inputShape`). */
  cells: 1 << 16,
  /**
   * The library's `maxWork` for each request: its estimate of the call's
   * multiply–adds, about a second of one core at the limit.
   */
  work: 4e9,
} as const;

/** The options a request may set: the layer's, and the precision. */
const LAYER_FIELDS = ["layout", "stride", "dilation", "groups", "transposed", "padding", "outputPadding", "precision"];

/** Options this endpoint sets itself: a request that sends one is refused. */
const ENDPOINT_FIELDS = ["threads", "backend", "signal", "onProgress", "maxWork"];

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

function badQuery(name: string, rule: string, text: string): HttpError {
  return new HttpError(400, `Query parameter ${name} must be ${rule}: current value is ${JSON.stringify(text)}`);
}

function intList(name: string, text: string): number[] {
  const list = text.split(",").map((s) => Number(s.trim()));
  if (text.trim() === "" || list.some((n) => !Number.isInteger(n))) {
    throw badQuery(name, "integers separated by commas", text);
  }
  return list;
}

/** One integer for every axis, or one per axis. */
function perAxis(name: string, text: string): number | number[] {
  const list = intList(name, text);
  return list.length === 1 ? list[0] : list;
}

/** Refuses the options this endpoint sets itself. */
function checkFields(keys: Iterable<string>, where: string): void {
  for (const key of keys) {
    if (ENDPOINT_FIELDS.includes(key)) {
      throw new HttpError(
        400,
        `${where} ${key} is set by this endpoint (it accepts ${
          ["inputShape", ...LAYER_FIELDS].join(", ")
        }): current value is ${JSON.stringify(key)}`,
      );
    }
  }
}

interface Job {
  kernel: Kernel;
  /** The layer's options as the request gave them; unknown names are left for the library to refuse. */
  options: Record<string, unknown>;
}

function fromQuery(url: URL, bytes: Uint8Array): Job {
  const q = url.searchParams;
  const shapeText = q.get("shape"), inputText = q.get("inputShape");
  if (shapeText === null || inputText === null) {
    throw new HttpError(
      400,
      "A binary body needs the query parameters shape and inputShape, e.g. ?shape=64,32,3,3&inputShape=32,32",
    );
  }
  const shape = intList("shape", shapeText);
  const options: Record<string, unknown> = { inputShape: intList("inputShape", inputText) };
  checkFields(q.keys(), "Query parameter");
  for (const [name, text] of q) {
    if (name === "shape" || name === "inputShape") continue;
    if (name in options) throw badQuery(name, "given once", q.getAll(name).join("&"));
    if (name === "stride" || name === "dilation" || name === "outputPadding") {
      options[name] = perAxis(name, text);
    } else if (name === "groups") {
      const groups = Number(text);
      if (text.trim() === "" || !Number.isInteger(groups)) throw badQuery(name, "one integer", text);
      options.groups = groups;
    } else if (name === "transposed") {
      if (!["true", "false", "1", "0"].includes(text)) throw badQuery(name, "true, false, 1 or 0", text);
      options.transposed = text === "true" || text === "1";
    } else if (name === "padding") {
      options.padding = /^[\d,\s]+$/.test(text) ? perAxis(name, text) : text;
    } else {
      // layout, precision: the library checks the names; any other parameter it refuses, naming the one meant.
      options[name] = text;
    }
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
  return { kernel: { data, shape }, options };
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
  const { data: list, shape, ...options } = body as Record<string, unknown>;
  if (!Array.isArray(list)) throw new HttpError(400, "The body's data must be an array of numbers");
  if (list.length > LIMITS.weights) {
    throw new HttpError(413, `Too many weights: the limit is ${LIMITS.weights}, data holds ${list.length}`);
  }
  const data = new Float64Array(list.length);
  for (let i = 0; i < data.length; i++) {
    const x = list[i];
    if (typeof x !== "number") {
      throw new HttpError(
        400,
        `The body's data must be an array of numbers: current value is ${JSON.stringify(x)} at index ${i}`,
      );
    }
    data[i] = x;
  }
  checkFields(Object.keys(options), "The field");
  return { kernel: { data, shape: shape as number[] }, options };
}

/** Refuses an input of more than {@linkcode LIMITS}.cells positions (the library reports malformed shapes). */
function checkCells(inputShape: unknown): void {
  if (!Array.isArray(inputShape) || !inputShape.every((n) => Number.isInteger(n) && n > 0)) return;
  const cells = inputShape.reduce((a, b) => a * b, 1);
  if (cells > LIMITS.cells) {
    throw new HttpError(
      413,
      `The input is too large: the limit is ${LIMITS.cells} positions, inputShape [${
        inputShape.join(", ")
      }] has ${cells}`,
    );
  }
}

function summary(job: Job, s: Spectrum, ms: number): Record<string, unknown> {
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
    kernelShape: job.kernel.shape,
    inputShape: job.options.inputShape,
    backend: s.backend,
    precision: s.precision,
    timeMs: Math.round(ms * 1000) / 1000,
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
    checkCells(job.options.inputShape);
    const t0 = performance.now();
    // One thread (the worker pool runs concurrent calls in turn, so a small call would wait there) and a
    // signal, with which the call yields to the event loop between slices of its work.
    const s = await spectrum(job.kernel, {
      ...job.options,
      inputShape: job.options.inputShape as number[],
      threads: 1,
      maxWork: LIMITS.work,
      signal: new AbortController().signal,
    });
    return json(200, summary(job, s, performance.now() - t0));
  } catch (e) {
    if (e instanceof HttpError) return json(e.status, { error: e.message });
    if (e instanceof RangeError && /\bmaxWork\b/.test(e.message)) {
      return json(413, {
        error:
          `The layer is too large for this endpoint: the limit is ${LIMITS.work} multiply–adds of estimated work (the library's maxWork): ${e.message}`,
      });
    }
    if (e instanceof TypeError || e instanceof RangeError) return json(400, { error: e.message });
    return json(500, { error: e instanceof Error ? e.message : String(e) });
  }
}

/**
 * Where to listen: `--host`/`--port` (as `--host 0.0.0.0` or `--host=0.0.0.0`), else the `HOST`/`PORT`
 * environment variables, else 127.0.0.1:8000 (this machine only).
 *
 * @param args The command-line arguments.
 * @param env Reads an environment variable (undefined when unset or not allowed).
 * @returns The hostname and port for `Deno.serve`.
 * @throws {RangeError} For a port that is not an integer from 0 to 65535.
 */
export function listenOptions(
  args: readonly string[],
  env: (name: string) => string | undefined,
): { hostname: string; port: number } {
  const setting = (flag: string, name: string, fallback: string): string => {
    for (let i = 0; i < args.length; i++) {
      if (args[i] === `--${flag}` && i + 1 < args.length) return args[i + 1];
      if (args[i].startsWith(`--${flag}=`)) return args[i].slice(flag.length + 3);
    }
    return env(name) ?? fallback;
  };
  const hostname = setting("host", "HOST", "127.0.0.1");
  const text = setting("port", "PORT", "8000");
  const port = Number(text);
  if (text.trim() === "" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`The port must be an integer from 0 to 65535: current value is ${JSON.stringify(text)}`);
  }
  return { hostname, port };
}

if (import.meta.main) {
  const env = (name: string) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined; // no --allow-env: the flags or the defaults
    }
  };
  Deno.serve(listenOptions(Deno.args, env), handler);
}
