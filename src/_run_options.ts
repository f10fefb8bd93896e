/**
 * Validation and resolution of the options that say how (not what) to
 * compute: precision and threads.
 * @module
 */
import type { Precision } from "./types.ts";
import { defaultThreads, getPool, threadsAvailable, type Pool } from "./_threads/pool.ts";

/** Checks `precision` and `threads` before any work. Throws TypeError/RangeError. */
export function validateRunOptions(options: { precision?: unknown; threads?: unknown }): {
  precision: Precision;
  threads: number | undefined;
} {
  const precision = options.precision ?? "f64";
  if (precision !== "f64" && precision !== "f32") {
    throw new TypeError(
      `Cannot compute singular values as precision must be "f64" or "f32": current value is ${JSON.stringify(precision)}`,
    );
  }
  const threads = options.threads;
  if (threads !== undefined) {
    if (typeof threads !== "number" || !Number.isInteger(threads)) {
      throw new TypeError(`Cannot compute singular values as threads must be an integer: current value is ${String(threads)}`);
    }
    if (threads < 1 || threads > 256) {
      throw new RangeError(`Cannot compute singular values as threads must be between 1 and 256: current value is ${threads}`);
    }
  }
  return { precision, threads };
}

/** The worker pool to use for an async call, or undefined for the calling thread alone. */
export async function resolvePool(threads: number | undefined): Promise<Pool | undefined> {
  if (!threadsAvailable()) return undefined;
  const n = threads ?? await defaultThreads();
  if (n <= 1) return undefined;
  return getPool(n);
}
