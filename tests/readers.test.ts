/**
 * Model-file readers (issue 7) against files written by the real producers:
 * numpy's np.save / np.savez / np.savez_compressed, PyTorch's state dict (as
 * safetensors) and ONNX export (tests/fixtures/make_fixtures.py), TensorFlow.js's
 * own model.save() and loader (tests/fixtures/make_tfjs_fixtures.mjs), face-api's
 * tiny face detector and Human's emotion graph model as shipped on npm. Expected
 * values come from those producers' own readers (torch, onnx.numpy_helper,
 * onnx.shape_inference, tf.io.decodeWeights, running the TF.js model). Plus bad
 * input: truncations, corrupt bytes, absurd headers, unsupported dtypes.
 * @module
 */
import { test } from "./_test.ts";
import { lcg32 } from "./_random.ts";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import {
  type ConvLayer,
  type Model,
  readModel,
  readModelFile,
  type ReadModelOptions,
  readModelSync,
} from "../src/models.ts";
import { singularValuesSync } from "../mod.ts";
import { pb } from "./hostile.ts";
import { sha256, throwsLike, values } from "./_readers.ts";

const FIX = new URL("./fixtures/", import.meta.url);
const path = (name: string) => decodeURIComponent(new URL(name, FIX).pathname);
const bytesOf = async (name: string) => new Uint8Array(await readFile(path(name)));
const jsonOf = async (name: string) => JSON.parse(await readFile(path(name), "utf8"));

// deno-lint-ignore no-explicit-any
type Json = any;
const torch: Json = await jsonOf("torch_expected.json");
const tfjs: Json = await jsonOf("tfjs/expected.json");

const byName = (m: Model) => new Map(m.layers.map((l) => [l.name, l]));

function checkTorchBn(layer: ConvLayer, bnName: string, bnNameInFile: string): void {
  const bn = torch.net.bn[bnName];
  assert.ok(layer.scale, `${layer.name} has a scale`);
  assert.equal(layer.scale!.kind, "batchnorm");
  assert.equal(layer.scale!.name, bnNameInFile);
  assert.deepEqual(values(layer.scale!.gamma), bn.gamma);
  assert.deepEqual(values(layer.scale!.beta!), bn.beta);
  assert.deepEqual(values(layer.scale!.mean!), bn.mean);
  assert.deepEqual(values(layer.scale!.variance!), bn.variance);
}

// ------------------------------------------------------------------ safetensors

test("readModel() reads a PyTorch state dict saved as safetensors: kernels to the bit, BatchNorm on the right conv", async () => {
  const model = await readModelFile(path("torch_net.safetensors"));
  assert.equal(model.format, "safetensors");
  // the safetensors library orders tensors by dtype then name, so the file order is alphabetical
  assert.deepEqual(model.layers.map((l) => l.name), ["conv1", "conv2", "conv3", "conv4", "up"]);
  const layers = byName(model);
  for (const c of torch.net.convs) {
    const l = layers.get(c.name)!;
    assert.deepEqual(l.kernel.shape, c.shape);
    assert.ok(l.kernel.data instanceof Float32Array);
    assert.deepEqual(values(l.kernel.data), c.values, c.name);
    assert.equal(l.layout, "oihw");
    // the file has no attributes: the documented defaults
    assert.deepEqual(l.stride, [1, 1]);
    assert.deepEqual(l.dilation, [1, 1]);
    assert.equal(l.groups, 1);
    assert.equal(l.padding, "circular");
    assert.equal(l.transposed, false);
    assert.equal(l.inputShape, undefined);
  }
  checkTorchBn(layers.get("conv1")!, "bn1", "bn1");
  checkTorchBn(layers.get("conv2")!, "bn2", "bn2");
  assert.equal(layers.get("conv1")!.scale!.epsilon, 1e-5);
  for (const n of ["conv3", "conv4", "up"]) assert.equal(layers.get(n)!.scale, undefined, n);
});

test("readModel() applies options.layers to safetensors layers (attributes the file does not hold)", async () => {
  const bytes = await bytesOf("torch_net.safetensors");
  const model = readModelSync(bytes, {
    layers: {
      conv2: { stride: 2, padding: 1, groups: 2, inputShape: [16, 12] },
      up: { transposed: true, stride: [2, 2], padding: 0 },
      conv3: { dilation: 2, padding: [2, 2] },
    },
  });
  const l = byName(model);
  assert.deepEqual(l.get("conv2")!.stride, [2, 2]);
  assert.equal(l.get("conv2")!.padding, 1);
  assert.equal(l.get("conv2")!.groups, 2);
  assert.deepEqual(l.get("conv2")!.inputShape, [16, 12]);
  assert.equal(l.get("up")!.transposed, true);
  assert.deepEqual(l.get("conv3")!.dilation, [2, 2]);
  assert.deepEqual(l.get("conv3")!.padding, [2, 2]);
  await throwsLike(() => readModelSync(bytes, { layers: { conv9: { stride: 2 } } }), TypeError, /conv9/);
});

