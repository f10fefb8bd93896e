/**
 * Input checks shared by every entry point. Everything is checked before any
 * work or allocation starts.
 *
 * {@linkcode validateSpec} accepts every layer kind (1-D/2-D/3-D, stride,
 * dilation, groups, transposed, padding) and normalises it to three spatial
 * axes `[d, h, w]` (a 1-D layer is `[1, 1, w]`, a 2-D one `[1, h, w]`);
 * {@linkcode exactSpec} is a layer with an exact spectrum (circular padding)
 * and {@linkcode plainSpec} the plain 2-D circular stride-1 layer that the
 * per-frequency functions (singular vectors) take. How to compute
 * (precision, threads, backend) is checked in src/_backend.ts.
 * @module
 */
import type { Kernel, Layout, SingularValuesOptions } from "./types.ts";
import { checkKeys, checkSizes, fail, isList, type KnownKeys, perAxis, show } from "./_checks.ts";

/** Three per-axis numbers `[depth, height, width]`. */
export type Axes = [number, number, number];

/**
 * A validated layer of any kind, described by the (forward) convolution it
 * is or, for a transposed layer, whose adjoint it is. Spatial sizes are
 * normalised to `[d, h, w]`.
 */
export interface LayerSpec {
  /** Spatial rank of the layer: the length of `inputShape`. */
  rank: 1 | 2 | 3;
  data: Float32Array | Float64Array;
  layout: Layout;
  /** The forward convolution's output channels (the kernel's `o` axis). */
  cOut: number;
  /** The forward convolution's input channels (`groups ×` the kernel's `i` axis). */
  cIn: number;
  groups: number;
  /** Channels per group: `cOut / groups` and `cIn / groups` (the kernel's `i` axis). */
  cOutG: number;
  cInG: number;
  /** Taps per axis. */
  k: Axes;
  /** The forward convolution's input size per axis. */
  n: Axes;
  /** The forward convolution's output size per axis. */
  out: Axes;
  stride: Axes;
  dilation: Axes;
  /** Zeros before and after each axis; undefined for the circular layer. */
  pad: [number, number][] | undefined;
  transposed: boolean;
  /**
   * The kernel in OI(DHW) order (`cOut × cInG × k_d × k_h × k_w`), read
   * through the layout: `data` itself when it is already in that order (read
   * only, never copied: a copy of a large kernel costs more than it saves),
   * else an f64 copy.
   */
  weights: Float32Array | Float64Array;
}

const LAYOUTS: readonly Layout[] = ["oiw", "wio", "oihw", "hwio", "oidhw", "dhwio"];
const LAYOUTS_BY_RANK: Record<1 | 2 | 3, readonly [Layout, Layout]> = {
  1: ["oiw", "wio"],
  2: ["oihw", "hwio"],
  3: ["oidhw", "dhwio"],
};

/**
 * The options of {@linkcode SingularValuesOptions}: the layer's and how to
 * run it. Every public function's table starts from this one.
 */
export const LAYER_OPTIONS: KnownKeys<SingularValuesOptions> = {
  inputShape: true,
  layout: true,
  stride: true,
  dilation: true,
  groups: true,
  transposed: true,
  padding: true,
  outputPadding: true,
  precision: true,
  threads: true,
  signal: true,
  onProgress: true,
  maxWork: true,
  backend: true,
};

/** What to do instead, for keys that are not options but are often passed as such. */
const OPTION_HINTS: Readonly<Record<string, string>> = {
  kernel: "the kernel is the first argument, not an option",
  name:
    "a model's ConvLayer is not an options object: pass layer.kernel first, then inputShape and the layer's layout, stride, dilation, groups, padding and transposed",
  data: "the kernel's data belongs in the kernel { data, shape }, the first argument",
  shape: "the kernel's shape belongs in the kernel { data, shape }; the input's is inputShape",
};

/**
 * Refuses an option key that `fn` does not know (a TypeError naming the key
 * and the key most likely meant), before any other check.
 *
 * @param fn The public function as the caller called it: `"singularValuesSync"`.
 * @param known The function's options (see {@linkcode LAYER_OPTIONS}).
 * @param subject What cannot be done otherwise (default `"compute singular values"`).
 */
export function checkOptions(
  fn: string,
  options: unknown,
  known: Readonly<Record<string, true>>,
  subject = "compute singular values",
): void {
  checkKeys(subject, `each option must be one that ${fn} knows`, options, known, OPTION_HINTS);
}

const KERNEL_FIELDS: KnownKeys<Kernel> = { data: true, shape: true };

const KERNEL_HINTS: Readonly<Record<string, string>> = {
  layout: "layout is an option: pass it next to inputShape",
  weights: "the weights are the kernel's data",
};

