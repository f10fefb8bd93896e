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
  /** An SVG dash pattern. */
  dash?: string | undefined;
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
  /** Names the series in a column right of the plot. */
  legend?: LegendEntry[] | undefined;
  /** With an id (unique in the page), lines are cut at the plot's edges instead of drawn along the floor. */
  clipId?: string | undefined;
}

/** Margins of a plot: room for tick labels (left, bottom), the title (top) and a legend (right). */
interface Margins {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const M: Margins = { left: 58, right: 14, top: 26, bottom: 42 };

/**
 * A name cut to at most `max` characters for an axis or a legend: the end is
 * kept (the last path parts tell layers apart), from a `/` where one falls in
 * the kept part, behind an ellipsis. The full name goes in a tooltip.
 */
export function shortName(name: string, max = 24): string {
  if (name.length <= max) return name;
  const parts = name.split("/");
  // The first part (a layer's scope) and the last (the op) where they fit: `block_1/…/depthwise`.
  if (parts.length > 2) {
    const ends = `${parts[0]}/…/${parts[parts.length - 1]}`;
    if (ends.length <= max) return ends;
  }
  const tail = name.slice(name.length - (max - 1));
  const cut = tail.indexOf("/");
  return "…" + (cut > 0 && tail.length - cut >= max / 2 ? tail.slice(cut) : tail);
}

/** The part before the last `/` that every name shares (with the `/`), or "" (one name, or none shared). */
export function commonPrefix(names: readonly string[]): string {
  if (names.length < 2) return "";
  let p = names[0];
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  const cut = p.lastIndexOf("/");
  return cut < 0 || names.some((n) => n.length <= cut + 1) ? "" : p.slice(0, cut + 1);
}

function frame(
  w: number,
  h: number,
  title: string,
  xLabel: string,
  yLabel: string,
  corner: string | undefined,
  body: string,
  cls = "plot",
  m: Margins = M,
): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" class="${cls}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${
    esc(title)
  }">` +
    `<text x="${m.left}" y="16" class="t">${esc(title)}</text>` +
    (corner ? `<text x="${w - M.right}" y="16" class="c" text-anchor="end">${esc(corner)}</text>` : "") +
    body +
    `<text x="${m.left + (w - m.left - m.right) / 2}" y="${h - 6}" text-anchor="middle" class="l">${
      esc(xLabel)
    }</text>` +
    `<text transform="translate(${Math.max(12, m.left - 45)} ${
      m.top + (h - m.top - m.bottom) / 2
    }) rotate(-90)" text-anchor="middle" class="l">${esc(yLabel)}</text></svg>`;
}

/** One entry of a plot's legend: a line (or a swatch) in `color`, the text, and the full text as its tooltip. */
export interface LegendEntry {
  text: string;
  color: string;
  title?: string | undefined;
  /** How the entry is drawn: a line (default), a dot, a capped interval bar, a bar, a dashed reference line. */
  glyph?: "line" | "dot" | "interval" | "bar" | "outline" | "ref" | undefined;
}

/** Approximate width of 11 px sans-serif text. */
const textWidth = (s: string) => s.length * 6.1;

/** The legend's glyph for an entry, centred at (x, y). */
function glyph(e: LegendEntry, x: number, y: number): string {
  const c = e.color;
  switch (e.glyph) {
    case "dot":
      return `<circle cx="${x}" cy="${y}" r="3.5" fill="${c}"/>`;
    case "interval":
      return `<line x1="${x}" x2="${x}" y1="${y - 6}" y2="${y + 6}" stroke="${c}" stroke-width="2"/>` +
        `<line x1="${x - 5}" x2="${x + 5}" y1="${y - 6}" y2="${y - 6}" stroke="${c}" stroke-width="2"/>` +
        `<line x1="${x - 5}" x2="${x + 5}" y1="${y + 6}" y2="${y + 6}" stroke="${c}" stroke-width="2"/>`;
    case "bar":
      return `<rect x="${x - 5}" y="${y - 5}" width="10" height="10" fill="${c}"/>`;
    case "outline":
      return `<rect x="${x - 5}" y="${
        y - 5
      }" width="10" height="10" fill="#fff" stroke="${c}" stroke-width="1.5" stroke-dasharray="3 2"/>`;
    case "ref":
      return `<line x1="${x - 9}" x2="${x + 9}" y1="${y}" y2="${y}" class="ref"/>`;
    default:
      return `<line x1="${x - 9}" x2="${x + 9}" y1="${y}" y2="${y}" stroke="${c}" stroke-width="2.2"/>`;
  }
}

