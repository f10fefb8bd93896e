/**
 * PyTorch checkpoints (issue 15): files written by torch.save 1.13
 * (tests/fixtures/torch/make.py) read to the bit as torch.load reads them
 * (f32, f16, bf16, f64; transposed, channels-last, offset, shared and
 * expanded views; Parameters; pickle protocol 4; a nested training
 * checkpoint); a state dict read exactly as the same state dict in
 * safetensors, BatchNorms and the CLI's report included; and the restricted
 * unpickler's refusals: a whole pickled model, os.system and eval, TorchScript,
 * the pre-1.6 format, every opcode and call a state dict does not need,
 * storages and views that do not fit, truncations.
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { type Model, readModel, readModelFile, type ReadModelOptions, readModelSync } from "../src/models.ts";
import { torchEntries } from "../src/_readers/torch.ts";
import { zipEntries } from "../src/_readers/zip.ts";
import { type CliIo, run } from "../src/_cli/run.ts";
import { f32Bytes, pk, pkCat, pkStateDict, pkTensor, pkTuple, torchZip, zip } from "./hostile.ts";
import { sha256, throwsLike, values } from "./_readers.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const fixture = (name: string) => join(root, "tests", "fixtures", "torch", name);
const bytesOf = async (name: string) => new Uint8Array(await readFile(fixture(name)));
// deno-lint-ignore no-explicit-any
const expected: Record<string, Record<string, any>> = JSON.parse(await readFile(fixture("expected.json"), "utf8"));

const FLOAT_DTYPES = new Set(["float32", "float16", "bfloat16", "float64"]);

// ------------------------------------------------------------------ values as torch.load reads them

test("torch.save files: every tensor decodes to torch.load's values, bit for bit (f32, f16, bf16, f64, views, Parameters, protocol 4, a checkpoint)", async () => {
  const src = { label: "fixture" };
  for (const file of ["dtypes.pt", "views.pt", "resnet.pt", "resnet_p4.pt", "params.pt", "checkpoint.pt"]) {
    const want = expected[file];
    const entries = torchEntries(await bytesOf(file), src, 2 ** 31);
    assert.deepEqual(entries.map((e) => e.key), Object.keys(want).filter((k) => k !== "epoch"), file);
    for (const e of entries) {
      const w = want[e.key];
      const what = `${file} ${e.key}`;
      assert.deepEqual(e.shape, w.shape, what);
      assert.equal(e.float, FLOAT_DTYPES.has(w.dtype), what);
      if (!e.float) {
        assert.throws(() => e.decode(), (x: Error) => x instanceof TypeError && /LongStorage/.test(x.message), what);
        continue;
      }
      const data = e.decode();
      assert.ok(data instanceof (w.dtype === "float64" ? Float64Array : Float32Array), what);
      assert.equal(await sha256(data), w.sha256, what);
      if (w.values) assert.deepEqual(values(data), w.values, what);
    }
  }
});

test("readModel() reads f32, f16, bf16 and f64 kernels of a .pt: types, layouts and values", async () => {
  const model = readModelSync(await bytesOf("dtypes.pt"), { name: "dtypes.pt" });
  assert.equal(model.format, "torch");
  assert.deepEqual(model.layers.map((l) => l.name), ["f32", "f16", "bf16", "f64"]);
  for (const l of model.layers) {
    const w = expected["dtypes.pt"][`${l.name}.weight`];
    assert.ok(l.kernel.data instanceof (l.name === "f64" ? Float64Array : Float32Array), l.name);
    assert.equal(l.layout, l.name === "f64" ? "oiw" : "oihw");
    assert.equal(await sha256(l.kernel.data), w.sha256, l.name);
    assert.deepEqual(l.stride, l.name === "f64" ? [1] : [1, 1]);
    assert.equal(l.padding, "circular");
    assert.equal(l.scale, undefined);
  }
});

test("readModel() reads views as torch.load: transposed, channels_last, storage offset, shared storage, expanded", async () => {
  const model = await readModelFile(fixture("views.pt"));
  const want = expected["views.pt"];
  assert.deepEqual(model.layers.map((l) => l.name), [
    "transposed",
    "channels_last",
    "offset",
    "shared_a",
    "shared_b",
    "expanded",
  ]);
  for (const l of model.layers) {
    assert.deepEqual(l.kernel.shape, want[`${l.name}.weight`].shape, l.name);
    assert.equal(await sha256(l.kernel.data), want[`${l.name}.weight`].sha256, l.name);
  }
  // two tensors of one storage come out as two independent arrays
  const [a, b] = [model.layers[3].kernel.data, model.layers[4].kernel.data];
  assert.notEqual(a.buffer, b.buffer);
  const before = b[0];
  a.fill(0);
  assert.equal(b[0], before);
});

// ------------------------------------------------------------------ the same state dict as safetensors

test("a .pt state dict reads exactly as the same state dict in safetensors: names, kernels, BatchNorms", async () => {
  const pt = await readModel(await bytesOf("resnet.pt"));
  const st = await readModel(new Uint8Array(await readFile(fixture("resnet.safetensors"))));
  assert.equal(pt.format, "torch");
  assert.equal(st.format, "safetensors");
  assert.deepEqual(pt.layers, st.layers);
  assert.deepEqual(pt.layers.map((l) => [l.name, l.scale?.name]), [
    ["conv1", "bn1"],
    ["layer1.0.conv1", "layer1.0.bn1"],
    ["layer1.0.conv2", "layer1.0.bn2"],
    ["layer2.0.conv1", "layer2.0.bn1"],
    ["layer2.0.conv2", "layer2.0.bn2"],
    ["layer2.0.downsample.0", "layer2.0.downsample.1"],
  ]);
  const want = expected["resnet.pt"];
  for (const l of pt.layers) {
    const bn = l.scale!;
    assert.equal(bn.kind, "batchnorm");
    assert.equal(bn.epsilon, 1e-5);
    assert.deepEqual(values(bn.gamma), want[`${bn.name}.weight`].values);
    assert.deepEqual(values(bn.beta!), want[`${bn.name}.bias`].values);
    assert.deepEqual(values(bn.mean!), want[`${bn.name}.running_mean`].values);
    assert.deepEqual(values(bn.variance!), want[`${bn.name}.running_var`].values);
  }
  // the same dict pickled with protocol 4, and as Parameters (keep_vars=True)
  assert.deepEqual((await readModel(await bytesOf("resnet_p4.pt"))).layers, pt.layers);
  assert.deepEqual((await readModel(await bytesOf("params.pt"))).layers, pt.layers);
  // options.layers as for safetensors
  const o: ReadModelOptions = { layers: { "layer2.0.conv1": { stride: 2, padding: 1 } } };
  assert.deepEqual(
    readModelSync(await bytesOf("resnet.pt"), o).layers,
    readModelSync(await bytesOf("resnet.safetensors"), o).layers,
  );
});

test("a training checkpoint {epoch, model, optimizer}: the model's convs under dotted names, optimizer buffers left out", async () => {
  const model = await readModel(await bytesOf("checkpoint.pt"), { name: "checkpoint.pt" });
  const want = expected["checkpoint.pt"];
  assert.equal(model.layers.length, 6);
  for (const l of model.layers) {
    assert.ok(l.name.startsWith("model."), l.name);
    assert.equal(await sha256(l.kernel.data), want[`${l.name}.weight`].sha256, l.name);
    assert.deepEqual(values(l.scale!.variance!), want[`${l.scale!.name}.running_var`].values);
  }
});

test("format by content: a torch.save zip is torch whatever its name (.bin, .npz, none); an npz is not", async () => {
  const dir = await mkdtemp(join(tmpdir(), "convsv-torch-"));
  try {
    for (const name of ["pytorch_model.bin", "weights.npz", "resnet", "resnet.pth"]) {
      await copyFile(fixture("resnet.pt"), join(dir, name));
      assert.equal((await readModelFile(join(dir, name))).format, "torch", name);
    }
    await copyFile(join(root, "tests", "fixtures", "torch_net.npz"), join(dir, "net.pt"));
    assert.equal((await readModelFile(join(dir, "net.pt"))).format, "npz");
  } finally {
    await rm(dir, { recursive: true });
  }
  await throwsLike(
    async () =>
      readModel(new Uint8Array(await readFile(join(root, "tests", "fixtures", "torch_net.npz"))), { format: "torch" }),
    TypeError,
    /no <name>\/data\.pkl \(is it an npz\?\)/,
  );
  await throwsLike(() => readModel(new Uint8Array(16), { format: "torch" }), TypeError, /not a zip archive/);
});

// ------------------------------------------------------------------ CLI

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = "", err = "";
  return {
    io: {
      stdout: (t) => void (out += t),
      stderr: { write: (t) => void (err += t), isTTY: false, columns: 100 },
      writeFile: () => Promise.resolve(),
      readTextFile: (p) => readFile(p, "utf8"),
      loadModel: (path, options) => readModelFile(path, options),
    },
    out: () => out,
    err: () => err,
  };
}

test("CLI: report on a .pt gives the safetensors file's report, --fold-bn included; src/cli.ts runs on it", async () => {
  for (const fold of [[], ["--fold-bn"]]) {
    const args = ["--input", "1x3x8x8", "--json", "--no-html", "--quiet", ...fold];
    const pt = capture(), st = capture();
    assert.equal(await run(["report", fixture("resnet.pt"), ...args], pt.io), 0, pt.err());
    assert.equal(await run(["report", fixture("resnet.safetensors"), ...args], st.io), 0, st.err());
    const a = JSON.parse(pt.out()), b = JSON.parse(st.out());
    assert.equal(a.format, "torch");
    const strip = (l: Record<string, unknown>) => ({ ...l, timeMs: 0 });
    assert.deepEqual(a.layers.map(strip), b.layers.map(strip));
    assert.deepEqual(a.lipschitz, b.lipschitz);
    assert.equal(a.foldBn, fold.length > 0);
  }
  // clip reads a .pt and writes the clipped kernels as safetensors; --model-out does not write .pt files
  const clip = capture();
  assert.equal(
    await run(
      ["clip", fixture("resnet.pt"), "--max-norm", "1", "--input", "1x3x8x8", "-o", "c.safetensors", "--quiet"],
      clip.io,
    ),
    0,
    clip.err(),
  );
  assert.match(clip.out(), /Wrote c\.safetensors: 6 kernels/);
  const out = capture();
  assert.equal(await run(["clip", fixture("resnet.pt"), "--max-norm", "1", "--model-out", "c.pt"], out.io), 2);
  assert.match(out.err(), /--model-out writes safetensors, npy, npz, ONNX and TF\.js models, not torch ones/);
  const cli = join(root, "src", "cli.ts");
  const [cmd, ...pre] = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
    ? [process.execPath, cli]
    : [Deno.execPath(), "run", "-A", "--quiet", cli];
  const r = spawnSync(cmd, [...pre, "report", fixture("resnet.pt"), "--input", "1x3x8x8", "--no-html", "--quiet"], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", RUST_BACKTRACE: "0" },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\(torch, 6 conv layers/);
  assert.match(r.stdout, /layer2\.0\.downsample\.0/);
  const bad = spawnSync(cmd, [...pre, "report", fixture("model.pt"), "--no-html"], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", RUST_BACKTRACE: "0" },
  });
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  assert.match(bad.stderr, /^convsv: error: .*model\.pt.*whole model.*model\.state_dict\(\)/);
});

// ------------------------------------------------------------------ refusals

test("refused: a whole pickled model, os.system, eval, TorchScript and the pre-1.6 format, naming what", async () => {
  const read = async (file: string) => readModel(await bytesOf(file), { name: file });
  await throwsLike(
    () => read("model.pt"),
    TypeError,
    /"model\.pt" as a PyTorch state dict: the file pickles a whole model \(data\.pkl names the class __main__\.ResNet.*save model\.state_dict\(\) with torch\.save instead/,
  );
  await throwsLike(
    () => read("evil_system.pt"),
    TypeError,
    /names the global posix\.system .*nothing in the file is run/,
  );
  await throwsLike(() => read("evil_eval.pt"), TypeError, /names the global __builtin__\.eval/);
  await throwsLike(() => read("scripted.pt"), TypeError, /TorchScript archive \(torch\.jit\.save\)/);
  await throwsLike(() => read("legacy.pt"), TypeError, /format before PyTorch 1\.6.*_use_new_zipfile_serialization/);
});

const W = pkTensor({ storage: "0", numel: 18, shape: [2, 1, 3, 3] });
const data0 = { "0": f32Bytes(Array.from({ length: 18 }, (_, j) => j)) };

/** A torch.save archive of one pickle (given as parts) and the 18-value storage "0". */
function withPickle(...parts: ArrayLike<number>[]): Uint8Array {
  return torchZip(pkCat(...parts), data0);
}

