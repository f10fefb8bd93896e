/**
 * WGSL: the rebuild step of the clipping round. For a batch of matrices
 * after the Jacobi pass with `VECTORS` (jacobi.wgsl.ts: each column holds
 * `B = A·V` in rows `0..M` and `V` in rows `M..M + N`, column stride `LD`,
 * and `sv` the column norms σ_j of `B`), writes the part that clipping at `c`
 * removes:
 *
 *     ΔA = Σ_{j : σ_j > c} (1 − c/σ_j) · B_j · V_jᴴ       (M × N, column-major, stride M)
 *
 * so that the clipped matrix is `A − ΔA = U·min(Σ, c)·Vᴴ` (with `u_j = B_j/σ_j`,
 * `(σ_j − c)·u_j = (1 − c/σ_j)·B_j`). Only the clipped pairs enter, so a
 * matrix with nothing above `c` gives exactly zero, and columns with σ_j = 0
 * are never touched. A matrix that did not converge (σ_j = −1) gives zero
 * too; the host reports it.
 *
 * One invocation per entry of `ΔA` (row fastest: coalesced stores) in a
 * grid-stride loop; `N` complex multiply-adds each.
 *
 * Injected constants: `WG` (workgroup size), `M`, `N`, `LD` (u32).
 * @module
 */

/** The rebuild shader (entry point `main`). */
export const CLIP_WGSL = /* wgsl */ `
struct Params {
  count: u32,  // matrices in this batch
  stride: u32, // invocations in the dispatch
  c: f32,      // the clipping level (scaled as the kernel)
  pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec2f>;
@group(0) @binding(2) var<storage, read> sv: array<f32>;
@group(0) @binding(3) var<storage, read_write> delta: array<vec2f>;

const MN: u32 = M * N;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let total = params.count * MN;
  let c = params.c;
  for (var idx = gid.y * nwg.x * WG + gid.x; idx < total; idx += params.stride) {
    let f = idx / MN;
    let rem = idx % MN;
    let k = rem / M; // column of ΔA, row of V
    let r = rem % M; // row of ΔA and of B
    let base = f * LD * N;
    var acc = vec2f(0.0);
    for (var j = 0u; j < N; j++) {
      let s = sv[f * N + j];
      if (s > c) {
        let b = a[base + j * LD + r];
        let v = a[base + j * LD + M + k];
        // (1 − c/σ_j) · b · conj(v)
        acc += (1.0 - c / s) * vec2f(b.x * v.x + b.y * v.y, b.y * v.x - b.x * v.y);
      }
    }
    delta[idx] = acc;
  }
}
`;
