/**
 * The `convsv` CLI: `report`'s table and JSON, `--fold-bn`, the Lipschitz
 * product, input-shape propagation and its errors, the HTML file, progress,
 * `clip`; in-process on models built here, and spawned (`deno run
 * src/cli.ts` under Deno, `bun src/cli.ts` under Bun) on fixture files.
 * @module
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { test } from "./_test.ts";
import { mulberry32 } from "./_random.ts";
import type { ChannelScale, ConvLayer, Model } from "../src/models.ts";
import { operatorNormBoundsSync, operatorNormSync, spectrumSync } from "../mod.ts";
import { type CliIo, run } from "../src/_cli/run.ts";
import { estimateNote, valueNames } from "../src/_cli/report_command.ts";
import { encodeNpy } from "../src/_cli/npy_write.ts";
import { npyHeader } from "../src/_readers/npy.ts";
import { foldScale } from "../src/_cli/fold.ts";
import { parseInput, planCalls, planLayers } from "../src/_cli/layers.ts";
import { clipModel } from "../src/_cli/clip.ts";
import { analyseModel } from "../src/_cli/analyse.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function conv(name: string, shape: number[], extra: Partial<ConvLayer> = {}, seed = 1): ConvLayer {
  const r = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    name,
    kernel: { data: Float32Array.from({ length: n }, () => r() - 0.5), shape },
    layout: "oihw",
    transposed: false,
    stride: [1, 1],
    dilation: [1, 1],
    groups: 1,
    padding: "circular",
    ...extra,
  };
}

const ramp = (n: number, a: number, b: number) => Float64Array.from({ length: n }, (_, i) => a + b * i);

/** A small CNN: circular, zero-padded, strided, BatchNorm and a plain scale; shapes known. */
function smallModel(): Model {
  const bn: ChannelScale = {
    kind: "batchnorm",
    name: "bn1",
    gamma: ramp(6, 0.5, 0.2),
    beta: ramp(6, 0, 0.1),
    mean: ramp(6, -0.1, 0.05),
    variance: ramp(6, 0.3, 0.15),
    epsilon: 1e-3,
  };
  return {
    format: "test",
    layers: [
      conv("stem", [6, 3, 3, 3], { inputShape: [12, 12], scale: bn }, 1),
      conv("body.conv", [6, 6, 3, 3], { inputShape: [12, 12], padding: 1 }, 2),
      conv("down", [8, 6, 3, 3], {
        inputShape: [12, 12],
        stride: [2, 2],
        scale: { kind: "scale", name: "s", gamma: ramp(8, -1.5, 0) },
      }, 3),
    ],
  };
}

interface Captured {
  io: CliIo;
  out: () => string;
  err: () => string;
  files: Map<string, Uint8Array | string>;
}

function capture(model: Model | (() => Promise<Model>), tty = false): Captured {
  let out = "", err = "";
  const files = new Map<string, Uint8Array | string>();
  return {
    io: {
      stdout: (t) => void (out += t),
      stderr: { write: (t) => void (err += t), isTTY: tty, columns: 100 },
      writeFile: (p, d) => Promise.resolve(void files.set(p, d)),
      readTextFile: (p) => {
        const f = files.get(p);
        return f === undefined ? Promise.reject(new Error(`No such file: ${p}`)) : Promise.resolve(String(f));
      },
      loadModel: typeof model === "function" ? model : () => Promise.resolve(model),
    },
    out: () => out,
    err: () => err,
    files,
  };
}

test("report: the table lists every layer with its exact norm or certified interval, and the Lipschitz product", async () => {
  const model = smallModel();
  const c = capture(model);
  const code = await run(["report", "m.onnx", "--threads", "2"], c.io);
  assert.equal(code, 0, c.err());
  const out = c.out();
  const [stem, body, down] = model.layers;
  const nStem = operatorNormSync(stem.kernel, { inputShape: [12, 12] });
  const bBody = operatorNormBoundsSync(body.kernel, { inputShape: [12, 12], padding: 1, maxIterations: 20 }); // the CLI's default steps
  const nDown = operatorNormSync(down.kernel, { inputShape: [12, 12], stride: 2 });
  const line = (name: string) => out.split("\n").find((l) => l.includes(` ${name} `))!;
  assert.match(line("stem"), /6x3x3x3 oihw\s+12x12\s+1x1\s+circular/);
  assert.ok(line("stem").includes(nStem.toPrecision(6)));
  assert.ok(line("body.conv").includes(`[${bBody.lower.toPrecision(6)}, ${bBody.upper.toPrecision(6)}]`));
  assert.ok(line("down").includes(nDown.toPrecision(6)));
  assert.match(out, /Lipschitz bound \(l2\) of the conv part: /);
  assert.match(out, /upper bound for the conv part only/);
  assert.match(out, /ReLU/);
  assert.match(out, /2 BatchNorm\/scale layer\(s\), left out of this product: run with --fold-bn/);
  assert.equal(c.files.get("m.report.html") !== undefined, true, "default HTML path is ./MODEL.report.html");
  // Non-TTY progress: one plain line per layer.
  assert.equal(c.err().split("\n").filter((l) => /^convsv: \[\d\/3\] /.test(l)).length, 3);

  const j = capture(model);
  assert.equal(await run(["report", "m.onnx", "--json", "--no-html", "--quiet"], j.io), 0);
  assert.equal(j.err(), "");
  assert.equal(j.files.size, 0);
  const lines = j.out().trim().split("\n");
  assert.equal(lines.length, 1, "one JSON object on one line");
  const r = JSON.parse(lines[0]);
  assert.deepEqual(r.layers.map((l: { name: string }) => l.name), ["stem", "body.conv", "down"]);
  assert.deepEqual(r.layers[0].kernelShape, [6, 3, 3, 3]);
  assert.equal(r.layers[0].norm, nStem);
  assert.equal(r.layers[0].lower, undefined);
  assert.equal(r.layers[1].norm, undefined);
  assert.equal(r.layers[1].lower, bBody.lower);
  assert.equal(r.layers[1].upper, bBody.upper);
  assert.equal(r.layers[2].norm, nDown);
  assert.equal(r.lipschitz.upper, nStem * bBody.upper * nDown);
  assert.equal(r.lipschitz.complete, true);
  assert.match(r.lipschitz.note, /conv part only/);
  assert.equal(r.foldBn, false);
  // Not folded: the scales as their own factors, a looser bound.
  const bnMax = Math.max(
    ...model.layers[0].scale!.gamma.map((g, o) => Math.abs(g) / Math.sqrt(model.layers[0].scale!.variance![o] + 1e-3)),
  );
  assert.ok(Math.abs(r.lipschitz.withScales / (r.lipschitz.upper * bnMax * 1.5) - 1) < 1e-12);
});