/** A legend in one column from (x, y), one entry per `step` px. */
function legendColumn(entries: LegendEntry[], x: number, y: number, step = 15): string {
  return `<g class="legend">` + entries.map((e, j) => {
    const cy = y + j * step;
    return `<g>${e.title ? `<title>${esc(e.title)}</title>` : ""}${glyph(e, x + 9, cy)}<text x="${
      x + 23
    }" y="${cy}" dy="0.32em" class="k">${esc(e.text)}</text></g>`;
  }).join("") + `</g>`;
}

/** A legend in one row, entries side by side from (x, y). */
function legendRow(entries: LegendEntry[], x: number, y: number): string {
  let at = x;
  let out = `<g class="legend">`;
  for (const e of entries) {
    out += `<g>${e.title ? `<title>${esc(e.title)}</title>` : ""}${glyph(e, at + 9, y)}<text x="${
      at + 23
    }" y="${y}" dy="0.32em" class="k">${esc(e.text)}</text></g>`;
    at += 23 + textWidth(e.text) + 14;
  }
  return out + `</g>`;
}

/** Renders a line plot. */
export function linePlot(p: LinePlot): string {
  const legend = p.legend ?? [];
  const legendW = legend.length ? Math.min(270, 34 + Math.max(...legend.map((e) => textWidth(e.text)))) : 0;
  const m = { ...M, right: M.right + legendW };
  const pw = p.width - m.left - m.right, ph = p.height - m.top - m.bottom;
  const xs = p.series.flatMap((s) => s.x);
  const [x0, x1] = p.xRange ?? [Math.min(...xs), Math.max(...xs)];
  const xSpan = x1 > x0 ? x1 - x0 : 1;
  const X = (x: number) => m.left + ((x - x0) / xSpan) * pw;
  let Y: (y: number) => number;
  let yTicks: { at: number; text: string }[];
  const ys = p.series.flatMap((s) => s.y).filter(Number.isFinite);
  if (p.yLog) {
    const pos = ys.filter((y) => y > 0);
    const hi = pos.length ? Math.max(...pos) : 1;
    const floor = p.yFloor ?? (pos.length ? Math.min(...pos) : hi / 10);
    const [e0, e1] = logRange(Math.max(floor, hi * 1e-15), hi);
    // With a clip path, smaller values are drawn just below the axis (and cut off there); without, at the axis.
    const clampLo = p.clipId ? 10 ** (e0 - 0.05 * (e1 - e0)) : 10 ** e0;
    Y = (y) => m.top + ph - ((Math.log10(Math.max(y, clampLo)) - e0) / (e1 - e0)) * ph;
    const every = Math.ceil((e1 - e0) / 7);
    yTicks = [];
    for (let e = e0; e <= e1; e++) if ((e - e0) % every === 0) yTicks.push({ at: 10 ** e, text: decade(e) });
  } else {
    const lo = Math.min(0, ...ys), hi = ys.length ? Math.max(...ys) : 1;
    const top = hi > lo ? hi : lo + 1;
    Y = (y) => m.top + ph - ((y - lo) / (top - lo)) * ph;
    yTicks = linearTicks(lo, top).map((t) => ({ at: t, text: tickText(t) }));
  }
  let body = `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" class="bg"/>`;
  for (const t of yTicks) {
    const y = f2(Y(t.at));
    body += `<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" class="g"/>` +
      `<text x="${m.left - 5}" y="${y}" dy="0.32em" text-anchor="end" class="k">${t.text}</text>`;
  }
  for (const t of linearTicks(x0, x1, 5)) {
    const x = f2(X(t));
    body += `<line x1="${x}" x2="${x}" y1="${m.top}" y2="${m.top + ph}" class="g"/>` +
      `<text x="${x}" y="${m.top + ph + 14}" text-anchor="middle" class="k">${tickText(t)}</text>`;
  }
  if (p.reference) {
    const y = f2(Y(p.reference.y));
    body += `<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" class="ref"><title>${
      esc(p.reference.label)
    }</title></line>`;
  }
  if (p.clipId) {
    body +=
      `<clipPath id="${esc(p.clipId)}"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath>` +
      `<g clip-path="url(#${esc(p.clipId)})">`;
  }
  for (const s of p.series) {
    const pts = s.x.map((x, j) => `${f2(X(x))},${f2(Y(s.y[j]))}`).join(" ");
    body += `<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="${
      s.width ?? 1.6
    }" stroke-linejoin="round"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}><title>${
      esc(s.label)
    }</title></polyline>`;
  }
  if (p.clipId) body += `</g>`;
  body += `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" class="ax"/>`;
  if (legend.length) body += legendColumn(legend, m.left + pw + 8, m.top + 8);
  return frame(p.width, p.height, p.title, p.xLabel, p.yLabel, p.corner, body, "plot", m);
}

