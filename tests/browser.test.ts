/**
 * The browser bundle (src/_npm/build_browser.ts) in a real browser: headless
 * Chromium opens tests/browser/page.html from a static server on 127.0.0.1
 * that this test starts, once per case, each with its own headers, and the
 * page posts what it saw back to the server as JSON:
 *
 * - cross-origin isolated (COOP/COEP): the async API runs on worker threads
 *   (the page counts the pool's workers and the blocks they finished);
 * - not isolated (no `SharedArrayBuffer`): one thread, the reason in
 *   `skipped.threads`;
 * - isolated but `Content-Security-Policy: worker-src 'none'`: one thread,
 *   the reason in `skipped.threads`, and no second attempt;
 * - WebGPU on Chromium's software adapter (SwiftShader): `"auto"` never picks
 *   it, even past any crossover, and says why; `"webgpu"` still runs on it.
 *
 * Chromium's console (on stderr) must stay empty in every case but the CSP
 * one, where it holds only the browser's own CSP violation reports. Reported
 * as ignored where no Chromium is on PATH (Debian: `apt-get install -y
 * chromium`); it runs under Deno only (the browser is under test, not the
 * runner).
 * @module
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { test, underBun } from "./_test.ts";
import { isSoftware } from "../src/_webgpu/device.ts";
import { buildBrowser, bundleProblem } from "../src/_npm/build_browser.ts";

function findChromium(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const n of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
      const p = join(dir, n);
      if (dir && existsSync(p)) return p;
    }
  }
  return undefined;
}

const browser = findChromium();
const page = fileURLToPath(new URL("./browser/page.html", import.meta.url));
const hooks = fileURLToPath(new URL("./browser/hooks.ts", import.meta.url));
const root = fileURLToPath(new URL("..", import.meta.url));

/** The headers of each case. */
const ISOLATION = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
const CASES: Record<string, Record<string, string>> = {
  isolated: ISOLATION,
  plain: {},
  csp: { ...ISOLATION, "content-security-policy": "worker-src 'none'" },
  webgpu: ISOLATION,
};

// deno-lint-ignore no-explicit-any
type PageResult = Record<string, any>;

/** Serves `files` under /<case>/ with the case's headers; `results` settles each case's POSTed JSON. */
function serve(files: Record<string, string>, results: Map<string, (r: PageResult) => void>) {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const [, name, file] = (req.url ?? "/").split("?")[0].split("/");
    const headers = CASES[name];
    if (!headers) {
      res.writeHead(404).end();
      return;
    }
    if (req.method === "POST" && file === "result") {
      let body = "";
      req.on("data", (d) => body += d);
      req.on("end", () => {
        res.writeHead(204, headers).end();
        results.get(name)?.(JSON.parse(body));
      });
      return;
    }
    const path = files[file || "index.html"];
    if (!path) {
      res.writeHead(404, headers).end();
      return;
    }
    const type = path.endsWith(".html") ? "text/html; charset=utf-8" : "text/javascript; charset=utf-8";
    res.writeHead(200, { ...headers, "content-type": type }).end(readFileSync(path));
  });
}

