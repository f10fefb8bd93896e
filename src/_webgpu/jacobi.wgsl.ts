/**
 * WGSL: singular values of a batch of complex `M × N` matrices (`N ≤ M`,
 * column-major `vec2f`, column stride `LD`) by one-sided Jacobi (Hestenes),
 * one workgroup per `F` matrices; with `VECTORS`, also the right singular
 * vectors.
 *
 * Why this SVD on a GPU:
 * - The Gram matrix `PᴴP` with a Hermitian eigensolver would square the
 *   condition number: in f32 every singular value below about
 *   `3e-4·σ_max` (√eps) would be lost in rounding. One-sided Jacobi works on
 *   `P` itself: absolute error `O(eps·σ_max)` per value, and better (relative
 *   accuracy) for well-scaled columns.
 * - Its work is uniform and data-parallel: a step rotates `N/2` disjoint
 *   column pairs at once (round-robin "circle" ordering, `N − 1` steps per
 *   sweep), each pair reduced by `L` lanes over the rows; no pivoting, no
 *   data-dependent control flow across the workgroup except the sweep loop.
 *   Householder bidiagonalisation + implicit QR would serialise on one
 *   reflector at a time and on the bidiagonal chase.
 * - It needs no more memory than the matrix: `F·M·N·8` bytes of workgroup
 *   memory when they fit (`SHARED`), else the matrix is rotated in place in
 *   the storage buffer (large `c`, e.g. 512), with storage barriers.
 *
 * A pair (p, q) with `α = ‖a_p‖²`, `β = ‖a_q‖²`, `γ = a_pᴴa_q = |γ|·e^{iφ}` is
 * rotated when `|γ| > TOL·√α·√β` (LAPACK `sgesvj`'s test; the host sets
 * `TOL = √M·2⁻²³`) and both columns are above `TINY` (the host scales the kernel
 * so that its largest entry is in [0.5, 1), so `TINY` only skips columns that
 * are zero to f32 accuracy):
 *
 *     ζ = (β − α) / (2|γ|),  t = sign(ζ) / (|ζ| + √(1 + ζ²)),  c = 1/√(1 + t²),  s = t·c
 *     a_p ← c·a_p − s·e^{−iφ}·a_q,    a_q ← s·e^{iφ}·a_p + c·a_q
 *
 * which makes the pair orthogonal. It is applied in Rutishauser's form
 * `a_p ← a_p − s·(e^{−iφ}a_q + τ·a_p)`, `a_q ← a_q + s·(e^{iφ}a_p − τ·a_q)`
 * with `τ = s/(1 + c)`: the pair's norm is then kept to second order in the
 * rounding of `c` and `s` (with `c` and `s` used directly, an f32 `sqrt` a
 * few ulp off made the norms drift by 5e-6 over a run on llvmpipe).
 *
 * A sweep visits every pair once (`NP − 1` steps); a matrix is done after a
 * sweep with no rotation, and skipped from then on. The singular values are
 * then the column norms (compensated sums), unsorted. A matrix still rotating
 * after `MAX_SWEEPS` sweeps gets −1 in every slot (the host turns that into
 * NaN and a `ConvergenceError`). Typical sweeps: 5–8 for N ≤ 64.
 *
 * Dispatches: each one runs global steps `step0 .. step0 + steps` (global
 * step = sweep·(NP − 1) + step) and keeps each matrix's progress in `state`
 * (bit 0: done, bit 1: rotated in the current sweep), so the host may run all
 * sweeps in one dispatch (real GPUs) or cut them into chunks. Chunks exist for
 * llvmpipe, which silently ends every loop of a shader invocation once their
 * iterations add up to 65535 (`LP_MAX_TGSI_LOOP_ITERATIONS`, shared between
 * all loops of the invocation): the host sizes the chunks below that. The
 * dispatch with `last` set writes the column norms to `sv`. Every live pair
 * stores its columns (the identity when it is not rotated), so no store sits
 * under a data-dependent branch.
 *
 * Right singular vectors (`VECTORS`, for the clipping round): each column
 * has `LD = M + N` rows, the matrix in rows `0..M` and `V` (`N × N`) in rows
 * `M..M + N`. The first dispatch (`step0 = 0`) sets `V = I`; every rotation
 * is applied to the whole column (`A·V` and `V` turn together) while the
 * dot products and the norms use the first `M` rows only. At the end the
 * first `M` rows hold `B = A·V` (orthogonal columns, norms σ_j) and the last
 * `N` rows hold `V`, so `A = B·Vᴴ`; the last dispatch also stores shared
 * matrices back to the storage buffer for the rebuild pass (clip.wgsl.ts).
 * Without `VECTORS`, `LD = M` and the shader is the values-only one, line
 * for line (the constant folds away).
 *
 * Accuracy (f32, eps = 2⁻²⁴ ≈ 6e-8): each rotation is orthogonal to a few
 * eps, so each value has absolute error about `eps·σ_max·√(sweeps·N)`; the
 * tests see at most a few 1e-7·σ_max for N ≤ 64 (bound asserted: 1e-4·σ_max).
 *
 * Injected constants (u32 unless noted): `WG` (workgroup size), `L` (lanes per
 * pair, a power of two dividing WG), `M`, `N`, `LD` (rows stored per column:
 * `M`, or `M + N` with `VECTORS`), `NP` (N rounded up to even: an odd N gets
 * a phantom zero column), `F` (matrices per workgroup), `SH_LEN` (`F·LD·N`
 * when SHARED, else 1), `SHARED`, `VECTORS` (bool), `TOL` (f32).
 * @module
 */

