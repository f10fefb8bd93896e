/**
 * The ONNX protobuf messages the reader needs, decoded from the wire format
 * by `BinaryReader` of `@bufbuild/protobuf/wire`: `ModelProto.graph`, and of
 * `GraphProto` its nodes, initializers, inputs, outputs and value infos, with
 * their attributes (subgraphs of `If` and `Loop` included), tensors and shapes.
 *
 * Only the field numbers of those messages are known here (from
 * onnx/onnx.proto3); every other field is skipped. A tensor is located, not
 * decoded, until {@linkcode tensorValues} is asked for its values, so only
 * the weights the reader returns are decoded. No code is generated at run
 * time. Malformed or truncated bytes throw `TypeError`; an integer beyond
 * 2^53 throws `RangeError`.
 * @module
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import {
  bfloat16ToNumber,
  decodeFloats,
  elementCount,
  halfToNumber,
  ITEM_SIZE,
  type NumericType,
  rangeError,
  type Source,
  typeError,
} from "./_common.ts";

/** A TensorProto, located but not decoded. */
export interface Tensor {
  name: string;
  dims: number[];
  dataType: number;
  raw?: Uint8Array | undefined;
  /** Repeated numeric fields (float_data 4, int32_data 5, int64_data 7, double_data 10): their bytes and wire types. */
  fields: Map<number, { bytes: Uint8Array; wire: WireType }[]>;
  external: boolean;
}

export interface Attribute {
  name: string;
  f?: number | undefined;
  i?: number | undefined;
  s?: string | undefined;
  t?: Tensor | undefined;
  /** A subgraph (`If`'s branches, `Loop`'s body). */
  g?: Graph | undefined;
  floats: number[];
  ints: number[];
}

export interface Node {
  name: string;
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, Attribute>;
}

export interface ValueInfo {
  name: string;
  /** Dims; undefined where symbolic or missing; the whole list undefined without a shape. */
  dims?: (number | undefined)[] | undefined;
}

export interface Graph {
  nodes: Node[];
  initializers: Map<string, Tensor>;
  inputs: ValueInfo[];
  /** The graph's outputs (a subgraph's outputs become its node's). */
  outputs: ValueInfo[];
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

/** How deep subgraphs (`If`, `Loop`) may nest. */
const MAX_GRAPH_DEPTH = 64;

function readAttribute(src: Source, bytes: Uint8Array, depth: number): Attribute {
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
      case 6:
        if (depth >= MAX_GRAPH_DEPTH) {
          throw rangeError(src, `an ONNX model whose subgraphs nest more than ${MAX_GRAPH_DEPTH} deep`, depth + 1);
        }
        a.g = readGraph(src, r.bytes(), depth + 1);
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

function readNode(src: Source, bytes: Uint8Array, depth: number): Node {
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
        const a = readAttribute(src, r.bytes(), depth);
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

function readGraph(src: Source, bytes: Uint8Array, depth: number): Graph {
  const g: Graph = { nodes: [], initializers: new Map(), inputs: [], outputs: [], valueInfo: [] };
  fields(src, bytes, (no, _w, r) => {
    switch (no) {
      case 1:
        g.nodes.push(readNode(src, r.bytes(), depth));
        return true;
      case 5: {
        const t = readTensor(src, r.bytes());
        g.initializers.set(t.name, t);
        return true;
      }
      case 11:
        g.inputs.push(readValueInfo(src, r.bytes()));
        return true;
      case 12:
        g.outputs.push(readValueInfo(src, r.bytes()));
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

/** The graph of a ModelProto (field 7). */
export function readModelGraph(src: Source, bytes: Uint8Array): Graph {
  let graphBytes: Uint8Array | undefined;
  fields(src, bytes, (no, wire, r) => {
    if (no !== 7 || wire !== WireType.LengthDelimited) return false;
    graphBytes = r.bytes();
    return true;
  });
  if (graphBytes === undefined) throw typeError(src, "an ONNX model has no graph (field 7 of ModelProto)", bytes);
  return readGraph(src, graphBytes, 0);
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

/**
 * How many values repeated numeric fields hold, without decoding them: fixed
 * `size`-byte values (float, double) from their byte lengths, varints (size
 * 0) by their final bytes. Wire types other than the field's own count as
 * one value each, to be refused by the decoder.
 */
function heldValues(list: { bytes: Uint8Array; wire: WireType }[], size: number): number {
  let n = 0;
  for (const { bytes, wire } of list) {
    if (wire !== WireType.LengthDelimited) {
      n++;
      continue;
    }
    const r = new BinaryReader(bytes);
    r.uint32(); // the length prefix
    const body = bytes.subarray(r.pos);
    if (size > 0) n += Math.ceil(body.length / size);
    else for (let j = 0; j < body.length; j++) n += body[j] < 0x80 ? 1 : 0;
  }
  return n;
}

/** The values of an initializer (float types; integer types as numbers), checked against its dims. */
export function tensorValues(src: Source, t: Tensor, what: string): Float32Array | Float64Array {
  const type = TYPES[t.dataType];
  if (type === undefined) {
    throw typeError(
      src,
      `${what} "${t.name}" has a data type other than FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT32 and INT64`,
      t.dataType,
    );
  }
  if (t.external) {
    throw typeError(src, `${what} "${t.name}" keeps its data in an external file, which is not read`, t.name);
  }
  const count = elementCount(src, `${what} "${t.name}"`, t.dims);
  if (t.raw !== undefined) {
    const size = ITEM_SIZE[type.raw];
    if (t.raw.length !== count * size) {
      throw typeError(
        src,
        `${what} "${t.name}" has ${t.raw.length} raw bytes for ${type.name} dims ${JSON.stringify(t.dims)}`,
        t.raw.length,
      );
    }
    return decodeFloats(src, `${what} "${t.name}"`, t.raw, 0, count, type.raw);
  }
  // typed fields: float_data (4) for FLOAT; int32_data (5) for FLOAT16/BFLOAT16 bits and INT32; int64_data (7); double_data (10)
  const field = type.raw === "f32" ? 4 : type.raw === "f64" ? 10 : type.raw === "i64" ? 7 : 5;
  // count the values the file holds before allocating for the dims (an 82-byte file may claim 2^31 − 1 values)
  const held = heldValues(t.fields.get(field) ?? [], field === 4 ? 4 : field === 10 ? 8 : 0);
  if (held !== count) {
    throw typeError(src, `${what} "${t.name}" has ${held} values for dims ${JSON.stringify(t.dims)}`, held);
  }
  const out = type.raw === "f64" ? new Float64Array(count) : new Float32Array(count);
  let n = 0;
  const push = (v: number) => {
    if (n >= count) {
      throw typeError(src, `${what} "${t.name}" has more values than its dims ${JSON.stringify(t.dims)}`, n + 1);
    }
    out[n++] = v;
  };
  for (const { bytes, wire } of t.fields.get(field) ?? []) {
    const r = new BinaryReader(bytes);
    if (field === 4 || field === 10) {
      const body = wire === WireType.LengthDelimited ? (r.uint32(), bytes.subarray(r.pos)) : bytes;
      const size = field === 4 ? 4 : 8;
      if (body.length % size !== 0) throw typeError(src, `${what} "${t.name}" has truncated float data`, body.length);
      const view = new DataView(body.buffer, body.byteOffset, body.length);
      for (let j = 0; j < body.length; j += size) {
        push(size === 4 ? view.getFloat32(j, true) : view.getFloat64(j, true));
      }
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
