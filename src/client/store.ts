/**
 * The Store API over any {@link Caller}: it encodes values on the way in, decodes them on the way out, and
 * adds the namespace prefix to keys. Written once, so the owner and every client behave the same.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { badArgument, describe, SharedKVError } from '../errors.js';
import { decodeStored, decodeValue, type Encoded, encodeValue } from '../protocol/codec.js';
import type {
  Batch,
  CallOptions,
  CasOptions,
  GetOrSetOptions,
  Lock,
  LockOptions,
  MsetOptions,
  Semaphore,
  SetOptions,
  Store,
  StoreStats,
  Subscription,
  Unsubscribe,
  WatchEvent,
} from '../types.js';
import { type Caller, DEFAULT_TIMEOUT } from './caller.js';
import { routerOf } from './events.js';

/**
 * `diagnostics_channel` tracing of every command (`tracing:sharedkv:command:start|end|asyncStart|asyncEnd|
 * error`), with `{ command, prefix, args }` as context; values in `args` are still encoded.
 */
const commandChannel = diagnostics_channel.tracingChannel<object, { command: string; prefix: string; args: unknown[] }>(
  'sharedkv:command',
);

const CALL_OPTION_NAMES = new Set(['timeout', 'signal']);
const NAMESPACE_NAME = /^[\w.@$-]+$/;

/**
 * What a Lock object keeps for fencing and for withLock: its full (namespaced) name and token, and
 * whether the session it was granted in has ended.
 */
const HELD = Symbol('sharedkv.held');

interface Held {
  fence: { lock: string; token: number };
  /** True once the connection that the lock was granted on is gone (the owner freed the lock then). */
  lost: () => boolean;
}

function heldOf(value: object): Held | undefined {
  return (value as { [HELD]?: Held })[HELD];
}

/** The error of a Lock used after the connection it was granted on was lost. */
function lostWithConnection(name: string, token: number): SharedKVError {
  return new SharedKVError(
    'ERR_SHAREDKV_LOCK_LOST',
    `The lease of ${JSON.stringify(name)} ended when the connection to the owner was lost (the owner frees a client's locks when its connection closes); take the lock again`,
    { lock: name, token },
  );
}

/**
 * Turns a `fence` option (a Lock, or `{ lock, token }`) into its wire form.
 *
 * @throws SharedKVError `ERR_SHAREDKV_LOCK_LOST` for a Lock whose connection was lost: its token is never
 * sent again, since an owner restarted without persistence may have granted the same token to another.
 */
function fenceOf(value: unknown, prefix: string): unknown {
  if (value === null || typeof value !== 'object') return value;
  const held = heldOf(value);
  if (held) {
    if (held.lost()) throw lostWithConnection(held.fence.lock, held.fence.token);
    return held.fence;
  }
  const f = value as { lock?: unknown; token?: unknown };
  return typeof f.lock === 'string' ? { lock: prefix + f.lock, token: f.token } : value;
}

/** Splits call options (handled here) from command options (sent to the owner and checked there). */
function split<T extends CallOptions>(options: T | undefined): [Record<string, unknown> | undefined] {
  if (options === undefined) return [undefined];
  if (options === null || typeof options !== 'object') {
    throw badArgument(`Expected options to be an object, got ${describe(options)}`);
  }
  let command: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(options)) {
    if (CALL_OPTION_NAMES.has(k) || v === undefined) continue;
    command ??= {};
    command[k] = v;
  }
  return [command];
}

/** A `get` result: missing, encoded bytes, or a plain value the owner sent inline (already decoded). */
function decodeOptional(result: unknown): unknown {
  if (result === null || result === undefined) return undefined;
  return result instanceof Uint8Array ? decodeValue(result) : result;
}

/** Encodes a value to store; `undefined` is refused, as it cannot be told apart from a missing key. */
function encodeStored(value: unknown): Encoded {
  if (value === undefined) {
    throw badArgument('Cannot store `undefined` (it reads back as a missing key); use del() to remove a key');
  }
  return encodeValue(value);
}

/**
 * The wire arguments of `cas`, standalone or in a batch. `null` stands for `undefined` (absent, or delete)
 * rather than an encoding of it, so a stored `null` and a missing key stay apart.
 */