/** The Jacobi shader (entry point `main`). */
export const JACOBI_WGSL = /* wgsl */ `
const HALF: u32 = NP / 2u;     // pairs per step and matrix
const G: u32 = WG / L;         // pairs in flight per workgroup
const TASKS: u32 = F * HALF;   // (matrix, pair) tasks per step
const ITERS: u32 = (TASKS + G - 1u) / G;
const MN: u32 = LD * N;       // stride between matrices
const TINY: f32 = 1e-30;
const DONE: u32 = 1u;
const ROTATED: u32 = 2u;

struct Batch {
  count: u32,   // matrices in this batch
  groupsX: u32, // x size of the dispatch grid
}

struct Chunk {
  step0: u32,   // first global step of this dispatch
  steps: u32,   // global steps in this dispatch
  last: u32,    // 1: write the singular values
}

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> chunk: Chunk;
@group(0) @binding(2) var<storage, read_write> a: array<vec2f>;
@group(0) @binding(3) var<storage, read_write> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> sv: array<f32>;

var<workgroup> sh: array<vec2f, SH_LEN>;
var<workgroup> part: array<vec4f, WG>;
var<workgroup> rot: array<atomic<u32>, F>;
var<workgroup> done: array<u32, F>;
var<workgroup> flag: u32;
var<private> gbase: u32;

fn ld(i: u32) -> vec2f {
  if (SHARED) {
    return sh[i];
  }
  return a[gbase + i];
}

fn st(i: u32, x: vec2f) {
  if (SHARED) {
    sh[i] = x;
  } else {
    a[gbase + i] = x;
  }
}

fn sync() {
  workgroupBarrier();
  if (!SHARED) {
    storageBarrier();
  }
}

/** 1 when every matrix of the workgroup is done (uniform across the workgroup). */
fn allDone() -> u32 {
  if (lid0) {
    var d = 1u;
    for (var f = 0u; f < F; f++) {
      d &= done[f];
    }
    flag = d;
  }
  return workgroupUniformLoad(&flag);
}

var<private> lid0: bool;

/** Pair k of step s in the circle ordering of NP columns: column NP−1 stays, the others turn. */
fn pairOf(s: u32, k: u32) -> vec2u {
  if (k == 0u) {
    return vec2u(NP - 1u, s);
  }
  return vec2u((s + k) % (NP - 1u), (s + NP - 1u - k) % (NP - 1u));
}

struct Task {
  live: bool, // a real pair of a matrix that is not done
  fl: u32,    // matrix within the workgroup
  bp: u32,    // offsets of its columns p and q
  bq: u32,
}

/** Task t of step s: matrix t / HALF, pair t % HALF. */
fn taskOf(s: u32, t: u32) -> Task {
  let fl = min(t / HALF, F - 1u);
  let pq = pairOf(s, t % HALF);
  let live = t < TASKS && done[fl] == 0u && pq.x < N && pq.y < N;
  return Task(live, fl, fl * MN + pq.x * LD, fl * MN + pq.y * LD);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let f0 = (wid.y * batch.groupsX + wid.x) * F;
  if (f0 >= batch.count) {
    return;
  }
  let nf = min(F, batch.count - f0);
  let last = chunk.last != 0u;
  gbase = f0 * MN;
  lid0 = lid == 0u;
  if (lid < F) {
    var s = DONE; // missing matrices count as done
    if (lid < nf) {
      s = state[f0 + lid];
    }
    done[lid] = s & DONE;
    atomicStore(&rot[lid], s & ROTATED);
  }
  workgroupBarrier();
  let finished = allDone() != 0u;
  if (finished && !last) {
    return;
  }
  if (SHARED) {
    for (var i = lid; i < nf * MN; i += WG) {
      sh[i] = a[gbase + i];
    }
  }
  sync();
  if (VECTORS && chunk.step0 == 0u) {
    // V = I below each matrix
    for (var i = lid; i < nf * N * N; i += WG) {
      let j = (i / N) % N;
      let r = i % N;
      var x = vec2f(0.0);
      if (j == r) {
        x = vec2f(1.0, 0.0);
      }
      st((i / (N * N)) * MN + j * LD + M + r, x);
    }
    sync();
  }
  let g = lid / L;
  let lane = lid % L;
  if (!finished) {
    for (var gs = chunk.step0; gs < chunk.step0 + chunk.steps; gs++) {
      let step = gs % (NP - 1u);
      for (var it = 0u; it < ITERS; it++) {
        // (α, β, Re γ, Im γ) over this lane's rows
        var acc = vec4f(0.0);
        let k0 = taskOf(step, it * G + g);
        if (k0.live) {
          for (var r = lane; r < M; r += L) {
            let x = ld(k0.bp + r);
            let y = ld(k0.bq + r);
            acc += vec4f(dot(x, x), dot(y, y), dot(x, y), x.x * y.y - x.y * y.x);
          }
        }
        part[lid] = acc;
        sync();
        let k = taskOf(step, it * G + g);
        if (k.live) {
          var s = vec4f(0.0);
          for (var j = 0u; j < L; j++) {
            s += part[g * L + j];
          }
          let gabs = length(s.zw);
          var sn = 0.0;
          var tau = 0.0;
          var e = vec2f(1.0, 0.0);
          if (min(s.x, s.y) > TINY && gabs > TOL * sqrt(s.x) * sqrt(s.y)) {
            let zeta = (s.y - s.x) / (2.0 * gabs);
            let az = abs(zeta);
            // t = 1 / (|ζ| + √(1 + ζ²)) without overflow for large |ζ|
            var tt: f32;
            if (az > 1.0) {
              let iz = 1.0 / az;
              tt = iz / (1.0 + sqrt(1.0 + iz * iz));
            } else {
              tt = 1.0 / (az + sqrt(1.0 + az * az));
            }
            if (zeta < 0.0) {
              tt = -tt;
            }
            let c = 1.0 / sqrt(1.0 + tt * tt);
            sn = tt * c;
            tau = sn / (1.0 + c);
            e = s.zw / gabs; // e^{iφ}
            if (lane == 0u) {
              atomicStore(&rot[k.fl], ROTATED);
            }
          }
          for (var r = lane; r < LD; r += L) {
            let x = ld(k.bp + r);
            let y = ld(k.bq + r);
            let ey = vec2f(e.x * y.x + e.y * y.y, e.x * y.y - e.y * y.x); // e^{−iφ}·y
            let ex = vec2f(e.x * x.x - e.y * x.y, e.x * x.y + e.y * x.x); // e^{iφ}·x
            st(k.bp + r, x - sn * (ey + tau * x));
            st(k.bq + r, y + sn * (ex - tau * y));
          }
        }
        sync();
      }
      if (step == NP - 2u) {
        // end of a sweep: a matrix with no rotation in it is done
        if (lid < F) {
          if (atomicLoad(&rot[lid]) == 0u) {
            done[lid] = DONE;
          }
          atomicStore(&rot[lid], 0u);
        }
        workgroupBarrier();
        if (allDone() != 0u) {
          break;
        }
      }
    }
  }
  if (lid < nf) {
    state[f0 + lid] = done[lid] | atomicLoad(&rot[lid]);
  }
  if (SHARED && (!last || VECTORS)) {
    for (var i = lid; i < nf * MN; i += WG) {
      a[gbase + i] = sh[i];
    }
  }
  if (!last) {
    return;
  }
  for (var i = lid; i < nf * N; i += WG) {
    let fl = i / N;
    let j = i % N;
    let base = fl * MN + j * LD;
    // Kahan-compensated sum of squares
    var sum = 0.0;
    var comp = 0.0;
    for (var r = 0u; r < M; r++) {
      let x = ld(base + r);
      let y = dot(x, x) - comp;
      let t = sum + y;
      comp = (t - sum) - y;
      sum = t;
    }
    var value = sqrt(sum);
    if (done[fl] == 0u) {
      value = -1.0;
    }
    sv[(f0 + fl) * N + j] = value;
  }
}
`;