test("readModel() refuses an option or a layer attribute it does not know, naming it and the one meant", async () => {
  const bytes = await bytesOf("torch_net.safetensors");
  const cases: [unknown, RegExp][] = [
    [
      { input_shape: [8, 8] },
      /Cannot read the model as each option must be one that readModel(Sync|File)? knows \(did you mean `inputShape`\?\): current value is "input_shape"$/,
    ],
    [{ data_format: "NHWC" }, /did you mean `layout`\?\): current value is "data_format"$/],
    [{ maxbytes: 1 }, /did you mean `maxBytes`\?\): current value is "maxbytes"$/],
    [
      { layers: { conv2: { strides: 2 } } },
      /Cannot read the model as each attribute of options\.layers\["conv2"\] must be one a layer has \(did you mean `stride`\?\): current value is "strides"$/,
    ],
    [{ layers: { conv2: { padding_mode: "zeros" } } }, /did you mean `padding`\?\): current value is "padding_mode"$/],
    [{ layers: { conv2: { scale: [1, 2] } } }, /known: stride, dilation, .*layout\): current value is "scale"$/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => readModelSync(bytes, options as ReadModelOptions), (e: unknown) => {
      assert.ok(e instanceof TypeError, String(e));
      assert.match(e.message, message);
      return true;
    });
    await assert.rejects(readModel(bytes, options as ReadModelOptions), message);
    await assert.rejects(readModelFile(path("torch_net.safetensors"), options as ReadModelOptions), message);
  }
});

test("readModel() reads F64, F16 and BF16 safetensors exactly", async () => {
  const model = await readModel(await bytesOf("mixed_dtypes.safetensors"));
  const l = byName(model);
  assert.ok(l.get("a")!.kernel.data instanceof Float64Array);
  for (const k of ["a", "b", "c"]) {
    assert.deepEqual(l.get(k)!.kernel.shape, torch.mixed[`${k}.weight`].shape);
    assert.deepEqual(values(l.get(k)!.kernel.data), torch.mixed[`${k}.weight`].values, k);
  }
});

// ------------------------------------------------------------------ npy / npz

test("readModel() reads np.save arrays: f4, Fortran-order f8, f2, a 3-D kernel", async () => {
  for (const [file, e] of Object.entries(torch.npy) as [string, Json][]) {
    const model = await readModelFile(path(file));
    assert.equal(model.format, "npy");
    const [l] = model.layers;
    assert.equal(l.name, file.replace(".npy", ""));
    assert.deepEqual(l.kernel.shape, e.shape);
    assert.deepEqual(values(l.kernel.data), e.values, file);
    assert.equal(l.layout, e.shape.length === 5 ? "oidhw" : "oihw");
    assert.equal(l.stride.length, e.shape.length - 2);
  }
  const f8 = readModelSync(await bytesOf("kernel_f8_fortran.npy"));
  assert.ok(f8.layers[0].kernel.data instanceof Float64Array);
  assert.equal(f8.layers[0].name, "array");
  // big-endian data ('>f4'): the same values
  const le = await bytesOf("kernel_f4.npy");
  const be = le.slice();
  be.set(new TextEncoder().encode(">"), be.indexOf(0x3c));
  const start = be.indexOf(0x0a) + 1;
  for (let j = start; j < be.length; j += 4) be.set(le.subarray(j, j + 4).reverse(), j);
  assert.deepEqual(values(readModelSync(be).layers[0].kernel.data), torch.npy["kernel_f4.npy"].values);
  const hwio = readModelSync(await bytesOf("kernel_f4.npy"), { layout: "hwio", name: "k.npy" });
  assert.equal(hwio.layers[0].layout, "hwio");
  assert.equal(hwio.layers[0].name, "k");
  await throwsLike(() => readModelSync(new Uint8Array(0)), TypeError, /signature/);
  await throwsLike(() => readModelSync(new Uint8Array(0), { format: "npy" }), TypeError, /magic/);
  await throwsLike(
    async () => readModelSync(await bytesOf("conv3d_f4.npy"), { layout: "oihw" }),
    TypeError,
    /layout "oihw"/,
  );
});

test("readModel() reads np.savez and np.savez_compressed archives of a state dict, with their BatchNorms", async () => {
  for (const file of ["torch_net.npz", "torch_net_compressed.npz"]) {
    const model = await readModel(await bytesOf(file), { name: file });
    assert.equal(model.format, "npz");
    // savez keeps the state dict's (module) order
    assert.deepEqual(model.layers.map((l) => l.name), ["conv1", "conv2", "up", "conv3", "conv4"]);
    const l = byName(model);
    for (const c of torch.net.convs) {
      assert.deepEqual(values(l.get(c.name)!.kernel.data), c.values, `${file} ${c.name}`);
    }
    checkTorchBn(l.get("conv1")!, "bn1", "bn1");
    checkTorchBn(l.get("conv2")!, "bn2", "bn2");
    assert.equal(l.get("up")!.scale, undefined);
  }
  // stored members read synchronously; deflated ones need the async reader
  assert.equal(readModelSync(await bytesOf("torch_net.npz")).layers.length, 5);
  await throwsLike(
    async () => readModelSync(await bytesOf("torch_net_compressed.npz")),
    TypeError,
    /deflated.*readModel/,
  );
});

// ------------------------------------------------------------------ ONNX

function checkOnnx(model: Model, e: Json, withShapes: boolean): void {
  assert.equal(model.format, "onnx");
  assert.deepEqual(model.layers.map((l) => l.name), e.nodes.map((n: Json) => n.name));
  model.layers.forEach((l, j) => {
    const n = e.nodes[j];
    const a = n.attributes;
    assert.deepEqual(l.kernel.shape, n.shape, n.name);
    assert.deepEqual(values(l.kernel.data), n.values, n.name);
    assert.equal(l.layout, ["oiw", "oihw", "oidhw"][n.shape.length - 3]);
    assert.equal(l.transposed, n.op === "ConvTranspose");
    assert.deepEqual(l.stride, a.strides);
    assert.deepEqual(l.dilation, a.dilations);
    assert.equal(l.groups, a.group);
    assert.deepEqual(l.padding, a.pads.slice(0, a.pads.length / 2));
    assert.equal(l.pads, undefined);
    assert.deepEqual(l.inputShape, withShapes ? n.inputShape : undefined, `${n.name} input shape`);
  });
}

