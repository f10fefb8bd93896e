/**
 * A layer's exact operator norm without its whole spectrum: validated as
 * `spectrum` validates (the same refusals, before any work), then each of
 * the layer's problems through the engine's screened norm on wasm f64
 * (src/_wasm/engine.ts `problemNorm`: only the frequencies that may hold the
 * maximum are factorised, the others are proven below it). With
 * `precision: "f32"` or `backend: "webgpu"` it is the spectrum's norm.
 * @module
 */
import type { Kernel, SingularValuesOptions } from "./types.ts";
import { mergeGroups } from "./_problem/expand.ts";
import { visitedFrequencies } from "./_problem/problem.ts";
import { prepareLayer } from "./_grid.ts";
import { layerProblemsNorm, layerProblemsNormAbortable } from "./_wasm/engine.ts";
import { loadWasm, loadWasmSync } from "./_wasm/loader.ts";
import { spectrum, spectrumSync } from "./spectrum.ts";

/** The layer's problems (groups merged), after every check; undefined when the spectrum's path serves the call. */
function prepare(kernel: Kernel, options: SingularValuesOptions) {
  const { ex, req } = prepareLayer(kernel, options);
  if (req.run.precision === "f32" || req.run.backend === "webgpu") return undefined;
  return { problems: mergeGroups(ex).map((p) => p.problem), run: req.run };
}

/** The operator norm on the calling thread. */
export function layerNormSync(kernel: Kernel, options: SingularValuesOptions): number {
  const prep = prepare(kernel, options);
  if (!prep) return spectrumSync(kernel, options).norm;
  return layerProblemsNorm(loadWasmSync(), prep.problems);
}

/**
 * The operator norm of an async call: on the calling thread's core (with a
 * signal, on a core of its own, letting the event loop run every ~20 ms).
 * The screening visits frequencies in an order decided as it goes, so it
 * runs on one thread whatever `threads` says.
 */
export async function layerNorm(kernel: Kernel, options: SingularValuesOptions): Promise<number> {
  const prep = prepare(kernel, options);
  if (!prep) return (await spectrum(kernel, options)).norm;
  const core = await loadWasm();
  const { signal, onProgress } = prep.run;
  // Progress counts the frequencies of each problem (as the spectrum's walk does) once the problem is done.
  const total = prep.problems.reduce((n, p) => n + visitedFrequencies(p), 0);
  let done = 0;
  return await layerProblemsNormAbortable(core, prep.problems, signal, (p) => {
    done += visitedFrequencies(p);
    onProgress?.({ done, total });
  });
}
