/**
 * The HTML report in a real browser: headless Chromium loads a report made
 * by `convsv report`, with console logging on stderr, and must log nothing
 * (no script errors, no blocked loads: the page's Content-Security-Policy
 * allows no network, so any fetch would be logged) while its DOM holds the
 * plots; the same for the page of `convsv clip --html`. Reported as ignored, with the reason, where no Chromium is on PATH
 * (Debian: `apt-get install -y chromium`).
 * @module
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { test } from "./_test.ts";
import type { ConvLayer, Model } from "../src/models.ts";
import { run } from "../src/_cli/run.ts";

function findChromium(): string | undefined {
  const names = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const n of names) {
      const p = join(dir, n);
      if (dir && existsSync(p)) return p;
    }
  }
  return undefined;
}

/** The browser, looked for once when this file loads. */
const browser = findChromium();

/** Runs headless Chromium on a file; returns its stdout (with --dump-dom) and the console lines it logged. */
function chromium(bin: string, file: string, extra: string[]): { code: number | null; dom: string; console: string[] } {
  const profile = mkdtempSync(join(tmpdir(), "convsv-chromium-"));
  try {
    const res = spawnSync(bin, [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      `--user-data-dir=${profile}`,
      "--enable-logging=stderr",
      "--v=0",
      ...extra,
      `file://${file}`,
    ], { encoding: "utf8", timeout: 60_000, maxBuffer: 64 * 2 ** 20 });
    const lines = (res.stderr ?? "").split("\n");
    return {
      code: res.status,
      dom: res.stdout ?? "",
      console: lines.filter((l) => /:CONSOLE[:(]|Uncaught/.test(l)),
    };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

function conv(name: string, shape: number[], extra: Partial<ConvLayer>, seed: number): ConvLayer {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 0.37) * Math.cos(i * 0.013 * seed));
  return {
    name,
    kernel: { data, shape },
    layout: "hwio",
    transposed: false,
    stride: [1, 1],
    dilation: [1, 1],
    groups: 1,
    padding: "same",
    ...extra,
  };
}

test("report and clip pages open in headless Chromium with no console messages, and show their plots", async () => {
  const bin = browser!;
  const dir = mkdtempSync(join(tmpdir(), "convsv-report-"));
  try {
    const model: Model = {
      format: "test",
      layers: [
        conv("stem <b>&amp;</b>", [3, 3, 3, 8], {
          stride: [2, 2],
          padding: "valid",
          scale: { kind: "scale", name: "s", gamma: new Float64Array(8).fill(2) },
        }, 1),
        conv("block/conv1", [3, 3, 8, 8], {}, 2),
        conv("block/pointwise", [1, 1, 8, 16], { padding: "valid" }, 3),
        conv("circular", [3, 3, 16, 16], { padding: "circular" }, 4),
        conv("dw", [3, 3, 1, 16], { groups: 16 }, 5),
      ],
    };
    const html = join(dir, "report.html");
    let err = "";
    const code = await run(["report", "model.json", "--input", "1x24x24x3", "--fold-bn", "--html", html, "--quiet"], {
      stdout: () => {},
      stderr: { write: (t) => void (err += t), isTTY: false },
      writeFile: (p, d) => writeFile(p, d),
      readTextFile: (p) => readFile(p, "utf8"),
      loadModel: () => Promise.resolve(model),
    });
    assert.equal(code, 0, err);
    const page = readFileSync(html, "utf8");
    assert.ok(page.includes("stem &lt;b&gt;&amp;amp;&lt;/b&gt;"), "layer names are escaped");

    const r = chromium(bin, html, ["--dump-dom"]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.console, [], "no console messages (errors, CSP violations)");
    assert.equal((r.dom.match(/<article class="layer"/g) ?? []).length, 5);
    assert.ok((r.dom.match(/<svg /g) ?? []).length >= 2 + 5 + 3, "overview, sorted-value and heatmap plots");
    assert.match(r.dom, /id="lipschitz"/);
    assert.match(r.dom, /<polyline points="[\d., -]+"/);
    assert.ok((r.dom.match(/<g class="legend">/g) ?? []).length >= 2, "legends on the overview plots");
    assert.match(r.dom, /<title>#2 block\/conv1: norm in \[/, "an interval bar named after its layer");

    // clip --html: the before/after page.
    const clipHtml = join(dir, "clip.html");
    const clipCode = await run([
      "clip",
      "model.json",
      "--input",
      "1x24x24x3",
      "--max-norm",
      "1.5",
      "--fold-bn",
      "-o",
      join(dir, "c.safetensors"),
      "--html",
      clipHtml,
      "--quiet",
    ], {
      stdout: () => {},
      stderr: { write: (t) => void (err += t), isTTY: false },
      writeFile: (p, d) => writeFile(p, d),
      readTextFile: (p) => readFile(p, "utf8"),
      loadModel: () => Promise.resolve(model),
    });
    assert.equal(clipCode, 0, err);
    const c = chromium(bin, clipHtml, ["--dump-dom"]);
    assert.equal(c.code, 0);
    assert.deepEqual(c.console, [], "no console messages on the clip page");
    assert.equal((c.dom.match(/<article class="layer clip"/g) ?? []).length, 5);
    assert.match(c.dom, /id="totals"/);
    assert.match(c.dom, /<title>radius 1\.5 \(--max-norm\)<\/title>/);
    assert.equal((c.dom.match(/: before<\/title><\/polyline>/g) ?? []).length, 5);
    assert.equal((c.dom.match(/: after<\/title><\/polyline>/g) ?? []).length, 5);
    const clipPng = join(dir, "clip.png");
    const clipShot = chromium(bin, clipHtml, [`--screenshot=${clipPng}`, "--window-size=1200,2000"]);
    assert.equal(clipShot.code, 0);
    assert.deepEqual(clipShot.console, []);
    assert.ok(statSync(clipPng).size > 20_000, "a screenshot of the clip page with content");

    const png = join(dir, "shot.png");
    const shot = chromium(bin, html, [`--screenshot=${png}`, "--window-size=1200,2000"]);
    assert.equal(shot.code, 0);
    assert.deepEqual(shot.console, []);
    assert.ok(statSync(png).size > 20_000, "a screenshot with content");

    // The check itself catches a broken page: a script error and a network load under the same policy.
    const bad = join(dir, "bad.html");
    writeFileSync(
      bad,
      `<!doctype html><meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"><img src="https://example.invalid/x.png"><p>x</p>`,
    );
    const b = chromium(bin, bad, ["--dump-dom"]);
    assert.ok(b.console.length > 0, "a blocked load is logged");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, {
  timeoutMs: 120_000,
  ignore: browser === undefined && "no chromium on PATH (Debian: apt-get install -y chromium)",
});