/** A norm (or a certified interval) of one layer in the norm chart. */
export interface NormMark {
  lower: number;
  upper: number;
  /** Exact: a dot at `upper`; else a capped bar from `lower` to `upper` (in the bar chart: an outlined bar). */
  exact: boolean;
  /** The tooltip. */
  title: string;
  /** Overrides the series colour. */
  color?: string | undefined;
}

/** One set of marks over the layers (the norms; or the norms before, or after, clipping). */
export interface NormSeries {
  name: string;
  color: string;
  /** One per layer; undefined where the layer has none. */
  marks: (NormMark | undefined)[];
}

/** A per-layer chart: layer names along x, the series side by side in each layer's slot. */
export interface NormChart {
  width: number;
  height: number;
  title: string;
  yLabel: string;
  /** The layers' names (shown cut to `shortName`, in full as tooltips), in order. */
  names: string[];
  series: NormSeries[];
  legend: LegendEntry[];
  /** A horizontal line (norm 1, the clipping radius). */
  reference?: { y: number; label: string } | undefined;
  /** Log y (the report's norms) or linear from 0 (clip's bars). */
  yLog: boolean;
  /** Marks drawn as bars from the axis (clip) instead of dots and capped intervals. */
  bars?: boolean | undefined;
}

/** The least height of an interval's bar in the norm chart, in px (narrower intervals are widened about their middle). */
export const MIN_INTERVAL_PX = 7;

/** Bottom margin that fits names rotated by 40°. */
function nameAxisHeight(names: string[], max: number): number {
  const longest = Math.max(4, ...names.map((n) => shortName(n, max).length));
  return Math.min(170, 24 + Math.ceil(textWidth("x".repeat(longest)) * 0.66));
}

/**
 * Layers' norms: with `bars`, grouped bars from 0 on a linear axis; else on a
 * log axis a dot for an exact norm and a bar with end caps from `lower` to
 * `upper` for a certified interval. Layer names run along x (rotated, cut to
 * `shortName`, full in the tooltip), a legend along the top.
 */
