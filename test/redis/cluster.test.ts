/**
 * The conformance suite on a real Redis Cluster of 3 masters started for this file: the store connects by
 * node URLs, the peer through an ioredis Cluster client. The suite's multi-key calls stay within one
 * namespace (or the root's plain keys), each of which lives in one hash slot.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { connectRedis } from '../../src/backends/redis/index.js';
import type { WatchEvent } from '../../src/index.js';
import { CONFORMANCE_PROCEDURES } from '../conformance/procedures.js';
import { runConformance, storePair } from '../conformance/suite.js';
import { type RedisClusterServers, redisSkipReason, startRedisCluster } from '../helpers/redis-server.js';

const skip = redisSkipReason();
if (skip) {
  describe('conformance: redis cluster', { skip }, () => {});
} else {
  let servers: RedisClusterServers;
  const clients: Cluster[] = [];
  before(async () => {
    servers = await startRedisCluster(3);
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await servers?.stop();
  });
  runConformance(
    'conformance: redis cluster',
    async () => {
      const procedures = CONFORMANCE_PROCEDURES;
      const store = await connectRedis({ redis: servers.nodes.map((s) => s.url), procedures });
      const client = new Cluster(servers.startup);
      clients.push(client);
      const peer = await connectRedis({ redis: client, procedures });
      return storePair(store, peer);
    },
    {
      lacks: {
        receiverCount:
          'PUBLISH on a cluster counts only the subscribers connected to the node that took it (docs/redis.md)',
      },
    },
  );

  describe('redis cluster specifics', () => {
    it('spreads namespaces over the masters, and keeps a namespace in one slot', async () => {
      const kv = await connectRedis({ redis: servers.nodes.map((s) => s.url), prefix: 'spread' });
      try {
        const names = Array.from({ length: 30 }, (_, i) => `ns${i}`);
        await Promise.all(names.map((n) => kv.namespace(n).mset({ a: 1, b: 2, c: 3 })));
        const perNode = await Promise.all(
          servers.nodes.map(async (s) => {
            const c = new Cluster(servers.startup);
            try {
              await c.ping();
              const node = c.nodes('master').find((n) => n.options.port === s.port);
              return node ? (await node.keys('{spread:*')).length : 0;
            } finally {
              c.disconnect();
            }
          }),
        );
        assert.equal(
          perNode.reduce((a, b) => a + b, 0),
          90,
        );
        assert.ok(perNode.filter((n) => n > 0).length >= 2, `keys on ${perNode.join('/')} per master`);
        assert.equal(await kv.size(), 90);
        assert.deepEqual(await kv.namespace('ns7').batch().incr('a').get('c').exec(), [2, 3]);
      } finally {
        await kv.clear();
        await kv.close();
      }
    });

    it('pub/sub, watch (with expiry on every master), locks with fencing and procedures work on the cluster', async () => {
      const urls = servers.nodes.map((s) => s.url);
      const a = await connectRedis({ redis: urls, prefix: 'co' });
      const b = await connectRedis({ redis: urls, prefix: 'co' });
      try {
        const messages: unknown[] = [];
        const events: WatchEvent[] = [];
        const offSub = await a.subscribe('ch*', (m) => messages.push(m));
        const offWatch = await a.watch('*', (e) => events.push(e));
        // On a cluster the count covers only the node that took the publish, so it is not checked here.
        await b.publish('chat', 'hi');
        // Keys of several namespaces, so of several masters.
        const names = Array.from({ length: 9 }, (_, i) => `n${i}:k`);
        for (const k of names) await b.set(k, k, { ttl: 30 });
        const deadline = performance.now() + 5000;
        while (events.filter((e) => e.op === 'expire').length < names.length || messages.length < 1) {
          if (performance.now() > deadline) throw new Error(`events: ${JSON.stringify(events)}`);
          await new Promise((r) => setTimeout(r, 20));
          // Reading expired keys makes Redis expire them now (as its own sampling would, later).
          await b.mget(names);
        }
        assert.deepEqual(messages, ['hi']);
        // Events of one namespace keep their order; those of namespaces on different masters may not.
        assert.deepEqual(
          events
            .filter((e) => e.op === 'set')
            .map((e) => e.key)
            .sort(),
          names,
        );
        assert.deepEqual(
          events
            .filter((e) => e.op === 'expire')
            .map((e) => e.key)
            .sort(),
          [...names].sort(),
        );
        await offSub();
        await offWatch();

        // One publisher's messages on a channel arrive in order, whichever node each subscriber uses.
        const inOrder: number[] = [];
        const offOrder = await a.subscribe('orders', (m) => inOrder.push(m as number));
        await Promise.all(Array.from({ length: 200 }, (_, i) => b.publish('orders', i)));
        const end = performance.now() + 5000;
        while (inOrder.length < 200 && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(
          inOrder,
          Array.from({ length: 200 }, (_, i) => i),
        );
        await offOrder();
        const perNamespace: string[] = [];
        const offNs = await a.watch('n1:*', (e) => perNamespace.push(`${e.key}=${e.value}`));
        for (let i = 0; i < 50; i++) await b.set(`n1:${i % 3}`, i);
        while (perNamespace.length < 50 && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(
          perNamespace,
          Array.from({ length: 50 }, (_, i) => `n1:${i % 3}=${i}`),
        );
        await offNs();

        const jobs = a.namespace('jobs');
        const lock = await jobs.lock('nightly', { ttl: 60_000 });
        assert.equal(await b.namespace('jobs').tryLock('nightly'), null);
        assert.equal(await jobs.set('state', 'running', { fence: lock }), true);
        await assert.rejects(a.set('elsewhere', 1, { fence: lock }), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
        await lock.release();

        a.define('move', ((tx: { decr(k: string, n: number): number; incr(k: string, n: number): number }) => {
          tx.decr('acct:a', 1);
          return tx.incr('acct:b', 1);
        }) as never);
        b.define('move', ((tx: { decr(k: string, n: number): number; incr(k: string, n: number): number }) => {
          tx.decr('acct:a', 1);
          return tx.incr('acct:b', 1);
        }) as never);
        await a.mset({ 'acct:a': 50, 'acct:b': 0 });
        await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).call('move')));
        assert.deepEqual(await a.mget(['acct:a', 'acct:b']), [10, 40]);
        assert.equal(
          await Promise.all([a.getOrSet('g:k', () => 'a'), b.getOrSet('g:k', () => 'b')]).then((v) => v[0] === v[1]),
          true,
        );
      } finally {
        await a.clear();
        await a.close();
        await b.close();
      }
    });

    it('refuses an atomic command across namespaces with ERR_SHAREDKV_BAD_ARGUMENT, and splits reads', async () => {
      const kv = await connectRedis({ redis: servers.nodes.map((s) => s.url), prefix: 'cross' });
      try {
        await assert.rejects(kv.mset({ 'a:x': 1, 'b:y': 2 }), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
        await assert.rejects(kv.batch().set('a:x', 1).set('b:y', 2).exec(), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
        assert.equal(await kv.size(), 0, 'nothing was written');
        await kv.set('a:x', 1);
        await kv.set('b:y', 2);
        await kv.set('plain', 3);
        assert.deepEqual(await kv.mget(['a:x', 'b:y', 'plain', 'none']), [1, 2, 3, undefined]);
        assert.equal(await kv.del(['a:x', 'b:y', 'plain']), 3);
      } finally {
        await kv.close();
      }
    });
  });
}
