/**
 * A short SVG writer for the report's plots: line plots on a log or linear
 * y axis, a per-layer norm chart and a frequency heatmap. Strings in, strings
 * out; every plot is self-contained (no scripts, fonts or network).
 * @module
 */
import { base64, encodePng } from "./png.ts";

/** Escapes text for HTML and SVG. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const f2 = (x: number) => (Math.round(x * 100) / 100).toString();

/** A decade as the axis labels show it. */
function decade(e: number): string {
  return e >= -3 && e <= 4 ? String(Number((10 ** e).toPrecision(1))) : `1e${e}`;
}

/** A tick label on a linear axis. */
function tickText(x: number): string {
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(0).replace("+", "");
  return String(Number(x.toPrecision(6)));
}

/** Ticks of a linear axis: about `count` round values spanning `[lo, hi]`. */
export function linearTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

/** A log axis's range, widened to whole decades: `[e0, e1]` with `e0 < e1`. */
export function logRange(lo: number, hi: number): [number, number] {
  let e0 = Math.floor(Math.log10(lo));
  let e1 = Math.ceil(Math.log10(hi));
  if (e1 <= e0) e1 = e0 + 1;
  if (!Number.isFinite(e0) || !Number.isFinite(e1)) [e0, e1] = [-1, 1];
  return [e0, e1];
}

/** Viridis, by 9 stops, linearly interpolated; `t` in [0, 1]. */
export function viridis(t: number): [number, number, number] {
  const stops = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
  ];
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const j = Math.min(stops.length - 2, Math.floor(x));
  const f = x - j;
  return [0, 1, 2].map((c) => Math.round(stops[j][c] + f * (stops[j + 1][c] - stops[j][c]))) as [
    number,
    number,
    number,
  ];
}

const rgb = (c: [number, number, number]) => `rgb(${c[0]},${c[1]},${c[2]})`;

/** One line of a line plot. */
export interface Series {
  x: number[];
  y: number[];
  color: string;
  /** Shown as the line's tooltip. */
  label: string;
  width?: number | undefined;
}

/** A line plot: linear x, log or linear y. */
export interface LinePlot {
  width: number;
  height: number;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  yLog: boolean;
  /** Lowest y drawn on a log axis; smaller values (and zeros) are drawn there. */
  yFloor?: number | undefined;
  xRange?: [number, number] | undefined;
  /** A horizontal reference line. */
  reference?: { y: number; label: string };
  /** Extra text under the title, right-aligned. */
  corner?: string | undefined;
}

const M = { left: 58, right: 14, top: 26, bottom: 42 };

function frame(
  w: number,
  h: number,
  title: string,
  xLabel: string,
  yLabel: string,
  corner: string | undefined,
  body: string,
  cls = "plot",
  left = M.left,
): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" class="${cls}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${
    esc(title)
  }">` +
    `<text x="${left}" y="16" class="t">${esc(title)}</text>` +
    (corner ? `<text x="${w - M.right}" y="16" class="c" text-anchor="end">${esc(corner)}</text>` : "") +
    body +
    `<text x="${left + (w - left - M.right) / 2}" y="${h - 6}" text-anchor="middle" class="l">${esc(xLabel)}</text>` +
    `<text transform="translate(${Math.max(12, left - 45)} ${
      M.top + (h - M.top - M.bottom) / 2
    }) rotate(-90)" text-anchor="middle" class="l">${esc(yLabel)}</text></svg>`;
}

