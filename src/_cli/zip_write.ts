/**
 * Writes a zip archive of stored (uncompressed) members, as `np.savez` does:
 * a local header and the bytes of each member, then the central directory
 * and its end record. No zip64: the archive and every member stay under
 * 4 GiB and 65535 members.
 * @module
 */
import { crc32 } from "../_readers/zip.ts";

/** One member to store. */
export interface ZipMember {
  name: string;
  bytes: Uint8Array;
}

const LIMIT = 0xffffffff;

/** The bytes of a zip archive storing `members` in order. */
export function zipStored(members: readonly ZipMember[]): Uint8Array {
  const enc = new TextEncoder();
  const names = members.map((m) => enc.encode(m.name));
  const local = members.reduce((n, m, j) => n + 30 + names[j].length + m.bytes.length, 0);
  const central = names.reduce((n, b) => n + 46 + b.length, 0);
  if (members.length > 0xffff || local + central + 22 > LIMIT) {
    throw new RangeError(
      `Cannot write a zip archive as it must hold at most 65535 members and 4 GiB (zip64 is not written): current value is ${members.length} members, ${
        local + central + 22
      } bytes`,
    );
  }
  const out = new Uint8Array(local + central + 22);
  const view = new DataView(out.buffer);
  const offsets: number[] = [];
  const crcs = members.map((m) => crc32(m.bytes));
  // Every field a reader checks: version 2.0, no flags except UTF-8 names (bit 11), method 0, DOS time 1980-01-01.
  const common = (at: number, j: number) => {
    view.setUint16(at, 20, true);
    view.setUint16(at + 2, 0x0800, true);
    view.setUint16(at + 4, 0, true);
    view.setUint16(at + 6, 0, true);
    view.setUint16(at + 8, 0x21, true);
    view.setUint32(at + 10, crcs[j], true);
    view.setUint32(at + 14, members[j].bytes.length, true);
    view.setUint32(at + 18, members[j].bytes.length, true);
    view.setUint16(at + 22, names[j].length, true);
    view.setUint16(at + 24, 0, true);
  };
  let at = 0;
  members.forEach((m, j) => {
    offsets.push(at);
    view.setUint32(at, 0x04034b50, true);
    common(at + 4, j);
    out.set(names[j], at + 30);
    out.set(m.bytes, at + 30 + names[j].length);
    at += 30 + names[j].length + m.bytes.length;
  });
  const cdStart = at;
  members.forEach((_m, j) => {
    view.setUint32(at, 0x02014b50, true);
    view.setUint16(at + 4, 20, true); // version made by
    common(at + 6, j);
    // comment length, disk, internal and external attributes stay 0
    view.setUint32(at + 42, offsets[j], true);
    out.set(names[j], at + 46);
    at += 46 + names[j].length;
  });
  view.setUint32(at, 0x06054b50, true);
  view.setUint16(at + 8, members.length, true);
  view.setUint16(at + 10, members.length, true);
  view.setUint32(at + 12, at - cdStart, true);
  view.setUint32(at + 16, cdStart, true);
  return out;
}
