/**
 * `./tfjs` (issue 16): clipModel on TF.js models with every conv layer kind,
 * checked against convsv's own bounds on the layer's real padding and against
 * the dense Jacobian of the layer as TF.js applies it; the training callback
 * on a small CNN. TF.js 4.22 with its CPU backend (dev dependencies).
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import { clipModel, type ClippedLayer, spectralClipCallback } from "../src/tfjs.ts";
import { operatorNormBounds } from "../src/operator_norm_bounds.ts";
import type { Layout } from "../src/types.ts";
import { jacobiSingularValues } from "./reference.ts";

await tf.setBackend("cpu");

type Layer = tfl.LayersModel["layers"][number];
const sym = (x: unknown) => x as tfl.SymbolicTensor;

/** Multiplies every kernel of the layer by `factor` (bias and others left), so it lies outside (or inside) the ball. */
function scaleKernels(layer: Layer, factor: number): void {
  const ws = layer.getWeights();
  const next = ws.map((w, i) => /kernel$/.test(layer.weights[i].originalName) ? tf.mul(w, factor) : w);
  layer.setWeights(next);
  next.forEach((t, i) => t !== ws[i] && t.dispose());
}

/** Deterministic, non-trivial BatchNorm statistics. */
function setBatchNorm(bn: Layer): void {
  const ws = bn.getWeights();
  const n = ws[0].shape[0]!;
  const vals = ws.map((_, j) =>
    tf.tensor1d(Array.from({ length: n }, (_, c) => [1.5 + Math.sin(c + 1), 0.3, 0.1 * c, 0.5 + 0.4 * Math.cos(c)][j]))
  );
  bn.setWeights(vals);
  tf.dispose(vals);
}

/**
 * σ_max of the linear part of `apply` on inputs of shape `inShape` (no
 * batch axis): the dense Jacobian from the basis inputs, as TF.js computes
 * the layer (padding, stride and all), then a one-sided Jacobi SVD.
 */
function denseNorm(apply: (x: tf.Tensor) => tf.Tensor, inShape: number[]): number {
  const n = inShape.reduce((a, b) => a * b, 1);
  const y = tf.tidy(() => {
    const eye = tf.reshape(tf.eye(n), [n, ...inShape]);
    const out = tf.sub(apply(eye), apply(tf.zeros([1, ...inShape])));
    return tf.reshape(out, [n, -1]);
  });
  const a = Float64Array.from(y.dataSync());
  const cols = y.shape[1]!;
  y.dispose();
  return jacobiSingularValues(a, n, cols, { maxSweeps: 100 })[0];
}

/** The input shape (no batch axis) a layer was called on. */
function inShapeOf(layer: Layer): number[] {
  const s = layer.inboundNodes[0].inputShapes as unknown as (number | null)[] | (number | null)[][];
  const one = (Array.isArray(s[0]) ? s[0] : s) as number[];
  return one.slice(1);
}

/**
 * convsv's certified upper bound for the layer on its real padding:
 * `operatorNormBounds` of the forward convolution (a transposed layer's
 * adjoint) padded `max(before, after)` on both sides, whose admissible grids
 * hold the layer. A separable layer is bounded through its composite kernel.
 */