function casArgs(key: string, expected: unknown, next: unknown): unknown[] {
  return [key, expected === undefined ? null : encodeValue(expected), next === undefined ? null : encodeValue(next)];
}

function checkKeyArg(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw badArgument(`Expected \`key\` to be a string, got ${describe(key)}`);
}

/** The Store implementation shared by every side. */
export class KVStore implements Store {
  constructor(
    protected readonly caller: Caller,
    /** Key prefix of this namespace ('' at the root). */
    readonly prefix = '',
  ) {}

  /** Runs a command, turning synchronous validation errors into rejections. */
  protected run(name: string, build: () => unknown[], options?: CallOptions): Promise<unknown> {
    let args: unknown[];
    try {
      args = build();
    } catch (err) {
      return Promise.reject(err);
    }
    // Tracing costs one property read when nobody subscribes to the channel.
    if (!commandChannel.hasSubscribers) return this.caller.call(name, args, options);
    return commandChannel.tracePromise(() => this.caller.call(name, args, options), {
      command: name,
      prefix: this.prefix,
      args,
    });
  }

  private k(key: unknown): string {
    checkKeyArg(key);
    return this.prefix + key;
  }

  ready(): Promise<void> {
    return this.caller.ready();
  }

  get<T = unknown>(key: string, options?: CallOptions): Promise<T | undefined> {
    const near = this.caller.near;
    if (near === undefined) {
      return this.run('get', () => [this.k(key)], options).then(decodeOptional) as Promise<T | undefined>;
    }
    let k: string;
    try {
      k = this.k(key);
    } catch (err) {
      return Promise.reject(err);
    }
    const hit = near.read(k, decodeStored);
    if (hit.found) return Promise.resolve(hit.value as T);
    // `getc` reads and asks the owner to tell us when the key changes.
    const fetch = near.begin(k);
    return this.caller.call('getc', [k], options).then(
      (r) => {
        if (r === null) {
          near.settle(k, fetch, undefined, 0);
          return undefined;
        }
        const [bytes, ttl] = r as [Encoded, number];
        const value = near.freeze(decodeValue(bytes));
        // A copy: the received bytes are a view into the whole frame.
        near.settle(k, fetch, Uint8Array.prototype.slice.call(bytes), ttl, value);
        return value as T;
      },
      (err: unknown) => {
        near.settle(k, fetch, undefined, 0);
        throw err;
      },
    );
  }

  async set(key: string, value: unknown, options?: SetOptions): Promise<unknown> {
    const result = await this.run(
      'set',
      () => {
        const [command] = split(options);
        if (command?.fence !== undefined) command.fence = fenceOf(command.fence, this.prefix);
        return command ? [this.k(key), encodeStored(value), command] : [this.k(key), encodeStored(value)];
      },
      options,
    );
    return options?.get === true ? decodeOptional(result) : result;
  }

  del(keys: string | string[], options?: CallOptions): Promise<number> {
    return this.run(
      'del',
      () => [(Array.isArray(keys) ? keys : [keys]).map((k) => this.k(k))],
      options,
    ) as Promise<number>;
  }

  has(key: string, options?: CallOptions): Promise<boolean> {
    return this.run('has', () => [this.k(key)], options) as Promise<boolean>;
  }

  async keys(pattern = '*', options?: CallOptions): Promise<string[]> {
    const keys = (await this.run(
      'keys',
      () => {
        if (typeof pattern !== 'string')
          throw badArgument(`Expected \`pattern\` to be a string, got ${describe(pattern)}`);
        return [this.prefix + pattern];
      },
      options,
    )) as string[];
    const n = this.prefix.length;
    return n === 0 ? keys : keys.map((k) => k.slice(n));
  }

  async mget<T = unknown>(keys: string[], options?: CallOptions): Promise<Array<T | undefined>> {
    const values = (await this.run(
      'mget',
      () => {
        if (!Array.isArray(keys)) throw badArgument(`Expected \`keys\` to be an array, got ${describe(keys)}`);
        return [keys.map((k) => this.k(k))];
      },
      options,
    )) as unknown[];
    return values.map(decodeOptional) as Array<T | undefined>;
  }

