/**
 * An independent, deliberately slow reference for the tests: the layer's
 * explicit matrix built straight from the definition, and a one-sided Jacobi
 * SVD (Hestenes) of it. Nothing here shares code or algorithms with the
 * package (which transforms per frequency and uses Householder
 * bidiagonalisation + QR).
 *
 * The layer (cross-correlation, circular padding, stride 1):
 *
 *     out[o, x, y] = Σ_i Σ_{a,b} K[o, i, a, b] · in[i, (x + a) mod h, (y + b) mod w]
 *
 * @module
 */

/** 2^k as an exact double, for any k in [-1074, 1023]. */
function pow2(k: number): number {
  // 2 ** k is exact for integers in this range in every engine, but split the
  // extremes so no intermediate leaves the normal range.
  if (k > 1023 || k < -1074) {
    throw new RangeError(`pow2: exponent ${k} out of range`);
  }
  if (k < -1022) return 2 ** (k + 1022) * 2 ** -1022;
  return 2 ** k;
}

/** Multiplies x by 2^k exactly (barring under/overflow of the result), for |k| up to ~2100. */
function scaleByPow2(x: number, k: number): number {
  const half = Math.trunc(k / 2);
  return x * pow2(half) * pow2(k - half);
}

/**
 * The explicit `(cOut·h·w) × (cIn·h·w)` row-major matrix of the circular
 * convolution layer with kernel `K[o, i, a, b]` (OIHW, row-major) on an `h × w`
 * input. Row `o·h·w + x·w + y`, column `i·h·w + x'·w + y'`. Taps that wrap onto
 * the same pixel (kernels larger than the input) add up.
 */
export function denseLayerMatrix(
  kernelOIHW: Float32Array | Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
): Float64Array {
  if (kernelOIHW.length !== cOut * cIn * kh * kw) {
    throw new TypeError(
      `denseLayerMatrix: kernel length ${kernelOIHW.length} != ${cOut * cIn * kh * kw}`,
    );
  }
  const hw = h * w;
  const rows = cOut * hw;
  const cols = cIn * hw;
  const m = new Float64Array(rows * cols);
  for (let o = 0; o < cOut; o++) {
    for (let x = 0; x < h; x++) {
      for (let y = 0; y < w; y++) {
        const row = o * hw + x * w + y;
        for (let i = 0; i < cIn; i++) {
          for (let a = 0; a < kh; a++) {
            const xs = (x + a) % h;
            for (let b = 0; b < kw; b++) {
              const ys = (y + b) % w;
              m[row * cols + i * hw + xs * w + ys] += kernelOIHW[((o * cIn + i) * kh + a) * kw + b];
            }
          }
        }
      }
    }
  }
  return m;
}

/** Options of {@linkcode jacobiSingularValues}. */
export interface JacobiOptions {
  /** Sweep cap; an `Error` is thrown if the columns are not orthogonal by then. Default 60. */
  maxSweeps?: number;
}

/** Euclidean norm of `n` entries of `a` from `off`, safe from under/overflow. */
function columnNorm(a: Float64Array, off: number, n: number): number {
  let big = 0;
  for (let k = 0; k < n; k++) big = Math.max(big, Math.abs(a[off + k]));
  if (big === 0) return 0;
  let s = 0;
  for (let k = 0; k < n; k++) {
    const t = a[off + k] / big;
    s += t * t;
  }
  return big * Math.sqrt(s);
}

/**
 * All `min(m, n)` singular values of the row-major `m × n` matrix `A`, sorted
 * in decreasing order, by the one-sided Jacobi method (Hestenes): rotate pairs
 * of columns until every pair is orthogonal to about 1e-15 relative; the
 * singular values are then the column norms. Works on the transpose when
 * `m < n`, so that it always rotates `min(m, n)` columns of length `max(m, n)`.
 * The matrix is first scaled by a power of two so that its largest entry is
 * in [1, 2), and the result is scaled back exactly. Columns whose norm falls
 * below 2^-100 of that (about 8e-31) are left alone: singular values are exact
 * to about 1e-15 relative to the largest, and to 1e-30 absolutely below that.
 */
