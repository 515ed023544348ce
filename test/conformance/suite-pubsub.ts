/**
 * Conformance: publish and subscribe between the store and its peer: delivery to every subscription with
 * full-fidelity values, receiver counts, patterns, order per publisher, unsubscribe, namespaces, and the
 * iterator form.
 *
 * To show that something did *not* arrive, a test publishes a last message that must arrive after it (same
 * publisher, so in order) and checks once that one is in.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { Message } from '../../src/types.js';
import { type Suite, waitUntil } from './suite.js';

type Delivery = [message: unknown, channel: string, pattern: string | undefined];

/** A subscribe handler that records every call. */
function recorder(): { got: Delivery[]; handler: (m: unknown, c: string, p?: string) => void } {
  const got: Delivery[] = [];
  return { got, handler: (m, c, p) => got.push([m, c, p]) };
}

export function pubsubTests(s: Suite): void {
  describe('pub/sub', () => {
    s.test(
      'a message reaches every subscription of its channel, on both sides, with full-fidelity values',
      async () => {
        const mine = recorder();
        const theirs = recorder();
        const offMine = await s.store.subscribe('news', mine.handler);
        const offTheirs = await s.peer.subscribe('news', theirs.handler);
        const values = [1, { deep: new Map([[1n, new Date(2)]]) }, 'x', null, [true, new Set(['a'])]];
        for (const [i, v] of values.entries()) await (i % 2 ? s.store : s.peer).publish('news', v);
        await waitUntil(() => mine.got.length === values.length && theirs.got.length === values.length, 'delivery');
        const expected = values.map((v) => [v, 'news', undefined]);
        assert.deepStrictEqual(mine.got, expected);
        assert.deepStrictEqual(theirs.got, expected);
        await offMine();
        await offTheirs();
      },
      'peer',
    );

    s.test('publish resolves with the number of subscriptions that received the message', async () => {
      assert.equal(await s.peer.publish('count', 1), 0, 'no subscriber');
      const offMine = await s.store.subscribe('count', () => {});
      assert.equal(await s.peer.publish('count', 1), 1);
      const offTheirs = await s.peer.subscribe('count', () => {});
      assert.equal(await s.store.publish('count', 1), 2);
      const offPattern = await s.store.subscribe('cou*', () => {});
      assert.equal(await s.peer.publish('count', 1), 3, 'a matching pattern counts as one more');
      assert.equal(await s.peer.publish('coupon', 1), 1, 'only the pattern matches');
      await offMine();
      await offTheirs();
      await offPattern();
      assert.equal(await s.peer.publish('count', 1), 0, 'none after unsubscribe');
    }, ['peer', 'receiverCount']);

    s.test(
      'a pattern subscription gets the channel and the pattern that matched, and nothing else',
      async () => {
        const star = recorder();
        const mark = recorder();
        const offStar = await s.store.subscribe('ne*', star.handler);
        const offMark = await s.store.subscribe('n?ws', mark.handler);
        await s.peer.publish('news', 'first');
        await s.peer.publish('other', 'not for them');
        await s.peer.publish('nest', 'star only');
        await s.peer.publish('news', 'last');
        await waitUntil(() => mark.got.length >= 2 && star.got.length >= 3, 'delivery');
        assert.deepStrictEqual(star.got, [
          ['first', 'news', 'ne*'],
          ['star only', 'nest', 'ne*'],
          ['last', 'news', 'ne*'],
        ]);
        assert.deepStrictEqual(mark.got, [
          ['first', 'news', 'n?ws'],
          ['last', 'news', 'n?ws'],
        ]);
        await offStar();
        await offMark();
      },
      'peer',
    );

    s.test(
      "one publisher's messages arrive in the order it sent them",
      async () => {
        const got: Array<{ from: string; i: number }> = [];
        const off = await s.store.subscribe('order', (m) => got.push(m as { from: string; i: number }));
        const n = 100;
        await Promise.all(
          Array.from({ length: n }, (_, i) => [
            s.peer.publish('order', { from: 'peer', i }),
            s.store.publish('order', { from: 'store', i }),
          ]).flat(),
        );
        await waitUntil(() => got.length === 2 * n, `${2 * n} messages`);
        for (const from of ['peer', 'store']) {
          assert.deepEqual(
            got.filter((m) => m.from === from).map((m) => m.i),
            Array.from({ length: n }, (_, i) => i),
            from,
          );
        }
        await off();
      },
      'peer',
    );

    s.test(
      'nothing arrives after unsubscribe; unsubscribing twice is harmless; other handlers keep receiving',
      async () => {
        const a = recorder();
        const b = recorder();
        const end = recorder();
        const offA = await s.store.subscribe('u', a.handler);
        const offB = await s.store.subscribe('u', b.handler);
        const offEnd = await s.store.subscribe('u-end', end.handler);
        await s.peer.publish('u', 1);
        await waitUntil(() => a.got.length === 1 && b.got.length === 1, 'both handlers receive');
        await offA();
        await offA();
        await s.peer.publish('u', 2);
        await waitUntil(() => b.got.length === 2, 'the other handler still receives');
        await offB();
        await s.peer.publish('u', 3);
        await s.peer.publish('u-end', 'end');
        await waitUntil(() => end.got.length === 1, 'the last message');
        assert.deepEqual(
          a.got.map((d) => d[0]),
          [1],
        );
        assert.deepEqual(
          b.got.map((d) => d[0]),
          [1, 2],
        );
        await offEnd();
      },
      'peer',
    );

    s.test(
      'a namespace hears only its own channels, named without the prefix; the root reaches them by full name',
      async () => {
        const room = s.store.namespace('room');
        const exact = recorder();
        const all = recorder();
        const offExact = await room.subscribe('chat', exact.handler);
        const offAll = await room.subscribe('*', all.handler);
        await s.peer.namespace('room').publish('chat', 1);
        await s.peer.namespace('hall').publish('chat', 'another namespace');
        await s.peer.publish('chat', 'the root');
        await s.peer.publish('room:chat', 2);
        await waitUntil(() => exact.got.length >= 2 && all.got.length >= 2, 'delivery');
        assert.deepStrictEqual(exact.got, [
          [1, 'chat', undefined],
          [2, 'chat', undefined],
        ]);
        assert.deepStrictEqual(all.got, [
          [1, 'chat', '*'],
          [2, 'chat', '*'],
        ]);
        await offExact();
        await offAll();
      },
      'peer',
    );

    s.test(
      'the iterator form yields messages until unsubscribed, and ends when for await is left',
      async () => {
        const sub = s.store.subscribe<number>('it');
        await sub.ready;
        await s.peer.publish('it', 1);
        await s.peer.publish('it', 2);
        assert.deepStrictEqual(await sub.next(), { value: { channel: 'it', message: 1 }, done: false });
        assert.deepStrictEqual(await sub.next(), { value: { channel: 'it', message: 2 }, done: false });
        const pending = sub.next();
        await sub.unsubscribe();
        assert.equal((await pending).done, true, 'a waiting next() ends');
        assert.equal((await sub.next()).done, true);

        const looped = s.store.namespace('loop').subscribe<string>('*');
        await looped.ready;
        await s.peer.publish('loop:a', 'x');
        const seen: Array<Message<string>> = [];
        for await (const m of looped) {
          seen.push(m);
          break;
        }
        assert.deepStrictEqual(seen, [{ channel: 'a', message: 'x', pattern: '*' }]);
        assert.equal((await looped.next()).done, true, 'leaving the loop unsubscribed');
      },
      'peer',
    );

    s.test('bad arguments reject with a code', async () => {
      await assert.rejects(s.store.subscribe('news', 'not a function' as never), {
        code: 'ERR_SHAREDKV_BAD_ARGUMENT',
      });
      await assert.rejects(
        s.store.subscribe(42 as never, () => {}),
        { code: 'ERR_SHAREDKV_BAD_ARGUMENT' },
      );
      await assert.rejects(s.store.publish(42 as never, 1), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      await assert.rejects(
        s.store.publish('news', () => 1),
        { code: 'ERR_SHAREDKV_NOT_SERIALIZABLE' },
      );
    });
  });
}
