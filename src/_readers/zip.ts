/**
 * zip archives, as `np.savez` and `np.savez_compressed` write them: the
 * members from the central directory (zip64 included, every offset checked
 * against the archive), located but not extracted; a member's bytes, stored
 * ones as they are and deflated ones through the platform's
 * `DecompressionStream("deflate-raw")`, bounded by the size the directory
 * states; and every extracted member checked against its CRC-32. Encrypted
 * members and compression methods other than stored and deflate are refused.
 * @module
 */
import { checkRange, rangeError, type Source, typeError } from "./_common.ts";

/** One member of a zip archive, located but not extracted. */
export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  crc: number;
  size: number;
  /** The member's (compressed) bytes, a view into the archive. */
  raw: Uint8Array;
  /** Offset of its local header in the archive (where its extent starts). */
  local: number;
}

/** Most a deflated member may state as its inflated size per compressed byte (deflate's own limit is about 1032). */
export const MAX_RATIO = 1000;
/** Members that inflate to at most this many bytes are exempt from {@linkcode MAX_RATIO}. */
export const RATIO_FREE_BYTES = 1 << 20;
/** Compressed bytes handed to the inflater at a time: bounds what one step can produce (about 1032 × this). */
const INFLATE_STEP = 16 * 1024;

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** The members of a zip archive, from its central directory (zip64 included), every offset checked. */
export function zipEntries(bytes: Uint8Array, src: Source): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let eocd = -1;
  for (let p = bytes.length - 22; p >= Math.max(0, bytes.length - 22 - 65535); p--) {
    if (view.getUint32(p, true) === EOCD) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw typeError(src, "a zip archive has no end-of-central-directory record (truncated?)", bytes);
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== 0x07064b50) {
      throw typeError(src, "a zip64 archive has no zip64 locator", eocd);
    }
    const rec = Number(view.getBigUint64(loc + 8, true));
    checkRange(src, "the zip64 end-of-central-directory record", bytes, rec, 56);
    if (view.getUint32(rec, true) !== 0x06064b50) throw typeError(src, "the zip64 record has a wrong signature", rec);
    count = Number(view.getBigUint64(rec + 32, true));
    cdSize = Number(view.getBigUint64(rec + 40, true));
    cdOffset = Number(view.getBigUint64(rec + 48, true));
  }
  checkRange(src, "the zip central directory", bytes, cdOffset, cdSize);
  if (count * 46 > cdSize) {
    throw rangeError(src, `the zip central directory claims more entries than its ${cdSize} bytes hold`, count);
  }
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let j = 0; j < count; j++) {
    checkRange(src, "a zip central directory entry", bytes, p, 46);
    if (view.getUint32(p, true) !== CENTRAL) {
      throw typeError(src, "a zip central directory entry has a wrong signature", p);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let csize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    checkRange(src, "a zip central directory entry", bytes, p + 46, nameLen + extraLen + commentLen);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field: the 64-bit values of the 32-bit fields that are all ones, in this order
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        const next = () => {
          if (q + 8 > e + 4 + len) throw typeError(src, `zip entry "${name}" has a short zip64 field`, len);
          const v = Number(view.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (csize === 0xffffffff) csize = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + len;
    }
    p = extraEnd + commentLen;
    if (flags & 1) throw typeError(src, `zip entry "${name}" is encrypted`, name);
    checkRange(src, `zip entry "${name}"'s local header`, bytes, local, 30);
    if (view.getUint32(local, true) !== LOCAL) {
      throw typeError(src, `zip entry "${name}" has a wrong local header signature`, local);
    }
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    checkRange(src, `zip entry "${name}"`, bytes, start, csize);
    if (method !== 0 && method !== 8) {
      throw typeError(
        src,
        `zip entry "${name}" uses a compression method other than stored (0) and deflate (8)`,
        method,
      );
    }
    if (method === 0 && size !== csize) {
      throw typeError(src, `stored zip entry "${name}" has different sizes`, [csize, size]);
    }
    entries.push({ name, method, crc, size, raw: bytes.subarray(start, start + csize), local });
  }
  // entries whose extents (local header to end of data) overlap: one stream counted many times, a zip bomb's trick
  const byStart = [...entries].sort((a, b) => a.local - b.local);
  for (let j = 1; j < byStart.length; j++) {
    const before = byStart[j - 1], after = byStart[j];
    const end = before.raw.byteOffset - bytes.byteOffset + before.raw.length;
    if (after.local < end) {
      throw rangeError(
        src,
        `zip entries "${before.name}" and "${after.name}" that overlap in the archive (a zip bomb?)`,
        [before.local, end, after.local],
      );
    }
  }
  return entries;
}

/**
 * Checks, before anything is inflated, what the deflated members among
 * `entries` state: their inflated sizes together at most `maxBytes`, and each
 * above {@linkcode RATIO_FREE_BYTES} at most {@linkcode MAX_RATIO} times its
 * compressed size; else a RangeError.
 */
export function checkInflateBudget(src: Source, entries: ZipEntry[], maxBytes: number): void {
  let total = 0;
  for (const e of entries) {
    if (e.method !== 8) continue;
    total += e.size;
    if (total > maxBytes) {
      throw rangeError(
        src,
        `an npz archive whose deflated members state more than maxBytes (${maxBytes}) inflated bytes in all (zip entry "${e.name}" states ${e.size})`,
        total,
      );
    }
    if (e.size > RATIO_FREE_BYTES && e.size > MAX_RATIO * e.raw.length) {
      throw rangeError(
        src,
        `zip entry "${e.name}" that states ${e.size} inflated bytes from ${e.raw.length} compressed, a ratio above ${MAX_RATIO}:1 (a zip bomb?)`,
        e.size,
      );
    }
  }
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zip uses it). */
export function crc32(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let j = 0; j < bytes.length; j++) c = crcTable[(c ^ bytes[j]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Checks an extracted member against its CRC-32. */
function checkCrc(src: Source, entry: ZipEntry, data: Uint8Array): Uint8Array {
  const crc = crc32(data);
  if (crc !== entry.crc) {
    throw typeError(src, `zip entry "${entry.name}" fails its CRC-32 check (corrupt)`, `0x${crc.toString(16)}`);
  }
  return data;
}

/** A stored member's bytes (checked); deflated members need {@linkcode inflateEntry}. */
export function storedEntry(src: Source, entry: ZipEntry): Uint8Array {
  if (entry.method !== 0) {
    throw typeError(
      src,
      `zip entry "${entry.name}" is deflated (np.savez_compressed), which only readModel (async) inflates`,
      entry.method,
    );
  }
  return checkCrc(src, entry, entry.raw);
}

/**
 * A member's bytes: stored ones as they are, deflated ones through the
 * platform's `DecompressionStream("deflate-raw")`, fed {@linkcode INFLATE_STEP}
 * compressed bytes at a time and written straight into one buffer of the
 * size the directory states, stopping as soon as the output passes it: one
 * copy of the member is resident, plus at most one step's output.
 */
export async function inflateEntry(src: Source, entry: ZipEntry): Promise<Uint8Array> {
  if (entry.method === 0) return storedEntry(src, entry);
  if (typeof DecompressionStream === "undefined") {
    throw typeError(
      src,
      `zip entry "${entry.name}" is deflated and this runtime has no DecompressionStream`,
      entry.name,
    );
  }
  const out = new Uint8Array(entry.size);
  const stream = new DecompressionStream("deflate-raw");
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  // the writer waits for the reader (the stream's backpressure), so one step's output is queued at a time
  const feed = (async () => {
    for (let p = 0; p < entry.raw.length; p += INFLATE_STEP) {
      await writer.write(entry.raw.subarray(p, p + INFLATE_STEP) as Uint8Array<ArrayBuffer>);
    }
    await writer.close();
  })().catch(() => {});
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.length > entry.size - total) {
        throw rangeError(
          src,
          `zip entry "${entry.name}" inflates past its stated ${entry.size} bytes`,
          total + value.length,
        );
      }
      out.set(value, total);
      total += value.length;
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    await feed;
    if (e instanceof RangeError) throw e;
    throw typeError(src, `zip entry "${entry.name}" is not valid deflate data (${(e as Error).message})`, entry.raw);
  }
  await feed;
  if (total !== entry.size) {
    throw rangeError(src, `zip entry "${entry.name}" inflates to fewer bytes than its stated ${entry.size}`, total);
  }
  return checkCrc(src, entry, out);
}
