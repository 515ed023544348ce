/**
 * The engine: the data and every command, pure and synchronous. It does no I/O and owns no timers: the
 * server calls {@link Engine.sweep} from its own timer, and the clock is injected so ttl tests move time
 * by hand. Each call to {@link Engine.execute} (one command or one batch) runs to completion before the
 * next, which is what makes every command atomic and linearizable.
 */
import { SharedKVError } from '../errors.js';
import type { Encoded } from '../protocol/codec.js';
import { commands } from './commands/index.js';
import { ExpiryHeap } from './expiry.js';
import { SHARDS, ShardedMap } from './shards.js';
import { type CommandContext, type CommandSpec, PENDING, type Push, type Reply } from './table.js';

/** A stored key. */
export interface Entry {
  /** Encoded value bytes (never decoded except by counters and cas). */
  v: Encoded;
  /** Expiry time on the engine clock in ms; 0 when the key does not expire. */
  exp: number;
  /** Last access on the engine's access counter; kept only under the LRU eviction policies. */
  a?: number;
}

/** Per-connection state the engine keeps so it can clean up when the peer goes away. */
export interface Session {
  readonly id: number;
  /** Human-readable peer description (pid, transport) for stats and errors. */
  readonly label: string;
  /** Calls waiting in the engine, by request id, with the function that removes them. */
  readonly waiting: Map<number, () => void>;
  /** Keys this session is loading for getOrSet. */
  readonly loads: Set<string>;
  /** Settles a call that got {@link PENDING}: how a waiter is answered later. */
  readonly respond: Reply;
  /** Delivers an unsolicited message (pub/sub, watch events) to the peer. */
  readonly push: Push;
  /** The peer's process id, when it told it (socket peers send it in `hello`); shown by `clients`. */
  pid?: number;
  closed: boolean;
}

/** Options of {@link Engine}. */
export interface EngineOptions extends MemoryBounds {
  /**
   * Clock in ms. Must not go backwards; the default is monotonic, so a wall-clock jump changes no ttl.
   * @default performance.now
   */
  now?: () => number;
}

/** What happens when a write would pass `maxKeys` or `maxBytes`. */
export type EvictionPolicy = 'noeviction' | 'allkeys-lru' | 'volatile-lru' | 'volatile-ttl';

/** Memory bounds of the store (all optional; without them the store grows as needed). */
export interface MemoryBounds {
  /** Most keys the store holds. */
  maxKeys?: number;
  /**
   * Approximate bytes of keys and values: each key counts its encoded value's length, twice its string
   * length and 64 bytes of overhead. The process's own heap is larger (Map slots, objects).
   */
  maxBytes?: number;
  /** Largest encoded value accepted, in bytes; larger writes fail with `ERR_SHAREDKV_TOO_LARGE`. */
  maxValueBytes?: number;
  /**
   * `noeviction`: writes past a bound fail with `ERR_SHAREDKV_OUT_OF_MEMORY` (reads and deletes still work);
   * `allkeys-lru`: the least recently used keys make room; `volatile-lru`: the least recently used keys
   * with a ttl; `volatile-ttl`: the keys closest to expiry.
   * @default 'noeviction'
   */
  evictionPolicy?: EvictionPolicy;
}

/** Engine counters (the server adds clients and pending calls). */
export interface EngineStats {
  /**
   * Keys stored. Like Redis's DBSIZE, this includes keys past their ttl that the sweep has not removed yet
   * (never more than the sweep lags behind, usually none); `size()` is the exact count of live keys.
   */
  keys: number;
  bytes: number;
  hits: number;
  misses: number;
  expired: number;
  evicted: number;
  commands: Record<string, number>;
}

/** Kinds of key change delivered to watchers. */
export type KeyOp = 'set' | 'del' | 'expire' | 'evict';

/** Sees every key change (after commit, for transactions). `entry` is the new entry for `set`. */
export type KeyObserver = (key: string, op: KeyOp, entry: Entry | undefined) => void;

/** Something with deadlines that the sweep must honour. */
export interface EngineTimer {
  /** The earliest deadline on the engine clock, if any. */
  next(): number | undefined;
  /** Handles everything due at `now`. */
  tick(now: number): void;
}

