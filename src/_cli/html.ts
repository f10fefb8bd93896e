/**
 * The HTML report: one self-contained page (inline CSS and SVG, images as
 * data URLs, no scripts, nothing fetched).
 * @module
 */
import type { Analysis, LayerResult } from "./analyse.ts";
import { dims } from "./layers.ts";
import {
  commonPrefix,
  esc,
  heatmap,
  type LegendEntry,
  linePlot,
  MIN_INTERVAL_PX,
  normChart,
  shortName,
  viridis,
} from "./svg.ts";
import { inputText, kernelText, lipschitzParagraphs, msText, normText, num, paddingText } from "./table.ts";

/** The style sheet of both HTML pages (report and clip). */
export const CSS = `
:root{--fg:#1d2330;--mut:#5b6474;--line:#d9dde4;--bg:#fff;--card:#f7f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:20px 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:14px;margin:0 0 4px;overflow-wrap:break-word}
.meta,.note{color:var(--mut)}.note{font-size:12.5px;max-width:900px}
.big{font-size:26px;font-weight:600;margin:4px 0}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(560px,100%),1fr));gap:16px;align-items:start}
.pair svg.plot{width:100%;height:auto}
.wide svg.plot{width:100%;height:auto}
.layer.clip svg.plot{width:100%;max-width:640px;height:auto}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:var(--card)}td.n{text-align:right}
.tw{overflow-x:auto;max-width:100%}td.name{white-space:normal;overflow-wrap:break-word;min-width:160px;max-width:420px}
tr.err td{color:#a4001d}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(570px,1fr));gap:12px}
.layer{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.layer .facts{font-size:12.5px;color:var(--mut);margin:0 0 6px}
.layer .plots{display:flex;flex-wrap:wrap;gap:6px;align-items:flex-start}
svg.plot{background:#fff;border:1px solid var(--line);border-radius:4px;max-width:100%;height:auto}
svg .nm{cursor:default}
svg text{font:11px system-ui,-apple-system,"DejaVu Sans",sans-serif;fill:var(--fg)}
svg .t{font-weight:600;font-size:12px}svg .c,svg .k{fill:var(--mut)}
svg .bg{fill:#fff}svg .ax{fill:none;stroke:#8a93a3}svg .g{stroke:#eceef2}
svg .ref{stroke:#c0392b;stroke-dasharray:4 3}svg .ring{fill:none;stroke:#fff;stroke-width:2}
svg .bx{fill:#2c718e}svg .bi{fill:#e08a1e}
.err{color:#a4001d}
footer{margin-top:28px;color:var(--mut);font-size:12px}
`;

/** A name escaped for HTML, with line-break opportunities after each "/" (a path's parts stay whole). */
export function breakable(name: string): string {
  return esc(name).replace(/\/(?=.)/g, "/<wbr>");
}

function layerColor(j: number, n: number): string {
  const [r, g, b] = viridis(n > 1 ? (0.85 * j) / (n - 1) : 0);
  return `rgb(${r},${g},${b})`;
}

function sortedPlot(l: LayerResult): string {
  const s = l.sorted;
  const floor = Math.max(s.minPositive || l.upper * 1e-12, l.upper * 1e-12);
  return linePlot({
    width: 270,
    height: 250,
    title: "Sorted singular values",
    xLabel: `rank (of ${s.count.toLocaleString("en-US")})`,
    yLabel: "singular value (log)",
    yLog: true,
    yFloor: floor,
    xRange: [1, Math.max(2, s.count)],
    series: [{ x: s.ranks, y: s.values, color: "#2c718e", label: `${l.name}: sorted singular values` }],
  });
}

