/**
 * Layer kinds (issue 6): stride, dilation, groups, transposed, 1-D and 3-D
 * layers, both layouts per rank, checked against the dense matrix of the
 * actual operator (tests/dense_layers.ts, built from the definition) and its
 * one-sided Jacobi SVD (tests/reference.ts): the full sorted spectrum, value
 * by value, to 1e-12·σ_max. Plus the spectrum's grid for 1-D/3-D, zero
 * padding's refusal, and bad input.
 * @module
 */
import { test } from "./_test.ts";
import { signedUniform } from "./_random.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  frequencySvdSync,
  type Kernel,
  type Layout,
  operatorNorm,
  operatorNormSync,
  singularValues,
  type SingularValuesOptions,
  singularValuesSync,
  spectrum,
  spectrumSync,
  topSingularVectorsSync,
} from "../mod.ts";
import { type DenseLayer, denseLayer, relayout } from "./dense_layers.ts";
import { complexSingularValues, jacobiSingularValues } from "./reference.ts";

/** Relative tolerance of every exact comparison, against σ_max of the reference. */
const TOL = 1e-12;
/** Largest side of a dense matrix handed to the Jacobi reference. */
const MAX_DENSE = 200;

const LAYOUTS: Record<number, [Layout, Layout]> = { 1: ["oiw", "wio"], 2: ["oihw", "hwio"], 3: ["oidhw", "dhwio"] };

/** Deterministic weights in [−1, 1), some exactly zero; Float32-exact when `f32`. */
function weights(seed: number, count: number, f32: boolean): Float64Array {
  return signedUniform(seed, count).map((x) => Math.abs(x) < 0.1 ? 0 : f32 ? Math.fround(x) : x);
}

/** A circular layer case. */
interface Case {
  rank: 1 | 2 | 3;
  cOutG: number;
  cInG: number;
  groups: number;
  k: number[];
  /** The phase-split grid per axis (the circular output size). */
  grid: number[];
  stride: number[];
  dilation: number[];
  transposed: boolean;
  channelsLast: boolean;
  f32: boolean;
  seed: number;
}

function caseArb(rank: 1 | 2 | 3, limits: { c: number; g: number; k: number; grid: number; s: number; d: number }) {
  const axes = (min: number, max: number) => fc.array(fc.integer({ min, max }), { minLength: rank, maxLength: rank });
  return fc.record({
    rank: fc.constant(rank),
    cOutG: fc.integer({ min: 1, max: limits.c }),
    cInG: fc.integer({ min: 1, max: limits.c }),
    groups: fc.integer({ min: 1, max: limits.g }),
    k: axes(1, limits.k),
    grid: axes(1, limits.grid),
    stride: axes(1, limits.s),
    dilation: axes(1, limits.d),
    transposed: fc.boolean(),
    channelsLast: fc.boolean(),
    f32: fc.boolean(),
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  }).filter((c) => denseSides(c) <= MAX_DENSE);
}

function denseSides(c: Case): number {
  const cells = c.grid.reduce((a, b) => a * b, 1);
  const phases = c.stride.reduce((a, b) => a * b, 1);
  return Math.max(c.cOutG * c.groups * cells, c.cInG * c.groups * cells * phases);
}

/** The kernel (as the package reads it), options, and the dense builder's description. */
function build(c: Case): { kernel: Kernel; options: SingularValuesOptions; dense: DenseLayer } {
  const cOut = c.cOutG * c.groups;
  const shapeFirst = [cOut, c.cInG, ...c.k];
  const count = shapeFirst.reduce((a, b) => a * b, 1);
  let data: Float64Array = weights(c.seed, count, c.f32);
  let shape = shapeFirst;
  let layout: string = LAYOUTS[c.rank][0];
  if (c.channelsLast) ({ data, shape, layout } = relayout(data, shape, layout));
  const input = c.transposed ? c.grid : c.grid.map((g, j) => g * c.stride[j]);
  const kernel: Kernel = { data: c.f32 ? Float32Array.from(data) : data, shape };
  const options: SingularValuesOptions = {
    inputShape: input,
    layout: layout as Layout,
    stride: c.stride,
    dilation: c.dilation.length === 1 ? c.dilation[0] : c.dilation,
    groups: c.groups,
    transposed: c.transposed,
  };
  const dense: DenseLayer = {
    data,
    shape,
    layout,
    inputShape: input,
    stride: c.stride,
    dilation: c.dilation,
    groups: c.groups,
    transposed: c.transposed,
  };
  return { kernel, options, dense };
}

