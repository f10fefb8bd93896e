/**
 * ONNX models (a protobuf `ModelProto`): `Conv` and `ConvTranspose` nodes
 * with their attributes and constant weights, the `BatchNormalization` that
 * consumes a conv's output, and spatial sizes propagated from the graph's
 * input, convs inside `If` and `Loop` subgraphs included (named
 * `IF/then_branch/CONV`).
 *
 * The messages are decoded by onnx_proto.ts; this module walks the graph.
 * Constants are initializers and `Constant` nodes, reached through
 * `Identity` nodes. Shapes are propagated whole (batch and channels
 * included) and only exactly: through the ops listed in `infer` (windowed
 * ops, pooling, Resize/Upsample with constant scales or sizes, Pad, Concat,
 * broadcasting elementwise ops, Reshape, Transpose, Slice, Split, Squeeze,
 * reductions, MatMul, the shape arithmetic of Shape/Gather/Concat/Cast); an
 * op that cannot be followed leaves its outputs unknown with the reason, which
 * a conv that reads them reports as `inputShapeReason`. Where propagation
 * cannot size a tensor, the shape the exporter recorded (`value_info`) stands in.
 * @module
 */
import type { ConvLayer } from "../model.ts";
import {
  baseLayer,
  batchNorm,
  checkAxes,
  explicitPadding,
  fill,
  samePads,
  type Source,
  torchLayout,
  typeError,
  windowOut,
} from "./_common.ts";
import { type Graph, type Node, readModelGraph, type Tensor, tensorValues } from "./onnx_proto.ts";
import { axisOf, broadcast, known, reshape, type Shape, showShape, type Sized } from "./_shapes.ts";

/** True when the bytes start like an ONNX ModelProto (field 1, ir_version, as a varint). */
export function looksLikeOnnx(bytes: Uint8Array): boolean {
  return bytes.length > 2 && bytes[0] === 0x08 && bytes[1] > 0 && bytes[1] < 0x80;
}

const CONV_OPS = new Set(["Conv", "ConvTranspose"]);
/** Ops whose output has the shape of their first input. */
const UNARY = new Set([
  "Relu",
  "LeakyRelu",
  "Sigmoid",
  "HardSigmoid",
  "HardSwish",
  "Tanh",
  "Clip",
  "Elu",
  "Selu",
  "Celu",
  "Softplus",
  "Softsign",
  "Mish",
  "Gelu",
  "Erf",
  "Identity",
  "Dropout",
  "BatchNormalization",
  "InstanceNormalization",
  "LayerNormalization",
  "LRN",
  "Cast",
  "CastLike",
  "Neg",
  "Abs",
  "Sqrt",
  "Exp",
  "Log",
  "Reciprocal",
  "ThresholdedRelu",
  "Shrink",
  "Softmax",
  "LogSoftmax",
  "Hardmax",
  "QuantizeLinear",
  "DequantizeLinear",
  "Floor",
  "Ceil",
  "Round",
  "Sign",
  "Not",
  "IsNaN",
  "Sin",
  "Cos",
]);
/** Elementwise ops with numpy broadcasting over all their inputs. */
const BROADCAST = new Set([
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Pow",
  "Max",
  "Min",
  "Sum",
  "Mean",
  "PRelu",
  "Where",
  "Equal",
  "Less",
  "Greater",
  "LessOrEqual",
  "GreaterOrEqual",
  "And",
  "Or",
  "Xor",
  "Mod",
]);
const POOL_OPS = new Set(["MaxPool", "AveragePool", "LpPool"]);
const REDUCE_OPS = new Set([
  "ReduceMean",
  "ReduceSum",
  "ReduceMax",
  "ReduceMin",
  "ReduceProd",
  "ReduceL1",
  "ReduceL2",
  "ReduceLogSum",
  "ReduceLogSumExp",
  "ReduceSumSquare",
]);
/** Integer and float element types whose small constants are read as values (shapes, scales, pads, axes). */
const VALUE_TYPES = new Set([1, 6, 7, 10, 11, 16]);
/** The most elements a constant may have to be read as a value. */
const MAX_VALUES = 4096;

/**
 * The graph's constants: `constants`, the initializers and `Constant` nodes'
 * values by tensor name; `constant(name)`, the one a name holds, reached
 * through `Identity` nodes (64 hops at most). Subgraphs (`If`, `Loop`) add
 * theirs: ONNX names are unique across a model and its subgraphs.
 */
