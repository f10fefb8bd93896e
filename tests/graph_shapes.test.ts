/**
 * Shape propagation of the graph readers (ONNX, TF.js graph-models) on small
 * graphs built here with the ops of real models (PP-OCR's squeeze-excite and
 * Resize path, ConvTranspose, Slice; Silero VAD's `If` branches; MoveNet's
 * Cast/Unpack/ExpandDims input and ResizeBilinear sized by shape arithmetic;
 * Human's control flow): every conv's input size derived by hand, a size
 * that cannot be propagated reported unknown with the op that stopped it,
 * and the CLI asking for it instead of guessing.
 * @module
 */
import assert from "node:assert/strict";
import { test } from "./_test.ts";
import { type ConvLayer, readModel } from "../src/models.ts";
import { run } from "../src/_cli/run.ts";
import type { CliIo } from "../src/_cli/load.ts";
import { attrInts, attrString, inputProto, nodeProto, pb, tensorProto } from "./hostile.ts";

const f32 = (n: number, seed = 1) =>
  new Uint8Array(Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i)).buffer);
const i64 = (v: number[]) => new Uint8Array(BigInt64Array.from(v.map(BigInt)).buffer);
const weight = (name: string, dims: number[], seed = 1) =>
  tensorProto(name, dims, 1, { raw: f32(dims.reduce((a, b) => a * b, 1), seed) });
const ints64 = (name: string, v: number[]) => tensorProto(name, [v.length], 7, { raw: i64(v) });
const floats = (name: string, v: number[]) => tensorProto(name, [v.length], 1, { floats: v });

/** A GraphProto body: nodes, initializers, inputs and outputs (ValueInfoProto bodies). */
function graph(nodes: number[][], inits: number[][], inputs: number[][], outputs: number[][] = []): number[] {
  const g: number[] = [];
  for (const n of nodes) g.push(...pb.bytes(1, n));
  for (const t of inits) g.push(...pb.bytes(5, t));
  for (const i of inputs) g.push(...pb.bytes(11, i));
  for (const o of outputs) g.push(...pb.bytes(12, o));
  return g;
}
const model = (g: number[]) => new Uint8Array([...pb.int(1, 8), ...pb.bytes(7, g)]);
/** An AttributeProto of type GRAPH. */
const attrGraph = (name: string, g: number[]) => [...pb.str(1, name), ...pb.bytes(6, g), ...pb.int(20, 5)];
const byName = (layers: ConvLayer[]) => new Map(layers.map((l) => [l.name, l]));

/**
 * x [1, 3, 16, 16] → c1 (3×3, stride 2, pad 1) → [1, 4, 8, 8]; squeeze-excite:
 * GlobalAveragePool → se (1×1) on [1, 1] → HardSigmoid → Mul → [1, 4, 8, 8];
 * Resize ×2 (constant scales) → [1, 4, 16, 16] → c2 (pad 1) on 16×16;
 * ConvTranspose t (2×2, stride 2) on 16×16 → [1, 2, 32, 32]; Slice of c2's
 * output on axis 2, [2, 14) → [1, 4, 12, 16] → Pad [1, 1] on axis 3 → [1, 4, 12, 18]
 * → Reshape [0, 0, -1] then back [1, 4, 12, 18] → Transpose (0, 1, 3, 2) →
 * [1, 4, 18, 12] → c3 on 18×12; Mystery (an op the reader does not know) →
 * c4, unknown, naming it.
 */
