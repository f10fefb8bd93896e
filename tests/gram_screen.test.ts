/**
 * The Gram-domain screen of the operator norm (assembly/gram.ts, the
 * engine's GramScreen), frequency by frequency against the spectrum's own
 * values (checked against dense SVDs elsewhere):
 *
 * - sound: it never certifies σ_max(u, v) < s for s a hair below the
 *   frequency's largest value (the Gram matrices from the kernel's R_d are
 *   the frequencies' own, to rounding);
 * - sharp: it certifies every frequency at s = σ_max(u, v) + 1e-6·‖A‖, so
 *   the screen leaves open only the frequencies that may hold the maximum;
 * - its estimates are lower estimates of each frequency's σ_max, to the
 *   Gram matrix's rounding (a square root of it: ~√ε·‖A‖ absolute, seen at
 *   frequencies where the layer vanishes).
 *
 * The norm built on it is checked bit for bit against the spectrum's in
 * tests/operator_norm.test.ts.
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { test } from "./_test.ts";
import { signedUniform } from "./_random.ts";
import { GramScreen, likeliestFirst, problemNorm, runProblem } from "../src/_wasm/engine.ts";
import { loadWasmSync } from "../src/_wasm/loader.ts";
import { ldexp, type Problem, scaleExponent } from "../src/_problem/problem.ts";
import { mayCertify } from "../src/_clip/wasm.ts";

interface Case {
  prob: Problem;
  what: string;
}

/** Checks one problem's every frequency (of the Hermitian half for a real kernel), with and without ‖G‖_F²'s polynomial. */
function check(c: Case): void {
  for (const polynomial of [false, true]) checkWith(c, polynomial);
}

function checkWith({ prob, what: named }: Case, polynomial: boolean): void {
  const what = `${named}${polynomial ? ", ‖G‖_F² by its polynomial" : ""}`;
  const { h, w } = prob;
  const complex = prob.im !== undefined;
  // Each frequency's largest value from the engine's SVD walk (checked against dense SVDs elsewhere).
  const tops = new Float64Array(h * w);
  runProblem(loadWasmSync(), prob, (u, v, values) => {
    tops[u * w + v] = values[0];
  });
  const top = (u: number, v: number) => tops[u * w + v];
  const norm = Math.max(...tops);
  const e = scaleExponent(prob.re, prob.im)!;
  const columns = complex ? w : (w >> 1) + 1;
  const length = (v: number) => (!complex && (v === 0 || 2 * v === w) ? (h >> 1) + 1 : h);
  // A screen used before any estimate (as a clipping round uses it): the same verdicts.
  {
    const fresh = new GramScreen(loadWasmSync(), prob, e, polynomial);
    for (let v = 0; v < columns; v++) {
      const nu = length(v);
      const flags = Uint8Array.from(fresh.screen(v, 0, nu, ldexp(0.7 * norm, -e)));
      for (let u = 0; u < nu; u++) {
        if (flags[u] === 1) assert.ok(top(u, v) < 0.7 * norm, `${what}: fresh screen certified (${u}, ${v})`);
      }
    }
  }
  const screen = new GramScreen(loadWasmSync(), prob, e, polynomial);
  for (let v = 0; v < columns; v++) {
    const est = Float64Array.from(screen.estimates(v));
    const nu = length(v);
    assert.equal(est.length, nu, what);
    for (let u = 0; u < nu; u++) {
      const sigma = top(u, v);
      const at = `${what} at (${u}, ${v}): σ_max ${sigma}`;
      assert.ok(ldexp(est[u], e) <= sigma * (1 + 1e-12) + 1e-7 * norm, `estimate ${ldexp(est[u], e)} above ${at}`);
      if (sigma > 0) {
        assert.equal(screen.screen(v, u, 1, ldexp(sigma * (1 - 1e-9), -e))[0], 0, `certified below ${at}`);
      }
      if (sigma >= 1e-3 * norm) {
        assert.equal(screen.screen(v, u, 1, ldexp(sigma + 1e-6 * norm, -e))[0], 1, `not certified above ${at}`);
      }
    }
    // With a floor, a group is passed over only where tr PᴴP or ‖PᴴP‖_F shows it below the floor or an earlier estimate.
    const floor = ldexp(0.6 * norm, -e);
    const estF = Float64Array.from(screen.estimates(v, floor));
    let running = floor;
    for (let u = 0; u < nu; u++) {
      const at = `${what}: estimate with a floor at (${u}, ${v})`;
      if (estF[u] === 0) assert.ok(top(u, v) <= ldexp(running, e) * (1 + 1e-9), at);
      else assert.ok(estF[u] === est[u] || (estF[u] < est[u] && est[u] <= running * (1 + 1e-9)), at);
      running = Math.max(running, estF[u]);
    }
    // A whole column at once gives the same flags as one frequency at a time.
    const s = ldexp(0.9 * norm, -e);
    const flags = Uint8Array.from(screen.screen(v, 0, nu, s));
    for (let u = 0; u < nu; u++) {
      assert.equal(flags[u], screen.screen(v, u, 1, s)[0], `${what}: column flags at u ${u}`);
    }
  }
}