export function graphConstants(
  g: Graph,
): { constants: Map<string, Tensor>; constant: (name: string) => Tensor | undefined } {
  const constants = new Map<string, Tensor>();
  const identityOf = new Map<string, string>();
  const add = (graph: Graph) => {
    for (const [k, t] of graph.initializers) constants.set(k, t);
    for (const n of graph.nodes) {
      if (n.op === "Constant" && n.attrs.get("value")?.t !== undefined) {
        constants.set(n.outputs[0], n.attrs.get("value")!.t!);
      }
      if (n.op === "Identity" && n.inputs.length === 1) identityOf.set(n.outputs[0], n.inputs[0]);
      for (const a of n.attrs.values()) if (a.g !== undefined) add(a.g);
    }
  };
  add(g);
  const constant = (name: string): Tensor | undefined => {
    for (let hops = 0; hops < 64; hops++) {
      const t = constants.get(name);
      if (t !== undefined) return t;
      const up = identityOf.get(name);
      if (up === undefined) return undefined;
      name = up;
    }
    return undefined;
  };
  return { constants, constant };
}

/** What the walk over a graph and its subgraphs shares. */
interface Walk {
  src: Source;
  inputShape: readonly number[] | undefined;
  constant: (name: string) => Tensor | undefined;
  consumers: Map<string, Node[]>;
  /** Full shapes (batch and channels included), by tensor name. */
  shapes: Map<string, Shape>;
  /** Why a tensor's shape is not known. */
  why: Map<string, string>;
  /** Small integer or float values computed from constants and shapes (shape arithmetic). */
  values: Map<string, number[]>;
  /** Shapes the exporter recorded (`value_info`), for tensors the propagation cannot size. */
  recorded: Map<string, Shape>;
  layers: ConvLayer[];
}

function nodeName(n: Node): string {
  return n.name || n.outputs[0] || n.op;
}

/** Reads an ONNX model's conv layers. `inputShape` fills the graph input's spatial size where the file leaves it symbolic. */
export function readOnnx(
  bytes: Uint8Array,
  src: Source,
  options: { inputShape?: readonly number[] | undefined },
): ConvLayer[] {
  const g = readModelGraph(src, bytes);
  const { constants, constant } = graphConstants(g);
  const w: Walk = {
    src,
    inputShape: options.inputShape,
    constant,
    consumers: new Map(),
    shapes: new Map(),
    why: new Map(),
    values: new Map(),
    recorded: new Map(),
    layers: [],
  };
  let count = 0;
  const index = (graph: Graph) => {
    for (const v of graph.valueInfo) if (v.dims !== undefined) w.recorded.set(v.name, v.dims);
    for (const n of graph.nodes) {
      count++;
      for (const i of n.inputs) {
        const list = w.consumers.get(i);
        if (list === undefined) w.consumers.set(i, [n]);
        else list.push(n);
      }
      for (const a of n.attrs.values()) if (a.g !== undefined) index(a.g);
    }
  };
  index(g);
  for (const v of g.inputs) {
    if (constants.has(v.name)) continue;
    const dims = v.dims;
    if (dims === undefined) {
      w.why.set(v.name, `the graph input "${v.name}" has no shape in the file: give its spatial size (inputShape)`);
      continue;
    }
    let shape: Shape = [...dims];
    // spatial axes: after batch and channels; a rank-2 input [batch, length] has one
    const first = dims.length >= 3 ? 2 : 1;
    const open = shape.slice(first).some((d) => d === undefined);
    if (open && options.inputShape !== undefined && options.inputShape.length === dims.length - first) {
      shape = [...dims.slice(0, first), ...options.inputShape];
    }
    if (shape.slice(first).some((d) => d === undefined)) {
      w.why.set(
        v.name,
        `the graph input "${v.name}" has the symbolic size ${showShape(dims)}: give its spatial size (inputShape)`,
      );
    }
    w.shapes.set(v.name, shape);
  }
  walk(w, g, "");
  if (w.layers.length === 0) {
    throw typeError(src, "an ONNX model with no Conv or ConvTranspose node (subgraphs included)", count);
  }
  return w.layers;
}

/** The shape of a tensor, or why it is not known. */
function sized(w: Walk, name: string): Sized {
  const s = w.shapes.get(name);
  if (s !== undefined) return { shape: s };
  const t = w.constant(name);
  if (t !== undefined) return { shape: [...t.dims] };
  const r = w.recorded.get(name);
  if (r !== undefined) return { shape: r };
  return { why: w.why.get(name) ?? `the tensor "${name}" is not produced by a node the reader follows` };
}

/** A small constant's values, or the values shape arithmetic gave the tensor. */
function valueOf(w: Walk, name: string | undefined): number[] | undefined {
  if (name === undefined || name === "") return undefined;
  const v = w.values.get(name);
  if (v !== undefined) return v;
  const t = w.constant(name);
  if (t === undefined || t.external || !VALUE_TYPES.has(t.dataType)) return undefined;
  if (t.dims.reduce((a, b) => a * b, 1) > MAX_VALUES) return undefined;
  const values = Array.from(tensorValues(w.src, t, "initializer"));
  w.values.set(name, values);
  return values;
}

