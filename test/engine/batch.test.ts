/** Engine: batch, applied atomically and in order; a failing command undoes the ones before it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SharedKVError } from '../../src/errors.js';
import { legacyEncoding } from '../../src/protocol/codec.js';
import { dec, EngineHarness, enc } from '../helpers/engine.js';

type Op = [string, ...unknown[]];

/** Asserts that `fn` throws a SharedKVError with `code` whose data carries the failing `index`. */
function throwsAt(fn: () => unknown, code: string, index: number, data: Record<string, unknown> = {}): void {
  assert.throws(fn, (err: SharedKVError) => {
    assert.equal(err.code, code);
    assert.deepEqual(err.data, { ...data, index });
    return true;
  });
}

describe('engine: batch', () => {
  it('runs every command in order and answers one result per command', () => {
    const h = new EngineHarness();
    h.set('old', 'x');
    const ops: Op[] = [
      ['set', 'a', enc(1)],
      ['get', 'a'],
      ['incr', 'a', 4],
      ['incr', 'n'],
      ['decr', 'n', 3],
      ['has', 'a'],
      ['set', 'a', enc('s'), { get: true }],
      ['expire', 'a', 100],
      ['persist', 'a'],
      ['expire', 'missing', 100],
      ['del', ['old', 'missing']],
      ['has', 'old'],
      ['mget', ['a', 'n']],
      ['set', 'b', enc(2), { nx: true }],
      ['set', 'b', enc(3), { nx: true }],
      ['ttl', 'a'],
    ];
    const r = h.exec('batch', ops) as unknown[];
    assert.equal(r.length, ops.length);
    assert.deepEqual(
      [r[0], dec(r[1]), r[2], r[3], r[4], r[5], dec(r[6]), r[7], r[8], r[9], r[10], r[11]],
      [true, 1, 5, 1, -2, true, 5, true, true, false, 1, false],
    );
    assert.deepEqual((r[12] as unknown[]).map(dec), ['s', -2]);
    assert.deepEqual([r[13], r[14], r[15]], [true, false, -1]);
    assert.deepEqual([h.get('a'), h.get('b'), h.get('n'), h.exec('has', 'old')], ['s', 2, -2, false]);
  });

  it('an empty batch answers an empty list', () => {
    assert.deepEqual(new EngineHarness().exec('batch', []), []);
  });

  it('a command failing while running (wrong type at index k) undoes every earlier write', () => {
    const h = new EngineHarness();
    h.set('keep', 'v', { ttl: 500 });
    h.set('gone', 'g');
    h.set('ttl', 1);
    h.set('str', 'not a number');
    h.exec('incr', 'counter', 10);
    const before = h.digest();
    const ops: Op[] = [
      ['set', 'keep', enc('changed')],
      ['del', ['gone']],
      ['set', 'fresh', enc(1), { ttl: 50 }],
      ['expire', 'ttl', 10],
      ['incr', 'counter'],
      ['persist', 'keep'],
      ['incr', 'str'],
      ['set', 'after', enc(1)],
    ];
    throwsAt(() => h.exec('batch', ops), 'ERR_SHAREDKV_WRONG_TYPE', 6, { key: 'str' });
    assert.equal(h.digest(), before);
    assert.equal(h.exec('ttl', 'keep'), 500);
    assert.equal(h.exec('ttl', 'ttl'), -1);
    assert.equal(h.get('counter'), 10);
    // The restored ttl index still works: 'keep' expires on time, 'fresh' never existed.
    h.advance(500);
    assert.equal(h.engine.sweep(), false);
    assert.deepEqual([...h.engine.data.keys()].sort(), ['counter', 'gone', 'str', 'ttl']);
  });

  it('the failing command can be the first one', () => {
    const h = new EngineHarness();
    h.set('s', 'x');
    const before = h.digest();
    throwsAt(
      () =>
        h.exec('batch', [
          ['incr', 's'],
          ['set', 'a', enc(1)],
        ]),
      'ERR_SHAREDKV_WRONG_TYPE',
      0,
      { key: 's' },
    );
    assert.equal(h.digest(), before);
  });

  it('a clear inside a failing batch is undone too', () => {
    const h = new EngineHarness();
    h.set('a', 1);
    h.set('b', 2, { ttl: 100 });
    h.set('s', 's');
    const before = h.digest();
    throwsAt(() => h.exec('batch', [['clear'], ['set', 's', enc('s')], ['incr', 's']]), 'ERR_SHAREDKV_WRONG_TYPE', 2, {
      key: 's',
    });
    assert.equal(h.digest(), before);
    assert.equal(h.exec('ttl', 'b'), 100);
  });

  it('later commands see the writes of earlier ones', () => {
    const h = new EngineHarness();
    const r = h.exec('batch', [
      ['set', 'k', enc(1)],
      ['incr', 'k'],
      ['get', 'k'],
      ['del', ['k']],
      ['get', 'k'],
    ]) as unknown[];
    assert.deepEqual([r[0], r[1], dec(r[2]), r[3], r[4]], [true, 2, 2, 1, null]);
  });

  it('bad arguments at index k refuse the whole batch before anything runs', () => {
    const h = new EngineHarness();
    h.set('a', 1);
    const before = h.digest();
    const counts = JSON.stringify(h.exec('stats'));
    throwsAt(
      () =>
        h.exec('batch', [
          ['set', 'a', enc(2)],
          ['incr', 'n'],
          ['set', 'b', enc(1), { ttl: -5 }],
        ]),
      'ERR_SHAREDKV_BAD_ARGUMENT',
      2,
    );
    throwsAt(() => h.exec('batch', [['set', 'a', enc(2)], ['get']]), 'ERR_SHAREDKV_BAD_ARGUMENT', 1);
    throwsAt(() => h.exec('batch', [['set', 'a', enc(2), { bogus: 1 }]]), 'ERR_SHAREDKV_BAD_ARGUMENT', 0, {
      option: 'bogus',
    });
    assert.equal(h.digest(), before);
    // Refused batches run no command, so none is counted (the batch itself is).
    const after = h.exec('stats') as { commands: Record<string, number> };
    const was = JSON.parse(counts) as { commands: Record<string, number> };
    assert.equal(after.commands.set, was.commands.set);
    assert.equal(after.commands.incr, undefined);
  });

  for (const [name, args] of [
    ['getOrSet', ['k', 1000]],
    ['fill', ['k', 1, enc(1)]],
    ['batch', [[]]],
    ['ping', []],
    ['stats', []],
  ] as const) {
    it(`refuses ${name}, which cannot be part of a batch (ERR_SHAREDKV_BAD_ARGUMENT with the index)`, () => {
      const h = new EngineHarness();
      const before = h.digest();
      throwsAt(
        () =>
          h.exec('batch', [
            ['set', 'a', enc(1)],
            [name, ...args],
          ]),
        'ERR_SHAREDKV_BAD_ARGUMENT',
        1,
      );
      assert.equal(h.digest(), before);
    });
  }

  it('an unknown command inside a batch fails with ERR_SHAREDKV_PROTOCOL and its index', () => {
    const h = new EngineHarness();
    throwsAt(() => h.exec('batch', [['set', 'a', enc(1)], ['nope']]), 'ERR_SHAREDKV_PROTOCOL', 1);
    assert.equal(h.exec('has', 'a'), false);
  });

  it('a malformed op list is refused', () => {
    const h = new EngineHarness();
    for (const bad of ['nope', [['set', 'a', enc(1)], 'get'], [[1, 'a']], [[]], null]) {
      assert.throws(() => h.exec('batch', bad), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' }, JSON.stringify(bad));
    }
    assert.equal(h.exec('has', 'a'), false);
  });

  it('cas: a match writes and answers true; a mismatch answers false and the batch goes on', () => {
    const h = new EngineHarness();
    h.set('k', { v: 1 }, { ttl: 500 });
    h.set('d', 'del me');
    const r = h.exec('batch', [
      ['cas', 'k', enc({ v: 2 }), enc('no')],
      ['cas', 'k', enc({ v: 1 }), enc({ v: 3 })],
      ['cas', 'new', null, enc(1), { ttl: 100 }],
      ['cas', 'new', null, enc(2)],
      ['cas', 'd', enc('del me'), null],
      ['set', 'after', enc(true)],
    ]);
    assert.deepEqual(r, [false, true, true, false, true, true]);
    assert.deepEqual([h.get('k'), h.get('new'), h.exec('has', 'd'), h.get('after')], [{ v: 3 }, 1, false, true]);
    assert.deepEqual([h.exec('ttl', 'k'), h.exec('ttl', 'new')], [500, 100]);
  });

  it('cas: a value stored in the older structured form still matches its plain encoding', () => {
    const h = new EngineHarness();
    const value = { id: 1, tags: ['a', 'b'] };
    const legacy = legacyEncoding(enc(value));
    assert.ok(legacy);
    h.exec('set', 'k', legacy);
    const r = h.exec('batch', [
      ['cas', 'k', enc({ id: 1, tags: ['a'] }), enc('no')],
      ['cas', 'k', enc(value), enc('swapped')],
    ]);
    assert.deepEqual(r, [false, true]);
    assert.equal(h.get('k'), 'swapped');
  });

  it('cas: bad arguments at index k refuse the whole batch before anything runs', () => {
    const h = new EngineHarness();
    h.set('k', 1);
    const before = h.digest();
    const bad: unknown[][] = [
      ['cas', 'k', enc(1), enc(2), { ttl: -1 }],
      ['cas', 'k', enc(1), enc(2), { nx: true }],
      ['cas', 'k', enc(1), enc(2), 5],
      ['cas', 'k', 'not bytes', enc(2)],
      ['cas', 'k', enc(1), new Uint8Array(0)],
      ['cas', 5, enc(1), enc(2)],
      ['cas', 'k', enc(1)],
    ];
    for (const op of bad) {
      assert.throws(
        () => h.exec('batch', [['cas', 'k', enc(1), enc(2)], ['set', 'a', enc(1)], op]),
        (err: SharedKVError) => {
          assert.equal(err.code, 'ERR_SHAREDKV_BAD_ARGUMENT');
          assert.equal((err.data as { index?: unknown }).index, 2);
          return true;
        },
        JSON.stringify(op.slice(0, 2)),
      );
    }
    assert.equal(h.digest(), before);
  });

  it('cas: a write invalidates the near caches holding the key, as a standalone cas does; a mismatch does not', () => {
    const h = new EngineHarness();
    const pushes: unknown[][] = [];
    const reader = h.engine.openSession(
      'reader',
      () => {},
      (message) => pushes.push(message),
    );
    h.set('held', 1);
    h.set('other', 1);
    for (const key of ['held', 'other']) assert.ok(h.engine.execute(reader, 1, 'getc', [key]));
    h.exec('batch', [
      ['cas', 'held', enc(2), enc(3)],
      ['cas', 'other', enc(2), enc(3)],
    ]);
    assert.deepEqual(pushes, [], 'nothing changed, nothing invalidated');
    h.exec('batch', [
      ['cas', 'held', enc(1), enc(2)],
      ['cas', 'other', enc(1), null],
    ]);
    assert.deepEqual(pushes, [
      ['inv', 'held'],
      ['inv', 'other'],
    ]);
  });

  it('an expired key read inside a failed batch is counted as expired once', () => {
    const h = new EngineHarness();
    h.set('old', 1, { ttl: 5 });
    h.set('s', 'str');
    h.advance(5);
    assert.throws(
      () =>
        h.exec('batch', [
          ['get', 'old'],
          ['incr', 's'],
        ]),
      { code: 'ERR_SHAREDKV_WRONG_TYPE' },
    );
    assert.equal(h.exec('has', 'old'), false);
    h.engine.sweep();
    assert.equal(h.engine.expired, 1);
  });
});
