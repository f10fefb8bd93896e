/**
 * Input checks shared by every entry point. Everything is checked before any
 * work or allocation starts.
 * @module
 */
import type { Kernel, Layout, SingularValuesOptions } from "./types.ts";

/** A validated 2-D layer: sizes, and how to read the kernel's elements. */
export interface Layer {
  data: Float32Array | Float64Array;
  layout: Layout;
  cOut: number;
  cIn: number;
  kh: number;
  kw: number;
  h: number;
  w: number;
}

const LAYOUTS: readonly Layout[] = ["oihw", "hwio"];

/** Largest number of singular values one call returns (2 GiB of Float64Array). */
export const MAX_VALUES = 2 ** 28;

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  if (value === null) return "null";
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Float64Array).length})`;
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return String(value);
}

function fail(Kind: typeof TypeError | typeof RangeError, what: string, rule: string, value: unknown): never {
  throw new Kind(`Cannot compute singular values as ${what} must be ${rule}: current value is ${show(value)}`);
}

function checkSizes(what: string, arr: unknown, rank: number, rankText: string): number[] {
  if (!Array.isArray(arr) && !(ArrayBuffer.isView(arr) && !(arr instanceof DataView))) {
    fail(TypeError, what, `an array of ${rankText}`, arr);
  }
  const list = Array.from(arr as ArrayLike<unknown>);
  if (list.length !== rank) fail(TypeError, what, `an array of ${rankText}`, list);
  for (const x of list) {
    if (typeof x !== "number" || !Number.isInteger(x)) fail(TypeError, what, "integers", list);
  }
  for (const x of list as number[]) {
    if (x < 1) fail(RangeError, what, "positive integers", list);
  }
  return list as number[];
}

/** Validates a kernel and options and returns the layer they describe. Throws TypeError/RangeError. */
export function validateLayer(kernel: Kernel, options: SingularValuesOptions): Layer {
  if (typeof kernel !== "object" || kernel === null) fail(TypeError, "kernel", "an object { data, shape }", kernel);
  if (typeof options !== "object" || options === null) {
    fail(TypeError, "options", "an object with inputShape", options);
  }
  const { data } = kernel;
  if (!(data instanceof Float32Array) && !(data instanceof Float64Array)) {
    fail(TypeError, "kernel.data", "a Float32Array or Float64Array", data);
  }
  const layout = options.layout ?? "oihw";
  if (!LAYOUTS.includes(layout)) fail(TypeError, "layout", `one of ${LAYOUTS.map(show).join(", ")}`, layout);
  const shape = checkSizes(`kernel.shape (${layout})`, kernel.shape, 4, "4 sizes");
  const [h, w] = checkSizes("inputShape", options.inputShape, 2, "2 sizes [h, w]");
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new TypeError(
      `Cannot compute singular values as kernel.data.length must equal the product of kernel.shape ${
        show(shape)
      } (${count}): current value is ${data.length}`,
    );
  }
  const [cOut, cIn, kh, kw] = layout === "oihw" ? shape : [shape[3], shape[2], shape[0], shape[1]];
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (x - x !== 0) {
      throw new RangeError(
        `Cannot compute singular values as kernel.data must be finite: current value is ${x} at index ${i}${
          where(i, shape, layout)
        }`,
      );
    }
  }
  const r = Math.min(cIn, cOut);
  const values = h * w * r;
  if (values > MAX_VALUES) {
    throw new RangeError(
      `Cannot compute singular values as h·w·min(c_in, c_out) must be at most ${MAX_VALUES}: current value is ${values} (inputShape ${
        show([h, w])
      }, c_in ${cIn}, c_out ${cOut})`,
    );
  }
  return { data, layout, cOut, cIn, kh, kw, h, w };
}

function where(index: number, shape: number[], layout: Layout): string {
  const idx: number[] = [];
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = rest % shape[d];
    rest = Math.floor(rest / shape[d]);
  }
  const names = layout === "oihw" ? ["o", "i", "a", "b"] : ["a", "b", "i", "o"];
  return ` (${names.map((n, d) => `${n}=${idx[d]}`).join(", ")})`;
}
