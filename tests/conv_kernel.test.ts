/**
 * The wasm direct convolution (assembly/conv.ts: `conv_f64_cdhw` and
 * `conv_adjoint_f64_cdhw`) against the plain definition written out below:
 * on raw geometries (any origin, zero or circular, every axis strided and
 * dilated, grouped, odd widths), through the layer operator of src/_wasm/conv.ts
 * on validated layers (which drops taps that read only padding and folds
 * dilated circular kernels longer than the input), and the adjoint identity
 * ⟨A x, y⟩ = ⟨x, Aᵀ y⟩.
 *
 * Values and inner products are compared to 1e−12 of the sum of the
 * absolute values of their terms (the scale of their rounding: a random
 * ⟨A x, y⟩ may cancel far below it); with y = A x, where ⟨A x, A x⟩ cannot
 * cancel, the identity holds to 1e−12 of the value itself.
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { powerIterationNormSync } from "../mod.ts";
import { convOperator, random } from "../src/_wasm/conv.ts";
import { alignBytes, ensureMemory } from "../src/_wasm/abi.ts";
import { type LayerSpec, validateSpec } from "../src/_options.ts";
import { loadWasmSync } from "../src/_wasm/loader.ts";

const TOL = 1e-12;

/** The kernel's geometry: per axis j, output z reads input z·s + d·a − b (zero outside [0, n), or mod n). */
interface Geometry {
  cInG: number;
  cOutG: number;
  groups: number;
  circular: boolean;
  n: number[];
  out: number[];
  k: number[];
  s: number[];
  d: number[];
  b: number[];
}

/** A vector and, per entry, the sum of the absolute values of its terms. */
interface Summed {
  v: Float64Array;
  mag: Float64Array;
}

const prod = (a: number[]) => a.reduce((p, q) => p * q, 1);

/**
 * Calls `fn(o, i, w, r, z)` for every term of the forward convolution:
 * output o at flat position z reads input channel i at flat position r with
 * weight index w (OIDHW).
 */
function forEachTerm(g: Geometry, fn: (o: number, i: number, w: number, r: number, z: number) => void): void {
  const { n, out, k, s, d, b } = g;
  const taps = prod(k);
  const read = (j: number, z: number, a: number) => {
    const r = z * s[j] + d[j] * a - b[j];
    if (g.circular) return ((r % n[j]) + n[j]) % n[j];
    return r >= 0 && r < n[j] ? r : -1;
  };
  for (let o = 0; o < g.cOutG * g.groups; o++) {
    const grp = Math.floor(o / g.cOutG);
    for (let z0 = 0; z0 < out[0]; z0++) {
      for (let z1 = 0; z1 < out[1]; z1++) {
        for (let z2 = 0; z2 < out[2]; z2++) {
          const z = (z0 * out[1] + z1) * out[2] + z2;
          for (let il = 0; il < g.cInG; il++) {
            for (let c = 0; c < k[0]; c++) {
              const r0 = read(0, z0, c);
              if (r0 < 0) continue;
              for (let a = 0; a < k[1]; a++) {
                const r1 = read(1, z1, a);
                if (r1 < 0) continue;
                for (let t = 0; t < k[2]; t++) {
                  const r2 = read(2, z2, t);
                  if (r2 < 0) continue;
                  const w = (o * g.cInG + il) * taps + (c * k[1] + a) * k[2] + t;
                  fn(o, grp * g.cInG + il, w, (r0 * n[1] + r1) * n[2] + r2, z);
                }
              }
            }
          }
        }
      }
    }
  }
}

/** y = A x by the definition. */
function forward(g: Geometry, w: Float32Array | Float64Array, x: Float64Array): Summed {
  const inPlane = prod(g.n), outPlane = prod(g.out);
  const v = new Float64Array(g.cOutG * g.groups * outPlane), mag = new Float64Array(v.length);
  forEachTerm(g, (o, i, wi, r, z) => {
    const term = w[wi] * x[i * inPlane + r];
    v[o * outPlane + z] += term;
    mag[o * outPlane + z] += Math.abs(term);
  });
  return { v, mag };
}

