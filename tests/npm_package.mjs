// The npm package as a Node user gets it: src/_npm/build.ts (`npm run build:npm`) builds and packs it in a temporary
// folder (never the repository's dist/), `npm install convsv-X.tgz` puts it into a fresh folder outside the
// repository, and there a consumer imports `convsv`, `convsv/operator-norm`, `convsv/errors` and `convsv/models` by
// name, checks the values against a dense SVD of the layer's matrix, runs on two worker threads, runs the `convsv`
// bin, a TypeScript consumer is type-checked with tsc against the package's declarations, and `convsv/tfjs`
// trains a small TF.js model with its fit callback (the TF.js peers installed beside it). Run by
// tests/run_all.mjs (`node --test`).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = realpathSync(join(dirname(fileURLToPath(import.meta.url)), ".."));
const work = realpathSync(mkdtempSync(join(tmpdir(), "convsv-npm-")));
const app = join(work, "app");
const fixture = (name) => join(root, "tests", "fixtures", name);
// Children get no npm_* variables of the `npm test` that runs this file: npm would read them as its own config.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
Object.assign(env, { NO_COLOR: "1", RUST_BACKTRACE: "0" });
let tarball;

after(() => rmSync(work, { recursive: true, force: true }));

function sh(cmd, args, cwd, timeout = 120_000) {
  const t0 = Date.now();
  const res = spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout, maxBuffer: 64 * 2 ** 20 });
  const out = `${res.stdout ?? ""}${res.stderr ?? ""}`;
  assert.equal(res.error, undefined, `${cmd} ${args.join(" ")}: ${res.error}`);
  assert.equal(res.status, 0, `${cmd} ${args.join(" ")} exited ${res.status}:\n${out}`);
  console.log(`# ${cmd.split("/").pop()} ${args[0]}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return res.stdout;
}

/** The consumer a user writes: every import by package name, checks by node:assert; its last line is a JSON summary. */
const CONSUMER_MJS = String.raw`
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { ConvergenceError, singularValues, singularValuesSync, spectrum } from "convsv";
import { operatorNorm } from "convsv/operator-norm";
import { ConvergenceError as ConvergenceErrorOfPath } from "convsv/errors";
import { readModelFile } from "convsv/models";

const [onnxPath, expectedPath] = process.argv.slice(2);

// One copy of each module whatever the export path.
assert.equal(ConvergenceErrorOfPath, ConvergenceError);

// A 2-tap filter on 4 samples: |1 + e^{2πiu/4}| = 2, √2, √2, 0.
const two = singularValuesSync({ data: new Float64Array([1, 1]), shape: [1, 1, 2, 1] }, { inputShape: [4, 1] });
assert.deepEqual(Array.from(two, (x) => Math.round(x * 1e12) / 1e12), [2, 1.414213562373, 1.414213562373, 0]);

// The ONNX reader (@bufbuild/protobuf): PyTorch's export, its first conv's weights to the bit.
const model = await readModelFile(onnxPath);
const expected = JSON.parse(readFileSync(expectedPath, "utf8")).onnx["torch_net.onnx"].nodes;
assert.equal(model.format, "onnx");
assert.deepEqual(model.layers.map((l) => l.name), expected.map((n) => n.name));
const conv1 = model.layers[0].kernel;
assert.deepEqual(conv1.shape, [8, 3, 3, 3]);
assert.deepEqual(Array.from(conv1.data), expected[0].values);

/** Singular values of the m×n row-major matrix a, decreasing (one-sided Jacobi). */
function denseSingularValues(a, m, n) {
  const cols = Array.from({ length: n }, (_, j) => Float64Array.from({ length: m }, (_, i) => a[i * n + j]));
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const x = cols[p], y = cols[q];
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < m; i++) {
          alpha += x[i] * x[i];
          beta += y[i] * y[i];
          gamma += x[i] * y[i];
        }
        if (Math.abs(gamma) <= 1e-16 * Math.sqrt(alpha * beta)) continue;
        off = Math.max(off, Math.abs(gamma) / Math.sqrt(alpha * beta));
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta < 0 ? -1 : 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (let i = 0; i < m; i++) {
          const xi = x[i], yi = y[i];
          x[i] = c * xi - s * yi;
          y[i] = s * xi + c * yi;
        }
      }
    }
    if (off < 1e-15) break;
  }
  return cols.map((c) => Math.sqrt(c.reduce((s, v) => s + v * v, 0))).sort((a, b) => b - a);
}

