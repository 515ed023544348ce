/**
 * The near cache: values a client has read, kept in its own process so repeated reads of hot keys cost a
 * Map lookup and a decode instead of a round trip. The owner remembers which client holds which key and
 * sends an invalidation on the first change (see `engine/commands/tracking.ts`); entries also end at the
 * key's ttl, and the least recently used go first past `maxKeys`. The cache is dropped whole whenever the
 * connection drops, since invalidations sent meanwhile are lost.
 */
import type { Encoded } from '../protocol/codec.js';

/** Options of the near cache (`connect({ nearCache })`). */
export interface NearCacheOptions {
  /** Most keys kept; the least recently read go first. @default 10000 */
  maxKeys?: number;
  /** Most bytes of encoded values kept (approximate). @default 64 MiB */
  maxBytes?: number;
}

interface Cached {
  v: Encoded;
  /** performance.now() deadline, or Infinity. */
  exp: number;
}

/**
 * One read in flight for a key. The reply is applied in a promise callback, after the rest of its frame
 * (possibly an invalidation of the same key) has been handled, so an invalidation seen while the read is
 * in flight must stop its value from being cached.
 */
export interface Fetch {
  stale: boolean;
}

/** A bounded map of encoded values with per-entry deadlines, in least-recently-used order. */
export class NearCache {
  private readonly map = new Map<string, Cached>();
  private readonly fetching = new Map<string, Set<Fetch>>();
  private readonly maxKeys: number;
  private readonly maxBytes: number;
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(options: NearCacheOptions = {}) {
    this.maxKeys = options.maxKeys ?? 10_000;
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  }

  /** The cached bytes of `key`, or undefined (a miss, an expired entry). */
  get(key: string): Encoded | undefined {
    const c = this.map.get(key);
    if (c === undefined) {
      this.misses++;
      return undefined;
    }
    if (c.exp !== Number.POSITIVE_INFINITY && c.exp <= performance.now()) {
      this.delete(key);
      this.misses++;
      return undefined;
    }
    // Re-inserting keeps the Map in least- to most-recently-used order.
    this.map.delete(key);
    this.map.set(key, c);
    this.hits++;
    return c.v;
  }

  /** Starts a read of `key` from the owner; hand the result to `settle`. */
  begin(key: string): Fetch {
    const f: Fetch = { stale: false };
    let set = this.fetching.get(key);
    if (set === undefined) {
      set = new Set();
      this.fetching.set(key, set);
    }
    set.add(f);
    return f;
  }

  /** Ends a read: caches `v` unless an invalidation (or a reconnect) came while it was in flight. */
  settle(key: string, f: Fetch, v: Encoded | undefined, ttl: number): void {
    const set = this.fetching.get(key);
    if (set !== undefined) {
      set.delete(f);
      if (set.size === 0) this.fetching.delete(key);
    }
    if (!f.stale && v !== undefined) this.set(key, v, ttl);
  }

  /** Drops `key` because the owner said it changed, including from reads still in flight. */
  invalidate(key: string): void {
    this.delete(key);
    const set = this.fetching.get(key);
    if (set !== undefined) for (const f of set) f.stale = true;
  }

  /** Caches `v` for `ttl` ms (`-1`: until invalidated). */
  set(key: string, v: Encoded, ttl: number): void {
    if (v.length > this.maxBytes) return;
    this.delete(key);
    this.map.set(key, { v, exp: ttl < 0 ? Number.POSITIVE_INFINITY : performance.now() + ttl });
    this.bytes += v.length;
    while (this.map.size > this.maxKeys || this.bytes > this.maxBytes) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const c = this.map.get(key);
    if (!c) return;
    this.map.delete(key);
    this.bytes -= c.v.length;
  }

  /** Forgets everything, reads in flight included: invalidations may have been lost. */
  clear(): void {
    this.map.clear();
    this.bytes = 0;
    for (const set of this.fetching.values()) for (const f of set) f.stale = true;
    this.fetching.clear();
  }

  get size(): number {
    return this.map.size;
  }
}