function describe(c: Case): string {
  return `${c.rank}-D ${c.channelsLast ? LAYOUTS[c.rank][1] : LAYOUTS[c.rank][0]} c_out ${c.cOutG * c.groups} c_in ${
    c.cInG * c.groups
  } groups ${c.groups} k [${c.k}] grid [${c.grid}] stride [${c.stride}] dilation [${c.dilation}]${
    c.transposed ? " transposed" : ""
  }${c.f32 ? " f32" : ""} seed ${c.seed}`;
}

/** Asserts that two decreasing spectra agree value by value to TOL·σ_max(ref). */
function assertClose(ours: Float64Array, ref: Float64Array, label: string): void {
  assert.equal(ours.length, ref.length, `${label}: ${ours.length} values, reference has ${ref.length}`);
  const scale = ref.length > 0 ? ref[0] : 0;
  for (let j = 0; j < ref.length; j++) {
    const err = Math.abs(ours[j] - ref[j]);
    assert.ok(
      err <= TOL * scale || (scale === 0 && ours[j] === 0),
      `${label}: value ${j} of ${ref.length}: got ${ours[j]}, reference ${ref[j]} (error ${err}, allowed ${
        TOL * scale
      })`,
    );
  }
}

function checkCase(c: Case): void {
  const { kernel, options, dense } = build(c);
  const m = denseLayer(dense);
  const ref = jacobiSingularValues(m.a, m.rows, m.cols);
  const ours = singularValuesSync(kernel, options);
  assertClose(ours, ref, describe(c));
  // The sorted values gather rows as a multiset (a mirrored frequency's once): the grid's values, sorted, bit for bit.
  const placed = Array.from(spectrumSync(kernel, options).values, (x) => x + 0).sort((a, b) => b - a);
  assert.deepEqual(Array.from(ours, (x) => x + 0), placed, `${describe(c)}: sorted values ≠ the grid's`);
  // The same kernel in the rank's other layout gives bit-identical values.
  const other = relayout(dense.data, dense.shape, dense.layout);
  const again = singularValuesSync({ data: other.data, shape: other.shape }, {
    ...options,
    layout: other.layout as Layout,
  });
  if (!c.f32) assert.deepEqual(Array.from(again), Array.from(ours), `${describe(c)}: layouts disagree`);
}

// ---------------------------------------------------------------------------
// Properties against the dense operator