test("report --fold-bn: norms change exactly by the folded factors, and the output says so", async () => {
  // A uniform factor α scales the norm by |α|.
  const alpha = -2.5;
  const base = conv("c", [4, 3, 3, 3], { inputShape: [8, 8] }, 5);
  const uniform: Model = {
    format: "test",
    layers: [
      { ...base, scale: { kind: "scale", name: "s", gamma: new Float64Array(4).fill(alpha) } },
      {
        ...base,
        name: "c0",
        padding: 1,
        scale: {
          kind: "batchnorm",
          name: "b",
          gamma: new Float64Array(4).fill(3),
          variance: new Float64Array(4).fill(4 - 1e-5),
        },
      },
    ],
  };
  const plain = capture(uniform), folded = capture(uniform);
  assert.equal(await run(["report", "u.npz", "--json", "--no-html", "--quiet"], plain.io), 0);
  assert.equal(await run(["report", "u.npz", "--json", "--no-html", "--quiet", "--fold-bn"], folded.io), 0);
  const p = JSON.parse(plain.out()), f = JSON.parse(folded.out());
  assert.equal(f.foldBn, true);
  assert.ok(Math.abs(f.layers[0].norm / p.layers[0].norm - Math.abs(alpha)) < 1e-12 * Math.abs(alpha));
  // BatchNorm: 3/√(4 − 1e−5 + 1e−5) = 1.5, exactly, on the interval's upper end.
  // (a layer this small is computed exactly from its dense operator: `norm`, else `upper`)
  const up = (l: { norm?: number; upper?: number }) => l.norm ?? l.upper!;
  assert.ok(Math.abs(up(f.layers[1]) / up(p.layers[1]) - 1.5) < 1e-12);
  assert.equal(f.lipschitz.upper, f.layers[0].norm * up(f.layers[1]));
  assert.equal(f.layers[0].scale.folded, true);
  const text = capture(uniform);
  await run(["report", "u.npz", "--no-html", "--quiet", "--fold-bn"], text.io);
  assert.match(text.out(), /--fold-bn: 2 BatchNorm\/scale layer\(s\) folded into the preceding conv's kernel/);
  assert.match(text.out(), /BatchNorm\/scale folded in/);

  // Per-channel factors: the norm is that of the kernel folded by hand (o-slices of oihw).
  const model = smallModel();
  const stem = model.layers[0], s = stem.scale!;
  const byHand = Float64Array.from(stem.kernel.data);
  for (let o = 0; o < 6; o++) {
    const k = s.gamma[o] / Math.sqrt(s.variance![o] + s.epsilon!);
    for (let j = 0; j < 27; j++) byHand[o * 27 + j] *= k;
  }
  const c = capture(model);
  assert.equal(await run(["report", "m.onnx", "--json", "--no-html", "--quiet", "--fold-bn"], c.io), 0);
  const r = JSON.parse(c.out());
  assert.equal(r.layers[0].norm, operatorNormSync({ data: byHand, shape: [6, 3, 3, 3] }, { inputShape: [12, 12] }));
  assert.equal(r.lipschitz.withScales, null);
});

test("foldScale: output channels of hwio and grouped transposed kernels", () => {
  const factors = ramp(6, 0.5, 0.25);
  const scale: ChannelScale = { kind: "scale", name: "s", gamma: factors };
  // hwio: the last axis is o.
  const hwio = conv("h", [3, 3, 2, 6], { layout: "hwio", scale }, 7);
  const fh = foldScale(hwio).layer.kernel.data;
  for (let at = 0; at < fh.length; at++) assert.equal(fh[at], hwio.kernel.data[at] * factors[at % 6]);
  // PyTorch ConvTranspose2d(4, 6, 2, groups=2).weight: [c_in 4, c_out/g 3, 2, 2]; output channel g·3 + j.
  const t = conv("t", [4, 3, 2, 2], { transposed: true, groups: 2, scale }, 8);
  const ft = foldScale(t).layer.kernel.data;
  for (let i = 0; i < 4; i++) {
    const g = Math.floor(i / 2);
    for (let j = 0; j < 3; j++) {
      for (let k = 0; k < 4; k++) {
        const at = (i * 3 + j) * 4 + k;
        assert.equal(ft[at], t.kernel.data[at] * factors[g * 3 + j]);
      }
    }
  }
  // Mismatched lengths are named.
  assert.throws(
    () => foldScale(conv("x", [5, 2, 3, 3], { scale })),
    /Cannot fold scale "s" into layer "x": gamma has 6 entries, the layer has 5 output channels/,
  );
  assert.throws(
    () => foldScale(conv("y", [6, 2, 3, 3], { scale: { kind: "batchnorm", name: "b", gamma: factors } })),
    /it has no variance/,
  );
});

test("report: --input is propagated through the convs; without it the error names the layer", async () => {
  const layers = [
    conv("a", [4, 3, 7, 7], { stride: [2, 2], padding: 3 }, 1),
    conv("b", [4, 4, 3, 3], { padding: "same" }, 2),
    conv("c", [8, 4, 3, 3], { stride: [2, 2], padding: "valid" }, 3),
    conv("shortcut", [8, 4, 1, 1], { stride: [2, 2], padding: 0 }, 4), // reads b's output (4 channels)
    conv("up", [8, 2, 2, 2], { transposed: true, stride: [2, 2], padding: 0 }, 5), // ConvTranspose2d(8, 2, 2, 2)
  ];
  const model: Model = { format: "test", layers };
  const missing = capture(model);
  assert.equal(await run(["report", "net.safetensors", "--no-html"], missing.io), 2);
  const msg = missing.err().trim();
  assert.equal(msg.split("\n").length, 1, "one line");
  assert.match(msg, /^convsv: error: Cannot find the input shape of layer "a" \(#1, kernel \[4, 3, 7, 7\] oihw\)/);
  assert.match(msg, /--input/);

  const { planned } = planLayers(layers, "1x3x32x32");
  assert.deepEqual(planned.map((p) => p.inputShape), [[32, 32], [16, 16], [16, 16], [16, 16], [8, 8]]);
  assert.deepEqual(planned.map((p) => p.inputSource), [
    "input",
    "propagated",
    "propagated",
    "propagated",
    "propagated",
  ]);
  assert.deepEqual(planned.map((p) => p.outputShape), [[16, 16], [16, 16], [7, 7], [8, 8], [16, 16]]);
  // NHWC is recognised by its channel count; spatial sizes alone work too.
  assert.deepEqual(parseInput("1x32x24x3", 2, 3, false), { text: "1x32x24x3", spatial: [32, 24], channels: 3 });
  assert.deepEqual(parseInput("1x3x32x24", 2, 3, true), { text: "1x3x32x24", spatial: [32, 24], channels: 3 });
  assert.deepEqual(parseInput("32x24", 2, 3, false), { text: "32x24", spatial: [32, 24] });

  const c = capture(model);
  assert.equal(
    await run(["report", "net.safetensors", "--input", "1x3x32x32", "--json", "--no-html", "--quiet"], c.io),
    0,
  );
  const r = JSON.parse(c.out());
  assert.deepEqual(r.layers.map((l: { inputShape: number[] }) => l.inputShape), [
    [32, 32],
    [16, 16],
    [16, 16],
    [16, 16],
    [8, 8],
  ]);
  assert.equal(r.layers[1].inputShapeSource, "propagated");
  const upB = operatorNormBoundsSync(layers[4].kernel, { inputShape: [8, 8], stride: 2, transposed: true, padding: 0 });
  // kernel = stride without padding: no two windows overlap, so the norm is exact
  assert.equal(upB.exact, true);
  assert.equal(r.layers[4].norm, upB.upper);

  // A shape that is too small says which layer and why.
  const small = capture(model);
  assert.equal(await run(["report", "net.safetensors", "--input", "1x3x2x2", "--no-html", "--quiet"], small.io), 1);
  assert.match(
    small.err(),
    /Cannot use layer "c" \(#3\) on input 1x1 \(propagated from --input\): its output would be empty/,
  );
  const bad = capture(model);
  assert.equal(await run(["report", "net.safetensors", "--input", "1x3xAx2", "--no-html"], bad.io), 2);
  assert.match(bad.err(), /--input must be positive integers joined by "x"/);
});

/** σ_max of a small dense matrix (rows × cols, row-major): power iteration on AᵀA run to convergence. */
function denseNorm(a: Float64Array, rows: number, cols: number): number {
  let x = Float64Array.from({ length: cols }, (_, i) => 1 + Math.sin(i));
  let prev = 0;
  for (let it = 0; it < 20000; it++) {
    const y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) y[r] += a[r * cols + c] * x[c];
    const z = new Float64Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) z[c] += a[r * cols + c] * y[r];
    const n = Math.hypot(...z);
    x = z.map((v) => v / n);
    if (Math.abs(n - prev) <= 1e-15 * n) break;
    prev = n;
  }
  return Math.sqrt(prev);
}

test("report: TensorFlow 'same' with stride 2 (asymmetric zeros) gets a bracket that holds the real layer's norm", async () => {
  // hwio 3×3, 1 → 2 channels, stride 2 on 6×6: output 3×3, pads 0 before and 1 after.
  const layer = conv("tf", [3, 3, 1, 2], { layout: "hwio", stride: [2, 2], padding: "same", inputShape: [6, 6] }, 9);
  const { planned } = planLayers([layer], undefined);
  const plan = planCalls(planned[0]);
  assert.equal(plan.kind, "split");
  // The real layer as a dense matrix: out[o, y, x] = Σ K[a, b, 0, o] · in[2y + a, 2x + b] (zero outside).
  const n = 6, m = 3, k = layer.kernel.data;
  const dense = new Float64Array(2 * m * m * n * n);
  for (let o = 0; o < 2; o++) {
    for (let y = 0; y < m; y++) {
      for (let x = 0; x < m; x++) {
        for (let a = 0; a < 3; a++) {
          for (let b = 0; b < 3; b++) {
            const iy = 2 * y + a, ix = 2 * x + b;
            if (iy < n && ix < n) dense[((o * m + y) * m + x) * n * n + iy * n + ix] += k[(a * 3 + b) * 2 + o];
          }
        }
      }
    }
  }
  const exact = denseNorm(dense, 2 * m * m, n * n);
  const c = capture({ format: "tfjs", layers: [layer] });
  assert.equal(await run(["report", "model.json", "--json", "--no-html", "--quiet"], c.io), 0);
  const r = JSON.parse(c.out()).layers[0];
  assert.ok(r.lower <= exact * (1 + 1e-9) && exact <= r.upper * (1 + 1e-9), `${r.lower} ≤ ${exact} ≤ ${r.upper}`);
  assert.match(r.note, /TensorFlow "same" padding with stride 2x2 pads \[0, 0\] before and \[1, 1\] after/);
});

test("report: a 1x1 kernel without padding is exact, with or without a stride", async () => {
  const layers = [
    conv("pw", [16, 8, 1, 1], { inputShape: [9, 7], padding: "valid", stride: [2, 2] }, 3),
    { ...conv("pwT", [8, 4, 1, 1], { inputShape: [5, 5], padding: 0, stride: [2, 2] }, 4), transposed: true },
  ];
  const c = capture({ format: "test", layers });
  assert.equal(await run(["report", "m.onnx", "--json", "--no-html", "--quiet"], c.io), 0);
  const r = JSON.parse(c.out());
  // The matrix norm, and inside the library's certified interval for the zero-padded layer.
  const b0 = operatorNormBoundsSync(layers[0].kernel, { inputShape: [9, 7], padding: 0, stride: 2 });
  const b1 = operatorNormBoundsSync(layers[1].kernel, { inputShape: [5, 5], padding: 0, stride: 2, transposed: true });
  for (const [l, b] of [[r.layers[0], b0], [r.layers[1], b1]]) {
    assert.equal(l.exact, true);
    assert.ok(b.lower <= l.norm && l.norm <= b.upper, `${b.lower} ≤ ${l.norm} ≤ ${b.upper}`);
    assert.ok(Math.abs(l.norm - b.upper) <= 1e-10 * l.norm);
  }
  assert.equal(r.layers[0].spectrum.count, 5 * 4 * 8, "each of W's 8 values at the 5×4 output positions");
  assert.deepEqual(r.layers[0].spectrum.grid, [9, 7]);
  assert.equal(r.layers[0].spectrum.ofLayer, true);
  assert.equal(r.layers[0].norm, operatorNormSync(layers[0].kernel, { inputShape: [1, 1] }));
});

test("report: HTML report with inline SVG plots, no scripts, nothing fetched", async () => {
  const c = capture(smallModel());
  assert.equal(await run(["report", "dir/m.onnx", "--html", "out.html", "--quiet"], c.io), 0);
  const html = String(c.files.get("out.html"));
  assert.match(html, /^<!doctype html>/);
  assert.equal((html.match(/<article class="layer"/g) ?? []).length, 3);
  assert.ok((html.match(/<svg /g) ?? []).length >= 2 + 3 * 2, "overview plots and two plots per layer");
  assert.match(html, /data:image\/png;base64,/);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  assert.match(html, /Lipschitz bound of the conv part/);
  assert.match(c.out(), /HTML report: out\.html/);
});

test("report: progress bar on a terminal; a failed layer is kept, named, and exits 1", async () => {
  const c = capture(smallModel(), true);
  assert.equal(await run(["report", "m.onnx", "--no-html"], c.io), 0);
  assert.match(c.err(), new RegExp(String.raw`\r\u001b\[K\[#+-*\] \d/3 `));
  assert.ok(c.err().endsWith("\r\x1b[K"), "the bar is cleared at the end");

  const broken: Model = {
    format: "test",
    layers: [
      conv("fine", [2, 2, 3, 3], { inputShape: [6, 6] }, 1),
      conv("bad", [2, 2, 3, 3], { inputShape: [6, 6], stride: [4, 4] }, 2), // 4 does not divide 6
    ],
  };
  const b = capture(broken);
  assert.equal(await run(["report", "m.onnx", "--json", "--no-html", "--quiet"], b.io), 1);
  const r = JSON.parse(b.out());
  assert.match(r.layers[1].error, /stride/);
  assert.equal(r.lipschitz.complete, false);
  assert.match(b.err(), /^convsv: error: layer "bad": Cannot compute singular values/m);
});

test("report: --attributes reaches the reader, unknown names are reported; long runs are announced", async () => {
  const model = smallModel();
  const seen: unknown[] = [];
  const c = capture(model);
  c.io.loadModel = (_path, options) => {
    seen.push(options);
    return Promise.resolve(model);
  };
  c.files.set("a.json", JSON.stringify({ stem: { padding: 1 }, nope: { stride: 2 } }));
  assert.equal(await run(["report", "m.onnx", "--attributes", "a.json", "--no-html", "--quiet"], c.io), 0, c.err());
  assert.deepEqual(seen[seen.length - 1], { layers: { stem: { padding: 1 } } });
  assert.match(c.out(), /warning: --attributes names 1 layer\(s\) the model does not have, ignored: "nope"/);
  c.files.set("b.json", "[1, 2]");
  assert.equal(await run(["report", "m.onnx", "--attributes", "b.json"], c.io), 1);
  assert.match(c.err(), /Cannot read --attributes b\.json: expected a JSON object mapping layer names/);

  const big = planLayers([conv("wide", [512, 512, 3, 3], { inputShape: [64, 64] })], undefined).planned;
  assert.match(
    estimateNote(big, 2, 20) ?? "",
    /^this may take about \d+ minutes; the largest layer is "wide" \(512 -> 512 channels on 64x64\)/,
  );
  assert.equal(estimateNote(planLayers(smallModel().layers, undefined).planned, 2, 20), undefined);
});

test("CLI usage errors exit 2 with one line", async () => {
  const m = smallModel();
  const cases: [string[], RegExp][] = [
    [["report", "m.onnx", "--nope"], /Unknown option '--nope'/],
    [["frobnicate", "m.onnx"], /Unknown command "frobnicate"/],
    [["report"], /report needs a MODEL file/],
    [["report", "m.onnx", "--threads", "0"], /--threads must be a positive integer: current value is 0/],
    [["report", "m.onnx", "--max-norm", "1"], /--max-norm is not an option of report/],
    [["clip", "m.onnx", "-o", "x.safetensors"], /clip needs --max-norm/],
    [["clip", "m.onnx", "--max-norm", "1"], /clip needs -o OUT\.safetensors, --model-out PATH, or both/],
    [
      ["clip", "m.onnx", "--max-norm", "1", "-o", "x.safetensors", "--certify", "--no-certify"],
      /--certify and --no-certify exclude each other/,
    ],
    [["clip", "m.onnx", "--max-norm", "1", "-o", "x.npz"], /-o must end in \.safetensors/],
  ];
  for (const [args, re] of cases) {
    const c = capture(m);
    assert.equal(await run(args, c.io), 2, args.join(" "));
    assert.match(c.err(), re);
    assert.equal(c.err().trim().split("\n").length, 1);
  }
  const h = capture(m);
  assert.equal(await run(["help"], h.io), 0);
  assert.match(h.out(), /convsv report MODEL/);
  const unreadable = capture(() => Promise.reject(new Error("Cannot read model: truncated\n  at somewhere")));
  assert.equal(await run(["report", "m.onnx"], unreadable.io), 1);
  assert.equal(unreadable.err(), "convsv: error: Cannot read m.onnx: Cannot read model: truncated at somewhere\n");
});

test("clip: writes the clipped kernels as safetensors; norms drop to the bound", async () => {
  const model: Model = {
    format: "test",
    layers: [
      conv("circ", [4, 4, 3, 3], { inputShape: [8, 8] }, 1),
      conv("padded", [4, 4, 3, 3], { inputShape: [8, 8], padding: 1 }, 2),
      conv("strided", [4, 4, 3, 3], { inputShape: [8, 8], stride: [2, 2] }, 3),
    ],
  };
  const c = capture(model);
  const code = await run([
    "clip",
    "m.onnx",
    "--max-norm",
    "1",
    "-o",
    "out.safetensors",
    "--iterations",
    "300",
    "--tolerance",
    "1e-3",
    "--quiet",
  ], c.io);
  assert.equal(code, 0, c.err());
  const bytes = c.files.get("out.safetensors") as Uint8Array;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  assert.equal(len % 8, 0);
  assert.deepEqual(Object.keys(header).filter((k) => k !== "__metadata__"), ["circ", "padded", "strided"]);
  assert.equal(header.__metadata__["layout.circ"], "oihw");
  const tensor = (name: string) => {
    const [a, b] = header[name].data_offsets;
    return new Float32Array(bytes.slice(8 + len + a, 8 + len + b).buffer);
  };
  const circ = tensor("circ");
  assert.ok(operatorNormSync({ data: circ, shape: [4, 4, 3, 3] }, { inputShape: [8, 8] }) <= 1.001 * (1 + 1e-9));
  const padded = operatorNormBoundsSync({ data: tensor("padded"), shape: [4, 4, 3, 3] }, {
    inputShape: [8, 8],
    padding: 1,
  });
  assert.ok(padded.upper <= 1.001 * (1 + 1e-9), `zero-padded upper bound ${padded.upper}`);
  const strided = operatorNormSync({ data: tensor("strided"), shape: [4, 4, 3, 3] }, { inputShape: [8, 8], stride: 2 });
  assert.ok(strided <= 1 * (1 + 1e-12), `strided layer clipped too: ${strided}`);
  assert.match(c.out(), /^2 {2}padded .*<= [\d.]+ +<= [\d.]+ +\d+ +yes/m);
  assert.match(c.out(), /<=: zero padding: the norms are certified upper bounds/);
  assert.match(
    c.out(),
    /Wrote out\.safetensors: 3 kernels \(3 clipped, 0 already within 1, 0 not clipped\) in safetensors/,
  );
});

test("clip: a layer that cannot be clipped is named in the table, the JSON and on stderr, written as read, and exits 1", async () => {
  const model: Model = {
    format: "test",
    layers: [
      conv("ok", [4, 4, 3, 3], { inputShape: [8, 8] }, 1),
      // a BatchNorm of 3 channels after a conv of 4: nothing to fold, so not clipped with --fold-bn
      conv("big", [4, 4, 3, 3], { inputShape: [8, 8], scale: { kind: "scale", name: "s", gamma: ramp(3, 1, 0) } }, 2),
    ],
  };
  const c = capture(model);
  assert.equal(
    await run(["clip", "m.onnx", "--max-norm", "1", "-o", "out.safetensors", "--fold-bn", "--quiet"], c.io),
    1,
  );
  assert.match(c.out(), /^2 {2}big .* not clipped /m);
  assert.match(
    c.out(),
    /^big: NOT CLIPPED, written as read: Cannot fold scale "s" into layer "big": gamma has 3 entries/m,
  );
  assert.match(c.err(), /^convsv: error: layer "big" not clipped: /m);
  assert.match(c.out(), /2 kernels \(1 clipped, 0 already within 1, 1 not clipped\)/);
  const j = capture(model);
  assert.equal(
    await run(
      ["clip", "m.onnx", "--max-norm", "1", "-o", "out.safetensors", "--json", "--no-certify", "--fold-bn"],
      j.io,
    ),
    1,
  );
  const json = JSON.parse(j.out());
  assert.equal(json.complete, false);
  assert.equal(json.certify, false);
  assert.deepEqual(json.layers.map((l: { clipped: boolean }) => l.clipped), [true, false]);
  assert.equal(json.layers[0].certified, false);
  assert.match(json.layers[1].error, /Cannot fold scale "s"/);
  const bytes = j.files.get("out.safetensors") as Uint8Array;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.match(header.__metadata__["notClipped.big"], /Cannot fold scale/);
  const [a, b] = header.big.data_offsets;
  assert.deepEqual(
    new Float32Array(bytes.slice(8 + n + a, 8 + n + b).buffer),
    model.layers[1].kernel.data,
    "written as read",
  );
  assert.equal(j.err().split("\n").filter((l) => l.startsWith("convsv: error:")).length, 1);
});

/** How to run the CLI in a child process under the current runtime. */
function cliCommand(): string[] {
  const cli = join(root, "src", "cli.ts");
  return typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
    ? [process.execPath, cli]
    : [Deno.execPath(), "run", "-A", "--quiet", cli];
}

function spawnCli(args: string[], cwd: string) {
  const [cmd, ...pre] = cliCommand();
  const res = spawnSync(cmd, [...pre, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", RUST_BACKTRACE: "0" },
  });
  return { code: res.status, out: res.stdout, err: res.stderr };
}

test("CLI spawned: report on fixture files (ONNX, safetensors with --attributes), and a missing file is one line, exit 1", () => {
  const dir = mkdtempSync(join(tmpdir(), "convsv-cli-"));
  try {
    const missing = spawnCli(["report", join(dir, "nope.onnx")], dir);
    assert.equal(missing.code, 1, missing.err);
    assert.equal(missing.err.trim().split("\n").length, 1, missing.err);
    assert.match(missing.err, /^convsv: error: .*nope\.onnx/);
    assert.doesNotMatch(missing.err, /\bat .*\.ts:\d+/);

    const fixture = join(root, "tests", "fixtures", "torch_net_bn.onnx");
    const r = spawnCli(["report", fixture, "--json", "--fold-bn", "--html", join(dir, "r.html")], dir);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.ok(j.layers.length >= 4);
    for (const l of j.layers) {
      assert.equal(typeof l.name, "string");
      assert.ok(Array.isArray(l.kernelShape));
      assert.ok(typeof l.norm === "number" || (l.lower <= l.upper), JSON.stringify(l));
    }
    assert.ok(j.lipschitz.upper > 0);
    assert.match(readFileSync(join(dir, "r.html"), "utf8"), /<svg /);

    // A graph with a symbolic input size: --input goes to the reader, which
    // propagates it through the graph (pooling included): the fixed export's shapes.
    const dyn = spawnCli(
      [
        "report",
        join(root, "tests", "fixtures", "torch_net_dynamic.onnx"),
        "--input",
        "1x3x16x12",
        "--json",
        "--no-html",
      ],
      dir,
    );
    assert.equal(dyn.code, 0, dyn.err);
    const fixed = spawnCli(["report", join(root, "tests", "fixtures", "torch_net.onnx"), "--json", "--no-html"], dir);
    const shapes = (o: { layers: { inputShape: number[] }[] }) => o.layers.map((l) => l.inputShape);
    assert.deepEqual(shapes(JSON.parse(dyn.out)), shapes(JSON.parse(fixed.out)));
    assert.deepEqual(
      JSON.parse(dyn.out).layers.map((l: { inputShapeSource: string }) => l.inputShapeSource),
      Array(5).fill("model"),
    );

    // Weights only: the defaults are said; --attributes gives strides, padding, groups.
    const st = join(root, "tests", "fixtures", "torch_net.safetensors");
    const plain = spawnCli(["report", st, "--input", "1x3x16x12", "--no-html", "--quiet"], dir);
    assert.equal(plain.code, 0, plain.err);
    assert.match(plain.out, /stores weights only \(safetensors\): strides, padding and input shapes are unknown/);
    writeFileSync(
      join(dir, "attrs.json"),
      JSON.stringify({
        conv1: { padding: 1 },
        conv2: { stride: 2, padding: 1, groups: 2 },
        up: { transposed: true, stride: 2, padding: 0 },
      }),
    );
    const attr = spawnCli(
      ["report", st, "--input", "1x3x16x12", "--attributes", "attrs.json", "--json", "--no-html"],
      dir,
    );
    assert.equal(attr.code, 0, attr.err);
    const a = JSON.parse(attr.out);
    const conv2 = a.layers.find((l: { name: string }) => l.name === "conv2");
    assert.deepEqual([conv2.stride, conv2.groups, conv2.padding, conv2.inputShape], [[2, 2], 2, 1, [16, 12]]);
    assert.equal(a.layers.find((l: { name: string }) => l.name === "up").transposed, true);
    assert.doesNotMatch(a.warnings.join(" "), /weights only/);
    const badAttr = spawnCli(["report", st, "--attributes", "nope.json"], dir);
    assert.equal(badAttr.code, 1);
    assert.match(badAttr.err, /^convsv: error: Cannot read --attributes nope\.json: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Whether `python3 -c "import numpy"` works here; the reason when it does not. */
function numpyMissing(): string | false {
  const r = spawnSync("python3", ["-c", "import numpy"], { encoding: "utf8" });
  return r.status === 0 ? false : `python3 with numpy is not available (${r.error?.message ?? r.stderr.trim()})`;
}

/** `report --json --with-values --values v.npz` on the small model with a second "down" (a 1x1 kernel); the expected spectra. */
async function valuesRun() {
  const model = smallModel();
  model.layers.push(conv("down", [4, 8, 1, 1], { inputShape: [6, 6], padding: "valid" }, 4)); // a second "down": 1x1
  const c = capture(model);
  c.files.set("a.json", JSON.stringify({ stem: { inputShape: [12, 12] } }));
  const code = await run(
    ["report", "m.onnx", "--json", "--with-values", "--values", "v.npz", "--attributes", "a.json", "--quiet"],
    c.io,
  );
  assert.equal(code, 0, c.err());
  const j = JSON.parse(c.out());
  // Each layer's values are spectrum() of the layer (exact) or of the circular layer on spectrum.grid (intervals).
  const [stem, body, down, point] = model.layers;
  const expected = [
    spectrumSync(stem.kernel, { inputShape: [12, 12] }),
    spectrumSync(body.kernel, { inputShape: j.layers[1].spectrum.grid }),
    spectrumSync(down.kernel, { inputShape: [12, 12], stride: 2 }),
    spectrumSync(point.kernel, { inputShape: [1, 1] }),
  ];
  return { model, c, j, expected, npz: c.files.get("v.npz") as Uint8Array };
}

test("report --values writes one npz (an array per layer, named after it) and --json --with-values the same values: the library's spectrum()", async () => {
  const { model, c, j, expected, npz } = await valuesRun();
  assert.equal(j.values, "v.npz");
  assert.deepEqual(j.layers.map((l: { spectrum: { member: string } }) => l.spectrum.member), [
    "stem",
    "body.conv",
    "down",
    "down#4",
  ]);
  assert.deepEqual(valueNames(["a", "a", "a#2"]), ["a", "a#2", "a#2#3"]);
  assert.deepEqual(j.layers.map((l: { inputShapeSource: string }) => l.inputShapeSource), [
    "attributes",
    "model",
    "model",
    "model",
  ]);
  assert.match(
    String(c.files.get("m.report.html")),
    /input shapes from the file \(3 of 4\) · input shapes from --attributes \(1 of 4\)/,
  );
  assert.equal(j.layers[1].spectrum.ofLayer, false);
  assert.deepEqual(j.layers[3].spectrum.shape, [1, 1, 4]);
  assert.equal(j.layers[3].spectrum.multiplicity, 36);
  for (const [k, e] of expected.entries()) {
    assert.deepEqual(j.layers[k].spectrum.shape, e.shape, j.layers[k].name);
    assert.deepEqual(j.layers[k].spectrum.values, Array.from(e.values), j.layers[k].name);
  }
  // The npz: members stored, each an npy of <f8 with the spectrum's shape; the readers' own npy parser agrees.
  const one = encodeNpy(expected[0].values, expected[0].shape);
  const head = npyHeader(one, { label: "stem.npy" }, "the array");
  assert.deepEqual([head.descr, head.fortran, head.shape, head.offset % 64], ["<f8", false, expected[0].shape, 0]);
  assert.ok(npz.length > expected.reduce((a, e) => a + 8 * e.values.length, 0));

  const usage = capture(model);
  assert.equal(await run(["report", "m.onnx", "--with-values", "--no-html"], usage.io), 2);
  assert.match(usage.err(), /--with-values adds the values to --json's output: give --json/);
  assert.equal(await run(["report", "m.onnx", "--values", "v.npy", "--no-html"], usage.io), 2);
  assert.match(usage.err(), /--values writes one \.npz .*: current value is v\.npy/);
  const plain = capture(model);
  assert.equal(await run(["report", "m.onnx", "--json", "--no-html", "--quiet"], plain.io), 0);
  assert.equal(JSON.parse(plain.out()).layers[0].spectrum.values, undefined, "values only on request");
});

const noNumpy = numpyMissing();

test("report --values: numpy reads the npz: names, dtype, shapes and values", async () => {
  const { expected, npz } = await valuesRun();
  const dir = mkdtempSync(join(tmpdir(), "convsv-values-"));
  try {
    writeFileSync(join(dir, "v.npz"), npz);
    writeFileSync(join(dir, "expected.json"), JSON.stringify(expected.map((e) => Array.from(e.values))));
    const py = [
      "import json, sys, numpy as np",
      "z = np.load(sys.argv[1]); e = json.load(open(sys.argv[2]))",
      "names = ['stem', 'body.conv', 'down', 'down#4']",
      "assert list(z.keys()) == names, list(z.keys())",
      "for n, v in zip(names, e):",
      "    a = z[n]; assert a.dtype == np.float64, a.dtype",
      "    assert np.array_equal(a.ravel(), np.array(v)), n",
      "print(json.dumps([list(z[n].shape) for n in names]))",
    ].join("\n");
    const r = spawnSync("python3", ["-c", py, join(dir, "v.npz"), join(dir, "expected.json")], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), expected.map((e) => e.shape));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { ignore: noNumpy });

test("clip --json gives per-layer norms and totals; --html shows each layer's spectrum before and after, and the norm bars against the radius", async () => {
  const bn: ChannelScale = { kind: "scale", name: "s", gamma: ramp(4, 0.5, 0.5) };
  const model: Model = {
    format: "test",
    layers: [
      conv("circ", [4, 4, 3, 3], { inputShape: [8, 8], scale: bn }, 1),
      conv("features.block3/very_long_layer_name_cut", [4, 4, 3, 3], { inputShape: [8, 8], padding: 1 }, 2),
      conv("point", [6, 4, 1, 1], { inputShape: [8, 8], padding: "valid" }, 3),
    ],
  };
  const c = capture(model);
  const args = ["clip", "m.onnx", "--max-norm", "0.8", "-o", "o.safetensors", "--json", "--html", "c.html"];
  assert.equal(await run([...args, "--fold-bn", "--certify"], c.io), 0, c.err());
  const j = JSON.parse(c.out());
  assert.equal(j.foldBn, true);
  assert.deepEqual(j.layers[0].scale, { name: "s", kind: "scale", folded: true });
  for (const l of j.layers) {
    for (const k of ["name", "normBefore", "normAfter", "certified", "exact", "grid", "iterations"]) {
      assert.ok(k in l, `${l.name}: ${k}`);
    }
    assert.ok(l.normAfter <= 0.8 * (1 + 1e-12));
  }
  assert.deepEqual(j.layers.map((l: { exact: boolean }) => l.exact), [true, false, true]);
  const t = j.totals;
  assert.deepEqual([t.layers, t.clipped, t.failed, t.certified, t.aboveMaxNorm, t.exact], [3, 3, 0, 3, 0, false]);
  assert.equal(t.maxNormBefore, Math.max(...j.layers.map((l: { normBefore: number }) => l.normBefore)));
  assert.ok(
    Math.abs(t.productAfter / j.layers.reduce((a: number, l: { normAfter: number }) => a * l.normAfter, 1) - 1) < 1e-12,
  );
  assert.equal(j.outputs.html, "c.html");

  const page = String(c.files.get("c.html"));
  assert.doesNotMatch(page, /<script/i);
  assert.match(page, /Content-Security-Policy" content="default-src 'none'/);
  assert.match(page, /BatchNorm\/scale folded in \(--fold-bn\): norms of conv∘BN/);
  assert.equal((page.match(/<article class="layer clip"/g) ?? []).length, 3);
  assert.match(page, /<title>radius 0\.8 \(--max-norm\)<\/title>/);
  assert.match(page, /<title>#2 features\.block3\/very_long_layer_name_cut: norm before ≤ [\d.]+<\/title>/);
  assert.match(page, />…\/very_long_layer_name_cut</, "the name cut at a slash");
  assert.match(page, /features\.block3\/<wbr>very_long_layer_name_cut/, "names break after a slash only");
  assert.equal((page.match(/: before<\/title><\/polyline>/g) ?? []).length, 3);
  assert.equal((page.match(/: after<\/title><\/polyline>/g) ?? []).length, 3);
  // The spectra plotted are those whose norms are reported: their largest values are normBefore and normAfter.
  const c2 = capture(model);
  const { clipModel } = await import("../src/_cli/clip.ts");
  const layers = await clipModel(model, { maxNorm: 0.8, certify: true, foldBn: true, spectra: true, threads: 1 });
  for (const l of layers) {
    assert.ok(Math.abs(l.spectra!.before.values[0] / l.normBefore! - 1) < 1e-9, `${l.name} before`);
    assert.ok(Math.abs(l.spectra!.after.values[0] / l.normAfter! - 1) < 1e-9, `${l.name} after`);
  }
  assert.equal(await run(["clip", "m.onnx", "--max-norm", "0.8", "-o", "o.safetensors", "--quiet"], c2.io), 0);
  assert.doesNotMatch(c2.out(), /HTML/);
  assert.equal(c2.files.get("c.html"), undefined);
});

test("clip --fold-bn: a transposed TensorFlow 'same' layer with a stride keeps its kernel with a clear reason (its BatchNorm scales the forward convolution's inputs); without --fold-bn it is clipped", async () => {
  const r = mulberry32(91);
  const data = Float32Array.from({ length: 3 * 3 * 4 * 4 }, () => r() - 0.5);
  const layer: ConvLayer = {
    name: "up",
    kernel: { data, shape: [3, 3, 4, 4] },
    layout: "hwio",
    transposed: true,
    stride: [2, 2],
    dilation: [1, 1],
    groups: 1,
    padding: "same",
    inputShape: [5, 5],
    scale: {
      kind: "batchnorm",
      name: "bn",
      gamma: Float64Array.of(2, 1, 0.5, 3),
      variance: Float64Array.of(1, 1, 1, 1),
      epsilon: 0,
    },
  };
  const model: Model = { format: "tfjs", layers: [layer] } as Model;
  const [folded] = await clipModel(model, { maxNorm: 0.1, foldBn: true });
  assert.match(folded.error ?? "", /--fold-bn is not supported for a transposed layer with TensorFlow "same" padding/);
  assert.equal(folded.kernel, layer.kernel);
  const [plain] = await clipModel(model, { maxNorm: 0.1 });
  assert.equal(plain.error, undefined);
  assert.ok(plain.normAfter! <= 0.1 * (1 + 1e-9) || plain.certified === false, JSON.stringify(plain.normAfter));
  assert.notDeepEqual(plain.kernel.data, data);
});

test("report: without plots (--no-html, no --json or --values) each layer's numbers are the same bits, with no spectrum", async () => {
  const model = smallModel();
  model.layers.push(
    conv("pointwise", [5, 6, 1, 1], { inputShape: [12, 12], padding: 0 }, 4),
    conv("tf.down", [4, 5, 3, 3], { inputShape: [12, 12], stride: [2, 2], padding: "same" }, 5),
  );
  const kinds = planLayers(model.layers, undefined).planned.map((p) => planCalls(p).kind);
  assert.deepEqual(kinds, ["exact", "interval", "exact", "pointwise", "split"]);
  const full = await analyseModel(model, { threads: 2 });
  const bare = await analyseModel(model, { threads: 2, spectra: false });
  for (let j = 0; j < kinds.length; j++) {
    const a = full.layers[j], b = bare.layers[j];
    for (const key of ["exact", "norm", "lower", "upper", "iterations", "converged", "note", "grid"] as const) {
      assert.deepEqual(b[key], a[key], `${a.name} (${kinds[j]}): ${key}`);
    }
    assert.ok(a.sorted.count > 0 && a.spectrumShape.length > 0, a.name);
    assert.deepEqual([b.sorted.count, b.spectrumShape.length, b.heat.values.length], [0, 0, 0], b.name);
  }
  assert.deepEqual(bare.lipschitz, full.lipschitz);
  // The CLI's table alone takes that path; with the HTML report, the plots are there.
  const table = capture(model), html = capture(model);
  assert.equal(await run(["report", "m.onnx", "--no-html", "--quiet"], table.io), 0, table.err());
  assert.equal(await run(["report", "m.onnx", "--html", "r.html", "--quiet"], html.io), 0, html.err());
  const rows = (out: string) =>
    out.split("\n").filter((l) => model.layers.some((m) => l.includes(` ${m.name} `))).map((l) =>
      l.replace(/\s+[\d.]+ m?s$/, "") // the time column
    );
  assert.deepEqual(rows(table.out()), rows(html.out()));
  assert.equal(table.files.size, 0);
  assert.match(String(html.files.get("r.html")), /<svg/);
});
