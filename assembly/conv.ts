// Direct real convolution (a layer and its adjoint) on f64, channel-major,
// generic over three spatial axes (1-D and 2-D layers pass unit axes).
//
// The input is first copied into a padded, polyphase buffer XP: per input
// channel, rows over the padded positions (u0, u1) of the first two axes, and
// along the last axis the padded positions u2 = m·s2 + p split by phase p.
// A read u2 = z·s2 + d2·b of output z then lies at phase (d2·b mod s2),
// m = z + ⌊d2·b / s2⌋: contiguous in z whatever the stride, so the hot loops
// run f64x2 lanes along the output's last axis, PB outputs per block, with no
// bounds tests (padding is real zeros or wrapped copies in XP).

/** Output positions per micro-kernel block along the last axis (two f64x2). */
const PB: i32 = 4;
/** Output (forward) or input (adjoint) channels per micro-kernel block. */
const CB: i32 = 4;
/** Largest work area (bytes) a plan may ask for: wasm32's 4 GiB less one page. */
const MAX_BYTES: f64 = 4294901760.0;

// The plan of the last geometry read (plan()). Module state: the kernels below
// set it on entry and use it until they return; it outlives no call.
let cIn: i32 = 0;
let cOut: i32 = 0;
let groups: i32 = 0;
let cInG: i32 = 0;
let cOutG: i32 = 0;
let circular: bool = false;
let n0: i32 = 0;
let n1: i32 = 0;
let n2: i32 = 0;
let o0: i32 = 0;
let o1: i32 = 0;
let o2: i32 = 0;
let k0: i32 = 0;
let k1: i32 = 0;
let k2: i32 = 0;
let s0: i32 = 0;
let s1: i32 = 0;
let s2: i32 = 0;
let d0: i32 = 0;
let d1: i32 = 0;
let d2: i32 = 0;
let b0: i32 = 0;
let b1: i32 = 0;
let b2: i32 = 0;
/** Padded extents of the first two axes: (o − 1)·s + d·(k − 1) + 1. */
let l0: i32 = 0;
let l1: i32 = 0;
/** Positions per phase of the last axis (covers the last block's overrun). */
let mw: i32 = 0;
/** Doubles per XP row: s2·mw. */
let rowLen: i32 = 0;
/** Output row length in YP: o2 rounded up to PB. */
let ow: i32 = 0;
/** Taps per output: k0·k1·k2. */
let taps: i32 = 0;
/** Channel strides of XP and YP in bytes (an odd number of 64-byte lines). */
let cx: usize = 0;
let cy: usize = 0;
/** Offsets in the work area. */
let pMap0: usize = 0;
let pMap1: usize = 0;
let pMap2: usize = 0;
let pTab: usize = 0;
let pW: usize = 0;
let pX: usize = 0;
let pY: usize = 0;
/** Bytes of work the plan needs (−1 when the geometry is invalid or too large). */
let workBytes: f64 = 0.0;

/** Rounds bytes up to a multiple of 64. */
// @ts-ignore: decorator
@inline
function lines(x: f64): f64 {
  return Math.ceil(x / 64.0) * 64.0;
}

/**
 * A channel stride: a whole, odd number of 64-byte lines, so that the same
 * position of successive channels falls in different cache sets (a stride
 * that is a multiple of 4 KiB made every channel collide).
 */
// @ts-ignore: decorator
@inline
function oddLines(x: f64): f64 {
  const l = Math.ceil(x / 64.0);
  return (l % 2.0 == 0.0 ? l + 1.0 : l) * 64.0;
}