/** `{"c.weight": value}` as torch.save pickles a dict. */
function dictOf(value: ArrayLike<number>): Uint8Array {
  return torchZip(pkStateDict([["c.weight", value]]), data0);
}

test("refused: globals, calls and opcodes a state dict does not need, each named", async () => {
  assert.deepEqual(values(readModelSync(dictOf(W)).layers[0].kernel.data), Array.from({ length: 18 }, (_, j) => j));
  const stackGlobal = pkCat(
    [0x8c, 8],
    new TextEncoder().encode("builtins"),
    [0x8c, 4],
    new TextEncoder().encode("eval"),
    [0x93],
  );
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(4), stackGlobal, pk.stop)),
    TypeError,
    /global builtins\.eval/,
  );
  await throwsLike(
    () => readModelSync(dictOf(pkCat(pk.global("os", "system"), pkTuple(pk.str("echo")), pk.reduce))),
    TypeError,
    /global os\.system \(byte \d+\)/,
  );
  await throwsLike(
    () => readModelSync(dictOf(pkCat(pk.global("torch.nn.modules.conv", "Conv2d"), pk.emptyTuple, pk.reduce))),
    TypeError,
    /whole model \(data\.pkl names the class torch\.nn\.modules\.conv\.Conv2d/,
  );
  await throwsLike(
    () => readModelSync(dictOf(pkCat(pk.global("torch", "FloatStorage"), pkTuple(pk.int(3)), pk.reduce))),
    TypeError,
    /calls torch\.FloatStorage, which names a storage type/,
  );
  await throwsLike(
    () => readModelSync(dictOf(pkCat(pk.global("collections", "OrderedDict"), pkTuple(pk.emptyList), pk.reduce))),
    TypeError,
    /calls collections\.OrderedDict with arguments/,
  );
  await throwsLike(
    () => readModelSync(dictOf(pkCat(pk.str("x"), pk.emptyTuple, pk.reduce))),
    TypeError,
    /calls something other than an allowed global/,
  );
  await throwsLike(
    () =>
      readModelSync(
        dictOf(
          pkCat(pk.global("torch._utils", "_rebuild_tensor_v2"), pkTuple(pk.str("storage"), pk.int(0)), pk.reduce),
        ),
      ),
    TypeError,
    /calls torch\._utils\._rebuild_tensor_v2 with other than \(storage, offset, size, stride/,
  );
  await throwsLike(
    () => readModelSync(dictOf(pkCat(W, pk.emptyDict, pk.build))),
    TypeError,
    /BUILD on something other than a dict/,
  );
  const opcodes: [string, number[]][] = [
    ["INST", [0x69, ...new TextEncoder().encode("os\nsystem\n")]],
    ["OBJ", [0x28, 0x6f]],
    ["NEWOBJ", [0x29, 0x29, 0x81]],
    ["EXT1", [0x82, 1]],
    ["PERSID", [0x50, 0x30, 0x0a]],
    ["BINBYTES", [0x42, 0, 0, 0, 0]],
    ["STRING", [0x53, 0x27, 0x27, 0x0a]],
    ["EMPTY_SET", [0x8f]],
    ["DUP", [0x4e, 0x32]],
  ];
  for (const [name, bytes] of opcodes) {
    await throwsLike(
      () => readModelSync(withPickle(pk.proto(), bytes, pk.stop), { name: "op.pt" }),
      TypeError,
      new RegExp(`"op\\.pt".*uses opcode ${name} \\(0x[0-9a-f]+\\), which a state dict does not need.*\\(byte \\d+\\)`),
    );
  }
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(), [0xff])),
    TypeError,
    /byte 0xff, which is not a pickle opcode/,
  );
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(1), pk.none, pk.stop)),
    TypeError,
    /protocol other than 2 to 5/,
  );
});

