/**
 * Writes a line plot as a standalone SVG document: p99 latency against offered rate, one
 * series per system, log-scaled on both axes, with no external fonts or scripts.
 */

export interface PlotSeries {
  label: string;
  points: Array<{ x: number; y: number }>;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** A horizontal reference line, such as the 50 ms target. */
  reference?: { y: number; label: string };
  width?: number;
  height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2'];
const MARGIN = { left: 70, right: 260, top: 40, bottom: 55 };

/** Returns the powers of ten and their 2x and 5x multiples inside [min, max], for log axes. */
export function buildLogTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let decade = Math.floor(Math.log10(min)); decade <= Math.ceil(Math.log10(max)); decade++) {
    for (const factor of [1, 2, 5]) {
      const value = factor * 10 ** decade;
      if (value >= min && value <= max) ticks.push(value);
    }
  }
  return ticks;
}

function formatTick(value: number): string {
  if (value >= 1000) return `${value / 1000}k`;
  return String(value);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Renders the plot; series with no points are listed in the legend as "no data". */
export function renderLogLogPlot(series: PlotSeries[], options: PlotOptions): string {
  const width = options.width ?? 920;
  const height = options.height ?? 460;
  const points = series.flatMap((entry) => entry.points).filter((p) => p.x > 0 && p.y > 0);
  const ys = points.map((p) => p.y).concat(options.reference ? [options.reference.y] : []);
  const xs = points.map((p) => p.x);
  const xMin = 10 ** Math.floor(Math.log10(Math.min(...xs, 100)));
  const xMax = 10 ** Math.ceil(Math.log10(Math.max(...xs, 1000)));
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys, 1)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys, 10)));
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) =>
    MARGIN.left + ((Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * plotWidth;
  const sy = (y: number) =>
    MARGIN.top +
    plotHeight -
    ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotHeight;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2 - MARGIN.right / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
  );
  for (const tick of buildLogTicks(xMin, xMax)) {
    const x = sx(tick).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${MARGIN.top + plotHeight}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${MARGIN.top + plotHeight + 16}" text-anchor="middle">${formatTick(tick)}</text>`,
    );
  }
  for (const tick of buildLogTicks(yMin, yMax)) {
    const y = sy(tick).toFixed(1);
    parts.push(
      `<line x1="${MARGIN.left}" y1="${y}" x2="${MARGIN.left + plotWidth}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(tick)}</text>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );
  if (options.reference) {
    const y = sy(options.reference.y).toFixed(1);
    parts.push(
      `<line x1="${MARGIN.left}" y1="${y}" x2="${MARGIN.left + plotWidth}" y2="${y}" stroke="#555" stroke-dasharray="6 4"/>`,
      `<text x="${MARGIN.left + 4}" y="${Number(y) - 4}" fill="#555">${escapeXml(options.reference.label)}</text>`,
    );
  }
  series.forEach((entry, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const valid = entry.points.filter((p) => p.x > 0 && p.y > 0);
    if (valid.length > 0) {
      const path = valid.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
      for (const p of valid) {
        parts.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${colour}"/>`);
      }
    }
    const legendY = MARGIN.top + 10 + i * 20;
    const legendX = MARGIN.left + plotWidth + 14;
    parts.push(
      `<line x1="${legendX}" y1="${legendY}" x2="${legendX + 22}" y2="${legendY}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${legendX + 28}" y="${legendY}" dominant-baseline="middle">${escapeXml(entry.label)}${valid.length === 0 ? ' (no data)' : ''}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
