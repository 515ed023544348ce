/**
 * Linearizability on the Redis backend: 8 unrelated client processes (child_process.fork, each opening
 * `connect({ redis })` on one private redis-server) each run two loops of get/set/incr/cas on three shared
 * keys for a few seconds (30 s with SHAREDKV_DEEP=1), recording timed histories on the machine's monotonic
 * clock. The checker (test/helpers/linearizability.ts) must find every key's history linearizable.
 * Without redis-server the test skips, unless SHAREDKV_REQUIRE_REDIS=1.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { forkChild, killAll } from '../helpers/processes.js';
import { type RedisServer, redisSkipReason, startRedis } from '../helpers/redis-server.js';
import { type LinearProc, runAndCheck, SECONDS } from './run-histories.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/stress-linear-worker.ts', import.meta.url));
const CLIENTS = 8;

const skip = redisSkipReason();
describe('linearizability on the Redis backend', { skip }, () => {
  let server: RedisServer;
  let dir: string;
  const procs: LinearProc[] = [];

  before(async () => {
    server = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'sharedkv-linr-'));
  });
  after(async () => {
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.exited));
    await killAll();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`${CLIENTS} processes x 2 loops x ${SECONDS} s of get/set/incr/cas on 3 keys: every history is linearizable`, {
    timeout: 600_000,
  }, async () => {
    for (let i = 0; i < CLIENTS; i++) {
      const c = forkChild({ SKV_REDIS_URL: server.url, SKV_PREFIX: 'lin' }, FIXTURE);
      procs.push({
        label: `redis/${i}`,
        send: (m) => c.send(m as never),
        on: (e, f) => c.on(e, f),
        off: (e, f) => c.off(e, f),
        kill: () => c.kill('SIGKILL'),
        exited: c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : once(c, 'exit'),
      });
    }
    await runAndCheck(procs, dir, { backend: 'redis' });
    // The histories were made on the private server: its keyspace holds the three shared keys.
    const raw = new Redis(server.url);
    try {
      const keys = await raw.keys('*lin:*');
      assert.ok(keys.length >= 3, `the shared keys are in Redis (found ${keys.join(', ')})`);
    } finally {
      raw.disconnect();
    }
  });
});
