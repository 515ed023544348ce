/**
 * The sharded key table: keys of common shapes spread evenly over the shards (so no rehash touches more
 * than a few thousand entries at a million keys), the Map API the engine's readers use behaves as a Map's,
 * and iterators are live.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SHARDS, ShardedMap, shardIndex } from '../../src/engine/shards.js';
import { EngineHarness, enc } from '../helpers/engine.js';

const FAMILIES: Record<string, (i: number) => string> = {
  'key:N': (i) => `key:${i}`,
  'user:N:session': (i) => `user:${i}:session`,
  'tenant:42:user:N:settings:theme': (i) => `tenant:42:user:${i}:settings:theme`,
  'rate-limit by IPv4': (i) => `rl:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  'long keys': (i) => `cache:https://example.test/a/very/long/path/that/goes/on/${i}/and/on?page=2&sort=asc`,
  'one character': (i) => String.fromCharCode(i),
};

describe('engine: sharded key table', () => {
  for (const [name, key] of Object.entries(FAMILIES)) {
    it(`spreads ${name} keys evenly over the shards`, () => {
      const n = name === 'one character' ? 65_536 : 1_000_000;
      const counts = new Uint32Array(SHARDS);
      for (let i = 0; i < n; i++) counts[shardIndex(key(i))]!++;
      const mean = n / SHARDS;
      const max = Math.max(...counts);
      const min = Math.min(...counts);
      // As random placement would: within 6 standard deviations (~31 keys at a million) of the mean.
      const sd = Math.sqrt(mean);
      assert.ok(max < mean + 6 * sd, `largest shard ${max}, mean ${mean}`);
      assert.ok(min > mean - 6 * sd, `smallest shard ${min}, mean ${mean}`);
    });
  }

  it('behaves as a Map: size, get/set/has/delete, clear, and every entry once when iterated', () => {
    const m = new ShardedMap<number>();
    for (let i = 0; i < 10_000; i++) m.set(`k${i}`, i);
    m.set('k5', -5);
    assert.equal(m.size, 10_000);
    assert.equal(m.get('k5'), -5);
    assert.equal(m.has('k9999'), true);
    assert.equal(m.delete('k9999'), true);
    assert.equal(m.delete('k9999'), false);
    assert.equal(m.size, 9_999);
    const seen = new Set<string>();
    for (const [k, v] of m) {
      assert.ok(!seen.has(k));
      seen.add(k);
      assert.equal(m.get(k), v);
    }
    assert.equal(seen.size, 9_999);
    assert.deepEqual([...m.keys()].sort(), [...seen].sort());
    let sum = 0;
    m.forEach((v) => {
      sum += v;
    });
    assert.equal(
      sum,
      [...m.values()].reduce((a, b) => a + b, 0),
    );
    m.clear();
    assert.equal(m.size, 0);
    assert.deepEqual([...m.entries()], []);
  });

  it('iterators are live: a key deleted before it is reached is not visited', () => {
    const m = new ShardedMap<number>();
    for (let i = 0; i < 5_000; i++) m.set(`k${i}`, i);
    const it = m.keys();
    const first = it.next().value as string;
    const deleted = new Set<string>();
    for (const k of [...m.keys()]) {
      if (k !== first && deleted.size < 2_500) {
        m.delete(k);
        deleted.add(k);
      }
    }
    let visited = 0;
    for (let r = it.next(); !r.done; r = it.next()) {
      assert.ok(!deleted.has(r.value), `${r.value} was deleted`);
      visited++;
    }
    assert.equal(visited, 5_000 - 2_500 - 1);
  });

  it("the engine's size, clear and keys see every shard", () => {
    const h = new EngineHarness();
    for (let i = 0; i < 3_000; i++) h.set(`a:${i}`, i);
    for (let i = 0; i < 1_000; i++) h.set(`b:${i}`, i, { ttl: 100 });
    assert.equal(h.exec('size'), 4_000);
    assert.equal((h.exec('keys', 'b:*') as string[]).length, 1_000);
    h.advance(100);
    assert.equal(h.exec('size'), 3_000);
    assert.equal(h.exec('clear', 'a:1'), 1_111);
    assert.equal(h.exec('size'), 1_889);
    assert.equal(h.exec('clear'), 1_889);
    assert.equal(h.engine.data.size, 0);
    assert.equal(h.get('a:2'), undefined);
    h.set('again', enc(1));
    assert.equal(h.exec('size'), 1);
  });
});