function facts(l: LayerResult): string {
  const parts = [
    `kernel ${esc(kernelText(l))}`,
    `input ${esc(inputText(l))}`,
    `stride ${dims(l.stride)}`,
    `padding ${esc(paddingText(l.padding))}`,
  ];
  if (l.dilation.some((d) => d !== 1)) parts.push(`dilation ${dims(l.dilation)}`);
  if (l.scale) {
    parts.push(
      `${esc(l.scale.kind)} ${esc(l.scale.name)} ${l.scale.folded ? "folded" : "not folded"} (|factor| ${
        num(l.scale.minAbs, 3)
      }–${num(l.scale.maxAbs, 3)})`,
    );
  }
  const norm = l.exact
    ? `<b>norm ${num(l.upper)}</b> (exact)`
    : `<b>norm in [${num(l.lower)}, ${num(l.upper)}]</b> (certified; plots: circular layer on ${dims(l.grid)})`;
  return `<p class="facts">${parts.join(" · ")}<br>${norm} · median σ ${num(l.sorted.median)} · ${
    msText(l.timeMs)
  }</p>`;
}

function layerCard(l: LayerResult): string {
  const head = `<h3 title="${esc(l.name)}">#${l.index + 1} ${breakable(l.name)}</h3>`;
  if (l.error) {
    return `<article class="layer" id="layer-${l.index + 1}">${head}<p class="err">${esc(l.error)}</p></article>`;
  }
  const freq = l.heat.shape.length === 1 ? "σ_max per frequency" : "σ_max per frequency (u, v)";
  const depth = l.spectrumShape.length === 4 ? " (max over depth)" : "";
  const heat = l.heat.values.length > 1
    ? heatmap(freq + depth, l.heat.shape, l.heat.values, 170)
    : `<p class="note" style="max-width:240px">σ_max is the same at every frequency: a 1×1 kernel applies one matrix at every position.</p>`;
  return `<article class="layer" id="layer-${l.index + 1}">${head}${facts(l)}<div class="plots">${
    sortedPlot(l)
  }${heat}</div></article>`;
}

/** How far below the largest value the all-layers plot reaches: the values that matter for the norm and its tail. */
export const OVERVIEW_DECADES = 3;

/** The y floor of the all-layers plot: the smallest value shown, but not below 10^-OVERVIEW_DECADES · max. */
export function overviewFloor(a: Analysis): { floor: number; top: number; cut: boolean } {
  const ok = a.layers.filter((l) => !l.error && l.sorted.count > 0);
  const top = Math.max(...ok.map((l) => l.upper), 0);
  const smallest = Math.min(...ok.flatMap((l) => [l.sorted.zeros > 0 ? 0 : l.sorted.minPositive]));
  const limit = top * 10 ** -OVERVIEW_DECADES;
  return smallest >= limit ? { floor: smallest, top, cut: false } : { floor: limit, top, cut: true };
}

function overviewPlot(a: Analysis): string {
  const ok = a.layers.filter((l) => !l.error && l.sorted.count > 0);
  const { floor, cut } = overviewFloor(a);
  const n = a.layers.length;
  const named = ok.length <= 24;
  const prefix = commonPrefix(a.layers.map((l) => l.name));
  const legend: LegendEntry[] = named
    ? ok.map((l) => ({
      text: `#${l.index + 1} ${shortName(l.name.slice(prefix.length), 30)}`,
      title: `#${l.index + 1} ${l.name}`,
      color: layerColor(l.index, n),
    }))
    : [
      { text: `#1 ${shortName(a.layers[0].name, 20)}`, title: a.layers[0].name, color: layerColor(0, n) },
      {
        text: `… to #${n} ${shortName(a.layers[n - 1].name, 16)}`,
        title: a.layers[n - 1].name,
        color: layerColor(n - 1, n),
      },
    ];
  return linePlot({
    width: 760,
    height: 420,
    title: "Sorted singular values of every layer",
    corner: cut
      ? `y from 1e-${OVERVIEW_DECADES} × the largest value; smaller values cut off`
      : "y down to the smallest value",
    xLabel: "rank / number of values",
    yLabel: "singular value (log)",
    yLog: true,
    yFloor: floor,
    xRange: [0, 1],
    legend,
    clipId: "overview-clip",
    series: ok.map((l) => ({
      x: l.sorted.ranks.map((r) => (l.sorted.count > 1 ? (r - 1) / (l.sorted.count - 1) : 0)),
      y: l.sorted.values,
      color: layerColor(l.index, n),
      label: `#${l.index + 1} ${l.name}: norm ${l.exact ? num(l.upper) : `[${num(l.lower)}, ${num(l.upper)}]`}`,
      width: 1.4,
    })),
  });
}

