/**
 * A certified interval for the operator norm of any layer kind, zero padding
 * included.
 * @module
 */
import type { Kernel, OperatorNormBounds, OperatorNormBoundsOptions, Precision } from "./types.ts";
import { type Axes, checkOptions, fromAxes, LAYER_OPTIONS, type LayerSpec, validateSpec } from "./_options.ts";
import { checkBounds } from "./_budget.ts";
import { integerOption, type KnownKeys, toleranceOption } from "./_checks.ts";
import {
  admissibleGrids,
  type Expanded,
  expandSpec,
  frequencyMatrix,
  mergeGroups,
  twiddle,
} from "./_problem/expand.ts";
import { type Problem, type Sink, visitedFrequencies } from "./_problem/problem.ts";
import { progressSink } from "./_problem/grid.ts";
import {
  type BackendRequest,
  resolveBackendSync,
  resolveWasm,
  type Runner,
  runnerOf,
  type WasmBackend,
  wasmOnly,
} from "./_backend.ts";
import {
  convOperator,
  type LinearOperator,
  norm2,
  powerIterate,
  powerIterateAbortable,
  type PowerResult,
  random,
} from "./_wasm/conv.ts";
import type { CoreExports } from "./_wasm/abi.ts";
import { problemNormAt, problemNormAtAbortable } from "./_wasm/engine.ts";

/** Relative rounding allowance of the lower bound (f64 sums in TS). */
const LOWER_ALLOWANCE = 1e-12;
/** Relative rounding allowance of the engine's norm, by precision (its tested accuracy). */
const UPPER_ALLOWANCE: Record<Precision, number> = { f64: 1e-12, f32: 1e-5 };

interface Plan {
  spec: LayerSpec;
  precision: Precision;
  req: BackendRequest;
  maxIterations: number;
  tolerance: number;
  grids: Axes[];
  denseEntries: number;
}

/** The largest value of a circular layer and the (part, u, v) that carries it. */
interface Top {
  norm: number;
  part: number;
  u: number;
  v: number;
}

/** The options of {@linkcode operatorNormBounds}. */
const OPTIONS: KnownKeys<OperatorNormBoundsOptions> = {
  ...LAYER_OPTIONS,
  maxIterations: true,
  tolerance: true,
  gridCandidates: true,
  denseEntries: true,
};

function makePlan(fn: string, kernel: Kernel, options: OperatorNormBoundsOptions): Plan {
  checkOptions(fn, options, OPTIONS);
  const spec = validateSpec(kernel, options);
  const req = { ...wasmOnly(options, "operatorNormBounds"), oneThread: false };
  const precision = req.run.precision ?? "f64";
  const maxIterations = integerOption("maxIterations", options.maxIterations, 100, 0, 1e7);
  const tolerance = toleranceOption("tolerance", options.tolerance, 1e-9);
  const count = integerOption("gridCandidates", options.gridCandidates, 3, 1, 16);
  const grids = spec.pad ? admissibleGrids(spec, count) : [spec.n];
  // Every grid's problems and the power iteration, checked before any of them runs.
  checkBounds(spec, grids, maxIterations, options.maxWork);
  const denseEntries = integerOption("denseEntries", options.denseEntries, 0, 0, 2 ** 20);
  return { spec, precision, req, maxIterations, tolerance, grids, denseEntries };
}

/**
 * True when the layer adds no zeros and no two outputs read a common input
 * (per axis `d(k − 1) + 1 ≤ s`: each window lies inside its own stride
 * cell). The layer is then block-diagonal, one copy of the group's matrix
 * `W` (`c_out/g × (c_in/g)·k`) per output position (input positions no window
 * reads are zero columns), so its norm is `max_g σ_max(W_g)`: the circular
 * layer on a grid of one stride cell, whose one window is that block. This
 * holds a transposed layer with kernel = stride and no padding, its adjoint.
 * The result still lists the admissible grids (`grid`, `gridSizes`,
 * `gridNorms`), each an upper bound, as for any zero-padded layer.
 */
