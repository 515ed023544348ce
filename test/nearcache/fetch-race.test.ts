/**
 * A read's reply is applied in a promise callback, after the rest of its frame has been handled. An
 * invalidation of the same key in that frame must keep the (older) value out of the cache; without it the
 * client would serve the old value until the key changed again, which in the interleaving test meant
 * forever.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NearCache } from '../../src/client/near-cache.js';

const bytes = (n: number) => Uint8Array.of(n);

describe('near cache reads in flight', () => {
  it('an invalidation while a read is in flight keeps its value out of the cache', () => {
    const near = new NearCache();
    const f = near.begin('k');
    near.invalidate('k');
    near.settle('k', f, bytes(1), -1);
    assert.equal(near.get('k'), undefined);
  });

  it('a read that starts after the invalidation is cached', () => {
    const near = new NearCache();
    const old = near.begin('k');
    near.invalidate('k');
    const fresh = near.begin('k');
    near.settle('k', old, bytes(1), -1);
    near.settle('k', fresh, bytes(2), -1);
    assert.deepEqual(near.get('k'), bytes(2));
  });

  it('a dropped connection makes every read in flight stale', () => {
    const near = new NearCache();
    const f = near.begin('k');
    near.clear();
    near.settle('k', f, bytes(1), -1);
    assert.equal(near.size, 0);
  });

  it('an invalidation of another key does not matter', () => {
    const near = new NearCache();
    const f = near.begin('k');
    near.invalidate('other');
    near.settle('k', f, bytes(3), -1);
    assert.deepEqual(near.get('k'), bytes(3));
  });
});

describe('near cache eviction (second chance)', () => {
  const keys = (near: NearCache) => ['a', 'b', 'c', 'd', 'e'].filter((k) => near.get(k) !== undefined);

  it('past maxKeys, an entry read since it was stored stays and the oldest unread one goes', () => {
    const near = new NearCache({ maxKeys: 3 });
    for (const k of ['a', 'b', 'c']) near.set(k, bytes(1), -1);
    near.get('a');
    near.set('d', bytes(1), -1);
    // get() above counts as a read too, so check membership through size and a fresh cache's view.
    assert.equal(near.size, 3);
    assert.deepEqual(keys(near), ['a', 'c', 'd']);
  });

  it('the entry just stored stays even when every other entry was read', () => {
    const near = new NearCache({ maxKeys: 2 });
    near.set('a', bytes(1), -1);
    near.set('b', bytes(1), -1);
    near.get('a');
    near.get('b');
    near.set('c', bytes(1), -1);
    assert.equal(near.size, 2);
    assert.ok(near.get('c') !== undefined, 'the new entry is kept');
  });

  it('maxBytes is kept the same way, and a read entry outlives unread ones', () => {
    const near = new NearCache({ maxBytes: 10 });
    near.set('a', new Uint8Array(4), -1);
    near.set('b', new Uint8Array(4), -1);
    near.get('a');
    near.set('c', new Uint8Array(4), -1);
    assert.deepEqual(keys(near), ['a', 'c']);
  });

  it('two reads of a key in flight: an invalidation between their replies keeps both out', () => {
    const near = new NearCache();
    const first = near.begin('k');
    const second = near.begin('k');
    near.settle('k', first, bytes(1), -1);
    near.invalidate('k');
    near.settle('k', second, bytes(1), -1);
    assert.equal(near.get('k'), undefined);
    const third = near.begin('k');
    near.settle('k', third, bytes(2), -1);
    assert.deepEqual(near.get('k'), bytes(2));
  });
});
