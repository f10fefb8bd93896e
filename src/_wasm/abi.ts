/**
 * The wasm core's interface: the only module that knows its exports, its
 * memory and the argument order of its kernels.
 *
 * - {@linkcode CoreExports}: the exports (pointers are byte offsets into `memory`).
 * - {@linkcode Arena}: lays out one computation's buffers from the heap base
 *   up (16-byte aligned), checks the 4 GiB limit once and grows the memory.
 * - Jobs: {@linkcode SvdJob} (one frequency column, or a run of it, through
 *   `svd_column_*`) and {@linkcode ClipJob} (one column through
 *   `clip_column_f64`), encoded as f64 slots so that a block of them can sit
 *   in shared memory, and run by {@linkcode runJob} — on the calling thread
 *   and in the workers (src/_threads/worker.ts imports this module).
 * @module
 */

/** `svd_column_f64` / `svd_column_f32` (assembly/column.ts): one signature, two precisions. */
type SvdColumnExport = (
  tr: number,
  ti: number,
  cout: number,
  cin: number,
  kh: number,
  h: number,
  u0: number,
  nu: number,
  out: number,
  groups: number,
  work: number,
) => number;

/** `bidiag_c64_split` / `bidiag_c32_split` (assembly/bidiag.ts): one signature, two precisions. */
type BidiagExport = (
  ar: number,
  ai: number,
  m: number,
  n: number,
  ld: number,
  d: number,
  e: number,
  work: number,
  taus: number,
) => number;

/** `build_p_f64` / `build_p_tap_f64` (assembly/column.ts): P(u, v) from a column transform, two row orders. */
type BuildPExport = (
  tr: number,
  ti: number,
  cout: number,
  cin: number,
  kh: number,
  h: number,
  u: number,
  ar: number,
  ai: number,
  ld: number,
  work: number,
) => number;

