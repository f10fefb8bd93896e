/**
 * Slots of an ONNX model: the weight of each `Conv` and `ConvTranspose`
 * node, an initializer or `Constant` reached through `Identity` nodes, when
 * it is an in-file FLOAT, DOUBLE, FLOAT16 or BFLOAT16 tensor whose numbers
 * lie in one run: `raw_data`, or packed `float_data`/`double_data`. Those
 * bytes are overwritten in place, so no protobuf length changes.
 * @module
 */
import type { Source } from "../_readers/_common.ts";
import { graphConstants } from "../_readers/onnx.ts";
import { readModelGraph } from "../_readers/onnx_proto.ts";
import { type Encoding, type Located, SIZE, type Slot } from "./slots.ts";

const ONNX_TYPES: Record<number, [Encoding, string]> = {
  1: ["f32", "FLOAT"],
  11: ["f64", "DOUBLE"],
  10: ["f16", "FLOAT16"],
  16: ["bf16", "BFLOAT16"],
};

/** Each conv node's weight, as the layer (the node's name, else its output). */
export function locateOnnx(bytes: Uint8Array, src: Source): Located {
  const g = readModelGraph(src, bytes);
  const { constant } = graphConstants(g);
  const slots = new Map<string, Slot | string>();
  for (const n of g.nodes) {
    if (n.op !== "Conv" && n.op !== "ConvTranspose") continue;
    const name = n.name || n.outputs[0];
    const t = constant(n.inputs[1] ?? "");
    const type = t === undefined ? undefined : ONNX_TYPES[t.dataType];
    if (t === undefined || type === undefined || t.external) {
      slots.set(name, `its weight is not an in-file FLOAT, DOUBLE, FLOAT16 or BFLOAT16 tensor`);
      continue;
    }
    const count = t.dims.reduce((a, b) => a * b, 1);
    let body: Uint8Array | undefined;
    if (t.raw !== undefined) body = t.raw;
    else if (type[0] === "f32" || type[0] === "f64") {
      // packed float_data / double_data: one length-delimited field of fixed-size values
      const list = t.fields.get(type[0] === "f32" ? 4 : 10) ?? [];
      if (list.length === 1 && list[0].wire === 2) {
        const b = list[0].bytes;
        let p = 0;
        while (b[p] & 0x80) p++;
        body = b.subarray(p + 1);
      }
    }
    if (body === undefined || body.length !== count * SIZE[type[0]]) {
      slots.set(name, `its weight "${t.name}" is stored in typed fields this writer does not rewrite in place`);
      continue;
    }
    slots.set(name, {
      file: 0,
      offset: body.byteOffset - bytes.byteOffset,
      count,
      type: type[0],
      littleEndian: true,
      label: type[1],
    });
  }
  return { files: [{ path: "", bytes }], slots, output: (f) => f };
}
