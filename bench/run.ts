/**
 * sharedkv benchmark: sharedkv (socket, ipc, near cache, daemon socket, worker threads) against the classic
 * article design (one raw `process.send` per call), the floor of sharedkv's own design (a batched socket
 * store with nothing else, `floor-store.ts`) and the ceiling (an in-process Map), and with `--peers` against what a user
 * would pick instead (Redis via ioredis, lru-cache-for-clusters-as-promised, cluster-shared-memory, memored),
 * under six workloads with 2 and 4 cluster workers. Prints Markdown tables and the targets of issue 8, writes
 * `bench/results/latest.json` and the chart `bench/results/latest.svg`.
 *
 *   npm run bench -- [--quick] [--peers] [--persist] [--ttl] [--only name,...] [--workload name,...] [--help]
 *
 * This file is both the primary (the orchestrator, which forks a fresh set of workers per cell) and,
 * through `cluster.setupPrimary({ exec })`, the worker script, of cluster workers and of worker threads.
 */
import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { type CellResult, type CellSpec, runCell } from './cell.js';
import { renderChart } from './chart.js';
import { type BenchOptions, parseOptions, USAGE } from './options.js';
import { type PrivateRedis, startPrivateRedis } from './redis-server.js';
import { type CellSummary, describeMachine, formatMarkdown, isBusy, isFailure, summarize } from './report.js';
import { type HostContext, STORES, type StoreKind } from './stores.js';
import { evaluateTargets, formatTargets } from './targets.js';
import { transpileForWorkers, withoutTsx } from './transpile.js';
import { threadMain, workerMain } from './worker.js';
import { bigValue } from './workloads.js';

const PERSIST_SCRIPT = fileURLToPath(new URL('./persist.ts', import.meta.url));
const TTL_SCRIPT = fileURLToPath(new URL('./ttl.ts', import.meta.url));
/** Rough fork + setup + teardown cost of one cell on a loaded 2-core box, for the time estimate. */
const CELL_OVERHEAD_S = 1.2;

/**
 * Where the workers come from: compiled JavaScript run by bare node (fast to start, see transpile.ts),
 * or with `--tsx-workers` / if compiling fails, this very file under the primary's own flags, adding
 * `--import tsx` when the primary was started some other way.
 */
async function workerScript(options: BenchOptions): Promise<{ exec: string; execArgv: string[]; how: string }> {
  if (!options.tsxWorkers) {
    try {
      const exec = await transpileForWorkers();
      return { exec, execArgv: withoutTsx(process.execArgv), how: 'compiled JS' };
    } catch (error) {
      process.stderr.write(`could not compile the workers, falling back to tsx: ${String(error)}\n`);
    }
  }
  const execArgv = [...process.execArgv];
  if (!execArgv.some((arg) => arg.includes('tsx'))) execArgv.push('--import', 'tsx');
  return { exec: fileURLToPath(import.meta.url), execArgv, how: 'tsx' };
}

/** Cells in report order: workload by workload, worker count by count, store by store. */
function cellsOf(options: BenchOptions): CellSpec[] {
  const cells: CellSpec[] = [];
  for (const { workload, workers: counts } of options.schedule) {
    for (const workers of counts) {
      for (const store of options.stores) cells.push({ store, workload, workers });
    }
  }
  return cells;
}

/** Why a store never runs a workload (e.g. memored has no incr), known before forking anything. */
function staticSkip(spec: CellSpec): string | undefined {
  return STORES[spec.store].unsupported?.[spec.workload];
}

function progressLine(index: number, total: number, cell: CellResult, ms: number): string {
  const head = `[${String(index + 1).padStart(String(total).length)}/${total}] ${STORES[cell.store].label} · ${cell.workload} · ${cell.workers}w`;
  if (cell.error !== undefined) return `${head}  FAILED: ${cell.error.split('\n')[0]}`;
  if (cell.skipped !== undefined) return `${head}  n/a: ${cell.skipped.split('\n')[0]}`;
  const ops = cell.runs.map((r) => Math.round(r.opsPerSec).toLocaleString('en-US')).join(', ');
  return `${head}  ${ops} ops/s  (${(ms / 1000).toFixed(1)} s)`;
}

/** Shared resources of the run: the private redis-server, started on first use. */
function hostContext(): HostContext & { close(): Promise<void>; redisVersion(): string | undefined } {
  let redis: Promise<PrivateRedis> | undefined;
  let version: string | undefined;
  return {
    redis: () => {
      redis ??= startPrivateRedis().then((server) => {
        version = server.version;
        return server;
      });
      return redis;
    },
    redisVersion: () => version,
    close: async () => {
      const server = await redis?.catch(() => undefined);
      await server?.stop();
    },
  };
}

/** Installed versions of the peers, by store kind, for the notes. */
async function peerVersions(stores: readonly StoreKind[]): Promise<Partial<Record<StoreKind, string>>> {
  const packages: Partial<Record<StoreKind, string>> = {
    'redis-auto': 'ioredis',
    redis: 'ioredis',
    'lru-cache-clusters': 'lru-cache-for-clusters-as-promised',
    'cluster-shared-memory': 'cluster-shared-memory',
    memored: 'memored',
  };
  const out: Partial<Record<StoreKind, string>> = {};
  for (const store of stores) {
    const name = packages[store];
    if (name === undefined) continue;
    try {
      const file = new URL(`../node_modules/${name}/package.json`, import.meta.url);
      const { version } = JSON.parse(await readFile(file, 'utf8')) as { version: string };
      out[store] = `${name} ${version}`;
    } catch {
      out[store] = `${name}, not installed`;
    }
  }
  return out;
}