test("refused: storages and views that do not fit, malformed pickles, top levels that are not dicts", async () => {
  const tensor = (spec: Partial<Parameters<typeof pkTensor>[0]>) =>
    dictOf(pkTensor({ storage: "0", numel: 18, shape: [2, 1, 3, 3], ...spec }));
  await throwsLike(
    () => readModelSync(tensor({ storage: "7" })),
    TypeError,
    /names storage "7", which the archive does not hold/,
  );
  await throwsLike(
    () => readModelSync(tensor({ numel: 2 ** 40 })),
    TypeError,
    /storage "0" has 72 bytes where 1099511627776 values of FloatStorage need/,
  );
  await throwsLike(
    () => readModelSync(tensor({ type: "DoubleStorage" })),
    TypeError,
    /72 bytes where 18 values of DoubleStorage need 144/,
  );
  await throwsLike(() => readModelSync(tensor({ type: "EvilStorage" })), TypeError, /global torch\.EvilStorage/);
  await throwsLike(
    () => readModelSync(tensor({ offset: 1 })),
    RangeError,
    /tensor "c\.weight" of shape \[2,1,3,3\], strides \[9,9,3,1\] and offset 1 reads past the end of its storage "0" \(18 values\)/,
  );
  await throwsLike(() => readModelSync(tensor({ stride: [9, 9, 3, 2] })), RangeError, /reads past the end/);
  await throwsLike(
    () => readModelSync(tensor({ shape: [2 ** 20, 2 ** 20, 1, 1], stride: [0, 0, 0, 0] })),
    RangeError,
    /more than 2\^31 − 1 values/,
  );
  // an expanded view of 2^30 values on one stored value: refused before anything is allocated for it
  await throwsLike(
    () => readModelSync(tensor({ shape: [2 ** 15, 2 ** 15, 1, 1], stride: [0, 0, 0, 0] })),
    RangeError,
    /view 1073741806 more values than their storages hold .*maxBytes \(2147483648\)/,
  );
  const small = readModelSync(tensor({ shape: [4, 2, 3, 3], stride: [0, 9, 3, 1] }));
  assert.deepEqual(values(small.layers[0].kernel.data.subarray(18, 36)), Array.from({ length: 18 }, (_, j) => j));
  await throwsLike(
    () => readModelSync(tensor({ shape: [4, 2, 3, 3], stride: [0, 9, 3, 1] }), { maxBytes: 100 }),
    RangeError,
    /maxBytes \(100\)/,
  );
  // the same storage named with two types
  const twice = torchZip(
    pkStateDict([["a.weight", W], [
      "b.weight",
      pkTensor({ storage: "0", numel: 36, type: "HalfStorage", shape: [2, 1, 3, 3] }),
    ]]),
    data0,
  );
  await throwsLike(
    () => readModelSync(twice),
    TypeError,
    /names storage "0" as both FloatStorage of 18 and HalfStorage of 36/,
  );
  // an integer kernel, as safetensors refuses one
  const longs = torchZip(
    pkStateDict([["c.weight", pkTensor({ storage: "0", numel: 9, type: "LongStorage", shape: [1, 1, 3, 3] })]]),
    data0,
  );
  await throwsLike(
    () => readModelSync(longs),
    TypeError,
    /storage type other than Float, Double, Half and BFloat16: current value is "LongStorage"/,
  );
  await throwsLike(
    () => readModelSync(dictOf(pkCat(pkTuple(pk.str("storage"), pk.str("x")), pk.persid))),
    TypeError,
    /persistent id other than \('storage', storage type, key, location, numel\)/,
  );
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(), W, pk.stop)),
    TypeError,
    /holds something other than a dict of tensors: current value is "tensor"/,
  );
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(), pk.none, pk.none, pk.stop)),
    TypeError,
    /stops with other than one value/,
  );
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(), pk.tuple)),
    TypeError,
    /closes a MARK that was never opened/,
  );
  await throwsLike(() => readModelSync(withPickle(pk.proto(), pk.setitem)), TypeError, /pops an empty stack/);
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(), pk.binget(3))),
    TypeError,
    /memo slot that was never written/,
  );
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(), [0x58, 0xff, 0xff, 0xff, 0xff])),
    RangeError,
    /runs past its end/,
  );
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(), [0x8b, 0xff, 0xff, 0xff, 0x7f])),
    TypeError,
    /wider than 64 bits/,
  );
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(), pk.emptyList, pk.str("k"), pk.none, pk.setitem)),
    TypeError,
    /sets items on something other than a dict/,
  );
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(), pk.emptyDict, pk.emptyList, pk.none, pk.setitem)),
    TypeError,
    /dict key that is not a str, int or bool/,
  );
  await throwsLike(
    () => readModelSync(withPickle(pk.proto(), [0x63, 0x61])),
    TypeError,
    /GLOBAL whose name has no end/,
  );
  await throwsLike(() => readModelSync(withPickle(pk.proto(), [0x58, 2, 0, 0, 0, 0xc3, 0x28])), TypeError, /not UTF-8/);
});

