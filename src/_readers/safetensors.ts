/**
 * safetensors files (PyTorch state dicts): an 8-byte little-endian header
 * length, a JSON header `{ name: { dtype, shape, data_offsets } }`, then the
 * tensors' little-endian bytes.
 * @module
 */
import type { ConvLayer } from "../model.ts";
import {
  checkRange,
  decodeFloats,
  elementCount,
  isCount,
  ITEM_SIZE,
  type NumericType,
  rangeError,
  type Source,
  typeError,
} from "./_common.ts";
import { type Overrides, stateDictLayers, type StateEntry } from "./_state_dict.ts";
import type { Layout } from "../types.ts";

/** The safetensors format's own limit on the header (100 MB). */
const MAX_HEADER = 100_000_000;

const DTYPES: Record<string, NumericType> = { F64: "f64", F32: "f32", F16: "f16", BF16: "bf16" };
const OTHER_SIZES: Record<string, number> = { I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1 };

/** True when the bytes look like safetensors: a header length that fits and a header that starts with `{`. */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b;
}

/** The tensors of a safetensors file, in header order, each decoded on demand. */
export function safetensorsEntries(bytes: Uint8Array, src: Source): StateEntry[] {
  if (bytes.length < 8) throw rangeError(src, "safetensors is shorter than its 8-byte header length", bytes);
  const claimed = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (claimed > BigInt(bytes.length - 8) || claimed > BigInt(MAX_HEADER)) {
    throw rangeError(src, `safetensors has a header length past the end of the file (${bytes.length} bytes)`, claimed);
  }
  const n = Number(claimed);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw typeError(src, `safetensors has a header that is not JSON (${(e as Error).message})`, n);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw typeError(src, "safetensors has a header that is not a JSON object", header);
  }
  const data = bytes.subarray(8 + n);
  const entries: StateEntry[] = [];
  for (const [key, info] of Object.entries(header as Record<string, unknown>)) {
    if (key === "__metadata__") continue;
    const { dtype, shape, data_offsets: offsets } = (info ?? {}) as Record<string, unknown>;
    if (typeof dtype !== "string") throw typeError(src, `tensor "${key}" has no dtype`, info);
    const count = elementCount(src, `tensor "${key}"`, shape);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      throw typeError(src, `tensor "${key}" has data_offsets that are not [begin, end]`, offsets);
    }
    const [begin, end] = offsets as number[];
    checkRange(src, `tensor "${key}"`, data, begin, end - begin);
    const type = DTYPES[dtype];
    const size = type !== undefined ? ITEM_SIZE[type] : OTHER_SIZES[dtype];
    if (size !== undefined && end - begin !== count * size) {
      throw typeError(
        src,
        `tensor "${key}" has ${end - begin} bytes where its ${dtype} shape ${JSON.stringify(shape)} needs ${
          count * size
        }`,
        end - begin,
      );
    }
    entries.push({
      key,
      shape: shape as number[],
      float: type !== undefined,
      decode() {
        if (type === undefined) {
          throw typeError(src, `tensor "${key}" has a dtype other than F64, F32, F16 and BF16`, dtype);
        }
        return decodeFloats(src, `tensor "${key}"`, data, begin, count, type);
      },
    });
  }
  return entries;
}

/**
 * The conv layers of a safetensors state dict: tensors named `*.weight` of
 * rank 3–5 (any dtype other than the four float ones is refused), each
 * with the BatchNorm that follows it (see {@linkcode stateDictLayers}).
 */
export function readSafetensors(
  bytes: Uint8Array,
  src: Source,
  options: { layout?: Layout | undefined; layers?: Overrides | undefined },
): ConvLayer[] {
  const entries = safetensorsEntries(bytes, src);
  return stateDictLayers(
    src,
    entries,
    (e) => e.key.endsWith(".weight") && e.shape.length >= 3 && e.shape.length <= 5,
    (key) => key.slice(0, -".weight".length),
    options,
  );
}
