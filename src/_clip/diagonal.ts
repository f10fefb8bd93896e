/**
 * Layers whose frequency matrices are 1×1 per group (depthwise layers at
 * stride 1, 1-D or 2-D): the singular value of group g at frequency (u, v)
 * is |P_g(u, v)|, and a clipping round is the elementwise
 * `P·min(1, c/|P|)` followed by the inverse transform restricted to the
 * kernel's taps — the same round as the SVD path's (src/_clip/wasm.ts) with
 * no SVD. A round is one call into the core (`diag_clip_f64`,
 * assembly/diagonal.ts) on the calling thread: per group it costs a few
 * multiply-adds per frequency and tap, less than handing the work to the
 * pool. The norms go through the engine (`diagonalNorm`, src/_wasm/engine.ts).
 * @module
 */
import { Arena, type CoreExports } from "../_wasm/abi.ts";
import type { Problem } from "../_problem/problem.ts";
import type { Rounds } from "./loop.ts";

const SUBJECT = "clip the operator norm";

/** The sizes of a problem for a message. */
function context(p: Problem, groups: number): string {
  return `${groups} groups of 1×1, kernel ${p.kh}×${p.kw}, inputShape [${p.h}, ${p.w}]`;
}

/**
 * Clipping rounds of `groups` diagonal problems of one shape on the calling
 * thread's core; the kernels handed to a round are already scaled.
 */
export function diagRounds(
  core: CoreExports,
  prob: Problem,
  groups: number,
  c: number,
  dykstra: boolean,
): Rounds<false> {
  const { kh, kw, h, w } = prob;
  const n = groups * kh * kw;
  const arena = new Arena(core);
  const kIn = arena.f64(n);
  const kOut = arena.f64(n);
  const corrBytes = dykstra ? core.diag_corr_bytes(groups, h, w) : 0;
  const corrAt = arena.bytes(corrBytes);
  const work = arena.bytes(core.diag_work_bytes(kh, kw, h, w));
  arena.commit(SUBJECT, context(prob, groups));
  const corrLength = corrBytes / 8;
  return {
    corrLength,
    roughNorm: false,
    round(k, corr) {
      // Norms computed between rounds use the same memory: write the round's inputs again.
      arena.commit(SUBJECT, "round");
      arena.view(kIn, n).set(k);
      if (corr) arena.view(corrAt, corrLength).set(corr);
      const norm = core.diag_clip_f64(kIn, groups, kh, kw, h, w, c, kOut, corr ? corrAt : 0, work);
      if (corr) corr.set(arena.view(corrAt, corrLength));
      return { k: arena.view(kOut, n).slice(), norm };
    },
  };
}
