/**
 * Public types shared by every entry point.
 * @module
 */

/**
 * A convolution kernel: its weights and their shape, read through a {@linkcode Layout}.
 *
 * `data` is never modified. Its length must equal the product of `shape`.
 * It is read, not copied, while a call runs (a copy of a large kernel costs
 * more than the copy saves): leave it unchanged until an async call's promise
 * settles, or pass a copy.
 */
export interface Kernel {
  /** The weights, in the order that `shape` and the layout describe (row-major). */
  data: Float32Array | Float64Array;
  /** The kernel's shape: positive integers, 2 more than the layer's spatial rank (3, 4 or 5). */
  shape: readonly number[];
}

/**
 * How a kernel's axes are stored, one pair of names per spatial rank: `o`
 * (output channels), `i` (input channels per group), then the spatial axes
 * `d`, `h`, `w` (depth, height, width) in storage order, row-major.
 *
 * - 1-D (`inputShape` `[w]`): `"oiw"` (PyTorch `Conv1d.weight`, the default) or `"wio"` (TensorFlow `Conv1D`).
 * - 2-D (`inputShape` `[h, w]`): `"oihw"` (PyTorch `Conv2d.weight`, the default) or `"hwio"` (TensorFlow / Keras and the paper's code).
 * - 3-D (`inputShape` `[d, h, w]`): `"oidhw"` (PyTorch `Conv3d.weight`, the default) or `"dhwio"` (TensorFlow `Conv3D`).
 *
 * With `groups = g` the `i` axis holds `c_in / g` channels (PyTorch and
 * TensorFlow store grouped kernels this way). For a transposed layer
 * (`transposed: true`) the kernel is read as the weight of the convolution
 * whose adjoint the layer is: `"oihw"` then reads PyTorch's
 * `ConvTranspose2d.weight` `[c_in, c_out / g, k_h, k_w]` and `"hwio"` reads
 * TensorFlow's `Conv2DTranspose` kernel `[k_h, k_w, c_out, c_in]`, both as stored.
 */
export type Layout = "oiw" | "wio" | "oihw" | "hwio" | "oidhw" | "dhwio";

/**
 * Padding of a layer, with PyTorch's meaning for numbers and the strings
 * `"valid"` / `"same"`.
 *
 * - `"circular"` (the default): the circular (wrap-around) layer of the paper
 *   (its §1): every output position sees the input periodically extended, and the
 *   output has `n / stride` positions per axis. Exact singular values.
 * - a number `p` or one per spatial axis: `p` zeros on both sides of that
 *   axis (PyTorch's `padding=p` with `padding_mode="zeros"`); `"valid"` is `0`;
 *   `"same"` pads `dilation·(k − 1)` in total per axis, the odd one after (stride 1 only).
 *   Zero padding has no exact frequency formula: {@linkcode operatorNormBounds}
 *   gives a certified interval for its norm.
 */
export type Padding = "circular" | "valid" | "same" | number | readonly number[];

/** Progress of a long call: `done` of `total` units (see `SingularValuesOptions.onProgress`). */
export interface Progress {
  /** Units done so far. */
  done: number;
  /** Units in all. */
  total: number;
}

/**
 * Options of {@linkcode singularValues}, {@linkcode operatorNorm},
 * {@linkcode spectrum} and the estimators: what the layer is (shape, layout,
 * layer kind) and how to compute (precision, threads, abort, progress).
 */
