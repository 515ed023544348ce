/**
 * The primary side of one cell (store × workload × worker count): a fresh set of cluster workers (or, for
 * the worker-threads row, threads of this process) and a fresh store owner, one warmup, then `runs`
 * measured repetitions, then everything is torn down so the next cell starts clean. A store that cannot run the cell (see `Unsupported`) yields a skipped cell.
 */
import cluster from 'node:cluster';
import type { FromWorker, Phase, PhaseDone, ToWorker } from './protocol.js';
import { isBenchMessage } from './protocol.js';
import { mergedPercentile } from './stats.js';
import { type HostContext, openPrimaryHost, type PrimaryHost, type StoreKind, Unsupported } from './stores.js';
import { incrKey, type WorkloadName } from './workloads.js';

/** One cell of the result table. */
export interface CellSpec {
  store: StoreKind;
  workload: WorkloadName;
  workers: number;
}

/** One measured repetition of a cell, aggregated over its workers. */
export interface RunResult {
  /** Sum over workers of calls / elapsed seconds. */
  opsPerSec: number;
  ops: number;
  /** Percentiles over all workers' calls, in µs. */
  p50Us?: number;
  p99Us?: number;
  /** `incr`: counter read after the run vs calls that resolved. */
  incr?: { final: number; expected: number };
}

/** A cell's repetitions, or why it could not run. */
export interface CellResult extends CellSpec {
  runs: RunResult[];
  /** It failed: the bench exits non-zero. */
  error?: string;
  /** It does not apply to this store ("n/a"), with the reason. */
  skipped?: string;
  /** With `skipped`: whether the reason holds for every cell of the store (skip them without forking). */
  skipScope?: 'store' | 'cell';
}

/** Timing of a cell. */
export interface CellTiming {
  durationMs: number;
  warmupMs: number;
  runs: number;
}

/** Forking tsx workers on a loaded 2-core machine can take seconds; a hung store must not hang the bench. */
const READY_TIMEOUT_MS = 60_000;
const PHASE_SLACK_MS = 30_000;
const EXIT_TIMEOUT_MS = 5_000;

/** What a worker of a cell reports to its group, whether it is a cluster worker or a thread. */
interface MemberEvents {
  message(message: unknown): void;
  exit(code: number | null, signal: string | null): void;
}

/** One worker of a cell, as the group drives it. */
interface Member {
  send(message: ToWorker): void;
  /** Ends it at once (SIGKILL, or `terminate()` for a thread). */
  kill(): void;
}

/** Starts worker `index` of a cell. */
type Launch = (index: number, events: MemberEvents) => Member;

/** Cluster workers: forked with the script `cluster.setupPrimary` names, driven over cluster IPC. */
function forkWorkers(env: Record<string, string>): Launch {
  return (index, events) => {
    const worker = cluster.fork({ ...env, BENCH_INDEX: String(index) });
    worker.on('message', events.message);
    worker.on('exit', events.exit);
    return {
      send: (message) => {
        if (!worker.isDead()) worker.send(message);
      },
      kill: () => {
        if (!worker.isDead()) worker.process.kill('SIGKILL');
      },
    };
  };
}

/**
 * Worker threads of this process, made by the store owner's `thread()` from the same script and flags as
 * the cluster workers (compiled JS, see transpile.ts), driven over postMessage.
 *
 * @throws Unsupported when the workers run TypeScript through tsx.
 */
function startThreads(thread: NonNullable<PrimaryHost['thread']>, env: Record<string, string>): Launch {
  const { exec, execArgv = [] } = cluster.settings;
  if (exec === undefined) throw new Error('cluster.setupPrimary() has not named the worker script');
  // Node 20 does not apply tsx's loader to a thread's entry (ERR_UNKNOWN_FILE_EXTENSION), hence n/a.
  if (exec.endsWith('.ts')) throw new Unsupported('worker threads need the compiled workers (not --tsx-workers)');
  return (index, events) => {
    let alive = true;
    const worker = thread(exec, { env: { ...process.env, ...env, BENCH_INDEX: String(index) }, execArgv });
    worker.on('message', events.message);
    // An uncaught error ends the thread: report it as the bench's own error message, then as the exit.
    worker.on('error', (error) =>
      events.message({ bench: 'error', message: error.stack ?? error.message } satisfies FromWorker),
    );
    worker.on('exit', (code) => {
      alive = false;
      events.exit(code, null);
    });
    return {
      send: (message) => {
        if (alive) worker.postMessage(message);
      },
      kill: () => {
        if (alive) void worker.terminate();
      },
    };
  };
}

/** The workers of one cell and a barrier over their messages. */
class WorkerGroup {
  private readonly workers: Member[] = [];
  private readonly exited = new Set<number>();
  private failure: Error | undefined;
  private closing = false;
  private waiter:
    | { bench: FromWorker['bench']; got: FromWorker[]; resolve(): void; reject(e: Error): void }
    | undefined;
  private exitWaiter: (() => void) | undefined;

  constructor(count: number, launch: Launch) {
    for (let index = 0; index < count; index++) {
      this.workers.push(
        launch(index, {
          message: (message) => this.onMessage(index, message),
          exit: (code, signal) => this.onExit(index, code, signal),
        }),
      );
    }
  }

