/**
 * The backend-neutral unit of work: a "problem" is one 2-D circular,
 * stride-1 convolution on an h × w grid with a folded kernel (real, or
 * complex for the depth frequencies of 3-D layers), possibly with several
 * diagonal blocks (groups). Every layer kind reduces to one or more problems
 * (src/_problem/expand.ts); each backend computes a problem's per-frequency
 * singular values and hands them to a {@linkcode Sink}.
 * @module
 */

/**
 * One 2-D circular stride-1 convolution: kernel `re (+ i·im)`, OIHW,
 * `cOut × cIn × kh × kw` with `kh ≤ h`, `kw ≤ w` (taps already folded); with
 * `groups` > 1, that many such kernels one after another, the diagonal
 * blocks of a grouped layer (each frequency's values are the union of the
 * blocks', `groups·min(cOut, cIn)` of them).
 */
export interface Problem {
  /** Output channels of one group. */
  cOut: number;
  /** Input channels of one group. */
  cIn: number;
  /** Diagonal blocks (default 1). */
  groups?: number | undefined;
  kh: number;
  kw: number;
  h: number;
  w: number;
  /** Real part (the caller's own f32 or f64 weights where nothing had to move: read only). */
  re: Float32Array | Float64Array;
  /** Imaginary part of a complex kernel; absent for a real one. */
  im?: Float64Array | undefined;
}

/**
 * Receives the singular values of one frequency (u, v), decreasing, already
 * scaled back. `values` may be a view of scratch memory that is reused after
 * the call returns: a sink copies what it keeps. For a real kernel only the
 * Hermitian half is visited and `mirrored` is true when (−u mod h, −v mod w)
 * is a different frequency with the same values; for a complex kernel every
 * frequency is visited and `mirrored` is false.
 */
export type Sink = (u: number, v: number, values: Float64Array, mirrored: boolean) => void;

/**
 * Whether a problem's frequency matrices are 1×1 per group (a real kernel,
 * one input and one output channel per group: depthwise layers at stride 1):
 * group g's singular value at (u, v) is then |P_g(u, v)|.
 */
export function isDiagonal(p: Problem): boolean {
  return p.cOut === 1 && p.cIn === 1 && p.im === undefined;
}

/** Values per frequency of a problem: `groups·min(cOut, cIn)`. */
export function valuesPerFrequency(p: Problem): number {
  return (p.groups ?? 1) * Math.min(p.cOut, p.cIn);
}

/** Multiplies x by 2^e exactly, for any e that keeps the result in range. */
export function ldexp(x: number, e: number): number {
  while (e > 1000) {
    x *= 2 ** 1000;
    e -= 1000;
  }
  while (e < -1000) {
    x *= 2 ** -1000;
    e += 1000;
  }
  return x * 2 ** e;
}

/**
 * 2^e as one factor whose multiply scales exactly (while the product is a
 * normal number), or undefined where 2^e is too far out of range to be one.
 */
export function powerOfTwo(e: number): number | undefined {
  return Math.abs(e) <= 1000 ? 2 ** e : undefined;
}

/** Multiplies every value by 2^e, exactly (one multiply per value while 2^e is a normal number). */
export function scaleInPlace(values: Float64Array, e: number): void {
  if (e === 0) return;
  const f = powerOfTwo(e);
  if (f !== undefined) {
    for (let i = 0; i < values.length; i++) values[i] *= f;
  } else {
    for (let i = 0; i < values.length; i++) values[i] = ldexp(values[i], e);
  }
}

/** The power-of-two exponent e with max|data|·2^−e in [0.5, 1); undefined when all are zero. */
export function scaleExponent(...arrays: (Float32Array | Float64Array | undefined)[]): number | undefined {
  let mx = 0;
  for (const data of arrays) {
    if (!data) continue;
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i]);
      if (a > mx) mx = a;
    }
  }
  if (mx === 0) return undefined;
  let e = Math.ceil(Math.log2(mx));
  // log2 rounding: make sure mx·2^−e lands in [0.5, 1).
  while (ldexp(mx, -e) >= 1) e++;
  while (ldexp(mx, -e) < 0.5) e--;
  return e;
}

/**
 * Visits (u, v, mirrored) in the backends' order: the Hermitian half of an
 * h × w grid (real kernels), or every frequency with mirrored = false (complex).
 */
export function forEachFrequency(
  h: number,
  w: number,
  complex: boolean,
  fn: (u: number, v: number, mirrored: boolean) => void,
): void {
  const nvAll = complex ? w : Math.floor(w / 2) + 1;
  for (let v = 0; v < nvAll; v++) {
    const selfMirror = !complex && (v === 0 || 2 * v === w);
    const nu = selfMirror ? Math.floor(h / 2) + 1 : h;
    for (let u = 0; u < nu; u++) fn(u, v, complex ? false : selfMirror ? (h - u) % h !== u : true);
  }
}

/** A problem's sizes without its kernel (for estimates made before any kernel is built). */
export type ProblemShape = Omit<Problem, "re" | "im"> & { complex: boolean };

/** Frequencies a backend visits for a problem: the Hermitian half for a real kernel, all for a complex one. */
export function visitedFrequencies(p: Problem | ProblemShape): number {
  if ("complex" in p ? p.complex : p.im !== undefined) return p.h * p.w;
  const selfColumns = p.w % 2 === 0 && p.w > 1 ? 2 : 1;
  const half = Math.floor(p.h / 2) + 1;
  return selfColumns * half + (Math.floor(p.w / 2) + 1 - selfColumns) * p.h;
}

/** Reports zeros for every visited frequency of a problem whose kernel is zero. */
export function zeroProblem(p: Problem, sink: Sink): void {
  const zeros = new Float64Array(valuesPerFrequency(p));
  forEachFrequency(p.h, p.w, p.im !== undefined, (u, v, mirrored) => sink(u, v, zeros, mirrored));
}

/** `Σ visited frequencies · max(c_out, c_in) · min(c_out, c_in)²` over the problems (the SVD cost up to a constant). */
export function problemsWork(problems: readonly Problem[]): number {
  let work = 0;
  for (const p of problems) {
    const m = Math.max(p.cOut, p.cIn), n = Math.min(p.cOut, p.cIn);
    work += visitedFrequencies(p) * m * n * n;
  }
  return work;
}
