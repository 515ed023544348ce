/**
 * A clustered Express app whose workers share one rate limit, one set of sessions and one metrics
 * endpoint through sharedkv: nothing to install beside the app's own packages, no Redis to run.
 *
 *   node --import tsx examples/express-app.ts          # PORT (default 3000), WORKERS (default 2)
 *   curl -i localhost:3000/api                          # 5 per 10 s across *all* workers, then 429
 *   curl -c jar localhost:3000/login?user=ada; curl -b jar localhost:3000/me   # any worker knows you
 *   curl localhost:3000/metrics                         # the whole cluster's store metrics, from one worker
 *
 * The primary owns the data and forks the workers; each worker runs the same app against the same store.
 */
import cluster from 'node:cluster';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import session from 'express-session';
import { connect } from 'sharedkv';
import { RateLimitStore } from 'sharedkv/express-rate-limit';
import { SessionStore } from 'sharedkv/express-session';
import { metricsHandler, registerMetrics } from 'sharedkv/metrics';

declare module 'express-session' {
  interface SessionData {
    user?: string;
  }
}

const PORT = Number(process.env.PORT ?? 3000);
const WORKERS = Number(process.env.WORKERS ?? 2);

// In the primary this makes the process the owner of the data; in a worker, a client of it.
const kv = await connect();

if (cluster.isPrimary) {
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === WORKERS) console.log(`listening on http://localhost:${PORT} with ${WORKERS} workers`);
  });
} else {
  const app = express();

  // One window per client for the whole cluster: the counters live in the owner, not in each worker.
  app.use('/api', rateLimit({ windowMs: 10_000, limit: 5, standardHeaders: 'draft-8', store: new RateLimitStore(kv) }));
  app.get('/api', (_req, res) => {
    res.json({ ok: true, worker: cluster.worker?.id });
  });

  app.use(
    session({
      store: new SessionStore(kv),
      secret: process.env.SESSION_SECRET ?? 'change me',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 30 * 60_000 },
    }),
  );
  app.get('/login', (req, res) => {
    req.session.user = String(req.query.user ?? 'anonymous');
    res.json({ user: req.session.user, worker: cluster.worker?.id });
  });
  app.get('/me', (req, res) => {
    res.json({ user: req.session.user ?? null, worker: cluster.worker?.id });
  });

  // stats() is answered by the owner for the whole store, so any worker can serve the cluster's metrics.
  const { registry } = registerMetrics(kv);
  app.get('/metrics', metricsHandler(registry));

  app.listen(PORT);
}
