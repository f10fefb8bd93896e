/**
 * Clipping EVERY layer kind (issue 14): stride, dilation (also taps that wrap
 * onto each other), groups and depthwise, transposed, 1-D and 3-D, zero
 * padding (numbers, "same", "valid", transposed), a per-output-channel
 * `scale`, and `certify`; both layouts of each rank; sync, async on one
 * thread and on two worker threads. Everything is checked against the dense
 * reference of tests/clip_dense.ts: the layer's explicit matrix built from
 * its definition, one-sided Jacobi SVDs, and the orthogonal projection onto
 * the layer kind's operators by least squares over its basis matrices.
 *
 * Readings of the contract (src/types.ts) these tests rely on:
 * - `ClipResult.grid` is the input shape of the circular FORWARD convolution
 *   that was projected (as `OperatorNormBounds.grid`): for a circular
 *   transposed layer the large side, `inputShape · stride`; for zero padding
 *   the smallest admissible grid, i.e. `operatorNormBounds().gridSizes[0]`.
 * - `scale` has one entry per output channel of the layer as applied: for a
 *   transposed layer these are the transposed layer's own outputs (the
 *   forward convolution's inputs: `c_out/g · g` of PyTorch's
 *   `ConvTranspose` weight `[c_in, c_out/g, …]`), BatchNorm after a
 *   `ConvTranspose`.
 * - Where several taps reach one position (taps that wrap), the projection is
 *   of the OPERATOR, and the kernel returned is the one nearest to the input
 *   that realises the projected operator (each tap of a fold moves by the same
 *   amount); Dykstra's "nearest" is nearest as an operator (Frobenius norm of
 *   the layer's matrix), which for kinds without folds is proportional to the
 *   kernels' Frobenius distance.
 * - `certify` scales the final kernel by (at most a few ulps less than)
 *   `min(1, maxNorm / normAfter)` of the uncertified kernel.
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  clipOperatorNorm,
  clipOperatorNormSync,
  type ClipOptions,
  type ClipResult,
  type Kernel,
  type Layout,
  operatorNormBoundsSync,
  operatorNormSync,
} from "../mod.ts";
import { type DenseLayer, relayout } from "./dense_layers.ts";
import {
  circularOperator,
  frobeniusDistance,
  layerOperator,
  maxAbs,
  type Operator,
  scaledOperator,
  sigmaMax,
  Subspace,
} from "./clip_dense.ts";
import { signedUniform } from "./_random.ts";
import { getPool, jobCounts } from "../src/_threads/pool.ts";
import { type ErrorClass, expectBothFail } from "./_failures.ts";

// ---------------------------------------------------------------------------
// Layer kinds

const LAYOUTS: Record<number, [Layout, Layout]> = {
  1: ["oiw", "wio"],
  2: ["oihw", "hwio"],
  3: ["oidhw", "dhwio"],
};

/** A layer kind, with sizes small enough for dense SVDs (matrix sides ≤ 128). */
interface Kind {
  name: string;
  rank: 1 | 2 | 3;
  /** The kernel's shape in PyTorch's layout: `[c_out, c_in/g, …k]` (transposed: `ConvTranspose`'s `[c_in, c_out/g, …k]`). */
  shape: number[];
  inputShape: number[];
  stride?: number[];
  dilation?: number[];
  groups?: number;
  transposed?: boolean;
  /** Zero padding (absent: circular). */
  padding?: "same" | "valid" | number[];
  outputPadding?: number[];
  /** Some taps wrap onto each other (the dense basis has equal matrices). */
  wraps?: boolean;
}

const KINDS: Kind[] = [
  {
    name: "2-D plain, 2 → 3, kernel 3×3 on 5×4",
    rank: 2,
    shape: [3, 2, 3, 3],
    inputShape: [5, 4],
  },
  {
    name: "2-D stride 2, kernel 3×3 (not a multiple of the stride) on 6×6",
    rank: 2,
    shape: [2, 2, 3, 3],
    inputShape: [6, 6],
    stride: [2, 2],
  },
  {
    name: "2-D stride [1, 2], kernel 2×3 on 3×4",
    rank: 2,
    shape: [3, 2, 2, 3],
    inputShape: [3, 4],
    stride: [1, 2],
  },
  {
    name: "2-D dilation 2 on 6×8 (sizes share its factor), kernel 3×2",
    rank: 2,
    shape: [2, 2, 3, 2],
    inputShape: [6, 8],
    dilation: [2, 2],
  },
  {
    name: "1-D dilation 3, kernel 3 on 6: taps 0, 3, 6 ≡ 0 wrap onto each other",
    rank: 1,
    shape: [2, 3, 3],
    inputShape: [6],
    dilation: [3],
    wraps: true,
  },
  {
    name: "2-D dilation [3, 1], kernel 3×2 on 6×4: taps wrap on the first axis",
    rank: 2,
    shape: [2, 2, 3, 2],
    inputShape: [6, 4],
    dilation: [3, 1],
    wraps: true,
  },
  {
    name: "2-D groups 2, 4 → 4, kernel 2×2 on 4×5",
    rank: 2,
    shape: [4, 2, 2, 2],
    inputShape: [4, 5],
    groups: 2,
  },
  {
    name: "2-D depthwise 3 → 6, kernel 3×3 on 4×4",
    rank: 2,
    shape: [6, 1, 3, 3],
    inputShape: [4, 4],
    groups: 3,
  },
  {
    name: "2-D depthwise 4 → 4, kernel 3×3 on 5×6: 1×1 frequency matrices (elementwise rounds)",
    rank: 2,
    shape: [4, 1, 3, 3],
    inputShape: [5, 6],
    groups: 4,
  },
  {
    name: "2-D depthwise 2 → 2, dilation 2, kernel 3×3 on 4×3: 1×1 matrices, taps wrap",
    rank: 2,
    shape: [2, 1, 3, 3],
    inputShape: [4, 3],
    dilation: [2, 2],
    groups: 2,
    wraps: true,
  },
  {
    name: "1-D depthwise 3 → 3, kernel 3 on 7: 1×1 frequency matrices",
    rank: 1,
    shape: [3, 1, 3],
    inputShape: [7],
    groups: 3,
  },
  {
    name: "2-D transposed, stride 2, 3 → 2, kernel 3×3 on 3×3",
    rank: 2,
    shape: [3, 2, 3, 3],
    inputShape: [3, 3],
    stride: [2, 2],
    transposed: true,
  },
  {
    name: "1-D stride 2, dilation 2, groups 2, kernel 3 on 12",
    rank: 1,
    shape: [4, 1, 3],
    inputShape: [12],
    stride: [2],
    dilation: [2],
    groups: 2,
  },
  {
    name: "1-D transposed, stride 3, 2 → 3, kernel 4 on 3",
    rank: 1,
    shape: [2, 3, 4],
    inputShape: [3],
    stride: [3],
    transposed: true,
  },
  {
    name: "3-D stride [2, 1, 1], kernel 2×2×2 on 2×3×4 (the depth is one phase-split step)",
    rank: 3,
    shape: [2, 2, 2, 2, 2],
    inputShape: [2, 3, 4],
    stride: [2, 1, 1],
  },
  {
    name: "3-D kernel 2×2×2, stride [1, 1, 2] on 3×2×4",
    rank: 3,
    shape: [2, 2, 2, 2, 2],
    inputShape: [3, 2, 4],
    stride: [1, 1, 2],
  },
  {
    name: "3-D groups 2, dilation [1, 2, 1], kernel 1×2×2 on 2×4×3",
    rank: 3,
    shape: [2, 1, 1, 2, 2],
    inputShape: [2, 4, 3],
    dilation: [1, 2, 1],
    groups: 2,
  },
  {
    name: "2-D zero padding 1, kernel 3×3 on 5×5",
    rank: 2,
    shape: [2, 2, 3, 3],
    inputShape: [5, 5],
    padding: [1, 1],
  },
  {
    name: '1-D padding "same", dilation 2, kernel 4 on 7',
    rank: 1,
    shape: [3, 2, 4],
    inputShape: [7],
    dilation: [2],
    padding: "same",
  },
  {
    name: '2-D padding "valid", kernel 3×2 on 5×6',
    rank: 2,
    shape: [2, 3, 3, 2],
    inputShape: [5, 6],
    padding: "valid",
  },
  {
    name: "1-D zero padding 1, stride 2, kernel 3 on 9",
    rank: 1,
    shape: [2, 2, 3],
    inputShape: [9],
    stride: [2],
    padding: [1],
  },
  {
    name: "2-D transposed, stride 2, zero padding 1, output padding 1, kernel 3×3 on 3×3",
    rank: 2,
    shape: [2, 2, 3, 3],
    inputShape: [3, 3],
    stride: [2, 2],
    padding: [1, 1],
    outputPadding: [1, 1],
    transposed: true,
  },
  {
    name: "3-D zero padding [0, 1, 1], kernel 2×2×2 on 2×3×3",
    rank: 3,
    shape: [1, 2, 2, 2, 2],
    inputShape: [2, 3, 3],
    padding: [0, 1, 1],
  },
];

