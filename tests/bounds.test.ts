/**
 * operatorNormBounds, gramIterationNorm and powerIterationNorm against the
 * dense matrix of the actual operator (tests/dense_layers.ts) and its Jacobi
 * SVD (tests/reference.ts): zero-padded layers of every kind satisfy
 * `lower ≤ σ_max(dense) ≤ upper` (and every circular grid tried is an upper
 * bound); circular layers give `lower = upper` = the exact norm; Gram bounds
 * never increase and stay above the norm; power iteration stays below.
 * @module
 */
import { test } from "./_test.ts";
import { signedUniform as weights } from "./_random.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  gramIterationNorm,
  gramIterationNormSync,
  type Kernel,
  type Layout,
  operatorNormBounds,
  type OperatorNormBoundsOptions,
  operatorNormBoundsSync,
  operatorNormSync,
  powerIterationNorm,
  powerIterationNormSync,
  type SingularValuesOptions,
} from "../mod.ts";
import { type DenseLayer, denseLayer, relayout } from "./dense_layers.ts";
import { jacobiSingularValues } from "./reference.ts";

/** Largest side of a dense matrix handed to the Jacobi reference. */
const MAX_DENSE = 200;
const LAYOUTS: Record<number, [Layout, Layout]> = { 1: ["oiw", "wio"], 2: ["oihw", "hwio"], 3: ["oidhw", "dhwio"] };

/** A zero-padded layer: per axis k, dilation, stride, padding and the layer's own input size. */
interface ZeroCase {
  rank: 1 | 2 | 3;
  cOutG: number;
  cInG: number;
  groups: number;
  k: number[];
  dilation: number[];
  stride: number[];
  /** Padding per axis, or "same" / "valid". */
  padding: number[] | "same" | "valid";
  outputPadding: number[];
  input: number[];
  transposed: boolean;
  channelsLast: boolean;
  gridCandidates: number;
  seed: number;
}

/** The forward convolution's (input, output) sizes per axis, from PyTorch's formulas; undefined if invalid. */
function sizes(c: ZeroCase): { n: number[]; out: number[] } | undefined {
  const n: number[] = [], out: number[] = [];
  for (let j = 0; j < c.rank; j++) {
    const ext = c.dilation[j] * (c.k[j] - 1) + 1;
    const total = c.padding === "same" ? ext - 1 : c.padding === "valid" ? 0 : 2 * c.padding[j];
    if (c.transposed) {
      const big = (c.input[j] - 1) * c.stride[j] - total + ext + c.outputPadding[j];
      if (big < 1) return undefined;
      n.push(big);
      out.push(c.input[j]);
    } else {
      if (c.input[j] + total < ext) return undefined;
      n.push(c.input[j]);
      out.push(Math.floor((c.input[j] + total - ext) / c.stride[j]) + 1);
    }
  }
  return { n, out };
}

function zeroArb(rank: 1 | 2 | 3, lim: { c: number; g: number; k: number; n: number; s: number; d: number }) {
  const axes = (min: number, max: number) => fc.array(fc.integer({ min, max }), { minLength: rank, maxLength: rank });
  return fc.record({
    rank: fc.constant(rank),
    cOutG: fc.integer({ min: 1, max: lim.c }),
    cInG: fc.integer({ min: 1, max: lim.c }),
    groups: fc.integer({ min: 1, max: lim.g }),
    k: axes(1, lim.k),
    dilation: axes(1, lim.d),
    stride: axes(1, lim.s),
    padRaw: axes(0, 6),
    opRaw: axes(0, 3),
    paddingKind: fc.constantFrom("sizes", "sizes", "sizes", "same", "valid"),
    input: axes(1, lim.n),
    transposed: fc.boolean(),
    channelsLast: fc.boolean(),
    gridCandidates: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  }).map((r): ZeroCase => {
    // Padding at most dilation·(k − 1) per axis; output padding below max(stride, dilation).
    const pad = r.padRaw.map((p, j) => p % (r.dilation[j] * (r.k[j] - 1) + 1));
    const samePossible = !r.transposed && r.stride.every((s) => s === 1);
    const padding = r.paddingKind === "same" && samePossible ? "same" : r.paddingKind === "valid" ? "valid" : pad;
    const outputPadding = r.opRaw.map((p, j) =>
      r.transposed && padding !== "same" ? p % Math.max(r.stride[j], r.dilation[j]) : 0
    );
    return {
      rank: r.rank,
      cOutG: r.cOutG,
      cInG: r.cInG,
      groups: r.groups,
      k: r.k,
      dilation: r.dilation,
      stride: r.stride,
      padding,
      outputPadding,
      input: r.input,
      transposed: r.transposed,
      channelsLast: r.channelsLast,
      gridCandidates: r.gridCandidates,
      seed: r.seed,
    };
  }).filter((c) => {
    const sz = sizes(c);
    if (!sz) return false;
    const rows = c.cOutG * c.groups * sz.out.reduce((a, b) => a * b, 1);
    const cols = c.cInG * c.groups * sz.n.reduce((a, b) => a * b, 1);
    return Math.max(rows, cols) <= MAX_DENSE;
  });
}

