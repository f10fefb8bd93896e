/**
 * The wasm engine. Every layer kind reduces to one or more "problems": a
 * 2-D circular, stride-1 convolution on an h × w grid with a folded kernel
 * (real, or complex for the depth frequencies of 3-D layers). The engine
 * scales the kernel by a power of two, walks the frequencies column by
 * column (only the Hermitian half for a real kernel) and hands each
 * frequency's decreasing singular values to a sink.
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
 * One 2-D circular stride-1 convolution: kernel `re (+ i·im)`, OIHW,
 * `cOut × cIn × kh × kw` with `kh ≤ h`, `kw ≤ w` (taps already folded).
 */
export interface Problem {
  cOut: number;
  cIn: number;
  kh: number;
  kw: number;
  h: number;
  w: number;
  re: Float64Array;
  /** Imaginary part of a complex kernel; absent for a real one. */
  im?: Float64Array;
}

/**
 * Receives the singular values of one frequency (u, v), decreasing, already
 * scaled back. For a real kernel only the Hermitian half is visited and
 * `mirrored` is true when (−u mod h, −v mod w) is a different frequency with
 * the same values; for a complex kernel every frequency is visited and
 * `mirrored` is false.
 */
export type Sink = (u: number, v: number, values: Float64Array, mirrored: boolean) => void;

/** Rounds a byte offset up to a multiple of 16. */
export const alignBytes = (x: number): number => Math.ceil(x / 16) * 16;

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

/** The power-of-two exponent e with max|data|·2^−e in [0.5, 1); undefined when all are zero. */
export function scaleExponent(...arrays: (Float32Array | Float64Array | undefined)[]): number | undefined {
  let mx = 0;
  for (const data of arrays) {
    if (!data) continue;
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i]);
      if (a > mx) mx = a;
    }
  }
  if (mx === 0) return undefined;
  let e = Math.ceil(Math.log2(mx));
  // log2 rounding: make sure mx·2^−e lands in [0.5, 1).
  while (ldexp(mx, -e) >= 1) e++;
  while (ldexp(mx, -e) < 0.5) e--;
  return e;
}

/**
 * The folded kernel of a validated 2-D layer in OIHW order, scaled by 2^−e:
 * taps a, b land at (a mod h, b mod w), so kernels larger than the input wrap.
 */
export function foldKernel(layer: Layer, e: number): { k: Float64Array; kh: number; kw: number } {
  const { data, layout, cOut, cIn, h, w } = layer;
  const kh = Math.min(layer.kh, h);
  const kw = Math.min(layer.kw, w);
  const k = new Float64Array(cOut * cIn * kh * kw);
  for (let o = 0; o < cOut; o++) {
    for (let i = 0; i < cIn; i++) {
      for (let a = 0; a < layer.kh; a++) {
        for (let b = 0; b < layer.kw; b++) {
          const src = layout === "oihw"
            ? ((o * cIn + i) * layer.kh + a) * layer.kw + b
            : ((a * layer.kw + b) * cIn + i) * cOut + o;
          k[((o * cIn + i) * kh + (a % h)) * kw + (b % w)] += ldexp(data[src], -e);
        }
      }
    }
  }
  return { k, kh, kw };
}

/** The problem of a validated 2-D layer (folded, unscaled). */
export function layerProblem(layer: Layer): Problem {
  const { k, kh, kw } = foldKernel(layer, 0);
  return { cOut: layer.cOut, cIn: layer.cIn, kh, kw, h: layer.h, w: layer.w, re: k };
}

/** Memory plan of one problem, in bytes from the heap base. */
interface Plan {
  nrows: number;
  nv: number;
  nvAll: number;
  kPtr: number;
  kiPtr: number;
  tr: number;
  ti: number;
  twWork: number;
  colWork: number;
  out: number;
  end: number;
}

