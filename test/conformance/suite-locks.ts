/**
 * Conformance: locks and semaphores between the store and its peer (another session, for remote backends
 * another process): exclusivity, first-come-first-served waiters, leases and fencing tokens, withLock,
 * waits that time out or are aborted, and a holder that goes away.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lock, Store } from '../../src/types.js';
import { loaderError, type Suite, waitUntil } from './suite.js';

/**
 * Time for a lock request to reach the owner (or Redis) and take its place in line before the next one is
 * sent from another session. Nothing in the public API tells that a waiter is queued, so this is a pause,
 * kept short; the requests themselves take a millisecond or two.
 */
const QUEUED = 50;

/** Polls `tryLock` on `store` until it grants `name`; resolves with the lock. */
async function takeWhenFree(store: Store, name: string, ttl = 60_000): Promise<Lock> {
  let lock: Lock | null = null;
  await waitUntil(async () => {
    lock = await store.tryLock(name, { ttl });
    return lock !== null;
  }, `${name} is free`);
  return lock as unknown as Lock;
}

export function lockTests(s: Suite): void {
  describe('locks', () => {
    s.test(
      'a held lock is exclusive across sessions: tryLock answers null and wait 0 times out until release',
      async () => {
        const held = await s.store.lock('L', { ttl: 60_000 });
        assert.equal(held.name, 'L');
        assert.ok(Number.isSafeInteger(held.token) && held.token > 0, `token ${held.token}`);
        assert.equal(await s.store.tryLock('L'), null, 'not reentrant');
        assert.equal(await s.peer.tryLock('L'), null);
        await assert.rejects(s.peer.lock('L', { wait: 0 }), { code: 'ERR_SHAREDKV_TIMEOUT' });
        assert.deepEqual(await s.store.keys(), [], 'a lock is not a key');
        assert.equal(await held.release(), true);
        const next = await s.peer.tryLock('L', { ttl: 60_000 });
        assert.ok(next, 'free once released');
        assert.equal(await s.store.tryLock('L'), null);
        assert.equal(await next.release(), true);
      },
      'peer',
    );

    s.test('release resolves true once, then false; the name is free again at once', async () => {
      const lock = await s.store.lock('R', { ttl: 60_000 });
      assert.equal(await lock.release(), true);
      assert.equal(await lock.release(), false);
      const again = await s.store.tryLock('R');
      assert.ok(again);
      assert.equal(await again.release(), true);
    });

    s.test(
      'fencing tokens strictly increase with every grant of a name, whichever side takes it',
      async () => {
        const tokens: number[] = [];
        for (const side of [s.store, s.peer, s.store, s.peer, s.peer]) {
          const lock = await side.lock('T', { ttl: 60_000 });
          tokens.push(lock.token);
          await lock.release();
        }
        for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `tokens ${tokens}`);
      },
      'peer',
    );

    s.test(
      'waiters are served first come, first served across sessions',
      async () => {
        const held = await s.peer.lock('Q', { ttl: 60_000 });
        const order: number[] = [];
        const waiters: Array<Promise<number>> = [];
        for (const [i, side] of [s.store, s.peer, s.store].entries()) {
          waiters.push(
            side.lock('Q', { ttl: 60_000, wait: 10_000 }).then(async (lock) => {
              order.push(i);
              await lock.release();
              return lock.token;
            }),
          );
          await sleep(QUEUED);
        }
        assert.deepEqual(order, [], 'nobody is served while the lock is held');
        await held.release();
        const tokens = await Promise.all(waiters);
        assert.deepEqual(order, [0, 1, 2]);
        assert.ok(held.token < tokens[0]! && tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, `${tokens}`);
      },
      'peer',
    );

    s.test(
      'a lease ends at its ttl: the lock frees itself, and the old holder can neither release nor extend it',
      async () => {
        const start = performance.now();
        const old = await s.store.lock('E', { ttl: 250 });
        assert.equal(await s.peer.tryLock('E'), null, 'held during the lease');
        const next = await takeWhenFree(s.peer, 'E');
        const after = performance.now() - start;
        // Clocks count whole milliseconds: allow a little under the ttl, never a lease cut short.
        assert.ok(after >= 240, `freed after ${after.toFixed(0)} ms of a 250 ms lease`);
        assert.ok(next.token > old.token);
        assert.equal(await old.release(), false);
        await assert.rejects(old.extend(1_000), { code: 'ERR_SHAREDKV_LOCK_LOST' });
        assert.equal(await s.store.tryLock('E'), null, 'the failed release did not free the new lease');
        assert.equal(await next.release(), true);
      },
      'peer',
    );

    s.test(
      'extend keeps the lock past its first ttl',
      async () => {
        const lock = await s.store.lock('X', { ttl: 200 });
        await lock.extend(10_000);
        await sleep(300);
        assert.equal(await s.peer.tryLock('X'), null);
        assert.equal(await lock.release(), true);
      },
      'peer',
    );

    s.test(
      'a wait that runs out rejects with ERR_SHAREDKV_TIMEOUT and leaves no waiter behind',
      async () => {
        const held = await s.peer.lock('W', { ttl: 60_000 });
        const start = performance.now();
        await assert.rejects(s.store.lock('W', { wait: 80 }), { code: 'ERR_SHAREDKV_TIMEOUT' });
        assert.ok(performance.now() - start >= 70, 'waited for its wait');
        await held.release();
        // Had the timed-out waiter stayed in line, the release would have handed it the lock.
        const again = await s.peer.tryLock('W');
        assert.ok(again, 'free at once');
        await again.release();
      },
      'peer',
    );

    s.test('an aborted wait rejects with ERR_SHAREDKV_ABORTED and leaves no waiter behind', async () => {
      const held = await s.peer.lock('A', { ttl: 60_000 });
      await assert.rejects(s.store.lock('A', { signal: AbortSignal.abort() }), { code: 'ERR_SHAREDKV_ABORTED' });
      const ac = new AbortController();
      const waiting = s.store.lock('A', { wait: 60_000, signal: ac.signal });
      await sleep(QUEUED);
      ac.abort();
      await assert.rejects(waiting, { code: 'ERR_SHAREDKV_ABORTED' });
      await held.release();
      const again = await s.peer.tryLock('A');
      assert.ok(again, 'the release did not go to the aborted waiter');
      await again.release();
    }, ['peer', 'abort']);

    s.test(
      'a fenced write is refused with ERR_SHAREDKV_LOCK_LOST once the lease passed to another holder',
      async () => {
        const first = await s.store.lock('F', { ttl: 200 });
        assert.equal(await s.store.set('f', 1, { fence: first }), true);
        const second = await takeWhenFree(s.peer, 'F');
        await assert.rejects(s.store.set('f', 2, { fence: first }), { code: 'ERR_SHAREDKV_LOCK_LOST' });
        await assert.rejects(s.store.batch().set('g', 1).set('f', 3, { fence: first }).exec(), {
          code: 'ERR_SHAREDKV_LOCK_LOST',
        });
        assert.equal(await s.store.has('g'), false, 'nothing of the batch applied');
        assert.equal(await s.store.get('f'), 1);
        // The `{ lock, token }` form names the live lease, whoever holds it.
        assert.equal(await s.store.set('f', 4, { fence: { lock: 'F', token: second.token } }), true);
        assert.equal(await s.peer.set('f', 5, { fence: second }), true);
        await assert.rejects(s.store.set('f', 6, { fence: { lock: 'F', token: second.token + 1 } }), {
          code: 'ERR_SHAREDKV_LOCK_LOST',
        });
        assert.equal(await second.release(), true);
        await assert.rejects(s.peer.set('f', 7, { fence: second }), { code: 'ERR_SHAREDKV_LOCK_LOST' });
        assert.equal(await s.store.get('f'), 5);
      },
      'peer',
    );

    s.test('a namespaced lock fences the keys of its namespace', async () => {
      const ns = s.store.namespace('app');
      const lock = await ns.lock('job', { ttl: 60_000 });
      assert.equal(lock.name, 'job');
      assert.equal(await ns.set('state', 'running', { fence: lock }), true);
      const root = await s.store.tryLock('job');
      assert.ok(root, 'the root lock of the same name is another lock');
      await root.release();
      assert.equal(await lock.release(), true);
      await assert.rejects(ns.set('state', 'done', { fence: lock }), { code: 'ERR_SHAREDKV_LOCK_LOST' });
      assert.equal(await ns.get('state'), 'running');
    });

    s.test(
      'withLock runs fn holding the lock, answers its value and releases; it releases when fn throws too',
      async () => {
        let inside: Lock | undefined;
        const value = await s.store.withLock(
          'WL',
          async (lock) => {
            inside = lock;
            assert.equal(await s.peer.tryLock('WL'), null, 'held while fn runs');
            return { done: new Map([[1n, 'yes']]) };
          },
          { ttl: 60_000 },
        );
        assert.deepStrictEqual(value, { done: new Map([[1n, 'yes']]) });
        assert.equal(inside?.name, 'WL');
        assert.ok((inside?.token ?? 0) > 0);
        const free = await s.peer.tryLock('WL');
        assert.ok(free, 'released after fn');
        await free.release();
        await assert.rejects(
          s.store.withLock('WL', () => {
            throw loaderError('E_CRITICAL');
          }),
          { code: 'E_CRITICAL' },
        );
        const again = await s.peer.tryLock('WL');
        assert.ok(again, 'released after fn threw');
        await again.release();
      },
      'peer',
    );

    s.test('withLock rejects with ERR_SHAREDKV_LOCK_LOST when fn outlived the lease', async () => {
      await assert.rejects(
        s.store.withLock('WL2', () => sleep(200), { ttl: 50 }),
        { code: 'ERR_SHAREDKV_LOCK_LOST' },
      );
    });

    s.test('bad lock arguments reject with ERR_SHAREDKV_BAD_ARGUMENT', async () => {
      await assert.rejects(s.store.lock('B', { ttl: -5 }), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      await assert.rejects(s.store.tryLock('B', { ttl: 1.5 }), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      await assert.rejects(s.store.lock(42 as never), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      // A semaphore of a bad size is refused when it is made (through the RPC: when it is first used).
      await assert.rejects((async () => s.store.semaphore('B', 0).acquire())(), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      const free = await s.store.tryLock('B');
      assert.ok(free, 'nothing was taken by the bad calls');
      await free.release();
    });

    s.test('withLock with a body that is not a function rejects and takes no lock', async () => {
      await assert.rejects(s.store.withLock('BW', 'not a function' as never), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
      const free = await s.store.tryLock('BW');
      assert.ok(free, 'the lock was not taken');
      await free.release();
    });

    s.test(
      'a lock whose holder goes away (store closed, worker process killed) is free at once',
      async () => {
        const second = await s.second();
        try {
          await second.store.lock('D', { ttl: 60_000 });
          assert.equal(await s.store.tryLock('D'), null);
          const waiting = s.store.lock('D', { ttl: 60_000, wait: 10_000 });
          await sleep(QUEUED);
          await second.close();
          // Served long before the 60 s lease: the owner freed it when the holder went.
          const lock = await waiting;
          assert.equal(await lock.release(), true);
        } finally {
          await second.close();
        }
      },
      'lifecycle',
    );
  });

  describe('semaphores', () => {
    s.test(
      'a semaphore of n admits n holders across sessions; a lock of another size is refused',
      async () => {
        const mine = s.store.semaphore('S', 2);
        assert.equal(mine.name, 'S');
        assert.equal(mine.limit, 2);
        const theirs = s.peer.semaphore('S', 2);
        const p1 = await mine.acquire({ ttl: 60_000 });
        const p2 = await theirs.acquire({ ttl: 60_000 });
        assert.ok(p2.token > p1.token);
        assert.equal(await mine.tryAcquire(), null);
        assert.equal(await theirs.tryAcquire(), null);
        await assert.rejects(mine.acquire({ wait: 50 }), { code: 'ERR_SHAREDKV_TIMEOUT' });
        await assert.rejects(s.store.lock('S', { wait: 0 }), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
        const waiting = theirs.acquire({ ttl: 60_000, wait: 10_000 });
        await sleep(QUEUED);
        assert.equal(await p1.release(), true);
        const p3 = await waiting;
        assert.ok(p3.token > p2.token);
        assert.equal(await mine.tryAcquire(), null, 'still two holders');
        await p2.release();
        await p3.release();
        const free = await mine.tryAcquire();
        assert.ok(free);
        await free.release();
      },
      'peer',
    );

    s.test(
      'withPermit never lets more than n sections run at once',
      async () => {
        let active = 0;
        let most = 0;
        const section = async () => {
          active++;
          most = Math.max(most, active);
          await sleep(60);
          active--;
        };
        await Promise.all(
          Array.from({ length: 9 }, (_, i) =>
            (i % 2 ? s.store : s.peer).semaphore('S3', 3).withPermit(section, { ttl: 60_000, wait: 10_000 }),
          ),
        );
        assert.equal(most, 3);
        assert.equal(active, 0);
      },
      'peer',
    );
  });
}
