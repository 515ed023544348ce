/**
 * The Redis backend as a {@link Caller}: the Store layer (src/client/store.ts, shared with every other
 * backend) issues the same wire commands it sends to a memory owner, and this caller runs each on Redis.
 * So namespaces, value encoding, batches, Lock objects, getOrSet's loader protocol and the pub/sub router
 * are the very code the memory backend runs, and only the command semantics are reimplemented (in Lua).
 *
 * Each call is checked by the engine's command table first (same codes, same messages), counted for
 * `stats()`, then run; it settles with its result, or with a SharedKVError on timeout (one coarse timer
 * for all calls), abort, close, or a Redis error mapped to the memory backend's codes.
 */
import { abortedError, type Caller, refuseCall } from '../../client/caller.js';
import { PendingTable } from '../../client/pending.js';
import { SharedKVError } from '../../errors.js';
import type { Encoded } from '../../protocol/codec.js';
import type { CallOptions } from '../../types.js';
import type { Backend } from './backend.js';
import { checkBatch, checkCall } from './check.js';
import { EventHub } from './events.js';
import { Loads } from './load.js';
import { Locks } from './locks.js';
import { Procedures } from './procedures.js';
import { fromRedis } from './replies.js';
import { stats } from './stats.js';
import { valueHandlers } from './values.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  deadline: number;
  /**
   * Aborted when the call gives up early, so a waiting handler can clean up (leave a lock's line). Only
   * the commands that wait get one: creating an AbortSignal costs more than a short command.
   */
  cancel: AbortController | null;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** The error a waiting call gave up with, while its handler leaves the line (see `expire`). */
  expired?: SharedKVError;
  /** Rejects a giving-up call whose handler does not finish (Redis unreachable). */
  grace?: NodeJS.Timeout;
}

/** Longest a waiting call that gave up waits for its handler to leave the line before it rejects anyway. */
const LEAVE_GRACE = 1_000;

type Run = (a: unknown[], cancel: AbortSignal) => Promise<unknown>;

/** The commands that may wait (and so need to hear that their call gave up). */
const WAITING = new Set(['getOrSet', 'lock', 'call']);

/** The cancel signal of the commands that never wait. */
const NEVER = new AbortController().signal;

/** Runs the Store layer's commands on Redis. */
export class RedisCaller implements Caller {
  readonly hub: EventHub;
  readonly loads: Loads;
  readonly locks: Locks;
  readonly procedures: Procedures;
  private readonly calls = new PendingTable<Pending>();
  private readonly runs: Record<string, Run>;
  private nextId = 1;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly opened: Promise<void>;

  constructor(
    readonly backend: Backend,
    private readonly timeout: number,
  ) {
    this.hub = new EventHub(backend);
    this.loads = new Loads(backend, this.hub);
    this.locks = new Locks(backend, this.hub);
    this.procedures = new Procedures(backend);
    const b = backend;
    const runs: Record<string, Run> = {};
    for (const [name, handler] of Object.entries(valueHandlers)) runs[name] = (a) => handler(b, a);
    Object.assign(runs, {
      getOrSet: (a, cancel) => this.loads.getOrSet(a[0] as string, a[1] as number, cancel),
      fill: (a) =>
        this.loads.fill(
          a[0] as string,
          a[1] as number,
          a[2] as Encoded | null,
          (a[3] as { ttl?: number } | undefined)?.ttl,
        ),
      lock: (a, cancel) => this.locks.lock(a[0] as string, a[1] as { ttl: number; wait: number }, cancel),
      unlock: (a) => this.locks.unlock(a[0] as string, a[1] as number),
      extend: (a) => this.locks.extend(a[0] as string, a[1] as number, a[2] as number),
      locks: async () => [],
      subscribe: (a) => this.hub.subscribe(a[0] as string),
      unsubscribe: (a) => this.hub.unsubscribe(a[0] as string),
      publish: async (a) => b.publish(a[0] as string, b.format.toStored(a[1] as Encoded)),
      watch: (a) => this.hub.watch(a[0] as string),
      unwatch: (a) => this.hub.unwatch(a[0] as string),
      call: (a, cancel) => this.procedures.call(a[0] as string, (a[1] as Encoded[] | undefined) ?? [], cancel),
      stats: () => stats(b, this.calls.size),
    } satisfies Record<string, Run>);
    this.runs = runs;
    this.opened = b.cmd.ping().then(
      () => {},
      (err: unknown) => {
        throw fromRedis(err);
      },
    );
    this.opened.catch(() => {});
  }