function plan(core: CoreExports, p: Problem): Plan {
  const { cOut, cIn, kh, kw, h, w } = p;
  const complex = p.im !== undefined;
  const nrows = cOut * cIn * kh;
  const nvAll = complex ? w : Math.floor(w / 2) + 1;
  const nv = Math.max(1, Math.min(nvAll, Math.floor(BLOCK_BYTES / (nrows * 16))));
  const r = Math.min(cOut, cIn);
  const kPtr = alignBytes(core.heap_base());
  const kiPtr = alignBytes(kPtr + nrows * kw * 8);
  const tr = alignBytes(kiPtr + (complex ? nrows * kw * 8 : 0));
  const ti = alignBytes(tr + nrows * nv * 8);
  const twWork = alignBytes(ti + nrows * nv * 8);
  const twBytes = Math.max(
    core.transform_w_work_bytes(nrows, kw, w, nv),
    core.transform_w_work_bytes(nrows, kw, w, nvAll % nv || nv),
  );
  const colWork = alignBytes(twWork + twBytes);
  const nus = complex ? [h] : [h, Math.floor(h / 2) + 1];
  const colBytes = nus.map((nu) => core.svd_column_work_bytes(cOut, cIn, kh, h, nu));
  const out = alignBytes(colWork + Math.max(...colBytes));
  const end = alignBytes(out + h * r * 8);
  const sizes = [nrows * kw * 8, nrows * nv * 16, twBytes, ...colBytes, h * r * 8];
  if (sizes.some((x) => !(x >= 0) || x > MAX_WASM_BYTES) || end > MAX_WASM_BYTES) {
    throw new RangeError(
      `Cannot compute singular values as the working memory must fit in 4 GiB of wasm memory: current value is ${
        sizes.some((x) => x < 0) ? "over 2 GiB for one frequency column" : `${(end / 2 ** 30).toFixed(2)} GiB`
      } (c_out ${cOut}, c_in ${cIn}, folded kernel ${kh}×${kw}, grid [${h}, ${w}])`,
    );
  }
  return { nrows, nv, nvAll, kPtr, kiPtr, tr, ti, twWork, colWork, out, end };
}

/** Bytes of wasm memory a problem needs (throws RangeError when over the limit). */
export function memoryNeeded(core: CoreExports, p: Problem): number {
  return plan(core, p).end;
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
 * Computes every frequency of a problem (the Hermitian half for a real
 * kernel) and passes its values to `sink`. The memory check happens before
 * anything is written.
 */
export function runProblem(core: CoreExports, prob: Problem, sink: Sink): void {
  const { cOut, cIn, h, w } = prob;
  const r = Math.min(cOut, cIn);
  const complex = prob.im !== undefined;
  const e = scaleExponent(prob.re, prob.im);
  if (e === undefined) {
    // The zero kernel: every singular value is 0.
    const zeros = new Float64Array(r);
    forEachFrequency(h, w, complex, (u, v, mirrored) => sink(u, v, zeros, mirrored));
    return;
  }
  const p = plan(core, prob);
  ensureMemory(core, p.end);
  const mem = new Float64Array(core.memory.buffer);
  for (let i = 0; i < prob.re.length; i++) mem[p.kPtr / 8 + i] = ldexp(prob.re[i], -e);
  if (prob.im) for (let i = 0; i < prob.im.length; i++) mem[p.kiPtr / 8 + i] = ldexp(prob.im[i], -e);
  const failed: [number, number][] = [];
  for (let v0 = 0; v0 < p.nvAll; v0 += p.nv) {
    const nv = Math.min(p.nv, p.nvAll - v0);
    core.transform_w_f64(p.kPtr, complex ? p.kiPtr : 0, p.nrows, prob.kw, w, v0, nv, p.tr, p.ti, p.twWork);
    for (let v = v0; v < v0 + nv; v++) {
      const selfMirror = !complex && (v === 0 || 2 * v === w);
      const nu = selfMirror ? Math.floor(h / 2) + 1 : h;
      const off = (v - v0) * p.nrows * 8;
      const bad = core.svd_column_f64(p.tr + off, p.ti + off, cOut, cIn, prob.kh, h, 0, nu, p.out, p.colWork);
      const rows = new Float64Array(core.memory.buffer, p.out, nu * r);
      for (let u = 0; u < nu; u++) {
        const row = rows.slice(u * r, (u + 1) * r);
        if (bad > 0 && Number.isNaN(row[0])) failed.push([u, v]);
        for (let j = 0; j < r; j++) row[j] = ldexp(row[j], e);
        const mirrored = complex ? false : selfMirror ? (h - u) % h !== u : true;
        sink(u, v, row, mirrored);
      }
    }
  }
  if (failed.length > 0) throw new ConvergenceError(failed);
}

/** Computes every frequency of the Hermitian half of a validated 2-D layer (see {@linkcode runProblem}). */
export function runEngine(core: CoreExports, layer: Layer, sink: Sink): void {
  runProblem(core, layerProblem(layer), sink);
}

/**
 * Visits (u, v, mirrored) in the engine's order: the Hermitian half of an
 * h × w grid (real kernels), or every frequency with mirrored = false (complex).
 */
export function forEachFrequency(
  h: number,
  w: number,
  complex: boolean,
  fn: (u: number, v: number, mirrored: boolean) => void,
): void {
  const nvAll = complex ? w : Math.floor(w / 2) + 1;
  for (let v = 0; v < nvAll; v++) {
    const selfMirror = !complex && (v === 0 || 2 * v === w);
    const nu = selfMirror ? Math.floor(h / 2) + 1 : h;
    for (let u = 0; u < nu; u++) fn(u, v, complex ? false : selfMirror ? (h - u) % h !== u : true);
  }
}