/** Most keys a `stats` call expires itself before counting (the rest are the sweep's). */
const STATS_SWEEP = 256;
/** Approximate fixed cost of one key in the Map, for the `bytes` estimate. */
const ENTRY_OVERHEAD = 64;
/**
 * Shards whose least recently used key an LRU eviction compares. Each shard keeps its keys in access order
 * (a read moves a key to the end of its shard), so every candidate is already the oldest of its shard;
 * the victim is the oldest of 16 such keys (Redis samples 5 random keys).
 */
const LRU_SAMPLES = 16;

/** The store's data and command dispatch. */
export class Engine {
  readonly now: () => number;
  /** The keys, in {@link SHARDS} small Maps so that no rehash stalls the owner (see shards.ts). */
  readonly data = new ShardedMap<Entry>();
  private readonly heap = new ExpiryHeap();
  private volatileCount = 0;
  private nextSession = 1;
  /** Every open session (peers and the owner's own stores), for `clients`. */
  readonly sessions = new Set<Session>();
  /** Undo log of the running batch: previous entries by key (first write wins). */
  private undo: Map<string, Entry | undefined> | null = null;
  bytes = 0;
  hits = 0;
  misses = 0;
  expired = 0;
  readonly counts = new Map<string, number>();
  /** Extension point for state other modules keep per engine (getOrSet loads, later locks). */
  readonly ext = new Map<string, unknown>();
  /** Called for each session being closed, after the engine's own cleanup. */
  readonly onSessionClose: Array<(s: Session) => void> = [];
  /** Deadline-driven state (lock leases, lock waits, load leases), checked by {@link sweep}. */
  readonly timers: EngineTimer[] = [];
  /**
   * Installed by persistence with fsync 'always': resolves when every write made so far is durable, or
   * returns null when nothing waits. Replies are held until then, so no write is acknowledged early.
   */
  durable: (() => Promise<void> | null) | null = null;
  /** Called with each fencing token issued (persistence keeps them across restarts). */
  readonly fenceObservers: Array<(lock: string, token: number) => void> = [];
  /** Installed by the server: run {@link sweep} within `delay` ms. */
  onWake: ((delay: number) => void) | null = null;
  /** Flushes of peers that hold urgent pushes not yet sent (see {@link deferUrgent}). */
  private readonly urgent = new Set<() => void>();

  /**
   * Holds back an urgent push (a near-cache invalidation) until the next acknowledgement leaves the owner:
   * `flush` sends the peer's queued pushes and runs in {@link flushUrgent}. Sending each invalidation at
   * once cost one socket write, and one wakeup of its reader, per holder per write: with four clients
   * caching the same keys, three extra writes for every `set`, which made the near cache slower than no
   * cache under write sharing. Held back, a holder gets one frame per frame of the writer.
   */
  deferUrgent(flush: () => void): void {
    this.urgent.add(flush);
  }

  /**
   * Sends every urgent push held back so far. Whoever acknowledges a call (a reply frame, the owner's own
   * resolved promise) runs this first, so an invalidation always leaves before the acknowledgement of the
   * write that caused it.
   */
  flushUrgent(): void {
    if (this.urgent.size === 0) return;
    const flushes = [...this.urgent];
    this.urgent.clear();
    for (const flush of flushes) flush();
  }
  private readonly observers: KeyObserver[] = [];
  /** Observers that also see changes of expiry alone (persistence). */
  private readonly ttlObservers: KeyObserver[] = [];
  /** Events of the running transaction: key, op, entry, and whether the value (not only the ttl) changed. */
  private heldEvents: Array<[string, KeyOp, Entry | undefined, boolean]> | null = null;

  constructor(options: EngineOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.maxKeys = bound(options.maxKeys, 'maxKeys');
    this.maxBytes = bound(options.maxBytes, 'maxBytes');
    this.maxValueBytes = bound(options.maxValueBytes, 'maxValueBytes');
    const policy = options.evictionPolicy ?? 'noeviction';
    if (!['noeviction', 'allkeys-lru', 'volatile-lru', 'volatile-ttl'].includes(policy)) {
      throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', `Unknown evictionPolicy ${JSON.stringify(policy)}`);
    }
    this.policy = policy;
    this.bounded = this.maxKeys !== Number.POSITIVE_INFINITY || this.maxBytes !== Number.POSITIVE_INFINITY;
    this.lru = this.bounded && (policy === 'allkeys-lru' || policy === 'volatile-lru');
  }

