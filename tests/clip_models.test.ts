/**
 * `convsv clip --model-out` (issue 14, the model side): read → clip → write →
 * read again gives the clipped kernels, bit for bit, in the model's own format
 * (npy, npz, safetensors, ONNX, TF.js), for every layer kind the fixtures hold
 * (strided, grouped, depthwise, transposed, dilated, 1-D, 3-D, zero padding);
 * everything but the clipped kernels is left as read; narrower encodings
 * (float16, bfloat16, uint8 quantisation) are rounded and say so; `--fold-bn`
 * certifies conv∘BN and writes the kernel `clipOperatorNorm` returns.
 * @module
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "./_test.ts";
import { type Model, readModelFile } from "../src/models.ts";
import { clipOperatorNorm } from "../mod.ts";
import { type CliIo, run } from "../src/_cli/run.ts";
import { scaleFactors } from "../src/_cli/fold.ts";
import { planCalls, planLayers } from "../src/_cli/layers.ts";
import { toBfloat16, toHalf } from "../src/_cli/slots.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const fixture = (name: string) => join(root, "tests", "fixtures", name);

// deno-lint-ignore no-explicit-any
type Json = any;

/** Runs `convsv clip` in-process on real files; returns the exit status, stdout, stderr. */
async function clip(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "", err = "";
  const io: CliIo = {
    stdout: (t) => void (out += t),
    stderr: { write: (t) => void (err += t), isTTY: false, columns: 100 },
    writeFile: async (p, d) => {
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, d);
    },
    readTextFile: (p) => readFile(p, "utf8"),
    readFile: async (p) => new Uint8Array(await readFile(p)),
    loadModel: (p, o) => readModelFile(p, o),
  };
  const code = await run(["clip", ...args, "--quiet"], io);
  return { code, out, err };
}

/** The kernels of the `-o` safetensors file: what `clipOperatorNorm` returned, by layer. */
async function returned(path: string): Promise<Map<string, Float32Array | Float64Array>> {
  const bytes = new Uint8Array(await readFile(path));
  const view = new DataView(bytes.buffer);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const out = new Map<string, Float32Array | Float64Array>();
  for (const [k, v] of Object.entries(header) as [string, Json][]) {
    if (k === "__metadata__") continue;
    const [a, b] = v.data_offsets;
    const data = bytes.slice(8 + n + a, 8 + n + b).buffer;
    out.set(k, v.dtype === "F64" ? new Float64Array(data) : new Float32Array(data));
  }
  return out;
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let j = 0; j < a.length; j++) if (!Object.is(a[j], b[j])) return false;
  return true;
}

/**
 * Clips `model` to `maxNorm` with `-o` and `--model-out`, reads the written
 * model back, and checks every layer: clipped within the ball (certified),
 * and the kernel read back equal to the returned one (bit for bit where the
 * encoding holds it, else rounded as reported). Returns both models and the JSON.
 */
async function roundTrip(
  dir: string,
  model: string,
  out: string,
  extra: string[] = [],
  maxNorm = 1,
): Promise<{ before: Model; after: Model; json: Json; kernels: Map<string, Float32Array | Float64Array> }> {
  const st = join(dir, "kernels.safetensors");
  const r = await clip([
    model,
    "--max-norm",
    String(maxNorm),
    "-o",
    st,
    "--model-out",
    out,
    "--iterations",
    "30",
    "--tolerance",
    "1e-4",
    "--json",
    ...extra,
  ]);
  assert.equal(r.code, 0, r.err);
  const json = JSON.parse(r.out);
  const before = await readModelFile(model);
  const after = await readModelFile(out);
  const kernels = await returned(st);
  assert.equal(after.format, before.format);
  assert.deepEqual(
    after.layers.map((l) => [l.name, l.kernel.shape, l.kernel.data.constructor.name]),
    before.layers.map((l) => [l.name, l.kernel.shape, l.kernel.data.constructor.name]),
  );
  assert.equal(json.complete, true);
  for (const l of json.layers) {
    assert.equal(l.clipped, true, JSON.stringify(l));
    assert.equal(l.certified, true, l.name);
    assert.ok(l.normAfter <= maxNorm * (1 + 1e-12), `${l.name}: normAfter ${l.normAfter}`);
    assert.equal(l.modelWrite.written, true, l.name);
    const read = after.layers.find((x) => x.name === l.name)!.kernel.data;
    const api = kernels.get(l.name)!;
    if (l.modelWrite.exact) {
      assert.ok(sameBits(read, api), `${l.name}: the kernel read back is the one clipOperatorNorm returned`);
    } else {
      let err = 0;
      for (let j = 0; j < api.length; j++) err = Math.max(err, Math.abs(read[j] - api[j]));
      assert.equal(err, l.modelWrite.maxRoundingError, `${l.name}: rounding as reported`);
    }
  }
  return { before, after, json, kernels };
}