const kindNamed = (prefix: string): Kind => {
  const k = KINDS.find((k) => k.name.startsWith(prefix));
  if (!k) throw new Error(`no kind ${prefix}`);
  return k;
};

const circular = (kind: Kind) => kind.padding === undefined;
const product = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

/** One kind in one layout, with its weights. */
interface Layer {
  kind: Kind;
  layout: Layout;
  /** Weights in `layout` (exact f32 values when built for f32). */
  data: Float64Array;
  shape: number[];
  /** The dense builder's description (with `data`). */
  dense: DenseLayer;
  /** The layer's options as the package takes them. */
  options: ClipOptions;
}

function layerOf(
  kind: Kind,
  seed: number,
  channelsLast: boolean,
  f32 = false,
): Layer {
  let data: Float64Array = signedUniform(seed, product(kind.shape));
  if (f32) data = data.map(Math.fround);
  let shape = kind.shape;
  let layout: string = LAYOUTS[kind.rank][0];
  if (channelsLast) ({ data, shape, layout } = relayout(data, shape, layout));
  const dense: DenseLayer = {
    data,
    shape,
    layout,
    inputShape: kind.inputShape,
  };
  const options: ClipOptions = {
    inputShape: kind.inputShape,
    layout: layout as Layout,
  };
  if (kind.stride) dense.stride = options.stride = kind.stride;
  if (kind.dilation) dense.dilation = options.dilation = kind.dilation;
  if (kind.groups) dense.groups = options.groups = kind.groups;
  if (kind.transposed) dense.transposed = options.transposed = true;
  if (kind.padding !== undefined) {
    dense.padding = options.padding = kind.padding;
  }
  if (kind.outputPadding) {
    dense.outputPadding = options.outputPadding = kind.outputPadding;
  }
  return { kind, layout: layout as Layout, data, shape, dense, options };
}

/** The layer's output channels (a transposed layer's are the forward convolution's inputs). */
function outputChannels(kind: Kind): number {
  return kind.transposed ? kind.shape[1] * (kind.groups ?? 1) : kind.shape[0];
}

/** The grid `ClipResult.grid` should name (see the module doc). */
function expectedGrid(L: Layer): number[] {
  const k = L.kind;
  if (circular(k)) {
    return k.transposed ? k.inputShape.map((n, j) => n * (k.stride?.[j] ?? 1)) : [...k.inputShape];
  }
  return operatorNormBoundsSync({ data: L.data, shape: L.shape }, L.options)
    .gridSizes[0];
}

const kernelOf = (L: Layer, f32 = false): Kernel => ({
  data: f32 ? Float32Array.from(L.data) : L.data.slice(),
  shape: [...L.shape],
});

// ---------------------------------------------------------------------------
// Assertions

/** |got − want| ≤ rel·|want| (+ abs). */
function assertNear(
  got: number,
  want: number,
  rel: number,
  label: string,
  abs = 0,
): void {
  assert.ok(
    Math.abs(got - want) <= rel * Math.abs(want) + abs,
    `${label}: got ${got}, want ${want} (relative error ${
      (Math.abs(got - want) / Math.abs(want)).toExponential(2)
    } > ${rel})`,
  );
}

/** max|got − want| ≤ rel·scale. */
function assertArraysNear(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rel: number,
  scale: number,
  label: string,
): void {
  assert.equal(got.length, want.length, `${label}: lengths`);
  let worst = 0, at = -1;
  for (let j = 0; j < got.length; j++) {
    const d = Math.abs(got[j] - want[j]);
    if (!(d <= worst)) worst = d, at = j;
  }
  assert.ok(
    worst <= rel * scale,
    `${label}: max abs difference ${worst.toExponential(3)} at ${at} (got ${got[at]}, want ${want[at]}) > ${rel} · ${
      scale.toExponential(3)
    }`,
  );
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let j = 0; j < a.length; j++) if (!Object.is(a[j], b[j])) return false;
  return true;
}

/** Bound on a σ_max compared with a radius: rounding of the dense SVD and of the package's own norm. */
const ROUNDING = 1e-12;

/** The dense norms of a returned kernel: the layer's own (padded) matrix and the circular layer on `grid`. */
function denseNorms(
  L: Layer,
  data: ArrayLike<number>,
  grid: readonly number[],
  scale?: ArrayLike<number>,
) {
  let own: Operator = layerOperator(L.dense);
  let circ: Operator = circularOperator(L.dense, grid);
  if (scale) {
    own = scaledOperator(own, scale), circ = scaledOperator(circ, scale);
  }
  const sOwn = sigmaMax(own(data));
  // A circular layer IS the circular layer on its grid (transposed: its transpose, with the same σ).
  const sGrid = circular(L.kind) ? sOwn : sigmaMax(circ(data));
  return { own: sOwn, grid: sGrid };
}

/** The checks every result gets: shapes, grid, and normBefore/normAfter against the dense norms. */
function checkCommon(
  L: Layer,
  res: ClipResult,
  label: string,
  scale?: ArrayLike<number>,
): { own: number; grid: number } {
  assert.deepEqual(res.kernel.shape, L.shape, `${label}: shape`);
  assert.equal(
    res.kernel.data.length,
    L.data.length,
    `${label}: length of the returned data`,
  );
  assert.equal(res.backend, "wasm", `${label}: backend`);
  assert.equal(res.exact, circular(L.kind), `${label}: exact`);
  assert.deepEqual(res.grid, expectedGrid(L), `${label}: grid`);
  const before = denseNorms(L, L.data, res.grid, scale);
  assertNear(
    res.normBefore,
    before.grid,
    1e-10,
    `${label}: normBefore vs the dense σ_max of the circular layer on the grid`,
  );
  assert.ok(
    res.normBefore >= before.own * (1 - ROUNDING),
    `${label}: normBefore ${res.normBefore} < the real layer's dense σ_max ${before.own}`,
  );
  const after = denseNorms(L, res.kernel.data, res.grid, scale);
  assertNear(
    res.normAfter,
    after.grid,
    1e-10,
    `${label}: normAfter vs the dense σ_max of the returned kernel on the grid`,
  );
  assert.ok(
    after.own <= res.normAfter * (1 + ROUNDING),
    `${label}: the real layer's dense σ_max ${after.own} > normAfter ${res.normAfter}`,
  );
  return after;
}

