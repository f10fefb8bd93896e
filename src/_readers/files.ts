/**
 * Reading model files from disk without trusting them: a file must be a
 * regular file (a FIFO would block, `/dev/zero` never ends) no larger than
 * its caller allows, checked before a byte is read and again on the opened
 * handle; the shards a TF.js manifest names must lie inside the manifest's
 * folder, after normalisation and through symbolic links. `node:fs/promises`
 * and `node:path` are passed in, so this module loads anywhere.
 * @module
 */
import { type Source, typeError } from "./_common.ts";

type Fs = typeof import("node:fs/promises");
type Paths = typeof import("node:path");

/**
 * The bytes of the regular file at `file`, refused with `notRegular()` when
 * it is not one (FIFO, device, folder) and with `tooBig(size)` when larger
 * than `limit`, both checked before it is read (stat, then the opened handle
 * again, opened non-blocking so that a FIFO swapped in never blocks). At most
 * the size the handle states is read.
 */
export async function readRegularFile(
  fs: Fs,
  file: string,
  limit: number,
  notRegular: () => Error,
  tooBig: (size: number) => Error,
): Promise<Uint8Array> {
  const before = await fs.stat(file);
  if (!before.isFile()) throw notRegular();
  if (before.size > limit) throw tooBig(before.size);
  const flags = (fs.constants?.O_RDONLY ?? 0) | (fs.constants?.O_NONBLOCK ?? 0);
  const handle = await fs.open(file, flags);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notRegular();
    if (st.size > limit) throw tooBig(st.size);
    const out = new Uint8Array(st.size);
    let n = 0;
    while (n < out.length) {
      const { bytesRead } = await handle.read(out, n, out.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return n === out.length ? out : out.subarray(0, n);
  } finally {
    await handle.close();
  }
}

/** True when `target` is `dir` or lies below it (both absolute and normalised). */
function inside(paths: Paths, dir: string, target: string): boolean {
  const rel = paths.relative(dir, target);
  return rel === "" || (!rel.startsWith("..") && !paths.isAbsolute(rel));
}

/**
 * The file a manifest's shard path `p` names, resolved against the manifest's
 * folder `dir` (whose real path is `realDir`): refused (a TypeError naming the
 * manifest) when it is absolute or a URL, or leaves the folder, lexically
 * (`../`, `./../`, `a/../../`) or through a symbolic link.
 */
export async function shardPath(
  fs: Fs,
  paths: Paths,
  src: Source,
  dir: string,
  realDir: string,
  p: string,
): Promise<string> {
  if (/^([a-z][a-z0-9+.-]*:|[\\/])/i.test(p) || p.includes("\0")) {
    throw typeError(src, "a TF.js manifest whose shard path is absolute or a URL", p);
  }
  const target = paths.resolve(dir, p);
  if (!inside(paths, dir, target)) {
    throw typeError(src, "a TF.js manifest whose shard path leaves the manifest's folder", p);
  }
  const real = await fs.realpath(target);
  if (!inside(paths, realDir, real)) {
    throw typeError(src, "a TF.js manifest whose shard path leaves the manifest's folder through a link", p);
  }
  return real;
}