/** x = Aᵀ y by the definition. */
function adjoint(g: Geometry, w: Float32Array | Float64Array, y: Float64Array): Summed {
  const inPlane = prod(g.n), outPlane = prod(g.out);
  const v = new Float64Array(g.cInG * g.groups * inPlane), mag = new Float64Array(v.length);
  forEachTerm(g, (o, i, wi, r, z) => {
    const term = w[wi] * y[o * outPlane + z];
    v[i * inPlane + r] += term;
    mag[i * inPlane + r] += Math.abs(term);
  });
  return { v, mag };
}

/** The kernel's i32[22] descriptor of a geometry. */
function descriptor(g: Geometry): Int32Array {
  const d = [g.cInG * g.groups, g.cOutG * g.groups, g.groups, g.circular ? 1 : 0];
  for (let j = 0; j < 3; j++) d.push(g.n[j], g.out[j], g.k[j], g.s[j], g.d[j], g.b[j]);
  return Int32Array.from(d);
}

/** Runs one of the wasm kernels on (w, v) from the heap base up; returns its status and result. */
function wasm(kernel: "conv_f64_cdhw" | "conv_adjoint_f64_cdhw", geom: Int32Array, w: Float64Array, v: Float64Array) {
  const core = loadWasmSync();
  const cIn = geom[0], cOut = geom[1];
  const inLen = cIn * geom[4] * geom[10] * geom[16], outLen = cOut * geom[5] * geom[11] * geom[17];
  const resultLen = kernel === "conv_f64_cdhw" ? outLen : inLen;
  const gp = alignBytes(core.heap_base());
  const wp = alignBytes(gp + geom.length * 4);
  const vp = alignBytes(wp + w.length * 8);
  const rp = alignBytes(vp + v.length * 8);
  const work = alignBytes(rp + resultLen * 8);
  ensureMemory(core, work);
  new Int32Array(core.memory.buffer, gp, geom.length).set(geom);
  const bytes = core.conv_work_bytes_f64(gp);
  assert.ok(Number.isInteger(bytes) && bytes >= 0, `conv_work_bytes_f64: ${bytes} (−1 means an invalid geometry)`);
  ensureMemory(core, work + bytes);
  const buf = core.memory.buffer;
  new Float64Array(buf, wp, w.length).set(w);
  new Float64Array(buf, vp, v.length).set(v);
  // Poison the result and the work area: every value read must have been written.
  new Float64Array(buf, rp, resultLen).fill(NaN);
  new Float64Array(buf, work, Math.floor(bytes / 8)).fill(NaN);
  const status = core[kernel](gp, wp, vp, rp, work);
  return { status, result: new Float64Array(buf, rp, resultLen).slice() };
}

function assertClose(got: Float64Array, want: Summed, what: string): void {
  assert.equal(got.length, want.v.length, `${what}: length`);
  for (let j = 0; j < got.length; j++) {
    const err = Math.abs(got[j] - want.v[j]);
    if (!(err <= TOL * want.mag[j])) {
      assert.fail(
        `${what}: entry ${j} is ${got[j]}, the definition gives ${want.v[j]} (terms sum to ${
          want.mag[j]
        } in absolute value)`,
      );
    }
  }
}

/** ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ to TOL of Σ |terms| (= ⟨|A| |x|, |y|⟩). */
function assertAdjointIdentity(
  ax: Float64Array,
  y: Float64Array,
  x: Float64Array,
  aty: Float64Array,
  axMag: Float64Array,
) {
  let lhs = 0, rhs = 0, scale = 0;
  for (let j = 0; j < y.length; j++) {
    lhs += ax[j] * y[j];
    scale += axMag[j] * Math.abs(y[j]);
  }
  for (let j = 0; j < x.length; j++) rhs += x[j] * aty[j];
  assert.ok(Math.abs(lhs - rhs) <= TOL * scale, `⟨Ax, y⟩ = ${lhs}, ⟨x, Aᵀy⟩ = ${rhs}, scale ${scale}`);
}

const axis3 = (min: number, max: number) => fc.array(fc.integer({ min, max }), { minLength: 3, maxLength: 3 });

