/**
 * TensorFlow.js layers-models: the Keras topology of `model.json`
 * (`modelTopology`, Keras 2 / TF.js or Keras 3 layout), flattened with nested
 * `Sequential` and functional models inline. Conv, transposed, depthwise and
 * separable layers become kernels in TensorFlow's layout with their strides,
 * dilations and padding; a `BatchNormalization` that is the only consumer of
 * a conv becomes its scale; spatial sizes are propagated from the input
 * layer's `batch_input_shape` through the layers whose output size is known.
 * @module
 */
import type { ConvLayer } from "../model.ts";
import type { Padding } from "../types.ts";
import {
  baseLayer,
  batchNorm,
  checkAxes,
  explicitPadding,
  fill,
  rangeError,
  type Source,
  tfLayout,
  typeError,
  windowOut,
} from "./_common.ts";
import { decode, depthwise, isObj, kernelSpec, type Obj, type Spec } from "./tfjs_weights.ts";

interface KLayer {
  className: string;
  name: string;
  config: Obj;
  inbound: string[];
}

/** How deep models may nest in a layers-model topology (and lists in a Keras 3 inbound node); deeper is refused. */
export const MAX_NESTING = 64;

/** The first input layer names of a Keras layer's inbound nodes (Keras 2 / TF.js lists, or Keras 3 objects). */
function inboundNames(src: Source, layer: Obj): string[] {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  const first = nodes[0];
  if (Array.isArray(first)) return first.filter(Array.isArray).map((t) => String(t[0]));
  if (isObj(first) && Array.isArray(first.args)) {
    const names: string[] = [];
    const walk = (x: unknown, depth = 0) => {
      if (depth > MAX_NESTING) {
        throw rangeError(
          src,
          `a TF.js layers-model whose inbound node nests lists more than ${MAX_NESTING} deep`,
          depth,
        );
      }
      if (Array.isArray(x)) x.forEach((y) => walk(y, depth + 1));
      else if (isObj(x)) {
        const h = isObj(x.config) ? x.config.keras_history : undefined;
        if (Array.isArray(h)) names.push(String(h[0]));
      }
    };
    walk(first.args);
    return names;
  }
  return [];
}

/** The layers of a Keras topology, flattened (nested Sequential models inline), each with its inbound layer names. */
function kerasLayers(src: Source, topology: Obj): KLayer[] {
  const model = isObj(topology.model_config) ? topology.model_config : topology;
  const out: KLayer[] = [];
  const walk = (m: Obj, before: string[], depth: number): string[] => {
    const cls = String(m.class_name);
    if (depth > MAX_NESTING) {
      throw rangeError(src, `a TF.js layers-model whose models nest more than ${MAX_NESTING} deep`, depth);
    }
    const config = m.config;
    const list = Array.isArray(config)
      ? config
      : isObj(config) && Array.isArray(config.layers)
      ? config.layers
      : undefined;
    if (list === undefined) throw typeError(src, `a TF.js ${cls} topology without layers`, cls);
    if (cls === "Sequential") {
      let prev = before;
      for (const l of list) {
        if (!isObj(l)) continue;
        if (l.class_name === "Sequential" || l.class_name === "Model" || l.class_name === "Functional") {
          prev = walk(l, prev, depth + 1);
          continue;
        }
        const cfg = isObj(l.config) ? l.config : {};
        const name = String(cfg.name ?? l.name ?? `layer_${out.length}`);
        out.push({ className: String(l.class_name), name, config: cfg, inbound: prev });
        prev = [name];
      }
      return prev;
    }
    const names = new Map<string, string>();
    let last: string[] = before;
    for (const l of list) {
      if (!isObj(l)) continue;
      const cfg = isObj(l.config) ? l.config : {};
      const name = String(l.name ?? cfg.name);
      const inbound = inboundNames(src, l).map((n) => names.get(n) ?? n);
      if (l.class_name === "Sequential" || l.class_name === "Model" || l.class_name === "Functional") {
        const end = walk(l, inbound, depth + 1);
        names.set(name, end[0]);
        continue;
      }
      out.push({
        className: String(l.class_name),
        name,
        config: cfg,
        inbound: l.class_name === "InputLayer" ? before : inbound,
      });
      last = [name];
    }
    return last;
  };
  if (!isObj(model) || typeof model.class_name !== "string") {
    throw typeError(src, "a TF.js layers-model without a Keras topology", model);
  }
  walk(model, [], 0);
  return out;
}

const PASS_THROUGH = new Set([
  "Activation",
  "ReLU",
  "LeakyReLU",
  "PReLU",
  "ELU",
  "ThresholdedReLU",
  "Softmax",
  "Dropout",
  "SpatialDropout1D",
  "SpatialDropout2D",
  "SpatialDropout3D",
  "GaussianNoise",
  "GaussianDropout",
  "AlphaDropout",
  "BatchNormalization",
  "LayerNormalization",
  "Add",
  "Subtract",
  "Multiply",
  "Average",
  "Maximum",
  "Minimum",
  "Rescaling",
  "Normalization",
  "InputLayer",
  "Identity",
]);
const CONV = new Set(["Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D"]);
const TRANSPOSED = new Set([
  "Conv1DTranspose",
  "Conv2DTranspose",
  "Conv3DTranspose",
  "Deconvolution2D",
  "Deconvolution3D",
]);
const DEPTHWISE = new Set(["DepthwiseConv1D", "DepthwiseConv2D"]);
const SEPARABLE = new Set(["SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D"]);
const POOL = /^(Max|Average)Pooling[123]D$/;
/** Slashes a layer's name may hold and still be found under a name scope (`scope/a/b/c/kernel`). */
const SCOPE_DEPTH = 4;