/**
 * Runs a standalone bench script (`bench/persist.ts`, `bench/ttl.ts`: each parses its own argv and starts
 * its own owner and clients) as a child process under a heading, so its flags and its owner stay apart
 * from this cluster primary. Resolves with its exit code.
 */
async function runScript(heading: string, script: string, args: string[]): Promise<number> {
  const name = `bench/${path.basename(script)}`;
  if (!existsSync(script)) {
    process.stdout.write(`\n### ${heading}\n\n${name} is missing: no rows.\n`);
    return 0;
  }
  process.stdout.write(`\n### ${heading}\n\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: 'inherit' });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  if (code !== 0) process.stderr.write(`${name} exited with code ${code} (signal ${signal})\n`);
  return code ?? 1;
}

async function primaryMain(): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const worker = await workerScript(options);
  // Workers print nothing on success; errors come back as messages, and stderr is kept for crashes.
  cluster.setupPrimary({ exec: worker.exec, execArgv: worker.execArgv, args: [] });

  const specs = cellsOf(options);
  const forked = specs.filter((spec) => staticSkip(spec) === undefined).length;
  const machine = describeMachine();
  const estimateS = forked * ((options.runs * options.durationMs + options.warmupMs) / 1000 + CELL_OVERHEAD_S);
  process.stderr.write(
    `sharedkv bench: ${forked} cells × ${options.runs} run(s) × ${options.durationMs} ms ` +
      `on ${machine.cpu} (${machine.cores} cores), workers run ${worker.how}, about ${(estimateS / 60).toFixed(1)} min\n`,
  );
  if (isBusy(machine)) {
    process.stderr.write(
      `warning: load average is ${machine.loadAverage} on ${machine.cores} cores: other work will skew the numbers\n`,
    );
  }

  const context = hostContext();
  const started = Date.now();
  const summaries: CellSummary[] = [];
  // A store that cannot run at all (an option rejected, no redis-server) is tried once, not once per cell.
  const storeSkips = new Map<StoreKind, string>();
  try {
    for (const [index, spec] of specs.entries()) {
      const t0 = Date.now();
      const known = staticSkip(spec) ?? storeSkips.get(spec.store);
      const cell: CellResult =
        known !== undefined ? { ...spec, runs: [], skipped: known } : await runCell(spec, options, context);
      if (cell.skipped !== undefined && cell.skipScope === 'store') storeSkips.set(spec.store, cell.skipped);
      summaries.push(summarize(cell));
      process.stderr.write(`${progressLine(index, specs.length, cell, Date.now() - t0)}\n`);
    }
  } finally {
    await context.close();
  }

  const bigValueBytes = JSON.stringify(bigValue()).length;
  const versions: Record<string, string> = { ...(await peerVersions(options.stores)) };
  const redisVersion = context.redisVersion();
  if (redisVersion !== undefined) {
    for (const kind of ['redis', 'redis-auto'] as const) {
      if (versions[kind] !== undefined) versions[kind] += `, ${redisVersion.replace(/ sha=.*$/, '')}`;
    }
  }
  const targets = evaluateTargets(summaries, options);
  process.stdout.write(
    `\n${formatMarkdown(summaries, options, { machine, bigValueBytes, versions }, formatTargets(targets))}`,
  );

  await mkdir(options.outDir, { recursive: true });
  const resultsFile = path.join(options.outDir, 'latest.json');
  const chartFile = path.join(options.outDir, 'latest.svg');
  const record = {
    machine,
    options,
    bigValueBytes,
    versions,
    totalSeconds: (Date.now() - started) / 1000,
    targets,
    cells: summaries,
  };
  await writeFile(resultsFile, `${JSON.stringify(record, null, 2)}\n`);
  process.stderr.write(`\nwrote ${resultsFile} (${record.totalSeconds.toFixed(0)} s total)\n`);
  if (options.chart) {
    const svg = renderChart(summaries, options, machine);
    if (svg === undefined) {
      process.stderr.write('no chart: no cell produced a number\n');
    } else {
      await writeFile(chartFile, svg);
      process.stderr.write(`wrote ${chartFile}\n`);
    }
  }

  let status = 0;
  const failures = summaries.filter(isFailure);
  if (failures.length > 0) {
    process.stderr.write(`\n${failures.length} cell(s) FAILED:\n`);
    for (const cell of failures) {
      const why = cell.error ?? 'incr final count does not match the number of incr calls';
      process.stderr.write(`  ${cell.label} · ${cell.workload} · ${cell.workers} workers: ${why}\n`);
    }
    status = 1;
  }
  const runs = ['--runs', String(options.runs)];
  if (options.persist) {
    const args = ['--duration', String(options.durationMs), ...runs];
    if ((await runScript('Persistence (fsync policies)', PERSIST_SCRIPT, args)) !== 0) status = 1;
  }
  if (options.ttl) {
    const heading = 'TTL at scale (event-loop delay while a million keys expire)';
    if ((await runScript(heading, TTL_SCRIPT, runs)) !== 0) status = 1;
  }
  return status;
}

if (!isMainThread) {
  // A worker thread of the owner (the worker-threads row): cluster.isPrimary is true here too.
  await threadMain();
} else if (cluster.isPrimary) {
  // A signal must still run the 'exit' hooks (they kill the private redis-server); workers get it from
  // the terminal's process group, or die with their IPC channel.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  // Exit explicitly: a store owner that keeps a handle open must not keep the bench alive.
  process.exit(await primaryMain());
} else {
  await workerMain();
}