function ppocrLike(symbolic = false): Uint8Array {
  const nodes = [
    nodeProto("Conv", "c1", ["x", "w1"], ["y1"], [attrInts("strides", [2, 2]), attrInts("pads", [1, 1, 1, 1])]),
    nodeProto("GlobalAveragePool", "gap", ["y1"], ["g"]),
    nodeProto("Conv", "se", ["g", "wse"], ["s1"]),
    nodeProto("HardSigmoid", "hs", ["s1"], ["s2"]),
    nodeProto("Mul", "mul", ["y1", "s2"], ["y2"]),
    nodeProto("Resize", "up", ["y2", "", "scales"], ["y3"], [attrString("mode", "nearest")]),
    nodeProto("Conv", "c2", ["y3", "w2"], ["y4"], [attrInts("pads", [1, 1, 1, 1])]),
    nodeProto("ConvTranspose", "t", ["y4", "wt"], ["y5"], [attrInts("strides", [2, 2])]),
    nodeProto("Slice", "sl", ["y4", "st", "en", "ax"], ["y6"]),
    nodeProto("Pad", "pad", ["y6", "pads"], ["y7"]),
    nodeProto("Reshape", "r1", ["y7", "flat"], ["y8"]),
    nodeProto("Reshape", "r2", ["y8", "back"], ["y9"]),
    nodeProto("Transpose", "tr", ["y9"], ["y10"], [attrInts("perm", [0, 1, 3, 2])]),
    nodeProto("Conv", "c3", ["y10", "w3"], ["y11"]),
    nodeProto("Mystery", "m", ["y11"], ["y12"]),
    nodeProto("Conv", "c4", ["y12", "w4"], ["y13"]),
  ];
  const inits = [
    weight("w1", [4, 3, 3, 3]),
    weight("wse", [4, 4, 1, 1], 2),
    floats("scales", [1, 1, 2, 2]),
    weight("w2", [4, 4, 3, 3], 3),
    weight("wt", [4, 2, 2, 2], 4),
    ints64("st", [2]),
    ints64("en", [14]),
    ints64("ax", [2]),
    ints64("pads", [0, 0, 0, 1, 0, 0, 0, 1]),
    ints64("flat", [0, 0, -1]),
    ints64("back", [1, 4, 12, 18]),
    weight("w3", [2, 4, 3, 3], 5),
    weight("w4", [2, 2, 1, 1], 6),
  ];
  const dims = symbolic ? [1, 3, 0, 0] : [1, 3, 16, 16];
  return model(graph(nodes, inits, [inputProto("x", dims)]));
}

test("ONNX: input sizes through squeeze-excite, Resize, ConvTranspose, Slice, Pad, Reshape, Transpose; unknown ops named", async () => {
  const l = byName((await readModel(ppocrLike(), { name: "p.onnx" })).layers);
  assert.deepEqual(l.get("c1")!.inputShape, [16, 16]);
  assert.deepEqual(l.get("se")!.inputShape, [1, 1]);
  assert.deepEqual(l.get("c2")!.inputShape, [16, 16]);
  assert.deepEqual(l.get("t")!.inputShape, [16, 16]);
  assert.deepEqual(l.get("c3")!.inputShape, [18, 12]);
  assert.equal(l.get("c4")!.inputShape, undefined);
  assert.match(
    l.get("c4")!.inputShapeReason!,
    /^Mystery node "m" is an op whose output size the reader does not follow$/,
  );
  for (const name of ["c1", "se", "c2", "t", "c3"]) assert.equal(l.get(name)!.inputShapeReason, undefined, name);
  // a symbolic input: every layer says so until inputShape gives it
  const open = (await readModel(ppocrLike(true))).layers;
  assert.ok(
    open.slice(0, -1).every((x) =>
      /^the graph input "x" has the symbolic size \[1, 3, \?, \?\]/.test(x.inputShapeReason!)
    ),
  );
  const given = byName((await readModel(ppocrLike(true), { inputShape: [16, 16] })).layers);
  assert.deepEqual(given.get("c3")!.inputShape, [18, 12]);
});

test("ONNX: Resize with scales that are not constant stops propagation, naming the node", async () => {
  const nodes = [
    nodeProto("Conv", "c1", ["x", "w1"], ["y1"]),
    nodeProto("Resize", "up", ["y1", "", "sc"], ["y2"]),
    nodeProto("Conv", "c2", ["y2", "w2"], ["y3"]),
  ];
  const bytes = model(
    graph(nodes, [weight("w1", [2, 2, 1, 1]), weight("w2", [2, 2, 3, 3])], [
      inputProto("x", [1, 2, 8, 8]),
      inputProto("sc", [4]),
    ]),
  );
  const l = byName((await readModel(bytes)).layers);
  assert.match(l.get("c2")!.inputShapeReason!, /^Resize node "up" has scales that are not constant \(input "sc"\)$/);
});

test("ONNX: convs inside If branches are read, named by branch, with the outer input's size", async () => {
  const branch = (name: string, w: string, out: string) =>
    graph([nodeProto("Conv", name, ["x", w], [out], [attrInts("strides", [2])])], [weight(w, [2, 1, 4], 7)], [], [
      inputProto(out, [1, 2, 15]),
    ]);
  const nodes = [
    nodeProto("If", "if0", ["cond"], ["y"], [
      attrGraph("then_branch", branch("ct", "wt", "yt")),
      attrGraph("else_branch", branch("ce", "we", "ye")),
    ]),
    nodeProto("Conv", "after", ["y", "wa"], ["z"]),
  ];
  const bytes = model(graph(nodes, [weight("wa", [1, 2, 3])], [inputProto("x", [1, 1, 32]), inputProto("cond", [])]));
  const l = byName((await readModel(bytes)).layers);
  assert.deepEqual([...l.keys()], ["if0/then_branch/ct", "if0/else_branch/ce", "after"]);
  assert.deepEqual(l.get("if0/then_branch/ct")!.inputShape, [32]);
  assert.deepEqual(l.get("if0/else_branch/ce")!.stride, [2]);
  // both branches give [1, 2, 15]: the If's output is known
  assert.deepEqual(l.get("after")!.inputShape, [15]);
});