/** Reads the geometry at `geom` and lays out the work area; returns false when it is invalid. */
function plan(geom: usize): bool {
  workBytes = -1.0;
  cIn = load<i32>(geom);
  cOut = load<i32>(geom, 4);
  groups = load<i32>(geom, 8);
  const circ = load<i32>(geom, 12);
  n0 = load<i32>(geom, 16);
  o0 = load<i32>(geom, 20);
  k0 = load<i32>(geom, 24);
  s0 = load<i32>(geom, 28);
  d0 = load<i32>(geom, 32);
  b0 = load<i32>(geom, 36);
  n1 = load<i32>(geom, 40);
  o1 = load<i32>(geom, 44);
  k1 = load<i32>(geom, 48);
  s1 = load<i32>(geom, 52);
  d1 = load<i32>(geom, 56);
  b1 = load<i32>(geom, 60);
  n2 = load<i32>(geom, 64);
  o2 = load<i32>(geom, 68);
  k2 = load<i32>(geom, 72);
  s2 = load<i32>(geom, 76);
  d2 = load<i32>(geom, 80);
  b2 = load<i32>(geom, 84);
  if (cIn < 1 || cOut < 1 || groups < 1 || cIn % groups != 0 || cOut % groups != 0) return false;
  if (circ != 0 && circ != 1) return false;
  if (min(min(n0, n1), n2) < 1 || min(min(o0, o1), o2) < 1 || min(min(k0, k1), k2) < 1) return false;
  if (min(min(s0, s1), s2) < 1 || min(min(d0, d1), d2) < 1) return false;
  circular = circ == 1;
  cInG = cIn / groups;
  cOutG = cOut / groups;
  // Extents in f64 first: every product below stays exact and is checked before any i32 is formed.
  const e0 = <f64>(o0 - 1) * <f64>s0 + <f64>d0 * <f64>(k0 - 1) + 1.0;
  const e1 = <f64>(o1 - 1) * <f64>s1 + <f64>d1 * <f64>(k1 - 1) + 1.0;
  const ow64 = Math.ceil(<f64>o2 / <f64>PB) * <f64>PB;
  const mw64 = ow64 + Math.floor(<f64>d2 * <f64>(k2 - 1) / <f64>s2);
  const row64 = <f64>s2 * mw64;
  const taps64 = <f64>k0 * <f64>k1 * <f64>k2;
  const cx64 = oddLines(e0 * e1 * row64 * 8.0);
  const cy64 = oddLines(<f64>o0 * <f64>o1 * ow64 * 8.0);
  const map64 = lines((e0 + e1 + row64) * 4.0);
  const tab64 = lines(taps64 * 4.0);
  const w64 = lines(<f64>cOut * <f64>cInG * taps64 * 8.0);
  const total = map64 + tab64 + w64 + <f64>cIn * cx64 + <f64>cOut * cy64;
  if (!(total <= MAX_BYTES) || e0 > 2.0e9 || e1 > 2.0e9 || row64 > 2.0e9 || taps64 > 2.0e9) return false;
  l0 = <i32>e0;
  l1 = <i32>e1;
  ow = <i32>ow64;
  mw = <i32>mw64;
  rowLen = <i32>row64;
  taps = <i32>taps64;
  cx = <usize>cx64;
  cy = <usize>cy64;
  pMap0 = 0;
  pMap1 = pMap0 + (<usize>l0 << 2);
  pMap2 = pMap1 + (<usize>l1 << 2);
  pTab = <usize>map64;
  pW = pTab + <usize>tab64;
  pX = pW + <usize>w64;
  pY = pX + <usize>cIn * cx;
  workBytes = total;
  return true;
}

/**
 * The input index read at padded position u of an axis (n inputs, origin b),
 * or −1 where the padding holds a zero; positions at or past `extent` are
 * never read by a kept output and hold zeros.
 */
// @ts-ignore: decorator
@inline
function source(u: i32, n: i32, b: i32, extent: i32): i32 {
  if (u >= extent) return -1;
  const r = u - b;
  if (circular) {
    const q = r % n;
    return q < 0 ? q + n : q;
  }
  return r >= 0 && r < n ? r : -1;
}

/** Fills the three per-axis tables of source() in the work area (the last axis by XP slot p·mw + m). */
function fillMaps(work: usize): void {
  for (let u = 0; u < l0; u++) store<i32>(work + pMap0 + (<usize>u << 2), source(u, n0, b0, l0));
  for (let u = 0; u < l1; u++) store<i32>(work + pMap1 + (<usize>u << 2), source(u, n1, b1, l1));
  const e2 = (o2 - 1) * s2 + d2 * (k2 - 1) + 1;
  for (let p = 0; p < s2; p++) {
    for (let m = 0; m < mw; m++) {
      store<i32>(work + pMap2 + (<usize>(p * mw + m) << 2), source(m * s2 + p, n2, b2, e2));
    }
  }
}

