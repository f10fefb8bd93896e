/**
 * Builds the browser bundle: one self-contained ES module holding the
 * numerical API of mod.ts, the wasm builds (base64) and the worker's program,
 * for `<script type="module">`, bundlers and edge runtimes. Run: `npm run
 * build:browser`: it writes `build/convsv.mjs` (`--out FILE` writes FILE
 * instead; the tests build outside the repository).
 *
 * `deno bundle --platform browser` makes it. The bundle must import nothing:
 * the build fails on a static `import`/`export … from`, and on a `node:`
 * specifier anywhere but in the dynamic imports that the runtime guards in
 * src/_threads/ports.ts run only where Node's modules exist (Node, Deno,
 * Bun), never in a browser.
 *
 * Build-time only; not published to JSR.
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Where `npm run build:browser` writes the bundle. */
export const BROWSER_BUNDLE = join(root, "build", "convsv.mjs");

/** The `node:` modules the bundle may name, each only in a guarded dynamic import. */
const GUARDED_NODE_IMPORTS = ["node:os", "node:worker_threads"];

/** Why a bundle's text is not self-contained for a browser, or undefined when it is. */
export function bundleProblem(text: string): string | undefined {
  const stat = /^\s*(?:import\s[^(]|import\s*["'{*]|export\s[^;]*\sfrom\s)/m.exec(text);
  if (stat) return `a static import or re-export: ${stat[0].trim()}`;
  for (const m of text.matchAll(/["'`](node:[a-z_/]+)["'`]/g)) {
    const before = text.slice(Math.max(0, m.index - 20), m.index);
    const dynamic = /import\(\s*$/.test(before);
    // The worker prelude names node:worker_threads in a string run only under node:worker_threads.
    const prelude = /require\(\s*$/.test(before);
    if (!(dynamic && GUARDED_NODE_IMPORTS.includes(m[1])) && !prelude) return `an import of ${m[1]}`;
  }
  return undefined;
}

/** Bundles mod.ts for browsers into `out`; throws with deno's output if bundling or the checks fail. */
export function buildBrowser(out: string = BROWSER_BUNDLE): string {
  mkdirSync(dirname(out), { recursive: true });
  const deno = join(root, "node_modules", ".bin", "deno");
  const res = spawnSync(deno, ["bundle", "--quiet", "--platform", "browser", "mod.ts", "-o", out], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", RUST_BACKTRACE: "0" },
  });
  if (res.status !== 0) throw new Error(`deno bundle failed: ${res.stdout}${res.stderr}`);
  const problem = bundleProblem(readFileSync(out, "utf8"));
  if (problem) throw new Error(`${out} is not a self-contained browser module: ${problem}`);
  return out;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--out");
  const out = buildBrowser(at >= 0 && args[at + 1] ? resolve(args[at + 1]) : BROWSER_BUNDLE);
  console.log(`wrote ${out}`);
}