test("readModel() reads PyTorch's ONNX export: attributes, initializers to the bit, input shapes as onnx shape inference", async () => {
  const model = await readModelFile(path("torch_net.onnx"));
  checkOnnx(model, torch.onnx["torch_net.onnx"], true);
  // the same attributes PyTorch's modules have
  for (const [j, c] of torch.net.convs.entries()) {
    const l = model.layers[j];
    assert.deepEqual(l.stride, c.stride);
    assert.deepEqual(l.dilation, c.dilation);
    assert.deepEqual(l.padding, c.padding);
    assert.equal(l.groups, c.groups);
    assert.equal(l.transposed, c.transposed);
    assert.deepEqual(l.inputShape, c.inputShape);
  }
  // this export folds BatchNorm into the conv weights: no scale left
  assert.ok(model.layers.every((l) => l.scale === undefined));
  checkOnnx(await readModelFile(path("conv1d.onnx")), torch.onnx["conv1d.onnx"], true);
});

test("readModel() attaches an ONNX BatchNormalization to the Conv whose output it consumes", async () => {
  const model = await readModel(await bytesOf("torch_net_bn.onnx"));
  const e = torch.onnx["torch_net_bn.onnx"];
  checkOnnx(model, e, true);
  for (const [j, n] of e.nodes.entries()) {
    const s = model.layers[j].scale;
    if (n.bn === null) {
      assert.equal(s, undefined);
      continue;
    }
    assert.equal(s!.kind, "batchnorm");
    assert.equal(s!.name, n.bn.name);
    assert.deepEqual(values(s!.gamma), n.bn.gamma);
    assert.deepEqual(values(s!.beta!), n.bn.beta);
    assert.deepEqual(values(s!.mean!), n.bn.mean);
    assert.deepEqual(values(s!.variance!), n.bn.variance);
    assert.equal(s!.epsilon, n.bn.epsilon);
  }
  // and these are PyTorch's own BatchNorm statistics
  assert.deepEqual(values(model.layers[0].scale!.mean!), torch.net.bn.bn1.mean);
  assert.deepEqual(values(model.layers[1].scale!.variance!), torch.net.bn.bn2.variance);
});

test("readModel() leaves symbolic ONNX input sizes unknown unless options.inputShape gives them", async () => {
  const bytes = await bytesOf("torch_net_dynamic.onnx");
  checkOnnx(readModelSync(bytes), torch.onnx["torch_net_dynamic.onnx"], false);
  const fixed = readModelSync(bytes, { inputShape: [16, 12] });
  assert.deepEqual(
    fixed.layers.map((l) => l.inputShape),
    torch.onnx["torch_net.onnx"].nodes.map((n: Json) => n.inputShape),
  );
});

// ------------------------------------------------------------------ TF.js

function checkTfjsLayers(model: Model, vals: Record<string, number[]>, tol: number): void {
  for (const l of model.layers) {
    const [layer, part] = l.name.split("/");
    const key = part === "pointwise"
      ? `${layer}/pointwise_kernel`
      : part === "depthwise"
      ? `${layer}/depthwise_kernel`
      : vals[`${layer}/kernel`]
      ? `${layer}/kernel`
      : `${layer}/depthwise_kernel`;
    const want = vals[key];
    assert.ok(want, `${l.name} → ${key}`);
    assert.equal(l.kernel.data.length, want.length);
    if (tol === 0) assert.deepEqual(values(l.kernel.data), want, l.name);
    else {
      for (let j = 0; j < want.length; j++) assert.ok(Math.abs(l.kernel.data[j] - want[j]) <= tol, `${l.name}[${j}]`);
    }
  }
}

test("readModel() reads a TF.js layers-model as model.save() writes it: Conv2D, depthwise, separable, transposed, BatchNorm", async () => {
  const model = await readModelFile(path("tfjs/seq2d/model.json"));
  assert.equal(model.format, "tfjs");
  assert.deepEqual(model.layers.map((l) => l.name), [
    "conv_a",
    "dw",
    "sep/depthwise",
    "sep/pointwise",
    "deconv",
    "dil",
  ]);
  checkTfjsLayers(model, tfjs.seq2d.values, 0);
  const l = byName(model);
  const shapes = tfjs.seq2d.inputShapes;
  for (const name of ["conv_a", "dw", "deconv", "dil"]) assert.deepEqual(l.get(name)!.inputShape, shapes[name], name);
  assert.deepEqual(l.get("sep/depthwise")!.inputShape, shapes.sep);
  assert.deepEqual(l.get("sep/pointwise")!.inputShape, shapes.pool); // same padding, stride 1: the pool's input size
  assert.equal(l.get("conv_a")!.padding, "same");
  assert.equal(l.get("dw")!.padding, "valid");
  assert.deepEqual(l.get("dw")!.stride, [2, 2]);
  assert.equal(l.get("dw")!.groups, 8); // depthwise: groups = input channels, kernel [3, 3, 8, 2] → [3, 3, 1, 16]
  assert.deepEqual(l.get("dw")!.kernel.shape, [3, 3, 1, 16]);
  assert.equal(l.get("sep/depthwise")!.groups, 16);
  assert.equal(l.get("deconv")!.transposed, true);
  assert.deepEqual(l.get("deconv")!.kernel.shape, [3, 3, 4, 6]);
  assert.deepEqual(l.get("dil")!.dilation, [2, 2]);
  const bn = l.get("conv_a")!.scale!;
  assert.equal(bn.name, "bn_a");
  assert.equal(bn.epsilon, 1e-3);
  for (
    const [k, v] of [["gamma", "gamma"], ["beta", "beta"], ["mean", "moving_mean"], ["variance", "moving_variance"]]
  ) {
    assert.deepEqual(values(bn[k as "gamma"]!), tfjs.seq2d.values[`bn_a/${v}`], k);
  }
});

