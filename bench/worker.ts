/**
 * The worker side of a cell: opens the store named by `BENCH_STORE`, prepares workload `BENCH_WORKLOAD`,
 * then runs each phase the driver asks for and reports its counts. The same loop runs in a cluster worker
 * (talking to the primary over cluster IPC) and in a worker thread of the owner (over its parent port).
 */
import { type MessagePort, parentPort } from 'node:worker_threads';
import type { FromWorker, Phase, PhaseDone, ToWorker } from './protocol.js';
import { isBenchMessage } from './protocol.js';
import { LatencyReservoir } from './stats.js';
import { type BenchStore, isStoreKind, openWorkerStore, Unsupported } from './stores.js';
import { createWorkload, isWorkloadName, type WorkloadRunner } from './workloads.js';

/** How a worker talks to the driver: the only thing that differs between a cluster worker and a thread. */
interface DriverLink {
  /** Resolves once the message has left this worker. */
  send(message: FromWorker): Promise<void>;
  onMessage(listener: (message: unknown) => void): void;
}

/** A cluster worker: the primary's IPC channel, shared with the stores that use IPC themselves. */
const clusterLink: DriverLink = {
  send: (message) =>
    new Promise((resolve) => {
      process.send!(message, undefined, {}, () => resolve());
    }),
  onMessage: (listener) => process.on('message', listener),
};

/** A worker thread: its parent port (postMessage is synchronous, so there is nothing to wait for). */
function threadLink(port: MessagePort): DriverLink {
  return {
    send: async (message) => port.postMessage(message),
    onMessage: (listener) => port.on('message', listener),
  };
}

/**
 * Runs `workload` for `ms` milliseconds: each lane calls in a loop until the deadline, and the calls in
 * flight at the deadline are awaited and counted, so the elapsed time covers every call counted.
 *
 * Every call's latency is sampled. With one call in flight it is the store's round trip; with 64 it is what
 * a caller waits under that load, queueing included.
 */
async function drive(workload: WorkloadRunner, ms: number): Promise<Omit<PhaseDone, 'bench' | 'phase'>> {
  const reservoir = new LatencyReservoir();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(ms * 1e6));
  let ops = 0;
  const lane = async (id: number): Promise<void> => {
    let now = process.hrtime.bigint();
    while (now < deadline) {
      const before = now;
      await workload.call(id);
      now = process.hrtime.bigint();
      // One hrtime read serves both as this call's end and as the deadline check.
      reservoir.add(Number(now - before));
      ops++;
    }
  };
  await Promise.all(Array.from({ length: workload.concurrency }, (_, id) => lane(id)));
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  return { ops, elapsedMs, latency: reservoir.summary() };
}

async function runPhase(
  store: BenchStore,
  perProcess: boolean,
  workload: WorkloadRunner,
  phase: Phase,
  ms: number,
): Promise<PhaseDone> {
  workload.begin(phase);
  const result = await drive(workload, ms);
  const done: PhaseDone = { bench: 'done', phase, ...result };
  // A per-process store's counter lives in this worker, so only the worker can read it. Shared stores are
  // read by the primary once every worker is done: a read here could land in another worker's run.
  if (perProcess && phase.kind === 'run' && workload.counterKey !== undefined) {
    const counter = await store.get(workload.counterKey(phase));
    if (typeof counter === 'number') done.counter = counter;
  }
  return done;
}

/**
 * Tells the primary why this worker cannot go on. The worker then waits for the primary's `close` (it
 * closes the whole group on the first failure): exiting here could let the primary see the exit before
 * the message and report "exited unexpectedly" instead of the cause.
 */
async function fail(link: DriverLink, error: unknown): Promise<void> {
  if (error instanceof Unsupported) {
    await link.send({ bench: 'unsupported', reason: error.message, scope: error.scope });
  } else {
    await link.send({
      bench: 'error',
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  }
}

/** The worker loop, over whichever link reaches the driver. */
async function runWorker(link: DriverLink): Promise<void> {
  const kind = process.env.BENCH_STORE;
  const name = process.env.BENCH_WORKLOAD;
  const index = Number(process.env.BENCH_INDEX);
  let store: BenchStore | undefined;
  let workload: WorkloadRunner | undefined;

  // Phases arrive one at a time (the primary waits for every worker), so a simple chain keeps order.
  let chain = Promise.resolve();
  link.onMessage((message: unknown) => {
    if (!isBenchMessage<ToWorker>(message)) return;
    chain = chain.then(async () => {
      try {
        if (message.bench === 'phase') {
          if (store === undefined || workload === undefined) throw new Error('phase before the store was ready');
          await link.send(await runPhase(store, kind === 'map', workload, message.phase, message.ms));
        } else if (message.bench === 'close') {
          await store?.close();
          // The primary waits for this exit. A store that leaves a handle open must not keep the cell waiting.
          // In a worker thread, process.exit() ends only the thread.
          process.exit(0);
        }
      } catch (error) {
        await fail(link, error);
      }
    });
  });

  try {
    if (!isStoreKind(kind)) throw new Error(`BENCH_STORE is not a store kind: ${kind}`);
    if (!isWorkloadName(name)) throw new Error(`BENCH_WORKLOAD is not a workload: ${name}`);
    store = await openWorkerStore(kind);
    workload = createWorkload(name, store, index);
    await workload.setup();
  } catch (error) {
    return fail(link, error);
  }
  await link.send({ bench: 'ready' });
}

/** Entry point of a bench cluster worker. */
export function workerMain(): Promise<void> {
  return runWorker(clusterLink);
}

/** Entry point of a bench worker thread (the `sharedkv-thread` row): the same loop over the parent port. */
export function threadMain(): Promise<void> {
  if (parentPort === null) throw new Error('threadMain() runs only in a worker thread');
  return runWorker(threadLink(parentPort));
}
