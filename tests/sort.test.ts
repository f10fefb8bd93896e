/**
 * The radix sort of a layer's values (src/_wasm/sort.ts, assembly/sort.ts)
 * against the built-in sort, on value sets built to reach each of its paths:
 * spread values, values equal on their leading 33 bits in short and long runs
 * (a scaled orthogonal layer's values agree to rounding), exact duplicates,
 * all equal, zeros of both signs, and sizes on both sides of the radix path;
 * each set also split into values that stand for two (a frequency and its
 * mirror) and values that stand for one.
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { loadWasmSync } from "../src/_wasm/loader.ts";
import { sortTwiceDescending } from "../src/_wasm/sort.ts";

/** The built-in sort, decreasing. */
function reference(values: Float64Array): Float64Array {
  return values.slice().sort().reverse();
}

/**
 * Checks the sort of `values` (each standing for one) and, with `twice`, of
 * its first `twice` values each standing for two and the rest for one.
 */
function check(values: Float64Array, what: string, twice = 0): void {
  const once = values.length - twice;
  const all = new Float64Array(2 * twice + once);
  for (let i = 0; i < twice; i++) all[2 * i] = all[2 * i + 1] = values[i];
  all.set(values.subarray(twice), 2 * twice);
  const want = reference(all);
  const given = new Float64Array(all.length);
  given.set(values.subarray(0, twice));
  given.set(values.subarray(twice), given.length - once);
  const got = sortTwiceDescending(loadWasmSync(), given, twice, once);
  assert.equal(got, given, `${what}: sorted in place`);
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    // A zero's sign is not kept (the radix path clears it); every other value keeps its bits.
    if (!Object.is(got[i], want[i]) && !(got[i] === 0 && want[i] === 0)) {
      assert.fail(`${what}: [${i}] ${got[i]} ≠ ${want[i]} (n ${want.length})`);
    }
  }
}

const KINDS = [
  "spread",
  "clustered",
  "long runs",
  "duplicates",
  "equal",
  "zeros",
  "wide exponents",
  "rayleigh",
] as const;

function valuesOf(n: number, kind: (typeof KINDS)[number], seed: number) {
  let s = seed;
  const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647;
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    switch (kind) {
      case "spread":
        v[i] = rnd() * 10;
        break;
      case "clustered": // runs of a few values equal on the leading 33 bits: the insertion path
        v[i] = rnd() < 0.02
          ? rnd() * 1e-8
          : (1 + Math.floor(rnd() * n / 4) * 2 ** -20) * (1 + Math.floor(rnd() * 64) * 2 ** -48);
        break;
      case "long runs": // three long runs equal on the leading 33 bits: radix passes on each run's low bits
        v[i] = rnd() < 0.02
          ? rnd() * 1e-8
          : (1 + Math.floor(rnd() * 3) * 2 ** -20) * (1 + Math.floor(rnd() * 2 ** 10) * 2 ** -50);
        break;
      case "duplicates":
        v[i] = Math.floor(rnd() * 7) / 3;
        break;
      case "equal":
        v[i] = 0.7;
        break;
      case "zeros":
        v[i] = rnd() < 0.5 ? (rnd() < 0.5 ? -0 : 0) : rnd();
        break;
      case "rayleigh": // moduli of random complex numbers: a few binades, values on both sides of 1 and 2
        v[i] = Math.hypot(rnd() - 0.5, rnd() - 0.5) * 3;
        break;
      default: // "wide exponents"
        v[i] = Math.exp((rnd() - 0.5) * 1400);
    }
  }
  return { v, what: `${kind} n ${n} seed ${seed}`, twice: Math.floor(rnd() * (n + 1)) };
}

const valuesArb = fc.record({
  n: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 500, max: 6000 })),
  kind: fc.constantFrom(...KINDS),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
}).map(({ n, kind, seed }) => valuesOf(n, kind, seed));

test("sort: the radix sort of values equals the built-in sort, decreasing, bit for bit", () => {
  fc.assert(fc.property(valuesArb, ({ v, what }) => check(v, what)), { numRuns: 300, seed: 3141 });
});

test("sort: values that stand for two (mirrored frequencies) and for one, merged, equal the built-in sort of all", () => {
  fc.assert(fc.property(valuesArb, ({ v, what, twice }) => check(v, `${what}, ${twice} twice`, twice)), {
    numRuns: 300,
    seed: 2718,
  });
  check(Float64Array.from({ length: 300_000 }, (_, i) => Math.abs(Math.sin(i))), "300,000, all twice", 300_000);
  check(Float64Array.from({ length: 1000 }, (_, i) => i % 3), "one value twice, the rest once", 1);
});

test("sort: 200,000 values in long runs equal to 33 bits, and a scaled orthogonal layer's values", () => {
  let s = 99;
  const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647;
  check(
    Float64Array.from({ length: 200_000 }, () => 2 * (1 + Math.floor(rnd() * 5) * 2 ** -30) * (1 + rnd() * 2 ** -40)),
    "runs",
  );
  check(Float64Array.from({ length: 100_000 }, () => 1.5 * (1 + (rnd() - 0.5) * 2 ** -50)), "all equal to rounding");
});

test("sort: from 65,536 values (two 13-bit digits first) every kind of value set, alone and merged, equals the built-in sort", () => {
  for (const kind of KINDS) {
    for (const [n, seed] of [[65_536, 11], [65_535, 12], [150_001, 13]]) {
      const { v, what, twice } = valuesOf(n, kind, seed);
      check(v, what);
      check(v, `${what}, ${twice} twice`, twice);
    }
  }
});
