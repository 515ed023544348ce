/**
 * A Keyv storage adapter on any sharedkv {@link Store}, so Keyv and everything built on it (cache-manager,
 * cacheable, …) share one cache across the processes of a machine. One class serves Keyv 5 (its
 * `KeyvStoreAdapter` contract) and Keyv 6 (which wraps relative-ttl adapters in its bridge).
 *
 * cache-manager's `wrap()` coalesces concurrent loads only inside one process; {@link sharedWrap} runs the
 * loader once across every process through sharedkv's `getOrSet`.
 *
 * @example
 * import Keyv from 'keyv';
 * import { createCache } from 'cache-manager';
 * import { connect } from 'sharedkv';
 * import { KeyvSharedKV, sharedWrap } from 'sharedkv/keyv';
 * const kv = await connect();
 * const cache = createCache({ stores: [new Keyv({ store: new KeyvSharedKV(kv.namespace('cache')) })] });
 * const user = await sharedWrap(cache, kv, 'user:1', () => db.loadUser(1), { ttl: 60_000 });
 */
import { EventEmitter } from 'node:events';
import type { Store } from '../types.js';

/** Options of {@link KeyvSharedKV}. */
export interface KeyvSharedKVOptions {
  /**
   * How many keys `iterator()` reads per round trip.
   * @default 100
   */
  iterationLimit?: number;
}

/** A Keyv entry as the bulk `setMany` passes them; `ttl` in ms. */
export interface KeyvSharedKVEntry {
  key: string;
  value: unknown;
  ttl?: number | undefined;
}

/** Escapes glob metacharacters so a namespace is matched literally. */
function globLiteral(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}

/** A ttl as sharedkv takes it: a positive whole number of ms, or none. */
function ttlOption(ttl: unknown): { ttl: number } | undefined {
  return typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0 ? { ttl: Math.ceil(ttl) } : undefined;
}

/**
 * Keyv storage adapter backed by sharedkv. Keyv prefixes keys with its namespace (`keyv:` by default) and
 * tells the adapter which one it uses through `namespace`; `clear()` then deletes only that namespace.
 * Without a namespace `clear()` empties the sharedkv store it was given, so give it a namespace of its own
 * (`kv.namespace('cache')`) rather than the root store.
 */
export class KeyvSharedKV extends EventEmitter {
  /**
   * Options, as Keyv expects an adapter to expose them. Keyv 5 reads `dialect` and `url` to decide whether
   * to offer `keyv.iterator()` (only for the backends it lists), so `url` must be a string; call the
   * adapter's own {@link iterator} instead. Keyv 6 uses the iterator to clear namespaces.
   */
  readonly opts: { dialect: 'sharedkv'; url: string; iterationLimit: number; [key: string]: unknown };
  /**
   * Set by Keyv 5 to the namespace of the Keyv instance using this adapter (its keys then arrive prefixed
   * with it). Declared, not defined: Keyv 6 treats an adapter that *has* a `namespace` property as one that
   * prefixes keys itself, and would then pass keys without their namespace. Left undefined, Keyv 6 prefixes
   * keys (`ns::key`) and clears a namespace through {@link iterator}.
   */
  declare namespace?: string | undefined;
  private readonly kv: Store;

  /** @param kv Any sharedkv store: the owner, a worker's client, a namespace or the Redis backend. */
  constructor(kv: Store, options: KeyvSharedKVOptions = {}) {
    super();
    this.kv = kv;
    this.opts = { dialect: 'sharedkv', url: 'sharedkv://', iterationLimit: options.iterationLimit ?? 100 };
  }

  /** The stored (already serialized by Keyv) data of `key`, or `undefined`. */
  get<Value>(key: string): Promise<Value | undefined> {
    return this.kv.get<Value>(key);
  }

  /** The stored data of several keys, `undefined` for the missing ones (one round trip). */
  getMany<Value>(keys: string[]): Promise<Array<Value | undefined>> {
    return keys.length === 0 ? Promise.resolve([]) : this.kv.mget<Value>(keys);
  }