/** A Keras int-or-list config value as one number per axis. */
function perAxis(v: unknown, r: number, fallback: number): number[] {
  if (typeof v === "number") return fill(r, v);
  if (Array.isArray(v) && v.length === r && v.every((x) => typeof x === "number")) return v as number[];
  return fill(r, fallback);
}

/** Keras `padding` of a conv layer in PyTorch's terms. */
function kerasPadding(p: unknown, k: number[], d: number[]): { padding: Padding; pads?: number[] } {
  if (p === "same") return { padding: "same" };
  if (p === "causal") return explicitPadding([...k.map((kk, j) => (kk - 1) * d[j]), ...fill(k.length, 0)]);
  return { padding: "valid" };
}

/** The conv layers of a layers-model, with spatial sizes propagated from its input layer. */
export function kerasModelLayers(
  src: Source,
  topology: Obj,
  specs: Map<string, Spec>,
  inputShape?: readonly number[],
): ConvLayer[] {
  const klayers = kerasLayers(src, topology);
  // a weight under a name scope (`outer/conv/kernel` for layer `conv`): each key's suffixes after its last
  // SCOPE_DEPTH slashes, the first key in manifest order winning (linear in the manifest, unlike a scan per layer)
  const bySuffix = new Map<string, Spec>();
  for (const [k, s] of specs) {
    let at = k.lastIndexOf("/");
    for (let depth = 0; depth < SCOPE_DEPTH && at > 0; depth++) {
      at = k.lastIndexOf("/", at - 1);
      if (at < 0) break;
      const suffix = k.slice(at + 1);
      if (!bySuffix.has(suffix)) bySuffix.set(suffix, s);
    }
  }
  const weight = (layer: string, w: string): Spec | undefined =>
    specs.get(`${layer}/${w}`) ?? bySuffix.get(`${layer}/${w}`);
  const need = (layer: KLayer, w: string): Spec => {
    const s = weight(layer.name, w);
    if (s === undefined) {
      throw typeError(
        src,
        `the ${layer.className} layer "${layer.name}" has no weight "${w}" in the manifest`,
        layer.name,
      );
    }
    return s;
  };
  const channelsFirst = klayers.some((l) => l.config.data_format === "channels_first");
  const consumers = new Map<string, number>();
  for (const l of klayers) for (const i of l.inbound) consumers.set(i, (consumers.get(i) ?? 0) + 1);

  const spatial = new Map<string, number[] | undefined>();
  const convOf = new Map<string, ConvLayer>();
  const layers: ConvLayer[] = [];
  for (const l of klayers) {
    const c = l.config;
    let x = l.inbound.length > 0 ? spatial.get(l.inbound[0]) : undefined;
    const batchShape = (c.batch_input_shape ?? c.batch_shape) as unknown;
    if (l.inbound.length === 0 && Array.isArray(batchShape) && batchShape.length >= 3) {
      const sp = channelsFirst ? batchShape.slice(2) : batchShape.slice(1, -1);
      if (sp.every((v) => typeof v === "number" && v > 0)) x = sp as number[];
      else if (inputShape !== undefined && inputShape.length === sp.length) x = [...inputShape];
    }
    let out: number[] | undefined;
    const r = x?.length ?? 0;
    const isConv = CONV.has(l.className) || TRANSPOSED.has(l.className) || DEPTHWISE.has(l.className) ||
      SEPARABLE.has(l.className);
    if (isConv) {
      const rank = l.className.includes("1D") ? 1 : l.className.includes("3D") ? 3 : 2;
      const k = perAxis(c.kernel_size, rank, 1);
      const s = perAxis(c.strides, rank, 1);
      const d = perAxis(c.dilation_rate, rank, 1);
      const what = `the ${l.className} layer "${l.name}" has`;
      checkAxes(src, `${what} kernel_size`, k, 1);
      checkAxes(src, `${what} strides`, s, 1);
      checkAxes(src, `${what} dilation_rate`, d, 1);
      const pad = kerasPadding(c.padding, k, d);
      const place = (layer: ConvLayer, inp: number[] | undefined) => {
        layer.stride = [...s];
        layer.dilation = [...d];
        Object.assign(layer, pad);
        if (inp !== undefined) layer.inputShape = [...inp];
        layers.push(layer);
      };
      if (DEPTHWISE.has(l.className) || SEPARABLE.has(l.className)) {
        const dw = kernelSpec(src, `the ${l.className} layer "${l.name}"`, need(l, "depthwise_kernel"));
        const dl = depthwise(SEPARABLE.has(l.className) ? `${l.name}/depthwise` : l.name, decode(src, dw), dw.shape);
        place(dl, x);
        convOf.set(l.name, dl);
      } else {
        const kw = kernelSpec(src, `the ${l.className} layer "${l.name}"`, need(l, "kernel"));
        const layer = baseLayer(l.name, decode(src, kw), kw.shape, tfLayout(kw.shape.length));
        layer.transposed = TRANSPOSED.has(l.className);
        if (typeof c.groups === "number" && c.groups > 1) layer.groups = c.groups;
        const op = c.output_padding;
        if (layer.transposed && op !== null && op !== undefined) {
          const o = perAxis(op, rank, 0);
          if (o.some((v) => v !== 0)) layer.outputPadding = o;
        }
        place(layer, x);
        convOf.set(l.name, layer);
      }
      if (x !== undefined && x.length === rank) {
        const sizes = x.map((n, j) => {
          if (TRANSPOSED.has(l.className)) {
            const kd = (k[j] - 1) * d[j] + 1;
            const o = c.output_padding === null || c.output_padding === undefined
              ? undefined
              : perAxis(c.output_padding, rank, 0)[j];
            if (o === undefined) return c.padding === "same" ? n * s[j] : n * s[j] + Math.max(kd - s[j], 0);
            return (n - 1) * s[j] + kd - 2 * (c.padding === "same" ? Math.floor(kd / 2) : 0) + o;
          }
          if (c.padding === "same" || c.padding === "causal") return Math.ceil(n / s[j]);
          return windowOut(n, k[j], s[j], d[j], 0, 0);
        });
        if (sizes.every((v) => v !== undefined && v > 0)) out = sizes as number[];
      }
      if (SEPARABLE.has(l.className)) {
        const pw = kernelSpec(src, `the ${l.className} layer "${l.name}"`, need(l, "pointwise_kernel"));
        const pl = baseLayer(`${l.name}/pointwise`, decode(src, pw), pw.shape, tfLayout(pw.shape.length));
        pl.padding = "valid";
        if (out !== undefined) pl.inputShape = [...out];
        layers.push(pl);
        convOf.set(l.name, pl);
      }
    } else if (POOL.test(l.className) && x !== undefined) {
      const k = perAxis(c.pool_size, r, 2);
      const s = c.strides === null || c.strides === undefined ? k : perAxis(c.strides, r, 1);
      checkAxes(src, `the ${l.className} layer "${l.name}" has pool_size`, k, 1);
      checkAxes(src, `the ${l.className} layer "${l.name}" has strides`, s, 1);
      const sizes = x.map((n, j) => c.padding === "same" ? Math.ceil(n / s[j]) : windowOut(n, k[j], s[j], 1, 0, 0));
      if (sizes.every((v) => v !== undefined)) out = sizes as number[];
    } else if (/^ZeroPadding[123]D$/.test(l.className) && x !== undefined) {
      // Keras: an int, one int per axis (both sides), one (before, after) per axis; 1-D takes (before, after)
      const p = x.length === 1 && Array.isArray(c.padding) && c.padding.length === 2 && c.padding.every((v) =>
          typeof v === "number"
        )
        ? [c.padding]
        : c.padding;
      const pairs = x.map((_, j) => {
        if (typeof p === "number") return [p, p];
        const a = Array.isArray(p) ? p[j] : undefined;
        return typeof a === "number" ? [a, a] : Array.isArray(a) ? [Number(a[0]), Number(a[1])] : [NaN, NaN];
      });
      const sizes = x.map((n, j) => n + pairs[j][0] + pairs[j][1]);
      if (sizes.every((v) => Number.isInteger(v) && v > 0)) out = sizes;
    } else if (/^UpSampling[123]D$/.test(l.className) && x !== undefined) {
      out = x.map((n, j) => n * perAxis(c.size, r, 2)[j]);
    } else if (PASS_THROUGH.has(l.className) || l.className === "Concatenate") {
      const all = l.inbound.map((i) => spatial.get(i));
      if (l.inbound.length === 0) out = x;
      else if (all.every((v) => v !== undefined && v.join() === all[0]!.join())) out = all[0];
    }
    spatial.set(l.name, out);
    if (l.className === "BatchNormalization" && l.inbound.length === 1) {
      const conv = convOf.get(l.inbound[0]);
      if (conv !== undefined && consumers.get(l.inbound[0]) === 1) {
        const mean = need(l, "moving_mean");
        const variance = need(l, "moving_variance");
        const gamma = c.scale === false ? undefined : weight(l.name, "gamma");
        const beta = c.center === false ? undefined : weight(l.name, "beta");
        const n = mean.count;
        conv.scale = batchNorm(
          l.name,
          gamma === undefined ? new Float64Array(n).fill(1) : decode(src, gamma),
          beta === undefined ? undefined : decode(src, beta),
          decode(src, mean),
          decode(src, variance),
          typeof c.epsilon === "number" ? c.epsilon : 1e-3,
        );
      }
    }
  }
  return layers;
}
