/**
 * `sharedkv/classic`: the `Manager`/`User` API of the classic article on cluster shared memory over IPC,
 * kept callback for callback so code written against the article runs by changing its import. Underneath
 * it is the real library: `new Manager()` opens the owner with `connect({ role: 'owner' })`, `new User()`
 * opens a client with `connect()`, and every method is one {@link Store} call.
 *
 * What it adds to the article, without changing its shape:
 * - Calls made before the connection is ready (the article calls `user.set` right after `new User()`) are
 *   queued and run in the order they were made.
 * - An error path: a failed call invokes its callback as `cb(undefined, err)`, where `err` is a
 *   {@link SharedKVError} with a stable `code` (see `docs/errors.md`). Success stays `cb(value)`.
 *   A failed call without a callback is emitted as an `'error'` event when the instance has a listener,
 *   and otherwise reported as a process warning, so it is never lost silently.
 * - Falsy values (`0`, `''`, `false`, `null`) round-trip; a missing key reads as `undefined`.
 * - `del`, `incr` and `close`, and `store`: the underlying `Promise<Store>` for moving to the real API.
 *
 * @example
 * import cluster from 'node:cluster';
 * import { Manager, User } from 'sharedkv/classic';
 * if (cluster.isPrimary) {
 *   new Manager();
 *   cluster.fork();
 * } else {
 *   const user = new User();
 *   user.set('a', [0, 1, 2, 3]);
 *   user.get('a', (data, err) => console.log(err ? err.code : data)); // => [ 0, 1, 2, 3 ]
 * }
 */
import { EventEmitter } from 'node:events';
import { type ClientStore, type ConnectOptions, connect, type OwnerStore } from '../connect.js';
import { badArgument, describe, SharedKVError } from '../errors.js';
import type { CallOptions, Store } from '../types.js';

/**
 * The callback of every classic method: `cb(value)` on success, `cb(undefined, err)` on failure.
 * A callback that throws does so as an uncaught exception, as in Node's own callback APIs.
 */
export type Callback<T> = (value: T | undefined, err?: SharedKVError) => void;

/** Options of {@link ClassicStore.set}: a time to live and the per-call options. */
export interface ClassicSetOptions extends CallOptions {
  /** Time to live in milliseconds (a positive integer). Without it the key never expires. */
  ttl?: number;
}

/** Options of `new Manager()`: those of `connect()` that apply to the owner. */
export type ManagerOptions = Omit<ConnectOptions, 'role' | 'channel' | 'readyTimeout'>;

/** Options of `new User()`: those of `connect()`. @default `{}` (the role is picked by `connect()`) */
export type UserOptions = ConnectOptions;

/**
 * What `Manager` and `User` share: the callback methods over one store. Not constructed directly.
 *
 * Emits `'error'` (with a {@link SharedKVError}) for a failed call that has no callback, when a listener is
 * attached; without one the error becomes a process warning.
 */