const geometryArb = fc.record({
  cInG: fc.integer({ min: 1, max: 6 }),
  cOutG: fc.integer({ min: 1, max: 9 }),
  groups: fc.integer({ min: 1, max: 3 }),
  circular: fc.boolean(),
  n: axis3(1, 7),
  out: axis3(1, 9),
  k: axis3(1, 4),
  s: axis3(1, 3),
  d: axis3(1, 3),
  b: axis3(-3, 5),
  flat: fc.integer({ min: 0, max: 2 }),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
}).map((r) => {
  // `flat` leading axes are units, as 1-D and 2-D layers pass them.
  const unit = (a: number[]) => a.map((v, j) => (j < r.flat ? 1 : v));
  const g: Geometry = {
    cInG: r.cInG,
    cOutG: r.cOutG,
    groups: r.groups,
    circular: r.circular,
    n: unit(r.n),
    out: unit(r.out),
    k: unit(r.k),
    s: unit(r.s),
    d: unit(r.d),
    b: r.b.map((v, j) => (j < r.flat ? 0 : v)),
  };
  return { g, seed: r.seed };
});

test("conv_f64_cdhw and its adjoint match the definition on random geometries", () => {
  fc.assert(
    fc.property(geometryArb, ({ g, seed }) => {
      const rnd = random(seed);
      const cIn = g.cInG * g.groups, cOut = g.cOutG * g.groups;
      const w = Float64Array.from({ length: cOut * g.cInG * prod(g.k) }, rnd);
      const x = Float64Array.from({ length: cIn * prod(g.n) }, rnd);
      const y = Float64Array.from({ length: cOut * prod(g.out) }, rnd);
      const geom = descriptor(g);
      const f = wasm("conv_f64_cdhw", geom, w, x);
      const a = wasm("conv_adjoint_f64_cdhw", geom, w, y);
      assert.equal(f.status, 0);
      assert.equal(a.status, 0);
      const ref = forward(g, w, x);
      assertClose(f.result, ref, "forward");
      assertClose(a.result, adjoint(g, w, y), "adjoint");
      assertAdjointIdentity(f.result, y, x, a.result, ref.mag);
    }),
    { numRuns: 300 },
  );
});

/** Random layer options that validate: zero padding (sizes or "same") or circular, any rank, maybe transposed. */
const layerArb = fc.record({
  rank: fc.constantFrom<1 | 2 | 3>(1, 2, 2, 3),
  cInG: fc.integer({ min: 1, max: 5 }),
  cOutG: fc.integer({ min: 1, max: 6 }),
  groups: fc.integer({ min: 1, max: 3 }),
  k: axis3(1, 5),
  s: axis3(1, 3),
  d: axis3(1, 4),
  m: axis3(1, 6),
  padRaw: axis3(0, 12),
  opRaw: axis3(0, 3),
  kind: fc.constantFrom("circular", "zeros", "zeros", "same"),
  transposed: fc.boolean(),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
}).map((r) => {
  const cut = (a: number[]) => a.slice(3 - r.rank);
  const k = cut(r.k), s = cut(r.s), d = cut(r.d), m = cut(r.m);
  const kernel = {
    data: Float64Array.from({ length: r.cOutG * r.groups * r.cInG * prod(k) }, random(r.seed)),
    shape: [r.cOutG * r.groups, r.cInG, ...k],
  };
  // The layout is explicit: kernels longer than the input are meant here (they wrap or read padding).
  const layout = (["oiw", "oihw", "oidhw"] as const)[r.rank - 1];
  const base = { layout, stride: s, dilation: d, groups: r.groups, transposed: r.transposed };
  if (r.kind === "circular") {
    // Circular: the stride divides the input (forward); kernels may be longer than the input.
    return { kernel, options: { ...base, inputShape: r.transposed ? m : m.map((v, j) => v * s[j]) }, seed: r.seed };
  }
  const same = r.kind === "same" && !r.transposed;
  const pad = cut(r.padRaw).map((p, j) => p % (d[j] * (k[j] - 1) + 1));
  const ext = k.map((v, j) => d[j] * (v - 1) + 1);
  const inputShape = m.map((v, j) => (r.transposed ? v : Math.max(v, ext[j] - 2 * pad[j])));
  const outputPadding = cut(r.opRaw).map((p, j) => (r.transposed ? p % Math.max(s[j], d[j]) : 0));
  return {
    kernel,
    options: { ...base, stride: same ? 1 : s, inputShape, padding: same ? "same" as const : pad, outputPadding },
    seed: r.seed,
  };
}).filter(({ kernel, options }) => {
  try {
    validateSpec(kernel, options);
    return true;
  } catch {
    return false; // a transposed layer with an empty output
  }
});

