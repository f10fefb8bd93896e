/**
 * Clipping rounds on the wasm core: every column of the Hermitian half is a
 * {@linkcode ClipJob} (`clip_column_f64`: the column's SVDs, singular values
 * clipped at `c`, the column's share of the inverse transform cut back to the
 * kernel's taps), run on the calling thread or on the worker pool. Each
 * column adds into its own kernel accumulator, and the accumulators are
 * summed in column order, so the result is the same bits whatever thread ran
 * which column.
 * @module
 */
import { Arena, clipColumn, type ClipJob, type CoreExports, JOB_KIND } from "../_wasm/abi.ts";
import { ldexp, type Problem, scaleExponent } from "../_problem/problem.ts";
import { GramScreen, gramScreens } from "../_wasm/engine.ts";
import { type Pool, runJobs, withPool } from "../_threads/pool.ts";
import type { RunControl } from "../_wasm/engine.ts";
import { ConvergenceError } from "../errors.ts";
import type { RoundResult, Rounds } from "./loop.ts";

/** The memory of a round: the kernel, every column's transform, and per column its accumulator, values and correction. */
interface RoundPlan {
  arena: Arena;
  groups: number;
  nrows: number;
  nvAll: number;
  counter: number;
  kPtr: number;
  tr: number;
  ti: number;
  twWork: number;
  clipWork: number;
  clipStride: number;
  kOut: number;
  kStride: number;
  sv: number;
  svStride: number;
  corr: number[];
  corrLength: number;
  inside: number;
  /** Whether the jobs clip through the Gram matrix where the core may ({@linkcode ClipJob}'s `gram`). */
  gram: boolean;
}

/** Frequencies of column v in the Hermitian half. */
function columnLength(h: number, w: number, v: number): number {
  return v === 0 || 2 * v === w ? Math.floor(h / 2) + 1 : h;
}

/**
 * Lays out a round of `groups` problems of one shape: the kernels, every
 * column's transform, and per column its own kernel accumulators, singular
 * values and (Dykstra) corrections, so the (column, group) jobs can run in any
 * order on any thread; `workers` scratch areas.
 */
function planRound(
  core: CoreExports,
  p: Problem,
  groups: number,
  dykstra: boolean,
  workers: number,
  gram: boolean,
): RoundPlan {
  const { cOut, cIn, kh, kw, h, w } = p;
  const nrows = groups * cOut * cIn * kh;
  const r = Math.min(cOut, cIn);
  const ld = core.lead_dim(Math.max(cOut, cIn));
  const nvAll = Math.floor(w / 2) + 1;
  const arena = new Arena(core);
  const counter = arena.bytes(16);
  const kPtr = arena.f64(nrows * kw);
  const tr = arena.f64(nrows * nvAll);
  const ti = arena.f64(nrows * nvAll);
  const twWork = arena.bytes(core.transform_w_work_bytes(nrows, kw, w, nvAll));
  const clipStride = Math.ceil(core.clip_column_work_bytes(cOut, cIn, kh) / 16) * 16;
  const clipWork = arena.bytes(clipStride * workers);
  const kStride = Math.ceil((nrows * kw * 8) / 16) * 16;
  const kOut = arena.bytes(kStride * nvAll);
  const svStride = Math.ceil((groups * h * r * 8) / 16) * 16;
  const sv = arena.bytes(svStride * nvAll);
  const corr: number[] = [];
  let corrLength = 0;
  for (let v = 0; v < nvAll; v++) {
    const n = dykstra ? groups * columnLength(h, w, v) * 2 * ld * r : 0;
    corr.push(arena.f64(n));
    corrLength += n;
  }
  const inside = arena.bytes(nvAll * groups * h);
  arena.commit(
    "clip the operator norm",
    `c_out ${cOut}, c_in ${cIn}, kernel ${kh}×${kw}, inputShape [${h}, ${w}]${groups > 1 ? `, ${groups} groups` : ""}`,
  );
  return {
    arena,
    groups,
    nrows,
    nvAll,
    counter,
    kPtr,
    tr,
    ti,
    twWork,
    clipWork,
    clipStride,
    kOut,
    kStride,
    sv,
    svStride,
    corr,
    corrLength,
    inside,
    gram,
  };
}

/**
 * Whether the screen may certify some frequency of a real problem's kernel
 * `re` below `c`: false when at every frequency of the Hermitian half some
 * column of A (P, or Pᵀ when c_out < c_in: the side the Gram matrix is taken
 * on) has a squared norm G_jj ≥ c² (≤ σ_max², the screen's first test, which
 * then leaves the frequency open). G_jj(u, v) = Σ_d C_j(d)·cos(ω·d) from each
 * column's tap autocorrelation C_j, O(m·n·taps·(2kh − 1)(2kw − 1)/2) in all,
 * against the 13 products PᴴP (3×3 taps) of the screen's Gram coefficients:
 * a fresh kernel clipped well inside its norm skips the screen, which would
 * certify nothing. An open verdict is always safe (the round then tests the
 * frequency itself), so the rounding of this test changes no result.
 */