export class ClassicStore<S extends Store = Store> extends EventEmitter {
  /**
   * The store underneath, for moving to the promise API (`await (await user.store).ttl('a')`).
   * Rejects when the connection cannot be opened (for example `ERR_SHAREDKV_NO_OWNER`).
   */
  readonly store: Promise<S>;
  /** Set once the store is open, so later calls skip a promise hop (their order is kept either way). */
  #open: S | undefined;
  /** Calls made and not yet settled; `close()` waits for them. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  protected constructor(store: Promise<S>) {
    super();
    this.store = store;
    // Attaching a rejection handler here keeps a failed connect from being an unhandled rejection; the
    // failure still reaches every call through its callback.
    store.then(
      (s) => {
        this.#open = s;
      },
      () => {},
    );
  }

  /**
   * Writes `value` under `key`; `cb('OK')` once it is stored. Values are copied, and anything structured
   * clone carries (Map, Set, Date, BigInt, typed arrays) round-trips.
   *
   * Fails with `ERR_SHAREDKV_BAD_ARGUMENT` for `undefined` (use {@link ClassicStore.del}) or a bad `ttl`, and
   * `ERR_SHAREDKV_NOT_SERIALIZABLE` for functions and symbols.
   * @example
   * user.set('a', [0, 1, 2, 3]);
   * user.set('session', { id: 7 }, { ttl: 60_000 }, (ok, err) => console.log(ok ?? err?.code));
   */
  set(key: string, value: unknown, cb?: Callback<'OK'>): void;
  set(key: string, value: unknown, options: ClassicSetOptions, cb?: Callback<'OK'>): void;
  set(key: string, value: unknown, optionsOrCb?: ClassicSetOptions | Callback<'OK'>, maybeCb?: Callback<'OK'>): void {
    const [options, cb] =
      typeof optionsOrCb === 'function' ? [undefined, optionsOrCb] : [optionsOrCb, checkCallback(maybeCb)];
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw badArgument(`Expected the options of \`set\` to be an object, got ${describe(options)}`);
    }
    this.#run(async (s) => {
      await s.set(key, value, options);
      return 'OK' as const;
    }, cb);
  }

  /**
   * Reads `key`: `cb(value)`, with `undefined` when the key does not exist (falsy values such as `0`,
   * `''`, `false` and `null` are returned as stored). The value is a copy: changing it changes nothing shared.
   * @example
   * user.get('a', (data) => console.log(data)); // => [ 0, 1, 2, 3 ]
   */
  get<T = unknown>(key: string, cb: Callback<T>): void {
    if (typeof cb !== 'function')
      throw badArgument(`Expected the callback of \`get\` to be a function, got ${describe(cb)}`);
    // Callback<T> already accepts `undefined`; the cast only spells that out for the generic.
    this.#run<T | undefined>((s) => s.get<T>(key), cb as Callback<T | undefined>);
  }

  /**
   * Deletes one key or several; `cb(count)` with how many existed.
   * @example
   * user.del(['a', 'b'], (n) => console.log(`${n} deleted`));
   */
  del(keys: string | string[], cb?: Callback<number>): void {
    this.#run((s) => s.del(keys), checkCallback(cb));
  }

  /**
   * Adds `by` (default 1) to the number at `key`, atomically across every process (a missing key counts
   * as 0); `cb(result)` with the new value. Fails with `ERR_SHAREDKV_WRONG_TYPE` when the key holds
   * something other than a number.
   * @example
   * user.incr('hits', (n) => console.log(n));
   * user.incr('bytes', 512);
   */
  incr(key: string, cb?: Callback<number>): void;
  incr(key: string, by: number, cb?: Callback<number>): void;
  incr(key: string, byOrCb?: number | Callback<number>, maybeCb?: Callback<number>): void {
    const [by, cb] = typeof byOrCb === 'function' ? [1, byOrCb] : [byOrCb ?? 1, checkCallback(maybeCb)];
    this.#run((s) => s.incr(key, by), cb);
  }

  /**
   * Closes this process's side once the calls already made have settled: a `User` disconnects (its process
   * can then exit); the `Manager` stops serving the workers. Calls made after `close()` fail with
   * `ERR_SHAREDKV_CLOSED`. `cb('OK')` when done.
   * @example
   * user.set('a', 1);
   * user.close(() => process.exit(0)); // the set above is answered first
   */
  close(cb?: Callback<'OK'>): void {
    const checked = checkCallback(cb);
    this.#closed = true;
    const inFlight = [...this.#inFlight];
    const closing = Promise.allSettled(inFlight).then(() =>
      this.store.then(
        async (s) => {
          await s.close();
          return 'OK' as const;
        },
        // Nothing was opened, so there is nothing to close.
        () => 'OK' as const,
      ),
    );
    closing.then(
      (v) => settle(checked, v),
      (err: unknown) => this.#fail(checked, err),
    );
  }

  /** Runs one store call now if the store is open, else when it opens; reports through `cb`. */
  #run<T>(op: (s: S) => Promise<T>, cb: Callback<T> | undefined): void {
    const open = this.#open;
    let result: Promise<T>;
    if (this.#closed) {
      result = Promise.reject(new SharedKVError('ERR_SHAREDKV_CLOSED', 'close() was called on this instance'));
    } else if (open) {
      try {
        result = op(open);
      } catch (err) {
        result = Promise.reject(err);
      }
    } else {
      // Reactions run in the order they were registered, so queued calls keep the order they were made in.
      result = this.store.then(op);
    }
    const settled = result.then(
      (v) => settle(cb, v),
      (err: unknown) => this.#fail(cb, err),
    );
    this.#inFlight.add(settled);
    settled.then(
      () => this.#inFlight.delete(settled),
      () => {},
    );
  }

  #fail<T>(cb: Callback<T> | undefined, cause: unknown): void {
    const err = asSharedKVError(cause);
    if (cb) {
      callSafely(() => cb(undefined, err));
    } else if (this.listenerCount('error') > 0) {
      callSafely(() => this.emit('error', err));
    } else {
      process.emitWarning(err);
    }
  }
}

