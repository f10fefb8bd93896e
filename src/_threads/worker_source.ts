/**
 * The worker thread's code, as a string: it is started from a Blob URL
 * (Deno, Bun, browsers) or with `eval: true` (Node's worker_threads), so it
 * imports nothing. On its one "init" message it instantiates the threaded
 * core on the shared memory, answers "ready", and from then on sleeps in
 * `Atomics.wait` on the pool's control block: a notify wakes it in ~0.1 ms
 * (a message took ~0.35 ms in Deno), it pulls the block's jobs from an
 * atomic counter in the core's memory, adds its status, counts itself done
 * and notifies. The layout of the control block is {@linkcode CONTROL}.
 * Singular-value jobs run on the worker's own unshared instance of the
 * single-thread core (see `svdOwn`); clipping jobs on the shared one.
 * @module
 */

/**
 * The pool's control block: an Int32Array over a SharedArrayBuffer (`GEN`:
 * the current block's generation, bumped once per block; `DONE`: workers
 * finished with it; `BAD`: the sum of their statuses; `ERR`: how many workers had a job
 * throw (each posts an "error" message before it counts itself done); `CLOSE`: set before the workers are terminated), followed
 * at byte `HEADER` by the block's header as f64 (`KIND`: 0 svd f64, 1 svd
 * f32, 2 clip; `COUNTER`: byte offset of the job counter in the core's
 * memory; `WORK_BASE`, `WORK_STRIDE`: worker i's scratch at base + i·stride;
 * `JOBS`: how many; `ARGC`: f64 arguments per job, which follow one job
 * after another in the pool's job buffer).
 */
export const CONTROL = {
  GEN: 0,
  DONE: 1,
  BAD: 2,
  ERR: 3,
  CLOSE: 4,
  HEADER: 64,
  KIND: 0,
  COUNTER: 1,
  WORK_BASE: 2,
  WORK_STRIDE: 3,
  JOBS: 4,
  ARGC: 5,
  BYTES: 128,
} as const;

/** Source of the worker (plain JavaScript). */
export const WORKER_SOURCE: string = `
"use strict";
const C = ${JSON.stringify(CONTROL)};
let post, on;
const parentPort = typeof require === "function" ? require("node:worker_threads").parentPort : null;
if (parentPort) {
  post = (m) => parentPort.postMessage(m);
  on = (f) => parentPort.on("message", f);
} else {
  post = (m) => self.postMessage(m);
  on = (f) => { self.onmessage = (ev) => f(ev.data); };
}
let core = null;
let own = null;
let index = 0;
let ctrl = null;
let header = null;
let jobs = null;
// The column transform last copied into own memory (valid within one block).
let ownFrom = -1;

/**
 * An svd job on the worker's own (unshared) instance of the same core: V8
 * checks every access to a shared memory against a size it must reload, which
 * made the same code 7-18% slower. The column's transform is copied in (once
 * per column and block), the values copied back; the results are the same bits.
 */
function svdOwn(a, o, f32) {
  const cout = a[o + 2], cin = a[o + 3], kh = a[o + 4], h = a[o + 5], nu = a[o + 7], groups = a[o + 9];
  const nT = groups * cout * cin * kh;
  const nOut = nu * groups * Math.min(cout, cin);
  const base = (own.heap_base() + 15) & ~15;
  const ti = base + ((nT * 8 + 15) & ~15);
  const out = ti + ((nT * 8 + 15) & ~15);
  const work = out + ((nOut * 8 + 15) & ~15);
  const end = work + own.svd_column_work_bytes(cout, cin, kh, h, nu, groups);
  const have = own.memory.buffer.byteLength;
  if (end > have) own.memory.grow(Math.ceil((end - have) / 65536));
  const mine = new Float64Array(own.memory.buffer);
  const shared = new Float64Array(core.memory.buffer);
  // As the shared instance would trap (subarray would clip silently).
  if (Math.max(a[o] + nT * 8, a[o + 1] + nT * 8, a[o + 8] + nOut * 8) > shared.byteLength) {
    throw new RangeError("memory access out of bounds");
  }
  if (ownFrom !== a[o]) {
    mine.set(shared.subarray(a[o] / 8, a[o] / 8 + nT), base / 8);
    mine.set(shared.subarray(a[o + 1] / 8, a[o + 1] / 8 + nT), ti / 8);
    ownFrom = a[o];
  }
  const column = f32 ? own.svd_column_f32 : own.svd_column_f64;
  const bad = column(base, ti, cout, cin, kh, h, a[o + 6], nu, out, groups, work);
  shared.set(mine.subarray(out / 8, out / 8 + nOut), a[o + 8] / 8);
  return bad;
}

function runBlock() {
  const kind = header[C.KIND];
  const counter = new Int32Array(core.memory.buffer, header[C.COUNTER], 1);
  const work = header[C.WORK_BASE] + index * header[C.WORK_STRIDE];
  const n = header[C.JOBS];
  const argc = header[C.ARGC];
  const a = jobs;
  ownFrom = -1;
  let bad = 0;
  for (;;) {
    const j = Atomics.add(counter, 0, 1);
    if (j >= n) break;
    const o = j * argc;
    if (kind !== 2 && own !== null) {
      bad += svdOwn(a, o, kind === 1);
    } else if (kind === 0) {
      bad += core.svd_column_f64(a[o], a[o + 1], a[o + 2], a[o + 3], a[o + 4], a[o + 5], a[o + 6], a[o + 7], a[o + 8], a[o + 9], work);
    } else if (kind === 1) {
      bad += core.svd_column_f32(a[o], a[o + 1], a[o + 2], a[o + 3], a[o + 4], a[o + 5], a[o + 6], a[o + 7], a[o + 8], a[o + 9], work);
    } else {
      bad += core.clip_column_f64(a[o], a[o + 1], a[o + 2], a[o + 3], a[o + 4], a[o + 5], a[o + 6], a[o + 7], a[o + 8],
        a[o + 9], a[o + 10], a[o + 11], a[o + 12], a[o + 13], work, a[o + 14]);
    }
  }
  return bad;
}

function serve() {
  let seen = Atomics.load(ctrl, C.GEN);
  post({ type: "ready" });
  for (;;) {
    Atomics.wait(ctrl, C.GEN, seen);
    if (Atomics.load(ctrl, C.CLOSE) !== 0) return;
    const gen = Atomics.load(ctrl, C.GEN);
    if (gen === seen) continue;
    seen = gen;
    let bad = 0;
    try {
      bad = runBlock();
    } catch (err) {
      Atomics.add(ctrl, C.ERR, 1);
      post({ type: "error", message: String(err && err.message || err) });
    }
    Atomics.add(ctrl, C.BAD, bad);
    Atomics.add(ctrl, C.DONE, 1);
    Atomics.notify(ctrl, C.DONE);
    post({ type: "done" });
  }
}

on((msg) => {
  if (msg.type !== "init" || core !== null) return;
  try {
    index = msg.index;
    core = new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } }).exports;
    try {
      if (msg.own) own = new WebAssembly.Instance(msg.own, {}).exports;
    } catch {
      own = null; // the shared instance serves every job
    }
    ctrl = new Int32Array(msg.control);
    header = new Float64Array(msg.control, C.HEADER, (C.BYTES - C.HEADER) / 8);
    jobs = new Float64Array(msg.jobs);
  } catch (err) {
    post({ type: "error", message: String(err && err.message || err) });
    return;
  }
  serve();
});
`;