export function mayCertify(
  p: { cOut: number; cIn: number; kh: number; kw: number; h: number; w: number },
  re: ArrayLike<number>,
  c: number,
): boolean {
  const { cOut, cIn, kh, kw, h, w } = p;
  const tall = cOut >= cIn;
  const n = tall ? cIn : cOut, m = tall ? cOut : cIn;
  const taps = kh * kw;
  // Half-plane offsets (da > 0, or da = 0 and db ≥ 0): C(−d) = C(d). Each offset's tap pairs, flattened.
  const offs: [number, number][] = [];
  for (let da = 0; da < kh; da++) for (let db = da === 0 ? 0 : 1 - kw; db < kw; db++) offs.push([da, db]);
  const nd = offs.length;
  const pa: number[] = [], pb: number[] = [], pq: number[] = [];
  offs.forEach(([da, db], q) => {
    for (let a = 0; a + da < kh; a++) {
      for (let b = Math.max(0, -db); b < kw && b + db < kw; b++) {
        pa.push(a * kw + b);
        pb.push((a + da) * kw + b + db);
        pq.push(q);
      }
    }
  });
  const ia = Int32Array.from(pa), ib = Int32Array.from(pb), iq = Int32Array.from(pq);
  const corr = new Float64Array(n * nd);
  const x = new Float64Array(taps);
  for (let j = 0; j < n; j++) {
    const cj = j * nd;
    for (let r = 0; r < m; r++) {
      const base = (tall ? r * cIn + j : j * cIn + r) * taps;
      for (let t = 0; t < taps; t++) x[t] = re[base + t];
      for (let z = 0; z < ia.length; z++) corr[cj + iq[z]] += x[ia[z]] * x[ib[z]];
    }
  }
  const c2 = c * c;
  const cosd = new Float64Array(nd);
  let jBest = 0;
  for (let v = 0; v <= w >> 1; v++) {
    for (let u = 0; u < columnLength(h, w, v); u++) {
      for (let q = 0; q < nd; q++) {
        const [da, db] = offs[q];
        cosd[q] = (q === 0 ? 1 : 2) * Math.cos(2 * Math.PI * ((u * da) / h + (v * db) / w));
      }
      // The column that reached c² at the last frequency first: it most often does again.
      let open = false;
      for (let t = 0; t < n && !open; t++) {
        const j = (jBest + t) % n;
        let g = 0;
        for (let q = 0; q < nd; q++) g += corr[j * nd + q] * cosd[q];
        if (g >= c2) {
          open = true;
          jBest = j;
        }
      }
      if (!open) return true;
    }
  }
  return false;
}

/**
 * For an alternating round: per (column, group) the flags of the column's
 * frequencies, 1 where the Gram-domain screen (src/_wasm/engine.ts
 * GramScreen) certifies σ_max < c for that group's kernel (`clip_column_f64`
 * then leaves P' = P without a test of its own), at (v·groups + g)·h; or
 * undefined where the screen does not serve the shape. It runs on the core
 * before the round lays out its memory (its own buffers are overwritten).
 */
function insideFlags(core: CoreExports, prob: Problem, groups: number, k: Float64Array, c: number) {
  if (!(c > 0) || !gramScreens(core, prob)) return undefined;
  const { cOut, cIn, kh, kw, h, w } = prob;
  const size = cOut * cIn * kh * kw;
  const nvAll = Math.floor(w / 2) + 1;
  const flags = new Uint8Array(nvAll * groups * h);
  for (let g = 0; g < groups; g++) {
    const re = k.subarray(g * size, (g + 1) * size);
    const e = scaleExponent(re);
    if (e === undefined || !mayCertify(prob, re, c)) continue;
    const screen = new GramScreen(core, { cOut, cIn, kh, kw, h, w, re }, e);
    const s = ldexp(c, -e);
    for (let v = 0; v < nvAll; v++) flags.set(screen.screen(v, 0, columnLength(h, w, v), s), (v * groups + g) * h);
  }
  return flags;
}

