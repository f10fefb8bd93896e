/**
 * Layer kinds → problems. A layer's spectrum is the union of the spectra of
 * one or more 2-D circular stride-1 problems (src/_problem/problem.ts); this
 * module builds them from a validated layer and says where each problem's
 * per-frequency values go in the layer's frequency grid.
 *
 * The reduction, on the forward convolution normalised to `[d, h, w]` (a
 * transposed layer has the same singular values as its forward convolution):
 *
 * 1. Fold: tap `a` with dilation `δ` acts at `j = δ·a mod n` on the circular
 *    grid `n` (kernels or dilations that reach past the input wrap and add up).
 * 2. Phase split (stride `s`, `s | n`): `j = s·a' + p`; the layer is the
 *    stride-1 circular layer on the `n/s` grid with input channels `(i, p_d,
 *    p_h, p_w)`: `K'[o, (i,p), a'] = K_folded[o, i, s·a' + p]` (an orthogonal
 *    relabelling of the input).
 * 3. Groups: one problem per group (block-diagonal), sharing the grid rows.
 * 4. Depth: `K_t[o, i, a, b] = Σ_c K'[o, i, c, a, b]·exp(+2πi·t·c/d')` is a
 *    complex 2-D problem; `K_{d'−t} = conj K_t` gives `P(d'−t, −u, −v) =
 *    conj P(t, u, v)`, so only `t ≤ d'/2` are computed: `t = 0` and `t = d'/2`
 *    are real (Hermitian half), the others complex and fill their mirror cell.
 * @module
 */
import type { Axes, LayerSpec } from "../_options.ts";
import { fromAxes } from "../_options.ts";
import type { Problem, ProblemShape } from "./problem.ts";

/** One problem and where its values land. */
export interface Part {
  problem: Problem;
  /** The flat index into the grid (row-major over `Expanded.grid`) of frequency (u, v) of this problem. */
  cell(u: number, v: number): number;
  /**
   * The flat index of the second cell that receives the values the engine
   * reports for (u, v) (its mirror), or −1 when there is none; `mirrored` is
   * the engine's flag (see `Sink`).
   */
  mirror(u: number, v: number, mirrored: boolean): number;
  /** Offset of this problem's values within a grid row of `Expanded.r`. */
  slot: number;
  /** The group this problem belongs to. */
  group: number;
  /** The depth frequency of this problem (0 for 1-D and 2-D layers). */
  t: number;
}

/** A layer expanded into problems. */
export interface Expanded {
  /** The frequency grid's shape: `[h, w]` for a plain 2-D layer, one entry per spatial axis. */
  grid: number[];
  /** Values per frequency (sum over the parts that share a frequency). */
  r: number;
  /** The parts; together they fill every `r`-row of the grid exactly once. */
  parts: Part[];
  /** The phase-split grid `[d', h', w']` (1 for absent axes). */
  grid3: Axes;
}

/** `exp(2πi·m/n)` for an integer `0 ≤ m < n`, exact at multiples of a quarter turn. */
export function twiddle(m: number, n: number): [number, number] {
  m %= n;
  if ((4 * m) % n === 0) {
    const q = (4 * m) / n;
    return [[1, 0], [0, 1], [-1, 0], [0, -1]][q] as [number, number];
  }
  // Reduce to (−n/2, n/2] so that the angle is at most π in size.
  const r = 2 * m > n ? m - n : m;
  const ang = (2 * Math.PI * r) / n;
  return [Math.cos(ang), Math.sin(ang)];
}

/** Where a layer's taps land in its problems on the input grid `n` (see {@linkcode expandSpec}). */
export interface TapLayout {
  /** The phase-split grid `[d', h', w']`. */
  np: Axes;
  /** Taps per axis on the phase grid. */
  kp: Axes;
  /** Phases `Π stride`. */
  phases: number;
  /** Input channels of a group's problem: `c_in/g · phases`. */
  cInP: number;
  /** `Π kp`: the taps of one (output, phase-split input) channel pair of K'. */
  block: number;
  /** Per tap `(c, a, b)` of a kernel row: its index `phase·block + tap` in the (o, i) block of K'. */
  tapDst: Int32Array;
  /** Whether every tap keeps its place (stride 1, nothing wraps): K' is the kernel itself. */
  identity: boolean;
}

/**
 * The fold and phase split of a layer's taps on the grid `n`: tap `a` with
 * dilation `δ` sits at `j = δ·a mod n`, which is phase `j mod s` and
 * phase-grid tap `⌊j/s⌋`.
 */
