/**
 * The source hash of the wasm core: SHA-256 over `asconfig.json`, the build
 * flags and every `assembly/*.ts` file (sorted by name). Build-time and
 * test-time only; not published.
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The asc flags the build uses; part of the hash so a flag change also marks the module stale. */
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

/** Extra asc flags of the threaded build: shared, imported memory (env.memory) for worker threads. */
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

/** Hex SHA-256 of the wasm core's sources under `root` (the repository root). */
export async function sourceHash(root: string): Promise<string> {
  const dir = join(root, "assembly");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
  let text = "flags\0" + ASC_FLAGS.join(" ") + "\0" + ASC_MT_FLAGS.join(" ") + "\0" + ASC_RELAXED_FLAGS.join(" ") + "\0";
  text += "asconfig.json\0" + readFileSync(join(root, "asconfig.json"), "utf8") + "\0";
  for (const f of files) {
    text += f + "\0" + readFileSync(join(dir, f), "utf8") + "\0";
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The source hash recorded in the header of the generated `binary.ts`. */
export function recordedHash(binaryTs: string): string | undefined {
  return /^\/\/ source-hash: ([0-9a-f]{64})$/m.exec(binaryTs)?.[1];
}