function disjointWindows(spec: LayerSpec): boolean {
  return spec.pad !== undefined && spec.pad.every(([b, a]) => b === 0 && a === 0) &&
    [0, 1, 2].every((j) => spec.dilation[j] * (spec.k[j] - 1) + 1 <= spec.stride[j]);
}

/**
 * The most multiply–adds spent on the dense zero-padded operators of a
 * layer's groups (forming each Gram matrix `AᵀA`, `c` columns by direct
 * application, then `4c³/3` to tridiagonalise it): 5e8, about a second here,
 * less than the power iteration's default 100 steps on the layers it admits.
 */
const DENSE_WORK = 5e8;

/**
 * The exact norm of a small zero-padded layer: per group, the dense operator
 * `A` (`c_out/g · out` rows, `c_in/g · n` columns) applied to each unit
 * vector of its smaller side gives the Gram matrix `AᵀA` (or `AAᵀ`), whose
 * largest eigenvalue comes from Householder tridiagonalisation and Sturm
 * bisection, both backward stable: `σ_max = √λ_max` to rounding. Undefined
 * when a group's operator exceeds `entries` entries or the work
 * {@linkcode DENSE_WORK}.
 */
function denseNorm(spec: LayerSpec, entries: number): number | undefined {
  const taps = spec.k[0] * spec.k[1] * spec.k[2];
  const cols = spec.cInG * spec.n[0] * spec.n[1] * spec.n[2];
  const rows = spec.cOutG * spec.out[0] * spec.out[1] * spec.out[2];
  const side = Math.min(rows, cols);
  if (rows * cols > entries) return undefined;
  const work = spec.groups * ((4 / 3) * side ** 3 + 2 * side * spec.cOutG * spec.cInG * taps * (rows / spec.cOutG));
  if (work > DENSE_WORK) return undefined;
  const per = spec.cOutG * spec.cInG * taps;
  let best = 0;
  for (let g = 0; g < spec.groups; g++) {
    const one: LayerSpec = {
      ...spec,
      cOut: spec.cOutG,
      cIn: spec.cInG,
      groups: 1,
      weights: spec.weights.subarray(g * per, (g + 1) * per),
    };
    const op = convOperator(one);
    const byCols = op.cols <= op.rows;
    const x = new Float64Array(op.cols), y = new Float64Array(op.rows);
    const G = new Float64Array(side * side);
    for (let j = 0; j < side; j++) {
      if (byCols) {
        x.fill(0);
        x[j] = 1;
        op.apply(x, y);
        op.adjoint(y, x);
        G.set(x, j * side);
      } else {
        y.fill(0);
        y[j] = 1;
        op.adjoint(y, x);
        op.apply(x, y);
        G.set(y, j * side);
      }
    }
    best = Math.max(best, Math.sqrt(Math.max(0, largestEigenvalue(G, side))));
  }
  return best;
}

