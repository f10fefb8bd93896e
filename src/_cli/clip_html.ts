/**
 * `clip --html`: one self-contained page (inline CSS and SVG, no scripts,
 * nothing fetched) showing what clipping did: each layer's norm before and
 * after as bars against the radius, the table, and per layer the sorted
 * singular values before and after.
 * @module
 */
import type { ClippedLayer } from "./clip.ts";
import { type ClipRun, clipTotals, kindText } from "./clip_output.ts";
import { breakable, CSS } from "./html.ts";
import { dims } from "./layers.ts";
import { esc, type LegendEntry, linePlot, normChart } from "./svg.ts";
import { msText, num, paddingText } from "./table.ts";

const BEFORE = "#9aa3b2", AFTER = "#2c718e";

/** A norm as the page shows it: `≤ x` where it is an upper bound (zero padding). */
function bound(l: ClippedLayer, x: number | undefined): string {
  return x === undefined ? "–" : `${l.exact ? "" : "≤ "}${num(x)}`;
}

function barsChart(r: ClipRun): string {
  const legend: LegendEntry[] = [
    { text: "before", color: BEFORE, glyph: "bar" },
    { text: "after", color: AFTER, glyph: "bar" },
  ];
  if (r.clipped.some((l) => !l.exact)) {
    legend.push({ text: "upper bound (zero padding)", color: "#5b6474", glyph: "outline" });
  }
  legend.push({ text: `radius ${r.maxNorm}`, color: "#c0392b", glyph: "ref" });
  const mark = (l: ClippedLayer, j: number, x: number | undefined, when: string, color: string) =>
    l.error || x === undefined ? undefined : {
      lower: x,
      upper: x,
      exact: l.exact ?? true,
      color,
      title: `#${j + 1} ${l.name}: norm ${when} ${bound(l, x)}`,
    };
  return normChart({
    width: 1100,
    height: 420,
    title: `Operator norm per layer, before and after clipping to ${r.maxNorm}`,
    yLabel: r.foldBn ? "norm of conv∘BN" : "norm",
    yLog: false,
    bars: true,
    names: r.layers.map((l) => l.name),
    legend,
    reference: { y: r.maxNorm, label: `radius ${r.maxNorm} (--max-norm)` },
    series: [
      { name: "before", color: BEFORE, marks: r.layers.map((l, j) => mark(l, j, l.normBefore, "before", BEFORE)) },
      { name: "after", color: AFTER, marks: r.layers.map((l, j) => mark(l, j, l.normAfter, "after", AFTER)) },
    ],
  });
}

function spectraPlot(l: ClippedLayer, maxNorm: number): string {
  const sp = l.spectra!;
  const top = Math.max(sp.before.values[0] ?? 0, sp.after.values[0] ?? 0, maxNorm);
  const smallest = Math.min(sp.before.minPositive || top, sp.after.minPositive || top);
  const series = [
    { s: sp.before, color: BEFORE, label: "before", width: 2.2, dash: undefined },
    { s: sp.after, color: AFTER, label: "after", width: 1.6, dash: undefined },
  ];
  return linePlot({
    width: 420,
    height: 260,
    title: "Sorted singular values",
    xLabel: `rank (of ${sp.before.count.toLocaleString("en-US")})`,
    yLabel: "singular value (log)",
    yLog: true,
    yFloor: Math.max(smallest, top * 1e-12),
    xRange: [1, Math.max(2, sp.before.count)],
    reference: { y: maxNorm, label: `radius ${maxNorm}` },
    legend: [
      { text: "before", color: BEFORE },
      { text: "after", color: AFTER },
      { text: "radius", color: "#c0392b", glyph: "ref" },
    ],
    series: series.map((x) => ({
      x: x.s.ranks,
      y: x.s.values,
      color: x.color,
      label: `${l.name}: ${x.label}`,
      width: x.width,
    })),
  });
}

function card(l: ClippedLayer, j: number, r: ClipRun): string {
  const head = `<h3 title="${esc(l.name)}">#${j + 1} ${breakable(l.name)}</h3>`;
  const facts = [
    `kernel ${esc(kindText(l))}`,
    `input ${dims(l.inputShape)}`,
    `stride ${dims(l.stride)}`,
    `padding ${esc(paddingText(l.padding))}`,
  ];
  if (l.grid) facts.push(`grid ${dims(l.grid)}${l.exact ? "" : " (circular, holds the padded layer)"}`);
  if (l.scale) facts.push(`${esc(l.scale.kind)} ${esc(l.scale.name)} ${l.scale.folded ? "folded in" : "left out"}`);
  if (l.error) {
    return `<article class="layer clip" id="layer-${j + 1}">${head}<p class="facts">${
      facts.join(" · ")
    }</p><p class="err">Not clipped, written as read: ${esc(l.error)}</p></article>`;
  }
  const norms = `<b>norm ${esc(bound(l, l.normBefore))} → ${esc(bound(l, l.normAfter))}</b> · ${l.iterations} round(s)${
    l.certified ? " · certified" : ""
  }${
    l.normAfter! > r.maxNorm * (1 + (r.tolerance ?? 0)) * (1 + 1e-12)
      ? ` · <span class="err">still above ${r.maxNorm}</span>`
      : ""
  } · ${msText(l.timeMs)}`;
  const plot = l.spectra ? spectraPlot(l, r.maxNorm) : "";
  const note = l.note ? `<p class="note">${esc(l.note)}</p>` : "";
  return `<article class="layer clip" id="layer-${j + 1}">${head}<p class="facts">${
    facts.join(" · ")
  }<br>${norms}</p>${note}<div class="plots">${plot}</div></article>`;
}

