/**
 * Sorting a layer's singular values, decreasing: a radix sort in the wasm
 * core (O(n), where `Float64Array.prototype.sort` compares), with the built-in sort as the fallback
 * where the core's memory cannot hold a second copy.
 * @module
 */
import { Arena, type CoreExports } from "./abi.ts";

/** Below this many values the built-in sort is as fast as the copies in and out. */
export const MIN_RADIX = 512;

/** The built-in sort, decreasing. */
function builtIn(values: Float64Array): Float64Array {
  values.sort();
  return values.reverse();
}

/**
 * Sorts a layer's values given as `twice` values that each stand for two
 * (at the front of `values`) and `once` values that stand for one (at its
 * back), `2·twice + once = values.length`: all of them, decreasing, are
 * written over `values`, which is returned. Sorting the first kind once
 * halves the sort.
 */
export function sortTwiceDescending(
  core: CoreExports,
  values: Float64Array,
  twice: number,
  once: number,
): Float64Array {
  const n = values.length;
  if (2 * twice + once !== n) throw new RangeError(`2·${twice} + ${once} values do not fill ${n}`);
  const arena = new Arena(core);
  const a = arena.f64(twice);
  const b = arena.f64(once);
  const out = arena.f64(n);
  const scratch = arena.bytes(n < MIN_RADIX ? -1 : core.sort_twice_work_bytes(twice, once));
  if (!commits(arena, `${n} values`)) {
    for (let i = twice - 1; i >= 0; i--) values[2 * i] = values[2 * i + 1] = values[i];
    return builtIn(values);
  }
  arena.view(a, twice).set(values.subarray(0, twice));
  arena.view(b, once).set(values.subarray(n - once));
  core.sort_twice_desc_f64(a, twice, b, once, out, scratch);
  values.set(arena.view(out, n));
  return values;
}

/** Whether the core's memory can hold the arena (grown to it if so). */
export function commits(arena: Arena, context: string): boolean {
  if (!arena.fits) return false;
  try {
    arena.commit("sort the singular values", context);
    return true;
  } catch {
    return false;
  }
}