/** sync, async on one thread and async on two threads: the results must be identical (each is checked). */
async function allModes(
  kernel: Kernel,
  maxNorm: number,
  options: ClipOptions,
  check: (res: ClipResult, label: string) => void,
  label: string,
): Promise<ClipResult> {
  const sync = clipOperatorNormSync(kernel, maxNorm, options);
  check(sync, `${label}, sync`);
  for (const threads of [1, 2]) {
    const res = await clipOperatorNorm(kernel, maxNorm, {
      ...options,
      threads,
    });
    if (!sameBits(res.kernel.data, sync.kernel.data)) {
      check(res, `${label}, async threads ${threads}`);
    }
    assert.deepEqual(
      res,
      sync,
      `${label}: async (threads ${threads}) differs from sync`,
    );
  }
  return sync;
}

const describeLayer = (L: Layer, seed: number, extra = "") => `${L.kind.name} (${L.layout}, seed ${seed}${extra})`;

// ---------------------------------------------------------------------------
// 1. Every kind: inside the ball after the rounds, certified or not

const TOL = 1e-3;

async function checkKind(
  kind: Kind,
  seed: number,
  ratio: number,
): Promise<void> {
  const kernels: Record<string, ClipResult> = {};
  for (const last of [false, true]) {
    const L = layerOf(kind, seed, last);
    const kernel = kernelOf(L);
    const sigma = sigmaMax(layerOperator(L.dense)(L.data));
    const maxNorm = ratio * sigma;
    const label = describeLayer(
      L,
      seed,
      `, maxNorm ${maxNorm.toPrecision(6)} = ${ratio.toFixed(3)}·σ_max`,
    );
    const base: ClipOptions = { ...L.options, iterations: 200, tolerance: TOL };

    // certify off: within maxNorm·(1 + tolerance).
    const plain = await allModes(
      kernel,
      maxNorm,
      { ...base, certify: false },
      (res, lab) => {
        const after = checkCommon(L, res, lab);
        assert.ok(
          res.kernel.data instanceof Float64Array,
          `${lab}: element type`,
        );
        assert.ok(
          res.iterations >= 1 && res.iterations <= 200,
          `${lab}: iterations ${res.iterations}`,
        );
        assert.equal(res.certified, false, `${lab}: certified`);
        assert.equal(res.certifyScale, 1, `${lab}: certifyScale`);
        assert.equal(
          res.toleranceMet,
          true,
          `${lab}: toleranceMet (normAfter ${res.normAfter})`,
        );
        assert.ok(
          after.own <= maxNorm * (1 + TOL) * (1 + ROUNDING),
          `${lab}: dense σ_max ${after.own} > maxNorm·(1 + ${TOL}) = ${maxNorm * (1 + TOL)}`,
        );
      },
      `${label}, certify off`,
    );
    assert.deepEqual(
      kernel.data,
      L.data,
      `${label}: the input kernel was modified`,
    );

    // certify on (explicit, and by default since tolerance is given): within maxNorm.
    for (const certify of [true, undefined]) {
      const opts: ClipOptions = certify === undefined ? base : { ...base, certify };
      const res = await allModes(kernel, maxNorm, opts, (res, lab) => {
        const after = checkCommon(L, res, lab);
        assert.equal(res.certified, true, `${lab}: certified`);
        assert.equal(
          typeof res.toleranceMet,
          "boolean",
          `${lab}: toleranceMet`,
        );
        assert.ok(
          res.normAfter <= maxNorm,
          `${lab}: normAfter ${res.normAfter} > maxNorm ${maxNorm}`,
        );
        assert.ok(
          after.own <= maxNorm * (1 + ROUNDING),
          `${lab}: dense σ_max ${after.own} > maxNorm ${maxNorm}`,
        );
        assert.ok(
          after.grid <= maxNorm * (1 + ROUNDING),
          `${lab}: dense σ_max on the grid ${after.grid} > maxNorm ${maxNorm}`,
        );
      }, `${label}, certify ${certify ?? "by default"}`);
      // The certify step scales the uncertified kernel by min(1, maxNorm/normAfter) (a few ulps less at most).
      const want = Math.min(1, maxNorm / plain.normAfter);
      assert.ok(
        res.certifyScale <= want * (1 + ROUNDING) &&
          res.certifyScale >= want * (1 - 1e-9),
        `${label}: certifyScale ${res.certifyScale}, min(1, maxNorm/normAfter) = ${want}`,
      );
      assert.equal(
        res.iterations,
        plain.iterations,
        `${label}: the certified run's rounds`,
      );
      assert.equal(
        res.normBefore,
        plain.normBefore,
        `${label}: normBefore, certified or not`,
      );
      assertArraysNear(
        res.kernel.data,
        Array.from(plain.kernel.data, (x) => x * res.certifyScale),
        1e-14,
        maxAbs(plain.kernel.data),
        `${label}: certified kernel = certifyScale · uncertified kernel`,
      );
    }

    // Already inside the ball: the same bits back, no round.
    const wide = plain.normBefore * 1.25;
    for (const certify of [true, false]) {
      await allModes(
        kernel,
        wide,
        { ...base, certify },
        (res, lab) => {
          assert.equal(res.iterations, 0, `${lab}: iterations`);
          assert.ok(
            sameBits(res.kernel.data, L.data),
            `${lab}: the kernel changed`,
          );
          assert.notEqual(
            res.kernel.data,
            kernel.data,
            `${lab}: the input's array itself was returned`,
          );
          assert.equal(res.certified, certify, `${lab}: certified`);
          assert.equal(res.certifyScale, 1, `${lab}: certifyScale`);
          assert.equal(res.toleranceMet, true, `${lab}: toleranceMet`);
          assert.equal(res.normAfter, res.normBefore, `${lab}: normAfter`);
          assert.equal(res.normBefore, plain.normBefore, `${lab}: normBefore`);
        },
        `${label}, inside the ball (maxNorm ${wide.toPrecision(6)}), certify ${certify}`,
      );
    }
    kernels[L.layout] = plain;
  }
  // The two layouts of the rank give the same kernel (relayouted) and norms.
  const [first, lastLayout] = LAYOUTS[kind.rank];
  const a = kernels[first], b = kernels[lastLayout];
  const back = relayout(b.kernel.data, b.kernel.shape as number[], lastLayout);
  assertArraysNear(
    back.data,
    a.kernel.data,
    1e-12,
    maxAbs(a.kernel.data),
    `${kind.name}: ${lastLayout} vs ${first}`,
  );
  assertNear(
    b.normAfter,
    a.normAfter,
    1e-12,
    `${kind.name}: normAfter ${lastLayout} vs ${first}`,
  );
}