/** The largest eigenvalue of the symmetric `n × n` matrix `A` (row-major, overwritten). */
function largestEigenvalue(A: Float64Array, n: number): number {
  // symmetrise (the Gram matrix is symmetric up to rounding)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) A[i * n + j] = A[j * n + i] = (A[i * n + j] + A[j * n + i]) / 2;
  }
  const d = new Float64Array(n), e = new Float64Array(n);
  const v = new Float64Array(n), p = new Float64Array(n);
  // Householder: A → Qᵀ A Q tridiagonal, column by column
  for (let k = 0; k < n - 2; k++) {
    let alpha = 0;
    for (let i = k + 1; i < n; i++) alpha += A[i * n + k] ** 2;
    alpha = Math.sqrt(alpha);
    if (alpha === 0) continue;
    const x0 = A[(k + 1) * n + k];
    if (x0 > 0) alpha = -alpha;
    // v = x − alpha e1, on rows k+1..n−1
    let vv = 0;
    for (let i = k + 1; i < n; i++) {
      v[i] = A[i * n + k] - (i === k + 1 ? alpha : 0);
      vv += v[i] * v[i];
    }
    if (vv === 0) continue;
    const beta = 2 / vv;
    // p = beta A v, w = p − (beta/2)(pᵀv) v; A ← A − v wᵀ − w vᵀ (trailing block)
    let pv = 0;
    for (let i = k + 1; i < n; i++) {
      let t = 0;
      for (let j = k + 1; j < n; j++) t += A[i * n + j] * v[j];
      p[i] = beta * t;
      pv += p[i] * v[i];
    }
    const c = (beta / 2) * pv;
    for (let i = k + 1; i < n; i++) p[i] -= c * v[i];
    for (let i = k + 1; i < n; i++) {
      for (let j = k + 1; j < n; j++) A[i * n + j] -= v[i] * p[j] + p[i] * v[j];
    }
    A[(k + 1) * n + k] = A[k * n + k + 1] = alpha;
    for (let i = k + 2; i < n; i++) A[i * n + k] = A[k * n + i] = 0;
  }
  for (let i = 0; i < n; i++) {
    d[i] = A[i * n + i];
    if (i > 0) e[i] = A[i * n + i - 1];
  }
  // Sturm bisection for the largest eigenvalue inside the Gershgorin interval
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const r = Math.abs(e[i]) + (i + 1 < n ? Math.abs(e[i + 1]) : 0);
    lo = Math.min(lo, d[i] - r);
    hi = Math.max(hi, d[i] + r);
  }
  /** How many eigenvalues are below x. */
  const below = (x: number) => {
    let count = 0, q = 1;
    for (let i = 0; i < n; i++) {
      q = d[i] - x - (i > 0 ? (e[i] * e[i]) / q : 0);
      if (q === 0) q = -Number.EPSILON * (Math.abs(x) + 1);
      if (q < 0) count++;
    }
    return count;
  };
  for (let it = 0; it < 200 && hi - lo > 2 * Number.EPSILON * Math.max(Math.abs(lo), Math.abs(hi)); it++) {
    const mid = (lo + hi) / 2;
    if (mid === lo || mid === hi) break;
    if (below(mid) === n) hi = mid;
    else lo = mid;
  }
  return hi;
}

function tracker(part: number, top: Top): Sink {
  return (u, v, values) => {
    if (values[0] > top.norm) Object.assign(top, { norm: values[0], part, u, v });
  };
}

/**
 * The part of `ex` (a group at the merged part's depth frequency) that
 * carries the top value at (u, v): the group whose `P(u, v)` has the largest
 * Frobenius norm (exact for vector blocks, e.g. depthwise; otherwise a good
 * guess, and only the power iteration's start vector depends on it).
 */
function topPart(ex: Expanded, merged: Expanded["parts"][number], top: Top): number {
  let best = -1, at = 0;
  ex.parts.forEach((p, j) => {
    if (p.t !== merged.t) return;
    const P = frequencyMatrix(p.problem, top.u, top.v);
    let f = 0;
    for (let i = 0; i < P.re.length; i++) f += P.re[i] * P.re[i] + P.im[i] * P.im[i];
    if (f > best) [best, at] = [f, j];
  });
  return at;
}

/**
 * The largest value of the circular layer `ex` and where it is: in f64 on
 * wasm (`core` given) each merged part's screened exact norm (src/_wasm/engine.ts
 * `problemNormAt`, the whole spectrum's largest value and its first
 * frequency, without the whole spectrum); otherwise every frequency through `run`.
 */