export interface SingularValuesOptions {
  /**
   * Spatial shape of the layer's own input (positive integers): `[w]` for a
   * 1-D, `[h, w]` for a 2-D and `[d, h, w]` for a 3-D layer; the kernel has
   * 2 more axes than this. For a transposed layer this is the shape it is
   * applied to (the small side when it has a stride).
   */
  inputShape: readonly number[];
  /**
   * How `kernel.shape` is read. Default: PyTorch's layout for the rank
   * (`"oiw"`, `"oihw"` or `"oidhw"`), which for transposed layers reads
   * PyTorch's `ConvTranspose` weight as stored.
   */
  layout?: Layout | undefined;
  /**
   * Stride, one number for every axis or one per axis (positive integers;
   * default 1). Circular padding needs the stride to divide `inputShape` on
   * every axis; the values are then exact by the phase split (docs/layer-kinds.md):
   * the layer equals a stride-1 circular layer on the `n / s` grid with
   * `c_in·Π s` input channels.
   */
  stride?: number | readonly number[] | undefined;
  /**
   * Dilation, one number or one per axis (positive integers; default 1): tap
   * `a` acts at offset `dilation·a`. With circular padding, dilated taps that
   * reach past the input wrap around and add up, like large kernels.
   */
  dilation?: number | readonly number[] | undefined;
  /**
   * Number of groups (default 1): input and output channels are split into
   * `groups` blocks and block `g` of the output sees only block `g` of the
   * input, so the layer is block-diagonal and its spectrum is the union of the
   * groups' spectra. The kernel's output-channel axis must be divisible by it;
   * its `i` axis holds `c_in / groups` channels. Depthwise: `groups = c_in`.
   */
  groups?: number | undefined;
  /**
   * A transposed convolution (PyTorch `ConvTranspose*d`, TensorFlow
   * `Conv*DTranspose`; default false): the adjoint of the convolution with the
   * same kernel, stride, dilation, groups and padding. Its singular values are
   * those of that convolution. `inputShape` is still the transposed layer's
   * own input; with circular padding its output is `stride·n` per axis.
   */
  transposed?: boolean | undefined;
  /** Padding; default `"circular"`, the exact model. See {@linkcode Padding}. */
  padding?: Padding | undefined;
  /**
   * Extra output size on the far side of a transposed layer with zero padding
   * (PyTorch's `output_padding`; one number or one per axis, default 0, each
   * smaller than the stride or the dilation of its axis).
   */
  outputPadding?: number | readonly number[] | undefined;
  /**
   * The precision of the per-frequency bidiagonalisation: `"f64"` (default)
   * or `"f32"` (f32x4 SIMD, about twice as fast; the transform, the
   * bidiagonal's dqds and the result stay f64; each value then has an
   * absolute error of about 1e−6·σ_max instead of a few 1e−16·σ_max·√c:
   * absolute, not relative to the value, so small values of a graded layer
   * carry fewer correct digits). Results say which ran. A layer whose
   * frequency matrices are 1×1 (depthwise, one input and output channel per
   * group) has no bidiagonalisation: its values are f64 moduli either way.
   */
  precision?: Precision | undefined;
  /**
   * Worker threads for the async functions (default: the cores the runtime
   * reports; 1 where workers or SharedArrayBuffer are unavailable, e.g. some
   * edge runtimes). At most the cores the runtime reports are used: a larger
   * number is capped to it (more workers than cores only add switching). The
   * `*Sync` functions always use the calling thread. Results are identical
   * whatever the thread count. One pool serves every call: it starts on first
   * use, grows to the largest count asked for, and a call uses as many of its
   * workers as it asks for; calls in flight take turns on it. It never keeps
   * a script alive, and `closeThreads()` ends it.
   */
  threads?: number | undefined;
  /**
   * Aborts an async call: it then rejects with the signal's reason (an
   * `AbortError` `DOMException` by default) promptly — between the jobs of
   * the worker pool, between columns of frequencies on the calling thread,
   * between clipping rounds — and the pool stays usable. A `*Sync` function
   * checks it once, before any work.
   */
  signal?: AbortSignal | undefined;
  /**
   * Called as a long async call goes on, at most about every 1% of its work
   * and at the end, with `{ done, total }`: frequencies computed of the
   * layer's problems (`singularValues`, `spectrum`, `operatorNorm`; every
   * candidate grid's for `operatorNormBounds`), rounds run of `iterations`
   * for `clipOperatorNorm`. The other functions do not report progress.
   */
  onProgress?: ((progress: Progress) => void) | undefined;
  /**
   * Cap on the call's estimated work, in multiply–adds (default 1e12, about
   * four minutes of one core at the engine's best rate; `Infinity` for no
   * cap). Every call estimates its work and its memory from the sizes
   * before it starts, and refuses with a RangeError naming the size when the
   * work passes this cap, its wasm memory passes 4 GiB or its memory in all
   * passes 8 GiB.
   */
  maxWork?: number | undefined;
  /**
   * Where to compute (`singularValues`, `operatorNorm`, `spectrum` and
   * `clipOperatorNorm`, which has its own rules: see `ClipOptions`; the other
   * functions run wasm and refuse `"webgpu"`):
   * - `"wasm"` (default): the SIMD wasm core, f64 unless `precision: "f32"`.
   * - `"webgpu"`: WGSL compute (one-sided Jacobi per frequency) in f32 only;
   *   `precision` then defaults to `"f32"` and `"f64"` is a RangeError. No
   *   device (no `navigator.gpu`, as in Bun and Node, or no adapter) is an
   *   error, never a silent fallback. Async functions only. Each value is
   *   within a few 1e−7·σ_max (tested: 1e−4·σ_max).
   * - `"auto"`: WebGPU only where an adapter exists (not a software one), the
   *   caller allowed f32 (`precision: "f32"`) and the layer is past the
   *   measured crossover; else wasm. `Spectrum.skipped` says why WebGPU was
   *   skipped. `"auto"` never changes precision.
   */
  backend?: "wasm" | "webgpu" | "auto" | undefined;
}