/** The geometry of a validated layer as the definition reads it (its own origin, every tap). */
function specGeometry(spec: LayerSpec): Geometry {
  return {
    cInG: spec.cInG,
    cOutG: spec.cOutG,
    groups: spec.groups,
    circular: spec.pad === undefined,
    n: spec.n,
    out: spec.out,
    k: spec.k,
    s: spec.stride,
    d: spec.dilation,
    b: spec.pad ? spec.pad.map((p) => p[0]) : [0, 0, 0],
  };
}

function checkLayer(spec: LayerSpec, seed: number): void {
  const op = convOperator(spec);
  const g = specGeometry(spec);
  const rnd = random(seed ^ 0x5bd1e995);
  const x = Float64Array.from({ length: op.cols }, rnd);
  const y = Float64Array.from({ length: op.rows }, rnd);
  const ax = new Float64Array(op.rows), aty = new Float64Array(op.cols);
  op.apply(x, ax);
  op.adjoint(y, aty);
  const ref = forward(g, spec.weights, x);
  assertClose(ax, ref, "apply");
  assertClose(aty, adjoint(g, spec.weights, y), "adjoint");
  assertAdjointIdentity(ax, y, x, aty, ref.mag);
}

test("convOperator() matches the definition on random validated layers (1-D/2-D/3-D, zero and circular, transposed)", () => {
  fc.assert(
    fc.property(layerArb, ({ kernel, options, seed }) => checkLayer(validateSpec(kernel, options), seed)),
    { numRuns: 300 },
  );
});

test("convOperator() on hard cases", () => {
  const sine = (len: number) => Float64Array.from({ length: len }, (_, i) => Math.sin(3 * i + 1));
  const cases: [string, number[], Record<string, unknown>][] = [
    // Circular, dilated kernel (offsets 0, 3, 6, 9, 12) longer than the input of 4: folded mod 4.
    ["folds a dilated circular kernel longer than the input", [5, 3, 5], {
      inputShape: [4],
      dilation: 3,
      layout: "oiw",
    }],
    // Zero padding 4 on 2 samples with dilation 4: taps 0 and 2 read only padding for some outputs.
    ["drops taps that read only padding", [3, 1, 3], { inputShape: [2], padding: 4, dilation: 4, layout: "oiw" }],
    ["odd widths, stride 3 on the last axis, 2-D", [6, 2, 3, 4], {
      inputShape: [7, 11],
      padding: [1, 3],
      stride: [2, 3],
      groups: 3,
    }],
    ["3-D, groups, asymmetric ('same') padding", [6, 4, 2, 3, 2], {
      inputShape: [3, 5, 6],
      padding: "same",
      groups: 2,
    }],
    ["transposed, strided, output padding", [4, 3, 3, 3], {
      inputShape: [5, 4],
      padding: 1,
      stride: 2,
      outputPadding: 1,
      transposed: true,
    }],
    ["a depthwise layer", [8, 1, 3, 3], { inputShape: [9, 10], padding: 1, groups: 8 }],
    ["64→64 3×3, padding 1, on 12×13", [64, 64, 3, 3], { inputShape: [12, 13], padding: 1 }],
  ];
  for (const [name, shape, options] of cases) {
    const spec = validateSpec({ data: sine(prod(shape)), shape }, options as never);
    try {
      checkLayer(spec, 7);
    } catch (err) {
      throw new Error(`${name}: ${err instanceof Error ? err.message : err}`, { cause: err });
    }
  }
});