async function upperBound(
  layer: Layer,
  r: ClippedLayer,
  scale?: ArrayLike<number>,
): Promise<{ upper: number; onGrid: number }> {
  const ws = layer.getWeights();
  const k = Float64Array.from(ws[0].dataSync());
  let shape = [...ws[0].shape] as number[];
  const rank = shape.length - 2;
  let data = k;
  let groups = 1;
  if (r.kind === "depthwise" || r.kind === "separable") {
    const [c, m] = [shape[rank], shape[rank + 1]];
    if (r.kind === "separable") {
      const p = ws[1].dataSync();
      const f = ws[1].shape[rank + 1]!;
      const taps = k.length / (c * m);
      data = new Float64Array(taps * c * f);
      for (let t = 0; t < taps; t++) {
        for (let ci = 0; ci < c; ci++) {
          for (let j = 0; j < m; j++) {
            for (let o = 0; o < f; o++) data[(t * c + ci) * f + o] += k[(t * c + ci) * m + j] * p[(ci * m + j) * f + o];
          }
        }
      }
      shape = [...shape.slice(0, rank), c, f];
    } else {
      shape = [...shape.slice(0, rank), 1, c * m];
      groups = c;
    }
  }
  if (scale) {
    // the output channels: the last axis of a forward kernel, the "i" axis of a transposed one
    const transposed = r.kind === "transposed";
    const cOut = transposed ? shape[rank] : shape[rank + 1];
    const inner = transposed ? shape[rank + 1] : 1;
    data = data.map((v, i) => v * scale[Math.floor(i / inner) % cOut]);
  }
  const layout = (["wio", "hwio", "dhwio"] as Layout[])[rank - 1];
  const padding = r.padding.before.map((b, j) => Math.max(b, r.padding.after[j]));
  const stride = (layer.getConfig().strides ?? 1) as number[];
  // TF.js 4.22's DepthwiseConv2D ignores its dilationRate: the dense check below would catch a TF.js that does not
  const dilation = r.kind === "transposed" || r.kind === "depthwise"
    ? 1
    : (layer.getConfig().dilationRate ?? 1) as number[];
  // a transposed layer's norm is its forward convolution's, on the forward input (the layer's output)
  const inputShape = r.kind === "transposed"
    ? r.inputShape.map((n, j) => {
      const s = Array.isArray(stride) ? stride[j] : stride;
      return layer.getConfig().padding === "same" ? n * s : n * s + Math.max(shape[j] - s, 0);
    })
    : r.inputShape;
  const b = await operatorNormBounds({ data, shape }, {
    inputShape,
    layout,
    stride,
    dilation,
    groups,
    padding,
    threads: 1,
  });
  assert.deepEqual(b.gridSizes[0], r.grid, `${r.name}: operatorNormBounds' smallest grid is the one projected`);
  return { upper: b.upper, onGrid: b.gridNorms[0] };
}

/** The BatchNorm's inference factors γ/√(var + ε). */
function bnFactors(bn: Layer): Float64Array {
  const [g, , , v] = bn.getWeights().map((w) => w.dataSync());
  const eps = bn.getConfig().epsilon as number;
  return Float64Array.from(g, (gc, c) => gc / Math.sqrt(v[c] + eps));
}

function twoD(): { model: tfl.LayersModel; bn: Layer } {
  const inp = tfl.input({ shape: [8, 8, 2] });
  let x = sym(tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: "same", name: "c1" }).apply(inp));
  const bn = tfl.layers.batchNormalization({ name: "bn1" });
  x = sym(bn.apply(x));
  x = sym(
    tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: "same", dilationRate: 2, name: "dw" })
      .apply(x),
  );
  x = sym(tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: "same", name: "c2" }).apply(x));
  x = sym(
    tfl.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: "same", name: "t1" }).apply(x),
  );
  x = sym(
    tfl.layers.separableConv2d({
      filters: 4,
      kernelSize: 3,
      padding: "valid",
      depthMultiplier: 2,
      dilationRate: 2,
      name: "sep",
    }).apply(x),
  );
  x = sym(tfl.layers.conv2d({ filters: 2, kernelSize: 1, strides: 2, name: "pw" }).apply(x));
  x = sym(tfl.layers.conv2dTranspose({ filters: 2, kernelSize: 2, strides: 2, padding: "valid", name: "t2" }).apply(x));
  return { model: tfl.model({ inputs: inp, outputs: x }), bn };
}

function oneD(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv1d({ inputShape: [10, 2], filters: 3, kernelSize: 3, strides: 2, padding: "same", name: "a1" }),
      tfl.layers.conv1d({ filters: 2, kernelSize: 2, dilationRate: 2, padding: "valid", name: "a2" }),
    ],
  });
}

function threeD(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv3d({ inputShape: [4, 4, 4, 1], filters: 2, kernelSize: 3, padding: "same", name: "v1" }),
      tfl.layers.conv3dTranspose({ filters: 2, kernelSize: 2, strides: 2, padding: "valid", name: "v2" }),
    ],
  });
}

function channelsFirst(): { model: tfl.LayersModel; bn: Layer } {
  const bn = tfl.layers.batchNormalization({ axis: 1, name: "bnf" });
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [2, 6, 5],
        filters: 3,
        kernelSize: 3,
        padding: "valid",
        dataFormat: "channelsFirst",
        name: "cf",
      }),
      bn,
    ],
  });
  return { model, bn };
}

