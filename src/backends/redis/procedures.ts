/**
 * Stored procedures on Redis, as optimistic transactions. A procedure is synchronous (as in the memory
 * owner) but Redis is not, so `call()` runs it against a view of the keys it read so far:
 *
 * 1. Run the procedure. The first time it reads a key this run has no copy of (or lists keys), the run
 *    stops; the key is WATCHed and fetched, and the procedure runs again from the start.
 * 2. Once a run completes without missing data, its writes (buffered, in order) go to Redis as one value
 *    script inside MULTI/EXEC. If any watched key changed meanwhile, EXEC does nothing and the whole call
 *    starts over, with a short random backoff, until the call's timeout.
 *
 * A procedure therefore may run several times: it must not have side effects outside the view (the memory
 * owner runs it once). Its result, and every write, is exactly what the memory owner would give, since the
 * view applies the engine's semantics and the script replays the same commands on the same data. `keys()`
 * in a procedure watches the keys it found, but not keys created later that would match (no phantom
 * protection). On Redis Cluster every key a procedure touches must share a namespace (one hash slot).
 * Calls of one process run one at a time on a connection of their own.
 */

import type { Procedure, Transaction } from '../../engine/commands/procedures.js';
import { wrongType } from '../../engine/commands/values.js';
import { globToRegExp, literalPrefix } from '../../engine/glob.js';
import { badArgument, describe, SharedKVError } from '../../errors.js';
import { decodeValue, type Encoded, encodeValue } from '../../protocol/codec.js';
import { type Backend, type Client, KvCall } from './backend.js';
import { checkCall } from './check.js';
import { fromRedis } from './replies.js';
import { matchingKeys } from './values.js';

/** What Redis held for a key when it was fetched. */
interface Fetched {
  value: Buffer | null;
  /** PTTL: -1 without ttl. */
  pttl: number;
}

/** The view's state of a key. */
interface Staged {
  value: Encoded | null;
  /** 'o': the fetched ttl, 'n': none, or ms from now. */
  ttl: 'o' | 'n' | number;
}

/** Thrown inside a run when it needs data it does not have yet. */
class NeedData extends Error {}

interface Needs {
  keys: Set<string>;
  patterns: Set<string>;
}

/** One run of a procedure over the fetched data; records the writes as a value-script call. */
class View implements Transaction {
  readonly call: KvCall;
  readonly counted: string[] = [];
  private readonly staged = new Map<string, Staged>();

  constructor(
    private readonly b: Backend,
    private readonly fetched: Map<string, Fetched>,
    private readonly listed: Map<string, string[]>,
    private readonly needs: Needs,
  ) {
    this.call = new KvCall(b);
  }

  private check(name: string, args: unknown[]): void {
    checkCall(name, args);
    this.counted.push(name);
  }

  private state(key: string): Staged {
    let s = this.staged.get(key);
    if (s) return s;
    this.call.data(key);
    const f = this.fetched.get(key);
    if (!f) {
      this.needs.keys.add(key);
      throw new NeedData();
    }
    s = { value: f.value === null ? null : this.b.format.fromStored(f.value), ttl: 'o' };
    this.staged.set(key, s);
    return s;
  }

  private ttlOf(key: string, s: Staged): number {
    if (s.value === null) return -2;
    if (s.ttl === 'o') return Math.max(-1, this.fetched.get(key)?.pttl ?? -1);
    return s.ttl === 'n' ? -1 : s.ttl;
  }

  get<T = unknown>(key: string): T | undefined {
    this.check('get', [key]);
    const s = this.state(key);
    return s.value === null ? undefined : (decodeValue(s.value) as T);
  }

  set(key: string, value: unknown, options?: { ttl?: number; nx?: boolean; xx?: boolean; keepTtl?: boolean }): boolean {
    if (value === undefined) throw badArgument('Cannot store `undefined`; use del()');
    const bytes = encodeValue(value);
    this.check('set', options === undefined ? [key, bytes] : [key, bytes, options]);
    const s = this.state(key);
    const i = this.call.data(key);
    const o = options ?? {};
    const flags = `${o.nx === true ? 'n' : ''}${o.xx === true ? 'x' : ''}${o.keepTtl === true ? 'k' : ''}`;
    this.call.op(undefined, 'set', i, this.b.format.toStored(bytes), flags, o.ttl ?? 0, 0, 0, 0);
    if ((o.nx === true && s.value !== null) || (o.xx === true && s.value === null)) return false;
    if (!(o.keepTtl === true && s.value !== null)) s.ttl = o.ttl ?? 'n';
    s.value = bytes;
    return true;
  }

