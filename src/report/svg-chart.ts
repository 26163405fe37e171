/**
 * A line chart as a standalone SVG string: no dependency, no Node built-in, no DOM. GitHub shows
 * SVGs referenced from Markdown as images, which means no scripts, no web fonts and no external
 * CSS: everything is inline attributes, the text uses the reader's system sans-serif font, and the
 * background is painted white so the chart stays readable in GitHub's dark theme.
 *
 * Each series is one polyline with a marker per point (the shape changes with the series too,
 * so the lines stay apart in greyscale and for colour-blind readers), optional min–max error bars,
 * and a dashed stroke for reference series such as the kernel baselines.
 */
import { type Axis, axisFraction, makeAxis, type ScaleKind } from './axis.js';
import { axisUnit, formatCount, sig3, type UnitScale } from './format.js';

export interface ChartPoint {
  readonly x: number;
  readonly y: number;
  /** Spread of y over repeated runs, drawn as an error bar when both are present. */
  readonly yMin?: number;
  readonly yMax?: number;
}

export type MarkerShape = 'circle' | 'square' | 'triangle' | 'diamond' | 'triangle-down';

export interface ChartSeries {
  readonly name: string;
  readonly points: readonly ChartPoint[];
  readonly color?: string;
  /** Dashed line and hollow markers: a reference to compare with, not a kdp measurement. */
  readonly dashed?: boolean;
  readonly marker?: MarkerShape;
}

export interface ChartAxisSpec {
  readonly title: string;
  readonly scale: ScaleKind;
  /**
   * The unit of the values: the axis picks one of its scales for all its ticks, prints the ticks
   * as bare numbers in it and puts it in the title ("time per new flow (µs, log scale)"), so a
   * label and its ticks never disagree. Without one, ticks are counts (10, 100, 1k, 10k).
   */
  readonly unit?: UnitScale;
  /** Linear axes only: start at zero. */
  readonly includeZero?: boolean;
  /** Fixed ticks (and domain) instead of computed ones: e.g. whole worker counts. */
  readonly ticks?: readonly number[];
}

export interface LineChartSpec {
  readonly title: string;
  readonly subtitle?: string;
  readonly x: ChartAxisSpec;
  readonly y: ChartAxisSpec;
  readonly series: readonly ChartSeries[];
  readonly width?: number;
  readonly height?: number;
}

const kPalette = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const kMarkers: readonly MarkerShape[] = ['circle', 'square', 'triangle', 'diamond', 'triangle-down'];
const kFont = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif";
/** Average glyph width at 12px in common sans fonts: enough to size the legend and margins. */
const kCharWidth = 6.8;

export function renderLineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 760;
  const height = spec.height ?? 440;
  const series = spec.series.map((s, i) => ({
    ...s,
    color: s.color ?? kPalette[i % kPalette.length]!,
    marker: s.marker ?? kMarkers[i % kMarkers.length]!,
    points: plottable(s.points, spec.x.scale, spec.y.scale),
  }));

  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.flatMap((p) => [p.y, ...(hasBar(p) ? [p.yMin!, p.yMax!] : [])]));
  const xAxis = axisFor(spec.x, xs);
  const yAxis = axisFor(spec.y, ys);
  const xLabels = labels(spec.x, xAxis);
  const yLabels = labels(spec.y, yAxis);
  const fmtX = (v: number) => xLabels.tick(v);
  const fmtY = (v: number) => yLabels.tick(v);

  const yLabelWidth = Math.max(...yAxis.ticks.map((t) => fmtY(t).length)) * kCharWidth;
  const legendWidth = legendTextWidth(series) + 44;
  const left = Math.round(yLabelWidth + 42);
  const right = Math.round(legendWidth + 16);
  const top = spec.subtitle ? 58 : 42;
  const bottom = 56;
  const plot = { x: left, y: top, w: width - left - right, h: height - top - bottom };
  // The axes end at the data; a few pixels inside the frame keep the end markers whole.
  const inset = 8;
  const px = (v: number) => plot.x + inset + axisFraction(xAxis, v) * (plot.w - 2 * inset);
  const py = (v: number) => plot.y + plot.h - inset - axisFraction(yAxis, v) * (plot.h - 2 * inset);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${esc(kFont)}" font-size="12" role="img" aria-label="${esc(spec.title)}">`,
    `<title>${esc(spec.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="600" fill="#1f2328">${esc(spec.title)}</text>`,
  );
  if (spec.subtitle) out.push(`<text x="${width / 2}" y="40" text-anchor="middle" font-size="12" fill="#57606a">${esc(spec.subtitle)}</text>`);

  // Grid and tick labels first, so data is drawn over them.
  out.push('<g stroke="#d0d7de" stroke-width="1">');
  for (const t of xAxis.ticks) out.push(`<line x1="${n(px(t))}" y1="${plot.y}" x2="${n(px(t))}" y2="${plot.y + plot.h}"/>`);
  for (const t of yAxis.ticks) out.push(`<line x1="${plot.x}" y1="${n(py(t))}" x2="${plot.x + plot.w}" y2="${n(py(t))}"/>`);
  out.push('</g>');
  out.push(`<rect x="${plot.x}" y="${plot.y}" width="${plot.w}" height="${plot.h}" fill="none" stroke="#57606a" stroke-width="1"/>`);
  out.push('<g fill="#1f2328">');
  for (const t of xAxis.ticks) out.push(`<text x="${n(px(t))}" y="${plot.y + plot.h + 17}" text-anchor="middle">${esc(fmtX(t))}</text>`);
  for (const t of yAxis.ticks) out.push(`<text x="${plot.x - 6}" y="${n(py(t) + 4)}" text-anchor="end">${esc(fmtY(t))}</text>`);
  out.push('</g>');
  out.push(`<text x="${n(plot.x + plot.w / 2)}" y="${height - 14}" text-anchor="middle" font-size="13" fill="#1f2328">${esc(xLabels.title)}</text>`);
  const yMid = n(plot.y + plot.h / 2);
  out.push(`<text x="16" y="${yMid}" transform="rotate(-90 16 ${yMid})" text-anchor="middle" font-size="13" fill="#1f2328">${esc(yLabels.title)}</text>`);

  for (const s of series) {
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<g class="series" data-series="${esc(s.name)}">`);
    for (const p of s.points) {
      if (!hasBar(p)) continue;
      const x = n(px(p.x));
      const [y1, y2] = [n(py(p.yMin!)), n(py(p.yMax!))];
      out.push(`<path d="M${x} ${y1}V${y2}M${n(px(p.x) - 4)} ${y1}H${n(px(p.x) + 4)}M${n(px(p.x) - 4)} ${y2}H${n(px(p.x) + 4)}" stroke="${s.color}" stroke-width="1" fill="none"/>`);
    }
    if (s.points.length > 1) {
      const pts = s.points.map((p) => `${n(px(p.x))},${n(py(p.y))}`).join(' ');
      out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${dash} stroke-linejoin="round"/>`);
    }
    for (const p of s.points) out.push(marker(s.marker, px(p.x), py(p.y), s.color, !!s.dashed));
    out.push('</g>');
  }

  // Legend, right of the plot; series with nothing plottable still appear, marked as such.
  const lx = plot.x + plot.w + 16;
  out.push(`<g class="legend" font-size="12" fill="#1f2328">`);
  series.forEach((s, i) => {
    const ly = plot.y + 10 + i * 20;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(marker(s.marker, lx + 14, ly, s.color, !!s.dashed));
    out.push(`<text x="${lx + 36}" y="${ly + 4}">${esc(s.name + (s.points.length === 0 ? ' (no data)' : ''))}</text>`);
  });
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function axisFor(spec: ChartAxisSpec, values: readonly number[]): Axis {
  const fixed = spec.ticks?.filter((t) => Number.isFinite(t) && (spec.scale === 'linear' || t > 0));
  if (!fixed || fixed.length < 2) return makeAxis(spec.scale, values, spec.includeZero);
  const ticks = [...fixed].sort((a, b) => a - b);
  return { kind: spec.scale, lo: Math.min(ticks[0]!, ...values), hi: Math.max(ticks[ticks.length - 1]!, ...values), ticks };
}

