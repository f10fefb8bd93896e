/**
 * The bad-input check shared by the tests of every entry point: the sync
 * form throws, and the async form rejects (never throws synchronously), with
 * exactly one of the expected error classes and a message that names the
 * offending value.
 * @module
 */
import assert from "node:assert/strict";

/** The error classes bad input may raise. */
export type ErrorClass = typeof TypeError | typeof RangeError;

/**
 * `sync()` throws and `async()` rejects with one of `kinds` (the class
 * itself, not a subclass) and a message matching `value`; `name` is the
 * function's name for the messages (`nameSync` and `name()`).
 */
export async function expectBothFail(
  label: string,
  name: string,
  sync: () => unknown,
  async: () => Promise<unknown>,
  kinds: ErrorClass | ErrorClass[],
  value: RegExp,
): Promise<void> {
  const allowed = Array.isArray(kinds) ? kinds : [kinds];
  const check = (how: string) => (err: unknown): boolean => {
    assert.ok(
      allowed.some((K) => err instanceof K && err.constructor === K),
      `${label}, ${how}: expected ${allowed.map((K) => K.name).join(" or ")}, got ${
        err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)
      }`,
    );
    const message = (err as Error).message;
    assert.match(message, value, `${label}, ${how}: the message does not name the offending value: ${message}`);
    return true;
  };
  assert.throws(sync, check(`${name}Sync`));
  let promise: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    promise = async();
  }, `${label}: ${name}() threw synchronously instead of rejecting`);
  assert.ok(promise instanceof Promise, `${label}: ${name}() did not return a Promise`);
  await assert.rejects(promise, check(`${name}()`));
}