test("convOperator() is the zero map when every read falls in the padding", () => {
  // Two samples padded by 1, taps at offsets −1 and 2: both outside the input.
  const kernel = { data: new Float64Array([1, 2]), shape: [1, 1, 2] };
  const options = { inputShape: [2], padding: 1, dilation: 3 };
  const op = convOperator(validateSpec(kernel, options));
  const y = new Float64Array(op.rows).fill(5), x = new Float64Array(op.cols).fill(5);
  op.apply(Float64Array.from([1, -1]), y);
  op.adjoint(new Float64Array(op.rows).fill(1), x);
  assert.deepEqual([...y], new Array(op.rows).fill(0));
  assert.deepEqual([...x], [0, 0]);
  assert.equal(powerIterationNormSync(kernel, options).lower, 0);
});

test("the adjoint identity holds to 1e-12 of ⟨Ax, Ax⟩ for a 64→64 3×3 layer on 32×32", () => {
  // y = A x: both sides are ‖A x‖² > 0, so the value itself is the scale.
  const data = Float64Array.from({ length: 64 * 64 * 9 }, random(3));
  const op = convOperator(validateSpec({ data, shape: [64, 64, 3, 3] }, { inputShape: [32, 32], padding: 1 }));
  const x = Float64Array.from({ length: op.cols }, random(4));
  const ax = new Float64Array(op.rows), atax = new Float64Array(op.cols);
  op.apply(x, ax);
  op.adjoint(ax, atax);
  let lhs = 0, rhs = 0;
  for (let j = 0; j < ax.length; j++) lhs += ax[j] * ax[j];
  for (let j = 0; j < x.length; j++) rhs += x[j] * atax[j];
  assert.ok(Math.abs(lhs - rhs) <= TOL * lhs, `‖Ax‖² = ${lhs}, ⟨x, AᵀAx⟩ = ${rhs}`);
});

test("the wasm kernels refuse invalid geometries with status −1 and write nothing", () => {
  const good: Geometry = {
    cInG: 2,
    cOutG: 3,
    groups: 2,
    circular: false,
    n: [1, 4, 5],
    out: [1, 4, 5],
    k: [1, 3, 3],
    s: [1, 1, 1],
    d: [1, 1, 1],
    b: [0, 1, 1],
  };
  const w = new Float64Array(6 * 2 * 9).fill(1), x = new Float64Array(4 * 20).fill(1);
  assert.equal(wasm("conv_f64_cdhw", descriptor(good), w, x).status, 0);
  const bad: [string, (d: Int32Array) => void][] = [
    ["groups not dividing c_in", (d) => (d[0] = 5)],
    ["zero groups", (d) => (d[2] = 0)],
    ["circular flag 2", (d) => (d[3] = 2)],
    ["zero inputs", (d) => (d[4 + 6 + 0] = 0)],
    ["zero outputs", (d) => (d[4 + 12 + 1] = 0)],
    ["zero taps", (d) => (d[4 + 2] = 0)],
    ["zero stride", (d) => (d[4 + 6 + 3] = 0)],
    ["negative dilation", (d) => (d[4 + 12 + 4] = -1)],
    ["work past 4 GiB", (d) => (d[4 + 12 + 1] = 2 ** 30)],
  ];
  // Small buffers whatever the geometry claims: a refused call reads and writes none of them.
  const core = loadWasmSync();
  const gp = alignBytes(core.heap_base()), bufs = gp + 128, work = bufs + 1024;
  ensureMemory(core, work + 1024);
  for (const [name, edit] of bad) {
    const geom = descriptor(good);
    edit(geom);
    const mem = core.memory.buffer;
    new Int32Array(mem, gp, geom.length).set(geom);
    const guard = new Float64Array(mem, bufs, 256);
    guard.fill(NaN);
    assert.equal(core.conv_work_bytes_f64(gp), -1, name);
    assert.equal(core.conv_f64_cdhw(gp, bufs, bufs, bufs, work), -1, name);
    assert.equal(core.conv_adjoint_f64_cdhw(gp, bufs, bufs, bufs, work), -1, name);
    assert.ok(guard.every(Number.isNaN), `${name}: nothing written`);
  }
});
