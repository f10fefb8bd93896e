/**
 * Starting worker threads where the runtime has them: `node:worker_threads`
 * (Node, Deno, Bun: its workers can be unref'd, so an idle pool never keeps a
 * script alive) or module Web Workers from a Blob URL (browsers), each
 * running the bundled worker program (src/_threads/worker.ts), and how many
 * the runtime's cores allow.
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

function isNode(): boolean {
  return typeof process !== "undefined" && !!process?.versions?.node &&
    typeof (globalThis as { Deno?: unknown }).Deno === "undefined" &&
    !process.versions.bun;
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

/** Whether this runtime can start worker threads with shared wasm memory. */
export function threadsAvailable(): boolean {
  if (typeof SharedArrayBuffer === "undefined") return false;
  if (isNode() || typeof (globalThis as { Deno?: unknown; Bun?: unknown }).Deno !== "undefined") return true;
  if (typeof (globalThis as { Bun?: unknown }).Bun !== "undefined") return true;
  return typeof Worker !== "undefined" && typeof Blob !== "undefined" && typeof URL?.createObjectURL === "function";
}

/** `node:worker_threads` where the runtime has it (Node, Deno, Bun): its workers can be unref'd. */
async function nodeWorkers(): Promise<typeof import("node:worker_threads") | undefined> {
  try {
    return await import("node:worker_threads");
  } catch {
    return undefined;
  }
}

export async function startPort(): Promise<Port> {
  const nw = await nodeWorkers();
  if (nw) {
    const wk = new nw.Worker(NODE_PRELUDE + WORKER_SCRIPT, { eval: true });
    let handler: (msg: Message) => void = () => {};
    // Listeners first, then unref (a listener added later would ref the worker again).
    wk.on("message", (m: Message) => handler(m));
    wk.on("error", (err: Error) => handler({ type: "died", message: err.message }));
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
  const wk = new Worker(url, { type: "module" });
  return {
    post: (m) => wk.postMessage(m),
    terminate: () => {
      wk.terminate();
      URL.revokeObjectURL(url);
    },
    onMessage: (fn) => {
      wk.onmessage = (ev: MessageEvent) => fn(ev.data);
      wk.onerror = (ev: ErrorEvent) => {
        ev.preventDefault();
        fn({ type: "died", message: ev.message });
      };
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
