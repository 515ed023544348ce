/** Conformance: counters, compare-and-set, atomic batches and namespaces. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { SharedKVError } from '../../src/errors.js';
import { type Suite, snapshot } from './suite.js';

/** Asserts a rejection with `code` and, for batches, the failing command's `data.index`. */
async function rejectsWith(p: Promise<unknown>, code: string, index?: number): Promise<void> {
  await assert.rejects(p, (err: SharedKVError) => {
    assert.equal(err.code, code);
    if (index !== undefined) assert.equal((err.data as { index?: unknown } | undefined)?.index, index);
    return true;
  });
}

/** A value only structured clone carries (a Date and a BigInt beyond 64 bits in a Map), made afresh per call. */
function richMap(): Map<string, unknown> {
  return new Map<string, unknown>([
    ['at', new Date(1)],
    ['n', 2n ** 80n],
  ]);
}

export function structureTests(s: Suite): void {
  describe('counters', () => {
    s.test('incr and decr count from 0 with a default step of 1', async () => {
      assert.equal(await s.store.incr('n'), 1);
      assert.equal(await s.store.incr('n'), 2);
      assert.equal(await s.store.decr('n'), 1);
      assert.equal(await s.store.decr('m'), -1);
      assert.equal(await s.store.get('n'), 1);
    });

    s.test('by may be any finite number, negative or fractional', async () => {
      assert.equal(await s.store.incr('n', 10), 10);
      assert.equal(await s.store.decr('n', 4), 6);
      assert.equal(await s.store.incr('n', -8), -2);
      assert.equal(await s.store.incr('f', 0.5), 0.5);
      assert.equal(await s.store.incr('f', 0.25), 0.75);
      assert.equal(await s.store.decr('f', 1), -0.25);
      assert.equal(await s.store.get('f'), -0.25);
    });

    s.test('counts on a number stored with set, small or large', async () => {
      await s.store.set('a', 41);
      await s.store.set('b', 2 ** 40);
      assert.equal(await s.store.incr('a'), 42);
      assert.equal(await s.store.incr('b'), 2 ** 40 + 1);
      assert.equal(typeof (await s.store.get('b')), 'number');
    });

    s.test('incr on a string (or BigInt) fails with ERR_SHAREDKV_WRONG_TYPE and leaves it alone', async () => {
      await s.store.set('s', 'ten');
      await s.store.set('b', 10n);
      await rejectsWith(s.store.incr('s'), 'ERR_SHAREDKV_WRONG_TYPE');
      await rejectsWith(s.store.decr('s', 2), 'ERR_SHAREDKV_WRONG_TYPE');
      await rejectsWith(s.store.incr('b'), 'ERR_SHAREDKV_WRONG_TYPE');
      assert.equal(await s.store.get('s'), 'ten');
      assert.equal(await s.store.get('b'), 10n);
    });

    s.test('100 concurrent incr give 100 distinct results and end at exactly 100', async () => {
      const results = await Promise.all(Array.from({ length: 100 }, () => s.store.incr('c')));
      assert.deepEqual(
        [...results].sort((a, b) => a - b),
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
      assert.equal(await s.store.get('c'), 100);
    });
  });

  describe('cas', () => {
    s.test('writes only when the stored value equals the expected one', async () => {
      await s.store.set('k', { v: 1, tags: ['a'] });
      assert.equal(await s.store.cas('k', { v: 2, tags: ['a'] }, { v: 3 }), false);
      assert.deepStrictEqual(await s.store.get('k'), { v: 1, tags: ['a'] });
      assert.equal(await s.store.cas('k', { v: 1, tags: ['a'] }, { v: 2 }), true);
      assert.deepStrictEqual(await s.store.get('k'), { v: 2 });
    });

    s.test('compares rich values: Map, Date, BigInt', async () => {
      await s.store.set('k', richMap());
      assert.equal(await s.store.cas('k', richMap(), 'next'), true);
      assert.equal(await s.store.get('k'), 'next');
    });

    s.test('expected undefined means "absent"', async () => {
      assert.equal(await s.store.cas('k', undefined, 1), true);
      assert.equal(await s.store.cas('k', undefined, 2), false);
      assert.equal(await s.store.get('k'), 1);
    });

    s.test('next undefined deletes the key', async () => {
      await s.store.set('k', 'v');
      assert.equal(await s.store.cas('k', 'other', undefined), false);
      assert.equal(await s.store.has('k'), true);
      assert.equal(await s.store.cas('k', 'v', undefined), true);
      assert.equal(await s.store.has('k'), false);
    });

    s.test('a ttl option sets the ttl of the new value; without it the ttl is kept', async () => {
      await s.store.set('k', 1, { ttl: 60_000 });
      assert.equal(await s.store.cas('k', 1, 2), true);
      assert.ok((await s.store.ttl('k')) > 0, 'ttl kept');
      assert.equal(await s.store.cas('n', undefined, 1, { ttl: 60_000 }), true);
      assert.ok((await s.store.ttl('n')) > 0, 'ttl set');
      await s.store.set('p', 1);
      assert.equal(await s.store.cas('p', 1, 2), true);
      assert.equal(await s.store.ttl('p'), -1);
    });

    s.test('of 20 concurrent cas from the same expected value exactly one wins', async () => {
      await s.store.set('k', 0);
      const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => s.store.cas('k', 0, i + 1)));
      assert.equal(wins.filter(Boolean).length, 1);
      assert.equal(await s.store.get('k'), wins.indexOf(true) + 1);
    });
  });

  describe('batch', () => {
    s.test('runs in order and resolves with one decoded result per command', async () => {
      await s.store.set('old', new Map([['x', 1]]));
      const batch = s.store
        .batch()
        .set('a', { v: 1 })
        .get('a')
        .incr('n', 5)
        .decr('n')
        .has('a')
        .set('old', 'new', { get: true })
        .expire('a', 60_000)
        .persist('a')
        .del('old', 'missing')
        .has('old')
        .get('missing');
      assert.equal(batch.length, 11);
      assert.deepStrictEqual(await batch.exec(), [
        true,
        { v: 1 },
        5,
        4,
        true,
        new Map([['x', 1]]),
        true,
        true,
        1,
        false,
        undefined,
      ]);
      assert.deepStrictEqual(await snapshot(s.store), [
        ['a', { v: 1 }, false],
        ['n', 4, false],
      ]);
    });

    s.test('an empty batch resolves with []', async () => {
      assert.deepEqual(await s.store.batch().exec(), []);
    });

    s.test('a command failing at index k rejects with its code and data.index, and nothing is applied', async () => {
      await s.store.set('s', 'string');
      await s.store.set('keep', 1, { ttl: 60_000 });
      const before = await snapshot(s.store);
      const p = s.store.batch().set('a', 1).del('keep').persist('keep').incr('s').set('b', 2).exec();
      await rejectsWith(p, 'ERR_SHAREDKV_WRONG_TYPE', 3);
      assert.deepStrictEqual(await snapshot(s.store), before);
    });

    s.test('a command with bad arguments at index k refuses the whole batch', async () => {
      await s.store.set('x', 0);
      const before = await snapshot(s.store);
      await rejectsWith(s.store.batch().incr('x').set('a', 1, { ttl: -1 }).exec(), 'ERR_SHAREDKV_BAD_ARGUMENT', 1);
      await rejectsWith(s.store.batch().incr('x').expire('x', 0).exec(), 'ERR_SHAREDKV_BAD_ARGUMENT', 1);
      assert.deepStrictEqual(await snapshot(s.store), before);
    });

    s.test('a bad key or value in the chain makes exec() reject; nothing is sent', async () => {
      await rejectsWith(
        s.store
          .batch()
          .set('a', 1)
          .get(5 as unknown as string)
          .exec(),
        'ERR_SHAREDKV_BAD_ARGUMENT',
      );
      await rejectsWith(s.store.batch().set('a', 1).set('b', undefined).exec(), 'ERR_SHAREDKV_BAD_ARGUMENT');
      assert.equal(await s.store.size(), 0);
    });

    s.test('later commands see the writes of earlier ones', async () => {
      const r = await s.store.batch().set('k', 1).incr('k').get('k').del('k').get('k').exec();
      assert.deepStrictEqual(r, [true, 2, 2, 1, undefined]);
    });

    s.test('no other call interleaves with a batch', async () => {
      await s.store.set('n', 0);
      const incrs = Array.from({ length: 20 }, () => s.store.incr('n'));
      const batch = s.store.batch().set('n', 1000).get('n').incr('n').get('n').exec();
      const [r] = await Promise.all([batch, ...incrs]);
      assert.deepStrictEqual(r, [true, 1000, 1001, 1001]);
    });

    s.test('cas: a match writes and answers true, a mismatch answers false and the rest still applies', async () => {
      await s.store.set('stock', { sku: 'a', left: 3 });
      await s.store.set('order', 'open');
      const r = await s.store
        .batch()
        .cas('stock', { sku: 'a', left: 3 }, { sku: 'a', left: 2 })
        .cas('order', 'paid', 'shipped')
        .set('log', 1)
        .get('stock')
        .get('order')
        .exec();
      assert.deepStrictEqual(r, [true, false, true, { sku: 'a', left: 2 }, 'open']);
      assert.deepStrictEqual(await snapshot(s.store), [
        ['log', 1, false],
        ['order', 'open', false],
        ['stock', { sku: 'a', left: 2 }, false],
      ]);
    });

    s.test('cas: checks and updates two keys together, and sees the earlier commands of its batch', async () => {
      await s.store.mset({ from: 10, to: 0 });
      const move = () => s.store.batch().cas('from', 10, 7).cas('to', 0, 3).exec();
      assert.deepStrictEqual(await move(), [true, true]);
      assert.deepStrictEqual(await move(), [false, false], 'the same expected values no longer match');
      assert.deepStrictEqual(await s.store.mget(['from', 'to']), [7, 3]);
      const r = await s.store.batch().set('k', 'a').cas('k', 'a', 'b').cas('k', 'a', 'c').get('k').exec();
      assert.deepStrictEqual(r, [true, true, false, 'b']);
    });

    s.test('cas: plain objects and structured values (Date, Map, BigInt) compare by value', async () => {
      await s.store.set('map', richMap());
      await s.store.set('date', new Date(7));
      await s.store.set('obj', { v: 1, tags: ['a'] });
      const r = await s.store
        .batch()
        .cas('map', new Map([['at', new Date(2)]]), 'no')
        .cas('map', richMap(), 'next')
        .cas('date', new Date(8), 'no')
        .cas('date', new Date(7), new Date(9))
        .cas('obj', { v: 1, tags: ['b'] }, 'no')
        .cas('obj', { v: 1, tags: ['a'] }, { v: 2 })
        .exec();
      assert.deepStrictEqual(r, [false, true, false, true, false, true]);
      assert.deepStrictEqual(await s.store.mget(['map', 'date', 'obj']), ['next', new Date(9), { v: 2 }]);
    });

    s.test('cas: expected undefined means "absent", next undefined deletes', async () => {
      await s.store.set('gone', 'v');
      await s.store.set('null', null);
      const r = await s.store
        .batch()
        .cas('new', undefined, 1)
        .cas('new', undefined, 2)
        .cas('null', undefined, 'x')
        .cas('gone', 'other', undefined)
        .has('gone')
        .cas('gone', 'v', undefined)
        .has('gone')
        .cas('gone', 'v', undefined)
        .exec();
      assert.deepStrictEqual(r, [true, false, false, false, true, true, false, false]);
      assert.deepStrictEqual(await snapshot(s.store), [
        ['new', 1, false],
        ['null', null, false],
      ]);
    });

    s.test('cas: a ttl option sets the ttl of the new value; without it the ttl is kept', async () => {
      await s.store.set('kept', 1, { ttl: 60_000 });
      await s.store.set('none', 1);
      const r = await s.store
        .batch()
        .cas('kept', 1, 2)
        .cas('none', 1, 2)
        .cas('fresh', undefined, 1, { ttl: 60_000 })
        .cas('none', 1, 3, { ttl: 60_000 })
        .exec();
      assert.deepStrictEqual(r, [true, true, true, false]);
      assert.ok((await s.store.ttl('kept')) > 0, 'ttl kept');
      assert.equal(await s.store.ttl('none'), -1, 'no ttl given, none kept; the refused cas set none');
      assert.ok((await s.store.ttl('fresh')) > 0, 'ttl set');
    });

    s.test('cas: a later command failing undoes an earlier matching cas', async () => {
      await s.store.set('k', { v: 'old' }, { ttl: 60_000 });
      await s.store.set('d', 'doomed');
      await s.store.set('s', 'string');
      const before = await snapshot(s.store);
      await rejectsWith(
        s.store.batch().cas('k', { v: 'old' }, { v: 'new' }).cas('d', 'doomed', undefined).incr('s').exec(),
        'ERR_SHAREDKV_WRONG_TYPE',
        2,
      );
      assert.deepStrictEqual(await snapshot(s.store), before);
      assert.ok((await s.store.ttl('k')) > 0, 'the ttl is back too');
      await rejectsWith(
        s.store.batch().cas('k', { v: 'old' }, { v: 'new' }).set('x', 1, { ttl: -1 }).exec(),
        'ERR_SHAREDKV_BAD_ARGUMENT',
        1,
      );
      assert.deepStrictEqual(await snapshot(s.store), before);
    });

    s.test('cas: bad arguments refuse the whole batch with data.index; nothing is applied', async () => {
      await s.store.set('k', 1);
      const before = await snapshot(s.store);
      const any = (v: unknown) => v as never;
      await rejectsWith(s.store.batch().set('a', 1).cas('k', 1, 2, { ttl: -1 }).exec(), 'ERR_SHAREDKV_BAD_ARGUMENT', 1);
      await rejectsWith(s.store.batch().set('a', 1).cas('k', 1, 2, { ttl: 0 }).exec(), 'ERR_SHAREDKV_BAD_ARGUMENT', 1);
      await rejectsWith(
        s.store
          .batch()
          .cas('k', 1, 2)
          .set('a', 1)
          .cas('k', 2, 3, any({ nx: true }))
          .exec(),
        'ERR_SHAREDKV_BAD_ARGUMENT',
        2,
      );
      await rejectsWith(
        s.store
          .batch()
          .cas('k', 1, 2)
          .cas('k', 2, 3, any({ timeout: 100 }))
          .exec(),
        'ERR_SHAREDKV_BAD_ARGUMENT',
        1,
      );
      await rejectsWith(s.store.batch().cas('k', 1, 2).cas(any(5), 1, 2).exec(), 'ERR_SHAREDKV_BAD_ARGUMENT');
      await rejectsWith(
        s.store
          .batch()
          .cas('k', 1, 2)
          .cas('k', 2, () => 3)
          .exec(),
        'ERR_SHAREDKV_NOT_SERIALIZABLE',
      );
      assert.deepStrictEqual(await snapshot(s.store), before);
    });
  });

  describe('namespaces', () => {
    s.test('the same key in two namespaces and the root are three keys', async () => {
      const a = s.store.namespace('a');
      const b = s.store.namespace('b');
      await a.set('k', 'A');
      await b.set('k', 'B');
      await s.store.set('k', 'root');
      assert.deepStrictEqual([await a.get('k'), await b.get('k'), await s.store.get('k')], ['A', 'B', 'root']);
      assert.deepEqual((await s.store.keys()).sort(), ['a:k', 'b:k', 'k']);
      assert.equal(await s.store.get('a:k'), 'A', 'the root sees namespaced keys under their prefix');
    });

    s.test('clear, keys and size see only their own namespace', async () => {
      const a = s.store.namespace('a');
      const ab = s.store.namespace('ab');
      await a.mset({ x: 1, y: 2 });
      await ab.set('x', 3);
      await s.store.set('x', 4);
      await s.store.set('a', 5);
      assert.deepEqual((await a.keys()).sort(), ['x', 'y']);
      assert.deepEqual(await a.keys('y'), ['y']);
      assert.equal(await a.size(), 2);
      assert.equal(await ab.size(), 1);
      assert.equal(await a.clear(), 2);
      assert.equal(await a.size(), 0);
      assert.deepEqual((await s.store.keys()).sort(), ['a', 'ab:x', 'x']);
    });

    s.test('keys() globs apply inside the namespace and answer keys without the prefix', async () => {
      const ns = s.store.namespace('users');
      await ns.mset({ 'u:1': 1, 'u:2': 2, 'u:10': 10, other: 0 });
      await s.store.set('u:3', 3);
      assert.deepEqual((await ns.keys('u:?')).sort(), ['u:1', 'u:2']);
      assert.deepEqual((await ns.keys('u:*')).sort(), ['u:1', 'u:10', 'u:2']);
      assert.deepEqual((await ns.keys('[o]*')).sort(), ['other']);
    });

    s.test('every command works inside a namespace', async () => {
      const ns = s.store.namespace('app');
      assert.equal(await ns.set('k', 1, { ttl: 60_000 }), true);
      assert.equal(await ns.incr('k'), 2);
      assert.equal(await ns.cas('k', 2, 3), true);
      assert.equal(await ns.has('k'), true);
      assert.ok((await ns.ttl('k')) > 0);
      assert.equal(await ns.persist('k'), true);
      assert.equal(await ns.expire('k', 60_000), true);
      assert.equal(await ns.getOrSet('g', () => 'loaded'), 'loaded');
      assert.deepStrictEqual(await ns.batch().set('b', 1).incr('b').exec(), [true, 2]);
      assert.deepStrictEqual(await ns.mget(['k', 'g', 'b', 'zz']), [3, 'loaded', 2, undefined]);
      assert.equal(await ns.del(['k', 'b']), 2);
      assert.deepEqual((await s.store.keys()).sort(), ['app:g']);
    });

    s.test('a batch cas in a namespace compares and writes its own key only', async () => {
      const ns = s.store.namespace('app');
      await s.store.set('k', 1);
      await ns.set('k', 2);
      await s.store.set('root-only', 'root');
      const r = await ns
        .batch()
        .cas('k', 1, 'root value seen')
        .cas('k', 2, 3)
        .cas('root-only', undefined, 'ns')
        .cas('app:k', undefined, 'nested')
        .exec();
      assert.deepStrictEqual(r, [false, true, true, true]);
      assert.deepStrictEqual(await snapshot(s.store), [
        ['app:app:k', 'nested', false],
        ['app:k', 3, false],
        ['app:root-only', 'ns', false],
        ['k', 1, false],
        ['root-only', 'root', false],
      ]);
      // The parent reaches the key under its prefixed name (one namespace per batch: one slot on a cluster).
      assert.deepStrictEqual(await s.store.batch().cas('app:k', 3, 4).exec(), [true]);
      assert.equal(await ns.get('k'), 4);
    });

    s.test('nested namespaces nest their prefixes, and the parent sees the child', async () => {
      const a = s.store.namespace('a');
      const ab = a.namespace('b');
      await ab.set('k', 1);
      await a.set('k', 2);
      assert.deepEqual((await s.store.keys()).sort(), ['a:b:k', 'a:k']);
      assert.deepEqual((await a.keys()).sort(), ['b:k', 'k']);
      assert.deepEqual(await ab.keys(), ['k']);
      assert.equal(await a.size(), 2);
      assert.equal(await ab.clear(), 1);
      assert.deepEqual(await a.keys(), ['k']);
    });

    s.test('a namespace name outside [A-Za-z0-9_.@$-] is refused', async () => {
      for (const name of ['', 'a:b', 'a b', 'a*', '[x]', 'é']) {
        await assert.rejects(async () => s.store.namespace(name).get('k'), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' }, name);
      }
    });
  });
}
