/**
 * Helpers shared by the model-file readers' tests (tests/readers.test.ts,
 * tests/torch_reader.test.ts).
 * @module
 */
import assert from "node:assert/strict";

/** A typed array's values as a plain array (for deepEqual against JSON). */
export const values = (x: ArrayLike<number>): number[] => Array.from(x);

/** The SHA-256 of a typed array's bytes, hex (the fixtures' expected digests). */
export async function sha256(data: Float32Array | Float64Array): Promise<string> {
  const copy = new Uint8Array(data.byteLength);
  copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", copy));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Asserts that `fn` throws (or rejects with) `type`, with a message that starts `Cannot read` and matches `re`. */
export async function throwsLike(
  fn: () => unknown,
  type: typeof TypeError | typeof RangeError,
  re: RegExp,
): Promise<void> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof type, `expected ${type.name}, got ${err === undefined ? "a result" : String(err)}`);
  assert.match((err as Error).message, /^Cannot read /);
  assert.match((err as Error).message, re);
}
