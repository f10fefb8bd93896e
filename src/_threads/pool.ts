/**
 * A lazily started pool of worker threads sharing one `WebAssembly.Memory`
 * with the main thread's threaded core. Work is handed out as blocks of jobs
 * (frequency columns or parts of them) that workers pull from an atomic
 * counter. A block is written to shared memory (a control block and a job
 * buffer, see worker_source.ts) and the workers, asleep in `Atomics.wait`,
 * are woken with `Atomics.notify`; the calling thread learns that they are
 * done through `Atomics.waitAsync` where the runtime has it, else through
 * their "done" messages.
 *
 * The pool is reused across calls. Workers are unref'd where the runtime
 * allows it (Node, Bun, Deno), so an idle pool never keeps a script alive;
 * {@linkcode closeThreads} terminates them explicitly.
 * @module
 */
import { type CoreExports, coreBytes, threadedCoreBytes, usesRelaxedSimd } from "../_wasm/loader.ts";
import { CONTROL, WORKER_SOURCE } from "./worker_source.ts";

/** f64 slots of the job buffer (1 MiB of address space, touched only as far as blocks reach). */
const JOB_SLOTS = 1 << 17;

type Message = { type: string; message?: string };

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
  /** The control block (see worker_source.ts's CONTROL) and the block header in it. */
  control: Int32Array;
  header: Float64Array;
  /** The current block's jobs, `argc` f64 each. */
  jobs: Float64Array;
  /** Messages of the jobs that threw in the current block. */
  errors: string[];
  /** Set when a worker died (an uncaught error): the pool is closed after the block. */
  dead?: string;
  /** Called on every message from a worker (wakes a caller waiting without Atomics.waitAsync). */
  wake: () => void;
  /** Settles when the current holder of the pool's memory lets go (see {@linkcode withPool}). */
  busy: Promise<void>;
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
        fn({ type: "died", message: ev.message });
      };
    },
    hold: () => {},
  };
}