test("readModel() dequantises uint8/uint16/float16 TF.js weights as TF.js does, across shards", async () => {
  const model = await readModelFile(path("tfjs/seq2d_quant/model.json"));
  checkTfjsLayers(model, tfjs.seq2d_quant.values, 1e-7);
  checkTfjsLayers(model, tfjs.seq2d_quant.values, 0); // in fact to the bit: q·scale + min rounded to f32
  const bn = byName(model).get("conv_a")!.scale!;
  const v = tfjs.seq2d_quant.values["bn_a/moving_variance"];
  bn.variance!.forEach((x, j) => assert.ok(Math.abs(x - v[j]) <= 1e-7));
  // the quantised weights are close to the float ones
  const f = tfjs.seq2d.values["conv_a/kernel"];
  byName(model).get("conv_a")!.kernel.data.forEach((x, j) => assert.ok(Math.abs(x - f[j]) < 0.01));
});

test("readModel() reads a functional TF.js 1-D model: Conv1D, BatchNorm, branches and Add", async () => {
  const model = await readModelFile(path("tfjs/func1d/model.json"));
  assert.deepEqual(model.layers.map((l) => l.name), ["c1", "c2", "c3", "c4"]);
  checkTfjsLayers(model, tfjs.func1d.values, 0);
  for (const l of model.layers) {
    assert.equal(l.layout, "wio");
    assert.deepEqual(l.inputShape, tfjs.func1d.inputShapes[l.name], l.name);
  }
  assert.equal(byName(model).get("c1")!.scale!.name, "b1");
  assert.equal(byName(model).get("c2")!.scale, undefined);
  assert.deepEqual(byName(model).get("c4")!.dilation, [2]);
});

test("readModelSync() reads a Keras 3 style functional topology: model_config, batch_shape, keras_history, causal Conv1D", () => {
  const tensor = (name: string) => ({
    args: [{ class_name: "__keras_tensor__", config: { keras_history: [name, 0, 0] } }],
    kwargs: {},
  });
  const modelJson = {
    format: "layers-model",
    modelTopology: {
      model_config: {
        class_name: "Functional",
        config: {
          name: "k3",
          layers: [
            {
              class_name: "InputLayer",
              name: "inp",
              config: { name: "inp", batch_shape: [null, 9, 2] },
              inbound_nodes: [],
            },
            {
              class_name: "ZeroPadding1D",
              name: "zp",
              config: { name: "zp", padding: [1, 2] },
              inbound_nodes: [tensor("inp")],
            },
            {
              class_name: "Conv1D",
              name: "cc",
              config: { name: "cc", filters: 1, kernel_size: [3], strides: [1], padding: "causal", dilation_rate: [2] },
              inbound_nodes: [tensor("zp")],
            },
            {
              class_name: "MaxPooling1D",
              name: "mp",
              config: { name: "mp", pool_size: [2], strides: null, padding: "valid" },
              inbound_nodes: [tensor("cc")],
            },
            {
              class_name: "Conv1D",
              name: "dd",
              config: { name: "dd", filters: 1, kernel_size: 1 },
              inbound_nodes: [tensor("mp")],
            },
          ],
        },
      },
    },
    weightsManifest: [{
      paths: ["w"],
      weights: [{ name: "k3/cc/kernel", shape: [3, 2, 1], dtype: "float32" }, {
        name: "dd/kernel:0",
        shape: [1, 1, 1],
        dtype: "float32",
      }],
    }],
  };
  const weights = [new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7]).buffer)];
  const model = readModelSync({ modelJson, weights });
  const [cc, dd] = model.layers;
  assert.equal(cc.name, "cc");
  assert.deepEqual(cc.inputShape, [12]);
  assert.deepEqual(cc.pads, [4, 0]);
  assert.deepEqual(cc.padding, [4]);
  assert.deepEqual(cc.dilation, [2]);
  assert.deepEqual(values(cc.kernel.data), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(dd.inputShape, [6]);
  assert.deepEqual(values(dd.kernel.data), [7]);
});

test("readModel() reads face-api's tiny face detector (bare weights manifest, uint8) as tf.io.decodeWeights does", async () => {
  const model = await readModelFile(path("tfjs/tiny_face_detector_model-weights_manifest.json"));
  const names = ["conv0", ...[1, 2, 3, 4, 5].flatMap((j) => [`conv${j}/depthwise`, `conv${j}/pointwise`]), "conv8"];
  assert.deepEqual(model.layers.map((l) => l.name), names);
  for (const l of model.layers) {
    const key = l.name.endsWith("/depthwise")
      ? l.name.replace("/depthwise", "/depthwise_filter")
      : l.name.endsWith("/pointwise")
      ? l.name.replace("/pointwise", "/pointwise_filter")
      : `${l.name}/filters`;
    const e = tfjs.tinyFaceDetector[key];
    assert.equal(await sha256(l.kernel.data), e.sha256, key);
    assert.equal(l.layout, "hwio");
    assert.equal(l.inputShape, undefined);
    if (l.name.endsWith("/depthwise")) {
      assert.equal(l.groups, e.shape[2]);
      assert.deepEqual(l.kernel.shape, [3, 3, 1, e.shape[2]]);
    } else assert.deepEqual(l.kernel.shape, e.shape);
  }
});

