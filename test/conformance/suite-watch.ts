/**
 * Conformance: watching keys. Events `{ key, op, value? }` for the changes any session makes (set, del,
 * expiry), in the order one writer made them, for the keys of the watch's pattern and namespace only,
 * and none after unwatch.
 *
 * To show that an event did *not* come, a test makes a last change that must be reported after it (same
 * writer, so in order) and checks once that one is in.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { WatchEvent } from '../../src/types.js';
import { type Suite, waitUntil } from './suite.js';

export function watchTests(s: Suite): void {
  describe('watch', () => {
    s.test(
      "watch reports the peer's set, del and expiry of matching keys, with the new value for set",
      async () => {
        const events: WatchEvent[] = [];
        const off = await s.store.watch('w:*', (e) => events.push(e));
        await s.peer.set('w:a', { x: new Map([[1, 2n]]) });
        await s.peer.set('other', 1);
        await s.peer.del('w:a');
        await s.peer.del('w:missing');
        await s.peer.set('w:b', 1, { ttl: 40 });
        // Reading the key after its ttl expires it now on every backend (as the sweep would, later).
        await waitUntil(async () => {
          await s.peer.get('w:b');
          return events.length >= 4;
        }, 'the expiry is reported');
        assert.deepStrictEqual(events, [
          { key: 'w:a', op: 'set', value: { x: new Map([[1, 2n]]) } },
          { key: 'w:a', op: 'del' },
          { key: 'w:b', op: 'set', value: 1 },
          { key: 'w:b', op: 'expire' },
        ]);
        await off();
      },
      'peer',
    );

    s.test('a store sees its own changes; a watch of a plain key sees only that key', async () => {
      const events: WatchEvent[] = [];
      const off = await s.store.watch('acct', (e) => events.push(e));
      await s.store.set('acct2', 0);
      await s.store.set('acct', 1);
      await s.store.incr('acct', 2);
      await s.store.del('acct');
      await waitUntil(() => events.length >= 3, 'three events');
      assert.deepStrictEqual(events, [
        { key: 'acct', op: 'set', value: 1 },
        { key: 'acct', op: 'set', value: 3 },
        { key: 'acct', op: 'del' },
      ]);
      await off();
    });

    s.test(
      'each command of a batch is reported, in order',
      async () => {
        const events: WatchEvent[] = [];
        const off = await s.store.watch('b:*', (e) => events.push(e));
        await s.peer.batch().set('b:1', 1).incr('b:1').set('b:2', 'two').del('b:1').exec();
        await waitUntil(() => events.length >= 4, 'four events');
        assert.deepStrictEqual(events, [
          { key: 'b:1', op: 'set', value: 1 },
          { key: 'b:1', op: 'set', value: 2 },
          { key: 'b:2', op: 'set', value: 'two' },
          { key: 'b:1', op: 'del' },
        ]);
        await off();
      },
      'peer',
    );

    s.test(
      'a cas of a batch is reported as a set or del when it matches, and not at all when it does not',
      async () => {
        const events: WatchEvent[] = [];
        const off = await s.store.watch('c:*', (e) => events.push(e));
        await s.peer.set('c:0', 'start');
        await s.peer
          .batch()
          .cas('c:1', undefined, 1)
          .cas('c:1', 5, 6)
          .cas('c:0', 'start', new Map([['n', 1n]]))
          .cas('c:1', 1, undefined)
          .cas('c:1', 1, 'absent by now')
          .set('c:end', true)
          .exec();
        await waitUntil(() => events.length >= 5, 'five events');
        assert.deepStrictEqual(events, [
          { key: 'c:0', op: 'set', value: 'start' },
          { key: 'c:1', op: 'set', value: 1 },
          { key: 'c:0', op: 'set', value: new Map([['n', 1n]]) },
          { key: 'c:1', op: 'del' },
          { key: 'c:end', op: 'set', value: true },
        ]);
        await off();
      },
      'peer',
    );

    s.test(
      "one writer's changes are reported in the order it made them",
      async () => {
        const seen: number[] = [];
        const off = await s.store.watch('seq', (e) => seen.push(e.value as number));
        const n = 100;
        await Promise.all(Array.from({ length: n }, (_, i) => s.peer.set('seq', i)));
        await waitUntil(() => seen.length === n, `${n} events`);
        assert.deepEqual(
          seen,
          Array.from({ length: n }, (_, i) => i),
        );
        await off();
      },
      'peer',
    );

    s.test(
      'a namespace watches only its own keys, reported without the prefix',
      async () => {
        const events: WatchEvent[] = [];
        const off = await s.store.namespace('cfg').watch('*', (e) => events.push(e));
        await s.peer.namespace('cfg').set('x', 'on');
        await s.peer.set('cfgx', 'not in the namespace');
        await s.peer.namespace('other').set('x', 'another namespace');
        await s.peer.set('cfg:y', 'by full name');
        await waitUntil(() => events.length >= 2, 'two events');
        assert.deepStrictEqual(events, [
          { key: 'x', op: 'set', value: 'on' },
          { key: 'y', op: 'set', value: 'by full name' },
        ]);
        await off();
      },
      'peer',
    );

    s.test(
      'nothing is reported after unwatch; unwatching twice is harmless; other watches keep receiving',
      async () => {
        const gone: WatchEvent[] = [];
        const kept: WatchEvent[] = [];
        const offGone = await s.store.watch('u:*', (e) => gone.push(e));
        const offKept = await s.store.watch('u:*', (e) => kept.push(e));
        await s.peer.set('u:1', 1);
        await waitUntil(() => gone.length === 1 && kept.length === 1, 'both watches see the first change');
        await offGone();
        await offGone();
        await s.peer.set('u:2', 2);
        await waitUntil(() => kept.length === 2, 'the other watch still receives');
        assert.equal(gone.length, 1);
        await offKept();
        const end: WatchEvent[] = [];
        const offEnd = await s.store.watch('u-end', (e) => end.push(e));
        await s.peer.set('u:3', 3);
        await s.peer.set('u-end', 'end');
        await waitUntil(() => end.length === 1, 'the last change');
        assert.equal(gone.length, 1);
        assert.equal(kept.length, 2);
        await offEnd();
      },
      'peer',
    );

    s.test('bad arguments reject with ERR_SHAREDKV_BAD_ARGUMENT', async () => {
      await assert.rejects(s.store.watch('w', 'not a function' as never), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      await assert.rejects(
        s.store.watch(42 as never, () => {}),
        { code: 'ERR_SHAREDKV_BAD_ARGUMENT' },
      );
    });
  });
}
