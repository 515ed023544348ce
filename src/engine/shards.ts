/**
 * The engine's key table: many small Maps instead of one large one.
 *
 * V8 grows, shrinks and compacts a Map by rehashing every entry in one step, inside the `set` or `delete`
 * that crosses the line. A Map of a million keys does that in tens to hundreds of ms (shrinking below a
 * quarter of its capacity as keys expire, filling its table with inserts after many deletes), and the
 * event loop stands still meanwhile. Split into {@link SHARDS} Maps picked by a hash of the key, each
 * rehash touches about a thousandth of the keys (~1,000 entries at a million keys: tens of µs).
 *
 * The hash only has to spread keys evenly enough that no shard is much larger than the others: a skewed
 * key family would make a few shards larger (and their rehashes longer), never a result wrong.
 *
 * Iteration visits shard after shard, each in its Map's order (insertion order), so it is not the order of
 * insertion across the table. Iterators are live, as a Map's are: an entry deleted before it is reached is
 * not visited, one added to a shard not yet finished is.
 */

/** Number of shards; a power of two. */
export const SHARDS = 1024;
const MASK = SHARDS - 1;
/** Keys up to this length are hashed whole; of longer ones, this many characters are read. */
export const HASHED_CHARS = 256;

/**
 * The shard of `key`: FNV-1a over the key's length and its characters, then MurmurHash3's finalizer (so
 * every bit of the index depends on every character). Keys of up to {@link HASHED_CHARS} characters are
 * hashed whole: ids and counters can sit anywhere in a key, and a sample would crowd a key family into a
 * few shards. V8 hashes the whole key for the Map lookup anyway, so this adds a constant factor, not a
 * new dependence on the key's length. Of longer keys, the first 64, the last 128 and 64 spread in between.
 */
export function shardIndex(key: string): number {
  const n = key.length;
  let h = 0x811c9dc5 ^ n;
  if (n <= HASHED_CHARS) {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  } else {
    for (let i = 0; i < 64; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    const step = (n - 192) / 64;
    for (let j = 0; j < 64; j++) h = Math.imul(h ^ key.charCodeAt(64 + ((j * step) | 0)), 0x01000193);
    for (let i = n - 128; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & MASK;
}

/**
 * A string-keyed map made of {@link SHARDS} Maps, with the part of the Map API the engine and its readers
 * use. The engine's hot paths take a key's shard once ({@link shardOf}) and work on it with
 * {@link setIn} / {@link deleteIn}, so the key is hashed once per command.
 */
export class ShardedMap<V> {
  /** The shards; index with {@link shardIndex}. */
  readonly shards: Array<Map<string, V>>;
  private count = 0;
  /** The last key looked up and its shard: a write reads the key first, so it is hashed once. */
  private lastKey = '';
  private lastShard: Map<string, V>;

  constructor() {
    this.shards = Array.from({ length: SHARDS }, () => new Map<string, V>());
    this.lastShard = this.shards[shardIndex('')]!;
  }

  /** Number of entries. */
  get size(): number {
    return this.count;
  }

  /** The shard that holds (or would hold) `key`. */
  shardOf(key: string): Map<string, V> {
    if (key === this.lastKey) return this.lastShard;
    const shard = this.shards[shardIndex(key)]!;
    this.lastKey = key;
    this.lastShard = shard;
    return shard;
  }

  get(key: string): V | undefined {
    return this.shards[shardIndex(key)]!.get(key);
  }

  has(key: string): boolean {
    return this.shards[shardIndex(key)]!.has(key);
  }

  set(key: string, value: V): this {
    this.setIn(this.shards[shardIndex(key)]!, key, value);
    return this;
  }

  delete(key: string): boolean {
    return this.deleteIn(this.shards[shardIndex(key)]!, key);
  }

  /** `set` in a shard already found with {@link shardOf}. */
  setIn(shard: Map<string, V>, key: string, value: V): void {
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
  }

  /** `delete` in a shard already found with {@link shardOf}. */
  deleteIn(shard: Map<string, V>, key: string): boolean {
    if (!shard.delete(key)) return false;
    this.count--;
    return true;
  }

  /** Removes every entry (each shard is cleared in place, so live iterators end). */
  clear(): void {
    for (const s of this.shards) s.clear();
    this.count = 0;
  }

  /** Calls `fn` for every entry, shard by shard: the fastest way to visit them all. */
  forEach(fn: (value: V, key: string) => void): void {
    for (const s of this.shards) if (s.size > 0) s.forEach(fn);
  }

  *entries(): IterableIterator<[string, V]> {
    for (const s of this.shards) if (s.size > 0) yield* s.entries();
  }

  *keys(): IterableIterator<string> {
    for (const s of this.shards) if (s.size > 0) yield* s.keys();
  }

  *values(): IterableIterator<V> {
    for (const s of this.shards) if (s.size > 0) yield* s.values();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}
