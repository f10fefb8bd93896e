/**
 * The worker's generated script is fresh: its recorded hash is that of the
 * sources it was bundled from (src/_threads/build.ts; CI also rebundles and
 * compares the text with `--check`).
 * @module
 */
import assert from "node:assert/strict";
import { test } from "./_test.ts";
import { recordedWorkerHash, workerSourceHash } from "../src/_threads/build.ts";
import { WORKER_SCRIPT } from "../src/_threads/_worker_bundle.ts";

test("the worker bundle is generated from the current worker.ts, control.ts and abi.ts", async () => {
  assert.equal(recordedWorkerHash(), await workerSourceHash(), "stale: run npm run build:worker");
});

test("the worker bundle is a self-contained script: no import or export statement", () => {
  assert.doesNotMatch(WORKER_SCRIPT, /^\s*(import|export)\b/m);
  // The job dispatch of the main thread (src/_wasm/abi.ts) is the code the worker runs.
  assert.match(WORKER_SCRIPT, /function runJob\(/);
  assert.match(WORKER_SCRIPT, /svd_column_f32/);
  assert.match(WORKER_SCRIPT, /clip_column_f64/);
});

test("the worker script runs as a module Web Worker from a Blob URL (the browser path): it answers init with ready", async () => {
  const { threadedCoreBytes, coreBytes } = await import("../src/_wasm/loader.ts");
  const { CONTROL } = await import("../src/_threads/control.ts");
  const module = await WebAssembly.compile(await threadedCoreBytes());
  const own = await WebAssembly.compile(coreBytes());
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  const control = new SharedArrayBuffer(CONTROL.BYTES);
  const url = URL.createObjectURL(new Blob([WORKER_SCRIPT], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  try {
    const reply = await new Promise<unknown>((resolve, reject) => {
      worker.onmessage = (ev: MessageEvent) => resolve(ev.data);
      worker.onerror = (ev: ErrorEvent) => {
        ev.preventDefault();
        reject(new Error(ev.message));
      };
      worker.postMessage({ type: "init", index: 0, module, own, memory, control, jobs: new SharedArrayBuffer(1024) });
    });
    assert.deepEqual(reply, { type: "ready" });
  } finally {
    // The worker sleeps in Atomics.wait on GEN: set CLOSE and wake it, then end it.
    const ctrl = new Int32Array(control);
    Atomics.store(ctrl, CONTROL.CLOSE, 1);
    Atomics.add(ctrl, CONTROL.GEN, 1);
    Atomics.notify(ctrl, CONTROL.GEN);
    worker.terminate();
    URL.revokeObjectURL(url);
  }
});
