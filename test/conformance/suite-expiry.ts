/**
 * Conformance: time to live on real clocks. Ttls are short and the tests poll for the expected state
 * instead of sleeping a fixed time; "still there" is proven against a control key with the same ttl that
 * has already gone. Where a test must see a short-lived key alive, it writes it atomically with the check
 * (a batch) or tolerates its absence only once its ttl has really passed, so a slow machine cannot fail it.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { Store } from '../../src/types.js';
import { type Suite, waitUntil } from './suite.js';

const SHORT = 60;
const MEDIUM = 150;
const LONG = 60_000;

/** Asserts that `ttl(key)` is within (0, ttl], or that the key is gone because `ttl` ms have passed. */
async function assertTtlWithin(store: Store, key: string, ttl: number, since: number): Promise<void> {
  const left = await store.ttl(key);
  if (left === -2) {
    const elapsed = performance.now() - since;
    assert.ok(elapsed >= ttl, `${key} expired after ${elapsed.toFixed(1)} ms, before its ttl of ${ttl} ms`);
    return;
  }
  assert.ok(left > 0 && left <= ttl, `ttl of ${key} is ${left}, expected within (0, ${ttl}]`);
}

export function expiryTests(s: Suite): void {
  describe('ttl', () => {
    s.test('a key set with a ttl reports it, then expires by itself', async () => {
      const since = performance.now();
      assert.equal(await s.store.set('k', 'v', { ttl: MEDIUM }), true);
      await assertTtlWithin(s.store, 'k', MEDIUM, since);
      await waitUntil(async () => !(await s.store.has('k')), 'the key expires');
      assert.ok(performance.now() - since >= MEDIUM - 1, 'not before its ttl');
      assert.equal(await s.store.get('k'), undefined);
      assert.equal(await s.store.ttl('k'), -2);
      assert.deepEqual(await s.store.keys(), []);
      assert.equal(await s.store.size(), 0);
    });

    s.test('a key written with a ttl is there until it expires', async () => {
      assert.deepEqual(await s.store.batch().set('k', 'v', { ttl: SHORT }).get('k').exec(), [true, 'v']);
      await waitUntil(async () => (await s.store.get('k')) === undefined, 'the key expires');
    });

    s.test('ttl is -1 for a key without ttl and -2 for a missing key', async () => {
      await s.store.set('k', 1);
      assert.equal(await s.store.ttl('k'), -1);
      assert.equal(await s.store.ttl('missing'), -2);
    });

    s.test('an expired key is gone for every command', async () => {
      await s.store.mset({ a: 1, b: 2, c: 3 }, { ttl: SHORT });
      await waitUntil(async () => (await s.store.ttl('a')) === -2, 'a expires');
      assert.deepStrictEqual(await s.store.mget(['a', 'b', 'c']), [undefined, undefined, undefined]);
      assert.equal(await s.store.expire('b', LONG), false);
      assert.equal(await s.store.persist('c'), false);
      assert.equal(await s.store.del(['a', 'b', 'c']), 0);
    });

    s.test('expire sets a ttl on an existing key, and answers false for a missing one', async () => {
      await s.store.set('k', 'v');
      assert.equal(await s.store.expire('missing', SHORT), false);
      assert.equal(await s.store.has('missing'), false);
      assert.equal(await s.store.expire('k', LONG), true);
      const left = await s.store.ttl('k');
      assert.ok(left > LONG - 10_000 && left <= LONG, `ttl ${left}`);
      assert.equal(await s.store.expire('k', SHORT), true, 'a shorter ttl replaces a longer one');
      await waitUntil(async () => !(await s.store.has('k')), 'the key expires');
    });

    s.test('persist answers true only when it removed a ttl', async () => {
      await s.store.set('k', 'v', { ttl: LONG });
      assert.equal(await s.store.persist('k'), true);
      assert.equal(await s.store.ttl('k'), -1);
      assert.equal(await s.store.persist('k'), false, 'no ttl left to remove');
      assert.equal(await s.store.persist('missing'), false);
    });

    s.test('a persisted key outlives a control key with the same ttl', async () => {
      const r = await s.store
        .batch()
        .set('kept', 'v', { ttl: SHORT })
        .set('control', 'v', { ttl: SHORT })
        .persist('kept')
        .exec();
      assert.deepEqual(r, [true, true, true]);
      await waitUntil(async () => !(await s.store.has('control')), 'the control key expires');
      assert.equal(await s.store.get('kept'), 'v');
      assert.equal(await s.store.ttl('kept'), -1);
    });

    s.test('set without keepTtl clears the ttl', async () => {
      await s.store.set('k', 1, { ttl: LONG });
      await s.store.set('k', 2);
      assert.equal(await s.store.ttl('k'), -1);
      assert.equal(await s.store.get('k'), 2);
    });

    s.test('set with keepTtl keeps the remaining ttl', async () => {
      await s.store.set('k', 1, { ttl: LONG });
      assert.equal(await s.store.set('k', 2, { keepTtl: true }), true);
      const left = await s.store.ttl('k');
      assert.ok(left > LONG - 10_000 && left <= LONG, `ttl ${left}`);
      assert.equal(await s.store.get('k'), 2);
    });

    s.test('a value written with keepTtl still expires at the original time', async () => {
      const r = await s.store.batch().set('k', 1, { ttl: SHORT }).set('k', 2, { keepTtl: true }).get('k').exec();
      assert.deepEqual(r, [true, true, 2]);
      await waitUntil(async () => !(await s.store.has('k')), 'the kept ttl expires the key');
    });

    s.test('keepTtl on a key without ttl (or a missing key) sets none', async () => {
      await s.store.set('k', 1);
      await s.store.set('k', 2, { keepTtl: true });
      await s.store.set('new', 1, { keepTtl: true });
      assert.equal(await s.store.ttl('k'), -1);
      assert.equal(await s.store.ttl('new'), -1);
    });

    s.test('a ttl can be replaced by a longer one', async () => {
      await s.store
        .batch()
        .set('k', 1, { ttl: SHORT })
        .set('control', 1, { ttl: SHORT })
        .set('k', 2, { ttl: LONG })
        .exec();
      await waitUntil(async () => !(await s.store.has('control')), 'the control key expires');
      assert.equal(await s.store.get('k'), 2);
    });

    s.test('mset with a ttl applies it to every key written', async () => {
      await s.store.mset(
        [
          ['a', 1],
          ['b', 2],
        ],
        { ttl: LONG },
      );
      assert.ok((await s.store.ttl('a')) > LONG - 10_000);
      assert.ok((await s.store.ttl('b')) > LONG - 10_000);
      await s.store.mset({ c: 3, d: 4 }, { ttl: SHORT });
      await waitUntil(async () => (await s.store.size()) === 2, 'c and d expire');
      assert.deepEqual((await s.store.keys()).sort(), ['a', 'b']);
    });

    s.test('incr and decr keep the ttl of the counter', async () => {
      await s.store.set('n', 1, { ttl: LONG });
      assert.equal(await s.store.incr('n'), 2);
      assert.equal(await s.store.decr('n', 5), -3);
      assert.ok((await s.store.ttl('n')) > LONG - 10_000);
    });

    s.test('an expired counter starts again from 0, without a ttl', async () => {
      assert.deepEqual(await s.store.batch().incr('n', 5).expire('n', SHORT).exec(), [5, true]);
      await waitUntil(async () => !(await s.store.has('n')), 'the counter expires');
      assert.equal(await s.store.incr('n'), 1);
      assert.equal(await s.store.ttl('n'), -1);
    });

    s.test('nx writes a key whose ttl has passed; xx does not', async () => {
      await s.store.set('k', 'old', { ttl: SHORT });
      await waitUntil(async () => (await s.store.ttl('k')) === -2, 'the key expires');
      assert.equal(await s.store.set('k', 'x', { xx: true }), false);
      assert.equal(await s.store.set('k', 'new', { nx: true }), true);
      assert.equal(await s.store.get('k'), 'new');
    });

    s.test('clear and size count only live keys', async () => {
      await s.store.set('short', 1, { ttl: SHORT });
      await s.store.set('long', 1, { ttl: LONG });
      await s.store.set('plain', 1);
      await waitUntil(async () => (await s.store.size()) === 2, 'the short key expires');
      assert.equal(await s.store.clear(), 2);
      assert.equal(await s.store.size(), 0);
    });
  });
}