/** Visits a graph's nodes in order: conv layers, then every node's output shapes. */
function walk(w: Walk, g: Graph, prefix: string): void {
  for (const n of g.nodes) {
    if (CONV_OPS.has(n.op)) convLayer(w, n, prefix);
    else if (POOL_OPS.has(n.op)) checkPool(w.src, n, prefix);
    let result: Sized[] | string;
    try {
      result = infer(w, n, prefix);
    } catch (e) {
      if (e instanceof ShapeStop) result = e.message;
      else if ((e instanceof TypeError || e instanceof RangeError) && e.message.startsWith("Cannot read")) throw e;
      else {
        // inputs or attributes of the wrong kind or number
        throw typeError(
          w.src,
          `${n.op} node "${prefix}${nodeName(n)}" has inputs or attributes it cannot have (${(e as Error).message})`,
          n.inputs,
        );
      }
    }
    // an output with open sizes keeps the reason its inputs have them
    const inherited = n.inputs.map((i) => w.why.get(i)).find((x) => x !== undefined);
    n.outputs.forEach((o, j) => {
      if (o === "") return;
      const r = typeof result === "string" ? { why: result } : result[j] ?? result[0];
      if (r === undefined) return;
      if ("shape" in r) {
        w.shapes.set(o, r.shape);
        if (!known(r.shape) && inherited !== undefined) w.why.set(o, inherited);
      } else w.why.set(o, r.why);
    });
  }
}

/** Stops a node's propagation with the reason (caught in {@linkcode walk}). */
class ShapeStop extends Error {}

/** The node's input `j`: its shape, or a stop with the reason it is unknown. */
function need(w: Walk, n: Node, j: number): Shape {
  const s = sized(w, n.inputs[j] ?? "");
  if ("why" in s) throw new ShapeStop(s.why);
  return s.shape;
}

function stop(n: Node, what: string): never {
  throw new ShapeStop(`${n.op} node "${nodeName(n)}" ${what}`);
}

/** Values the node needs (an input, else an attribute's ints), or a stop. */
function needValues(w: Walk, n: Node, input: number, attr: string | undefined, what: string): number[] {
  const i = n.inputs[input];
  if (i !== undefined && i !== "") {
    const v = valueOf(w, i);
    if (v === undefined) stop(n, `has ${what} that are not constant (input "${i}")`);
    return v;
  }
  const a = attr === undefined ? undefined : n.attrs.get(attr);
  if (a !== undefined) return a.ints.length > 0 ? a.ints : a.floats;
  stop(n, `has no ${what}`);
}

/** Values of an optional input or attribute; undefined where neither is given. */
function optionalValues(w: Walk, n: Node, input: number, attr: string | undefined, what: string): number[] | undefined {
  const i = n.inputs[input];
  if ((i === undefined || i === "") && (attr === undefined || !n.attrs.has(attr))) return undefined;
  return needValues(w, n, input, attr, what);
}

function axes(n: Node, list: readonly number[], rank: number): number[] {
  return list.map((a) => axisOf(a, rank) ?? stop(n, `has an axis ${a} outside a rank-${rank} tensor`));
}