  /** Pushes for the Store layer's event router (pub/sub messages, watch events). */
  get onPush(): (message: unknown[]) => void {
    return this.hub.onPush;
  }

  set onPush(fn: (message: unknown[]) => void) {
    this.hub.onPush = fn;
  }

  get pending(): number {
    return this.calls.size;
  }

  ready(): Promise<void> {
    return this.opened;
  }

  call(name: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    if (this.closed) return Promise.reject(new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed'));
    const timeout = options?.timeout ?? this.timeout;
    const signal = options?.signal;
    const refused = refuseCall(timeout, signal);
    if (refused) return Promise.reject(refused);
    const run = this.runs[name];
    try {
      checkCall(name, args);
      if (!run) throw new SharedKVError('ERR_SHAREDKV_PROTOCOL', `The Redis backend has no command ${name}`);
      if (name === 'batch') checkBatch(args[0] as Array<[string, ...unknown[]]>);
    } catch (err) {
      return Promise.reject(err);
    }
    this.count(name, args);
    const id = this.nextId;
    this.nextId = id >= 0x7fffffff ? 1 : id + 1;
    return new Promise((resolve, reject) => {
      const p: Pending = {
        resolve,
        reject,
        deadline: timeout === 0 ? Number.POSITIVE_INFINITY : performance.now() + timeout,
        cancel: WAITING.has(name) ? new AbortController() : null,
        signal,
        onAbort: undefined,
      };
      if (signal) {
        p.onAbort = () => this.expire(id, abortedError(signal));
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.calls.set(id, p);
      if (timeout !== 0) this.armTimer();
      let running: Promise<unknown>;
      try {
        running = run(args, p.cancel?.signal ?? NEVER);
      } catch (err) {
        running = Promise.reject(err);
      }
      running.then(
        (result) => this.settle(id, null, result),
        (err: unknown) => this.settle(id, fromRedis(err), undefined),
      );
    });
  }

  private count(name: string, args: unknown[]): void {
    const c = this.backend.counters.commands;
    c.set(name, (c.get(name) ?? 0) + 1);
    if (name === 'batch') {
      for (const op of args[0] as Array<[string]>) c.set(op[0], (c.get(op[0]) ?? 0) + 1);
    }
  }

  private settle(id: number, err: SharedKVError | null, result: unknown): void {
    const p = this.calls.get(id);
    if (!p) return;
    this.calls.delete(id);
    if (p.grace) clearTimeout(p.grace);
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    if (p.expired) p.reject(p.expired);
    else if (err) p.reject(err);
    else p.resolve(result);
  }

  /** Rejects a call early (timeout, abort, close) and tells its handler to stop waiting. */
  private expire(id: number, err: SharedKVError): void {
    const p = this.calls.get(id);
    if (!p || p.expired) return;
    if (p.cancel) {
      // A lock wait first leaves its line in Redis (a grant on its way is handed back), then rejects: what
      // the caller does next (a release, another lock) then sees a line without it.
      p.expired = err;
      if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
      p.grace = setTimeout(() => this.settle(id, err, undefined), LEAVE_GRACE);
      p.cancel.abort(err);
      return;
    }
    this.calls.delete(id);
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    p.reject(err);
  }

  /** One coarse timer for every call's timeout (timeouts fire up to 25 ms late). */
  private armTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const now = performance.now();
      let armed = false;
      this.calls.forEach((p, id) => {
        if (p.deadline <= now) {
          // A call that ran out while the connection was down failed for that reason, as on a socket client.
          const up = this.backend.cmd.status === 'ready';
          this.expire(
            id,
            up
              ? new SharedKVError('ERR_SHAREDKV_TIMEOUT', 'The call timed out waiting for Redis', { id })
              : new SharedKVError(
                  'ERR_SHAREDKV_DISCONNECTED',
                  `The connection to Redis is ${this.backend.cmd.status} and did not come back within the call's timeout`,
                  { id },
                ),
          );
        } else if (p.deadline !== Number.POSITIVE_INFINITY) armed = true;
      });
      if (!armed && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }, 25);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.calls.forEach((_, id) => {
      this.expire(id, new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed'));
    });
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    await this.locks.close();
    await this.backend.close();
  }
}
