/**
 * Slots of a TF.js model: the weights of its manifest, each group's shards
 * taken as one run of bytes, written back cut to the shards' own paths and
 * sizes (`model.json` unchanged). float32 and float16 weights, and uint8 or
 * uint16 quantised float32 ones, are written.
 * @module
 */
import type { Kernel } from "../types.ts";
import type { Source } from "../_readers/_common.ts";
import { decode, isObj, type Spec, weightSpecs } from "../_readers/tfjs_weights.ts";
import type { Located, ModelFile, Slot } from "./slots.ts";

/**
 * TF.js: the manifest's weights are found by value (the weight whose stored
 * numbers decode to exactly the kernel read; among several, the one whose name
 * holds the layer's), since the readers name layers after Keras layers, graph
 * nodes or manifest prefixes. Each weight group's shards are patched as one
 * run and cut back to the shards' own sizes.
 */
export function locateTfjs(modelJson: Uint8Array, manifest: unknown, shards: ModelFile[], src: Source): Located & {
  byValue(name: string, original: Kernel): Slot | string;
} {
  const groups = Array.isArray(manifest) ? manifest : isObj(manifest) ? manifest.weightsManifest : undefined;
  const list = Array.isArray(groups) ? groups : [];
  // One virtual file per group: its shards concatenated.
  const files: ModelFile[] = [];
  const cuts: number[][] = [];
  let shard = 0;
  const specsOf: { file: number; spec: Spec }[] = [];
  for (const g of list) {
    const paths = isObj(g) && Array.isArray(g.paths) ? g.paths.length : 0;
    const parts = shards.slice(shard, shard + paths);
    shard += paths;
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.bytes.length, 0));
    let o = 0;
    for (const p of parts) {
      bytes.set(p.bytes, o);
      o += p.bytes.length;
    }
    files.push({ path: "", bytes });
    cuts.push(parts.map((p) => p.bytes.length));
    for (const spec of weightSpecs(src, [{ ...(g as object), paths: [""] }], [bytes]).values()) {
      specsOf.push({ file: files.length - 1, spec });
    }
  }
  const slotOf = (file: number, s: Spec): Slot | string => {
    const q = s.quantization;
    if (q?.dtype === "uint8" || q?.dtype === "uint16") {
      const min = q.min ?? q.offset;
      if (s.dtype !== "float32" || typeof q.scale !== "number" || typeof min !== "number") {
        return `weight "${s.name}" has quantisation this writer does not encode`;
      }
      return {
        file,
        offset: s.offset,
        count: s.count,
        type: q.dtype === "uint8" ? "u8" : "u16",
        littleEndian: true,
        quant: { scale: q.scale, min },
        label: `${q.dtype}-quantised`,
      };
    }
    const f16 = q?.dtype === "float16" || (q === undefined && s.dtype === "float16");
    if (!f16 && (q !== undefined || s.dtype !== "float32")) {
      return `weight "${s.name}" has dtype ${s.dtype}, which is not written`;
    }
    return {
      file,
      offset: s.offset,
      count: s.count,
      type: f16 ? "f16" : "f32",
      littleEndian: true,
      label: f16 ? "float16" : "float32",
    };
  };
  const decoded = new Map<Spec, Float32Array | undefined>();
  const valuesOf = (s: Spec) => {
    if (!decoded.has(s)) {
      let v: Float32Array | undefined;
      try {
        v = s.shape.length >= 3 && s.shape.length <= 5 ? decode(src, s) : undefined;
      } catch {
        v = undefined;
      }
      decoded.set(s, v);
    }
    return decoded.get(s);
  };
  const byValue = (name: string, original: Kernel): Slot | string => {
    const k = original.data;
    const hits = specsOf.filter(({ spec }) => {
      if (spec.count !== k.length) return false;
      const v = valuesOf(spec);
      if (v === undefined) return false;
      for (let j = 0; j < v.length; j++) if (!Object.is(v[j], k[j])) return false;
      return true;
    });
    const stem = name.replace(/\/(depthwise|pointwise)$/, "");
    const named = hits.length > 1 ? hits.filter(({ spec }) => spec.name.includes(stem)) : hits;
    if (named.length === 1) return slotOf(named[0].file, named[0].spec);
    return named.length === 0
      ? `no weight of the manifest holds the kernel read for it`
      : `${named.length} weights of the manifest hold the same values (${
        named.map((h) => JSON.stringify(h.spec.name)).join(", ")
      })`;
  };
  return {
    files,
    slots: new Map(),
    byValue,
    output: (patched) => {
      const out: ModelFile[] = [{ path: "", bytes: modelJson }];
      let s = 0;
      patched.forEach((f, j) => {
        let o = 0;
        for (const size of cuts[j]) {
          out.push({ path: shards[s++].path, bytes: f.bytes.slice(o, o + size) });
          o += size;
        }
      });
      return out;
    },
  };
}