/** A round's (column, group) jobs, after writing the kernels (and corrections) and transforming every column. */
function roundJobs(
  p: RoundPlan,
  prob: Problem,
  k: Float64Array,
  c: number,
  corr: Float64Array | undefined,
  inside: Uint8Array | undefined,
): ClipJob[] {
  const { core } = p.arena;
  const { cOut, cIn, kh, kw, h, w } = prob;
  const mem = new Float64Array(core.memory.buffer);
  mem.set(k, p.kPtr / 8);
  if (inside) new Uint8Array(core.memory.buffer, p.inside, inside.length).set(inside);
  mem.fill(0, p.kOut / 8, (p.kOut + p.kStride * p.nvAll) / 8);
  if (corr) mem.set(corr, p.corr[0] / 8);
  core.transform_w_f64(p.kPtr, 0, p.nrows, kw, w, 0, p.nvAll, p.tr, p.ti, p.twWork);
  const rowsG = cOut * cIn * kh;
  const r = Math.min(cOut, cIn);
  const ld = core.lead_dim(Math.max(cOut, cIn));
  const jobs: ClipJob[] = [];
  for (let v = 0; v < p.nvAll; v++) {
    const nu = columnLength(h, w, v);
    for (let g = 0; g < p.groups; g++) {
      const off = (v * p.nrows + g * rowsG) * 8;
      jobs.push({
        tr: p.tr + off,
        ti: p.ti + off,
        cOut,
        cIn,
        kh,
        h,
        kw,
        w,
        v,
        nu,
        selfMirror: v === 0 || 2 * v === w ? 1 : 0,
        c,
        kOut: p.kOut + v * p.kStride + g * rowsG * kw * 8,
        kOutIm: 0,
        sv: p.sv + v * p.svStride + g * h * r * 8,
        corr: corr ? p.corr[v] + g * nu * 2 * ld * r * 8 : 0,
        inside: inside ? p.inside + (v * p.groups + g) * h : 0,
        gram: p.gram ? 1 : 0,
      });
    }
  }
  return jobs;
}

/**
 * Gathers a round: the new kernels are the sums of the columns' accumulators
 * in column order, the norm is the largest singular value seen, the
 * correction is copied back.
 */
function roundResult(p: RoundPlan, prob: Problem, bad: number, corr: Float64Array | undefined): RoundResult {
  const { cOut, cIn, kw, h, w } = prob;
  const r = Math.min(cOut, cIn);
  const mem = new Float64Array(p.arena.core.memory.buffer);
  const len = p.nrows * kw;
  const k = new Float64Array(len);
  let norm = 0;
  const failed: [number, number][] = [];
  for (let v = 0; v < p.nvAll; v++) {
    const base = (p.kOut + v * p.kStride) / 8;
    for (let i = 0; i < len; i++) k[i] += mem[base + i];
    for (let g = 0; g < p.groups; g++) {
      for (let u = 0; u < columnLength(h, w, v); u++) {
        const top = mem[(p.sv + v * p.svStride + g * h * r * 8) / 8 + u * r];
        if (bad > 0 && Number.isNaN(top) && !failed.some(([fu, fv]) => fu === u && fv === v)) failed.push([u, v]);
        if (top > norm) norm = top;
      }
    }
  }
  if (failed.length > 0) throw new ConvergenceError(failed);
  if (corr) corr.set(mem.subarray(p.corr[0] / 8, p.corr[0] / 8 + corr.length));
  return { k, norm };
}

/**
 * Rounds on the calling thread's core. `prob` is the shape every group's
 * problem shares; `groups` of them run as one round.
 */
export function wasmRounds(
  core: CoreExports,
  prob: Problem,
  groups: number,
  c: number,
  dykstra: boolean,
  gram: boolean,
): Rounds<false> {
  const p = planRound(core, prob, groups, dykstra, 1, gram);
  return {
    corrLength: p.corrLength,
    roughNorm: gram,
    round(k, corr) {
      const inside = corr ? undefined : insideFlags(core, prob, groups, k, c);
      // The plan's memory may have been used by a norm computation since: lay the round out again.
      p.arena.commit("clip the operator norm", "round");
      let bad = 0;
      for (const job of roundJobs(p, prob, k, c, corr, inside)) bad += clipColumn(core, job, p.clipWork);
      return roundResult(p, prob, bad, corr);
    },
  };
}

/** Rounds on the worker pool: each round lays out, runs and reads back its jobs with the pool to itself. */
export function poolRounds(
  pool: Pool,
  prob: Problem,
  groups: number,
  c: number,
  dykstra: boolean,
  gram: boolean,
  control: RunControl = {},
): Rounds<true> {
  const workers = Math.min(control.workers ?? pool.size, pool.size);
  const p = planRound(pool.core, prob, groups, dykstra, workers, gram);
  return {
    corrLength: p.corrLength,
    roughNorm: gram,
    round: (k, corr) =>
      withPool(pool, async () => {
        const inside = corr ? undefined : insideFlags(pool.core, prob, groups, k, c);
        p.arena.commit("clip the operator norm", "round");
        const jobs = roundJobs(p, prob, k, c, corr, inside);
        const bad = await runJobs(pool, {
          kind: JOB_KIND.clipF64,
          counter: p.counter,
          workBase: p.clipWork,
          workStride: p.clipStride,
          jobs,
          workers,
          signal: control.signal,
        });
        return roundResult(p, prob, bad, corr);
      }),
  };
}
