/**
 * One test API for both runners: `Deno.test` under Deno, `bun:test` under Bun.
 * The Bun specifier sits in a variable so Deno never tries to resolve it.
 *
 * Deno's op and resource sanitizers stay on; a test that starts worker
 * threads (which outlive it by design: the pool is reused) passes
 * `{ threads: true }` to turn them off for itself alone. A test that cannot
 * run here passes `{ ignore: "reason" }`: it is reported as ignored (Deno) or
 * skipped (Bun), never as passed, and the reason is printed.
 * @module
 */

type TestFn = () => void | Promise<void>;

/** How a test runs. */
export interface TestOptions {
  /** Milliseconds before Bun fails the test (Deno has no per-test timeout). */
  timeoutMs?: number;
  /** The test starts worker threads: Deno's op and resource sanitizers are off for it. */
  threads?: boolean;
  /** Why the test cannot run here; it is then reported as ignored/skipped. */
  ignore?: string | false;
}

declare const Bun: unknown;

const bunSpecifier = "bun:test";

// deno-lint-ignore no-explicit-any
let bunTest: any = undefined;
if (typeof Bun !== "undefined") {
  bunTest = (await import(bunSpecifier)).test;
}

/** Whether the tests run under Bun. */
export const underBun: boolean = bunTest !== undefined;

/** Registers a test with whichever runner loaded this file. */
export function test(name: string, fn: TestFn, options: number | TestOptions = {}): void {
  const o: TestOptions = typeof options === "number" ? { timeoutMs: options } : options;
  const ignore = o.ignore || undefined;
  if (ignore !== undefined) console.log(`ignored: ${name}: ${ignore}`);
  if (bunTest !== undefined) {
    if (ignore !== undefined) bunTest.skip(name, fn);
    else bunTest(name, fn, o.timeoutMs ?? 120_000);
  } else {
    const sanitize = !o.threads;
    Deno.test({ name, fn, ignore: ignore !== undefined, sanitizeOps: sanitize, sanitizeResources: sanitize });
  }
}