test("nesting, cycles and shared dicts end: 100 dicts deep is a RangeError, a dict holding itself or 60 levels of doubling read once", async () => {
  // {"a": {"a": … {"c.weight": W}}}, 100 deep
  let parts: ArrayLike<number>[] = [pk.proto(), pk.emptyDict];
  for (let k = 0; k < 100; k++) parts.push(pk.str("a"), pk.emptyDict);
  parts.push(pk.str("c.weight"), W, pk.setitem);
  for (let k = 0; k < 100; k++) parts.push(pk.setitem);
  parts.push(pk.stop);
  await throwsLike(() => readModelSync(withPickle(...parts)), RangeError, /nested more than 64 dicts deep/);
  // d = {}; d["self"] = d; d["c.weight"] = W
  const cyclic = withPickle(
    pk.proto(),
    pk.emptyDict,
    pk.binput(0),
    pk.str("self"),
    pk.binget(0),
    pk.setitem,
    pk.str("c.weight"),
    W,
    pk.setitem,
    pk.stop,
  );
  assert.deepEqual(readModelSync(cyclic).layers.map((l) => l.name), ["c"]);
  // d0 = {"c.weight": W}; d_{k+1} = {"a": d_k, "b": d_k}: 2^60 paths, each dict entered once
  // (built inside out: d60, "a", d59, "a", …, d1, "a", then d0; each d_k memoized and set under "a" and "b" of d_{k+1})
  parts = [pk.proto()];
  for (let k = 60; k >= 1; k--) parts.push(pk.emptyDict, pk.str("a"));
  parts.push(pk.emptyDict, pk.str("c.weight"), W, pk.setitem);
  for (let k = 1; k <= 60; k++) parts.push(pk.binput(k), pk.setitem, pk.str("b"), pk.binget(k), pk.setitem);
  parts.push(pk.stop);
  const doubling = withPickle(...parts);
  const t = performance.now();
  const m = readModelSync(doubling);
  assert.ok(performance.now() - t < 1000);
  assert.equal(m.layers.length, 1);
  assert.equal(m.layers[0].name, `${"a.".repeat(60)}c`);
});

