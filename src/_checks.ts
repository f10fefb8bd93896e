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
