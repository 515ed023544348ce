/**
 * Public option and result types. The {@link Store} interface is the one API that the owner, every
 * client transport and (later) the Redis backend implement.
 */

/** Options every call accepts, beside its own. */
export interface CallOptions {
  /**
   * Milliseconds before the call rejects with `ERR_SHAREDKV_TIMEOUT`. `0` disables the timeout.
   * @default the store's `timeout` (5000 ms)
   */
  timeout?: number;
  /** Aborts the call (it rejects with `ERR_SHAREDKV_ABORTED`); a write already sent may still apply. */
  signal?: AbortSignal;
}

/** Options of {@link Store.set}. */
export interface SetOptions extends CallOptions {
  /** Time to live in milliseconds (a positive integer). Without it the key never expires. */
  ttl?: number;
  /** Only set when the key does not exist. */
  nx?: boolean;
  /** Only set when the key already exists. */
  xx?: boolean;
  /** Keep the key's current time to live instead of clearing it. Cannot be combined with `ttl`. */
  keepTtl?: boolean;
  /** Return the previous value (or `undefined`) instead of whether the write happened. */
  get?: boolean;
  /**
   * Fencing: apply the write only while this lock lease is live (its token is the lock's current one);
   * otherwise reject with `ERR_SHAREDKV_LOCK_LOST` and change nothing.
   */
  fence?: Lock | { lock: string; token: number };
}

/** Options of {@link Store.lock}. */
export interface LockOptions extends CallOptions {
  /** Lease in ms: the lock frees itself after this long unless extended. @default 10000 */
  ttl?: number;
  /** How long to wait for the lock in ms (`0`: don't wait, `Infinity`: no limit). @default 10000 */
  wait?: number;
}

/** A held lock (or semaphore permit). */
export interface Lock {
  /** The lock's name (within its namespace). */
  readonly name: string;
  /** Fencing token: strictly increases with every grant of this lock name. */
  readonly token: number;
  /** Releases the lock; resolves `false` when the lease had already ended (someone else may hold it). */
  release(): Promise<boolean>;
  /**
   * Extends the lease to `ttl` ms from now.
   * @throws SharedKVError `ERR_SHAREDKV_LOCK_LOST` when the lease had already ended.
   */
  extend(ttl: number): Promise<void>;
}

/** A counting semaphore: at most `limit` holders at once. */
export interface Semaphore {
  readonly name: string;
  readonly limit: number;
  /** Waits for a permit (see {@link LockOptions}). */
  acquire(options?: LockOptions): Promise<Lock>;
  /** A permit if one is free now, else `null`. */
  tryAcquire(options?: Omit<LockOptions, 'wait'>): Promise<Lock | null>;
  /** Runs `fn` holding a permit and releases it in `finally`. */
  withPermit<T>(fn: (lock: Lock) => T | Promise<T>, options?: LockOptions): Promise<T>;
}

/** A pub/sub message as the iterator form yields it. */
export interface Message<T = unknown> {
  channel: string;
  message: T;
  /** The pattern that matched, for pattern subscriptions. */
  pattern?: string;
}

/** Removes a subscription or watch. */
export type Unsubscribe = () => Promise<void>;

/** The iterator form of {@link Store.subscribe}: `for await (const m of kv.subscribe('news'))`. */
export interface Subscription<T = unknown> extends AsyncIterableIterator<Message<T>> {
  /** Resolves once the owner has registered the subscription (messages published after it arrive). */
  readonly ready: Promise<void>;
  /** Stops the subscription; the iteration ends. */
  unsubscribe(): Promise<void>;
}

/** A key change seen by {@link Store.watch}. */
export interface WatchEvent<T = unknown> {
  key: string;
  op: 'set' | 'del' | 'expire' | 'evict';
  /** The new value, for `set`. */
  value?: T;
}

/** Options of {@link Store.mset}. */
export interface MsetOptions extends CallOptions {
  /** Time to live in milliseconds applied to every key written. */
  ttl?: number;
}

/** Options of {@link Store.cas}. */
export interface CasOptions extends CallOptions {
  /** Time to live in milliseconds of the new value; without it the key's current ttl is kept. */
  ttl?: number;
}

