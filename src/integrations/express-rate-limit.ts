/**
 * A store for express-rate-limit (v7 and v8) on any sharedkv {@link Store}: every process of the cluster
 * counts in the same windows, so a limit of 100 means 100 across all workers, not 100 per worker.
 *
 * It implements express-rate-limit's `Store` contract structurally and imports nothing from the package,
 * so it is typed without it and works with both major versions.
 *
 * @example
 * import { rateLimit } from 'express-rate-limit';
 * import { connect } from 'sharedkv';
 * import { RateLimitStore } from 'sharedkv/express-rate-limit';
 * const kv = await connect();
 * app.use(rateLimit({ windowMs: 60_000, limit: 100, store: new RateLimitStore(kv) }));
 */
import type { Store } from '../types.js';
import { WindowCounter } from './window-counter.js';

/** What express-rate-limit passes to `init()` (the parts this store reads). */
export interface RateLimitInitOptions {
  /** The window length in ms. */
  windowMs: number;
}

/** A client's hit count and when its window ends, as express-rate-limit expects them. */
export interface RateLimitInfo {
  totalHits: number;
  resetTime: Date | undefined;
}

/** Options of {@link RateLimitStore}. */
export interface RateLimitStoreOptions {
  /**
   * Namespace that holds this limiter's counters. Give each limiter of an application its own: `resetAll()`
   * clears the whole namespace. Letters, digits and `_.@$-`.
   * @default 'rl'
   */
  prefix?: string;
}

/**
 * express-rate-limit store backed by sharedkv. Hits are counted atomically in the owner, the window is the
 * keys' ttl, and `resetTime` is the exact end of the window the hit was counted in.
 */
export class RateLimitStore {
  /** Counters are shared by every process, so a key incremented here is seen everywhere. */
  readonly localKeys = false;
  /** The namespace of this limiter's counters (express-rate-limit uses it to spot double counting). */
  readonly prefix: string;
  private readonly kv: Store;
  private counter: WindowCounter | null = null;

  /**
   * @param kv Any sharedkv store: the owner, a worker's client, a namespace or the Redis backend.
   * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` for a prefix that is not a valid namespace name.
   */
  constructor(kv: Store, options: RateLimitStoreOptions = {}) {
    this.prefix = options.prefix ?? 'rl';
    this.kv = kv.namespace(this.prefix);
  }

  /** Called by express-rate-limit with its options; takes the window length from them. */
  init(options: RateLimitInitOptions): void {
    this.counter = new WindowCounter(this.kv, options.windowMs);
  }

  private get windows(): WindowCounter {
    // express-rate-limit calls init() before any request; a store used on its own must be initialised too.
    if (!this.counter) throw new TypeError('RateLimitStore: init({ windowMs }) was not called');
    return this.counter;
  }

  /** The client's live hit count and reset time, or `undefined` when it has no live window. */
  async get(key: string): Promise<RateLimitInfo | undefined> {
    const state = await this.windows.get(key);
    return state && { totalHits: state.hits, resetTime: toDate(state.resetAt) };
  }

  /** Counts one hit for the client and returns its count in the window and the window's end. */
  async increment(key: string): Promise<RateLimitInfo> {
    const state = await this.windows.hit(key);
    return { totalHits: state.hits, resetTime: toDate(state.resetAt) };
  }

  /** Takes back one hit (`skipFailedRequests` / `skipSuccessfulRequests`). */
  async decrement(key: string): Promise<void> {
    await this.windows.remove(key);
  }

  /** Forgets the client's hits. */
  async resetKey(key: string): Promise<void> {
    await this.windows.reset(key);
  }

  /** Forgets every client's hits (this limiter's namespace only). */
  async resetAll(): Promise<void> {
    await this.kv.clear();
  }

  /** Nothing to release: the sharedkv connection belongs to the application, which closes it. */
  async shutdown(): Promise<void> {}
}

function toDate(ms: number | undefined): Date | undefined {
  return ms === undefined ? undefined : new Date(ms);
}
