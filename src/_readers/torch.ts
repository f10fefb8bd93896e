/**
 * PyTorch checkpoints as `torch.save(model.state_dict())` writes them since
 * PyTorch 1.6: a zip archive (members stored, not compressed) holding
 * `<stem>/data.pkl` (the pickled dict), `<stem>/data/<key>` (one storage's
 * raw bytes each), and `<stem>/version` and `<stem>/byteorder` (optional,
 * default little-endian). The pickle is read by the restricted unpickler of
 * pickle.ts, which runs nothing: the only globals understood are
 * `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`
 * (and `_rebuild_parameter_with_state`), `collections.OrderedDict` and the
 * storage types (`torch.FloatStorage`, …); persistent ids must be
 * `('storage', type, key, location, numel)`. Everything else, a whole
 * pickled model above all, is refused naming the global or opcode, as
 * `torch.load(weights_only=True)` does. Tensors keep their storage offset
 * and strides (transposed, channels-last, expanded views) and may share a
 * storage; nested dicts (a training checkpoint's `{"model": …}`) are
 * flattened with dotted keys. The state dict then reads as safetensors does
 * (_state_dict.ts).
 * @module
 */
import type { ConvLayer } from "../model.ts";
import type { Layout } from "../types.ts";
import {
  bfloat16ToNumber,
  decodeFloats,
  elementCount,
  halfToNumber,
  isCount,
  type NumericType,
  rangeError,
  type Source,
  typeError,
} from "./_common.ts";
import { type Overrides, stateDictLayers, type StateEntry } from "./_state_dict.ts";
import {
  type PickleHooks,
  PyDict,
  PyGlobal,
  type PyObject,
  PyTuple,
  pyTypeName,
  type PyValue,
  unpickle,
} from "./pickle.ts";
import { storedEntry, zipEntries, type ZipEntry } from "./zip.ts";

/** Element type (undefined: not decoded) and size of each storage type a state dict may name. */
const STORAGES: Record<string, { type?: NumericType; size: number }> = {
  FloatStorage: { type: "f32", size: 4 },
  DoubleStorage: { type: "f64", size: 8 },
  HalfStorage: { type: "f16", size: 2 },
  BFloat16Storage: { type: "bf16", size: 2 },
  LongStorage: { size: 8 },
  IntStorage: { size: 4 },
  ShortStorage: { size: 2 },
  CharStorage: { size: 1 },
  ByteStorage: { size: 1 },
  BoolStorage: { size: 1 },
  ComplexFloatStorage: { size: 8 },
  ComplexDoubleStorage: { size: 16 },
};

const REBUILD_TENSOR = "torch._utils._rebuild_tensor_v2";
const REBUILD_PARAMETER = "torch._utils._rebuild_parameter";
const REBUILD_PARAMETER_STATE = "torch._utils._rebuild_parameter_with_state";
const ORDERED_DICT = "collections.OrderedDict";
const CALLABLE = new Set([REBUILD_TENSOR, REBUILD_PARAMETER, REBUILD_PARAMETER_STATE, ORDERED_DICT]);
const UNDERSTOOD =
  "torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, collections.OrderedDict and torch's storage types";

/** Most levels of nested dicts flattened into dotted keys. */
const MAX_DEPTH = 64;

/** True when `bytes` may be a pickle stream (PROTO 2–5): the format before PyTorch 1.6. */
export function looksLikeLegacyTorch(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5;
}

/** The folder of the one `<stem>/data.pkl` among `names`: undefined when there is none, refused when several. */
function archiveStem(names: string[], src?: Source): string | undefined {
  const stems = names.filter((n) => /^[^/]+\/data\.pkl$/.test(n)).map((n) => n.slice(0, -"/data.pkl".length));
  if (stems.length > 1 && src !== undefined) {
    throw typeError(src, "a PyTorch checkpoint: the zip archive holds more than one data.pkl", stems);
  }
  return stems[0];
}

/** True when a zip archive holds `<stem>/data.pkl` (torch.save's format), judged from its directory. */
export function looksLikeTorchZip(bytes: Uint8Array): boolean {
  try {
    return archiveStem(zipEntries(bytes, { label: "" }).map((e) => e.name)) !== undefined;
  } catch {
    // a damaged directory: the first member's local header still tells (torch.save writes data.pkl first)
    if (bytes.length < 30) return false;
    const n = bytes[26] | (bytes[27] << 8);
    return /^[^/]+\/data\.pkl$/.test(new TextDecoder().decode(bytes.subarray(30, 30 + n)));
  }
}

