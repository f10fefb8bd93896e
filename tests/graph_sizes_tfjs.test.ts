/**
 * The input sizes the TF.js graph-model reader propagates are the sizes the
 * layers run at: the real graph model in tests/fixtures/tfjs/emotion.json
 * (fused convs, depthwise convs, max pooling, residual adds, a global mean)
 * is run in TF.js (tfjs-converter on the cpu backend) and the spatial shape
 * of each conv node's input tensor, as TF.js computes it, must equal the
 * reader's `inputShape` for that node's layer.
 * @module
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { loadGraphModel } from "@tensorflow/tfjs-converter";
import { test } from "./_test.ts";
import { readModelFile } from "../src/models.ts";

const FILE = new URL("./fixtures/tfjs/emotion.json", import.meta.url);

interface Node {
  name: string;
  op: string;
  input?: string[];
}

const CONV_OPS = new Set([
  "Conv2D",
  "_FusedConv2D",
  "DepthwiseConv2dNative",
  "FusedDepthwiseConv2dNative",
  "Conv2DBackpropInput",
]);

test("TF.js graph model: the reader's propagated input sizes are the sizes TF.js runs each conv at", async () => {
  await tf.setBackend("cpu");
  const json = JSON.parse(readFileSync(FILE, "utf8"));
  const weightSpecs = json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights);
  const buffers = json.weightsManifest.flatMap((g: { paths: string[] }) =>
    g.paths.map((p) => readFileSync(new URL(`./fixtures/tfjs/${p}`, import.meta.url)))
  );
  const total = buffers.reduce((n: number, b: Uint8Array) => n + b.length, 0);
  const weightData = new Uint8Array(total);
  let at = 0;
  for (const b of buffers) {
    weightData.set(b, at);
    at += b.length;
  }
  const model = await loadGraphModel({
    load: () =>
      Promise.resolve({
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData: weightData.buffer,
        format: json.format,
        userDefinedMetadata: json.userDefinedMetadata,
      }),
  });
  const nodes = json.modelTopology.node as Node[];
  const convs = nodes.filter((n) => CONV_OPS.has(n.op));
  assert.ok(convs.length >= 5, `conv nodes: ${convs.length}`);
  // Each conv's data input (its first input, without a ":k" output index), run on one 64×64 image.
  const inputs = convs.map((n) => n.input![0].replace(/:\d+$/, ""));
  const x = tf.zeros([1, 64, 64, 1]);
  const outs = model.execute(x, inputs) as tf.Tensor[];
  const ran = new Map(convs.map((n, j) => [n.name, outs[j].shape.slice(1, 3)]));
  tf.dispose([x, ...outs]);
  model.dispose();

  // The reader lists the conv nodes in the graph's order (a fused conv is named after the conv it
  // replaced, not after its node): pair them in order, each pair checked by its filter's shape.
  const read = await readModelFile(FILE.pathname);
  assert.equal(read.layers.length, convs.length, read.layers.map((l) => l.name).join(", "));
  const specs = new Map<string, number[]>(
    weightSpecs.map((w: { name: string; shape: number[] }) => [w.name, w.shape] as [string, number[]]),
  );
  read.layers.forEach((layer, j) => {
    const node = convs[j];
    // A depthwise filter [k, k, c, 1] is read as [k, k, 1, c]: compare the dimensions as a set.
    const sorted = (s: readonly number[] | undefined) => [...(s ?? [])].sort((a, b) => a - b);
    assert.deepEqual(
      sorted(layer.kernel.shape),
      sorted(specs.get(node.input![1])),
      `${layer.name} ↔ ${node.name}: filter`,
    );
    const shape = ran.get(node.name);
    assert.deepEqual(
      layer.inputShape,
      shape,
      `${layer.name} (${node.name}): reader ${JSON.stringify(layer.inputShape)}, TF.js ${JSON.stringify(shape)}`,
    );
  });
});