/** Opens `url` in headless Chromium until the page posts its result; returns it and the console lines logged. */
async function openPage(
  bin: string,
  url: string,
  name: string,
  results: Map<string, (r: PageResult) => void>,
): Promise<{ result: PageResult; console: string[] }> {
  const profile = mkdtempSync(join(tmpdir(), "convsv-chromium-"));
  const child = spawn(bin, [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    // WebGPU on SwiftShader, Chromium's software adapter.
    "--enable-unsafe-webgpu",
    "--enable-unsafe-swiftshader",
    `--user-data-dir=${profile}`,
    "--enable-logging=stderr",
    "--v=0",
    url,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => stderr += d);
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const result = await new Promise<PageResult>((resolve, reject) => {
      results.set(name, resolve);
      timer = setTimeout(
        () => reject(new Error(`${name}: no result from the page in 60 s; stderr:\n${stderr}`)),
        60_000,
      );
      child.on("error", reject);
    });
    // Let late console lines reach stderr before the browser ends.
    await new Promise((r) => setTimeout(r, 300));
    return { result, console: stderr.split("\n").filter((l) => /:CONSOLE[:(]|Uncaught/.test(l)) };
  } finally {
    clearTimeout(timer);
    results.delete(name);
    child.kill("SIGTERM");
    await exited;
    rmSync(profile, { recursive: true, force: true });
  }
}

test("isSoftware() knows software WebGPU adapters by their flag or their names", () => {
  assert.equal(isSoftware({}, { vendor: "google", architecture: "swiftshader", isFallbackAdapter: false }), true);
  assert.equal(isSoftware({}, { vendor: "mesa", device: "llvmpipe (LLVM 15.0.6, 256 bits)" }), true);
  assert.equal(isSoftware({}, { description: "Microsoft Basic Render Driver" }), true);
  assert.equal(isSoftware({}, { vendor: "nvidia", architecture: "ampere", isFallbackAdapter: true }), true);
  assert.equal(isSoftware({ isFallbackAdapter: true }, { vendor: "intel" }), true, "the older flag on the adapter");
  assert.equal(isSoftware({}, { vendor: "nvidia", architecture: "ampere", isFallbackAdapter: false }), false);
  assert.equal(isSoftware({}, { vendor: "apple", architecture: "common-3", description: "Apple M2" }), false);
});

test("bundleProblem() refuses a static import and an unguarded node: module", () => {
  assert.equal(bundleProblem('const os = await import("node:os");\nexport { a };'), undefined);
  assert.match(bundleProblem('import fs from "node:fs";') ?? "", /static import/);
  assert.match(bundleProblem('export { x } from "./y.js";') ?? "", /static import or re-export/);
  assert.match(bundleProblem('const fs = await import("node:fs");') ?? "", /node:fs/);
});

test(
  "the browser bundle in headless Chromium: threads when isolated, else one with the reason; no console messages",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "convsv-browser-"));
    const results = new Map<string, (r: PageResult) => void>();
    const bundle = buildBrowser(join(dir, "convsv.mjs"));
    const hooksBundle = join(dir, "hooks.mjs");
    const { spawnSync } = await import("node:child_process");
    const hb = spawnSync(join(root, "node_modules", ".bin", "deno"), [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      hooks,
      "-o",
      hooksBundle,
    ], { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", RUST_BACKTRACE: "0" } });
    assert.equal(hb.status, 0, hb.stderr);
    const server = serve({ "index.html": page, "convsv.mjs": bundle, "hooks.mjs": hooksBundle }, results);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const open = (name: string) => openPage(browser!, `${base}/${name}/`, name, results);

      const iso = await open("isolated");
      assert.equal(iso.result.error, undefined, iso.result.error);
      assert.equal(iso.result.isolated, true);
      assert.deepEqual(iso.result.skipped, {});
      if (iso.result.cores >= 2) {
        assert.equal(iso.result.threads, 2, JSON.stringify(iso.result));
        assert.equal(iso.result.workers, 2, "the pool's two workers");
        assert.ok(iso.result.blocksDone >= 2, `the workers ran blocks of jobs: ${iso.result.blocksDone}`);
      } else {
        console.log("  Chromium reports one core here: the threaded case runs on one thread");
      }
      assert.equal(iso.result.same, true, "threaded values equal the one-thread ones");
      assert.equal(iso.result.sameSorted, true);
      assert.deepEqual(iso.console, [], "no console messages");

      const plain = await open("plain");
      assert.equal(plain.result.error, undefined, plain.result.error);
      assert.equal(plain.result.isolated, false);
      assert.equal(plain.result.threads, 1);
      if (plain.result.cores >= 2) assert.match(plain.result.skipped.threads, /not cross-origin isolated/);
      assert.equal(plain.result.workers, 0);
      assert.equal(plain.result.same, true);
      assert.deepEqual(plain.console, [], "no console messages");

      const csp = await open("csp");
      assert.equal(csp.result.error, undefined, csp.result.error);
      assert.equal(csp.result.isolated, true);
      assert.equal(csp.result.threads, 1);
      assert.equal(csp.result.same, true);
      if (csp.result.cores >= 2) {
        assert.match(csp.result.skipped.threads, /^worker threads could not start: .*worker-src/);
        assert.doesNotMatch(csp.result.skipped.threads, /undefined/);
        assert.deepEqual(csp.result.again, { threads: 1, skipped: csp.result.skipped });
        assert.ok(csp.result.workers >= 1 && csp.result.workers <= 2, `one attempt: ${csp.result.workers} workers`);
        assert.ok(csp.console.length > 0, "the browser reports the refused worker");
      }
      for (const line of csp.console) assert.match(line, /violates the following Content Security Policy directive/);

      const gpu = await open("webgpu");
      assert.equal(gpu.result.error, undefined, gpu.result.error);
      assert.equal(gpu.result.auto.backend, "wasm");
      assert.equal(typeof gpu.result.auto.skipped.webgpu, "string");
      assert.equal(gpu.result.autoPastCrossover.backend, "wasm");
      if (gpu.result.adapter.reason === undefined) {
        assert.equal(
          gpu.result.adapter.fallback,
          true,
          `Chromium's adapter here is SwiftShader: ${gpu.result.adapter.name}`,
        );
        assert.match(gpu.result.autoPastCrossover.skipped.webgpu, /software/);
        assert.equal(gpu.result.explicit.backend, "webgpu");
        assert.ok(gpu.result.explicit.error < 1e-4, `f32 error ${gpu.result.explicit.error}·σ_max`);
      } else {
        console.log(`  no WebGPU adapter in this Chromium (${gpu.result.adapter.reason}): only "auto" checked`);
      }
      assert.deepEqual(gpu.console, [], "no console messages");
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  {
    timeoutMs: 240_000,
    threads: true,
    ignore: underBun
      ? "runs once, under Deno (the browser is under test, not the runner)"
      : browser === undefined && "no chromium on PATH (Debian: apt-get install -y chromium)",
  },
);
