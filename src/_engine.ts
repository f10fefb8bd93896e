/**
 * The wasm engine: folds and scales the kernel, walks the Hermitian half of
 * the frequencies column by column, and hands each frequency's decreasing
 * singular values to a sink.
 * @module
 */
import type { CoreExports } from "./_wasm/loader.ts";
import type { Layer } from "./_validate.ts";
import { ConvergenceError } from "./errors.ts";

/** Bytes the module may address (wasm32: 4 GiB less one page for safety). */
export const MAX_WASM_BYTES = 2 ** 32 - 2 ** 16;
/** Budget for one block of transformed columns. */
const BLOCK_BYTES = 32 * 2 ** 20;

/**
 * Receives the singular values of one frequency (u, v) of the Hermitian half,
 * decreasing, already scaled back. `mirrored` is true when (−u mod h, −v mod w)
 * is a different frequency with the same values.
 */
export type Sink = (u: number, v: number, values: Float64Array, mirrored: boolean) => void;

/** Rounds a byte offset up to a multiple of 16. */
export const alignBytes = (x: number): number => Math.ceil(x / 16) * 16;
const align = alignBytes;

/** Multiplies x by 2^e exactly, for any e that keeps the result in range. */
export function ldexp(x: number, e: number): number {
  while (e > 1000) {
    x *= 2 ** 1000;
    e -= 1000;
  }
  while (e < -1000) {
    x *= 2 ** -1000;
    e += 1000;
  }
  return x * 2 ** e;
}

/** The power-of-two exponent e with max|data|·2^−e in [0.5, 1); undefined for an all-zero kernel. */
export function scaleExponent(data: Float32Array | Float64Array): number | undefined {
  let mx = 0;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]);
    if (a > mx) mx = a;
  }
  if (mx === 0) return undefined;
  let e = Math.ceil(Math.log2(mx));
  // log2 rounding: make sure mx·2^−e lands in [0.5, 1).
  while (ldexp(mx, -e) >= 1) e++;
  while (ldexp(mx, -e) < 0.5) e--;
  return e;
}

/**
 * The folded kernel in OIHW order, scaled by 2^−e: taps a, b land at
 * (a mod h, b mod w), so kernels larger than the input wrap.
 */
export function foldKernel(layer: Layer, e: number): { k: Float64Array; kh: number; kw: number } {
  const { data, layout, cOut, cIn, h, w } = layer;
  const kh = Math.min(layer.kh, h);
  const kw = Math.min(layer.kw, w);
  const k = new Float64Array(cOut * cIn * kh * kw);
  const s = [layer.kh, layer.kw, cIn, cOut];
  for (let o = 0; o < cOut; o++) {
    for (let i = 0; i < cIn; i++) {
      for (let a = 0; a < layer.kh; a++) {
        for (let b = 0; b < layer.kw; b++) {
          const src = layout === "oihw"
            ? ((o * cIn + i) * layer.kh + a) * layer.kw + b
            : ((a * s[1] + b) * s[2] + i) * s[3] + o;
          k[((o * cIn + i) * kh + (a % h)) * kw + (b % w)] += ldexp(data[src], -e);
        }
      }
    }
  }
  return { k, kh, kw };
}

/** Memory plan of one computation, in bytes, relative to the heap base. */
interface Plan {
  nrows: number;
  kh: number;
  kw: number;
  nv: number;
  kPtr: number;
  tr: number;
  ti: number;
  twWork: number;
  colWork: number;
  out: number;
  end: number;
}

function plan(core: CoreExports, layer: Layer): Plan {
  const { cOut, cIn, h, w } = layer;
  const kh = Math.min(layer.kh, h);
  const kw = Math.min(layer.kw, w);
  const nrows = cOut * cIn * kh;
  const nvAll = Math.floor(w / 2) + 1;
  const nv = Math.max(1, Math.min(nvAll, Math.floor(BLOCK_BYTES / (nrows * 16))));
  const r = Math.min(cOut, cIn);
  const base = align(core.heap_base());
  const kPtr = base;
  const tr = align(kPtr + nrows * kw * 8);
  const ti = align(tr + nrows * nv * 8);
  const twWork = align(ti + nrows * nv * 8);
  const twBytes = Math.max(
    core.transform_w_work_bytes(nrows, kw, w, nv),
    core.transform_w_work_bytes(nrows, kw, w, nvAll % nv || nv),
  );
  const colWork = align(twWork + twBytes);
  const half = Math.floor(h / 2) + 1;
  const colBytes = [h, half].map((nu) => core.svd_column_work_bytes(cOut, cIn, kh, h, nu));
  const out = align(colWork + Math.max(...colBytes));
  const end = align(out + h * r * 8);
  const sizes = [nrows * kw * 8, nrows * nv * 16, twBytes, ...colBytes, h * r * 8];
  if (sizes.some((x) => !(x >= 0) || x > MAX_WASM_BYTES) || end > MAX_WASM_BYTES) {
    throw new RangeError(
      `Cannot compute singular values as the working memory must fit in 4 GiB of wasm memory: current value is ${
        sizes.some((x) => x < 0) ? "over 2 GiB for one frequency column" : `${(end / 2 ** 30).toFixed(2)} GiB`
      } (c_out ${cOut}, c_in ${cIn}, kernel ${layer.kh}×${layer.kw}, inputShape [${h}, ${w}])`,
    );
  }
  return { nrows, kh, kw, nv, kPtr, tr, ti, twWork, colWork, out, end };
}

