/**
 * A lazily started pool of worker threads sharing one `WebAssembly.Memory`
 * with the main thread's threaded core. Work is handed out as blocks of jobs
 * (frequency columns or parts of them) that workers pull from an atomic
 * counter. A block is written to shared memory (a control block and a job
 * buffer, see control.ts) and the workers, asleep in `Atomics.wait`,
 * are woken with `Atomics.notify`; the calling thread learns that they are
 * done through `Atomics.waitAsync` where the runtime has it, else through
 * their "done" messages.
 *
 * The pool is reused across calls. Workers are unref'd where the runtime
 * allows it (Node, Bun, Deno), so an idle pool never keeps a script alive;
 * {@linkcode closeThreads} terminates them explicitly.
 * @module
 */
import {
  type ClipJob,
  type CoreExports,
  encodeJob,
  type JobKind,
  jobSlots,
  runJob,
  type SvdJob,
} from "../_wasm/abi.ts";
import { coreBytes, threadedCoreBytes, usesRelaxedSimd } from "../_wasm/loader.ts";
import { CONTROL } from "./control.ts";
import { collect, type Port, startPort } from "./ports.ts";

/** f64 slots of the job buffer (1 MiB of address space, touched only as far as blocks reach). */
const JOB_SLOTS = 1 << 17;

/** What a new worker is started with (shared by every worker of the pool). */
interface PoolInit {
  module: WebAssembly.Module;
  own: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  jobs: SharedArrayBuffer;
}

/** The shared-memory core on the main thread and its workers. */
export interface Pool {
  core: CoreExports;
  /** Workers started (the pool grows to the largest number of threads a call asked for). */
  size: number;
  init: PoolInit;
  relaxed: boolean;
  ports: Port[];
  /** The control block (see control.ts) and the block header in it. */
  control: Int32Array;
  header: Float64Array;
  /** The current block's jobs, `jobSlots(kind)` f64 each. */
  jobs: Float64Array;
  /** Blocks so far in which the calling thread pulled jobs beside the workers (the `local` path of small blocks). */
  localBlocks: number;
  /** Blocks of jobs run so far (see {@linkcode jobCounts}). */
  blocks: number;
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
/**
 * Why the pool could not start, once it failed: later calls fail at once
 * instead of starting workers again (a page's Content-Security-Policy that
 * refused them would refuse them again, logging each time) until
 * {@linkcode closeThreads}.
 */
let failed: Error | undefined;

/** Starts `count` workers on the pool's memory, numbered from `first`; the started ones are terminated if one fails. */
async function startWorkers(init: PoolInit, first: number, count: number): Promise<Port[]> {
  const ports: Port[] = [];
  try {
    for (let i = 0; i < count; i++) ports.push(await startPort());
    await collect(ports, (p, i) => p.post({ type: "init", ...init, index: first + i }));
  } catch (err) {
    for (const p of ports) p.terminate();
    throw err;
  }
  return ports;
}

/** Routes a worker's messages to the pool. */
function listen(p: Pool, port: Port): void {
  port.onMessage((msg) => {
    if (msg.type === "error") p.errors.push(msg.message);
    if (msg.type === "died") {
      p.dead = msg.message;
      // A dead worker never counts itself done: wake the waiter, which sees `dead`.
      Atomics.notify(p.control, CONTROL.DONE);
    }
    p.wake();
  });
}

async function startPool(size: number): Promise<Pool> {
  // The flavour is read before the first await: the pool is labelled with the build it loads.
  const relaxed = usesRelaxedSimd();
  const module = await WebAssembly.compile(await threadedCoreBytes());
  // The one-thread build of the same core: workers run svd jobs on their own instance (see worker.ts).
  const own = await WebAssembly.compile(coreBytes(false));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const core = instance.exports as unknown as CoreExports;
  const init: PoolInit = {
    module,
    own,
    memory,
    control: new SharedArrayBuffer(CONTROL.BYTES),
    jobs: new SharedArrayBuffer(JOB_SLOTS * 8),
  };
  const ports = await startWorkers(init, 0, size);
  const started: Pool = {
    core,
    size,
    init,
    ports,
    relaxed,
    control: new Int32Array(init.control),
    header: new Float64Array(init.control, CONTROL.HEADER, (CONTROL.BYTES - CONTROL.HEADER) / 8),
    jobs: new Float64Array(init.jobs),
    localBlocks: 0,
    blocks: 0,
    errors: [],
    wake: () => {},
    busy: Promise.resolve(),
  };
  for (const port of ports) listen(started, port);
  return started;
}

/**
 * The pool, with at least `size` workers: started on first use, grown when a
 * call asks for more workers than it has (while no block runs on it, so calls
 * in flight keep theirs). A call uses as many of its workers as it asks for
 * (see {@linkcode runJobs}), so calls with different thread counts share it.
 * Throws if the runtime cannot run worker threads, and again on every
 * later call until {@linkcode closeThreads}.
 */
export async function getPool(size: number): Promise<Pool> {
  // Only tests switch the SIMD build: then the pool of the other build is closed.
  if (pool && pool.relaxed !== usesRelaxedSimd()) closeThreads();
  if (failed) throw failed;
  if (!pool) {
    starting ??= startPool(size).then((p) => pool = p, (err) => {
      failed = err instanceof Error ? err : new Error(String(err));
      throw failed;
    }).finally(() => starting = undefined);
    await starting;
  }
  const p = pool!;
  if (p.size < size) {
    await withPool(p, async () => {
      if (p.size >= size || pool !== p) return;
      const ports = await startWorkers(p.init, p.size, size - p.size);
      for (const port of ports) listen(p, port);
      p.ports.push(...ports);
      p.size = size;
    });
    if (pool !== p) return getPool(size);
  }
  return p;
}

/** A block of jobs for the workers. */
export interface JobBlock {
  kind: JobKind;
  /** Byte offset of the shared job counter (an i32). */
  counter: number;
  /** Scratch of worker i at workBase + i·workStride (the calling thread's, if it helps, at index `size`). */
  workBase: number;
  workStride: number;
  jobs: readonly (SvdJob | ClipJob)[];
  /** Workers that take jobs (default all); the calling thread's scratch, if it helps, is at index `workers`. */
  workers?: number | undefined;
  /** Stops the block early: no job is taken after it aborts, and the call rejects with its reason. */
  signal?: AbortSignal | undefined;
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
  p.blocks++;
  const c = p.control, h = p.header;
  const kind = msg.kind;
  const slots = jobSlots(kind);
  new Int32Array(p.core.memory.buffer, msg.counter, 1)[0] = 0;
  h[CONTROL.KIND] = kind;
  h[CONTROL.COUNTER] = msg.counter;
  h[CONTROL.WORK_BASE] = msg.workBase;
  h[CONTROL.WORK_STRIDE] = msg.workStride;
  h[CONTROL.JOBS] = count;
  const active = Math.min(msg.workers ?? p.size, p.size);
  h[CONTROL.ACTIVE] = active;
  Atomics.store(c, CONTROL.CANCEL, msg.signal?.aborted ? 1 : 0);
  const cancel = () => Atomics.store(c, CONTROL.CANCEL, 1);
  msg.signal?.addEventListener("abort", cancel);
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
      p.localBlocks++;
      const counter = new Int32Array(p.core.memory.buffer, msg.counter, 1);
      const work = msg.workBase + active * msg.workStride;
      try {
        for (;;) {
          if (Atomics.load(c, CONTROL.CANCEL) !== 0) break;
          const j = Atomics.add(counter, 0, 1);
          if (j >= count) break;
          bad += runJob(p.core, kind, p.jobs, j * slots, work);
        }
      } catch (err) {
        // Let the workers finish with the memory before the error surfaces.
        thrown = err;
      }
    }
    await allDone(p);
  } finally {
    msg.signal?.removeEventListener("abort", cancel);
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
  msg.signal?.throwIfAborted();
  return bad + Atomics.load(c, CONTROL.BAD);
}