// ------------------------------------------------------------------ TF.js graph-models

interface TfWeight {
  name: string;
  shape: number[];
  dtype?: "float32" | "int32";
  values?: number[];
}

/** A graph-model's { modelJson, weights } from nodes and weights (Const nodes are added for each weight). */
function tfGraph(nodes: unknown[], weights: TfWeight[]) {
  const parts: Uint8Array[] = [];
  for (const w of weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const v = w.values ?? Array.from({ length: n }, (_, i) => Math.cos(i + w.name.length));
    parts.push(new Uint8Array((w.dtype === "int32" ? Int32Array.from(v) : Float32Array.from(v)).buffer));
  }
  const bin = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) (bin.set(p, o), o += p.length);
  return {
    modelJson: {
      format: "graph-model",
      modelTopology: { node: [...weights.map((w) => ({ name: w.name, op: "Const" })), ...nodes] },
      weightsManifest: [{
        paths: ["w.bin"],
        weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype ?? "float32" })),
      }],
    },
    weights: [bin],
  };
}
const s = (v: string) => ({ s: btoa(v) });
const list = (...v: number[]) => ({ list: { i: v.map(String) } });
const dims = (...v: number[]) => ({ shape: { dim: v.map((d) => ({ size: String(d) })) } });

/**
 * MoveNet's input and FPN: int32 [1, 16, 16, 3] → Cast → Unpack (axis 0) →
 * ExpandDims (0) → c1 (3×3 SAME, stride 2) → [1, 8, 8, 4] → dw (depthwise
 * 3×3 SAME) on 8×8 → Mean over (1, 2) keep_dims → se (1×1) on 1×1 → Sigmoid
 * → Mul → ResizeBilinear to Shape(dw)[1:3]·2 = [16, 16] → up (depthwise) on
 * 16×16 → MirrorPad 1 → [1, 18, 18, 4] → AvgPool 2×2 VALID → [1, 9, 9, 4] →
 * ConcatV2 with itself → [1, 9, 9, 8] → c2 (1×1) on 9×9 → Conv2DBackpropInput
 * (2×2, stride 2, output [1, 18, 18, 4]) on 9×9.
 */
