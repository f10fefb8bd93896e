/**
 * The fixed layers of the recorded-values test: every layer kind and every
 * public numerical function, called through the public API only, each
 * reduced to the exact bits of its outputs (a SHA-256 of the f64/f32 bytes).
 *
 * `record.ts` writes these digests to `values.json`; `recorded.test.ts`
 * recomputes them and requires the same bits. The file is rewritten only
 * when a change of results is intended and said so in its commit.
 * @module
 */
import * as convsv from "../../mod.ts";
import { lcgValues } from "../_random.ts";

/** One recorded outcome: a name and the digest of everything it returned. */
export interface Recorded {
  name: string;
  digest: string;
}

type Data = Float32Array | Float64Array;
type Output = Data | number | number[] | boolean | string | undefined | Output[] | { [key: string]: Output };

/** A kernel of the given shape with deterministic entries in (−0.5, 0.5). */
function kernel(shape: number[], seed: number, f32 = false): convsv.Kernel {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = lcgValues(seed, n);
  return { data: f32 ? Float32Array.from(data) : data, shape };
}

/** Flattens an output into bytes: typed arrays as their own bytes, numbers as f64, the rest as JSON. */
function bytesOf(out: Output, parts: Uint8Array[]): void {
  if (out instanceof Float64Array || out instanceof Float32Array) {
    parts.push(new TextEncoder().encode(out instanceof Float32Array ? "f32" : "f64"));
    parts.push(new Uint8Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength)));
  } else if (typeof out === "number") {
    parts.push(new Uint8Array(Float64Array.of(out).buffer));
  } else if (Array.isArray(out)) {
    parts.push(new TextEncoder().encode(`[${out.length}`));
    for (const x of out) bytesOf(x, parts);
  } else if (out !== null && typeof out === "object") {
    for (const key of Object.keys(out).sort()) {
      parts.push(new TextEncoder().encode(`{${key}`));
      bytesOf(out[key], parts);
    }
  } else {
    parts.push(new TextEncoder().encode(JSON.stringify(out ?? null)));
  }
}

