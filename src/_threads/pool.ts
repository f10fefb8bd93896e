/**
 * A lazily started pool of worker threads sharing one `WebAssembly.Memory`
 * with the main thread's threaded core. Work is handed out as jobs (one per
 * frequency column) that workers pull from an atomic counter.
 *
 * The pool is reused across calls. Workers are unref'd where the runtime
 * allows it (Node, Bun, Deno), so an idle pool never keeps a script alive;
 * {@linkcode closeThreads} terminates them explicitly.
 * @module
 */
import { type CoreExports, coreBytes, usesRelaxedSimd } from "../_wasm/loader.ts";
import { WORKER_SOURCE } from "./worker_source.ts";

type Message = { type: string; bad?: number; message?: string };

interface Port {
  post(msg: unknown): void;
  terminate(): void;
  /** Sets THE handler of the next messages (replacing the previous one). */
  onMessage(fn: (msg: Message) => void): void;
  /** Keeps the process alive while a reply is awaited (ref), or lets it exit when idle (unref). */
  hold(busy: boolean): void;
}

/** The shared-memory core on the main thread and its workers. */
export interface Pool {
  core: CoreExports;
  size: number;
  relaxed: boolean;
  ports: Port[];
}

let pool: Pool | undefined;
let starting: Promise<Pool> | undefined;

declare const process: { versions?: { node?: string; bun?: string } } | undefined;

function isNode(): boolean {
  return typeof process !== "undefined" && !!process?.versions?.node && typeof (globalThis as { Deno?: unknown }).Deno === "undefined" &&
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
    const specifier = "node:worker_threads";
    return await import(specifier);
  } catch {
    return undefined;
  }
}

async function startPort(): Promise<Port> {
  const nw = await nodeWorkers();
  if (nw) {
    const wk = new nw.Worker(WORKER_SOURCE, { eval: true });
    let handler: (msg: Message) => void = () => {};
    // Listeners first, then unref (a listener added later would ref the worker again).
    wk.on("message", (m: Message) => handler(m));
    wk.on("error", (err: Error) => handler({ type: "error", message: err.message }));
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
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
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
        fn({ type: "error", message: ev.message });
      };
    },
    hold: () => {},
  };
}

/** One message from each port, in port order; the ports hold the process alive only meanwhile. */
async function collect(ports: Port[], send: (p: Port, i: number) => void): Promise<{ bad: number }[]> {
  for (const p of ports) p.hold(true);
  try {
    return await Promise.all(ports.map((p, i) =>
      new Promise<{ bad: number }>((resolve, reject) => {
        p.onMessage((msg) => {
          if (msg.type === "error") reject(new Error(`convsv worker failed: ${msg.message}`));
          else resolve({ bad: msg.bad ?? 0 });
        });
        send(p, i);
      })
    ));
  } finally {
    for (const p of ports) p.hold(false);
  }
}

/**
 * The pool with `size` workers, started on first use (or restarted with a new
 * size). Throws if the runtime cannot run worker threads.
 */
export function getPool(size: number): Promise<Pool> {
  if (pool && pool.size === size && pool.relaxed === usesRelaxedSimd()) return Promise.resolve(pool);
  if (starting) return starting.then(() => getPool(size));
  closeThreads();
  starting = (async () => {
    const module = await WebAssembly.compile(coreBytes(true));
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const core = instance.exports as unknown as CoreExports;
    const ports: Port[] = [];
    for (let i = 0; i < size; i++) ports.push(await startPort());
    await collect(ports, (p, index) => p.post({ type: "init", module, memory, index }));
    pool = { core, size, ports, relaxed: usesRelaxedSimd() };
    return pool;
  })().finally(() => {
    starting = undefined;
  });
  return starting;
}

/** What a block of jobs asks the workers to do. */
export interface JobBlock {
  kind: "svd" | "clip";
  f32?: boolean;
  /** Byte offset of the shared job counter (an i32). */
  counter: number;
  /** Scratch of worker i at workBase + i·workStride (the calling thread's, if it helps, at index `size`). */
  workBase: number;
  workStride: number;
  jobs: number[][];
}

/** Runs one job on a core (the same call the worker makes, see worker_source.ts); returns its status. */
function runJob(core: CoreExports, msg: JobBlock, a: number[], work: number): number {
  if (msg.kind === "svd") {
    return msg.f32
      ? core.svd_column_f32(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], work)
      : core.svd_column_f64(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], work);
  }
  return core.clip_column_f64(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], work, a[14]);
}

/**
 * Runs `jobs` on every worker of the pool (each pulls jobs from the counter);
 * returns the sum of their statuses. With `local`, the calling thread pulls
 * jobs too (with the scratch of index `size`, which the caller must have laid
 * out) until none are left, then waits for the workers: a waking worker takes
 * ~0.1–0.3 ms to start, which is most of a small block. It blocks the calling
 * thread for its share, so callers ask for it only on small blocks.
 */
export async function runJobs(p: Pool, msg: JobBlock, local = false): Promise<number> {
  const counter = new Int32Array(p.core.memory.buffer, msg.counter, 1);
  counter[0] = 0;
  const res = collect(p.ports, (port) => port.post({ type: "run", ...msg }));
  let bad = 0;
  if (local) {
    const work = msg.workBase + p.size * msg.workStride;
    try {
      for (;;) {
        const j = Atomics.add(counter, 0, 1);
        if (j >= msg.jobs.length) break;
        bad += runJob(p.core, msg, msg.jobs[j], work);
      }
    } catch (err) {
      // Let the workers finish with the memory before the error surfaces.
      await res.catch(() => {});
      throw err;
    }
  }
  return (await res).reduce((a, r) => a + r.bad, bad);
}

/**
 * Terminates the worker threads of the pool, if any. Later async calls start
 * a new pool when they need one. Call it to release the threads' memory; it
 * is never needed for a script to exit.
 *
 * @example
 * ```ts
 * import { closeThreads, singularValues } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const sv = await singularValues({ data: new Float64Array([1, 2]), shape: [1, 2, 1, 1] }, { inputShape: [8, 8], threads: 2 });
 * assert.equal(sv.length, 64);
 * closeThreads();
 * ```
 */
export function closeThreads(): void {
  if (pool) for (const p of pool.ports) p.terminate();
  pool = undefined;
}
