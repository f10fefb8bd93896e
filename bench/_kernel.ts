/**
 * The benchmark's kernels, bit for bit the ones `bench/peers.py` builds.
 * @module
 */

/** The seed shared with bench/peers.py. */
export const DEFAULT_SEED = 20190506;

/**
 * `n` float64 weights, read as a row-major OIHW kernel: element `i` is a
 * 32-bit hash of `i` (golden-ratio step plus seed, then an xor-shift/multiply
 * finaliser) mapped to `(x + 0.5)·2⁻³¹ − 1`, uniform in (−1, 1) and exact in
 * float64.
 */
export function kernelOIHW(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  const s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i, 0x9E3779B9) + s) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    x = Math.imul(x, 0x85EBCA6B) >>> 0;
    x = (x ^ (x >>> 13)) >>> 0;
    x = Math.imul(x, 0xC2B2AE35) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    out[i] = (x + 0.5) * 2 ** -31 - 1;
  }
  return out;
}