export function jacobiSingularValues(
  A: Float64Array,
  m: number,
  n: number,
  options: JacobiOptions = {},
): Float64Array {
  if (A.length !== m * n) {
    throw new TypeError(
      `jacobiSingularValues: length ${A.length} != ${m}·${n}`,
    );
  }
  const maxSweeps = options.maxSweeps ?? 60;
  const ncol = Math.min(m, n);
  const len = Math.max(m, n);
  if (ncol === 0) return new Float64Array(0);

  let maxAbs = 0;
  for (let k = 0; k < A.length; k++) {
    const v = A[k];
    if (!Number.isFinite(v)) {
      throw new RangeError(
        `jacobiSingularValues: non-finite entry ${v} at ${k}`,
      );
    }
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  if (maxAbs === 0) return new Float64Array(ncol);
  // maxAbs = f · 2^e with f in [1, 2); find e exactly (log2 alone can be off by one).
  let e = Math.floor(Math.log2(maxAbs));
  while (scaleByPow2(maxAbs, -e) >= 2) e++;
  while (scaleByPow2(maxAbs, -e) < 1) e--;

  // Column-major working copy: column j occupies [j·len, (j+1)·len).
  const u = new Float64Array(ncol * len);
  if (m >= n) {
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < n; c++) {
        u[c * len + r] = scaleByPow2(A[r * n + c], -e);
      }
    }
  } else {
    // Columns of Aᵀ are the rows of A.
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < n; c++) {
        u[r * len + c] = scaleByPow2(A[r * n + c], -e);
      }
    }
  }

  const tol = Math.max(1e-15, Math.sqrt(len) * Number.EPSILON);
  const negligible = 2 ** -200; // squared column norm: columns of norm ≤ 2^-100 ≈ 8e-31 (relative)
  let converged = false;
  for (let sweep = 0; sweep < maxSweeps && !converged; sweep++) {
    converged = true;
    for (let p = 0; p < ncol - 1; p++) {
      const op = p * len;
      for (let q = p + 1; q < ncol; q++) {
        const oq = q * len;
        let alpha = 0, beta = 0, gamma = 0;
        for (let k = 0; k < len; k++) {
          const x = u[op + k], y = u[oq + k];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0) continue;
        // A column this far below the largest entry (scaled into [1, 2)) is zero to
        // any accuracy a test asks for; rotating it further only chases rounding
        // noise into the subnormals (parallel noise columns never converge).
        if (alpha <= negligible || beta <= negligible) continue;
        if (Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) {
          continue;
        }
        converged = false;
        // Rotation [c s; -s c] on (a_p, a_q) that zeroes their inner product:
        // t is the smaller root of t² + 2ζt − 1 = 0, ζ = (β − α) / (2γ).
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.abs(zeta) > 1e150 ? 1 / (2 * zeta) : Math.sign(zeta || 1) /
          (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let k = 0; k < len; k++) {
          const x = u[op + k], y = u[oq + k];
          u[op + k] = c * x - s * y;
          u[oq + k] = s * x + c * y;
        }
      }
    }
  }
  if (!converged) {
    throw new Error(
      `jacobiSingularValues: not converged after ${maxSweeps} sweeps (${m}×${n})`,
    );
  }

  const sv = new Float64Array(ncol);
  for (let j = 0; j < ncol; j++) {
    sv[j] = scaleByPow2(columnNorm(u, j * len, len), e);
  }
  sv.sort();
  sv.reverse();
  return sv;
}

/** Singular values of the layer, by the dense matrix and Jacobi: all `h·w·min(cIn, cOut)`, decreasing. */
export function referenceSingularValues(
  kernelOIHW: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
): Float64Array {
  const a = denseLayerMatrix(kernelOIHW, cOut, cIn, kh, kw, h, w);
  return jacobiSingularValues(a, cOut * h * w, cIn * h * w);
}

/** HWIO `[kh, kw, cIn, cOut]` copy of an OIHW `[cOut, cIn, kh, kw]` kernel. */
export function hwioFromOihw(
  oihw: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
): Float64Array;
export function hwioFromOihw(
  oihw: Float32Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
): Float32Array;
export function hwioFromOihw(
  oihw: Float32Array | Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
): Float32Array | Float64Array {
  if (oihw.length !== cOut * cIn * kh * kw) {
    throw new TypeError("hwioFromOihw: length does not match the shape");
  }
  const out = oihw instanceof Float32Array ? new Float32Array(oihw.length) : new Float64Array(oihw.length);
  for (let o = 0; o < cOut; o++) {
    for (let i = 0; i < cIn; i++) {
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) {
          out[((a * kw + b) * cIn + i) * cOut + o] = oihw[((o * cIn + i) * kh + a) * kw + b];
        }
      }
    }
  }
  return out;
}

