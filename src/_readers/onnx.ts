/**
 * ONNX models (a protobuf `ModelProto`): `Conv` and `ConvTranspose` nodes
 * with their attributes and constant weights, the `BatchNormalization` that
 * consumes a conv's output, and spatial sizes propagated from the graph's
 * input through the nodes whose output size is known.
 *
 * The messages are decoded by onnx_proto.ts; this module walks the graph.
 * Constants are initializers and `Constant` nodes, reached through
 * `Identity` nodes. Where propagation cannot size a tensor, the shape the
 * exporter recorded (`value_info`) stands in.
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

/** True when the bytes start like an ONNX ModelProto (field 1, ir_version, as a varint). */
export function looksLikeOnnx(bytes: Uint8Array): boolean {
  return bytes.length > 2 && bytes[0] === 0x08 && bytes[1] > 0 && bytes[1] < 0x80;
}

const CONV_OPS = new Set(["Conv", "ConvTranspose"]);
/** Ops whose output has the spatial size of their first input. */
const SAME_SIZE = new Set([
  "Relu",
  "LeakyRelu",
  "PRelu",
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
  "LRN",
  "Cast",
  "Neg",
  "Abs",
  "Sqrt",
  "Exp",
  "Log",
  "Reciprocal",
  "ThresholdedRelu",
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Max",
  "Min",
  "Sum",
  "Mean",
  "Pow",
  "Softmax",
  "LogSoftmax",
  "QuantizeLinear",
  "DequantizeLinear",
]);
const POOL_OPS = new Set(["MaxPool", "AveragePool", "LpPool"]);

/**
 * The graph's constants: `constants`, the initializers and `Constant` nodes'
 * values by tensor name; `constant(name)`, the one a name holds, reached
 * through `Identity` nodes (64 hops at most).
 */
