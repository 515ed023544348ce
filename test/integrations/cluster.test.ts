/**
 * The integrations across real processes: this process is the cluster primary and owns the store; four
 * cluster workers run an Express app (sharedkv rate limit + sharedkv sessions + cache-manager on Keyv) on
 * one shared port. Runs once per backend (see stores.ts): the memory owner, and Redis when redis-server
 * is installed, where the primary and the workers each open their own store on one private server.
 */
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { SessionStore } from '../../src/integrations/express-session.js';
import { metricsHandler, registerMetrics } from '../../src/integrations/metrics.js';
import type { Store } from '../../src/types.js';
import { forkWorker, killAll, nextEvent } from '../helpers/processes.js';
import { cookieOf, get } from './http.js';
import { stopStores, storeFactory, storeNames } from './stores.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/integrations-worker.ts', import.meta.url));
const WORKERS = 4;
const LIMIT = 100;
const SESSION_MS = 1_500;

after(killAll);
after(stopStores);

for (const name of storeNames()) {
  // The memory owner runs every process's commands, so its counters are cluster-wide; on Redis each
  // process counts only its own calls (keys and clients still come from the server).
  const ownerCountsAll = name === 'sharedkv';
  describe(`integrations on 4 cluster workers (${name})`, () => {
    let owner: Store;
    let workers: Worker[] = [];
    let base = '';
    let metricsUrl = '';
    let metricsServer: http.Server;
    const rlPrefix = `rl-${Date.now()}`;

    before(async () => {
      owner = await storeFactory(name).owner();
      const registry = new Registry();
      registerMetrics(owner, { registry });
      metricsServer = http.createServer(metricsHandler(registry)).listen(0, '127.0.0.1');
      await once(metricsServer, 'listening');
      metricsUrl = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}/metrics`;
      const env = {
        SKV_STORE: name,
        SKV_LIMIT: String(LIMIT),
        SKV_SESSION_MS: String(SESSION_MS),
        SKV_RL_PREFIX: rlPrefix,
      };
      workers = Array.from({ length: WORKERS }, () => forkWorker(env, FIXTURE));
      const ready = await Promise.all(workers.map((w) => nextEvent(w, 'listening', 60_000)));
      // Cluster workers share one port; every worker reports the same one.
      assert.equal(new Set(ready.map((r) => r.port)).size, 1);
      base = `http://127.0.0.1:${ready[0]!.port}`;
    });

    after(async () => {
      await killAll();
      metricsServer?.close();
      await owner?.close();
    });

    it(`express-rate-limit: 1,000 concurrent requests against a limit of ${LIMIT} → exactly ${LIMIT} pass`, async () => {
      const incrBefore = commandCount(await scrape(metricsUrl), 'incr');
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 1_000 }, () => get(`${base}/limited`)));
      const burstSeconds = (Date.now() - started) / 1000;
      const byStatus = count(results.map((r) => r.status));
      assert.deepEqual(byStatus, { 200: LIMIT, 429: 1_000 - LIMIT });
      // The requests really were served by several workers, each of which let some through.
      const servedBy = new Set(results.filter((r) => r.status === 200).map((r) => JSON.parse(r.body).pid));
      assert.ok(servedBy.size >= 2, `served by ${servedBy.size} workers`);
      // One window for the one client, holding every hit, ending one window (60 s) after it opened.
      const counters = owner.namespace(rlPrefix);
      const windows = await counters.keys('w:*');
      assert.equal(windows.length, 1);
      const resetAt = (await counters.get<number>(windows[0]!))!;
      assert.ok(resetAt > Date.now() && resetAt <= Date.now() + 60_000);
      const retryAfter = new Set(results.filter((r) => r.status === 429).map((r) => r.headers['retry-after']));
      assert.ok(
        // Retry-After counts the one window down: from 60 s at its start to what was left when the burst ended.
        [...retryAfter].every((s) => Number(s) >= 59 - Math.ceil(burstSeconds) && Number(s) <= 60),
        `Retry-After ${[...retryAfter]} over a burst of ${burstSeconds} s`,
      );
      // The owner's metrics saw each worker's hits: one incr per request, whichever worker served it.
      const metrics = await scrape(metricsUrl);
      if (ownerCountsAll) assert.equal(commandCount(metrics, 'incr') - incrBefore, 1_000);
      assert.ok(gauge(metrics, 'sharedkv_clients') >= WORKERS);
      assert.equal(gauge(metrics, 'sharedkv_up'), 1);
    });

    it('express-session: a login through one worker is seen by every worker; the session expires', async () => {
      const login = await get(`${base}/login?user=ada`);
      assert.equal(login.status, 200);
      const cookie = cookieOf(login);
      const pids = new Set<number>([JSON.parse(login.body).pid]);
      for (let i = 0; i < 40 && pids.size < WORKERS; i++) {
        const me = await get(`${base}/me`, { cookie });
        const body = JSON.parse(me.body);
        assert.equal(body.user, 'ada', `worker ${body.pid} sees the session`);
        pids.add(body.pid);
      }
      assert.equal(pids.size, WORKERS, 'every worker answered with the session');
      // Expiry: watch the store from here (reading it does not touch the session) until the ttl ends it.
      const sessions = new SessionStore(owner);
      assert.equal(await sessions.length(), 1);
      const lastTouch = Date.now();
      await until(async () => (await sessions.length()) === 0, 5_000);
      assert.ok(Date.now() - lastTouch >= SESSION_MS - 50, 'the session lived its maxAge');
      const after = JSON.parse((await get(`${base}/me`, { cookie })).body);
      assert.equal(after.user, null);
    });

    it('cache-manager: 4 workers missing one key at once run the loader once with sharedWrap', async () => {
      const wrapAll = async (key: string, shared: boolean) => {
        const done = workers.map((w) => nextEvent(w, 'wrapped'));
        for (const w of workers) w.send({ task: 'wrap', key, shared });
        return Promise.all(done);
      };
      const shared = await wrapAll(`shared-${rlPrefix}`, true);
      assert.equal(
        shared.reduce((n, r) => n + (r.loaderRuns as number), 0),
        1,
      );
      assert.equal(new Set(shared.map((r) => JSON.stringify(r.value))).size, 1, 'every worker got the one value');
      // The reason sharedWrap exists: cache-manager's own wrap coalesces only within a process.
      const plain = await wrapAll(`plain-${rlPrefix}`, false);
      assert.ok(plain.reduce((n, r) => n + (r.loaderRuns as number), 0) > 1);
    });

    it('metrics: the owner exposes the cluster-wide counters', async () => {
      const text = await scrape(metricsUrl);
      const stats = await owner.stats();
      assert.equal(gauge(text, 'sharedkv_keys'), stats.keys);
      assert.ok(stats.keys >= 2, 'the rate-limit window and the cached values');
      assert.match(text, /# TYPE sharedkv_commands_total counter/);
      if (!ownerCountsAll) return;
      for (const command of ['batch', 'getOrSet', 'get', 'expire']) {
        assert.ok(commandCount(text, command) > 0, `commands_total{command="${command}"}`);
      }
      assert.ok(commandCount(text, 'set') >= 2_000, 'two sets per rate-limited request');
      assert.match(text, /sharedkv_command_duration_seconds\{command="batch",quantile="0.99"\} \d/);
    });
  });
}

function count(values: Array<string | number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

async function scrape(url: string): Promise<string> {
  const res = await get(url);
  assert.equal(res.status, 200);
  return res.body;
}

function commandCount(text: string, command: string): number {
  const m = text.match(new RegExp(`^sharedkv_commands_total\\{command="${command}"\\} (\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

function gauge(text: string, name: string): number {
  const m = text.match(new RegExp(`^${name} ([\\d.e+-]+)$`, 'm'));
  if (!m) throw new Error(`no ${name} in the metrics`);
  return Number(m[1]);
}

async function until(cond: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