KINDS.forEach((kind, index) => {
  test(
    `clip kinds: ${kind.name}: after 200 rounds (tolerance 1e-3) the dense σ_max is within the ball, certified or not; normBefore/normAfter are the dense norms; a kernel inside comes back as it is; both layouts, sync = async = 2 threads`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          fc.double({ min: 0.3, max: 0.8, noNaN: true }),
          (seed, ratio) => checkKind(kind, seed, ratio),
        ),
        { seed: 1400 + index, numRuns: 4, endOnFailure: true },
      );
    },
    { threads: true, timeoutMs: 120_000 },
  );
});

// ---------------------------------------------------------------------------
// 2. The projection is a projection; Dykstra finds the nearest operator

/** Circular kinds for the projection properties. */
const PROJECTION_KINDS = [
  "2-D plain",
  "2-D stride 2",
  "1-D dilation 3",
  "2-D dilation [3, 1]",
  "2-D groups 2",
  "2-D depthwise 4",
  "2-D depthwise 2 → 2, dilation 2",
  "2-D transposed, stride 2, 3",
  "1-D stride 2, dilation 2",
  "3-D groups 2",
  "3-D stride [2, 1, 1]",
  "3-D kernel 2×2×2",
].map(kindNamed);

const LONG = 1e-9;

PROJECTION_KINDS.forEach((kind, index) => {
  test(`clip kinds: ${kind.name}: P(P(K)) = P(K); Dykstra's operator is at least as near to the input's as alternation's; both inside the ball`, () => {
    const seed = 5100 + index;
    const L = layerOf(kind, seed, index % 2 === 1);
    const A = layerOperator(L.dense);
    const a0 = A(L.data).a;
    const maxNorm = 0.5 * sigmaMax(A(L.data));
    const label = describeLayer(L, seed, `, maxNorm ${maxNorm.toPrecision(6)}`);
    const found: Record<string, ClipResult> = {};
    for (const method of ["dykstra", "alternating"] as const) {
      const opts: ClipOptions = {
        ...L.options,
        method,
        iterations: 400,
        tolerance: LONG,
        certify: false,
      };
      const p1 = clipOperatorNormSync(kernelOf(L), maxNorm, opts);
      assert.equal(
        p1.toleranceMet,
        true,
        `${label}, ${method}: tolerance ${LONG} not met in 400 rounds (normAfter ${p1.normAfter})`,
      );
      const p2 = clipOperatorNormSync(p1.kernel, maxNorm, opts);
      assert.equal(
        p2.iterations,
        0,
        `${label}, ${method}: P(P(K)) ran ${p2.iterations} rounds`,
      );
      assertArraysNear(
        p2.kernel.data,
        p1.kernel.data,
        1e-6,
        maxAbs(p1.kernel.data),
        `${label}, ${method}: P(P(K)) vs P(K)`,
      );
      const s = sigmaMax(A(p1.kernel.data));
      assert.ok(
        s <= maxNorm * (1 + LONG) * (1 + ROUNDING),
        `${label}, ${method}: dense σ_max ${s} > maxNorm·(1 + ${LONG})`,
      );
      found[method] = p1;
    }
    const dDist = frobeniusDistance(A(found.dykstra.kernel.data).a, a0);
    const aDist = frobeniusDistance(A(found.alternating.kernel.data).a, a0);
    assert.ok(
      dDist <= aDist * (1 + 1e-6),
      `${label}: Dykstra's operator is ${dDist} from the input's, alternation's ${aDist}`,
    );
  });
});

/** Tiny layers (matrices ≤ 16 a side) for Dykstra run densely on the operator itself. */
const TINY: Kind[] = [
  // (Dilation 3, kernel 3 on 6 folds too, but onto every position of its phases: one round is already the solution.)
  {
    name: "2-D dilation 2, 2 → 2, kernel 2×2 on 2×3 (taps 0 and 2 fold on the first axis)",
    rank: 2,
    shape: [2, 2, 2, 2],
    inputShape: [2, 3],
    dilation: [2, 2],
    wraps: true,
  },
  {
    name: "1-D stride 2, 2 → 2, kernel 3 on 8",
    rank: 1,
    shape: [2, 2, 3],
    inputShape: [8],
    stride: [2],
  },
  {
    name: "2-D groups 2, 2 → 2, kernel 2×1 on 3×2",
    rank: 2,
    shape: [2, 1, 2, 1],
    inputShape: [3, 2],
    groups: 2,
  },
  {
    name: "1-D transposed, stride 2, 2 → 2, kernel 3 on 3",
    rank: 1,
    shape: [2, 2, 3],
    inputShape: [3],
    stride: [2],
    transposed: true,
  },
  {
    name: "3-D 2 → 1, kernel 2×1×2 on 3×2×2: complex frequency matrices (depth frequencies)",
    rank: 3,
    shape: [1, 2, 2, 1, 2],
    inputShape: [3, 2, 2],
  },
];

TINY.forEach((kind, index) => {
  test(`clip kinds: ${kind.name}: Dykstra = dense Dykstra on the operator, round for round and at convergence`, () => {
    const seed = 6100 + index;
    const L = layerOf(kind, seed, index % 2 === 0);
    const sub = new Subspace(layerOperator(L.dense), L.data.length);
    assert.equal(
      sub.folds.length > 0,
      kind.wraps === true,
      `${kind.name}: folds ${JSON.stringify(sub.folds)}`,
    );
    const maxNorm = 0.4 * sigmaMax(layerOperator(L.dense)(L.data));
    const label = describeLayer(L, seed, `, maxNorm ${maxNorm.toPrecision(6)}`);
    // Round for round: the same iteration, so equal up to rounding.
    const few = clipOperatorNormSync(kernelOf(L), maxNorm, {
      ...L.options,
      method: "dykstra",
      iterations: 20,
    });
    assert.ok(few.iterations >= 1, `${label}: no round ran`);
    const x = sub.dykstra(L.data, maxNorm, few.iterations);
    assertArraysNear(
      sub.apply(few.kernel.data),
      x,
      1e-9,
      maxAbs(x),
      `${label}: operator after ${few.iterations} Dykstra rounds`,
    );
    assertArraysNear(
      few.kernel.data,
      sub.lift(L.data, x),
      1e-9,
      maxAbs(L.data),
      `${label}: kernel after ${few.iterations} rounds`,
    );
    // At convergence: the nearest operator in the ball.
    const long = clipOperatorNormSync(kernelOf(L), maxNorm, {
      ...L.options,
      method: "dykstra",
      iterations: 500,
      tolerance: 1e-12,
      certify: false,
    });
    // Both converge fast on these layers (seen: dense 1000 rounds vs 2000 agree to 1e-14, convsv's to 2e-12).
    assert.equal(
      long.toleranceMet,
      true,
      `${label}: tolerance 1e-12 not met in 500 rounds`,
    );
    const xs = sub.dykstra(L.data, maxNorm, 1000);
    assertArraysNear(
      sub.apply(long.kernel.data),
      xs,
      1e-8,
      maxAbs(xs),
      `${label}: converged operator vs dense Dykstra (1000 rounds)`,
    );
    const xAlt = sub.apply(
      clipOperatorNormSync(kernelOf(L), maxNorm, {
        ...L.options,
        iterations: 500,
        tolerance: 1e-12,
        certify: false,
      }).kernel.data,
    );
    const a0 = sub.apply(L.data);
    assert.ok(
      frobeniusDistance(xs, a0) <= frobeniusDistance(xAlt, a0) * (1 + 1e-6),
      `${label}: dense Dykstra's operator is farther from the input's than alternation's`,
    );
  });
});

// ---------------------------------------------------------------------------
// 3. One round = the dense round; back to the taps with the least change

