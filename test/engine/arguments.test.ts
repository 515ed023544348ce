/**
 * Engine: every command checks its arguments before it changes anything. Bad arguments fail with
 * ERR_SHAREDKV_BAD_ARGUMENT (an unknown command with ERR_SHAREDKV_PROTOCOL), the store stays exactly as it
 * was and the command is not counted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineHarness, enc } from '../helpers/engine.js';

const LONG_KEY = 'k'.repeat(16_385);
const v = enc('v');

/** [command, args] pairs that must be refused with ERR_SHAREDKV_BAD_ARGUMENT. */
const BAD: Array<[string, unknown[]]> = [
  // Arity.
  ['get', []],
  ['get', ['k', 'extra']],
  ['set', ['k']],
  ['set', ['k', v, {}, 'extra']],
  ['del', []],
  ['has', []],
  ['keys', ['*', 'extra']],
  ['mget', []],
  ['mset', []],
  ['clear', ['a', 'b']],
  ['size', ['a', 'b']],
  ['incr', []],
  ['incr', ['k', 1, 'extra']],
  ['decr', []],
  ['cas', ['k', v]],
  ['expire', ['k']],
  ['ttl', []],
  ['persist', ['k', 'extra']],
  ['batch', []],
  ['getOrSet', ['k']],
  ['fill', ['k', 1]],
  ['ping', ['extra']],
  ['stats', ['extra']],
  // Keys.
  ['get', [1]],
  ['get', [null]],
  ['get', [LONG_KEY]],
  ['set', [{}, v]],
  ['has', [['k']]],
  ['del', ['k']],
  ['del', [['k', 2]]],
  ['mget', ['k']],
  ['mget', [['k', null]]],
  ['keys', [5]],
  ['clear', [5]],
  ['size', [false]],
  ['incr', [5]],
  ['ttl', [Symbol.iterator]],
  ['persist', [1]],
  ['expire', [1, 10]],
  ['cas', [1, null, v]],
  ['getOrSet', [1, 1000]],
  ['fill', [1, 1, v]],
  // Values must be encoded (non-empty bytes).
  ['set', ['k', 'raw string']],
  ['set', ['k', new Uint8Array(0)]],
  ['set', ['k', null]],
  ['mset', [['k', 'raw']]],
  ['mset', [['k', v, 'odd']]],
  ['mset', [[1, v]]],
  ['mset', [{ k: v }]],
  ['cas', ['k', 'raw', v]],
  ['cas', ['k', null, 'raw']],
  ['fill', ['k', 1, 'raw']],
  // ttl: a positive safe integer of ms.
  ['set', ['k', v, { ttl: -5 }]],
  ['set', ['k', v, { ttl: 0 }]],
  ['set', ['k', v, { ttl: 1.5 }]],
  ['set', ['k', v, { ttl: '100' }]],
  ['set', ['k', v, { ttl: Number.NaN }]],
  ['set', ['k', v, { ttl: Number.POSITIVE_INFINITY }]],
  ['set', ['k', v, { ttl: 2 ** 53 }]],
  ['mset', [['k', v], { ttl: -1 }]],
  ['cas', ['k', null, v, { ttl: 0 }]],
  ['expire', ['k', -1]],
  ['expire', ['k', 0]],
  ['expire', ['k', 2.5]],
  ['expire', ['k', '10']],
  ['getOrSet', ['k', 0]],
  ['getOrSet', ['k', -1]],
  ['getOrSet', ['k', 'long']],
  ['fill', ['k', 1, v, { ttl: -1 }]],
  ['fill', ['k', 'ticket', v]],
  // Options.
  ['set', ['k', v, { nx: true, xx: true }]],
  ['set', ['k', v, { ttl: 10, keepTtl: true }]],
  ['set', ['k', v, { nX: true }]],
  ['set', ['k', v, { timeout: 10 }]],
  ['set', ['k', v, { nx: 'yes' }]],
  ['set', ['k', v, { get: 1 }]],
  ['set', ['k', v, 'options']],
  ['set', ['k', v, [true]]],
  ['mset', [['k', v], { nx: true }]],
  ['cas', ['k', null, v, { nx: true }]],
  ['fill', ['k', 1, v, { lease: 5 }]],
  // Numbers.
  ['incr', ['k', '1']],
  ['incr', ['k', Number.NaN]],
  ['incr', ['k', Number.POSITIVE_INFINITY]],
  ['decr', ['k', 1n]],
  ['decr', ['k', null]],
  // Batch shape.
  ['batch', ['ops']],
  ['batch', [[['get']]]],
  ['batch', [[['set', 'k', v, { ttl: -1 }]]]],
];

/** A store with keys of every kind, so a stray write would show in the digest. */
function populated(): EngineHarness {
  const h = new EngineHarness();
  h.set('k', 'value', { ttl: 1_000 });
  h.set('n', 5);
  h.set('s', 'str');
  h.set('v', 'v');
  return h;
}

describe('engine: bad arguments change nothing', () => {
  for (const [name, args] of BAD) {
    const label = `${name}(${args.map(describeArg).join(', ')})`;
    it(`${label} → ERR_SHAREDKV_BAD_ARGUMENT`, () => {
      const h = populated();
      const before = h.digest();
      const countBefore = h.engine.counts.get(name);
      assert.throws(() => h.exec(name, ...args), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      assert.equal(h.digest(), before);
      // A batch with a bad op did run (and refused as a whole), so only other commands must stay uncounted.
      if (name !== 'batch') assert.equal(h.engine.counts.get(name), countBefore, 'a refused command is not counted');
    });
  }

  it('trailing undefined arguments (omitted options) are accepted', () => {
    const h = populated();
    assert.equal(h.exec('set', 'x', v, undefined), true);
    assert.equal(h.exec('incr', 'n', undefined), 6);
    assert.equal((h.exec('keys', undefined) as string[]).length, 5);
  });

  it('null options are accepted as "no options"', () => {
    const h = populated();
    assert.equal(h.exec('set', 'x', v, null), true);
    assert.equal(h.exec('ttl', 'x'), -1);
  });
});

describe('engine: unknown commands', () => {
  for (const name of ['nope', 'GET', 'Set', '', '__proto__', 'constructor', 'toString', 'hello', 'cancel']) {
    it(`${JSON.stringify(name)} → ERR_SHAREDKV_PROTOCOL, store unchanged`, () => {
      const h = populated();
      const before = h.digest();
      assert.throws(() => h.exec(name, 'k'), { code: 'ERR_SHAREDKV_PROTOCOL' });
      assert.equal(h.digest(), before);
    });
  }

  it('a non-string command name → ERR_SHAREDKV_PROTOCOL', () => {
    const h = populated();
    for (const name of [1, null, undefined, { toString: () => 'get' }]) {
      assert.throws(() => h.engine.execute(h.a.session, 1, name as string, ['k']), {
        code: 'ERR_SHAREDKV_PROTOCOL',
      });
    }
  });
});

function describeArg(a: unknown): string {
  if (a instanceof Uint8Array) return '<bytes>';
  if (typeof a === 'string') return a.length > 20 ? `"${a.slice(0, 8)}…"(${a.length})` : JSON.stringify(a);
  if (typeof a === 'bigint') return `${a}n`;
  if (Array.isArray(a)) return `[${a.map(describeArg).join(', ')}]`;
  if (a !== null && typeof a === 'object') {
    return `{${Object.entries(a)
      .map(([k, x]) => `${k}: ${describeArg(x)}`)
      .join(', ')}}`;
  }
  return String(a);
}
