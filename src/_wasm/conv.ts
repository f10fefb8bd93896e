/**
 * The real layer applied directly (no transform): the forward convolution of
 * a validated {@linkcode LayerSpec} — strided, dilated, grouped, zero-padded
 * or circular, on `[d, h, w]` — and its adjoint, plus the power iteration
 * that gives certified lower bounds on the norm.
 *
 * Forward convolution, per axis (cross-correlation, as PyTorch computes it):
 *
 *     y[o, x] = Σ_{i in o's group} Σ_a K[o, i, a] · in[i, x·s + δ·a − p_before]
 *
 * where an index outside `[0, n)` reads zero (zero padding) or wraps mod `n`
 * (circular, `p_before = 0`). A transposed layer is the adjoint of this map.
 * Vectors are channel-major: `x[(i·n_d + z)·n_h + y)·n_w + x]`. Both
 * directions run in the wasm core (`conv_f64_cdhw`, `conv_adjoint_f64_cdhw`
 * in assembly/conv.ts: f64 sums, f64x2 lanes along the last axis).
 * @module
 */
import type { Axes, LayerSpec } from "../_options.ts";
import { Arena, MAX_WASM_BYTES } from "./abi.ts";
import { loadWasmSync } from "./loader.ts";

/** A linear map given by its action and the action of its adjoint. */
export interface LinearOperator {
  /** Length of the input vector. */
  cols: number;
  /** Length of the output vector. */
  rows: number;
  /** `y = A x` (y is overwritten). */
  apply(x: Float64Array, y: Float64Array): void;
  /** `x = Aᵀ y` (x is overwritten). */
  adjoint(y: Float64Array, x: Float64Array): void;
  /** Multiply–adds per application (for cost estimates). */
  flops: number;
}

/** Entries of the wasm kernels' geometry descriptor (`conv_f64_cdhw`). */
const GEOM_LEN = 22;

/**
 * One axis as the wasm kernel reads it: `k` taps `dilation` apart, tap `a`
 * of output `x` reading input `x·stride + dilation·a − origin` (zero outside
 * `[0, n)`, or mod `n` when circular), and where each of the layer's taps
 * went (`-1`: dropped, it reads only padding).
 */
interface KernelAxis {
  k: number;
  dilation: number;
  origin: number;
  tapOf: number[];
}

/**
 * The layer's taps on one axis recast for the kernel, which pads its copy of
 * the input to `(out − 1)·s + dilation·(k − 1) + 1` positions. Zero padding:
 * taps whose reads all fall in the padding are dropped from both ends (the
 * copy then spans the input and at most the padding it reads). Circular: a
 * dilated kernel longer than the input is folded mod `n` into a dense one of
 * at most `n` taps (tap `a` reads offset `dilation·a mod n`), so the copy
 * never passes `2n` positions. Returns undefined when no tap reads the input
 * (the layer is zero).
 */
function kernelAxis(
  n: number,
  out: number,
  k: number,
  s: number,
  dl: number,
  pad: [number, number] | undefined,
): KernelAxis | undefined {
  if (pad) {
    const reads = (a: number): boolean => {
      const off = dl * a - pad[0];
      // Some 0 ≤ x < out with 0 ≤ x·s + off < n.
      const lo = Math.max(0, Math.ceil(-off / s));
      const hi = Math.min(out, Math.floor((n - 1 - off) / s) + 1);
      return hi > lo;
    };
    let first = 0, last = k - 1;
    while (first < k && !reads(first)) first++;
    while (last > first && !reads(last)) last--;
    if (first === k) return undefined;
    const tapOf = Array.from({ length: k }, (_, a) => (a >= first && a <= last ? a - first : -1));
    return { k: last - first + 1, dilation: dl, origin: pad[0] - dl * first, tapOf };
  }
  if (dl * (k - 1) + 1 <= n) return { k, dilation: dl, origin: 0, tapOf: Array.from({ length: k }, (_, a) => a) };
  const tapOf = Array.from({ length: k }, (_, a) => (dl * a) % n);
  return { k: tapOf.reduce((m, e) => Math.max(m, e), 0) + 1, dilation: 1, origin: 0, tapOf };
}

/** The kernel's axes of the layer on the input grid `n` with output grid `out` (undefined: the layer is zero). */
function kernelAxes(spec: LayerSpec, n: Axes, out: Axes): KernelAxis[] | undefined {
  const axes = [0, 1, 2].map((j) =>
    kernelAxis(n[j], out[j], spec.k[j], spec.stride[j], spec.dilation[j], spec.pad?.[j])
  );
  return axes.some((a) => a === undefined) ? undefined : axes as KernelAxis[];
}

/** What {@linkcode convOperator} allocates, from the sizes alone (nothing is allocated). */
export interface OperatorBytes {
  /** Length of the input vector, `c_in·Π n`. */
  cols: number;
  /** Length of the output vector, `c_out·Π out`. */
  rows: number;
  /**
   * Bytes of its wasm arena: geometry, folded weights, `x`, `y` and the
   * kernels' scratch (padded copies of the input and output, as
   * `conv_work_bytes_f64` lays them out, to within a cache line per channel).
   */
  wasm: number;
  /** Bytes of its own JS arrays (the folded weights). */
  js: number;
  /** Multiply–adds per application (see {@linkcode LinearOperator.flops}). */
  flops: number;
}