async function top(
  run: Runner,
  ex: Expanded,
  counted: (sink: Sink) => Sink = (sink) => sink,
  core?: CoreExports,
  signal?: AbortSignal,
): Promise<Top> {
  const t: Top = { norm: 0, part: 0, u: 0, v: 0 };
  const parts = mergeGroups(ex);
  for (let j = 0; j < parts.length; j++) {
    if (core) {
      const r = await problemNormAtAbortable(core, parts[j].problem, signal);
      if (r.norm > t.norm) Object.assign(t, { norm: r.norm, part: j, u: r.u, v: r.v });
      // Progress counts the frequencies of the part, as a walk would visit them.
      const tick = counted(() => {});
      for (let f = visitedFrequencies(parts[j].problem); f > 0; f--) tick(0, 0, EMPTY, false);
    } else {
      await run(parts[j].problem, counted(tracker(j, t)));
    }
  }
  return { ...t, part: topPart(ex, parts[t.part], t) };
}

const EMPTY = new Float64Array(0);

/** {@linkcode top} with a synchronous runner (or, `core` given, the screened norm). */
function topSync(run: (p: Problem, sink: Sink) => void, ex: Expanded, core?: CoreExports): Top {
  const t: Top = { norm: 0, part: 0, u: 0, v: 0 };
  const parts = mergeGroups(ex);
  parts.forEach((p, j) => {
    if (!core) return run(p.problem, tracker(j, t));
    const r = problemNormAt(core, p.problem);
    if (r.norm > t.norm) Object.assign(t, { norm: r.norm, part: j, u: r.u, v: r.v });
  });
  return { ...t, part: topPart(ex, parts[t.part], t) };
}

/** A top right singular vector of the complex `m × n` matrix (re, im), by power iteration on PᴴP. */
function topRightVector(re: Float64Array, im: Float64Array, m: number, n: number): [Float64Array, Float64Array] {
  const rnd = random(7);
  const zr = Float64Array.from({ length: n }, rnd);
  const zi = Float64Array.from({ length: n }, rnd);
  const yr = new Float64Array(m), yi = new Float64Array(m);
  for (let step = 0; step < 60; step++) {
    for (let o = 0; o < m; o++) {
      let sr = 0, si = 0;
      for (let i = 0; i < n; i++) {
        const ar = re[o * n + i], ai = im[o * n + i];
        sr += ar * zr[i] - ai * zi[i];
        si += ar * zi[i] + ai * zr[i];
      }
      yr[o] = sr;
      yi[o] = si;
    }
    let nn = 0;
    for (let i = 0; i < n; i++) {
      let sr = 0, si = 0;
      for (let o = 0; o < m; o++) {
        const ar = re[o * n + i], ai = -im[o * n + i];
        sr += ar * yr[o] - ai * yi[o];
        si += ar * yi[o] + ai * yr[o];
      }
      zr[i] = sr;
      zi[i] = si;
      nn = Math.max(nn, Math.abs(sr), Math.abs(si));
    }
    if (nn === 0) break;
    for (let i = 0; i < n; i++) {
      zr[i] /= nn;
      zi[i] /= nn;
    }
  }
  return [zr, zi];
}

/**
 * The start vector of the power iteration: the top singular vector of the
 * circular layer on grid `m` (frequency `top`), cut to the zero-padded
 * layer's input window (real or imaginary part, whichever has the larger
 * Rayleigh quotient), plus a tenth of a random vector.
 */
