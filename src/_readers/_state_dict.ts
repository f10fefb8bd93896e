/**
 * PyTorch state dicts (from safetensors or `np.savez(**state_dict)`): conv
 * kernels and the BatchNorm modules that follow them.
 * @module
 */
import type { ConvLayer } from "../model.ts";
import type { Layout } from "../types.ts";
import { baseLayer, batchNorm, layoutRank, outChannels, type Source, torchLayout, typeError } from "./_common.ts";

/** One named tensor of a state dict, decoded on demand. */
export interface StateEntry {
  key: string;
  shape: number[];
  /** Whether the tensor holds floating-point values the readers decode. */
  float: boolean;
  /** The values, row-major (a fresh array; throws for unsupported dtypes). */
  decode(): Float32Array | Float64Array;
}

/** Attribute overrides per layer name, as in `ReadModelOptions.layers`. */
export type Overrides = Record<
  string,
  { transposed?: boolean | undefined; groups?: number | undefined; layout?: Layout | undefined } | undefined
>;

const BN_PARTS = ["weight", "running_mean", "running_var"] as const;

/** The module path of a state-dict key: `layer1.0.bn1.weight` → `layer1.0.bn1`. */
function modulePath(key: string): string {
  const dot = key.lastIndexOf(".");
  return dot < 0 ? "" : key.slice(0, dot);
}

/**
 * The conv layers of a state dict. `isKernel` picks the kernel entries;
 * `nameOf` names the layer of a kernel key. Each kernel's BatchNorm is the
 * first of these modules that has `weight`, `running_mean` and `running_var`
 * of rank 1 and as many channels as the conv has outputs, and that no earlier
 * conv took: the module named like it with `conv` → `bn` in its last
 * component (`layer1.0.conv1` → `layer1.0.bn1`); the next sibling of a
 * numbered module (`features.0` → `features.1`); the module whose keys follow
 * the kernel's in the file's key order.
 */
export function stateDictLayers(
  src: Source,
  entries: StateEntry[],
  isKernel: (e: StateEntry) => boolean,
  nameOf: (key: string) => string,
  options: { layout?: Layout | undefined; layers?: Overrides | undefined },
): ConvLayer[] {
  const byKey = new Map(entries.map((e) => [e.key, e]));
  const isBn = (m: string) =>
    BN_PARTS.every((p) => {
      const e = byKey.get(`${m}.${p}`);
      return e !== undefined && e.float && e.shape.length === 1;
    });
  const claimed = new Set<string>();
  const layers: ConvLayer[] = [];
  // nextModule[i]: the module of the first entry after i whose module differs from entry i's (one backward pass)
  const modules = entries.map((e) => modulePath(e.key));
  const nextModule: (string | undefined)[] = new Array(entries.length).fill(undefined);
  for (let i = entries.length - 2; i >= 0; i--) {
    nextModule[i] = modules[i + 1] !== modules[i] ? modules[i + 1] : nextModule[i + 1];
  }
  entries.forEach((e, index) => {
    if (!isKernel(e)) return;
    const name = nameOf(e.key);
    const over = options.layers?.[name];
    const layout = over?.layout ?? options.layout ?? torchLayout(e.shape.length);
    if (layoutRank(layout) + 2 !== e.shape.length) {
      throw typeError(src, `tensor "${e.key}" of rank ${e.shape.length} does not fit layout "${layout}"`, e.shape);
    }
    const layer = baseLayer(name, e.decode(), e.shape, layout);
    if (over?.transposed !== undefined) layer.transposed = over.transposed;
    if (over?.groups !== undefined) layer.groups = over.groups;
    const channels = outChannels(layer);
    const module = modulePath(e.key);
    const parent = modulePath(module);
    const last = module.slice(parent.length === 0 ? 0 : parent.length + 1);
    const prefix = parent === "" ? "" : `${parent}.`;
    const candidates: string[] = [];
    const at = last.lastIndexOf("conv");
    if (at >= 0) candidates.push(`${prefix}${last.slice(0, at)}bn${last.slice(at + 4)}`);
    if (/^\d+$/.test(last)) candidates.push(`${prefix}${Number(last) + 1}`);
    const next = nextModule[index];
    if (next !== undefined) candidates.push(next);
    const bn = candidates.find((m) =>
      m !== "" && m !== module && !claimed.has(m) && isBn(m) && byKey.get(`${m}.weight`)!.shape[0] === channels
    );
    if (bn !== undefined) {
      claimed.add(bn);
      const bias = byKey.get(`${bn}.bias`);
      layer.scale = batchNorm(
        bn,
        byKey.get(`${bn}.weight`)!.decode(),
        bias?.float && bias.shape.length === 1 && bias.shape[0] === channels ? bias.decode() : undefined,
        byKey.get(`${bn}.running_mean`)!.decode(),
        byKey.get(`${bn}.running_var`)!.decode(),
        1e-5,
      );
    }
    layers.push(layer);
  });
  return layers;
}