/** Checks every layer of a clipped model: certified, under the independent bound, and the dense norm under both. */
async function checkInside(model: tfl.LayersModel, layers: ClippedLayer[], maxNorm: number): Promise<void> {
  for (const r of layers) {
    const layer = model.getLayer(r.name);
    assert.ok(r.certified, `${r.name} certified`);
    assert.ok(r.normAfter <= maxNorm, `${r.name}: normAfter ${r.normAfter} ≤ ${maxNorm}`);
    const { upper, onGrid } = await upperBound(layer, r);
    assert.ok(upper <= maxNorm * (1 + 1e-12), `${r.name}: operatorNormBounds upper ${upper} ≤ ${maxNorm}`);
    assert.ok(Math.abs(onGrid - r.normAfter) <= 1e-9 * maxNorm, `${r.name}: ${onGrid} vs normAfter ${r.normAfter}`);
    const dense = denseNorm((x) => layer.apply(x) as tf.Tensor, inShapeOf(layer));
    assert.ok(dense <= r.normAfter * (1 + 1e-9), `${r.name}: dense ${dense} ≤ normAfter ${r.normAfter}`);
    if (r.exact) assert.ok(Math.abs(dense - r.normAfter) <= 1e-6 * maxNorm, `${r.name}: exact ${dense}`);
  }
}

test("clipModel() projects every conv kind of a 2-D model inside the ball (convsv bounds and the dense layer)", async () => {
  const { model } = twoD();
  for (const l of model.layers) scaleKernels(l, 3);
  const before = tf.memory().numTensors;
  const res = await clipModel(model, 1, { threads: 1 });
  assert.equal(tf.memory().numTensors, before, "no tensor left allocated");
  assert.deepEqual(res.layers.map((l) => [l.name, l.className]), [
    ["c1", "Conv2D"],
    ["dw", "DepthwiseConv2D"],
    ["c2", "Conv2D"],
    ["t1", "Conv2DTranspose"],
    ["sep", "SeparableConv2D"],
    ["pw", "Conv2D"],
    ["t2", "Conv2DTranspose"],
  ]);
  for (const r of res.layers) assert.ok(r.normBefore > 1 && r.written, `${r.name}: ${r.normBefore} was outside`);
  const byName = Object.fromEntries(res.layers.map((r) => [r.name, r]));
  assert.deepEqual(byName.c1.grid, [9, 9]);
  assert.deepEqual(byName.c2.padding, { before: [0, 0], after: [1, 1] });
  assert.deepEqual(byName.c2.grid, [10, 10]); // 8 + one zero after, a multiple of the stride
  assert.deepEqual(byName.t1.grid, [10, 10]); // its forward convolution: 8 → 4, one zero after
  assert.equal(byName.pw.exact, true);
  assert.equal(byName.c1.exact, false);
  const { depthwise, pointwise } = byName.sep.factors!;
  assert.ok(depthwise.radius * pointwise.radius <= 1);
  await checkInside(model, res.layers, 1);
});

test("clipModel() on 1-D, 3-D and channels-first layers; certify: false is honest", async () => {
  for (const model of [oneD(), threeD(), channelsFirst().model]) {
    for (const l of model.layers) scaleKernels(l, 3);
    const res = await clipModel(model, 0.8, { threads: 1, iterations: 3 });
    assert.ok(res.layers.length >= 1);
    await checkInside(model, res.layers, 0.8);
  }
  const model = oneD();
  for (const l of model.layers) scaleKernels(l, 3);
  const res = await clipModel(model, 0.8, { threads: 1, certify: false });
  for (const r of res.layers) assert.ok(!r.certified && r.written && r.iterations === 1, r.name);
});

test("clipModel() leaves a layer already inside the ball untouched, bit for bit", async () => {
  const { model } = twoD();
  const small = model.getLayer("c2");
  scaleKernels(small, 0.01);
  const bytes = small.getWeights().map((w) => new Uint8Array(w.dataSync().slice().buffer));
  const res = await clipModel(model, 1, { threads: 1 });
  const r = res.layers.find((l) => l.name === "c2")!;
  assert.equal(r.written, false);
  assert.match(r.skipped!, /inside the ball/);
  assert.ok(r.certified && r.normAfter === r.normBefore && r.normBefore < 1);
  small.getWeights().forEach((w, i) => assert.deepEqual(new Uint8Array(w.dataSync().slice().buffer), bytes[i]));
});

