/**
 * Locks, pub/sub, watch and stored procedures across real processes: the test process owns the store
 * and drives clients (cluster workers on both data paths, and forked children) step by step.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../../src/engine/engine.js';
import { connect, type OwnerStore } from '../../src/index.js';
import { type AppMessage, forkWorker, killAll, nextEvent } from '../helpers/processes.js';

const COORD = fileURLToPath(new URL('../fixtures/coord-worker.ts', import.meta.url));

type Proc = {
  send(msg: unknown): void;
  on(e: 'message', f: (m: unknown) => void): unknown;
  off(e: 'message', f: (m: unknown) => void): unknown;
  kill(signal?: NodeJS.Signals): void;
  pid: number;
  exited: Promise<unknown>;
};

let kv: OwnerStore;
let nextId = 1;

before(async () => {
  kv = (await connect({ role: 'owner' })) as OwnerStore;
  kv.define('transfer', (tx, from: string, to: string, n: number) => {
    tx.decr(from, n);
    tx.incr(to, n);
    if ((tx.get<number>(from) ?? 0) < 0) throw new Error('insufficient funds');
    return tx.get(to);
  });
});

after(async () => {
  await killAll();
  await kv.close();
});

const transports = {
  'cluster/socket': (env: Record<string, string> = {}) => wrapWorker({ SKV_CHANNEL: 'socket', ...env }),
  'cluster/ipc': (env: Record<string, string> = {}) => wrapWorker({ SKV_CHANNEL: 'ipc', ...env }),
  'fork/socket': (env: Record<string, string> = {}) => {
    const child = kv.fork(COORD, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
    return ready({
      send: (m) => child.send(m as never),
      on: (e, f) => child.on(e, f),
      off: (e, f) => child.off(e, f),
      kill: (s) => child.kill(s ?? 'SIGKILL'),
      pid: child.pid!,
      exited: once(child, 'exit'),
    });
  },
} satisfies Record<string, (env?: Record<string, string>) => Promise<Proc>>;

async function wrapWorker(env: Record<string, string>): Promise<Proc> {
  const w = forkWorker(env, COORD);
  return ready({
    send: (m) => w.send(m as never),
    on: (e, f) => w.on(e, f),
    off: (e, f) => w.off(e, f),
    kill: (s) => w.process.kill(s ?? 'SIGKILL'),
    pid: w.process.pid!,
    exited: once(w, 'exit'),
  });
}

async function ready(p: Proc): Promise<Proc> {
  await nextEvent(p as never, 'ready', 30_000);
  return p;
}

function step(p: Proc, what: string, params: Record<string, unknown> = {}, event = 'result'): Promise<AppMessage> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    // Generous: 8 workers x 1,000 critical sections on a loaded 2-core machine can take minutes.
    const timer = setTimeout(() => reject(new Error(`step ${what} timed out`)), 300_000);
    const on = (m: unknown) => {
      const msg = m as AppMessage;
      if (msg?.app && msg.event === event && msg.id === id) {
        clearTimeout(timer);
        p.off('message', on);
        if (msg.error) reject(new Error(`step ${what} failed: ${msg.error}`));
        else resolve(msg);
      }
    };
    p.on('message', on);
    p.send({ do: what, id, ...params });
  });
}

/** Like step, but resolves with both the 'waiting' acknowledgement and the final result promise. */
function stepWaiting(p: Proc, what: string, params: Record<string, unknown>) {
  const id = nextId;
  const result = step(p, what, params);
  const waiting = new Promise<void>((resolve) => {
    const on = (m: unknown) => {
      const msg = m as AppMessage;
      if (msg?.app && msg.event === 'waiting' && msg.id === id) {
        p.off('message', on);
        resolve();
      }
    };
    p.on('message', on);
  });
  return { waiting, result };
}

async function waitUntil(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
}