/** One storage of the archive: `<stem>/data/<key>`. */
class Storage implements PyObject {
  readonly pyType = "storage";
  checked = false;
  constructor(
    readonly key: string,
    readonly typeName: string,
    readonly type: NumericType | undefined,
    readonly size: number,
    readonly numel: number,
    readonly record: ZipEntry,
  ) {}
}

/** A tensor as `_rebuild_tensor_v2` describes it: a view of a storage. */
class Tensor implements PyObject {
  readonly pyType = "tensor";
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** The hooks that let the restricted unpickler build a state dict from this archive and nothing else. */
function stateDictHooks(src: Source, stem: string, records: Map<string, ZipEntry>): PickleHooks {
  const storages = new Map<string, Storage>();
  const globals = new Map<string, PyGlobal>();
  const bad = (at: number, what: string, value: unknown) =>
    typeError(src, `a PyTorch state dict: data.pkl ${what} (byte ${at})`, value);
  const countsOf = (v: PyValue): number[] | undefined =>
    v instanceof PyTuple && v.items.every(isCount) ? v.items as number[] : undefined;
  return {
    global(module, name, at) {
      const full = `${module}.${name}`;
      if (CALLABLE.has(full) || (module === "torch" && Object.hasOwn(STORAGES, name))) {
        let g = globals.get(full);
        if (g === undefined) globals.set(full, g = new PyGlobal(full));
        return g;
      }
      if (/^(__main__|__torch__|torch\.nn|torchvision|timm)(\.|$)/.test(module)) {
        throw typeError(
          src,
          `a PyTorch state dict: the file pickles a whole model (data.pkl names the class ${full}, byte ${at}), which cannot be read without running its code: save model.state_dict() with torch.save instead`,
          full,
        );
      }
      throw typeError(
        src,
        `a PyTorch state dict: data.pkl names the global ${full} (byte ${at}), which a state dict does not use; nothing in the file is run and only ${UNDERSTOOD} are understood (for a whole model, save model.state_dict() instead)`,
        full,
      );
    },
    reduce(fn, args, at) {
      switch (fn.name) {
        case ORDERED_DICT:
          if (args.length !== 0) throw bad(at, "calls collections.OrderedDict with arguments", args.length);
          return new PyDict();
        case REBUILD_PARAMETER:
        case REBUILD_PARAMETER_STATE: {
          const n = fn.name === REBUILD_PARAMETER ? 3 : 4;
          if (args.length !== n || !(args[0] instanceof Tensor)) {
            throw bad(
              at,
              `calls ${fn.name} with other than (tensor, requires_grad, hooks${n === 4 ? ", state" : ""})`,
              args.map(pyTypeName),
            );
          }
          return args[0];
        }
        case REBUILD_TENSOR: {
          const [storage, offset, size, stride, grad, hooks, metadata] = args;
          const shape = countsOf(size), strides = countsOf(stride);
          if (
            (args.length !== 6 && args.length !== 7) || !(storage instanceof Storage) || !isCount(offset) ||
            shape === undefined || strides === undefined || shape.length !== strides.length ||
            typeof grad !== "boolean" || !(hooks instanceof PyDict) ||
            !(metadata === undefined || metadata === null || metadata instanceof PyDict)
          ) {
            throw bad(
              at,
              `calls ${REBUILD_TENSOR} with other than (storage, offset, size, stride, requires_grad, hooks[, metadata]) of non-negative integers and one stride per axis`,
              args.map(pyTypeName),
            );
          }
          return new Tensor(storage, offset, shape, strides);
        }
        default:
          throw bad(at, `calls ${fn.name}, which names a storage type and is never called in a state dict`, fn.name);
      }
    },
    persistentLoad(pid, at) {
      const items = pid instanceof PyTuple ? pid.items : [];
      const [tag, type, key, location, numel] = items;
      if (
        items.length !== 5 || tag !== "storage" || !(type instanceof PyGlobal) || typeof key !== "string" ||
        typeof location !== "string" || !isCount(numel)
      ) {
        throw bad(
          at,
          "has a persistent id other than ('storage', storage type, key, location, numel)",
          items.map(pyTypeName),
        );
      }
      const typeName = type.name.slice("torch.".length);
      const info = type.name.startsWith("torch.") ? STORAGES[typeName] : undefined;
      if (info === undefined || !Object.hasOwn(STORAGES, typeName)) {
        throw bad(at, "names a storage whose type is not a torch storage type", type.name);
      }
      const known = storages.get(key);
      if (known !== undefined) {
        if (known.typeName !== typeName || known.numel !== numel) {
          throw bad(
            at,
            `names storage "${key}" as both ${known.typeName} of ${known.numel} and ${typeName} of ${numel}`,
            key,
          );
        }
        return known;
      }
      const record = records.get(`${stem}/data/${key}`);
      if (record === undefined) throw bad(at, `names storage "${key}", which the archive does not hold`, key);
      if (record.method !== 0) {
        throw typeError(
          src,
          `a PyTorch checkpoint whose storage "${key}" is compressed (torch.save stores them)`,
          record.method,
        );
      }
      if (record.size !== numel * info.size) {
        throw typeError(
          src,
          `a PyTorch state dict: storage "${key}" has ${record.size} bytes where ${numel} values of ${typeName} need ${
            numel * info.size
          }`,
          record.size,
        );
      }
      const s = new Storage(key, typeName, info.type, info.size, numel, record);
      storages.set(key, s);
      return s;
    },
  };
}

/** Python's `str()` of a dict key, for dotted names. */
function keyText(k: string | number | bigint | boolean | null): string {
  return k === null ? "None" : k === true ? "True" : k === false ? "False" : String(k);
}

/** The tensors of a (nested) dict with dotted keys, in insertion order; every dict is entered once. */
function flatten(src: Source, root: PyDict): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  const seen = new Set<PyDict>([root]);
  const walk = (dict: PyDict, prefix: string, depth: number) => {
    if (depth > MAX_DEPTH) {
      throw rangeError(src, `a PyTorch state dict nested more than ${MAX_DEPTH} dicts deep`, prefix);
    }
    for (const [k, v] of dict.map) {
      const key = prefix + keyText(k);
      if (v instanceof Tensor) out.push([key, v]);
      else if (v instanceof PyDict && !seen.has(v)) {
        seen.add(v);
        walk(v, `${key}.`, depth + 1);
      }
    }
  };
  walk(root, "", 0);
  return out;
}

