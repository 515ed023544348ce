/**
 * The run and the verdict shared by the linearizability tests of every backend: it orders the clients
 * (already spawned, each running test/fixtures/stress-linear-worker.ts) to start their loops together on
 * the machine's monotonic clock, collects their histories, prints the numbers and asserts that every
 * key's history is linearizable, that no call failed, that every client contributed, and that the checker
 * rejects the same history with one read forged (so the check is not vacuous on histories of this shape).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkHistory, checkKey, type HistoryOp } from '../helpers/linearizability.js';
import { type AppMessage, nextEvent } from '../helpers/processes.js';

/** How long each client runs its loops (s): a few in CI, 30 with SHAREDKV_DEEP=1. */
export const SECONDS = Number(process.env.SHAREDKV_LINEAR_SECONDS ?? (process.env.SHAREDKV_DEEP === '1' ? 30 : 3));
/** The shared keys every loop works on. */
export const KEYS = ['lin:0', 'lin:1', 'lin:2'];

/** One client (a process) as the tests drive it. */
export type LinearProc = {
  label: string;
  send(msg: unknown): void;
  on(e: 'message', f: (m: unknown) => void): unknown;
  off(e: 'message', f: (m: unknown) => void): unknown;
  kill(): void;
  exited: Promise<unknown>;
};

function readHistory(file: string): HistoryOp[] {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as HistoryOp[];
  for (const h of raw) {
    if (h.response === null) h.response = Number.POSITIVE_INFINITY;
  }
  return raw;
}

/**
 * Runs 2 loops per client for {@link SECONDS} and checks the history. `dir` receives one history file
 * per client; `extra` is printed with the numbers (such as the backend).
 */
export async function runAndCheck(procs: LinearProc[], dir: string, extra: Record<string, unknown> = {}) {
  // Generous: on a loaded 2-core machine eight clients starting at once (tsx included) can take a minute.
  const ready = await Promise.all(procs.map((p) => nextEvent(p as never, 'ready', 120_000)));
  const skews = ready.map((r) => r.originSkew as number);
  const skew = Math.max(...skews) - Math.min(...skews);
  // All clients start together, a little after the slowest has received its order.
  const start = Number(process.hrtime.bigint()) / 1000 + 500_000;
  const end = start + SECONDS * 1_000_000;
  const done = procs.map((p, i) => {
    const finished = nextEvent(p as never, 'done', (SECONDS + 120) * 1000);
    p.send({ run: { client: i, label: p.label, loops: 2, keys: KEYS, start, end, file: join(dir, `h${i}.json`) } });
    return finished;
  });
  const results: AppMessage[] = await Promise.all(done);
  const failures = results.reduce((n, r) => n + (r.failures as number), 0);
  const history = procs.flatMap((_, i) => readHistory(join(dir, `h${i}.json`)));
  const verdict = checkHistory(history);
  console.log(
    JSON.stringify({
      ...extra,
      seconds: SECONDS,
      ops: verdict.ops,
      opsPerSecond: Math.round(verdict.ops / SECONDS),
      failedCalls: failures,
      checkMs: verdict.ms,
      keys: verdict.keys.map((k) => ({ key: k.key, ops: k.ops, steps: k.steps, linearizable: k.linearizable })),
      timeOriginSkewUs: Math.round(skew),
    }),
  );
  for (const k of verdict.keys) {
    assert.ok(!k.undecided, `key ${k.key}: the checker gave up after ${k.steps} steps`);
    assert.ok(k.linearizable, `key ${k.key} is not linearizable; stuck at:\n${(k.stuckAt ?? []).join('\n')}`);
  }
  assert.equal(verdict.keys.length, KEYS.length, 'every shared key was used');
  assert.equal(failures, 0, 'no call failed (a failure is an operation of unknown outcome)');
  assert.ok(verdict.ops > 100, `only ${verdict.ops} operations were recorded`);
  // Every client contributed.
  for (const p of procs)
    assert.ok(
      history.some((h) => h.client.startsWith(p.label)),
      `${p.label} recorded nothing`,
    );
  // The same real history with one read changed to -1 (no value is ever negative) must be rejected: the check is
  // not vacuous on histories of this shape and size.
  const reads = history.filter((h) => h.op.f === 'get' && h.op.result !== undefined);
  assert.ok(reads.length > 0, 'some read saw a value');
  // An early read: refuting a forged operation means exhausting every order of what came before it.
  const victim = reads[Math.min(reads.length - 1, 20)]!;
  const forged = history
    .filter((h) => h.key === victim.key)
    .map((h) => (h === victim ? { ...h, op: { f: 'get' as const, result: -1 } } : h));
  assert.equal(checkKey(victim.key, forged).linearizable, false, 'a forged read is caught');
}