function legendTextWidth(series: readonly { name: string; points: readonly ChartPoint[] }[]): number {
  return Math.max(60, ...series.map((s) => (s.name.length + (s.points.length === 0 ? 10 : 0)) * kCharWidth));
}

/** The axis title with its unit and scale, and its ticks as numbers in that unit. */
function labels(spec: ChartAxisSpec, axis: Axis): { title: string; tick: (v: number) => string } {
  const unit = spec.unit ? axisUnit(spec.unit, axis.ticks) : undefined;
  const notes = [unit?.name, axis.kind === 'log' ? 'log scale' : undefined].filter((x) => x !== undefined);
  return {
    title: notes.length > 0 ? `${spec.title} (${notes.join(', ')})` : spec.title,
    tick: (v) => (unit ? sig3(v / unit.factor) : formatCount(v)),
  };
}

/** Points that can be drawn on these scales (log axes cannot show zero or negatives), by x. */
function plottable(points: readonly ChartPoint[], xScale: ScaleKind, yScale: ScaleKind): ChartPoint[] {
  const ok = (v: number, kind: ScaleKind) => Number.isFinite(v) && (kind === 'linear' || v > 0);
  return points
    .filter((p) => ok(p.x, xScale) && ok(p.y, yScale))
    .map((p) => (p.yMin !== undefined && p.yMax !== undefined && ok(p.yMin, yScale) && ok(p.yMax, yScale) ? p : { x: p.x, y: p.y }))
    .sort((a, b) => a.x - b.x);
}

function hasBar(p: ChartPoint): boolean {
  return p.yMin !== undefined && p.yMax !== undefined && p.yMax > p.yMin;
}

function marker(shape: MarkerShape, x: number, y: number, color: string, hollow: boolean): string {
  const paint = `fill="${hollow ? '#ffffff' : color}" stroke="${color}" stroke-width="1.5"`;
  const r = 4;
  switch (shape) {
    case 'circle':
      return `<circle cx="${n(x)}" cy="${n(y)}" r="${r}" ${paint}/>`;
    case 'square':
      return `<rect x="${n(x - r)}" y="${n(y - r)}" width="${2 * r}" height="${2 * r}" ${paint}/>`;
    case 'triangle':
      return `<path d="M${n(x)} ${n(y - r - 1)}L${n(x + r + 1)} ${n(y + r)}L${n(x - r - 1)} ${n(y + r)}Z" ${paint}/>`;
    case 'triangle-down':
      return `<path d="M${n(x)} ${n(y + r + 1)}L${n(x + r + 1)} ${n(y - r)}L${n(x - r - 1)} ${n(y - r)}Z" ${paint}/>`;
    case 'diamond':
      return `<path d="M${n(x)} ${n(y - r - 1)}L${n(x + r + 1)} ${n(y)}L${n(x)} ${n(y + r + 1)}L${n(x - r - 1)} ${n(y)}Z" ${paint}/>`;
  }
}

/** Coordinates to 0.1 px: smaller files, and no visible difference. */
function n(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/** Text and attribute values: series names come from result files, so they are escaped. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