/** Options of {@link Store.getOrSet}. */
export interface GetOrSetOptions extends CallOptions {
  /** Time to live in milliseconds of the loaded value. */
  ttl?: number;
  /**
   * Milliseconds the loader may run before another waiting process is allowed to load instead.
   * @default 30000
   */
  lease?: number;
}

/** Counters and sizes reported by {@link Store.stats}. */
export interface StoreStats {
  /**
   * Keys in the store (all namespaces). Like Redis's DBSIZE it may include keys past their ttl that the
   * owner's sweep has not removed yet (only while it lags behind a burst of expiries); `size()` counts
   * live keys exactly. Cheap, so monitoring can call it often.
   */
  keys: number;
  /** Approximate bytes held by keys and encoded values. */
  bytes: number;
  /** Processes connected to the owner (the owner itself not counted). */
  clients: number;
  /** Calls this store has sent and not yet seen answered. */
  pending: number;
  /** Successful reads that found their key. */
  hits: number;
  /** Reads that found nothing. */
  misses: number;
  /** Keys removed because their ttl passed. */
  expired: number;
  /** Keys removed to stay within a memory bound. */
  evicted: number;
  /** Commands executed by the owner, by command name. */
  commands: Record<string, number>;
  /** Milliseconds since the owner started. */
  uptime: number;
}

/** One command inside a {@link Batch}. */
export type BatchOp = [command: string, ...args: unknown[]];

/**
 * A group of commands applied atomically and in order: no other command runs between them, and if one
 * fails none of them is applied.
 */
export interface Batch {
  get(key: string): this;
  set(key: string, value: unknown, options?: Omit<SetOptions, keyof CallOptions>): this;
  del(...keys: string[]): this;
  has(key: string): this;
  incr(key: string, by?: number): this;
  decr(key: string, by?: number): this;
  /**
   * {@link Store.cas} as part of the batch; its result in `exec()` is whether the write happened. A value
   * that does not match is a result (`false`), not a failure: the other commands still apply, so a batch
   * that must apply only when every check passes needs the checks in a stored procedure instead. Call
   * options belong to `exec()`, which sends the whole batch; a `timeout` here is refused as an unknown
   * option.
   */
  cas(key: string, expected: unknown, next: unknown, options?: Omit<CasOptions, keyof CallOptions>): this;
  expire(key: string, ttl: number): this;
  persist(key: string): this;
  ttl(key: string): this;
  /** Number of commands queued. */
  readonly length: number;
  /**
   * Sends the batch; resolves with one result per command, in order.
   * @throws SharedKVError with the failing command's code and `data.index`; nothing was applied.
   */
  exec(options?: CallOptions): Promise<unknown[]>;
}

