/** Engine: incr and decr (integers, floats, `by`, wrong type) and cas (compare-and-set). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SharedKVError } from '../../src/errors.js';
import { dec, EngineHarness, enc } from '../helpers/engine.js';

describe('engine: incr and decr', () => {
  it('a missing key counts as 0; by defaults to 1', () => {
    const h = new EngineHarness();
    assert.equal(h.exec('incr', 'n'), 1);
    assert.equal(h.exec('incr', 'n'), 2);
    assert.equal(h.exec('decr', 'm'), -1);
    assert.equal(h.get('n'), 2);
  });

  it('by adds or subtracts any finite number, including negatives and floats', () => {
    const h = new EngineHarness();
    assert.equal(h.exec('incr', 'n', 10), 10);
    assert.equal(h.exec('decr', 'n', 3), 7);
    assert.equal(h.exec('incr', 'n', -2), 5);
    assert.equal(h.exec('decr', 'n', -1), 6);
    assert.equal(h.exec('incr', 'n', 0), 6);
    assert.equal(h.exec('incr', 'f', 0.5), 0.5);
    assert.equal(h.exec('incr', 'f', 0.25), 0.75);
    assert.equal(h.exec('decr', 'f', 1.5), -0.75);
    assert.equal(h.get('f'), -0.75);
  });

  it('works on numbers stored with set, small and large', () => {
    const h = new EngineHarness();
    h.set('a', 41);
    h.set('b', 2 ** 40);
    h.set('c', 1.5);
    assert.equal(h.exec('incr', 'a'), 42);
    assert.equal(h.exec('incr', 'b'), 2 ** 40 + 1);
    assert.equal(h.exec('incr', 'c'), 2.5);
    assert.equal(h.get('b'), 2 ** 40 + 1);
  });

  it('stores the result so that it reads back as the same number type', () => {
    const h = new EngineHarness();
    h.exec('incr', 'n', 2 ** 33);
    const v = h.get('n');
    assert.equal(typeof v, 'number');
    assert.equal(v, 2 ** 33);
  });

  for (const [label, value] of [
    ['a string', '5'],
    ['a bigint', 5n],
    ['an object', { n: 1 }],
    ['null', null],
    ['a boolean', true],
  ] as const) {
    it(`incr and decr on ${label} fail with ERR_SHAREDKV_WRONG_TYPE and change nothing`, () => {
      const h = new EngineHarness();
      h.set('k', value);
      const before = h.digest();
      assert.throws(
        () => h.exec('incr', 'k'),
        (err: SharedKVError) => {
          assert.equal(err.code, 'ERR_SHAREDKV_WRONG_TYPE');
          assert.deepEqual(err.data, { key: 'k' });
          return true;
        },
      );
      assert.throws(() => h.exec('decr', 'k', 2), { code: 'ERR_SHAREDKV_WRONG_TYPE' });
      assert.equal(h.digest(), before);
    });
  }

  it('keeps the ttl of the key', () => {
    const h = new EngineHarness();
    h.exec('incr', 'n');
    h.exec('expire', 'n', 100);
    h.advance(30);
    assert.equal(h.exec('incr', 'n'), 2);
    assert.equal(h.exec('ttl', 'n'), 70);
    h.advance(70);
    assert.equal(h.exec('has', 'n'), false);
  });

  it('an expired counter starts again from 0, without a ttl', () => {
    const h = new EngineHarness();
    h.exec('incr', 'n', 5);
    h.exec('expire', 'n', 10);
    h.advance(10);
    assert.equal(h.exec('incr', 'n'), 1);
    assert.equal(h.exec('ttl', 'n'), -1);
  });
});

describe('engine: cas', () => {
  it('writes only when the stored bytes equal the expected ones', () => {
    const h = new EngineHarness();
    h.set('k', { v: 1, tags: ['a'] });
    assert.equal(h.exec('cas', 'k', enc({ v: 2, tags: ['a'] }), enc('x')), false);
    assert.deepEqual(h.get('k'), { v: 1, tags: ['a'] });
    assert.equal(h.exec('cas', 'k', enc({ v: 1, tags: ['a'] }), enc({ v: 2 })), true);
    assert.deepEqual(h.get('k'), { v: 2 });
  });

  it('compares rich values: Map, Date, BigInt, NaN', () => {
    const h = new EngineHarness();
    const value = { m: new Map([[1, new Date(5)]]), big: 2n ** 70n, nan: Number.NaN };
    h.set('k', value);
    assert.equal(h.exec('cas', 'k', enc({ ...value }), enc('done')), true);
    assert.equal(h.get('k'), 'done');
  });

  it('expected null means "absent": it writes only a missing (or expired) key', () => {
    const h = new EngineHarness();
    assert.equal(h.exec('cas', 'k', null, enc(1)), true);
    assert.equal(h.exec('cas', 'k', null, enc(2)), false);
    assert.equal(h.get('k'), 1);
    h.exec('expire', 'k', 5);
    h.advance(5);
    assert.equal(h.exec('cas', 'k', null, enc(3)), true);
    assert.equal(h.get('k'), 3);
  });

  it('a missing key never equals an expected value', () => {
    const h = new EngineHarness();
    assert.equal(h.exec('cas', 'k', enc(null), enc(1)), false);
    assert.equal(h.exec('has', 'k'), false);
  });

  it('next null deletes the key', () => {
    const h = new EngineHarness();
    h.set('k', 'v');
    assert.equal(h.exec('cas', 'k', enc('v'), null), true);
    assert.equal(h.exec('has', 'k'), false);
    assert.equal(h.engine.bytes, 0);
    // Deleting an absent key "succeeds" when absent was expected; it stays absent.
    assert.equal(h.exec('cas', 'k', null, null), true);
    assert.equal(h.exec('has', 'k'), false);
  });

  it('keeps the current ttl by default; a ttl option replaces it', () => {
    const h = new EngineHarness();
    h.set('k', 1, { ttl: 100 });
    h.advance(20);
    assert.equal(h.exec('cas', 'k', enc(1), enc(2)), true);
    assert.equal(h.exec('ttl', 'k'), 80);
    assert.equal(h.exec('cas', 'k', enc(2), enc(3), { ttl: 500 }), true);
    assert.equal(h.exec('ttl', 'k'), 500);
    assert.equal(h.exec('cas', 'n', null, enc(1)), true);
    assert.equal(h.exec('ttl', 'n'), -1);
    assert.equal(h.exec('cas', 'm', null, enc(1), { ttl: 7 }), true);
    h.advance(7);
    assert.equal(h.exec('has', 'm'), false);
  });

  it('a refused cas changes nothing, ttl included', () => {
    const h = new EngineHarness();
    h.set('k', 1, { ttl: 100 });
    const before = h.digest();
    assert.equal(h.exec('cas', 'k', enc(2), enc(3), { ttl: 5 }), false);
    assert.equal(h.digest(), before);
    assert.equal(dec(h.exec('get', 'k')), 1);
  });
});