/** Byte offset in XP (from a channel's start) of tap (c, a, b) relative to its output's origin row. */
// @ts-ignore: decorator
@inline
function tapOffset(c: i32, a: i32, b: i32): usize {
  const db = d2 * b;
  const slot = (db % s2) * mw + db / s2;
  return ((<usize>(d0 * c) * <usize>l1 + <usize>(d1 * a)) * <usize>rowLen + <usize>slot) << 3;
}

/** tab[t] = tapOffset(c, a, b) for t = (c·k1 + a)·k2 + b. */
function fillTab(work: usize): void {
  let q: usize = work + pTab;
  for (let c = 0; c < k0; c++) {
    for (let a = 0; a < k1; a++) {
      for (let b = 0; b < k2; b++) {
        store<u32>(q, <u32>tapOffset(c, a, b));
        q += 4;
      }
    }
  }
}

/** XP ← the padded, polyphase copy of x (every slot written). */
function packInput(x: usize, work: usize): void {
  const rowB = <usize>rowLen << 3;
  for (let i = 0; i < cIn; i++) {
    for (let u0 = 0; u0 < l0; u0++) {
      const r0 = load<i32>(work + pMap0 + (<usize>u0 << 2));
      for (let u1 = 0; u1 < l1; u1++) {
        const r1 = load<i32>(work + pMap1 + (<usize>u1 << 2));
        const dst = work + pX + <usize>i * cx + <usize>(u0 * l1 + u1) * rowB;
        if (r0 < 0 || r1 < 0) {
          memory.fill(dst, 0, rowB);
          continue;
        }
        const src = x + ((<usize>(i * n0 + r0) * <usize>n1 + <usize>r1) * <usize>n2 << 3);
        for (let j = 0; j < rowLen; j++) {
          const r2 = load<i32>(work + pMap2 + (<usize>j << 2));
          store<f64>(dst + (<usize>j << 3), r2 >= 0 ? load<f64>(src + (<usize>r2 << 3)) : 0.0);
        }
      }
    }
  }
}

/** x ← the sum over XP's slots of their values at the input index each one reads (the adjoint of packInput). */
function foldInput(x: usize, work: usize): void {
  const rowB = <usize>rowLen << 3;
  memory.fill(x, 0, <usize>cIn * <usize>n0 * <usize>n1 * <usize>n2 << 3);
  for (let i = 0; i < cIn; i++) {
    for (let u0 = 0; u0 < l0; u0++) {
      const r0 = load<i32>(work + pMap0 + (<usize>u0 << 2));
      if (r0 < 0) continue;
      for (let u1 = 0; u1 < l1; u1++) {
        const r1 = load<i32>(work + pMap1 + (<usize>u1 << 2));
        if (r1 < 0) continue;
        const src = work + pX + <usize>i * cx + <usize>(u0 * l1 + u1) * rowB;
        const dst = x + ((<usize>(i * n0 + r0) * <usize>n1 + <usize>r1) * <usize>n2 << 3);
        for (let j = 0; j < rowLen; j++) {
          const r2 = load<i32>(work + pMap2 + (<usize>j << 2));
          if (r2 >= 0) {
            const at = dst + (<usize>r2 << 3);
            store<f64>(at, load<f64>(at) + load<f64>(src + (<usize>j << 3)));
          }
        }
      }
    }
  }
}

/**
 * Forward block, CB outputs × PB positions. For each tap t (XP offset
 * tab[t]) and, inside it, each channel il (XP planes xs bytes apart), the
 * two lanes of positions times each output's weight, read as two vectors
 * and splat by shuffles:
 *
 *   [w0, w1], [w2, w3] => [w0, w0], [w1, w1], [w2, w2], [w3, w3]
 *   acc[c] += [x, x+1] · [wc, wc],  [x+2, x+3] · [wc, wc]
 *
 * (weights at w, CB per (t, il), in that order). Row c is stored at y + c·ys.
 */
