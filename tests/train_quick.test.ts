/**
 * The training experiment (bench/train/): the convsv clip server's line
 * protocol, spawned as the trainer spawns it, and `train.ts --quick` end to
 * end when Debian's /usr/bin/python3 has torch and Fashion-MNIST is
 * installed (ignored with the reason otherwise).
 * @module
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { Buffer } from "node:buffer";
import { test } from "./_test.ts";
import { mulberry32 } from "./_random.ts";
import { operatorNormSync } from "../mod.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const deno = join(root, "node_modules", ".bin", "deno");
const env = { ...process.env, RUST_BACKTRACE: "0", NO_COLOR: "1" };
const python = "/usr/bin/python3";
const dataDir = "/usr/share/datasets/fashion-mnist";

/** Base64 bytes as a fresh buffer (Node's Buffer may be a view into a shared pool). */
function bytes(b64: string): ArrayBuffer {
  const b = Buffer.from(b64, "base64");
  const out = new ArrayBuffer(b.length);
  new Uint8Array(out).set(b);
  return out;
}

function whyNot(): string | false {
  const torch = existsSync(python) && spawnSync(python, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
  if (!torch) return `${python} has no torch (apt-get install -y python3-torch)`;
  const files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"];
  if (!files.every((f) => existsSync(join(dataDir, f)))) {
    return `no Fashion-MNIST in ${dataDir} (apt-get install -y dataset-fashion-mnist)`;
  }
  return false;
}

test("clip server: one JSON line per request, certified kernels, norms that match convsv's", () => {
  const r = mulberry32(16);
  const shape = [8, 4, 3, 3];
  const data = Float32Array.from({ length: 8 * 4 * 9 }, () => 2 * r() - 1);
  const b64 = Buffer.from(data.buffer).toString("base64");
  const layer = { shape, inputShape: [12, 12], stride: [2, 2], padding: [1, 1], groups: 1 };
  const lines = [
    { id: 1, op: "clip", kernel: b64, dtype: "float32", ...layer, maxNorm: 0.75, iterations: 5, tolerance: 0.01 },
    { id: 2, op: "norm", kernel: b64, dtype: "float32", ...layer },
    { id: 3, op: "clip", kernel: b64, dtype: "float32", ...layer, maxNorm: -1 },
    {
      id: 4,
      kernel: Buffer.from(Float64Array.from(data).buffer).toString("base64"),
      dtype: "float64",
      ...layer,
      maxNorm: 0.75,
      scale: [1, 2, 3, 4, 0.5, 0.25, -1, 1],
      iterations: 3,
    },
  ].map((x) => JSON.stringify(x)).join("\n") + "\nnot json\n";
  const out = spawnSync(deno, ["run", "-A", "bench/train/clip_server.ts"], {
    cwd: root,
    env,
    input: lines,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(out.status, 0, out.stderr);
  const replies = out.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(replies.length, 5);
  assert.deepEqual(replies.map((x) => x.id), [1, 2, 3, 4, null]);

  const [clip, norm, bad, folded, garbage] = replies;
  assert.equal(clip.ok, true);
  assert.equal(clip.certified, true);
  assert.ok(clip.normAfter <= 0.75, `normAfter ${clip.normAfter}`);
  assert.ok(clip.normBefore > 0.75);
  assert.equal(clip.exact, false);
  const kernel = new Float32Array(bytes(clip.kernel));
  assert.equal(kernel.length, data.length);
  // The reply's norm is the circular layer's on the reply's grid, recomputed here from the returned bytes.
  const onGrid = operatorNormSync({ data: kernel, shape }, { inputShape: clip.grid, stride: 2 });
  assert.ok(Math.abs(onGrid - clip.normAfter) <= 1e-12 * clip.normAfter, `${onGrid} vs ${clip.normAfter}`);
  assert.ok(onGrid <= 0.75);
  const before = operatorNormSync({ data, shape }, { inputShape: clip.grid, stride: 2 });
  assert.ok(Math.abs(before - clip.normBefore) <= 1e-12 * before);

  assert.equal(norm.ok, true);
  assert.equal(norm.norm, clip.normBefore);
  assert.deepEqual(norm.grid, clip.grid);

  assert.equal(bad.ok, false);
  assert.match(bad.error, /maxNorm/);

  assert.equal(folded.ok, true);
  assert.equal(folded.dtype, "float64");
  assert.equal(folded.certified, true);
  assert.ok(folded.normAfter <= 0.75);
  const k64 = new Float64Array(bytes(folded.kernel));
  const scale = [1, 2, 3, 4, 0.5, 0.25, -1, 1];
  const composite = Float64Array.from(k64, (v, i) => v * scale[Math.floor(i / 36)]);
  const compNorm = operatorNormSync({ data: composite, shape }, { inputShape: folded.grid, stride: 2 });
  assert.ok(compNorm <= 0.75 * (1 + 1e-12), `conv∘BN norm ${compNorm}`);

  assert.equal(garbage.ok, false);
});

const skip = whyNot();

test("train.ts --quick: certified projections, a falling loss, the files and fields it promises", () => {
  const dir = mkdtempSync(join(tmpdir(), "convsv-train-test-"));
  try {
    const out = spawnSync(deno, ["run", "-A", "bench/train/train.ts", "--quick", "--out-dir", dir], {
      cwd: root,
      env,
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(out.status, 0, out.stderr + out.stdout);
    const res = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"));
    for (const key of ["command", "date", "loadStart", "loadEnd", "machine", "versions", "config", "records"]) {
      assert.ok(key in res, `results.json lacks ${key}`);
    }
    assert.equal(res.quick, true);
    // deno-lint-ignore no-explicit-any
    const records = res.records as Record<string, any>[];
    assert.deepEqual(records.map((x) => x.radius).sort(), [1, null].sort());
    for (const rec of records) {
      for (const key of ["test_error", "epoch_loss", "loss_curve", "train_s", "proj_s", "projections", "final_norms"]) {
        assert.ok(key in rec, `a record lacks ${key}`);
      }
      assert.ok(rec.test_error >= 0 && rec.test_error <= 1);
      assert.ok(rec.test_error < 0.9, `test error ${rec.test_error}: no better than chance`);
      assert.equal(rec.steps, 20);
      assert.ok(
        rec.epoch_loss.at(-1) < rec.epoch_loss[0],
        `loss did not decrease: ${rec.epoch_loss.join(", ")}`,
      );
      assert.equal(rec.projections.length, 4);
      assert.equal(rec.layers.length, 9);
      for (const p of rec.projections) {
        assert.equal(p.layers.length, 9);
        for (const l of p.layers) assert.ok(l.normBefore > 0);
      }
    }
    const clipped = records.find((x) => x.radius === 1)!;
    assert.ok(clipped.proj_s > 0);
    for (const p of clipped.projections) {
      for (const l of p.layers) {
        assert.equal(l.certified, true);
        assert.ok(l.normAfter <= 1, `normAfter ${l.normAfter} at step ${p.step}`);
      }
    }
    // The first projection met the layers as initialised: the stem (1 input channel) starts above 1.
    assert.ok(clipped.projections[0].layers.some((l: { normBefore: number }) => l.normBefore > 1));
    for (const n of clipped.final_norms) assert.ok(n <= 1);

    const svg = readFileSync(join(dir, "norms.svg"), "utf8");
    assert.match(svg, /^<svg /);
    assert.match(svg, /radius 1, seed 0/);
    assert.match(svg, /<path d="M/);
    const md = readFileSync(join(dir, "summary.md"), "utf8");
    assert.match(md, /^## Training with the projection/);
    assert.match(md, /\| none \| 1 \|/);
    assert.match(md, /\| 1 \| 1 \|.*36 \/ 36/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { timeoutMs: 130_000, ignore: skip });
