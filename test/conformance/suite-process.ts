/**
 * Conformance: stats and ping, closing a store, and two views of the same data (the `peer`: another
 * session, for remote backends another process) seeing each other's writes.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { StoreStats } from '../../src/types.js';
import { deferred, type Suite } from './suite.js';

export function processTests(s: Suite): void {
  describe('stats and ping', () => {
    s.test('ping resolves with a round-trip time in ms', async () => {
      const ms = await s.store.ping();
      assert.equal(typeof ms, 'number');
      assert.ok(ms >= 0 && ms < 5_000, `ping ${ms}`);
    });

    s.test('stats reports keys, bytes and counters that follow the calls', async () => {
      await s.store.mset({ a: 'x'.repeat(1_000), b: 2, c: 3 });
      const before = await s.store.stats();
      assert.equal(before.keys, 3);
      assert.ok(before.bytes >= 1_000, `bytes ${before.bytes}`);
      await s.store.get('a');
      await s.store.get('missing');
      await s.store.get('missing too');
      const after = await s.store.stats();
      assert.equal(after.hits - before.hits, 1);
      assert.equal(after.misses - before.misses, 2);
      assert.equal((after.commands.get ?? 0) - (before.commands.get ?? 0), 3);
      assert.ok((after.commands.mset ?? 0) >= 1);
    });

    s.test('stats has every documented field, each a non-negative number', async () => {
      const stats = await s.store.stats();
      const fields: Array<keyof StoreStats> = [
        'keys',
        'bytes',
        'clients',
        'pending',
        'hits',
        'misses',
        'expired',
        'uptime',
      ];
      for (const f of fields) {
        assert.equal(typeof stats[f], 'number', f);
        assert.ok((stats[f] as number) >= 0, f);
      }
      assert.equal(typeof stats.commands, 'object');
    });

    s.test('stats counts expired keys', async () => {
      const before = (await s.store.stats()).expired;
      await s.store.set('k', 1, { ttl: 30 });
      await s.store.set('control', 1, { ttl: 30 });
      // Reading the keys after their ttl removes them (lazily) and counts them.
      for (;;) {
        const [k, c] = await s.store.mget(['k', 'control']);
        if (k === undefined && c === undefined) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal((await s.store.stats()).expired - before, 2);
    });
  });

  describe('lifecycle', () => {
    s.test(
      'a second store shares the data; once closed its calls reject with ERR_SHAREDKV_CLOSED',
      async () => {
        const second = await s.second();
        try {
          await second.store.ready();
          await second.store.set('from second', new Set([1n]));
          assert.deepStrictEqual(await s.store.get('from second'), new Set([1n]));
          await s.store.set('from first', 'hi');
          assert.equal(await second.store.get('from first'), 'hi');
          await second.store.close();
          await second.store.close();
          await assert.rejects(second.store.get('from first'), { code: 'ERR_SHAREDKV_CLOSED' });
          await assert.rejects(second.store.set('x', 1), { code: 'ERR_SHAREDKV_CLOSED' });
        } finally {
          await second.close();
        }
        // The first store is untouched by the other one closing.
        assert.equal(await s.store.get('from first'), 'hi');
        assert.equal(await s.store.has('x'), false);
      },
      'lifecycle',
    );
  });

  describe('peer', () => {
    s.test(
      "each side reads the other's writes with full fidelity",
      async () => {
        const value = { m: new Map([[1n, new Date(3)]]), u: new Uint8Array([7]), n: Number.NaN, x: undefined };
        await s.store.set('from store', value);
        assert.deepStrictEqual(await s.peer.get('from store'), value);
        await s.peer.set('from peer', value, { ttl: 60_000 });
        assert.deepStrictEqual(await s.store.get('from peer'), value);
        assert.ok((await s.store.ttl('from peer')) > 0);
        assert.equal(await s.peer.del('from store'), 1);
        assert.equal(await s.store.has('from store'), false);
      },
      'peer',
    );

    s.test(
      'concurrent incr from both sides: 200 calls end at exactly 200',
      async () => {
        await Promise.all([
          ...Array.from({ length: 100 }, () => s.store.incr('n')),
          ...Array.from({ length: 100 }, () => s.peer.incr('n')),
        ]);
        assert.equal(await s.store.get('n'), 200);
        assert.equal(await s.peer.get('n'), 200);
      },
      'peer',
    );

    s.test(
      'getOrSet missed on both sides at once runs one loader in total',
      async () => {
        const gate = deferred();
        let calls = 0;
        const loader = async () => {
          calls++;
          await gate.promise;
          return 'once';
        };
        const all = [
          ...Array.from({ length: 10 }, () => s.store.getOrSet('k', loader)),
          ...Array.from({ length: 10 }, () => s.peer.getOrSet('k', loader)),
        ];
        await new Promise((r) => setTimeout(r, 50));
        gate.resolve();
        assert.deepEqual(await Promise.all(all), Array(20).fill('once'));
        assert.equal(calls, 1);
      },
      'peer',
    );

    s.test(
      'a load failing on one side is taken over by a caller waiting on the other',
      async () => {
        const gate = deferred();
        const started = deferred();
        const failing = s.store.getOrSet('k', async () => {
          started.resolve();
          await gate.promise;
          throw Object.assign(new Error('no'), { code: 'E_LOADER' });
        });
        const failed = assert.rejects(failing, { code: 'E_LOADER' });
        await started.promise;
        const waiting = s.peer.getOrSet('k', () => 'peer loaded');
        await new Promise((r) => setTimeout(r, 30));
        gate.resolve();
        await failed;
        assert.equal(await waiting, 'peer loaded');
        assert.equal(await s.store.get('k'), 'peer loaded');
      },
      'peer',
    );

    s.test(
      'namespaces are the same on both sides',
      async () => {
        await s.store.namespace('shared').set('k', 1);
        assert.equal(await s.peer.namespace('shared').get('k'), 1);
        assert.equal(await s.peer.namespace('shared').clear(), 1);
        assert.equal(await s.store.namespace('shared').size(), 0);
      },
      'peer',
    );
  });
}