// @ts-ignore: decorator
@inline
function forward4(x: usize, tab: usize, nt: i32, cinG: i32, xs: usize, w: usize, y: usize, ys: usize): void {
  let a00 = f64x2.splat(0.0);
  let a01 = f64x2.splat(0.0);
  let a10 = f64x2.splat(0.0);
  let a11 = f64x2.splat(0.0);
  let a20 = f64x2.splat(0.0);
  let a21 = f64x2.splat(0.0);
  let a30 = f64x2.splat(0.0);
  let a31 = f64x2.splat(0.0);
  let pw = w;
  const stepW = <usize>cinG << 5;
  for (let t = 0; t < nt; t++) {
    let p = x + <usize>load<u32>(tab + (<usize>t << 2));
    const end = pw + stepW;
    while (pw < end) {
      const v0 = v128.load(p);
      const v1 = v128.load(p, 16);
      const wa = v128.load(pw);
      const wb = v128.load(pw, 16);
      const w0 = v128.shuffle<f64>(wa, wa, 0, 0);
      a00 = f64x2.add(a00, f64x2.mul(v0, w0));
      a01 = f64x2.add(a01, f64x2.mul(v1, w0));
      const w1 = v128.shuffle<f64>(wa, wa, 1, 1);
      a10 = f64x2.add(a10, f64x2.mul(v0, w1));
      a11 = f64x2.add(a11, f64x2.mul(v1, w1));
      const w2 = v128.shuffle<f64>(wb, wb, 0, 0);
      a20 = f64x2.add(a20, f64x2.mul(v0, w2));
      a21 = f64x2.add(a21, f64x2.mul(v1, w2));
      const w3 = v128.shuffle<f64>(wb, wb, 1, 1);
      a30 = f64x2.add(a30, f64x2.mul(v0, w3));
      a31 = f64x2.add(a31, f64x2.mul(v1, w3));
      p += xs;
      pw += 32;
    }
  }
  v128.store(y, a00);
  v128.store(y, a01, 16);
  v128.store(y + ys, a10);
  v128.store(y + ys, a11, 16);
  v128.store(y + 2 * ys, a20);
  v128.store(y + 2 * ys, a21, 16);
  v128.store(y + 3 * ys, a30);
  v128.store(y + 3 * ys, a31, 16);
}

/** Forward block for one output (the channels left over from blocks of CB). */
// @ts-ignore: decorator
@inline
function forward1(x: usize, tab: usize, nt: i32, cinG: i32, xs: usize, w: usize, y: usize): void {
  let a0 = f64x2.splat(0.0);
  let a1 = f64x2.splat(0.0);
  let pw = w;
  const stepW = <usize>cinG << 3;
  for (let t = 0; t < nt; t++) {
    let p = x + <usize>load<u32>(tab + (<usize>t << 2));
    const end = pw + stepW;
    while (pw < end) {
      const w0 = v128.load64_splat(pw);
      a0 = f64x2.add(a0, f64x2.mul(v128.load(p), w0));
      a1 = f64x2.add(a1, f64x2.mul(v128.load(p, 16), w0));
      p += xs;
      pw += 8;
    }
  }
  v128.store(y, a0);
  v128.store(y, a1, 16);
}

/**
 * Adjoint block, CB inputs × PB positions: over the kk outputs o (y rows ys
 * bytes apart, weights CB per o, splat by shuffles as in forward4),
 *
 *   acc[c] += [y, y+1] · [wc, wc],  [y+2, y+3] · [wc, wc]
 *
 * then the four sums are added to the XP rows at x + c·xs.
 */
// @ts-ignore: decorator
@inline
function adjoint4(y: usize, ys: usize, kk: i32, w: usize, x: usize, xs: usize): void {
  let a00 = f64x2.splat(0.0);
  let a01 = f64x2.splat(0.0);
  let a10 = f64x2.splat(0.0);
  let a11 = f64x2.splat(0.0);
  let a20 = f64x2.splat(0.0);
  let a21 = f64x2.splat(0.0);
  let a30 = f64x2.splat(0.0);
  let a31 = f64x2.splat(0.0);
  let p = y;
  let pw = w;
  const end = w + (<usize>kk << 5);
  while (pw < end) {
    const v0 = v128.load(p);
    const v1 = v128.load(p, 16);
    const wa = v128.load(pw);
    const wb = v128.load(pw, 16);
    const w0 = v128.shuffle<f64>(wa, wa, 0, 0);
    a00 = f64x2.add(a00, f64x2.mul(v0, w0));
    a01 = f64x2.add(a01, f64x2.mul(v1, w0));
    const w1 = v128.shuffle<f64>(wa, wa, 1, 1);
    a10 = f64x2.add(a10, f64x2.mul(v0, w1));
    a11 = f64x2.add(a11, f64x2.mul(v1, w1));
    const w2 = v128.shuffle<f64>(wb, wb, 0, 0);
    a20 = f64x2.add(a20, f64x2.mul(v0, w2));
    a21 = f64x2.add(a21, f64x2.mul(v1, w2));
    const w3 = v128.shuffle<f64>(wb, wb, 1, 1);
    a30 = f64x2.add(a30, f64x2.mul(v0, w3));
    a31 = f64x2.add(a31, f64x2.mul(v1, w3));
    p += ys;
    pw += 32;
  }
  v128.store(x, f64x2.add(v128.load(x), a00));
  v128.store(x, f64x2.add(v128.load(x, 16), a01), 16);
  const x1 = x + xs;
  v128.store(x1, f64x2.add(v128.load(x1), a10));
  v128.store(x1, f64x2.add(v128.load(x1, 16), a11), 16);
  const x2 = x1 + xs;
  v128.store(x2, f64x2.add(v128.load(x2), a20));
  v128.store(x2, f64x2.add(v128.load(x2, 16), a21), 16);
  const x3 = x2 + xs;
  v128.store(x3, f64x2.add(v128.load(x3), a30));
  v128.store(x3, f64x2.add(v128.load(x3, 16), a31), 16);
}

