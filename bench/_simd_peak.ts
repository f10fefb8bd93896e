/**
 * The machine's WebAssembly SIMD peak, measured in the benchmark's own run.
 *
 * - `registerPeak`: a tiny wasm module assembled here byte by byte (no
 *   toolchain) whose loop updates 12 independent `v128` accumulators
 *   `a ← a·x + y` with operands in registers: `f64x2`/`f32x4` `mul` then
 *   `add`, and, where the engine validates relaxed SIMD, `relaxed_madd`
 *   (a fused multiply-add on x86 with FMA). 12 chains cover the latency of
 *   two 128-bit pipes of each kind; the reported rate is the best of a few
 *   runs of about 0.1 s.
 * - `bidiagRate`: the package's own kernel, `bidiag_c64_split` /
 *   `bidiag_c32_split` (complex Householder bidiagonalisation, the bulk of
 *   `singularValues`), on one `n × n` complex matrix that fits in L2, timed
 *   on a private instance of the core (its own memory; the package's cached
 *   instance is untouched). This is the rate the algorithm reaches when
 *   memory is not the limit: the ceiling for the per-case GFLOP/s.
 * @module
 */
import { coreBytes, usesRelaxedSimd } from "../src/_wasm/loader.ts";
import type { CoreExports } from "../src/_wasm/abi.ts";

/** Rates in GFLOP/s (1e9 real floating-point operations per second). */
export interface PeakRates {
  f64MulAdd: number;
  f32MulAdd: number;
  /** `null` where the engine does not validate relaxed SIMD. */
  f64Fma: number | null;
  f32Fma: number | null;
}

// ------------------------------------------------------------ wasm assembly

const CHAINS = 12;

/** Unsigned LEB128. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...leb(bytes.length), ...bytes];
}

const SIMD = 0xfd;
const op = (code: number): number[] => [SIMD, ...leb(code)];
/** SIMD opcodes (WebAssembly SIMD and relaxed-SIMD specifications). */
const OPS = {
  f32: { splat: 0x13, extract: 0x1f, add: 0xe4, mul: 0xe6, madd: 0x105 },
  f64: { splat: 0x14, extract: 0x21, add: 0xf0, mul: 0xf2, madd: 0x107 },
};

/**
 * `(func (param $n i32) (param $x f64) (param $y f64) (result f64))`: runs
 * `$n` iterations of `a_j ← a_j·x + y` on 12 accumulators, returns lane 0 of
 * their sum (so nothing is dead code).
 */
function peakBody(type: "f32" | "f64", fused: boolean): number[] {
  const o = OPS[type];
  const X = 3, Y = 4, A = 5; // locals after the 3 params
  const get = (i: number) => [0x20, ...leb(i)];
  const set = (i: number) => [0x21, ...leb(i)];
  const demote = type === "f32" ? [0xb6] : []; // f32.demote_f64
  const code: number[] = [];
  code.push(...get(1), ...demote, ...op(o.splat), ...set(X));
  code.push(...get(2), ...demote, ...op(o.splat), ...set(Y));
  for (let j = 0; j < CHAINS; j++) code.push(...get(X), ...set(A + j));
  code.push(0x03, 0x40); // loop (no result)
  for (let j = 0; j < CHAINS; j++) {
    if (fused) code.push(...get(A + j), ...get(X), ...get(Y), ...op(o.madd), ...set(A + j));
    else code.push(...get(A + j), ...get(X), ...op(o.mul), ...get(Y), ...op(o.add), ...set(A + j));
  }
  // n ← n − 1; continue while n ≠ 0
  code.push(...get(0), 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b);
  code.push(...get(A));
  for (let j = 1; j < CHAINS; j++) code.push(...get(A + j), ...op(o.add));
  code.push(...op(o.extract), 0x00);
  if (type === "f32") code.push(0xbb); // f64.promote_f32
  code.push(0x0b); // end
  const locals = [0x01, ...leb(2 + CHAINS), 0x7b]; // (2 + CHAINS) × v128
  const body = [...locals, ...code];
  return [...leb(body.length), ...body];
}

/** A module exporting `f64` and `f32` (plain mul + add, or relaxed_madd when `fused`). */
export function peakModuleBytes(fused: boolean): Uint8Array<ArrayBuffer> {
  const type = section(1, [0x01, 0x60, 0x03, 0x7f, 0x7c, 0x7c, 0x01, 0x7c]);
  const funcs = section(3, [0x02, 0x00, 0x00]);
  const exports = section(7, [0x02, ...name("f64"), 0x00, 0x00, ...name("f32"), 0x00, 0x01]);
  const code = section(10, [0x02, ...peakBody("f64", fused), ...peakBody("f32", fused)]);
  const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...funcs, ...exports, ...code];
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

type PeakFn = (n: number, x: number, y: number) => number;

