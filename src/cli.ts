/**
 * The `convsv` command line: exact singular values of the conv layers of a
 * model file (safetensors, npy/npz, ONNX, TensorFlow.js), a per-layer table,
 * a Lipschitz bound of the conv part, and an HTML report with plots.
 *
 * ```sh
 * deno run -R -W -E jsr:@convsv/convsv/cli report model.onnx --input 1x3x224x224
 * deno run -R -W -E jsr:@convsv/convsv/cli report model.json --fold-bn --json
 * deno run -R -W -E jsr:@convsv/convsv/cli clip model.safetensors --max-norm 1 -o clipped.safetensors
 * ```
 *
 * `report MODEL` prints, per conv layer, the kernel, input shape, stride,
 * padding, the exact operator norm (circular padding) or a certified
 * interval `[lower, upper]` (zero padding) and the time; then the product
 * of the layers' norms (upper bounds) as a Lipschitz bound of the conv part,
 * and writes a self-contained HTML report (`./MODEL.report.html`, or
 * `--html PATH`) with each layer's sorted singular values on a log scale and
 * a heatmap of σ_max over frequencies. `convsv help` lists every option.
 *
 * @example Print the usage
 * ```ts
 * import { main } from "@convsv/convsv/cli";
 * import assert from "node:assert/strict";
 * assert.equal(await main(["help"]), 0);
 * ```
 *
 * @module
 */
import process from "node:process";
import { readFile, writeFile } from "node:fs/promises";
import { readModelFile } from "./models.ts";
import { run } from "./_cli/run.ts";

/**
 * Runs the `convsv` command line with `args` (the arguments after the
 * program name), reading models with the package's readers, printing to the
 * process's stdout and stderr (progress on stderr: a bar on a terminal,
 * plain lines otherwise) and writing the files it names. Errors print one
 * line, `convsv: error: …`, never a stack trace.
 *
 * @param args The command and its options, e.g. `["report", "model.onnx", "--json"]`.
 * @returns The exit status: 0 on success, 1 when a file cannot be read or
 *   written or a layer fails, 2 for usage errors.
 *
 * @example Unknown options are usage errors (status 2)
 * ```ts
 * import { main } from "@convsv/convsv/cli";
 * import assert from "node:assert/strict";
 * assert.equal(await main(["report", "model.onnx", "--no-such-option"]), 2);
 * ```
 */
export function main(args: readonly string[]): Promise<number> {
  return run(args, {
    stdout: (text) => process.stdout.write(text),
    stderr: {
      write: (text) => process.stderr.write(text),
      isTTY: Boolean(process.stderr.isTTY),
      columns: process.stderr.columns,
    },
    writeFile: (path, data) => writeFile(path, data),
    readTextFile: (path) => readFile(path, "utf8"),
    readFile: async (path) => new Uint8Array(await readFile(path)),
    loadModel: (path, options) => readModelFile(path, options),
  });
}

if (import.meta.main) {
  const deno = (globalThis as { Deno?: { args: string[]; exitCode: number } }).Deno;
  const code = await main(deno ? deno.args : process.argv.slice(2));
  if (deno) deno.exitCode = code;
  else process.exitCode = code;
}
