/**
 * The import graph a user gets from each export path. The core (`.` and every
 * numerical path) loads no npm or jsr package and none of the readers or the
 * CLI, so it runs from a script outside this repository with no config, no
 * lock file and no npm; `./models` (which needs `@bufbuild/protobuf`) loads
 * and reads a file. The graphs are Deno's (`deno info --json`), spawned from
 * node_modules/.bin/deno under either runner.
 * @module
 */
import { test } from "./_test.ts";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import process from "node:process";
import { operatorNormSync } from "../mod.ts";

const root = realpathSync(join(dirname(fileURLToPath(import.meta.url)), ".."));
const deno = join(root, "node_modules", ".bin", "deno");
const env = { ...process.env, NO_COLOR: "1", RUST_BACKTRACE: "0" };
const exportsMap: Record<string, string> = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).exports;

/** Export paths whose graph may reach npm: the model readers, the CLI that uses them, and the TF.js training helpers. */
const WITH_NPM = new Set(["./models", "./cli", "./tfjs"]);
const CORE_PATHS = Object.keys(exportsMap).filter((p) => !WITH_NPM.has(p));

function runDeno(args: string[], cwd: string): { code: number | null; out: string; err: string } {
  const res = spawnSync(deno, args, { cwd, env, encoding: "utf8", maxBuffer: 64 * 2 ** 20 });
  if (res.error) throw res.error;
  return { code: res.status, out: res.stdout, err: res.stderr };
}

interface Dependency {
  specifier: string;
  code?: { specifier: string };
  type?: { specifier: string };
}
interface GraphModule {
  specifier: string;
  kind?: string;
  dependencies?: Dependency[];
}

/** The modules of `file`'s graph, as `deno info --json` lists them (resolved with this repo's config). */
function graphOf(file: string): GraphModule[] {
  const r = runDeno(["info", "--json", file], root);
  assert.equal(r.code, 0, `deno info ${file} failed: ${r.err}`);
  const modules = (JSON.parse(r.out) as { modules: GraphModule[] }).modules;
  assert.ok(modules.length > 0, `deno info ${file}: empty graph`);
  return modules;
}

/**
 * Throws unless every module of the graph is a file of this repository outside
 * node_modules, src/_readers/ and src/_cli/, or a `node:` built-in, and every
 * import in it is relative or `node:` (no bare, npm: or jsr: specifier).
 */
function assertCoreGraph(file: string, modules: GraphModule[]): void {
  const repo = pathToFileURL(root + sep).href;
  for (const m of modules) {
    const s = m.specifier;
    assert.ok(!/^(npm|jsr):/.test(s), `${file} reaches ${s}`);
    if (s.startsWith("node:")) continue;
    assert.ok(s.startsWith(repo), `${file} reaches ${s}, outside the repository`);
    const rel = s.slice(repo.length);
    assert.ok(!rel.startsWith("node_modules/"), `${file} reaches the npm package file ${rel}`);
    assert.ok(!rel.startsWith("src/_readers/") && !rel.startsWith("src/_cli/"), `${file} reaches ${rel}`);
    for (const d of m.dependencies ?? []) {
      assert.match(d.specifier, /^(\.\.?\/|node:)/, `${rel} imports "${d.specifier}"`);
    }
  }
}

test("the core imports from a script outside the repository with no config, no lock file and no npm", () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "convsv-outside-")));
  try {
    assert.ok(!dir.startsWith(root + sep), `${dir} is inside ${root}`);
    const modUrl = pathToFileURL(join(root, "mod.ts")).href;
    const data = Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => Math.cos(i * 0.7) / 10);
    writeFileSync(
      join(dir, "main.ts"),
      [
        `import { operatorNormSync } from ${JSON.stringify(modUrl)};`,
        `console.log(operatorNormSync({ data: new Float64Array([1, 1]), shape: [1, 1, 1, 2] }, { inputShape: [4, 4] }));`,
        `console.log(operatorNormSync({ data: Float64Array.from(${
          JSON.stringify(data)
        }), shape: [4, 3, 3, 3] }, { inputShape: [6, 5] }));`,
        "",
      ].join("\n"),
    );
    const r = runDeno(["run", "--no-config", "--no-lock", "--no-npm", "--no-remote", "main.ts"], dir);
    assert.equal(r.code, 0, `deno run failed: ${r.err}`);
    const [twoTap, layer] = r.out.trim().split("\n").map(Number);
    assert.ok(Math.abs(twoTap - 2) < 1e-12, `‖[1, 1]‖ = |1 + 1| at frequency 0, got ${twoTap}`);
    const here = operatorNormSync({ data: Float64Array.from(data), shape: [4, 3, 3, 3] }, { inputShape: [6, 5] });
    assert.equal(layer, here);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("mod.ts's module graph has no npm or jsr module and none of src/_readers/ or src/_cli/", () => {
  const modules = graphOf("mod.ts");
  assertCoreGraph("mod.ts", modules);
  const files = modules.map((m) => m.specifier);
  assert.ok(
    files.some((s) => s.endsWith("/src/close_threads.ts")),
    "mod.ts exports closeThreads from src/close_threads.ts",
  );
  assert.ok(!files.some((s) => /\/src\/(models|model|read_model)\.ts$/.test(s)), "mod.ts reaches the readers");
});

test("every export path but ./models, ./cli and ./tfjs has a graph without npm, readers or CLI", () => {
  assert.deepEqual(
    Object.keys(exportsMap).sort(),
    [
      ".",
      "./cli",
      "./clip-operator-norm",
      "./close-threads",
      "./errors",
      "./frequency-svd",
      "./gram-iteration",
      "./models",
      "./operator-norm",
      "./operator-norm-bounds",
      "./power-iteration",
      "./singular-values",
      "./spectrum",
      "./tfjs",
      "./top-singular-vectors",
      "./types",
    ],
  );
  for (const path of CORE_PATHS) assertCoreGraph(path, graphOf(exportsMap[path]));
});

test("./models loads (with its npm dependency) and reads a fixture file", async () => {
  const { readModelFile } = await import("../src/models.ts");
  const model = await readModelFile(join(root, "tests", "fixtures", "kernel_f4.npy"));
  assert.equal(model.format, "npy");
  assert.equal(model.layers.length, 1);
  assert.equal(model.layers[0].name, "kernel_f4");
  assert.deepEqual(model.layers[0].kernel.shape, [8, 3, 3, 3]);
  const onnx = await readModelFile(join(root, "tests", "fixtures", "torch_net.onnx"));
  assert.equal(onnx.format, "onnx");
  assert.ok(onnx.layers.length > 0);
});