  /** Writes `value` with a ttl in ms (none when `ttl` is missing or not positive). */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    await this.kv.set(key, value, ttlOption(ttl));
    return true;
  }

  /** Writes several entries atomically (one batch), each with its own ttl. */
  async setMany(entries: KeyvSharedKVEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const batch = this.kv.batch();
    for (const e of entries) batch.set(e.key, e.value, ttlOption(e.ttl));
    await batch.exec();
  }

  /** Deletes `key`; resolves whether it existed. */
  async delete(key: string): Promise<boolean> {
    return (await this.kv.del(key)) > 0;
  }

  /** Deletes several keys at once; resolves whether any of them existed. */
  async deleteMany(keys: string[]): Promise<boolean> {
    return keys.length > 0 && (await this.kv.del(keys)) > 0;
  }

  /** Whether `key` exists. */
  has(key: string): Promise<boolean> {
    return this.kv.has(key);
  }

  /** Whether each key exists (one atomic batch). */
  async hasMany(keys: string[]): Promise<boolean[]> {
    if (keys.length === 0) return [];
    const batch = this.kv.batch();
    for (const key of keys) batch.has(key);
    return (await batch.exec()) as boolean[];
  }

  /** Deletes the keys of the current Keyv namespace, or every key of the given store without one. */
  async clear(): Promise<void> {
    if (!this.namespace) {
      await this.kv.clear();
      return;
    }
    const keys = await this.kv.keys(`${globLiteral(this.namespace)}:*`);
    if (keys.length > 0) await this.kv.del(keys);
  }

  /** Yields `[key, storedData]` for every key of `namespace` (or of the store), a page at a time. */
  async *iterator<Value>(namespace?: string): AsyncGenerator<[string, Value], void> {
    const ns = namespace ?? this.namespace;
    const keys = await this.kv.keys(ns ? `${globLiteral(ns)}:*` : '*');
    for (let i = 0; i < keys.length; i += this.opts.iterationLimit) {
      const page = keys.slice(i, i + this.opts.iterationLimit);
      const values = await this.kv.mget<Value>(page);
      for (let j = 0; j < page.length; j++) {
        // A key that expired since keys() was read is skipped, not yielded as undefined.
        const value = values[j];
        if (value !== undefined) yield [page[j]!, value];
      }
    }
  }

  /** Nothing to close: the sharedkv connection belongs to the application. */
  async disconnect(): Promise<void> {}
}

/** The part of a cache-manager `Cache` that {@link sharedWrap} uses. */
export interface WrappingCache {
  wrap<T>(key: string, fn: () => Promise<T>, ttl?: number): Promise<T>;
}

/** Options of {@link sharedWrap}. */
export interface SharedWrapOptions {
  /** Time to live in ms of the cached value. Without it the cache's default applies. */
  ttl?: number;
  /**
   * How long the loader may run, in ms, before another process waiting for the same key may load instead
   * (the loader's process may have died).
   * @default 30000
   */
  lease?: number;
  /**
   * How long, in ms, a loaded value is handed to processes that missed the cache just before the loader's
   * process wrote it there. Deleting the cached key within this time can still hand out the old value.
   * @default 1000
   */
  shareFor?: number;
  /** sharedkv namespace of the coordination keys. @default 'wrap' */
  namespace?: string;
}

/**
 * cache-manager's `wrap()` with the loader run once across every process: on a miss, the processes that
 * miss the same key at once agree through sharedkv's `getOrSet` on one of them to load; the others wait
 * for its value instead of loading too. The value is then cached by cache-manager as usual.
 *
 * @param cache A cache-manager cache (any object with a compatible `wrap`).
 * @param kv The sharedkv store used to coordinate the loads.
 * @example
 * const user = await sharedWrap(cache, kv, `user:${id}`, () => db.users.find(id), { ttl: 60_000 });
 */
export function sharedWrap<T>(
  cache: WrappingCache,
  kv: Store,
  key: string,
  loader: () => T | Promise<T>,
  options: SharedWrapOptions = {},
): Promise<T> {
  const coordination = kv.namespace(options.namespace ?? 'wrap');
  const load = () =>
    coordination.getOrSet(key, loader, {
      ttl: options.shareFor ?? 1_000,
      ...(options.lease === undefined ? {} : { lease: options.lease }),
    });
  return options.ttl === undefined ? cache.wrap(key, load) : cache.wrap(key, load, options.ttl);
}
