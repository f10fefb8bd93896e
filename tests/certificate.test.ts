/**
 * The certificate under every screen (assembly/norm.ts definiteBy, exported
 * as `positive_definite_f64`): whether M = c·I − AᴴA is positive definite,
 * by a Cholesky factorisation in f32 of M − δ·I (δ from tr M: path 2, or a
 * smaller shift checked on the factor: path 3) or in f64 (path 1).
 *
 * Against the truth from a dense Jacobi SVD of A (tests/reference.ts):
 * λ_min(M) = c − σ_max(A)², with c set at σ_max²·(1 + t) for t from −10⁻³
 * to 10⁻², and the caller's `room` (an upper bound of λ_min) exact, too
 * high, or unknown.
 *
 * - sound: never certified where t < 0, whatever the room;
 * - complete: certified where t > 0 (every t here is far above f64's
 *   rounding);
 * - the f32 paths carry it: on these flat spectra path 3 certifies where
 *   the room is under 2δ, and path 2 where it is over.
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { test } from "./_test.ts";
import { mulberry32 } from "./_random.ts";
import { complexSingularValues } from "./reference.ts";
import { loadWasmSync } from "../src/_wasm/loader.ts";
import { Arena } from "../src/_wasm/abi.ts";

const core = loadWasmSync();

/** t = λ_min(M)/σ_max² of the cases: three indefinite, four definite. */
const MARGINS = [-1e-3, -1e-6, -1e-8, 5e-5, 2e-4, 1e-3, 1e-2];

/** Path counts over all cases (path 0 … 3). */
const paths = [0, 0, 0, 0];

/**
 * The certificate's path for M = c·I − G (G Hermitian, its lower triangle
 * column-major in gr, gi) with the caller's room, asserting its verdict:
 * certified exactly where t > 0 (t: λ_min(M) over the top eigenvalue of G, either sign, far from rounding).
 */
function certify(
  gr: Float64Array,
  gi: Float64Array,
  n: number,
  c: number,
  room: number,
  t: number,
  what: string,
): number {
  const arena = new Arena(core);
  const br = arena.f64(n * n), bi = arena.f64(n * n), work = arena.bytes(core.positive_definite_work_bytes(n));
  arena.commit("certify a matrix", `n ${n}`);
  const mr = arena.view(br, n * n), mi = arena.view(bi, n * n);
  for (let k = 0; k < n * n; k++) {
    mr[k] = -gr[k];
    mi[k] = -gi[k];
  }
  for (let j = 0; j < n; j++) mr[j * n + j] += c;
  const path = core.positive_definite_f64(br, bi, n, work, room);
  if (t < 0) assert.equal(path, 0, `certified an indefinite matrix: ${what}: path ${path}`);
  else assert.notEqual(path, 0, `left a definite matrix uncertified: ${what}: path ${path}`);
  return path;
}

function check(seed: number, n: number, m: number): void {
  const r = mulberry32(seed);
  // A: m × n complex, row-major.
  const ar = Float64Array.from({ length: m * n }, () => 2 * r() - 1);
  const ai = Float64Array.from({ length: m * n }, () => 2 * r() - 1);
  const top = complexSingularValues(ar, ai, m, n)[0] ** 2;
  // G = AᴴA, lower triangle, column-major: G[i, j] at j·n + i.
  const gr = new Float64Array(n * n), gi = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    for (let i = j; i < n; i++) {
      let x = 0, y = 0;
      for (let k = 0; k < m; k++) {
        // conj(A[k, i])·A[k, j]
        const pr = ar[k * n + i], pi = ai[k * n + i], qr = ar[k * n + j], qi = ai[k * n + j];
        x += pr * qr + pi * qi;
        y += pr * qi - pi * qr;
      }
      gr[j * n + i] = x;
      gi[j * n + i] = y;
    }
  }
  for (const t of MARGINS) {
    const c = top * (1 + t);
    const lmin = c - top;
    const rooms = t < 0 ? [Infinity, 1e-2 * top, 1e-3 * top, 1e-4 * top] : [Infinity, lmin, 3 * lmin];
    for (const room of rooms) {
      paths[certify(gr, gi, n, c, room, t, `n ${n}, m ${m}, seed ${seed}, t ${t}, room ${room / top}·σ²`)]++;
    }
  }
}