/** Adjoint block for one input channel (those left over from blocks of CB). */
// @ts-ignore: decorator
@inline
function adjoint1(y: usize, ys: usize, kk: i32, w: usize, x: usize): void {
  let a0 = f64x2.splat(0.0);
  let a1 = f64x2.splat(0.0);
  let p = y;
  let pw = w;
  const end = w + (<usize>kk << 3);
  while (pw < end) {
    const w0 = v128.load64_splat(pw);
    a0 = f64x2.add(a0, f64x2.mul(v128.load(p), w0));
    a1 = f64x2.add(a1, f64x2.mul(v128.load(p, 16), w0));
    p += ys;
    pw += 8;
  }
  v128.store(x, f64x2.add(v128.load(x), a0));
  v128.store(x, f64x2.add(v128.load(x, 16), a1), 16);
}

/**
 * conv_work_bytes_f64: bytes of scratch conv_f64_cdhw and conv_adjoint_f64_cdhw
 * need for a geometry.
 *
 * Arguments:
 *   geom [in] i32[22]  the geometry (see conv_f64_cdhw)
 * Returns the byte count (a whole number in f64), or −1 when the geometry is
 * invalid or its work would pass 4 GiB less one page.
 */
export function conv_work_bytes_f64(geom: usize): f64 {
  plan(geom);
  return workBytes;
}

/**
 * conv_f64_cdhw: the forward direct convolution (cross-correlation, as
 * PyTorch's ConvNd computes it) of a channel-major input,
 *
 *   y[o, z] = Σ_{il < cIn/G} Σ_{c, a, b} W[o, il, c, a, b] · x[g·cIn/G + il, r(z, c, a, b)]
 *
 * with g = ⌊o / (cOut/G)⌋ the group of o and, per axis j (z = (z0, z1, z2)),
 * the padded position u_j = z_j·s_j + d_j·tap_j read at input index
 * r_j = u_j − b_j: a zero when outside [0, n_j) (zero padding), or taken
 * mod n_j (circular). Arrays are row-major: x[i][n0][n1][n2],
 * y[o][o0][o1][o2], W[o][il][k0][k1][k2].
 *
 * Arguments:
 *   geom [in]  i32[22]  the geometry: cIn, cOut, G (groups, dividing both),
 *                       circular (0: zero padding, 1: circular), then per axis
 *                       j = 0, 1, 2 the six values n_j (inputs), o_j (outputs),
 *                       k_j (taps), s_j (stride), d_j (dilation), b_j (origin:
 *                       the zeros before the input, any integer); every count,
 *                       stride and dilation ≥ 1
 *   w    [in]  f64[cOut·(cIn/G)·k0·k1·k2]  the weights
 *   x    [in]  f64[cIn·n0·n1·n2]           the input
 *   y    [out] f64[cOut·o0·o1·o2]          the output (overwritten)
 *   work [in]  conv_work_bytes_f64(geom) bytes of scratch, 16-byte aligned,
 *              overlapping none of w, x, y
 *
 * Cost: cOut·(cIn/G)·k0·k1·k2·o0·o1·⌈o2/4⌉·4 multiply-adds in f64x2 lanes,
 * plus copies linear in the input and output. Each output is one sum in a
 * fixed order (channels inside taps), the same whatever the blocking. NaN
 * and infinity propagate; every loop is bounded by the sizes.
 *
 * Returns 0, or −1 (nothing written) when the geometry is invalid or too
 * large (conv_work_bytes_f64 < 0).
 */