test("layer kinds: 2-D stride, dilation, groups, transposed (both layouts) match the dense SVD", () => {
  const t0 = performance.now();
  fc.assert(fc.property(caseArb(2, { c: 3, g: 3, k: 4, grid: 4, s: 3, d: 3 }), checkCase), { numRuns: 300 });
  console.log(`  2-D: 300 cases in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});

test("layer kinds: 1-D stride, dilation, groups, transposed (oiw, wio) match the dense SVD", () => {
  fc.assert(fc.property(caseArb(1, { c: 4, g: 3, k: 6, grid: 8, s: 4, d: 4 }), checkCase), { numRuns: 300 });
});

test("layer kinds: 3-D stride, dilation, groups, transposed (oidhw, dhwio) match the dense SVD", () => {
  const t0 = performance.now();
  fc.assert(fc.property(caseArb(3, { c: 2, g: 2, k: 3, grid: 4, s: 2, d: 3 }), checkCase), { numRuns: 200 });
  console.log(`  3-D: 200 cases in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});

test("layer kinds: named combinations match the dense SVD", () => {
  const base = { transposed: false, channelsLast: false, f32: false, seed: 12345 };
  const cases: [string, Case][] = [
    ["stride 2 with groups 2, 4 → 6, 3×3 on 8×8", {
      ...base,
      rank: 2,
      cOutG: 3,
      cInG: 2,
      groups: 2,
      k: [3, 3],
      grid: [4, 4],
      stride: [2, 2],
      dilation: [1, 1],
    }],
    ["depthwise (groups = c_in = 4), multiplier 2, 3×3 on 5×6", {
      ...base,
      rank: 2,
      cOutG: 2,
      cInG: 1,
      groups: 4,
      k: [3, 3],
      grid: [5, 6],
      stride: [1, 1],
      dilation: [1, 1],
    }],
    ["dilation 2 with 1-D, kernel 3 on 12 (shares a factor with the dilation)", {
      ...base,
      rank: 1,
      cOutG: 3,
      cInG: 2,
      groups: 1,
      k: [3],
      grid: [12],
      stride: [1],
      dilation: [2],
    }],
    ["dilation 3 with 1-D, stride 2, kernel 4 on 12 (taps wrap)", {
      ...base,
      rank: 1,
      cOutG: 2,
      cInG: 2,
      groups: 1,
      k: [4],
      grid: [6],
      stride: [2],
      dilation: [3],
    }],
    ["transposed with stride 2, ConvTranspose2d(2, 3, 4, stride=2) on 3×4", {
      ...base,
      transposed: true,
      rank: 2,
      cOutG: 2,
      cInG: 3,
      groups: 1,
      k: [4, 4],
      grid: [3, 4],
      stride: [2, 2],
      dilation: [1, 1],
    }],
    ["transposed with stride (2, 1) and groups 2, hwio", {
      ...base,
      transposed: true,
      channelsLast: true,
      rank: 2,
      cOutG: 2,
      cInG: 1,
      groups: 2,
      k: [3, 2],
      grid: [3, 5],
      stride: [2, 1],
      dilation: [1, 2],
    }],
    ["3-D, even depth 4, stride 2 on depth only", {
      ...base,
      rank: 3,
      cOutG: 2,
      cInG: 2,
      groups: 1,
      k: [3, 2, 2],
      grid: [2, 3, 3],
      stride: [2, 1, 1],
      dilation: [1, 1, 1],
    }],
    ["3-D, odd depth 5, kernel deeper than the input (wraps), dhwio", {
      ...base,
      channelsLast: true,
      rank: 3,
      cOutG: 2,
      cInG: 1,
      groups: 1,
      k: [7, 2, 3],
      grid: [5, 2, 3],
      stride: [1, 1, 1],
      dilation: [1, 1, 1],
    }],
    ["3-D, depthwise with dilation 2 on depth 6", {
      ...base,
      rank: 3,
      cOutG: 1,
      cInG: 1,
      groups: 3,
      k: [3, 1, 2],
      grid: [6, 2, 2],
      stride: [1, 1, 1],
      dilation: [2, 1, 1],
    }],
  ];
  for (const [name, c] of cases) {
    try {
      checkCase(c);
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  }
});

test("layer kinds: async and threaded runs give the sync values", async () => {
  const c: Case = {
    rank: 3,
    cOutG: 3,
    cInG: 2,
    groups: 2,
    k: [2, 3, 3],
    grid: [3, 4, 4],
    stride: [1, 2, 1],
    dilation: [1, 1, 2],
    transposed: false,
    channelsLast: false,
    f32: false,
    seed: 99,
  };
  const { kernel, options } = build(c);
  const sync = singularValuesSync(kernel, options);
  assert.deepEqual(Array.from(await singularValues(kernel, { ...options, threads: 2 })), Array.from(sync));
  assert.deepEqual(Array.from(await singularValues(kernel, { ...options, threads: 1 })), Array.from(sync));
  assert.equal(await operatorNorm(kernel, options), sync[0]);
  assert.equal(operatorNormSync(kernel, options), sync[0]);
  const s = await spectrum(kernel, { ...options, threads: 2 });
  assert.deepEqual(Array.from(s.values), Array.from(spectrumSync(kernel, options).values));
});

// ---------------------------------------------------------------------------
// The spectrum's grid

test("spectrum: 3-D cells hold P(t, u, v)'s singular values, mirrors included (stride 1)", () => {
  fc.assert(
    fc.property(
      fc.record({
        cOut: fc.integer({ min: 1, max: 3 }),
        cIn: fc.integer({ min: 1, max: 3 }),
        k: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 3 }),
        n: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 3, maxLength: 3 }),
        dilation: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 3, maxLength: 3 }),
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      }),
      ({ cOut, cIn, k, n, dilation, seed }) => {
        const data = weights(seed, cOut * cIn * k[0] * k[1] * k[2], false);
        const s = spectrumSync({ data, shape: [cOut, cIn, ...k] }, { inputShape: n, dilation, layout: "oidhw" });
        const r = Math.min(cOut, cIn);
        assert.deepEqual(s.shape, [...n, r]);
        let top = 0;
        const rows: Float64Array[] = [];
        for (let t = 0; t < n[0]; t++) {
          for (let u = 0; u < n[1]; u++) {
            for (let v = 0; v < n[2]; v++) {
              // P(t,u,v)[o,i] = Σ K[o,i,c,a,b]·exp(2πi(t·δc/d + u·δa/h + v·δb/w)), straight from the definition.
              const re = new Float64Array(cOut * cIn), im = new Float64Array(cOut * cIn);
              for (let o = 0; o < cOut; o++) {
                for (let i = 0; i < cIn; i++) {
                  for (let c = 0; c < k[0]; c++) {
                    for (let a = 0; a < k[1]; a++) {
                      for (let b = 0; b < k[2]; b++) {
                        const x = data[(((o * cIn + i) * k[0] + c) * k[1] + a) * k[2] + b];
                        const num = ((t * dilation[0] * c) % n[0]) * n[1] * n[2] +
                          ((u * dilation[1] * a) % n[1]) * n[0] * n[2] + ((v * dilation[2] * b) % n[2]) * n[0] * n[1];
                        const th = (2 * Math.PI * num) / (n[0] * n[1] * n[2]);
                        re[o * cIn + i] += x * Math.cos(th);
                        im[o * cIn + i] += x * Math.sin(th);
                      }
                    }
                  }
                }
              }
              const row = complexSingularValues(re, im, cOut, cIn);
              rows.push(row);
              top = Math.max(top, row[0]);
            }
          }
        }
        rows.forEach((row, cell) => {
          const ours = s.values.subarray(cell * r, (cell + 1) * r);
          for (let j = 0; j < r; j++) {
            assert.ok(
              Math.abs(ours[j] - row[j]) <= TOL * top,
              `cell ${cell} value ${j}: got ${ours[j]}, P gives ${row[j]} (k [${k}], n [${n}], dilation [${dilation}])`,
            );
          }
        });
        const [t, u, v] = s.argmax;
        assert.equal(s.values[((t * n[1] + u) * n[2] + v) * r], s.norm);
      },
    ),
    { numRuns: 60 },
  );
});