function buildZero(c: ZeroCase): { kernel: Kernel; options: OperatorNormBoundsOptions; dense: DenseLayer } {
  const shapeFirst = [c.cOutG * c.groups, c.cInG, ...c.k];
  let data = weights(c.seed, shapeFirst.reduce((a, b) => a * b, 1));
  let shape = shapeFirst;
  let layout: string = LAYOUTS[c.rank][0];
  if (c.channelsLast) ({ data, shape, layout } = relayout(data, shape, layout));
  const options: OperatorNormBoundsOptions = {
    inputShape: c.input,
    layout: layout as Layout,
    stride: c.stride,
    dilation: c.dilation,
    groups: c.groups,
    transposed: c.transposed,
    padding: c.padding,
    gridCandidates: c.gridCandidates,
    ...(c.outputPadding.some((p) => p > 0) ? { outputPadding: c.outputPadding } : {}),
  };
  const dense: DenseLayer = {
    data,
    shape,
    layout,
    inputShape: c.input,
    stride: c.stride,
    dilation: c.dilation,
    groups: c.groups,
    transposed: c.transposed,
    padding: c.padding,
    outputPadding: c.outputPadding,
  };
  return { kernel: { data, shape }, options, dense };
}

function describe(c: ZeroCase): string {
  return `${c.rank}-D ${c.channelsLast ? "channels-last" : "channels-first"} c_out ${c.cOutG * c.groups} c_in ${
    c.cInG * c.groups
  } groups ${c.groups} k [${c.k}] input [${c.input}] stride [${c.stride}] dilation [${c.dilation}] padding ${
    JSON.stringify(c.padding)
  }${c.transposed ? ` transposed outputPadding [${c.outputPadding}]` : ""} seed ${c.seed}`;
}

function denseNorm(dense: DenseLayer): number {
  const m = denseLayer(dense);
  return jacobiSingularValues(m.a, m.rows, m.cols)[0] ?? 0;
}

/** Relative widths seen, for the log line. */
function summary(widths: number[]): string {
  const s = [...widths].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return `relative width (upper − lower)/upper over ${s.length} layers: min ${at(0).toExponential(2)}, median ${
    at(0.5).toExponential(2)
  }, 90% ${at(0.9).toExponential(2)}, max ${at(1).toExponential(2)}`;
}

/** Whether every axis of the forward input is at least twice the dilated kernel (a layer's usual regime). */
function isRoomy(c: ZeroCase): boolean {
  const sz = sizes(c);
  return sz !== undefined && sz.n.every((n, j) => n >= 2 * (c.dilation[j] * (c.k[j] - 1) + 1));
}

