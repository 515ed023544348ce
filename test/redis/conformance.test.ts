/** The conformance suite on the Redis backend, against a private redis-server started for this file. */
import { after, before, describe } from 'node:test';
import { connectRedis } from '../../src/backends/redis/index.js';
import { runConformance } from '../conformance/suite.js';
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
    const store = await connectRedis({ redis: server.url });
    const peer = await connectRedis({ redis: server.url });
    return {
      store,
      peer,
      async close() {
        await store.close();
        await peer.close();
      },
    };
  });
}