KINDS.forEach((kind, index) => {
  test(`clip kinds: ${kind.name}: one round's operator is the dense P_S(clip(A(K))) on the grid, and the kernel is the least change that realises it (taps that fold move together), both layouts`, () => {
    for (const last of [false, true]) {
      const seed = 7100 + index;
      const L = layerOf(kind, seed, last);
      const maxNorm = 0.5 * sigmaMax(layerOperator(L.dense)(L.data));
      const label = describeLayer(
        L,
        seed,
        `, maxNorm ${maxNorm.toPrecision(6)}`,
      );
      const res = clipOperatorNormSync(kernelOf(L), maxNorm, {
        ...L.options,
        iterations: 1,
      });
      assert.equal(res.iterations, 1, `${label}: iterations`);
      assert.equal(
        res.certified,
        false,
        `${label}: certify is off by default without tolerance`,
      );
      assert.equal(
        res.toleranceMet,
        undefined,
        `${label}: toleranceMet without tolerance`,
      );
      assert.equal(
        res.kernel.data.length,
        L.data.length,
        `${label}: length of the returned data`,
      );
      // The circular layer on the grid that was projected (the layer itself for circular padding).
      const sub = new Subspace(
        circularOperator(L.dense, res.grid),
        L.data.length,
      );
      assert.equal(
        sub.folds.length > 0,
        kind.wraps === true,
        `${label}: folds ${JSON.stringify(sub.folds)}`,
      );
      const x = sub.round(L.data, maxNorm);
      assertArraysNear(
        sub.apply(res.kernel.data),
        x,
        1e-10,
        maxAbs(x),
        `${label}: A(kernel) vs dense P_S(clip(A(K)))`,
      );
      const want = sub.lift(L.data, x);
      assertArraysNear(
        res.kernel.data,
        want,
        1e-10,
        maxAbs(L.data),
        `${label}: kernel vs K + A⁺(X − A(K))`,
      );
      for (const fold of sub.folds) {
        const moves = fold.map((t) => res.kernel.data[t] - L.data[t]);
        for (const m of moves) {
          assert.ok(
            Math.abs(m - moves[0]) <= 1e-12 * maxAbs(L.data),
            `${label}: taps ${fold} fold onto one position but moved by ${moves}`,
          );
        }
      }
    }
  });
});

// ---------------------------------------------------------------------------
// 4. scale: the composite diag(scale)·conv is projected

const SCALE_KINDS = [
  "2-D plain",
  "2-D stride 2",
  "2-D groups 2",
  "2-D depthwise 4",
  "1-D depthwise",
  "2-D transposed, stride 2, 3",
  "1-D stride 2, dilation 2",
  "2-D dilation [3, 1]",
  "2-D zero padding 1",
  "1-D transposed, stride 3",
].map(kindNamed);

/** Per-output-channel factors in ±[0.25, 2], the first negative. */
function scaleOf(kind: Kind, seed: number): Float64Array {
  const s = Float64Array.from(
    signedUniform(seed, outputChannels(kind)),
    (v) => (v < 0 ? -1 : 1) * (0.25 + 1.75 * Math.abs(v)),
  );
  s[0] = -Math.abs(s[0]);
  return s;
}

SCALE_KINDS.forEach((kind, index) => {
  test(
    `clip kinds: ${kind.name} with scale: diag(scale)·A(kernel) is certified inside the ball, norms are the composite's, one round is the dense one, a negative factor acts as its absolute value`,
    async () => {
      for (const last of [false, true]) {
        const seed = 8100 + index;
        const L = layerOf(kind, seed, last);
        const scale = scaleOf(kind, seed + 50);
        const grid = expectedGrid(L);
        const own = scaledOperator(layerOperator(L.dense), scale);
        const maxNorm = 0.5 * sigmaMax(own(L.data));
        const label = describeLayer(
          L,
          seed,
          `, scale [${Array.from(scale, (x) => x.toFixed(3))}], maxNorm ${maxNorm.toPrecision(6)}`,
        );
        const opts: ClipOptions = {
          ...L.options,
          scale,
          iterations: 200,
          tolerance: TOL,
        };
        const res = await allModes(kernelOf(L), maxNorm, opts, (res, lab) => {
          const after = checkCommon(L, res, lab, scale);
          assert.equal(res.certified, true, `${lab}: certified`);
          assert.ok(
            res.normAfter <= maxNorm,
            `${lab}: normAfter ${res.normAfter} > maxNorm ${maxNorm}`,
          );
          assert.ok(
            after.own <= maxNorm * (1 + ROUNDING),
            `${lab}: dense σ_max of diag(scale)·A ${after.own} > maxNorm ${maxNorm}`,
          );
        }, label);
        // The scale is not the projected kernel's: without it the plain layer's norm is another number.
        const unscaled = sigmaMax(layerOperator(L.dense)(res.kernel.data));
        assert.ok(
          Math.abs(unscaled - res.normAfter) > 1e-6 * res.normAfter,
          `${label}: normAfter ${res.normAfter} is the unscaled layer's`,
        );

        // A plain array does the same as a Float64Array.
        const asArray = clipOperatorNormSync(kernelOf(L), maxNorm, {
          ...opts,
          scale: Array.from(scale),
        });
        assert.deepEqual(asArray, res, `${label}: scale as a plain array`);

        // A negative factor acts as its absolute value (diag(±1) is orthogonal).
        const abs = clipOperatorNormSync(kernelOf(L), maxNorm, {
          ...opts,
          scale: scale.map(Math.abs),
        });
        assertNear(
          abs.normBefore,
          res.normBefore,
          1e-12,
          `${label}: normBefore with |scale|`,
        );
        assertNear(
          abs.normAfter,
          res.normAfter,
          1e-12,
          `${label}: normAfter with |scale|`,
        );
        assertArraysNear(
          abs.kernel.data,
          res.kernel.data,
          1e-10,
          maxAbs(res.kernel.data),
          `${label}: kernel with |scale|`,
        );

        // One round against the dense round of the composite on the grid.
        const one = clipOperatorNormSync(kernelOf(L), maxNorm, {
          ...L.options,
          scale,
          iterations: 1,
        });
        const sub = new Subspace(
          scaledOperator(circularOperator(L.dense, grid), scale),
          L.data.length,
        );
        const x = sub.round(L.data, maxNorm);
        assertArraysNear(
          sub.apply(one.kernel.data),
          x,
          1e-10,
          maxAbs(x),
          `${label}: one round's diag(scale)·A(kernel)`,
        );
        assertArraysNear(
          one.kernel.data,
          sub.lift(L.data, x),
          1e-10,
          maxAbs(L.data),
          `${label}: one round's kernel`,
        );
      }
    },
    { threads: true, timeoutMs: 120_000 },
  );
});

// ---------------------------------------------------------------------------
// 5. Bad input: refused before any work, the message naming the value

async function expectFailure(
  label: string,
  kernel: Kernel,
  maxNorm: unknown,
  options: unknown,
  kinds: ErrorClass | ErrorClass[],
  value: RegExp,
): Promise<void> {
  const m = maxNorm as number, o = options as ClipOptions;
  await expectBothFail(
    label,
    "clipOperatorNorm",
    () => clipOperatorNormSync(kernel, m, o),
    () => clipOperatorNorm(kernel, m, o),
    kinds,
    value,
  );
}

const ZERO = /(^|[^\d.])0([^\d.]|$)/;

