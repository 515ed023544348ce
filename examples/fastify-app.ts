/**
 * A Fastify app with @fastify/rate-limit and @fastify/session on sharedkv, run as a cluster: the limit and
 * the sessions hold across every worker.
 *
 *   node --import tsx examples/fastify-app.ts           # PORT (default 3001), WORKERS (default 2)
 *   curl -i localhost:3001/api                           # 5 per 10 s across all workers, then 429
 *   curl -c jar localhost:3001/visit; curl -b jar localhost:3001/visit   # the count follows you
 */
import cluster from 'node:cluster';
import fastifyCookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import fastifySession from '@fastify/session';
import Fastify from 'fastify';
import { connect } from 'sharedkv';
import { SessionStore } from 'sharedkv/express-session';
import { fastifyRateLimitStore } from 'sharedkv/fastify-rate-limit';

const PORT = Number(process.env.PORT ?? 3001);
const WORKERS = Number(process.env.WORKERS ?? 2);

const kv = await connect();

if (cluster.isPrimary) {
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === WORKERS) console.log(`listening on http://localhost:${PORT} with ${WORKERS} workers`);
  });
} else {
  const app = Fastify();
  await app.register(rateLimit, { global: false, store: fastifyRateLimitStore(kv) });
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    secret: process.env.SESSION_SECRET ?? 'a secret of at least thirty-two characters',
    cookie: { secure: false, maxAge: 30 * 60_000 },
    saveUninitialized: false,
    // The same store class serves express-session and @fastify/session.
    store: new SessionStore(kv),
  });

  app.get('/api', { config: { rateLimit: { max: 5, timeWindow: 10_000 } } }, async () => ({
    ok: true,
    worker: cluster.worker?.id,
  }));
  app.get('/visit', async (req) => {
    const visits = ((req.session.get('visits' as never) as number | undefined) ?? 0) + 1;
    req.session.set('visits' as never, visits as never);
    return { visits, worker: cluster.worker?.id };
  });

  await app.listen({ port: PORT, host: '127.0.0.1' });
}
