/** The conformance suite on the Redis backend, against a private redis-server started for this file. */
import { after, before, describe } from 'node:test';
import { connectRedis } from '../../src/backends/redis/index.js';
import { CONFORMANCE_PROCEDURES } from '../conformance/procedures.js';
import { runConformance, storePair } from '../conformance/suite.js';
import { type RedisServer, redisSkipReason, startRedis } from '../helpers/redis-server.js';

const skip = redisSkipReason();
if (skip) {
  describe('conformance: redis', { skip }, () => {});
} else {
  let server: RedisServer;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server?.stop();
  });
  runConformance('conformance: redis', async () => {
    // On Redis a procedure runs in the process that calls it: both stores register them.
    const store = await connectRedis({ redis: server.url, procedures: CONFORMANCE_PROCEDURES });
    const peer = await connectRedis({ redis: server.url, procedures: CONFORMANCE_PROCEDURES });
    return storePair(store, peer);
  });
}