test("spectrum: shapes and argmax per rank; 2-D keeps [h, w, r] and [u, v]", () => {
  const k1 = { data: new Float64Array([0.25, 0.5, 0.25]), shape: [1, 1, 3] };
  const s1 = spectrumSync(k1, { inputShape: [8] });
  assert.deepEqual(s1.shape, [8, 1]);
  assert.deepEqual(s1.argmax, [0]);
  assert.ok(Math.abs(s1.norm - 1) < 1e-15);
  const s1s = spectrumSync(k1, { inputShape: [8], stride: 2 });
  assert.deepEqual(s1s.shape, [4, 1]); // 1 → 2 channels after the phase split: r = min(1, 2)
  const k2 = { data: Float64Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => Math.cos(i)), shape: [4, 3, 3, 3] };
  const s2 = spectrumSync(k2, { inputShape: [6, 8] });
  assert.deepEqual(s2.shape, [6, 8, 3]);
  assert.equal(s2.argmax.length, 2);
  const s2s = spectrumSync(k2, { inputShape: [6, 8], stride: 2 });
  assert.deepEqual(s2s.shape, [3, 4, 4]); // min(c_out 4, c_in 3·4)
  const s2g = spectrumSync(
    { data: Float64Array.from({ length: 4 * 1 * 3 * 3 }, (_, i) => Math.sin(i)), shape: [4, 1, 3, 3] },
    { inputShape: [5, 5], groups: 4 },
  );
  assert.deepEqual(s2g.shape, [5, 5, 4]); // depthwise: one value per channel and frequency
  const k3 = { data: Float64Array.from({ length: 2 * 2 * 2 * 2 * 2 }, (_, i) => Math.sin(i)), shape: [2, 2, 2, 2, 2] };
  const s3 = spectrumSync(k3, { inputShape: [4, 3, 2] });
  assert.deepEqual(s3.shape, [4, 3, 2, 2]);
  assert.equal(s3.argmax.length, 3);
  const s3t = spectrumSync(k3, { inputShape: [2, 3, 2], stride: [2, 1, 1], transposed: true });
  assert.deepEqual(s3t.shape, [2, 3, 2, 2]);
});

