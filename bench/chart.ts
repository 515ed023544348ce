/**
 * The picture for the README: ops/s per store for the main workloads, as horizontal bars on one shared log
 * scale (the stores span five orders of magnitude, from a Redis round trip to an in-process Map), one panel
 * per workload, with the machine, Node version and date under it. Hand-written SVG, no dependencies.
 */
import type { BenchOptions } from './options.js';
import type { CellSummary, Machine } from './report.js';
import { findCell, measured } from './report.js';
import { STORES, type StoreKind } from './stores.js';
import { WORKLOAD_SHORT, type WorkloadName } from './workloads.js';

/** Workloads drawn, in panel order; mixed at every worker count, the others at the smallest. */
const CHART_WORKLOADS: readonly WorkloadName[] = ['mixed', 'seq-get', 'big', 'hot-get', 'incr', 'seq-set'];
/** At most this many panels (two per line). */
const MAX_PANELS = 6;

const COLORS: Record<StoreKind, string> = {
  'sharedkv-socket': '#0969da',
  'sharedkv-ipc': '#54aeff',
  'sharedkv-near': '#0a3069',
  'sharedkv-frozen': '#218bff',
  'sharedkv-daemon': '#1b7c83',
  'sharedkv-thread': '#0550ae',
  'redis-auto': '#cf222e',
  redis: '#ff8182',
  'lru-cache-clusters': '#8250df',
  'cluster-shared-memory': '#bf8700',
  memored: '#1a7f37',
  raw: '#6e7781',
  floor: '#424a53',
  map: '#afb8c1',
};

const WIDTH = 1040;
const MARGIN = 16;
const COLUMN_GAP = 24;
const PANEL_WIDTH = (WIDTH - 2 * MARGIN - COLUMN_GAP) / 2;
const LABEL_WIDTH = 206;
const VALUE_ROOM = 52;
const BAR_WIDTH = PANEL_WIDTH - LABEL_WIDTH - 8 - VALUE_ROOM;
const ROW = 17;
const BAR = 12;
const PANEL_HEAD = 24;
const PANEL_FOOT = 26;
const HEADER = 56;
const FOOTER = 40;
const FONT = "font-family='system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'";

interface Panel {
  workload: WorkloadName;
  workers: number;
}

/** Escapes text for SVG content and attributes. */
function esc(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll("'", '&apos;');
}

/** 3 significant digits with k/M: 950, 45.7k, 1.23M. */
export function shortNumber(n: number): string {
  const units: Array<[number, string]> = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, unit] of units) {
    if (n >= size) return `${Number((n / size).toPrecision(3))}${unit}`;
  }
  return String(Number(n.toPrecision(3)));
}

function panelsOf(cells: readonly CellSummary[], options: BenchOptions): Panel[] {
  const panels: Panel[] = [];
  for (const workload of CHART_WORKLOADS) {
    const counts = options.schedule.find((s) => s.workload === workload)?.workers ?? [];
    const sorted = [...counts].sort((a, b) => a - b);
    for (const workers of workload === 'mixed' ? sorted : sorted.slice(0, 1)) {
      if (cells.some((c) => c.workload === workload && c.workers === workers)) panels.push({ workload, workers });
    }
  }
  return panels.slice(0, MAX_PANELS);
}

/** Decades spanning every value drawn. */
function scaleOf(values: number[]): { lo: number; hi: number } {
  const finite = values.filter((v) => Number.isFinite(v) && v > 0);
  if (finite.length === 0) return { lo: 1, hi: 10 };
  const lo = 10 ** Math.floor(Math.log10(Math.min(...finite)));
  let hi = 10 ** Math.ceil(Math.log10(Math.max(...finite)));
  if (hi <= lo) hi = lo * 10;
  return { lo, hi };
}