/**
 * The owner side, for the cluster primary: holds the data and serves every worker's `User`. It has the same
 * callback methods, so the primary can read and write too.
 *
 * Always opens the owner (`connect({ role: 'owner' })`), even in a process that has an IPC channel of its
 * own (a primary started by a test runner or a process manager).
 * @example
 * if (cluster.isPrimary) {
 *   const manager = new Manager();
 *   cluster.fork();
 * }
 */
export class Manager extends ClassicStore<OwnerStore> {
  /** Opens the owner; a failure (such as an unknown option) reaches each call's callback and `store`. */
  constructor(options: ManagerOptions = {}) {
    // connect() with role 'owner' always resolves with the owner's store.
    super(open({ ...options, role: 'owner' }) as Promise<OwnerStore>);
  }
}

/**
 * The client side, for a cluster worker: every call goes to the owner (the primary's `Manager`). Start using
 * it at once; calls made before the connection is ready are queued. The connection keeps the process
 * alive until {@link ClassicStore.close} is called.
 *
 * Without options it takes the role `connect()` picks, so a `User` in a process that has no parent owns
 * the store itself.
 * @example
 * const user = new User();
 * if (cluster.worker?.id === 1) user.set('a', [0, 1, 2, 3]);
 * if (cluster.worker?.id === 2) user.get('a', (data) => console.log(data)); // => [ 0, 1, 2, 3 ]
 */
export class User extends ClassicStore<Store> {
  /**
   * Starts connecting; a failure (`ERR_SHAREDKV_NO_OWNER` when no owner answers within `readyTimeout`, an
   * unknown option) reaches each call's callback as `cb(undefined, err)` and rejects `store`.
   */
  constructor(options: UserOptions = {}) {
    super(open(options));
  }
}

/** Opens a store; every failure, bad options included, is reported through the calls. */
function open(options: ConnectOptions): Promise<OwnerStore | ClientStore> {
  if (options === null || typeof options !== 'object') {
    return Promise.reject(badArgument(`Expected options to be an object, got ${describe(options)}`));
  }
  return connect(options);
}

function checkCallback<T>(cb: Callback<T> | undefined): Callback<T> | undefined {
  if (cb !== undefined && typeof cb !== 'function') {
    throw badArgument(`Expected the callback to be a function, got ${describe(cb)}`);
  }
  return cb;
}

function settle<T>(cb: Callback<T> | undefined, value: T): void {
  if (cb) callSafely(() => cb(value));
}

/**
 * Calls user code outside the promise chain: an exception in a callback surfaces as an uncaught
 * exception (as with any Node callback), not as a rejection that would invoke the callback a second time.
 */
function callSafely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

function asSharedKVError(err: unknown): SharedKVError {
  if (err instanceof SharedKVError) return err;
  return new SharedKVError('ERR_SHAREDKV_INTERNAL', `Unexpected failure: ${String(err)}`, undefined, { cause: err });
}
