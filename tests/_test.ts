/**
 * One test API for both runners: `Deno.test` under Deno, `bun:test` under Bun.
 * The Bun specifier sits in a variable so Deno never tries to resolve it.
 * @module
 */

type TestFn = () => void | Promise<void>;

declare const Bun: unknown;

const bunSpecifier = "bun:test";

// deno-lint-ignore no-explicit-any
let bunTest: any = undefined;
if (typeof Bun !== "undefined") {
  bunTest = (await import(bunSpecifier)).test;
}

/** Registers a test with whichever runner loaded this file. */
export function test(name: string, fn: TestFn, timeoutMs = 120_000): void {
  if (bunTest !== undefined) {
    bunTest(name, fn, timeoutMs);
  } else {
    Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
  }
}
