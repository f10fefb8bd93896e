/**
 * Instantiates the embedded SIMD wasm core once per realm and hands out its exports.
 * @module
 */
import { WASM_BASE64, WASM_MT_BASE64, WASM_MT_RELAXED_BASE64, WASM_RELAXED_BASE64 } from "./binary.ts";

/** The exports of the wasm core (pointers are byte offsets into `memory`). */
export interface CoreExports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  lead_dim(m: number): number;
  use_fft(k: number, n: number, outs: number): number;
  fft_cost(n: number): number;
  transform_w_work_bytes(nrows: number, kw: number, w: number, nv: number): number;
  transform_w_f64(
    k: number, ki: number, nrows: number, kw: number, w: number, v0: number, nv: number,
    outr: number, outi: number, work: number,
  ): number;
  svd_column_work_bytes(cout: number, cin: number, kh: number, h: number, nu: number, groups: number): number;
  svd_column_f32(
    tr: number, ti: number, cout: number, cin: number, kh: number, h: number,
    u0: number, nu: number, out: number, groups: number, work: number,
  ): number;
  svd_column_f64(
    tr: number, ti: number, cout: number, cin: number, kh: number, h: number,
    u0: number, nu: number, out: number, groups: number, work: number,
  ): number;
  bidiag_work_bytes(ld: number, n: number): number;
  bidiag_c64_split(
    ar: number, ai: number, m: number, n: number, ld: number, d: number, e: number, work: number, taus: number,
  ): number;
  svd_work_bytes(m: number, n: number): number;
  build_p_f64(
    tr: number, ti: number, cout: number, cin: number, kh: number, h: number, u: number,
    ar: number, ai: number, ld: number, work: number,
  ): number;
  tap_major_f64(
    src: number, dst: number, groups: number, cout: number, cin: number, kh: number, kw: number, scale: number,
  ): number;
  build_p_tap_f64(
    tr: number, ti: number, cout: number, cin: number, kh: number, h: number, u: number,
    ar: number, ai: number, ld: number, work: number,
  ): number;
  svd_c64_split(
    ar: number, ai: number, m: number, n: number, ld: number, s: number, k: number,
    ur: number, ui: number, vr: number, vi: number, work: number,
  ): number;
  clip_column_work_bytes(cout: number, cin: number, kh: number): number;
  clip_column_f64(
    tr: number, ti: number, cout: number, cin: number, kh: number, h: number,
    kw: number, w: number, v: number, nu: number, selfMirror: number, c: number,
    kout: number, sv: number, work: number, corr: number,
  ): number;
  bdsqr_values_f64(d: number, e: number, n: number, rtol: number): number;
  sort_desc_f64(p: number, n: number): void;
  sort_values_work_bytes(n: number): number;
  sort_values_desc_f64(p: number, n: number, work: number): number;
  fft_plan_bytes(n: number): number;
  fft_plan_init(n: number, plan: number): number;
  fft_c64_batch(re: number, im: number, n: number, count: number, plan: number): number;
  conv_work_bytes_f64(geom: number): number;
  conv_f64_cdhw(geom: number, w: number, x: number, y: number, work: number): number;
  conv_adjoint_f64_cdhw(geom: number, w: number, y: number, x: number, work: number): number;
}

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