/**
 * The memory of {@linkcode convOperator}`(spec, n, out)`, estimated before
 * anything is allocated; the operator itself checks it first, and the entry
 * points check it (with their own vectors) before any work.
 */
export function operatorBytes(spec: LayerSpec, n: Axes = spec.n, out: Axes = spec.out): OperatorBytes {
  const { cOut, cIn, cInG, k } = spec;
  const inPlane = n[0] * n[1] * n[2];
  const outPlane = out[0] * out[1] * out[2];
  const cols = cIn * inPlane, rows = cOut * outPlane;
  const flops = cOut * cInG * k[0] * k[1] * k[2] * outPlane;
  const axes = kernelAxes(spec, n, out);
  if (!axes) return { cols, rows, wasm: 0, js: 0, flops };
  const [A0, A1, A2] = axes;
  const weights = cOut * cInG * A0.k * A1.k * A2.k * 8;
  // conv_work_bytes_f64's layout: each input channel padded to its extents, each output row to 4 lanes.
  const ext = (j: number, A: KernelAxis) => (out[j] - 1) * spec.stride[j] + A.dilation * (A.k - 1) + 1;
  const ow = Math.ceil(out[2] / 4) * 4;
  const row = spec.stride[2] * (ow + Math.floor((A2.dilation * (A2.k - 1)) / spec.stride[2]));
  const work = weights + cIn * ext(0, A0) * ext(1, A1) * row * 8 + cOut * out[0] * out[1] * ow * 8;
  return { cols, rows, wasm: GEOM_LEN * 4 + weights + (cols + rows) * 8 + work, js: weights, flops };
}

/**
 * The forward convolution of `spec` on the input grid `n` (default the
 * layer's own) with output grid `out`, zero-padded when `spec.pad` is set and
 * circular otherwise. Transposition is ignored: the returned operator is the
 * forward convolution (a transposed layer is its adjoint).
 *
 * Both directions run in the wasm core (`conv_f64_cdhw`,
 * `conv_adjoint_f64_cdhw`: f64x2 lanes along the last axis, f64 sums) on the
 * single-threaded instance of {@linkcode loadWasmSync}, in its memory from
 * `heap_base()` up. Each call writes the geometry, weights and vector there
 * afresh, so the engine or another operator may use that memory between
 * calls.
 *
 * @throws {RangeError} When the kernel's working memory does not fit in 4 GiB of wasm memory.
 */
export function convOperator(spec: LayerSpec, n: Axes = spec.n, out: Axes = spec.out): LinearOperator {
  const { cOut, cIn, cInG, groups, k, stride } = spec;
  const taps = k[0] * k[1] * k[2];
  const subject = "apply the layer directly";
  const context = `c_out ${cOut}, c_in ${cIn}, input [${n.join(", ")}], output [${out.join(", ")}]`;
  const { cols, rows, flops, wasm } = operatorBytes(spec, n, out);
  if (!(wasm <= MAX_WASM_BYTES)) {
    throw new RangeError(
      `Cannot ${subject} as the working memory must fit in 4 GiB of wasm memory: current value is ${
        (wasm / 2 ** 30).toFixed(2)
      } GiB (${context})`,
    );
  }
  const axes = kernelAxes(spec, n, out);
  if (!axes) {
    // Every read of some axis lands in the padding: the layer is zero.
    return { cols, rows, apply: (_x, y) => y.fill(0), adjoint: (_y, x) => x.fill(0), flops };
  }
  const [A0, A1, A2] = axes;
  // The kernel's weights: the layer's taps moved (or summed, when folded) to their kernel taps.
  const kTaps = A0.k * A1.k * A2.k;
  const weights = new Float64Array(cOut * cInG * kTaps);
  for (let c = 0; c < k[0]; c++) {
    for (let a = 0; a < k[1]; a++) {
      for (let b = 0; b < k[2]; b++) {
        const tc = A0.tapOf[c], ta = A1.tapOf[a], tb = A2.tapOf[b];
        if (tc < 0 || ta < 0 || tb < 0) continue;
        const from = (c * k[1] + a) * k[2] + b, to = (tc * A1.k + ta) * A2.k + tb;
        for (let r = 0; r < cOut * cInG; r++) weights[r * kTaps + to] += spec.weights[r * taps + from];
      }
    }
  }
  const geom = new Int32Array(GEOM_LEN);
  geom.set([cIn, cOut, groups, spec.pad ? 0 : 1]);
  for (let j = 0; j < 3; j++) {
    const A = [A0, A1, A2][j];
    geom.set([n[j], out[j], A.k, stride[j], A.dilation, A.origin], 4 + 6 * j);
  }
  // Memory from the heap base up: geometry, weights, x, y, the kernels' work
  // (whose size the core reads from the geometry once it is in memory).
  const core = loadWasmSync();
  const arena = new Arena(core);
  const geomPtr = arena.i32(GEOM_LEN);
  const wPtr = arena.f64(weights.length);
  const xPtr = arena.f64(cols);
  const yPtr = arena.f64(rows);
  const workPtr = arena.bytes(0);
  arena.commit(subject, context);
  new Int32Array(core.memory.buffer, geomPtr, GEOM_LEN).set(geom);
  arena.bytes(core.conv_work_bytes_f64(geomPtr));
  arena.commit(subject, context);
  /** Writes the geometry, the weights and `v` (at `vPtr`), runs `kernel` and copies its result at `rPtr` into `r`. */
  const run = (
    kernel: "conv_f64_cdhw" | "conv_adjoint_f64_cdhw",
    v: Float64Array,
    vPtr: number,
    rPtr: number,
    r: Float64Array,
  ): void => {
    arena.commit(subject, context);
    const buf = core.memory.buffer;
    new Int32Array(buf, geomPtr, GEOM_LEN).set(geom);
    new Float64Array(buf, wPtr, weights.length).set(weights);
    new Float64Array(buf, vPtr, v.length).set(v);
    const status = core[kernel](geomPtr, wPtr, vPtr, rPtr, workPtr);
    if (status !== 0) {
      throw new Error(
        `Cannot apply the layer directly as the wasm kernel refused its geometry: current value is status ${status}`,
      );
    }
    r.set(new Float64Array(buf, rPtr, r.length));
  };
  return {
    cols,
    rows,
    apply: (x, y) => run("conv_f64_cdhw", x, xPtr, yPtr, y),
    adjoint: (y, x) => run("conv_adjoint_f64_cdhw", y, yPtr, xPtr, x),
    flops,
  };
}