test("layer kinds: a transposed layer reads PyTorch's ConvTranspose weight [c_in, c_out/g, ...]", () => {
  // ConvTranspose1d(1, 2, 1, groups=1): weight [1, 2, 1] = [[ [3], [4] ]]: out[j, x] = w[0, j]·in[0, x]
  // — a 2 × 1 column (3, 4) per position: norm 5 on any size; as a forward kernel it is [c_out 1, c_in 2].
  const kernel = { data: new Float64Array([3, 4]), shape: [1, 2, 1] };
  assert.ok(Math.abs(operatorNormSync(kernel, { inputShape: [5], transposed: true }) - 5) < 1e-14);
  assert.equal(singularValuesSync(kernel, { inputShape: [5], transposed: true }).length, 5);
  // ConvTranspose1d(1, 1, 2, stride=2), weight [1, 2]: out[2x] = in[x], out[2x+1] = 2·in[x]: σ = √5 (×n).
  const up = { data: new Float64Array([1, 2]), shape: [1, 1, 2] };
  const sv = singularValuesSync(up, { inputShape: [3], stride: 2, transposed: true });
  assert.deepEqual(Array.from(sv, (x) => Math.round(x * 1e12) / 1e12), [2.2360679775, 2.2360679775, 2.2360679775]);
});

// ---------------------------------------------------------------------------
// Zero padding and bad input

type ErrorClass = typeof TypeError | typeof RangeError;

function expectError(kernel: unknown, options: unknown, Kind: ErrorClass, pattern: RegExp): void {
  assert.throws(
    () => singularValuesSync(kernel as Kernel, options as SingularValuesOptions),
    (err: unknown) => {
      assert.ok(err instanceof Kind && err.constructor === Kind, `expected ${Kind.name}, got ${err}`);
      assert.match((err as Error).message, /^Cannot compute singular values as /);
      assert.match((err as Error).message, pattern);
      return true;
    },
  );
}

test("zero padding: singularValues, spectrum and operatorNorm refuse it and point to operatorNormBounds", async () => {
  const kernel = { data: new Float64Array(18), shape: [2, 1, 3, 3] };
  for (const padding of [1, [1, 0], "same", "valid"] as const) {
    const options = { inputShape: [6, 6], padding };
    const check = (err: unknown) => {
      assert.ok(err instanceof RangeError);
      assert.match((err as Error).message, /operatorNormBounds/);
      assert.match((err as Error).message, /current value is /);
      return true;
    };
    assert.throws(() => singularValuesSync(kernel, options), check);
    assert.throws(() => spectrumSync(kernel, options), check);
    assert.throws(() => operatorNormSync(kernel, options), check);
    await assert.rejects(singularValues(kernel, options), check);
    await assert.rejects(spectrum(kernel, options), check);
    await assert.rejects(operatorNorm(kernel, options), check);
  }
});