function startVector(spec: LayerSpec, ex: Expanded, top: Top): Float64Array {
  const op = convOperator(spec);
  const part = ex.parts[top.part];
  const { cOut, cIn } = part.problem;
  const P = frequencyMatrix(part.problem, top.u, top.v);
  const [zr, zi] = topRightVector(P.re, P.im, cOut, cIn);
  const freq = [part.t, top.u, top.v];
  const pad = spec.pad!;
  // Per axis and input position: phase index, grid position and twiddle.
  const axes = [0, 1, 2].map((j) =>
    Array.from({ length: spec.n[j] }, (_, x) => {
      const q = x + pad[j][0];
      const s = spec.stride[j];
      const m = Math.floor(q / s);
      return { p: q % s, tw: twiddle((freq[j] * m) % ex.grid3[j], ex.grid3[j]) };
    })
  );
  const [nd, nh, nw] = spec.n;
  const xr = new Float64Array(op.cols), xi = new Float64Array(op.cols);
  const [s0, s1, s2] = spec.stride;
  for (let il = 0; il < spec.cInG; il++) {
    const i = part.group * spec.cInG + il;
    for (let a = 0; a < nd; a++) {
      const A = axes[0][a];
      for (let b = 0; b < nh; b++) {
        const B = axes[1][b];
        const abr = A.tw[0] * B.tw[0] - A.tw[1] * B.tw[1];
        const abi = A.tw[0] * B.tw[1] + A.tw[1] * B.tw[0];
        for (let c = 0; c < nw; c++) {
          const C = axes[2][c];
          const er = abr * C.tw[0] - abi * C.tw[1];
          const ei = abr * C.tw[1] + abi * C.tw[0];
          const ip = ((il * s0 + A.p) * s1 + B.p) * s2 + C.p;
          const at = ((i * nd + a) * nh + b) * nw + c;
          xr[at] = zr[ip] * er - zi[ip] * ei;
          xi[at] = zr[ip] * ei + zi[ip] * er;
        }
      }
    }
  }
  const y = new Float64Array(op.rows);
  const quotient = (x: Float64Array) => {
    const n = norm2(x);
    if (n === 0) return -1;
    op.apply(x, y);
    return norm2(y) / n;
  };
  const qr = quotient(xr), qi = quotient(xi);
  const x = qr >= qi ? xr : xi;
  // Mix in a random vector, 1/10 of the norm: every group and every singular
  // direction then has a share, so the iteration cannot stall in a subspace
  // (the layer is block-diagonal over groups; the window may miss the top).
  const noise = Float64Array.from({ length: op.cols }, random(1));
  const xn = norm2(x), rn = norm2(noise);
  const f = xn > 0 ? (0.1 * xn) / rn : 1 / rn;
  for (let j = 0; j < x.length; j++) x[j] += f * noise[j];
  return x;
}

/** The grid with the smallest circular norm. */
function bestGrid(tops: Top[]): number {
  let best = 0;
  for (let j = 1; j < tops.length; j++) if (tops[j].norm < tops[best].norm) best = j;
  return best;
}

/** The exact norm of a zero-padded layer small enough for dense operators (f64 only: the f32 engine's accuracy sets the interval). */
function exactPadded(plan: Plan): number | undefined {
  if (!plan.spec.pad || disjointWindows(plan.spec) || plan.precision !== "f64" || plan.denseEntries === 0) {
    return undefined;
  }
  return denseNorm(plan.spec, plan.denseEntries);
}

/** The power iteration's operator and start vector, when the interval needs a lower bound (zero padding). */
function lowerProblem(plan: Plan, tops: Top[], exs: Expanded[]): { op: LinearOperator; x0: Float64Array } | undefined {
  const best = bestGrid(tops);
  if (!plan.spec.pad || tops[best].norm === 0) return undefined;
  return { op: convOperator(plan.spec), x0: startVector(plan.spec, exs[best], tops[best]) };
}

