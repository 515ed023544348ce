/**
 * `sharedkv/redis`: the Store API on Redis or Valkey (one server or a Redis Cluster), for data that must
 * span machines. The same application code runs on it as on the memory backend; `connect({ redis })`
 * from `sharedkv` loads this module on demand, so ioredis stays an optional peer dependency.
 *
 * @example
 * import { connectRedis } from 'sharedkv/redis';
 * const kv = await connectRedis({ redis: 'redis://127.0.0.1:6379' });
 * await kv.incr('hits');
 */
import { KVStore } from '../../client/store.js';
import type { Procedure } from '../../engine/commands/procedures.js';
import { SharedKVError } from '../../errors.js';
import type { Store } from '../../types.js';
import { Backend } from './backend.js';
import { RedisCaller } from './caller.js';
import { checkRedisOptions, type RedisConnectOptions } from './options.js';

export type { RedisClientLike, RedisConnectOptions, RedisTarget } from './options.js';

/** A store on Redis. */
export interface RedisStore extends Store {
  /** Always `'redis'`: tells this store from the memory backend's. */
  readonly backend: 'redis';
  /**
   * Registers (or replaces) a stored procedure that this process can run with `kv.call()`. On Redis a
   * procedure runs in the calling process, as an optimistic transaction (WATCH/MULTI) that may run it more
   * than once: register it in every process that calls it, and keep it free of side effects.
   * @example
   * kv.define('transfer', (tx, from, to, n) => {
   *   if ((tx.get<number>(from) ?? 0) < n) throw new Error('insufficient funds');
   *   tx.decr(from, n); tx.incr(to, n);
   * });
   */
  define(name: string, fn: Procedure): void;
}

class RedisKVStore extends KVStore implements RedisStore {
  readonly backend = 'redis' as const;

  constructor(private readonly redis: RedisCaller) {
    super(redis);
  }

  define(name: string, fn: Procedure): void {
    this.redis.procedures.define(name, fn);
  }
}

/**
 * Opens a store on Redis. Resolves once the server has answered.
 *
 * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` for bad options; `ERR_SHAREDKV_DISCONNECTED` when
 * Redis does not answer within `timeout`; `ERR_SHAREDKV_AUTH` when it refuses the credentials.
 * @example
 * const kv = await connectRedis({ redis: 'redis://127.0.0.1:6379', prefix: 'myapp' });
 */
export async function connectRedis(options: RedisConnectOptions): Promise<RedisStore> {
  const o = checkRedisOptions(options);
  const backend = new Backend(o.redis, o);
  const caller = new RedisCaller(backend, o.timeout);
  const store = new RedisKVStore(caller);
  for (const [name, fn] of Object.entries(options.procedures ?? {})) store.define(name, fn);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      caller.ready(),
      new Promise((_, reject) => {
        if (o.timeout === 0) return;
        timer = setTimeout(
          () => reject(new SharedKVError('ERR_SHAREDKV_DISCONNECTED', `Redis did not answer within ${o.timeout} ms`)),
          o.timeout,
        );
      }),
    ]);
  } catch (err) {
    await caller.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return store;
}
