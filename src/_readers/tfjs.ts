/**
 * TensorFlow.js models: `model.json` (a `layers-model` with a Keras topology,
 * a `graph-model` with a TensorFlow GraphDef, or a bare weights manifest as
 * face-api ships) and its weight shards, including the converter's
 * uint8/uint16/float16 quantisation.
 * @module
 */
import type { ChannelScale, ConvLayer } from "../model.ts";
import {
  baseLayer,
  batchNorm,
  checkRange,
  decodeFloats,
  elementCount,
  explicitPadding,
  fill,
  rangeError,
  type Source,
  tfLayout,
  toFloat64,
  typeError,
  windowOut,
} from "./_common.ts";
import type { Padding } from "../types.ts";

/** A TF.js model as the readers take it: the parsed model.json and its shards in manifest order. */
export interface TfjsInput {
  modelJson: unknown;
  weights: Uint8Array[];
}

interface Spec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; offset?: number } | undefined;
  bytes: Uint8Array;
  offset: number;
  count: number;
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => x !== null && typeof x === "object" && !Array.isArray(x);

const DTYPE_SIZE: Record<string, number> = { float32: 4, int32: 4, bool: 1, float16: 2, complex64: 8, uint8: 1, uint16: 2 };

/** The weights of the manifest, located in their group's shards (every size checked against the shards). */
function weightSpecs(src: Source, groups: unknown, shards: Uint8Array[]): Map<string, Spec> {
  if (!Array.isArray(groups)) throw typeError(src, "a TF.js weightsManifest that is not a list of groups", groups);
  const paths = groups.reduce((n: number, g) => n + (isObj(g) && Array.isArray(g.paths) ? g.paths.length : 0), 0);
  if (paths !== shards.length) {
    throw typeError(src, `a TF.js manifest naming ${paths} shards where ${shards.length} were given`, shards.length);
  }
  const specs = new Map<string, Spec>();
  let shard = 0;
  for (const g of groups) {
    if (!isObj(g) || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      throw typeError(src, "a TF.js manifest group without paths and weights", g);
    }
    const parts = shards.slice(shard, shard + g.paths.length);
    shard += g.paths.length;
    let bytes: Uint8Array;
    if (parts.length === 1) bytes = parts[0];
    else {
      bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) {
        bytes.set(p, o);
        o += p.length;
      }
    }
    let offset = 0;
    for (const w of g.weights) {
      if (!isObj(w) || typeof w.name !== "string" || typeof w.dtype !== "string") {
        throw typeError(src, "a TF.js manifest entry without name and dtype", w);
      }
      const count = elementCount(src, `weight "${w.name}"`, w.shape);
      const q = w.quantization;
      let size: number;
      if (w.dtype === "string") {
        size = 0;
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
        for (let j = 0; j < count; j++) {
          checkRange(src, `string weight "${w.name}" in shards ${JSON.stringify(g.paths)}`, bytes, offset + size, 4);
          size += 4 + view.getUint32(offset + size, true);
        }
      } else {
        const itemDtype = isObj(q) && typeof q.dtype === "string" ? q.dtype : w.dtype;
        const item = DTYPE_SIZE[itemDtype];
        if (item === undefined) throw typeError(src, `weight "${w.name}" has an unknown dtype`, itemDtype);
        size = count * item;
      }
      if (offset + size > bytes.length) {
        throw rangeError(
          src,
          `weight "${w.name}" ends at byte ${offset + size} of shards ${JSON.stringify(g.paths)}, which hold ${bytes.length} (a shard is shorter than the manifest says)`,
          bytes.length,
        );
      }
      specs.set((w.name as string).replace(/:0$/, ""), {
        name: w.name as string,
        shape: w.shape as number[],
        dtype: w.dtype,
        quantization: isObj(q) ? q as Spec["quantization"] : undefined,
        bytes,
        offset,
        count,
      });
      offset += size;
    }
  }
  return specs;
}