export function conv_f64_cdhw(geom: usize, w: usize, x: usize, y: usize, work: usize): i32 {
  if (!plan(geom)) return -1;
  fillMaps(work);
  fillTab(work);
  packInput(x, work);
  const kk = cInG * taps;
  // Weights per group, in the order forward4/forward1 read them, q = t·cInG + il:
  // blocks of CB outputs as [q][c], then the outputs left over as [q].
  const wp = work + pW;
  const full = cOutG - cOutG % CB;
  for (let o = 0; o < cOut; o++) {
    const ol = o % cOutG;
    const blocked = ol < full;
    // First weight of o's block (blocked) or of o itself, in doubles.
    const first = <usize>(o - (blocked ? ol % CB : 0)) * <usize>kk;
    const step: usize = blocked ? <usize>CB : 1;
    const lane: usize = blocked ? <usize>(ol % CB) : 0;
    for (let il = 0; il < cInG; il++) {
      const src = w + (<usize>(o * cInG + il) * <usize>taps << 3);
      for (let t = 0; t < taps; t++) {
        const q = <usize>(t * cInG + il);
        store<f64>(wp + ((first + q * step + lane) << 3), load<f64>(src + (<usize>t << 3)));
      }
    }
  }
  // Direct to y when its rows need no padding to PB, else through YP.
  const direct = o2 == ow;
  const yb = direct ? y : work + pY;
  const ys: usize = direct ? <usize>o0 * <usize>o1 * <usize>o2 << 3 : cy;
  const rowB = <usize>rowLen << 3;
  const tab = work + pTab;
  for (let g = 0; g < groups; g++) {
    const xg = work + pX + <usize>(g * cInG) * cx;
    for (let z0 = 0; z0 < o0; z0++) {
      for (let z1 = 0; z1 < o1; z1++) {
        const xr = xg + <usize>(z0 * s0 * l1 + z1 * s1) * rowB;
        const yr = yb + (<usize>(z0 * o1 + z1) * <usize>ow << 3);
        let ol = 0;
        for (; ol < full; ol += CB) {
          const o = g * cOutG + ol;
          const wb = wp + (<usize>o * <usize>kk << 3);
          const yo = yr + <usize>o * ys;
          for (let zw = 0; zw < ow; zw += PB) {
            forward4(xr + (<usize>zw << 3), tab, taps, cInG, cx, wb, yo + (<usize>zw << 3), ys);
          }
        }
        for (; ol < cOutG; ol++) {
          const o = g * cOutG + ol;
          const wb = wp + (<usize>o * <usize>kk << 3);
          const yo = yr + <usize>o * ys;
          for (let zw = 0; zw < ow; zw += PB) {
            forward1(xr + (<usize>zw << 3), tab, taps, cInG, cx, wb, yo + (<usize>zw << 3));
          }
        }
      }
    }
  }
  if (!direct) {
    const rows = o0 * o1;
    for (let o = 0; o < cOut; o++) {
      for (let r = 0; r < rows; r++) {
        memory.copy(
          y + ((<usize>o * <usize>rows + <usize>r) * <usize>o2 << 3),
          yb + <usize>o * cy + (<usize>r * <usize>ow << 3),
          <usize>o2 << 3,
        );
      }
    }
  }
  return 0;
}

/**
 * conv_adjoint_f64_cdhw: the adjoint (transpose) of conv_f64_cdhw for the
 * same geometry and weights,
 *
 *   x[i, r] = Σ_{o in i's group} Σ_{z, c, a, b : r(z, c, a, b) = r} W[o, i − g·cIn/G, c, a, b] · y[o, z]
 *
 * so that ⟨conv(x), y⟩ = ⟨x, adjoint(y)⟩ up to rounding (this is also the
 * transposed convolution, ConvTransposeNd, of y).
 *
 * Arguments:
 *   geom [in]  i32[22]                     the geometry (see conv_f64_cdhw)
 *   w    [in]  f64[cOut·(cIn/G)·k0·k1·k2]  the weights
 *   y    [in]  f64[cOut·o0·o1·o2]          the output-side vector
 *   x    [out] f64[cIn·n0·n1·n2]           the input-side result (overwritten)
 *   work [in]  conv_work_bytes_f64(geom) bytes of scratch, 16-byte aligned,
 *              overlapping none of w, y, x
 *
 * Cost as conv_f64_cdhw. The sums run over o inside taps inside output
 * positions, then wrapped copies are folded back (circular); the order is
 * fixed by the geometry. NaN and infinity propagate; every loop is bounded
 * by the sizes.
 *
 * Returns 0, or −1 (nothing written) when the geometry is invalid or too
 * large (conv_work_bytes_f64 < 0).
 */