/** SHA-256 (hex) of an output's bytes. */
export async function digest(out: Output): Promise<string> {
  const parts: Uint8Array[] = [];
  bytesOf(out, parts);
  const total = parts.reduce((a, p) => a + p.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Layers of every kind (with the options `singularValues` takes). */
const LAYERS: { name: string; kernel: convsv.Kernel; options: convsv.SingularValuesOptions }[] = [
  { name: "2-D 3×3 6→5 on 7×6", kernel: kernel([5, 6, 3, 3], 1), options: { inputShape: [7, 6] } },
  {
    name: "2-D 3×3 4→8 on 8×8 hwio f32",
    kernel: kernel([3, 3, 4, 8], 2, true),
    options: { inputShape: [8, 8], layout: "hwio" },
  },
  {
    name: "2-D 5×5 3→3 on 4×4 (wraps)",
    kernel: kernel([3, 3, 5, 5], 3),
    options: { inputShape: [4, 4], layout: "oihw" },
  },
  { name: "2-D 1×1 16→12 on 5×5", kernel: kernel([12, 16, 1, 1], 4), options: { inputShape: [5, 5] } },
  { name: "2-D 3×3 32→32 on 9×10", kernel: kernel([32, 32, 3, 3], 5), options: { inputShape: [9, 10] } },
  { name: "2-D stride 2 3×3 4→6 on 8×8", kernel: kernel([6, 4, 3, 3], 6), options: { inputShape: [8, 8], stride: 2 } },
  {
    name: "2-D stride [2,3] 4×4 3→5 on 6×9",
    kernel: kernel([5, 3, 4, 4], 7),
    options: { inputShape: [6, 9], stride: [2, 3] },
  },
  {
    name: "2-D dilation 2 3×3 3→4 on 8×6",
    kernel: kernel([4, 3, 3, 3], 8),
    options: { inputShape: [8, 6], dilation: 2 },
  },
  { name: "2-D groups 2 3×3 8→6 on 6×6", kernel: kernel([6, 4, 3, 3], 9), options: { inputShape: [6, 6], groups: 2 } },
  { name: "2-D depthwise 3×3 ×8 on 7×7", kernel: kernel([8, 1, 3, 3], 10), options: { inputShape: [7, 7], groups: 8 } },
  {
    name: "2-D transposed stride 2 4×4 3→5 on 5×4",
    kernel: kernel([3, 5, 4, 4], 11),
    options: { inputShape: [5, 4], stride: 2, transposed: true },
  },
  { name: "1-D 5 taps 4→6 on 16", kernel: kernel([6, 4, 5], 12), options: { inputShape: [16] } },
  {
    name: "1-D wio stride 2 4 taps 3→2 on 12",
    kernel: kernel([4, 3, 2], 13),
    options: { inputShape: [12], layout: "wio", stride: 2 },
  },
  { name: "3-D 3×3×3 2→3 on 4×5×6", kernel: kernel([3, 2, 3, 3, 3], 14), options: { inputShape: [4, 5, 6] } },
  {
    name: "3-D dhwio groups 2 2×2×2 4→4 on 3×4×4",
    kernel: kernel([2, 2, 2, 2, 4], 15),
    options: { inputShape: [3, 4, 4], layout: "dhwio", groups: 2 },
  },
  {
    name: "3-D stride 2 3×3×3 2→2 on 4×4×4",
    kernel: kernel([2, 2, 3, 3, 3], 16),
    options: { inputShape: [4, 4, 4], stride: 2 },
  },
];

/** Plain 2-D layers for the functions that take only those. */
const PLAIN = LAYERS.filter((l) =>
  l.name.startsWith("2-D ") && !/stride|dilation|groups|depthwise|transposed|wraps/.test(l.name)
);

/** Zero-padded layers for the bounds and estimators. */
const PADDED: { name: string; kernel: convsv.Kernel; options: convsv.OperatorNormBoundsOptions }[] = [
  {
    name: "2-D padding 1 3×3 4→5 on 6×6",
    kernel: kernel([5, 4, 3, 3], 21),
    options: { inputShape: [6, 6], padding: 1 },
  },
  {
    name: "2-D padding same stride 1 dilation 2 on 7×7",
    kernel: kernel([3, 3, 3, 3], 22),
    options: { inputShape: [7, 7], padding: "same", dilation: 2 },
  },
  {
    name: "1-D valid stride 2 on 11",
    kernel: kernel([2, 3, 3], 23),
    options: { inputShape: [11], padding: "valid", stride: 2 },
  },
  {
    name: "2-D transposed padding 1 stride 2 on 4×4",
    kernel: kernel([3, 2, 3, 3], 24),
    options: { inputShape: [4, 4], padding: 1, stride: 2, transposed: true },
  },
];

/** Every recorded outcome, in a fixed order. */
export async function computeAll(): Promise<Recorded[]> {
  const out: Recorded[] = [];
  const add = async (name: string, value: Output) => out.push({ name, digest: await digest(value) });
  for (const { name, kernel: k, options } of LAYERS) {
    await add(`singularValuesSync ${name}`, convsv.singularValuesSync(k, options));
    await add(`singularValues threads 1 ${name}`, await convsv.singularValues(k, { ...options, threads: 1 }));
    await add(`singularValues threads 2 ${name}`, await convsv.singularValues(k, { ...options, threads: 2 }));
    await add(`singularValuesSync f32 ${name}`, convsv.singularValuesSync(k, { ...options, precision: "f32" }));
    await add(
      `singularValues f32 threads 2 ${name}`,
      await convsv.singularValues(k, { ...options, precision: "f32", threads: 2 }),
    );
    const s = convsv.spectrumSync(k, options);
    await add(`spectrumSync ${name}`, { values: s.values, shape: s.shape, norm: s.norm, argmax: s.argmax });
    await add(`operatorNormSync ${name}`, convsv.operatorNormSync(k, options));
    const b = convsv.operatorNormBoundsSync(k, options);
    await add(`operatorNormBoundsSync ${name}`, { lower: b.lower, upper: b.upper, grid: b.grid });
    const g = convsv.gramIterationNormSync(k, options);
    await add(`gramIterationNormSync ${name}`, g.bounds);
  }
  for (const { name, kernel: k, options } of PADDED) {
    const b = convsv.operatorNormBoundsSync(k, options);
    await add(`operatorNormBoundsSync ${name}`, {
      lower: b.lower,
      upper: b.upper,
      grid: b.grid,
      gridNorms: b.gridNorms,
      iterations: b.iterations,
    });
    const bt = await convsv.operatorNormBounds(k, { ...options, threads: 2 });
    await add(`operatorNormBounds threads 2 ${name}`, { lower: bt.lower, upper: bt.upper, gridNorms: bt.gridNorms });
    await add(`gramIterationNormSync ${name}`, convsv.gramIterationNormSync(k, options).bounds);
    const p = convsv.powerIterationNormSync(k, { ...options, maxIterations: 30 });
    await add(`powerIterationNormSync ${name}`, { lower: p.lower, iterations: p.iterations });
  }
  for (const { name, kernel: k, options } of PLAIN) {
    const f = convsv.frequencySvdSync(k, options);
    await add(`frequencySvdSync ${name}`, { S: f.S, U: f.U, V: f.V });
    const t = convsv.topSingularVectorsSync(k, options);
    await add(`topSingularVectorsSync ${name}`, {
      sigma: t.sigma,
      input: t.input,
      output: t.output,
      frequency: t.frequency,
    });
    for (const maxNorm of [0.5, 1.5]) {
      const one = convsv.clipOperatorNormSync(k, maxNorm, options);
      await add(`clipOperatorNormSync ${maxNorm} ${name}`, clipOut(one));
      const alt = convsv.clipOperatorNormSync(k, maxNorm, {
        ...options,
        iterations: 6,
        tolerance: 1e-3,
        certify: false,
      });
      await add(`clipOperatorNormSync alternating×6 ${maxNorm} ${name}`, clipOut(alt));
      const dyk = convsv.clipOperatorNormSync(k, maxNorm, { ...options, iterations: 5, method: "dykstra" });
      await add(`clipOperatorNormSync dykstra×5 ${maxNorm} ${name}`, clipOut(dyk));
      const thr = await convsv.clipOperatorNorm(k, maxNorm, { ...options, iterations: 4, threads: 2 });
      await add(`clipOperatorNorm threads 2 ×4 ${maxNorm} ${name}`, clipOut(thr));
      const dthr = await convsv.clipOperatorNorm(k, maxNorm, {
        ...options,
        iterations: 3,
        method: "dykstra",
        threads: 2,
      });
      await add(`clipOperatorNorm dykstra threads 2 ×3 ${maxNorm} ${name}`, clipOut(dthr));
    }
  }
  return out;
}

function clipOut(r: convsv.ClipResult): Output {
  return { data: r.kernel.data, normBefore: r.normBefore, normAfter: r.normAfter, iterations: r.iterations };
}