/** A weight's values as TF.js's loader gives them: float32 (dequantised where quantised: q·scale + min, then rounded to f32). */
function decode(src: Source, s: Spec): Float32Array {
  const q = s.quantization;
  if (q !== undefined) {
    if (q.dtype === "float16") {
      const raw = decodeFloats(src, `weight "${s.name}"`, s.bytes, s.offset, s.count, "f16");
      return raw as Float32Array;
    }
    if (q.dtype !== "uint8" && q.dtype !== "uint16") {
      throw typeError(src, `weight "${s.name}" has a quantization dtype other than uint8, uint16 and float16`, q.dtype);
    }
    const min = q.min ?? q.offset;
    if (typeof q.scale !== "number" || typeof min !== "number" || !Number.isFinite(q.scale) || !Number.isFinite(min)) {
      throw typeError(src, `weight "${s.name}" is ${q.dtype}-quantised without a finite scale and min`, q);
    }
    const raw = decodeFloats(src, `weight "${s.name}"`, s.bytes, s.offset, s.count, q.dtype === "uint8" ? "u8" : "u16");
    const out = new Float32Array(s.count);
    const round = s.dtype === "int32";
    for (let j = 0; j < s.count; j++) {
      const v = raw[j] * q.scale + min;
      out[j] = round ? Math.round(v) : v;
    }
    return out;
  }
  const type = s.dtype === "float32" ? "f32" : s.dtype === "int32" ? "i32" : s.dtype === "float16" ? "f16" : undefined;
  if (type === undefined) throw typeError(src, `weight "${s.name}" has a dtype other than float32, int32 and float16`, s.dtype);
  return decodeFloats(src, `weight "${s.name}"`, s.bytes, s.offset, s.count, type) as Float32Array;
}

/** A depthwise kernel `[k…, C, M]` as a grouped hwio kernel `[k…, 1, C·M]` (same data order), with `groups = C`. */
function depthwise(name: string, data: Float32Array, shape: number[]): ConvLayer {
  const r = shape.length;
  const c = shape[r - 2];
  const layer = baseLayer(name, data, [...shape.slice(0, r - 2), 1, c * shape[r - 1]], tfLayout(r));
  layer.groups = c;
  return layer;
}

// ------------------------------------------------------------------ bare manifest

/**
 * A weights manifest with no topology (face-api's `*-weights_manifest.json`,
 * or a graph the reader cannot follow): every float weight of rank 3–5 is a
 * kernel read as TensorFlow's layout; names ending `depthwise_filter` or
 * `depthwise_kernel` are depthwise. `P/conv/filters` takes `P/scale/weights`
 * (and `P/scale/biases`) as its scale, face-api's ResNet convention.
 * Attributes are unknown: stride 1, circular padding, no input shape.
 */
function manifestLayers(src: Source, specs: Map<string, Spec>): ConvLayer[] {
  const layers: ConvLayer[] = [];
  for (const [key, s] of specs) {
    if (s.shape.length < 3 || s.shape.length > 5 || !/^(float32|float16)$/.test(s.dtype)) continue;
    const name = key.includes("/") ? key.slice(0, key.lastIndexOf("/")) : key;
    const last = key.slice(key.lastIndexOf("/") + 1);
    const data = decode(src, s);
    let layer: ConvLayer;
    if (/depthwise_(filter|kernel)$/.test(last)) layer = depthwise(`${name}/depthwise`, data, s.shape);
    else if (/pointwise_(filter|kernel)$/.test(last)) layer = baseLayer(`${name}/pointwise`, data, s.shape, tfLayout(s.shape.length));
    else layer = baseLayer(name, data, s.shape, tfLayout(s.shape.length));
    if (name.endsWith("/conv")) {
      const p = name.slice(0, -"/conv".length);
      const w = specs.get(`${p}/scale/weights`);
      const b = specs.get(`${p}/scale/biases`);
      if (w !== undefined && w.count === s.shape[s.shape.length - 1]) {
        const scale: ChannelScale = { kind: "scale", name: `${p}/scale`, gamma: toFloat64(decode(src, w)) };
        if (b !== undefined && b.count === w.count) scale.beta = toFloat64(decode(src, b));
        layer.scale = scale;
      }
    }
    layers.push(layer);
  }
  return layers;
}