test("clip kinds bad input: scale of the wrong length, with NaN / ±Infinity / 0, or not array-like; maxNorm ≤ 0, NaN, Infinity; certify not a boolean", async () => {
  // A strided, zero-padded layer (2 → 3) and a transposed one (3 → 2 outputs); maxNorm huge: nothing to do but validate.
  const strided = layerOf(kindNamed("2-D plain"), 9001, false);
  const padded: ClipOptions = { ...strided.options, stride: 1, padding: 1 };
  const transposed = layerOf(
    kindNamed("2-D transposed, stride 2, 3"),
    9002,
    true,
  );
  for (
    const [name, L, options] of [["2-D padded", strided, padded], [
      "2-D transposed",
      transposed,
      transposed.options,
    ]] as const
  ) {
    const k = kernelOf(L);
    const n = outputChannels(L.kind);
    const good = Array.from({ length: n }, (_, j) => 1 + j / 4);
    const huge = 1e300;
    // The baseline works, with and without the work.
    assert.doesNotThrow(
      () =>
        clipOperatorNormSync(k, huge, {
          ...options,
          scale: good,
          tolerance: 0.1,
        }),
      `${name}: baseline`,
    );
    assert.doesNotThrow(
      () =>
        clipOperatorNormSync(k, 1e-3, {
          ...options,
          scale: good,
          tolerance: 0.1,
        }),
      `${name}: baseline, clipping`,
    );
    for (const len of [n - 1, n + 1, 0]) {
      const s = Array.from({ length: len }, () => 1);
      await expectFailure(
        `${name}: scale of length ${len}`,
        k,
        huge,
        { ...options, scale: s },
        [TypeError, RangeError],
        new RegExp(`\\b${len}\\b`),
      );
    }
    for (
      const [bad, re] of [[NaN, /NaN/], [Infinity, /Infinity/], [
        -Infinity,
        /-Infinity/,
      ], [0, ZERO]] as const
    ) {
      const s = [...good];
      s[n - 1] = bad;
      await expectFailure(
        `${name}: scale[${n - 1}] = ${bad}`,
        k,
        huge,
        { ...options, scale: s },
        RangeError,
        re,
      );
      await expectFailure(
        `${name}: Float64Array scale with ${bad}`,
        k,
        1e-3,
        { ...options, scale: Float64Array.from(s) },
        RangeError,
        re,
      );
    }
    for (
      const [bad, re] of [[2, /2/], [null, /null/], [true, /true/], [
        { a: 1 },
        /Object|object/,
      ]] as const
    ) {
      await expectFailure(
        `${name}: scale ${JSON.stringify(bad)}`,
        k,
        huge,
        { ...options, scale: bad },
        TypeError,
        re,
      );
    }
    await expectFailure(
      `${name}: scale ["1", …]`,
      k,
      huge,
      { ...options, scale: good.map(String) },
      TypeError,
      /"1"|\b1\b/,
    );
    for (
      const [bad, re] of [[0, ZERO], [-1, /-1\b/], [NaN, /NaN/], [
        Infinity,
        /Infinity/,
      ]] as const
    ) {
      await expectFailure(
        `${name}: maxNorm ${bad}`,
        k,
        bad,
        { ...options, scale: good, tolerance: 1e-3 },
        RangeError,
        re,
      );
    }
    // (null is not listed: every option of the package reads null as "not given", through `??`.)
    for (
      const [bad, re] of [["yes", /yes/], [1, /\b1\b/], [0, ZERO], [
        "false",
        /"false"/,
      ]] as const
    ) {
      await expectFailure(
        `${name}: certify ${JSON.stringify(bad)}`,
        k,
        huge,
        { ...options, certify: bad },
        TypeError,
        re,
      );
    }
  }
});

// ---------------------------------------------------------------------------
// 6. f32 kernels: certified after the f32 rounding of the returned data

const F32_KINDS = [
  "2-D plain",
  "2-D stride 2",
  "2-D dilation [3, 1]",
  "2-D depthwise",
  "2-D transposed, stride 2, 3",
  "1-D stride 2, dilation 2",
  "3-D kernel 2×2×2",
  "3-D stride [2, 1, 1]",
  "2-D zero padding 1",
  "2-D transposed, stride 2, zero padding 1",
].map(kindNamed);

