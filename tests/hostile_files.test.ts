/**
 * Hostile model files (issue 18): shard paths that leave the model's folder,
 * files that are not regular files, shards larger than their manifest says,
 * npz zip bombs (1 GiB from 1 MiB, a zip64 12 GB claim, 40 entries on one
 * stream, a member that lies about its size), ONNX initializers that claim
 * 2^31 − 1 values with no data, zero strides, TF.js models nested 4,000 deep;
 * PyTorch pickles claiming expanded views of 2^31 − 1 values, 2^50-value
 * storages, 4 GiB strings, dicts nested 100,000 deep, 2,000,000 MARKs;
 * a fuzz test per reader (PyTorch's pickles mutated and zipped again); and
 * the readers' scaling (a file 10× larger takes at most about 10× as long). Every hostile file is built in a temporary
 * folder by tests/hostile.ts. Every outcome is a result or a TypeError /
 * RangeError whose message names the file; each refusal is fast and its peak
 * memory stays under {@linkcode PEAK_MB}. `CONVSV_FUZZ_LONG=1` runs the fuzz
 * 20× longer.
 * @module
 */
import { test } from "./_test.ts";
import { lcg32 } from "./_random.ts";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, truncate, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type Model, readModel, readModelFile, type ReadModelOptions, readModelSync } from "../src/models.ts";
import {
  attrInt,
  attrInts,
  attrString,
  f32Bytes,
  inputProto,
  kerasScoped,
  nestedTfjs,
  nodeProto,
  npy,
  onnxConv,
  onnxFanOut,
  onnxModel,
  pk,
  pkStateDict,
  pkTensor,
  stateDictNpz,
  stateDictSafetensors,
  stateDictTorch,
  tensorProto,
  tfjsGraphFanOut,
  tinyTfjs,
  type TorchTensorSpec,
  torchZip,
  zeroBomb,
  zip,
} from "./hostile.ts";
import { zipEntries } from "../src/_readers/zip.ts";

const FIX = new URL("./fixtures/", import.meta.url);
const fixture = (name: string) => decodeURIComponent(new URL(name, FIX).pathname);
const LONG = process.env.CONVSV_FUZZ_LONG === "1";
const ROOT = typeof process.getuid === "function" && process.getuid() === 0;
const canFifo = process.platform !== "win32" && spawnSync("mkfifo", ["--version"]).status === 0;

/** The bound on the growth of peak RSS while one hostile file is refused. */
const PEAK_MB = 200;

/**
 * Peak RSS during `fn`, in MB above the RSS before it: Linux's VmHWM after
 * resetting it (`/proc/self/clear_refs`), else the RSS after `fn`.
 */
async function peakGrowth(fn: () => Promise<void>): Promise<number> {
  const rss0 = process.memoryUsage().rss;
  let hwm = false;
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    hwm = true;
  } catch {
    // not Linux, or not allowed: the RSS after fn stands in
  }
  await fn();
  if (hwm) {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (m !== null) return (Number(m[1]) * 1024 - rss0) / 2 ** 20;
  }
  return (process.memoryUsage().rss - rss0) / 2 ** 20;
}

/**
 * Asserts that `fn` is refused with `type`, a message that starts `Cannot
 * read`, names `name` and matches `re`, in under a second, with peak memory
 * under {@linkcode PEAK_MB}; returns the time and peak for the log.
 */