/** Bytes of wasm memory a layer needs (throws RangeError when over the limit). */
export function memoryNeeded(core: CoreExports, layer: Layer): number {
  return plan(core, layer).end;
}

/** Grows the core's memory to at least `bytes` (RangeError if the engine refuses). */
export function ensureMemory(core: CoreExports, bytes: number): void {
  const have = core.memory.buffer.byteLength;
  if (bytes > have) {
    const pages = Math.ceil((bytes - have) / 65536);
    try {
      core.memory.grow(pages);
    } catch (err) {
      throw new RangeError(
        `Cannot compute singular values as the wasm memory must grow to ${bytes} bytes: current value is ${have} bytes and the engine refused to grow (${
          err instanceof Error ? err.message : err
        })`,
      );
    }
  }
}

/**
 * Computes every frequency of the Hermitian half and passes its values to `sink`.
 * Validation must have happened before; the memory check happens here before
 * anything is written.
 */
export function runEngine(core: CoreExports, layer: Layer, sink: Sink): void {
  const { cOut, cIn, h, w } = layer;
  const r = Math.min(cOut, cIn);
  const e = scaleExponent(layer.data);
  if (e === undefined) {
    // The zero kernel: every singular value is 0.
    const zeros = new Float64Array(r);
    forEachHalfFrequency(h, w, (u, v, mirrored) => sink(u, v, zeros, mirrored));
    return;
  }
  const p = plan(core, layer);
  const { k } = foldKernel(layer, e);
  ensureMemory(core, p.end);
  new Float64Array(core.memory.buffer, p.kPtr, k.length).set(k);
  const nvAll = Math.floor(w / 2) + 1;
  const failed: [number, number][] = [];
  for (let v0 = 0; v0 < nvAll; v0 += p.nv) {
    const nv = Math.min(p.nv, nvAll - v0);
    core.transform_w_f64(p.kPtr, p.nrows, p.kw, w, v0, nv, p.tr, p.ti, p.twWork);
    for (let v = v0; v < v0 + nv; v++) {
      const selfMirror = v === 0 || 2 * v === w;
      const nu = selfMirror ? Math.floor(h / 2) + 1 : h;
      const off = (v - v0) * p.nrows * 8;
      const bad = core.svd_column_f64(p.tr + off, p.ti + off, cOut, cIn, p.kh, h, 0, nu, p.out, p.colWork);
      const rows = new Float64Array(core.memory.buffer, p.out, nu * r);
      for (let u = 0; u < nu; u++) {
        const row = rows.slice(u * r, (u + 1) * r);
        if (bad > 0 && Number.isNaN(row[0])) failed.push([u, v]);
        for (let j = 0; j < r; j++) row[j] = ldexp(row[j], e);
        const mirrored = selfMirror ? (h - u) % h !== u : true;
        sink(u, v, row, mirrored);
      }
    }
  }
  if (failed.length > 0) throw new ConvergenceError(failed);
}

/** Visits (u, v, mirrored) over the Hermitian half of an h × w grid, in the engine's order. */
export function forEachHalfFrequency(h: number, w: number, fn: (u: number, v: number, mirrored: boolean) => void): void {
  const nvAll = Math.floor(w / 2) + 1;
  for (let v = 0; v < nvAll; v++) {
    const selfMirror = v === 0 || 2 * v === w;
    const nu = selfMirror ? Math.floor(h / 2) + 1 : h;
    for (let u = 0; u < nu; u++) fn(u, v, selfMirror ? (h - u) % h !== u : true);
  }
}