test("bad input: stride, dilation, groups, padding, ranks and layouts name their values", () => {
  const k2 = { data: new Float64Array(4 * 2 * 3 * 3).fill(0.5), shape: [4, 2, 3, 3] };
  // Stride that does not divide the input (circular).
  expectError(k2, { inputShape: [6, 7], stride: 2 }, RangeError, /stride \[2, 2\] for inputShape \[6, 7\]/);
  expectError(k2, { inputShape: [6, 6], stride: [2, 4] }, RangeError, /stride \[2, 4\]/);
  expectError(k2, { inputShape: [6, 6], stride: 0 }, RangeError, /stride.*0/);
  expectError(k2, { inputShape: [6, 6], stride: 1.5 }, TypeError, /stride.*1\.5/);
  expectError(k2, { inputShape: [6, 6], stride: [1, 1, 1] }, TypeError, /stride.*\[1, 1, 1\]/);
  // Dilation.
  expectError(k2, { inputShape: [6, 6], dilation: -1 }, RangeError, /dilation.*-1/);
  expectError(k2, { inputShape: [6, 6], dilation: [2] }, TypeError, /dilation.*\[2\]/);
  expectError(k2, { inputShape: [4, 4], dilation: 3, padding: 0 }, RangeError, /dilated kernel.*\[7, 7\].*\[4, 4\]/);
  // Groups that do not divide the channels.
  expectError(k2, { inputShape: [6, 6], groups: 3 }, RangeError, /groups must divide .*o = 4.*current value is 3/);
  expectError(k2, { inputShape: [6, 6], groups: 0 }, RangeError, /groups.*0/);
  expectError(k2, { inputShape: [6, 6], groups: "2" }, TypeError, /groups.*"2"/);
  // Padding larger than the kernel allows.
  expectError(
    k2,
    { inputShape: [6, 6], padding: 3 },
    RangeError,
    /padding must be at most .*\[2, 2\].*current value is \[3, 3\]/,
  );
  expectError(k2, { inputShape: [6, 6], padding: [1, 5], dilation: [1, 2] }, RangeError, /\[2, 4\].*\[1, 5\]/);
  expectError(k2, { inputShape: [6, 6], padding: -1 }, RangeError, /padding.*-1/);
  expectError(k2, { inputShape: [6, 6], padding: "zeros" }, TypeError, /padding.*"zeros"/);
  expectError(k2, { inputShape: [6, 6], padding: "same", stride: 2 }, RangeError, /stride.*"same".*2/);
  expectError(k2, { inputShape: [6, 6], padding: "same", transposed: true }, RangeError, /transposed.*"same"/);
  expectError(k2, { inputShape: [6, 6], outputPadding: 1 }, RangeError, /outputPadding.*1/);
  expectError(
    k2,
    { inputShape: [6, 6], outputPadding: 2, stride: 2, transposed: true, padding: 1 },
    RangeError,
    /outputPadding.*stride \[2, 2\].*\[2, 2\]/,
  );
  expectError(
    k2,
    { inputShape: [1, 1], transposed: true, padding: 2, layout: "oihw" },
    RangeError,
    /transposed layer must be non-empty.*-1/,
  );
  // Ranks that disagree.
  expectError(
    k2,
    { inputShape: [8] },
    TypeError,
    /kernel\.shape \("oiw"\) must be an array of 3 sizes.*\[8\].*\[4, 2, 3, 3\]/,
  );
  expectError(k2, { inputShape: [8, 8, 8] }, TypeError, /5 sizes.*\[8, 8, 8\].*\[4, 2, 3, 3\]/);
  expectError(k2, { inputShape: [8, 8], layout: "oidhw" }, TypeError, /"oihw" or "hwio".*\[8, 8\].*"oidhw"/);
  expectError(k2, { inputShape: [8], layout: "hwio" }, TypeError, /"oiw" or "wio".*"hwio"/);
  expectError(k2, { inputShape: [8, 8, 8, 8] }, TypeError, /inputShape.*\[8, 8, 8, 8\]/);
  expectError(k2, { inputShape: [8, 8], transposed: 1 }, TypeError, /transposed.*1/);
});

test("bad input: 2-D-only functions refuse layer kinds with a clear error", () => {
  const kernel = { data: new Float64Array(16).fill(0.25), shape: [2, 2, 2, 2] };
  const refuse = (fn: () => unknown, Kind: ErrorClass, pattern: RegExp) =>
    assert.throws(fn, (err: unknown) => err instanceof Kind && pattern.test((err as Error).message));
  refuse(
    () => frequencySvdSync(kernel, { inputShape: [4, 4], stride: 2 }),
    RangeError,
    /stride must be 1 .*current value is 2/,
  );
  refuse(() => topSingularVectorsSync(kernel, { inputShape: [4, 4], groups: 2 }), RangeError, /groups must be 1/);
  refuse(
    () => topSingularVectorsSync(kernel, { inputShape: [4, 4], padding: 1 }),
    RangeError,
    /padding must be "circular"/,
  );
  refuse(
    () => frequencySvdSync({ data: new Float64Array(8), shape: [2, 2, 2] }, { inputShape: [4] }),
    TypeError,
    /inputShape must be an array of 2 sizes \[h, w\].*\[4\]/,
  );
  // The defaults, spelled out, are the plain layer.
  assert.doesNotThrow(() =>
    frequencySvdSync(kernel, {
      inputShape: [4, 4],
      stride: [1, 1],
      dilation: 1,
      groups: 1,
      transposed: false,
      padding: "circular",
    })
  );
});

