/**
 * Deterministic generators shared by the tests (fixed seeds make failures
 * reproducible across runners).
 * @module
 */

/** mulberry32: uniform numbers in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` values of the Park–Miller generator (multiplier 48271), uniform in (−0.5, 0.5). */
export function lcgValues(seed: number, n: number): Float64Array {
  let s = seed >>> 0 || 1;
  return Float64Array.from({ length: n }, () => {
    s = (Math.imul(s, 48271) >>> 0) % 2147483647;
    return s / 2147483647 - 0.5;
  });
}
