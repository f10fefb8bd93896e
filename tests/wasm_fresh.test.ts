import { test } from "./_test.ts";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { recordedHash, sourceHash } from "../src/_wasm/_source_hash.ts";
import { WASM_BASE64 } from "../src/_wasm/binary_plain.ts";

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
  // SIMD code: the code section holds many f64x2.add (0xfd 0xf0 0x01) and f64x2.mul (0xfd 0xf2 0x01)
  // instructions; a module built without --enable simd holds none, and a 3-byte run in constants is rare.
  const code = codeSection(bytes);
  for (const [name, op] of [["f64x2.add", 0xf0], ["f64x2.mul", 0xf2]] as const) {
    let count = 0;
    for (let i = 0; i + 2 < code.length; i++) {
      if (code[i] === 0xfd && code[i + 1] === op && code[i + 2] === 0x01) count++;
    }
    assert.ok(count >= 20, `${name}: ${count} in the code section`);
  }
});

/** The body of a module's code section (id 10), found by walking the section headers. */
function codeSection(bytes: Uint8Array): Uint8Array {
  let p = 8; // magic and version
  const leb = (): number => {
    let v = 0, shift = 0, b: number;
    do {
      b = bytes[p++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  while (p < bytes.length) {
    const id = bytes[p++];
    const size = leb();
    if (id === 10) return bytes.subarray(p, p + size);
    p += size;
  }
  throw new Error("no code section");
}
