/**
 * Conformance: refused calls. Every bad argument rejects with ERR_SHAREDKV_BAD_ARGUMENT, every value that
 * cannot cross a process with ERR_SHAREDKV_NOT_SERIALIZABLE, and in both cases the store is unchanged.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { Store } from '../../src/types.js';
import { type Suite, snapshot } from './suite.js';

type Call = (s: Store) => Promise<unknown>;

/** Lets a test pass values the types forbid, as untyped JavaScript callers do. */
const any = (v: unknown) => v as never;

const BAD_ARGUMENTS: Array<[string, Call]> = [
  ['get(1)', (s) => s.get(any(1))],
  ['get(null)', (s) => s.get(any(null))],
  ['set(1, v)', (s) => s.set(any(1), 'v')],
  ['set(k, v, { ttl: -5 })', (s) => s.set('e:new', 'v', { ttl: -5 })],
  ['set(k, v, { ttl: 0 })', (s) => s.set('e:new', 'v', { ttl: 0 })],
  ['set(k, v, { ttl: 1.5 })', (s) => s.set('e:new', 'v', { ttl: 1.5 })],
  ["set(k, v, { ttl: '10' })", (s) => s.set('e:new', 'v', { ttl: any('10') })],
  ['set(k, v, { nx, xx })', (s) => s.set('e:n', 'v', { nx: true, xx: true })],
  ['set(k, v, { ttl, keepTtl })', (s) => s.set('e:n', 'v', { ttl: 10, keepTtl: true })],
  ['set(k, v, { unknown option })', (s) => s.set('e:n', 'v', any({ nX: true }))],
  ['set(k, v, { nx: "yes" })', (s) => s.set('e:n', 'v', { nx: any('yes') })],
  ['set(k, v, 5)', (s) => s.set('e:n', 'v', any(5))],
  ['del(5)', (s) => s.del(any(5))],
  ['del([k, 1])', (s) => s.del(any(['e:n', 1]))],
  ['has({})', (s) => s.has(any({}))],
  ['keys(5)', (s) => s.keys(any(5))],
  ["mget('k')", (s) => s.mget(any('e:n'))],
  ['mget([1])', (s) => s.mget(any([1]))],
  ['mset(null)', (s) => s.mset(any(null))],
  ['mset({ a: 1, b: undefined })', (s) => s.mset({ 'e:a': 1, 'e:b': undefined })],
  [
    'mset([[k, 1], [2, 1]])',
    (s) =>
      s.mset(
        any([
          ['e:a', 1],
          [2, 1],
        ]),
      ),
  ],
  ['mset({ a: 1 }, { ttl: -1 })', (s) => s.mset({ 'e:a': 1 }, { ttl: -1 })],
  ["incr(k, 'x')", (s) => s.incr('e:n', any('x'))],
  ['incr(k, NaN)', (s) => s.incr('e:n', Number.NaN)],
  ['decr(k, Infinity)', (s) => s.decr('e:n', Number.POSITIVE_INFINITY)],
  ['incr(1)', (s) => s.incr(any(1))],
  ['cas(k, a, b, { ttl: -1 })', (s) => s.cas('e:n', 5, 6, { ttl: -1 })],
  ['cas(1, a, b)', (s) => s.cas(any(1), 5, 6)],
  ['expire(k, -1)', (s) => s.expire('e:n', -1)],
  ['expire(k, 0)', (s) => s.expire('e:n', 0)],
  ['expire(k, 1.5)', (s) => s.expire('e:n', 1.5)],
  ['ttl(1)', (s) => s.ttl(any(1))],
  ['persist(1)', (s) => s.persist(any(1))],
  ['getOrSet(1, loader)', (s) => s.getOrSet(any(1), () => 'v')],
  ["getOrSet(k, 'not a function')", (s) => s.getOrSet('e:g', any('not a function'))],
  ['getOrSet(k, loader, { lease: 0 })', (s) => s.getOrSet('e:g', () => 'v', { lease: 0 })],
  ['getOrSet(k, loader, { ttl: -1 })', (s) => s.getOrSet('e:g', () => 'v', { ttl: -1 })],
  ['batch().set(k, v, { ttl: -1 })', (s) => s.batch().set('e:a', 1).set('e:b', 1, { ttl: -1 }).exec()],
  ['batch().get(1)', (s) => s.batch().get(any(1)).exec()],
  ['batch().cas(k, a, b, { ttl: -1 })', (s) => s.batch().set('e:a', 1).cas('e:n', 5, 6, { ttl: -1 }).exec()],
  [
    'batch().cas(k, a, b, { unknown option })',
    (s) =>
      s
        .batch()
        .set('e:a', 1)
        .cas('e:n', 5, 6, any({ nx: true }))
        .exec(),
  ],
  [
    'batch().cas(k, a, b, { timeout })',
    (s) =>
      s
        .batch()
        .set('e:a', 1)
        .cas('e:n', 5, 6, any({ timeout: 100 }))
        .exec(),
  ],
  ['batch().cas(k, a, b, 5)', (s) => s.batch().set('e:a', 1).cas('e:n', 5, 6, any(5)).exec()],
  ['batch().cas(1, a, b)', (s) => s.batch().set('e:a', 1).cas(any(1), 5, 6).exec()],
  ["namespace('a b').set(k, v)", async (s) => s.namespace('a b').set('k', 'v')],
  ['get(k, { timeout: -1 })', (s) => s.get('e:n', { timeout: -1 })],
  ["set(k, v, { timeout: 'x' })", (s) => s.set('e:new', 'v', { timeout: any('x') })],
  ['incr(k, 1, { timeout: NaN })', (s) => s.incr('e:n', 1, { timeout: Number.NaN })],
];