/** The norm of every layer: dots (exact) and capped bars (certified intervals), named along x. */
function normOverview(a: Analysis): string {
  const exact = "#2c718e", interval = "#d9730d";
  const legend: LegendEntry[] = [];
  if (a.layers.some((l) => l.exact && !l.error)) legend.push({ text: "exact norm", color: exact, glyph: "dot" });
  if (a.layers.some((l) => !l.exact && !l.error)) {
    legend.push({ text: "certified [lower, upper] (zero padding)", color: interval, glyph: "interval" });
  }
  legend.push({ text: "norm 1", color: "#c0392b", glyph: "ref" });
  return normChart({
    width: 760,
    height: 420,
    title: "Operator norm per layer",
    yLabel: "norm (log)",
    yLog: true,
    names: a.layers.map((l) => l.name),
    legend,
    reference: { y: 1, label: "norm 1" },
    series: [{
      name: "norm",
      color: exact,
      marks: a.layers.map((l) =>
        l.error ? undefined : {
          lower: l.lower,
          upper: l.upper,
          exact: l.exact,
          color: l.exact ? exact : interval,
          title: `#${l.index + 1} ${l.name}: ${
            l.exact ? `norm ${num(l.upper)} (exact)` : `norm in [${num(l.lower)}, ${num(l.upper)}] (certified)`
          }`,
        }
      ),
    }],
  });
}

function tableHtml(a: Analysis): string {
  const withScale = a.layers.some((l) => l.scale);
  const head = ["#", "layer", "kernel", "input", "stride", "padding", "norm (exact) or [lower, upper]"];
  if (withScale) head.push(a.foldBn ? "folded |factor|" : "scale |factor|");
  head.push("time");
  const rows = a.layers.map((l) => {
    const cells = [
      `<td class="n">${l.index + 1}</td>`,
      `<td class="name"><a href="#layer-${l.index + 1}" title="${esc(l.name)}">${breakable(l.name)}</a></td>`,
      `<td>${esc(kernelText(l))}</td>`,
      `<td>${esc(inputText(l))}</td>`,
      `<td>${dims(l.stride)}</td>`,
      `<td>${esc(paddingText(l.padding))}</td>`,
      `<td class="n">${esc(normText(l))}</td>`,
    ];
    if (withScale) cells.push(`<td>${l.scale ? `${num(l.scale.minAbs, 3)}–${num(l.scale.maxAbs, 3)}` : "–"}</td>`);
    cells.push(`<td class="n">${msText(l.timeMs)}</td>`);
    return `<tr${l.error ? ' class="err"' : ""}>${cells.join("")}</tr>`;
  });
  return `<div class="tw"><table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${
    rows.join("")
  }</tbody></table></div>`;
}

/** Where the layers' input shapes came from, as the page's header says it. */
export function shapeSources(a: Analysis): string {
  const attributed = new Set(a.shapesFromAttributes ?? []);
  const count = (f: (l: LayerResult) => boolean) => a.layers.filter(f).length;
  const parts: string[] = [];
  const fromAttributes = count((l) => l.inputSource === "model" && attributed.has(l.name));
  const fromFile = count((l) => l.inputSource === "model" && !attributed.has(l.name));
  const fromInput = count((l) => l.inputSource === "input" || l.inputSource === "propagated");
  const unknown = count((l) =>
    l.inputSource !== "model" && l.inputSource !== "input" && l.inputSource !== "propagated"
  );
  const n = a.layers.length;
  const of = (k: number) => (k === n ? "" : ` (${k} of ${n})`);
  if (fromFile) parts.push(`input shapes from the file${of(fromFile)}`);
  if (fromAttributes) parts.push(`input shapes from --attributes${of(fromAttributes)}`);
  if (fromInput) parts.push(`input shapes from --input${a.input ? ` ${a.input}` : ""}${of(fromInput)}`);
  if (unknown) parts.push(`${unknown} input size(s) unknown`);
  if (a.input && !fromInput) parts.push(`--input ${a.input}`);
  return parts.join(" · ");
}

