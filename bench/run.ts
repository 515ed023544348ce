/**
 * sharedkv benchmark: sharedkv (socket and ipc channels) vs the classic "cluster shared memory over IPC"
 * article design vs an in-process Map, under five workloads, with 2 and 4 cluster workers.
 *
 *   node --import tsx bench/run.ts [--quick] [--duration ms] [--runs n] [--workers 2,4] [--only name,...]
 *
 * This file is both the primary (the orchestrator, which forks a fresh set of workers per cell) and,
 * through `cluster.setupPrimary({ exec })`, the worker script.
 */
import cluster from 'node:cluster';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type CellResult, type CellSpec, runCell } from './cell.js';
import { type BenchOptions, parseOptions, USAGE } from './options.js';
import { type CellSummary, describeMachine, formatMarkdown, isBusy, isFailure, summarize } from './report.js';
import { STORE_LABELS } from './stores.js';
import { transpileForWorkers, withoutTsx } from './transpile.js';
import { workerMain } from './worker.js';
import { bigValue } from './workloads.js';

const RESULTS_FILE = fileURLToPath(new URL('./results/latest.json', import.meta.url));

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

function cellsOf(options: BenchOptions): CellSpec[] {
  const cells: CellSpec[] = [];
  for (const workers of options.workers) {
    for (const workload of options.workloads) {
      for (const store of options.stores) cells.push({ store, workload, workers });
    }
  }
  return cells;
}

function progressLine(index: number, total: number, cell: CellResult, ms: number): string {
  const head = `[${String(index + 1).padStart(String(total).length)}/${total}] ${STORE_LABELS[cell.store]} · ${cell.workload} · ${cell.workers}w`;
  if (cell.error !== undefined) return `${head}  FAILED: ${cell.error}`;
  const ops = cell.runs.map((r) => Math.round(r.opsPerSec).toLocaleString('en-US')).join(', ');
  return `${head}  ${ops} ops/s  (${(ms / 1000).toFixed(1)} s)`;
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
  const machine = describeMachine();
  const estimateS = specs.length * ((options.runs * options.durationMs + options.warmupMs) / 1000 + 1);
  process.stderr.write(
    `sharedkv bench: ${specs.length} cells × ${options.runs} run(s) × ${options.durationMs} ms ` +
      `on ${machine.cpu} (${machine.cores} cores), workers run ${worker.how}, about ${(estimateS / 60).toFixed(1)} min\n`,
  );

  if (isBusy(machine)) {
    process.stderr.write(
      `warning: load average is ${machine.loadAverage} on ${machine.cores} cores: other work will skew the numbers\n`,
    );
  }
  const started = Date.now();
  const summaries: CellSummary[] = [];
  for (const [index, spec] of specs.entries()) {
    const t0 = Date.now();
    const cell = await runCell(spec, options);
    summaries.push(summarize(cell));
    process.stderr.write(`${progressLine(index, specs.length, cell, Date.now() - t0)}\n`);
  }

  const bigValueBytes = JSON.stringify(bigValue()).length;
  process.stdout.write(`\n${formatMarkdown(summaries, options, machine, bigValueBytes)}`);
  const record = {
    machine,
    options,
    bigValueBytes,
    totalSeconds: (Date.now() - started) / 1000,
    cells: summaries,
  };
  await mkdir(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(record, null, 2)}\n`);
  process.stderr.write(`\nwrote ${RESULTS_FILE} (${record.totalSeconds.toFixed(0)} s total)\n`);

  const failures = summaries.filter(isFailure);
  if (failures.length > 0) {
    process.stderr.write(`\n${failures.length} cell(s) FAILED:\n`);
    for (const cell of failures) {
      const why = cell.error ?? 'incr final count does not match the number of incr calls';
      process.stderr.write(`  ${cell.label} · ${cell.workload} · ${cell.workers} workers: ${why}\n`);
    }
    return 1;
  }
  return 0;
}

if (cluster.isPrimary) {
  // Exit explicitly: a store owner that keeps a handle open must not keep the bench alive.
  process.exit(await primaryMain());
} else {
  await workerMain();
}