  async mset(entries: Record<string, unknown> | Iterable<[string, unknown]>, options?: MsetOptions): Promise<void> {
    await this.run(
      'mset',
      () => {
        if (entries === null || typeof entries !== 'object') {
          throw badArgument(`Expected \`entries\` to be an object or iterable of pairs, got ${describe(entries)}`);
        }
        const pairs: unknown[] = [];
        const list = Symbol.iterator in entries ? entries : Object.entries(entries);
        for (const [k, v] of list as Iterable<[string, unknown]>) pairs.push(this.k(k), encodeStored(v));
        const [command] = split(options);
        return command ? [pairs, command] : [pairs];
      },
      options,
    );
  }

  clear(options?: CallOptions): Promise<number> {
    return this.run('clear', () => (this.prefix ? [this.prefix] : []), options) as Promise<number>;
  }

  size(options?: CallOptions): Promise<number> {
    return this.run('size', () => (this.prefix ? [this.prefix] : []), options) as Promise<number>;
  }

  incr(key: string, by = 1, options?: CallOptions): Promise<number> {
    return this.run('incr', () => [this.k(key), by], options) as Promise<number>;
  }

  decr(key: string, by = 1, options?: CallOptions): Promise<number> {
    return this.run('decr', () => [this.k(key), by], options) as Promise<number>;
  }

  cas(key: string, expected: unknown, next: unknown, options?: CasOptions): Promise<boolean> {
    return this.run(
      'cas',
      () => {
        const [command] = split(options);
        const args = casArgs(this.k(key), expected, next);
        if (command) args.push(command);
        return args;
      },
      options,
    ) as Promise<boolean>;
  }

  expire(key: string, ttl: number, options?: CallOptions): Promise<boolean> {
    return this.run('expire', () => [this.k(key), ttl], options) as Promise<boolean>;
  }

  ttl(key: string, options?: CallOptions): Promise<number> {
    return this.run('ttl', () => [this.k(key)], options) as Promise<number>;
  }

  persist(key: string, options?: CallOptions): Promise<boolean> {
    return this.run('persist', () => [this.k(key)], options) as Promise<boolean>;
  }

