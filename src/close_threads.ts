/**
 * Releasing the worker threads that the async functions start when called
 * with `threads` (see {@linkcode closeThreads}). The pool is reused across
 * calls and never keeps a script alive, so this is needed only to free the
 * threads' memory.
 *
 * @example Closing the pool after a threaded call
 * ```ts
 * import { closeThreads } from "@convsv/convsv/close-threads";
 * import { operatorNorm } from "@convsv/convsv/operator-norm";
 * import assert from "node:assert/strict";
 * const norm = await operatorNorm({ data: new Float64Array([3, 4]), shape: [1, 2, 1, 1] }, { inputShape: [8, 8], threads: 2 });
 * assert.ok(Math.abs(norm - 5) < 1e-12);
 * closeThreads();
 * ```
 *
 * @module
 */
export { closeThreads } from "./_threads/pool.ts";