// conv1 as a circular layer on 4×5: its (8·20)×(3·20) matrix, out[o, x, y] = Σ K[o, i, a, b] in[i, x + a, y + b].
const [co, ci, kh, kw] = conv1.shape, h = 4, w = 5;
const m = co * h * w, n = ci * h * w, dense = new Float64Array(m * n);
for (let o = 0; o < co; o++) {
  for (let i = 0; i < ci; i++) {
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        for (let x = 0; x < h; x++) {
          for (let y = 0; y < w; y++) {
            dense[(o * h * w + x * w + y) * n + i * h * w + ((x + a) % h) * w + ((y + b) % w)] +=
              conv1.data[((o * ci + i) * kh + a) * kw + b];
          }
        }
      }
    }
  }
}
const want = denseSingularValues(dense, m, n);
const sv = await singularValues(conv1, { inputShape: [h, w], threads: 2 });
assert.equal(sv.length, want.length);
const err = Math.max(...want.map((v, i) => Math.abs(v - sv[i])));
assert.ok(err <= 1e-12 * want[0], "largest deviation from the dense SVD: " + err + " (σ_max " + want[0] + ")");
assert.equal(await operatorNorm(conv1, { inputShape: [h, w] }), sv[0]);

// Two worker threads on a layer large enough that only the workers take jobs: the same bits as one thread.
const big = { data: Float64Array.from({ length: 64 * 64 * 9 }, (_, i) => Math.sin(i * 0.61) / 8), shape: [64, 64, 3, 3] };
const one = singularValuesSync(big, { inputShape: [16, 16] });
const t0 = performance.now();
const threaded = await singularValues(big, { inputShape: [16, 16], threads: 2 });
const threadedMs = performance.now() - t0;
assert.deepEqual(threaded, one);
// The pool those calls ran on, through the installed package's own module (the same instance: resolved to the
// same file); a pool started here instead would hold no jobs.
const pool = await import(new URL("./src/_threads/pool.js", import.meta.resolve("convsv")).href);
const p = await pool.getPool(1);
const cores = availableParallelism();
assert.equal(p.ports.length, Math.min(2, cores));
const { own } = pool.jobCounts(p);
if (cores >= 2) assert.ok(own >= 16 / 2 + 1, "jobs run on the workers: " + own);
const s = await spectrum(big, { inputShape: [16, 16], threads: 2 });
console.log(JSON.stringify({ workers: p.ports.length, workerJobs: own, cores, simd: s.simd, threadedMs, err }));
`;

/** A TypeScript consumer: the declarations must give real types (an `any` would leave the expected errors unused). */
const CONSUMER_MTS = `
import { type Kernel, singularValues, type Spectrum, spectrum } from "convsv";
import { operatorNorm } from "convsv/operator-norm";
import { ConvergenceError } from "convsv/errors";
import { type Model, readModelFile } from "convsv/models";
import { main } from "convsv/cli";

const kernel: Kernel = { data: new Float32Array(4 * 3 * 3 * 3), shape: [4, 3, 3, 3] };
const sv: Float64Array = await singularValues(kernel, { inputShape: [8, 8], threads: 2, layout: "oihw" });
const s: Spectrum = await spectrum(kernel, { inputShape: [8, 8], precision: "f32" });
const norm: number = await operatorNorm(kernel, { inputShape: [8, 8] });
const model: Model = await readModelFile("net.onnx");
const status: Promise<number> = main(["help"]);
const frequencies: [number, number][] = new ConvergenceError([[0, 1]]).frequencies;
// @ts-expect-error: a layout the package does not know
await operatorNorm(kernel, { inputShape: [8, 8], layout: "nchw" });
// @ts-expect-error: inputShape is required
await singularValues(kernel, {});
// @ts-expect-error: the result is a number, not an array
const wrong: number[] = await operatorNorm(kernel, { inputShape: [8, 8] });
console.log(sv, s.norm, norm, model.layers.length, status, frequencies, wrong);
`;

test("npm package: src/_npm/build.ts builds and packs it", () => {
  const build = ["run", "-A", "src/_npm/build.ts", "--out-dir", join(work, "dist"), "--pack-destination", work];
  sh(join(root, "node_modules", ".bin", "deno"), build, root);
  const pkg = JSON.parse(readFileSync(join(work, "dist", "package.json"), "utf8"));
  const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
  assert.equal(pkg.name, "convsv");
  assert.equal(pkg.version, denoJson.version);
  assert.deepEqual(Object.keys(pkg.exports), Object.keys(denoJson.exports));
  assert.deepEqual(Object.keys(pkg.dependencies), ["@bufbuild/protobuf"]);
  assert.equal(pkg.private, undefined);
  assert.equal(pkg.devDependencies, undefined);
  tarball = join(work, `convsv-${pkg.version}.tgz`);
});

test("npm package: npm init -y and npm install convsv-X.tgz in a folder outside the repository", () => {
  assert.ok(tarball, "the package was packed");
  spawnSync("mkdir", [app]);
  sh("npm", ["init", "-y"], app);
  sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], app);
  const installed = JSON.parse(readFileSync(join(app, "node_modules", "convsv", "package.json"), "utf8"));
  assert.equal(installed.name, "convsv");
});

test("npm package: Node imports it by name, matches a dense SVD, runs on two worker threads", () => {
  writeFileSync(join(app, "consumer.mjs"), CONSUMER_MJS);
  const out = sh("node", ["consumer.mjs", fixture("torch_net.onnx"), fixture("torch_expected.json")], app, 60_000);
  const summary = JSON.parse(out.trim().split("\n").pop());
  console.log(`# ${JSON.stringify(summary)}`);
  assert.equal(summary.workers, Math.min(2, availableParallelism()));
});

