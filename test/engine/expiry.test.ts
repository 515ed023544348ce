/** Engine: expire, ttl, persist, lazy expiry on read, active expiry by sweep, and the ttl index. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExpiryHeap, PAGE } from '../../src/engine/expiry.js';
import { EngineHarness, internal } from '../helpers/engine.js';

const heapOf = (h: EngineHarness) => internal<ExpiryHeap>(h.engine, 'heap');

describe('engine: expire, ttl, persist', () => {
  it('ttl answers -2 for a missing key, -1 for a key without ttl, else the remaining ms', () => {
    const h = new EngineHarness();
    assert.equal(h.exec('ttl', 'k'), -2);
    h.set('k', 1);
    assert.equal(h.exec('ttl', 'k'), -1);
    h.set('t', 1, { ttl: 1000 });
    assert.equal(h.exec('ttl', 't'), 1000);
    h.advance(250);
    assert.equal(h.exec('ttl', 't'), 750);
    h.clock.t += 0.4;
    assert.equal(h.exec('ttl', 't'), 750, 'rounded up, never 0 for a live key');
  });

  it('expire sets a ttl on an existing key and answers false for a missing one', () => {
    const h = new EngineHarness();
    assert.equal(h.exec('expire', 'k', 100), false);
    assert.equal(h.exec('has', 'k'), false);
    h.set('k', 'v');
    assert.equal(h.exec('expire', 'k', 100), true);
    assert.equal(h.exec('ttl', 'k'), 100);
    assert.equal(h.exec('expire', 'k', 10), true, 'a shorter ttl replaces a longer one');
    assert.equal(h.exec('ttl', 'k'), 10);
    assert.equal(h.get('k'), 'v');
  });

  it('persist removes a ttl: true when there was one, false otherwise', () => {
    const h = new EngineHarness();
    assert.equal(h.exec('persist', 'k'), false);
    h.set('k', 1);
    assert.equal(h.exec('persist', 'k'), false);
    h.exec('expire', 'k', 50);
    assert.equal(h.exec('persist', 'k'), true);
    assert.equal(h.exec('ttl', 'k'), -1);
    h.advance(1_000);
    assert.equal(h.engine.sweep(), false);
    assert.equal(h.get('k'), 1);
  });
});

describe('engine: lazy expiry', () => {
  it('a key is live until its expiry time and gone from that instant', () => {
    const h = new EngineHarness();
    h.set('k', 'v', { ttl: 100 });
    h.advance(99);
    assert.equal(h.get('k'), 'v');
    assert.equal(h.exec('ttl', 'k'), 1);
    h.advance(1);
    assert.equal(h.exec('get', 'k'), null);
    assert.equal(h.exec('ttl', 'k'), -2);
  });

  it('reading an expired key removes it and counts it once', () => {
    const h = new EngineHarness();
    h.set('k', 'v', { ttl: 10 });
    h.advance(10);
    assert.equal(h.engine.data.has('k'), true, 'nothing removes it before it is touched');
    assert.equal(h.exec('has', 'k'), false);
    assert.equal(h.engine.data.has('k'), false);
    assert.equal(h.engine.bytes, 0);
    h.exec('get', 'k');
    assert.equal(h.engine.expired, 1);
  });

  it('every command sees an expired key as missing', () => {
    const h = new EngineHarness();
    for (const k of ['a', 'b', 'c', 'd', 'e']) h.set(k, 1, { ttl: 5 });
    h.advance(5);
    assert.equal(h.exec('expire', 'a', 100), false);
    assert.equal(h.exec('persist', 'b'), false);
    assert.deepEqual(h.exec('mget', ['c']), [null]);
    assert.equal(h.exec('del', ['d']), 0);
    assert.deepEqual(h.exec('keys', 'e'), []);
  });
});

describe('engine: sweep (active expiry)', () => {
  it('removes due keys without any read, and answers false when nothing is left', () => {
    const h = new EngineHarness();
    h.set('a', 1, { ttl: 10 });
    h.set('b', 1, { ttl: 20 });
    h.set('c', 1);
    assert.equal(h.engine.sweep(), false);
    assert.equal(h.engine.data.size, 3);
    h.advance(10);
    assert.equal(h.engine.sweep(), false);
    assert.deepEqual([...h.engine.data.keys()].sort(), ['b', 'c']);
    h.advance(10);
    h.engine.sweep();
    assert.deepEqual([...h.engine.data.keys()], ['c']);
    assert.equal(h.engine.expired, 2);
  });

  it('stops at its budget and answers true while due keys remain', () => {
    const h = new EngineHarness();
    for (let i = 0; i < 25; i++) h.set(`k${i}`, i, { ttl: 1 + (i % 3) });
    h.set('keep', 1, { ttl: 1_000 });
    h.advance(10);
    assert.equal(h.engine.sweep(10), true);
    assert.equal(h.engine.data.size, 16);
    assert.equal(h.engine.sweep(10), true);
    assert.equal(h.engine.data.size, 6);
    assert.equal(h.engine.sweep(10), false);
    assert.deepEqual([...h.engine.data.keys()], ['keep']);
    assert.equal(h.engine.expired, 25);
  });

  it('ignores stale index items: deleted keys, changed ttls and persisted keys are not expired', () => {
    const h = new EngineHarness();
    h.set('deleted', 1, { ttl: 10 });
    h.exec('del', ['deleted']);
    h.set('extended', 1, { ttl: 10 });
    h.exec('expire', 'extended', 100);
    h.set('persisted', 1, { ttl: 10 });
    h.exec('persist', 'persisted');
    h.set('rewritten', 1, { ttl: 10 });
    h.set('rewritten', 2);
    h.advance(50);
    assert.equal(h.engine.sweep(), false);
    assert.deepEqual([...h.engine.data.keys()].sort(), ['extended', 'persisted', 'rewritten']);
    assert.equal(h.engine.expired, 0);
    h.advance(50);
    h.engine.sweep();
    assert.deepEqual([...h.engine.data.keys()].sort(), ['persisted', 'rewritten']);
    assert.equal(h.engine.expired, 1);
  });

  it('nextExpiry answers the ms until the earliest ttl, or undefined', () => {
    const h = new EngineHarness();
    assert.equal(h.engine.nextExpiry(), undefined);
    h.set('a', 1, { ttl: 300 });
    h.set('b', 1, { ttl: 100 });
    assert.equal(h.engine.nextExpiry(), 100);
    h.advance(150);
    assert.equal(h.engine.nextExpiry(), 0);
    h.engine.sweep();
    assert.equal(h.engine.nextExpiry(), 150);
  });

  it('compacting the ttl index drops stale items and keeps every live ttl', () => {
    const h = new EngineHarness();
    // One key whose ttl changes 3,000 times leaves 2,999 stale items behind.
    for (let i = 1; i <= 3_000; i++) h.set('hot', i, { ttl: 10_000 + i });
    h.set('cold', 0, { ttl: 20_000 });
    h.set('forever', 0);
    assert.ok(heapOf(h).length > 3_000);
    assert.equal(h.engine.sweep(), false);
    assert.equal(heapOf(h).length, 2, 'the index was rebuilt from the live keys');
    // The stale times of 'hot' pass: it survives until its last ttl.
    h.advance(13_000 - 1);
    h.engine.sweep();
    assert.equal(h.get('hot'), 3_000);
    assert.equal(h.exec('ttl', 'hot'), 1);
    h.advance(1);
    h.engine.sweep();
    assert.equal(h.engine.data.has('hot'), false, 'expired by the sweep, not by a read');
    h.advance(7_000);
    h.engine.sweep();
    assert.deepEqual([...h.engine.data.keys()], ['forever']);
    assert.equal(h.engine.expired, 2);
  });

  it('keys given a ttl after a compaction still expire', () => {
    const h = new EngineHarness();
    for (let i = 1; i <= 2_000; i++) h.set('hot', i, { ttl: 5_000 + i });
    h.engine.sweep();
    assert.ok(heapOf(h).length < 10);
    h.set('new', 1, { ttl: 10 });
    h.exec('expire', 'hot', 20);
    h.advance(20);
    h.engine.sweep();
    assert.equal(h.engine.data.size, 0);
  });
});

describe('engine: the ttl heap in pages', () => {
  it('pops in time order across page boundaries, while growing, shrinking and after a rebuild', () => {
    let seed = 5;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const heap = new ExpiryHeap();
    const n = 3 * PAGE + 123;
    const popAll = (count: number) => {
      let last = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < count; i++) {
        const at = heap.topAt();
        assert.ok(at >= last, `item ${i}: ${at} after ${last}`);
        assert.match(heap.topKey(), /^k\d+$/);
        last = at;
        heap.pop();
      }
    };
    for (let i = 0; i < n; i++) heap.push(Math.floor(rnd() * 1e6), `k${i}`);
    assert.equal(heap.length, n);
    // Half out, then as many in again (the heap shrinks and grows across pages), then all out.
    popAll(Math.floor(n / 2));
    for (let i = 0; i < Math.floor(n / 2); i++) heap.push(Math.floor(rnd() * 1e6), `k${i}`);
    assert.equal(heap.length, n);
    popAll(n);
    assert.equal(heap.length, 0);
    assert.equal(heap.topAt(), Number.POSITIVE_INFINITY);
    heap.rebuild(Array.from({ length: 2 * PAGE + 7 }, (_, i) => ({ at: (i * 7_919) % 10_007, key: `k${i}` })));
    assert.equal(heap.length, 2 * PAGE + 7);
    assert.equal(heap.topAt(), 0);
    popAll(2 * PAGE + 7);
  });
});

describe('engine: counting keys while many are due', () => {
  it('forEachDue visits exactly the items due, across pages, without removing any', () => {
    const heap = new ExpiryHeap();
    const times: number[] = [];
    for (let i = 0; i < 2 * PAGE + 500; i++) {
      const at = (i * 7_919) % 100_003;
      times.push(at);
      heap.push(at, `k${i}`);
    }
    for (const now of [-1, 0, 50, 40_000, 100_003]) {
      const seen: string[] = [];
      heap.forEachDue(now, (at, key) => {
        assert.ok(at <= now);
        seen.push(key);
      });
      assert.equal(seen.length, times.filter((t) => t <= now).length, `due at ${now}`);
      assert.equal(new Set(seen).size, seen.length, 'each item once');
    }
    assert.equal(heap.length, 2 * PAGE + 500, 'nothing removed');
  });

  it('size stays exact with thousands of keys due, and stats neither drains them nor walks them', () => {
    const h = new EngineHarness();
    for (let i = 0; i < 5_000; i++) h.set(`due:${i}`, i, { ttl: 10 });
    for (let i = 0; i < 7; i++) h.set(`live:${i}`, i, { ttl: 1_000 });
    h.set('forever', 1);
    // A key whose ttl changed and changed back has two heap items with its expiry: counted once.
    h.set('twice', 1, { ttl: 10 });
    h.exec('expire', 'twice', 500);
    h.exec('expire', 'twice', 10);
    h.advance(10);
    assert.equal(h.exec('size'), 8);
    assert.equal(h.exec('size', 'live:'), 7);
    assert.equal(h.exec('size', 'due:'), 0);
    const s = h.exec('stats') as { keys: number; expired: number };
    assert.ok(s.expired > 0 && s.expired < 1_000, `stats expired a bounded number itself (${s.expired})`);
    assert.equal(s.keys, 5_009 - s.expired, 'stats counts what is stored, as DBSIZE does');
    assert.ok(h.engine.data.size > 4_000, 'the rest is left to the sweep');
    assert.equal(h.exec('size'), 8, 'size stays exact');
    while (h.engine.sweep(1_000)) {
      // drain
    }
    assert.equal(h.engine.data.size, 8);
    assert.equal((h.exec('stats') as { keys: number }).keys, 8);
  });
});