/** A small deterministic generator (mulberry32) of uniform numbers in [−1, 1). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** Euclidean norm, safe from overflow and underflow. */
export function norm2(x: Float64Array): number {
  let big = 0;
  for (let j = 0; j < x.length; j++) big = Math.max(big, Math.abs(x[j]));
  if (big === 0 || !Number.isFinite(big)) return big;
  let s = 0;
  for (let j = 0; j < x.length; j++) {
    const t = x[j] / big;
    s += t * t;
  }
  return big * Math.sqrt(s);
}

/** What {@linkcode powerIterate} found. */
export interface PowerResult {
  /** The largest Rayleigh quotient `‖A x‖ / ‖x‖` seen (a lower bound on `‖A‖` up to rounding). */
  lower: number;
  /** Applications of `AᵀA` made. */
  iterations: number;
  /** Whether the quotient's relative change fell to the tolerance. */
  converged: boolean;
  /** The quotient after each step. */
  history: number[];
}

/**
 * Power iteration on `AᵀA` from `x0`: `x ← Aᵀ A x / ‖·‖`, recording the
 * Rayleigh quotient `‖A x‖ / ‖x‖` of every iterate. Stops when the quotient's
 * relative change between steps is at most `tolerance` or after
 * `maxIterations` steps. `x0` is overwritten.
 */
export function powerIterate(
  op: LinearOperator,
  x0: Float64Array,
  maxIterations: number,
  tolerance: number,
): PowerResult {
  const steps = powerSteps(op, x0, maxIterations, tolerance);
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

/**
 * {@linkcode powerIterate} that can be aborted: it checks the signal after
 * every step and lets the event loop run every ~20 ms of work.
 */
export async function powerIterateAbortable(
  op: LinearOperator,
  x0: Float64Array,
  maxIterations: number,
  tolerance: number,
  signal: AbortSignal | undefined,
): Promise<PowerResult> {
  if (!signal) return powerIterate(op, x0, maxIterations, tolerance);
  const steps = powerSteps(op, x0, maxIterations, tolerance);
  let last = performance.now();
  let step = steps.next();
  while (!step.done) {
    if (performance.now() - last > 20) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      last = performance.now();
    }
    signal.throwIfAborted();
    step = steps.next();
  }
  return step.value;
}

/** The power iteration, one step of `AᵀA` at a time. */
function* powerSteps(
  op: LinearOperator,
  x0: Float64Array,
  maxIterations: number,
  tolerance: number,
): Generator<void, PowerResult> {
  const y = new Float64Array(op.rows);
  const x = x0;
  let xn = norm2(x);
  const history: number[] = [];
  let best = 0;
  let prev = NaN;
  let converged = false;
  let iterations = 0;
  if (xn === 0) return { lower: 0, iterations: 0, converged: true, history };
  for (let j = 0; j < x.length; j++) x[j] /= xn;
  const next = new Float64Array(op.cols);
  for (;;) {
    op.apply(x, y);
    xn = norm2(x);
    const q = norm2(y) / xn;
    history.push(q);
    if (q > best) best = q;
    if (q === 0 || Math.abs(q - prev) <= tolerance * q) {
      converged = true;
      break;
    }
    if (iterations >= maxIterations) break;
    prev = q;
    op.adjoint(y, next);
    iterations++;
    yield;
    const nn = norm2(next);
    if (nn === 0) {
      converged = true;
      break;
    }
    for (let j = 0; j < next.length; j++) x[j] = next[j] / nn;
  }
  return { lower: best, iterations, converged, history };
}
