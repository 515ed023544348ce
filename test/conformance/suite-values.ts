/** Conformance: every kind of value round-trips exactly, falsy values are values, and copies never alias. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { Suite } from './suite.js';

interface Cyclic {
  name: string;
  self?: Cyclic;
  list: Cyclic[];
}

function cyclic(): Cyclic {
  const o: Cyclic = { name: 'cycle', list: [] };
  o.self = o;
  o.list.push(o, o);
  return o;
}

/** Each value is built fresh per use, so a store that kept a reference could not pass by accident. */
export const VALUES: Array<[label: string, make: () => unknown]> = [
  ['a string', () => 'hello'],
  ['a unicode string with a NUL', () => 'héllo 🌍 \u0000 end'],
  ['an empty string', () => ''],
  ['a 100 kB string', () => 'x'.repeat(100_000)],
  ['an integer', () => 42],
  ['a negative integer', () => -7],
  ['0', () => 0],
  ['2^40', () => 2 ** 40],
  ['Number.MAX_SAFE_INTEGER', () => Number.MAX_SAFE_INTEGER],
  ['a float', () => Math.PI],
  ['NaN', () => Number.NaN],
  ['Infinity', () => Number.POSITIVE_INFINITY],
  ['-Infinity', () => Number.NEGATIVE_INFINITY],
  ['true', () => true],
  ['false', () => false],
  ['null', () => null],
  ['a small BigInt', () => 5n],
  ['a negative BigInt', () => -5n],
  ['BigInt 2^64', () => 2n ** 64n],
  ['a huge BigInt (2^200 + 1)', () => 2n ** 200n + 1n],
  ['a huge negative BigInt', () => -(3n ** 150n)],
  ['a Date with milliseconds', () => new Date(1_700_000_000_123)],
  [
    'a Map with object keys',
    () =>
      new Map<unknown, unknown>([
        [{ k: 1 }, 'obj'],
        ['s', new Set([1])],
      ]),
  ],
  ['a Set', () => new Set(['a', 1, null])],
  ['a RegExp', () => /a+b/giu],
  ['an array', () => [1, 'two', [3, [4]], null]],
  ['a nested object with undefined', () => ({ a: undefined, b: { c: [undefined, null, 1] }, d: { e: undefined } })],
  ['objects of several shapes', () => [{ a: 1 }, { a: 2, b: 3 }, { b: 4, a: 5 }, { a: { a: { a: 1 } } }]],
  // Plain values (written as plain MessagePack) and their neighbours just over the limits.
  ['a small record', () => ({ id: 7, name: 'user-7', score: 10.5, active: true, big: 2 ** 40, none: null })],
  ['four records in an array', () => [{ a: 1 }, { a: 2 }, { a: 3 }, { a: 'four', b: [undefined] }]],
  ['five records in an array', () => [{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }, { a: 5 }]],
  ['an object holding a Map and a Date', () => ({ m: new Map([['k', { d: new Date(3) }]]), n: 1 })],
  ['an array of 300 numbers', () => Array.from({ length: 300 }, (_, i) => i * 0.5)],
  ['a Uint8Array', () => new Uint8Array([0, 1, 255])],
  ['a Buffer', () => Buffer.from('bytes')],
  ['a Float64Array', () => new Float64Array([1.5, -0, Number.NaN, Number.NEGATIVE_INFINITY])],
  ['an Int32Array', () => new Int32Array([-1, 2 ** 31 - 1])],
  ['a BigInt64Array', () => new BigInt64Array([-1n, 2n ** 62n])],
  ['an ArrayBuffer', () => new Uint16Array([1, 2]).buffer],
  ['a cyclic object', cyclic],
  ['an Error', () => new RangeError('out of range')],
];

