/**
 * TensorFlow.js graph-models: the TensorFlow GraphDef of `model.json`
 * (`modelTopology.node`). Conv, depthwise and transposed-conv nodes become
 * kernels in TensorFlow's layout (their filters are weights of the manifest,
 * reached through `Identity` nodes) with strides, dilations and padding
 * (`SAME`, `VALID`, `EXPLICIT`); a `FusedBatchNorm` fused into the conv or
 * its only consumer becomes its scale. Filters are reached through
 * `Identity` nodes and the data input of `Switch` (control flow). Nodes are
 * visited in topological order and whole shapes propagated exactly from the
 * placeholders (the ops `inferNode` lists, shape arithmetic included); a conv
 * whose input cannot be sized says why in `inputShapeReason`.
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
import { axisOf, broadcast, known, reshape, type Shape, showShape, type Sized } from "./_shapes.ts";

/** A GraphDef node as model.json holds it. */
export interface GNode {
  name: string;
  op: string;
  input?: string[] | undefined;
  attr?: Obj | undefined;
}

const GRAPH_CONV = new Set(["Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "Conv3D"]);
const GRAPH_TRANSPOSED = new Set(["Conv2DBackpropInput", "Conv3DBackpropInputV2"]);
/** Ops whose output has the shape of their first input. */
const GRAPH_UNARY = new Set([
  "Relu",
  "Relu6",
  "Elu",
  "Selu",
  "Sigmoid",
  "Tanh",
  "LeakyRelu",
  "Identity",
  "Snapshot",
  "StopGradient",
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
  "LogSoftmax",
  "Floor",
  "Ceil",
  "Round",
  "Sign",
  "Exp",
  "Log",
  "Reciprocal",
  "LogicalNot",
  "Switch",
]);
/** Elementwise ops with numpy broadcasting over their inputs. */
const GRAPH_BROADCAST = new Set([
  "BiasAdd",
  "Add",
  "AddV2",
  "Sub",
  "Mul",
  "RealDiv",
  "Div",
  "FloorDiv",
  "FloorMod",
  "Maximum",
  "Minimum",
  "Pow",
  "SquaredDifference",
  "Prelu",
  "AddN",
  "Equal",
  "NotEqual",
  "Less",
  "LessEqual",
  "Greater",
  "GreaterEqual",
  "LogicalAnd",
  "LogicalOr",
  "SelectV2",
]);
/** The most elements a constant may have to be read as a value (shapes, sizes, paddings, axes). */
const MAX_VALUES = 4096;

function attrInts(a: unknown): number[] | undefined {
  const list = isObj(a) && isObj(a.list) ? a.list.i : undefined;
  return Array.isArray(list) ? list.map(Number) : undefined;
}

function attrInt(a: unknown): number | undefined {
  return isObj(a) && a.i !== undefined ? Number(a.i) : undefined;
}

function attrBool(a: unknown): boolean {
  return isObj(a) && a.b === true;
}

/** A string attribute (base64 in model.json), or a TypeError naming the node when it is not base64. */
function attrString(src: Source, node: string, key: string, a: unknown): string | undefined {
  const s = isObj(a) ? a.s : undefined;
  if (s === undefined) return undefined;
  if (typeof s !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw typeError(src, `${node} has an attribute ${key} that is not a base64 string`, s);
  }
  return atob(s);
}

/** A node input as the tensor it names: `node` for output 0 (`node:0`), `node:k` for output k; control inputs (`^node`) are none. */
function tensorName(input: string | undefined): string {
  return (input ?? "").replace(/:0$/, "");
}

/**
 * The name of the conv a node computes. A fused op (`_FusedConv2D`, ...) takes
 * the name of the last op fused into it (`…/Relu`, `…/BiasAdd`,
 * `…/FusedBatchNormV3`): it is named after the conv node it replaced, which
 * the converter's name for its folded filter gives (`<conv node>_weights`),
 * or, for a bias add, the conv beside it in the same scope (`<scope>/Conv2D`).
 */
function convNodeName(n: GNode, filter: string): string {
  if (!n.op.startsWith("_Fused")) return n.name;
  if (filter.endsWith("_weights") && filter.length > "_weights".length) return filter.slice(0, -"_weights".length);
  if (n.name.endsWith("/BiasAdd")) return n.name.slice(0, -"BiasAdd".length) + n.op.slice("_Fused".length);
  return n.name;
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
  /** The weight a node input names, through Identity nodes and the data input of Switch (control flow). */
  const constant = (input: string): Spec | undefined => {
    let name = clean(input);
    for (let hops = 0; hops < 64; hops++) {
      const s = specs.get(name);
      if (s !== undefined) return s;
      const n = byName.get(name);
      if (n === undefined || (n.op !== "Identity" && n.op !== "Switch") || !n.input?.length) return undefined;
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
  const shapes = new Map<string, Shape>();
  const why = new Map<string, string>();
  const values = new Map<string, number[]>();
  const valueOf = (input: string | undefined): number[] | undefined => {
    if (input === undefined) return undefined;
    const key = tensorName(input);
    const v = values.get(key);
    if (v !== undefined) return v;
    const s = constant(input);
    if (s === undefined || s.count > MAX_VALUES || !/^(float32|int32|float16)$/.test(s.dtype)) return undefined;
    const got = Array.from(decode(src, s));
    values.set(key, got);
    return got;
  };
  const sizedOf = (input: string): Sized => {
    const key = tensorName(input);
    const s = shapes.get(key);
    if (s !== undefined) return { shape: s };
    const c = constant(input);
    if (c !== undefined) return { shape: [...c.shape] };
    return { why: why.get(key) ?? `the tensor "${key}" is not produced by a node the reader follows` };
  };
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
    const ins = (n.input ?? []).filter((i) => !i.startsWith("^"));
    let result: Sized[] | string;
    try {
      result = inferNode(n, ins);
    } catch (e) {
      if (e instanceof ShapeStop) result = e.message;
      else if ((e instanceof TypeError || e instanceof RangeError) && e.message.startsWith("Cannot read")) throw e;
      else {
        // inputs or attributes of the wrong kind or number
        throw typeError(
          src,
          `the ${n.op} node "${n.name}" has inputs or attributes it cannot have (${(e as Error).message})`,
          n.input,
        );
      }
    }
    const inherited = ins.map((i) => why.get(tensorName(i))).find((x) => x !== undefined);
    const outs = typeof result === "string" ? [{ why: result }] : result;
    outs.forEach((r, k) => {
      const key = k === 0 ? n.name : `${n.name}:${k}`;
      if ("shape" in r) {
        shapes.set(key, r.shape);
        if (!known(r.shape) && inherited !== undefined) why.set(key, inherited);
      } else why.set(key, r.why);
    });
    // Switch forwards its data to one of two outputs; Unpack and Split name theirs :k (set above)
    if (n.op === "Switch" && typeof result !== "string") {
      const r = result[0];
      if ("shape" in r) shapes.set(`${n.name}:1`, r.shape);
    }
  }
  return layers;

  function inferNode(n: GNode, ins: string[]): Sized[] | string {
    const a = n.attr ?? {};
    const node = `the ${n.op} node "${n.name}"`;
    const stop: (what: string) => never = (what) => {
      throw new ShapeStop(`${n.op} node "${n.name}" ${what}`);
    };
    const need = (j: number): Shape => {
      const s = sizedOf(ins[j] ?? "");
      if ("why" in s) throw new ShapeStop(s.why);
      return s.shape;
    };
    const needValues = (j: number, what: string): number[] => {
      const v = valueOf(ins[j]);
      if (v === undefined) stop(`has ${what} that are not constant (input "${ins[j]}")`);
      return v;
    };
    const axisIn = (ax: number, rank: number) =>
      axisOf(ax, rank) ?? stop(`has an axis ${ax} outside a rank-${rank} tensor`);
    const nchw = attrString(src, node, "data_format", a.data_format)?.startsWith("NC") ?? false;
    const sp = (v: number[] | undefined) => v === undefined ? undefined : nchw ? v.slice(2) : v.slice(1, -1);
    const op = n.op;
    if (op === "Placeholder") {
      const sh = isObj(a.shape) && isObj(a.shape.shape) ? a.shape.shape : isObj(a.shape) ? a.shape : undefined;
      const dims = sh !== undefined && Array.isArray(sh.dim) ? sh.dim : undefined;
      if (dims === undefined) {
        return `the graph input "${n.name}" has no shape in the model: give its spatial size (inputShape)`;
      }
      let shape: Shape = dims.map((d) => {
        const v = Number(isObj(d) ? d.size : NaN);
        return v > 0 ? v : undefined;
      });
      if (shape.length >= 3 && shape.slice(1, -1).some((d) => d === undefined)) {
        if (inputShape !== undefined && inputShape.length === shape.length - 2) {
          shape = [shape[0], ...inputShape, shape[shape.length - 1]];
        } else {
          why.set(
            n.name,
            `the graph input "${n.name}" has the symbolic size ${showShape(shape)}: give its spatial size (inputShape)`,
          );
        }
      }
      return [{ shape }];
    }
    if (op === "Const") {
      const s = specs.get(n.name);
      return s === undefined ? `Const node "${n.name}" is not a weight of the manifest` : [{ shape: [...s.shape] }];
    }
    if (GRAPH_CONV.has(op) || GRAPH_TRANSPOSED.has(op) || op === "MaxPool" || op === "AvgPool") {
      return [{ shape: windowNode(n, ins, node, nchw, sp, need, needValues, stop) }];
    }
    if (GRAPH_UNARY.has(op)) {
      const x = need(0);
      const v = valueOf(ins[0]);
      if (v !== undefined && (op === "Identity" || op === "Cast" || op === "Floor" || op === "Ceil")) {
        const toInt = op === "Cast" && isObj(a.DstT) && a.DstT.type === "DT_INT32";
        values.set(
          n.name,
          v.map(op === "Floor" ? Math.floor : op === "Ceil" ? Math.ceil : toInt ? Math.trunc : Number),
        );
      }
      return [{ shape: x }];
    }
    if (GRAPH_BROADCAST.has(op)) {
      const list = ins.map((_, j) => need(j));
      const out = broadcast(op === "BiasAdd" ? [list[0]] : list);
      if (typeof out === "string") stop(`has inputs that do not broadcast: ${out}`);
      const [va, vb] = [valueOf(ins[0]), valueOf(ins[1])];
      const f: Record<string, (x: number, y: number) => number> = {
        Add: (x, y) => x + y,
        AddV2: (x, y) => x + y,
        Sub: (x, y) => x - y,
        Mul: (x, y) => x * y,
        RealDiv: (x, y) => x / y,
        FloorDiv: (x, y) => Math.floor(x / y),
      };
      if (va !== undefined && vb !== undefined && f[op] !== undefined && (vb.length === 1 || vb.length === va.length)) {
        values.set(n.name, va.map((x, j) => f[op](x, vb.length === 1 ? vb[0] : vb[j])));
      }
      return [{ shape: out }];
    }
    if (op === "Merge") {
      const list = ins.map((i) => sizedOf(i));
      const got = list.filter((x): x is { shape: Shape } => "shape" in x);
      if (got.length !== list.length || got.some((x) => showShape(x.shape) !== showShape(got[0].shape))) {
        return `Merge node "${n.name}" joins branches of different or unknown sizes`;
      }
      return [{ shape: got[0].shape }, { shape: [] }];
    }
    if (op === "ConcatV2") {
      const axisV = needValues(ins.length - 1, "an axis");
      const list = ins.slice(0, -1).map((_, j) => need(j));
      const rank = list[0].length;
      const axis = axisIn(axisV[0], rank);
      const out: Shape = [...list[0]];
      for (const s of list.slice(1)) {
        if (s.length !== rank) stop(`joins tensors of ranks ${rank} and ${s.length}`);
        s.forEach((d, j) => {
          if (j === axis) out[j] = out[j] === undefined || d === undefined ? undefined : out[j]! + d;
          else if (out[j] === undefined) out[j] = d;
          else if (d !== undefined && d !== out[j]) {
            stop(`joins tensors of sizes ${showShape(list[0])} and ${showShape(s)}`);
          }
        });
      }
      if (rank === 1) {
        const vs = ins.slice(0, -1).map((i) => valueOf(i));
        if (vs.every((v) => v !== undefined)) values.set(n.name, vs.flat() as number[]);
      }
      return [{ shape: out }];
    }
    if (op === "Pad" || op === "PadV2" || op === "MirrorPad") {
      const x = need(0);
      const p = needValues(1, "paddings");
      if (p.length !== 2 * x.length) stop(`has ${p.length} paddings for a rank-${x.length} tensor`);
      return [{ shape: x.map((d, j) => (d === undefined ? undefined : d + p[2 * j] + p[2 * j + 1])) }];
    }
    if (op === "ResizeBilinear" || op === "ResizeNearestNeighbor") {
      const x = need(0);
      const size = needValues(1, "a size");
      if (x.length !== 4 || size.length !== 2) stop(`has size ${JSON.stringify(size)} for input ${showShape(x)}`);
      return [{ shape: [x[0], size[0], size[1], x[3]] }];
    }
    if (op === "Mean" || op === "Sum" || op === "Max" || op === "Min" || op === "Prod") {
      const x = need(0);
      const set = new Set(needValues(1, "axes").map((ax) => axisIn(ax, x.length)));
      const keep = attrBool(a.keep_dims) || attrBool(a.keepdims);
      return [{ shape: keep ? x.map((d, j) => (set.has(j) ? 1 : d)) : x.filter((_, j) => !set.has(j)) }];
    }
    if (op === "Reshape") {
      const x = need(0);
      const target = needValues(1, "a target shape");
      const out = reshape(x, target, true);
      if (typeof out === "string") stop(`has ${out}`);
      const v = valueOf(ins[0]);
      if (v !== undefined) values.set(n.name, v);
      return [{ shape: out }];
    }
    if (op === "Squeeze") {
      const x = need(0);
      const list = attrInts(a.squeeze_dims) ?? attrInts(a.axis) ?? [];
      if (list.length === 0) {
        if (x.some((d) => d === undefined)) stop(`squeezes the 1s of an open shape ${showShape(x)}`);
        return [{ shape: x.filter((d) => d !== 1) }];
      }
      const drop = new Set(list.map((ax) => axisIn(ax, x.length)));
      return [{ shape: x.filter((_, j) => !drop.has(j)) }];
    }
    if (op === "ExpandDims") {
      const x = need(0);
      const ax = axisIn(needValues(1, "an axis")[0], x.length + 1);
      const v = valueOf(ins[0]);
      if (v !== undefined) values.set(n.name, v);
      return [{ shape: [...x.slice(0, ax), 1, ...x.slice(ax)] }];
    }
    if (op === "Unpack") {
      const x = need(0);
      const ax = axisIn(attrInt(a.axis) ?? 0, x.length);
      const num = attrInt(a.num) ?? x[ax] ?? stop(`unpacks an open size of ${showShape(x)}`);
      const out = x.filter((_, j) => j !== ax);
      return Array.from({ length: num }, () => ({ shape: out }));
    }
    if (op === "Pack") {
      const list = ins.map((_, j) => need(j));
      const ax = axisIn(attrInt(a.axis) ?? 0, list[0].length + 1);
      const vs = ins.map((i) => valueOf(i));
      if (list[0].length === 0 && vs.every((v) => v !== undefined)) values.set(n.name, vs.flat() as number[]);
      return [{ shape: [...list[0].slice(0, ax), list.length, ...list[0].slice(ax)] }];
    }
    if (op === "Shape") {
      const x = need(0);
      if (known(x)) values.set(n.name, x);
      return [{ shape: [x.length] }];
    }
    if (op === "StridedSlice") {
      const x = need(0);
      const [begin, end, strides] = [needValues(1, "begins"), needValues(2, "ends"), needValues(3, "strides")];
      const mask = (k: string) => attrInt(a[k]) ?? 0;
      if (mask("ellipsis_mask") !== 0 || mask("new_axis_mask") !== 0) stop("has an ellipsis or new-axis mask");
      const out: Shape = [];
      const picks: number[][] = [];
      for (let j = 0; j < x.length; j++) {
        const d = x[j];
        if (j >= begin.length) {
          out.push(d);
          picks.push([]);
          continue;
        }
        if (d === undefined) stop(`slices an open size of ${showShape(x)}`);
        const st = strides[j];
        if (st === 0) stop("has a stride of 0");
        const norm = (i: number) => (i < 0 ? i + d : i);
        const shrink = (mask("shrink_axis_mask") >> j) & 1;
        let b = (mask("begin_mask") >> j) & 1 ? (st > 0 ? 0 : d - 1) : norm(begin[j]);
        let e = (mask("end_mask") >> j) & 1 ? (st > 0 ? d : -1) : norm(end[j]);
        if (shrink) e = b + 1;
        b = st > 0 ? Math.min(Math.max(b, 0), d) : Math.min(Math.max(b, -1), d - 1);
        e = st > 0 ? Math.min(Math.max(e, 0), d) : Math.min(Math.max(e, -1), d - 1);
        const count = Math.max(0, Math.ceil((e - b) / st));
        picks.push(Array.from({ length: count }, (_, k) => b + k * st));
        if (!shrink) out.push(count);
      }
      const v = valueOf(ins[0]);
      if (v !== undefined && x.length === 1) values.set(n.name, picks[0].map((i) => v[i]));
      return [{ shape: out }];
    }
    if (op === "Transpose") {
      const x = need(0);
      const perm = needValues(1, "a permutation").map((p) => axisIn(p, x.length));
      return [{ shape: perm.map((p) => x[p]) }];
    }
    if (op === "MatMul" || op === "BatchMatMulV2" || op === "_FusedMatMul") {
      const x = need(0), y = need(1);
      const ta = attrBool(a.transpose_a) || attrBool(a.adj_x), tb = attrBool(a.transpose_b) || attrBool(a.adj_y);
      const rows = x[x.length - (ta ? 1 : 2)], cols = y[y.length - (tb ? 2 : 1)];
      const batch = broadcast([x.slice(0, -2), y.slice(0, -2)]);
      if (typeof batch === "string") stop(`has inputs that do not broadcast: ${batch}`);
      return [{ shape: [...batch, rows, cols] }];
    }
    if (op === "Split" || op === "SplitV") {
      const x = need(op === "Split" ? 1 : 0);
      const ax = axisIn(needValues(op === "Split" ? 0 : 2, "an axis")[0], x.length);
      const d = x[ax];
      let parts: number[];
      if (op === "SplitV") {
        parts = [...needValues(1, "split sizes")];
        const open = parts.indexOf(-1);
        if (open >= 0) {
          if (d === undefined) stop(`splits an open size of ${showShape(x)}`);
          parts[open] = d - parts.reduce((s, p, j) => (j === open ? s : s + p), 0);
        }
      } else {
        const k = attrInt(a.num_split) ?? 1;
        if (d === undefined) stop(`splits an open size of ${showShape(x)}`);
        parts = Array.from({ length: k }, () => d / k);
      }
      return parts.map((p) => ({ shape: x.map((s, j) => (j === ax ? p : s)) }));
    }
    if (op === "Slice") {
      const x = need(0);
      const begin = needValues(1, "begins"), size = needValues(2, "sizes");
      return [{
        shape: x.map((d, j) => {
          if (size[j] !== -1) return size[j];
          return d === undefined ? stop(`slices an open size of ${showShape(x)}`) : d - begin[j];
        }),
      }];
    }
    if (op === "Tile") {
      const x = need(0);
      const reps = needValues(1, "multiples");
      return [{ shape: x.map((d, j) => (d === undefined ? undefined : d * reps[j])) }];
    }
    if (op === "BroadcastTo") {
      const x = need(0);
      const out = broadcast([x, needValues(1, "a shape")]);
      if (typeof out === "string") stop(`has a shape that does not broadcast: ${out}`);
      return [{ shape: out }];
    }
    if (op === "SpaceToBatchND" || op === "BatchToSpaceND") {
      const x = need(0);
      const block = needValues(1, "block shape"), p = needValues(2, op === "SpaceToBatchND" ? "paddings" : "crops");
      const prod = block.reduce((s, b) => s * b, 1);
      const out: Shape = [...x];
      const toBatch = op === "SpaceToBatchND";
      out[0] = x[0] === undefined ? undefined : toBatch ? x[0] * prod : x[0] / prod;
      block.forEach((b, j) => {
        const d = x[j + 1];
        if (d === undefined) stop(`has an open size ${showShape(x)}`);
        out[j + 1] = toBatch ? (d + p[2 * j] + p[2 * j + 1]) / b : d * b - p[2 * j] - p[2 * j + 1];
      });
      if (out.some((d) => d !== undefined && !Number.isInteger(d))) {
        stop(`does not divide ${showShape(x)} by its blocks`);
      }
      return [{ shape: out }];
    }
    return `${op} node "${n.name}" is an op whose output size the reader does not follow`;
  }

  /** A conv, transposed conv or pooling node: its layer (convs) and its output shape. */
  function windowNode(
    n: GNode,
    ins: string[],
    node: string,
    nchw: boolean,
    sp: (v: number[] | undefined) => number[] | undefined,
    need: (j: number) => Shape,
    needValues: (j: number, what: string) => number[],
    stop: (what: string) => never,
  ): Shape {
    const a = n.attr ?? {};
    const transposed = GRAPH_TRANSPOSED.has(n.op);
    const strides = sp(attrInts(a.strides));
    const dilations = sp(attrInts(a.dilations));
    const padding = attrString(src, node, "padding", a.padding) ?? "VALID";
    checkAxes(src, `${node} has strides`, strides, 1);
    checkAxes(src, `${node} has dilations`, dilations, 1);
    checkAxes(src, `${node} has explicit_paddings`, attrInts(a.explicit_paddings), 0);
    const e = attrInts(a.explicit_paddings) ?? [];
    const pairs = nchw ? e.slice(4) : e.slice(2, -2);
    let k: number[] | undefined;
    let channels: number | undefined;
    const xIn = sizedOf(ins[transposed ? 2 : 0] ?? "");
    const xShape = "shape" in xIn ? xIn.shape : undefined;
    const spatial = xShape === undefined ? undefined : nchw ? xShape.slice(2) : xShape.slice(1, -1);
    if (n.op === "MaxPool" || n.op === "AvgPool") {
      k = sp(attrInts(a.ksize));
      checkAxes(src, `${node} has ksize`, k, 1);
      channels = xShape?.[nchw ? 1 : xShape.length - 1];
    } else {
      const w = constant(ins[1] ?? "");
      if (w === undefined) {
        throw typeError(src, `the ${n.op} node "${n.name}" has a filter that is not a weight of the manifest`, ins[1]);
      }
      kernelSpec(src, node, w);
      const data = decode(src, w);
      const r = w.shape.length - 2;
      k = w.shape.slice(0, r);
      checkAxes(src, `${node} has strides`, strides, 1, r);
      checkAxes(src, `${node} has dilations`, dilations, 1, r);
      const depthwise_ = n.op.includes("Depthwise");
      const name = convNodeName(n, w.name);
      const layer = depthwise_
        ? depthwise(name, data, w.shape)
        : baseLayer(name, data, w.shape, tfLayout(w.shape.length));
      channels = transposed ? w.shape[r] : depthwise_ ? w.shape[r] * w.shape[r + 1] : w.shape[r + 1];
      layer.transposed = transposed;
      layer.stride = strides ?? fill(r, 1);
      layer.dilation = dilations ?? fill(r, 1);
      if (padding === "SAME") layer.padding = "same";
      else if (padding === "EXPLICIT") {
        Object.assign(
          layer,
          explicitPadding([...pairs.filter((_, j) => j % 2 === 0), ...pairs.filter((_, j) => j % 2 === 1)]),
        );
      } else layer.padding = "valid";
      if (spatial !== undefined && spatial.length === r && known(spatial)) layer.inputShape = [...spatial];
      else {
        layer.inputShapeReason = "why" in xIn ? xIn.why : why.get(tensorName(ins[transposed ? 2 : 0] ?? "")) ??
          `its input has the shape ${showShape(xShape!)}, whose spatial size is not known`;
      }
      // a FusedBatchNorm that consumes the conv's output, or one fused into _FusedConv2D
      const fused = isObj(a.fused_ops) && isObj(a.fused_ops.list) && Array.isArray(a.fused_ops.list.s)
        ? a.fused_ops.list.s.map((s) => attrString(src, node, "fused_ops", { s }))
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
    if (transposed) {
      const v = needValues(0, "an output shape");
      return v.map((d) => (d > 0 ? d : undefined));
    }
    const x = need(0);
    if (spatial === undefined || k === undefined || k.length !== spatial.length) {
      stop(`has a kernel of rank other than its input's spatial axes (${showShape(x)})`);
    }
    const s = strides ?? fill(spatial.length, 1);
    const d = dilations ?? fill(spatial.length, 1);
    const sizes = spatial.map((nn, j) => {
      if (nn === undefined) {
        throw new ShapeStop(
          why.get(tensorName(ins[0])) ?? `${n.op} node "${n.name}" has an input of open size ${showShape(x)}`,
        );
      }
      const out = padding === "SAME"
        ? Math.ceil(nn / s[j])
        : padding === "EXPLICIT"
        ? windowOut(nn, k![j], s[j], d[j], pairs[2 * j] ?? 0, pairs[2 * j + 1] ?? 0)
        : windowOut(nn, k![j], s[j], d[j], 0, 0);
      return out ?? stop(`has an empty output on input ${showShape(x)}`);
    });
    return nchw ? [x[0], channels, ...sizes] : [x[0], ...sizes, channels];
  }
}

/** Stops a node's propagation with the reason. */
class ShapeStop extends Error {}
