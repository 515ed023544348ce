/**
 * The stores the integration tests run on, by name. A test takes a factory, never `connect()` itself, so
 * each backend is one entry here: the memory backend (`sharedkv`) always, and the Redis backend (`redis`)
 * whenever `redis-server` is installed, on a private server that the test file's process starts on first
 * use and stops in `after(stopStores)` (see test/helpers/redis-server.ts; `SHAREDKV_REQUIRE_REDIS=1`
 * turns a missing binary into a failure). `SKV_INTEGRATION_STORES=sharedkv` (or `redis`) runs only those.
 */
import { connect } from '../../src/index.js';
import type { Store } from '../../src/types.js';
import { type RedisServer, redisSkipReason, startRedis } from '../helpers/redis-server.js';

/** How one backend opens a store in the test process (the owner) and in a worker (a client). */
export interface IntegrationStoreFactory {
  /** The store of the test process. For the memory backend it owns the data and serves the workers. */
  owner(): Promise<Store>;
  /** The store of a worker process (forked after `owner()`, whose environment it inherits). */
  client(): Promise<Store>;
}

let redis: Promise<RedisServer> | undefined;
let owners = 0;

/**
 * The Redis backend: the test process's private server, and a fresh key prefix for every `owner()` so
 * that each suite starts empty, as a new memory owner does. Workers learn both from the environment
 * (`SKV_REDIS_URL`, `SKV_REDIS_PREFIX`), which `cluster.fork()` copies from this process.
 */
const redisFactory: IntegrationStoreFactory = {
  async owner() {
    redis ??= startRedis();
    process.env.SKV_REDIS_URL = (await redis).url;
    process.env.SKV_REDIS_PREFIX = `it${process.pid}-${++owners}`;
    return redisFactory.client();
  },
  client() {
    const url = process.env.SKV_REDIS_URL;
    if (!url) throw new Error('SKV_REDIS_URL is not set: the Redis store of a worker needs its owner first');
    return connect({ redis: url, prefix: process.env.SKV_REDIS_PREFIX ?? 'sharedkv' });
  },
};

/** Every backend the integration tests know. */
export const STORE_FACTORIES: Record<string, IntegrationStoreFactory> = {
  sharedkv: {
    // Explicit role: the test runner gives test files an IPC channel, which would make `auto` a client.
    owner: () => connect({ role: 'owner' }),
    client: () => connect(),
  },
  redis: redisFactory,
};

/**
 * The backends to run: `SKV_INTEGRATION_STORES` when set (comma-separated), else every backend that can
 * run here. Redis is left out, with the reason printed, when `redis-server` is missing.
 *
 * @throws Error for an unknown name, or when Redis is missing and `SHAREDKV_REQUIRE_REDIS=1`.
 */
export function storeNames(): string[] {
  const names = process.env.SKV_INTEGRATION_STORES?.split(',').filter(Boolean) ?? Object.keys(STORE_FACTORIES);
  for (const n of names) if (!(n in STORE_FACTORIES)) throw new Error(`No integration store named ${n}`);
  return names.filter((n) => n !== 'redis' || redisSkipReason() === undefined);
}

/** The factory named `name`. */
export function storeFactory(name: string): IntegrationStoreFactory {
  const f = STORE_FACTORIES[name];
  if (!f) throw new Error(`No integration store factory named ${JSON.stringify(name)}`);
  return f;
}

/** Stops what the stores of this process started (the private redis-server). For a test file's `after()`. */
export async function stopStores(): Promise<void> {
  const started = redis;
  redis = undefined;
  await (await started)?.stop();
}