test("readModel() pairs face-api's ResNet convs with their scale layers (the head of the real face recognition model)", async () => {
  const model = await readModelFile(path("tfjs/face_recognition_head-weights_manifest.json"));
  assert.deepEqual(model.layers.map((l) => l.name), ["conv32_down/conv", "conv32_1/conv1/conv"]);
  const e = tfjs.faceRecognitionHead;
  for (const l of model.layers) {
    const p = l.name.slice(0, -"/conv".length);
    assert.equal(await sha256(l.kernel.data), e[`${l.name}/filters`].sha256);
    assert.deepEqual(l.kernel.shape, e[`${l.name}/filters`].shape);
    assert.equal(l.scale!.kind, "scale");
    assert.equal(l.scale!.name, `${p}/scale`);
    assert.deepEqual(values(l.scale!.gamma), e[`${p}/scale/weights`].values);
    assert.deepEqual(values(l.scale!.beta!), e[`${p}/scale/biases`].values);
    assert.equal(l.scale!.mean, undefined);
  }
  // the scales are large (the point: folding them multiplies the norms)
  assert.ok(Math.min(...model.layers[0].scale!.gamma) > 5);
});

test("face-api layers' spectra equal those of the same kernels computed directly", async () => {
  const manifest = (await jsonOf("tfjs/tiny_face_detector_model-weights_manifest.json"))[0].weights;
  const bin = await bytesOf("tfjs/tiny_face_detector_model.bin");
  // an independent decode: q·scale + min, then f32
  const direct = new Map<string, Float32Array>();
  let off = 0;
  for (const w of manifest) {
    const n = w.shape.reduce((a: number, b: number) => a * b, 1);
    direct.set(
      w.name,
      Float32Array.from(bin.subarray(off, off + n), (q) => q * w.quantization.scale + w.quantization.min),
    );
    off += n;
  }
  const l = byName(await readModel({ modelJson: [{ paths: ["x"], weights: manifest }], weights: [bin] }));
  // conv0: 3×3, 3 → 16 on 8 × 8
  const conv0 = l.get("conv0")!;
  const a = singularValuesSync(conv0.kernel, { inputShape: [8, 8], layout: conv0.layout });
  const b = singularValuesSync({ data: direct.get("conv0/filters")!, shape: [3, 3, 3, 16] }, {
    inputShape: [8, 8],
    layout: "hwio",
  });
  assert.deepEqual(values(a), values(b));
  // conv1/depthwise: 16 channels, one 3×3 filter each: the spectrum is |DFT| of each filter
  const dw = l.get("conv1/depthwise")!;
  const h = 6, w = 4;
  const got = singularValuesSync(dw.kernel, { inputShape: [h, w], layout: dw.layout, groups: dw.groups });
  const f = direct.get("conv1/depthwise_filter")!;
  const want: number[] = [];
  for (let c = 0; c < 16; c++) {
    for (let u = 0; u < h; u++) {
      for (let v = 0; v < w; v++) {
        let re = 0, im = 0;
        for (let p = 0; p < 3; p++) {
          for (let q = 0; q < 3; q++) {
            const t = 2 * Math.PI * (u * p / h + v * q / w);
            const k = f[(p * 3 + q) * 16 + c];
            re += k * Math.cos(t);
            im += k * Math.sin(t);
          }
        }
        want.push(Math.hypot(re, im));
      }
    }
  }
  want.sort((x, y) => y - x);
  assert.equal(got.length, want.length);
  got.forEach((x, j) => assert.ok(Math.abs(x - want[j]) <= 1e-12 * want[0], `σ_${j}`));
  // conv8: 1×1, 512 → 25 on 2 × 2
  const conv8 = l.get("conv8")!;
  assert.deepEqual(
    values(singularValuesSync(conv8.kernel, { inputShape: [2, 2], layout: "hwio" })),
    values(
      singularValuesSync({ data: direct.get("conv8/filters")!, shape: [1, 1, 512, 25] }, {
        inputShape: [2, 2],
        layout: "hwio",
      }),
    ),
  );
});