/** Renders a line plot. */
export function linePlot(p: LinePlot): string {
  const pw = p.width - M.left - M.right, ph = p.height - M.top - M.bottom;
  const xs = p.series.flatMap((s) => s.x);
  const [x0, x1] = p.xRange ?? [Math.min(...xs), Math.max(...xs)];
  const xSpan = x1 > x0 ? x1 - x0 : 1;
  const X = (x: number) => M.left + ((x - x0) / xSpan) * pw;
  let Y: (y: number) => number;
  let yTicks: { at: number; text: string }[];
  const ys = p.series.flatMap((s) => s.y).filter(Number.isFinite);
  if (p.yLog) {
    const pos = ys.filter((y) => y > 0);
    const hi = pos.length ? Math.max(...pos) : 1;
    const floor = p.yFloor ?? (pos.length ? Math.min(...pos) : hi / 10);
    const [e0, e1] = logRange(Math.max(floor, hi * 1e-15), hi);
    const clampLo = 10 ** e0;
    Y = (y) => M.top + ph - ((Math.log10(Math.max(y, clampLo)) - e0) / (e1 - e0)) * ph;
    const every = Math.ceil((e1 - e0) / 7);
    yTicks = [];
    for (let e = e0; e <= e1; e++) if ((e - e0) % every === 0) yTicks.push({ at: 10 ** e, text: decade(e) });
  } else {
    const lo = Math.min(0, ...ys), hi = ys.length ? Math.max(...ys) : 1;
    const top = hi > lo ? hi : lo + 1;
    Y = (y) => M.top + ph - ((y - lo) / (top - lo)) * ph;
    yTicks = linearTicks(lo, top).map((t) => ({ at: t, text: tickText(t) }));
  }
  let body = `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" class="bg"/>`;
  for (const t of yTicks) {
    const y = f2(Y(t.at));
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" class="g"/>` +
      `<text x="${M.left - 5}" y="${y}" dy="0.32em" text-anchor="end" class="k">${t.text}</text>`;
  }
  for (const t of linearTicks(x0, x1, 5)) {
    const x = f2(X(t));
    body += `<line x1="${x}" x2="${x}" y1="${M.top}" y2="${M.top + ph}" class="g"/>` +
      `<text x="${x}" y="${M.top + ph + 14}" text-anchor="middle" class="k">${tickText(t)}</text>`;
  }
  if (p.reference) {
    const y = f2(Y(p.reference.y));
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" class="ref"><title>${
      esc(p.reference.label)
    }</title></line>`;
  }
  for (const s of p.series) {
    const pts = s.x.map((x, j) => `${f2(X(x))},${f2(Y(s.y[j]))}`).join(" ");
    body += `<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="${
      s.width ?? 1.6
    }" stroke-linejoin="round"><title>${esc(s.label)}</title></polyline>`;
  }
  body += `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" class="ax"/>`;
  return frame(p.width, p.height, p.title, p.xLabel, p.yLabel, p.corner, body);
}

/** One entry of the norm chart. */
export interface NormBar {
  label: string;
  lower: number;
  upper: number;
  exact: boolean;
}

/** The operator norm of each layer (an interval's bar from lower to upper), log y, with a line at 1. */
export function normChart(width: number, height: number, bars: NormBar[]): string {
  const pw = width - M.left - M.right, ph = height - M.top - M.bottom;
  const vals = bars.flatMap((b) => [b.lower, b.upper]).filter((x) => x > 0 && Number.isFinite(x));
  const [e0, e1] = logRange(Math.min(1, ...vals), Math.max(1, ...vals));
  const Y = (y: number) => M.top + ph - ((Math.log10(Math.max(y, 10 ** e0)) - e0) / (e1 - e0)) * ph;
  const n = Math.max(bars.length, 1);
  const X = (j: number) => M.left + ((j + 0.5) / n) * pw;
  let body = `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" class="bg"/>`;
  const every = Math.ceil((e1 - e0) / 7);
  for (let e = e0; e <= e1; e++) {
    if ((e - e0) % every) continue;
    const y = f2(Y(10 ** e));
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" class="g"/>` +
      `<text x="${M.left - 5}" y="${y}" dy="0.32em" text-anchor="end" class="k">${decade(e)}</text>`;
  }
  const one = f2(Y(1));
  body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${one}" y2="${one}" class="ref"><title>norm 1</title></line>`;
  const labelEvery = Math.ceil(n / 30);
  const bw = Math.max(2, Math.min(10, (pw / n) * 0.5));
  bars.forEach((b, j) => {
    const x = X(j);
    if (j % labelEvery === 0) {
      body += `<text x="${f2(x)}" y="${M.top + ph + 14}" text-anchor="middle" class="k">${j + 1}</text>`;
    }
    if (!(b.upper > 0)) return;
    const tip = `<title>#${j + 1} ${esc(b.label)}: ${
      b.exact ? `norm ${b.upper.toPrecision(6)}` : `[${b.lower.toPrecision(6)}, ${b.upper.toPrecision(6)}]`
    }</title>`;
    const yu = Y(b.upper), yl = Y(b.lower > 0 ? b.lower : b.upper);
    body += `<rect x="${f2(x - bw / 2)}" y="${f2(yu - 1)}" width="${f2(bw)}" height="${
      f2(Math.max(2, yl - yu + 2))
    }" class="${b.exact ? "bx" : "bi"}">${tip}</rect>`;
  });
  body += `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" class="ax"/>`;
  return frame(
    width,
    height,
    "Operator norm per layer",
    "layer #",
    "norm (log)",
    "blue: exact · orange: [lower, upper]",
    body,
  );
}

/** The shifted position → frequency map of an axis of size n: position p shows frequency p − ⌊n/2⌋ (mod n). */
function shifted(n: number, p: number): number {
  return (p - Math.floor(n / 2) + n) % n;
}

/**
 * σ_max per frequency as a heatmap with the zero frequency at the centre
 * (fftshift), a colour bar and the maximum ringed. `shape` is `[h, w]`;
 * a 1-D grid (`[w]`) gives a line plot instead.
 */
