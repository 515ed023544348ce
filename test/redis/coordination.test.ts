/**
 * Locks, semaphores, pub/sub, watch and stored procedures on Redis, between two stores (two sessions, as two
 * processes would have). The multi-process cases (kill -9, SIGSTOP) are in processes.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { connectRedis, type RedisStore } from '../../src/backends/redis/index.js';
import type { WatchEvent } from '../../src/index.js';
import { type RedisServer, redisSkipReason, startRedis } from '../helpers/redis-server.js';

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const skip = redisSkipReason();
describe('coordination on Redis', { skip }, () => {
  let server: RedisServer;
  let a: RedisStore;
  let b: RedisStore;
  let raw: Redis;
  before(async () => {
    server = await startRedis();
    a = await connectRedis({ redis: server.url, prefix: 'co', lockLiveness: 6000 });
    b = await connectRedis({ redis: server.url, prefix: 'co', lockLiveness: 6000 });
    raw = new Redis(server.url);
  });
  after(async () => {
    raw?.disconnect();
    await a?.close();
    await b?.close();
    await server?.stop();
  });
  beforeEach(async () => {
    await a.clear();
  });

  describe('locks', () => {
    it('tryLock, release, extend; a lease ends at its ttl; tokens only grow', async () => {
      const l1 = await a.lock('L', { ttl: 5000 });
      assert.equal(await b.tryLock('L'), null);
      await l1.extend(10_000);
      assert.equal(await l1.release(), true);
      assert.equal(await l1.release(), false, 'released twice');
      const l2 = (await b.tryLock('L', { ttl: 60 }))!;
      assert.ok(l2.token > l1.token);
      await until(async () => (await a.tryLock('L').then((l) => l?.release())) === true, 'the lease ends');
      assert.equal(await l2.release(), false, 'its lease had ended');
      await assert.rejects(l2.extend(1000), { code: 'ERR_SHAREDKV_LOCK_LOST' });
    });

    it('a waiter gets the lock on release at once, and ERR_SHAREDKV_TIMEOUT when its wait passes', async () => {
      const held = await a.lock('W', { ttl: 60_000 });
      await assert.rejects(b.lock('W', { wait: 100 }), { code: 'ERR_SHAREDKV_TIMEOUT' });
      assert.equal(await raw.zcard('{co}#lq:W'), 0, 'the timed-out waiter left the line');
      const waiting = b.lock('W', { wait: 5000 });
      await until(async () => (await raw.zcard('{co}#lq:W')) === 1, 'the waiter queues');
      const released = performance.now();
      await held.release();
      const got = await waiting;
      // Waiters poll only every lockLiveness / 3 = 2 s: a grant within 1 s came from the release's announcement.
      assert.ok(performance.now() - released < 1000, 'woken by the release, not by polling');
      await got.release();
    });

    it('an aborted wait leaves no waiter behind', async () => {
      const held = await a.lock('A', { ttl: 60_000 });
      const ac = new AbortController();
      const waiting = b.lock('A', { wait: 60_000, signal: ac.signal });
      await until(async () => (await raw.zcard('{co}#lq:A')) === 1, 'the waiter queues');
      ac.abort();
      await assert.rejects(waiting, { code: 'ERR_SHAREDKV_ABORTED' });
      await until(async () => (await raw.zcard('{co}#lq:A')) === 0, 'the aborted waiter leaves');
      await held.release();
      const again = await a.tryLock('A');
      assert.notEqual(again, null);
      await again?.release();
    });

    it('withLock releases when fn throws, and reports a lease lost meanwhile', async () => {
      await assert.rejects(
        a.withLock('T', () => {
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.notEqual(await b.tryLock('T').then(async (l) => (await l?.release()) && l), null);
      await assert.rejects(
        a.withLock('T', () => new Promise((r) => setTimeout(r, 150)), { ttl: 50 }),
        { code: 'ERR_SHAREDKV_LOCK_LOST' },
      );
    });

    it('semaphores: at most limit holders, FIFO waiters, and a limit mismatch is refused', async () => {
      const s = a.semaphore('S', 2);
      const p1 = await s.acquire({ ttl: 60_000 });
      const p2 = await b.semaphore('S', 2).acquire({ ttl: 60_000 });
      assert.equal(await s.tryAcquire(), null);
      await assert.rejects(a.lock('S', { wait: 0 }), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      const order: number[] = [];
      const w1 = b
        .semaphore('S', 2)
        .acquire({ wait: 5000 })
        .then((l) => {
          order.push(1);
          return l;
        });
      await until(async () => (await raw.zcard('{co}#lq:S')) === 1, 'first waiter queues');
      const w2 = a
        .semaphore('S', 2)
        .acquire({ wait: 5000 })
        .then((l) => {
          order.push(2);
          return l;
        });
      await until(async () => (await raw.zcard('{co}#lq:S')) === 2, 'second waiter queues');
      await p1.release();
      const l1 = await w1;
      await p2.release();
      const l2 = await w2;
      assert.deepEqual(order, [1, 2]);
      await l1.release();
      await l2.release();
      let active = 0;
      let most = 0;
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          (i % 2 ? a : b).semaphore('S3', 3).withPermit(
            async () => {
              active++;
              most = Math.max(most, active);
              await new Promise((r) => setTimeout(r, 10));
              active--;
            },
            { wait: 10_000 },
          ),
        ),
      );
      assert.equal(most, 3);
    });

    it('fenced writes: accepted with the live token, refused with a stale one, in batches too', async () => {
      const l1 = await a.lock('F', { ttl: 40 });
      assert.equal(await a.set('f', 1, { fence: l1 }), true);
      await until(async () => (await b.tryLock('F', { ttl: 60_000 }).then((l) => l !== null)) === true, 'F frees');
      await assert.rejects(a.set('f', 2, { fence: l1 }), { code: 'ERR_SHAREDKV_LOCK_LOST' });
      await assert.rejects(
        a.batch().set('g', 1).set('f', 3, { fence: l1 }).exec(),
        (err: { code: string; data: { index: number } }) => {
          assert.equal(err.code, 'ERR_SHAREDKV_LOCK_LOST');
          assert.equal(err.data.index, 1);
          return true;
        },
      );
      assert.equal(await a.has('g'), false, 'nothing of the batch applied');
      assert.equal(await a.get('f'), 1);
      await assert.rejects(a.set('f', 4, { fence: { lock: 'F', token: 999 } }), { code: 'ERR_SHAREDKV_LOCK_LOST' });
      const ns = a.namespace('app');
      const nl = await ns.lock('job', { ttl: 60_000 });
      assert.equal(await ns.set('state', 'running', { fence: nl }), true, 'namespaced lock fences namespaced key');
      await nl.release();
    });
  });

  describe('pub/sub', () => {
    it('delivers in order to every subscriber, with patterns, and counts receivers', async () => {
      const got: unknown[] = [];
      const pattern: Array<[unknown, string, string | undefined]> = [];
      const off1 = await a.subscribe('news', (m) => got.push(m));
      const off2 = await b.subscribe('ne*', (m, c, p) => pattern.push([m, c, p]));
      const values = [1, { deep: new Map([[1n, new Date(2)]]) }, 'x', null];
      const counts = await Promise.all(values.map((v) => b.publish('news', v)));
      assert.deepEqual(counts, [2, 2, 2, 2]);
      await until(() => got.length === 4 && pattern.length === 4, 'all delivered');
      assert.deepStrictEqual(got, values);
      assert.deepStrictEqual(
        pattern.map((p) => p[0]),
        values,
      );
      assert.deepEqual(pattern[0]?.slice(1), ['news', 'ne*']);
      await off1();
      await off2();
      assert.equal(await a.publish('news', 1), 0);
    });

    it('namespaced channels and the iterator form', async () => {
      const ns = b.namespace('room');
      const sub = ns.subscribe<string>('chat');
      await sub.ready;
      assert.equal(await a.publish('room:chat', 'hello'), 1, 'the root sees the namespaced channel');
      const first = await sub.next();
      assert.deepEqual(first.value, { channel: 'chat', message: 'hello' });
      await sub.unsubscribe();
      assert.equal(await a.publish('room:chat', 'bye'), 0);
    });

    it('1,000 subscribe/unsubscribe cycles leave no registration behind', async () => {
      for (let i = 0; i < 1000; i++) {
        const off = await a.subscribe('churn', () => {});
        await off();
      }
      assert.equal(await b.publish('churn', 1), 0);
      assert.deepEqual(await raw.pubsub('CHANNELS', 'co:*'), []);
    });
  });

  describe('watch', () => {
    it('sees set and del by any store, with values, in order; expire events through keyspace notifications', async () => {
      const events: WatchEvent[] = [];
      const off = await a.watch('seq:*', (e) => events.push(e));
      await Promise.all(Array.from({ length: 50 }, (_, i) => b.set('seq:a', { i })));
      await b.batch().set('seq:b', 1).incr('seq:b').del('seq:b').exec();
      await b.set('other', 1);
      await b.expire('seq:a', 30);
      await until(() => events.length >= 54, 'events arrive', 5000);
      assert.deepEqual(
        events.slice(0, 50).map((e) => (e.value as { i: number }).i),
        Array.from({ length: 50 }, (_, i) => i),
      );
      assert.deepEqual(events.slice(50), [
        { key: 'seq:b', op: 'set', value: 1 },
        { key: 'seq:b', op: 'set', value: 2 },
        { key: 'seq:b', op: 'del' },
        { key: 'seq:a', op: 'expire' },
      ]);
      const flags = (await raw.config('GET', 'notify-keyspace-events')) as unknown as string[];
      assert.match(flags[1] ?? '', /E/, 'keyspace notifications were turned on');
      await off();
      await b.set('seq:c', 1);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(events.length, 54, 'nothing after unwatch');
    });

    it('namespaced watches see their keys without the prefix', async () => {
      const events: WatchEvent[] = [];
      const off = await b.namespace('cfg').watch('*', (e) => events.push(e));
      await a.set('cfg:x', 'on');
      await a.set('cfgx', 'not in the namespace');
      await until(() => events.length === 1, 'event');
      await new Promise((r) => setTimeout(r, 30));
      assert.deepEqual(events, [{ key: 'x', op: 'set', value: 'on' }]);
      await off();
    });
  });

  describe('stored procedures', () => {
    const transfer = (tx: Parameters<Parameters<RedisStore['define']>[1]>[0], from: string, to: string, n: number) => {
      tx.decr(from, n);
      tx.incr(to, n);
      if ((tx.get<number>(from) ?? 0) < 0) throw new Error('insufficient funds');
      return tx.get(to);
    };

    it('runs atomically; one that throws midway leaves no partial write', async () => {
      a.define('transfer', transfer as never);
      await a.mset({ acctA: 10, acctB: 0 });
      assert.equal(await a.call('transfer', 'acctA', 'acctB', 4), 4);
      await assert.rejects(a.call('transfer', 'acctA', 'acctB', 100), { code: 'ERR_SHAREDKV_PROCEDURE_FAILED' });
      assert.deepEqual(await a.mget(['acctA', 'acctB']), [6, 4]);
      await assert.rejects(a.call('nope'), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      a.define('wrong', ((tx: { incr(k: string): number }) => tx.incr('acctS')) as never);
      await a.set('acctS', 'text');
      await assert.rejects(a.call('wrong'), { code: 'ERR_SHAREDKV_WRONG_TYPE' });
      a.define('async', (async () => 1) as never);
      await assert.rejects(a.call('async'), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
    });

    it('two stores calling concurrently on the same keys stay exact (optimistic retries)', async () => {
      a.define('transfer', transfer as never);
      b.define('transfer', transfer as never);
      await a.mset({ x: 1000, y: 0 });
      await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).call('transfer', 'x', 'y', 1)));
      assert.deepEqual(await a.mget(['x', 'y']), [900, 100]);
    });

    it('sees its own writes, ttl and keys, and publishes watch events only on commit', async () => {
      const events: WatchEvent[] = [];
      const off = await b.watch('p:*', (e) => events.push(e));
      a.define('mix', ((tx: {
        set(k: string, v: unknown, o?: object): boolean;
        get(k: string): unknown;
        keys(p: string): string[];
        ttl(k: string): number;
        expire(k: string, t: number): boolean;
        del(...k: string[]): number;
        has(k: string): boolean;
      }) => {
        tx.set('p:1', 'one', { ttl: 60_000 });
        tx.set('p:2', 'two');
        const keys = tx.keys('p:*').sort();
        const ttl = tx.ttl('p:1') > 0;
        tx.expire('p:2', 60_000);
        tx.del('p:0');
        return { keys, ttl, has: tx.has('p:0'), nx: tx.set('p:1', 'x', { nx: true }), got: tx.get('p:1') };
      }) as never);
      await a.set('p:0', 'zero');
      assert.deepEqual(await a.call('mix'), {
        keys: ['p:0', 'p:1', 'p:2'],
        ttl: true,
        has: false,
        nx: false,
        got: 'one',
      });
      assert.deepEqual((await a.keys('p:*')).sort(), ['p:1', 'p:2']);
      assert.ok((await a.ttl('p:2')) > 0);
      await until(() => events.length === 4, 'events');
      assert.deepEqual(
        events.map((e) => [e.key, e.op]),
        [
          ['p:0', 'set'],
          ['p:1', 'set'],
          ['p:2', 'set'],
          ['p:0', 'del'],
        ],
      );
      await off();
    });
  });
});
