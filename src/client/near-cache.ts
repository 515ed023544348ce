/**
 * The near cache: values a client has read, kept in its own process so repeated reads of hot keys cost a
 * Map lookup and a copy instead of a round trip. The owner remembers which client holds which key and
 * sends an invalidation on the first change (see `engine/commands/tracking.ts`); entries also end at the
 * key's ttl, and past `maxKeys` the entries not read lately go first (second chance, see
 * {@link NearCache.set}). The cache is dropped whole whenever the connection drops, since invalidations sent
 * meanwhile are lost.
 */
import type { Encoded } from '../protocol/codec.js';

/** Options of the near cache (`connect({ nearCache })`). */
export interface NearCacheOptions {
  /** Most keys kept; those not read lately go first. @default 10000 */
  maxKeys?: number;
  /** Most bytes of encoded values kept (approximate). @default 64 MiB */
  maxBytes?: number;
  /**
   * Hits return one deeply frozen value, the same object on every read, instead of a fresh copy: a hit
   * then costs a Map lookup instead of a decode. Mutating it throws (strict mode), so code that only reads
   * what it gets is safe to switch on. Values holding anything `Object.freeze` cannot make immutable (a
   * `Map`, `Set`, `Date`, typed array or class instance) are still decoded on every read. Misses always
   * return the frozen value too, so reads look the same whether they hit or not. @default false
   */
  frozen?: boolean;
}

/** Marks an entry that has no decoded value to serve hits from (they decode the bytes). */
const NONE: unique symbol = Symbol('none');
/** Marks an entry whose template is made on its first hit (a key read once never pays for one). */
const LATER: unique symbol = Symbol('later');

/**
 * A cached entry: the value's bytes, and the decoded value hits are served from when there is one: in
 * frozen mode the frozen value itself, in the default mode a private template that each hit copies.
 */
export interface Cached {
  v: Encoded;
  /** performance.now() deadline, or Infinity. */
  exp: number;
  /** The frozen value shared by every hit (or a primitive), or {@link NONE}. */
  obj: unknown;
  /**
   * Default mode: a private copy of the value, a tree of plain objects and arrays, that hits copy with
   * {@link copyTree} (~80 ns for a small object, against ~500 ns to decode it); {@link NONE} when the
   * value holds anything else (a Map, Date, class instance, shared or cyclic reference), which only a
   * decode reproduces faithfully; {@link LATER} until the first hit.
   */
  tpl: unknown;
  /** Read since eviction last passed it: it gets a second chance (moves to the back) instead of going. */
  used: boolean;
}

/**
 * The reads of a key in flight, begun since its last invalidation: they share this record. A reply is
 * applied in a promise callback, after the rest of its frame (possibly an invalidation of the same key) has
 * been handled, so an invalidation seen while a read is in flight must stop its value from being cached.
 * One record per key rather than one per read: a miss then allocates nothing here but the first time.
 */
export interface Fetch {
  stale: boolean;
  /** Reads sharing the record that have not settled yet. */
  reads: number;
}

/** A bounded map of encoded values with per-entry deadlines, in insertion order with second chances. */
export class NearCache {
  private readonly map = new Map<string, Cached>();
  private readonly fetching = new Map<string, Fetch>();
  private readonly maxKeys: number;
  private readonly maxBytes: number;
  private bytes = 0;
  /** Whether hits share one frozen value (see {@link NearCacheOptions.frozen}). */
  readonly frozen: boolean;
  hits = 0;
  misses = 0;

  constructor(options: NearCacheOptions = {}) {
    this.maxKeys = options.maxKeys ?? 10_000;
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.frozen = options.frozen === true;
  }

  /** The cached bytes of `key`, or undefined (a miss, an expired entry). */
  get(key: string): Encoded | undefined {
    return this.entry(key)?.v;
  }

  /**
   * What a hit returns: the frozen value when there is one, else a copy of the template, else a fresh
   * decode of the bytes by `decode`. `found` is false on a miss.
   */
  read(key: string, decode: (bytes: Encoded) => unknown): { found: boolean; value: unknown } {
    const c = this.entry(key);
    if (c === undefined) return MISS;
    if (c.obj !== NONE) return { found: true, value: c.obj };
    if (c.tpl === LATER) {
      // The first hit decodes, as every hit used to; what it decoded becomes the template if it can be one.
      const value = decode(c.v);
      c.tpl = shapeOf(value) === TREE ? value : NONE;
      return { found: true, value: c.tpl === NONE ? value : copyTree(value) };
    }
    return { found: true, value: c.tpl !== NONE ? copyTree(c.tpl) : decode(c.v) };
  }

  /**
   * The value to hand to the caller of a read that went to the owner: in frozen mode the frozen value (so
   * misses and hits return the same kind of object), else `value` itself.
   */
  freeze(value: unknown): unknown {
    return this.frozen && shapeOf(value) !== OTHER ? deepFreeze(value) : value;
  }

  private entry(key: string): Cached | undefined {
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
    // A flag, not a move to the back of the Map: deleting and re-inserting on every hit churned the Map's
    // table (a tenth of a client's time went to GC with four clients sharing 1,000 keys).
    c.used = true;
    this.hits++;
    return c;
  }

