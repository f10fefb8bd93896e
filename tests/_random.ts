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

/** `n` numbers of {@linkcode mulberry32} mapped to [−1, 1) (exactly `2u − 1`). */
export function signedUniform(seed: number, n: number): Float64Array {
  const r = mulberry32(seed);
  return Float64Array.from({ length: n }, () => 2 * r() - 1);
}

/** Numerical Recipes' 32-bit linear congruential generator (1664525, 1013904223): uniform in [0, 1). */
export function lcg32(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** ANSI C's `rand()` recurrence (1103515245, 12345, mod 2^31), evaluated in doubles: uniform in [−0.5, 0.5). */
export function ansiLcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
}