/** Byte positions where two files differ. */
function diffs(a: Uint8Array, b: Uint8Array): number[] {
  assert.equal(a.length, b.length);
  const out: number[] = [];
  for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) out.push(j);
  return out;
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "convsv-clip-models-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  "clip --model-out .npy: f4, Fortran-order f8 and 3-D arrays come back bit for bit; f2 rounds as reported",
  withDir(async (dir) => {
    // conv3d_f4 as a depth-strided layer whose depth folds to one frequency (the 3-D case clipping takes)
    const attributes = join(dir, "attrs.json");
    await writeFile(attributes, JSON.stringify({ conv3d_f4: { stride: [2, 1, 1] } }));
    for (
      const [name, input] of [["kernel_f4.npy", "16x16"], ["kernel_f8_fortran.npy", "12x12"], [
        "conv3d_f4.npy",
        "2x6x6",
      ], ["kernel_f2.npy", "16x16"]]
    ) {
      const out = join(dir, name);
      const { json } = await roundTrip(dir, fixture(name), out, ["--input", input, "--attributes", attributes], 0.5);
      const src = readFileSync(fixture(name));
      const written = readFileSync(out);
      const headerEnd = src.indexOf(0x0a) + 1;
      assert.deepEqual(written.subarray(0, headerEnd), src.subarray(0, headerEnd), `${name}: the npy header is kept`);
      assert.equal(json.layers[0].modelWrite.exact, name !== "kernel_f2.npy", name);
      assert.ok(json.layers[0].iterations > 0, `${name}: clipped`);
    }
    // f16 rounding is round-to-nearest-even
    assert.equal(toHalf(1 + 2 ** -11), 0x3c00);
    assert.equal(toHalf(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(toHalf(2 ** -24), 1);
    assert.equal(toHalf(65520), 0x7c00);
    assert.equal(toBfloat16(1 + 2 ** -8), 0x3f80);
  }),
  { threads: true },
);

test(
  "clip --model-out .npz (stored and deflated archives): same members, names, dtypes and shapes; BN arrays untouched",
  withDir(async (dir) => {
    const attributes = join(dir, "attrs.json");
    // torch_net's real attributes, so strided, grouped and transposed layers are clipped as what they are
    await writeFile(
      attributes,
      JSON.stringify({
        conv1: { padding: 1 },
        conv2: { stride: 2, padding: 1, groups: 2 },
        up: { transposed: true, stride: 2, padding: 0 },
      }),
    );
    for (const name of ["torch_net.npz", "torch_net_compressed.npz"]) {
      const out = join(dir, name);
      const { json } = await roundTrip(
        dir,
        fixture(name),
        out,
        ["--input", "1x3x16x12", "--attributes", attributes],
        0.5,
      );
      assert.ok(json.layers.every((l: Json) => l.iterations > 0), "every kernel is clipped at 0.5");
      const conv2 = json.layers.find((l: Json) => l.name === "conv2");
      assert.deepEqual([conv2.stride, conv2.groups, conv2.exact], [[2, 2], 2, false]);
      assert.equal(json.layers.find((l: Json) => l.name === "up").transposed, true);
      // np.load's view: every member, in order, same header; only the kernels' data differ
      const { zipEntries, inflateEntry } = await import("../src/_readers/zip.ts");
      const { source } = await import("../src/_readers/_common.ts");
      const src = source(name, "npz");
      const a = zipEntries(new Uint8Array(readFileSync(fixture(name))), src);
      const b = zipEntries(new Uint8Array(readFileSync(out)), src);
      assert.deepEqual(b.map((e) => e.name), a.map((e) => e.name));
      assert.ok(b.every((e) => e.method === 0), "members are stored");
      for (let j = 0; j < a.length; j++) {
        const x = await inflateEntry(src, a[j]), y = await inflateEntry(src, b[j]);
        const kernel = /^(conv\d|up)\.weight\.npy$/.test(a[j].name);
        const d = diffs(x, y);
        if (kernel) assert.ok(d.length > 0 && d[0] >= x.indexOf(0x0a) + 1, `${a[j].name}: data changed, header kept`);
        else assert.equal(d.length, 0, `${a[j].name} is unchanged`);
      }
    }
  }),
  { threads: true },
);

test(
  "clip --model-out .safetensors: the state dict keeps every tensor; F32/F64 exact, F16/BF16 rounded as reported",
  withDir(async (dir) => {
    const out = join(dir, "net.safetensors");
    await roundTrip(dir, fixture("torch_net.safetensors"), out, ["--input", "1x3x16x12"]);
    const src = readFileSync(fixture("torch_net.safetensors"));
    const n = Number(new DataView(src.buffer, src.byteOffset).getBigUint64(0, true));
    const d = diffs(src, readFileSync(out));
    assert.ok(d.length > 0 && d[0] >= 8 + n, "the header is kept");
    const mixed = await roundTrip(dir, fixture("mixed_dtypes.safetensors"), join(dir, "mixed.safetensors"), [
      "--input",
      "8x8",
    ]);
    const enc = Object.fromEntries(mixed.json.layers.map((l: Json) => [l.modelWrite.encoding, l.modelWrite.exact]));
    assert.deepEqual(enc, { F64: true, F16: false, BF16: false });
  }),
  { threads: true },
);

test(
  "clip --model-out .onnx: strided, grouped and transposed layers written in place; same length, other bytes as read",
  withDir(async (dir) => {
    const out = join(dir, "net.onnx");
    const { json, before, after } = await roundTrip(dir, fixture("torch_net.onnx"), out);
    const kinds = json.layers.map((l: Json) => [l.name, l.stride, l.groups, l.transposed]);
    assert.ok(kinds.some((k: Json) => k[1][0] === 2 && k[2] === 2), JSON.stringify(kinds));
    assert.ok(kinds.some((k: Json) => k[3] === true), JSON.stringify(kinds));
    assert.equal(statSync(out).size, statSync(fixture("torch_net.onnx")).size);
    // the attributes and shapes the reader finds are unchanged: the protobuf is intact
    assert.deepEqual(
      after.layers.map((l) => [l.stride, l.dilation, l.groups, l.padding, l.pads, l.transposed, l.inputShape]),
      before.layers.map((l) => [l.stride, l.dilation, l.groups, l.padding, l.pads, l.transposed, l.inputShape]),
    );
    const changed =
      diffs(new Uint8Array(readFileSync(fixture("torch_net.onnx"))), new Uint8Array(readFileSync(out))).length;
    const kernelBytes = before.layers.reduce((n, l) => n + 4 * l.kernel.data.length, 0);
    assert.ok(changed > 0 && changed <= kernelBytes, `${changed} bytes changed, kernels hold ${kernelBytes}`);
  }),
  { threads: true },
);

test(
  "clip --model-out TF.js: model.json byte-identical, shards of the same paths and sizes; depthwise, transposed, dilated, 1-D; uint8 rounded",
  withDir(async (dir) => {
    for (const name of ["seq2d", "func1d"]) {
      const out = join(dir, name, "model.json");
      const { json } = await roundTrip(dir, fixture(`tfjs/${name}/model.json`), out);
      assert.deepEqual(readFileSync(out), readFileSync(fixture(`tfjs/${name}/model.json`)));
      assert.equal(statSync(join(dir, name, "weights.bin")).size, statSync(fixture(`tfjs/${name}/weights.bin`)).size);
      assert.ok(json.layers.every((l: Json) => l.modelWrite.exact && l.modelWrite.encoding === "float32"));
      if (name === "seq2d") {
        const kinds = json.layers.map((l: Json) => `${l.name}:${l.groups}:${l.transposed}:${l.stride}:${l.dilation}`);
        assert.deepEqual(kinds, [
          "conv_a:1:false:1,1:1,1",
          "dw:8:false:2,2:1,1",
          "sep/depthwise:16:false:1,1:1,1",
          "sep/pointwise:1:false:1,1:1,1",
          "deconv:1:true:2,2:1,1",
          "dil:1:false:1,1:2,2",
        ]);
      }
    }
    // bias and BatchNorm weights keep their bytes: only the kernels' ranges differ
    const { weightSpecs } = await import("../src/_readers/tfjs_weights.ts");
    const { source } = await import("../src/_readers/_common.ts");
    const manifest = JSON.parse(readFileSync(fixture("tfjs/seq2d/model.json"), "utf8")).weightsManifest;
    const a = new Uint8Array(readFileSync(fixture("tfjs/seq2d/weights.bin")));
    const b = new Uint8Array(readFileSync(join(dir, "seq2d", "weights.bin")));
    for (const s of weightSpecs(source("seq2d", "tfjs"), manifest, [a]).values()) {
      const same =
        diffs(a.subarray(s.offset, s.offset + 4 * s.count), b.subarray(s.offset, s.offset + 4 * s.count)).length === 0;
      assert.equal(same, s.shape.length === 1, s.name);
    }
    const q = await roundTrip(dir, fixture("tfjs/seq2d_quant/model.json"), join(dir, "quant", "model.json"));
    for (const p of ["group1-shard1of2.bin", "group1-shard2of2.bin"]) {
      assert.equal(statSync(join(dir, "quant", p)).size, statSync(fixture(`tfjs/seq2d_quant/${p}`)).size, p);
    }
    assert.ok(q.json.layers.some((l: Json) => l.modelWrite.encoding === "uint8-quantised" && !l.modelWrite.exact));
  }),
  { threads: true },
);

test(
  "clip --fold-bn: conv∘BN certified within C(1 + 1e-12); the written kernel is clipOperatorNorm's with the BN scale",
  withDir(async (dir) => {
    const model = fixture("torch_net_bn.onnx");
    const { json, after, before } = await roundTrip(dir, model, join(dir, "bn.onnx"), ["--fold-bn"]);
    const folded = json.layers.filter((l: Json) => l.scale?.folded);
    assert.ok(folded.length >= 2, JSON.stringify(json.layers.map((l: Json) => l.scale)));
    for (const l of folded) assert.ok(l.certified && l.normAfter <= 1 + 1e-12, `${l.name}: ${l.normAfter}`);
    const { planned } = planLayers(before.layers, undefined);
    for (const p of planned.filter((p) => p.layer.scale)) {
      const plan = planCalls(p);
      const call = plan.kind === "split" ? plan.upper : plan.call;
      const r = await clipOperatorNorm(p.layer.kernel, 1, {
        ...call,
        iterations: 30,
        tolerance: 1e-4,
        scale: scaleFactors(p.layer.scale!, p.layer.name, p.cOut),
      });
      const read = after.layers.find((x) => x.name === p.layer.name)!.kernel.data;
      assert.ok(sameBits(read, r.kernel.data), `${p.layer.name}: written = clipOperatorNorm's kernel`);
      assert.equal(json.layers.find((l: Json) => l.name === p.layer.name).normAfter, r.normAfter);
    }
    // a TF.js model with a BatchNorm after conv_a
    const tf = await roundTrip(dir, fixture("tfjs/seq2d/model.json"), join(dir, "bn_tfjs", "model.json"), [
      "--fold-bn",
    ]);
    const convA = tf.json.layers.find((l: Json) => l.name === "conv_a");
    assert.equal(convA.scale.folded, true);
    assert.ok(convA.normAfter <= 1 + 1e-12);
  }),
  { threads: true },
);

test(
  "clip --model-out refuses to overwrite its input, a wrong extension, and names a layer it cannot write",
  withDir(async (dir) => {
    const same = await clip([
      fixture("kernel_f4.npy"),
      "--max-norm",
      "1",
      "--model-out",
      fixture("kernel_f4.npy"),
      "--input",
      "8x8",
    ]);
    assert.equal(same.code, 2);
    assert.match(same.err, /--model-out must not overwrite the model it reads/);
    const tfSame = await clip([
      fixture("tfjs/seq2d/model.json"),
      "--max-norm",
      "1",
      "--model-out",
      fixture("tfjs/seq2d/other.json"),
    ]);
    assert.equal(tfSame.code, 2);
    assert.match(tfSame.err, /shards lie beside its model\.json/);
    const ext = await clip([fixture("torch_net.onnx"), "--max-norm", "1", "--model-out", join(dir, "x.safetensors")]);
    assert.equal(ext.code, 2);
    assert.match(ext.err, /--model-out writes the model in its own format \(onnx\), so it must end in \.onnx/);
    // a layer whose kernel cannot be located is named, in the table and on stderr, and the status is 1
    const { writeModel } = await import("../src/_cli/write_model.ts");
    const bytes = new Uint8Array(readFileSync(fixture("kernel_f4.npy")));
    const k = (await readModelFile(fixture("kernel_f4.npy"))).layers[0].kernel;
    const other = { data: new Float32Array(k.data.length), shape: k.shape };
    const res = await writeModel({ format: "npy", bytes, name: "k.npy", npyName: "kernel_f4" }, [
      { name: "kernel_f4", original: other, kernel: other },
      { name: "nope", original: k, kernel: k },
    ]);
    assert.deepEqual(
      [...res.outcomes.entries()],
      [
        ["kernel_f4", { written: false, reason: "the numbers stored there are not the kernel read (not rewritten)" }],
        ["nope", { written: false, reason: "the file has no tensor of that name" }],
      ],
    );
    assert.deepEqual(res.files[0].bytes, bytes, "nothing written");
  }),
  { threads: true },
);

test(
  "clip: text output names each layer's kind, norms before/after, rounds, certified, and the grid of zero-padded layers",
  withDir(async (dir) => {
    const r = await clip([
      fixture("tfjs/seq2d/model.json"),
      "--max-norm",
      "1",
      "--model-out",
      join(dir, "t", "model.json"),
      "--tolerance",
      "1e-3",
      "--iterations",
      "10",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /^# {2}layer +kernel +stride +padding +grid +norm before +norm after +rounds +certified +time$/m,
    );
    assert.match(r.out, /^2 {2}dw +3x3x1x16 hwio g8 +2x2 +valid +\d+x\d+ +<= [\d.]+ +<= [\d.]+ +\d+ +yes/m);
    assert.match(r.out, /^5 {2}deconv +3x3x4x6 hwio T +2x2 +same .*yes/m);
    assert.match(r.out, /^6 {2}dil +2x2x4x5 hwio d2x2 /m);
    assert.match(r.out, /deconv: TensorFlow "same" padding with stride 2x2/);
    assert.match(r.out, /1 layer\(s\) have a BatchNorm\/scale after them that these norms leave out: --fold-bn/);
    assert.match(
      r.out,
      /Wrote the model as tfjs: .*model\.json, .*weights\.bin: 6 of 6 kernels replaced, everything else as read\./,
    );
  }),
  { threads: true },
);
