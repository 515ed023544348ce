/**
 * Turns cell results into the Markdown report and the JSON record.
 */
import os from 'node:os';
import type { CellResult } from './cell.js';
import type { BenchOptions } from './options.js';
import { median } from './stats.js';
import { STORE_LABELS, type StoreKind } from './stores.js';
import type { WorkloadName } from './workloads.js';

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

/** Describes this machine. */
export function describeMachine(): Machine {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
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
    label: STORE_LABELS[cell.store],
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

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const fmtOps = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : integer.format(n));
const fmtUs = (n: number | undefined) =>
  n === undefined || !Number.isFinite(n) ? '–' : n < 10 ? n.toFixed(2) : n.toFixed(1);
const fmtRatio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–');

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

type Column = { workload: WorkloadName; header: string; value(cell: CellSummary): string };

const COLUMNS: Column[] = [
  { workload: 'seq-get', header: 'seq get ops/s', value: (c) => fmtOps(c.medianOpsPerSec) },
  { workload: 'seq-get', header: 'get p50 µs', value: (c) => fmtUs(c.medianP50Us) },
  { workload: 'seq-get', header: 'get p99 µs', value: (c) => fmtUs(c.medianP99Us) },
  { workload: 'seq-set', header: 'seq set ops/s', value: (c) => fmtOps(c.medianOpsPerSec) },
  { workload: 'seq-set', header: 'set p50 µs', value: (c) => fmtUs(c.medianP50Us) },
  { workload: 'seq-set', header: 'set p99 µs', value: (c) => fmtUs(c.medianP99Us) },
  { workload: 'mixed', header: '64 in flight 90/10 ops/s', value: (c) => fmtOps(c.medianOpsPerSec) },
  { workload: 'incr', header: 'incr ops/s', value: (c) => fmtOps(c.medianOpsPerSec) },
  { workload: 'incr', header: 'incr final / expected', value: incrCell },
  { workload: 'big', header: '100 KB ops/s', value: (c) => fmtOps(c.medianOpsPerSec) },
];

function find(cells: CellSummary[], store: StoreKind, workload: WorkloadName, workers: number) {
  return cells.find((c) => c.store === store && c.workload === workload && c.workers === workers);
}

function row(values: string[]): string {
  return `| ${values.join(' | ')} |`;
}

function ratiosSection(cells: CellSummary[], options: BenchOptions): string[] {
  const lines = [
    '### sharedkv / article design',
    '',
    'Throughput ratios above 1× mean sharedkv is faster; the latency ratio below 1× means sharedkv answers sooner.',
    '',
    row(['sharedkv channel', 'workers', '64 in flight ops/s', 'seq get p50', '100 KB ops/s']),
    row(['---', '---:', '---:', '---:', '---:']),
  ];
  const channels = options.stores.filter((s) => s.startsWith('sharedkv'));
  let any = false;
  for (const workers of options.workers) {
    for (const store of channels) {
      const ratio = (workload: WorkloadName, pick: (c: CellSummary) => number | undefined) => {
        const ours = find(cells, store, workload, workers);
        const theirs = find(cells, 'article', workload, workers);
        if (!ours || !theirs || ours.error || theirs.error) return Number.NaN;
        return (pick(ours) ?? Number.NaN) / (pick(theirs) ?? Number.NaN);
      };
      any = true;
      lines.push(
        row([
          STORE_LABELS[store],
          String(workers),
          fmtRatio(ratio('mixed', (c) => c.medianOpsPerSec)),
          fmtRatio(ratio('seq-get', (c) => c.medianP50Us)),
          fmtRatio(ratio('big', (c) => c.medianOpsPerSec)),
        ]),
      );
    }
  }
  return any ? lines : [];
}

/** The Markdown report: one table per worker count (rows = stores), the ratios, then any failures. */
export function formatMarkdown(
  cells: CellSummary[],
  options: BenchOptions,
  machine: Machine,
  bigValueBytes: number,
): string {
  const lines = [
    '## sharedkv benchmark',
    '',
    `${machine.cpu}, ${machine.cores} cores, Node ${machine.node} (${machine.platform}), ${machine.date}, ` +
      `load average ${machine.loadAverage} at start`,
    ...(isBusy(machine)
      ? ['', `> **Warning:** the machine was busy before the bench started; numbers are noisy.`]
      : []),
    '',
    `Median of ${options.runs} run(s) of ${options.durationMs} ms per cell after ${options.warmupMs} ms warmup; ` +
      `a fresh cluster per cell. Ops/s summed over workers. Latency over all workers' calls (one call in ` +
      `flight per worker). 100 KB value: ${integer.format(bigValueBytes)} bytes of JSON.`,
  ];
  const columns = COLUMNS.filter((c) => options.workloads.includes(c.workload));
  for (const workers of options.workers) {
    lines.push('', `### ${workers} workers`, '');
    lines.push(row(['store', ...columns.map((c) => c.header)]));
    lines.push(row(['---', ...columns.map(() => '---:')]));
    for (const store of options.stores) {
      const values = columns.map((column) => {
        const cell = find(cells, store, column.workload, workers);
        if (!cell) return '–';
        return cell.error !== undefined ? 'FAILED' : column.value(cell);
      });
      lines.push(row([STORE_LABELS[store], ...values]));
    }
  }
  const ratios = ratiosSection(cells, options);
  if (ratios.length > 0) lines.push('', ...ratios);
  const failures = cells.filter(isFailure);
  if (failures.length > 0) {
    lines.push('', '### Failures', '');
    for (const cell of failures) {
      const why = cell.error ?? 'incr final count does not match the number of incr calls';
      lines.push(`- ${cell.label} · ${cell.workload} · ${cell.workers} workers: ${why.split('\n')[0]}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