export function heatmap(title: string, shape: number[], values: Float64Array, size = 240): string {
  if (shape.length === 1) {
    const n = shape[0];
    const x: number[] = [], y: number[] = [];
    for (let p = 0; p < n; p++) {
      x.push(p - Math.floor(n / 2));
      y.push(values[shifted(n, p)]);
    }
    return linePlot({
      width: size + 120,
      height: size + 40,
      title,
      xLabel: "frequency v (0 at the centre)",
      yLabel: "σ_max",
      yLog: false,
      series: [{ x, y, color: "#3b518b", label: "σ_max per frequency" }],
    });
  }
  const L = 40; // left margin: short tick labels
  const [h, w] = shape;
  let lo = Infinity, hi = -Infinity, at = 0;
  for (let c = 0; c < values.length; c++) {
    if (values[c] < lo) lo = values[c];
    if (values[c] > hi) {
      hi = values[c];
      at = c;
    }
  }
  // Image pixels: at most `size` per axis (max-pooled when the grid is larger), whole multiples otherwise.
  const cell = Math.max(1, Math.floor(size / Math.max(h, w)));
  const ih = Math.min(size, h * cell), iw = Math.min(size, w * cell);
  const px = new Uint8Array(ih * iw * 3);
  for (let y = 0; y < ih; y++) {
    const p0 = Math.floor((y * h) / ih), p1 = Math.max(p0 + 1, Math.floor(((y + 1) * h) / ih));
    for (let x = 0; x < iw; x++) {
      const q0 = Math.floor((x * w) / iw), q1 = Math.max(q0 + 1, Math.floor(((x + 1) * w) / iw));
      let m = -Infinity;
      for (let p = p0; p < p1; p++) {
        for (let q = q0; q < q1; q++) m = Math.max(m, values[shifted(h, p) * w + shifted(w, q)]);
      }
      const c = viridis(hi > lo ? (m - lo) / (hi - lo) : 1);
      px.set(c, (y * iw + x) * 3);
    }
  }
  const png = base64(encodePng(iw, ih, px));
  // Display: keep the aspect ratio inside size × size.
  const dw = w >= h ? size : Math.max(24, Math.round((size * w) / h));
  const dh = h >= w ? size : Math.max(24, Math.round((size * h) / w));
  const width = L + dw + 60, height = M.top + dh + M.bottom;
  const X = (q: number) => L + ((q + 0.5) / w) * dw;
  const Yp = (p: number) => M.top + ((p + 0.5) / h) * dh;
  let body = `<image x="${L}" y="${M.top}" width="${dw}" height="${dh}" preserveAspectRatio="none" ` +
    `style="image-rendering:pixelated" href="data:image/png;base64,${png}"/>` +
    `<rect x="${L}" y="${M.top}" width="${dw}" height="${dh}" class="ax"/>`;
  const ticks = (n: number) => {
    const half = Math.floor(n / 2);
    const t = [-half, 0, n - 1 - half];
    return [...new Set(t)];
  };
  for (const f of ticks(w)) {
    body += `<text x="${f2(X(f + Math.floor(w / 2)))}" y="${
      M.top + dh + 14
    }" text-anchor="middle" class="k">${f}</text>`;
  }
  for (const f of ticks(h)) {
    body += `<text x="${L - 5}" y="${
      f2(Yp(f + Math.floor(h / 2)))
    }" dy="0.32em" text-anchor="end" class="k">${f}</text>`;
  }
  // Ring the maximum (and its mirror, which a real kernel always has).
  const u = Math.floor(at / w), v = at % w;
  const rings = new Set([`${u},${v}`, `${(h - u) % h},${(w - v) % w}`]);
  const pos = (n: number, f: number) => (f + Math.floor(n / 2)) % n;
  for (const r of rings) {
    const [ru, rv] = r.split(",").map(Number);
    body +=
      `<circle cx="${f2(X(pos(w, rv)))}" cy="${f2(Yp(pos(h, ru)))}" r="${
        Math.max(4, Math.min(dw / w, 9))
      }" class="ring">` +
      `<title>σ_max ${hi.toPrecision(6)} at (u, v) = (${ru}, ${rv})</title></circle>`;
  }
  // Colour bar.
  const bx = L + dw + 14, steps = 32;
  for (let j = 0; j < steps; j++) {
    const y = M.top + (j / steps) * dh;
    body += `<rect x="${bx}" y="${f2(y)}" width="12" height="${f2(dh / steps + 0.5)}" fill="${
      rgb(viridis(1 - (j + 0.5) / steps))
    }"/>`;
  }
  body += `<rect x="${bx}" y="${M.top}" width="12" height="${dh}" class="ax"/>` +
    `<text x="${bx + 15}" y="${M.top + 8}" class="k">${tickText(Number(hi.toPrecision(4)))}</text>` +
    `<text x="${bx + 15}" y="${M.top + dh}" class="k">${tickText(Number(lo.toPrecision(4)))}</text>`;
  return frame(width, height, title, "v (0 at the centre)", "u", undefined, body, "plot heat", L);
}
