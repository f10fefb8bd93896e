/**
 * Helpers shared by the model-file readers: error messages that name the
 * file, bounds-checked little-endian reads, half/bfloat16 conversion, shape
 * arithmetic that never trusts a header, and the attribute overrides.
 * @module
 */
import type { ChannelScale, ConvLayer } from "../model.ts";
import type { Layout, Padding } from "../types.ts";

/** Most values a header may claim for one tensor (2^31 − 1, a typed array's practical limit here). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** What every reader knows about the file it reads: its name for messages. */
export interface Source {
  /** How messages name the file: `"net.onnx"` (quoted) or `the ONNX bytes`. */
  label: string;
}

/** A source for messages: the file name when known, else a description of the bytes. */
export function source(name: string | undefined, format: string): Source {
  return { label: name === undefined ? `the ${format} bytes` : JSON.stringify(name) };
}

/** Renders a value for the `current value is …` tail of a message, short. */
export function show(value: unknown): string {
  let text: string;
  if (typeof value === "string") text = JSON.stringify(value.length > 200 ? value.slice(0, 200) : value);
  else if (typeof value === "bigint") text = `${value}`;
  else if (value instanceof Uint8Array) text = `${value.length} bytes`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      // cycles, or nesting too deep to render
      text = Array.isArray(value) ? `a list of ${value.length}` : typeof value;
    }
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * Checks a per-axis attribute of a windowed op (strides, dilations, pads,
 * kernel sizes) as the file states it: a list of integers, each at least
 * `min` (1: "positive", 0: "non-negative") and at most 2^31 − 1, of `length`
 * entries when given; else a RangeError `WHAT that are not … integers`.
 */
export function checkAxes(
  src: Source,
  what: string,
  values: readonly unknown[] | undefined,
  min: 0 | 1,
  length?: number,
): void {
  if (values === undefined) return;
  const ok = values.every((v) => typeof v === "number" && Number.isInteger(v) && v >= min && v <= MAX_ELEMENTS);
  if (!ok) {
    throw rangeError(src, `${what} that are not ${min === 1 ? "positive" : "non-negative"} integers`, values);
  }
  if (length !== undefined && length > 0 && values.length !== length) {
    throw rangeError(src, `${what} with ${values.length} entries where the op has ${length} axes`, values);
  }
}

/** `Cannot read SOURCE as WHAT: current value is VALUE`, as a TypeError. */
export function typeError(src: Source, what: string, value: unknown): TypeError {
  return new TypeError(`Cannot read ${src.label} as ${what}: current value is ${show(value)}`);
}

/** `Cannot read SOURCE as WHAT: current value is VALUE`, as a RangeError. */
export function rangeError(src: Source, what: string, value: unknown): RangeError {
  return new RangeError(`Cannot read ${src.label} as ${what}: current value is ${show(value)}`);
}

/** True when `x` is a non-negative safe integer. */
export function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/**
 * The number of elements of `shape`, checked: every dimension a non-negative
 * integer and the product at most {@linkcode MAX_ELEMENTS}. `what` names the
 * tensor in the message.
 */
export function elementCount(src: Source, what: string, shape: unknown): number {
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw typeError(src, `${what} has a shape that is not a list of non-negative integers`, shape);
  }
  let n = 1;
  for (const d of shape as number[]) {
    n *= d;
    if (n > MAX_ELEMENTS) throw rangeError(src, `${what} claims more than 2^31 − 1 values`, shape);
  }
  return n;
}

/** Checks that `[offset, offset + length)` lies inside `bytes`; else a RangeError naming `what`. */
export function checkRange(src: Source, what: string, bytes: Uint8Array, offset: number, length: number): void {
  if (!isCount(offset) || !isCount(length) || offset + length > bytes.length) {
    throw rangeError(src, `${what} runs past the end of the data (${bytes.length} bytes)`, [offset, offset + length]);
  }
}

/** IEEE 754 binary16 bits → number (exact). */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** bfloat16 bits → number (exact: the upper half of a float32). */
export function bfloat16ToNumber(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0];
}

/** Element types the readers decode. */
export type NumericType = "f64" | "f32" | "f16" | "bf16" | "i32" | "i64" | "u8" | "u16";

/** Bytes per element. */
export const ITEM_SIZE: Record<NumericType, number> = {
  f64: 8,
  f32: 4,
  f16: 2,
  bf16: 2,
  i32: 4,
  i64: 8,
  u8: 1,
  u16: 2,
};

/**
 * Decodes `count` elements of `type` at `offset` of `bytes` (bounds-checked
 * first): f64 into a Float64Array, every other type into a Float32Array (f16
 * and bf16 exactly; integers as numbers, which f32 holds exactly up to 2^24).
 * Data is copied, so the result never aliases the file.
 */
