/**
 * A rate-limiter-flexible limiter on any sharedkv {@link Store}: `RateLimiterSharedKV` is a
 * `RateLimiterStoreAbstract`, so `consume`, `penalty`, `reward`, `block`, `get`, `set`, `delete`, the
 * insurance limiter and in-memory blocking all work as with `RateLimiterRedis`.
 *
 * @example
 * import { connect } from 'sharedkv';
 * import { RateLimiterSharedKV } from 'sharedkv/rate-limiter-flexible';
 * const limiter = new RateLimiterSharedKV({ storeClient: await connect(), points: 10, duration: 1 });
 * await limiter.consume(req.ip); // rejects with a RateLimiterRes past 10 per second across all workers
 */
import { createRequire } from 'node:module';
import { RateLimiterRes, type RateLimiterStoreAbstract as StoreAbstract } from 'rate-limiter-flexible';
import type { Store } from '../types.js';
import { WindowCounter, type WindowState } from './window-counter.js';

/**
 * The base class of every store-backed limiter. The package declares it in its types but its entry point
 * does not export it, so it is loaded from its file (the package has no `exports` map that would forbid it).
 */
const RateLimiterStoreAbstract = createRequire(import.meta.url)(
  'rate-limiter-flexible/lib/RateLimiterStoreAbstract.js',
) as typeof StoreAbstract;

/** Options of {@link RateLimiterSharedKV}: rate-limiter-flexible's own, with a sharedkv store as client. */
export interface RateLimiterSharedKVOptions {
  /** Any sharedkv store: the owner, a worker's client, a namespace or the Redis backend. */
  storeClient: Store;
  /** Points that may be consumed per `duration`. @default 4 */
  points?: number;
  /** Window length in seconds; `0` never resets. @default 1 */
  duration?: number;
  /** Prefix of the limiter's keys (separates limiters that share a store). @default 'rlflx' */
  keyPrefix?: string;
  /** Seconds a key stays blocked once it consumed more than `points`. @default 0 */
  blockDuration?: number;
  /** Spread actions evenly over the window. @default false */
  execEvenly?: boolean;
  /** Minimum delay in ms with `execEvenly`. */
  execEvenlyMinDelayMs?: number;
  /** Block keys in this process's memory past this many points, sparing the store. */
  inMemoryBlockOnConsumed?: number;
  /** Seconds of the in-memory block. */
  inMemoryBlockDuration?: number;
  /** Consumed points at which the key is blocked in the store for `blockDuration`. */
  blockOnConsumed?: number;
  /** A limiter used while the store fails (e.g. a `RateLimiterMemory`). */
  insuranceLimiter?: unknown;
}

/**
 * rate-limiter-flexible limiter whose counters live in sharedkv: every process consumes from the same
 * points. Each key is a fixed window that opens on its first consumption.
 */
export class RateLimiterSharedKV extends RateLimiterStoreAbstract {
  private readonly windows: WindowCounter;

  /** @throws TypeError when `storeClient` is missing (rate-limiter-flexible's own check). */
  constructor(options: RateLimiterSharedKVOptions) {
    super(options as unknown as ConstructorParameters<typeof StoreAbstract>[0]);
    // The base class's `client` setter rejects a missing client with the library's usual error.
    (this as unknown as { client: unknown }).client = options.storeClient;
    this.windows = new WindowCounter(options.storeClient.namespace('rlf'), 0);
  }

  /**
   * Adds `points` to the key's window (opening one of `msDuration` ms when none is live), or with
   * `forceExpire` sets the key to exactly `points` for a new window of `msDuration` (used by `block` and
   * `set`). A `msDuration` of 0 means no expiry.
   */
  protected _upsert(rlKey: string, points: number, msDuration: number, forceExpire = false): Promise<WindowState> {
    if (!Number.isFinite(points)) return Promise.reject(new TypeError(`Expected points to be a number, got ${points}`));
    return forceExpire ? this.windows.force(rlKey, points, msDuration) : this.windows.hit(rlKey, points, msDuration);
  }

  /** The key's live window, or `null` when it has none. */
  protected async _get(rlKey: string): Promise<WindowState | null> {
    const state = await this.windows.get(rlKey);
    return state ? { ...state, opened: false } : null;
  }

  /** Forgets the key; resolves whether it existed. */
  protected _delete(rlKey: string): Promise<boolean> {
    return this.windows.reset(rlKey);
  }

  /** Turns a window state into rate-limiter-flexible's result object. */
  protected _getRateLimiterRes(_rlKey: string, changedPoints: number, state: WindowState): RateLimiterRes {
    // Like RateLimiterRedis with a key that has no ttl: -1 means "never resets".
    const msBeforeNext = state.resetAt === undefined ? -1 : Math.max(0, state.resetAt - Date.now());
    return new RateLimiterRes(
      Math.max(this.points - state.hits, 0),
      msBeforeNext,
      state.hits,
      state.hits === changedPoints,
    );
  }
}
