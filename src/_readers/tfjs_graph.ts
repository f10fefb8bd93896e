/**
 * TensorFlow.js graph-models: the TensorFlow GraphDef of `model.json`
 * (`modelTopology.node`). Conv, depthwise and transposed-conv nodes become
 * kernels in TensorFlow's layout (their filters are weights of the manifest,
 * reached through `Identity` nodes) with strides, dilations and padding
 * (`SAME`, `VALID`, `EXPLICIT`); a `FusedBatchNorm` fused into the conv or
 * its only consumer becomes its scale. Nodes are visited in topological order
 * and spatial sizes propagated from the placeholders.
 * @module
 */
import type { ConvLayer } from "../model.ts";
import {
  baseLayer,
  batchNorm,
  checkAxes,
  explicitPadding,
  fill,
  type Source,
  tfLayout,
  typeError,
  windowOut,
} from "./_common.ts";
import { decode, depthwise, isObj, kernelSpec, type Obj, type Spec } from "./tfjs_weights.ts";

/** A GraphDef node as model.json holds it. */
export interface GNode {
  name: string;
  op: string;
  input?: string[] | undefined;
  attr?: Obj | undefined;
}

const GRAPH_CONV = new Set(["Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "Conv3D"]);
const GRAPH_TRANSPOSED = new Set(["Conv2DBackpropInput", "Conv3DBackpropInputV2"]);
const GRAPH_SAME = new Set([
  "Relu",
  "Relu6",
  "Elu",
  "Selu",
  "Sigmoid",
  "Tanh",
  "LeakyRelu",
  "Prelu",
  "BiasAdd",
  "Add",
  "AddV2",
  "Sub",
  "Mul",
  "RealDiv",
  "Maximum",
  "Minimum",
  "Identity",
  "FusedBatchNorm",
  "FusedBatchNormV3",
  "Square",
  "Sqrt",
  "Rsqrt",
  "Neg",
  "Abs",
  "Cast",
  "Softplus",
  "Swish",
  "Softmax",
  "AddN",
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

/** The conv layers of a graph-model's nodes, with spatial sizes propagated from its placeholders. */
export function graphLayers(
  src: Source,
  nodes: GNode[],
  specs: Map<string, Spec>,
  inputShape?: readonly number[],
): ConvLayer[] {
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
  for (const n of nodes) {
    for (const i of n.input ?? []) {
      const list = consumers.get(clean(i));
      if (list === undefined) consumers.set(clean(i), [n]);
      else list.push(n);
    }
  }
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
      const node = `the ${n.op} node "${n.name}"`;
      checkAxes(src, `${node} has strides`, strides, 1);
      checkAxes(src, `${node} has dilations`, dilations, 1);
      checkAxes(src, `${node} has explicit_paddings`, attrInts(a.explicit_paddings), 0);
      let k: number[] | undefined;
      if (n.op === "MaxPool" || n.op === "AvgPool") {
        k = sp(attrInts(a.ksize));
        checkAxes(src, `${node} has ksize`, k, 1);
      } else {
        const w = constant(ins[1] ?? "");
        if (w === undefined) {
          throw typeError(
            src,
            `the ${n.op} node "${n.name}" has a filter that is not a weight of the manifest`,
            ins[1],
          );
        }
        kernelSpec(src, node, w);
        const data = decode(src, w);
        const r = w.shape.length - 2;
        k = w.shape.slice(0, r);
        checkAxes(src, `${node} has strides`, strides, 1, r);
        checkAxes(src, `${node} has dilations`, dilations, 1, r);
        const layer = n.op.includes("Depthwise")
          ? depthwise(n.name, data, w.shape)
          : baseLayer(n.name, data, w.shape, tfLayout(w.shape.length));
        layer.transposed = transposed;
        layer.stride = strides ?? fill(r, 1);
        layer.dilation = dilations ?? fill(r, 1);
        if (padding === "SAME") layer.padding = "same";
        else if (padding === "EXPLICIT") {
          const e = attrInts(a.explicit_paddings) ?? [];
          const pairs = nchw ? e.slice(4) : e.slice(2, -2);
          Object.assign(
            layer,
            explicitPadding([...pairs.filter((_, j) => j % 2 === 0), ...pairs.filter((_, j) => j % 2 === 1)]),
          );
        } else layer.padding = "valid";
        if (x !== undefined) layer.inputShape = [...x];
        // a FusedBatchNorm that consumes the conv's output, or one fused into _FusedConv2D
        const fused = isObj(a.fused_ops) && isObj(a.fused_ops.list) && Array.isArray(a.fused_ops.list.s)
          ? a.fused_ops.list.s.map((s) => attrString({ s }))
          : [];
        const eps = (b: Obj) => isObj(b.epsilon) && typeof b.epsilon.f === "number" ? b.epsilon.f : 1e-3;
        const bnFrom = (name: string, args: string[], epsilon: number) => {
          const [s, o, m, v] = args.map((i) => constant(i));
          if (s && o && m && v) {
            layer.scale = batchNorm(name, decode(src, s), decode(src, o), decode(src, m), decode(src, v), epsilon);
          }
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