/** Output shapes of one node (and values, for shape arithmetic), or the reason they are not known. */
function infer(w: Walk, n: Node, prefix: string): Sized[] | string {
  const ints = (key: string) => n.attrs.get(key)?.ints;
  const int = (key: string, fallback: number) => n.attrs.get(key)?.i ?? fallback;
  const op = n.op;
  if (op === "Constant") {
    const t = n.attrs.get("value")?.t;
    return t === undefined ? `Constant node "${nodeName(n)}" holds no tensor` : [{ shape: [...t.dims] }];
  }
  if (UNARY.has(op)) {
    const x = need(w, n, 0);
    const v = valueOf(w, n.inputs[0]);
    if (v !== undefined && (op === "Identity" || op === "Cast" || op === "Floor" || op === "Ceil")) {
      const to = int("to", 0);
      const f = op === "Floor" ? Math.floor : op === "Ceil" ? Math.ceil : (to === 6 || to === 7) ? Math.trunc : Number;
      w.values.set(n.outputs[0], v.map(f));
    }
    return [{ shape: x }];
  }
  if (BROADCAST.has(op)) {
    const shapes = n.inputs.map((_, j) => need(w, n, j));
    const out = broadcast(shapes);
    if (typeof out === "string") stop(n, `has inputs that do not broadcast: ${out}`);
    const vs = n.inputs.map((i) => valueOf(w, i));
    if (
      vs.length === 2 && vs[0] !== undefined && vs[1] !== undefined &&
      (vs[0].length === vs[1].length || vs[1].length === 1)
    ) {
      const [a, b] = vs as number[][];
      const f: Record<string, (x: number, y: number) => number> = {
        Add: (x, y) => x + y,
        Sub: (x, y) => x - y,
        Mul: (x, y) => x * y,
        Div: (x, y) => x / y,
      };
      const intDiv = op === "Div" && a.every(Number.isInteger) && b.every(Number.isInteger) &&
        w.constant(n.inputs[0])?.dataType !== 1;
      if (f[op] !== undefined) {
        w.values.set(
          n.outputs[0],
          a.map((x, j) => {
            const r = f[op](x, b.length === 1 ? b[0] : b[j]);
            return intDiv ? Math.trunc(r) : r;
          }),
        );
      }
    }
    return [{ shape: out }];
  }
  if (CONV_OPS.has(op) || POOL_OPS.has(op)) return [{ shape: windowed(w, n) }];
  if (op === "GlobalAveragePool" || op === "GlobalMaxPool" || op === "GlobalLpPool") {
    const x = need(w, n, 0);
    return [{ shape: [...x.slice(0, 2), ...x.slice(2).map(() => 1)] }];
  }
  if (op === "Concat") {
    const shapes = n.inputs.map((_, j) => need(w, n, j));
    const rank = shapes[0].length;
    const axis = axisOf(int("axis", 0), rank) ?? stop(n, `has an axis outside a rank-${rank} tensor`);
    const out: Shape = [...shapes[0]];
    for (const s of shapes.slice(1)) {
      if (s.length !== rank) stop(n, `joins tensors of ranks ${rank} and ${s.length}`);
      s.forEach((d, j) => {
        if (j === axis) out[j] = out[j] === undefined || d === undefined ? undefined : out[j]! + d;
        else if (out[j] === undefined) out[j] = d;
        else if (d !== undefined && d !== out[j]) {
          stop(n, `joins tensors of sizes ${showShape(shapes[0])} and ${showShape(s)}`);
        }
      });
    }
    if (axis === 0 && rank === 1) {
      const vs = n.inputs.map((i) => valueOf(w, i));
      if (vs.every((v) => v !== undefined)) w.values.set(n.outputs[0], vs.flat() as number[]);
    }
    return [{ shape: out }];
  }
  if (op === "Pad") {
    const x = need(w, n, 0);
    const p = needValues(w, n, 1, "pads", "pads");
    const ax = optionalValues(w, n, 3, undefined, "axes");
    const list = ax === undefined ? x.map((_, j) => j) : axes(n, ax, x.length);
    if (p.length !== 2 * list.length) stop(n, `has ${p.length} pads for ${list.length} axes`);
    const out = [...x];
    list.forEach((a, j) => {
      const d = out[a];
      out[a] = d === undefined ? undefined : d + p[j] + p[j + list.length];
    });
    return [{ shape: out }];
  }
  if (op === "Resize" || op === "Upsample") {
    const x = need(w, n, 0);
    const sizes = op === "Resize" ? valueOf(w, n.inputs[3]) : undefined;
    const hasSizes = op === "Resize" && (n.inputs[3] ?? "") !== "";
    const policy = n.attrs.get("keep_aspect_ratio_policy")?.s ?? "stretch";
    const ax = ints("axes");
    const list = ax === undefined || ax.length === 0 ? x.map((_, j) => j) : axes(n, ax, x.length);
    const out = [...x];
    if (hasSizes) {
      if (sizes === undefined) stop(n, `has sizes that are not constant (input "${n.inputs[3]}")`);
      if (policy !== "stretch") stop(n, `has keep_aspect_ratio_policy "${policy}"`);
      if (sizes.length !== list.length) stop(n, `has ${sizes.length} sizes for ${list.length} axes`);
      list.forEach((a, j) => (out[a] = sizes[j]));
      return [{ shape: out }];
    }
    const scaleInput = op === "Resize" ? (n.inputs.length === 2 ? 1 : 2) : 1;
    const scales = needValues(w, n, scaleInput, "scales", "scales");
    if (scales.length !== list.length) stop(n, `has ${scales.length} scales for ${list.length} axes`);
    if (n.attrs.get("coordinate_transformation_mode")?.s === "tf_crop_and_resize") {
      stop(n, `has coordinate_transformation_mode "tf_crop_and_resize"`);
    }
    // output size = floor(input size · scale) (ONNX Resize and Upsample)
    list.forEach((a, j) => {
      const d = out[a];
      out[a] = d === undefined
        ? (scales[j] === 1 ? undefined : stop(n, `scales an open size`))
        : Math.floor(d * scales[j]);
    });
    return [{ shape: out }];
  }
  if (op === "Reshape") {
    const x = need(w, n, 0);
    const target = needValues(w, n, 1, "shape", "a target shape");
    const out = reshape(x, target, int("allowzero", 0) === 1);
    if (typeof out === "string") stop(n, `has ${out}`);
    const v = valueOf(w, n.inputs[0]);
    if (v !== undefined) w.values.set(n.outputs[0], v);
    return [{ shape: out }];
  }
  if (op === "Flatten") {
    const x = need(w, n, 0);
    const axis = int("axis", 1);
    const a = axis < 0 ? axis + x.length : axis;
    if (a < 0 || a > x.length) stop(n, `has an axis ${axis} outside a rank-${x.length} tensor`);
    const prod = (s: Shape) => s.every((d) => d !== undefined) ? s.reduce((p, d) => p! * d!, 1) : undefined;
    return [{ shape: [prod(x.slice(0, a)), prod(x.slice(a))] }];
  }
  if (op === "Transpose") {
    const x = need(w, n, 0);
    const perm = ints("perm") ?? x.map((_, j) => x.length - 1 - j);
    if (perm.length !== x.length) stop(n, `has perm ${JSON.stringify(perm)} for a rank-${x.length} tensor`);
    const p = axes(n, perm, x.length);
    const out = p.map((a) => x[a]);
    const v = valueOf(w, n.inputs[0]);
    if (v !== undefined && known(x)) {
      // output index o (per output axis) reads input axis perm[j] at o[j]
      const inv = x.map((_, a) => p.indexOf(a));
      w.values.set(n.outputs[0], gatherValues(v, x, out as number[], (_o, a, idx) => idx[inv[a]]));
    }
    return [{ shape: out }];
  }
  if (op === "Squeeze" || op === "Unsqueeze") {
    const x = need(w, n, 0);
    const list = optionalValues(w, n, 1, "axes", "axes");
    const v = valueOf(w, n.inputs[0]);
    if (v !== undefined) w.values.set(n.outputs[0], v);
    if (op === "Squeeze") {
      if (list === undefined) {
        if (x.some((d) => d === undefined)) stop(n, `squeezes the 1s of an open shape ${showShape(x)}`);
        return [{ shape: x.filter((d) => d !== 1) }];
      }
      const drop = new Set(axes(n, list, x.length));
      return [{ shape: x.filter((_, j) => !drop.has(j)) }];
    }
    if (list === undefined) stop(n, "has no axes");
    const rank = x.length + list.length;
    const add = new Set(axes(n, list, rank));
    const out: Shape = [];
    let k = 0;
    for (let j = 0; j < rank; j++) out.push(add.has(j) ? 1 : x[k++]);
    return [{ shape: out }];
  }
  if (op === "Slice") {
    const x = need(w, n, 0);
    const opset10 = n.inputs.length > 1;
    const starts = opset10 ? needValues(w, n, 1, undefined, "starts") : needValues(w, n, 99, "starts", "starts");
    const ends = opset10 ? needValues(w, n, 2, undefined, "ends") : needValues(w, n, 99, "ends", "ends");
    const ax = opset10 ? optionalValues(w, n, 3, undefined, "axes") : ints("axes");
    const steps = opset10 ? optionalValues(w, n, 4, undefined, "steps") : undefined;
    const list = ax === undefined ? starts.map((_, j) => j) : axes(n, ax, x.length);
    const out = [...x];
    const v = valueOf(w, n.inputs[0]);
    const from = x.map(() => 0), by = x.map(() => 1);
    list.forEach((a, j) => {
      const d = x[a];
      if (d === undefined) {
        // the whole of an open axis: [0, ∞) with step 1
        if (starts[j] === 0 && ends[j] >= 2 ** 31 - 1 && (steps?.[j] ?? 1) === 1) return;
        stop(n, `slices an open size of ${showShape(x)}`);
      }
      const step = steps?.[j] ?? 1;
      if (step === 0) stop(n, "has a step of 0");
      const clamp = (i: number, lo: number, hi: number) => Math.min(Math.max(i < 0 ? i + d : i, lo), hi);
      const s = step > 0 ? clamp(starts[j], 0, d) : clamp(starts[j], -1, d - 1);
      const e = step > 0 ? clamp(ends[j], 0, d) : clamp(ends[j], -1, d - 1);
      out[a] = Math.max(0, Math.ceil((e - s) / step));
      from[a] = s;
      by[a] = step;
    });
    if (v !== undefined && known(x) && known(out)) {
      w.values.set(n.outputs[0], gatherValues(v, x, out, (o, j) => from[j] + o * by[j]));
    }
    return [{ shape: out }];
  }
  if (op === "Split") {
    const x = need(w, n, 0);
    const axis = axisOf(int("axis", 0), x.length) ?? stop(n, `has an axis outside a rank-${x.length} tensor`);
    const d = x[axis];
    let parts = optionalValues(w, n, 1, "split", "split sizes");
    if (parts === undefined) {
      if (d === undefined) stop(n, `splits an open size of ${showShape(x)}`);
      const k = int("num_outputs", n.outputs.length);
      const each = Math.ceil(d / k);
      parts = Array.from({ length: k }, (_, j) => Math.max(0, Math.min(each, d - j * each)));
    }
    return parts.map((p) => ({ shape: x.map((s, j) => (j === axis ? p : s)) }));
  }
  if (op === "Shape") {
    const x = need(w, n, 0);
    const a = int("start", 0), b = n.attrs.get("end")?.i ?? x.length;
    const lo = Math.min(Math.max(a < 0 ? a + x.length : a, 0), x.length);
    const hi = Math.min(Math.max(b < 0 ? b + x.length : b, 0), x.length);
    const dims = x.slice(lo, Math.max(lo, hi));
    if (known(dims)) w.values.set(n.outputs[0], dims);
    return [{ shape: [dims.length] }];
  }
  if (op === "Gather") {
    const x = need(w, n, 0);
    const idx = need(w, n, 1);
    const axis = axisOf(int("axis", 0), x.length) ?? stop(n, `has an axis outside a rank-${x.length} tensor`);
    const v = valueOf(w, n.inputs[0]), iv = valueOf(w, n.inputs[1]);
    if (v !== undefined && iv !== undefined && x.length === 1) {
      w.values.set(n.outputs[0], iv.map((i) => v[i < 0 ? i + v.length : i]));
    }
    return [{ shape: [...x.slice(0, axis), ...idx, ...x.slice(axis + 1)] }];
  }
  if (op === "ConstantOfShape") {
    const dims = needValues(w, n, 0, undefined, "a shape");
    const fillWith = n.attrs.get("value")?.t;
    const count = dims.reduce((a, b) => a * b, 1);
    if (count <= MAX_VALUES) {
      const f = fillWith === undefined ? 0 : Array.from(tensorValues(w.src, fillWith, "ConstantOfShape value"))[0] ?? 0;
      w.values.set(n.outputs[0], fill(count, f));
    }
    return [{ shape: dims }];
  }
  if (op === "Expand") {
    const x = need(w, n, 0);
    const target = needValues(w, n, 1, undefined, "a target shape");
    const out = broadcast([x, target]);
    if (typeof out === "string") stop(n, `has a target that does not broadcast: ${out}`);
    return [{ shape: out }];
  }
  if (op === "Tile") {
    const x = need(w, n, 0);
    const reps = needValues(w, n, 1, undefined, "repeats");
    return [{ shape: x.map((d, j) => (d === undefined ? undefined : d * (reps[j] ?? 1))) }];
  }
  if (REDUCE_OPS.has(op)) {
    const x = need(w, n, 0);
    const list = optionalValues(w, n, 1, "axes", "axes");
    const keep = int("keepdims", 1) === 1;
    if (list === undefined && int("noop_with_empty_axes", 0) === 1) return [{ shape: x }];
    const set = new Set(list === undefined ? x.map((_, j) => j) : axes(n, list, x.length));
    return [{ shape: keep ? x.map((d, j) => (set.has(j) ? 1 : d)) : x.filter((_, j) => !set.has(j)) }];
  }
  if (op === "MatMul") {
    const a = need(w, n, 0), b = need(w, n, 1);
    const a2 = a.length === 1 ? [1, a[0]] : a, b2 = b.length === 1 ? [b[0], 1] : b;
    const batch = broadcast([a2.slice(0, -2), b2.slice(0, -2)]);
    if (typeof batch === "string") stop(n, `has inputs that do not broadcast: ${batch}`);
    const out = [
      ...batch,
      ...(a.length === 1 ? [] : [a2[a2.length - 2]]),
      ...(b.length === 1 ? [] : [b2[b2.length - 1]]),
    ];
    return [{ shape: out }];
  }
  if (op === "Gemm") {
    const a = need(w, n, 0), b = need(w, n, 1);
    return [{ shape: [int("transA", 0) ? a[1] : a[0], int("transB", 0) ? b[0] : b[1]] }];
  }
  if (op === "DepthToSpace" || op === "SpaceToDepth") {
    const x = need(w, n, 0);
    const k = int("blocksize", 1);
    const up = op === "DepthToSpace";
    const f = (d: number | undefined, m: boolean) => d === undefined ? undefined : m ? d * k : d / k;
    return [{
      shape: [
        x[0],
        x[1] === undefined ? undefined : up ? x[1] / (k * k) : x[1] * k * k,
        ...x.slice(2).map((d) => f(d, up)),
      ],
    }];
  }
  if (op === "LSTM" || op === "GRU" || op === "RNN") {
    const x = need(w, n, 0);
    const hidden = n.attrs.get("hidden_size")?.i ?? stop(n, "has no hidden_size");
    const dirs = n.attrs.get("direction")?.s === "bidirectional" ? 2 : 1;
    const batchFirst = int("layout", 0) === 1;
    const [seq, batch] = batchFirst ? [x[1], x[0]] : [x[0], x[1]];
    const y: Shape = batchFirst ? [batch, seq, dirs, hidden] : [seq, dirs, batch, hidden];
    const h: Shape = batchFirst ? [batch, dirs, hidden] : [dirs, batch, hidden];
    return [{ shape: y }, { shape: h }, { shape: h }];
  }
  if (op === "If") return ifNode(w, n, prefix);
  if (op === "Loop" || op === "Scan") {
    const body = n.attrs.get("body")?.g;
    if (body !== undefined) {
      for (const v of body.inputs) {
        w.why.set(
          v.name,
          `${op} node "${nodeName(n)}" gives its body inputs that change from one iteration to the next`,
        );
      }
      walk(w, body, `${prefix}${nodeName(n)}/body/`);
    }
    return `${op} node "${nodeName(n)}" has outputs whose sizes depend on its iterations`;
  }
  return `${op} node "${nodeName(n)}" is an op whose output size the reader does not follow`;
}

