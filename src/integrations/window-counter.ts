/**
 * The fixed-window hit counter behind every rate-limiter integration (express-rate-limit,
 * @fastify/rate-limit, rate-limiter-flexible). It needs nothing but the public {@link Store} API, so it
 * works the same on the owner, on any client, inside a namespace and on the Redis backend.
 *
 * Each client key has two entries:
 * - the window key `w:<key>` holds the window's reset time `R` (ms since the epoch) and expires at `R`;
 * - the counter key `c:<R>:<key>` holds the hit count of that one window.
 *
 * A hit first creates the window key if it is missing (`set nx`, with `get` so the same call returns the
 * window that is live), then adds to that window's counter in one atomic batch. Because the counter is
 * named after its window, a hit can never be counted in a window other than the one whose reset time it
 * reports, whatever expires between the two round trips: counts are atomic and `resetTime` is exact. Not
 * one counter key read back with `ttl()`: a reset time derived from a ttl drifts from the window's, and two
 * keys that expire "together" drift apart, since every write in a batch reads the clock anew.
 */
import type { Store } from '../types.js';

/**
 * How much longer than its window a counter lives, in ms. It only has to outlast the window key by the
 * time between the two round trips of a hit; the margin also absorbs small clock differences between
 * processes (the reset time is taken from the clock of the process that opens the window).
 */
const COUNTER_MARGIN = 5_000;

/** The state of one client key. */
export interface WindowState {
  /** Hits counted in the current window. */
  hits: number;
  /** When the current window ends, in ms since the epoch; `undefined` for a counter without a window. */
  resetAt: number | undefined;
  /** Whether this hit opened the window. */
  opened: boolean;
}

const windowKey = (key: string) => `w:${key}`;
const counterKey = (key: string, resetAt: number) => `c:${resetAt}:${key}`;

/** A fixed-window counter on any Store (typically a namespace reserved for it). */
export class WindowCounter {
  /**
   * @param kv Where the counters live; `resetAll()` clears it, so give each limiter its own namespace.
   * @param windowMs Window length in ms; `0` counts forever (no window, no reset time).
   */
  constructor(
    readonly kv: Store,
    readonly windowMs: number,
  ) {
    if (!Number.isSafeInteger(windowMs) || windowMs < 0) {
      throw new TypeError(`Expected \`windowMs\` to be a non-negative integer (ms), got ${String(windowMs)}`);
    }
  }

  /**
   * Adds `by` hits to `key` (opening a window when none is live) and returns the new state.
   * @param windowMs The window to open when none is live. @default the counter's window
   */
  async hit(key: string, by = 1, windowMs = this.windowMs): Promise<WindowState> {
    if (windowMs === 0) {
      // A counter without a window lives until it is reset; the window key marks it for `get`.
      const [, hits] = await this.kv.batch().set(windowKey(key), 0, { nx: true }).incr(counterKey(key, 0), by).exec();
      return { hits: hits as number, resetAt: undefined, opened: hits === by };
    }
    const proposed = Date.now() + windowMs;
    const live = (await this.kv.set(windowKey(key), proposed, { nx: true, ttl: windowMs, get: true })) as
      | number
      | undefined;
    const resetAt = live ?? proposed;
    const c = counterKey(key, resetAt);
    const [, hits] = await this.kv
      .batch()
      .set(c, 0, { nx: true, ttl: Math.max(1, resetAt - Date.now()) + COUNTER_MARGIN })
      .incr(c, by)
      .exec();
    return { hits: hits as number, resetAt, opened: live === undefined };
  }

  /** The live state of `key`, or `undefined` when it has no live window. */
  async get(key: string): Promise<Omit<WindowState, 'opened'> | undefined> {
    const resetAt = await this.kv.get<number>(windowKey(key));
    if (resetAt === undefined) return undefined;
    const hits = (await this.kv.get<number>(counterKey(key, resetAt))) ?? 0;
    return { hits, resetAt: resetAt === 0 ? undefined : resetAt };
  }

  /**
   * Takes `by` hits back from the live window of `key`, never below zero; does nothing when no window is
   * live (the hit being undone has already expired with its window).
   */
  async remove(key: string, by = 1): Promise<void> {
    const resetAt = await this.kv.get<number>(windowKey(key));
    if (resetAt === undefined) return;
    const c = counterKey(key, resetAt);
    // A compare-and-set loop rather than `decr`: `decr` of a counter that just expired would create a key
    // without a ttl, and `cas` keeps the counter's ttl. Undoing a hit is rare, so contention is low.
    for (let attempt = 0; attempt < 100; attempt++) {
      const hits = await this.kv.get<number>(c);
      if (hits === undefined || hits <= 0) return;
      if (await this.kv.cas(c, hits, Math.max(0, hits - by))) return;
    }
  }

  /**
   * Sets `key` to exactly `hits` in a new window of `windowMs` (what rate-limiter-flexible's `block` and
   * `set` need), replacing whatever window was live. `windowMs` 0 means the state never expires.
   */
  async force(key: string, hits: number, windowMs: number): Promise<WindowState> {
    const resetAt = windowMs === 0 ? 0 : Date.now() + windowMs;
    const batch = this.kv.batch();
    if (windowMs === 0) batch.set(windowKey(key), 0).set(counterKey(key, 0), hits);
    else {
      batch
        .set(windowKey(key), resetAt, { ttl: windowMs })
        .set(counterKey(key, resetAt), hits, { ttl: windowMs + COUNTER_MARGIN });
    }
    await batch.exec();
    return { hits, resetAt: resetAt === 0 ? undefined : resetAt, opened: true };
  }

  /** Forgets `key`: its window and its counter. */
  async reset(key: string): Promise<boolean> {
    const resetAt = await this.kv.get<number>(windowKey(key));
    if (resetAt === undefined) return false;
    // One `del` removes both at once, so no hit sees the window without its counter.
    return (await this.kv.del([windowKey(key), counterKey(key, resetAt)])) > 0;
  }

  /** Forgets every key of this counter's store (it should be a namespace of its own). */
  async resetAll(): Promise<void> {
    await this.kv.clear();
  }
}
