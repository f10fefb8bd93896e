/**
 * Clipping rounds of a layer whose kernel has more than one tap along a depth
 * grid of more than one frequency (3-D layers): its frequency matrices are
 * complex, one 2-D problem per depth frequency `t` (src/_problem/expand.ts).
 *
 * A round, per group, per depth frequency `t ≤ d'/2`: the 2-D kernel `K_t`
 * (complex) is transformed along the width, then each column `v` goes through
 * the core's `clip_column_c64` (assembly/svd.ts): for every `u` the matrix
 * `P(u, v)`, its SVD, `P' = U·min(Σ, c)·Vᴴ`, and the column's share of the
 * inverse 2-D transform restricted to the kernel's taps, which sums to the
 * complex clipped kernel `K'_t` (a real `t`'s kernel is real: its Hermitian
 * half of columns goes through `clip_column_f64`). The depth frequencies combine by the inverse
 * DFT along depth restricted to the depth taps (the mirror `d' − t` is the
 * conjugate, so `K = (1/d')·Σ_t w_t·Re(K'_t·e^{−2πi·t·c/d'})` with `w_t` 1 for
 * the real frequencies and 2 for the others): the orthogonal projection of
 * the clipped operator onto the kernels of that support, as for the real
 * problems. Dykstra's correction is kept per frequency, as the core lays it
 * out for a column.
 *
 * On the worker pool the columns of one depth frequency run as a block of
 * jobs, each adding into its own accumulator; the accumulators are summed in
 * column order, which is what the calling thread's columns do in place, so
 * the result is the same bits on any number of threads.
 * @module
 */
import { Arena, clipColumn as clipColumnOn, type ClipJob, type CoreExports, JOB_KIND } from "../_wasm/abi.ts";
import { depthKernel, twiddle } from "../_problem/expand.ts";
import type { Problem } from "../_problem/problem.ts";
import { type Pool, runJobs, withPool } from "../_threads/pool.ts";
import type { RunControl } from "../_wasm/engine.ts";
import { ConvergenceError } from "../errors.ts";
import type { RoundResult, Rounds } from "./loop.ts";

/** The shape of a layer's depth problems: each group's K' is `cOut × cIn × kd × kh × kw` on `d × h × w`. */
export interface DepthShape {
  groups: number;
  cOut: number;
  cIn: number;
  kd: number;
  kh: number;
  kw: number;
  d: number;
  h: number;
  w: number;
}

/** The problems (one per depth frequency `t ≤ d/2`, groups as diagonal blocks) of the groups' K', for a norm. */
export function depthProblems(shape: DepthShape, k: Float64Array): Problem[] {
  const { groups, cOut, cIn, kd, kh, kw, d, h, w } = shape;
  const rows = cOut * cIn, plane = kh * kw, len = rows * kd * plane;
  const problems: Problem[] = [];
  for (let t = 0; t <= Math.floor(d / 2); t++) {
    const real = t === 0 || 2 * t === d;
    const re = new Float64Array(groups * rows * plane);
    const im = real ? undefined : new Float64Array(groups * rows * plane);
    for (let g = 0; g < groups; g++) {
      const kt = depthKernel(k.subarray(g * len, (g + 1) * len), rows, kd, plane, t, d, real);
      re.set(kt.re, g * rows * plane);
      if (im && kt.im) im.set(kt.im, g * rows * plane);
    }
    problems.push({ cOut, cIn, kh, kw, h, w, re, ...(im ? { im } : {}), ...(groups > 1 ? { groups } : {}) });
  }
  return problems;
}

/** Bytes of column accumulators a pooled round may hold at once (each column of a depth frequency needs one). */
const SLOT_BYTES = 64 * 2 ** 20;

/** The memory of a layer's depth rounds: one (group, depth frequency) at a time, its columns in blocks of `slots`. */
interface DepthPlan {
  arena: Arena;
  shape: DepthShape;
  context: string;
  nrows: number;
  r: number;
  corrPer: number;
  depths: number;
  kr: number;
  ki: number;
  tr: number;
  ti: number;
  twWork: number;
  /** K'_t of the current (group, depth frequency), re and im. */
  outR: number;
  outI: number;
  /** Columns per block; 0 on the calling thread, whose columns add into outR/outI in place. */
  slots: number;
  slotR: number;
  slotStride: number;
  sv: number;
  svStride: number;
  clipWork: number;
  clipStride: number;
  corrAt: number;
  /** Dykstra's correction of the whole layer (groups × depth frequencies × columns), 0 without. */
  corrLength: number;
  counter: number;
  depthTw: [number, number][][];
}

