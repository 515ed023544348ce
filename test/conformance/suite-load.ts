/**
 * Conformance: getOrSet. One loader runs however many callers miss at once; a failing loader's error goes
 * to its caller and the next caller loads; waiting callers honour their timeout and signal.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { deferred, loaderError, type Suite } from './suite.js';

/** A loader that counts its calls. */
function counted<T>(fn: () => T | Promise<T>): { loader: () => Promise<T>; calls: () => number } {
  let n = 0;
  return {
    loader: async () => {
      n++;
      return fn();
    },
    calls: () => n,
  };
}

/**
 * A loader held until the test releases it, with a promise that settles once it has started (so the test
 * knows this caller holds the load ticket before it sends the next call, however slow the machine).
 */
function held<T>(result: () => T): { loader: () => Promise<T>; started: Promise<void>; release: () => void } {
  const gate = deferred();
  const started = deferred();
  return {
    loader: async () => {
      started.resolve();
      await gate.promise;
      return result();
    },
    started: started.promise,
    release: () => gate.resolve(),
  };
}

export function loadTests(s: Suite): void {
  describe('getOrSet', () => {
    s.test('a hit answers the stored value without calling the loader', async () => {
      await s.store.set('k', { v: 1 });
      const { loader, calls } = counted(() => ({ v: 2 }));
      assert.deepStrictEqual(await s.store.getOrSet('k', loader), { v: 1 });
      assert.equal(calls(), 0);
    });

    s.test('a miss runs the loader once and stores its value', async () => {
      const { loader, calls } = counted(() => new Map([['loaded', 1n]]));
      assert.deepStrictEqual(await s.store.getOrSet('k', loader), new Map([['loaded', 1n]]));
      assert.deepStrictEqual(await s.store.get('k'), new Map([['loaded', 1n]]));
      assert.deepStrictEqual(await s.store.getOrSet('k', loader), new Map([['loaded', 1n]]));
      assert.equal(calls(), 1);
      assert.equal(await s.store.ttl('k'), -1);
    });

    s.test('the ttl option applies to the loaded value', async () => {
      await s.store.getOrSet('k', () => 'v', { ttl: 60_000 });
      const left = await s.store.ttl('k');
      assert.ok(left > 0 && left <= 60_000, `ttl ${left}`);
    });

    s.test('20 concurrent callers missing the same key: the loader runs once and all get its value', async () => {
      const gate = deferred();
      const { loader, calls } = counted(async () => {
        await gate.promise;
        return { big: 2n ** 100n, at: new Date(5) };
      });
      const all = Array.from({ length: 20 }, () => s.store.getOrSet('k', loader));
      // Let every caller reach the owner while the loader is held.
      await new Promise((r) => setTimeout(r, 50));
      gate.resolve();
      const values = await Promise.all(all);
      assert.equal(calls(), 1);
      for (const v of values) assert.deepStrictEqual(v, { big: 2n ** 100n, at: new Date(5) });
    });

    s.test("a loader's error rejects its caller; nothing is stored and the next call loads", async () => {
      await assert.rejects(
        s.store.getOrSet('k', () => {
          throw loaderError('E_FIRST');
        }),
        { code: 'E_FIRST' },
      );
      await assert.rejects(
        s.store.getOrSet('k', () => Promise.reject(loaderError('E_ASYNC'))),
        { code: 'E_ASYNC' },
      );
      assert.equal(await s.store.has('k'), false);
      const { loader, calls } = counted(() => 'second');
      assert.equal(await s.store.getOrSet('k', loader, { timeout: 2_000 }), 'second');
      assert.equal(calls(), 1);
      assert.equal(await s.store.get('k'), 'second');
    });

    s.test('when the loader fails, one waiting caller loads and the others get its value', async () => {
      const first = held((): string => {
        throw loaderError();
      });
      const firstFailed = assert.rejects(s.store.getOrSet('k', first.loader), { code: 'E_LOADER' });
      await first.started;
      const { loader, calls } = counted(() => 'loaded');
      const others = Array.from({ length: 5 }, () => s.store.getOrSet('k', loader));
      await new Promise((r) => setTimeout(r, 50));
      first.release();
      await firstFailed;
      assert.deepEqual(await Promise.all(others), Array(5).fill('loaded'));
      assert.equal(calls(), 1, 'after the failed load, one successful load');
    });

    s.test('a loader that returns undefined is refused and the next call can load', async () => {
      await assert.rejects(
        s.store.getOrSet('k', () => undefined),
        { code: 'ERR_SHAREDKV_BAD_ARGUMENT' },
      );
      assert.equal(await s.store.getOrSet('k', () => 'ok', { timeout: 2_000 }), 'ok');
    });

    s.test(
      'a loader that returns a function fails with ERR_SHAREDKV_NOT_SERIALIZABLE; the next call can load',
      async () => {
        await assert.rejects(
          s.store.getOrSet('k', () => ({ fn: () => 1 })),
          { code: 'ERR_SHAREDKV_NOT_SERIALIZABLE' },
        );
        assert.equal(await s.store.has('k'), false);
        assert.equal(await s.store.getOrSet('k', () => 'ok', { timeout: 2_000 }), 'ok');
      },
    );

    s.test('a caller waiting for another load rejects with ERR_SHAREDKV_TIMEOUT past its timeout', async () => {
      const slow = held(() => 'slow');
      const loading = s.store.getOrSet('k', slow.loader);
      await slow.started;
      const started = performance.now();
      await assert.rejects(
        s.store.getOrSet('k', () => 'never', { timeout: 80 }),
        { code: 'ERR_SHAREDKV_TIMEOUT' },
      );
      assert.ok(performance.now() - started >= 70, 'not before its timeout');
      slow.release();
      assert.equal(await loading, 'slow');
      assert.equal(await s.store.get('k'), 'slow');
    });

    s.test(
      'a caller waiting for another load rejects with ERR_SHAREDKV_ABORTED when its signal aborts',
      async () => {
        const slow = held(() => 'slow');
        const loading = s.store.getOrSet('k', slow.loader);
        await slow.started;
        const controller = new AbortController();
        const waiting = s.store.getOrSet('k', () => 'never', { signal: controller.signal });
        await new Promise((r) => setTimeout(r, 30));
        controller.abort();
        await assert.rejects(waiting, { code: 'ERR_SHAREDKV_ABORTED' });
        slow.release();
        assert.equal(await loading, 'slow');
        assert.equal(await s.store.get('k'), 'slow');
      },
      'abort',
    );

    s.test(
      'when the lease of a stuck loader passes, a waiting caller loads instead',
      async () => {
        const stuck = held(() => 'late');
        const slow = s.store.getOrSet('k', stuck.loader, { lease: 50 });
        await stuck.started;
        const { loader, calls } = counted(() => 'taken over');
        assert.equal(await s.store.getOrSet('k', loader, { timeout: 5_000 }), 'taken over');
        assert.equal(calls(), 1);
        stuck.release();
        assert.equal(await slow, 'late', 'the stuck caller still gets its own value');
        assert.equal(await s.store.get('k'), 'taken over', "the stale loader's value is not stored");
      },
      'leases',
    );
  });
}