async function refused(
  what: string,
  fn: () => unknown,
  type: typeof TypeError | typeof RangeError,
  re: RegExp,
  name: string,
): Promise<void> {
  let err: unknown;
  let ms = 0;
  const peak = await peakGrowth(async () => {
    const t = performance.now();
    try {
      await fn();
    } catch (e) {
      err = e;
    }
    ms = performance.now() - t;
  });
  assert.ok(err instanceof type, `${what}: expected ${type.name}, got ${err === undefined ? "a result" : String(err)}`);
  const message = (err as Error).message;
  assert.match(message, /^Cannot read /, what);
  assert.ok(message.includes(JSON.stringify(name)), `${what}: the message names ${name}: ${message}`);
  assert.match(message, re, what);
  assert.ok(ms < 1000, `${what}: refused in ${ms.toFixed(0)} ms`);
  assert.ok(peak < PEAK_MB, `${what}: peak RSS grew ${peak.toFixed(0)} MB`);
  console.log(`  ${what}: ${ms.toFixed(1)} ms, peak +${peak.toFixed(1)} MB: ${message.slice(0, 150)}`);
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "convsv-hostile-"));
  try {
    await fn(dir);
  } finally {
    await chmod(join(dir, "secret.bin"), 0o600).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/** A model folder `dir/model` with a tiny layers-model whose manifest lists `paths`, and its shard as weights.bin. */
async function modelWithPaths(dir: string, paths: unknown[]): Promise<string> {
  const folder = join(dir, "model");
  await mkdir(folder, { recursive: true });
  const { modelJson, shard } = tinyTfjs(paths as string[]);
  await writeFile(join(folder, "weights.bin"), shard);
  const file = join(folder, "model.json");
  await writeFile(file, JSON.stringify(modelJson));
  return file;
}

// ------------------------------------------------------------------ paths

test("TF.js shard paths that leave the model's folder, or are not regular files, are refused naming the manifest", async () => {
  await withTemp(async (dir) => {
    const secret = join(dir, "secret", "secret.bin");
    await mkdir(join(dir, "secret"));
    await writeFile(secret, new Uint8Array(144).fill(7));
    const good = await modelWithPaths(dir, ["weights.bin"]);
    assert.equal((await readModelFile(good)).layers.length, 1);
    assert.equal((await readModelFile(await modelWithPaths(dir, ["./weights.bin"]))).layers.length, 1);

    const cases: [string, unknown[], RegExp][] = [
      ["../../secret/secret.bin", ["../../secret/secret.bin"], /leaves the manifest's folder/],
      ["./../secret/secret.bin", ["./../secret/secret.bin"], /leaves the manifest's folder/],
      ["sub/../../secret/secret.bin", ["sub/../../secret/secret.bin"], /leaves the manifest's folder/],
      ["/dev/zero by a ../ chain", ["../".repeat(40) + "dev/zero"], /leaves the manifest's folder/],
      ["/proc/self/environ by a ../ chain", ["../".repeat(40) + "proc/self/environ"], /leaves the manifest's folder/],
      ["an absolute path", [secret], /absolute or a URL/],
      ["a URL", ["file:///etc/passwd"], /absolute or a URL/],
      ["a path that is not a string", [{ toString: "../secret" }], /not a string/],
    ];
    for (const [what, paths, re] of cases) {
      const file = await modelWithPaths(dir, paths);
      await refused(what, () => readModelFile(file), TypeError, re, file);
    }
    // links inside the folder that point outside it
    const file = await modelWithPaths(dir, ["link.bin"]);
    await symlink(secret, join(dir, "model", "link.bin"));
    await refused("a symlink to a file outside", () => readModelFile(file), TypeError, /through a link/, file);
    await rm(join(dir, "model", "link.bin"));
    await symlink("/dev/zero", join(dir, "model", "link.bin"));
    await refused("a symlink to /dev/zero", () => readModelFile(file), TypeError, /through a link/, file);
    // not regular files inside the folder
    await rm(join(dir, "model", "link.bin"));
    await mkdir(join(dir, "model", "link.bin"));
    await refused("a folder as a shard", () => readModelFile(file), TypeError, /not a regular file/, file);
  });
});

test(
  "a FIFO listed as a shard, or given as the model file, is refused without blocking",
  async () => {
    await withTemp(async (dir) => {
      const file = await modelWithPaths(dir, ["fifo.bin"]);
      assert.equal(spawnSync("mkfifo", [join(dir, "model", "fifo.bin")]).status, 0);
      await refused("a FIFO shard", () => readModelFile(file), TypeError, /not a regular file/, file);
      const fifo = join(dir, "model", "fifo.bin");
      await refused("a FIFO model file", () => readModelFile(fifo), TypeError, /not a regular file/, fifo);
      await refused(
        "/dev/zero as the model file",
        () => readModelFile("/dev/zero", { format: "npy" }),
        TypeError,
        /not a regular file/,
        "/dev/zero",
      );
    });
  },
  { ignore: canFifo ? false : "mkfifo is not available here" },
);

test("a TF.js shard larger than its group's weights declare is refused before it is read; maxBytes caps files", async () => {
  await withTemp(async (dir) => {
    const file = await modelWithPaths(dir, ["weights.bin"]);
    const shard = join(dir, "model", "weights.bin");
    await writeFile(shard, new Uint8Array(145));
    await refused("a shard 1 byte longer", () => readModelFile(file), RangeError, /larger than its group's/, file);
    // a sparse 8 GB shard: refused by its size, never read
    await truncate(shard, 8 * 2 ** 30);
    await refused("a sparse 8 GB shard", () => readModelFile(file), RangeError, /larger than its group's/, file);
    await writeFile(shard, new Uint8Array(144));
    await refused(
      "model.json past maxBytes",
      () => readModelFile(file, { maxBytes: 300 }),
      RangeError,
      /maxBytes \(300\)/,
      file,
    );
    await refused(
      "model.json and its shard past maxBytes together",
      () => readModelFile(file, { maxBytes: 400 }),
      RangeError,
      /files together are larger than maxBytes \(400\)/,
      file,
    );
    const big = join(dir, "big.npy");
    await writeFile(big, npy([4, 4, 3, 3]));
    await refused(
      "a model file past maxBytes",
      () => readModelFile(big, { maxBytes: 100 }),
      RangeError,
      /maxBytes/,
      big,
    );
    assert.equal((await readModelFile(big)).layers.length, 1);
    await assert.rejects(() => readModelFile(big, { maxBytes: 0 }), RangeError);
    await assert.rejects(() => readModelFile(big, { maxBytes: "2" as unknown as number }), /"2" \(string\)/);
  });
});

test("sentinel: no file outside the model's folder is opened or read", async () => {
  await withTemp(async (dir) => {
    const sentinel = join(dir, "secret.bin");
    await writeFile(sentinel, new Uint8Array(144).fill(0x5a));
    const old = new Date("2001-01-01T00:00:00Z");
    // can this file system tell that a file was read? (atime updated on read, e.g. relatime with an old atime)
    const control = join(dir, "control.bin");
    await writeFile(control, new Uint8Array(16));
    await utimes(control, old, new Date());
    await readFile(control);
    const atimeTracked = (await stat(control)).atime.getTime() !== old.getTime();
    await utimes(sentinel, old, new Date());
    if (!ROOT) await chmod(sentinel, 0o000); // any open would fail with EACCES, not with the refusal
    const paths = ["../secret.bin", "./../secret.bin", "a/../../secret.bin", "../model/../secret.bin", "link.bin"];
    for (const p of paths) {
      const file = await modelWithPaths(dir, [p]);
      if (p === "link.bin") await symlink(sentinel, join(dir, "model", "link.bin")).catch(() => {});
      await refused(`sentinel via ${p}`, () => readModelFile(file), TypeError, /leaves the manifest's folder/, file);
    }
    const st = await stat(sentinel);
    if (atimeTracked) assert.equal(st.atime.getTime(), old.getTime(), "the sentinel was read");
    console.log(
      `  sentinel: ${ROOT ? "root (chmod 000 would not stop a read)" : "chmod 000"}; atime ${
        atimeTracked ? "tracked and unchanged" : "not tracked on this file system: the refusals stand alone"
      }`,
    );
  });
});

// ------------------------------------------------------------------ npz bombs

test("npz bombs are refused before inflating, or stopped at their stated size, in bounded memory", async () => {
  const name = "bomb.npz";
  const bomb = zeroBomb(1024); // 1 MiB of deflate, 1 GiB of zeros
  assert.ok(bomb.length < 1.1e6);
  const o = { name };
  const gib = zip([{ name: "w.npy", data: bomb, method: 8, size: 2 ** 30, crc: 0 }]);
  await refused("1 MiB inflating to 1 GiB", () => readModel(gib, o), RangeError, /ratio above 1000:1/, name);
  const bomb4 = zeroBomb(4096);
  const gib4 = zip([{ name: "w.npy", data: bomb4, method: 8, size: 2 ** 32, zip64Size: true, crc: 0 }]);
  await refused("4 MiB inflating to 4 GiB", () => readModel(gib4, o), RangeError, /more than maxBytes/, name);
  const zip64 = zip([{ name: "w.npy", data: zeroBomb(1), method: 8, size: 12e9, zip64Size: true, crc: 0 }]);
  await refused("a zip64 member claiming 12 GB", () => readModel(zip64, o), RangeError, /more than maxBytes/, name);
  const forty = zip(
    [{ name: "w.npy", data: bomb, method: 8, size: 2 ** 30, crc: 0 }],
    Array.from({ length: 40 }, () => 0),
  );
  await refused("40 entries on one stream", () => readModel(forty, o), RangeError, /overlap/, name);
  const stored = zip([{ name: "w.npy", data: npy([2, 2, 3, 3]) }], [0, 0, 0]);
  await refused("3 entries on one stored member (sync)", () => readModelSync(stored, o), RangeError, /overlap/, name);
  // a member that states 1 MiB (under the ratio cap's floor) and inflates to 1 GiB: stopped just past 1 MiB
  const liar = zip([{ name: "w.npy", data: bomb, method: 8, size: 2 ** 20, crc: 0 }]);
  await refused(
    "a member lying about its size",
    () => readModel(liar, o),
    RangeError,
    /inflates past its stated/,
    name,
  );
  // within the ratio cap but past a caller's maxBytes
  const half = zip([{ name: "w.npy", data: zeroBomb(512), method: 8, size: 2 ** 28, crc: 0 }]);
  await refused(
    "256 MiB past maxBytes 64 MiB",
    () => readModel(half, { ...o, maxBytes: 2 ** 26 }),
    RangeError,
    /maxBytes \(67108864\)/,
    name,
  );
  // and a legitimate deflated npz still reads
  const kernel = npy([2, 2, 3, 3], new Float32Array(36).map((_, j) => j));
  const { deflateRawSync } = await import("node:zlib");
  const { crc32 } = await import("./hostile.ts");
  const ok = zip([{
    name: "c.weight.npy",
    data: deflateRawSync(kernel),
    method: 8,
    size: kernel.length,
    crc: crc32(kernel),
  }]);
  const model = await readModel(ok, o);
  assert.deepEqual(Array.from(model.layers[0].kernel.data).slice(0, 3), [0, 1, 2]);
});

// ------------------------------------------------------------------ ONNX and TF.js refusals before work

test("ONNX initializers that claim more values than they hold, and zero strides, are refused before any work", async () => {
  const name = "hostile.onnx";
  const o = { name };
  const noData = (dims: (number | bigint)[]) => onnxConv([], tensorProto("w", dims, 1));
  await refused(
    "dims [1e9, 1e9, 1, 1], no data",
    () => readModelSync(noData([1e9, 1e9, 1, 1]), o),
    RangeError,
    /2\^31/,
    name,
  );
  const bytes = noData([2 ** 31 - 1, 1, 1, 1]);
  assert.ok(bytes.length < 100);
  await refused(
    `dims [2^31 − 1, 1, 1, 1], no data (${bytes.length} bytes)`,
    () => readModelSync(bytes, o),
    TypeError,
    /0 values/,
    name,
  );
  const dbl = onnxConv([], tensorProto("w", [2 ** 29, 2, 1, 1], 11));
  await refused(
    "DOUBLE dims [2^29, 2, 1, 1] (8 GiB), no data",
    () => readModelSync(dbl, o),
    TypeError,
    /0 values/,
    name,
  );
  const cases: [string, number[][], RegExp][] = [
    [
      "strides [0, 0]",
      [attrInts("strides", [0, 0])],
      /Conv node "conv" has strides that are not positive integers: current value is \[0,0\]/,
    ],
    ["dilations [-1, 1]", [attrInts("dilations", [-1, 1])], /dilations that are not positive/],
    ["pads [-1, 0, 0, 0]", [attrInts("pads", [-1, 0, 0, 0])], /pads that are not non-negative/],
    ["group 0", [attrInt("group", 0)], /groups that are not positive/],
    ["strides [1] for a 2-D conv", [attrInts("strides", [1])], /1 entries where the op has 2 axes/],
    ["strides [2^40, 1]", [attrInts("strides", [2 ** 40, 1])], /strides that are not positive/],
  ];
  for (const [what, attrs, re] of cases) {
    await refused(
      what,
      () => readModelSync(onnxConv(attrs), o),
      RangeError,
      re,
      name,
    );
  }
  // a pool with zero strides before the conv: refused at the pool, not surfacing as an input shape of Infinity
  const pooled = onnxModel(
    [
      nodeProto("MaxPool", "pool", ["x"], ["p"], [attrInts("kernel_shape", [2, 2]), attrInts("strides", [0, 0])]),
      nodeProto("Conv", "conv", ["p", "w"], ["y"]),
    ],
    [tensorProto("w", [2, 2, 3, 3], 1, { raw: new Uint8Array(144) })],
    [inputProto("x", [1, 2, 8, 8])],
  );
  await refused(
    "MaxPool strides [0, 0]",
    () => readModelSync(pooled, o),
    RangeError,
    /MaxPool node "pool" has strides/,
    name,
  );
  assert.deepEqual(readModelSync(onnxConv([attrInts("strides", [2, 2])]), o).layers[0].inputShape, [8, 8]);
});

test("TF.js models nested past 64 deep are refused with a clear error (4,000 deep overflowed the stack)", async () => {
  const name = "nested/model.json";
  assert.equal(readModelSync(nestedTfjs(60), { name }).layers.length, 1);
  await refused(
    "4,000 nested Sequential models",
    () => readModel(nestedTfjs(4000), { name }),
    RangeError,
    /nest more than 64 deep/,
    name,
  );
  await withTemp(async (dir) => {
    const { modelJson, weights } = nestedTfjs(4000);
    const file = join(dir, "model.json");
    await writeFile(file, JSON.stringify(modelJson));
    await writeFile(join(dir, "w.bin"), weights[0]);
    await refused("4,000 deep from a file", () => readModelFile(file), RangeError, /nest more than 64 deep/, file);
  });
  const graph = tfjsGraphFanOut(0) as { modelJson: { modelTopology: { node: { attr?: Record<string, unknown> }[] } } };
  graph.modelJson.modelTopology.node[2].attr!.strides = { list: { i: ["1", "0", "0", "1"] } };
  await refused(
    "a graph Conv2D with strides 0",
    () => readModel({ ...graph, weights: [new Uint8Array(144)] } as never, { name }),
    RangeError,
    /Conv2D node "conv" has strides/,
    name,
  );
});

// ------------------------------------------------------------------ PyTorch refusals before work

test("PyTorch pickles that claim huge sizes, nest deep or pile up marks are refused before any work", async () => {
  const name = "hostile.pt";
  const o = { name };
  const one = { "0": f32Bytes([1]) };
  const dict = (t: TorchTensorSpec) => torchZip(pkStateDict([["c.weight", pkTensor(t)]]), one);
  await refused(
    "a view of 2^31 − 1 values expanded from one stored value",
    () => readModelSync(dict({ storage: "0", numel: 1, shape: [2 ** 31 - 1, 1, 1, 1], stride: [0, 0, 0, 0] }), o),
    RangeError,
    /more values than their storages hold .*maxBytes/,
    name,
  );
  await refused(
    "a view of 2^62 values",
    () => readModelSync(dict({ storage: "0", numel: 1, shape: [2 ** 31, 2 ** 31, 1, 1], stride: [0, 0, 0, 0] }), o),
    RangeError,
    /more than 2\^31 − 1 values/,
    name,
  );
  await refused(
    "a persistent id claiming 2^50 values of a 4-byte storage",
    () => readModelSync(dict({ storage: "0", numel: 2 ** 50, shape: [1, 1, 1, 1] }), o),
    TypeError,
    /storage "0" has 4 bytes where 1125899906842624 values/,
    name,
  );
  await refused(
    "a string claiming 4 GiB",
    () => readModelSync(torchZip([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0xff, 0x2e], one), o),
    RangeError,
    /runs past its end/,
    name,
  );
  const deep: number[] = [...pk.proto(), ...pk.emptyDict];
  for (let k = 0; k < 100_000; k++) deep.push(...pk.str("a"), ...pk.emptyDict);
  for (let k = 0; k < 100_000; k++) deep.push(...pk.setitem);
  deep.push(...pk.stop);
  await refused(
    "dicts nested 100,000 deep",
    () => readModelSync(torchZip(deep, one), o),
    RangeError,
    /nested more than 64 dicts deep/,
    name,
  );
  const marks = new Uint8Array(2_000_002).fill(0x28);
  marks.set([0x80, 2]);
  await refused("2,000,000 MARKs", () => readModelSync(torchZip(marks, one), o), RangeError, /runs past its end/, name);
});

// ------------------------------------------------------------------ fuzz

type Outcome = "result" | "error";

/** Checks a read's result (sane strides and input shapes) or its error (a TypeError/RangeError naming `name`). */
function judge(what: string, name: string, m: Model | undefined, e?: unknown): Outcome {
  if (m !== undefined) {
    for (const l of m.layers) {
      assert.ok(l.stride.every((s) => Number.isSafeInteger(s) && s > 0), `${what}: stride ${l.stride}`);
      if (l.inputShape) {
        assert.ok(l.inputShape.every((s) => Number.isSafeInteger(s) && s > 0), `${what}: ${l.inputShape}`);
      }
    }
    return "result";
  }
  assert.ok(e instanceof TypeError || e instanceof RangeError, `${what}: ${e}`);
  const message = (e as Error).message;
  assert.match(message, /^Cannot read /, `${what}: ${message}`);
  assert.ok(message.includes(JSON.stringify(name)), `${what}: does not name ${name}: ${message}`);
  return "error";
}

/** Reads with `read` and judges the outcome. */
async function outcome(what: string, name: string, read: () => Promise<Model> | Model): Promise<Outcome> {
  let m: Model;
  try {
    m = await read();
  } catch (e) {
    return judge(what, name, undefined, e);
  }
  return judge(what, name, m);
}

/** {@linkcode outcome} for a synchronous read. */
function outcomeSync(what: string, name: string, read: () => Model): Outcome {
  let m: Model;
  try {
    m = read();
  } catch (e) {
    return judge(what, name, undefined, e);
  }
  return judge(what, name, m);
}

const HOSTILE_JSON: unknown[] = [
  null,
  -1,
  0,
  0.5,
  1e308,
  -1e308,
  2 ** 53,
  2 ** 31,
  "x",
  "",
  "../../secret.bin",
  [],
  {},
  [1e9, 1e9],
  [0, 0],
  [-1, 2],
  true,
  JSON.parse("[".repeat(200) + "]".repeat(200)),
];

/** Every container path of a JSON value (objects and arrays), up to `limit`. */
function containers(
  v: unknown,
  out: (Record<string, unknown> | unknown[])[] = [],
): (Record<string, unknown> | unknown[])[] {
  if (v !== null && typeof v === "object" && out.length < 5000) {
    out.push(v as Record<string, unknown>);
    for (const x of Object.values(v as Record<string, unknown>)) containers(x, out);
  }
  return out;
}

/** One to three structural mutations of a JSON value, in place: a field replaced, deleted or wrapped. */
function mutateJson(json: unknown, rand: () => number): void {
  const all = containers(json);
  for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) {
    const c = all[Math.floor(rand() * all.length)] as Record<string, unknown>;
    const keys = Object.keys(c);
    if (keys.length === 0) continue;
    const key = keys[Math.floor(rand() * keys.length)];
    const r = rand();
    if (r < 0.15) delete c[key];
    else if (r < 0.25) c[key] = [c[key]];
    else c[key] = structuredClone(HOSTILE_JSON[Math.floor(rand() * HOSTILE_JSON.length)]);
  }
}

test(
  "fuzz: truncations of every fixture's first 512 bytes and random byte mutations end in a result or a named error",
  async () => {
    const rand = lcg32(18);
    const files = [
      "torch_net.safetensors",
      "mixed_dtypes.safetensors",
      "kernel_f8_fortran.npy",
      "kernel_f2.npy",
      "torch_net.npz",
      "torch_net_compressed.npz",
      "torch_net.onnx",
      "torch_net_bn.onnx",
      "conv1d.onnx",
      "torch/resnet.pt",
      "torch/views.pt",
      "torch/dtypes.pt",
    ];
    const mutations = LONG ? 4000 : 200;
    for (const file of files) {
      const good = new Uint8Array(await readFile(fixture(file)));
      const format = (await readModel(good)).format as ReadModelOptions["format"];
      const counts = { result: 0, error: 0 };
      const t = performance.now();
      for (let cut = 0; cut < Math.min(512, good.length); cut++) {
        counts[
          await outcome(`${file} cut at ${cut}`, file, () => readModel(good.subarray(0, cut), { format, name: file }))
        ]++;
      }
      for (let trial = 0; trial < mutations; trial++) {
        const bytes = good.slice();
        for (let k = 0; k < 1 + trial % 8; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
        counts[await outcome(`${file} mutation ${trial}`, file, () => readModel(bytes, { format, name: file }))]++;
      }
      console.log(
        `  ${file}: ${counts.result} results, ${counts.error} errors, ${(performance.now() - t).toFixed(0)} ms`,
      );
    }
  },
  { timeoutMs: 600_000 },
);

test("fuzz: ONNX protobuf fields (dims, data types, attribute values) end in a result or a named error", () => {
  const rand = lcg32(1818);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const values: (number | bigint)[] = [
    -1,
    0,
    1,
    2,
    3,
    7,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 53,
    1e9,
    -(2n ** 63n),
    2n ** 64n - 1n,
  ];
  const name = "fuzz.onnx";
  const counts = { result: 0, error: 0 };
  const trials = LONG ? 20000 : 1500;
  const t = performance.now();
  for (let trial = 0; trial < trials; trial++) {
    const rank = rand() < 0.7 ? 4 : Math.floor(rand() * 7);
    const dims = Array.from({ length: rank }, () => rand() < 0.8 ? 1 + Math.floor(rand() * 3) : pick(values));
    const dataType = rand() < 0.7 ? 1 : Math.floor(rand() * 20);
    const n = Math.min(4096, dims.reduce((a: number, d) => a * Math.max(0, Math.min(Number(d), 64)), 1));
    const data = rand() < 0.5
      ? { raw: new Uint8Array(rand() < 0.7 ? 4 * n : Math.floor(rand() * 64)) }
      : rand() < 0.7
      ? { floats: new Float32Array(rand() < 0.7 ? n : Math.floor(rand() * 16)) }
      : {};
    const attrs: number[][] = [];
    for (const a of ["strides", "dilations", "pads", "kernel_shape", "output_padding"]) {
      if (rand() < 0.3) {
        const len = rand() < 0.6 ? (a === "pads" ? 4 : 2) : Math.floor(rand() * 6);
        attrs.push(
          attrInts(a, Array.from({ length: len }, () => rand() < 0.6 ? 1 + Math.floor(rand() * 3) : pick(values))),
        );
      }
    }
    if (rand() < 0.2) attrs.push(attrInt("group", pick(values)));
    if (rand() < 0.2) attrs.push(attrString("auto_pad", pick(["SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET", "x"])));
    const op = pick(["Conv", "Conv", "ConvTranspose"]);
    const w = tensorProto("w", dims, dataType, data);
    const nodes = rand() < 0.3
      ? [
        nodeProto("MaxPool", "pool", ["x"], ["p"], [
          attrInts("kernel_shape", [2, 2]),
          attrInts("strides", [pick(values) as number, 1]),
        ]),
        nodeProto(op, "conv", ["p", "w"], ["y"], attrs),
      ]
      : [nodeProto(op, "conv", ["x", "w"], ["y"], attrs)];
    const bytes = onnxModel(nodes, [w], [inputProto("x", [1, 2, 8, 8])]);
    counts[outcomeSync(`onnx trial ${trial}`, name, () => readModelSync(bytes, { name }))]++;
  }
  console.log(
    `  ONNX fields: ${counts.result} results, ${counts.error} errors, ${(performance.now() - t).toFixed(0)} ms`,
  );
  assert.ok(counts.result > 0 && counts.error > 0);
});

test("fuzz: PyTorch pickles (byte mutations, spliced opcodes, cuts, hostile tensor fields) end in a result or a named error", () => {
  const rand = lcg32(1515);
  const name = "fuzz.pt";
  const counts = { result: 0, error: 0 };
  const t = performance.now();
  const ops = [
    0x28,
    0x74,
    0x73,
    0x75,
    0x52,
    0x62,
    0x51,
    0x2e,
    0x85,
    0x86,
    0x87,
    0x93,
    0x4e,
    0x7d,
    0x5d,
    0x29,
    0x61,
    0x65,
    0x94,
  ];
  // the fixtures' pickles, mutated and zipped again with their storages (so that the CRCs hold)
  for (const file of ["torch/views.pt", "torch/resnet.pt", "torch/checkpoint.pt"]) {
    const bytes = new Uint8Array(readFileSync(fixture(file)));
    const entries = zipEntries(bytes, { label: file });
    const pkl = entries.find((e) => e.name.endsWith("/data.pkl"))!;
    const stem = pkl.name.slice(0, -"/data.pkl".length);
    const storages = Object.fromEntries(
      entries.filter((e) => e.name.startsWith(`${stem}/data/`)).map((e) => [e.name.slice(stem.length + 6), e.raw]),
    );
    for (let trial = 0; trial < (LONG ? 4000 : 300); trial++) {
      let p: Uint8Array = pkl.raw.slice();
      const r = rand();
      if (r < 0.6) {
        for (let k = 0; k < 1 + trial % 8; k++) p[Math.floor(rand() * p.length)] = Math.floor(rand() * 256);
      } else if (r < 0.85) {
        const at = Math.floor(rand() * p.length);
        const op = ops[Math.floor(rand() * ops.length)];
        p = Uint8Array.from([...p.subarray(0, at), op, ...p.subarray(at)]);
      } else p = p.subarray(0, Math.floor(rand() * p.length));
      counts[
        outcomeSync(`${file} trial ${trial}`, name, () => readModelSync(torchZip(p, storages, { stem }), { name }))
      ]++;
    }
  }
  // hostile shapes, strides, offsets, storage sizes and types
  const values = [-1, 0, 1, 2, 3, 17, 18, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 1e9];
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const small = () => rand() < 0.8 ? Math.floor(rand() * 4) : pick(values);
  const storages = { "0": f32Bytes(new Float32Array(18).fill(0.5)) };
  for (let trial = 0; trial < (LONG ? 20000 : 1500); trial++) {
    const rank = rand() < 0.7 ? 4 : Math.floor(rand() * 7);
    const shape = Array.from({ length: rank }, small);
    const stride = Array.from({ length: rand() < 0.9 ? rank : Math.floor(rand() * 6) }, small);
    const spec: TorchTensorSpec = {
      storage: rand() < 0.95 ? "0" : "1",
      type: pick(["FloatStorage", "FloatStorage", "HalfStorage", "DoubleStorage", "LongStorage", "BoolStorage"]),
      numel: rand() < 0.7 ? 18 : pick(values),
      offset: rand() < 0.7 ? 0 : small(),
      shape,
      stride,
    };
    const bytes = torchZip(
      pkStateDict([["c.weight", pkTensor(spec)], ["c2.weight", pkTensor({ ...spec, offset: 0 })]]),
      storages,
    );
    counts[outcomeSync(`tensor trial ${trial}`, name, () => readModelSync(bytes, { name }))]++;
  }
  console.log(`  PyTorch: ${counts.result} results, ${counts.error} errors, ${(performance.now() - t).toFixed(0)} ms`);
  assert.ok(counts.result > 0 && counts.error > 0);
});

test(
  "fuzz: TF.js model.json and manifests with wrong types, huge numbers, negative sizes and missing fields",
  async () => {
    const rand = lcg32(4242);
    const models: [string, string, string[]][] = [
      ["seq2d", "tfjs/seq2d/model.json", ["tfjs/seq2d/weights.bin"]],
      ["func1d", "tfjs/func1d/model.json", ["tfjs/func1d/weights.bin"]],
      ["emotion", "tfjs/emotion.json", ["tfjs/emotion.bin"]],
      ["face-api", "tfjs/face_recognition_head-weights_manifest.json", ["tfjs/face_recognition_head.bin"]],
    ];
    const trials = LONG ? 4000 : 300;
    for (const [label, json, bins] of models) {
      const modelJson = JSON.parse(await readFile(fixture(json), "utf8"));
      const weights = await Promise.all(bins.map(async (b) => new Uint8Array(await readFile(fixture(b)))));
      const name = `${label}/model.json`;
      const counts = { result: 0, error: 0 };
      const t = performance.now();
      for (let trial = 0; trial < (label === "emotion" ? trials / 3 : trials); trial++) {
        const m = structuredClone(modelJson);
        mutateJson(m, rand);
        counts[await outcome(`${label} trial ${trial}`, name, () => readModel({ modelJson: m, weights }, { name }))]++;
      }
      // truncated shards
      for (let cut = 0; cut < Math.min(512, weights[0].length); cut += 7) {
        const w = [weights[0].subarray(0, cut), ...weights.slice(1)];
        counts[
          await outcome(`${label} shard cut at ${cut}`, name, () => readModel({ modelJson, weights: w }, { name }))
        ]++;
      }
      console.log(
        `  ${label}: ${counts.result} results, ${counts.error} errors, ${(performance.now() - t).toFixed(0)} ms`,
      );
    }
    // from files: a mutated manifest next to its shard, and truncations of model.json's first 512 bytes
    await withTemp(async (dir) => {
      await writeFile(join(dir, "secret.bin"), new Uint8Array(144));
      const folder = join(dir, "model");
      await mkdir(folder);
      const text = await readFile(fixture("tfjs/seq2d/model.json"), "utf8");
      await writeFile(join(folder, "weights.bin"), await readFile(fixture("tfjs/seq2d/weights.bin")));
      const file = join(folder, "model.json");
      const counts = { result: 0, error: 0 };
      const t = performance.now();
      for (let cut = 0; cut < Math.min(512, text.length); cut += LONG ? 1 : 4) {
        await writeFile(file, text.slice(0, cut));
        counts[await outcome(`model.json cut at ${cut}`, file, () => readModelFile(file))]++;
      }
      for (let trial = 0; trial < (LONG ? 2000 : 100); trial++) {
        const m = JSON.parse(text);
        mutateJson(m.weightsManifest, rand);
        await writeFile(file, JSON.stringify(m));
        counts[await outcome(`manifest trial ${trial}`, file, () => readModelFile(file))]++;
      }
      console.log(
        `  seq2d from files: ${counts.result} results, ${counts.error} errors, ${
          (performance.now() - t).toFixed(0)
        } ms`,
      );
    });
  },
  { timeoutMs: 600_000 },
);

// ------------------------------------------------------------------ scaling

/** The least of five timings of `fn`, in ms (after one warm-up run). */
function best(fn: () => unknown): number {
  fn();
  let min = Infinity;
  for (let k = 0; k < 5; k++) {
    const t = performance.now();
    fn();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

test(
  "the readers are linear in their files: a file 10× larger takes at most 40× as long, quadratic would be 100× (least of 5 runs each)",
  () => {
    const cases: [string, number, (n: number) => () => unknown][] = [
      ["safetensors state dict (convs + BatchNorms)", 2000, (n) => {
        const b = stateDictSafetensors(n);
        return () => readModelSync(b);
      }],
      ["torch.save state dict (convs + BatchNorms)", 1000, (n) => {
        const b = stateDictTorch(n);
        return () => readModelSync(b);
      }],
      ["npz state dict (stored)", 600, (n) => {
        const b = stateDictNpz(n);
        return () => readModelSync(b);
      }],
      ["ONNX, one tensor feeding n nodes", 5000, (n) => {
        const b = onnxFanOut(n);
        return () => readModelSync(b);
      }],
      ["TF.js graph, one placeholder feeding n nodes", 8000, (n) => {
        const m = tfjsGraphFanOut(n);
        return () => readModelSync(m as never);
      }],
      ["TF.js layers-model, n convs with scoped weight names", 3000, (n) => {
        const m = kerasScoped(n);
        return () => readModelSync(m as never);
      }],
    ];
    // V8's JSON.parse and Object.entries of a header with 100,000 keys alone scale about ×17 for 10× the keys
    // (dictionary-mode objects): the safetensors bound is 20× or 1.5× what the engine's own parse of the same
    // headers scales by, whichever is larger
    const header = (b: Uint8Array) =>
      new TextDecoder().decode(b.subarray(8, 8 + Number(new DataView(b.buffer).getBigUint64(0, true))));
    const h1 = header(stateDictSafetensors(2000)), h10 = header(stateDictSafetensors(20000));
    const engine = best(() => Object.entries(JSON.parse(h10))) / best(() => Object.entries(JSON.parse(h1)));
    console.log(`  the engine's JSON.parse + Object.entries of those safetensors headers: × ${engine.toFixed(1)}`);
    for (const [what, n, make] of cases) {
      const small = best(make(n));
      const large = best(make(10 * n));
      const ratio = large / small;
      // Linear is ×10 and quadratic ×100: ×40 tells them apart with room for the collector and a loaded machine.
      const bound = what.startsWith("safetensors") ? Math.max(40, 1.5 * engine) : 40;
      console.log(
        `  ${what}: n = ${n}: ${small.toFixed(1)} ms, 10n: ${large.toFixed(1)} ms (× ${ratio.toFixed(1)}, bound ${
          bound.toFixed(1)
        })`,
      );
      assert.ok(ratio <= bound, `${what}: 10× the file took ${ratio.toFixed(1)}× as long`);
    }
  },
  { timeoutMs: 600_000 },
);