/** Whether a view reads its values in row-major order without gaps (strides of size-1 axes do not matter). */
function contiguous(shape: number[], stride: number[]): boolean {
  let want = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    if (shape[k] !== 1 && stride[k] !== want) return false;
    want *= shape[k];
  }
  return true;
}

/** The values of a strided view, row-major: f64 into a Float64Array, the other float types into a Float32Array. */
function gather(
  raw: Uint8Array,
  type: NumericType,
  littleEndian: boolean,
  t: Tensor,
  count: number,
): Float32Array | Float64Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const out = type === "f64" ? new Float64Array(count) : new Float32Array(count);
  const read: (i: number) => number = type === "f64"
    ? (i) => view.getFloat64(8 * i, littleEndian)
    : type === "f32"
    ? (i) => view.getFloat32(4 * i, littleEndian)
    : type === "f16"
    ? (i) => halfToNumber(view.getUint16(2 * i, littleEndian))
    : (i) => bfloat16ToNumber(view.getUint16(2 * i, littleEndian));
  const { shape, stride } = t;
  const r = shape.length;
  const index = new Array<number>(r).fill(0);
  let at = t.offset;
  for (let c = 0; c < count; c++) {
    out[c] = read(at);
    for (let k = r - 1; k >= 0; k--) {
      index[k]++;
      at += stride[k];
      if (index[k] < shape[k]) break;
      at -= stride[k] * shape[k];
      index[k] = 0;
    }
  }
  return out;
}

/**
 * The tensors of a torch.save zip archive, in the pickled dict's order (nested
 * dicts flattened with dotted keys), each decoded on demand. Every view is
 * checked against its storage before anything is allocated, and the views
 * together may read at most `maxBytes / 8` more values than their storages
 * hold (expanded and overlapping views).
 */