  del(...keys: string[]): number {
    this.check('del', [keys]);
    let n = 0;
    for (const key of keys) {
      const s = this.state(key);
      if (s.value !== null) {
        s.value = null;
        s.ttl = 'n';
        n++;
      }
    }
    if (keys.length > 0) {
      const indexes = keys.map((k) => this.call.data(k));
      this.call.op(undefined, 'del', indexes.length, ...indexes);
    }
    return n;
  }

  has(key: string): boolean {
    this.check('has', [key]);
    return this.state(key).value !== null;
  }

  incr(key: string, by = 1): number {
    this.check('incr', [key, by]);
    return this.add(key, by);
  }

  decr(key: string, by = 1): number {
    this.check('decr', [key, by]);
    return this.add(key, -by);
  }

  private add(key: string, by: number): number {
    const s = this.state(key);
    let current = 0;
    if (s.value !== null) {
      const v = decodeValue(s.value);
      if (typeof v !== 'number') throw wrongType(key, 'a number');
      current = v;
    }
    const next = current + by;
    if (this.b.format.name === 'json' && !Number.isFinite(next)) {
      throw new SharedKVError(
        'ERR_SHAREDKV_NOT_SERIALIZABLE',
        `The counter at ${JSON.stringify(key)} left the finite numbers, which the json encoding cannot carry`,
        { key },
      );
    }
    if (s.value === null) s.ttl = 'n';
    s.value = encodeValue(next);
    this.call.op(undefined, 'incr', this.call.data(key), by);
    return next;
  }

  keys(pattern = '*'): string[] {
    this.check('keys', [pattern]);
    const found = this.listed.get(pattern);
    if (!found) {
      this.needs.patterns.add(pattern);
      throw new NeedData();
    }
    const literal = literalPrefix(pattern);
    const re = literal === pattern ? null : globToRegExp(pattern);
    const matches = (k: string) => (re ? k.startsWith(literal) && re.test(k) : k === pattern);
    const out = new Set<string>();
    for (const k of found) if (this.state(k).value !== null) out.add(k);
    for (const [k, s] of this.staged) if (s.value !== null && matches(k)) out.add(k);
    return [...out];
  }

  ttl(key: string): number {
    this.check('ttl', [key]);
    return this.ttlOf(key, this.state(key));
  }

  expire(key: string, ttl: number): boolean {
    this.check('expire', [key, ttl]);
    const s = this.state(key);
    if (s.value === null) return false;
    s.ttl = ttl;
    this.call.op(undefined, 'expire', this.call.data(key), ttl);
    return true;
  }
}

const MAX_ATTEMPTS = 200;