test("readModel() follows a TF.js graph-model (Human's emotion net): fused and depthwise convs, shapes as running it", async () => {
  const model = await readModelFile(path("tfjs/emotion.json"));
  const e = tfjs.emotion;
  // A fused conv is named after the conv node it replaced (its folded filter is `<conv node>_weights`), not after
  // the last op fused into it (`…/Relu`, `…/FusedBatchNormV3`); a bias add after the conv beside it.
  const convName = (c: Json) =>
    c.op !== "_FusedConv2D"
      ? c.name
      : c.filter.endsWith("_weights")
      ? c.filter.slice(0, -"_weights".length)
      : c.name.replace(/\/BiasAdd$/, "/Conv2D");
  assert.deepEqual(model.layers.map((l) => l.name), e.convs.map(convName));
  assert.ok(model.layers.every((l) => !/\/(Relu|BiasAdd|FusedBatchNormV3)$/.test(l.name)));
  const nodes = new Map((await jsonOf("tfjs/emotion.json")).modelTopology.node.map((n: Json) => [n.name, n]));
  for (const [j, c] of e.convs.entries()) {
    const l = model.layers[j];
    const w = e.weights[c.filter];
    assert.equal(await sha256(l.kernel.data), w.sha256, c.name);
    assert.deepEqual(l.inputShape, c.inputShape, `${c.name} input shape`);
    const n: Json = nodes.get(c.name);
    assert.deepEqual(l.stride, n.attr.strides.list.i.slice(1, 3).map(Number));
    assert.equal(l.padding, atob(n.attr.padding.s) === "SAME" ? "same" : "valid");
    if (c.op === "DepthwiseConv2dNative") {
      assert.equal(l.groups, w.shape[2]);
      assert.deepEqual(l.kernel.shape, [w.shape[0], w.shape[1], 1, w.shape[2] * w.shape[3]]);
    } else {
      assert.equal(l.groups, 1);
      assert.deepEqual(l.kernel.shape, w.shape);
    }
  }
});

test("readModel() refuses a TF.js graph-model with no conv node instead of reading its weights bare", async () => {
  const modelJson = await jsonOf("tfjs/emotion.json");
  modelJson.modelTopology.node = modelJson.modelTopology.node.map((n: Json) =>
    n.op === "Const" ? n : { ...n, op: "Mystery" }
  );
  await throwsLike(
    async () => readModel({ modelJson, weights: [await bytesOf("tfjs/emotion.bin")] }, { name: "e/model.json" }),
    TypeError,
    /^Cannot read "e\/model\.json" as a TF\.js graph-model with no conv node/,
  );
});

// ------------------------------------------------------------------ sniffing

test("readModel() sniffs each format from its bytes and honours options.format", async () => {
  const cases: [string, string][] = [
    ["torch_net.safetensors", "safetensors"],
    ["kernel_f4.npy", "npy"],
    ["torch_net.npz", "npz"],
    ["torch_net_compressed.npz", "npz"],
    ["torch_net.onnx", "onnx"],
  ];
  for (const [file, format] of cases) {
    const bytes = await bytesOf(file);
    assert.equal((await readModel(bytes)).format, format, file);
    assert.equal((await readModel(bytes, { format: format as ReadModelOptions["format"] })).format, format);
  }
  await throwsLike(
    async () => readModel(await bytesOf("kernel_f4.npy"), { format: "safetensors" }),
    RangeError,
    /header length/,
  );
  await throwsLike(() => readModel(new TextEncoder().encode('{"a": 1}')), TypeError, /modelJson/);
  await throwsLike(
    () => readModel(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])),
    TypeError,
    /no npy, npz, safetensors, ONNX or PyTorch/,
  );
  await assert.rejects(() => readModel(new Uint8Array(4), { format: "pickle" as "npy" }), TypeError);
});

// ------------------------------------------------------------------ bad input

/** A safetensors file from a header object and data bytes. */
function safetensors(header: unknown, data: Uint8Array, claimed?: bigint): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, claimed ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