function movenetLike() {
  const nodes = [
    { name: "input", op: "Placeholder", attr: { shape: dims(1, 16, 16, 3), dtype: { type: "DT_INT32" } } },
    { name: "cast", op: "Cast", input: ["input"], attr: { DstT: { type: "DT_FLOAT" } } },
    { name: "unstack", op: "Unpack", input: ["cast"], attr: { axis: { i: "0" }, num: { i: "1" } } },
    { name: "expand", op: "ExpandDims", input: ["unstack", "zero"] },
    { name: "c1", op: "Conv2D", input: ["expand", "w1"], attr: { strides: list(1, 2, 2, 1), padding: s("SAME") } },
    {
      name: "dw",
      op: "DepthwiseConv2dNative",
      input: ["c1", "wdw"],
      attr: { strides: list(1, 1, 1, 1), padding: s("SAME") },
    },
    { name: "mean", op: "Mean", input: ["dw", "axes12"], attr: { keep_dims: { b: true } } },
    { name: "se", op: "Conv2D", input: ["mean", "wse"], attr: { strides: list(1, 1, 1, 1), padding: s("VALID") } },
    { name: "sig", op: "Sigmoid", input: ["se"] },
    { name: "mul", op: "Mul", input: ["dw", "sig"] },
    { name: "shape", op: "Shape", input: ["dw"] },
    {
      name: "hw",
      op: "StridedSlice",
      input: ["shape", "b1", "b3", "one"],
      attr: { begin_mask: { i: "0" }, end_mask: { i: "0" } },
    },
    { name: "size", op: "Mul", input: ["hw", "two"] },
    { name: "resize", op: "ResizeBilinear", input: ["mul", "size"] },
    {
      name: "up",
      op: "DepthwiseConv2dNative",
      input: ["resize", "wup"],
      attr: { strides: list(1, 1, 1, 1), padding: s("SAME") },
    },
    { name: "mpad", op: "MirrorPad", input: ["up", "paddings"], attr: { mode: s("REFLECT") } },
    {
      name: "pool",
      op: "AvgPool",
      input: ["mpad"],
      attr: { ksize: list(1, 2, 2, 1), strides: list(1, 2, 2, 1), padding: s("VALID") },
    },
    { name: "cat", op: "ConcatV2", input: ["pool", "pool", "axis3"] },
    { name: "c2", op: "Conv2D", input: ["cat", "w2"], attr: { strides: list(1, 1, 1, 1), padding: s("VALID") } },
    {
      name: "deconv",
      op: "Conv2DBackpropInput",
      input: ["outshape", "wd", "c2"],
      attr: { strides: list(1, 2, 2, 1), padding: s("VALID") },
    },
  ];
  const weights: TfWeight[] = [
    { name: "zero", shape: [], dtype: "int32", values: [0] },
    { name: "w1", shape: [3, 3, 3, 4] },
    { name: "wdw", shape: [3, 3, 4, 1] },
    { name: "axes12", shape: [2], dtype: "int32", values: [1, 2] },
    { name: "wse", shape: [1, 1, 4, 4] },
    { name: "b1", shape: [1], dtype: "int32", values: [1] },
    { name: "b3", shape: [1], dtype: "int32", values: [3] },
    { name: "one", shape: [1], dtype: "int32", values: [1] },
    { name: "two", shape: [], dtype: "int32", values: [2] },
    { name: "wup", shape: [3, 3, 4, 1] },
    { name: "paddings", shape: [4, 2], dtype: "int32", values: [0, 0, 1, 1, 1, 1, 0, 0] },
    { name: "axis3", shape: [], dtype: "int32", values: [3] },
    { name: "w2", shape: [1, 1, 8, 4] },
    { name: "outshape", shape: [4], dtype: "int32", values: [1, 18, 18, 4] },
    { name: "wd", shape: [2, 2, 4, 4] },
  ];
  return tfGraph(nodes, weights);
}

test("TF.js graph: input sizes through Cast/Unpack/ExpandDims, Mean, ResizeBilinear sized by shape arithmetic, MirrorPad, AvgPool, ConcatV2", async () => {
  const l = byName((await readModel(movenetLike(), { name: "m/model.json" })).layers);
  const want: Record<string, number[]> = {
    c1: [16, 16],
    dw: [8, 8],
    se: [1, 1],
    up: [16, 16],
    c2: [9, 9],
    deconv: [9, 9],
  };
  assert.deepEqual([...l.keys()], Object.keys(want));
  for (const [name, shape] of Object.entries(want)) {
    assert.deepEqual(l.get(name)!.inputShape, shape, name);
    assert.equal(l.get(name)!.inputShapeReason, undefined, name);
  }
  assert.equal(l.get("dw")!.groups, 4);
  assert.equal(l.get("deconv")!.transposed, true);
});

test("TF.js graph: a ResizeBilinear sized by a placeholder stops propagation, naming the node", async () => {
  const nodes = [
    { name: "x", op: "Placeholder", attr: { shape: dims(1, 8, 8, 2) } },
    { name: "size", op: "Placeholder", attr: { shape: dims(2) } },
    { name: "c1", op: "Conv2D", input: ["x", "w1"], attr: { strides: list(1, 1, 1, 1), padding: s("SAME") } },
    { name: "r", op: "ResizeBilinear", input: ["c1", "size"] },
    { name: "c2", op: "Conv2D", input: ["r", "w2"], attr: { strides: list(1, 1, 1, 1), padding: s("SAME") } },
  ];
  const l = byName(
    (await readModel(tfGraph(nodes, [{ name: "w1", shape: [3, 3, 2, 2] }, { name: "w2", shape: [3, 3, 2, 2] }])))
      .layers,
  );
  assert.deepEqual(l.get("c1")!.inputShape, [8, 8]);
  assert.match(l.get("c2")!.inputShapeReason!, /^ResizeBilinear node "r" has a size that are not constant|has a size/);
});