export function torchEntries(bytes: Uint8Array, src: Source, maxBytes: number): StateEntry[] {
  if (!(bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b)) {
    if (looksLikeLegacyTorch(bytes)) {
      throw typeError(
        src,
        "a PyTorch checkpoint: this is the format before PyTorch 1.6 (a bare pickle stream, or torch.save with _use_new_zipfile_serialization=False), which is not read: load it in PyTorch and save model.state_dict() again with torch.save",
        Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" "),
      );
    }
    throw typeError(
      src,
      "a PyTorch checkpoint: it is not a zip archive (torch.save writes one since PyTorch 1.6)",
      bytes,
    );
  }
  const entries = zipEntries(bytes, src);
  const records = new Map(entries.map((e) => [e.name, e]));
  const names = entries.map((e) => e.name);
  const stem = archiveStem(names, src);
  if (stem === undefined) {
    throw typeError(
      src,
      "a PyTorch checkpoint: the zip archive has no <name>/data.pkl (is it an npz?)",
      names.slice(0, 4),
    );
  }
  if (records.has(`${stem}/constants.pkl`) || names.some((n) => n.startsWith(`${stem}/code/`))) {
    throw typeError(
      src,
      "a PyTorch state dict: this is a TorchScript archive (torch.jit.save), whose model is code: save model.state_dict() with torch.save instead",
      `${stem}/code/`,
    );
  }
  let littleEndian = true;
  const order = records.get(`${stem}/byteorder`);
  if (order !== undefined) {
    const text = new TextDecoder().decode(storedEntry(src, order)).trim();
    if (text !== "little" && text !== "big") {
      throw typeError(src, "a PyTorch checkpoint whose byteorder is not little or big", text);
    }
    littleEndian = text === "little";
  }
  const pkl = records.get(`${stem}/data.pkl`)!;
  const root = unpickle(storedEntry(src, pkl), src, "data.pkl", stateDictHooks(src, stem, records));
  if (!(root instanceof PyDict)) {
    throw typeError(
      src,
      "a PyTorch state dict: data.pkl holds something other than a dict of tensors",
      pyTypeName(root),
    );
  }
  const out: StateEntry[] = [];
  const held = new Set<Storage>();
  let viewed = 0;
  for (const [key, t] of flatten(src, root)) {
    const what = `tensor "${key}"`;
    const count = elementCount(src, what, t.shape);
    const s = t.storage;
    if (count > 0) {
      let last = t.offset;
      for (let k = 0; k < t.shape.length; k++) last += (t.shape[k] - 1) * t.stride[k];
      if (last >= s.numel) {
        throw rangeError(
          src,
          `${what} of shape ${JSON.stringify(t.shape)}, strides ${
            JSON.stringify(t.stride)
          } and offset ${t.offset} reads past the end of its storage "${s.key}" (${s.numel} values)`,
          last,
        );
      }
    }
    held.add(s);
    viewed += count;
    out.push({
      key,
      shape: t.shape,
      float: s.type !== undefined,
      decode() {
        if (s.type === undefined) {
          throw typeError(src, `${what} has a storage type other than Float, Double, Half and BFloat16`, s.typeName);
        }
        if (!s.checked) {
          storedEntry(src, s.record);
          s.checked = true;
        }
        return contiguous(t.shape, t.stride)
          ? decodeFloats(src, what, s.record.raw, t.offset * s.size, count, s.type, littleEndian)
          : gather(s.record.raw, s.type, littleEndian, t, count);
      },
    });
  }
  let stored = 0;
  for (const s of held) stored += s.numel;
  if ((viewed - stored) * 8 > maxBytes) {
    throw rangeError(
      src,
      `a PyTorch state dict whose tensors view ${
        viewed - stored
      } more values than their storages hold (expanded or overlapping views), more than maxBytes (${maxBytes}) allows at 8 bytes a value`,
      viewed,
    );
  }
  return out;
}

/**
 * The conv layers of a torch.save state dict: tensors named `*.weight` of
 * rank 3–5 (PyTorch's `oiw`/`oihw`/`oidhw`), each with the BatchNorm that
 * follows it, exactly as for the same state dict in safetensors (see
 * {@linkcode stateDictLayers}).
 */
export function readTorch(
  bytes: Uint8Array,
  src: Source,
  options: { layout?: Layout | undefined; layers?: Overrides | undefined },
  maxBytes: number,
): ConvLayer[] {
  return stateDictLayers(
    src,
    torchEntries(bytes, src, maxBytes),
    (e) => e.key.endsWith(".weight") && e.shape.length >= 3 && e.shape.length <= 5,
    (key) => key.slice(0, -".weight".length),
    options,
  );
}