test("bad safetensors: clear errors, no allocation from claimed sizes", async () => {
  const good = await bytesOf("torch_net.safetensors");
  await throwsLike(() => readModelSync(good.subarray(0, 5), { format: "safetensors" }), RangeError, /8-byte header/);
  await throwsLike(() => readModelSync(good.subarray(0, good.length - 100)), RangeError, /past the end/);
  await throwsLike(
    () => readModelSync(safetensors({}, new Uint8Array(0), 2n ** 60n), { format: "safetensors" }),
    RangeError,
    /header length past the end/,
  );
  const w = { dtype: "F32", shape: [2, 1, 1, 1], data_offsets: [0, 8] };
  assert.equal(readModelSync(safetensors({ "c.weight": w }, new Uint8Array(8))).layers.length, 1);
  await throwsLike(
    () => readModelSync(safetensors({ "c.weight": { ...w, shape: [3, 1, 1, 1] } }, new Uint8Array(8))),
    TypeError,
    /8 bytes where its F32 shape \[3,1,1,1\] needs 12/,
  );
  await throwsLike(
    () => readModelSync(safetensors({ "c.weight": { ...w, shape: [1e6, 1e6, 1e6, 1] } }, new Uint8Array(8))),
    RangeError,
    /more than 2\^31/,
  );
  await throwsLike(
    () => readModelSync(safetensors({ "c.weight": { ...w, dtype: "I32" } }, new Uint8Array(8))),
    TypeError,
    /dtype other than F64, F32, F16 and BF16/,
  );
  await throwsLike(
    () =>
      readModelSync(safetensors({ "c.weight": { ...w, dtype: "F8_E4M3", data_offsets: [0, 2] } }, new Uint8Array(8))),
    TypeError,
    /"F8_E4M3"/,
  );
  await throwsLike(
    () => readModelSync(safetensors({ "c.weight": { ...w, data_offsets: [0, 80] } }, new Uint8Array(8))),
    RangeError,
    /past the end/,
  );
  await throwsLike(
    () =>
      readModelSync(
        safetensors({ "bn.weight": { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8)),
      ),
    TypeError,
    /no convolution layers/,
  );
  const notJson = safetensors({}, new Uint8Array(0));
  notJson[9] = 0x7b; // "{{"
  await throwsLike(
    () => readModelSync(notJson, { format: "safetensors", name: "x.safetensors" }),
    TypeError,
    /"x\.safetensors".*not JSON/,
  );
});

test("bad npy/npz: truncated, corrupt, unsupported dtype, members that inflate past their size", async () => {
  const npy = await bytesOf("kernel_f4.npy");
  await throwsLike(
    () => readModelSync(npy.subarray(0, npy.length - 4)),
    RangeError,
    /860 data bytes where its <f4 shape \[8,3,3,3\] needs 864/,
  );
  await throwsLike(() => readModelSync(npy.subarray(0, 40)), RangeError, /npy header/);
  const i4 = npy.slice();
  i4.set(new TextEncoder().encode("<i4"), i4.indexOf(0x3c)); // "<f4" → "<i4"
  await throwsLike(() => readModelSync(i4), TypeError, /'<i4'|"<i4"/);
  const huge = new TextEncoder().encode(
    "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 3, 3), }\n",
  );
  const hugeNpy = new Uint8Array(10 + huge.length);
  hugeNpy.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, huge.length, 0]);
  hugeNpy.set(huge, 10);
  await throwsLike(() => readModelSync(hugeNpy), RangeError, /2\^31/);
  const bad = npy.slice();
  bad.set(new TextEncoder().encode("{'descr': __import__"), 10);
  await throwsLike(() => readModelSync(bad), TypeError, /Python dict literal/);

  const npz = await bytesOf("torch_net.npz");
  await throwsLike(() => readModelSync(npz.subarray(0, npz.length - 30)), TypeError, /end-of-central-directory/);
  const flipped = npz.slice();
  flipped[200] ^= 0xff; // inside the first member's data
  await throwsLike(() => readModelSync(flipped), TypeError, /CRC-32/);
  const zc = await bytesOf("torch_net_compressed.npz");
  // state a smaller uncompressed size for the first member in the central directory: inflation stops there
  const small = zc.slice();
  const view = new DataView(small.buffer);
  let cd = -1;
  for (let p = small.length - 22; p >= 0; p--) {
    if (view.getUint32(p, true) === 0x06054b50) {
      cd = view.getUint32(p + 16, true);
      break;
    }
  }
  view.setUint32(cd + 24, 100, true);
  await throwsLike(() => readModel(small), RangeError, /inflates past its stated 100 bytes/);
  const corrupt = zc.slice();
  for (let j = 60; j < 90; j++) corrupt[j] = 0xff;
  await assert.rejects(
    () => readModel(corrupt),
    (e: Error) => (e instanceof TypeError || e instanceof RangeError) && /^Cannot read/.test(e.message),
  );
});

interface OnnxSpec {
  op?: string;
  weight?: number[]; // TensorProto bytes
  withInit?: boolean;
  attrs?: number[][];
}

function tensorProto(
  name: string,
  dims: number[],
  dataType: number,
  data: { raw?: Uint8Array; floats?: number[]; int32?: number[] },
  extra: number[] = [],
): number[] {
  const t = [...dims.flatMap((d) => pb.int(1, d)), ...pb.int(2, dataType), ...pb.str(8, name), ...extra];
  if (data.raw) t.push(...pb.bytes(9, data.raw));
  if (data.floats) t.push(...pb.bytes(4, new Uint8Array(new Float32Array(data.floats).buffer)));
  if (data.int32) t.push(...pb.bytes(5, data.int32.flatMap((v) => pb.varint(v))));
  return t;
}

function onnxModel(spec: OnnxSpec): Uint8Array {
  const node = [
    ...pb.str(1, "x"),
    ...pb.str(1, "w"),
    ...pb.str(2, "y"),
    ...pb.str(3, "conv"),
    ...pb.str(4, spec.op ?? "Conv"),
    ...(spec.attrs ?? []).flatMap((a) => pb.bytes(5, a)),
  ];
  const dims = [1, 2, 5, 4].flatMap((d) => pb.bytes(1, pb.int(1, d)));
  const input = [...pb.str(1, "x"), ...pb.bytes(2, pb.bytes(1, [...pb.int(1, 1), ...pb.bytes(2, dims)]))];
  const graph = [
    ...pb.bytes(1, node),
    ...(spec.withInit === false ? [] : pb.bytes(5, spec.weight!)),
    ...pb.bytes(11, input),
  ];
  return new Uint8Array([...pb.int(1, 8), ...pb.bytes(7, graph)]);
}

const attrInts = (
  name: string,
  v: number[],
) => [...pb.str(1, name), ...pb.bytes(8, v.flatMap((x) => pb.varint(x))), ...pb.int(20, 7)];