/** OIHW `[cOut, cIn, kh, kw]` copy of an HWIO `[kh, kw, cIn, cOut]` kernel. */
export function oihwFromHwio(
  hwio: Float64Array,
  kh: number,
  kw: number,
  cIn: number,
  cOut: number,
): Float64Array;
export function oihwFromHwio(
  hwio: Float32Array,
  kh: number,
  kw: number,
  cIn: number,
  cOut: number,
): Float32Array;
export function oihwFromHwio(
  hwio: Float32Array | Float64Array,
  kh: number,
  kw: number,
  cIn: number,
  cOut: number,
): Float32Array | Float64Array {
  if (hwio.length !== cOut * cIn * kh * kw) {
    throw new TypeError("oihwFromHwio: length does not match the shape");
  }
  const out = hwio instanceof Float32Array ? new Float32Array(hwio.length) : new Float64Array(hwio.length);
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      for (let i = 0; i < cIn; i++) {
        for (let o = 0; o < cOut; o++) {
          out[((o * cIn + i) * kh + a) * kw + b] = hwio[((a * kw + b) * cIn + i) * cOut + o];
        }
      }
    }
  }
  return out;
}

/** The OIHW kernel with its o and i axes swapped: `[cIn, cOut, kh, kw]`. */
export function swapChannels(
  oihw: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
): Float64Array {
  const out = new Float64Array(oihw.length);
  const t = kh * kw;
  for (let o = 0; o < cOut; o++) {
    for (let i = 0; i < cIn; i++) {
      for (let k = 0; k < t; k++) {
        out[(i * cOut + o) * t + k] = oihw[(o * cIn + i) * t + k];
      }
    }
  }
  return out;
}

/**
 * The kernel with taps that land on the same pixel of an `h × w` input added
 * together: `K'[o, i, a mod h, b mod w] += K[o, i, a, b]`, shape
 * `[cOut, cIn, min(kh, h), min(kw, w)]`.
 */
export function foldKernel(
  oihw: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
): { data: Float64Array; kh: number; kw: number } {
  const fh = Math.min(kh, h), fw = Math.min(kw, w);
  const out = new Float64Array(cOut * cIn * fh * fw);
  for (let c = 0; c < cOut * cIn; c++) {
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        out[(c * fh + (a % h)) * fw + (b % w)] += oihw[(c * kh + a) * kw + b];
      }
    }
  }
  return { data: out, kh: fh, kw: fw };
}

/**
 * `P(u, v)[o, i] = Σ_{a,b} K[o, i, a, b] · exp(2πi (u·a/h + v·b/w))` as real and
 * imaginary `cOut × cIn` row-major parts. The phase is reduced exactly in
 * integers before the trigonometric functions.
 */
export function frequencyMatrix(
  oihw: Float64Array,
  cOut: number,
  cIn: number,
  kh: number,
  kw: number,
  h: number,
  w: number,
  u: number,
  v: number,
): { re: Float64Array; im: Float64Array } {
  const re = new Float64Array(cOut * cIn);
  const im = new Float64Array(cOut * cIn);
  const hw = h * w;
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      // u·a/h + v·b/w = (((u·a) mod h)·w + ((v·b) mod w)·h) / (h·w)  (mod 1)
      const num = ((u * a) % h) * w + ((v * b) % w) * h;
      const theta = (2 * Math.PI * num) / hw;
      const cr = Math.cos(theta), ci = Math.sin(theta);
      for (let c = 0; c < cOut * cIn; c++) {
        const k = oihw[(c * kh + a) * kw + b];
        re[c] += k * cr;
        im[c] += k * ci;
      }
    }
  }
  return { re, im };
}

/**
 * The real `2m × 2n` matrix `[[Re, −Im], [Im, Re]]` of a complex `m × n` matrix;
 * its singular values are those of the complex matrix, each twice.
 */
export function realEmbedding(
  re: Float64Array,
  im: Float64Array,
  m: number,
  n: number,
): Float64Array {
  const out = new Float64Array(4 * m * n);
  const cols = 2 * n;
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      const x = re[r * n + c], y = im[r * n + c];
      out[r * cols + c] = x;
      out[r * cols + n + c] = -y;
      out[(m + r) * cols + c] = y;
      out[(m + r) * cols + n + c] = x;
    }
  }
  return out;
}

/** Singular values of the complex `m × n` matrix `re + i·im`, decreasing (each once). */
export function complexSingularValues(
  re: Float64Array,
  im: Float64Array,
  m: number,
  n: number,
): Float64Array {
  const doubled = jacobiSingularValues(
    realEmbedding(re, im, m, n),
    2 * m,
    2 * n,
  );
  const out = new Float64Array(Math.min(m, n));
  // Sorted decreasingly, the doubled list is s0, s0, s1, s1, ...
  for (let j = 0; j < out.length; j++) {
    out[j] = (doubled[2 * j] + doubled[2 * j + 1]) / 2;
  }
  return out;
}