/**
 * Runs `jobs` on `msg.workers` workers of the pool (each pulls jobs from the
 * counter); returns the sum of their statuses. With `local`, the calling
 * thread pulls jobs too (with the scratch of index `msg.workers`, which the
 * caller must have laid out) until none are left, then waits for the workers: a waking worker's start
 * is a sizeable part of a small block. It blocks the calling
 * thread for its share, so callers ask for it only on small blocks. Blocks
 * larger than the job buffer run in parts, one after another.
 */
export async function runJobs(p: Pool, msg: JobBlock, local = false): Promise<number> {
  const slots = jobSlots(msg.kind);
  const per = Math.floor(p.jobs.length / slots);
  let bad = 0;
  for (let j0 = 0; j0 < msg.jobs.length; j0 += per) {
    const count = Math.min(per, msg.jobs.length - j0);
    msg.signal?.throwIfAborted();
    for (let j = 0; j < count; j++) encodeJob(msg.kind, msg.jobs[j0 + j], p.jobs, j * slots);
    bad += await runBlock(p, msg, count, local);
  }
  return bad;
}

/**
 * Terminates the worker threads of the pool, if any. Later async calls start
 * a new pool when they need one (trying again where workers failed to start). Call it to release the threads' memory; it
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
  failed = undefined;
}

/**
 * Which paths the pool's work took so far: svd jobs run on a worker's own
 * unshared instance (`own`; the others ran on the shared one), and blocks in
 * which the calling thread pulled jobs too (`localBlocks`), and blocks run
 * in all (`blocks`). For tests.
 */
export function jobCounts(p: Pool): { own: number; localBlocks: number; blocks: number } {
  return { own: Atomics.load(p.control, CONTROL.OWN), localBlocks: p.localBlocks, blocks: p.blocks };
}
