/**
 * ONNX models (a protobuf `ModelProto`): `Conv` and `ConvTranspose` nodes
 * with their attributes and constant weights, the `BatchNormalization` that
 * consumes a conv's output, and spatial sizes propagated from the graph's
 * input through the nodes whose output size is known.
 *
 * The wire format is decoded by `BinaryReader` of `@bufbuild/protobuf/wire`;
 * this module only knows the field numbers of the messages it reads (from
 * onnx/onnx.proto3), skips every other field, and decodes tensor data only
 * for the weights it returns. No code is generated at run time.
 * @module
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { ConvLayer } from "../model.ts";
import {
  baseLayer,
  batchNorm,
  bfloat16ToNumber,
  decodeFloats,
  elementCount,
  explicitPadding,
  fill,
  halfToNumber,
  ITEM_SIZE,
  type NumericType,
  rangeError,
  samePads,
  type Source,
  torchLayout,
  typeError,
  windowOut,
} from "./_common.ts";

/** A TensorProto, located but not decoded. */
interface Tensor {
  name: string;
  dims: number[];
  dataType: number;
  raw?: Uint8Array;
  /** Repeated numeric fields (float_data 4, int32_data 5, int64_data 7, double_data 10): their bytes and wire types. */
  fields: Map<number, { bytes: Uint8Array; wire: WireType }[]>;
  external: boolean;
}

interface Attribute {
  name: string;
  f?: number;
  i?: number;
  s?: string;
  t?: Tensor;
  floats: number[];
  ints: number[];
}

interface Node {
  name: string;
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, Attribute>;
}

interface ValueInfo {
  name: string;
  /** Dims; undefined where symbolic or missing; the whole list undefined without a shape. */
  dims?: (number | undefined)[];
}

interface Graph {
  nodes: Node[];
  initializers: Map<string, Tensor>;
  inputs: ValueInfo[];
  /** Shapes the exporter recorded for intermediate tensors (GraphProto.value_info). */
  valueInfo: ValueInfo[];
}

/** Walks the fields of one message, calling `on` with a reader placed at each field's value; unread fields are skipped. */
function fields(src: Source, bytes: Uint8Array, on: (no: number, wire: WireType, r: BinaryReader) => boolean): void {
  const r = new BinaryReader(bytes);
  try {
    while (r.pos < r.len) {
      const [no, wire] = r.tag();
      if (!on(no, wire, r)) r.skip(wire, no);
      if (r.pos > r.len) throw new RangeError("premature EOF");
    }
  } catch (e) {
    if (e instanceof TypeError && e.message.startsWith("Cannot read")) throw e;
    if (e instanceof RangeError && e.message.startsWith("Cannot read")) throw e;
    throw typeError(src, `ONNX protobuf is malformed or truncated (${(e as Error).message})`, bytes);
  }
}

function int(src: Source, r: BinaryReader): number {
  const v = Number(r.int64());
  if (!Number.isSafeInteger(v)) throw rangeError(src, "an ONNX integer is out of range", v);
  return v;
}

/** Repeated int64: packed (length-delimited) or one varint. */
function ints(src: Source, wire: WireType, r: BinaryReader, out: number[]): void {
  if (wire === WireType.LengthDelimited) {
    const body = r.bytes();
    const sub = new BinaryReader(body);
    while (sub.pos < sub.len) out.push(int(src, sub));
    if (sub.pos > sub.len) throw new RangeError("premature EOF");
  } else out.push(int(src, r));
}

function readTensor(src: Source, bytes: Uint8Array): Tensor {
  const t: Tensor = { name: "", dims: [], dataType: 0, fields: new Map(), external: false };
  fields(src, bytes, (no, wire, r) => {
    switch (no) {
      case 1:
        ints(src, wire, r, t.dims);
        return true;
      case 2:
        t.dataType = r.int32();
        return true;
      case 8:
        t.name = r.string();
        return true;
      case 9:
        t.raw = r.bytes();
        return true;
      case 14:
        t.external = r.int32() === 1;
        return true;
      case 4:
      case 5:
      case 7:
      case 10: {
        const list = t.fields.get(no) ?? [];
        list.push({ bytes: r.skip(wire, no), wire });
        t.fields.set(no, list);
        return true;
      }
      default:
        return false;
    }
  });
  return t;
}

