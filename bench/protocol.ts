/**
 * Control messages between the bench primary and its workers. They travel over the same cluster IPC
 * channel as the article design's calls and sharedkv's `ipc` channel, so every one carries a `bench`
 * tag and both sides ignore anything without it.
 */
import type { LatencySummary } from './stats.js';

/** Which phase a worker runs: warmup results are thrown away, `run` results are reported. */
export interface Phase {
  kind: 'warmup' | 'run';
  /** Index of the measured repetition (0 for warmup). */
  run: number;
}

/** Primary → worker. */
export type ToWorker = { bench: 'phase'; phase: Phase; ms: number } | { bench: 'close' };

/** One worker's measurement of one phase. */
export interface PhaseDone {
  bench: 'done';
  phase: Phase;
  /** Calls that resolved, including those still in flight at the deadline (they are awaited). */
  ops: number;
  /** Milliseconds from the first call to the last one resolving. */
  elapsedMs: number;
  /** Every call's latency (sampled). */
  latency: LatencySummary;
  /** `incr` workload: the counter as this worker reads it afterwards (meaningful only for per-process stores). */
  counter?: number;
}

/** Worker → primary. */
export type FromWorker =
  | { bench: 'ready' }
  | PhaseDone
  | { bench: 'error'; message: string }
  /** The store cannot run here (see `Unsupported` in stores.ts): reported as n/a, not as a failure. */
  | { bench: 'unsupported'; reason: string; scope: 'store' | 'cell' };

/** Whether an IPC message belongs to the bench (and not to a store under test). */
export function isBenchMessage<T extends { bench: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { bench?: unknown }).bench === 'string';
}