  private readonly maxKeys: number;
  private readonly maxBytes: number;
  /** Access counter of the LRU policies: every read and write of a key stamps it on the entry. */
  private accesses = 0;
  private readonly maxValueBytes: number;
  private readonly policy: EvictionPolicy;
  /** True when a key or byte bound is set: write commands then run as transactions so a refusal is clean. */
  private readonly bounded: boolean;
  /** True when reads must refresh recency (LRU policies): each shard's order is its recency order. */
  private readonly lru: boolean;
  evicted = 0;

  /** Opens the state for one peer; call {@link closeSession} exactly once when it goes away. */
  openSession(label: string, respond: Reply, push: Push = () => {}): Session {
    const session: Session = {
      id: this.nextSession++,
      label,
      waiting: new Map(),
      loads: new Set(),
      respond,
      push,
      closed: false,
    };
    this.sessions.add(session);
    return session;
  }

  /** Frees everything a peer held: waiting calls, loads. Safe to call twice; only the first counts. */
  closeSession(session: Session): void {
    if (session.closed) return;
    session.closed = true;
    this.sessions.delete(session);
    for (const remove of [...session.waiting.values()]) remove();
    session.waiting.clear();
    for (const hook of this.onSessionClose) hook(session);
  }

  /** Removes a waiting call (the client timed out or aborted it). */
  cancel(session: Session, id: number): void {
    const remove = session.waiting.get(id);
    if (remove) {
      session.waiting.delete(id);
      remove();
    }
  }

  /**
   * Runs one command. Returns its result, or {@link PENDING} when it will answer through `session.respond` later.
   *
   * @throws SharedKVError `ERR_SHAREDKV_PROTOCOL` for an unknown command, `ERR_SHAREDKV_BAD_ARGUMENT` for bad
   * arguments (nothing changed), or the command's own error.
   */
  execute(session: Session, id: number, name: string, args: unknown[]): unknown {
    const spec = lookup(name);
    checkArity(spec, args);
    spec.check(args);
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    const ctx: CommandContext = { engine: this, session, id, inBatch: false };
    // Under a memory bound a write may be refused halfway (mset, fill): undo it whole.
    if (this.bounded && spec.write) return this.atomically(() => spec.run(ctx, args));
    return spec.run(ctx, args);
  }

  /** Runs a command from inside a transaction (stored procedures): checked, counted, never waiting. */
  runInside(ctx: CommandContext, name: string, args: unknown[]): unknown {
    const spec = lookup(name);
    if (!spec.batchable) {
      throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', `\`${spec.name}\` cannot be used inside a transaction`);
    }
    checkArity(spec, args);
    spec.check(args);
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    return spec.run(ctx.inBatch ? ctx : { ...ctx, inBatch: true }, args);
  }

  /**
   * Runs several commands atomically: every command is checked first, and if one fails while running, the
   * writes of the ones before it are undone, so the store is left exactly as it was.
   */
  runBatch(ctx: CommandContext, ops: Array<[string, ...unknown[]]>): unknown[] {
    const specs: CommandSpec[] = [];
    ops.forEach((op, index) => {
      try {
        const spec = lookup(op[0]);
        if (!spec.batchable) {
          throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', `\`${spec.name}\` cannot be used inside a batch`);
        }
        const args = op.slice(1);
        checkArity(spec, args);
        spec.check(args);
        specs.push(spec);
      } catch (err) {
        throw withIndex(err, index);
      }
    });
    const inner: CommandContext = { ...ctx, inBatch: true };
    return this.atomically(() => {
      const results: unknown[] = [];
      for (let i = 0; i < specs.length; i++) {
        const spec = specs[i]!;
        this.counts.set(spec.name, (this.counts.get(spec.name) ?? 0) + 1);
        try {
          results.push(spec.run(inner, ops[i]!.slice(1)));
        } catch (err) {
          throw withIndex(err, i);
        }
      }
      return results;
    });
  }

  /**
   * Runs `fn` as one transaction: if it throws, every write it made is undone and no change event is sent;
   * if it returns, its change events go out together. Used by batches and stored procedures.
   */
  atomically<T>(fn: () => T): T {
    if (this.undo) return fn();
    this.undo = new Map();
    this.heldEvents = [];
    let ok = false;
    try {
      const result = fn();
      ok = true;
      return result;
    } finally {
      const undo = this.undo;
      const events = this.heldEvents;
      this.undo = null;
      this.heldEvents = null;
      if (ok) {
        for (const e of events) this.emit(e[0], e[1], e[2], e[3]);
      } else {
        for (const [key, prev] of undo) this.write(key, prev, null);
      }
    }
  }