function readAttribute(src: Source, bytes: Uint8Array): Attribute {
  const a: Attribute = { name: "", floats: [], ints: [] };
  fields(src, bytes, (no, wire, r) => {
    switch (no) {
      case 1:
        a.name = r.string();
        return true;
      case 2:
        a.f = r.float();
        return true;
      case 3:
        a.i = int(src, r);
        return true;
      case 4:
        a.s = new TextDecoder().decode(r.bytes());
        return true;
      case 5:
        a.t = readTensor(src, r.bytes());
        return true;
      case 7:
        if (wire === WireType.LengthDelimited) {
          const body = r.bytes();
          const view = new DataView(body.buffer, body.byteOffset, body.length);
          for (let j = 0; j + 4 <= body.length; j += 4) a.floats.push(view.getFloat32(j, true));
        } else a.floats.push(r.float());
        return true;
      case 8:
        ints(src, wire, r, a.ints);
        return true;
      default:
        return false;
    }
  });
  return a;
}

function readNode(src: Source, bytes: Uint8Array): Node {
  const n: Node = { name: "", op: "", domain: "", inputs: [], outputs: [], attrs: new Map() };
  fields(src, bytes, (no, _wire, r) => {
    switch (no) {
      case 1:
        n.inputs.push(r.string());
        return true;
      case 2:
        n.outputs.push(r.string());
        return true;
      case 3:
        n.name = r.string();
        return true;
      case 4:
        n.op = r.string();
        return true;
      case 5: {
        const a = readAttribute(src, r.bytes());
        n.attrs.set(a.name, a);
        return true;
      }
      case 7:
        n.domain = r.string();
        return true;
      default:
        return false;
    }
  });
  return n;
}

/** ValueInfoProto → name and dims (TypeProto.tensor_type.shape.dim[].dim_value). */
function readValueInfo(src: Source, bytes: Uint8Array): ValueInfo {
  const v: ValueInfo = { name: "" };
  fields(src, bytes, (no, _w, r) => {
    if (no === 1) v.name = r.string();
    else if (no === 2) {
      fields(src, r.bytes(), (tNo, _w2, r2) => {
        if (tNo !== 1) return false; // tensor_type
        fields(src, r2.bytes(), (ttNo, _w3, r3) => {
          if (ttNo !== 2) return false; // shape
          v.dims = [];
          fields(src, r3.bytes(), (sNo, _w4, r4) => {
            if (sNo !== 1) return false; // dim
            let value: number | undefined;
            fields(src, r4.bytes(), (dNo, _w5, r5) => {
              if (dNo !== 1) return false; // dim_value
              value = int(src, r5);
              return true;
            });
            v.dims!.push(value !== undefined && value > 0 ? value : undefined);
            return true;
          });
          return true;
        });
        return true;
      });
    } else return false;
    return true;
  });
  return v;
}

function readGraph(src: Source, bytes: Uint8Array): Graph {
  const g: Graph = { nodes: [], initializers: new Map(), inputs: [], valueInfo: [] };
  fields(src, bytes, (no, _w, r) => {
    switch (no) {
      case 1:
        g.nodes.push(readNode(src, r.bytes()));
        return true;
      case 5: {
        const t = readTensor(src, r.bytes());
        g.initializers.set(t.name, t);
        return true;
      }
      case 11:
        g.inputs.push(readValueInfo(src, r.bytes()));
        return true;
      case 13:
        g.valueInfo.push(readValueInfo(src, r.bytes()));
        return true;
      default:
        return false;
    }
  });
  return g;
}

/** True when the bytes start like an ONNX ModelProto (field 1, ir_version, as a varint). */
export function looksLikeOnnx(bytes: Uint8Array): boolean {
  return bytes.length > 2 && bytes[0] === 0x08 && bytes[1] > 0 && bytes[1] < 0x80;
}

/** Element types the reader decodes: TensorProto.DataType → (bytes per element, raw type). */
const TYPES: Record<number, { name: string; raw: NumericType }> = {
  1: { name: "FLOAT", raw: "f32" },
  6: { name: "INT32", raw: "i32" },
  7: { name: "INT64", raw: "i64" },
  10: { name: "FLOAT16", raw: "f16" },
  11: { name: "DOUBLE", raw: "f64" },
  16: { name: "BFLOAT16", raw: "bf16" },
};

