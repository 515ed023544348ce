/**
 * A store for @fastify/rate-limit on any sharedkv {@link Store}. The plugin takes a store *class* and
 * constructs it with its own options, so {@link fastifyRateLimitStore} binds a sharedkv store into one.
 *
 * @example
 * import rateLimit from '@fastify/rate-limit';
 * import { connect } from 'sharedkv';
 * import { fastifyRateLimitStore } from 'sharedkv/fastify-rate-limit';
 * const kv = await connect();
 * await app.register(rateLimit, { max: 100, timeWindow: 60_000, store: fastifyRateLimitStore(kv) });
 */
import type { Store } from '../types.js';
import { WindowCounter } from './window-counter.js';

/** A counter's state as the plugin expects it: hits and the ms left in the window. */
export interface FastifyRateLimitResult {
  current: number;
  ttl: number;
}

/** Node-style callback the plugin passes to `incr` and `read`. */
export type FastifyRateLimitCallback = (error: Error | null, result?: FastifyRateLimitResult) => void;

/** The plugin options the store reads (the plugin passes all of its options). */
export interface FastifyRateLimitStoreParams {
  /** Restart the window on every request past `max`. */
  continueExceeding?: boolean;
  /** Double the window for every request past `max`. */
  exponentialBackoff?: boolean;
}

/** Route details the plugin passes to `child()` (its merged route options). */
export interface FastifyRateLimitRoute extends FastifyRateLimitStoreParams {
  /** The route as the plugin describes it. */
  routeInfo?: { method?: string | string[]; url?: string };
  /** The route's own options, used when `routeInfo` is missing. */
  method?: string | string[];
  url?: string;
}

/** Options of {@link fastifyRateLimitStore}. */
export interface FastifyRateLimitStoreOptions {
  /** Namespace holding the counters (letters, digits and `_.@$-`). @default 'frl' */
  prefix?: string;
}

/** The store class the plugin instantiates: `new Store(pluginOptions)`. */
export type FastifyRateLimitStoreClass = new (params?: FastifyRateLimitStoreParams) => FastifyRateLimitStore;

/**
 * One @fastify/rate-limit store: a fixed window per key, opened by the key's first request. `child()`
 * gives each route with its own limits its own keys, as the plugin's Redis store does.
 */
export class FastifyRateLimitStore {
  private readonly windows: WindowCounter;

  constructor(
    private readonly kv: Store,
    private readonly params: FastifyRateLimitStoreParams = {},
    private readonly keyPrefix = '',
  ) {
    this.windows = new WindowCounter(kv, 0);
  }

  /** Counts one request of `key` in a window of `timeWindow` ms; reports the count and the ms left. */
  incr(key: string, callback: FastifyRateLimitCallback, timeWindow: number, max: number): void {
    this.count(this.keyPrefix + key, timeWindow, max).then(
      (result) => callback(null, result),
      (err: Error) => callback(err),
    );
  }

  /** The count and ms left of `key` without counting a request (`{ increment: false }`). */
  read(key: string, callback: FastifyRateLimitCallback): void {
    this.windows.get(this.keyPrefix + key).then(
      (state) => callback(null, state ? { current: state.hits, ttl: msLeft(state.resetAt) } : { current: 0, ttl: 0 }),
      (err: Error) => callback(err),
    );
  }

  /** A store for a route with its own limits: same counters' store, keys under the route. */
  child(route: FastifyRateLimitRoute): FastifyRateLimitStore {
    return new FastifyRateLimitStore(
      this.kv,
      { continueExceeding: route.continueExceeding ?? false, exponentialBackoff: route.exponentialBackoff ?? false },
      `${this.keyPrefix}${route.routeInfo?.method ?? route.method}${route.routeInfo?.url ?? route.url}-`,
    );
  }

  private async count(key: string, timeWindow: number, max: number): Promise<FastifyRateLimitResult> {
    const state = await this.windows.hit(key, 1, timeWindow);
    if (state.hits > max && !state.opened) {
      // Past the limit the plugin's other stores restart (continueExceeding) or stretch (exponentialBackoff)
      // the window. That rewrite races only with other requests of a client that is already refused.
      if (this.params.continueExceeding) {
        await this.windows.force(key, state.hits, timeWindow);
        return { current: state.hits, ttl: timeWindow };
      }
      if (this.params.exponentialBackoff) {
        const ttl = Math.min(timeWindow * 2 ** (state.hits - max - 1), 2 ** 31 - 1);
        await this.windows.force(key, state.hits, ttl);
        return { current: state.hits, ttl };
      }
    }
    return { current: state.hits, ttl: msLeft(state.resetAt) };
  }
}

function msLeft(resetAt: number | undefined): number {
  return resetAt === undefined ? 0 : Math.max(0, resetAt - Date.now());
}

/**
 * Binds a sharedkv store into a store class for @fastify/rate-limit's `store` option.
 * @param kv Any sharedkv store: the owner, a worker's client, a namespace or the Redis backend.
 */
export function fastifyRateLimitStore(
  kv: Store,
  options: FastifyRateLimitStoreOptions = {},
): FastifyRateLimitStoreClass {
  const ns = kv.namespace(options.prefix ?? 'frl');
  return class extends FastifyRateLimitStore {
    constructor(params: FastifyRateLimitStoreParams = {}) {
      super(ns, params);
    }
  };
}
