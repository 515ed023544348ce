/**
 * The session store, with connect-redis's test cases (lifecycle, ttl from the cookie, touch, disableTouch,
 * disableTTL, prefix, ids, all, length, clear, sessions whose cookie already expired) on any store, then
 * through real express-session and @fastify/session apps. The cross-worker test is in cluster.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import express from 'express';
import session from 'express-session';
import Fastify from 'fastify';
import { SessionStore } from '../../src/integrations/express-session.js';
import type { Store } from '../../src/types.js';
import { stopStores, storeFactory, storeNames } from './stores.js';

declare module 'express-session' {
  interface SessionData {
    views?: number;
  }
}

after(stopStores);

for (const name of storeNames()) {
  describe(`session store (${name})`, () => {
    let kv: Store;
    before(async () => {
      kv = await storeFactory(name).owner();
    });
    after(() => kv.close());

    it('defaults', () => {
      const store = new SessionStore(kv);
      assert.equal(store.prefix, 'sess');
      assert.equal(store.ttl, 86_400_000);
      assert.equal(store.serializer, JSON);
      assert.equal(store.disableTouch, false);
      assert.equal(store.disableTTL, false);
      assert.ok(store instanceof session.Store, 'extends express-session’s Store');
    });

    it('lifecycle, as connect-redis tests it (callback style)', async () => {
      const store = new SessionStore(kv, { prefix: 'life' });
      const raw = kv.namespace('life');
      const P = <A extends unknown[], R>(fn: (...args: [...A, (err: unknown, r?: R) => void]) => unknown) =>
        promisify(fn).bind(store) as (...args: A) => Promise<R>;
      await P(store.clear)();
      const sess = { foo: 'bar' };
      await P(store.set)('123', sess);
      assert.deepEqual(await P(store.get)('123'), sess);
      assert.ok((await raw.ttl('123')) >= 86_399_000, 'the default ttl is one day');

      let expires = new Date(Date.now() + 60_000).toISOString();
      await P(store.set)('456', { cookie: { expires } });
      assert.ok((await raw.ttl('456')) <= 60_000);
      const expires2 = new Date(Date.now() + 90_000).toISOString();
      await P(store.touch)('456', { cookie: { expires: expires2 } });
      assert.ok((await raw.ttl('456')) > 60_000, 'touch extends the ttl');

      assert.equal(await P(store.length)(), 2);
      assert.deepEqual((await P<[], string[]>(store.ids)()).sort(), ['123', '456']);
      const all = (await P<[], Array<{ id: string }>>(store.all)()).sort((a, b) => (a.id > b.id ? 1 : -1));
      assert.deepEqual(all, [
        { id: '123', foo: 'bar' },
        { id: '456', cookie: { expires } },
      ]);

      await P(store.destroy)('456');
      assert.equal(await P(store.length)(), 1);
      await P(store.clear)();
      assert.equal(await P(store.length)(), 0);

      await Promise.all(Array.from({ length: 1000 }, (_, i) => store.set(`load-${i}`, { i })));
      assert.equal(await store.length(), 1000);
      await store.clear();
      assert.equal(await store.length(), 0);

      expires = new Date(Date.now() + 90_000).toISOString();
      await store.set('789', { cookie: { expires } });
      assert.equal(await store.length(), 1);
      // A cookie that has already expired deletes the session instead of writing it.
      expires = new Date(Date.now() - 90_000).toISOString();
      await store.set('789', { cookie: { expires } });
      assert.equal(await store.length(), 0);
    });

    it('promise style; get of a missing session is null; errors reach the callback', async () => {
      const store = new SessionStore(kv, { prefix: 'promise' });
      assert.equal(await store.get('nope'), null);
      await store.set('a', { cookie: { maxAge: 1000 }, n: 1 } as never);
      assert.deepEqual(await store.get('a'), { cookie: { maxAge: 1000 }, n: 1 });
      const broken = new SessionStore(kv, {
        prefix: 'promise',
        serializer: {
          stringify: () => {
            throw new Error('cannot serialize');
          },
          parse: JSON.parse,
        },
      });
      const err = await new Promise((resolve) => broken.set('b', {}, resolve));
      assert.ok(err instanceof Error);
      await assert.rejects(broken.set('b', {}), /cannot serialize/);
    });

    it('ttl option (ms or function), disableTouch, disableTTL, prefix isolation', async () => {
      const ttl = new SessionStore(kv, { prefix: 'ttl', ttl: 5_000 });
      await ttl.set('a', {});
      const left = await kv.namespace('ttl').ttl('a');
      assert.ok(left > 4_000 && left <= 5_000);
      const fn = new SessionStore(kv, { prefix: 'ttl', ttl: () => 7_000 });
      await fn.set('b', { cookie: { expires: new Date(Date.now() + 100_000) } });
      assert.ok((await kv.namespace('ttl').ttl('b')) <= 7_000);

      const noTouch = new SessionStore(kv, { prefix: 'notouch', disableTouch: true });
      await noTouch.set('a', { cookie: { expires: new Date(Date.now() + 10_000) } });
      await noTouch.touch('a', { cookie: { expires: new Date(Date.now() + 100_000) } });
      assert.ok((await kv.namespace('notouch').ttl('a')) <= 10_000, 'touch changed nothing');

      const noTtl = new SessionStore(kv, { prefix: 'nottl', disableTTL: true });
      await noTtl.set('a', { cookie: { expires: new Date(Date.now() + 10_000) } });
      assert.equal(await kv.namespace('nottl').ttl('a'), -1);

      assert.equal(await new SessionStore(kv, { prefix: 'other' }).length(), 0, 'other prefixes are not seen');
    });

    it('expires with the cookie', async () => {
      const store = new SessionStore(kv, { prefix: 'short' });
      await store.set('a', { cookie: { expires: new Date(Date.now() + 80) } });
      assert.ok(await store.get('a'));
      await until(async () => (await store.get('a')) === null);
    });

    it('express-session: sessions persist across two apps sharing the store', async () => {
      const make = () => {
        const app = express();
        app.use(
          session({
            store: new SessionStore(kv, { prefix: 'xs' }),
            secret: 's',
            resave: false,
            saveUninitialized: false,
          }),
        );
        app.get('/', (req, res) => {
          req.session.views = (req.session.views ?? 0) + 1;
          res.json({ views: req.session.views });
        });
        return app;
      };
      const [a, b] = await Promise.all([serve(make()), serve(make())]);
      const first = await fetch(`${a}/`);
      const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
      assert.deepEqual(await first.json(), { views: 1 });
      assert.deepEqual(await (await fetch(`${b}/`, { headers: { cookie } })).json(), { views: 2 });
      assert.deepEqual(await (await fetch(`${a}/`, { headers: { cookie } })).json(), { views: 3 });
    });

    it('@fastify/session: the same class is a fastify session store', async () => {
      const make = async () => {
        const app = Fastify();
        await app.register(fastifyCookie);
        await app.register(fastifySession, {
          secret: 'a secret with minimum length of 32 characters',
          cookie: { secure: false },
          store: new SessionStore(kv, { prefix: 'fs' }),
          saveUninitialized: false,
        });
        app.get('/', async (req) => {
          const views = ((req.session.get('views' as never) as number | undefined) ?? 0) + 1;
          req.session.set('views' as never, views as never);
          return { views };
        });
        return app;
      };
      const [a, b] = await Promise.all([make(), make()]);
      try {
        const first = await a.inject('/');
        assert.deepEqual(first.json(), { views: 1 });
        const cookie = String(first.headers['set-cookie']).split(';')[0]!;
        assert.deepEqual((await b.inject({ url: '/', headers: { cookie } })).json(), { views: 2 });
        assert.equal(await new SessionStore(kv, { prefix: 'fs' }).length(), 1);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });
}

async function serve(app: express.Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
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