/** Which engine produced a result. */
export type Backend = "wasm" | "webgpu";

/** The floating-point precision the result was computed in. */
export type Precision = "f64" | "f32";

/**
 * The wasm build that ran: `"relaxed"` (relaxed SIMD's fused multiply-adds,
 * chosen where the engine validates them; results then differ across CPUs in
 * the last bits) or `"plain"` SIMD.
 */
export type SimdBuild = "relaxed" | "plain";

/**
 * The singular values of a layer, grouped by spatial frequency.
 *
 * The frequency grid has one axis per spatial axis of the layer: `[w']` for
 * 1-D, `[h', w']` for 2-D and `[d', h', w']` for 3-D layers, where `n' = n /
 * stride` is the grid of the phase-split layer (for a transposed layer, the
 * size of its input). `values[cell * r + j]` is the `j`-th largest singular
 * value at that frequency, `cell` being row-major over the grid (for 2-D
 * `cell = u * w' + v`, the `c_out × c_in` matrix `P(u, v)` of the module
 * docs); each row of `r` values is in decreasing order.
 */
export interface Spectrum {
  /** `cells · r` values, row-major over `[...grid, j]`. */
  values: Float64Array;
  /**
   * `[...grid, r]`: `[h, w, r]` for a plain 2-D layer, `[w', r]` for 1-D and
   * `[d', h', w', r]` for 3-D. `r` is the number of values per frequency:
   * `min(c_in, c_out)` for a plain layer, `groups · min(c_out / groups,
   * (c_in / groups)·Π stride)` in general.
   */
  shape: number[];
  /** The largest singular value: the layer's operator norm (spectral norm). */
  norm: number;
  /**
   * A frequency (one index per grid axis: `[u, v]` for 2-D, `[v]` for 1-D,
   * `[t, u, v]` for 3-D) whose largest singular value equals
   * {@linkcode Spectrum.norm}.
   */
  argmax: number[];
  /** The engine that computed the values. */
  backend: Backend;
  /** The precision the values were computed in. */
  precision: Precision;
  /** The wasm build that ran (`"relaxed"`: fused multiply-adds; `"plain"` SIMD); absent on WebGPU. */
  simd?: SimdBuild | undefined;
  /**
   * The threads that computed the values on wasm: the pool's worker threads
   * the call used (`threads` as asked, capped at the cores), or 1 on the
   * calling thread alone; absent on WebGPU.
   */
  threads?: number | undefined;
  /**
   * Why each backend that `backend: "auto"` passed over was skipped
   * (`webgpu`), and why a call meant to run on several threads ran on the
   * calling thread (`threads`: no `SharedArrayBuffer`, as on a page that is
   * not cross-origin isolated, or workers that could not start, as under a
   * Content-Security-Policy without `worker-src blob:`). Empty when nothing
   * was skipped.
   */
  skipped?: { webgpu?: string; threads?: string } | undefined;
}

/** Options of {@linkcode operatorNormBounds}: the layer's, plus how hard to work on the interval. */
export interface OperatorNormBoundsOptions extends SingularValuesOptions {
  /**
   * Most power-iteration steps (applications of `AᵀA` to the real
   * zero-padded layer) spent on the lower bound; default 100. 0 keeps the
   * Rayleigh quotient of the start vector.
   */
  maxIterations?: number | undefined;
  /**
   * The power iteration stops when the Rayleigh quotient changes by at most
   * this much, relative, between two steps; default 1e-9.
   */
  tolerance?: number | undefined;
  /**
   * How many admissible circular grids the upper bound tries (default 3, at
   * most 16): the smallest admissible grid and the next ones a stride apart
   * on every axis; the smallest of their norms is `upper`.
   */
  gridCandidates?: number | undefined;
  /**
   * The most entries (rows · columns) one group's dense zero-padded operator
   * may have for its norm to be computed exactly instead (f64 only): the
   * largest eigenvalue of its Gram matrix, by Householder tridiagonalisation
   * and Sturm bisection, within at most 5e8 multiply–adds for the layer; the
   * result is then `exact`, with `lower` and `upper` the norm less and plus
   * 1e-12 relative for rounding. Default 0 (never); at most 2^20.
   */
  denseEntries?: number | undefined;
}

