/**
 * The Keyv adapter: @keyv/test-suite (the version matching the installed Keyv 5) against it, run through
 * a Vitest-compatible shim, on the owner's store and on a namespace; Keyv 6 and cache-manager through it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite';
import { createCache } from 'cache-manager';
import Keyv from 'keyv';
import { Keyv as Keyv6 } from 'keyv6';
import { KeyvSharedKV, sharedWrap } from '../../src/integrations/keyv.js';
import type { Store } from '../../src/types.js';
import { stopStores, storeFactory, storeNames } from './stores.js';
import { vitestShim } from './vitest-shim.js';

after(stopStores);

for (const name of storeNames()) {
  describe(`keyv adapter (${name})`, () => {
    let kv: Store;
    before(async () => {
      kv = await storeFactory(name).owner();
    });
    after(() => kv.close());

    describe('@keyv/test-suite on the root store', () => {
      // The suite registers its tests when called; the store factory runs only inside them.
      keyvTestSuite(vitestShim() as never, Keyv, () => new KeyvSharedKV(kv));
    });

    describe('@keyv/test-suite on a namespace', () => {
      keyvTestSuite(vitestShim() as never, Keyv, () => new KeyvSharedKV(kv.namespace('keyv-suite')));
    });

    describe('@keyv/test-suite iterator tests, through Keyv 6 (Keyv 5 offers iterator() only for backends it lists)', () => {
      keyvIteratorTests(vitestShim() as never, Keyv6 as never, () => new KeyvSharedKV(kv.namespace('keyv6-iter')));
    });

    describe('adapter methods', () => {
      it('bulk methods and ttl', async () => {
        const adapter = new KeyvSharedKV(kv.namespace('bulk'));
        await adapter.setMany([
          { key: 'a', value: 1 },
          { key: 'b', value: { deep: [2] }, ttl: 60_000 },
          { key: 'c', value: 'short', ttl: 1 },
        ]);
        assert.deepEqual(await adapter.getMany(['a', 'b', 'missing']), [1, { deep: [2] }, undefined]);
        assert.deepEqual(await adapter.hasMany(['a', 'missing']), [true, false]);
        assert.ok((await kv.namespace('bulk').ttl('b')) > 59_000);
        assert.equal(await kv.namespace('bulk').ttl('a'), -1);
        assert.equal(await adapter.deleteMany(['a', 'b']), true);
        assert.equal(await adapter.deleteMany(['a', 'b']), false);
        assert.equal(await adapter.has('a'), false);
      });

      it('clear() with a Keyv namespace deletes only that namespace, even with glob characters in it', async () => {
        const store = kv.namespace('clear');
        const one = new Keyv({ store: new KeyvSharedKV(store), namespace: 'a*' });
        const two = new Keyv({ store: new KeyvSharedKV(store), namespace: 'ab' });
        await one.set('k', 1);
        await two.set('k', 2);
        await one.clear();
        assert.equal(await one.get('k'), undefined);
        assert.equal(await two.get('k'), 2);
      });

      it('Keyv 6 works through its bridge: get, set with ttl, namespaces, clear', async () => {
        const store = kv.namespace('keyv6');
        const a = new Keyv6({ store: new KeyvSharedKV(store), namespace: 'a' });
        const b = new Keyv6({ store: new KeyvSharedKV(store), namespace: 'b' });
        await a.set('k', { v: 1 }, 60_000);
        await b.set('k', 'b');
        assert.deepEqual(await a.get('k'), { v: 1 });
        await a.clear();
        assert.equal(await a.get('k'), undefined);
        assert.equal(await b.get('k'), 'b');
      });
    });

    describe('cache-manager', () => {
      it('get/set/del/wrap through Keyv; sharedWrap loads once for concurrent callers', async () => {
        const cache = createCache({ stores: [new Keyv({ store: new KeyvSharedKV(kv.namespace('cm')) })] });
        await cache.set('user:1', { name: 'ada' }, 60_000);
        assert.deepEqual(await cache.get('user:1'), { name: 'ada' });
        await cache.del('user:1');
        assert.equal(await cache.get('user:1'), undefined);
        let runs = 0;
        const loader = async () => {
          runs++;
          await new Promise((r) => setTimeout(r, 20));
          return { n: runs };
        };
        // Two separate caches stand for two processes: cache-manager coalesces only within one cache.
        const other = createCache({ stores: [new Keyv({ store: new KeyvSharedKV(kv.namespace('cm')) })] });
        const values = await Promise.all([
          sharedWrap(cache, kv, 'x', loader, { ttl: 60_000 }),
          sharedWrap(other, kv, 'x', loader, { ttl: 60_000 }),
        ]);
        assert.equal(runs, 1);
        assert.deepEqual(values, [{ n: 1 }, { n: 1 }]);
        assert.deepEqual(await other.get('x'), { n: 1 });
      });
    });
  });
}
