/**
 * A small SVG writer for line plots with a linear x axis and a logarithmic
 * y axis, panels side by side with one shared legend: the per-layer norms
 * over training of bench/train/train.ts. No dependency.
 * @module
 */

/** One line: points (x, y), y > 0 (others are skipped). */
export interface Line {
  name: string;
  color: string;
  dash?: string | undefined;
  points: [number, number][];
}

/** One panel with its own axes; `level` draws a horizontal reference (the radius). */
export interface PlotPanel {
  title: string;
  xLabel: string;
  yLabel: string;
  lines: Line[];
  level?: number | undefined;
}

const W = 360, H = 300;
const M = { left: 52, right: 12, top: 28, bottom: 42 };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function label(v: number): string {
  return String(Number(v.toPrecision(3)));
}

/** Linear ticks at 1, 2 or 5 × a power of ten, about `n` of them. */
function linearTicks(lo: number, hi: number, n = 5): number[] {
  const raw = (hi - lo) / n;
  const e = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * e).find((s) => s >= raw) ?? 10 * e;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Log ticks: 1, 2, 5 per decade, and 1.5, 3, 7 when the range is under a decade. */
function logTicks(lo: number, hi: number): number[] {
  const ms = hi / lo < 10 ? [1, 1.5, 2, 3, 5, 7] : [1, 2, 5];
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of ms) {
      const v = m * 10 ** e;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

function panel(p: PlotPanel, ox: number, xr: [number, number], yr: [number, number]): string {
  const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
  const [x0, x1] = xr, [y0, y1] = yr;
  const sx = (x: number) => ox + M.left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => M.top + ph - (Math.log(y / y0) / Math.log(y1 / y0)) * ph;
  const out: string[] = [`<g font-family="sans-serif" font-size="11" fill="#222">`];
  out.push(
    `<text x="${ox + M.left + pw / 2}" y="17" text-anchor="middle" font-size="13" font-weight="bold">${
      esc(p.title)
    }</text>`,
  );
  for (const v of linearTicks(x0, x1)) {
    const x = sx(v).toFixed(1);
    out.push(`<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${x}" y="${M.top + ph + 15}" text-anchor="middle">${label(v)}</text>`);
  }
  for (const v of logTicks(y0, y1)) {
    const y = sy(v).toFixed(1);
    out.push(`<line x1="${ox + M.left}" y1="${y}" x2="${ox + M.left + pw}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${ox + M.left - 5}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${label(v)}</text>`);
  }
  out.push(`<rect x="${ox + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${ox + M.left + pw / 2}" y="${H - 8}" text-anchor="middle">${esc(p.xLabel)}</text>`);
  out.push(
    `<text transform="translate(${ox + 13},${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${
      esc(p.yLabel)
    }</text>`,
  );
  if (p.level !== undefined && p.level >= y0 && p.level <= y1) {
    const y = sy(p.level).toFixed(1);
    out.push(
      `<line x1="${ox + M.left}" y1="${y}" x2="${ox + M.left + pw}" y2="${y}" stroke="#000" stroke-dasharray="2 3"/>`,
    );
  }
  for (const l of p.lines) {
    const pts = l.points.filter(([, y]) => y > 0).sort((a, b) => a[0] - b[0]);
    if (pts.length === 0) continue;
    const d = pts.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
    out.push(
      `<path d="${d}" fill="none" stroke="${l.color}" stroke-width="1.5"${
        l.dash ? ` stroke-dasharray="${l.dash}"` : ""
      }/>`,
    );
  }
  out.push(`</g>`);
  return out.join("\n");
}

/**
 * The document: panels in rows of `perRow`, sharing the x and y ranges (so
 * they compare at a glance), one legend of the lines' names below.
 */
export function linLogSvg(panels: PlotPanel[], caption: string, perRow = 3): string {
  const all = panels.flatMap((p) => p.lines.flatMap((l) => l.points.filter(([, y]) => y > 0)));
  const xs = all.map(([x]) => x), ys = all.map(([, y]) => y);
  for (const p of panels) if (p.level !== undefined) ys.push(p.level);
  const xr: [number, number] = xs.length ? [0, Math.max(...xs)] : [0, 1];
  const yr: [number, number] = ys.length ? [Math.min(...ys) / 1.1, Math.max(...ys) * 1.1] : [1, 10];
  const names: Line[] = [];
  for (const p of panels) for (const l of p.lines) if (!names.some((n) => n.name === l.name)) names.push(l);
  const cols = Math.min(perRow, panels.length), rows = Math.ceil(panels.length / perRow);
  const legendCols = 5, rowH = 17;
  const legendH = Math.ceil(names.length / legendCols) * rowH + 8;
  const width = W * cols, height = H * rows + legendH + 24;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  panels.forEach((p, i) => {
    out.push(`<g transform="translate(0,${Math.floor(i / perRow) * H})">`);
    out.push(panel(p, (i % perRow) * W, xr, yr));
    out.push(`</g>`);
  });
  const colW = (width - M.left) / legendCols;
  out.push(`<g font-family="sans-serif" font-size="11" fill="#222">`);
  names.forEach((l, i) => {
    const x = M.left / 2 + (i % legendCols) * colW, y = H * rows + 8 + Math.floor(i / legendCols) * rowH;
    out.push(
      `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${l.color}" stroke-width="2"${
        l.dash ? ` stroke-dasharray="${l.dash}"` : ""
      }/>`,
    );
    out.push(`<text x="${x + 27}" y="${y + 4}">${esc(l.name)}</text>`);
  });
  out.push(
    `<text x="${width / 2}" y="${height - 8}" text-anchor="middle" font-size="10" fill="#555">${esc(caption)}</text>`,
  );
  out.push(`</g>`, `</svg>`);
  return out.join("\n") + "\n";
}
