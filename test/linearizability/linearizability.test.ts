/**
 * Linearizability across transports: 8 client processes (cluster workers on the socket and IPC data paths,
 * children forked by the owner on both) each run two loops of get/set/incr/cas on three shared keys for a
 * few seconds (30 s with SHAREDKV_DEEP=1), recording timed histories on the machine's monotonic clock. The
 * checker (test/helpers/linearizability.ts) must find every key's history linearizable.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type OwnerStore } from '../../src/index.js';
import { checkHistory, checkKey, type HistoryOp } from '../helpers/linearizability.js';
import { type AppMessage, forkWorker, killAll, nextEvent } from '../helpers/processes.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/stress-linear-worker.ts', import.meta.url));
const DEEP = process.env.SHAREDKV_DEEP === '1';
const SECONDS = Number(process.env.SHAREDKV_LINEAR_SECONDS ?? (DEEP ? 30 : 3));
const KEYS = ['lin:0', 'lin:1', 'lin:2'];

/** The 8 clients: transport and data path. */
const CLIENTS = [
  ['cluster', 'socket'],
  ['cluster', 'socket'],
  ['cluster', 'socket'],
  ['cluster', 'ipc'],
  ['cluster', 'ipc'],
  ['fork', 'socket'],
  ['fork', 'socket'],
  ['fork', 'ipc'],
] as const;

type Proc = {
  label: string;
  send(msg: unknown): void;
  on(e: 'message', f: (m: unknown) => void): unknown;
  off(e: 'message', f: (m: unknown) => void): unknown;
  kill(): void;
  exited: Promise<unknown>;
};

let owner: OwnerStore;
let dir: string;
const procs: Proc[] = [];

before(async () => {
  owner = (await connect({ role: 'owner', timeout: 60_000 })) as OwnerStore;
  dir = mkdtempSync(join(tmpdir(), 'sharedkv-lin-'));
});
after(async () => {
  for (const p of procs) p.kill();
  await Promise.all(procs.map((p) => p.exited));
  await killAll();
  await owner.close();
  rmSync(dir, { recursive: true, force: true });
});

function spawn(kind: 'cluster' | 'fork', channel: 'socket' | 'ipc', i: number): Proc {
  const env = { SKV_CHANNEL: channel };
  const label = `${kind}/${channel}/${i}`;
  if (kind === 'cluster') {
    const w = forkWorker(env, FIXTURE);
    return {
      label,
      send: (m) => w.send(m as never),
      on: (e, f) => w.on(e, f),
      off: (e, f) => w.off(e, f),
      kill: () => w.process.kill('SIGKILL'),
      exited: w.isDead() ? Promise.resolve() : once(w, 'exit'),
    };
  }
  const c = owner.fork(FIXTURE, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
  return {
    label,
    send: (m) => c.send(m as never),
    on: (e, f) => c.on(e, f),
    off: (e, f) => c.off(e, f),
    kill: () => c.kill('SIGKILL'),
    exited: once(c, 'exit'),
  };
}

function readHistory(file: string): HistoryOp[] {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as HistoryOp[];
  for (const h of raw) {
    if (h.response === null) h.response = Number.POSITIVE_INFINITY;
  }
  return raw;
}

describe('linearizability over real transports', () => {
  it(`8 clients x 2 loops x ${SECONDS} s of get/set/incr/cas on 3 keys: every history is linearizable`, {
    timeout: 600_000,
  }, async () => {
    const readies = CLIENTS.map(([kind, channel], i) => {
      const p = spawn(kind, channel, i);
      procs.push(p);
      return nextEvent(p as never, 'ready', 120_000);
    });
    const ready = await Promise.all(readies);
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
    if (reads.length > 0) {
      // An early read: refuting a forged operation means exhausting every order of what came before it.
      const victim = reads[Math.min(reads.length - 1, 20)]!;
      const forged = history
        .filter((h) => h.key === victim.key)
        .map((h) => (h === victim ? { ...h, op: { f: 'get' as const, result: -1 } } : h));
      assert.equal(checkKey(victim.key, forged).linearizable, false, 'a forged read is caught');
    }
  });
});