/**
 * Depthwise spectrum rows against each frequency's sorted |DFT| of every channel, for channel counts,
 * taps per axis and grid sizes drawn from the given ranges.
 */
function depthwiseRows(
  r: { c: [number, number]; taps: [number, number]; grid: [number, number] },
  runs: { numRuns: number; seed: number },
): void {
  fc.assert(
    fc.property(
      fc.integer({ min: r.c[0], max: r.c[1] }),
      fc.integer({ min: r.taps[0], max: r.taps[1] }),
      fc.integer({ min: r.taps[0], max: r.taps[1] }),
      fc.integer({ min: r.grid[0], max: r.grid[1] }),
      fc.integer({ min: r.grid[0], max: r.grid[1] }),
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      (c, kh, kw, h, w, seed) => {
        const data = signedUniform(seed, c * kh * kw);
        const s = spectrumSync({ data, shape: [c, 1, kh, kw] }, { inputShape: [h, w], groups: c, layout: "oihw" });
        assert.deepEqual(s.shape, [h, w, c]);
        let top = 0;
        for (let u = 0; u < h; u++) {
          for (let v = 0; v < w; v++) {
            const want = Array.from({ length: c }, (_, g) => {
              let re = 0, im = 0;
              for (let a = 0; a < kh; a++) {
                for (let b = 0; b < kw; b++) {
                  const t = 2 * Math.PI * (u * a / h + v * b / w);
                  re += data[(g * kh + a) * kw + b] * Math.cos(t);
                  im += data[(g * kh + a) * kw + b] * Math.sin(t);
                }
              }
              return Math.hypot(re, im);
            }).sort((x, y) => y - x);
            top = Math.max(top, want[0]);
            const row = s.values.subarray((u * w + v) * c, (u * w + v + 1) * c);
            for (let j = 1; j < c; j++) assert.ok(row[j - 1] >= row[j], `row (${u}, ${v}) sorted`);
            want.forEach((x, j) => assert.ok(Math.abs(row[j] - x) <= 1e-13 * (1 + x), `(${u}, ${v})[${j}]`));
          }
        }
        assert.ok(Math.abs(s.norm - top) <= 1e-13 * top);
      },
    ),
    runs,
  );
}

test("layer kinds: depthwise spectrum rows are each frequency's |DFT| of every channel, sorted decreasing (any channel count, odd grids)", () => {
  depthwiseRows({ c: [1, 40], taps: [1, 4], grid: [4, 9] }, { numRuns: 60, seed: 5150 });
});

test("layer kinds: depthwise spectrum rows of many channels (41 to 700: every width of the row sort) are each frequency's sorted |DFT|", () => {
  depthwiseRows({ c: [41, 700], taps: [1, 2], grid: [2, 4] }, { numRuns: 30, seed: 5151 });
});

test("layer kinds: depthwise values scale by a power of two to the bit, whether the core or the caller undoes the kernel's scaling", () => {
  const c = 6, h = 5, w = 6;
  const data = signedUniform(4242, c * 9);
  const opts = { inputShape: [h, w] as [number, number], groups: c, layout: "oihw" as const };
  const base = spectrumSync({ data, shape: [c, 1, 3, 3] }, opts);
  const sorted = singularValuesSync({ data, shape: [c, 1, 3, 3] }, opts);
  // 2^±1000 is undone by the core as it stores each value; 2^1015 and 2^−1010 past it, by the caller.
  for (const p of [1000, -1000, 1015, -1010]) {
    const f = 2 ** p;
    const scaled = spectrumSync({ data: data.map((x) => x * f), shape: [c, 1, 3, 3] }, opts);
    const scaledSorted = singularValuesSync({ data: data.map((x) => x * f), shape: [c, 1, 3, 3] }, opts);
    // Exact unless a value falls below the normal range, where scaling rounds once (half a subnormal ulp).
    const slack = p < 0 ? 2 ** -1075 : 0;
    base.values.forEach((x, i) =>
      assert.ok(
        Math.abs(scaled.values[i] - x * f) <= slack,
        `2^${p}: spectrum value ${i} ${scaled.values[i]} vs ${x * f}`,
      )
    );
    sorted.forEach((x, i) =>
      assert.ok(Math.abs(scaledSorted[i] - x * f) <= slack, `2^${p}: sorted value ${i} ${scaledSorted[i]} vs ${x * f}`)
    );
  }
});

