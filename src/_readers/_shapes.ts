/**
 * Tensor shapes as the graph readers (ONNX, TF.js graph-models) propagate
 * them: every axis a size, or `undefined` where the file leaves it open (a
 * batch size, a symbolic length). A shape is only ever computed exactly; an
 * op that cannot be followed exactly leaves its outputs unknown, with the
 * reason, so that no conv layer is given a size it does not run at.
 * @module
 */

/** Sizes per axis; `undefined` where the file leaves an axis open. */
export type Shape = (number | undefined)[];

/** A tensor's shape, or why it is not known. */
export type Sized = { shape: Shape } | { why: string };

/**
 * Numpy broadcasting of shapes (aligned at the last axis), or a message
 * when two sizes differ and neither is 1. An open size against a size `n > 1`
 * is `n` (the only size a valid graph can broadcast to); against 1 it stays open.
 */
export function broadcast(shapes: readonly Shape[]): Shape | string {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Shape = [];
  for (let j = 0; j < rank; j++) {
    let size: number | undefined = 1;
    let open = false;
    for (const s of shapes) {
      const d = s[s.length - rank + j];
      if (j < rank - s.length || d === 1) continue;
      if (d === undefined) {
        open = true;
        continue;
      }
      if (size !== 1 && size !== d) return `sizes ${size} and ${d} on one axis`;
      size = d;
    }
    out.push(open && size === 1 ? undefined : size);
  }
  return out;
}

/** The shape as messages show it: `[1, 3, ?, ?]`. */
export function showShape(s: Shape): string {
  return `[${s.map((d) => d ?? "?").join(", ")}]`;
}

/** True when every axis has a size. */
export function known(s: Shape): s is number[] {
  return s.every((d) => d !== undefined);
}

/** An axis given as in ONNX and TensorFlow (negative: from the end) as an index into `rank` axes, or undefined when out of range. */
export function axisOf(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : undefined;
}

/**
 * A reshape's output: `target` with `0` copying the input's axis (unless
 * `allowZero`) and one `-1` inferred from the element count, or a message.
 * An open input axis must be copied by a `0` at its own position (its size
 * then cancels out of the count).
 */
export function reshape(input: Shape, target: readonly number[], allowZero = false): Shape | string {
  const out: Shape = target.map((t, j) => (t === 0 && !allowZero ? input[j] : t));
  if (out.some((d, j) => d !== undefined && d < -1 || (target[j] === 0 && !allowZero && j >= input.length))) {
    return `a target shape ${JSON.stringify(target)} that does not fit the input ${showShape(input)}`;
  }
  const infer = out.findIndex((d) => d === -1);
  if (infer < 0) return out;
  if (out.filter((d) => d === -1).length > 1) return `a target shape ${JSON.stringify(target)} with two -1`;
  let total = 1, rest = 1;
  for (let j = 0; j < input.length; j++) {
    const d = input[j];
    if (d === undefined) {
      if (!(target[j] === 0 && !allowZero)) {
        return `an open input size ${showShape(input)} that the target ${JSON.stringify(target)} does not copy`;
      }
      continue;
    }
    total *= d;
  }
  for (let j = 0; j < out.length; j++) {
    if (j === infer || (target[j] === 0 && !allowZero && input[j] === undefined)) continue;
    rest *= out[j]!;
  }
  if (rest === 0 || total % rest !== 0) {
    return `a target shape ${JSON.stringify(target)} that does not divide the input ${showShape(input)}`;
  }
  out[infer] = total / rest;
  return out;
}