// ------------------------------------------------------------------ layers-model (Keras topology)

interface KLayer {
  className: string;
  name: string;
  config: Obj;
  inbound: string[];
}

/** The first input layer names of a Keras layer's inbound nodes (Keras 2 / TF.js lists, or Keras 3 objects). */
function inboundNames(layer: Obj): string[] {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  const first = nodes[0];
  if (Array.isArray(first)) return first.filter(Array.isArray).map((t) => String(t[0]));
  if (isObj(first) && Array.isArray(first.args)) {
    const names: string[] = [];
    const walk = (x: unknown) => {
      if (Array.isArray(x)) x.forEach(walk);
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
  const walk = (m: Obj, before: string[]): string[] => {
    const cls = String(m.class_name);
    const config = m.config;
    const list = Array.isArray(config) ? config : isObj(config) && Array.isArray(config.layers) ? config.layers : undefined;
    if (list === undefined) throw typeError(src, `a TF.js ${cls} topology without layers`, cls);
    if (cls === "Sequential") {
      let prev = before;
      for (const l of list) {
        if (!isObj(l)) continue;
        if (l.class_name === "Sequential" || l.class_name === "Model" || l.class_name === "Functional") {
          prev = walk(l, prev);
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
      const inbound = inboundNames(l).map((n) => names.get(n) ?? n);
      if (l.class_name === "Sequential" || l.class_name === "Model" || l.class_name === "Functional") {
        const end = walk(l, inbound);
        names.set(name, end[0]);
        continue;
      }
      out.push({ className: String(l.class_name), name, config: cfg, inbound: l.class_name === "InputLayer" ? before : inbound });
      last = [name];
    }
    return last;
  };
  if (!isObj(model) || typeof model.class_name !== "string") throw typeError(src, "a TF.js layers-model without a Keras topology", model);
  walk(model, []);
  return out;
}

const PASS_THROUGH = new Set([
  "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax", "Dropout", "SpatialDropout1D",
  "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "BatchNormalization",
  "LayerNormalization", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Rescaling", "Normalization",
  "InputLayer", "Identity",
]);
const CONV = new Set(["Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D"]);
const TRANSPOSED = new Set(["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Deconvolution2D", "Deconvolution3D"]);
const DEPTHWISE = new Set(["DepthwiseConv1D", "DepthwiseConv2D"]);
const SEPARABLE = new Set(["SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D"]);
const POOL = /^(Max|Average)Pooling[123]D$/;

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

function kerasModelLayers(src: Source, topology: Obj, specs: Map<string, Spec>, inputShape?: readonly number[]): ConvLayer[] {
  const klayers = kerasLayers(src, topology);
  const weight = (layer: string, w: string): Spec | undefined => {
    const exact = specs.get(`${layer}/${w}`);
    if (exact !== undefined) return exact;
    for (const [k, s] of specs) if (k.endsWith(`/${layer}/${w}`)) return s;
    return undefined;
  };
  const need = (layer: KLayer, w: string): Spec => {
    const s = weight(layer.name, w);
    if (s === undefined) throw typeError(src, `the ${layer.className} layer "${layer.name}" has no weight "${w}" in the manifest`, layer.name);
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
      const pad = kerasPadding(c.padding, k, d);
      const place = (layer: ConvLayer, inp: number[] | undefined) => {
        layer.stride = [...s];
        layer.dilation = [...d];
        Object.assign(layer, pad);
        if (inp !== undefined) layer.inputShape = [...inp];
        layers.push(layer);
      };
      if (DEPTHWISE.has(l.className) || SEPARABLE.has(l.className)) {
        const dw = need(l, "depthwise_kernel");
        const dl = depthwise(SEPARABLE.has(l.className) ? `${l.name}/depthwise` : l.name, decode(src, dw), dw.shape);
        place(dl, x);
        convOf.set(l.name, dl);
      } else {
        const kw = need(l, "kernel");
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
            const o = c.output_padding === null || c.output_padding === undefined ? undefined : perAxis(c.output_padding, rank, 0)[j];
            if (o === undefined) return c.padding === "same" ? n * s[j] : n * s[j] + Math.max(kd - s[j], 0);
            return (n - 1) * s[j] + kd - 2 * (c.padding === "same" ? Math.floor(kd / 2) : 0) + o;
          }
          if (c.padding === "same" || c.padding === "causal") return Math.ceil(n / s[j]);
          return windowOut(n, k[j], s[j], d[j], 0, 0);
        });
        if (sizes.every((v) => v !== undefined && v > 0)) out = sizes as number[];
      }
      if (SEPARABLE.has(l.className)) {
        const pw = need(l, "pointwise_kernel");
        const pl = baseLayer(`${l.name}/pointwise`, decode(src, pw), pw.shape, tfLayout(pw.shape.length));
        pl.padding = "valid";
        if (out !== undefined) pl.inputShape = [...out];
        layers.push(pl);
        convOf.set(l.name, pl);
      }
    } else if (POOL.test(l.className) && x !== undefined) {
      const k = perAxis(c.pool_size, r, 2);
      const s = c.strides === null || c.strides === undefined ? k : perAxis(c.strides, r, 1);
      const sizes = x.map((n, j) => c.padding === "same" ? Math.ceil(n / s[j]) : windowOut(n, k[j], s[j], 1, 0, 0));
      if (sizes.every((v) => v !== undefined)) out = sizes as number[];
    } else if (/^ZeroPadding[123]D$/.test(l.className) && x !== undefined) {
      // Keras: an int, one int per axis (both sides), one (before, after) per axis; 1-D takes (before, after)
      const p = x.length === 1 && Array.isArray(c.padding) && c.padding.length === 2 && c.padding.every((v) => typeof v === "number")
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

// ------------------------------------------------------------------ graph-model (TensorFlow GraphDef)

interface GNode {
  name: string;
  op: string;
  input?: string[] | undefined;
  attr?: Obj | undefined;
}

const GRAPH_CONV = new Set(["Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "Conv3D"]);
const GRAPH_TRANSPOSED = new Set(["Conv2DBackpropInput", "Conv3DBackpropInputV2"]);
const GRAPH_SAME = new Set([
  "Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "LeakyRelu", "Prelu", "BiasAdd", "Add", "AddV2", "Sub", "Mul",
  "RealDiv", "Maximum", "Minimum", "Identity", "FusedBatchNorm", "FusedBatchNormV3", "Square", "Sqrt", "Rsqrt", "Neg",
  "Abs", "Cast", "Softplus", "Swish", "Softmax", "AddN",
]);

function attrInts(a: unknown): number[] | undefined {
  const list = isObj(a) && isObj(a.list) ? a.list.i : undefined;
  return Array.isArray(list) ? list.map(Number) : undefined;
}

function attrString(a: unknown): string | undefined {
  const s = isObj(a) ? a.s : undefined;
  if (typeof s !== "string") return undefined;
  try {
    return atob(s);
  } catch {
    return s;
  }
}

function graphLayers(src: Source, nodes: GNode[], specs: Map<string, Spec>, inputShape?: readonly number[]): ConvLayer[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const clean = (i: string) => i.replace(/^\^/, "").replace(/:\d+$/, "");
  /** The weight a node input names, through Identity nodes. */
  const constant = (input: string): Spec | undefined => {
    let name = clean(input);
    for (let hops = 0; hops < 64; hops++) {
      const s = specs.get(name);
      if (s !== undefined) return s;
      const n = byName.get(name);
      if (n === undefined || n.op !== "Identity" || !n.input?.length) return undefined;
      name = clean(n.input[0]);
    }
    return undefined;
  };
  const consumers = new Map<string, GNode[]>();
  for (const n of nodes) for (const i of n.input ?? []) consumers.set(clean(i), [...(consumers.get(clean(i)) ?? []), n]);
  const spatial = new Map<string, number[]>();
  const layers: ConvLayer[] = [];
  // GraphDefs from the converter are topologically sorted; follow inputs where they are not
  const order: GNode[] = [];
  const state = new Map<string, number>();
  const visit = (n: GNode) => {
    const stack: [GNode, number][] = [[n, 0]];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [node, idx] = top;
      if (idx === 0) {
        if (state.get(node.name) !== undefined) {
          stack.pop();
          continue;
        }
        state.set(node.name, 1);
      }
      const ins = node.input ?? [];
      if (idx < ins.length) {
        top[1]++;
        const child = byName.get(clean(ins[idx]));
        if (child !== undefined && state.get(child.name) === undefined) stack.push([child, 0]);
      } else {
        state.set(node.name, 2);
        order.push(node);
        stack.pop();
      }
    }
  };
  nodes.forEach(visit);

  for (const n of order) {
    const a = n.attr ?? {};
    const ins = (n.input ?? []).filter((i) => !i.startsWith("^"));
    const nchw = attrString(a.data_format)?.startsWith("NC") ?? false;
    const sp = (v: number[] | undefined) => v === undefined ? undefined : nchw ? v.slice(2) : v.slice(1, -1);
    let out: number[] | undefined;
    if (n.op === "Placeholder") {
      const dims = isObj(a.shape) && isObj(a.shape.shape) ? a.shape.shape.dim : undefined;
      if (Array.isArray(dims) && dims.length >= 3) {
        const sizes = dims.slice(1, -1).map((d) => Number(isObj(d) ? d.size : NaN));
        if (sizes.every((v) => v > 0)) out = sizes;
        else if (inputShape !== undefined && inputShape.length === sizes.length) out = [...inputShape];
      }
    } else if (GRAPH_CONV.has(n.op) || GRAPH_TRANSPOSED.has(n.op) || n.op === "MaxPool" || n.op === "AvgPool") {
      const transposed = GRAPH_TRANSPOSED.has(n.op);
      const x = spatial.get(clean(ins[transposed ? 2 : 0] ?? ""));
      const strides = sp(attrInts(a.strides));
      const dilations = sp(attrInts(a.dilations));
      const padding = attrString(a.padding) ?? "VALID";
      let k: number[] | undefined;
      if (n.op === "MaxPool" || n.op === "AvgPool") k = sp(attrInts(a.ksize));
      else {
        const w = constant(ins[1] ?? "");
        if (w === undefined) {
          throw typeError(src, `the ${n.op} node "${n.name}" has a filter that is not a weight of the manifest`, ins[1]);
        }
        const data = decode(src, w);
        const r = w.shape.length - 2;
        k = w.shape.slice(0, r);
        const layer = n.op.includes("Depthwise") ? depthwise(n.name, data, w.shape) : baseLayer(n.name, data, w.shape, tfLayout(w.shape.length));
        layer.transposed = transposed;
        layer.stride = strides ?? fill(r, 1);
        layer.dilation = dilations ?? fill(r, 1);
        if (padding === "SAME") layer.padding = "same";
        else if (padding === "EXPLICIT") {
          const e = attrInts(a.explicit_paddings) ?? [];
          const pairs = (nchw ? e.slice(4) : e.slice(2, -2));
          Object.assign(layer, explicitPadding([...pairs.filter((_, j) => j % 2 === 0), ...pairs.filter((_, j) => j % 2 === 1)]));
        } else layer.padding = "valid";
        if (x !== undefined) layer.inputShape = [...x];
        // a FusedBatchNorm that consumes the conv's output, or one fused into _FusedConv2D
        const fused = isObj(a.fused_ops) && isObj(a.fused_ops.list) && Array.isArray(a.fused_ops.list.s)
          ? a.fused_ops.list.s.map((s) => attrString({ s }))
          : [];
        const eps = (b: Obj) => isObj(b.epsilon) && typeof b.epsilon.f === "number" ? b.epsilon.f : 1e-3;
        const bnFrom = (name: string, args: string[], epsilon: number) => {
          const [s, o, m, v] = args.map((i) => constant(i));
          if (s && o && m && v) layer.scale = batchNorm(name, decode(src, s), decode(src, o), decode(src, m), decode(src, v), epsilon);
        };
        if (fused[0] === "FusedBatchNorm") bnFrom(n.name, ins.slice(2, 6), eps(a));
        else {
          const next = consumers.get(n.name);
          if (next?.length === 1 && next[0].op.startsWith("FusedBatchNorm")) {
            bnFrom(next[0].name, (next[0].input ?? []).slice(1, 5), eps(next[0].attr ?? {}));
          }
        }
        layers.push(layer);
      }
      if (x !== undefined && k !== undefined && k.length === x.length) {
        const s = strides ?? fill(x.length, 1);
        const d = dilations ?? fill(x.length, 1);
        let sizes: (number | undefined)[];
        if (transposed) {
          const sizesNode = constant(ins[0] ?? "");
          const v = sizesNode === undefined ? undefined : Array.from(decode(src, sizesNode));
          sizes = v === undefined ? x.map(() => undefined) : (nchw ? v.slice(2) : v.slice(1, -1));
        } else if (padding === "SAME") sizes = x.map((nn, j) => Math.ceil(nn / s[j]));
        else if (padding === "EXPLICIT") {
          const e = attrInts(a.explicit_paddings) ?? [];
          const pairs = nchw ? e.slice(4) : e.slice(2, -2);
          sizes = x.map((nn, j) => windowOut(nn, k![j], s[j], d[j], pairs[2 * j] ?? 0, pairs[2 * j + 1] ?? 0));
        } else sizes = x.map((nn, j) => windowOut(nn, k![j], s[j], d[j], 0, 0));
        if (sizes.every((v) => v !== undefined && v > 0)) out = sizes as number[];
      }
    } else if (GRAPH_SAME.has(n.op) || n.op === "ConcatV2") {
      const data = (n.op === "ConcatV2" ? ins.slice(0, -1) : ins).filter((i) => constant(i) === undefined);
      const known = data.map((i) => spatial.get(clean(i)));
      if (data.length > 0 && known.every((v) => v !== undefined && v.join() === known[0]!.join())) out = known[0];
    } else if ((n.op === "Pad" || n.op === "PadV2" || n.op === "MirrorPad") && ins.length >= 2) {
      const x = spatial.get(clean(ins[0]));
      const p = constant(ins[1]);
      if (x !== undefined && p !== undefined && p.count === 2 * (x.length + 2)) {
        const v = Array.from(decode(src, p));
        out = x.map((nn, j) => nn + v[2 * (j + 1)] + v[2 * (j + 1) + 1]);
      }
    }
    if (out !== undefined) spatial.set(n.name, out);
  }
  return layers;
}

/** Reads a TF.js model: a layers-model, a graph-model, or a bare weights manifest. */
export function readTfjs(input: TfjsInput, src: Source, options: { inputShape?: readonly number[] | undefined }): ConvLayer[] {
  const json = input.modelJson;
  if (!Array.isArray(input.weights) || !input.weights.every((w) => w instanceof Uint8Array)) {
    throw typeError(src, "TF.js weights that are not a list of Uint8Array shards", typeof input.weights);
  }
  if (Array.isArray(json)) {
    return manifestLayers(src, weightSpecs(src, json, input.weights));
  }
  if (!isObj(json) || !Array.isArray(json.weightsManifest)) {
    throw typeError(src, "a TF.js model.json without a weightsManifest", isObj(json) ? Object.keys(json) : json);
  }
  const specs = weightSpecs(src, json.weightsManifest, input.weights);
  const topology = json.modelTopology;
  if (isObj(topology) && Array.isArray(topology.node)) {
    const nodes = (topology.node as unknown[]).filter((n): n is GNode => isObj(n) && typeof n.name === "string" && typeof n.op === "string");
    let layers: ConvLayer[] = [];
    try {
      layers = graphLayers(src, nodes, specs, options.inputShape);
    } catch {
      // a graph the reader cannot follow: the weights alone, below
    }
    return layers.length > 0 ? layers : manifestLayers(src, specs);
  }
  if (isObj(topology) && (typeof topology.class_name === "string" || isObj(topology.model_config))) {
    return kerasModelLayers(src, topology, specs, options.inputShape);
  }
  return manifestLayers(src, specs);
}