export function tapLayout(spec: LayerSpec, n: Axes): TapLayout {
  const { cInG, stride: s, dilation: dl, k } = spec;
  const np = [n[0] / s[0], n[1] / s[1], n[2] / s[2]] as Axes;
  const kp = [0, 1, 2].map((j) => Math.min(np[j], Math.ceil(Math.min(n[j], dl[j] * (k[j] - 1) + 1) / s[j]))) as Axes;
  const phases = s[0] * s[1] * s[2];
  const [kpd, kph, kpw] = kp;
  const taps = k[0] * k[1] * k[2];
  const block = kpd * kph * kpw;
  const tapDst = new Int32Array(taps);
  let identity = phases === 1 && block === taps;
  for (let c = 0; c < k[0]; c++) {
    for (let a = 0; a < k[1]; a++) {
      for (let b = 0; b < k[2]; b++) {
        const [pos0, pos1, pos2] = [dl[0] * c % n[0], dl[1] * a % n[1], dl[2] * b % n[2]];
        const phase = ((pos0 % s[0]) * s[1] + pos1 % s[1]) * s[2] + pos2 % s[2];
        const tap = (Math.floor(pos0 / s[0]) * kph + Math.floor(pos1 / s[1])) * kpw + Math.floor(pos2 / s[2]);
        const t = (c * k[1] + a) * k[2] + b;
        tapDst[t] = phase * block + tap;
        if (tapDst[t] !== t) identity = false;
      }
    }
  }
  return { np, kp, phases, cInP: cInG * phases, block, tapDst, identity };
}

/**
 * Where each weight of one group lands in that group's folded kernel K'
 * (`c_out/g × cInP × Π kp`, the problem's real kernel when the depth grid is
 * 1): `dest[j]` for weight `j = (o·c_in/g + i)·taps + t` of the group, and
 * `count[q]` how many weights land on entry `q` of K' (0: an entry no tap
 * reaches, e.g. a phase past the kernel's end; over 1: taps that wrap onto
 * one another).
 */
export function kernelMap(spec: LayerSpec, n: Axes): { dest: Int32Array; count: Int32Array; identity: boolean } {
  const { cOutG, cInG, k } = spec;
  const { cInP, phases, block, tapDst, identity } = tapLayout(spec, n);
  const taps = k[0] * k[1] * k[2];
  const dest = new Int32Array(cOutG * cInG * taps);
  const count = new Int32Array(cOutG * cInP * block);
  for (let oi = 0; oi < cOutG * cInG; oi++) {
    const base = (Math.floor(oi / cInG) * cInP + (oi % cInG) * phases) * block;
    for (let t = 0; t < taps; t++) {
      const q = base + tapDst[t];
      dest[oi * taps + t] = q;
      count[q]++;
    }
  }
  return { dest, count, identity };
}

/**
 * Every group's folded kernel K'[o, i', c', a', b'] on the grid `n`
 * (`c_out/g × cInP × Π kp`): the weights themselves when every tap keeps its
 * place (stride 1, nothing wraps; read only), else the taps added up where
 * they land.
 */
export function foldedKernels(spec: LayerSpec, n: Axes): (Float32Array | Float64Array)[] {
  const { cOutG, cInG, groups, k, weights } = spec;
  const { phases, cInP, block, tapDst, identity } = tapLayout(spec, n);
  const taps = k[0] * k[1] * k[2];
  const groupSize = cOutG * cInG * taps;
  const out: (Float32Array | Float64Array)[] = [];
  for (let g = 0; g < groups; g++) {
    if (identity) {
      out.push(weights.subarray(g * groupSize, (g + 1) * groupSize));
      continue;
    }
    const kq = new Float64Array(cOutG * cInP * block);
    for (let oi = 0; oi < cOutG * cInG; oi++) {
      const src = g * groupSize + oi * taps;
      const dst = (Math.floor(oi / cInG) * cInP + (oi % cInG) * phases) * block;
      for (let t = 0; t < taps; t++) kq[dst + tapDst[t]] += weights[src + t];
    }
    out.push(kq);
  }
  return out;
}

/**
 * The 2-D kernel of depth frequency `t` of a folded kernel with `kpd` depth
 * taps on a depth grid `dp`: `K_t[row, a, b] = Σ_c K'[row, c, a, b]·exp(2πi·t·c/dp)`
 * (`rows` rows of `plane` taps). With one depth tap it is K' itself (read
 * only); `im` is absent for the real frequencies (`real`).
 */
