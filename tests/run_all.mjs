// Runs every test runner (Deno, Bun, Node) and prints one closing line:
// `N passed, N failed`. Exit status 1 if any runner failed. Usage: node tests/run_all.mjs
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const env = {
  ...process.env,
  RUST_BACKTRACE: "0",
  NO_COLOR: "1",
  // Mesa's software Vulkan driver (the WebGPU tests' adapter) wants a private runtime dir.
  XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? mkdtempSync(join(tmpdir(), "xdg-")),
};

function run(label, cmd, args, parse) {
  console.log(`\n=== ${label}: ${[cmd, ...args].join(" ")}`);
  const t0 = Date.now();
  const res = spawnSync(cmd, args, { cwd: root, env, encoding: "utf8", maxBuffer: 256 * 2 ** 20 });
  const out = (res.stdout ?? "") + (res.stderr ?? "");
  process.stdout.write(out);
  const counts = parse(out);
  const ok = res.status === 0 && counts !== undefined;
  const c = counts ?? { passed: 0, failed: 1 };
  if (res.status !== 0 && c.failed === 0) c.failed = 1; // a crash counts as a failure
  console.log(
    `=== ${label}: ${c.passed} passed, ${c.failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)${
      ok ? "" : " — FAILED"
    }`,
  );
  return c;
}

const last = (re, out) => {
  const all = [...out.matchAll(re)];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
};

const parseDeno = (out) => {
  const line = [...out.matchAll(/^(?:ok|FAILED) \| (\d+) passed.*?\| (\d+) failed/gm)].pop();
  return line ? { passed: Number(line[1]), failed: Number(line[2]) } : undefined;
};
const parseBun = (out) => {
  const passed = last(/^\s*(\d+) pass$/gm, out);
  const failed = last(/^\s*(\d+) fail$/gm, out);
  return passed === undefined ? undefined : { passed, failed: failed ?? 0 };
};
const parseNode = (out) => {
  const passed = last(/^# pass (\d+)$/gm, out);
  const failed = last(/^# fail (\d+)$/gm, out);
  return passed === undefined ? undefined : { passed, failed: failed ?? 0 };
};

if (!existsSync(bin("deno")) || !existsSync(bin("bun"))) {
  console.error("Run `npm ci` first: node_modules/.bin/deno and node_modules/.bin/bun are missing");
  process.exit(1);
}

const results = [];
results.push(run("deno test", bin("deno"), ["test", "-A", "--doc", "tests/", "mod.ts", "src/"], parseDeno));
results.push(run("bun test", bin("bun"), ["test", "--timeout", "300000", "./tests/"], parseBun));
mkdirSync(join(root, "build"), { recursive: true });
// The browser bundle (npm run build:browser), which tests/node_smoke.mjs loads in Node.
const bundle = spawnSync(bin("deno"), ["run", "-A", "src/_npm/build_browser.ts"], {
  cwd: root,
  env,
  encoding: "utf8",
});
// tests/npm_package.mjs builds, packs and installs the npm package (src/_npm/build.ts) and runs it as a user would.
const nodeTests = ["tests/npm_package.mjs"];
if (bundle.status !== 0) {
  console.log(bundle.stdout + bundle.stderr);
  results.push({ passed: 0, failed: 1 });
} else {
  nodeTests.unshift("tests/node_smoke.mjs");
}
results.push(run("node test", process.execPath, ["--test", "--test-reporter=tap", ...nodeTests], parseNode));
const passed = results.reduce((a, r) => a + r.passed, 0);
const failed = results.reduce((a, r) => a + r.failed, 0);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