F32_KINDS.forEach((kind, index) => {
  test(
    `clip kinds: ${kind.name}, Float32Array kernel, certify: the returned f32 data's dense σ_max is within maxNorm (also with scale)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          fc.double({ min: 0.2, max: 0.9, noNaN: true }),
          fc.boolean(),
          fc.boolean(),
          async (seed, ratio, last, withScale) => {
            const L = layerOf(kind, seed, last, true);
            const scale = withScale ? scaleOf(kind, seed + 1) : undefined;
            let own = layerOperator(L.dense);
            if (scale) own = scaledOperator(own, scale);
            const maxNorm = ratio * sigmaMax(own(L.data));
            const label = describeLayer(
              L,
              seed,
              `, f32${scale ? ", scale" : ""}, maxNorm ${maxNorm.toPrecision(6)}`,
            );
            const opts: ClipOptions = {
              ...L.options,
              iterations: 200,
              tolerance: TOL,
              certify: true,
              ...(scale ? { scale } : {}),
            };
            await allModes(kernelOf(L, true), maxNorm, opts, (res, lab) => {
              assert.ok(
                res.kernel.data instanceof Float32Array,
                `${lab}: element type`,
              );
              const after = checkCommon(L, res, lab, scale);
              assert.equal(res.certified, true, `${lab}: certified`);
              assert.ok(
                res.normAfter <= maxNorm,
                `${lab}: normAfter ${res.normAfter} > maxNorm ${maxNorm}`,
              );
              assert.ok(
                after.own <= maxNorm * (1 + ROUNDING),
                `${lab}: dense σ_max of the f32 data ${after.own} > maxNorm ${maxNorm}`,
              );
              assert.ok(
                after.grid <= maxNorm * (1 + ROUNDING),
                `${lab}: dense σ_max on the grid of the f32 data ${after.grid} > maxNorm ${maxNorm}`,
              );
            }, label);
          },
        ),
        { seed: 9300 + index, numRuns: 4, endOnFailure: true },
      );
    },
    { threads: true, timeoutMs: 120_000 },
  );
});

// ---------------------------------------------------------------------------
// 7. Random kinds: one round is the dense round, the certified result is inside

/** Random layer kinds of every sort (dense sides ≤ 120), circular or zero-padded. */
function randomKindArb(): fc.Arbitrary<Kind> {
  return fc.constantFrom<1 | 2 | 3>(1, 2, 3).chain((rank) => {
    const axes = (min: number, max: number) => fc.array(fc.integer({ min, max }), { minLength: rank, maxLength: rank });
    const lim = rank === 1
      ? { c: 3, k: 4, n: 4, s: 3, d: 3 }
      : rank === 2
      ? { c: 2, k: 3, n: 3, s: 2, d: 3 }
      : { c: 2, k: 2, n: 2, s: 2, d: 2 };
    return fc.record({
      cOutG: fc.integer({ min: 1, max: lim.c }),
      cInG: fc.integer({ min: 1, max: lim.c }),
      groups: fc.integer({ min: 1, max: 2 }),
      k: axes(1, lim.k),
      grid: axes(1, lim.n),
      stride: axes(1, lim.s),
      dilation: axes(1, lim.d),
      transposed: fc.boolean(),
      pad: fc.constantFrom<"circular" | "numbers" | "same" | "valid">(
        "circular",
        "circular",
        "numbers",
        "same",
        "valid",
      ),
      p: axes(0, 2),
    }).map((r): Kind => {
      const kind: Kind = {
        name: "",
        rank,
        shape: [r.cOutG * r.groups, r.cInG, ...r.k],
        inputShape: [],
        stride: r.stride,
        dilation: r.dilation,
        groups: r.groups,
      };
      const pad = r.transposed && (r.pad === "same" || r.pad === "valid") ? "numbers" : r.pad;
      const same = pad === "same" && r.stride.some((s) => s > 1) ? "valid" : pad;
      if (r.transposed) kind.transposed = true;
      if (same === "circular") {
        // The circular input: the forward grid times the stride (transposed: the grid itself).
        kind.inputShape = r.transposed ? r.grid : r.grid.map((g, j) => g * r.stride[j]);
      } else {
        kind.padding = same === "numbers" ? r.p.map((p, j) => Math.min(p, r.dilation[j] * (r.k[j] - 1))) : same;
        // Zero padding: an input long enough for at least one output; transposed: the small side.
        const ext = r.k.map((k, j) => r.dilation[j] * (k - 1) + 1);
        kind.inputShape = r.transposed ? r.grid : r.grid.map((g, j) => Math.max(g * r.stride[j], ext[j]));
      }
      const extra = kind.transposed ? " transposed" : "";
      kind.name = `${rank}-D ${
        JSON.stringify(kind.shape)
      } on [${kind.inputShape}] stride [${r.stride}] dilation [${r.dilation}] groups ${r.groups} padding ${
        JSON.stringify(kind.padding ?? "circular")
      }${extra}`;
      return kind;
    });
  });
}

/** The largest side of the dense matrices a kind needs (its own and the circular one on the smallest grid). */
function denseSide(L: Layer, grid: readonly number[]): number {
  const cells = product(grid);
  const kind = L.kind;
  return Math.max(kind.shape[0], kind.shape[1] * (kind.groups ?? 1)) * cells;
}

test(
  "clip kinds: random kinds (rank, channels, groups, stride, dilation, transposed, zero padding): one round is the dense round on the grid, and the certified result is inside the ball",
  async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(
        randomKindArb(),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.boolean(),
        async (kind, seed, last) => {
          const L = layerOf(kind, seed, last);
          // Layers the dense builder cannot describe (no output) are skipped.
          const own = layerOperator(L.dense);
          let m;
          try {
            m = own(L.data);
          } catch {
            return;
          }
          if (
            m.rows === 0 || m.cols === 0 || m.rows > 120 || m.cols > 120
          ) return;
          const grid = expectedGrid(L);
          if (denseSide(L, grid) > 150) return;
          const sigma = sigmaMax(m);
          if (!(sigma > 0)) return;
          const maxNorm = 0.5 * sigma;
          const label = describeLayer(
            L,
            seed,
            `, maxNorm ${maxNorm.toPrecision(6)}`,
          );
          const one = clipOperatorNormSync(kernelOf(L), maxNorm, {
            ...L.options,
            iterations: 1,
          });
          assert.deepEqual(one.grid, grid, `${label}: grid`);
          const sub = new Subspace(
            circularOperator(L.dense, grid),
            L.data.length,
          );
          const x = sub.round(L.data, maxNorm);
          assertArraysNear(
            sub.apply(one.kernel.data),
            x,
            1e-10,
            maxAbs(x),
            `${label}: one round's operator`,
          );
          assertArraysNear(
            one.kernel.data,
            sub.lift(L.data, x),
            1e-10,
            maxAbs(L.data),
            `${label}: one round's kernel`,
          );
          const res = await clipOperatorNorm(kernelOf(L), maxNorm, {
            ...L.options,
            iterations: 200,
            tolerance: TOL,
            threads: 2,
          });
          const after = checkCommon(L, res, label);
          assert.equal(res.certified, true, `${label}: certified`);
          assert.ok(
            after.own <= maxNorm * (1 + ROUNDING),
            `${label}: dense σ_max ${after.own} > maxNorm ${maxNorm}`,
          );
          checked++;
        },
      ),
      { seed: 14014, numRuns: 400, endOnFailure: true },
    );
    console.log(`  random kinds: ${checked} of 400 checked densely`);
    assert.ok(
      checked >= 60,
      `only ${checked} random kinds were small enough to check`,
    );
  },
  { threads: true, timeoutMs: 120_000 },
);

test("clip kinds: depthwise groups that never leave the ball come back with their own bits; the clipped ones match a per-group dense round", () => {
  // 16 groups of 3×3 (the core's three-tap path) and of 2×4 (its general path); every other group scaled by
  // 1e-3, so the radius 0.5·‖A‖ leaves it inside the ball with room to spare.
  for (const [kh, kw] of [[3, 3], [2, 4]]) {
    const groups = 16, h = 9, w = 7;
    const data = signedUniform(77 + kh, groups * kh * kw);
    for (let g = 0; g < groups; g += 2) for (let j = 0; j < kh * kw; j++) data[g * kh * kw + j] *= 1e-3;
    const options = { inputShape: [h, w], groups, layout: "oihw" as const };
    const kernel = { data, shape: [groups, 1, kh, kw] };
    const norm = operatorNormSync(kernel, options);
    // normBefore is operatorNorm's bits whether the round clips (the largest value is then among the
    // frequencies it computes) or not (it skips every frequency bounded inside the ball: the largest
    // value is then computed on its own).
    for (const f of [1.5, 1, 0.999, 0.3]) {
      const r = clipOperatorNormSync(kernel, f * norm, { ...options, iterations: 1 });
      assert.ok(Object.is(r.normBefore, norm), `${kh}×${kw} at ${f}·‖A‖: normBefore ${r.normBefore} ≠ ${norm}`);
      if (f >= 1) assert.ok(r.kernel.data.every((x, j) => Object.is(x, data[j])), `${kh}×${kw} at ${f}·‖A‖: unchanged`);
    }
    const maxNorm = 0.5 * norm;
    const res = clipOperatorNormSync(kernel, maxNorm, { ...options, iterations: 1 });
    for (let g = 0; g < groups; g++) {
      const at = g * kh * kw;
      const mine = res.kernel.data.subarray(at, at + kh * kw);
      if (g % 2 === 0) {
        assert.ok(mine.every((x, j) => Object.is(x, data[at + j])), `${kh}×${kw} group ${g}: bits kept`);
      } else {
        const want = naiveRound(data.subarray(at, at + kh * kw), kh, kw, h, w, maxNorm);
        assertArraysNear(mine, want, 1e-12, maxAbs(want), `${kh}×${kw} group ${g}`);
      }
    }
  }
});

/**
 * One round of a single-channel kernel by the definition, in plain loops: every
 * P(u, v) = Σ K[a, b]·exp(2πi(ua/h + vb/w)) scaled by min(1, c/|P|), then the
 * inverse DFT's real part on the kernel's taps.
 */
function naiveRound(k: ArrayLike<number>, kh: number, kw: number, h: number, w: number, c: number): Float64Array {
  const out = new Float64Array(kh * kw);
  for (let u = 0; u < h; u++) {
    for (let v = 0; v < w; v++) {
      let re = 0, im = 0;
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) {
          const t = 2 * Math.PI * (u * a / h + v * b / w);
          re += k[a * kw + b] * Math.cos(t);
          im += k[a * kw + b] * Math.sin(t);
        }
      }
      const f = Math.min(1, c / Math.hypot(re, im));
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) {
          const t = -2 * Math.PI * (u * a / h + v * b / w);
          out[a * kw + b] += f * (re * Math.cos(t) - im * Math.sin(t)) / (h * w);
        }
      }
    }
  }
  return out;
}

