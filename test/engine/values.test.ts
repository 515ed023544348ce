/** Engine: get, set (and its options), del, has, mget, mset, clear, size, ping, stats. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, type OwnerStore } from '../../src/index.js';
import { decodeStored, decodeValue, encodeValue } from '../../src/protocol/codec.js';
import { decodeFrame, encodeFrame } from '../../src/protocol/envelope.js';
import type { Server } from '../../src/server/server.js';
import { dec, EngineHarness, enc } from '../helpers/engine.js';

describe('engine: get and set', () => {
  it('get of a missing key answers null; set then get answers the same bytes', () => {
    const h = new EngineHarness();
    assert.equal(h.exec('get', 'k'), null);
    const bytes = enc({ a: [1, 'two'] });
    assert.equal(h.exec('set', 'k', bytes), true);
    assert.deepEqual(Buffer.from(h.exec('get', 'k') as Uint8Array), Buffer.from(bytes));
    assert.deepEqual(h.get('k'), { a: [1, 'two'] });
  });

  it('falsy values (0, "", false, null) are stored values, not missing keys', () => {
    const h = new EngineHarness();
    for (const [i, v] of [0, '', false, null].entries()) {
      h.set(`f${i}`, v);
      const raw = h.exec('get', `f${i}`);
      assert.ok(raw instanceof Uint8Array, `get f${i} answers bytes`);
      assert.equal(dec(raw), v);
      assert.equal(h.exec('has', `f${i}`), true);
      assert.equal(h.set(`f${i}`, 'other', { nx: true }), false, 'nx sees the falsy value as present');
    }
    assert.deepEqual((h.exec('mget', ['f0', 'f1', 'f2', 'f3', 'none']) as unknown[]).map(dec), [
      0,
      '',
      false,
      null,
      undefined,
    ]);
  });

  it('set overwrites and clears the ttl unless keepTtl', () => {
    const h = new EngineHarness();
    h.set('k', 1, { ttl: 100 });
    h.set('k', 2);
    assert.equal(h.exec('ttl', 'k'), -1);
    assert.equal(h.get('k'), 2);
  });

  it('nx writes only a missing key; xx only an existing one', () => {
    const h = new EngineHarness();
    assert.equal(h.set('k', 1, { xx: true }), false);
    assert.equal(h.exec('has', 'k'), false);
    assert.equal(h.set('k', 1, { nx: true }), true);
    assert.equal(h.set('k', 2, { nx: true }), false);
    assert.equal(h.get('k'), 1);
    assert.equal(h.set('k', 3, { xx: true }), true);
    assert.equal(h.get('k'), 3);
  });

  it('nx and xx treat an expired key as missing', () => {
    const h = new EngineHarness();
    h.set('k', 1, { ttl: 10 });
    h.advance(10);
    assert.equal(h.set('k', 2, { xx: true }), false);
    assert.equal(h.set('k', 2, { nx: true }), true);
    assert.equal(h.get('k'), 2);
    assert.equal(h.exec('ttl', 'k'), -1);
  });

  it('get: true answers the previous bytes (null when missing), also when nx refuses the write', () => {
    const h = new EngineHarness();
    assert.equal(h.set('k', 'a', { get: true }), null);
    assert.equal(dec(h.set('k', 'b', { get: true })), 'a');
    assert.equal(dec(h.set('k', 'c', { get: true, nx: true })), 'b');
    assert.equal(h.get('k'), 'b');
    assert.equal(h.set('m', 'x', { get: true, xx: true }), null);
    assert.equal(h.exec('has', 'm'), false);
  });

  it('keepTtl keeps the current expiry; on a key without ttl it sets none', () => {
    const h = new EngineHarness();
    h.set('k', 1, { ttl: 100 });
    h.advance(40);
    assert.equal(h.set('k', 2, { keepTtl: true }), true);
    assert.equal(h.exec('ttl', 'k'), 60);
    assert.equal(h.get('k'), 2);
    h.set('p', 1);
    h.set('p', 2, { keepTtl: true });
    assert.equal(h.exec('ttl', 'p'), -1);
    h.set('n', 1, { keepTtl: true });
    assert.equal(h.exec('ttl', 'n'), -1);
  });

  it('stores its own copy of bytes that arrive inside a frame, for set, mset and cas', () => {
    const h = new EngineHarness();
    h.set('c', 'old');
    // Values decoded from a socket frame are Buffer views into the frame; the owner must not keep the view
    // (it would pin the whole frame in memory, and share its bytes).
    const frame = Buffer.from(
      encodeFrame([
        ['set', 'k', enc('hello')],
        ['mset', ['a', enc(1), 'b', enc(2)]],
        ['cas', 'c', enc('old'), enc('new')],
      ]),
    );
    for (const [name, ...args] of decodeFrame(frame) as Array<[string, ...unknown[]]>) h.exec(name, ...args);
    for (const key of ['k', 'a', 'b', 'c']) {
      assert.notEqual(h.engine.data.get(key)?.v.buffer, frame.buffer, `${key} keeps a view into the frame`);
    }
    frame.fill(0);
    assert.deepEqual(
      ['k', 'a', 'b', 'c'].map((k) => h.get(k)),
      ['hello', 1, 2, 'new'],
    );
  });
});

describe('engine: del, has, mget, mset', () => {
  it('del answers how many existed; duplicates and missing keys count once or not at all', () => {
    const h = new EngineHarness();
    h.set('a', 1);
    h.set('b', 2);
    assert.equal(h.exec('del', ['a', 'a', 'b', 'zzz']), 2);
    assert.equal(h.exec('has', 'a'), false);
    assert.equal(h.exec('has', 'b'), false);
    assert.equal(h.exec('del', []), 0);
  });

  it('del does not count an expired key', () => {
    const h = new EngineHarness();
    h.set('a', 1, { ttl: 5 });
    h.set('b', 1);
    h.advance(5);
    assert.equal(h.exec('del', ['a', 'b']), 1);
  });

  it('mget answers values in order with null for missing keys', () => {
    const h = new EngineHarness();
    h.set('a', 'A');
    h.set('c', 'C');
    const out = h.exec('mget', ['c', 'b', 'a']) as unknown[];
    assert.equal(out[1], null);
    assert.deepEqual(out.map(dec), ['C', undefined, 'A']);
    assert.deepEqual(h.exec('mget', []), []);
  });

  it('mset writes every pair, with one ttl for all when given', () => {
    const h = new EngineHarness();
    h.set('a', 'old', { ttl: 50 });
    assert.equal(h.exec('mset', ['a', enc(1), 'b', enc(2)]), null);
    assert.deepEqual([h.get('a'), h.get('b')], [1, 2]);
    assert.equal(h.exec('ttl', 'a'), -1, 'mset without ttl clears it');
    h.exec('mset', ['c', enc(3), 'd', enc(4)], { ttl: 30 });
    assert.equal(h.exec('ttl', 'c'), 30);
    assert.equal(h.exec('ttl', 'd'), 30);
    h.advance(30);
    assert.deepEqual((h.exec('mget', ['a', 'b', 'c', 'd']) as unknown[]).map(dec), [1, 2, undefined, undefined]);
  });

  it('mset refuses the whole list when one pair is bad, writing none', () => {
    const h = new EngineHarness();
    const before = h.digest();
    assert.throws(() => h.exec('mset', ['a', enc(1), 'b', 'not bytes']), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
    assert.throws(() => h.exec('mset', ['a', enc(1), 2, enc(2)]), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
    assert.throws(() => h.exec('mset', ['a', enc(1), 'b']), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
    assert.equal(h.digest(), before);
  });
});

describe('engine: clear and size', () => {
  it('clear() removes every key and answers how many were live', () => {
    const h = new EngineHarness();
    h.set('a', 1);
    h.set('b', 2, { ttl: 10 });
    h.set('c', 3, { ttl: 100 });
    h.advance(10);
    assert.equal(h.exec('clear'), 2);
    assert.equal(h.engine.data.size, 0);
    assert.equal(h.engine.bytes, 0);
    assert.equal(h.exec('size'), 0);
    // The ttl index was reset too: a new key with a ttl expires normally.
    h.set('d', 4, { ttl: 5 });
    h.advance(5);
    assert.equal(h.engine.sweep(), false);
    assert.equal(h.engine.data.has('d'), false);
  });

  it('clear(prefix) removes only keys that start with the prefix', () => {
    const h = new EngineHarness();
    for (const k of ['ns:a', 'ns:b', 'ns:c', 'nsx', 'other:ns:a']) h.set(k, k);
    h.set('ns:gone', 0, { ttl: 1 });
    h.advance(1);
    assert.equal(h.exec('clear', 'ns:'), 3);
    assert.deepEqual((h.exec('keys', '*') as string[]).sort(), ['nsx', 'other:ns:a']);
  });

  it('size counts live keys, optionally under a prefix, never expired ones', () => {
    const h = new EngineHarness();
    assert.equal(h.exec('size'), 0);
    h.set('ns:a', 1);
    h.set('ns:b', 1, { ttl: 10 });
    h.set('x', 1);
    assert.equal(h.exec('size'), 3);
    assert.equal(h.exec('size', 'ns:'), 2);
    h.advance(10);
    assert.equal(h.exec('size'), 2);
    assert.equal(h.exec('size', 'ns:'), 1);
    assert.equal(h.exec('size', 'zzz'), 0);
  });
});

describe('engine: stats and ping', () => {
  it('ping answers pong', () => {
    assert.equal(new EngineHarness().exec('ping'), 'pong');
  });

  it('stats counts keys, bytes, hits, misses, expired keys and commands', () => {
    const h = new EngineHarness();
    const empty = h.exec('stats') as Record<string, unknown>;
    assert.equal(empty.keys, 0);
    assert.equal(empty.bytes, 0);
    h.set('a', 'x'.repeat(100));
    h.set('b', 1, { ttl: 5 });
    h.exec('get', 'a');
    h.exec('get', 'nope');
    h.exec('mget', ['a', 'nope']);
    h.advance(5);
    const s = h.exec('stats') as {
      keys: number;
      bytes: number;
      hits: number;
      misses: number;
      expired: number;
      commands: Record<string, number>;
      clients: number;
      pending: number;
    };
    assert.equal(s.keys, 1);
    assert.ok(s.bytes > 100, `bytes ${s.bytes} covers the 100-character value`);
    assert.equal(s.hits, 2);
    assert.equal(s.misses, 2);
    assert.equal(s.expired, 1);
    assert.deepEqual(s.commands, { stats: 2, set: 2, get: 2, mget: 1 });
    assert.equal(s.clients, 0);
    assert.equal(s.pending, 0);
  });

  it('bytes goes back to 0 when every key is deleted', () => {
    const h = new EngineHarness();
    h.set('a', { big: 'y'.repeat(500) });
    h.set('b', 2, { ttl: 10 });
    h.set('a', 'smaller');
    h.exec('del', ['a', 'b']);
    assert.equal(h.engine.bytes, 0);
  });
});

describe('value codec and stored bytes', () => {
  it('decoding kept bytes hangs nothing on them (stored values stay as they were stored)', async () => {
    const bytes = encodeValue({ a: 1, list: ['x', 'y'] });
    assert.deepEqual(decodeStored(bytes), { a: 1, list: ['x', 'y'] });
    assert.equal(Object.hasOwn(bytes, 'dataView'), false);
    // What decodeStored is for: the structured decode (for bytes fresh from a frame) caches a DataView on them.
    const fresh = encodeValue(new Map([['a', 1]]));
    decodeValue(fresh);
    assert.equal(Object.hasOwn(fresh, 'dataView'), true);
    const structured = encodeValue({ a: 1, m: new Map([['b', 2]]) });
    assert.deepEqual(decodeStored(structured), { a: 1, m: new Map([['b', 2]]) });
    assert.equal(Object.hasOwn(structured, 'dataView'), false);
    // The owner's own store reads the engine's stored bytes directly: they must come out unchanged.
    const kv = (await connect({ role: 'owner' })) as OwnerStore;
    try {
      await kv.set('k', { n: 1 });
      await kv.incr('counter');
      assert.deepEqual(await kv.get('k'), { n: 1 });
      assert.equal(await kv.incr('counter'), 2);
      const engine = (kv as unknown as { server: Server }).server.engine;
      for (const key of ['k', 'counter']) {
        assert.equal(Object.hasOwn(engine.data.get(key)!.v, 'dataView'), false, key);
      }
    } finally {
      await kv.close();
    }
  });
});