export function valueTests(s: Suite): void {
  describe('values', () => {
    for (const [label, make] of VALUES) {
      s.test(`${label} round-trips exactly through set and get`, async () => {
        assert.equal(await s.store.set('v', make()), true);
        const got = await s.store.get('v');
        assert.deepStrictEqual(got, make());
        if (typeof got === 'object' && got !== null) {
          assert.equal(Object.getPrototypeOf(got), Object.getPrototypeOf(make()), 'same type');
        }
      });
    }

    // Kept apart from VALUES: deepStrictEqual cannot compare these two, so they get checks of their own.
    // MessagePack has no -0 integer: sharedkv keeps the sign of a -0 stored as a whole value; inside a structure
    // it reads back as 0 (documented in the README's value types).
    s.test('-0 keeps its sign as a value', async () => {
      await s.store.set('z', -0);
      assert.ok(Object.is(await s.store.get('z'), -0), 'get(-0) is -0');
      await s.store.set('o', { z: -0 });
      assert.equal(((await s.store.get('o')) as { z: number }).z, 0);
    });

    s.test('an invalid Date round-trips as an invalid Date', async () => {
      await s.store.set('d', new Date(Number.NaN));
      const got = await s.store.get('d');
      assert.ok(got instanceof Date, 'a Date');
      assert.ok(Number.isNaN(got.getTime()), 'invalid');
    });

    s.test('a cyclic value keeps its cycles (the same object, not a copy)', async () => {
      await s.store.set('c', cyclic());
      const got = (await s.store.get('c')) as Cyclic;
      assert.equal(got.self, got);
      assert.equal(got.list[0], got);
      assert.equal(got.list[1], got);
    });

    s.test('a shared reference stays shared (one object, not two copies)', async () => {
      const inner = { x: 1 };
      await s.store.set('shared', { a: inner, b: inner, list: [inner] });
      const got = (await s.store.get('shared')) as { a: object; b: object; list: object[] };
      assert.deepEqual(got.a, { x: 1 });
      assert.equal(got.a, got.b);
      assert.equal(got.list[0], got.a);
    });

    s.test('every value round-trips through mset and mget in one call', async () => {
      await s.store.mset(VALUES.map(([label, make]) => [label, make()] as [string, unknown]));
      const got = await s.store.mget(VALUES.map(([label]) => label));
      assert.deepStrictEqual(
        got,
        VALUES.map(([, make]) => make()),
      );
    });

    s.test('a value read through getOrSet round-trips like one read through get', async () => {
      const value = new Map<string, unknown>([
        ['when', new Date(7)],
        ['n', 2n ** 70n],
        ['bytes', new Uint8Array([1])],
      ]);
      await s.store.set('g', value);
      let called = false;
      const got = await s.store.getOrSet('g', () => {
        called = true;
        return 'loaded';
      });
      assert.equal(called, false);
      assert.deepStrictEqual(got, value);
    });

    s.test('falsy values (0, "", false, null) are stored values, never "missing"', async () => {
      const falsy: Array<[string, unknown]> = [
        ['zero', 0],
        ['empty', ''],
        ['false', false],
        ['null', null],
      ];
      for (const [k, v] of falsy) {
        await s.store.set(k, v);
        assert.equal(await s.store.get(k), v, k);
        assert.equal(await s.store.has(k), true, k);
        assert.equal(await s.store.set(k, 'other', { nx: true }), false, `nx sees ${k} as present`);
        assert.equal(await s.store.cas(k, undefined, 'x'), false, `cas(absent) sees ${k} as present`);
        assert.equal(await s.store.getOrSet(k, () => 'loaded'), v, `getOrSet hits ${k}`);
      }
      assert.deepStrictEqual(await s.store.mget(['zero', 'empty', 'false', 'null', 'none']), [
        0,
        '',
        false,
        null,
        undefined,
      ]);
      assert.equal(await s.store.size(), 4);
      assert.equal(await s.store.del(falsy.map(([k]) => k)), 4);
    });

    s.test('undefined cannot be stored (it would read back as missing)', async () => {
      await assert.rejects(s.store.set('u', undefined), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      assert.equal(await s.store.has('u'), false);
    });

    s.test('mutating a value after set does not change the store', async () => {
      const value = { list: [1, 2], map: new Map([['a', 1]]), bytes: new Uint8Array([1, 2]) };
      await s.store.set('k', value);
      value.list.push(3);
      value.map.set('b', 2);
      value.bytes[0] = 99;
      assert.deepStrictEqual(await s.store.get('k'), {
        list: [1, 2],
        map: new Map([['a', 1]]),
        bytes: new Uint8Array([1, 2]),
      });
    });

    for (const [label, make, mutate] of [
      ['an object', () => ({ a: { b: 1 } }), (v: { a: { b: number } }) => (v.a.b = 2)],
      ['an array', () => [1, [2]], (v: unknown[]) => (v[1] = 'changed')],
      ['a Map', () => new Map([['k', 1]]), (v: Map<string, number>) => v.set('k', 2)],
      ['a Uint8Array', () => new Uint8Array([1, 2, 3]), (v: Uint8Array) => v.fill(9)],
      ['a Buffer', () => Buffer.from([1, 2, 3]), (v: Buffer) => v.fill(9)],
      ['a Float64Array', () => new Float64Array([1, 2]), (v: Float64Array) => v.fill(9)],
    ] as Array<[string, () => unknown, (v: never) => void]>) {
      s.test(`mutating ${label} read from the store does not change the store (get, mget, getOrSet)`, async () => {
        await s.store.set('k', make());
        const first = await s.store.get('k');
        mutate(first as never);
        const [second] = await s.store.mget(['k']);
        assert.deepStrictEqual(second, make());
        mutate(second as never);
        const third = await s.store.getOrSet('k', () => 'never');
        assert.deepStrictEqual(third, make());
        mutate(third as never);
        assert.deepStrictEqual(await s.store.get('k'), make());
      });
    }

    s.test('two reads return two distinct copies', async () => {
      await s.store.set('k', { a: 1 });
      const [a, b] = await Promise.all([s.store.get('k'), s.store.get('k')]);
      assert.deepStrictEqual(a, b);
      assert.notEqual(a, b);
    });

    s.test('the value returned by getOrSet after a load is not shared with the store', async () => {
      const got = await s.store.getOrSet('k', () => ({ n: 1 }));
      (got as { n: number }).n = 2;
      assert.deepStrictEqual(await s.store.get('k'), { n: 1 });
    });

    s.test('keys are any string, including empty, unicode and glob characters', async () => {
      const keys = ['', ' ', 'ü:ñ', '🔑', 'a*b', 'q?', '[x]', 'back\\slash', 'new\nline', 'k'.repeat(1_000)];
      for (const [i, k] of keys.entries()) await s.store.set(k, i);
      assert.deepStrictEqual(
        await s.store.mget(keys),
        keys.map((_, i) => i),
      );
      assert.deepStrictEqual((await s.store.keys()).sort(), [...keys].sort());
    });
  });
}
