/**
 * Starting worker threads where the runtime has them, and how many the
 * runtime's cores allow:
 *
 * - Node, Bun and Deno: `node:worker_threads`, whose workers can be unref'd
 *   (an idle pool never keeps a script alive; Deno's Web Workers cannot be).
 *   They are started with an empty `env`: copying the environment into a
 *   worker reads it, which in Deno asks for `--allow-env`; the worker's
 *   program reads no environment, so no permission is asked for.
 * - Browsers: module Web Workers from a Blob URL. `node:` modules are never
 *   imported there (a page would log a failed load for each).
 *
 * Each runs the bundled worker program (src/_threads/worker.ts).
 * @module
 */
import { NODE_PORT, type WorkerMessage } from "./control.ts";
import { WORKER_SCRIPT } from "./_worker_bundle.ts";

/** The line put before the worker's script under `node:worker_threads` (its eval scripts have `require`). */
const NODE_PRELUDE = `globalThis.${NODE_PORT} = require("node:worker_threads").parentPort;\n`;

type Message = WorkerMessage;

export interface Port {
  post(msg: unknown): void;
  terminate(): void;
  /** Sets THE handler of the next messages (replacing the previous one). */
  onMessage(fn: (msg: Message) => void): void;
  /** Keeps the process alive while a reply is awaited (ref), or lets it exit when idle (unref). */
  hold(busy: boolean): void;
}

declare const process: { versions?: { node?: string; bun?: string } } | undefined;

/** Node itself (not Deno or Bun, which also report `process.versions.node`). */
function isNode(): boolean {
  return typeof process !== "undefined" && !!process?.versions?.node &&
    typeof (globalThis as { Deno?: unknown }).Deno === "undefined" &&
    !process.versions.bun;
}

/** Whether the runtime has Node's built-in modules (Node, Bun, Deno); browsers have none and never import them. */
function hasNodeModules(): boolean {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno !== undefined || g.Bun !== undefined || (typeof process !== "undefined" && !!process?.versions?.node);
}

/** The number of logical cores the runtime reports (1 when it reports none). */
export async function defaultThreads(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (nav?.hardwareConcurrency && nav.hardwareConcurrency > 0) return nav.hardwareConcurrency;
  if (isNode()) {
    try {
      const os = await import("node:os");
      return os.availableParallelism?.() ?? os.cpus().length ?? 1;
    } catch {
      return 1;
    }
  }
  return 1;
}

/**
 * Why this runtime cannot start worker threads with shared wasm memory, or
 * undefined when it can (whether they then start is known only by starting
 * them: a page's Content-Security-Policy may still refuse them).
 */
export function threadsUnavailable(): string | undefined {
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (typeof SharedArrayBuffer === "undefined" || g.crossOriginIsolated === false) {
    return g.crossOriginIsolated === false
      ? "SharedArrayBuffer is not available: the page is not cross-origin isolated (serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)"
      : "SharedArrayBuffer is not available in this runtime";
  }
  if (hasNodeModules()) return undefined;
  if (typeof Worker === "undefined") return "this runtime has no Worker";
  if (typeof Blob === "undefined" || typeof URL?.createObjectURL !== "function") {
    return "this runtime cannot make a Blob URL to start a worker from";
  }
  return undefined;
}

/** Whether this runtime can start worker threads with shared wasm memory (see {@linkcode threadsUnavailable}). */
export function threadsAvailable(): boolean {
  return threadsUnavailable() === undefined;
}

/** `node:worker_threads` where the runtime has Node's modules (Node, Deno, Bun): its workers can be unref'd. */
async function nodeWorkers(): Promise<typeof import("node:worker_threads") | undefined> {
  if (!hasNodeModules()) return undefined;
  try {
    return await import("node:worker_threads");
  } catch {
    return undefined;
  }
}

/** What a Web Worker that could not load its script reports (its error event carries no message then). */
const WEB_WORKER_FAILED =
  "the worker's script did not start (a Content-Security-Policy must allow worker-src blob:, or the page forbids workers)";

export async function startPort(): Promise<Port> {
  const nw = await nodeWorkers();
  if (nw) {
    // An empty env: the default copies process.env, which Deno guards with --allow-env.
    const wk = new nw.Worker(NODE_PRELUDE + WORKER_SCRIPT, { eval: true, env: {} });
    let handler: (msg: Message) => void = () => {};
    // Listeners first, then unref (a listener added later would ref the worker again).
    wk.on("message", (m: Message) => handler(m));
    wk.on("error", (err: Error) => handler({ type: "died", message: err?.message || String(err) }));
    wk.unref();
    return {
      post: (m) => wk.postMessage(m),
      terminate: () => void wk.terminate(),
      onMessage: (fn) => {
        handler = fn;
      },
      hold: (busy) => busy ? wk.ref() : wk.unref(),
    };
  }
  // Browsers: a module worker from a Blob URL (kept until the pool closes).
  const url = URL.createObjectURL(new Blob([WORKER_SCRIPT], { type: "text/javascript" }));
  let wk: Worker;
  try {
    wk = new Worker(url, { type: "module", name: "convsv" });
  } catch (err) {
    URL.revokeObjectURL(url);
    throw new Error(`the browser refused to start a worker (${err instanceof Error ? err.message : err})`);
  }
  let handler: (msg: Message) => void = () => {};
  wk.onmessage = (ev: MessageEvent) => handler(ev.data);
  wk.onerror = (ev: Event) => {
    ev.preventDefault();
    handler({ type: "died", message: (ev as ErrorEvent).message || WEB_WORKER_FAILED });
  };
  wk.onmessageerror = () => handler({ type: "died", message: "a message from the worker could not be read" });
  return {
    post: (m) => wk.postMessage(m),
    terminate: () => {
      wk.terminate();
      URL.revokeObjectURL(url);
    },
    onMessage: (fn) => {
      handler = fn;
    },
    hold: () => {},
  };
}

/** Sends each port its message and waits for one reply from each (an error rejects); the ports hold the process alive only meanwhile. */
export async function collect(ports: Port[], send: (p: Port, i: number) => void): Promise<void> {
  for (const p of ports) p.hold(true);
  try {
    await Promise.all(ports.map((p, i) =>
      new Promise<void>((resolve, reject) => {
        p.onMessage((msg) => {
          if (msg.type === "error" || msg.type === "died") reject(new Error(`convsv worker failed: ${msg.message}`));
          else resolve();
        });
        send(p, i);
      })
    ));
  } finally {
    for (const p of ports) p.hold(false);
  }
}
