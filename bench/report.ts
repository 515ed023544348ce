/**
 * Turns cell results into the Markdown report: one table per workload and worker count (rows = stores,
 * with ops/s, p50/p99 and the ratio to sharedkv), the targets of issue 8, and how each store was driven.
 */
import os from 'node:os';
import type { CellResult } from './cell.js';
import type { BenchOptions } from './options.js';
import { median } from './stats.js';
import { STORES, type StoreKind } from './stores.js';
import { WORKLOAD_LABELS, type WorkloadName } from './workloads.js';

/** Where and when the numbers were measured. */
export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  date: string;
  /** 1-minute load average when the bench started: other work on the box skews every number. */
  loadAverage: number;
}

/** A cell reduced to its medians over runs. */
export interface CellSummary extends CellResult {
  label: string;
  medianOpsPerSec: number;
  medianP50Us?: number;
  medianP99Us?: number;
  /** `incr`: every run's counter matched its call count. */
  incrExact?: boolean;
}

/** What else the report prints about the run. */
export interface ReportContext {
  machine: Machine;
  /** JSON length of the 100 KB value. */
  bigValueBytes: number;
  /** Versions of the peers and of redis-server, by name. */
  versions: Record<string, string>;
}

/** The sharedkv row every ratio is taken against. */
export const REFERENCE: StoreKind = 'sharedkv-socket';