function drawPanel(
  out: string[],
  panel: Panel,
  x: number,
  y: number,
  cells: readonly CellSummary[],
  stores: readonly StoreKind[],
  scale: { lo: number; hi: number },
): void {
  const barX = x + LABEL_WIDTH + 8;
  const span = Math.log10(scale.hi) - Math.log10(scale.lo);
  const toX = (v: number) => barX + Math.max(1, ((Math.log10(v) - Math.log10(scale.lo)) / span) * BAR_WIDTH);
  const rowsTop = y + PANEL_HEAD;
  const rowsBottom = rowsTop + stores.length * ROW;
  const title = `${WORKLOAD_SHORT[panel.workload]} · ${panel.workers} worker${panel.workers === 1 ? '' : 's'}`;
  out.push(`<text x='${x}' y='${y + 15}' font-size='13' font-weight='600' fill='#1f2328'>${esc(title)}</text>`);
  for (let d = scale.lo; d <= scale.hi * 1.0001; d *= 10) {
    const gx = toX(d).toFixed(1);
    out.push(
      `<line x1='${gx}' y1='${rowsTop - 3}' x2='${gx}' y2='${rowsBottom + 2}' stroke='#d0d7de' stroke-width='1'/>`,
    );
    out.push(
      `<text x='${gx}' y='${rowsBottom + 15}' font-size='10' fill='#656d76' text-anchor='middle'>${shortNumber(d)}</text>`,
    );
  }
  for (const [index, store] of stores.entries()) {
    const info = STORES[store];
    const cy = rowsTop + index * ROW;
    const weight = info.group === 'sharedkv' ? " font-weight='600'" : '';
    out.push(
      `<text x='${x + LABEL_WIDTH}' y='${cy + BAR - 2}' font-size='11' fill='#1f2328' text-anchor='end'${weight}>${esc(info.label)}</text>`,
    );
    const cell = findCell(cells, store, panel.workload, panel.workers);
    if (measured(cell)) {
      const end = toX(cell.medianOpsPerSec);
      out.push(
        `<rect x='${barX}' y='${cy}' width='${(end - barX).toFixed(1)}' height='${BAR}' rx='2' fill='${COLORS[store]}'>` +
          `<title>${esc(`${info.label}: ${Math.round(cell.medianOpsPerSec)} ops/s`)}</title></rect>`,
      );
      out.push(
        `<text x='${(end + 4).toFixed(1)}' y='${cy + BAR - 2}' font-size='10.5' fill='#1f2328'>${shortNumber(cell.medianOpsPerSec)}</text>`,
      );
    } else {
      const text = cell === undefined ? 'not run' : cell.skipped !== undefined ? 'n/a' : 'failed';
      const color = cell?.error !== undefined ? '#cf222e' : '#8c959f';
      out.push(
        `<text x='${barX + 2}' y='${cy + BAR - 2}' font-size='10.5' font-style='italic' fill='${color}'>${text}</text>`,
      );
    }
  }
}

/**
 * Renders the chart; `undefined` when no cell has a number to draw.
 */
export function renderChart(
  cells: readonly CellSummary[],
  options: BenchOptions,
  machine: Machine,
): string | undefined {
  const panels = panelsOf(cells, options);
  const values = panels.flatMap((p) =>
    options.stores.map((s) => {
      const cell = findCell(cells, s, p.workload, p.workers);
      return measured(cell) ? cell.medianOpsPerSec : Number.NaN;
    }),
  );
  if (!values.some(Number.isFinite)) return undefined;
  const scale = scaleOf(values);
  const panelHeight = PANEL_HEAD + options.stores.length * ROW + PANEL_FOOT;
  const lines = Math.ceil(panels.length / 2);
  const height = HEADER + lines * panelHeight + FOOTER;
  const out: string[] = [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${WIDTH}' height='${height}' viewBox='0 0 ${WIDTH} ${height}' ${FONT} role='img' aria-labelledby='title'>`,
    `<title id='title'>sharedkv benchmark: operations per second by store and workload</title>`,
    `<rect width='${WIDTH}' height='${height}' fill='#ffffff'/>`,
    `<text x='${MARGIN}' y='26' font-size='17' font-weight='700' fill='#1f2328'>sharedkv: operations per second (log scale, higher is better)</text>`,
    `<text x='${MARGIN}' y='45' font-size='12' fill='#656d76'>${esc(
      `Cluster workers on one machine, calls in flight per worker as titled; median of ${options.runs} run(s) of ` +
        `${options.durationMs} ms; ops/s summed over workers.`,
    )}</text>`,
  ];
  for (const [index, panel] of panels.entries()) {
    const x = MARGIN + (index % 2) * (PANEL_WIDTH + COLUMN_GAP);
    const y = HEADER + Math.floor(index / 2) * panelHeight;
    drawPanel(out, panel, x, y, cells, options.stores, scale);
  }
  const date = `${machine.date.slice(0, 10)} ${machine.date.slice(11, 16)} UTC`;
  const machineLine =
    `${machine.cpu}, ${machine.cores} cores · Node ${machine.node} (${machine.platform}) · ${date} · ` +
    `load average ${machine.loadAverage} at start${machine.loadAverage > machine.cores / 2 ? ' (busy machine: noisy numbers)' : ''}`;
  out.push(
    `<line x1='${MARGIN}' y1='${height - FOOTER + 6}' x2='${WIDTH - MARGIN}' y2='${height - FOOTER + 6}' stroke='#d0d7de'/>`,
  );
  out.push(
    `<text x='${MARGIN}' y='${height - FOOTER + 24}' font-size='11.5' fill='#656d76'>${esc(machineLine)}</text>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