/** The exports of the wasm core (pointers are byte offsets into `memory`). */
export interface CoreExports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  lead_dim(m: number): number;
  lead_dim32(m: number): number;
  use_fft(k: number, n: number, outs: number): number;
  fft_cost(n: number): number;
  transform_w_work_bytes(nrows: number, kw: number, w: number, nv: number): number;
  transform_w_f64(
    k: number,
    ki: number,
    nrows: number,
    kw: number,
    w: number,
    v0: number,
    nv: number,
    outr: number,
    outi: number,
    work: number,
  ): number;
  svd_column_work_bytes(cout: number, cin: number, kh: number, h: number, nu: number, groups: number): number;
  svd_column_f32: SvdColumnExport;
  svd_column_f64: SvdColumnExport;
  bidiag_work_bytes(ld: number, n: number): number;
  bidiag_c64_split: BidiagExport;
  bidiag_c32_split: BidiagExport;
  svd_work_bytes(m: number, n: number): number;
  build_p_f64: BuildPExport;
  tap_major_f64(
    src: number,
    dst: number,
    groups: number,
    cout: number,
    cin: number,
    kh: number,
    kw: number,
    scale: number,
  ): number;
  build_p_tap_f64: BuildPExport;
  svd_c64_split(
    ar: number,
    ai: number,
    m: number,
    n: number,
    ld: number,
    s: number,
    k: number,
    ur: number,
    ui: number,
    vr: number,
    vi: number,
    work: number,
  ): number;
  clip_column_work_bytes(cout: number, cin: number, kh: number): number;
  clip_column_f64(
    tr: number,
    ti: number,
    cout: number,
    cin: number,
    kh: number,
    h: number,
    kw: number,
    w: number,
    v: number,
    nu: number,
    selfMirror: number,
    c: number,
    kout: number,
    sv: number,
    work: number,
    corr: number,
    inside: number,
    gram: number,
  ): number;
  clip_column_c64(
    tr: number,
    ti: number,
    cout: number,
    cin: number,
    kh: number,
    h: number,
    kw: number,
    w: number,
    v: number,
    nu: number,
    c: number,
    kout: number,
    kouti: number,
    sv: number,
    work: number,
    corr: number,
    inside: number,
    gram: number,
  ): number;
  bdsqr_values_f64(d: number, e: number, n: number, rtol: number): number;
  sort_desc_f64(p: number, n: number): void;
  sort_twice_work_bytes(na: number, nb: number): number;
  sort_twice_desc_f64(a: number, na: number, b: number, nb: number, out: number, work: number): number;
  fft_plan_bytes(n: number): number;
  fft_plan_init(n: number, plan: number): number;
  fft_c64_batch(re: number, im: number, n: number, count: number, plan: number): number;
  conv_work_bytes_f64(geom: number): number;
  conv_f64_cdhw(geom: number, w: number, x: number, y: number, work: number): number;
  conv_adjoint_f64_cdhw(geom: number, w: number, y: number, x: number, work: number): number;
  dqds_values_f64(d: number, e: number, n: number, work: number): number;
  dqds_work_bytes(n: number): number;
  diag_work_bytes(kh: number, kw: number, h: number, w: number): number;
  norm_work_bytes(cout: number, cin: number, kh: number): number;
  norm_estimates_f64(
    tr: number,
    ti: number,
    cout: number,
    cin: number,
    kh: number,
    h: number,
    u0: number,
    nu: number,
    groups: number,
    steps: number,
    out: number,
    work: number,
  ): number;
  norm_below_f64(
    tr: number,
    ti: number,
    cout: number,
    cin: number,
    kh: number,
    h: number,
    u: number,
    groups: number,
    s2: number,
    work: number,
  ): number;
  positive_definite_work_bytes(n: number): number;
  positive_definite_f64(br: number, bi: number, n: number, work: number, room: number): number;
  gram_r_bytes(n: number, kh: number, kw: number, groups: number, cplx: number): number;
  gram_taps_work_bytes(m: number, n: number, kh: number, kw: number, cplx: number): number;
  gram_column_bytes(n: number, kh: number, kw: number, groups: number): number;
  gram_work_bytes(n: number, kh: number): number;
  gram_table_f64(h: number, tab: number): number;
  gram_taps_f64(
    k: number,
    ki: number,
    m: number,
    n: number,
    kh: number,
    kw: number,
    groups: number,
    r: number,
    mu: number,
    work: number,
  ): number;
  gram_column_f64(
    r: number,
    n: number,
    kh: number,
    kw: number,
    w: number,
    v: number,
    groups: number,
    cplx: number,
    s: number,
  ): number;
  gram_screen_f64(
    s: number,
    m: number,
    n: number,
    kh: number,
    kw: number,
    h: number,
    u0: number,
    nu: number,
    groups: number,
    mu: number,
    s2: number,
    tab: number,
    cache: number,
    held: number,
    est: number,
    pc: number,
    column: number,
    flags: number,
    work: number,
  ): number;
  gram_estimates_f64(
    s: number,
    n: number,
    kh: number,
    h: number,
    u0: number,
    nu: number,
    groups: number,
    steps: number,
    floor: number,
    tab: number,
    cache: number,
    held: number,
    pc: number,
    out: number,
    work: number,
  ): number;
  gram_frob_bytes(kh: number, kw: number, groups: number): number;
  gram_frob_coeffs_f64(r: number, n: number, kh: number, kw: number, groups: number, cplx: number, fc: number): number;
  gram_upper_f64(r: number, n: number, kh: number, kw: number, groups: number, cplx: number): number;
  gram_frob_column_f64(fc: number, kh: number, kw: number, groups: number, w: number, v: number): number;
  diag_corr_bytes(groups: number, h: number, w: number): number;
  diag_values_bytes(groups: number, kh: number, kw: number): number;
  diag_norm_f64(k: number, groups: number, kh: number, kw: number, h: number, w: number, work: number): number;
  diag_values_f64(
    k: number,
    groups: number,
    kh: number,
    kw: number,
    h: number,
    w: number,
    v0: number,
    nvb: number,
    out: number,
    tmp: number,
    work: number,
    sorted: 0 | 1,
    scale: number,
  ): number;
  diag_clip_f64(
    k: number,
    groups: number,
    kh: number,
    kw: number,
    h: number,
    w: number,
    c: number,
    kout: number,
    corr: number,
    work: number,
  ): number;
}

/** Bytes the module may address (wasm32: 4 GiB less one page for safety). */
export const MAX_WASM_BYTES = 2 ** 32 - 2 ** 16;

/** Rounds a byte offset up to a multiple of 16. */
export const alignBytes = (x: number): number => Math.ceil(x / 16) * 16;

/** Grows a core's memory to at least `bytes` (RangeError if the engine refuses). */
export function ensureMemory(core: CoreExports, bytes: number): void {
  const have = core.memory.buffer.byteLength;
  if (bytes > have) {
    const pages = Math.ceil((bytes - have) / 65536);
    try {
      core.memory.grow(pages);
    } catch (err) {
      throw new RangeError(
        `Cannot grow the wasm memory to ${bytes} bytes: current value is ${have} bytes and the engine refused to grow (${
          err instanceof Error ? err.message : err
        })`,
      );
    }
  }
}

/**
 * One computation's buffers in a core's memory, laid out from the heap base
 * up, each 16-byte aligned. A size that is negative or not finite (a core's
 * `*_work_bytes` overflowing i32) or over the limit makes {@linkcode commit}
 * refuse before anything is written.
 */
