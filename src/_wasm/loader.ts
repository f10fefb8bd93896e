/**
 * Instantiates the embedded SIMD wasm core once per realm and hands out its
 * exports (typed in src/_wasm/abi.ts).
 * @module
 */
import type { CoreExports } from "./abi.ts";
import { WASM_BASE64, WASM_MT_BASE64, WASM_MT_RELAXED_BASE64, WASM_RELAXED_BASE64 } from "./binary.ts";

let cached: CoreExports | undefined;
let pending: Promise<CoreExports> | undefined;

/** Decodes base64 into bytes (typed for WebAssembly.instantiate's overloads). */
export function decode(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Which build runs: `"relaxed"` (fused multiply-adds, 15–40% faster in the
 * reflector updates; results then differ across CPUs in the last bits),
 * `"plain"` SIMD, or `"auto"` (default): relaxed where the engine validates it.
 */
export type SimdFlavour = "auto" | "relaxed" | "plain";

let flavour: SimdFlavour = "auto";
let relaxedOk: boolean | undefined;

/** Sets the build for modules loaded from now on (tests use it to run both builds). */
export function setSimdFlavour(f: SimdFlavour): void {
  if (f !== flavour) {
    flavour = f;
    cached = undefined;
    pending = undefined;
  }
}

/** Whether the relaxed build runs (feature-detected once). */
export function usesRelaxedSimd(): boolean {
  if (flavour !== "auto") return flavour === "relaxed";
  relaxedOk ??= WebAssembly.validate(decode(WASM_RELAXED_BASE64));
  return relaxedOk;
}

/** The bytes of the one-thread (or, with `threads`, the worker-thread) core in the chosen flavour. */
export function coreBytes(threads = false): Uint8Array<ArrayBuffer> {
  const relaxed = usesRelaxedSimd();
  if (threads) return decode(relaxed ? WASM_MT_RELAXED_BASE64 : WASM_MT_BASE64);
  return decode(relaxed ? WASM_RELAXED_BASE64 : WASM_BASE64);
}

function explain(err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  return new Error(
    `Cannot load the convsv wasm core (WebAssembly SIMD is required): ${msg}`,
    { cause: err },
  );
}

/**
 * The core's exports, compiled synchronously on first use. Works in Deno, Bun,
 * Node and workers; a browser's main thread refuses synchronous compilation of
 * large modules, so there call {@linkcode loadWasm} (or any async API) first.
 */
export function loadWasmSync(): CoreExports {
  if (cached) return cached;
  try {
    const module = new WebAssembly.Module(coreBytes());
    cached = new WebAssembly.Instance(module, {}).exports as unknown as CoreExports;
  } catch (err) {
    throw explain(err);
  }
  return cached;
}

/** The core's exports, compiled asynchronously on first use. */
export function loadWasm(): Promise<CoreExports> {
  if (cached) return Promise.resolve(cached);
  pending ??= WebAssembly.instantiate(coreBytes(), {}).then(
    (r) => (cached ??= r.instance.exports as unknown as CoreExports),
    (err) => {
      pending = undefined;
      throw explain(err);
    },
  );
  return pending;
}
