/**
 * Instantiates the embedded SIMD wasm core once per realm and hands out its
 * exports (typed in src/_wasm/abi.ts).
 *
 * Four builds ship, one generated module each: plain or relaxed SIMD, for one
 * thread or for worker threads. The two one-thread builds are static imports
 * because {@linkcode loadWasmSync} must work with no prior async call (an ES
 * module cannot import conditionally and synchronously); each stays a base64
 * string until its flavour is loaded. The threaded builds are imported
 * dynamically, only the flavour that runs, when a worker pool starts
 * ({@linkcode threadedCoreBytes}). Relaxed-SIMD support is detected with a
 * 40-byte probe module.
 * @module
 */
import type { CoreExports } from "./abi.ts";
import { WASM_BASE64 } from "./binary_plain.ts";
import { WASM_RELAXED_BASE64 } from "./binary_relaxed.ts";

let cached: CoreExports | undefined;
let pending: Promise<CoreExports> | undefined;

/** The native decoder (`Uint8Array.fromBase64`, ES2026) where the engine has it. */
const fromBase64 = (Uint8Array as { fromBase64?: (b64: string) => Uint8Array<ArrayBuffer> }).fromBase64;

/**
 * Decodes base64 into bytes (typed for WebAssembly.instantiate's overloads):
 * natively where the engine can, else by `atob` and a copy loop (far slower).
 */
export function decode(b64: string): Uint8Array<ArrayBuffer> {
  if (fromBase64) return fromBase64(b64);
  const bin = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Which build runs: `"relaxed"` (fused multiply-adds: fewer instructions in
 * the reflector updates; results then differ across CPUs in the last bits),
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

/**
 * A module of one function that returns `f64x2.relaxed_madd` of three splats:
 * an engine validates it exactly when it validates relaxed SIMD.
 */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // "\0asm", version 1
  0x01,
  0x05,
  0x01,
  0x60,
  0x00,
  0x01,
  0x7b, // type section: 1 type, () -> v128
  0x03,
  0x02,
  0x01,
  0x00, // function section: 1 function of type 0
  0x0a,
  0x13,
  0x01,
  0x11,
  0x00, // code section: 1 body of 17 bytes, no locals
  0x41,
  0x00,
  0xfd,
  0x0f, // i32.const 0, i8x16.splat
  0x41,
  0x00,
  0xfd,
  0x0f, // i32.const 0, i8x16.splat
  0x41,
  0x00,
  0xfd,
  0x0f, // i32.const 0, i8x16.splat
  0xfd,
  0x87,
  0x02,
  0x0b, // f64x2.relaxed_madd (0xfd 0x107), end
]);

/** Whether the relaxed build runs (feature-detected once with a probe module, unless a flavour is set). */
export function usesRelaxedSimd(): boolean {
  if (flavour !== "auto") return flavour === "relaxed";
  relaxedOk ??= WebAssembly.validate(RELAXED_SIMD_PROBE);
  return relaxedOk;
}

/** Which build runs: `"relaxed"` or `"plain"` SIMD (for results to report). */
export function simdFlavour(): "relaxed" | "plain" {
  return usesRelaxedSimd() ? "relaxed" : "plain";
}

/**
 * The bytes of the one-thread core in the flavour that runs. The threaded
 * core is loaded asynchronously: {@linkcode threadedCoreBytes}.
 */
export function coreBytes(threads: false = false): Uint8Array<ArrayBuffer> {
  if (threads) throw new TypeError("Cannot return the threaded core synchronously: use threadedCoreBytes()");
  return decode(usesRelaxedSimd() ? WASM_RELAXED_BASE64 : WASM_BASE64);
}

/** The bytes of the worker-thread core in the flavour that runs, importing only that build's module. */
export async function threadedCoreBytes(): Promise<Uint8Array<ArrayBuffer>> {
  const b64 = usesRelaxedSimd()
    ? (await import("./binary_mt_relaxed.ts")).WASM_MT_RELAXED_BASE64
    : (await import("./binary_mt_plain.ts")).WASM_MT_BASE64;
  return decode(b64);
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

const spareModules = new Map<boolean, Promise<WebAssembly.Module>>();
const spares = new Map<boolean, CoreExports[]>();

/**
 * Runs `fn` on an instance of the one-thread core of its own (memory no
 * other call touches), for work that yields to the event loop in the middle:
 * a synchronous call meanwhile would lay out its data on the shared
 * instance's memory. Instances are kept for reuse.
 */
export async function withSpareCore<T>(fn: (core: CoreExports) => Promise<T>): Promise<T> {
  const relaxed = usesRelaxedSimd();
  let module = spareModules.get(relaxed);
  if (!module) {
    module = WebAssembly.compile(coreBytes());
    spareModules.set(relaxed, module);
  }
  const list = spares.get(relaxed) ?? [];
  spares.set(relaxed, list);
  const core = list.pop() ?? (await WebAssembly.instantiate(await module, {})).exports as unknown as CoreExports;
  try {
    return await fn(core);
  } finally {
    list.push(core);
  }
}