function checkZero(c: ZeroCase, widths: number[], roomy?: number[]): void {
  const { kernel, options, dense } = buildZero(c);
  const sigma = denseNorm(dense);
  const b = operatorNormBoundsSync(kernel, options);
  const label = describe(c);
  // no zeros and no two windows sharing an input (d(k − 1) + 1 ≤ s): block-diagonal, exact on one stride cell
  const zeros = c.padding === "valid" || (Array.isArray(c.padding) && c.padding.every((p) => p === 0)) ||
    (c.padding === "same" && c.k.every((k) => k === 1));
  const disjoint = zeros && c.k.every((k, j) => c.dilation[j] * (k - 1) + 1 <= c.stride[j]);
  assert.ok(b.lower <= sigma, `${label}: lower ${b.lower} > σ_max ${sigma}`);
  assert.ok(sigma <= b.upper, `${label}: σ_max ${sigma} > upper ${b.upper}`);
  assert.ok(b.lower >= 0 && b.lower <= b.upper, label);
  if (disjoint) {
    assert.equal(b.exact, true, label);
    assert.equal(b.gridSizes.length, c.gridCandidates, label);
    assert.ok(b.upper - b.lower <= 3e-12 * b.upper, label);
    return;
  }
  assert.equal(b.exact, false, label);
  assert.ok(b.iterations <= 100 && b.tolerance === 1e-9, label);
  assert.equal(b.gridSizes.length, c.gridCandidates, label);
  // Every circular grid tried is itself an upper bound (the submatrix argument), and upper is their minimum.
  b.gridNorms.forEach((g, j) =>
    assert.ok(sigma <= g * (1 + 1e-12), `${label}: grid ${b.gridSizes[j]} norm ${g} < σ_max ${sigma}`)
  );
  assert.equal(b.upper, Math.min(...b.gridNorms) * (1 + 1e-12), label);
  assert.ok(b.gridSizes.some((g) => g.join() === b.grid.join()), label);
  if (sigma > 0) widths.push((b.upper - b.lower) / b.upper);
  if (sigma > 0 && roomy) roomy.push((b.upper - b.lower) / b.upper);
}

// ---------------------------------------------------------------------------
// Zero padding: the certified interval

for (
  const [rank, runs, lim] of [
    [2, 300, { c: 3, g: 2, k: 4, n: 7, s: 3, d: 2 }],
    [1, 300, { c: 4, g: 3, k: 5, n: 12, s: 3, d: 3 }],
    [3, 150, { c: 2, g: 2, k: 3, n: 4, s: 2, d: 2 }],
  ] as const
) {
  test(`operatorNormBounds(): ${rank}-D zero-padded layers satisfy lower ≤ σ_max(dense) ≤ upper`, () => {
    const widths: number[] = [], roomy: number[] = [];
    fc.assert(fc.property(zeroArb(rank, lim), (c) => checkZero(c, widths, isRoomy(c) ? roomy : undefined)), {
      numRuns: runs,
    });
    console.log(`  ${rank}-D zero padding, all (σ_max > 0): ${summary(widths)}`);
    if (roomy.length > 0) console.log(`  ${rank}-D zero padding, inputs ≥ 2× the dilated kernel: ${summary(roomy)}`);
  });
}