export function decodeFloats(
  src: Source,
  what: string,
  bytes: Uint8Array,
  offset: number,
  count: number,
  type: NumericType,
  littleEndian = true,
): Float32Array | Float64Array {
  const size = ITEM_SIZE[type];
  checkRange(src, what, bytes, offset, count * size);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * size);
  if (type === "f64") {
    const out = new Float64Array(count);
    for (let j = 0; j < count; j++) out[j] = view.getFloat64(8 * j, littleEndian);
    return out;
  }
  const out = new Float32Array(count);
  switch (type) {
    case "f32":
      for (let j = 0; j < count; j++) out[j] = view.getFloat32(4 * j, littleEndian);
      break;
    case "f16":
      for (let j = 0; j < count; j++) out[j] = halfToNumber(view.getUint16(2 * j, littleEndian));
      break;
    case "bf16":
      for (let j = 0; j < count; j++) out[j] = bfloat16ToNumber(view.getUint16(2 * j, littleEndian));
      break;
    case "i32":
      for (let j = 0; j < count; j++) out[j] = view.getInt32(4 * j, littleEndian);
      break;
    case "i64":
      for (let j = 0; j < count; j++) out[j] = Number(view.getBigInt64(8 * j, littleEndian));
      break;
    case "u8":
      for (let j = 0; j < count; j++) out[j] = view.getUint8(j);
      break;
    case "u16":
      for (let j = 0; j < count; j++) out[j] = view.getUint16(2 * j, littleEndian);
      break;
  }
  return out;
}

/** A copy of `data` as a Float64Array. */
export function toFloat64(data: ArrayLike<number>): Float64Array {
  return Float64Array.from(data);
}

/** Spatial rank of a layout: 1, 2 or 3. */
export function layoutRank(layout: Layout): number {
  return layout.length - 2;
}

/** PyTorch's layout for a kernel rank (3, 4, 5). */
export function torchLayout(rank: number): Layout {
  return (["oiw", "oihw", "oidhw"] as const)[rank - 3];
}

/** TensorFlow's layout for a kernel rank (3, 4, 5). */
export function tfLayout(rank: number): Layout {
  return (["wio", "hwio", "dhwio"] as const)[rank - 3];
}

/** `n` copies of `value`. */
export function fill(n: number, value: number): number[] {
  return Array.from({ length: n }, () => value);
}

/** A conv layer with the defaults every format starts from: stride and dilation 1, one group, circular padding. */
export function baseLayer(name: string, data: Float32Array | Float64Array, shape: number[], layout: Layout): ConvLayer {
  const r = layoutRank(layout);
  return {
    name,
    kernel: { data, shape },
    layout,
    transposed: false,
    stride: fill(r, 1),
    dilation: fill(r, 1),
    groups: 1,
    padding: "circular",
  };
}

/**
 * Output size of a windowed op (conv, pooling) along one axis with explicit
 * zero padding: `⌊(n + pb + pe − d(k − 1) − 1) / s⌋ + 1` (or ⌈…⌉ with
 * `ceil`); undefined when not positive.
 */
export function windowOut(
  n: number,
  k: number,
  s: number,
  d: number,
  pb: number,
  pe: number,
  ceil = false,
): number | undefined {
  const span = n + pb + pe - d * (k - 1) - 1;
  if (span < 0) return undefined;
  const out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  return out > 0 ? out : undefined;
}

/** TensorFlow's SAME padding of one axis: `[before, after]` (the odd one after). */
export function samePads(n: number, k: number, s: number, d: number): [number, number] {
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + d * (k - 1) + 1 - n, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * The `padding` (and, when asymmetric, `pads`) fields for explicit
 * per-axis zero padding given as `[begin…, end…]`.
 */
export function explicitPadding(pads: number[]): { padding: Padding; pads?: number[] } {
  const r = pads.length / 2;
  const begin = pads.slice(0, r);
  const end = pads.slice(r);
  if (begin.every((b, j) => b === end[j])) return { padding: begin };
  return { padding: begin.map((b, j) => Math.max(b, end[j])), pads: [...pads] };
}

/** A BatchNorm as a {@linkcode ChannelScale}. */
export function batchNorm(
  name: string,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number> | undefined,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  epsilon: number,
): ChannelScale {
  const scale: ChannelScale = {
    kind: "batchnorm",
    name,
    gamma: toFloat64(gamma),
    mean: toFloat64(mean),
    variance: toFloat64(variance),
    epsilon,
  };
  if (beta !== undefined) scale.beta = toFloat64(beta);
  return scale;
}

/** Number of output channels of a layer (from its kernel, layout, groups and kind). */
export function outChannels(layer: ConvLayer): number {
  const s = layer.kernel.shape;
  const oFirst = layer.layout.startsWith("oi");
  const o = oFirst ? s[0] : s[s.length - 1];
  const i = oFirst ? s[1] : s[s.length - 2];
  return layer.transposed ? i * layer.groups : o;
}
