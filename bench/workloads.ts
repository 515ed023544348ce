/**
 * The six workloads. Each is a closed loop: `concurrency` lanes per worker, each lane awaiting one call
 * before making the next, so "in flight" is exact and the store's latency sets the pace.
 */
import type { Phase } from './protocol.js';
import type { BenchStore } from './stores.js';

/** Workload ids, in column order. */
export const WORKLOADS = ['mixed', 'seq-get', 'seq-set', 'big', 'hot-get', 'incr'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

/** Section titles of the report (per worker). */
export const WORKLOAD_LABELS: Record<WorkloadName, string> = {
  mixed: '64 in flight, 90% get / 10% set',
  'seq-get': 'sequential get (1 in flight)',
  'seq-set': 'sequential set (1 in flight)',
  big: '100 KB values, get + set, 8 in flight',
  'hot-get': 'hot-key get, 64 in flight',
  incr: 'contended incr of one key, 64 in flight',
};

/** Short titles for the chart. */
export const WORKLOAD_SHORT: Record<WorkloadName, string> = {
  mixed: '64 in flight, 90/10 get/set',
  'seq-get': 'sequential get',
  'seq-set': 'sequential set',
  big: '100 KB values',
  'hot-get': 'hot-key get',
  incr: 'contended incr',
};

/**
 * Worker counts each workload runs with when `--workers` is not given: the acceptance workload (mixed) and
 * the contention workloads with 2 and 4, the rest with 2, which keeps the default run near 4–5 minutes.
 * `--quick` runs only mixed with 4.
 */
export function defaultWorkers(workload: WorkloadName, quick: boolean): number[] {
  if (workload === 'mixed') return [2, 4];
  if (!quick && (workload === 'hot-get' || workload === 'incr')) return [2, 4];
  return [2];
}

/** Keys shared by all workers in the read workloads. */
const SHARED_KEYS = 1_000;
/** The one key of `hot-get`. */
const HOT_KEY = 'bench:hot';

/** What a worker's workload needs from the driver. */
export interface WorkloadRunner {
  /** Lanes per worker (calls in flight). */
  readonly concurrency: number;
  /** Writes the keys the workload reads and checks the store round-trips a value. */
  setup(): Promise<void>;
  /** Called before each phase (selects the counter key of `incr`). */
  begin(phase: Phase): void;
  /** Makes one call on `lane`. */
  call(lane: number): Promise<unknown>;
  /** `incr` only: the counter key a phase increments. */
  counterKey?: (phase: Phase) => string;
}

/** The counter key of `incr` in `phase`: a fresh key per run so every run's final count starts at 0. */
export function incrKey(phase: Phase): string {
  return phase.kind === 'warmup' ? 'bench:ctr:warmup' : `bench:ctr:run${phase.run}`;
}

/** A small record (~70 bytes of JSON), the typical cached value. */
function smallValue(i: number): Record<string, unknown> {
  return { id: i, name: `user-${i}`, score: i * 1.5, active: i % 2 === 0 };
}

/**
 * A ~100 KB value: 1,000 records of the kind an app caches (a page of users). The size is printed in the
 * report header as JSON length.
 */
export function bigValue(): Array<Record<string, unknown>> {
  const records: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 1_000; i++) {
    records.push({
      id: i,
      name: `user-${String(i).padStart(4, '0')}-placeholder`,
      score: Math.round(i * 7.31 * 100) / 100,
      active: i % 3 !== 0,
      tags: ['alpha', 'beta', i % 2 === 0 ? 'even' : 'odd'],
    });
  }
  return records;
}

/** xorshift32: a cheap, seeded PRNG so key choice costs less than the call and runs are repeatable. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

async function writeSharedKeys(store: BenchStore): Promise<void> {
  // Every worker writes the same values, so whichever finishes last leaves identical data. 100 writes in
  // flight at a time keep setup (and so the time to fork a cell) short.
  for (let start = 0; start < SHARED_KEYS; start += 100) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = start; i < Math.min(start + 100, SHARED_KEYS); i++)
      batch.push(store.set(`bench:k:${i}`, smallValue(i)));
    await Promise.all(batch);
  }
}

async function checkRoundTrip(store: BenchStore, key: string, value: unknown): Promise<void> {
  await store.set(key, value);
  const back = await store.get(key);
  if (JSON.stringify(back) !== JSON.stringify(value)) {
    throw new Error(`store did not return what was written under ${key}`);
  }
}

/**
 * Builds workload `name` for worker number `index` (0-based) over `store`.
 */
export function createWorkload(name: WorkloadName, store: BenchStore, index: number): WorkloadRunner {
  const check = () => checkRoundTrip(store, `bench:check:w${index}`, smallValue(index));
  switch (name) {
    case 'seq-get': {
      let i = index * 137; // workers start at different keys
      return {
        concurrency: 1,
        setup: async () => {
          await check();
          await writeSharedKeys(store);
        },
        begin: () => {},
        call: () => store.get(`bench:k:${i++ % SHARED_KEYS}`),
      };
    }
    case 'seq-set': {
      // Each worker writes its own keys, so the numbers measure the write path, not key contention.
      let i = 0;
      return {
        concurrency: 1,
        setup: check,
        begin: () => {},
        call: () => {
          const n = i++ % SHARED_KEYS;
          return store.set(`bench:w${index}:s${n}`, smallValue(n));
        },
      };
    }
    case 'mixed': {
      const random = prng(index + 1);
      return {
        concurrency: 64,
        setup: async () => {
          await check();
          await writeSharedKeys(store);
        },
        begin: () => {},
        call: () => {
          const n = Math.floor(random() * SHARED_KEYS);
          return random() < 0.1 ? store.set(`bench:k:${n}`, smallValue(n)) : store.get(`bench:k:${n}`);
        },
      };
    }
    case 'hot-get':
      // Every lane of every worker reads the same key: the case a near cache exists for.
      return {
        concurrency: 64,
        setup: async () => {
          await check();
          await checkRoundTrip(store, HOT_KEY, smallValue(42));
        },
        begin: () => {},
        call: () => store.get(HOT_KEY),
      };
    case 'incr': {
      let key = 'bench:ctr:warmup';
      return {
        concurrency: 64,
        setup: check,
        begin: (phase) => {
          key = incrKey(phase);
        },
        call: () => store.incr(key, 1),
        counterKey: incrKey,
      };
    }
    case 'big': {
      const value = bigValue();
      const lanes = 8;
      const turn = new Uint32Array(lanes);
      // One key per lane, so a lane's get always reads a complete 100 KB value it (or setup) wrote.
      const laneKey = (lane: number) => `bench:big:w${index}:l${lane}`;
      return {
        concurrency: lanes,
        setup: async () => {
          await check();
          for (let lane = 0; lane < lanes; lane++) await checkRoundTrip(store, laneKey(lane), value);
        },
        begin: () => {},
        call: (lane) => {
          const t = turn[lane] ?? 0;
          turn[lane] = t + 1;
          return t % 2 === 0 ? store.get(laneKey(lane)) : store.set(laneKey(lane), value);
        },
      };
    }
  }
}

/** Whether `value` names a workload. */
export function isWorkloadName(value: unknown): value is WorkloadName {
  return (WORKLOADS as readonly unknown[]).includes(value);
}