export function normChart(c: NormChart): string {
  const n = Math.max(c.names.length, 1);
  const maxName = n > 40 ? 18 : 30;
  const prefix = commonPrefix(c.names);
  const shown = c.names.map((x) => shortName(x.slice(prefix.length), maxName));
  const m = { ...M, top: 44, bottom: nameAxisHeight(shown, maxName) };
  // The first name, rotated, reaches left of its slot by about 0.77 of its width.
  m.left = Math.max(M.left, Math.min(180, textWidth(shown[0] ?? "") * 0.77 - (c.width - M.left) / n / 2 + 8));
  const pw = c.width - m.left - m.right, ph = c.height - m.top - m.bottom;
  const marks = c.series.flatMap((s) => s.marks.filter((x): x is NormMark => x !== undefined));
  const vals = marks.flatMap((b) => [b.lower, b.upper]).filter((x) => x > 0 && Number.isFinite(x));
  if (c.reference) vals.push(c.reference.y);
  let Y: (y: number) => number;
  const ticks: { at: number; text: string }[] = [];
  if (c.yLog) {
    const [e0, e1] = logRange(Math.min(1, ...vals), Math.max(1, ...vals));
    Y = (y) => m.top + ph - ((Math.log10(Math.max(y, 10 ** e0)) - e0) / (e1 - e0)) * ph;
    const every = Math.ceil((e1 - e0) / 7);
    for (let e = e0; e <= e1; e++) if ((e - e0) % every === 0) ticks.push({ at: 10 ** e, text: decade(e) });
  } else {
    const hi = (vals.length ? Math.max(...vals) : 1) * 1.05;
    Y = (y) => m.top + ph - (Math.max(0, y) / hi) * ph;
    for (const t of linearTicks(0, hi)) ticks.push({ at: t, text: tickText(t) });
  }
  const X = (j: number) => m.left + ((j + 0.5) / n) * pw;
  let body = `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" class="bg"/>`;
  for (const t of ticks) {
    const y = f2(Y(t.at));
    body += `<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" class="g"/>` +
      `<text x="${m.left - 5}" y="${y}" dy="0.32em" text-anchor="end" class="k">${t.text}</text>`;
  }
  const slot = pw / n;
  const k = Math.max(1, c.series.length);
  const bw = Math.max(2, Math.min(c.bars ? 26 : 12, (slot * 0.7) / k));
  const labelEvery = Math.ceil(n / Math.max(1, Math.floor(pw / 13)));
  c.names.forEach((name, j) => {
    if (j % labelEvery) return;
    const x = f2(X(j) + 3.5), y = m.top + ph + 10;
    body += `<text transform="translate(${x} ${y}) rotate(-40)" text-anchor="end" class="k nm"><title>#${j + 1} ${
      esc(name)
    }</title>${esc(shown[j])}</text>`;
  });
  c.series.forEach((s, si) => {
    s.marks.forEach((b, j) => {
      if (!b || !(b.upper > 0)) return;
      const x = X(j) + (si - (k - 1) / 2) * (bw + 2);
      const color = b.color ?? s.color;
      const tip = `<title>${esc(b.title)}</title>`;
      const yu = Y(b.upper);
      if (c.bars) {
        const y0 = m.top + ph;
        body += b.exact
          ? `<rect x="${f2(x - bw / 2)}" y="${f2(yu)}" width="${f2(bw)}" height="${
            f2(Math.max(1, y0 - yu))
          }" fill="${color}">${tip}</rect>`
          : `<rect x="${f2(x - bw / 2 + 0.75)}" y="${f2(yu)}" width="${f2(bw - 1.5)}" height="${
            f2(Math.max(1, y0 - yu))
          }" fill="#fff" stroke="${color}" stroke-width="1.5" stroke-dasharray="3 2">${tip}</rect>`;
      } else if (b.exact) {
        body += `<circle cx="${f2(x)}" cy="${f2(yu)}" r="${
          f2(Math.min(4, Math.max(2.5, bw / 2.5)))
        }" fill="${color}">${tip}</circle>`;
      } else {
        // An interval narrower than MIN_INTERVAL_PX is drawn that tall about its middle, so its caps stay apart.
        let yl = Y(b.lower > 0 ? b.lower : b.upper), yt = yu;
        if (yl - yt < MIN_INTERVAL_PX) {
          const mid = (yl + yt) / 2;
          [yt, yl] = [mid - MIN_INTERVAL_PX / 2, mid + MIN_INTERVAL_PX / 2];
        }
        const cap = Math.max(3, bw / 2);
        body += `<g stroke="${color}" stroke-width="2">${tip}` +
          `<rect x="${f2(x - cap * 0.45)}" y="${f2(yt)}" width="${f2(cap * 0.9)}" height="${
            f2(Math.max(0, yl - yt))
          }" fill="${color}" fill-opacity="0.35" stroke="none"/>` +
          `<line x1="${f2(x)}" x2="${f2(x)}" y1="${f2(yt)}" y2="${f2(yl)}"/>` +
          `<line x1="${f2(x - cap)}" x2="${f2(x + cap)}" y1="${f2(yt)}" y2="${f2(yt)}"/>` +
          `<line x1="${f2(x - cap)}" x2="${f2(x + cap)}" y1="${f2(yl)}" y2="${f2(yl)}"/></g>`;
      }
    });
  });
  if (c.reference) {
    const y = f2(Y(c.reference.y));
    body += `<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" class="ref"><title>${
      esc(c.reference.label)
    }</title></line>`;
  }
  body += `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" class="ax"/>`;
  body += legendRow(c.legend, m.left - 6, 32);
  return frame(c.width, c.height, c.title, "", c.yLabel, undefined, body, "plot", m);
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
  return frame(width, height, title, "v (0 at the centre)", "u", undefined, body, "plot heat", { ...M, left: L });
}
