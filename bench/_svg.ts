/**
 * A small SVG writer for log–log line plots, side by side in one file: enough
 * for the benchmark's scaling figure, with no dependency.
 * @module
 */

/** One line of a plot: points (x, y), both positive; others are skipped. */
export interface Series {
  name: string;
  color: string;
  /** SVG `stroke-dasharray`, e.g. `"6 3"`; solid when absent. */
  dash?: string | undefined;
  /** Marker shape at each point. */
  marker?: "circle" | "square" | "triangle" | "diamond" | undefined;
  points: [number, number][];
}

/** One panel: a log–log plot with its own axes. */
export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const W = 430, H = 330; // one panel, margins included
const M = { left: 62, right: 14, top: 30, bottom: 46 };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function fmt(v: number): string {
  if (v >= 1e4 || v < 1e-3) return v.toExponential(0).replace("e+", "e");
  return String(Number(v.toPrecision(3)));
}

/** Tick values in [lo, hi]: 1-2-5 per decade when the range is short, decades otherwise. */
function ticks(lo: number, hi: number): { major: number[]; minor: number[] } {
  const e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi));
  const decades = e1 - e0;
  const steps = decades <= 3 ? [1, 2, 5] : [1];
  const major: number[] = [], minor: number[] = [];
  for (let e = e0; e <= e1; e++) {
    for (let m = 1; m <= 9; m++) {
      const v = m * 10 ** e;
      if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
      (steps.includes(m) ? major : minor).push(v);
    }
  }
  return { major, minor };
}

/** Log range padded to whole 1-2-5 steps around the data. */
function range(values: number[]): [number, number] {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!(lo > 0) || !Number.isFinite(hi)) return [1, 10];
  if (hi / lo < 3) {
    lo /= 1.8;
    hi *= 1.8;
  }
  const down = (v: number) => {
    const e = Math.floor(Math.log10(v));
    const m = v / 10 ** e;
    return (m >= 5 ? 5 : m >= 2 ? 2 : 1) * 10 ** e;
  };
  const up = (v: number) => {
    const e = Math.floor(Math.log10(v));
    const m = v / 10 ** e;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * 10 ** e;
  };
  return [down(lo), up(hi)];
}

function marker(kind: Series["marker"], x: number, y: number, color: string): string {
  const r = 3.2;
  switch (kind) {
    case "square":
      return `<rect x="${(x - r).toFixed(1)}" y="${(y - r).toFixed(1)}" width="${2 * r}" height="${
        2 * r
      }" fill="${color}"/>`;
    case "triangle":
      return `<path d="M${x.toFixed(1)},${(y - r - 0.8).toFixed(1)}l${r + 0.6},${2 * r}h${
        -2 * r - 1.2
      }z" fill="${color}"/>`;
    case "diamond":
      return `<path d="M${x.toFixed(1)},${(y - r - 0.8).toFixed(1)}l${r + 0.8},${r + 0.8}l${-r - 0.8},${r + 0.8}l${
        -r - 0.8
      },${-r - 0.8}z" fill="${color}"/>`;
    default:
      return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r}" fill="${color}"/>`;
  }
}

function panelSvg(p: Panel, ox: number): string {
  const pts = p.series.flatMap((s) => s.points.filter(([x, y]) => x > 0 && y > 0));
  const [x0, x1] = range(pts.map(([x]) => x));
  const [y0, y1] = range(pts.map(([, y]) => y));
  const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
  const sx = (x: number) => ox + M.left + (Math.log(x / x0) / Math.log(x1 / x0)) * pw;
  const sy = (y: number) => M.top + ph - (Math.log(y / y0) / Math.log(y1 / y0)) * ph;
  const out: string[] = [];
  out.push(`<g font-family="sans-serif" font-size="11" fill="#222">`);
  out.push(
    `<text x="${ox + M.left + pw / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${
      esc(p.title)
    }</text>`,
  );
  const tx = ticks(x0, x1), ty = ticks(y0, y1);
  for (const v of tx.minor) {
    out.push(
      `<line x1="${sx(v).toFixed(1)}" y1="${M.top}" x2="${sx(v).toFixed(1)}" y2="${M.top + ph}" stroke="#f0f0f0"/>`,
    );
  }
  for (const v of ty.minor) {
    out.push(
      `<line x1="${ox + M.left}" y1="${sy(v).toFixed(1)}" x2="${ox + M.left + pw}" y2="${
        sy(v).toFixed(1)
      }" stroke="#f0f0f0"/>`,
    );
  }
  for (const v of tx.major) {
    const x = sx(v).toFixed(1);
    out.push(`<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#ddd"/>`);
    out.push(`<text x="${x}" y="${M.top + ph + 15}" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (const v of ty.major) {
    const y = sy(v).toFixed(1);
    out.push(`<line x1="${ox + M.left}" y1="${y}" x2="${ox + M.left + pw}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${ox + M.left - 5}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`);
  }
  out.push(`<rect x="${ox + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${ox + M.left + pw / 2}" y="${H - 8}" text-anchor="middle">${esc(p.xLabel)}</text>`);
  out.push(
    `<text transform="translate(${ox + 14},${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${
      esc(p.yLabel)
    }</text>`,
  );
  for (const s of p.series) {
    const ok = s.points.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
    if (ok.length === 0) continue;
    const d = ok.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
    out.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"${
        s.dash ? ` stroke-dasharray="${s.dash}"` : ""
      }/>`,
    );
    for (const [x, y] of ok) out.push(marker(s.marker, sx(x), sy(y), s.color));
  }
  out.push(`</g>`);
  return out.join("\n");
}

/** The SVG document: the panels in a row, one legend (the first panel's series names) below. */
export function logLogSvg(panels: Panel[], caption: string): string {
  const names: Series[] = [];
  for (const p of panels) for (const s of p.series) if (!names.some((n) => n.name === s.name)) names.push(s);
  const perRow = 3, rowH = 18;
  const legendH = Math.ceil(names.length / perRow) * rowH + 10;
  const width = W * panels.length, height = H + legendH + 22;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  panels.forEach((p, i) => out.push(panelSvg(p, i * W)));
  const colW = (width - 2 * M.left) / perRow;
  out.push(`<g font-family="sans-serif" font-size="11" fill="#222">`);
  names.forEach((s, i) => {
    const x = M.left + (i % perRow) * colW, y = H + 8 + Math.floor(i / perRow) * rowH;
    out.push(
      `<line x1="${x}" y1="${y}" x2="${x + 26}" y2="${y}" stroke="${s.color}" stroke-width="1.8"${
        s.dash ? ` stroke-dasharray="${s.dash}"` : ""
      }/>`,
    );
    out.push(marker(s.marker, x + 13, y, s.color));
    out.push(`<text x="${x + 32}" y="${y + 4}">${esc(s.name)}</text>`);
  });
  out.push(
    `<text x="${width / 2}" y="${height - 8}" text-anchor="middle" font-size="10" fill="#555">${esc(caption)}</text>`,
  );
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
