/**
 * Builders of hostile model files for tests/hostile_files.test.ts (issue 18):
 * zip archives with lying directories, deflate bombs built from one small
 * repeated block (so the test never holds what they inflate to), ONNX models
 * with chosen dims, data types and attributes, TF.js models nested deep, and
 * large generated state dicts and graphs for the readers' scaling checks.
 * Nothing here is committed as a binary: every file is built at test time.
 * @module
 */
import { deflateRawSync } from "node:zlib";
import { constants as zlibConstants } from "node:zlib";

// ------------------------------------------------------------------ zip

/** One member of a zip to build: its name, its bytes as stored in the archive, and what the directory states. */
export interface ZipMember {
  name: string;
  /** The member's data as it lies in the archive (deflated or not). */
  data: Uint8Array;
  /** 0 stored, 8 deflated (default 0). */
  method?: number;
  /** The stated CRC-32 (default: of `data`, right for stored members). */
  crc?: number;
  /** The stated inflated size (default `data.length`). */
  size?: number;
  /** State the inflated size in a zip64 extra field (the 32-bit field all ones). */
  zip64Size?: boolean;
}

let table: Uint32Array | undefined;
/** CRC-32 (IEEE), as zip uses it. */
export function crc32(bytes: Uint8Array): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let j = 0; j < bytes.length; j++) c = table[(c ^ bytes[j]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A zip archive of `members`. `centralOf` maps each central-directory entry
 * to the member whose local header it points at (default: entry j → member
 * j), so that many entries can point at one stream.
 */
export function zip(members: ZipMember[], centralOf?: number[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const offsets: number[] = [];
  let at = 0;
  for (const m of members) {
    const name = enc.encode(m.name);
    const h = new Uint8Array(30 + name.length);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0x04034b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(8, m.method ?? 0, true);
    v.setUint32(14, m.crc ?? crc32(m.data), true);
    v.setUint32(18, m.data.length, true);
    v.setUint32(22, m.zip64Size ? 0xffffffff : Math.min(m.size ?? m.data.length, 0xffffffff), true);
    v.setUint16(26, name.length, true);
    h.set(name, 30);
    offsets.push(at);
    parts.push(h, m.data);
    at += h.length + m.data.length;
  }
  const cdStart = at;
  const entries = centralOf ?? members.map((_, j) => j);
  for (const j of entries) {
    const m = members[j];
    const name = enc.encode(m.name);
    const extra = m.zip64Size ? 12 : 0;
    const c = new Uint8Array(46 + name.length + extra);
    const v = new DataView(c.buffer);
    v.setUint32(0, 0x02014b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(6, 20, true);
    v.setUint16(10, m.method ?? 0, true);
    v.setUint32(16, m.crc ?? crc32(m.data), true);
    v.setUint32(20, m.data.length, true);
    v.setUint32(24, m.zip64Size ? 0xffffffff : m.size ?? m.data.length, true);
    v.setUint16(28, name.length, true);
    v.setUint16(30, extra, true);
    v.setUint32(42, offsets[j], true);
    c.set(name, 46);
    if (m.zip64Size) {
      v.setUint16(46 + name.length, 1, true);
      v.setUint16(48 + name.length, 8, true);
      v.setBigUint64(50 + name.length, BigInt(m.size ?? m.data.length), true);
    }
    parts.push(c);
    at += c.length;
  }
  const eocd = new Uint8Array(22);
  const v = new DataView(eocd.buffer);
  v.setUint32(0, 0x06054b50, true);
  v.setUint16(8, entries.length, true);
  v.setUint16(10, entries.length, true);
  v.setUint32(12, at - cdStart, true);
  v.setUint32(16, cdStart, true);
  parts.push(eocd);
  const out = new Uint8Array(at + 22);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The bytes of an `np.save` file of a float32 array (version 1 header). */
export function npy(shape: number[], data?: Float32Array): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")},), }`;
  const header = dict.padEnd(Math.ceil((dict.length + 11) / 64) * 64 - 11) + "\n";
  const n = shape.reduce((a, b) => a * b, 1);
  const values = data ?? new Float32Array(n);
  const out = new Uint8Array(10 + header.length + values.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 10 + header.length);
  return out;
}

/**
 * A raw deflate stream that inflates to `mib` MiB of zeros, built from one
 * sync-flushed block of 1 MiB of zeros repeated `mib` times and a final empty
 * block: about 1 KiB per MiB, and never more than 1 MiB of zeros in memory.
 */
export function zeroBomb(mib: number): Uint8Array {
  const block = deflateRawSync(new Uint8Array(1 << 20), { level: 9, finishFlush: zlibConstants.Z_SYNC_FLUSH });
  const end = deflateRawSync(new Uint8Array(0));
  const out = new Uint8Array(block.length * mib + end.length);
  for (let j = 0; j < mib; j++) out.set(block, j * block.length);
  out.set(end, block.length * mib);
  return out;
}

// ------------------------------------------------------------------ ONNX

/** Protocol-buffer writing, enough to build ONNX models by hand. */
export const pb = {
  varint(n: number | bigint): number[] {
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n;
    const out: number[] = [];
    do {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      out.push(v > 0n ? b | 0x80 : b);
    } while (v > 0n);
    return out;
  },
  bytes(no: number, body: ArrayLike<number>): number[] {
    const out = [...pb.varint(no * 8 + 2), ...pb.varint(body.length)];
    for (let j = 0; j < body.length; j++) out.push(body[j]);
    return out;
  },
  str(no: number, s: string): number[] {
    return pb.bytes(no, new TextEncoder().encode(s));
  },
  int(no: number, v: number | bigint): number[] {
    return [...pb.varint(no * 8), ...pb.varint(v)];
  },
};

/** An AttributeProto of type INTS. */
export function attrInts(name: string, v: (number | bigint)[]): number[] {
  return [...pb.str(1, name), ...pb.bytes(8, v.flatMap((x) => pb.varint(x))), ...pb.int(20, 7)];
}

/** An AttributeProto of type INT. */
export function attrInt(name: string, v: number | bigint): number[] {
  return [...pb.str(1, name), ...pb.int(3, v), ...pb.int(20, 2)];
}

/** An AttributeProto of type STRING. */
export function attrString(name: string, v: string): number[] {
  return [...pb.str(1, name), ...pb.str(4, v), ...pb.int(20, 3)];
}

/** A TensorProto: dims, data type, name, and raw data or float_data when given. */
export function tensorProto(
  name: string,
  dims: (number | bigint)[],
  dataType: number,
  data: { raw?: Uint8Array; floats?: ArrayLike<number> } = {},
): number[] {
  const t = [...dims.flatMap((d) => pb.int(1, d)), ...pb.int(2, dataType), ...pb.str(8, name)];
  if (data.raw) t.push(...pb.bytes(9, data.raw));
  if (data.floats) t.push(...pb.bytes(4, new Uint8Array(new Float32Array(data.floats).buffer)));
  return t;
}

/** An ONNX node. */
export function nodeProto(
  op: string,
  name: string,
  inputs: string[],
  outputs: string[],
  attrs: number[][] = [],
): number[] {
  return [
    ...inputs.flatMap((i) => pb.str(1, i)),
    ...outputs.flatMap((o) => pb.str(2, o)),
    ...pb.str(3, name),
    ...pb.str(4, op),
    ...attrs.flatMap((a) => pb.bytes(5, a)),
  ];
}

/** A graph input `name` of float NCHW dims. */
export function inputProto(name: string, dims: number[]): number[] {
  const d = dims.flatMap((x) => pb.bytes(1, pb.int(1, x)));
  return [...pb.str(1, name), ...pb.bytes(2, pb.bytes(1, [...pb.int(1, 1), ...pb.bytes(2, d)]))];
}

/** A ModelProto of `nodes`, `initializers` (TensorProto bodies) and `inputs` (ValueInfoProto bodies). */
export function onnxModel(nodes: number[][], initializers: number[][], inputs: number[][]): Uint8Array {
  const graph: number[] = [];
  for (const n of nodes) graph.push(...pb.bytes(1, n));
  for (const t of initializers) graph.push(...pb.bytes(5, t));
  for (const i of inputs) graph.push(...pb.bytes(11, i));
  return new Uint8Array([...pb.int(1, 8), ...pb.bytes(7, graph)]);
}

/** A one-Conv ONNX model: input x [1, 2, 8, 8], weight w [2, 2, 3, 3] as raw floats, the given attributes. */
export function onnxConv(attrs: number[][] = [], weight?: number[]): Uint8Array {
  const w = weight ?? tensorProto("w", [2, 2, 3, 3], 1, { raw: new Uint8Array(36 * 4) });
  return onnxModel([nodeProto("Conv", "conv", ["x", "w"], ["y"], attrs)], [w], [inputProto("x", [1, 2, 8, 8])]);
}

// ------------------------------------------------------------------ TF.js

/** A layers-model whose one Conv2D sits inside `depth` nested Sequential models. */
export function nestedTfjs(depth: number): { modelJson: unknown; weights: Uint8Array[] } {
  let inner: unknown = {
    class_name: "Sequential",
    config: {
      name: "m0",
      layers: [{
        class_name: "Conv2D",
        config: { name: "c", filters: 1, kernel_size: [1, 1], batch_input_shape: [null, 4, 4, 1] },
      }],
    },
  };
  for (let j = 1; j < depth; j++) inner = { class_name: "Sequential", config: { name: `m${j}`, layers: [inner] } };
  return {
    modelJson: {
      format: "layers-model",
      modelTopology: inner,
      weightsManifest: [{ paths: ["w.bin"], weights: [{ name: "c/kernel", shape: [1, 1, 1, 1], dtype: "float32" }] }],
    },
    weights: [new Uint8Array(new Float32Array([1]).buffer)],
  };
}

/** A TF.js layers-model (model.json, as an object) of one Conv2D 3×3, 2 → 2, on 8×8, and its 144-byte shard. */
export function tinyTfjs(paths = ["weights.bin"]): { modelJson: Record<string, unknown>; shard: Uint8Array } {
  const modelJson = {
    format: "layers-model",
    modelTopology: {
      class_name: "Sequential",
      config: {
        name: "tiny",
        layers: [{
          class_name: "Conv2D",
          config: { name: "c", filters: 2, kernel_size: [3, 3], strides: [1, 1], batch_input_shape: [null, 8, 8, 2] },
        }],
      },
    },
    weightsManifest: [{ paths, weights: [{ name: "c/kernel", shape: [3, 3, 2, 2], dtype: "float32" }] }],
  };
  return { modelJson, shard: new Uint8Array(new Float32Array(36).map((_, j) => j / 36).buffer) };
}

// ------------------------------------------------------------------ large generated files (scaling)

/** A safetensors state dict of `n` modules `m{i}` with a 1×1 conv and its BatchNorm, in key order. */
export function stateDictSafetensors(n: number): Uint8Array {
  const header: Record<string, unknown> = {};
  let o = 0;
  const add = (key: string, shape: number[]) => {
    const bytes = 4 * shape.reduce((a, b) => a * b, 1);
    header[key] = { dtype: "F32", shape, data_offsets: [o, o + bytes] };
    o += bytes;
  };
  for (let i = 0; i < n; i++) {
    const m = `m${String(i).padStart(7, "0")}`;
    add(`${m}.conv.weight`, [1, 1, 1, 1]);
    for (const p of ["bias", "running_mean", "running_var", "weight"]) add(`${m}.bn.${p}`, [1]);
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + o);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  return out;
}

/** An ONNX model whose input `x` feeds one Conv and `n` Relu nodes (one tensor with many consumers). */
export function onnxFanOut(n: number): Uint8Array {
  const nodes = [nodeProto("Conv", "conv", ["x", "w"], ["y"])];
  for (let i = 0; i < n; i++) nodes.push(nodeProto("Relu", `r${i}`, ["x"], [`r${i}`]));
  return onnxModel(
    nodes,
    [tensorProto("w", [2, 2, 3, 3], 1, { raw: new Uint8Array(144) })],
    [inputProto("x", [1, 2, 8, 8])],
  );
}

/** A TF.js graph-model whose placeholder feeds one Conv2D and `n` Relu nodes. */
export function tfjsGraphFanOut(n: number): { modelJson: unknown; weights: Uint8Array[] } {
  const node: unknown[] = [
    {
      name: "x",
      op: "Placeholder",
      attr: { shape: { shape: { dim: [{ size: "1" }, { size: "8" }, { size: "8" }, { size: "2" }] } } },
    },
    { name: "w", op: "Const" },
    {
      name: "conv",
      op: "Conv2D",
      input: ["x", "w"],
      attr: { strides: { list: { i: ["1", "1", "1", "1"] } }, padding: { s: btoa("SAME") } },
    },
  ];
  for (let i = 0; i < n; i++) node.push({ name: `r${i}`, op: "Relu", input: ["x"] });
  return {
    modelJson: {
      format: "graph-model",
      modelTopology: { node },
      weightsManifest: [{ paths: ["w.bin"], weights: [{ name: "w", shape: [3, 3, 2, 2], dtype: "float32" }] }],
    },
    weights: [new Uint8Array(144)],
  };
}

/** A TF.js layers-model of `n` Conv2D 1×1 layers whose weights sit under a name scope (`outer/c{i}/kernel`). */
export function kerasScoped(n: number): { modelJson: unknown; weights: Uint8Array[] } {
  const layers: unknown[] = [];
  const weights: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const config: Record<string, unknown> = { name: `c${i}`, filters: 1, kernel_size: [1, 1] };
    if (i === 0) config.batch_input_shape = [null, 4, 4, 1];
    layers.push({ class_name: "Conv2D", config });
    weights.push({ name: `outer/c${i}/kernel`, shape: [1, 1, 1, 1], dtype: "float32" });
  }
  return {
    modelJson: {
      format: "layers-model",
      modelTopology: { class_name: "Sequential", config: { name: "deep", layers } },
      weightsManifest: [{ paths: ["w.bin"], weights }],
    },
    weights: [new Uint8Array(4 * n)],
  };
}

/** An npz (stored) of `n` modules, each a 1×1 conv and its BatchNorm, as `np.savez(**state_dict)` writes them. */
export function stateDictNpz(n: number): Uint8Array {
  const members: ZipMember[] = [];
  for (let i = 0; i < n; i++) {
    const m = `m${String(i).padStart(7, "0")}`;
    members.push({ name: `${m}.conv.weight.npy`, data: npy([1, 1, 1, 1]) });
    for (const p of ["bias", "running_mean", "running_var", "weight"]) {
      members.push({ name: `${m}.bn.${p}.npy`, data: npy([1]) });
    }
  }
  return zip(members);
}

// ------------------------------------------------------------------ PyTorch

const enc = (s: string) => Array.from(new TextEncoder().encode(s));
const u32le = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

/** Pickle opcodes for hand-built pickles, as torch.save (protocol 2) writes them. */
export const pk = {
  proto: (v = 2): number[] => [0x80, v],
  stop: [0x2e],
  mark: [0x28],
  tuple: [0x74],
  emptyDict: [0x7d],
  emptyTuple: [0x29],
  emptyList: [0x5d],
  setitem: [0x73],
  setitems: [0x75],
  append: [0x61],
  reduce: [0x52],
  build: [0x62],
  persid: [0x51],
  none: [0x4e],
  false: [0x89],
  true: [0x88],
  /** BINUNICODE. */
  str: (s: string): number[] => {
    const b = enc(s);
    return [0x58, ...u32le(b.length), ...b];
  },
  /** BININT1, BININT2, BININT or LONG1 (8 bytes), whichever fits. */
  int: (n: number): number[] => {
    if (n >= 0 && n < 256) return [0x4b, n];
    if (n >= 0 && n < 65536) return [0x4d, n & 0xff, n >> 8];
    if (n >= -(2 ** 31) && n < 2 ** 31) return [0x4a, ...u32le(n >>> 0)];
    const out = [0x8a, 8];
    let v = BigInt.asUintN(64, BigInt(n));
    for (let j = 0; j < 8; j++, v >>= 8n) out.push(Number(v & 0xffn));
    return out;
  },
  /** GLOBAL `module name`. */
  global: (module: string, name: string): number[] => [0x63, ...enc(`${module}\n${name}\n`)],
  binput: (i: number): number[] => [0x71, i],
  binget: (i: number): number[] => [0x68, i],
};

/** Concatenates pickle parts without spreading large arrays into a call. */
export function pkCat(...parts: ArrayLike<number>[]): number[] {
  const out: number[] = [];
  for (const p of parts) for (let j = 0; j < p.length; j++) out.push(p[j]);
  return out;
}

/** The tuple of the pickled `parts`: MARK … TUPLE. */
export function pkTuple(...parts: ArrayLike<number>[]): number[] {
  return pkCat(pk.mark, ...parts, pk.tuple);
}

/** A tensor as torch.save pickles it: a view of storage `storage` (its key). */
export interface TorchTensorSpec {
  storage: string;
  /** The storage type (default FloatStorage). */
  type?: string;
  /** The storage's value count, as its persistent id states it. */
  numel: number;
  offset?: number;
  shape: number[];
  /** Default: row-major contiguous. */
  stride?: number[];
}

/** `_rebuild_tensor_v2(('storage', torch.TYPE, key, 'cpu', numel), offset, shape, stride, False, OrderedDict())`. */
export function pkTensor(t: TorchTensorSpec): number[] {
  const stride = t.stride ?? t.shape.map((_, k) => t.shape.slice(k + 1).reduce((a, b) => a * b, 1));
  const pid = pkTuple(
    pk.str("storage"),
    pk.global("torch", t.type ?? "FloatStorage"),
    pk.str(t.storage),
    pk.str("cpu"),
    pk.int(t.numel),
  );
  return pkCat(
    pk.global("torch._utils", "_rebuild_tensor_v2"),
    pkTuple(
      pid,
      pk.persid,
      pk.int(t.offset ?? 0),
      pkTuple(...t.shape.map(pk.int)),
      pkTuple(...stride.map(pk.int)),
      pk.false,
      pk.global("collections", "OrderedDict"),
      pk.emptyTuple,
      pk.reduce,
    ),
    pk.reduce,
  );
}

/** A pickled state dict `{key: value}` (an OrderedDict, as torch.save writes one); values are pickled parts. */
export function pkStateDict(entries: [string, ArrayLike<number>][]): Uint8Array {
  const items: ArrayLike<number>[] = [];
  for (const [k, v] of entries) items.push(pk.str(k), v);
  return new Uint8Array(
    pkCat(
      pk.proto(),
      pk.global("collections", "OrderedDict"),
      pk.emptyTuple,
      pk.reduce,
      pk.mark,
      ...items,
      pk.setitems,
      pk.stop,
    ),
  );
}

/**
 * A torch.save zip archive: `<stem>/data.pkl`, `<stem>/data/<key>` for each
 * storage, `<stem>/version`, and `<stem>/byteorder` when given.
 */
export function torchZip(
  pickle: ArrayLike<number>,
  storages: Record<string, Uint8Array>,
  options: { stem?: string; byteorder?: string } = {},
): Uint8Array {
  const stem = options.stem ?? "archive";
  const members: ZipMember[] = [{ name: `${stem}/data.pkl`, data: Uint8Array.from(pickle) }];
  if (options.byteorder !== undefined) {
    members.push({ name: `${stem}/byteorder`, data: new TextEncoder().encode(options.byteorder) });
  }
  for (const [key, data] of Object.entries(storages)) members.push({ name: `${stem}/data/${key}`, data });
  members.push({ name: `${stem}/version`, data: new TextEncoder().encode("3\n") });
  return zip(members);
}

/** Float32 little-endian bytes of `values`. */
export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** A torch.save state dict of `n` modules `m{i}`, each a 1×1 conv and its BatchNorm, every tensor its own storage. */
export function stateDictTorch(n: number): Uint8Array {
  const entries: [string, number[]][] = [];
  const storages: Record<string, Uint8Array> = {};
  let key = 0;
  const add = (name: string, shape: number[]) => {
    const k = String(key++);
    storages[k] = new Uint8Array(4);
    entries.push([name, pkTensor({ storage: k, numel: 1, shape })]);
  };
  for (let i = 0; i < n; i++) {
    const m = `m${String(i).padStart(7, "0")}`;
    add(`${m}.conv.weight`, [1, 1, 1, 1]);
    for (const p of ["bias", "running_mean", "running_var", "weight"]) add(`${m}.bn.${p}`, [1]);
  }
  return torchZip(pkStateDict(entries), storages);
}