/** The typed key-value API shared by every process. Values are copied in and out, never aliased. */
export interface Store {
  /** Resolves once the store can serve calls (the handshake with the owner is done). */
  ready(): Promise<void>;
  /** Value of `key`, or `undefined` when it does not exist. */
  get<T = unknown>(key: string, options?: CallOptions): Promise<T | undefined>;
  /** Writes `value`; resolves `true` when written (`false` when `nx`/`xx` prevented it), or the old value with `get`. */
  set(key: string, value: unknown, options?: SetOptions): Promise<unknown>;
  /** Deletes keys; resolves with how many existed. */
  del(keys: string | string[], options?: CallOptions): Promise<number>;
  /** Whether `key` exists. */
  has(key: string, options?: CallOptions): Promise<boolean>;
  /** Keys matching a glob (`*`, `?`, `[abc]`, `\` escapes). @default pattern `'*'` */
  keys(pattern?: string, options?: CallOptions): Promise<string[]>;
  /** Values of several keys, `undefined` for the missing ones. */
  mget<T = unknown>(keys: string[], options?: CallOptions): Promise<Array<T | undefined>>;
  /** Writes several keys atomically. */
  mset(entries: Record<string, unknown> | Iterable<[string, unknown]>, options?: MsetOptions): Promise<void>;
  /** Deletes every key (of this namespace); resolves with how many were deleted. */
  clear(options?: CallOptions): Promise<number>;
  /** Number of live keys (of this namespace). */
  size(options?: CallOptions): Promise<number>;
  /** Adds `by` (default 1) to the number at `key` (missing counts as 0) and resolves with the result. */
  incr(key: string, by?: number, options?: CallOptions): Promise<number>;
  /** Subtracts `by` (default 1). */
  decr(key: string, by?: number, options?: CallOptions): Promise<number>;
  /**
   * Compare-and-set: writes `next` only when the stored value equals `expected` (`undefined` = absent).
   * `next === undefined` deletes the key. Resolves with whether the write happened.
   */
  cas(key: string, expected: unknown, next: unknown, options?: CasOptions): Promise<boolean>;
  /** Sets a ttl in ms on an existing key; resolves `false` when the key does not exist. */
  expire(key: string, ttl: number, options?: CallOptions): Promise<boolean>;
  /** Remaining ttl in ms; `-1` when the key has none, `-2` when it does not exist. */
  ttl(key: string, options?: CallOptions): Promise<number>;
  /** Removes a key's ttl; resolves `true` when there was one. */
  persist(key: string, options?: CallOptions): Promise<boolean>;
  /**
   * Returns the value of `key`, or runs `loader` once across all processes and stores its result.
   * While one process loads, the others that miss the same key wait for its value.
   */
  getOrSet<T>(key: string, loader: () => T | Promise<T>, options?: GetOrSetOptions): Promise<T>;
  /** Starts an atomic batch. */
  batch(): Batch;
  /** A view of the same store whose keys live under `name`; `clear()`, `keys()` and `size()` see only them. */
  namespace(name: string): Store;
  /**
   * Takes a lock with a lease. Waiters are served first come, first served; a lock held by a process that
   * dies is freed as soon as the owner sees it go.
   * @throws SharedKVError `ERR_SHAREDKV_TIMEOUT` when `wait` passes first, `ERR_SHAREDKV_ABORTED` on abort.
   */
  lock(name: string, options?: LockOptions): Promise<Lock>;
  /** Takes the lock if it is free now; resolves `null` otherwise. */
  tryLock(name: string, options?: Omit<LockOptions, 'wait'>): Promise<Lock | null>;
  /**
   * Runs `fn` holding the lock and releases it in `finally`, also when `fn` throws.
   * @throws SharedKVError `ERR_SHAREDKV_LOCK_LOST` when `fn` returned but the lease had ended meanwhile.
   */
  withLock<T>(name: string, fn: (lock: Lock) => T | Promise<T>, options?: LockOptions): Promise<T>;
  /** A counting semaphore of `limit` permits. */
  semaphore(name: string, limit: number): Semaphore;
  /** Publishes a message; resolves with how many subscriptions received it. */
  publish(channel: string, message: unknown, options?: CallOptions): Promise<number>;
  /**
   * Subscribes to a channel, or to a pattern when it contains `*`, `?` or `[`. With a handler, resolves with
   * the function that unsubscribes; without, returns an async iterator.
   */
  subscribe<T = unknown>(
    channel: string,
    handler: (message: T, channel: string, pattern?: string) => void,
  ): Promise<Unsubscribe>;
  subscribe<T = unknown>(channel: string): Subscription<T>;
  /** Calls `handler` for every change of keys matching `pattern` (a key or a glob), by any process. */
  watch<T = unknown>(pattern: string, handler: (event: WatchEvent<T>) => void): Promise<Unsubscribe>;
  /**
   * Runs a stored procedure in the owner, atomically.
   * @throws SharedKVError `ERR_SHAREDKV_PROCEDURE_FAILED` when it throws (its writes are undone).
   */
  call<T = unknown>(procedure: string, ...args: unknown[]): Promise<T>;
  /** Owner statistics. */
  stats(options?: CallOptions): Promise<StoreStats>;
  /** Round trip to the owner; resolves with the latency in ms. */
  ping(options?: CallOptions): Promise<number>;
  /** Closes this store; pending calls reject with `ERR_SHAREDKV_CLOSED`. In the owner it stops serving. */
  close(): Promise<void>;
}
