/**
 * Model-based tests of the Redis backend against a private redis-server. Redis keeps its own clock, so
 * these sequences have no time travel: ttls are an hour and lock leases ten minutes (they never run out
 * during a run), and `ttl` results are checked within a window (see test/helpers/model.ts). Lock tokens
 * are checked to increase rather than to start at 1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectRedis, type RedisStore } from '../../src/backends/redis/index.js';
import { modelBudget, replayFromEnv, runModel } from '../helpers/model.js';
import { type RedisServer, redisSkipReason, startRedis } from '../helpers/redis-server.js';

const skip = redisSkipReason();
const only = process.env.SHAREDKV_MODEL_TARGET;

describe('model: redis backend', { skip: skip ?? (only !== undefined && only !== 'redis') }, () => {
  let server: RedisServer;
  let store: RedisStore;
  before(async () => {
    server = await startRedis();
    store = await connectRedis({ redis: server.url, timeout: 60_000 });
  });
  after(async () => {
    await store?.close();
    await server?.stop();
  });

  it('redis, without time travel', { timeout: 3_600_000 }, async () => {
    const report = await runModel(
      { name: 'redis', store, exactTokens: false },
      { ...modelBudget(100), ...replayFromEnv() },
    );
    console.log(JSON.stringify(report));
    assert.ok(report.sequences > 0);
  });
});