/** The whole page. */
export function htmlReport(a: Analysis, modelPath: string, generated = new Date()): string {
  const name = modelPath.split(/[\\/]/).pop() ?? modelPath;
  const lines = lipschitzParagraphs(a);
  const meta = [
    esc(a.format),
    `${a.layers.length} conv layer${a.layers.length === 1 ? "" : "s"}`,
    esc(shapeSources(a)),
    a.foldBn ? "BatchNorm/scale folded (--fold-bn)" : "BatchNorm/scale not folded",
    a.precision,
    `computed in ${msText(a.totalMs)}`,
    esc(generated.toISOString().replace("T", " ").slice(0, 19)) + " UTC",
  ].join(" · ");
  const notes: string[] = [];
  if (a.layers.some((l) => l.inputSource === "propagated")) {
    notes.push("* input shape propagated from --input through the earlier conv layers (pooling layers are not seen).");
  }
  if (a.layers.some((l) => l.inputSource === "input")) notes.push("+ input shape from --input.");
  if (a.layers.some((l) => !l.exact && !l.error)) {
    notes.push(
      "[lower, upper]: certified interval for zero padding. The upper bound is the exact norm of a circular layer on a larger grid that contains the zero-padded layer; the lower bound is a Rayleigh quotient of the real layer (power iteration). The plots of such layers show that circular layer.",
    );
  }
  for (const w of a.warnings) notes.push(`warning: ${w}`);
  const pointwise = a.layers.filter((l) => l.note?.startsWith("1x1 kernel"));
  if (pointwise.length) {
    notes.push(
      `${
        pointwise.map((l) => `#${l.index + 1}`).join(", ")
      }: 1×1 kernels without padding apply one matrix at every output position, so the norm is the matrix's, exactly.`,
    );
  }
  for (const l of a.layers) if (l.note && !pointwise.includes(l)) notes.push(`#${l.index + 1} ${l.name}: ${l.note}.`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>convsv report: ${esc(name)}</title><style>${CSS}</style></head>
<body>
<header><h1>Singular values of the conv layers of ${esc(name)}</h1><p class="meta">${meta}</p></header>
<section id="summary"><h2>Lipschitz bound of the conv part</h2>
<p class="big" id="lipschitz">${num(a.lipschitz)}</p>
${lines.map((l) => `<p class="note">${esc(l)}</p>`).join("\n")}
</section>
<section id="overview"><h2>Overview</h2><div class="pair">${normOverview(a)}${overviewPlot(a)}</div>
<p class="note">Left: each layer's operator norm, a dot where it is exact, a bar with end caps from the certified lower to the upper bound for zero padding (an interval narrower than ${MIN_INTERVAL_PX} px is drawn ${MIN_INTERVAL_PX} px tall about its middle; the tooltips and the table give its ends). Right: every layer's sorted singular values, rank normalised to [0, 1].${
    commonPrefix(a.layers.map((l) => l.name))
      ? ` The plots leave out the prefix every name shares, ${
        esc(commonPrefix(a.layers.map((l) => l.name)))
      }; long names keep their first and last parts.`
      : ""
  }</p></section>
<section id="table"><h2>Layers</h2>${tableHtml(a)}
${notes.map((n) => `<p class="note">${esc(n)}</p>`).join("\n")}
</section>
<section id="layers"><h2>Per layer</h2><p class="note">Left: every singular value of the layer (with multiplicity) against its rank, log scale, as in Sedghi, Gupta &amp; Long (ICLR 2019), figure 1. Right: the largest singular value of each frequency's matrix P(u, v), zero frequency at the centre; the ring marks the maximum (the layer's norm) and its mirror.</p>
<div class="cards">
${a.layers.map(layerCard).join("\n")}
</div></section>
<footer>Made by convsv (exact singular values of convolutional layers, after Sedghi, Gupta &amp; Long, ICLR 2019) from ${
    esc(modelPath)
  }. Self-contained: no scripts, nothing loaded from the network.</footer>
</body></html>
`;
}