for (const [name, spawn] of Object.entries(transports)) {
  describe(`coordination over ${name}`, () => {
    it('kill -9 of a holder of 100 locks frees them at once; waiters acquire in arrival order', async () => {
      const victim = await spawn();
      const names = Array.from({ length: 100 }, (_, i) => `L${i}`);
      await step(victim, 'lockMany', { names, ttl: 60_000 });
      const waiters = await Promise.all([spawn(), spawn(), spawn()]);
      const results: Array<Promise<AppMessage>> = [];
      for (const w of waiters) {
        const { waiting, result } = stepWaiting(w, 'lock', { name: 'L0', ttl: 100, wait: 30_000 });
        await waiting;
        // The request has left the worker; wait until the owner has queued it before sending the next one.
        await waitUntil(async () => (await kv.stats()).pending >= results.length + 1);
        results.push(result);
      }
      // "The owner noticing" is the moment the victim's session closes in the owner's engine.
      let noticed = Number.POSITIVE_INFINITY;
      const engine = (kv as unknown as { server: { engine: Engine } }).server.engine;
      const before = new Set(engine.sessions);
      engine.onSessionClose.push((s) => {
        if (
          before.has(s) &&
          noticed === Number.POSITIVE_INFINITY &&
          (s.pid === victim.pid || s.label.includes(`pid ${victim.pid}`))
        ) {
          noticed = performance.now();
        }
      });
      victim.kill('SIGKILL');
      await victim.exited;
      await waitUntil(async () => noticed !== Number.POSITIVE_INFINITY, 10_000);
      // Every one of the other 99 locks is free (tryLock succeeds) within 50 ms of the owner noticing.
      await waitUntil(async () => {
        const locks = await Promise.all(names.slice(1).map((n) => kv.tryLock(n)));
        await Promise.all(locks.map((l) => l?.release()));
        return locks.every((l) => l !== null);
      }, 2000);
      const freedIn = performance.now() - noticed;
      assert.ok(freedIn < 50, `freed in ${freedIn.toFixed(1)} ms`);
      // The waiters got L0 in the order they asked (each lease is 100 ms, then the next one gets it).
      const got = await Promise.all(results);
      const order = got.map((g) => g.at as number);
      assert.deepEqual(
        [...order].sort((a, b) => a - b),
        order,
      );
      const tokens = got.map((g) => g.token as number);
      assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, 'fencing tokens increase');
      for (const w of waiters) w.kill();
      await Promise.all(waiters.map((w) => w.exited));
    });

    it('a holder paused past its lease has all 1,000 fenced writes refused', async () => {
      const holder = await spawn();
      const first = await step(holder, 'lock', { name: 'fence', ttl: 150, wait: 1000 });
      holder.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 300));
      const next = await kv.lock('fence', { ttl: 60_000 });
      assert.ok(next.token > (first.token as number));
      holder.kill('SIGCONT');
      const r = await step(holder, 'fencedWrites', { name: 'fence', n: 1000 });
      assert.equal(r.accepted, 0);
      assert.deepEqual(r.codes, ['ERR_SHAREDKV_LOCK_LOST']);
      assert.equal(await kv.get('fenced:0'), undefined);
      // The live holder's fenced write is accepted.
      assert.equal(await kv.set('fenced:live', 1, { fence: next }), true);
      await next.release();
      holder.kill();
      await holder.exited;
    });

    it('withLock releases when fn throws; an aborted wait leaves no waiter behind', async () => {
      const p = await spawn();
      const r = await step(p, 'withLockThrows');
      assert.equal(r.err, 'boom');
      assert.equal(r.free, true);
      const held = await kv.lock('aborted', { ttl: 60_000 });
      const a = await step(p, 'abortWait', { name: 'aborted' });
      assert.equal(a.code, 'ERR_SHAREDKV_ABORTED');
      await held.release();
      // Had the aborted waiter stayed queued, the release would have granted it the lock.
      const again = await kv.tryLock('aborted');
      assert.notEqual(again, null);
      await again?.release();
      p.kill();
      await p.exited;
    });

    it('pub/sub and watch: every message once, in order per publisher; nothing after unsubscribe', async () => {
      const subs = await Promise.all([spawn(), spawn()]);
      const pubs = await Promise.all([spawn(), spawn()]);
      for (const s of subs) {
        await step(s, 'subscribe', { channel: 'news' });
        await step(s, 'watch', { pattern: 'seq:*' });
      }
      const [r1, r2] = await Promise.all([
        step(pubs[0]!, 'publish', { channel: 'news', n: 500, tag: 'a' }),
        step(pubs[1]!, 'publish', { channel: 'news', n: 500, tag: 'b' }),
        step(pubs[0]!, 'setSeq', { prefix: 'seq:', n: 300, tag: 'a' }),
        step(pubs[1]!, 'setSeq', { prefix: 'seq:', n: 300, tag: 'b' }),
      ]);
      assert.equal(r1!.receivers, 1000, 'each publish reached both subscribers');
      assert.equal(r2!.receivers, 1000);
      for (const s of subs) {
        let messages: Array<{ from: string; seq: number }> = [];
        await waitUntil(async () => {
          messages = (await step(s, 'inbox', { key: 'news' })).messages as typeof messages;
          return messages.length >= 1000;
        });
        assert.equal(messages.length, 1000);
        for (const tag of ['a', 'b']) {
          assert.deepEqual(
            messages.filter((m) => m.from === tag).map((m) => m.seq),
            Array.from({ length: 500 }, (_, i) => i),
          );
        }
        let events: Array<{ key: string; op: string; value: { seq: number } }> = [];
        await waitUntil(async () => {
          events = (await step(s, 'inbox', { key: 'watch:seq:*' })).messages as typeof events;
          return events.length >= 600;
        });
        assert.equal(events.length, 600);
        for (const tag of ['a', 'b']) {
          assert.deepEqual(
            events.filter((e) => e.key === `seq:${tag}`).map((e) => e.value.seq),
            Array.from({ length: 300 }, (_, i) => i),
          );
        }
        await step(s, 'off', { key: 'news' });
      }
      const after = await step(pubs[0]!, 'publish', { channel: 'news', n: 10, tag: 'late' });
      assert.equal(after.receivers, 0);
      for (const p of [...subs, ...pubs]) p.kill();
      await Promise.all([...subs, ...pubs].map((p) => p.exited));
    });

    it('10,000 subscribe/unsubscribe cycles leave no listener and no registration behind', async () => {
      const p = await spawn();
      const r = await step(p, 'subUnsubLoop', { n: 10_000 });
      assert.equal(r.warnings, 0);
      assert.equal(r.receivers, 0);
      p.kill();
      await p.exited;
    });

    it('a stored procedure runs atomically; one that throws midway leaves no partial write', async () => {
      const p = await spawn();
      await kv.mset({ acctA: 10, acctB: 0 });
      const ok = await step(p, 'call', { name: 'transfer', args: ['acctA', 'acctB', 4] });
      assert.equal(ok.value, 4);
      const bad = await step(p, 'call', { name: 'transfer', args: ['acctA', 'acctB', 100] });
      assert.equal(bad.code, 'ERR_SHAREDKV_PROCEDURE_FAILED');
      assert.deepEqual(await kv.mget(['acctA', 'acctB']), [6, 4]);
      const missing = await step(p, 'call', { name: 'nope', args: [] });
      assert.equal(missing.code, 'ERR_SHAREDKV_BAD_ARGUMENT');
      p.kill();
      await p.exited;
    });
  });
}

describe('many workers', () => {
  it('8 workers x 1,000 withLock read-modify-write sections end exact', async () => {
    await kv.del('rmw-counter');
    const workers = await Promise.all(Array.from({ length: 8 }, () => transports['cluster/socket']()));
    await Promise.all(workers.map((w) => step(w, 'withLockRmw', { n: 1000, key: 'rmw-counter' })));
    assert.equal(await kv.get('rmw-counter'), 8000);
    for (const w of workers) w.kill();
    await Promise.all(workers.map((w) => w.exited));
  });
});
