/**
 * The builds of the wasm core and their source hash: SHA-256 over the
 * installed AssemblyScript version, `asconfig.json`, every build's flags and
 * every `assembly/*.ts` file (sorted by name). Build-time and test-time only;
 * not published.
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The asc flags every build uses. */
export const ASC_FLAGS = [
  "--enable",
  "simd",
  "-O3",
  "--runtime",
  "stub",
  "--noAssert",
  "--use",
  "abort=",
] as const;

/** Extra asc flags of the threaded builds: shared, imported memory (env.memory) for worker threads. */
export const ASC_MT_FLAGS = [
  "--enable",
  "threads",
  "--importMemory",
  "--sharedMemory",
  "--initialMemory",
  "1",
  "--maximumMemory",
  "65536",
] as const;

/** Extra asc flags of the relaxed-SIMD builds (fused multiply-adds; a fallback plain build always ships too). */
export const ASC_RELAXED_FLAGS = ["--enable", "relaxed-simd"] as const;

/** One build of the core and the generated module that embeds it. */
export interface Build {
  /** The generated module, relative to `src/_wasm/`. */
  file: string;
  /** The module's one export: the wasm bytes in base64. */
  exportName: string;
  /** asc flags after {@linkcode ASC_FLAGS}. */
  flags: readonly string[];
  /** What the build is, for the export's doc comment. */
  doc: string;
}

/** Every build; the loader imports each module by this file name. */
export const BUILDS: readonly Build[] = [
  {
    file: "binary_plain.ts",
    exportName: "WASM_BASE64",
    flags: [],
    doc: "The convsv SIMD core, one thread: own memory",
  },
  {
    file: "binary_relaxed.ts",
    exportName: "WASM_RELAXED_BASE64",
    flags: ASC_RELAXED_FLAGS,
    doc: "The one-thread core with relaxed-SIMD fused multiply-adds",
  },
  {
    file: "binary_mt_plain.ts",
    exportName: "WASM_MT_BASE64",
    flags: ASC_MT_FLAGS,
    doc: "The core built for worker threads: imports a shared env.memory",
  },
  {
    file: "binary_mt_relaxed.ts",
    exportName: "WASM_MT_RELAXED_BASE64",
    flags: [...ASC_MT_FLAGS, ...ASC_RELAXED_FLAGS],
    doc: "The worker-thread core with relaxed-SIMD fused multiply-adds",
  },
];

/** The generated index of the builds (file, size, SHA-256 of each), relative to `src/_wasm/`. */
export const INDEX_FILE = "binary.ts";

/** The version of the AssemblyScript compiler installed under `root`'s node_modules. */
export function ascVersion(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, "node_modules", "assemblyscript", "package.json"), "utf8"));
  return String(pkg.version);
}

/** Hex SHA-256 of the wasm core's sources and compiler under `root` (the repository root). */
export async function sourceHash(root: string): Promise<string> {
  const dir = join(root, "assembly");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
  let text = "assemblyscript\0" + ascVersion(root) + "\0";
  text += "flags\0" + ASC_FLAGS.join(" ") + "\0";
  for (const b of BUILDS) text += b.file + "\0" + b.flags.join(" ") + "\0";
  text += "asconfig.json\0" + readFileSync(join(root, "asconfig.json"), "utf8") + "\0";
  for (const f of files) {
    text += f + "\0" + readFileSync(join(dir, f), "utf8") + "\0";
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The source hash recorded in the header of a generated module's text. */
export function recordedHash(generatedTs: string): string | undefined {
  return /^\/\/ source-hash: ([0-9a-f]{64})$/m.exec(generatedTs)?.[1];
}