  /**
   * Registers an observer of key changes (watch); the engine only builds events while one exists. With
   * `ttlChanges` it also sees a change of expiry alone (`expire`, `persist`), as a `set` with the new entry:
   * watchers are not told of those (the value did not change), persistence must record them.
   */
  observe(fn: KeyObserver, options: { ttlChanges?: boolean } = {}): void {
    (options.ttlChanges ? this.ttlObservers : this.observers).push(fn);
  }

  private emit(key: string, op: KeyOp, entry: Entry | undefined, valueChanged: boolean): void {
    if (valueChanged) for (const o of this.observers) o(key, op, entry);
    for (const o of this.ttlObservers) o(key, op, entry);
  }

  /**
   * Asks the owner's timer to call {@link sweep} within `delay` ms (a lock lease or a wait deadline that is
   * sooner than the next key expiry). The server installs the handler.
   */
  wakeIn(delay: number): void {
    this.onWake?.(delay);
  }

  /** The live entry of `key`, removing it first if its ttl has passed (lazy expiry). */
  read(key: string): Entry | undefined {
    const shard = this.data.shardOf(key);
    const e = shard.get(key);
    if (e === undefined) return undefined;
    if (e.exp !== 0 && e.exp <= this.now()) {
      this.expireKey(key, shard);
      return undefined;
    }
    if (this.lru) {
      // Re-inserting moves the key to the end of its shard: each shard's order is least to most recently used.
      shard.delete(key);
      shard.set(key, e);
      e.a = ++this.accesses;
    }
    return e;
  }

  /**
   * Every write goes through here: it keeps the byte estimate, the ttl index, the transaction undo log and
   * the change events. `op` names the change for watchers (`null`: no event, as when undoing). `shard` is
   * the key's shard when the caller already has it (the sweep), so the key is hashed once.
   */
  write(
    key: string,
    entry: Entry | undefined,
    op: KeyOp | null = entry ? 'set' : 'del',
    shard: Map<string, Entry> = this.data.shardOf(key),
  ): void {
    if (entry && op !== null && entry.v.length > this.maxValueBytes) {
      throw new SharedKVError(
        'ERR_SHAREDKV_TOO_LARGE',
        `A value of ${entry.v.length} bytes exceeds maxValueBytes (${this.maxValueBytes})`,
        { key, bytes: entry.v.length, limit: this.maxValueBytes },
      );
    }
    const prev = shard.get(key);
    if (this.undo && !this.undo.has(key)) this.undo.set(key, prev);
    // A ttl-only change keeps the same bytes and is not a change of value.
    if (op !== null && (entry || prev) && this.observers.length + this.ttlObservers.length > 0) {
      const valueChanged = !(entry && prev && entry.v === prev.v);
      if (valueChanged || this.ttlObservers.length > 0) {
        if (this.heldEvents) this.heldEvents.push([key, op, entry, valueChanged]);
        else this.emit(key, op, entry, valueChanged);
      }
    }
    if (prev) {
      this.bytes -= size(key, prev);
      if (prev.exp !== 0) this.volatileCount--;
    }
    if (entry) {
      if (this.lru) {
        // Deleted first, so the key moves to the end of its shard (the most recently used).
        if (prev) this.data.deleteIn(shard, key);
        entry.a = ++this.accesses;
      }
      this.data.setIn(shard, key, entry);
      this.bytes += size(key, entry);
      if (entry.exp !== 0) {
        this.volatileCount++;
        if (!prev || prev.exp !== entry.exp) {
          this.heap.push(entry.exp, key);
          // The new expiry is the soonest: have the sweep run then, so watchers hear of it on time.
          if (this.heap.topAt() === entry.exp && this.onWake) this.onWake(entry.exp - this.now());
        }
      }
    } else if (prev) {
      this.data.deleteIn(shard, key);
    }
    if (entry && op !== null && this.bounded && (this.data.size > this.maxKeys || this.bytes > this.maxBytes)) {
      this.makeRoom(key);
    }
  }