/**
 * The values of an output of shape `out` read from `v` (shape `x`, row-major):
 * output index `idx` reads input index `at(idx[a], a, idx)` on each input axis `a`.
 */
function gatherValues(
  v: number[],
  x: number[],
  out: number[],
  at: (o: number, a: number, idx: number[]) => number,
): number[] {
  const count = out.reduce((a, b) => a * b, 1);
  const res: number[] = [];
  const idx = out.map(() => 0);
  for (let c = 0; c < count; c++) {
    let r = c;
    for (let j = out.length - 1; j >= 0; j--) {
      idx[j] = r % out[j];
      r = Math.floor(r / out[j]);
    }
    let flat = 0;
    for (let a = 0; a < x.length; a++) flat = flat * x[a] + (x.length === out.length ? at(idx[a], a, idx) : 0);
    res.push(v[flat]);
  }
  return res;
}

/** An `If` node: both branches are read; an output's shape is known where both branches give it the same. */
function ifNode(w: Walk, n: Node, prefix: string): Sized[] {
  const branches = ["then_branch", "else_branch"].map((b) => [b, n.attrs.get(b)?.g] as const);
  for (const [b, g] of branches) if (g !== undefined) walk(w, g, `${prefix}${nodeName(n)}/${b}/`);
  return n.outputs.map((_, j) => {
    const got = branches.map(([, g]) => (g === undefined ? undefined : g.outputs[j]?.name));
    const s = got.map((
      name,
    ) => (name === undefined ? { why: `If node "${nodeName(n)}" lacks a branch` } : sized(w, name)));
    for (const x of s) if ("why" in x) return x;
    const [a, b] = s as { shape: Shape }[];
    if (a.shape.length !== b.shape.length || a.shape.some((d, k) => d !== b.shape[k])) {
      return {
        why: `If node "${nodeName(n)}" has branches whose output ${j} differs: ${showShape(a.shape)} and ${
          showShape(b.shape)
        }`,
      };
    }
    return a;
  });
}