  private onMessage(index: number, message: unknown): void {
    if (!isBenchMessage<FromWorker>(message)) return;
    if (message.bench === 'error') {
      this.fail(new Error(`worker ${index}: ${message.message}`));
    } else if (message.bench === 'unsupported') {
      this.fail(new Unsupported(message.reason, message.scope));
    } else if (this.waiter?.bench === message.bench) {
      this.waiter.got.push(message);
      if (this.waiter.got.length === this.workers.length) this.waiter.resolve();
    }
  }

  private onExit(index: number, code: number | null, signal: string | null): void {
    this.exited.add(index);
    if (!this.closing) this.fail(new Error(`worker ${index} exited unexpectedly (code ${code}, signal ${signal})`));
    if (this.exited.size === this.workers.length) this.exitWaiter?.();
  }

  private fail(error: Error): void {
    // Keep the first cause: later exits are consequences of it.
    this.failure ??= error;
    this.waiter?.reject(this.failure);
  }

  /** Resolves with one `bench` message from every worker, or rejects on a worker failure or timeout. */
  collect<K extends FromWorker['bench']>(
    bench: K,
    timeoutMs: number,
  ): Promise<Array<Extract<FromWorker, { bench: K }>>> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const got: FromWorker[] = [];
      const timer = setTimeout(() => this.fail(new Error(`timed out waiting for '${bench}' from workers`)), timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.waiter = undefined;
      };
      this.waiter = {
        bench,
        got,
        resolve: () => {
          settle();
          resolve(got as Array<Extract<FromWorker, { bench: K }>>);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
    });
  }

  broadcast(message: ToWorker): void {
    for (const worker of this.workers) worker.send(message);
  }

  /** Asks the workers to close their stores and exit; kills those that do not within a few seconds. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.exited.size === this.workers.length) return;
    const allExited = new Promise<void>((resolve) => {
      this.exitWaiter = resolve;
    });
    this.broadcast({ bench: 'close' });
    const timer = setTimeout(() => {
      for (const worker of this.workers) worker.kill();
    }, EXIT_TIMEOUT_MS);
    await allExited;
    clearTimeout(timer);
  }
}

async function aggregate(spec: CellSpec, phase: Phase, dones: PhaseDone[], host: PrimaryHost): Promise<RunResult> {
  const ops = dones.reduce((sum, d) => sum + d.ops, 0);
  const opsPerSec = dones.reduce((sum, d) => sum + (d.ops * 1000) / d.elapsedMs, 0);
  const result: RunResult = { opsPerSec, ops };
  const latencies = dones.map((d) => d.latency);
  if (latencies.some((l) => l.count > 0)) {
    result.p50Us = mergedPercentile(latencies, 0.5) / 1000;
    result.p99Us = mergedPercentile(latencies, 0.99) / 1000;
  }
  if (spec.workload === 'incr') {
    // Every incr counted resolved, so the counter must equal the calls exactly; the per-process Map
    // has one counter per worker, summed.
    const final = host.shared
      ? await host.readNumber(incrKey(phase))
      : dones.reduce((sum, d) => sum + (d.counter ?? 0), 0);
    result.incr = { final: final ?? Number.NaN, expected: ops };
  }
  return result;
}

/**
 * Runs one cell in the current process, which must be the cluster primary with `cluster.setupPrimary`
 * already pointing at the bench worker script. Never throws: a failure is returned in `error`.
 */
export async function runCell(spec: CellSpec, timing: CellTiming, context: HostContext): Promise<CellResult> {
  const runs: RunResult[] = [];
  let host: PrimaryHost | undefined;
  let group: WorkerGroup | undefined;
  let error: string | undefined;
  let skipped: Unsupported | undefined;
  try {
    host = await openPrimaryHost(spec.store, context);
    const env = { ...host.env, BENCH_STORE: spec.store, BENCH_WORKLOAD: spec.workload };
    group = new WorkerGroup(
      spec.workers,
      host.thread === undefined ? forkWorkers(env) : startThreads(host.thread, env),
    );
    await group.collect('ready', READY_TIMEOUT_MS);
    const phases: Array<{ phase: Phase; ms: number }> = [];
    if (timing.warmupMs > 0) phases.push({ phase: { kind: 'warmup', run: 0 }, ms: timing.warmupMs });
    for (let run = 0; run < timing.runs; run++) phases.push({ phase: { kind: 'run', run }, ms: timing.durationMs });
    for (const { phase, ms } of phases) {
      // All workers start a phase together and the next starts only when all are done.
      const done = group.collect('done', ms + PHASE_SLACK_MS);
      group.broadcast({ bench: 'phase', phase, ms });
      const dones = await done;
      if (phase.kind === 'run') runs.push(await aggregate(spec, phase, dones, host));
    }
  } catch (e) {
    if (e instanceof Unsupported) skipped = e;
    else error = e instanceof Error ? e.message : String(e);
  } finally {
    await group?.close();
    try {
      await host?.close();
    } catch (e) {
      error ??= `closing the store owner: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  const result: CellResult = { ...spec, runs };
  if (error !== undefined) result.error = error;
  else if (skipped !== undefined) {
    result.runs = [];
    result.skipped = skipped.message;
    result.skipScope = skipped.scope;
  }
  return result;
}