function rate(fn: PeakFn, lanes: number): number {
  const flopsPerIter = CHAINS * 2 * lanes;
  // Calibrate to about 0.1 s per run, then keep the best of 5.
  let n = 1 << 16;
  for (;;) {
    const t0 = performance.now();
    fn(n, 1, 0);
    if (performance.now() - t0 > 20 || n > 1 << 28) break;
    n *= 4;
  }
  n *= 5;
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    const v = fn(n, 1, 0);
    const dt = performance.now() - t0;
    if (v !== CHAINS) throw new Error(`SIMD peak kernel returned ${v}, want ${CHAINS}`);
    best = Math.min(best, dt);
  }
  return (n * flopsPerIter) / (best * 1e6);
}

/** The register-bound SIMD rates of this machine and engine, one thread. */
export function registerPeak(): PeakRates {
  const plain = new WebAssembly.Instance(new WebAssembly.Module(peakModuleBytes(false)), {})
    .exports as unknown as { f64: PeakFn; f32: PeakFn };
  const fusedBytes = peakModuleBytes(true);
  let fused: { f64: PeakFn; f32: PeakFn } | null = null;
  if (WebAssembly.validate(fusedBytes)) {
    fused = new WebAssembly.Instance(new WebAssembly.Module(fusedBytes), {})
      .exports as unknown as { f64: PeakFn; f32: PeakFn };
  }
  return {
    f64MulAdd: rate(plain.f64, 2),
    f32MulAdd: rate(plain.f32, 4),
    f64Fma: fused ? rate(fused.f64, 2) : null,
    f32Fma: fused ? rate(fused.f32, 4) : null,
  };
}

// -------------------------------------------------------- the package kernel

/** The core's exports the kernel-in-L2 measurement calls. */
type BidiagExports = Pick<
  CoreExports,
  "memory" | "heap_base" | "lead_dim" | "lead_dim32" | "bidiag_work_bytes" | "bidiag_c64_split" | "bidiag_c32_split"
>;

/**
 * GFLOP/s of the package's bidiagonalisation of one `n × n` complex matrix
 * (flop model: 32/3·n³ real flops), `f64` and `f32`, the best of `runs`
 * batches (≥ 2·10⁷/n³ calls each, so small n is not below the timer's
 * resolution), each call on a fresh copy of the same matrix (the copies'
 * own time, measured alike, is taken off). Also says whether the relaxed
 * (fused multiply-add) build ran.
 */
export function bidiagRate(n: number, runs = 25): { f64: number; f32: number; relaxed: boolean } {
  const core = new WebAssembly.Instance(new WebAssembly.Module(coreBytes()), {})
    .exports as unknown as BidiagExports;
  const flops = (32 / 3) * n * n * n;
  const measure = (f32: boolean): number => {
    const sz = f32 ? 4 : 8;
    const ld = f32 ? core.lead_dim32(n) : core.lead_dim(n);
    const align = (p: number) => (p + 63) & ~63;
    const base = align(core.heap_base());
    const plane = ld * n * sz;
    const ar = base, ai = align(ar + plane);
    const d = align(ai + plane), e = align(d + n * 8);
    const work = align(e + n * 8);
    const end = work + core.bidiag_work_bytes(ld, n) * 2 + 64;
    const have = core.memory.buffer.byteLength;
    if (end > have) core.memory.grow(Math.ceil((end - have) / 65536));
    const buf = core.memory.buffer;
    const src = new Float64Array(2 * ld * n);
    let s = 12345;
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        src[j * ld + i] = s / 2 ** 31 - 1;
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        src[ld * n + j * ld + i] = s / 2 ** 31 - 1;
      }
    }
    const load = () => {
      if (f32) {
        new Float32Array(buf, ar, ld * n).set(src.subarray(0, ld * n));
        new Float32Array(buf, ai, ld * n).set(src.subarray(ld * n));
      } else {
        new Float64Array(buf, ar, ld * n).set(src.subarray(0, ld * n));
        new Float64Array(buf, ai, ld * n).set(src.subarray(ld * n));
      }
    };
    // Small matrices take less than the timer's resolution: time batches of
    // (copy in + reduce) and of the copies alone, and take the difference.
    const batch = Math.max(1, Math.ceil(2e7 / (n * n * n)));
    const timeBatch = (reduce: boolean): number => {
      const t0 = performance.now();
      for (let b = 0; b < batch; b++) {
        load();
        if (!reduce) continue;
        if (f32) core.bidiag_c32_split(ar, ai, n, n, ld, d, e, work, 0);
        else core.bidiag_c64_split(ar, ai, n, n, ld, d, e, work, 0);
      }
      return (performance.now() - t0) / batch;
    };
    const times: number[] = [];
    const copies: number[] = [];
    for (let r = 0; r <= runs; r++) {
      const t = timeBatch(true);
      const c = timeBatch(false);
      if (r > 0) {
        // the first run is a warm-up
        times.push(t);
        copies.push(c);
      }
    }
    // The best runs: a ceiling, not a typical rate.
    return flops / (Math.max(Math.min(...times) - Math.min(...copies), 1e-6) * 1e6);
  };
  return { f64: measure(false), f32: measure(true), relaxed: usesRelaxedSimd() };
}
