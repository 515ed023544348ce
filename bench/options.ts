/** Command-line flags of the bench. */
import { parseArgs } from 'node:util';
import { STORE_KINDS, type StoreKind } from './stores.js';
import { WORKLOADS, type WorkloadName } from './workloads.js';

/** Parsed, validated options. */
export interface BenchOptions {
  durationMs: number;
  warmupMs: number;
  runs: number;
  workers: number[];
  stores: StoreKind[];
  workloads: WorkloadName[];
  quick: boolean;
  /** Start workers with tsx instead of compiled JS (slower to start; for debugging). */
  tsxWorkers: boolean;
}

/** Usage text for `--help`. */
export const USAGE = `Usage: node --import tsx bench/run.ts [options]

  --duration <ms>     measured time per run (default 2000; 500 with --quick)
  --warmup <ms>       warmup before the first run of each cell (default 300; 150 with --quick)
  --runs <n>          runs per cell, the median is reported (default 3; 1 with --quick)
  --workers <list>    worker counts, e.g. 2,4 (default 2,4)
  --only <list>       stores: ${STORE_KINDS.join(', ')}; "sharedkv" means both channels
  --workload <list>   workloads: ${WORKLOADS.join(', ')}
  --quick             smoke test: --duration 500 --runs 1 --warmup 150
  --tsx-workers       start workers with --import tsx instead of compiled JS (slower start)
  --help              this text`;

function positiveInt(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

function list(raw: string | undefined): string[] | undefined {
  return raw
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * Parses `argv` (without the node and script paths).
 * @returns undefined when `--help` was asked for.
 * @throws Error on an unknown flag or a bad value.
 */
export function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      runs: { type: 'string' },
      workers: { type: 'string' },
      only: { type: 'string' },
      workload: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'tsx-workers': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const quick = values.quick === true;
  // Explicit flags win over --quick, so `--quick --duration 1000` does what it says.
  const durationMs = positiveInt('duration', values.duration, quick ? 500 : 2000);
  const warmupMs = positiveInt('warmup', values.warmup, quick ? 150 : 300, 0);
  const runs = positiveInt('runs', values.runs, quick ? 1 : 3);
  const workers = (list(values.workers) ?? ['2', '4']).map((w) => positiveInt('workers', w, 0));

  const only = list(values.only);
  const stores = only
    ? STORE_KINDS.filter((kind) => only.some((name) => kind === name || kind.startsWith(`${name}-`)))
    : [...STORE_KINDS];
  const unknownStore = only?.find((name) => !STORE_KINDS.some((k) => k === name || k.startsWith(`${name}-`)));
  if (unknownStore !== undefined)
    throw new Error(`--only: unknown store '${unknownStore}' (${STORE_KINDS.join(', ')})`);

  const picked = list(values.workload);
  const unknownWorkload = picked?.find((name) => !(WORKLOADS as readonly string[]).includes(name));
  if (unknownWorkload !== undefined) {
    throw new Error(`--workload: unknown workload '${unknownWorkload}' (${WORKLOADS.join(', ')})`);
  }
  const workloads = picked ? WORKLOADS.filter((w) => picked.includes(w)) : [...WORKLOADS];
  return { durationMs, warmupMs, runs, workers, stores, workloads, quick, tsxWorkers: values['tsx-workers'] === true };
}