/** Random problems: channels, groups, taps per axis and grid padding up to the given limits, scaled by one of `scales`. */
function casesOf(o: {
  channels: [number, number];
  groups: number;
  taps: number;
  pad: number;
  scales: number[];
  complex: boolean;
}): fc.Arbitrary<Case> {
  return fc.record({
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    cOut: fc.integer({ min: o.channels[0], max: o.channels[1] }),
    cIn: fc.integer({ min: o.channels[0], max: o.channels[1] }),
    groups: fc.integer({ min: 1, max: o.groups }),
    kh: fc.integer({ min: 1, max: o.taps }),
    kw: fc.integer({ min: 1, max: o.taps }),
    dh: fc.integer({ min: 0, max: o.pad }),
    dw: fc.integer({ min: 0, max: o.pad }),
    scale: fc.constantFrom(...o.scales),
    complex: o.complex ? fc.boolean() : fc.constant(false),
  }).map(({ seed, cOut, cIn, groups, kh, kw, dh, dw, scale, complex }) => {
    const len = groups * cOut * cIn * kh * kw;
    return {
      prob: {
        cOut,
        cIn,
        groups,
        kh,
        kw,
        h: kh + dh,
        w: kw + dw,
        re: signedUniform(seed, len).map((x) => x * scale),
        im: complex ? signedUniform(seed + 1, len).map((x) => x * scale) : undefined,
      },
      what: `${groups} × ${cOut}×${cIn}${complex ? " complex" : ""}, taps ${kh}×${kw}, grid ${kh + dh}×${
        kw + dw
      }, scale ${scale}, seed ${seed}`,
    };
  });
}

const caseArb = casesOf({ channels: [1, 12], groups: 3, taps: 4, pad: 6, scales: [1, 1e-200, 1e150], complex: true });

test("Gram screen: sound and sharp at every frequency of random problems (real and complex, tall, wide, groups, 1 to 4 taps, scaled)", () => {
  fc.assert(fc.property(caseArb, (c) => check(c)), { numRuns: 80, seed: 1717 });
});

test("Gram screen: sound and sharp with blocks of 16 to 40 values, where the certificate runs in f32 first", () => {
  const wide = casesOf({ channels: [16, 40], groups: 1, taps: 3, pad: 4, scales: [1, 1e-30, 1e30], complex: false });
  fc.assert(fc.property(wide, (c) => check(c)), { numRuns: 30, seed: 2024 });
});

test("problemNorm with a floor (another problem's norm): the norm, bit for bit, where the floor is below it; at most the floor where it is not", () => {
  fc.assert(
    fc.property(caseArb, fc.constantFrom(0.3, 0.9, 1 - 1e-12, 1, 1 + 1e-12, 1.5), ({ prob, what }, f) => {
      const core = loadWasmSync();
      const norm = problemNorm(core, prob);
      let want = 0;
      runProblem(core, prob, (_u, _v, values) => {
        want = Math.max(want, values[0]);
      });
      assert.ok(Object.is(norm, want), `${what}: no floor`);
      const floor = norm * f;
      const got = problemNorm(core, prob, floor);
      if (floor < norm) assert.ok(Object.is(got, norm), `${what}: floor ${f}·norm gave ${got}, not ${norm}`);
      else assert.ok(got <= floor, `${what}: floor ${f}·norm gave ${got} above it`);
    }),
    { numRuns: 120, seed: 5151 },
  );
  // Problems in decreasing Frobenius norm, ties in their order.
  const p = (x: number, n = 4): Problem => ({
    cOut: 1,
    cIn: 1,
    kh: n,
    kw: 1,
    h: n,
    w: 1,
    re: new Float64Array(n).fill(x),
  });
  const list = [p(1), p(3), p(2), p(4, 1)];
  const order = likeliestFirst(list).map((x) => list.indexOf(x));
  assert.deepEqual(order, [1, 2, 3, 0]);
});

test("Gram screen: blocks of 48 to 72 values", () => {
  for (
    const [cOut, cIn, kh, kw, h, w, seed] of [[48, 48, 3, 3, 5, 4, 31], [64, 50, 2, 3, 4, 6, 32], [
      60,
      72,
      3,
      2,
      6,
      3,
      33,
    ]]
  ) {
    const prob = { cOut, cIn, kh, kw, h, w, re: signedUniform(seed, cOut * cIn * kh * kw) };
    check({ prob, what: `${cOut}×${cIn}, taps ${kh}×${kw}, grid ${h}×${w}` });
  }
});

