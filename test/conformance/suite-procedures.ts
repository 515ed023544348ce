/**
 * Conformance: stored procedures (`call`). The procedures are those of procedures.ts, which every factory
 * registers where its backend runs them (the memory owner; on Redis, each store).
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { WatchEvent } from '../../src/types.js';
import { type Suite, waitUntil } from './suite.js';

export function procedureTests(s: Suite): void {
  describe('stored procedures', () => {
    s.test(
      'call runs a procedure atomically and answers its value; one that throws leaves no write behind',
      async () => {
        await s.store.mset({ a: 10, b: 0 });
        assert.equal(await s.store.call('transfer', 'a', 'b', 4), 4);
        await assert.rejects(s.store.call('transfer', 'a', 'b', 100), { code: 'ERR_SHAREDKV_PROCEDURE_FAILED' });
        assert.deepEqual(await s.store.mget(['a', 'b']), [6, 4]);
        await assert.rejects(s.store.call('no such procedure'), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      },
      'procedures',
    );

    s.test(
      'arguments and the answer keep full fidelity',
      async () => {
        const args = [new Map([[1n, new Date(5)]]), [1, 'x', null], { nested: new Set([Number.NaN]) }];
        assert.deepStrictEqual(await s.store.call('echo', ...args), args);
      },
      'procedures',
    );

    s.test(
      'a procedure reads its own writes, with their ttl and in keys()',
      async () => {
        assert.deepStrictEqual(await s.store.call('readOwnWrites', 'p:k'), {
          before: false,
          after: { by: 'procedure' },
          ttl: true,
          keys: ['p:k'],
        });
        assert.deepStrictEqual(await s.store.get('p:k'), { by: 'procedure' });
        assert.ok((await s.store.ttl('p:k')) > 0);
      },
      'procedures',
    );

    s.test('calls from both sides at once stay exact', async () => {
      await s.store.mset({ x: 100, y: 0 });
      await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? s.store : s.peer).call('transfer', 'x', 'y', 1)));
      assert.deepEqual(await s.peer.mget(['x', 'y']), [40, 60]);
    }, ['peer', 'procedures']);

    s.test('watchers hear the writes of a procedure that commits, and none of one that fails', async () => {
      const events: WatchEvent[] = [];
      const off = await s.store.watch('acct:*', (e) => events.push(e));
      await s.peer.mset({ 'acct:a': 1, 'acct:b': 0 });
      await waitUntil(() => events.length >= 2, 'the mset is reported');
      events.length = 0;
      await assert.rejects(s.peer.call('transfer', 'acct:a', 'acct:b', 5), {
        code: 'ERR_SHAREDKV_PROCEDURE_FAILED',
      });
      assert.equal(await s.peer.call('transfer', 'acct:a', 'acct:b', 1), 1);
      await waitUntil(() => events.length >= 2, 'the transfer is reported');
      assert.deepStrictEqual(events, [
        { key: 'acct:a', op: 'set', value: 0 },
        { key: 'acct:b', op: 'set', value: 1 },
      ]);
      await off();
    }, ['peer', 'procedures']);
  });
}