/** A pooling node's attributes, refused here naming the node rather than surfacing later as a size of Infinity or NaN. */
function checkPool(src: Source, n: Node, prefix: string): void {
  const ints = (key: string) => n.attrs.get(key)?.ints;
  const kernel = ints("kernel_shape");
  const r = kernel?.length;
  const node = `${n.op} node "${prefix}${nodeName(n)}"`;
  checkAxes(src, `${node} has kernel_shape`, kernel, 1);
  checkAxes(src, `${node} has strides`, ints("strides"), 1, r);
  checkAxes(src, `${node} has dilations`, ints("dilations"), 1, r);
  checkAxes(src, `${node} has pads`, ints("pads"), 0, r === undefined ? undefined : 2 * r);
}

/** The output shape of a Conv, ConvTranspose or pooling node. */
function windowed(w: Walk, n: Node): Shape {
  const x = need(w, n, 0);
  const ints = (key: string) => n.attrs.get(key)?.ints;
  const autoPad = n.attrs.get("auto_pad")?.s ?? "NOTSET";
  const isConv = CONV_OPS.has(n.op);
  const wt = isConv ? w.constant(n.inputs[1] ?? "") : undefined;
  const kernel = ints("kernel_shape") ?? wt?.dims.slice(2);
  const r = x.length - 2;
  if (kernel === undefined || kernel.length !== r) {
    stop(n, `has a kernel of rank other than its input's ${r} spatial axes`);
  }
  const strides = ints("strides") ?? fill(r, 1);
  const dilations = ints("dilations") ?? fill(r, 1);
  const pads = ints("pads") ?? fill(2 * r, 0);
  const group = n.attrs.get("group")?.i ?? 1;
  const ceil = (n.attrs.get("ceil_mode")?.i ?? 0) === 1;
  const channels = wt === undefined ? x[1] : n.op === "ConvTranspose" ? wt.dims[1] * group : wt.dims[0];
  const out: Shape = [x[0], channels];
  for (let j = 0; j < r; j++) {
    const nx = x[j + 2];
    if (nx === undefined) {
      throw new ShapeStop(
        w.why.get(n.inputs[0]) ?? `${n.op} node "${nodeName(n)}" has an input of open size ${showShape(x)}`,
      );
    }
    const k = kernel[j], s = strides[j], d = dilations[j];
    let size: number | undefined;
    if (n.op === "ConvTranspose") {
      const os = ints("output_shape");
      if (os !== undefined && os.length > 0) size = os[os.length - r + j];
      else if (autoPad.startsWith("SAME")) size = nx * s;
      else {
        const op = ints("output_padding")?.[j] ?? 0;
        size = s * (nx - 1) + op + (k - 1) * d + 1 - (autoPad === "VALID" ? 0 : pads[j] + pads[j + r]);
      }
    } else if (autoPad.startsWith("SAME")) size = Math.ceil(nx / s);
    else if (autoPad === "VALID") size = windowOut(nx, k, s, d, 0, 0, ceil);
    else size = windowOut(nx, k, s, d, pads[j], pads[j + r], ceil);
    if (size === undefined || size < 1) stop(n, `has an empty output on input ${showShape(x)}`);
    out.push(size);
  }
  return out;
}