/**
 * A certified interval for a layer's operator norm: `lower ≤ ‖A‖ ≤ upper`.
 *
 * For circular padding both are the exact norm (`exact: true`, `lower =
 * upper`). For zero padding, `upper` is the exact norm of a circular layer
 * that contains the zero-padded one as a submatrix, and `lower` is the
 * Rayleigh quotient `‖A x‖ / ‖x‖` of an actual vector `x` applied to the
 * real zero-padded layer. Both include a relative allowance for f64 rounding
 * (`upper` raised, `lower` lowered, by 1e−12; 1e−5 for `precision: "f32"`),
 * so the interval holds for the exact operator.
 */
export interface OperatorNormBounds {
  /** A certified lower bound on the norm. */
  lower: number;
  /** A certified upper bound on the norm. */
  upper: number;
  /**
   * True when the norm is exact: circular padding (then `lower = upper`), no
   * zeros added and no overlapping windows (`d(k − 1) + 1 ≤ s` per axis, e.g. a
   * transposed layer with kernel = stride: then `lower = upper`), or a small
   * zero-padded layer computed densely (`denseEntries`: then `lower` and
   * `upper` are the norm less and plus 1e-12 relative).
   */
  exact: boolean;
  /** Power-iteration steps spent on `lower` (0 when exact). */
  iterations: number;
  /** The relative tolerance that stops the power iteration (0 when exact). */
  tolerance: number;
  /** Whether the power iteration met its tolerance (true when exact). */
  converged: boolean;
  /**
   * The input shape (one entry per spatial axis) of the circular forward
   * convolution whose norm is `upper`: the layer's own forward input when
   * exact; for zero padding the best of {@linkcode OperatorNormBounds.gridSizes}.
   */
  grid: number[];
  /** Every circular input shape tried for `upper`, in order. */
  gridSizes: number[][];
  /** The exact circular norm on each of {@linkcode OperatorNormBounds.gridSizes}. */
  gridNorms: number[];
  /** The engine that computed the circular norms. */
  backend: Backend;
  /** The precision of the circular norms. */
  precision: Precision;
  /** The wasm build that ran (`"relaxed"`: fused multiply-adds; `"plain"` SIMD); absent on WebGPU. */
  simd?: SimdBuild | undefined;
}

/** Options of {@linkcode gramIterationNorm}. */
export interface GramIterationOptions extends SingularValuesOptions {
  /** Gram steps `G ← GᴴG` per frequency (default 6, at most 30). */
  iterations?: number | undefined;
}

/** An upper bound on a layer's norm from Gram iteration, with the bound after every step. */
export interface GramIterationResult {
  /** The upper bound after the last step: `bounds[iterations]`. */
  upper: number;
  /**
   * The upper bound after 0, 1, …, `iterations` steps: `bounds[0]` is the
   * largest per-frequency Frobenius norm; every entry is an upper bound
   * (raised by a relative 1e−12 for rounding) and they do not increase.
   */
  bounds: number[];
  /** Gram steps made. */
  iterations: number;
  /**
   * The input shape of the circular forward convolution that was bounded:
   * the layer's own for circular padding, the smallest admissible grid for
   * zero padding (see {@linkcode operatorNormBounds}).
   */
  grid: number[];
}

/** Options of {@linkcode powerIterationNorm}. */
export interface PowerIterationOptions extends SingularValuesOptions {
  /** Most steps (applications of `AᵀA`); default 100. */
  maxIterations?: number | undefined;
  /** Stop when the Rayleigh quotient's relative change between steps is at most this; default 1e-6. */
  tolerance?: number | undefined;
  /** Seed of the random start vector (an integer; default 1). */
  seed?: number | undefined;
}

/** A lower bound on a layer's norm from power iteration on the layer itself. */
export interface PowerIterationResult {
  /**
   * The largest Rayleigh quotient `‖A x‖ / ‖x‖` over the iterates, lowered by
   * a relative 1e−12 for rounding: a certified lower bound on the norm.
   */
  lower: number;
  /** Steps made. */
  iterations: number;
  /** The tolerance used. */
  tolerance: number;
  /** Whether the quotient's relative change fell to the tolerance. */
  converged: boolean;
}
