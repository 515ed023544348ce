/**
 * The rate-limiter integrations in one process, on the owner's store: the window counter they share,
 * express-rate-limit 7 and 8 in real Express apps, @fastify/rate-limit in a real Fastify app, and
 * rate-limiter-flexible. The cross-process acceptance test is in cluster.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import rateLimitPlugin from '@fastify/rate-limit';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { rateLimit as rateLimit7 } from 'express-rate-limit-v7';
import Fastify from 'fastify';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitStore } from '../../src/integrations/express-rate-limit.js';
import { fastifyRateLimitStore } from '../../src/integrations/fastify-rate-limit.js';
import { RateLimiterSharedKV } from '../../src/integrations/rate-limiter-flexible.js';
import { WindowCounter } from '../../src/integrations/window-counter.js';
import type { Store } from '../../src/types.js';
import { stopStores, storeFactory, storeNames } from './stores.js';

after(stopStores);

for (const name of storeNames()) {
  describe(`rate limiters (${name})`, () => {
    let kv: Store;
    before(async () => {
      kv = await storeFactory(name).owner();
    });
    after(() => kv.close());

    describe('window counter', () => {
      it('counts atomically within one window and reports its exact end', async () => {
        const c = new WindowCounter(kv.namespace('wc1'), 60_000);
        const before = Date.now();
        const states = await Promise.all(Array.from({ length: 200 }, () => c.hit('k')));
        assert.deepEqual(
          states.map((s) => s.hits).sort((a, b) => a - b),
          Array.from({ length: 200 }, (_, i) => i + 1),
        );
        assert.equal(new Set(states.map((s) => s.resetAt)).size, 1, 'every hit reports the same window');
        assert.equal(states.filter((s) => s.opened).length, 1);
        const resetAt = states[0]!.resetAt!;
        assert.ok(resetAt >= before + 60_000 && resetAt <= Date.now() + 60_000);
        // The window key expires at the reported reset time.
        const ttl = await kv.namespace('wc1').ttl('w:k');
        // Within a second: the gap is the time between the owner applying the set and the client reading its clock,
        // which a loaded machine can stretch to tens of ms.
        assert.ok(Math.abs(Date.now() + ttl - resetAt) < 1_000, `ttl ${ttl} matches the reset time`);
      });

      it('opens a new window once the old one ends', async () => {
        const c = new WindowCounter(kv.namespace('wc2'), 60);
        const first = await c.hit('k');
        await c.hit('k');
        assert.equal((await c.get('k'))?.hits, 2);
        await until(async () => (await c.get('k')) === undefined);
        const next = await c.hit('k');
        assert.equal(next.hits, 1);
        assert.ok(next.opened);
        assert.ok(next.resetAt! > first.resetAt!);
      });

      it('remove() never goes below zero and keeps the window; reset() and resetAll() forget', async () => {
        const ns = kv.namespace('wc3');
        const c = new WindowCounter(ns, 60_000);
        await c.hit('a', 2);
        await c.remove('a');
        await c.remove('a');
        await c.remove('a');
        assert.equal((await c.get('a'))?.hits, 0);
        assert.ok((await ns.ttl('w:a')) > 0, 'the window keeps its ttl');
        await c.remove('never-hit');
        assert.equal(await ns.size(), 2, 'removing from a key without a window creates nothing');
        await c.hit('b');
        assert.equal(await c.reset('a'), true);
        assert.equal(await c.get('a'), undefined);
        await c.resetAll();
        assert.equal(await ns.size(), 0);
      });

      it('force() replaces the window; a window of 0 never ends', async () => {
        const c = new WindowCounter(kv.namespace('wc4'), 0);
        const s = await c.hit('k', 3);
        assert.deepEqual([s.hits, s.resetAt], [3, undefined]);
        assert.equal(await kv.namespace('wc4').ttl('w:k'), -1);
        const f = await c.force('k', 10, 5_000);
        assert.equal(f.hits, 10);
        assert.deepEqual((await c.get('k'))?.hits, 10);
        assert.ok((await kv.namespace('wc4').ttl('w:k')) > 4_000);
      });
    });

    describe('express-rate-limit', () => {
      for (const [version, limiter] of [
        ['8', rateLimit],
        ['7', rateLimit7],
      ] as const) {
        it(`v${version}: limits, sends headers, skips failed requests, resets a key`, async () => {
          const store = new RateLimitStore(kv, { prefix: `erl${version}` });
          const app = express();
          app.use(
            (limiter as typeof rateLimit)({
              windowMs: 60_000,
              limit: 3,
              standardHeaders: 'draft-7',
              legacyHeaders: false,
              skipFailedRequests: true,
              store,
            }),
          );
          app.get('/ok', (_req, res) => {
            res.send('ok');
          });
          app.get('/fail', (_req, res) => {
            res.status(500).send('fail');
          });
          const base = await listen(app.listen(0, '127.0.0.1'));
          try {
            // Failed requests are counted, then taken back (decrement) once they fail.
            for (let i = 0; i < 3; i++) assert.equal((await fetch(`${base}/fail`)).status, 500);
            const statuses = [];
            for (let i = 0; i < 4; i++) statuses.push((await fetch(`${base}/ok`)).status);
            assert.deepEqual(statuses, [200, 200, 200, 429]);
            const limited = await fetch(`${base}/ok`);
            assert.match(limited.headers.get('ratelimit') ?? '', /limit=3, remaining=0, reset=(59|60)/);
            const key = (await kv.namespace(`erl${version}`).keys('w:*'))[0]!.slice(2);
            const info = await store.get(key);
            // Refused requests (429) count as failed too, so with skipFailedRequests only the 3 passes remain.
            assert.equal(info?.totalHits, 3);
            assert.ok(info.resetTime instanceof Date && info.resetTime.getTime() > Date.now() + 59_000);
            await store.resetKey(key);
            assert.equal((await fetch(`${base}/ok`)).status, 200);
            await store.resetAll();
            assert.equal(await store.get(key), undefined);
          } finally {
            await store.shutdown();
          }
        });
      }
    });

    describe('@fastify/rate-limit', () => {
      it('limits across the store, per route with child(), and answers read()', async () => {
        const app = Fastify();
        await app.register(rateLimitPlugin, { max: 2, timeWindow: 60_000, store: fastifyRateLimitStore(kv) });
        app.get('/a', async () => 'a');
        app.get('/b', { config: { rateLimit: { max: 1, timeWindow: 30_000 } } }, async () => 'b');
        await app.ready();
        try {
          const a = [];
          for (let i = 0; i < 3; i++) a.push((await app.inject('/a')).statusCode);
          assert.deepEqual(a, [200, 200, 429]);
          const b = [];
          for (let i = 0; i < 2; i++) b.push(await app.inject('/b'));
          assert.deepEqual(
            b.map((r) => r.statusCode),
            [200, 429],
          );
          const reset = Number(b[1]!.headers['x-ratelimit-reset']);
          assert.ok(reset > 25 && reset <= 30, `x-ratelimit-reset ${reset}`);
          // A second app (another process, in production) shares the counters.
          const other = Fastify();
          await other.register(rateLimitPlugin, { max: 2, timeWindow: 60_000, store: fastifyRateLimitStore(kv) });
          other.get('/a', async () => 'a');
          assert.equal((await other.inject('/a')).statusCode, 429);
          await other.close();
          const store = new (fastifyRateLimitStore(kv))();
          const seen = await new Promise<{ current: number; ttl: number } | undefined>((resolve, reject) =>
            store.read('127.0.0.1', (err, r) => (err ? reject(err) : resolve(r))),
          );
          assert.equal(seen?.current, 4);
        } finally {
          await app.close();
        }
      });
    });

    describe('rate-limiter-flexible', () => {
      it('consume, reward, penalty, block, get, delete share points through the store', async () => {
        const limiter = new RateLimiterSharedKV({ storeClient: kv, points: 3, duration: 60, keyPrefix: `rlf${name}` });
        const twin = new RateLimiterSharedKV({ storeClient: kv, points: 3, duration: 60, keyPrefix: `rlf${name}` });
        const r1 = await limiter.consume('user');
        assert.equal(r1.remainingPoints, 2);
        assert.equal(r1.isFirstInDuration, true);
        assert.ok(r1.msBeforeNext > 59_000 && r1.msBeforeNext <= 60_000);
        await twin.consume('user', 2);
        const refused = await limiter.consume('user').then(
          () => null,
          (res: unknown) => res,
        );
        assert.ok(refused instanceof RateLimiterRes);
        assert.equal(refused.consumedPoints, 4);
        await limiter.reward('user', 2);
        assert.equal((await twin.get('user'))?.consumedPoints, 2);
        await limiter.penalty('user', 1);
        assert.equal((await twin.get('user'))?.consumedPoints, 3);
        const blocked = await limiter.block('user', 120);
        assert.ok(blocked.msBeforeNext > 119_000);
        assert.ok(((await twin.get('user'))?.msBeforeNext ?? 0) > 119_000);
        assert.equal(await limiter.delete('user'), true);
        assert.equal(await twin.get('user'), null);
      });

      it('duration 0 never resets (msBeforeNext -1)', async () => {
        const limiter = new RateLimiterSharedKV({ storeClient: kv, points: 5, duration: 0, keyPrefix: 'forever' });
        const r = await limiter.consume('k', 2);
        assert.equal(r.msBeforeNext, -1);
        assert.equal(r.consumedPoints, 2);
      });
    });
  });
}

async function listen(server: Server): Promise<string> {
  await once(server, 'listening');
  after(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function until(cond: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