test(
  "clip kinds: 3-D layers on the worker pool (each depth frequency's columns a block of jobs) give the sync call's bits, both methods",
  async () => {
    // Complex depth frequencies (3 depth taps on depth 5), a real one (t = 0), groups, Dykstra's corrections.
    const cases: { shape: number[]; options: ClipOptions }[] = [
      { shape: [6, 4, 3, 3, 2], options: { inputShape: [5, 6, 4], layout: "oidhw" } },
      { shape: [4, 2, 2, 3, 3], options: { inputShape: [4, 5, 5], groups: 2, layout: "oidhw" } },
    ];
    for (const { shape, options } of cases) {
      const kernel = { data: signedUniform(31 + shape[0], shape.reduce((a, b) => a * b)), shape };
      const maxNorm = 0.5 * operatorNormSync(kernel, options);
      for (const method of ["alternating", "dykstra"] as const) {
        const o = { ...options, iterations: 4, method };
        const want = clipOperatorNormSync(kernel, maxNorm, o);
        const before = jobCounts(await getPool(2)).blocks;
        const got = await clipOperatorNorm(kernel, maxNorm, { ...o, threads: 2 });
        const blocks = jobCounts(await getPool(2)).blocks - before;
        const what = `${shape.join("×")} ${method}`;
        assert.ok(blocks >= 4 * 3, `${what}: the rounds ran on the pool (${blocks} blocks)`);
        assert.ok(got.kernel.data.every((x, j) => Object.is(x, want.kernel.data[j])), `${what}: kernel bits`);
        assert.ok(Object.is(got.normBefore, want.normBefore) && Object.is(got.normAfter, want.normAfter), what);
      }
    }
  },
  { threads: true },
);

// ---------------------------------------------------------------------------
// Wide frequency matrices: a strided layer's, clipped through their Gram matrix

/**
 * Strided layers whose phase-split matrices are at least twice as wide as tall
 * (the core clips them through AᴴA where σ_max ≤ 4c, by A's own SVD above:
 * assembly/svd.ts gramRoute). The radii run from 0.02 to 0.95 of the norm, so
 * both routes run, and frequencies of one layer take different ones.
 */
const WIDE_KINDS: Kind[] = [
  {
    name: "2-D stride 2, 3 → 4, kernel 3×3 on 6×6 (4 × 12)",
    rank: 2,
    shape: [4, 3, 3, 3],
    inputShape: [6, 6],
    stride: [2, 2],
  },
  {
    name: "2-D transposed stride 2, 4 → 3, kernel 4×4 on 3×3 (3 × 16)",
    rank: 2,
    shape: [4, 3, 4, 4],
    inputShape: [3, 3],
    stride: [2, 2],
    transposed: true,
  },
  { name: "1-D stride 3, 2 → 3, kernel 5 on 12 (3 × 6)", rank: 1, shape: [3, 2, 5], inputShape: [12], stride: [3] },
  {
    name: "3-D stride [2, 1, 1], 2 → 2, kernel 4×2×2 on 8×3×2 (complex depth frequencies, 2 × 4)",
    rank: 3,
    shape: [2, 2, 4, 2, 2],
    inputShape: [8, 3, 2],
    stride: [2, 1, 1],
  },
];

test(
  "clip kinds: wide phase-split matrices (through AᴴA, or A's own SVD far outside the ball): one round is the dense round to 1e-12 at radii 0.02–0.95 of the norm, normBefore is operatorNorm's bits, sync = async = 2 threads, both layouts",
  async () => {
    for (const kind of WIDE_KINDS) {
      for (const last of [false, true]) {
        const L = layerOf(kind, 9001 + kind.rank, last);
        const grid = expectedGrid(L);
        const sub = new Subspace(circularOperator(L.dense, grid), L.data.length);
        const norm = operatorNormSync(kernelOf(L), L.options);
        for (const f of [0.02, 0.1, 0.3, 0.6, 0.95]) {
          const maxNorm = f * norm;
          const label = describeLayer(L, 9001 + kind.rank, `, maxNorm ${f}·‖A‖`);
          const one = await allModes(kernelOf(L), maxNorm, { ...L.options, iterations: 1 }, (res, lab) => {
            assert.ok(Object.is(res.normBefore, norm), `${lab}: normBefore ${res.normBefore} ≠ operatorNorm ${norm}`);
          }, label);
          const x = sub.round(L.data, maxNorm);
          assertArraysNear(sub.apply(one.kernel.data), x, 1e-12, maxAbs(x), `${label}: one round's operator`);
        }
      }
    }
  },
  { threads: true, timeoutMs: 120_000 },
);

/** An m × n matrix (row-major) with orthonormal columns: Gram–Schmidt, twice, on signedUniform(seed). */
function orthonormalColumns(m: number, n: number, seed: number): Float64Array {
  const q = signedUniform(seed, m * n);
  for (let j = 0; j < n; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        let d = 0;
        for (let r = 0; r < m; r++) d += q[r * n + i] * q[r * n + j];
        for (let r = 0; r < m; r++) q[r * n + j] -= d * q[r * n + i];
      }
    }
    let s = 0;
    for (let r = 0; r < m; r++) s += q[r * n + j] ** 2;
    for (let r = 0; r < m; r++) q[r * n + j] /= Math.sqrt(s);
  }
  return q;
}

test(
  "clip kinds: a wide matrix whose values span 10⁴ is clipped at 10⁻³ of its norm as accurately as by its own SVD (AᴴA would lose (σ_max/c)² of it)",
  () => {
    // 1-D stride 2 with 2 taps: every frequency has the one 6 × 12 matrix K'[o, (i, p)] = K[o, i, p] = U·Σ·Vᵀ,
    // with the values 1, 0.1, 10⁻², 1.5·10⁻³, 0.8·10⁻³, 10⁻⁴ around the radius 10⁻³.
    const cOut = 6, cIn = 6, sigma = [1, 0.1, 1e-2, 1.5e-3, 0.8e-3, 1e-4];
    const u = orthonormalColumns(cOut, cOut, 4242), v = orthonormalColumns(2 * cIn, cOut, 4343);
    const data = new Float64Array(cOut * cIn * 2);
    for (let o = 0; o < cOut; o++) {
      for (let c = 0; c < 2 * cIn; c++) {
        let x = 0;
        for (let j = 0; j < cOut; j++) x += u[o * cOut + j] * sigma[j] * v[c * cOut + j];
        data[o * 2 * cIn + c] = x;
      }
    }
    const kernel = { data, shape: [cOut, cIn, 2] };
    const options: ClipOptions = { inputShape: [2], stride: 2, layout: "oiw" };
    const dense = { data, shape: kernel.shape, layout: "oiw", inputShape: [2], stride: [2] };
    const sub = new Subspace(circularOperator(dense, [2]), data.length);
    const maxNorm = 1e-3;
    const x = sub.round(data, maxNorm);
    const one = clipOperatorNormSync(kernel, maxNorm, { ...options, iterations: 1 });
    assertArraysNear(sub.apply(one.kernel.data), x, 1e-12, maxAbs(x), "one round's operator");
  },
);