  /** Starts a read of `key` from the owner; hand the result to `settle`. */
  begin(key: string): Fetch {
    let f = this.fetching.get(key);
    if (f === undefined) {
      f = { stale: false, reads: 0 };
      this.fetching.set(key, f);
    }
    f.reads++;
    return f;
  }

  /**
   * Ends a read: caches `v` (with `obj`, its value as returned by {@link freeze}) unless an invalidation
   * (or a reconnect) came while it was in flight.
   */
  settle(key: string, f: Fetch, v: Encoded | undefined, ttl: number, obj?: unknown): void {
    if (--f.reads === 0 && this.fetching.get(key) === f) this.fetching.delete(key);
    if (!f.stale && v !== undefined) this.set(key, v, ttl, obj);
  }

  /** Drops `key` because the owner said it changed, including from reads still in flight. */
  invalidate(key: string): void {
    this.delete(key);
    const f = this.fetching.get(key);
    if (f !== undefined) {
      f.stale = true;
      // Reads begun from now on share a fresh record: their replies come after this invalidation.
      this.fetching.delete(key);
    }
  }

  /**
   * Caches `v` for `ttl` ms (`-1`: until invalidated). `obj` is its decoded value, as handed to the reader
   * that fetched it: kept as the shared hit value when it is frozen (frozen mode) or a primitive. (Not as
   * a template: the reader may change it, and a key written between reads is never hit, so copying every
   * fetched value would be wasted; the first hit makes the template.)
   */
  set(key: string, v: Encoded, ttl: number, obj?: unknown): void {
    if (v.length > this.maxBytes) return;
    this.delete(key);
    // Primitives are immutable anyway: every mode shares them. Objects only when frozen mode froze them.
    const shared = obj !== undefined && (isPrimitive(obj) || (this.frozen && Object.isFrozen(obj))) ? obj : NONE;
    const tpl = shared === NONE && !this.frozen ? LATER : NONE;
    const exp = ttl < 0 ? Number.POSITIVE_INFINITY : performance.now() + ttl;
    this.map.set(key, { v, exp, obj: shared, tpl, used: false });
    this.bytes += v.length;
    this.evict(key);
  }

  /**
   * Second chance (the CLOCK algorithm): the oldest entry goes unless it was read since eviction last
   * passed it, in which case it moves to the back with its flag cleared. Entries read lately therefore stay
   * and those not read go, as with LRU, while a hit costs a flag write instead of a move. `keep` (the entry
   * just stored) never goes while another entry can, but alone over `maxBytes` it does.
   */
  private evict(keep: string): void {
    while (this.map.size > this.maxKeys || this.bytes > this.maxBytes) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      const c = this.map.get(oldest)!;
      // The new entry is spared too (it has had no chance to be read), unless nothing else is left.
      if (oldest === keep ? this.map.size > 1 : c.used) {
        c.used = false;
        this.map.delete(oldest);
        this.map.set(oldest, c);
        continue;
      }
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
    for (const f of this.fetching.values()) f.stale = true;
    this.fetching.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

const MISS = { found: false, value: undefined } as const;

/** A primitive, or plain objects and arrays holding primitives, each reached once. */
const TREE = 0;
/** Plain objects and arrays, some reached twice (a shared reference or a cycle): freezable, not copyable. */
const GRAPH = 1;
/**
 * Holds something else (a Map, Set, Date, typed array, class instance, a `__proto__` key, a hole), or is
 * nested deeper than {@link MAX_DEPTH}.
 */
const OTHER = 2;
/** Nesting past which a value is left to the decoder (the walks here recurse; the decoder copes). */
const MAX_DEPTH = 500;

/**
 * What kind of value `v` is, for the near cache: only a {@link TREE} can be served by {@link copyTree}
 * (a copy would split a shared reference in two, and loop on a cycle); a {@link GRAPH} can still be frozen.
 */
function shapeOf(v: unknown, seen = new Set<object>(), depth = 0): number {
  if (v === null || typeof v !== 'object') return TREE;
  if (seen.has(v)) return GRAPH;
  if (depth > MAX_DEPTH) return OTHER;
  seen.add(v);
  let shape = TREE;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) return OTHER;
      shape = Math.max(shape, shapeOf(v[i], seen, depth + 1));
      if (shape === OTHER) return OTHER;
    }
    return shape;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return OTHER;
  for (const k in v) {
    // Assigning this key to a copy would set its prototype instead.
    if (k === '__proto__') return OTHER;
    shape = Math.max(shape, shapeOf((v as Record<string, unknown>)[k], seen, depth + 1));
    if (shape === OTHER) return OTHER;
  }
  return shape;
}

/** A deep copy of a {@link TREE}: what a decode of its bytes would return, with the same key order. */
function copyTree(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copyTree(v[i]);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k in v) out[k] = copyTree((v as Record<string, unknown>)[k]);
  return out;
}

function deepFreeze<T>(v: T): T {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return v;
  Object.freeze(v);
  for (const k in v) deepFreeze((v as Record<string, unknown>)[k]);
  return v;
}

function isPrimitive(v: unknown): boolean {
  return v === null || typeof v !== 'object';
}