test("operatorNormBounds(): named zero-padded layers (ResNet-style stride 2, U-Net upsampling, depthwise)", () => {
  const widths: string[] = [];
  const named: [string, ZeroCase][] = [
    ["Conv2d(2, 3, 3, stride=2, padding=1) on 9×8", {
      rank: 2,
      cOutG: 3,
      cInG: 2,
      groups: 1,
      k: [3, 3],
      dilation: [1, 1],
      stride: [2, 2],
      padding: [1, 1],
      outputPadding: [0, 0],
      input: [9, 8],
      transposed: false,
      channelsLast: false,
      gridCandidates: 3,
      seed: 5,
    }],
    ["ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1) on 4×4", {
      rank: 2,
      cOutG: 2,
      cInG: 3,
      groups: 1,
      k: [3, 3],
      dilation: [1, 1],
      stride: [2, 2],
      padding: [1, 1],
      outputPadding: [1, 1],
      input: [4, 4],
      transposed: true,
      channelsLast: false,
      gridCandidates: 3,
      seed: 6,
    }],
    ["depthwise Conv2d(4, 4, 3, padding='same', groups=4) on 6×6, hwio", {
      rank: 2,
      cOutG: 1,
      cInG: 1,
      groups: 4,
      k: [3, 3],
      dilation: [1, 1],
      stride: [1, 1],
      padding: "same",
      outputPadding: [0, 0],
      input: [6, 6],
      transposed: false,
      channelsLast: true,
      gridCandidates: 3,
      seed: 7,
    }],
    ["Conv1d(2, 4, 3, dilation=2, padding=2, groups=2) on 20", {
      rank: 1,
      cOutG: 2,
      cInG: 1,
      groups: 2,
      k: [3],
      dilation: [2],
      stride: [1],
      padding: [2],
      outputPadding: [0],
      input: [20],
      transposed: false,
      channelsLast: false,
      gridCandidates: 4,
      seed: 8,
    }],
    ["Conv3d(1, 2, 3, stride=(1, 2, 2), padding=1) on 3×4×5", {
      rank: 3,
      cOutG: 2,
      cInG: 1,
      groups: 1,
      k: [3, 3, 3],
      dilation: [1, 1, 1],
      stride: [1, 2, 2],
      padding: [1, 1, 1],
      outputPadding: [0, 0, 0],
      input: [3, 4, 5],
      transposed: false,
      channelsLast: false,
      gridCandidates: 2,
      seed: 9,
    }],
  ];
  for (const [name, c] of named) {
    const w: number[] = [];
    try {
      checkZero(c, w);
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
    widths.push(`${name}: ${w[0].toExponential(2)}`);
  }
  console.log(`  relative widths: ${widths.join("; ")}`);
});

test("operatorNormBounds(): the interval narrows with the input size (a 3×3 layer, padding 1)", () => {
  const kernel = { data: weights(11, 2 * 2 * 9), shape: [2, 2, 3, 3] };
  const lines: string[] = [];
  let last = Infinity;
  for (const n of [4, 8, 16, 32]) {
    const b = operatorNormBoundsSync(kernel, { inputShape: [n, n], padding: 1, maxIterations: 200 });
    const width = (b.upper - b.lower) / b.upper;
    lines.push(
      `${n}×${n}: [${b.lower.toFixed(6)}, ${b.upper.toFixed(6)}] width ${
        width.toExponential(2)
      } (${b.iterations} steps, grid ${b.grid})`,
    );
    if (n <= 8) {
      const sigma = denseNorm({
        data: kernel.data,
        shape: kernel.shape,
        layout: "oihw",
        inputShape: [n, n],
        padding: [1, 1],
      });
      assert.ok(b.lower <= sigma && sigma <= b.upper);
    }
    assert.ok(width < last * 1.5);
    last = width;
  }
  console.log(`  ${lines.join("\n  ")}`);
});

test("operatorNormBounds(): circular layers are exact (lower = upper = operatorNorm), async and threads agree", async () => {
  fc.assert(
    fc.property(
      fc.record({
        rank: fc.constantFrom<1 | 2 | 3>(1, 2, 3),
        c: fc.integer({ min: 1, max: 3 }),
        s: fc.integer({ min: 1, max: 2 }),
        g: fc.integer({ min: 1, max: 4 }),
        transposed: fc.boolean(),
        seed: fc.integer({ min: 1, max: 1e9 }),
      }),
      ({ rank, c, s, g, transposed, seed }) => {
        const k = new Array(rank).fill(2);
        const shape = [c, 2, ...k];
        const kernel = { data: weights(seed, shape.reduce((a, b) => a * b, 1)), shape };
        const options: SingularValuesOptions = {
          inputShape: new Array(rank).fill(4),
          stride: s,
          dilation: 1 + (g % 2),
          transposed,
        };
        const b = operatorNormBoundsSync(kernel, options);
        const exact = operatorNormSync(kernel, options);
        assert.equal(b.exact, true);
        assert.equal(b.lower, exact);
        assert.equal(b.upper, exact);
        assert.equal(b.iterations, 0);
        assert.deepEqual(b.gridSizes, [b.grid]);
      },
    ),
    { numRuns: 60 },
  );
  const kernel = { data: weights(3, 4 * 2 * 9), shape: [4, 2, 3, 3] };
  const options = { inputShape: [7, 6], padding: 1, stride: 2 };
  const sync = operatorNormBoundsSync(kernel, options);
  assert.deepEqual(await operatorNormBounds(kernel, { ...options, threads: 2 }), sync);
  assert.deepEqual(await operatorNormBounds(kernel, { ...options, threads: 1 }), sync);
});

test("operatorNormBounds(): iteration options are honoured and reported", () => {
  const kernel = { data: weights(4, 3 * 3 * 9), shape: [3, 3, 3, 3] };
  const zero = operatorNormBoundsSync(kernel, { inputShape: [10, 10], padding: 1, maxIterations: 0 });
  assert.equal(zero.iterations, 0);
  assert.ok(zero.lower > 0 && zero.lower <= zero.upper); // the start vector alone is a Rayleigh quotient
  const more = operatorNormBoundsSync(kernel, { inputShape: [10, 10], padding: 1, maxIterations: 300, tolerance: 0 });
  assert.equal(more.iterations, 300);
  assert.equal(more.converged, false);
  assert.equal(more.tolerance, 0);
  assert.ok(more.lower >= zero.lower);
  const loose = operatorNormBoundsSync(kernel, {
    inputShape: [10, 10],
    padding: 1,
    maxIterations: 300,
    tolerance: 1e-3,
  });
  assert.equal(loose.converged, true);
  assert.ok(loose.iterations < 300);
  const one = operatorNormBoundsSync(kernel, { inputShape: [10, 10], padding: 1, gridCandidates: 1 });
  assert.deepEqual(one.gridSizes, [[11, 11]]); // n + p = 11, the smallest admissible grid
});

// ---------------------------------------------------------------------------
// Gram iteration and power iteration

test("gramIterationNorm(): every step is an upper bound, never increasing, converging to the norm", async () => {
  fc.assert(
    fc.property(
      fc.record({
        rank: fc.constantFrom<1 | 2 | 3>(1, 2, 3),
        cOut: fc.integer({ min: 1, max: 4 }),
        cIn: fc.integer({ min: 1, max: 4 }),
        s: fc.integer({ min: 1, max: 2 }),
        steps: fc.integer({ min: 0, max: 8 }),
        seed: fc.integer({ min: 1, max: 1e9 }),
      }),
      ({ rank, cOut, cIn, s, steps, seed }) => {
        const shape = [cOut, cIn, ...new Array(rank).fill(3)];
        const kernel = { data: weights(seed, shape.reduce((a, b) => a * b, 1)), shape };
        const options = { inputShape: new Array(rank).fill(4), stride: s };
        const exact = operatorNormSync(kernel, options);
        const g = gramIterationNormSync(kernel, { ...options, iterations: steps });
        assert.equal(g.bounds.length, steps + 1);
        assert.equal(g.upper, g.bounds[steps]);
        // ‖G_k‖_F ≤ √q·σ(G_k), q = values per frequency: bound_k ≤ σ·q^(1/2^(k+1)).
        const q = Math.min(cOut, cIn * s ** rank);
        g.bounds.forEach((bk, k) => {
          assert.ok(bk >= exact, `step ${k}: ${bk} < exact ${exact}`);
          assert.ok(bk <= exact * q ** (1 / 2 ** (k + 1)) * (1 + 1e-10), `step ${k}: ${bk} too far above ${exact}`);
          if (k > 0) assert.ok(bk <= g.bounds[k - 1]);
        });
      },
    ),
    { numRuns: 80 },
  );
  const kernel = { data: weights(8, 2 * 3 * 9), shape: [2, 3, 3, 3] };
  const sigma = denseNorm({
    data: kernel.data,
    shape: kernel.shape,
    layout: "oihw",
    inputShape: [5, 5],
    padding: [1, 1],
  });
  const g = await gramIterationNorm(kernel, { inputShape: [5, 5], padding: 1 });
  assert.ok(g.upper >= sigma, "zero padding: the circular grid's Gram bound is above the dense norm");
  assert.deepEqual(g.grid, [6, 6]);
});

test("powerIterationNorm(): a lower bound for zero and circular padding, close for a long run", async () => {
  const widths: number[] = [];
  fc.assert(
    fc.property(zeroArb(2, { c: 3, g: 2, k: 3, n: 6, s: 2, d: 2 }), fc.integer({ min: 0, max: 50 }), (c, iters) => {
      const { kernel, options: { gridCandidates: _, ...options }, dense } = buildZero(c);
      const sigma = denseNorm(dense);
      const p = powerIterationNormSync(kernel, { ...options, maxIterations: iters, seed: c.seed });
      assert.ok(p.lower <= sigma, `${describe(c)}: ${p.lower} > ${sigma}`);
      assert.ok(p.iterations <= iters);
      if (sigma > 0) widths.push((sigma - p.lower) / sigma);
    }),
    { numRuns: 60 },
  );
  console.log(
    `  power iteration (≤ 50 steps), relative gap to σ_max: median ${
      widths.sort((a, b) => a - b)[widths.length >> 1].toExponential(2)
    }`,
  );
  const kernel = { data: weights(21, 2 * 2 * 9), shape: [2, 2, 3, 3] };
  const exact = operatorNormSync(kernel, { inputShape: [6, 6] });
  const p = await powerIterationNorm(kernel, { inputShape: [6, 6], maxIterations: 5000, tolerance: 1e-15 });
  assert.ok(p.lower <= exact && p.lower > exact * (1 - 1e-6), `${p.lower} vs ${exact}`);
  assert.equal(p.tolerance, 1e-15);
});

test("bad input: iteration options name their values", async () => {
  const kernel = { data: weights(1, 8), shape: [2, 1, 2, 2] };
  const base = { inputShape: [4, 4], padding: 1 };
  const cases: [object, typeof TypeError | typeof RangeError, RegExp][] = [
    [{ maxIterations: -1 }, RangeError, /maxIterations.*-1/],
    [{ maxIterations: 2.5 }, TypeError, /maxIterations.*2\.5/],
    [{ tolerance: NaN }, RangeError, /tolerance.*NaN/],
    [{ tolerance: -1e-3 }, RangeError, /tolerance.*-0\.001/],
    [{ tolerance: "1e-6" }, TypeError, /tolerance.*"1e-6"/],
    [{ gridCandidates: 0 }, RangeError, /gridCandidates.*0/],
    [{ gridCandidates: 17 }, RangeError, /gridCandidates.*17/],
  ];
  for (const [extra, Kind, pattern] of cases) {
    const check = (err: unknown) => err instanceof Kind && pattern.test((err as Error).message);
    assert.throws(() => operatorNormBoundsSync(kernel, { ...base, ...extra }), check);
    await assert.rejects(operatorNormBounds(kernel, { ...base, ...extra }), check);
  }
  assert.throws(() => gramIterationNormSync(kernel, { ...base, iterations: 31 }), /iterations.*31/);
  await assert.rejects(gramIterationNorm(kernel, { ...base, iterations: -1 }), RangeError);
  assert.throws(() => powerIterationNormSync(kernel, { ...base, seed: 1.5 }), TypeError);
  await assert.rejects(powerIterationNorm(kernel, { ...base, maxIterations: -2 }), RangeError);
  // Layer errors come first and read as for singularValues.
  assert.throws(() => operatorNormBoundsSync(kernel, { inputShape: [4, 4], padding: 2 }), /padding must be at most/);
  assert.throws(() => gramIterationNormSync(kernel, { inputShape: [5, 4], stride: 2 }), /stride must divide/);
});

test("operatorNormBounds(): small zero-padded groups are exact with denseEntries; kernel = stride without padding is exact", () => {
  const base: ZeroCase = {
    rank: 2,
    cOutG: 1,
    cInG: 1,
    groups: 2,
    k: [3, 3],
    dilation: [1, 1],
    stride: [1, 1],
    padding: [1, 1],
    outputPadding: [0, 0],
    input: [3, 40],
    transposed: false,
    channelsLast: false,
    gridCandidates: 3,
    seed: 3,
  };
  // a depthwise 3×3 layer on 3×40 (120 × 120 per group): the interval is loose, the dense norm exact
  const { kernel, options, dense } = buildZero(base);
  const sigma = denseNorm(dense);
  const loose = operatorNormBoundsSync(kernel, options);
  assert.equal(loose.exact, false);
  assert.ok(loose.upper > sigma * 1.05, `circular grids are loose here: ${loose.upper} vs ${sigma}`);
  const b = operatorNormBoundsSync(kernel, { ...options, denseEntries: 2 ** 17 });
  assert.equal(b.exact, true);
  assert.ok(b.lower <= sigma && sigma <= b.upper, `${b.lower} ≤ ${sigma} ≤ ${b.upper}`);
  assert.ok(b.upper - b.lower <= 3e-12 * sigma);
  assert.deepEqual(b.gridSizes, loose.gridSizes); // the circular grids are still reported
  // over the limit: the interval
  assert.equal(operatorNormBoundsSync(kernel, { ...options, denseEntries: 120 * 120 - 1 }).exact, false);
  // a transposed layer with kernel = stride and no padding: windows never overlap
  const t: ZeroCase = {
    ...base,
    groups: 1,
    cOutG: 3,
    cInG: 2,
    k: [2, 2],
    stride: [2, 2],
    padding: [0, 0],
    transposed: true,
    input: [5, 6],
  };
  const tb = buildZero(t);
  const ts = operatorNormBoundsSync(tb.kernel, tb.options);
  const tsigma = denseNorm(tb.dense);
  assert.equal(ts.exact, true);
  assert.ok(ts.lower <= tsigma && tsigma <= ts.upper && ts.upper - ts.lower <= 3e-12 * tsigma);
});
