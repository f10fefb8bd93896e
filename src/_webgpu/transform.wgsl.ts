/**
 * WGSL: the frequency transform. For a batch of frequencies (u, v), writes
 *
 *     P(u, v)[o, i] = Σ_a exp(2πi·u·a/h) · Σ_b exp(2πi·v·b/w) · K[o, i, a, b]
 *
 * as an `M × N` column-major matrix of `vec2f` (re, im) per frequency (column
 * stride `LD ≥ M`, matrix stride `LD·N`: the clipping round leaves room for
 * `V` below each column), where
 * `M × N` is `c_out × c_in`, or its transpose when `c_out < c_in`
 * (`TRANSPOSED`), so that the Jacobi pass always has at most as many columns
 * as rows. The twiddles come from the CPU (computed in f64 with the phase
 * reduced exactly in integers, then rounded to f32): per frequency, `KH` row
 * factors `exp(2πi·u·a/h)` then `KW` column factors `exp(2πi·v·b/w)`.
 *
 * The kernel is bound one slice of output channels at a time (`o0`, `no`:
 * rows `o0 .. o0 + no` of the folded OIHW kernel, f32, interleaved re/im when
 * `COMPLEX`), so a kernel larger than one storage binding takes several
 * dispatches. Invocations run a grid-stride loop over the batch's
 * `batch · no · CIN` entries, the matrix row fastest (coalesced stores).
 *
 * Accuracy: `KH + KW` complex multiply-adds in f32 per entry; absolute error
 * a few `1e-7 · Σ_ab |K[o, i, a, b]|`.
 *
 * Injected constants: `WG` (workgroup size), `CIN`, `KH`, `KW`, `M`, `N`, `LD` (u32);
 * `COMPLEX`, `TRANSPOSED` (bool).
 * @module
 */

/** The transform shader (entry point `main`). */
export const TRANSFORM_WGSL = /* wgsl */ `
struct Params {
  batch: u32,  // frequencies in this batch
  o0: u32,     // first output channel of the bound kernel slice
  no: u32,     // output channels in the slice
  stride: u32, // invocations in the dispatch
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> kern: array<f32>;
@group(0) @binding(2) var<storage, read> tw: array<vec2f>;
@group(0) @binding(3) var<storage, read_write> a: array<vec2f>;

/** (xr + i·xi)(yr + i·yi) */
fn cmul(x: vec2f, y: vec2f) -> vec2f {
  return vec2f(x.x * y.x - x.y * y.y, x.x * y.y + x.y * y.x);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let per = params.no * CIN;
  let total = params.batch * per;
  for (var idx = gid.y * nwg.x * WG + gid.x; idx < total; idx += params.stride) {
    let f = idx / per;
    let rem = idx % per;
    var ol: u32;
    var i: u32;
    if (TRANSPOSED) {
      i = rem % CIN;
      ol = rem / CIN;
    } else {
      ol = rem % params.no;
      i = rem / params.no;
    }
    let kb = (ol * CIN + i) * KH * KW;
    let tb = f * (KH + KW);
    var acc = vec2f(0.0);
    for (var ka = 0u; ka < KH; ka++) {
      var row = vec2f(0.0);
      for (var kb2 = 0u; kb2 < KW; kb2++) {
        let k = kb + ka * KW + kb2;
        let t = tw[tb + KH + kb2];
        if (COMPLEX) {
          row += cmul(t, vec2f(kern[2u * k], kern[2u * k + 1u]));
        } else {
          row += t * kern[k];
        }
      }
      acc += cmul(tw[tb + ka], row);
    }
    let o = params.o0 + ol;
    var r = o;
    var c = i;
    if (TRANSPOSED) {
      r = i;
      c = o;
    }
    a[f * LD * N + c * LD + r] = acc;
  }
}
`;
