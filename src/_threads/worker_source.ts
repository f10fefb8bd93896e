/**
 * The worker thread's code, as a string: it is started from a Blob URL
 * (Deno, Bun, browsers) or with `eval: true` (Node's worker_threads), so it
 * imports nothing. It instantiates the threaded core on the shared memory,
 * then serves "run" messages: grab jobs from an atomic counter in shared
 * memory until none are left, run each, answer "done".
 * @module
 */

/** Source of the worker (plain JavaScript). */
export const WORKER_SOURCE: string = `
"use strict";
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
let index = 0;
on((msg) => {
  try {
    if (msg.type === "init") {
      index = msg.index;
      core = new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } }).exports;
      post({ type: "ready" });
      return;
    }
    if (msg.type === "run") {
      const counter = new Int32Array(core.memory.buffer, msg.counter, 1);
      const work = msg.workBase + index * msg.workStride;
      let bad = 0;
      for (;;) {
        const j = Atomics.add(counter, 0, 1);
        if (j >= msg.jobs.length) break;
        const a = msg.jobs[j];
        if (msg.kind === "svd") {
          bad += msg.f32
            ? core.svd_column_f32(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], work)
            : core.svd_column_f64(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], work);
        } else {
          bad += core.clip_column_f64(
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], work, a[14],
          );
        }
      }
      post({ type: "done", bad });
      return;
    }
  } catch (err) {
    post({ type: "error", message: String(err && err.message || err) });
  }
});
`;