export function graphConstants(
  g: Graph,
): { constants: Map<string, Tensor>; constant: (name: string) => Tensor | undefined } {
  const constants = new Map(g.initializers);
  const identityOf = new Map<string, string>();
  for (const n of g.nodes) {
    if (n.op === "Constant" && n.attrs.get("value")?.t !== undefined) {
      constants.set(n.outputs[0], n.attrs.get("value")!.t!);
    }
    if (n.op === "Identity" && n.inputs.length === 1) identityOf.set(n.outputs[0], n.inputs[0]);
  }
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

/** Reads an ONNX model's conv layers. `inputShape` fills the graph input's spatial size where the file leaves it symbolic. */
export function readOnnx(
  bytes: Uint8Array,
  src: Source,
  options: { inputShape?: readonly number[] | undefined },
): ConvLayer[] {
  const g = readModelGraph(src, bytes);
  const { constants, constant } = graphConstants(g);
  const consumers = new Map<string, Node[]>();
  for (const n of g.nodes) {
    for (const i of n.inputs) {
      const list = consumers.get(i);
      if (list === undefined) consumers.set(i, [n]);
      else list.push(n);
    }
  }

  // spatial sizes, by tensor name
  const spatial = new Map<string, number[]>();
  const dataInputs = g.inputs.filter((v) => !constants.has(v.name));
  for (const v of dataInputs) {
    const dims = v.dims;
    if (dims === undefined || dims.length < 3) continue;
    const sp = dims.slice(2);
    if (sp.every((d) => d !== undefined)) spatial.set(v.name, sp as number[]);
    else if (options.inputShape !== undefined && options.inputShape.length === sp.length) {
      spatial.set(v.name, [...options.inputShape]);
    }
  }

  // shapes the exporter recorded, for tensors the propagation below cannot size
  const recorded = new Map<string, number[]>();
  for (const v of g.valueInfo) {
    const sp = v.dims?.slice(2);
    if (sp !== undefined && sp.length > 0 && sp.every((d) => d !== undefined)) recorded.set(v.name, sp as number[]);
  }

  const layers: ConvLayer[] = [];
  for (const n of g.nodes) {
    const x = spatial.get(n.inputs[0]) ?? recorded.get(n.inputs[0]);
    const ints = (key: string) => n.attrs.get(key)?.ints;
    const autoPad = n.attrs.get("auto_pad")?.s ?? "NOTSET";
    let out: number[] | undefined;
    if (CONV_OPS.has(n.op) || POOL_OPS.has(n.op)) {
      const isConv = CONV_OPS.has(n.op);
      let kernel = ints("kernel_shape");
      let layer: ConvLayer | undefined;
      if (isConv) {
        const w = constant(n.inputs[1] ?? "");
        if (w === undefined) {
          throw typeError(
            src,
            `${n.op} node "${n.name}" has a weight that is not an initializer or Constant`,
            n.inputs[1],
          );
        }
        if (w.dims.length < 3 || w.dims.length > 5) {
          throw typeError(src, `${n.op} node "${n.name}" has a weight of rank other than 3, 4 and 5`, w.dims);
        }
        const data = tensorValues(src, w, "initializer");
        layer = baseLayer(n.name || n.outputs[0], data, [...w.dims], torchLayout(w.dims.length));
        kernel ??= w.dims.slice(2);
      }
      const r = kernel?.length ?? (x?.length ?? 0);
      const strides = ints("strides") ?? fill(r, 1);
      const dilations = ints("dilations") ?? fill(r, 1);
      const pads = ints("pads") ?? fill(2 * r, 0);
      // refused here, naming the node, rather than surfacing later as a size of Infinity or NaN
      const node = `${n.op} node "${n.name || n.outputs[0]}"`;
      checkAxes(src, `${node} has kernel_shape`, kernel, 1);
      checkAxes(src, `${node} has strides`, strides, 1, r);
      checkAxes(src, `${node} has dilations`, dilations, 1, r);
      checkAxes(src, `${node} has pads`, pads, 0, 2 * r);
      checkAxes(src, `${node} has output_padding`, ints("output_padding"), 0, r);
      const group = n.attrs.get("group")?.i ?? 1;
      checkAxes(src, `${node} has groups`, [group], 1);
      if (layer !== undefined) {
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
          const p = x!.map((nx, j) => samePads(nx, kernel![j], strides[j], dilations[j]));
          Object.assign(layer, explicitPadding([...p.map((q) => q[1]), ...p.map((q) => q[0])]));
        } else Object.assign(layer, explicitPadding(pads));
        if (x !== undefined) layer.inputShape = [...x];
        const bn = consumers.get(n.outputs[0]);
        if (bn?.length === 1 && bn[0].op === "BatchNormalization" && bn[0].inputs[0] === n.outputs[0]) {
          const [, s, b, m, v] = bn[0].inputs.map((i) => constant(i));
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
        layers.push(layer);
      }
      if (x !== undefined && kernel !== undefined && kernel.length === x.length) {
        const ceil = (n.attrs.get("ceil_mode")?.i ?? 0) === 1;
        const sizes: (number | undefined)[] = x.map((nx, j) => {
          const k = kernel![j], s = strides[j], d = dilations[j];
          if (n.op === "ConvTranspose") {
            const os = ints("output_shape");
            if (os !== undefined) return os[os.length - x.length + j];
            if (autoPad.startsWith("SAME")) return nx * s;
            const op = ints("output_padding")?.[j] ?? 0;
            return s * (nx - 1) + op + (k - 1) * d + 1 - pads[j] - pads[j + x.length];
          }
          if (autoPad.startsWith("SAME")) return Math.ceil(nx / s);
          if (autoPad === "VALID") return windowOut(nx, k, s, d, 0, 0, ceil);
          return windowOut(nx, k, s, d, pads[j], pads[j + x.length], ceil);
        });
        if (sizes.every((v) => v !== undefined && v > 0)) out = sizes as number[];
      }
    } else if (n.op === "GlobalAveragePool" || n.op === "GlobalMaxPool" || n.op === "GlobalLpPool") {
      if (x !== undefined) out = fill(x.length, 1);
    } else if (SAME_SIZE.has(n.op)) {
      // elementwise: the first input whose size is known (constants broadcast)
      const known = n.inputs.map((i) => spatial.get(i)).filter((v) => v !== undefined) as number[][];
      const data = n.inputs.filter((i) => i !== "" && constant(i) === undefined);
      if (known.length > 0 && known.length === data.length) {
        const full = known.find((k) => k.some((v) => v !== 1)) ?? known[0];
        if (known.every((k) => k.length === full.length && k.every((v, j) => v === full[j] || v === 1))) out = full;
      }
    } else if (n.op === "Concat") {
      const axis = n.attrs.get("axis")?.i;
      const known = n.inputs.map((i) => spatial.get(i));
      if (axis === 1 && known.every((k) => k !== undefined && k.join() === known[0]!.join())) out = known[0];
    } else if (n.op === "Pad" && x !== undefined) {
      const p = n.inputs[1] !== undefined && n.inputs[1] !== ""
        ? (() => {
          const t = constant(n.inputs[1]);
          return t === undefined ? undefined : Array.from(tensorValues(src, t, "initializer"));
        })()
        : ints("pads");
      const rank = x.length + 2;
      if (p !== undefined && p.length === 2 * rank) out = x.map((v, j) => v + p[j + 2] + p[j + 2 + rank]);
    }
    if (out !== undefined && n.outputs[0] !== undefined) spatial.set(n.outputs[0], out);
  }
  if (layers.length === 0) throw typeError(src, "an ONNX model with no Conv or ConvTranspose node", g.nodes.length);
  return layers;
}
