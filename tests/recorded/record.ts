/**
 * Writes `values.json`: the digests of {@linkcode computeAll} under both
 * SIMD builds. Run only when a change of results is intended:
 * `./node_modules/.bin/deno run -A tests/recorded/record.ts`.
 * @module
 */
import { computeAll } from "./cases.ts";
import { closeThreads } from "../../mod.ts";
import { setSimdFlavour } from "../../src/_wasm/loader.ts";

const out: Record<string, Record<string, string>> = {};
for (const flavour of ["plain", "relaxed"] as const) {
  setSimdFlavour(flavour);
  out[flavour] = Object.fromEntries((await computeAll()).map((r) => [r.name, r.digest]));
  closeThreads();
}
setSimdFlavour("auto");
const file = new URL("./values.json", import.meta.url);
Deno.writeTextFileSync(file, JSON.stringify(out, null, 1) + "\n");
console.log(`wrote ${Object.keys(out.plain).length} digests per build to ${file.pathname}`);