test("npm package: the convsv bin reports an ONNX model as JSON", () => {
  sh(join(app, "node_modules", ".bin", "convsv"), ["help"], app);
  const out = sh(join(app, "node_modules", ".bin", "convsv"), [
    "report",
    fixture("torch_net.onnx"),
    "--json",
    "--no-html",
  ], app);
  const report = JSON.parse(out);
  assert.equal(report.format, "onnx");
  assert.equal(report.layers.length, 5);
  // An exact layer reports its norm; a zero-padded one its certified interval.
  assert.ok(report.layers.every((l) => (l.exact ? l.norm > 0 : l.upper > 0 && l.lower <= l.upper)));
  assert.ok(report.layers.some((l) => l.exact) && report.layers.some((l) => !l.exact));
});

test("npm package: tsc type-checks a TypeScript consumer against its declarations", () => {
  writeFileSync(join(app, "consumer.mts"), CONSUMER_MTS);
  const tsconfig = {
    compilerOptions: {
      module: "nodenext",
      target: "es2022",
      strict: true,
      noEmit: true,
      types: ["node"],
      typeRoots: [join(root, "node_modules", "@types")],
    },
    files: ["consumer.mts"],
  };
  writeFileSync(join(app, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  sh("node", [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], app);
});

/** A Node user training with TF.js: the callback projects every conv layer while the loss goes down. */
const TFJS_MJS = String.raw`
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import { clipModel, spectralClipCallback } from "convsv/tfjs";
import { operatorNormBounds } from "convsv";

await tf.setBackend("cpu");
function cnn() {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: "same", activation: "relu" }));
  m.add(tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: "same", activation: "relu" }));
  m.add(tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: "valid", activation: "relu" }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 2, activation: "softmax" }));
  return m;
}
const n = 48;
const xs = tf.tidy(() => tf.randomNormal([n, 8, 8, 1], 0, 1, "float32", 3));
const labels = tf.tidy(() => tf.cast(tf.greater(tf.sum(tf.slice(xs, [0, 0, 0, 0], [n, 4, 8, 1]), [1, 2, 3]), 0), "int32"));
const ys = tf.oneHot(labels, 2);
const model = cnn();
model.compile({ optimizer: tf.train.adam(0.02), loss: "categoricalCrossentropy" });
const maxNorm = 0.8;
const clip = spectralClipCallback(maxNorm, { every: 10, threads: 1 });
const h = await model.fit(xs, ys, { batchSize: 8, epochs: 12, callbacks: clip, verbose: 0, shuffle: false });
const loss = h.history.loss;
assert.equal(clip.step, 72);
assert.ok(clip.history.length >= 7, "projections: " + clip.history.length);
assert.ok(clip.history.every((e) => e.layers.every((l) => l.certified && l.normAfter <= maxNorm)));
assert.ok(loss[loss.length - 1] < loss[0], "loss " + loss[0] + " → " + loss[loss.length - 1]);
// Independently: the last conv ("valid", stride 1) on its 8×8 input, as convsv reads TF's HWIO kernel.
const last = model.layers[2];
const [k] = last.getWeights();
const kernel = { data: Float64Array.from(await k.data()), shape: k.shape };
const b = await operatorNormBounds(kernel, { inputShape: [8, 8], layout: "hwio", padding: "valid" });
assert.ok(b.upper <= maxNorm * (1 + 1e-9), "independent bound " + b.upper);
// A model with nothing above the radius is untouched, bit for bit.
const before = model.getWeights().map((w) => Array.from(w.dataSync()));
const again = await clipModel(model, 100);
assert.ok(again.layers.every((l) => l.skipped !== undefined && !l.written));
assert.deepEqual(model.getWeights().map((w) => Array.from(w.dataSync())), before);
tf.dispose([xs, labels, ys]);
console.log(JSON.stringify({ projections: clip.history.length, loss: [loss[0], loss[loss.length - 1]], upper: b.upper }));
`;

test("npm package: convsv/tfjs in Node (TF.js 4.22 peers): the fit callback keeps every conv layer inside the ball while the loss goes down", () => {
  const peers = [
    "@tensorflow/tfjs-core@4.22.0",
    "@tensorflow/tfjs-layers@4.22.0",
    "@tensorflow/tfjs-backend-cpu@4.22.0",
  ];
  sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...peers], app, 300_000);
  writeFileSync(join(app, "tfjs_consumer.mjs"), TFJS_MJS);
  const out = sh("node", ["tfjs_consumer.mjs"], app, 120_000);
  console.log(`# ${out.trim().split("\n").pop()}`);
});