const NOT_SERIALIZABLE: Array<[string, Call]> = [
  ['set(k, function)', (s) => s.set('e:new', () => 1)],
  ['set(k, { method() {} })', (s) => s.set('e:new', { method() {} })],
  ['set(k, Map with a function)', (s) => s.set('e:n', new Map([['f', () => 1]]))],
  ['set(k, symbol)', (s) => s.set('e:new', Symbol('s'))],
  ['set(k, { s: symbol })', (s) => s.set('e:n', { s: Symbol('s') })],
  ['mset({ a: 1, b: function })', (s) => s.mset({ 'e:a': 1, 'e:b': () => 1 })],
  ['cas(k, 5, function)', (s) => s.cas('e:n', 5, () => 1)],
  [
    'batch().set(a, 1).cas(k, 5, function)',
    (s) =>
      s
        .batch()
        .set('e:a', 1)
        .cas('e:n', 5, () => 1)
        .exec(),
  ],
  [
    'batch().set(a, 1).cas(k, function, 6)',
    (s) =>
      s
        .batch()
        .set('e:a', 1)
        .cas('e:n', () => 1, 6)
        .exec(),
  ],
  [
    'batch().set(a, 1).set(b, function)',
    (s) =>
      s
        .batch()
        .set('e:a', 1)
        .set('e:b', () => 1)
        .exec(),
  ],
];

async function seed(s: Store): Promise<void> {
  await s.mset({ 'e:n': 5, 'e:s': 'str' });
  await s.set('e:t', { deep: [1] }, { ttl: 60_000 });
}

export function errorTests(s: Suite): void {
  describe('errors', () => {
    for (const [label, call] of BAD_ARGUMENTS) {
      s.test(`${label} rejects with ERR_SHAREDKV_BAD_ARGUMENT and changes nothing`, async () => {
        await seed(s.store);
        const before = await snapshot(s.store);
        await assert.rejects(async () => call(s.store), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
        assert.deepStrictEqual(await snapshot(s.store), before);
      });
    }

    for (const [label, call] of NOT_SERIALIZABLE) {
      s.test(`${label} rejects with ERR_SHAREDKV_NOT_SERIALIZABLE and changes nothing`, async () => {
        await seed(s.store);
        const before = await snapshot(s.store);
        await assert.rejects(async () => call(s.store), { code: 'ERR_SHAREDKV_NOT_SERIALIZABLE' });
        assert.deepStrictEqual(await snapshot(s.store), before);
      });
    }

    s.test('a refused getOrSet neither runs the loader nor blocks the next call', async () => {
      let calls = 0;
      const loader = () => {
        calls++;
        return 'v';
      };
      await assert.rejects(s.store.getOrSet('g', loader, { ttl: -1 }), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      await assert.rejects(s.store.getOrSet('g', loader, { lease: -1 }), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      assert.equal(calls, 0, 'the loader must not run for a call that is refused');
      assert.equal(await s.store.getOrSet('g', loader, { timeout: 1_000 }), 'v');
    });

    s.test('timeout: 0 disables the timeout and is accepted', async () => {
      assert.equal(await s.store.set('k', 1, { timeout: 0 }), true);
      assert.equal(await s.store.get('k', { timeout: 0 }), 1);
    });

    s.test(
      'an already aborted signal rejects with ERR_SHAREDKV_ABORTED before anything is written',
      async () => {
        const signal = AbortSignal.abort();
        await assert.rejects(s.store.set('k', 1, { signal }), { code: 'ERR_SHAREDKV_ABORTED' });
        await assert.rejects(s.store.incr('n', 1, { signal }), { code: 'ERR_SHAREDKV_ABORTED' });
        assert.equal(await s.store.size(), 0);
      },
      'abort',
    );

    s.test('errors carry the stable code and the sharedkv error name', async () => {
      await s.store.set('s', 'x');
      await assert.rejects(s.store.incr('s'), (err: Error & { code?: string }) => {
        assert.equal(err.name, 'SharedKVError');
        assert.equal(err.code, 'ERR_SHAREDKV_WRONG_TYPE');
        return true;
      });
    });
  });
}