export class Procedures {
  private readonly registry = new Map<string, Procedure>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly b: Backend) {}

  define(name: string, fn: Procedure): void {
    if (typeof name !== 'string')
      throw badArgument(`Expected the procedure name to be a string, got ${describe(name)}`);
    if (typeof fn !== 'function') throw badArgument(`Expected procedure ${JSON.stringify(name)} to be a function`);
    this.registry.set(name, fn);
  }

  /** `call(name, encodedArgs)`: the procedure's result, encoded (null for undefined). */
  call(name: string, rawArgs: Encoded[], cancel: AbortSignal): Promise<Encoded | null> {
    const fn = this.registry.get(name);
    if (!fn) {
      return Promise.reject(
        badArgument(`No procedure named ${JSON.stringify(name)} is defined in this process`, { procedure: name }),
      );
    }
    const args = rawArgs.map((a) => decodeValue(a));
    // One transaction at a time on the transaction connection (WATCH state belongs to a connection).
    const run = this.queue.then(() => this.run(name, fn, args, cancel));
    this.queue = run.catch(() => {});
    return run;
  }

  private async run(name: string, fn: Procedure, args: unknown[], cancel: AbortSignal): Promise<Encoded | null> {
    const conn = this.b.transactions();
    for (let attempt = 0; attempt < MAX_ATTEMPTS && !cancel.aborted; attempt++) {
      const fetched = new Map<string, Fetched>();
      const listed = new Map<string, string[]>();
      try {
        for (;;) {
          const needs: Needs = { keys: new Set(), patterns: new Set() };
          const view = new View(this.b, fetched, listed, needs);
          let result: unknown;
          let failure: unknown = null;
          try {
            result = fn(view, ...(args as never[]));
          } catch (err) {
            failure = err;
          }
          if (needs.keys.size > 0 || needs.patterns.size > 0) {
            await this.fetch(conn, needs, fetched, listed);
            continue;
          }
          if (failure !== null) throw procedureError(name, failure);
          if (
            result !== null &&
            typeof result === 'object' &&
            typeof (result as { then?: unknown }).then === 'function'
          ) {
            throw badArgument(`Procedure ${JSON.stringify(name)} returned a promise; procedures must be synchronous`);
          }
          if (view.call.count > 0) {
            const replies = await this.commit(conn, view.call);
            if (replies === null) break;
          } else if (fetched.size > 0) {
            await conn.unwatch();
          }
          for (const c of view.counted) this.b.counters.commands.set(c, (this.b.counters.commands.get(c) ?? 0) + 1);
          return result === undefined ? null : encodeValue(result);
        }
      } catch (err) {
        await conn.unwatch().catch(() => {});
        throw err;
      }
      // A watched key changed before EXEC: start over after a short random pause.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
    }
    throw new SharedKVError(
      'ERR_SHAREDKV_TIMEOUT',
      `Procedure ${JSON.stringify(name)} kept conflicting with other writers and gave up`,
      { procedure: name },
    );
  }

  private async fetch(conn: Client, needs: Needs, fetched: Map<string, Fetched>, listed: Map<string, string[]>) {
    for (const pattern of needs.patterns) {
      const keys = await matchingKeys(this.b, pattern);
      listed.set(pattern, keys);
      for (const k of keys) if (!fetched.has(k)) needs.keys.add(k);
    }
    const keys = [...needs.keys].filter((k) => !fetched.has(k));
    if (keys.length === 0) return;
    const redisKeys = keys.map((k) => this.b.layout.data(k));
    try {
      await conn.watch(...redisKeys);
      const p = conn.pipeline();
      for (const rk of redisKeys) p.getBuffer(rk).pttl(rk);
      const replies = (await p.exec()) ?? [];
      keys.forEach((k, i) => {
        const [e1, value] = replies[2 * i] ?? [];
        const [e2, pttl] = replies[2 * i + 1] ?? [];
        if (e1 || e2) throw e1 ?? e2;
        fetched.set(k, { value: (value as Buffer | null) ?? null, pttl: pttl as number });
      });
    } catch (err) {
      throw fromRedis(err);
    }
  }

  /** Applies the writes with MULTI/EXEC; `null` when a watched key changed (nothing was applied). */
  private async commit(conn: Client, call: KvCall): Promise<unknown[] | null> {
    const o = this.b.options;
    const multi = conn.multi() as unknown as {
      sharedkvKvBuffer(...args: unknown[]): unknown;
      exec(): Promise<Array<[Error | null, unknown]> | null>;
    };
    multi.sharedkvKvBuffer(
      call.keys.length,
      ...call.keys,
      o.events ? this.b.layout.eventsChannel : '',
      this.b.layout.loadChannel,
      this.b.format.code,
      call.count,
      ...call.args,
    );
    let replies: Array<[Error | null, unknown]> | null;
    try {
      replies = await multi.exec();
    } catch (err) {
      if ((err as Error).message?.startsWith('EXECABORT')) return null;
      throw fromRedis(err, call.context());
    }
    if (replies === null) return null;
    const [err, result] = replies[0] ?? [null, null];
    if (err) throw fromRedis(err, call.context());
    return result as unknown[];
  }
}

function procedureError(name: string, err: unknown): unknown {
  if (err instanceof SharedKVError) return err;
  return new SharedKVError(
    'ERR_SHAREDKV_PROCEDURE_FAILED',
    `Procedure ${JSON.stringify(name)} threw: ${err instanceof Error ? err.message : describe(err)}`,
    { procedure: name },
  );
}