function finish(
  plan: Plan,
  b: WasmBackend,
  tops: Top[],
  run: PowerResult | undefined,
  dense?: number,
): OperatorNormBounds {
  const { spec, precision, grids } = plan;
  const gridNorms = tops.map((t) => t.norm);
  const best = bestGrid(tops);
  const common = {
    grid: fromAxes(grids[best], spec.rank),
    gridSizes: grids.map((g) => fromAxes(g, spec.rank)),
    gridNorms,
    backend: "wasm" as const,
    simd: b.simd,
    precision,
  };
  const norm = gridNorms[best];
  if (dense !== undefined) {
    // exact up to rounding (the engine's SVD, or the tridiagonalisation and bisection: backward stable, far below 1e-12)
    const lower = dense * (1 - LOWER_ALLOWANCE), upper = dense * (1 + UPPER_ALLOWANCE.f64);
    return { lower, upper, exact: true, iterations: 0, tolerance: 0, converged: true, ...common };
  }
  if (!spec.pad) {
    return { lower: norm, upper: norm, exact: true, iterations: 0, tolerance: 0, converged: true, ...common };
  }
  if (!run) {
    return { lower: 0, upper: 0, exact: false, iterations: 0, tolerance: plan.tolerance, converged: true, ...common };
  }
  const upper = norm * (1 + UPPER_ALLOWANCE[precision]);
  const lower = Math.min(run.lower * (1 - LOWER_ALLOWANCE), upper);
  return {
    lower,
    upper,
    exact: false,
    iterations: run.iterations,
    tolerance: plan.tolerance,
    converged: run.converged,
    ...common,
  };
}

/**
 * A certified interval `lower ≤ ‖A‖ ≤ upper` for the operator norm of any
 * layer kind: exact (`lower = upper`) for circular padding, an interval for
 * zero padding, which has no exact frequency formula.
 *
 * Zero padding (docs/layer-kinds.md): the zero-padded layer is a submatrix of the
 * circular layer, with the same stride, on any admissible grid `M` (a
 * multiple of the stride with `M ≥ n + max(p_before, p_after)` and `M/s ≥
 * out`, per axis; the padded size `n + 2p` rounded up to the stride is one),
 * so each such circular norm, computed exactly by the engine, is an upper
 * bound: `upper` is the smallest over `gridCandidates` grids (all listed in
 * the result). `lower` is the largest Rayleigh quotient `‖A x‖ / ‖x‖` of
 * power iteration on the real zero-padded layer (applied directly, in f64),
 * started from the top singular vector of the best circular layer cut to the
 * input window (plus a tenth of a random vector, so that no group or
 * direction is left out); the result says how many steps ran and with which
 * tolerance.
 * Both carry a relative rounding allowance (see {@linkcode OperatorNormBounds}).
 * Transposed layers have the norm of their forward convolution. Work: the
 * circular spectra plus `maxIterations` direct applications of the layer and
 * its adjoint (`2·c_out·(c_in/g)·k·out` multiply–adds each).
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`; not modified.
 * @param options The layer (`inputShape`, `layout`, `stride`, `dilation`,
 *   `groups`, `transposed`, `padding`, `outputPadding`), `precision`, and
 *   `maxIterations` (default 100), `tolerance` (default 1e-9), `gridCandidates` (default 3).
 * @returns The interval, whether it is exact, the power iteration's steps,
 *   tolerance and convergence, and the circular grids tried with their norms.
 * @throws {TypeError} For wrong types, ranks, lengths or layouts.
 * @throws {RangeError} For sizes, strides, dilations, groups, paddings or
 *   iteration options out of range, NaN or infinity in the data, or sizes that
 *   do not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example The norm of a zero-padded 3 × 3 layer lies in a narrow interval
 * ```ts
 * import { operatorNormBoundsSync, operatorNormSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * const data = Float64Array.from({ length: 4 * 2 * 3 * 3 }, (_, i) => Math.sin(i + 1));
 * const kernel = { data, shape: [4, 2, 3, 3] }; // PyTorch Conv2d(2, 4, 3, padding=1).weight
 * const b = operatorNormBoundsSync(kernel, { inputShape: [16, 16], padding: 1 });
 * assert.equal(b.exact, false);
 * assert.ok(b.lower <= b.upper && b.upper - b.lower < 0.05 * b.upper);
 * // Circular padding (the default) is exact, and equals operatorNorm.
 * const c = operatorNormBoundsSync(kernel, { inputShape: [16, 16] });
 * assert.equal(c.lower, c.upper);
 * assert.equal(c.upper, operatorNormSync(kernel, { inputShape: [16, 16] }));
 * ```
 */
