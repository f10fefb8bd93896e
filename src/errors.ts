/**
 * Errors that callers may want to catch.
 * @module
 */

/**
 * Thrown when the iteration on some frequency's bidiagonal matrix (dqds for
 * values, QR for vectors) did not converge within its iteration cap. This does not happen for finite input in
 * practice; the error names the frequencies so the case can be reported.
 *
 * @example Catching it
 * ```ts
 * import { ConvergenceError } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const err = new ConvergenceError([[0, 1]]);
 * assert.ok(err instanceof Error);
 * assert.deepEqual(err.frequencies, [[0, 1]]);
 * ```
 */
export class ConvergenceError extends Error {
  /** The `[u, v]` frequencies whose singular values did not converge. */
  readonly frequencies: [number, number][];

  /**
   * Makes the error; its message lists the first few frequencies.
   *
   * @param frequencies The `[u, v]` frequencies that failed.
   */
  constructor(frequencies: [number, number][]) {
    const shown = frequencies.slice(0, 8).map(([u, v]) => `(${u}, ${v})`).join(", ");
    const more = frequencies.length > 8 ? ` and ${frequencies.length - 8} more` : "";
    super(
      `Cannot compute singular values as the bidiagonal iteration did not converge at ${frequencies.length} frequencies: current value is ${shown}${more}`,
    );
    this.name = "ConvergenceError";
    this.frequencies = frequencies;
  }
}