test("TF.js graph: filters through Switch (control flow) are read; a node that cannot be read is refused, never read as bare weights", async () => {
  const base = [
    { name: "x", op: "Placeholder", attr: { shape: dims(1, 8, 8, 2) } },
    { name: "pred", op: "Placeholder", attr: { shape: dims() } },
    { name: "sw", op: "Switch", input: ["w", "pred"] },
    { name: "id", op: "Identity", input: ["sw:1", "^pred"] },
    {
      name: "dw",
      op: "DepthwiseConv2dNative",
      input: ["x", "id"],
      attr: { strides: list(1, 2, 2, 1), padding: s("SAME") },
    },
  ];
  const m = await readModel(tfGraph(base, [{ name: "w", shape: [3, 3, 2, 1] }]));
  assert.equal(m.layers.length, 1);
  assert.deepEqual([m.layers[0].groups, m.layers[0].stride, m.layers[0].padding], [2, [2, 2], "same"]);
  assert.deepEqual(m.layers[0].inputShape, [8, 8]);
  // a filter computed from a placeholder: refused naming the node
  const computed = [...base.slice(0, 2), { name: "neg", op: "Neg", input: ["x"] }, {
    name: "bad",
    op: "Conv2D",
    input: ["x", "neg"],
    attr: { strides: list(1, 1, 1, 1), padding: s("SAME") },
  }];
  await assert.rejects(
    readModel(tfGraph(computed, [{ name: "w", shape: [3, 3, 2, 1] }]), { name: "g/model.json" }),
    (e: Error) =>
      e instanceof TypeError &&
      /^Cannot read "g\/model\.json" as the Conv2D node "bad" has a filter that is not a weight of the manifest: current value is "neg"$/
        .test(e.message),
  );
  // a padding attribute that is not base64: refused naming the node
  const badAttr = [base[0], {
    name: "c",
    op: "Conv2D",
    input: ["x", "w"],
    attr: { strides: list(1, 1, 1, 1), padding: { s: "SAME!" } },
  }];
  await assert.rejects(
    readModel(tfGraph(badAttr, [{ name: "w", shape: [3, 3, 2, 1] }])),
    (e: Error) =>
      e instanceof TypeError &&
      /the Conv2D node "c" has an attribute padding that is not a base64 string/.test(e.message),
  );
});

// ------------------------------------------------------------------ CLI

function cli(bytes: Uint8Array) {
  let out = "", err = "";
  const io: CliIo = {
    stdout: (t) => void (out += t),
    stderr: { write: (t) => void (err += t), isTTY: false, columns: 100 },
    writeFile: () => Promise.resolve(),
    readTextFile: () => Promise.reject(new Error("no file")),
    loadModel: (_p, options) => readModel(bytes, { name: "p.onnx", ...options }),
  };
  return { io, out: () => out, err: () => err };
}

test("report: a layer whose size cannot be propagated is listed unknown with the reason, never computed on a guess", async () => {
  const c = cli(ppocrLike());
  assert.equal(await run(["report", "p.onnx", "--json", "--no-html", "--quiet"], c.io), 1);
  const j = JSON.parse(c.out());
  const by = new Map(j.layers.map((l: { name: string }) => [l.name, l]));
  // c2 runs at 16×16 (after Resize), not at the squeeze-excite's 1×1 with the same channels
  const c2 = by.get("c2") as Record<string, unknown>;
  assert.deepEqual([c2.inputShape, c2.inputShapeSource], [[16, 16], "model"]);
  const c4 = by.get("c4") as Record<string, unknown>;
  assert.equal(c4.size, "unknown");
  assert.equal(c4.inputShape, null);
  assert.equal(c4.inputShapeSource, "unknown");
  assert.match(
    String(c4.error),
    /^input size unknown: Mystery node "m" is an op whose output size the reader does not follow; give it with --attributes FILE\.json \({"c4": {"inputShape": \[n, n\]}}\)$/,
  );
  assert.equal(j.lipschitz.complete, false);
  assert.match(c.err(), /layer "c4": input size unknown: Mystery node "m"/);
  // the text report shows it
  const t = cli(ppocrLike());
  assert.equal(await run(["report", "p.onnx", "--no-html", "--quiet"], t.io), 1);
  const row = t.out().split("\n").find((line) => / c4 /.test(line))!;
  assert.match(row, / \? .*size unknown/);
  // a symbolic graph input without --input: the error asks for it
  const open = cli(ppocrLike(true));
  assert.equal(await run(["report", "p.onnx", "--no-html", "--quiet"], open.io), 2);
  assert.match(open.err(), /the graph input "x" has the symbolic size \[1, 3, \?, \?\].*--input/);
  const given = cli(ppocrLike(true));
  assert.equal(await run(["report", "p.onnx", "--input", "1x3x16x16", "--json", "--no-html", "--quiet"], given.io), 1);
  assert.deepEqual(JSON.parse(given.out()).layers.map((l: { inputShape: unknown }) => l.inputShape), [
    [16, 16],
    [1, 1],
    [16, 16],
    [16, 16],
    [18, 12],
    null,
  ]);
});