/** Describes this machine. */
export function describeMachine(): Machine {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
    loadAverage: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** Reduces a cell to medians (the median resists one run disturbed by the OS, unlike the mean). */
export function summarize(cell: CellResult): CellSummary {
  const summary: CellSummary = {
    ...cell,
    label: STORES[cell.store].label,
    medianOpsPerSec: median(cell.runs.map((r) => r.opsPerSec)),
  };
  if (cell.runs.some((r) => r.p50Us !== undefined)) {
    summary.medianP50Us = median(cell.runs.map((r) => r.p50Us ?? Number.NaN));
    summary.medianP99Us = median(cell.runs.map((r) => r.p99Us ?? Number.NaN));
  }
  if (cell.workload === 'incr' && cell.runs.length > 0) {
    summary.incrExact = cell.runs.every((r) => r.incr !== undefined && r.incr.final === r.incr.expected);
  }
  return summary;
}

/** Whether a cell makes the bench fail: it did not run, or a counter lost (or invented) increments. */
export function isFailure(cell: CellSummary): boolean {
  return cell.error !== undefined || cell.incrExact === false;
}

/** Whether other processes already kept the CPUs busy (load above half the cores) before the bench ran. */
export function isBusy(machine: Machine): boolean {
  return machine.loadAverage > machine.cores / 2;
}

/** The cell of `store` × `workload` × `workers`, if it ran (or was skipped). */
export function findCell(
  cells: readonly CellSummary[],
  store: StoreKind,
  workload: WorkloadName,
  workers: number,
): CellSummary | undefined {
  return cells.find((c) => c.store === store && c.workload === workload && c.workers === workers);
}

/** A cell that ran and has a median. */
export type MeasuredCell = CellSummary & { error?: undefined; skipped?: undefined };

/** Whether a cell has a usable median (the `false` branch still sees a skipped or failed cell). */
export function measured(cell: CellSummary | undefined): cell is MeasuredCell {
  return cell !== undefined && cell.error === undefined && cell.skipped === undefined && cell.runs.length > 0;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
/** Ops/s with thousands separators. */
export const fmtOps = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : integer.format(n));
/** Microseconds, two decimals below 10. */
export const fmtUs = (n: number | undefined) =>
  n === undefined || !Number.isFinite(n) ? '–' : n < 10 ? n.toFixed(2) : n < 1000 ? n.toFixed(1) : integer.format(n);
/** A ratio such as `3.41×`. */
export const fmtRatio = (n: number) => {
  if (!Number.isFinite(n)) return '–';
  // Two significant digits below 0.1, so the in-process Map's row reads 0.0042×, not 0.00×.
  return `${n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n >= 0.1 ? n.toFixed(2) : n.toPrecision(2)}×`;
};

function incrCell(cell: CellSummary): string {
  if (cell.runs.length === 0) return '–';
  // Show the run whose ops/s is the median one; name the first bad run if any.
  const shown = [...cell.runs].sort((a, b) => a.opsPerSec - b.opsPerSec)[cell.runs.length >> 1]!;
  const text = `${fmtOps(shown.incr?.final)} / ${fmtOps(shown.incr?.expected)}`;
  const bad = cell.runs.findIndex((r) => r.incr?.final !== r.incr?.expected);
  if (bad < 0) return `${text} ✓`;
  const r = cell.runs[bad]!;
  return `${text} ✗ MISMATCH (run ${bad + 1}: ${fmtOps(r.incr?.final)} / ${fmtOps(r.incr?.expected)})`;
}

function row(values: string[]): string {
  return `| ${values.join(' | ')} |`;
}

function oneLine(text: string): string {
  return (text.split('\n')[0] ?? '').replaceAll('|', '\\|');
}

function workloadTable(cells: readonly CellSummary[], options: BenchOptions, workload: WorkloadName, workers: number) {
  const withIncr = workload === 'incr';
  const reference = findCell(cells, REFERENCE, workload, workers);
  const lines = [
    `### ${WORKLOAD_LABELS[workload]} · ${workers} worker${workers === 1 ? '' : 's'}`,
    '',
    row([
      'store',
      'ops/s',
      'p50 µs',
      'p99 µs',
      `${STORES[REFERENCE].label} ÷ this`,
      ...(withIncr ? ['final / expected'] : []),
    ]),
    row(['---', '---:', '---:', '---:', '---:', ...(withIncr ? ['---'] : [])]),
  ];
  for (const store of options.stores) {
    const cell = findCell(cells, store, workload, workers);
    const label = STORES[store].group === 'sharedkv' ? `**${STORES[store].label}**` : STORES[store].label;
    if (cell === undefined) continue;
    if (cell.skipped !== undefined) {
      lines.push(row([label, `n/a: ${oneLine(cell.skipped)}`, '', '', '', ...(withIncr ? [''] : [])]));
      continue;
    }
    if (cell.error !== undefined) {
      lines.push(row([label, `FAILED: ${oneLine(cell.error)}`, '', '', '', ...(withIncr ? [''] : [])]));
      continue;
    }
    const ratio = measured(reference) ? reference.medianOpsPerSec / cell.medianOpsPerSec : Number.NaN;
    lines.push(
      row([
        label,
        fmtOps(cell.medianOpsPerSec),
        fmtUs(cell.medianP50Us),
        fmtUs(cell.medianP99Us),
        fmtRatio(ratio),
        ...(withIncr ? [incrCell(cell)] : []),
      ]),
    );
  }
  return lines;
}

function notesSection(options: BenchOptions, context: ReportContext): string[] {
  const lines = ['### How each store is driven', ''];
  for (const store of options.stores) {
    const info = STORES[store];
    const version = context.versions[store];
    if (info.note !== undefined) lines.push(`- **${info.label}**${version ? ` (${version})` : ''}: ${info.note}`);
  }
  return lines;
}

/** The Markdown report; `targets` (lines, see targets.ts) goes between the tables and the notes. */
export function formatMarkdown(
  cells: readonly CellSummary[],
  options: BenchOptions,
  context: ReportContext,
  targets: readonly string[],
): string {
  const { machine } = context;
  const lines = [
    '## sharedkv benchmark',
    '',
    `${machine.cpu}, ${machine.cores} cores, Node ${machine.node} (${machine.platform}), ${machine.date}, ` +
      `load average ${machine.loadAverage} at start`,
    ...(isBusy(machine)
      ? ['', '> **Warning:** the machine was busy before the bench started; numbers are noisy.']
      : []),
    '',
    `Median of ${options.runs} run(s) of ${options.durationMs} ms per cell after ${options.warmupMs} ms warmup; ` +
      `a fresh cluster per cell. Ops/s summed over workers; p50/p99 over all workers' calls (with many calls in ` +
      `flight they include queueing). "${STORES[REFERENCE].label} ÷ this" above 1× means sharedkv is faster. ` +
      `100 KB value: ${integer.format(context.bigValueBytes)} bytes of JSON.`,
  ];
  for (const { workload, workers: counts } of options.schedule) {
    for (const workers of counts) lines.push('', ...workloadTable(cells, options, workload, workers));
  }
  if (targets.length > 0) lines.push('', ...targets);
  lines.push('', ...notesSection(options, context));
  const failures = cells.filter(isFailure);
  if (failures.length > 0) {
    lines.push('', '### Failures', '');
    for (const cell of failures) {
      const why = cell.error ?? 'incr final count does not match the number of incr calls';
      lines.push(`- ${cell.label} · ${cell.workload} · ${cell.workers} workers: ${oneLine(why)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