test("clipModel() says when a kernelConstraint that may raise the norm was applied after the projection", async () => {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [6, 6, 2],
        filters: 3,
        kernelSize: 3,
        name: "u",
        kernelConstraint: tfl.constraints.unitNorm({ axis: 3 }),
      }),
      tfl.layers.conv2d({ filters: 3, kernelSize: 3, name: "m", kernelConstraint: tfl.constraints.maxNorm({}) }),
    ],
  });
  for (const l of model.layers) scaleKernels(l, 5);
  const [u, m] = (await clipModel(model, 0.5, { threads: 1 })).layers;
  assert.equal(u.certified, false);
  assert.match(u.constraint!, /UnitNorm was applied by setWeights/);
  assert.equal(m.constraint, undefined);
  assert.ok(m.certified && m.normAfter <= 0.5);
});

test("clipModel() with foldBatchNorm projects conv∘BatchNorm; the BatchNorm is not changed", async () => {
  for (const { model, bn } of [twoD(), channelsFirst()]) {
    const conv = model.layers.find((l) => l.outboundNodes.some((n) => n.outboundLayer === bn))!;
    scaleKernels(conv, 3);
    setBatchNorm(bn);
    const bnBefore = bn.getWeights().map((w) => Array.from(w.dataSync()));
    const before = tf.memory().numTensors;
    const res = await clipModel(model, 1, { threads: 1, foldBatchNorm: true });
    assert.equal(tf.memory().numTensors, before);
    const r = res.layers.find((l) => l.name === conv.name)!;
    assert.equal(r.batchNorm, bn.name);
    assert.ok(r.certified && r.normAfter <= 1);
    assert.deepEqual(bn.getWeights().map((w) => Array.from(w.dataSync())), bnBefore);
    const { upper } = await upperBound(conv, r, bnFactors(bn));
    assert.ok(upper <= 1 + 1e-12, `composite upper ${upper}`);
    const dense = denseNorm(
      (x) => bn.apply(conv.apply(x), { training: false }) as tf.Tensor,
      inShapeOf(conv),
    );
    assert.ok(dense <= r.normAfter * (1 + 1e-9), `composite dense ${dense} ≤ ${r.normAfter}`);
    // without folding, the conv alone is projected: the composite is then not bounded by 1
    assert.ok(res.layers.every((l) => l.name === conv.name || l.batchNorm === undefined));
  }
});

test("clipModel() refuses bad input before any work", async () => {
  const { model } = twoD();
  const w = model.getLayer("c1").getWeights()[0].dataSync().slice();
  await assert.rejects(clipModel(model, 0), /maxNorm must be positive and finite: current value is 0/);
  await assert.rejects(clipModel(model, "1" as unknown as number), TypeError);
  await assert.rejects(clipModel({} as tfl.LayersModel, 1), /must be a tf.LayersModel/);
  await assert.rejects(clipModel(model, 1, { strides: 2 } as never), /current value is "strides"/);
  await assert.rejects(clipModel(model, 1, { inputShapes: { nope: [4, 4] } }), /must name a conv layer/);
  await assert.rejects(clipModel(model, 1, { foldBatchNorm: 1 as never }), /must be a boolean/);
  const open = tfl.input({ shape: [null, null, 3] });
  const conv = tfl.layers.conv2d({ filters: 2, kernelSize: 3, name: "open" });
  const m = tfl.model({ inputs: open, outputs: sym(conv.apply(open)) });
  await assert.rejects(clipModel(m, 1), /input size must be known \(pass its spatial sizes as options.inputShapes/);
  const res = await clipModel(m, 1, { inputShapes: { open: [6, 7] }, threads: 1 });
  assert.deepEqual(res.layers[0].inputShape, [6, 7]);
  assert.deepEqual(model.getLayer("c1").getWeights()[0].dataSync(), w);
  assert.throws(() => spectralClipCallback(1, { every: 0 }), RangeError);
  assert.throws(() => spectralClipCallback(1, { every: 2.5 }), TypeError);
});

/** 8×8 images: class 1 when the left half is brighter than the right. */
function data(n: number, seed: number): { x: tf.Tensor; y: tf.Tensor } {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const xs = new Float32Array(n * 64);
  const ys = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const cls = i % 2;
    for (let p = 0; p < 64; p++) xs[i * 64 + p] = rand() - 0.5 + ((p % 8 < 4) === (cls === 1) ? 0.3 : 0);
    ys[i * 2 + cls] = 1;
  }
  return { x: tf.tensor4d(xs, [n, 8, 8, 1]), y: tf.tensor2d(ys, [n, 2]) };
}