/** The values of an initializer (float types; integer types as numbers), checked against its dims. */
function tensorValues(src: Source, t: Tensor, what: string): Float32Array | Float64Array {
  const type = TYPES[t.dataType];
  if (type === undefined) {
    throw typeError(src, `${what} "${t.name}" has a data type other than FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT32 and INT64`, t.dataType);
  }
  if (t.external) throw typeError(src, `${what} "${t.name}" keeps its data in an external file, which is not read`, t.name);
  const count = elementCount(src, `${what} "${t.name}"`, t.dims);
  if (t.raw !== undefined) {
    const size = ITEM_SIZE[type.raw];
    if (t.raw.length !== count * size) {
      throw typeError(src, `${what} "${t.name}" has ${t.raw.length} raw bytes for ${type.name} dims ${JSON.stringify(t.dims)}`, t.raw.length);
    }
    return decodeFloats(src, `${what} "${t.name}"`, t.raw, 0, count, type.raw);
  }
  // typed fields: float_data (4) for FLOAT; int32_data (5) for FLOAT16/BFLOAT16 bits and INT32; int64_data (7); double_data (10)
  const field = type.raw === "f32" ? 4 : type.raw === "f64" ? 10 : type.raw === "i64" ? 7 : 5;
  const out = type.raw === "f64" ? new Float64Array(count) : new Float32Array(count);
  let n = 0;
  const push = (v: number) => {
    if (n >= count) throw typeError(src, `${what} "${t.name}" has more values than its dims ${JSON.stringify(t.dims)}`, n + 1);
    out[n++] = v;
  };
  for (const { bytes, wire } of t.fields.get(field) ?? []) {
    const r = new BinaryReader(bytes);
    if (field === 4 || field === 10) {
      const body = wire === WireType.LengthDelimited ? (r.uint32(), bytes.subarray(r.pos)) : bytes;
      const size = field === 4 ? 4 : 8;
      if (body.length % size !== 0) throw typeError(src, `${what} "${t.name}" has truncated float data`, body.length);
      const view = new DataView(body.buffer, body.byteOffset, body.length);
      for (let j = 0; j < body.length; j += size) push(size === 4 ? view.getFloat32(j, true) : view.getFloat64(j, true));
    } else {
      const list: number[] = [];
      try {
        ints(src, wire, r, list);
      } catch (e) {
        throw typeError(src, `${what} "${t.name}" has malformed integer data (${(e as Error).message})`, t.name);
      }
      for (const v of list) {
        push(type.raw === "f16" ? halfToNumber(v) : type.raw === "bf16" ? bfloat16ToNumber(v) : v);
      }
    }
  }
  if (n !== count) {
    throw typeError(src, `${what} "${t.name}" has ${n} values for dims ${JSON.stringify(t.dims)}`, n);
  }
  return out;
}

const CONV_OPS = new Set(["Conv", "ConvTranspose"]);
/** Ops whose output has the spatial size of their first input. */
const SAME_SIZE = new Set([
  "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Clip", "Elu", "Selu", "Celu", "Softplus",
  "Softsign", "Mish", "Gelu", "Erf", "Identity", "Dropout", "BatchNormalization", "InstanceNormalization", "LRN", "Cast",
  "Neg", "Abs", "Sqrt", "Exp", "Log", "Reciprocal", "ThresholdedRelu", "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum",
  "Mean", "Pow", "Softmax", "LogSoftmax", "QuantizeLinear", "DequantizeLinear",
]);
const POOL_OPS = new Set(["MaxPool", "AveragePool", "LpPool"]);

/** Reads an ONNX model's conv layers. `inputShape` fills the graph input's spatial size where the file leaves it symbolic. */
export function readOnnx(bytes: Uint8Array, src: Source, options: { inputShape?: readonly number[] }): ConvLayer[] {
  let graphBytes: Uint8Array | undefined;
  fields(src, bytes, (no, wire, r) => {
    if (no !== 7 || wire !== WireType.LengthDelimited) return false;
    graphBytes = r.bytes();
    return true;
  });
  if (graphBytes === undefined) throw typeError(src, "an ONNX model has no graph (field 7 of ModelProto)", bytes);
  const g = readGraph(src, graphBytes);

  // constants: initializers and Constant nodes, reached through Identity
  const constants = new Map(g.initializers);
  const identityOf = new Map<string, string>();
  for (const n of g.nodes) {
    if (n.op === "Constant" && n.attrs.get("value")?.t !== undefined) constants.set(n.outputs[0], n.attrs.get("value")!.t!);
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
  const consumers = new Map<string, Node[]>();
  for (const n of g.nodes) for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n]);

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
          throw typeError(src, `${n.op} node "${n.name}" has a weight that is not an initializer or Constant`, n.inputs[1]);
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
      if (layer !== undefined) {
        layer.stride = [...strides];
        layer.dilation = [...dilations];
        layer.groups = n.attrs.get("group")?.i ?? 1;
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
            layer.scale = batchNorm(bn[0].name || bn[0].outputs[0], val(s), val(b), val(m), val(v), bn[0].attrs.get("epsilon")?.f ?? 1e-5);
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