  async getOrSet<T>(key: string, loader: () => T | Promise<T>, options?: GetOrSetOptions): Promise<T> {
    if (typeof loader !== 'function')
      throw badArgument(`Expected \`loader\` to be a function, got ${describe(loader)}`);
    const k = this.k(key);
    const lease = options?.lease ?? 30_000;
    const ttl = options?.ttl;
    // Checked before a ticket is taken: a fill refused later would leave the key's waiters blocked.
    if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl <= 0)) {
      throw badArgument(`Expected \`ttl\` to be a positive integer (ms), got ${describe(ttl)}`);
    }
    if (!Number.isSafeInteger(lease) || lease <= 0) {
      throw badArgument(`Expected \`lease\` to be a positive integer (ms), got ${describe(lease)}`);
    }
    const fillOptions = ttl === undefined ? undefined : { ttl };
    const [status, payload] = (await this.caller.call('getOrSet', [k, lease], options)) as [number, unknown];
    if (status === 0) return decodeValue(payload as Encoded) as T;
    const ticket = payload as number;
    let value: T;
    let bytes: Encoded;
    try {
      value = await loader();
      bytes = encodeStored(value);
    } catch (err) {
      // Give the load to the next waiter; our caller gets the loader's own error.
      await this.caller.call('fill', [k, ticket, null], options).catch(() => {});
      throw err;
    }
    try {
      await this.caller.call('fill', fillOptions ? [k, ticket, bytes, fillOptions] : [k, ticket, bytes], options);
    } catch (err) {
      await this.caller.call('fill', [k, ticket, null], options).catch(() => {});
      throw err;
    }
    return value;
  }

  batch(): Batch {
    return new KVBatch(this, (ops, options) => this.caller.call('batch', [ops], options));
  }

  namespace(name: string): Store {
    if (typeof name !== 'string' || !NAMESPACE_NAME.test(name)) {
      throw badArgument(`Expected a namespace name of letters, digits and _.@$- characters, got ${describe(name)}`);
    }
    return new KVStore(this.caller, `${this.prefix}${name}:`);
  }

  async lock(name: string, options: LockOptions = {}): Promise<Lock> {
    const lock = await this.acquire(name, options, 1);
    if (!lock) {
      throw new SharedKVError('ERR_SHAREDKV_TIMEOUT', `Lock ${JSON.stringify(name)} is held (wait: 0)`, { lock: name });
    }
    return lock;
  }

  tryLock(name: string, options: Omit<LockOptions, 'wait'> = {}): Promise<Lock | null> {
    return this.acquire(name, { ...options, wait: 0 }, 1);
  }

  withLock<T>(name: string, fn: (lock: Lock) => T | Promise<T>, options?: LockOptions): Promise<T> {
    return this.holding(() => this.lock(name, options), fn);
  }

  semaphore(name: string, limit: number): Semaphore {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw badArgument(`Expected \`limit\` to be a positive integer, got ${describe(limit)}`);
    }
    const acquire = async (options: LockOptions = {}) => {
      const lock = await this.acquire(name, options, limit);
      if (!lock) throw new SharedKVError('ERR_SHAREDKV_TIMEOUT', `No permit of ${JSON.stringify(name)} is free`);
      return lock;
    };
    return {
      name,
      limit,
      acquire,
      tryAcquire: (options = {}) => this.acquire(name, { ...options, wait: 0 }, limit),
      withPermit: (fn, options) => this.holding(() => acquire(options), fn),
    };
  }

  /**
   * Runs `fn` with a lock and releases it in `finally`; a lease lost meanwhile is reported. `take` is
   * called only once `fn` is known to be a function, so a bad call takes no lock.
   */
  private async holding<T>(take: () => Promise<Lock>, fn: (lock: Lock) => T | Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw badArgument(`Expected a function, got ${describe(fn)}`);
    const lock = await take();
    let result: T;
    try {
      result = await fn(lock);
    } catch (err) {
      await lock.release().catch(() => false);
      throw err;
    }
    if (!(await lock.release())) {
      if (heldOf(lock)?.lost()) throw lostWithConnection(lock.name, lock.token);
      throw new SharedKVError(
        'ERR_SHAREDKV_LOCK_LOST',
        `The lease of ${JSON.stringify(lock.name)} ended before the critical section finished; extend it or raise ttl`,
        { lock: lock.name, token: lock.token },
      );
    }
    return result;
  }

  private async acquire(name: string, options: LockOptions, limit: number): Promise<Lock | null> {
    const full = this.k(name);
    if (options === null || typeof options !== 'object') {
      throw badArgument(`Expected lock options to be an object, got ${describe(options)}`);
    }
    const ttl = options.ttl ?? 10_000;
    const wait = options.wait ?? 10_000;
    // The owner answers a wait that runs out itself; the call's own timeout only guards a lost owner.
    const timeout = options.timeout ?? (wait === Number.POSITIVE_INFINITY ? 0 : wait + DEFAULT_TIMEOUT);
    const call: CallOptions = options.signal ? { timeout, signal: options.signal } : { timeout };
    const r = (await this.caller.call('lock', [full, limit === 1 ? { ttl, wait } : { ttl, wait, limit }], call)) as
      | [number, number]
      | null;
    if (r === null) return null;
    const caller = this.caller;
    const token = r[0];
    // The owner frees a client's locks when its connection closes, and an owner restarted without
    // persistence starts its tokens again, so it may grant this very token to another client: once the
    // connection is gone the lock is lost for good, and its token is never sent again.
    const session = caller.lostConnections;
    const lost = () => session !== undefined && caller.lostConnections !== session;
    const held: Held = { fence: { lock: full, token }, lost };
    return {
      name,
      token,
      release: () => (lost() ? Promise.resolve(false) : (caller.call('unlock', [full, token]) as Promise<boolean>)),
      async extend(ms: number) {
        if (lost()) throw lostWithConnection(name, token);
        if (!(await caller.call('extend', [full, token, ms]))) {
          throw new SharedKVError('ERR_SHAREDKV_LOCK_LOST', `The lease of ${JSON.stringify(name)} had already ended`, {
            lock: name,
            token,
          });
        }
      },
      // Lets `set(k, v, { fence: lock })` find the full name of a namespaced lock, and withLock tell a lost
      // connection from a lease that ran out.
      ...({ [HELD]: held } as object),
    } as Lock;
  }

  publish(channel: string, message: unknown, options?: CallOptions): Promise<number> {
    return this.run('publish', () => [this.k(channel), encodeStored(message)], options) as Promise<number>;
  }

  subscribe<T = unknown>(
    channel: string,
    handler: (message: T, channel: string, pattern?: string) => void,
  ): Promise<Unsubscribe>;
  subscribe<T = unknown>(channel: string): Subscription<T>;
  subscribe<T = unknown>(
    channel: string,
    handler?: (message: T, channel: string, pattern?: string) => void,
  ): Promise<Unsubscribe> | Subscription<T> {
    const router = routerOf(this.caller);
    if (handler === undefined) return router.iterate<T>(this.k(channel), this.prefix);
    return Promise.resolve()
      .then(() => this.k(channel))
      .then((target) => router.add('subscribe', target, { prefix: this.prefix, fn: handler as never }));
  }

  async watch<T = unknown>(pattern: string, handler: (event: WatchEvent<T>) => void): Promise<Unsubscribe> {
    return routerOf(this.caller).add('watch', this.k(pattern), { prefix: this.prefix, fn: handler as never });
  }

  async call<T = unknown>(procedure: string, ...args: unknown[]): Promise<T> {
    checkKeyArg(procedure);
    const encoded = args.map((a) => encodeValue(a));
    return decodeOptional(await this.caller.call('call', [procedure, encoded])) as T;
  }

  stats(options?: CallOptions): Promise<StoreStats> {
    return this.run('stats', () => [], options) as Promise<StoreStats>;
  }

  async ping(options?: CallOptions): Promise<number> {
    const t = performance.now();
    await this.run('ping', () => [], options);
    return performance.now() - t;
  }

  close(): Promise<void> {
    return this.caller.close();
  }

  /** Prefixes a key (for batches). */
  key(key: unknown): string {
    return this.k(key);
  }
}