/** A Conv or ConvTranspose node as a layer, with its input's spatial size or why it is unknown. */
function convLayer(w: Walk, n: Node, prefix: string): void {
  const { src } = w;
  const ints = (key: string) => n.attrs.get(key)?.ints;
  const autoPad = n.attrs.get("auto_pad")?.s ?? "NOTSET";
  const wt = w.constant(n.inputs[1] ?? "");
  const name = prefix + nodeName(n);
  if (wt === undefined) {
    throw typeError(src, `${n.op} node "${name}" has a weight that is not an initializer or Constant`, n.inputs[1]);
  }
  if (wt.dims.length < 3 || wt.dims.length > 5) {
    throw typeError(src, `${n.op} node "${name}" has a weight of rank other than 3, 4 and 5`, wt.dims);
  }
  const data = tensorValues(src, wt, "initializer");
  const layer = baseLayer(name, data, [...wt.dims], torchLayout(wt.dims.length));
  const kernel = ints("kernel_shape") ?? wt.dims.slice(2);
  const r = kernel.length;
  const strides = ints("strides") ?? fill(r, 1);
  const dilations = ints("dilations") ?? fill(r, 1);
  const pads = ints("pads") ?? fill(2 * r, 0);
  // refused here, naming the node, rather than surfacing later as a size of Infinity or NaN
  const node = `${n.op} node "${name}"`;
  checkAxes(src, `${node} has kernel_shape`, kernel, 1);
  checkAxes(src, `${node} has strides`, strides, 1, r);
  checkAxes(src, `${node} has dilations`, dilations, 1, r);
  checkAxes(src, `${node} has pads`, pads, 0, 2 * r);
  checkAxes(src, `${node} has output_padding`, ints("output_padding"), 0, r);
  const group = n.attrs.get("group")?.i ?? 1;
  checkAxes(src, `${node} has groups`, [group], 1);
  const input = sized(w, n.inputs[0]);
  const x = "shape" in input && input.shape.length === r + 2 && known(input.shape.slice(2))
    ? input.shape.slice(2) as number[]
    : undefined;
  layer.stride = [...strides];
  layer.dilation = [...dilations];
  layer.groups = group;
  layer.transposed = n.op === "ConvTranspose";
  if (layer.transposed) {
    const op = ints("output_padding");
    if (op !== undefined && op.some((v) => v !== 0)) layer.outputPadding = [...op];
  }
  if (autoPad === "VALID") layer.padding = "valid";
  else if (autoPad === "SAME_UPPER" || (autoPad === "SAME_LOWER" && x === undefined)) layer.padding = "same";
  else if (autoPad === "SAME_LOWER") {
    const p = x!.map((nx, j) => samePads(nx, kernel[j], strides[j], dilations[j]));
    Object.assign(layer, explicitPadding([...p.map((q) => q[1]), ...p.map((q) => q[0])]));
  } else Object.assign(layer, explicitPadding(pads));
  if (x !== undefined) layer.inputShape = [...x];
  else {
    layer.inputShapeReason = "why" in input
      ? input.why
      : w.why.get(n.inputs[0]) ?? `its input has the shape ${showShape(input.shape)}, whose spatial size is not known`;
  }
  const bn = w.consumers.get(n.outputs[0]);
  if (bn?.length === 1 && bn[0].op === "BatchNormalization" && bn[0].inputs[0] === n.outputs[0]) {
    const [, s, b, m, v] = bn[0].inputs.map((i) => w.constant(i));
    if (s && b && m && v) {
      const val = (t: Tensor) => tensorValues(src, t, "initializer");
      layer.scale = batchNorm(
        bn[0].name || bn[0].outputs[0],
        val(s),
        val(b),
        val(m),
        val(v),
        bn[0].attrs.get("epsilon")?.f ?? 1e-5,
      );
    }
  }
  w.layers.push(layer);
}
