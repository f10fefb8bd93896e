/**
 * The explicit matrix of every layer kind, built straight from the layer's
 * definition (PyTorch's `Conv1d/2d/3d` and `ConvTranspose1d/2d/3d`, plus the
 * circular model of DESIGN.md §1), for the tests. It shares no code with the
 * package: it reads the kernel through its own layout rules and loops over
 * output positions, input channels and taps.
 *
 * Forward convolution, per spatial axis (cross-correlation):
 *
 *     out[o, x] = Σ_{i in group(o)} Σ_a K[o, i − g·c_in/g, a] · in[i, x·s + δ·a − p_before]
 *
 * zero padding: reads outside the input are zero, the output has
 * `⌊(n + p_before + p_after − δ(k−1) − 1)/s⌋ + 1` positions (PyTorch);
 * circular: reads wrap mod n, no padding, `n/s` positions. A transposed layer
 * is the transpose of the forward matrix of the same kernel, whose input size
 * is `(n−1)·s − 2p + δ(k−1) + output_padding + 1` (zero padding, PyTorch) or
 * `n·s` (circular).
 * @module
 */

/** A layer as the tests describe it (PyTorch's parameters). */
export interface DenseLayer {
  /** The kernel's data, row-major in `layout`. */
  data: ArrayLike<number>;
  shape: number[];
  /** e.g. `"oihw"`, `"hwio"`, `"oiw"`, `"dhwio"`. */
  layout: string;
  /** The layer's own input, per spatial axis. */
  inputShape: number[];
  stride?: number[];
  dilation?: number[];
  groups?: number;
  transposed?: boolean;
  /** `"circular"`, `"same"`, `"valid"` or per-axis symmetric zero padding. */
  padding?: "circular" | "same" | "valid" | number[];
  outputPadding?: number[];
}

/** A row-major dense matrix. */
export interface Dense {
  a: Float64Array;
  rows: number;
  cols: number;
}

/** Kernel element `K[o, i, taps...]` of a kernel stored in `layout`. */
function reader(
  layer: DenseLayer,
): { cOut: number; cInG: number; k: number[]; at: (o: number, i: number, t: number[]) => number } {
  const { shape, layout, data } = layer;
  const rank = shape.length - 2;
  const first = layout.startsWith("oi");
  const cOut = first ? shape[0] : shape[rank + 1];
  const cInG = first ? shape[1] : shape[rank];
  const k = first ? shape.slice(2) : shape.slice(0, rank);
  const at = (o: number, i: number, t: number[]): number => {
    // Row-major index over the stored axes.
    const idx = first ? [o, i, ...t] : [...t, i, o];
    let flat = 0;
    for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + idx[d];
    return data[flat];
  };
  return { cOut, cInG, k, at };
}

/** Every multi-index of a box, row-major. */
function box(sizes: number[]): number[][] {
  let out: number[][] = [[]];
  for (const s of sizes) {
    const next: number[][] = [];
    for (const p of out) for (let j = 0; j < s; j++) next.push([...p, j]);
    out = next;
  }
  return out;
}

/** The explicit matrix of the layer (`rows = c_out·Π out`, `cols = c_in·Π in`, channel-major). */
export function denseLayer(layer: DenseLayer): Dense {
  const { cOut, cInG, k, at } = reader(layer);
  const rank = k.length;
  const ones = new Array(rank).fill(1);
  const s = layer.stride ?? ones;
  const dl = layer.dilation ?? ones;
  const groups = layer.groups ?? 1;
  const cIn = cInG * groups;
  const cOutG = cOut / groups;
  const padding = layer.padding ?? "circular";
  const circular = padding === "circular";
  const before: number[] = [], after: number[] = [];
  for (let j = 0; j < rank; j++) {
    const total = dl[j] * (k[j] - 1);
    if (padding === "circular" || padding === "valid") before.push(0), after.push(0);
    else if (padding === "same") before.push(Math.floor(total / 2)), after.push(total - Math.floor(total / 2));
    else before.push(padding[j]), after.push(padding[j]);
  }
  // The forward convolution's input (n) and output (m) sizes.
  const n: number[] = [], m: number[] = [];
  for (let j = 0; j < rank; j++) {
    const given = layer.inputShape[j];
    const ext = dl[j] * (k[j] - 1) + 1;
    if (layer.transposed) {
      m.push(given);
      n.push(
        circular ? given * s[j] : (given - 1) * s[j] - before[j] - after[j] + ext + (layer.outputPadding?.[j] ?? 0),
      );
    } else {
      n.push(given);
      m.push(circular ? given / s[j] : Math.floor((given + before[j] + after[j] - ext) / s[j]) + 1);
    }
  }
  const inCells = n.reduce((a, b) => a * b, 1);
  const outCells = m.reduce((a, b) => a * b, 1);
  const rows = cOut * outCells, cols = cIn * inCells;
  const a = new Float64Array(rows * cols);
  const outs = box(m), taps = box(k);
  for (let o = 0; o < cOut; o++) {
    const g = Math.floor(o / cOutG);
    outs.forEach((x, xi) => {
      for (let il = 0; il < cInG; il++) {
        const i = g * cInG + il;
        for (const t of taps) {
          let cell = 0;
          let inside = true;
          for (let j = 0; j < rank; j++) {
            let p = x[j] * s[j] + dl[j] * t[j] - before[j];
            if (circular) p = ((p % n[j]) + n[j]) % n[j];
            else if (p < 0 || p >= n[j]) inside = false;
            cell = cell * n[j] + p;
          }
          if (!inside) continue;
          a[(o * outCells + xi) * cols + i * inCells + cell] += at(o, il, t);
        }
      }
    });
  }
  if (!layer.transposed) return { a, rows, cols };
  const tr = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) tr[c * rows + r] = a[r * cols + c];
  return { a: tr, rows: cols, cols: rows };
}

/** The same kernel stored in the other layout of its rank (channels first ↔ last). */
export function relayout(
  data: ArrayLike<number>,
  shape: number[],
  layout: string,
): { data: Float64Array; shape: number[]; layout: string } {
  const rank = shape.length - 2;
  const first = layout.startsWith("oi");
  const spatial = layout.replace(/[oi]/g, "");
  const cOut = first ? shape[0] : shape[rank + 1];
  const cInG = first ? shape[1] : shape[rank];
  const k = first ? shape.slice(2) : shape.slice(0, rank);
  const newShape = first ? [...k, cInG, cOut] : [cOut, cInG, ...k];
  const newLayout = first ? `${spatial}io` : `oi${spatial}`;
  const out = new Float64Array(data.length);
  const taps = box(k);
  const flat = (idx: number[], sh: number[]) => idx.reduce((acc, v, d) => acc * sh[d] + v, 0);
  for (let o = 0; o < cOut; o++) {
    for (let i = 0; i < cInG; i++) {
      for (const t of taps) {
        const from = first ? [o, i, ...t] : [...t, i, o];
        const to = first ? [...t, i, o] : [o, i, ...t];
        out[flat(to, newShape)] = data[flat(from, shape)];
      }
    }
  }
  return { data: out, shape: newShape, layout: newLayout };
}