/** The channels-last layout of a rank, with its axes: `"hwio" [k_h, k_w, c_in, c_out]`. */
function described(layout: Layout): string {
  const names: Record<string, string> = { o: "c_out", i: "c_in", d: "k_d", h: "k_h", w: "k_w" };
  return `${show(layout)} [${layout.split("").map((c) => names[c]).join(", ")}]`;
}

/** Largest number of singular values one call returns (2 GiB of Float64Array). */
export const MAX_VALUES = 2 ** 28;

/** Pads a per-axis list of the layer's rank to `[d, h, w]`. */
function toAxes(list: readonly number[], fill: number): Axes {
  const a: number[] = [fill, fill, fill];
  for (let j = 0; j < list.length; j++) a[3 - list.length + j] = list[j];
  return a as Axes;
}

/** The last `rank` entries of a `[d, h, w]` triple: the user's per-axis view. */
export function fromAxes(a: readonly number[], rank: number): number[] {
  return a.slice(3 - rank);
}

/**
 * Validates a kernel and the options of any layer kind and returns the layer
 * they describe. Throws TypeError for wrong types, lengths, ranks and layouts,
 * RangeError for values out of range.
 */
export function validateSpec(kernel: Kernel, options: SingularValuesOptions): LayerSpec {
  if (typeof kernel !== "object" || kernel === null) fail(TypeError, "kernel", "an object { data, shape }", kernel);
  if (typeof options !== "object" || options === null) {
    fail(TypeError, "options", "an object with inputShape", options);
  }
  checkKeys(
    "compute singular values",
    "each field of a kernel must be data or shape",
    kernel,
    KERNEL_FIELDS,
    KERNEL_HINTS,
  );
  const { data } = kernel;
  if (!(data instanceof Float32Array) && !(data instanceof Float64Array)) {
    fail(TypeError, "kernel.data", "a Float32Array or Float64Array", data);
  }
  const input = checkSizes("inputShape", options.inputShape, [1, 2, 3], "1, 2 or 3 sizes ([w], [h, w] or [d, h, w])");
  const rank = input.length as 1 | 2 | 3;
  const shapeText = `inputShape ${show(input)}`;
  const layerText = `a ${rank}-D layer (${shapeText})`;
  const pair = LAYOUTS_BY_RANK[rank];
  const layout = options.layout ?? pair[0];
  if (!LAYOUTS.includes(layout)) fail(TypeError, "layout", `one of ${LAYOUTS.map(show).join(", ")}`, layout);
  if (!pair.includes(layout)) {
    fail(TypeError, "layout", `${show(pair[0])} or ${show(pair[1])} for ${layerText}`, layout);
  }
  const shape = checkSizes(
    `kernel.shape (${show(layout)})`,
    kernel.shape,
    rank + 2,
    `${rank + 2} sizes for ${layerText}`,
  );
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new TypeError(
      `Cannot compute singular values as kernel.data.length must equal the product of kernel.shape ${
        show(shape)
      } (${count}): current value is ${data.length}`,
    );
  }
  const channelsFirst = layout.startsWith("oi");
  const kList = channelsFirst ? shape.slice(2) : shape.slice(0, rank);
  const cOut = channelsFirst ? shape[0] : shape[rank + 1];
  const cInG = channelsFirst ? shape[1] : shape[rank];

  const strideList = perAxis("stride", options.stride, rank, 1, 1, shapeText);
  const dilationList = perAxis("dilation", options.dilation, rank, 1, 1, shapeText);
  const groups = options.groups ?? 1;
  if (typeof groups !== "number" || !Number.isInteger(groups)) fail(TypeError, "groups", "a positive integer", groups);
  if (groups < 1) fail(RangeError, "groups", "a positive integer", groups);
  const transposed = options.transposed ?? false;
  if (typeof transposed !== "boolean") fail(TypeError, "transposed", "a boolean", transposed);
  if (options.layout === undefined) {
    // A kernel larger than its input wraps, which is rarely meant: with the
    // default layout it is far more often a channels-last kernel read as
    // channels-first (a TensorFlow [3, 3, 64, 64] read as 64 × 64 taps).
    const fits = kList.map((k, j) => k <= (transposed ? input[j] * strideList[j] : input[j]));
    if (fits.includes(false)) {
      throw new RangeError(
        `Cannot compute singular values as a kernel read through the default layout ${
          described(pair[0])
        } must not have more taps than the input has positions on any axis (a TensorFlow kernel ${
          described(pair[1])
        } needs layout: ${show(pair[1])}; pass layout: ${
          show(pair[0])
        } to let a larger kernel wrap): current value is kernel.shape ${show(shape)} (taps ${show(kList)}) for ${
          transposed ? `the forward input ${show(input.map((x, j) => x * strideList[j]))} of ` : ""
        }${shapeText}`,
      );
    }
  }
  const padding = options.padding ?? "circular";
  let padList: [number, number][] | undefined;
  if (padding === "circular") {
    padList = undefined;
  } else if (padding === "valid") {
    padList = kList.map(() => [0, 0]);
  } else if (padding === "same") {
    if (transposed) fail(RangeError, "padding", `"circular", "valid" or sizes for a transposed layer`, padding);
    if (strideList.some((s) => s !== 1)) {
      fail(RangeError, "stride", `1 on every axis with padding "same" (as in PyTorch)`, options.stride);
    }
    padList = kList.map((k, j) => {
      const total = dilationList[j] * (k - 1);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  } else if (typeof padding === "number" || isList(padding)) {
    padList = perAxis("padding", padding, rank, 0, 0, shapeText).map((p) => [p, p]);
  } else {
    fail(TypeError, "padding", `"circular", "valid", "same", a non-negative integer or one per axis`, padding);
  }
  const outputPadding = perAxis("outputPadding", options.outputPadding, rank, 0, 0, shapeText);
  if (outputPadding.some((p) => p !== 0) && !(transposed && padList)) {
    fail(RangeError, "outputPadding", "0 unless the layer is transposed with zero padding", options.outputPadding);
  }

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

  if (cOut % groups !== 0) {
    throw new RangeError(
      `Cannot compute singular values as groups must divide the kernel's output-channel axis (o = ${cOut} in ${
        show(layout)
      }${transposed ? ", c_in of the transposed layer" : ""}): current value is ${groups}`,
    );
  }
  if (padList) {
    for (let j = 0; j < rank; j++) {
      const allowed = dilationList[j] * (kList[j] - 1);
      if (padList[j][0] > allowed || padList[j][1] > allowed) {
        throw new RangeError(
          `Cannot compute singular values as padding must be at most dilation·(kernel size − 1) = ${
            show(kList.map((k, a) => dilationList[a] * (k - 1)))
          } per axis (more adds outputs that see only zeros): current value is ${
            show(padList.map((p) => p[0] === p[1] ? p[0] : p))
          }`,
        );
      }
    }
    for (let j = 0; j < rank; j++) {
      if (outputPadding[j] >= Math.max(strideList[j], dilationList[j])) {
        fail(
          RangeError,
          "outputPadding",
          `smaller than the stride or the dilation on each axis (stride ${show(strideList)}, dilation ${
            show(dilationList)
          })`,
          outputPadding,
        );
      }
    }
  }

  // Sizes of the forward convolution.
  const n: number[] = [];
  const out: number[] = [];
  for (let j = 0; j < rank; j++) {
    const s = strideList[j], ext = dilationList[j] * (kList[j] - 1) + 1;
    if (!padList) {
      if (transposed) {
        n.push(input[j] * s);
        out.push(input[j]);
      } else {
        if (input[j] % s !== 0) {
          throw new RangeError(
            `Cannot compute singular values as stride must divide inputShape on every axis with circular padding (the phase split): current value is stride ${
              show(strideList)
            } for ${shapeText}`,
          );
        }
        n.push(input[j]);
        out.push(input[j] / s);
      }
    } else {
      const [pl, pr] = padList[j];
      if (transposed) {
        const size = (input[j] - 1) * s - pl - pr + ext + outputPadding[j];
        if (size < 1) {
          throw new RangeError(
            `Cannot compute singular values as the output of the transposed layer must be non-empty: current value is ${size} on axis ${j} (${shapeText}, stride ${
              show(strideList)
            }, padding ${show(padList.map((p) => p[0]))})`,
          );
        }
        n.push(size);
        out.push(input[j]);
      } else {
        if (input[j] + pl + pr < ext) {
          throw new RangeError(
            `Cannot compute singular values as the padded input must be at least the dilated kernel (dilation·(k − 1) + 1 = ${
              show(kList.map((k, a) => dilationList[a] * (k - 1) + 1))
            }): current value is ${show(input.map((x, a) => x + padList![a][0] + padList![a][1]))} (${shapeText})`,
          );
        }
        n.push(input[j]);
        out.push(Math.floor((input[j] + pl + pr - ext) / s) + 1);
      }
    }
  }

  const spec: LayerSpec = {
    rank,
    data,
    layout,
    cOut,
    cIn: cInG * groups,
    groups,
    cOutG: cOut / groups,
    cInG,
    k: toAxes(kList, 1),
    n: toAxes(n, 1),
    out: toAxes(out, 1),
    stride: toAxes(strideList, 1),
    dilation: toAxes(dilationList, 1),
    pad: padList ? [...Array.from({ length: 3 - rank }, (): [number, number] => [0, 0]), ...padList] : undefined,
    transposed,
    weights: new Float64Array(0),
  };
  if (!padList) {
    const cells = spec.out.reduce((a, b) => a * b, 1);
    const values = cells * valuesPerFrequency(spec);
    if (values > MAX_VALUES) {
      throw new RangeError(
        `Cannot compute singular values as their number must be at most ${MAX_VALUES}: current value is ${values} (${shapeText}, c_in ${spec.cIn}, c_out ${cOut}, stride ${
          show(strideList)
        }, groups ${groups})`,
      );
    }
  }
  spec.weights = readWeights(spec, channelsFirst);
  return spec;
}

/** Values per frequency of the circular layer: `groups · min(c_out/g, (c_in/g)·Π stride)`. */
export function valuesPerFrequency(spec: LayerSpec): number {
  const phases = spec.stride[0] * spec.stride[1] * spec.stride[2];
  return spec.groups * Math.min(spec.cOutG, spec.cInG * phases);
}

/** The same layer with other weights of the same shape and layout (`data` is read in place, as in validateSpec). */
export function withData(spec: LayerSpec, data: Float32Array | Float64Array): LayerSpec {
  const next = { ...spec, data };
  next.weights = readWeights(next, spec.layout.startsWith("oi"));
  return next;
}

function readWeights(spec: LayerSpec, channelsFirst: boolean): Float32Array | Float64Array {
  const { cOut, cInG, data } = spec;
  if (channelsFirst) return data;
  const [kd, kh, kw] = spec.k;
  const taps = kd * kh * kw;
  const wts = new Float64Array(cOut * cInG * taps);
  // Spatial axes first, then i, then o: index (tap·cInG + i)·cOut + o.
  for (let t = 0; t < taps; t++) {
    for (let i = 0; i < cInG; i++) {
      for (let o = 0; o < cOut; o++) wts[(o * cInG + i) * taps + t] = data[(t * cInG + i) * cOut + o];
    }
  }
  return wts;
}

/** Whether a spec is the plain 2-D circular stride-1 layer. */
function plainRefusal(spec: LayerSpec, options: SingularValuesOptions): [string, string, unknown] | undefined {
  if (spec.rank !== 2) return ["inputShape", "an array of 2 sizes [h, w]", options.inputShape];
  if (spec.stride.some((s) => s !== 1)) return ["stride", "1", options.stride];
  if (spec.dilation.some((s) => s !== 1)) return ["dilation", "1", options.dilation];
  if (spec.groups !== 1) return ["groups", "1", options.groups];
  if (spec.transposed) return ["transposed", "false", options.transposed];
  if (spec.pad) return ["padding", `"circular"`, options.padding];
  return undefined;
}

/**
 * Validates a kernel and options and returns the plain 2-D circular stride-1
 * layer they describe. Throws TypeError/RangeError, including for layer kinds
 * (stride, dilation, groups, transposed, padding, 1-D/3-D) that the calling
 * function does not take.
 */
export function plainSpec(kernel: Kernel, options: SingularValuesOptions): LayerSpec {
  const spec = validateSpec(kernel, options);
  const refusal = plainRefusal(spec, options);
  if (refusal) {
    const [what, rule, value] = refusal;
    const Kind = what === "inputShape" ? TypeError : RangeError;
    fail(
      Kind,
      what,
      `${rule} for this function (it takes plain 2-D circular stride-1 layers; singularValues, spectrum, operatorNorm and operatorNormBounds take every layer kind)`,
      value,
    );
  }
  return spec;
}

/** The sizes of a plain layer (see {@linkcode plainSpec}): channels, taps and input grid. */
export function plainShape(
  spec: LayerSpec,
): { cOut: number; cIn: number; kh: number; kw: number; h: number; w: number } {
  return { cOut: spec.cOut, cIn: spec.cIn, kh: spec.k[1], kw: spec.k[2], h: spec.n[1], w: spec.n[2] };
}

/** Validates a layer whose singular values have an exact formula (circular padding). */
export function exactSpec(kernel: Kernel, options: SingularValuesOptions): LayerSpec {
  const spec = validateSpec(kernel, options);
  if (spec.pad) {
    throw new RangeError(
      `Cannot compute singular values as padding must be "circular" for exact singular values (zero padding has no exact frequency formula; operatorNormBounds gives a certified interval for the norm): current value is ${
        show(options.padding)
      }`,
    );
  }
  return spec;
}

function where(index: number, shape: number[], layout: Layout): string {
  const idx: number[] = [];
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = rest % shape[d];
    rest = Math.floor(rest / shape[d]);
  }
  const spatial = layout.replace(/[oi]/g, "").split("").map((c) => ({ d: "c", h: "a", w: "b" })[c] ?? c);
  const names = layout.startsWith("oi") ? ["o", "i", ...spatial] : [...spatial, "i", "o"];
  return ` (${names.map((n, d) => `${n}=${idx[d]}`).join(", ")})`;
}
