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