export function operatorNormBoundsSync(kernel: Kernel, options: OperatorNormBoundsOptions): OperatorNormBounds {
  const plan = makePlan("operatorNormBoundsSync", kernel, options);
  const b = resolveBackendSync(plan.req);
  const run = runnerOf(b) as (p: Problem, sink: Sink) => void;
  const core = plan.precision === "f64" && b.backend === "wasm" ? b.core : undefined;
  const exs = plan.grids.map((m) => expandSpec(plan.spec, m));
  const tops = exs.map((ex) => topSync(run, ex, core));
  const dense = disjointWindows(plan.spec)
    ? topSync(run, expandSpec(plan.spec, plan.spec.stride), core).norm
    : exactPadded(plan);
  const lower = dense === undefined ? lowerProblem(plan, tops, exs) : undefined;
  return finish(plan, b, tops, lower && powerIterate(lower.op, lower.x0, plan.maxIterations, plan.tolerance), dense);
}

/**
 * Asynchronous twin of {@linkcode operatorNormBoundsSync}: the same interval.
 * In f64 the circular grids' norms are computed without their whole spectra
 * (see {@linkcode operatorNorm}) on the calling thread, as is the power
 * iteration; in f32 the spectra run on the worker pool (`threads`).
 *
 * @param kernel The kernel, `{ data, shape }`, read through `options.layout`; not modified.
 * @param options As for {@linkcode operatorNormBoundsSync}, plus `threads`.
 * @returns The interval and how it was obtained (see {@linkcode OperatorNormBounds}).
 * @throws {TypeError} For wrong types, ranks, lengths or layouts (as a rejection).
 * @throws {RangeError} For values out of range, NaN or infinity in the data, or sizes that do not fit in memory.
 * @throws {ConvergenceError} If the bidiagonal singular-value iteration (dqds) of some frequency does not converge.
 *
 * @example A strided, zero-padded 1-D layer
 * ```ts
 * import { operatorNormBounds } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * // PyTorch Conv1d(1, 1, 3, stride=2, padding=1) with weights [1, 2, 1] on 32 samples
 * const kernel = { data: new Float64Array([1, 2, 1]), shape: [1, 1, 3] };
 * const b = await operatorNormBounds(kernel, { inputShape: [32], stride: 2, padding: 1 });
 * assert.ok(b.lower <= b.upper && b.upper <= 4 * (1 + 1e-12)); // |1 + 2z + z²| ≤ 4
 * assert.ok(b.upper - b.lower < 0.01);
 * ```
 */
export async function operatorNormBounds(
  kernel: Kernel,
  options: OperatorNormBoundsOptions,
): Promise<OperatorNormBounds> {
  const plan = makePlan("operatorNormBounds", kernel, options);
  // The power iteration runs on the one-thread core, which resolving compiles asynchronously.
  const b = await resolveWasm(plan.req);
  const run = runnerOf(b);
  const exs = plan.grids.map((m) => expandSpec(plan.spec, m));
  const tops: Top[] = [];
  // Progress: the frequencies of every grid's problems.
  const total = exs.reduce((n, ex) => n + mergeGroups(ex).reduce((m, p) => m + visitedFrequencies(p.problem), 0), 0);
  const counted = progressSink(total, plan.req.run.onProgress);
  const signal = plan.req.run.signal;
  const core = plan.precision === "f64" && b.backend === "wasm" ? b.core : undefined;
  for (const ex of exs) tops.push(await top(run, ex, counted, core, signal));
  const dense = disjointWindows(plan.spec)
    ? (await top(run, expandSpec(plan.spec, plan.spec.stride), undefined, core, signal)).norm
    : exactPadded(plan);
  const lower = dense === undefined ? lowerProblem(plan, tops, exs) : undefined;
  const power = lower &&
    await powerIterateAbortable(lower.op, lower.x0, plan.maxIterations, plan.tolerance, plan.req.run.signal);
  return finish(plan, b, tops, power, dense);
}