function planDepth(core: CoreExports, shape: DepthShape, dykstra: boolean, workers: number): DepthPlan {
  const { cOut, cIn, kd, kh, kw, d, h, w } = shape;
  const rows = cOut * cIn;
  const r = Math.min(cOut, cIn), ld = core.lead_dim(Math.max(cOut, cIn));
  const nrows = rows * kh;
  const depths = Math.floor(d / 2) + 1;
  // Dykstra's correction, per group, depth frequency and column v: h frequencies of an ld × r complex block.
  const corrPer = h * 2 * ld * r;
  const slotStride = Math.ceil((nrows * kw * 8) / 16) * 16;
  const slots = workers === 0 ? 0 : Math.max(workers, Math.min(w, Math.floor(SLOT_BYTES / (2 * slotStride))));
  const arena = new Arena(core);
  const counter = arena.bytes(16);
  const kr = arena.f64(nrows * kw);
  const ki = arena.f64(nrows * kw);
  const tr = arena.f64(nrows * w);
  const ti = arena.f64(nrows * w);
  const twWork = arena.bytes(core.transform_w_work_bytes(nrows, kw, w, w));
  const outR = arena.f64(nrows * kw);
  const outI = arena.f64(nrows * kw);
  const slotR = arena.bytes(2 * slotStride * slots);
  const svStride = Math.ceil((h * r * 8) / 16) * 16;
  const sv = arena.bytes(svStride * Math.max(1, slots));
  const clipStride = Math.ceil(core.clip_column_work_bytes(cOut, cIn, kh) / 16) * 16;
  const clipWork = arena.bytes(clipStride * Math.max(1, workers));
  const corrAt = arena.f64(dykstra ? w * corrPer : 0);
  const context = `c_out ${cOut}, c_in ${cIn}, kernel ${kd}×${kh}×${kw}, grid [${d}, ${h}, ${w}]`;
  arena.commit("clip the operator norm", context);
  // exp(−2πi·t·c/d) for the depth taps c < kd of each depth frequency t, from exact twiddles.
  const depthTw = Array.from(
    { length: depths },
    (_, t) => Array.from({ length: kd }, (_, cd) => twiddle((t * cd) % d, d)),
  );
  return {
    arena,
    shape,
    context,
    nrows,
    r,
    corrPer,
    depths,
    kr,
    ki,
    tr,
    ti,
    twWork,
    outR,
    outI,
    slots,
    slotR,
    slotStride,
    sv,
    svStride,
    clipWork,
    clipStride,
    corrAt,
    corrLength: dykstra ? shape.groups * depths * w * corrPer : 0,
    counter,
    depthTw,
  };
}

/**
 * One round (see the module doc) as steps: it yields each block of column
 * jobs and is resumed with the count of their frequencies that did not
 * converge; it returns the round's kernel and largest value.
 */