export function conv_adjoint_f64_cdhw(geom: usize, w: usize, y: usize, x: usize, work: usize): i32 {
  if (!plan(geom)) return -1;
  fillMaps(work);
  fillTab(work);
  // YP ← y with rows padded to ow by zeros (those outputs then add nothing).
  const rows = o0 * o1;
  for (let o = 0; o < cOut; o++) {
    for (let r = 0; r < rows; r++) {
      const dst = work + pY + <usize>o * cy + (<usize>r * <usize>ow << 3);
      memory.copy(dst, y + ((<usize>o * <usize>rows + <usize>r) * <usize>o2 << 3), <usize>o2 << 3);
      memory.fill(dst + (<usize>o2 << 3), 0, <usize>(ow - o2) << 3);
    }
  }
  memory.fill(work + pX, 0, <usize>cIn * cx);
  // Weights per group: blocks of CB inputs as [t][o][c], then single inputs as [t][o].
  const wp = work + pW;
  const perIn = taps * cOutG;
  const fullIn = cInG - cInG % CB;
  for (let g = 0; g < groups; g++) {
    for (let ol = 0; ol < cOutG; ol++) {
      const src = w + (<usize>((g * cOutG + ol) * cInG) * <usize>taps << 3);
      for (let il = 0; il < cInG; il++) {
        const base = <usize>(g * cInG) * <usize>perIn;
        for (let t = 0; t < taps; t++) {
          const at = il < fullIn
            ? base + <usize>(il - il % CB) * <usize>perIn + <usize>((t * cOutG + ol) * CB + il % CB)
            : base + <usize>il * <usize>perIn + <usize>(t * cOutG + ol);
          store<f64>(wp + (at << 3), load<f64>(src + (<usize>(il * taps + t) << 3)));
        }
      }
    }
  }
  const rowB = <usize>rowLen << 3;
  const tab = work + pTab;
  for (let g = 0; g < groups; g++) {
    const yg = work + pY + <usize>(g * cOutG) * cy;
    const xg = work + pX + <usize>(g * cInG) * cx;
    const wg = wp + (<usize>(g * cInG) * <usize>perIn << 3);
    for (let z0 = 0; z0 < o0; z0++) {
      for (let z1 = 0; z1 < o1; z1++) {
        const yr = yg + (<usize>(z0 * o1 + z1) * <usize>ow << 3);
        const xr = xg + <usize>(z0 * s0 * l1 + z1 * s1) * rowB;
        let il = 0;
        for (; il < fullIn; il += CB) {
          const xi = xr + <usize>il * cx;
          const wi = wg + (<usize>il * <usize>perIn << 3);
          for (let t = 0; t < taps; t++) {
            const xt = xi + <usize>load<u32>(tab + (<usize>t << 2));
            const wt = wi + (<usize>(t * cOutG * CB) << 3);
            for (let zw = 0; zw < ow; zw += PB) {
              adjoint4(yr + (<usize>zw << 3), cy, cOutG, wt, xt + (<usize>zw << 3), cx);
            }
          }
        }
        for (; il < cInG; il++) {
          const xi = xr + <usize>il * cx;
          const wi = wg + (<usize>il * <usize>perIn << 3);
          for (let t = 0; t < taps; t++) {
            const xt = xi + <usize>load<u32>(tab + (<usize>t << 2));
            const wt = wi + (<usize>(t * cOutG) << 3);
            for (let zw = 0; zw < ow; zw += PB) {
              adjoint1(yr + (<usize>zw << 3), cy, cOutG, wt, xt + (<usize>zw << 3));
            }
          }
        }
      }
    }
  }
  foldInput(x, work);
  return 0;
}