type Decoder = ((r: unknown) => unknown) | null;

/** Collects commands locally; nothing is sent until `exec()`. */
class KVBatch implements Batch {
  private readonly ops: unknown[][] = [];
  private readonly decoders: Decoder[] = [];
  private error: unknown = null;

  constructor(
    private readonly store: KVStore,
    private readonly send: (ops: unknown[][], options?: CallOptions) => Promise<unknown>,
  ) {}

  get length(): number {
    return this.ops.length;
  }

  private add(build: () => unknown[], decode: Decoder = null): this {
    if (this.error) return this;
    try {
      this.ops.push(build());
      this.decoders.push(decode);
    } catch (err) {
      // Reported by exec(), so a chain never throws halfway.
      this.error = err;
    }
    return this;
  }

  get(key: string): this {
    return this.add(() => ['get', this.store.key(key)], decodeOptional);
  }

  set(key: string, value: unknown, options?: Omit<SetOptions, keyof CallOptions>): this {
    return this.add(
      () => {
        const k = this.store.key(key);
        const v = encodeStored(value);
        if (!options) return ['set', k, v];
        return [
          'set',
          k,
          v,
          options.fence === undefined ? options : { ...options, fence: fenceOf(options.fence, this.store.prefix) },
        ];
      },
      options?.get ? decodeOptional : null,
    );
  }

  del(...keys: string[]): this {
    return this.add(() => ['del', keys.map((k) => this.store.key(k))]);
  }

  has(key: string): this {
    return this.add(() => ['has', this.store.key(key)]);
  }

  incr(key: string, by = 1): this {
    return this.add(() => ['incr', this.store.key(key), by]);
  }

  decr(key: string, by = 1): this {
    return this.add(() => ['decr', this.store.key(key), by]);
  }

  cas(key: string, expected: unknown, next: unknown, options?: Omit<CasOptions, keyof CallOptions>): this {
    return this.add(() => {
      const args = casArgs(this.store.key(key), expected, next);
      return options === undefined ? ['cas', ...args] : ['cas', ...args, options];
    });
  }

  expire(key: string, ttl: number): this {
    return this.add(() => ['expire', this.store.key(key), ttl]);
  }

  persist(key: string): this {
    return this.add(() => ['persist', this.store.key(key)]);
  }

  ttl(key: string): this {
    return this.add(() => ['ttl', this.store.key(key)]);
  }

  async exec(options?: CallOptions): Promise<unknown[]> {
    if (this.error) throw this.error;
    if (this.ops.length === 0) return [];
    const results = (await this.send(this.ops, options)) as unknown[];
    return results.map((r, i) => {
      const d = this.decoders[i];
      return d ? d(r) : r;
    });
  }
}