test("hand-built ONNX: float_data, FLOAT16 in int32_data, auto_pad, asymmetric pads, and bad initializers", async () => {
  const w = [0.5, -1, 2, 0.25, 1, 1, -3, 4, 0, 0.125, 7, 8, 9, 10, 11, 12];
  const dims = [2, 2, 2, 2];
  const floats = readModelSync(
    onnxModel({ weight: tensorProto("w", dims, 1, { floats: w }), attrs: [attrInts("pads", [0, 1, 1, 1])] }),
  );
  const [l] = floats.layers;
  assert.deepEqual(values(l.kernel.data), w);
  assert.deepEqual(l.padding, [1, 1]);
  assert.deepEqual(l.pads, [0, 1, 1, 1]);
  assert.deepEqual(l.inputShape, [5, 4]);
  // FLOAT16 (data_type 10) as uint16 bits in int32_data: 0x3800 = 0.5, 0xbc00 = −1, 0x4000 = 2, 0x3400 = 0.25
  const half = readModelSync(
    onnxModel({ weight: tensorProto("w", [1, 1, 2, 2], 10, { int32: [0x3800, 0xbc00, 0x4000, 0x3400] }) }),
  );
  assert.deepEqual(values(half.layers[0].kernel.data), [0.5, -1, 2, 0.25]);
  const raw = new Uint8Array(new Float32Array(w).buffer);
  const autoPad = [...pb.str(1, "auto_pad"), ...pb.bytes(4, new TextEncoder().encode("SAME_UPPER")), ...pb.int(20, 3)];
  const same = readModelSync(
    onnxModel({ weight: tensorProto("w", dims, 1, { raw }), attrs: [autoPad, attrInts("strides", [2, 2])] }),
  );
  assert.equal(same.layers[0].padding, "same");
  assert.deepEqual(same.layers[0].stride, [2, 2]);

  await throwsLike(
    () => readModelSync(onnxModel({ weight: tensorProto("w", [2, 2, 2, 3], 1, { raw }) })),
    TypeError,
    /64 raw bytes for FLOAT dims \[2,2,2,3\]/,
  );
  await throwsLike(
    () => readModelSync(onnxModel({ weight: tensorProto("w", [2, 2, 2, 3], 1, { floats: w }) })),
    TypeError,
    /16 values for dims/,
  );
  await throwsLike(
    () => readModelSync(onnxModel({ weight: tensorProto("w", dims, 3, { raw }) })),
    TypeError,
    /data type other than/,
  );
  await throwsLike(
    () => readModelSync(onnxModel({ weight: tensorProto("w", dims, 1, { raw }, pb.int(14, 1)) })),
    TypeError,
    /external file/,
  );
  await throwsLike(() => readModelSync(onnxModel({ withInit: false })), TypeError, /not an initializer or Constant/);
  await throwsLike(
    () => readModelSync(onnxModel({ op: "Relu", weight: tensorProto("w", dims, 1, { raw }) })),
    TypeError,
    /no Conv or ConvTranspose/,
  );
  await throwsLike(() => readModelSync(new Uint8Array([8, 7]), { format: "onnx" }), TypeError, /no graph/);
  const good = await bytesOf("torch_net.onnx");
  await throwsLike(() => readModelSync(good.subarray(0, good.length - 700)), TypeError, /malformed or truncated/);
});

test("bad TF.js input: short shards, wrong shard count, unknown quantisation, no manifest", async () => {
  const modelJson = await jsonOf("tfjs/seq2d/model.json");
  const bin = await bytesOf("tfjs/seq2d/weights.bin");
  await throwsLike(
    () => readModel({ modelJson, weights: [bin.subarray(0, bin.length - 4)] }),
    RangeError,
    /shorter than the manifest says/,
  );
  await throwsLike(
    () => readModel({ modelJson, weights: [bin, bin] }),
    TypeError,
    /naming 1 shards where 2 were given/,
  );
  await throwsLike(() => readModel({ modelJson: { modelTopology: {} }, weights: [] }), TypeError, /weightsManifest/);
  const q = structuredClone(modelJson);
  q.weightsManifest[0].weights[0].quantization = { dtype: "int4", scale: 1, min: 0 };
  await throwsLike(() => readModel({ modelJson: q, weights: [bin] }), TypeError, /unknown dtype/);
  q.weightsManifest[0].weights[0].quantization = { dtype: "uint8" };
  await throwsLike(() => readModel({ modelJson: q, weights: [bin] }), TypeError, /without a finite scale and min/);
  q.weightsManifest[0].weights[0].quantization = { dtype: "uint8", scale: 0.5, offset: -1 };
  const off = await readModel({ modelJson: q, weights: [bin] });
  assert.deepEqual(values(off.layers[0].kernel.data.subarray(0, 2)), [bin[0] * 0.5 - 1, bin[1] * 0.5 - 1]);
  const s = structuredClone(modelJson);
  s.weightsManifest[0].weights[0].shape = [3, 3, 3, 1e9];
  await throwsLike(() => readModel({ modelJson: s, weights: [bin] }), RangeError, /shorter than the manifest|2\^31/);
  await throwsLike(() => readModel({ modelJson: [], weights: [] }), TypeError, /no convolution layers/);
});

test("truncated and corrupted fixtures: every read ends in a result or a TypeError/RangeError (nothing hangs)", async () => {
  const rand = lcg32(99);
  const files = [
    "torch_net.safetensors",
    "kernel_f8_fortran.npy",
    "torch_net.npz",
    "torch_net_compressed.npz",
    "torch_net.onnx",
    "torch_net_bn.onnx",
  ];
  let errors = 0, results = 0;
  for (const file of files) {
    const good = await bytesOf(file);
    const format = (await readModel(good)).format;
    for (let trial = 0; trial < 200; trial++) {
      let bytes: Uint8Array;
      if (trial < 100) bytes = good.subarray(0, Math.floor(rand() * good.length));
      else {
        bytes = good.slice();
        for (let k = 0; k < 1 + trial % 4; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      }
      try {
        await readModel(bytes, { format: format as ReadModelOptions["format"], name: file });
        results++;
      } catch (e) {
        assert.ok(e instanceof TypeError || e instanceof RangeError, `${file} trial ${trial}: ${e}`);
        assert.match((e as Error).message, /^Cannot read /, `${file} trial ${trial}`);
        errors++;
      }
    }
  }
  assert.ok(errors > 100 && results > 0, `${errors} errors, ${results} results`);
});
