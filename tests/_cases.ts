/**
 * The 2-D circular layer cases shared by the property tests: sizes, OIHW
 * weights held as exact doubles, and the kernel and options the package is
 * given for them.
 * @module
 */
import fc from "fast-check";
import type { Kernel, Layout } from "../mod.ts";
import { hwioFromOihw } from "./reference.ts";

/** A 2-D layer's sizes: channels, taps and the (circular) input. */
export interface Dims {
  cOut: number;
  cIn: number;
  kh: number;
  kw: number;
  h: number;
  w: number;
}

/** A layer: sizes and an OIHW kernel of exact doubles (exact Float32 values when `f32`). */
export interface Case extends Dims {
  /** OIHW weights; when `f32` is set they are all exact Float32 values. */
  data: Float64Array;
  /** Pass the kernel as a Float32Array. */
  f32: boolean;
  layout: Layout;
}

/** Cases of the given sizes and weights, in either 2-D layout, as Float64Array or Float32Array. */
export function caseOf(
  dims: fc.Arbitrary<Dims>,
  weights: (n: number) => fc.Arbitrary<Float64Array>,
): fc.Arbitrary<Case> {
  return dims.chain((d) =>
    fc
      .record({
        data: weights(d.cOut * d.cIn * d.kh * d.kw),
        f32: fc.boolean(),
        layout: fc.constantFrom<Layout>("oihw", "hwio"),
      })
      .map(({ data, f32, layout }) => ({
        ...d,
        // Round through Float32 so the reference sees exactly what the package gets.
        data: f32 ? Float64Array.from(Float32Array.from(data)) : data,
        f32,
        layout,
      }))
  );
}

/** The kernel as the API takes it, in the case's (or the given) layout and element type. */
export function kernelOf(c: Case, layout: Layout = c.layout, f32: boolean = c.f32): Kernel {
  const oihw = f32 ? Float32Array.from(c.data) : c.data.slice();
  if (layout === "oihw") return { data: oihw, shape: [c.cOut, c.cIn, c.kh, c.kw] };
  const data = oihw instanceof Float32Array
    ? hwioFromOihw(oihw, c.cOut, c.cIn, c.kh, c.kw)
    : hwioFromOihw(oihw, c.cOut, c.cIn, c.kh, c.kw);
  return { data, shape: [c.kh, c.kw, c.cIn, c.cOut] };
}

/** The options that go with {@linkcode kernelOf}. */
export function optionsOf(c: Case, layout: Layout = c.layout): { inputShape: [number, number]; layout: Layout } {
  return { inputShape: [c.h, c.w], layout };
}

/** The case in words, weights included (for failure messages). */
export function describe(c: Case): string {
  return `c_out=${c.cOut} c_in=${c.cIn} k=${c.kh}×${c.kw} input=${c.h}×${c.w} ${c.layout} ${
    c.f32 ? "f32" : "f64"
  } data=[${Array.from(c.data).join(", ")}]`;
}
