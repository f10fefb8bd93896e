/**
 * The pool's control block, shared by the main thread and every worker: an
 * Int32Array over a SharedArrayBuffer.
 *
 * - `GEN`: the current block's generation, bumped once per block;
 * - `DONE`: workers finished with it;
 * - `BAD`: the sum of their statuses (frequencies that did not converge);
 * - `ERR`: workers that had a job throw (each posts an "error" message
 *   before it counts itself done);
 * - `CLOSE`: set before the workers are terminated;
 * - `OWN`: jobs run on a worker's own unshared instance (see worker.ts),
 *   counted for the tests;
 * - `CANCEL`: set while a block is to stop early (its call was aborted): the
 *   workers take no further job of it.
 *
 * From byte `HEADER` on, the block's header as f64: `KIND` (a
 * {@linkcode JOB_KIND} code), `COUNTER` (byte offset of the job counter in
 * the core's memory), `WORK_BASE` and `WORK_STRIDE` (worker i's scratch at
 * base + i·stride), `JOBS` (how many), `ACTIVE` (workers `0 … ACTIVE − 1`
 * take jobs of the block; the others count themselves done at once). The jobs follow one another in the
 * pool's job buffer, `jobSlots(kind)` f64 each.
 * @module
 */
export type { JobKind } from "../_wasm/abi.ts";

/** Indices into the control block (Int32 slots, then f64 header slots from byte HEADER). */
export const CONTROL = {
  GEN: 0,
  DONE: 1,
  BAD: 2,
  ERR: 3,
  CLOSE: 4,
  OWN: 5,
  CANCEL: 6,
  HEADER: 64,
  KIND: 0,
  COUNTER: 1,
  WORK_BASE: 2,
  WORK_STRIDE: 3,
  JOBS: 4,
  ACTIVE: 5,
  BYTES: 128,
} as const;

/** The global through which a `node:worker_threads` worker finds its `parentPort` (see worker.ts). */
export const NODE_PORT = "__convsvParentPort";

/** The message that starts a worker. */
export interface InitMessage {
  type: "init";
  index: number;
  /** The threaded core, instantiated on `memory` (shared with the main thread). */
  module: WebAssembly.Module;
  /** The one-thread build of the same core, for the worker's own instance (undefined: none). */
  own: WebAssembly.Module | undefined;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  jobs: SharedArrayBuffer;
}

/** What a worker posts. */
export type WorkerMessage =
  | { type: "ready" }
  | { type: "done" }
  | { type: "error"; message: string }
  | { type: "died"; message: string };