  /**
   * Brings the store back within its bounds after a write of `key`, by the eviction policy, or refuses the
   * write (the caller's transaction undoes it).
   *
   * @throws SharedKVError `ERR_SHAREDKV_OUT_OF_MEMORY` when the policy is `noeviction` or nothing can go.
   */
  private makeRoom(key: string): void {
    while (this.data.size > this.maxKeys || this.bytes > this.maxBytes) {
      const victim = this.policy === 'noeviction' ? undefined : this.victim(key);
      if (victim === undefined) {
        throw new SharedKVError(
          'ERR_SHAREDKV_OUT_OF_MEMORY',
          `The store is at its bound (${this.data.size} keys of ${this.maxKeys}, ~${this.bytes} bytes of ${this.maxBytes}) and evictionPolicy '${this.policy}' frees nothing`,
          { keys: this.data.size, bytes: this.bytes, policy: this.policy },
        );
      }
      this.write(victim, undefined, 'evict');
      this.evicted++;
    }
  }

  private victim(except: string): string | undefined {
    if (this.policy === 'volatile-ttl') {
      for (;;) {
        const top = this.heap.peek();
        if (!top) return undefined;
        const e = this.data.get(top.key);
        if (!e || e.exp !== top.at) {
          this.heap.pop(); // Stale item.
          continue;
        }
        // The soonest to expire is the key being written: take the next volatile key instead.
        return top.key !== except ? top.key : this.scanVolatile(except);
      }
    }
    if (this.policy === 'allkeys-lru') return this.leastRecentlyUsed(except, false);
    return this.leastRecentlyUsed(except, true);
  }

  /** The first volatile key of the shard walk (volatile-ttl when the soonest to expire is `except`). */
  private scanVolatile(except: string): string | undefined {
    for (const shard of this.data.shards) {
      if (shard.size > 0) for (const [k, e] of shard) if (e.exp !== 0 && k !== except) return k;
    }
    return undefined;
  }

  /**
   * Approximate LRU (as Redis's): from a random shard on, the least recently used eligible key of each of
   * {@link LRU_SAMPLES} non-empty shards, and of those the oldest. Exact while the store has at most that
   * many non-empty shards. `volatile`: only keys with a ttl are eligible.
   */
  private leastRecentlyUsed(except: string, volatile: boolean): string | undefined {
    const shards = this.data.shards;
    const start = Math.floor(Math.random() * SHARDS);
    let best: string | undefined;
    let bestAt = Number.POSITIVE_INFINITY;
    let sampled = 0;
    for (let j = 0; j < SHARDS && sampled < LRU_SAMPLES; j++) {
      const shard = shards[(start + j) % SHARDS]!;
      if (shard.size === 0) continue;
      for (const [k, e] of shard) {
        if (k === except || (volatile && e.exp === 0)) continue;
        const at = e.a ?? 0;
        if (at < bestAt) {
          best = k;
          bestAt = at;
        }
        sampled++;
        break;
      }
    }
    return best;
  }

  private expireKey(key: string, shard: Map<string, Entry>): void {
    // Expiry is a fact, not part of the transaction that noticed it: a rollback must not resurrect the key.
    const undo = this.undo;
    const held = this.heldEvents;
    this.undo = null;
    this.heldEvents = null;
    try {
      this.write(key, undefined, 'expire', shard);
    } finally {
      this.undo = undo;
      this.heldEvents = held;
    }
    this.expired++;
  }

  /**
   * Removes keys whose ttl has passed, at most `budget` of them, so one call never blocks the loop for long.
   * Returns true when more expired keys remain (the caller should sweep again soon).
   */
  sweep(budget = 500): boolean {
    const now = this.now();
    let done = 0;
    for (;;) {
      const at = this.heap.topAt();
      if (at > now) break;
      if (done >= budget) return true;
      const key = this.heap.topKey();
      this.heap.pop();
      done++;
      const shard = this.data.shardOf(key);
      const e = shard.get(key);
      // Stale heap items (the key was deleted or got another ttl) are dropped here.
      if (e && e.exp === at) this.expireKey(key, shard);
    }
    if (this.heap.length > 1024 && this.heap.length > 4 * this.volatileCount) this.compactHeap();
    for (const t of this.timers) t.tick(now);
    return false;
  }

