/**
 * Builds the npm package (`convsv`, for Node 20+ and bundlers) into `dist/`
 * and packs it. Run: `npm run build:npm`: it writes `dist/` and
 * `convsv-<version>.tgz` in the repository root, for
 * `npm install ./convsv-<version>.tgz`.
 *
 * - `--pack-destination DIR`: writes the tarball into DIR instead.
 * - `--out-dir DIR`: builds the package in DIR instead of `dist/` (the
 *   tests build outside the repository).
 * - `--no-pack`: stops after `dist/`.
 *
 * The package holds one ES module and one declaration file per source module
 * (`mod.js`, `mod.d.ts`, `src/…`), compiled by TypeScript's `tsc` with
 * `rewriteRelativeImportExtensions` (the sources import `./x.ts`; the output
 * imports `./x.js`). One file per module, not a bundle per entry point: every
 * export path shares one copy of each module (one worker pool, one wasm
 * instance, one `ConvergenceError` class for `instanceof`), and the two
 * threaded wasm builds stay separate files that `import()` loads only when a
 * pool starts. `tsc` is also what emits the declarations: the checker is the
 * TypeScript major version Deno 2.9 checks with, so Node users get the types
 * Deno users get. (`deno bundle --declaration` stops on a conflict inside
 * Deno's own Node typings, and its chunks have hashed names.)
 *
 * `dist/package.json` is generated, not the repository's: name `convsv`, the
 * version in deno.json, an `exports` map with deno.json's export paths (each
 * with its `types`), a `convsv` bin, and the repository's `dependencies`
 * (`@bufbuild/protobuf`, reached only from `./models` and `./cli`). The build
 * fails if the modules reachable from an export path import a package that is
 * not a dependency, or if `.` imports any package at all (only `node:`
 * built-ins, loaded on demand).
 *
 * Build-time only; not published to JSR.
 * @module
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The package's folder, as `npm pack` reads it, unless `--out-dir` names another. */
export const DIST = join(root, "dist");
/** The name on npm (JSR's is `@convsv/convsv`). */
export const NPM_NAME = "convsv";

