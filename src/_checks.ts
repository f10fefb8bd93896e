/**
 * Checks of single option values and the format of their error messages
 * (sentence case, the current value after a colon), shared by every entry
 * point's validation.
 * @module
 */

/** Formats a value for an error message. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  if (value === null) return "null";
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Float64Array).length})`;
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return String(value);
}

/**
 * A value with its type, for a TypeError's message: `"2" (string)`, `true
 * (boolean)`, `2.5 (number)`, `Object (object)`; arrays, typed arrays, null
 * and undefined show as themselves (their form says their type).
 */
export function showTyped(value: unknown): string {
  if (value === null || value === undefined || isList(value)) return show(value);
  const type = typeof value === "object" ? "object" : typeof value;
  return `${typeof value === "symbol" || typeof value === "function" ? type : show(value)} (${type})`;
}

/** Throws `Kind` with the house message; a TypeError shows the value's type (see {@linkcode showTyped}). */
export function fail(Kind: typeof TypeError | typeof RangeError, what: string, rule: string, value: unknown): never {
  throw new Kind(
    `Cannot compute singular values as ${what} must be ${rule}: current value is ${
      Kind === TypeError ? showTyped(value) : show(value)
    }`,
  );
}

export function isList(arr: unknown): boolean {
  return Array.isArray(arr) || (ArrayBuffer.isView(arr) && !(arr instanceof DataView));
}

export function checkSizes(what: string, arr: unknown, rank: number | number[], rankText: string, min = 1): number[] {
  if (!isList(arr)) fail(TypeError, what, `an array of ${rankText}`, arr);
  const list = Array.from(arr as ArrayLike<unknown>);
  const ranks = Array.isArray(rank) ? rank : [rank];
  if (!ranks.includes(list.length)) fail(TypeError, what, `an array of ${rankText}`, list);
  for (const x of list) {
    if (typeof x !== "number" || !Number.isInteger(x)) fail(TypeError, what, "integers", list);
  }
  for (const x of list as number[]) {
    if (x < min) fail(RangeError, what, min === 1 ? "positive integers" : "non-negative integers", list);
  }
  return list as number[];
}

/** A per-axis option: one integer for every axis or one per axis; returned per axis of the layer. */
export function perAxis(
  what: string,
  value: unknown,
  rank: number,
  fallback: number,
  min: number,
  shapeText: string,
): number[] {
  if (value === undefined) return new Array(rank).fill(fallback);
  const rule = min === 1 ? "a positive integer" : "a non-negative integer";
  if (typeof value === "number") {
    if (!Number.isInteger(value)) {
      fail(TypeError, what, `${rule} or an array of ${rank} (one per axis of ${shapeText})`, value);
    }
    if (value < min) fail(RangeError, what, rule, value);
    return new Array(rank).fill(value);
  }
  return checkSizes(what, value, rank, `${rank} (one per axis of ${shapeText}) or a single integer`, min);
}

/** An optional integer option in `[min, max]`, or its default. Throws TypeError/RangeError. */
export function integerOption(what: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value)) fail(TypeError, what, "an integer", value);
  if (value < min || value > max) fail(RangeError, what, `an integer from ${min} to ${max}`, value);
  return value;
}

/** An optional finite number option `≥ 0`, or its default. Throws TypeError/RangeError. */
export function toleranceOption(what: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") fail(TypeError, what, "a number", value);
  if (!(value >= 0) || !Number.isFinite(value)) fail(RangeError, what, "a finite number ≥ 0", value);
  return value;
}

/**
 * The keys an options object may hold, one entry per key of `T`: a table
 * typed this way fails to compile when `T` gains an option the table lacks
 * (and, for a literal, when it lists one `T` does not have).
 */
export type KnownKeys<T> = { readonly [K in keyof T]-?: true };

/** Names other libraries (PyTorch, TensorFlow/Keras, ONNX, numpy) give an option, with this package's name. */
const ALIASES: Readonly<Record<string, string>> = {
  strides: "stride",
  dilations: "dilation",
  dilationrate: "dilation",
  group: "groups",
  numgroups: "groups",
  inputsize: "inputShape",
  spatialshape: "inputShape",
  dataformat: "layout",
  paddingmode: "padding",
  pad: "padding",
  pads: "padding",
  transpose: "transposed",
  dtype: "precision",
  numthreads: "threads",
  workers: "threads",
  device: "backend",
  abortsignal: "signal",
  progress: "onProgress",
  maxiter: "maxIterations",
  npoweriterations: "maxIterations",
  tol: "tolerance",
  rtol: "tolerance",
  niter: "iterations",
  steps: "iterations",
};

/** Lower case without `_` and `-`: `input_shape`, `InputShape` and `inputshape` are one name. */
function plain(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, "");
}

/** Edits (insertions, deletions, substitutions, swaps of neighbours) from `a` to `b`. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[i][j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
}

/**
 * The known key a caller most likely meant by `key`: its spelling in another
 * library ({@linkcode ALIASES}), the same name in another case or with
 * underscores, or the nearest by edit distance (at most 1 edit for names of
 * up to 4 letters, 2 for longer ones); undefined when none is close.
 */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const p = plain(key);
  const alias = Object.hasOwn(ALIASES, p) ? ALIASES[p] : undefined;
  if (alias !== undefined && known.includes(alias)) return alias;
  const same = known.find((k) => plain(k) === p);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = p.length <= 4 ? 2 : 3;
  for (const k of known) {
    const d = editDistance(p, plain(k));
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Refuses an own key of `object` that `known` does not list, with a TypeError
 * that names the key, says whose keys they are (`rule`) and suggests the key
 * most likely meant (see {@linkcode nearestKey}), else lists the known ones:
 * ``Cannot compute singular values as each option must be one that
 * singularValuesSync knows (did you mean `stride`?): current value is
 * "strides"``. A value that is not a plain object is left to the caller's
 * other checks.
 *
 * @param subject What cannot be done otherwise: `"compute singular values"`.
 * @param rule What each key must be: `"each option must be one that singularValuesSync knows"`.
 * @param hints Advice for particular keys, given instead of a suggestion.
 */
export function checkKeys(
  subject: string,
  rule: string,
  object: unknown,
  known: Readonly<Record<string, true>>,
  hints: Readonly<Record<string, string>> = {},
): void {
  if (typeof object !== "object" || object === null || isList(object)) return;
  const names = Object.keys(known);
  for (const key of Object.keys(object)) {
    if (Object.hasOwn(known, key)) continue;
    const near = nearestKey(key, names);
    const advice = Object.hasOwn(hints, key)
      ? hints[key]
      : near !== undefined
      ? `did you mean \`${near}\`?`
      : `known: ${names.join(", ")}`;
    throw new TypeError(`Cannot ${subject} as ${rule} (${advice}): current value is ${JSON.stringify(key)}`);
  }
}
