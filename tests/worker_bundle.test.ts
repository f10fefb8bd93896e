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