interface DenoJson {
  version: string;
  license: string;
  exports: Record<string, string>;
}
interface PackageJson {
  description: string;
  license: string;
  dependencies: Record<string, string>;
  /** Packages only some export paths need (`./tfjs`: TF.js), which the user installs. */
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as DenoJson;
const rootPackage = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as PackageJson;

/** `./src/x.ts` → `./src/x.js` (or `.d.ts` with `declaration`). */
function emitted(path: string, declaration = false): string {
  return path.replace(/\.ts$/, declaration ? ".d.ts" : ".js");
}

/** The options given to `tsc` besides `--outDir`: ES2022 modules as Node 20 runs them, declarations beside them. */
const TSC_FLAGS = [
  ["--rootDir", root],
  ["--module", "nodenext"],
  ["--moduleResolution", "nodenext"],
  ["--target", "es2022"],
  // The sources run in browsers too (Worker, Blob, navigator.gpu); Node's types come from @types/node.
  ["--lib", "es2024,dom,dom.iterable"],
  ["--types", "node"],
  ["--strict"],
  ["--exactOptionalPropertyTypes"],
  ["--allowImportingTsExtensions"],
  ["--rewriteRelativeImportExtensions"],
  ["--declaration"],
  ["--skipLibCheck"],
  ["--pretty", "false"],
].flat();

/**
 * Deno's `ImportMeta.main` (src/cli.ts runs `main` when it is the entry
 * point), which @types/node 20 lacks. Node 20 leaves it undefined; the
 * package's bin calls `main` itself.
 */
const IMPORT_META_MAIN = "interface ImportMeta {\n  main: boolean;\n}\n";

/** Compiles the export paths' modules and everything they import into `out`. */
function compile(out: string): void {
  const tmp = mkdtempSync(join(tmpdir(), "convsv-npm-"));
  try {
    const ambient = join(tmp, "import_meta.d.ts");
    writeFileSync(ambient, IMPORT_META_MAIN);
    const entries = Object.values(denoJson.exports).map((p) => join(root, p));
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const res = spawnSync("node", [tsc, "--outDir", out, ...TSC_FLAGS, ambient, ...entries], {
      cwd: root,
      encoding: "utf8",
    });
    if (res.status !== 0) throw new Error(`tsc failed (exit ${res.status}):\n${res.stdout}${res.stderr}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * A relative `./x.ts` module specifier in a declaration file (`from "…"`,
 * `import("…")`), which tsc leaves as written: `.js` is what TypeScript 4.7+
 * and every other tool resolve, `.ts` only TypeScript 5+.
 */
const TS_SPECIFIER = /(\bfrom\s+|\bimport\s*\(\s*)(["'])(\.\.?\/[^"'\n]*?)\.ts\2/g;

/** Rewrites the relative `.ts` specifiers of every declaration file in `out` to `.js`, leaving comments as they are. */
function rewriteDeclarations(out: string): void {
  const files = readdirSync(out, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".d.ts"));
  for (const f of files) {
    const path = join(out, f);
    const lines = readFileSync(path, "utf8").split("\n");
    const code = (line: string) => !/^\s*(\*|\/\*|\/\/)/.test(line);
    writeFileSync(path, lines.map((l) => code(l) ? l.replace(TS_SPECIFIER, "$1$2$3.js$2") : l).join("\n"));
  }
}

/**
 * The packages (bare specifiers, `node:` built-ins included) imported by the
 * emitted module `file` and every module it reaches through relative
 * imports, static or dynamic. Comments are not read as imports.
 */
export function packagesReached(file: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const todo = [resolve(file)];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const { fileName } of ts.preProcessFile(readFileSync(f, "utf8"), true, true).importedFiles) {
      if (fileName.startsWith(".")) todo.push(resolve(dirname(f), fileName));
      else packages.add(fileName);
    }
  }
  return packages;
}

/** The package a bare specifier names: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageName(specifier: string): string {
  return specifier.split("/", specifier.startsWith("@") ? 2 : 1).join("/");
}

/** Throws unless each export path reaches only `node:` built-ins and the dependencies, and `.` only built-ins. */
function checkImports(out: string): void {
  const deps = [...Object.keys(rootPackage.dependencies), ...Object.keys(rootPackage.peerDependencies ?? {})];
  for (const [sub, path] of Object.entries(denoJson.exports)) {
    const allowed = (p: string) => p.startsWith("node:") || (sub !== "." && deps.includes(packageName(p)));
    const bad = [...packagesReached(join(out, emitted(path)))].filter((p) => !allowed(p));
    if (bad.length > 0) {
      throw new Error(`Cannot build the npm package as "${sub}" imports packages it may not: current value is ${bad}`);
    }
  }
}

/** The package.json written into the package's folder: what npm users install. */
export function packageJson(): Record<string, unknown> {
  const exports: Record<string, { types: string; default: string }> = {};
  for (const [sub, path] of Object.entries(denoJson.exports)) {
    exports[sub] = { types: emitted(path, true), default: emitted(path) };
  }
  return {
    name: NPM_NAME,
    version: denoJson.version,
    description: rootPackage.description,
    license: denoJson.license,
    type: "module",
    main: exports["."].default,
    types: exports["."].types,
    exports,
    bin: { convsv: "./bin/convsv.js" },
    engines: { node: ">=20" },
    dependencies: rootPackage.dependencies,
    peerDependencies: rootPackage.peerDependencies,
    peerDependenciesMeta: rootPackage.peerDependenciesMeta,
  };
}

/** The `convsv` command: src/cli.ts's `main` with the process's arguments and exit status. */
const BIN = [
  "#!/usr/bin/env node",
  'import { main } from "../src/cli.js";',
  "process.exitCode = await main(process.argv.slice(2));",
  "",
].join("\n");

/**
 * Writes the package into `out` (emptied first): the compiled modules, their
 * declarations, package.json, bin, README and LICENSE.
 */
export function build(out: string = DIST): void {
  rmSync(out, { recursive: true, force: true });
  compile(out);
  rewriteDeclarations(out);
  checkImports(out);
  writeFileSync(join(out, "package.json"), JSON.stringify(packageJson(), null, 2) + "\n");
  mkdirSync(join(out, "bin"));
  writeFileSync(join(out, "bin", "convsv.js"), BIN, { mode: 0o755 });
  for (const f of ["README.md", "LICENSE"]) copyFileSync(join(root, f), join(out, f));
}

/** Packs the package in `out` with `npm pack` into `destination`; returns the tarball's path. */
export function pack(out: string, destination: string): string {
  mkdirSync(destination, { recursive: true });
  const res = spawnSync("npm", ["pack", "--json", "--pack-destination", resolve(destination)], {
    cwd: out,
    encoding: "utf8",
  });
  if (res.status !== 0) throw new Error(`npm pack failed (exit ${res.status}):\n${res.stdout}${res.stderr}`);
  const [{ filename }] = JSON.parse(res.stdout) as { filename: string }[];
  return join(resolve(destination), filename);
}

declare const process: { argv: string[] };

/** The value after `flag` in `args`, `fallback` when the flag is absent. */
function option(args: string[], flag: string, fallback: string): string {
  const at = args.indexOf(flag);
  if (at < 0) return fallback;
  const value = args[at + 1];
  if (value === undefined || value.startsWith("--")) throw new TypeError(`Cannot build as ${flag} needs a folder`);
  return resolve(value);
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const out = option(args, "--out-dir", DIST);
  const destination = option(args, "--pack-destination", root);
  build(out);
  console.log(`wrote ${out} (${NPM_NAME} ${denoJson.version})`);
  if (!args.includes("--no-pack")) console.log(`packed ${pack(out, destination)}`);
}