  /** Time in ms until the next key expires or timer is due, or undefined when nothing is scheduled. */
  nextExpiry(): number | undefined {
    const now = this.now();
    let at = this.heap.topAt();
    for (const t of this.timers) at = Math.min(at, t.next() ?? Number.POSITIVE_INFINITY);
    return at === Number.POSITIVE_INFINITY ? undefined : Math.max(0, at - now);
  }

  private compactHeap(): void {
    const live: Array<{ at: number; key: string }> = [];
    this.data.forEach((e, key) => {
      if (e.exp !== 0) live.push({ at: e.exp, key });
    });
    this.heap.rebuild(live);
  }

  /** Removes every key (or those starting with `prefix`); returns how many. */
  clear(prefix = ''): number {
    let n = 0;
    if (prefix === '' && !this.undo && this.observers.length + this.ttlObservers.length === 0) {
      n = this.liveCount('');
      this.data.clear();
      this.heap.clear();
      this.bytes = 0;
      this.volatileCount = 0;
      return n;
    }
    for (const key of [...this.data.keys()]) {
      if (key.startsWith(prefix) && this.read(key)) {
        this.write(key, undefined);
        n++;
      }
    }
    return n;
  }

  /**
   * Live keys starting with `prefix`. Nothing is removed on the way: keys past their ttl that the sweep has
   * not reached yet are left to it and simply not counted. (This used to drain them first, in one step: a
   * `stats` call while ~100,000 keys were due, as the inspector and a metrics scrape make every few
   * seconds, then held the loop for hundreds of ms.) Without a prefix this costs O(keys due), with one a
   * pass over every key.
   */
  liveCount(prefix: string): number {
    const now = this.now();
    if (prefix === '') {
      // Due heap items whose key still holds that expiry; a key can have two such items (its ttl changed
      // and changed back), so count keys, not items.
      const due = new Set<string>();
      this.heap.forEachDue(now, (at, key) => {
        if (this.data.get(key)?.exp === at) due.add(key);
      });
      return this.data.size - due.size;
    }
    let n = 0;
    this.data.forEach((e, key) => {
      if ((e.exp === 0 || e.exp > now) && key.startsWith(prefix)) n++;
    });
    return n;
  }

  /** Counters for `stats`. */
  stats(): EngineStats {
    // Expire what is due, up to a bounded number of keys (~1 ms), and count what is stored: monitoring
    // calls this every few seconds, so it must not cost O(keys due) (see EngineStats.keys).
    this.sweep(STATS_SWEEP);
    return {
      keys: this.data.size,
      bytes: this.bytes,
      hits: this.hits,
      misses: this.misses,
      expired: this.expired,
      evicted: this.evicted,
      commands: Object.fromEntries(this.counts),
    };
  }
}

function bound(value: number | undefined, name: string): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', `Expected \`${name}\` to be a positive number, got ${value}`);
  }
  return value;
}

function size(key: string, e: Entry): number {
  return ENTRY_OVERHEAD + key.length * 2 + e.v.length;
}

/** The declaration of a command. @throws SharedKVError `ERR_SHAREDKV_PROTOCOL` for an unknown name. */
export function lookup(name: unknown): CommandSpec {
  const spec = typeof name === 'string' ? commands.get(name) : undefined;
  if (!spec) {
    throw new SharedKVError('ERR_SHAREDKV_PROTOCOL', `Unknown command ${JSON.stringify(String(name))}`);
  }
  return spec;
}

/** @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` when `args` does not fit the command's arity. */
export function checkArity(spec: CommandSpec, args: unknown[]): void {
  const [min, max] = spec.arity;
  // Trailing undefined arguments (an omitted options object) do not count.
  let n = args.length;
  while (n > min && args[n - 1] === undefined) n--;
  if (n < min || n > max) {
    throw new SharedKVError(
      'ERR_SHAREDKV_BAD_ARGUMENT',
      `\`${spec.name}\` takes ${min === max ? min : `${min} to ${max}`} arguments, got ${n}`,
    );
  }
}

function withIndex(err: unknown, index: number): unknown {
  if (err instanceof SharedKVError) {
    const data = err.data !== null && typeof err.data === 'object' ? { ...err.data, index } : { index };
    return new SharedKVError(err.code, `Batch command ${index}: ${err.message}`, data);
  }
  return err;
}

export { PENDING };
