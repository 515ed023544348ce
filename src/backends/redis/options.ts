/** Options of the Redis backend, and their checks. */
import type { Procedure } from '../../engine/commands/procedures.js';
import { badArgument, describe } from '../../errors.js';

/**
 * An ioredis client: a `Redis` or a `Cluster`. sharedkv opens its own connections from it with
 * `duplicate()` (same options), so yours is never changed or closed.
 */
export interface RedisClientLike {
  readonly isCluster: boolean;
  duplicate(...args: never[]): unknown;
}

/** Where the Redis backend connects. */
export type RedisTarget =
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` of one Redis or Valkey server. */
  | string
  /** Startup nodes of a Redis Cluster, as URLs. */
  | readonly string[]
  | RedisClientLike;

/** Options of {@link connectRedis} (and of `connect({ redis })`). */
export interface RedisConnectOptions {
  /**
   * The server: a URL, a list of cluster node URLs, or an ioredis `Redis`/`Cluster` client.
   * @example connect({ redis: 'redis://127.0.0.1:6379' })
   */
  redis: RedisTarget;
  /**
   * Start of every Redis key and channel this store uses (no `{` or `}`): keys look like
   * `{sharedkv}:name` and `{sharedkv:users}:42`. Stores with different prefixes share nothing.
   * @default 'sharedkv'
   */
  prefix?: string;
  /**
   * How values are stored: `msgpack` keeps every type structured clone carries (as the memory backend);
   * `json` stores JSON text that other Redis clients can read, and refuses values JSON would change with
   * `ERR_SHAREDKV_NOT_SERIALIZABLE`. Every process of one prefix must use the same encoding.
   * @default 'msgpack'
   */
  encoding?: 'msgpack' | 'json';
  /** Default per-call timeout in ms; 0 disables. @default 5000 */
  timeout?: number;
  /**
   * How long (ms) a lock outlives a holder process that stopped renewing it (it died, or is paused). A
   * holder's process renews its leases every third of this while it lives, up to each lock's `ttl`;
   * locks with a `ttl` at most this long are never renewed. The memory owner frees a dead holder's lock
   * the moment it sees the process go; Redis cannot see processes, so here it frees within this window.
   * @default 5000
   */
  lockLiveness?: number;
  /**
   * Publish key change events for `watch()` from every write. Turn off only when no process of this
   * prefix watches keys: it saves one PUBLISH per write.
   * @default true
   */
  events?: boolean;
  /**
   * Let `watch()` report keys that expire or are evicted (`op: 'expire' | 'evict'`), through Redis
   * keyspace notifications. On the first `watch()` sharedkv adds the flags `Exe` to the server's
   * `notify-keyspace-events` when they are missing (`CONFIG SET`; where CONFIG is not allowed, enable them
   * on the server yourself, or watchers see no expiry events and a warning is emitted).
   * @default true
   */
  expiryEvents?: boolean;
  /** Stored procedures to register (see `RedisStore.define`). */
  procedures?: Record<string, Procedure>;
}

const NAMES = new Set([
  'redis',
  'prefix',
  'encoding',
  'timeout',
  'lockLiveness',
  'events',
  'expiryEvents',
  'procedures',
]);

/** Checks the options; returns them with defaults applied. */
export function checkRedisOptions(options: RedisConnectOptions): Required<Omit<RedisConnectOptions, 'procedures'>> {
  if (options === null || typeof options !== 'object') {
    throw badArgument(`Expected connect() options to be an object, got ${describe(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!NAMES.has(name)) {
      throw badArgument(
        `Unknown option \`${name}\` for connect({ redis }); expected one of: ${[...NAMES].join(', ')}`,
        { option: name },
      );
    }
  }
  const { redis } = options;
  const isClient =
    redis !== null &&
    typeof redis === 'object' &&
    !Array.isArray(redis) &&
    typeof (redis as RedisClientLike).duplicate === 'function';
  const isList = Array.isArray(redis) && redis.length > 0 && redis.every((u) => typeof u === 'string');
  if (typeof redis !== 'string' && !isClient && !isList) {
    throw badArgument(
      `Expected \`redis\` to be a redis:// URL, a list of cluster node URLs, or an ioredis client, got ${describe(redis)}`,
    );
  }
  const encoding = options.encoding ?? 'msgpack';
  if (encoding !== 'msgpack' && encoding !== 'json') {
    throw badArgument(`Expected \`encoding\` to be 'msgpack' or 'json', got ${describe(encoding)}`);
  }
  const timeout = options.timeout ?? 5000;
  if (typeof timeout !== 'number' || !(timeout >= 0)) {
    throw badArgument(`Expected \`timeout\` to be a non-negative number (ms), got ${describe(timeout)}`);
  }
  const lockLiveness = options.lockLiveness ?? 5000;
  if (typeof lockLiveness !== 'number' || !Number.isSafeInteger(lockLiveness) || lockLiveness < 30) {
    throw badArgument(`Expected \`lockLiveness\` to be an integer of at least 30 (ms), got ${describe(lockLiveness)}`);
  }
  for (const flag of ['events', 'expiryEvents'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
      throw badArgument(`Expected \`${flag}\` to be a boolean, got ${describe(options[flag])}`);
    }
  }
  if (options.procedures !== undefined && (options.procedures === null || typeof options.procedures !== 'object')) {
    throw badArgument(`Expected \`procedures\` to be an object of functions, got ${describe(options.procedures)}`);
  }
  return {
    redis,
    prefix: options.prefix ?? 'sharedkv',
    encoding,
    timeout,
    lockLiveness,
    events: options.events ?? true,
    expiryEvents: options.expiryEvents ?? true,
  };
}