function* roundSteps(
  p: DepthPlan,
  k: Float64Array,
  corr: Float64Array | undefined,
  c: number,
  gram: boolean,
): Generator<ClipJob[], RoundResult, number> {
  const { arena, nrows, r, corrPer, depths } = p;
  const { groups, cOut, cIn, kd, kh, kw, d, h, w } = p.shape;
  const rows = cOut * cIn, plane = kh * kw, len = rows * kd * plane, n = nrows * kw;
  const pooled = p.slots > 0;
  const out = new Float64Array(k.length);
  let norm = 0;
  const failed: [number, number][] = [];
  for (let g = 0; g < groups; g++) {
    const kq = k.subarray(g * len, (g + 1) * len);
    for (let t = 0; t < depths; t++) {
      const real = t === 0 || 2 * t === d;
      const kt = depthKernel(kq, rows, kd, plane, t, d, real);
      // The kernel's rows (o, i, a) of kw taps, as transform_w_f64 reads them.
      arena.view(p.kr, n).set(kt.re);
      if (kt.im) arena.view(p.ki, n).set(kt.im);
      else arena.view(p.ki, n).fill(0);
      arena.view(p.outR, n).fill(0);
      arena.view(p.outI, n).fill(0);
      const corrBase = ((g * depths + t) * w) * corrPer;
      if (corr) arena.view(p.corrAt, w * corrPer).set(corr.subarray(corrBase, corrBase + w * corrPer));
      arena.core.transform_w_f64(p.kr, p.ki, nrows, kw, w, 0, w, p.tr, p.ti, p.twWork);
      // A real depth frequency's kernel is real: its Hermitian half of columns (u paired with h − u) suffices.
      const columns = real ? Math.floor(w / 2) + 1 : w;
      const block = pooled ? p.slots : 1;
      for (let v0 = 0; v0 < columns; v0 += block) {
        const count = Math.min(block, columns - v0);
        if (pooled) arena.view(p.slotR, (2 * p.slotStride * count) / 8).fill(0);
        const jobs: ClipJob[] = [];
        for (let i = 0; i < count; i++) {
          const v = v0 + i;
          const mirror = v === 0 || 2 * v === w;
          const slotR = pooled ? p.slotR + 2 * i * p.slotStride : p.outR;
          const slotI = pooled ? slotR + p.slotStride : p.outI;
          jobs.push({
            tr: p.tr + v * nrows * 8,
            ti: p.ti + v * nrows * 8,
            cOut,
            cIn,
            kh,
            h,
            kw,
            w,
            v,
            nu: real && mirror ? Math.floor(h / 2) + 1 : h,
            selfMirror: mirror ? 1 : 0,
            c,
            kOut: slotR,
            kOutIm: real ? 0 : slotI,
            inside: 0,
            gram: gram ? 1 : 0,
            sv: p.sv + i * p.svStride,
            corr: corr ? p.corrAt + v * corrPer * 8 : 0,
          });
        }
        const bad = yield jobs;
        const sumR = arena.view(p.outR, n), sumI = arena.view(p.outI, n);
        jobs.forEach((job, i) => {
          const values = arena.view(p.sv + i * p.svStride, job.nu * r);
          for (let u = 0; u < job.nu; u++) {
            const top = values[u * r];
            if (bad > 0 && Number.isNaN(top)) failed.push([u, job.v]);
            if (top > norm) norm = top;
          }
          if (pooled) {
            // The columns' shares in column order, as the calling thread adds them in place.
            const addR = arena.view(job.kOut, n);
            for (let j = 0; j < n; j++) sumR[j] += addR[j];
            if (job.kOutIm !== 0) {
              const addI = arena.view(job.kOutIm, n);
              for (let j = 0; j < n; j++) sumI[j] += addI[j];
            }
          }
        });
      }
      if (corr) corr.set(arena.view(p.corrAt, w * corrPer), corrBase);
      // Back along depth: K[c] += (w_t/d)·Re(K'_t·e^{−2πi·t·c/d}).
      const wt = (real ? 1 : 2) / d;
      const kR = arena.view(p.outR, n), kI = arena.view(p.outI, n);
      for (let cd = 0; cd < kd; cd++) {
        const [er, ei] = p.depthTw[t][cd];
        for (let row = 0; row < rows; row++) {
          const dst = g * len + (row * kd + cd) * plane, src = row * plane;
          // Re((kR + i·kI)·(er − i·ei)) = kR·er + kI·ei
          for (let j = 0; j < plane; j++) out[dst + j] += wt * (kR[src + j] * er + kI[src + j] * ei);
        }
      }
    }
  }
  if (failed.length > 0) throw new ConvergenceError(failed);
  return { k: out, norm };
}

/** Rounds on the calling thread's core (see the module doc). */
export function depthRounds(
  core: CoreExports,
  shape: DepthShape,
  c: number,
  dykstra: boolean,
  gram: boolean,
): Rounds<false> {
  const p = planDepth(core, shape, dykstra, 0);
  return {
    corrLength: p.corrLength,
    roughNorm: gram,
    round(k, corr) {
      // Norms computed between rounds use the same memory: lay the round out again.
      p.arena.commit("clip the operator norm", p.context);
      const steps = roundSteps(p, k, corr, c, gram);
      let step = steps.next();
      while (!step.done) {
        let bad = 0;
        for (const job of step.value) bad += clipColumnOn(core, job, p.clipWork);
        step = steps.next(bad);
      }
      return step.value;
    },
  };
}

/** Rounds on the worker pool: each depth frequency's columns are a block of jobs, the pool held for the round. */
export function depthPoolRounds(
  pool: Pool,
  shape: DepthShape,
  c: number,
  dykstra: boolean,
  gram: boolean,
  control: RunControl = {},
): Rounds<true> {
  const workers = Math.min(control.workers ?? pool.size, pool.size);
  const p = planDepth(pool.core, shape, dykstra, workers);
  return {
    corrLength: p.corrLength,
    roughNorm: gram,
    round: (k, corr) =>
      withPool(pool, async () => {
        p.arena.commit("clip the operator norm", p.context);
        const steps = roundSteps(p, k, corr, c, gram);
        let step = steps.next();
        while (!step.done) {
          const bad = await runJobs(pool, {
            kind: JOB_KIND.clipF64,
            counter: p.counter,
            workBase: p.clipWork,
            workStride: p.clipStride,
            jobs: step.value,
            workers,
            signal: control.signal,
          });
          step = steps.next(bad);
        }
        return step.value;
      }),
  };
}