function table(r: ClipRun): string {
  const head = ["#", "layer", "kernel", "grid", "norm before", "norm after", "rounds", "certified", "BN/scale", "time"];
  const rows = r.layers.map((l, j) => {
    const cells = [
      `<td class="n">${j + 1}</td>`,
      `<td class="name"><a href="#layer-${j + 1}" title="${esc(l.name)}">${breakable(l.name)}</a></td>`,
      `<td>${esc(kindText(l))}</td>`,
      `<td>${l.grid ? dims(l.grid) : "–"}</td>`,
      `<td class="n">${l.error ? "–" : esc(bound(l, l.normBefore))}</td>`,
      `<td class="n">${l.error ? "not clipped" : esc(bound(l, l.normAfter))}</td>`,
      `<td class="n">${l.iterations ?? "–"}</td>`,
      `<td>${l.error ? "–" : l.certified ? "yes" : "no"}</td>`,
      `<td>${l.scale ? (l.scale.folded ? "folded" : "left out") : "–"}</td>`,
      `<td class="n">${msText(l.timeMs)}</td>`,
    ];
    return `<tr${l.error ? ' class="err"' : ""}>${cells.join("")}</tr>`;
  });
  return `<div class="tw"><table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${
    rows.join("")
  }</tbody></table></div>`;
}

/** The `clip --html` page. */
export function clipHtml(r: ClipRun, generated = new Date()): string {
  const name = r.model.split(/[\\/]/).pop() ?? r.model;
  const t = clipTotals(r);
  const certify = r.certify ?? r.tolerance !== undefined;
  const meta = [
    esc(r.format),
    `${r.layers.length} conv layer${r.layers.length === 1 ? "" : "s"}`,
    `radius ${r.maxNorm}`,
    `${r.iterations} round(s) at most`,
    r.tolerance !== undefined ? `tolerance ${r.tolerance}` : "",
    certify ? "certify on" : "certify off",
    r.foldBn ? "BatchNorm/scale folded in (--fold-bn): norms of conv∘BN" : "BatchNorm/scale not folded",
    esc(generated.toISOString().replace("T", " ").slice(0, 19)) + " UTC",
  ].filter(Boolean).join(" · ");
  const notes: string[] = [];
  if (r.clipped.some((l) => !l.exact)) {
    notes.push(
      "≤: zero padding: the norms are certified upper bounds of the padded layer's norm (the exact norms of the circular layer on the grid shown, which holds the padded layer); the plots show that circular layer.",
    );
  }
  if (r.unfolded.length) {
    notes.push(
      `${r.unfolded.length} layer(s) have a BatchNorm/scale after them that these norms leave out: --fold-bn clips conv∘BN instead.`,
    );
  }
  if (r.above.length) {
    notes.push(
      `${r.above.length} layer(s) are still above ${r.maxNorm}: raise --iterations, or --certify to scale them into the ball.`,
    );
  }
  for (const n of r.notes) notes.push(`note: ${n}`);
  const fmt = (x: unknown) => (typeof x === "number" ? num(x) : "–");
  const summary = `<p class="big" id="totals">${fmt(t.maxNormBefore)} → ${fmt(t.maxNormAfter)}</p>
<p class="note">Largest layer norm before → after clipping. ${t.changed} of ${t.layers} layer(s) changed, ${t.failed} not clipped, ${t.certified} certified, ${t.aboveMaxNorm} still above ${r.maxNorm}. Product of the layers' norms (a Lipschitz bound of the conv part): ${
    fmt(t.productBefore)
  } → ${fmt(t.productAfter)}.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>convsv clip: ${esc(name)}</title><style>${CSS}</style></head>
<body>
<header><h1>Clipping the conv layers of ${
    esc(name)
  } to operator norm ≤ ${r.maxNorm}</h1><p class="meta">${meta}</p></header>
<section id="summary"><h2>Summary</h2>${summary}</section>
<section id="norms"><h2>Norms before and after</h2><div class="wide">${barsChart(r)}</div>
<p class="note">Grey: the norm before clipping; blue: after. A dashed outline marks a certified upper bound (zero padding); the red line is the radius.</p></section>
<section id="table"><h2>Layers</h2>${table(r)}
${notes.map((n) => `<p class="note">${esc(n)}</p>`).join("\n")}
</section>
<section id="layers"><h2>Per layer</h2><p class="note">Every singular value of the layer${
    r.foldBn ? " (conv∘BN where folded)" : ""
  } against its rank, log scale, before (grey) and after (blue) clipping; the red line is the radius. Clipping caps the values above it; cutting the kernel back to its taps moves the others a little.</p>
<div class="cards">
${r.layers.map((l, j) => card(l, j, r)).join("\n")}
</div></section>
<footer>Made by convsv clip from ${esc(r.model)}. Self-contained: no scripts, nothing loaded from the network.</footer>
</body></html>
`;
}