export class Arena {
  #at: number;
  #overflow = false;
  /** The first byte of the arena. */
  readonly base: number;
  constructor(readonly core: CoreExports) {
    this.base = this.#at = alignBytes(core.heap_base());
  }
  /** Reserves `n` bytes and returns their byte offset. */
  bytes(n: number): number {
    const at = this.#at;
    if (!(n >= 0) || n > MAX_WASM_BYTES) this.#overflow = true;
    else this.#at = alignBytes(at + n);
    return at;
  }
  /** Reserves `n` f64 values. */
  f64(n: number): number {
    return this.bytes(n * 8);
  }
  /** Reserves `n` i32 values. */
  i32(n: number): number {
    return this.bytes(n * 4);
  }
  /** The byte after the last reservation. */
  get end(): number {
    return this.#at;
  }
  /** Whether the reservations fit in wasm memory. */
  get fits(): boolean {
    return !this.#overflow && this.#at <= MAX_WASM_BYTES;
  }
  /**
   * Checks the limit and grows the core's memory to hold the arena.
   *
   * @param subject What the caller cannot do otherwise ("compute singular values").
   * @param context The sizes that made the arena, for the message.
   * @throws {RangeError} When the arena does not fit in 4 GiB of wasm memory.
   */
  commit(subject: string, context: string): void {
    if (!this.fits) {
      throw new RangeError(
        `Cannot ${subject} as the working memory must fit in 4 GiB of wasm memory: current value is ${
          this.#overflow ? "over 2 GiB for one part" : `${(this.#at / 2 ** 30).toFixed(2)} GiB`
        } (${context})`,
      );
    }
    ensureMemory(this.core, this.#at);
  }
  /** An f64 view of `n` values at byte offset `at` (valid until the memory grows). */
  view(at: number, n: number): Float64Array {
    return new Float64Array(this.core.memory.buffer, at, n);
  }
}

/** The part every column job shares: where the column's transform is and the shape of its matrices. */
interface ColumnJob {
  /** Byte offsets of the column's transform, real and imaginary parts (`groups·cOut·cIn·kh` rows). */
  tr: number;
  ti: number;
  cOut: number;
  cIn: number;
  kh: number;
  h: number;
}

/**
 * Singular values of frequencies `u0 … u0 + nu − 1` of one column of a
 * transformed kernel (`svd_column_f64` / `svd_column_f32`, assembly/column.ts).
 */
export interface SvdJob extends ColumnJob {
  u0: number;
  nu: number;
  /** Byte offset of the values, `nu` rows of `groups·min(cOut, cIn)`. */
  out: number;
  groups: number;
}

/**
 * Clips the singular values of one column's frequencies at `c` and adds the
 * column's share of the clipped kernel: `clip_column_f64` (assembly/svd.ts)
 * for a real kernel's column of the Hermitian half, or `clip_column_c64` for a
 * complex kernel's column (a depth frequency of a 3-D layer) when `kOutIm` is
 * not 0.
 */
export interface ClipJob extends ColumnJob {
  kw: number;
  w: number;
  v: number;
  nu: number;
  /** 1 when the column is its own mirror (v = 0 or v = w/2). */
  selfMirror: number;
  c: number;
  /** Byte offsets of the column's kernel accumulator, its singular values and its Dykstra correction (0: none). */
  kOut: number;
  /** Byte offset of the accumulator's imaginary part for a complex kernel (`clip_column_c64`), else 0. */
  kOutIm: number;
  sv: number;
  corr: number;
  /** Byte offset of the column's flags (u8 per frequency, 1: certified inside the ball, P' = P), or 0: none. */
  inside: number;
  /** 1: a frequency's matrix is clipped through its Gram matrix where the core may (a strided layer's wide matrices). */
  gram: number;
}

/** What a block of jobs runs; the number is its code in shared memory. */
export const JOB_KIND = { svdF64: 0, svdF32: 1, clipF64: 2 } as const;
/** A job kind's code. */
export type JobKind = (typeof JOB_KIND)[keyof typeof JOB_KIND];

const SVD_FIELDS = ["tr", "ti", "cOut", "cIn", "kh", "h", "u0", "nu", "out", "groups"] as const;
const CLIP_FIELDS = [
  "tr",
  "ti",
  "cOut",
  "cIn",
  "kh",
  "h",
  "kw",
  "w",
  "v",
  "nu",
  "selfMirror",
  "c",
  "kOut",
  "kOutIm",
  "sv",
  "corr",
  "inside",
  "gram",
] as const;

/** f64 slots of one encoded job of a kind. */
export function jobSlots(kind: JobKind): number {
  return kind === JOB_KIND.clipF64 ? CLIP_FIELDS.length : SVD_FIELDS.length;
}

/** Writes a job into `buf` at slot `at`. */
export function encodeJob(kind: JobKind, job: SvdJob | ClipJob, buf: Float64Array, at: number): void {
  if (kind === JOB_KIND.clipF64) {
    const j = job as ClipJob;
    for (let f = 0; f < CLIP_FIELDS.length; f++) buf[at + f] = j[CLIP_FIELDS[f]];
  } else {
    const j = job as SvdJob;
    for (let f = 0; f < SVD_FIELDS.length; f++) buf[at + f] = j[SVD_FIELDS[f]];
  }
}

/** Reads an svd job from `buf` at slot `at`. */
export function decodeSvdJob(buf: Float64Array, at: number): SvdJob {
  return {
    tr: buf[at],
    ti: buf[at + 1],
    cOut: buf[at + 2],
    cIn: buf[at + 3],
    kh: buf[at + 4],
    h: buf[at + 5],
    u0: buf[at + 6],
    nu: buf[at + 7],
    out: buf[at + 8],
    groups: buf[at + 9],
  };
}

/** Reads a clip job from `buf` at slot `at`. */
export function decodeClipJob(buf: Float64Array, at: number): ClipJob {
  const j = {} as Record<(typeof CLIP_FIELDS)[number], number>;
  for (let f = 0; f < CLIP_FIELDS.length; f++) j[CLIP_FIELDS[f]] = buf[at + f];
  return j;
}

/** Runs an svd job with `work` bytes of scratch; returns the frequencies that did not converge. */
export function svdColumn(core: CoreExports, f32: boolean, j: SvdJob, work: number): number {
  const column = f32 ? core.svd_column_f32 : core.svd_column_f64;
  return column(j.tr, j.ti, j.cOut, j.cIn, j.kh, j.h, j.u0, j.nu, j.out, j.groups, work);
}

/** Runs a clip job with `work` bytes of scratch; returns the frequencies that did not converge. */
export function clipColumn(core: CoreExports, j: ClipJob, work: number): number {
  // The two exports share their arguments up to the column's length `nu`.
  const head = [j.tr, j.ti, j.cOut, j.cIn, j.kh, j.h, j.kw, j.w, j.v, j.nu] as const;
  return j.kOutIm !== 0
    ? core.clip_column_c64(...head, j.c, j.kOut, j.kOutIm, j.sv, work, j.corr, j.inside, j.gram)
    : core.clip_column_f64(...head, j.selfMirror, j.c, j.kOut, j.sv, work, j.corr, j.inside, j.gram);
}

/** Runs the job encoded in `buf` at slot `at`. */
export function runJob(core: CoreExports, kind: JobKind, buf: Float64Array, at: number, work: number): number {
  if (kind === JOB_KIND.clipF64) return clipColumn(core, decodeClipJob(buf, at), work);
  return svdColumn(core, kind === JOB_KIND.svdF32, decodeSvdJob(buf, at), work);
}

/** Bytes of an svd job's transform rows (each of tr, ti) and of its values. */
export function svdJobBytes(j: SvdJob): { transform: number; values: number } {
  return { transform: j.groups * j.cOut * j.cIn * j.kh * 8, values: j.nu * j.groups * Math.min(j.cOut, j.cIn) * 8 };
}

/** Byte offsets of one complex SVD with vectors (`svd_c64_split`) of an m × n matrix, m ≥ n. */
export interface SvdBuffers {
  /** The matrix, column-major re/im split, leading dimension `ld = lead_dim(m)`. */
  ar: number;
  ai: number;
  ur: number;
  ui: number;
  /** V, leading dimension `ldn = lead_dim(n)`. */
  vr: number;
  vi: number;
  s: number;
  work: number;
  ld: number;
  ldn: number;
}

/** Reserves in `arena` the buffers of one `svd_c64_split` of an m × n matrix with all n vector pairs. */
export function svdBuffers(arena: Arena, m: number, n: number): SvdBuffers {
  const { core } = arena;
  const ld = core.lead_dim(m), ldn = core.lead_dim(n);
  const ar = arena.f64(2 * ld * n);
  const ur = arena.f64(2 * ld * n);
  const vr = arena.f64(2 * ldn * n);
  const s = arena.f64(n);
  const work = arena.bytes(core.svd_work_bytes(m, n));
  return { ar, ai: ar + ld * n * 8, ur, ui: ur + ld * n * 8, vr, vi: vr + ldn * n * 8, s, work, ld, ldn };
}