test("layer kinds: depthwise sorted values (gathered and sorted in the core) are the spectrum's values sorted, bit for bit: sync, async, threaded, with progress or a signal (the rows' path), scaled past the core's factor, zero, one tap", async () => {
  /** The spectrum's values, all of them, decreasing (the rows' path and the built-in sort). */
  const want = (kernel: { data: Float64Array; shape: number[] }, o: { inputShape: [number, number]; groups: number }) =>
    spectrumSync(kernel, { ...o, layout: "oihw" }).values.slice().sort().reverse();
  const same = (got: Float64Array, expected: Float64Array, what: string) => {
    assert.equal(got.length, expected.length, what);
    for (let i = 0; i < got.length; i++) {
      assert.ok(got[i] === expected[i], `${what}: value ${i} ${got[i]} ≠ ${expected[i]}`);
    }
  };
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 4, max: 23 }),
      fc.integer({ min: 4, max: 23 }),
      fc.constantFrom(1, 2 ** 1015, 2 ** -1010, 0),
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      async (c, kh, kw, h, w, scale, seed) => {
        const data = signedUniform(seed, c * kh * kw).map((x) => x * scale);
        const kernel = { data, shape: [c, 1, kh, kw] };
        const o = { inputShape: [h, w] as [number, number], groups: c };
        const what = `${c} channels, ${kh}×${kw} taps on ${h}×${w}, scale ${scale}, seed ${seed}`;
        const expected = want(kernel, o);
        same(singularValuesSync(kernel, { ...o, layout: "oihw" }), expected, `${what}, sync`);
        same(await singularValues(kernel, { ...o, layout: "oihw" }), expected, `${what}, async`);
        same(await singularValues(kernel, { ...o, layout: "oihw", threads: 2 }), expected, `${what}, threaded`);
        let reports = 0;
        const onProgress = () => void reports++;
        same(await singularValues(kernel, { ...o, layout: "oihw", onProgress }), expected, `${what}, with progress`);
        assert.ok(reports > 0, `${what}: progress reported`);
        const signal = new AbortController().signal;
        same(await singularValues(kernel, { ...o, layout: "oihw", signal }), expected, `${what}, with a signal`);
      },
    ),
    { numRuns: 40, seed: 5252 },
  );
});

test("layer kinds: a depthwise layer with precision f32 takes the f64 moduli (no bidiagonalisation to run in f32), sync, async and threaded", async () => {
  for (const [c, kh, h, w] of [[7, 3, 6, 5], [130, 3, 9, 8], [12, 2, 4, 4]] as const) {
    const data = signedUniform(9000 + c, c * kh * kh);
    const kernel = { data, shape: [c, 1, kh, kh] };
    const base = { inputShape: [h, w] as [number, number], groups: c, layout: "oihw" as const };
    const f32 = { ...base, precision: "f32" as const };
    const want = spectrumSync(kernel, base);
    const got = spectrumSync(kernel, f32);
    assert.equal(got.precision, "f32", "the result reports the precision asked for");
    assert.deepEqual(Array.from(got.values), Array.from(want.values), `c = ${c}: f32 spectrum ≠ f64's`);
    assert.deepEqual(
      Array.from(singularValuesSync(kernel, f32)),
      Array.from(singularValuesSync(kernel, base)),
      `c = ${c}: f32 sorted values ≠ f64's`,
    );
    const threaded = await spectrum(kernel, { ...f32, threads: 2 });
    assert.deepEqual(Array.from(threaded.values), Array.from(want.values), `c = ${c}: threaded f32 ≠ f64`);
    assert.deepEqual(
      Array.from(await singularValues(kernel, { ...f32, threads: 2 })),
      Array.from(singularValuesSync(kernel, base)),
      `c = ${c}: threaded sorted f32 ≠ f64`,
    );
  }
});