export function depthKernel(
  kq: Float32Array | Float64Array,
  rows: number,
  kpd: number,
  plane: number,
  t: number,
  dp: number,
  real: boolean,
): { re: Float32Array | Float64Array; im: Float64Array | undefined } {
  if (kpd === 1) return { re: kq, im: real ? undefined : new Float64Array(rows * plane) };
  const re = new Float64Array(rows * plane);
  const im = real ? undefined : new Float64Array(rows * plane);
  for (let c = 0; c < kpd; c++) {
    const [cr, ci] = twiddle((t * c) % dp, dp);
    for (let row = 0; row < rows; row++) {
      const from = (row * kpd + c) * plane;
      const to = row * plane;
      for (let j = 0; j < plane; j++) re[to + j] += kq[from + j] * cr;
      if (im) { for (let j = 0; j < plane; j++) im[to + j] += kq[from + j] * ci; }
    }
  }
  return { re, im };
}

/**
 * The circular layer of `spec`'s kernel, stride, dilation and groups on the
 * input grid `n` (per axis, divisible by the stride), expanded into problems.
 * Padding and transposition do not matter here: the circular forward layer on
 * `n` is what is expanded.
 */
export function expandSpec(spec: LayerSpec, n: Axes): Expanded {
  const { cOutG, groups, rank } = spec;
  const { np, kp, cInP } = tapLayout(spec, n);
  const rG = Math.min(cOutG, cInP);
  const [kpd, kph, kpw] = kp;
  const plane = kph * kpw;
  const [dp, hp, wp] = np;
  const cell = (t: number, u: number, v: number) => (t * hp + u) * wp + v;
  const mirror = (t: number, u: number, v: number) => cell((dp - t) % dp, (hp - u) % hp, (wp - v) % wp);
  const parts: Part[] = [];
  const folded = foldedKernels(spec, n);
  // Each depth frequency's cell maps, shared by the groups.
  const maps = Array.from({ length: Math.floor(dp / 2) + 1 }, (_, t) => {
    const real = t === 0 || 2 * t === dp;
    return {
      real,
      cell: (u: number, v: number) => cell(t, u, v),
      mirror: (u: number, v: number, mirrored: boolean) => mirrored || !real ? mirror(t, u, v) : -1,
    };
  });
  for (let g = 0; g < groups; g++) {
    const kq = folded[g];
    const rows = cOutG * cInP;
    for (let t = 0; t < maps.length; t++) {
      const map = maps[t];
      const { re, im } = depthKernel(kq, rows, kpd, plane, t, dp, map.real);
      const problem: Problem = { cOut: cOutG, cIn: cInP, kh: kph, kw: kpw, h: hp, w: wp, re };
      if (im) problem.im = im;
      parts.push({ problem, slot: g * rG, group: g, t, cell: map.cell, mirror: map.mirror });
    }
  }
  return { grid: fromAxes(np, rank), r: groups * rG, parts, grid3: np };
}

/**
 * What {@linkcode expandSpec} on the grid `n` (then {@linkcode mergeGroups})
 * builds, computed without building it: the problems' shapes (one per depth
 * frequency, a grouped layer's blocks merged) and the bytes of the kernels it
 * allocates — the folded kernel of every group (`c_out/g × c_in/g·Π stride ×
 * Π kp` f64, none when nothing folds; a dilated kernel folds onto at most
 * `n` taps per axis), each depth frequency's 2-D kernel (real and imaginary)
 * when there are several depth taps, and the merged copy of the groups.
 */
export function expandPlan(spec: LayerSpec, n: Axes): { problems: ProblemShape[]; bytes: number } {
  const { cOutG, groups } = spec;
  const { np, kp, cInP, block, identity } = tapLayout(spec, n);
  const rows = cOutG * cInP;
  const plane = kp[1] * kp[2];
  const depths = Math.floor(np[0] / 2) + 1;
  let bytes = identity ? 0 : groups * rows * block * 8;
  if (np[0] > 1) bytes += groups * depths * rows * plane * 16;
  if (groups > 1) bytes += depths * groups * rows * plane * 16;
  const problems: ProblemShape[] = [];
  for (let t = 0; t < depths; t++) {
    const complex = !(t === 0 || 2 * t === np[0]);
    problems.push({ cOut: cOutG, cIn: cInP, groups, kh: kp[1], kw: kp[2], h: np[1], w: np[2], complex });
  }
  return { problems, bytes };
}