/** Sends each port its message and waits for one reply from each (an error rejects); the ports hold the process alive only meanwhile. */
async function collect(ports: Port[], send: (p: Port, i: number) => void): Promise<void> {
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

/**
 * The pool with `size` workers, started on first use (or restarted with a new
 * size). Throws if the runtime cannot run worker threads.
 */
export function getPool(size: number): Promise<Pool> {
  if (pool && pool.size === size && pool.relaxed === usesRelaxedSimd()) return Promise.resolve(pool);
  if (starting) return starting.then(() => getPool(size));
  closeThreads();
  starting = (async () => {
    const module = await WebAssembly.compile(await threadedCoreBytes());
    // The single-thread build of the same core: workers run svd jobs on their own copy (see worker_source.ts).
    const own = await WebAssembly.compile(coreBytes(false));
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const core = instance.exports as unknown as CoreExports;
    const controlBuf = new SharedArrayBuffer(CONTROL.BYTES);
    const jobsBuf = new SharedArrayBuffer(JOB_SLOTS * 8);
    const ports: Port[] = [];
    try {
      for (let i = 0; i < size; i++) ports.push(await startPort());
      await collect(ports, (p, index) => p.post({ type: "init", module, own, memory, index, control: controlBuf, jobs: jobsBuf }));
    } catch (err) {
      for (const p of ports) p.terminate();
      throw err;
    }
    const started: Pool = {
      core,
      size,
      ports,
      relaxed: usesRelaxedSimd(),
      control: new Int32Array(controlBuf),
      header: new Float64Array(controlBuf, CONTROL.HEADER, (CONTROL.BYTES - CONTROL.HEADER) / 8),
      jobs: new Float64Array(jobsBuf),
      errors: [],
      wake: () => {},
      busy: Promise.resolve(),
    };
    for (const port of ports) {
      port.onMessage((msg) => {
        if (msg.type === "error") started.errors.push(msg.message ?? "unknown error");
        if (msg.type === "died") {
          started.dead = msg.message ?? "unknown error";
          // A dead worker never counts itself done: wake the waiter, which sees `dead`.
          Atomics.notify(started.control, CONTROL.DONE);
        }
        started.wake();
      });
    }
    pool = started;
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

/**
 * Runs `fn` with the pool to itself. Everything a call lays out in the
 * pool's shared memory (kernel, transforms, jobs, results) lives there from
 * its first write to its last read, and every call lays it out from the same
 * base: concurrent calls (`Promise.all` over layers) take turns, in order.
 */
export async function withPool<T>(p: Pool, fn: () => Promise<T>): Promise<T> {
  const before = p.busy;
  let release = () => {};
  p.busy = new Promise<void>((resolve) => release = resolve);
  try {
    await before;
    return await fn();
  } finally {
    release();
  }
}

/** Argument count of a job of each kind (the core function's arguments but the scratch pointer). */
function argcOf(msg: JobBlock): number {
  return msg.kind === "clip" ? 15 : 10;
}

/** Runs job j of the block in the job buffer on a core (the same call the worker makes, see worker_source.ts). */
function runJob(core: CoreExports, kind: number, a: Float64Array, o: number, work: number): number {
  if (kind === 0) return core.svd_column_f64(a[o], a[o + 1], a[o + 2], a[o + 3], a[o + 4], a[o + 5], a[o + 6], a[o + 7], a[o + 8], a[o + 9], work);
  if (kind === 1) return core.svd_column_f32(a[o], a[o + 1], a[o + 2], a[o + 3], a[o + 4], a[o + 5], a[o + 6], a[o + 7], a[o + 8], a[o + 9], work);
  return core.clip_column_f64(
    a[o], a[o + 1], a[o + 2], a[o + 3], a[o + 4], a[o + 5], a[o + 6], a[o + 7], a[o + 8], a[o + 9], a[o + 10], a[o + 11], a[o + 12], a[o + 13],
    work, a[o + 14],
  );
}

type WaitAsync = (ta: Int32Array, index: number, value: number) => { async: boolean; value: unknown };

/** Resolves on the next message from a worker, or at once if `ready()` already holds. */
function nextMessage(p: Pool, ready: () => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    p.wake = resolve;
    if (ready()) resolve();
  }).finally(() => {
    p.wake = () => {};
  });
}

/**
 * Resolves once every worker has counted itself done with the current block
 * (or one died), and the "error" messages of the workers whose jobs threw
 * have arrived.
 */
async function allDone(p: Pool): Promise<void> {
  const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  for (;;) {
    const done = Atomics.load(p.control, CONTROL.DONE);
    if (done >= p.size || p.dead !== undefined) break;
    if (typeof waitAsync === "function") {
      const r = waitAsync(p.control, CONTROL.DONE, done);
      if (r.async) await r.value;
    } else {
      // Each worker posts "done" after counting itself: wait for the next message, then look again.
      await nextMessage(p, () => Atomics.load(p.control, CONTROL.DONE) !== done || p.dead !== undefined);
    }
  }
  while (p.dead === undefined && p.errors.length < Atomics.load(p.control, CONTROL.ERR)) {
    await nextMessage(p, () => p.errors.length >= Atomics.load(p.control, CONTROL.ERR) || p.dead !== undefined);
  }
}

/** Runs `count` jobs already in the job buffer (see {@linkcode runJobs}). */
async function runBlock(p: Pool, msg: JobBlock, count: number, local: boolean): Promise<number> {
  const c = p.control, h = p.header;
  const kind = msg.kind === "clip" ? 2 : msg.f32 ? 1 : 0;
  const argc = argcOf(msg);
  new Int32Array(p.core.memory.buffer, msg.counter, 1)[0] = 0;
  h[CONTROL.KIND] = kind;
  h[CONTROL.COUNTER] = msg.counter;
  h[CONTROL.WORK_BASE] = msg.workBase;
  h[CONTROL.WORK_STRIDE] = msg.workStride;
  h[CONTROL.JOBS] = count;
  h[CONTROL.ARGC] = argc;
  Atomics.store(c, CONTROL.DONE, 0);
  Atomics.store(c, CONTROL.BAD, 0);
  Atomics.store(c, CONTROL.ERR, 0);
  p.errors.length = 0;
  // The store to GEN publishes everything above (Atomics are sequentially consistent).
  Atomics.add(c, CONTROL.GEN, 1);
  Atomics.notify(c, CONTROL.GEN);
  for (const port of p.ports) port.hold(true);
  let bad = 0;
  let thrown: unknown;
  try {
    if (local) {
      const counter = new Int32Array(p.core.memory.buffer, msg.counter, 1);
      const work = msg.workBase + p.size * msg.workStride;
      try {
        for (;;) {
          const j = Atomics.add(counter, 0, 1);
          if (j >= count) break;
          bad += runJob(p.core, kind, p.jobs, j * argc, work);
        }
      } catch (err) {
        // Let the workers finish with the memory before the error surfaces.
        thrown = err;
      }
    }
    await allDone(p);
  } finally {
    for (const port of p.ports) port.hold(false);
  }
  if (p.dead !== undefined) {
    // Its jobs may be half done and the others may still run them: start afresh next time.
    const message = p.dead;
    if (pool === p) closeThreads();
    throw new Error(`convsv worker died: ${message}`);
  }
  if (thrown !== undefined) throw thrown;
  if (p.errors.length > 0) throw new Error(`convsv worker failed: ${p.errors.join("; ")}`);
  return bad + Atomics.load(c, CONTROL.BAD);
}

/**
 * Runs `jobs` on every worker of the pool (each pulls jobs from the counter);
 * returns the sum of their statuses. With `local`, the calling thread pulls
 * jobs too (with the scratch of index `size`, which the caller must have laid
 * out) until none are left, then waits for the workers: a waking worker takes
 * ~0.1 ms to start, a sizeable part of a small block. It blocks the calling
 * thread for its share, so callers ask for it only on small blocks. Blocks
 * larger than the job buffer run in parts, one after another.
 */
export async function runJobs(p: Pool, msg: JobBlock, local = false): Promise<number> {
  const argc = argcOf(msg);
  const per = Math.floor(p.jobs.length / argc);
  let bad = 0;
  for (let j0 = 0; j0 < msg.jobs.length; j0 += per) {
    const count = Math.min(per, msg.jobs.length - j0);
    for (let j = 0; j < count; j++) {
      const job = msg.jobs[j0 + j];
      if (job.length !== argc) throw new Error(`convsv: a ${msg.kind} job takes ${argc} arguments, got ${job.length}`);
      p.jobs.set(job, j * argc);
    }
    bad += await runBlock(p, msg, count, local);
  }
  return bad;
}

/**
 * Terminates the worker threads of the pool, if any. Later async calls start
 * a new pool when they need one. Call it to release the threads' memory; it
 * is never needed for a script to exit. A call still running on the pool
 * rejects with an Error that says the pool was closed.
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
  if (pool) {
    Atomics.store(pool.control, CONTROL.CLOSE, 1);
    Atomics.add(pool.control, CONTROL.GEN, 1);
    Atomics.notify(pool.control, CONTROL.GEN);
    for (const p of pool.ports) p.terminate();
    // A call still waiting on this pool's block rejects instead of waiting forever.
    pool.dead ??= "the pool was closed (closeThreads) while it ran";
    Atomics.notify(pool.control, CONTROL.DONE);
    pool.wake();
  }
  pool = undefined;
}
