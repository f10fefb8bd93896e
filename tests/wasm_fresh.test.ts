import { test } from "./_test.ts";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { recordedHash, sourceHash } from "../src/_wasm/_source_hash.ts";
import { WASM_BASE64 } from "../src/_wasm/binary.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

test("src/_wasm/binary.ts is generated from the current assembly/ sources (else run npm run build:wasm)", async () => {
  const text = readFileSync(join(root, "src", "_wasm", "binary.ts"), "utf8");
  assert.match(text.split("\n")[0], /^\/\/ @generated .* do not edit$/);
  assert.equal(recordedHash(text), await sourceHash(root));
});

test("the embedded wasm validates and uses SIMD", () => {
  const bin = atob(WASM_BASE64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  assert.ok(WebAssembly.validate(bytes));
  const module = new WebAssembly.Module(bytes);
  const names = WebAssembly.Module.exports(module).map((e) => e.name);
  for (const name of ["svd_column_f64", "transform_w_f64", "bidiag_c64_split", "bdsqr_values_f64", "fft_c64_batch"]) {
    assert.ok(names.includes(name), name);
  }
  // A module built without --enable simd has no v128 opcodes (0xfd prefix) in its code section.
  assert.ok(bytes.includes(0xfd));
});
