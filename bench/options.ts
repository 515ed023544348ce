/** Command-line flags of the bench. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CORE_STORES, STORE_KINDS, type StoreKind } from './stores.js';
import { defaultWorkers, WORKLOADS, type WorkloadName } from './workloads.js';

/** Parsed, validated options. */
export interface BenchOptions {
  durationMs: number;
  warmupMs: number;
  runs: number;
  /** Worker counts per workload (from `--workers`, else `defaultWorkers`). */
  schedule: Array<{ workload: WorkloadName; workers: number[] }>;
  /** Every worker count that appears in the schedule, ascending. */
  workers: number[];
  stores: StoreKind[];
  workloads: WorkloadName[];
  quick: boolean;
  peers: boolean;
  /** Run `bench/persist.ts` (the fsync policies) after the main tables. */
  persist: boolean;
  /** Run `bench/ttl.ts` (event-loop delay while a million keys expire) after the main tables. */
  ttl: boolean;
  /** Whether to write the SVG chart. */
  chart: boolean;
  /** Directory of `latest.json` and `latest.svg`. */
  outDir: string;
  /** Start workers with tsx instead of compiled JS (slower to start; for debugging). */
  tsxWorkers: boolean;
}

/** Usage text for `--help`. */
export const USAGE = `Usage: npm run bench -- [options]     (or: node --import tsx bench/run.ts [options])

  --peers             also run the peers: Redis via ioredis (plain and auto-pipelined, on a private
                      redis-server the bench starts), lru-cache-for-clusters-as-promised,
                      cluster-shared-memory, memored (about 11 min; 2-3 min with --quick)
  --persist           afterwards, run bench/persist.ts (write throughput per fsync policy)
  --ttl               afterwards, run bench/ttl.ts (event-loop delay while 1 M keys expire, ~2 min)
  --quick             smoke run: --duration 500 --runs 1 --warmup 150, 4 workers only for the
                      64-in-flight workload (about 1 min)
  --duration <ms>     measured time per run (default 1500; 500 with --quick)
  --warmup <ms>       warmup before the first run of each cell (default 1000; 150 with --quick)
  --runs <n>          runs per cell, the median is reported (default 3; 1 with --quick)
  --workers <list>    worker counts for every workload, e.g. 2,4 (default: 2 and 4 for mixed,
                      hot-get and incr, 2 for the rest)
  --only <list>       stores: ${STORE_KINDS.join(', ')};
                      a prefix picks a family ("sharedkv", "redis"); peers named here run without --peers
  --workload <list>   workloads: ${WORKLOADS.join(', ')}
  --no-chart          do not write bench/results/latest.svg
  --out <dir>         write latest.json and latest.svg there (default bench/results)
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

function matches(kind: StoreKind, name: string): boolean {
  return kind === name || kind.startsWith(`${name}-`);
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
      peers: { type: 'boolean', default: false },
      persist: { type: 'boolean', default: false },
      ttl: { type: 'boolean', default: false },
      'no-chart': { type: 'boolean', default: false },
      out: { type: 'string' },
      'tsx-workers': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const quick = values.quick === true;
  const peers = values.peers === true;
  // Explicit flags win over --quick, so `--quick --duration 1000` does what it says.
  const durationMs = positiveInt('duration', values.duration, quick ? 500 : 1500);
  const warmupMs = positiveInt('warmup', values.warmup, quick ? 150 : 1000, 0);
  const runs = positiveInt('runs', values.runs, quick ? 1 : 3);
  const workerList = list(values.workers)?.map((w) => positiveInt('workers', w, 0));

  const only = list(values.only);
  const unknownStore = only?.find((name) => !STORE_KINDS.some((kind) => matches(kind, name)));
  if (unknownStore !== undefined) {
    throw new Error(`--only: unknown store '${unknownStore}' (${STORE_KINDS.join(', ')})`);
  }
  const pool: readonly StoreKind[] = peers || only !== undefined ? STORE_KINDS : CORE_STORES;
  const stores = only ? pool.filter((kind) => only.some((name) => matches(kind, name))) : [...pool];

  const picked = list(values.workload);
  const unknownWorkload = picked?.find((name) => !(WORKLOADS as readonly string[]).includes(name));
  if (unknownWorkload !== undefined) {
    throw new Error(`--workload: unknown workload '${unknownWorkload}' (${WORKLOADS.join(', ')})`);
  }
  const workloads = picked ? WORKLOADS.filter((w) => picked.includes(w)) : [...WORKLOADS];
  const schedule = workloads.map((workload) => ({
    workload,
    workers: workerList ?? defaultWorkers(workload, quick),
  }));
  const workers = [...new Set(schedule.flatMap((s) => s.workers))].sort((a, b) => a - b);
  return {
    durationMs,
    warmupMs,
    runs,
    schedule,
    workers,
    stores,
    workloads,
    quick,
    peers,
    persist: values.persist === true,
    ttl: values.ttl === true,
    chart: values['no-chart'] !== true,
    outDir: path.resolve(values.out ?? fileURLToPath(new URL('./results/', import.meta.url))),
    tsxWorkers: values['tsx-workers'] === true,
  };
}