test("certificate: c·I − AᴴA certified positive definite exactly where it is, on every path (f32 from tr M, f32 checked on its factor, f64)", () => {
  paths.fill(0);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      fc.integer({ min: 16, max: 48 }),
      fc.integer({ min: 0, max: 48 }),
      (seed, n, extra) => check(seed, n, n + extra),
    ),
    { numRuns: 60, seed: 4242 },
  );
  // Each f32 path certified some of the definite cases (not all: f64 takes those its margins do not reach).
  assert.ok(paths[2] > 0, `f32 with δ from tr M never certified: ${paths}`);
  assert.ok(paths[3] > 0, `f32 with a shift checked on its factor never certified: ${paths}`);
  assert.ok(paths[1] > 0, `f64 never certified: ${paths}`);
});

/** Q·diag(g)·Qᴴ (column-major, re/im), Q = H_1 ⋯ H_6, H = I − 2vvᴴ/(vᴴv) for random complex v. */
function rotated(n: number, seed: number, g: Float64Array): [Float64Array, Float64Array] {
  const r = mulberry32(seed);
  const ar = new Float64Array(n * n), ai = new Float64Array(n * n);
  for (let i = 0; i < n; i++) ar[i * n + i] = g[i];
  for (let k = 0; k < 6; k++) {
    const vr = Float64Array.from({ length: n }, () => 2 * r() - 1);
    const vi = Float64Array.from({ length: n }, () => 2 * r() - 1);
    let nv = 0;
    for (let i = 0; i < n; i++) nv += vr[i] * vr[i] + vi[i] * vi[i];
    const f = 2 / nv;
    // A ← A − f·v·(vᴴA), then A ← A − f·(Av)·vᴴ.
    for (let j = 0; j < n; j++) {
      let sr = 0, si = 0;
      for (let i = 0; i < n; i++) {
        const xr = ar[j * n + i], xi = ai[j * n + i];
        sr += vr[i] * xr + vi[i] * xi;
        si += vr[i] * xi - vi[i] * xr;
      }
      for (let i = 0; i < n; i++) {
        ar[j * n + i] -= f * (vr[i] * sr - vi[i] * si);
        ai[j * n + i] -= f * (vr[i] * si + vi[i] * sr);
      }
    }
    for (let i = 0; i < n; i++) {
      let sr = 0, si = 0;
      for (let j = 0; j < n; j++) {
        const xr = ar[j * n + i], xi = ai[j * n + i];
        sr += xr * vr[j] - xi * vi[j];
        si += xr * vi[j] + xi * vr[j];
      }
      for (let j = 0; j < n; j++) {
        ar[j * n + i] -= f * (sr * vr[j] + si * vi[j]);
        ai[j * n + i] -= f * (si * vr[j] - sr * vi[j]);
      }
    }
  }
  return [ar, ai];
}

test("certificate: at n = 128 to 384, c·I − Q·diag(g)·Qᴴ certified exactly where it is positive definite (flat and peaked g)", () => {
  const counts = [0, 0, 0, 0];
  for (const [n, seed, peaked] of [[128, 1, false], [256, 2, false], [384, 3, false], [256, 4, true]] as const) {
    const r = mulberry32(seed * 77);
    // Top 1; the rest flat in [0, 0.999] (a sum of uniforms, as a random layer's frequency) or below 0.05.
    const g = Float64Array.from(
      { length: n },
      (_, i) => i === 0 ? 1 : peaked ? 0.05 * r() : Math.min(0.999, ((r() + r() + r() + r()) / 4) * 1.6),
    );
    const [gr, gi] = rotated(n, seed, g);
    for (const t of [-1e-3, -1e-5, -1e-7, -1e-9, 1e-5, 1e-4, 1e-3, 5e-3, 2e-2]) {
      for (const room of t < 0 ? [Infinity, 1e-2, 1e-3, 1e-4] : [Infinity, t, 3 * t]) {
        counts[certify(gr, gi, n, 1 + t, room, t, `n ${n}, ${peaked ? "peaked" : "flat"}, t ${t}, room ${room}`)]++;
      }
    }
  }
  assert.ok(counts[3] > 0 && counts[2] > 0, `an f32 path never certified: ${counts}`);
});