test("archive variants: big-endian byteorder, a bad byteorder, two data.pkl, a compressed storage, CRC, truncations", async () => {
  const big = new Uint8Array(72);
  const view = new DataView(big.buffer);
  for (let j = 0; j < 18; j++) view.setFloat32(4 * j, j / 4, false);
  const pickle = pkStateDict([["c.weight", W]]);
  const be = readModelSync(torchZip(pickle, { "0": big }, { byteorder: "big" }));
  assert.deepEqual(values(be.layers[0].kernel.data), Array.from({ length: 18 }, (_, j) => j / 4));
  await throwsLike(
    () => readModelSync(torchZip(pickle, data0, { byteorder: "middle" })),
    TypeError,
    /byteorder is not little or big: current value is "middle"/,
  );
  const two = zip([
    { name: "a/data.pkl", data: pickle },
    { name: "b/data.pkl", data: pickle },
    { name: "a/data/0", data: data0["0"] },
  ]);
  await throwsLike(() => readModelSync(two), TypeError, /more than one data\.pkl/);
  const { deflateRawSync } = await import("node:zlib");
  const deflated = zip([
    { name: "a/data.pkl", data: pickle },
    { name: "a/data/0", data: deflateRawSync(data0["0"]), method: 8, size: 72 },
  ]);
  await throwsLike(() => readModelSync(deflated), TypeError, /storage "0" is compressed/);
  const good = await bytesOf("resnet.pt");
  const flipped = good.slice();
  const largest =
    zipEntries(good, { label: "" }).filter((e) => e.name.includes("/data/")).sort((a, b) => b.size - a.size)[0];
  flipped[largest.raw.byteOffset - good.byteOffset + 10] ^= 0x55; // inside the largest storage
  await throwsLike(() => readModel(flipped, { name: "flip.pt" }), TypeError, /"flip\.pt".*CRC-32/);
  let errors = 0;
  for (let cut = 0; cut < good.length; cut += 97) {
    try {
      await readModel(good.subarray(0, cut), { name: "cut.pt", format: "torch" });
    } catch (e) {
      assert.ok(e instanceof TypeError || e instanceof RangeError, String(e));
      assert.match((e as Error).message, /^Cannot read "cut\.pt"/);
      errors++;
    }
  }
  assert.equal(errors, Math.ceil(good.length / 97));
  // every truncation of the pickle itself, in an archive whose CRCs are right
  const pkl = pkStateDict([["c.weight", W], ["bn.weight", pkTensor({ storage: "0", numel: 18, shape: [2] })]]);
  for (let cut = 0; cut < pkl.length; cut++) {
    assert.throws(
      () => readModelSync(torchZip(pkl.subarray(0, cut), data0), { name: "cut.pt" }),
      (e: Error) =>
        (e instanceof TypeError || e instanceof RangeError) &&
        /^Cannot read "cut\.pt" as a PyTorch state dict/.test(e.message),
      `cut at ${cut}`,
    );
  }
});

test("readModel() results from .pt files feed the numerical functions (sanity: Frobenius identity)", async () => {
  const { singularValuesSync } = await import("../mod.ts");
  const model: Model = await readModel(await bytesOf("views.pt"));
  for (const l of model.layers) {
    const sv = singularValuesSync(l.kernel, { inputShape: [5, 5], layout: l.layout });
    const sum = sv.reduce((a, s) => a + s * s, 0);
    let frob = 0;
    for (const x of l.kernel.data) frob += x * x;
    assert.ok(Math.abs(sum / (25 * frob) - 1) < 1e-9, l.name);
  }
});