test("Gram screen: its estimates are sharp on random blocks (within 15% of σ_max; from n = 96, the largest at a frequency within 1% of the maximum)", () => {
  // Many frequencies of a random layer come within a few per cent of the maximum: the screened norm factorises
  // the frequency with the largest estimate first, and each frequency above the value it gives costs one more.
  for (
    const [cOut, cIn, kh, kw, h, w, seed] of [
      [48, 48, 3, 3, 5, 4, 31],
      [64, 50, 2, 3, 4, 6, 32],
      [60, 72, 3, 2, 6, 3, 33],
      [128, 128, 3, 3, 8, 8, 5],
      [96, 112, 3, 3, 6, 7, 6],
    ]
  ) {
    const prob = { cOut, cIn, kh, kw, h, w, re: signedUniform(seed, cOut * cIn * kh * kw) };
    const what = `${cOut}×${cIn}, taps ${kh}×${kw}, grid ${h}×${w}`;
    const tops = new Float64Array(h * w);
    runProblem(loadWasmSync(), prob, (u, v, values) => {
      tops[u * w + v] = values[0];
    });
    const e = scaleExponent(prob.re)!;
    const screen = new GramScreen(loadWasmSync(), prob, e);
    let best = -1, bestAt = -1;
    for (let v = 0; v <= w >> 1; v++) {
      const est = screen.estimates(v);
      for (let u = 0; u < est.length; u++) {
        const ratio = ldexp(est[u], e) / tops[u * w + v];
        assert.ok(ratio >= 0.85 && ratio <= 1 + 1e-12, `${what}: estimate / σ_max ${ratio} at (${u}, ${v})`);
        if (est[u] > best) [best, bestAt] = [est[u], u * w + v];
      }
    }
    // From n = 96 (six steps) the largest estimate's frequency is within 1% of the maximum.
    const max = Math.max(...tops);
    if (Math.min(cOut, cIn) >= 96) {
      assert.ok(
        tops[bestAt] >= 0.99 * max,
        `${what}: the largest estimate's σ_max ${tops[bestAt]}, the maximum ${max}`,
      );
    }
  }
});

test("Gram screen: a peaked kernel and a trained-like smooth one (one frequency far above the rest; most below by their trace)", () => {
  const c = 10, h = 12, w = 10;
  const base = signedUniform(21, c * c * 9).map((x) => 0.05 * x);
  const u = signedUniform(22, c), v = signedUniform(23, c);
  for (let o = 0; o < c; o++) {
    for (let i = 0; i < c; i++) {
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) {
          base[((o * c + i) * 3 + a) * 3 + b] += u[o] * v[i] * Math.cos((2 * Math.PI * (3 * a)) / h);
        }
      }
    }
  }
  check({ prob: { cOut: c, cIn: c, kh: 3, kw: 3, h, w, re: base }, what: "peaked" });
  // A low-pass kernel (every tap the same matrix): the energy sits at (0, 0).
  const blur = new Float64Array(3 * 4 * 9);
  const m = signedUniform(24, 12);
  for (let p = 0; p < 12; p++) for (let t = 0; t < 9; t++) blur[p * 9 + t] = m[p];
  check({ prob: { cOut: 3, cIn: 4, kh: 3, kw: 3, h: 9, w: 16, re: blur }, what: "low-pass" });
});

test("mayCertify: where it says no frequency may be certified below c, the screen certifies none (real kernels, tall and wide, 1 to 4 taps)", () => {
  const arb = fc.record({
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    cOut: fc.integer({ min: 1, max: 10 }),
    cIn: fc.integer({ min: 1, max: 10 }),
    kh: fc.integer({ min: 1, max: 4 }),
    kw: fc.integer({ min: 1, max: 4 }),
    dh: fc.integer({ min: 0, max: 5 }),
    dw: fc.integer({ min: 0, max: 5 }),
    level: fc.double({ min: 0.05, max: 1.2, noNaN: true }),
  });
  let saidNo = 0, saidYes = 0;
  fc.assert(
    fc.property(arb, ({ seed, cOut, cIn, kh, kw, dh, dw, level }) => {
      const h = kh + dh, w = kw + dw;
      const re = signedUniform(seed, cOut * cIn * kh * kw);
      const prob = { cOut, cIn, kh, kw, h, w, re };
      let norm = 0;
      runProblem(loadWasmSync(), prob, (_u, _v, values) => {
        norm = Math.max(norm, values[0]);
      });
      const c = level * norm;
      const e = scaleExponent(re)!;
      const screen = new GramScreen(loadWasmSync(), prob, e);
      let certified = 0;
      for (let v = 0; v <= w >> 1; v++) {
        const nu = v === 0 || 2 * v === w ? (h >> 1) + 1 : h;
        certified += screen.screen(v, 0, nu, ldexp(c, -e)).reduce((a, b) => a + b, 0);
      }
      if (mayCertify(prob, re, c)) saidYes++;
      else {
        saidNo++;
        assert.equal(certified, 0, `cOut ${cOut}, cIn ${cIn}, taps ${kh}×${kw}, grid ${h}×${w}, c = ${level}·‖A‖`);
      }
      // Above the norm every frequency is certified (the screen is sharp), so it must say yes.
      if (level > 1.01) assert.ok(mayCertify(prob, re, c));
    }),
    { numRuns: 200, seed: 4242 },
  );
  assert.ok(saidNo > 20 && saidYes > 20, `both verdicts seen: no ${saidNo}, yes ${saidYes}`);
});