/**
 * The parts a backend runs as one: a grouped layer's per-group problems of
 * one depth frequency merged into one problem with `groups` diagonal blocks,
 * so that a depthwise layer is one pass over its frequencies (not one per
 * channel) and each frequency's row comes out sorted. Other layers: as
 * expanded.
 */
export function mergeGroups(ex: Expanded): Part[] {
  if (ex.parts.every((p) => p.group === 0)) return ex.parts;
  // By depth frequency, in the order of their first parts (expandSpec's order: t ascending).
  const byT: Part[][] = [];
  for (const p of ex.parts) (byT[p.t] ??= []).push(p);
  return byT.filter((list) => list !== undefined).map((list) => {
    const first = list[0].problem;
    const size = first.re.length;
    const re = new Float64Array(size * list.length);
    const im = first.im ? new Float64Array(size * list.length) : undefined;
    list.forEach((p, g) => {
      re.set(p.problem.re, g * size);
      if (im && p.problem.im) im.set(p.problem.im, g * size);
    });
    return { ...list[0], slot: 0, problem: { ...first, re, ...(im ? { im } : {}), groups: list.length } };
  });
}

/**
 * The one problem of a plain layer (2-D, circular, stride 1, no dilation or
 * groups): the kernel folded onto the grid in OIHW order, or the caller's
 * OIHW weights themselves when nothing folds (read only).
 */
export function plainProblem(spec: LayerSpec): Problem {
  return expandSpec(spec, spec.n).parts[0].problem;
}

/**
 * `P(u, v)[o, i] = Σ_{a,b} (re + i·im)[o, i, a, b]·exp(2πi(u·a/h + v·b/w))`
 * of a problem, row-major `cOut × cIn`, real and imaginary parts.
 */
export function frequencyMatrix(p: Problem, u: number, v: number): { re: Float64Array; im: Float64Array } {
  const { cOut, cIn, kh, kw, h, w } = p;
  const twr = new Float64Array(kh * kw);
  const twi = new Float64Array(kh * kw);
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      // exp(2πi(u·a/h + v·b/w)) = exp(2πi·(u·a·w + v·b·h)/(h·w)), reduced exactly.
      const m = ((u * a) % h) * w + ((v * b) % w) * h;
      [twr[a * kw + b], twi[a * kw + b]] = twiddle(m % (h * w), h * w);
    }
  }
  const re = new Float64Array(cOut * cIn);
  const im = new Float64Array(cOut * cIn);
  const taps = kh * kw;
  for (let row = 0; row < cOut * cIn; row++) {
    let sr = 0, si = 0;
    const off = row * taps;
    for (let j = 0; j < taps; j++) {
      const x = p.re[off + j];
      sr += x * twr[j];
      si += x * twi[j];
    }
    if (p.im) {
      for (let j = 0; j < taps; j++) {
        const y = p.im[off + j];
        sr -= y * twi[j];
        si += y * twr[j];
      }
    }
    re[row] = sr;
    im[row] = si;
  }
  return { re, im };
}

/**
 * The input grids (per axis `[d, h, w]`) of circular forward convolutions
 * that contain the zero-padded layer `spec` as a submatrix: `count` of them,
 * the smallest admissible grid first, then grids one stride larger on every
 * axis of the layer.
 *
 * Admissible: `M` a multiple of the stride with `M ≥ n + max(p_before,
 * p_after)` and `M/s ≥ out`. Place the input at offset `p_before` in a
 * circular signal of length `M`, zeros elsewhere. Every output `x < out` of
 * the zero-padded layer reads padded positions `j = x·s + δ·a ≤ n + p_before +
 * p_after − 1`; the circular layer reads `j mod M`, which for `j < M` is the
 * same sample and for `M ≤ j` lands in `[0, p_before)`, a zero, as the padded
 * sample `j ≥ n + p_before` is. So the zero-padded layer is (restriction of
 * rows) ∘ (circular layer on M) ∘ (isometric embedding), and its norm is at
 * most the circular one.
 */
export function admissibleGrids(spec: LayerSpec, count: number): Axes[] {
  const pad = spec.pad ?? [[0, 0], [0, 0], [0, 0]];
  const base = [0, 1, 2].map((j) => {
    const s = spec.stride[j];
    const need = Math.max(spec.n[j] + Math.max(pad[j][0], pad[j][1]), s * spec.out[j]);
    return s * Math.ceil(need / s);
  });
  const grids: Axes[] = [];
  for (let c = 0; c < count; c++) {
    grids.push(base.map((m, j) => (j < 3 - spec.rank ? m : m + c * spec.stride[j])) as Axes);
  }
  return grids;
}