function cnn(): tfl.LayersModel {
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [8, 8, 1],
        filters: 8,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        kernelInitializer: init(1),
      }),
      tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: "same", activation: "relu", depthwiseInitializer: init(2) }),
      tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: "same", kernelInitializer: init(3) }),
      tfl.layers.batchNormalization(),
      tfl.layers.activation({ activation: "relu" }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 2, activation: "softmax", kernelInitializer: init(4) }),
    ],
  });
}

test("spectralClipCallback() keeps a small CNN inside the ball every 20 steps while it learns", async () => {
  const model = cnn();
  model.compile({ optimizer: tf.train.adam(0.01), loss: "categoricalCrossentropy" });
  const { x, y } = data(64, 7);
  const maxNorm = 1;
  const checks: number[] = [];
  const clip = spectralClipCallback(maxNorm, {
    every: 20,
    threads: 1,
    foldBatchNorm: true,
    onClip: async (entry) => {
      for (const r of entry.layers) {
        assert.ok(r.certified && r.normAfter <= maxNorm, `step ${entry.step} ${r.name}: ${r.normAfter}`);
        const scale = r.batchNorm === undefined ? undefined : bnFactors(model.getLayer(r.batchNorm));
        const { upper } = await upperBound(model.getLayer(r.name), r, scale);
        assert.ok(upper <= maxNorm * (1 + 1e-12), `step ${entry.step} ${r.name}: bound ${upper}`);
        checks.push(upper);
      }
    },
  });
  const t0 = performance.now();
  const h = await model.fit(x, y, { batchSize: 8, epochs: 25, callbacks: clip, verbose: 0, shuffle: false });
  const ms = performance.now() - t0;
  const loss = h.history.loss as number[];
  assert.equal(clip.step, 200);
  assert.deepEqual(clip.history.map((e) => e.step), Array.from({ length: 10 }, (_, i) => 20 * (i + 1)));
  assert.deepEqual(clip.history.map((e) => e.epoch), [2, 4, 7, 9, 12, 14, 17, 19, 22, 24]);
  assert.equal(checks.length, 30);
  assert.ok(clip.history.every((e) => e.layers.length === 3 && e.timeMs > 0));
  assert.equal(clip.history[0].layers[2].batchNorm, model.layers[3].name);
  assert.ok(loss[loss.length - 1] < 0.7 * loss[0], `loss ${loss[0]} → ${loss[loss.length - 1]}`);
  const clipMs = clip.history.reduce((a, e) => a + e.timeMs, 0);
  console.log(
    `fit: 200 steps in ${ms.toFixed(0)} ms (${
      ((ms - clipMs) / 200).toFixed(1)
    } ms/step); ${clip.history.length} projections, ${(clipMs / clip.history.length).toFixed(1)} ms each; loss ${
      loss[0].toFixed(3)
    } → ${loss[loss.length - 1].toFixed(3)}`,
  );
  tf.dispose([x, y]);
}, { timeoutMs: 120_000 });

test("spectralClipCallback() works with fitDataset, counting steps across epochs and projecting at the end", async () => {
  const model = cnn();
  model.compile({ optimizer: "sgd", loss: "categoricalCrossentropy" });
  const { x, y } = data(24, 3);
  // a minimal tf.data-like dataset: 3 batches of 8 per epoch
  const dataset = {
    size: null,
    iterator() {
      let i = 0;
      return Promise.resolve({
        next: () =>
          Promise.resolve(
            i < 3
              ? { value: { xs: tf.slice(x, i * 8, 8), ys: tf.slice(y, (i++) * 8, 8) }, done: false }
              : { value: null, done: true },
          ),
      });
    },
  };
  const clip = spectralClipCallback(0.5, { every: 2, threads: 1 });
  await model.fitDataset(dataset as never, { epochs: 3, callbacks: [clip], verbose: 0 });
  assert.equal(clip.step, 9);
  assert.deepEqual(clip.history.map((e) => [e.step, e.epoch]), [[2, 0], [4, 1], [6, 1], [8, 2], [9, undefined]]);
  assert.ok(clip.history.every((e) => e.layers.every((l) => l.certified && l.normAfter <= 0.5)));
  tf.dispose([x, y]);
});
