/**
 * Locks with leases and fencing tokens, and counting semaphores (a lock is a semaphore of 1).
 *
 * - Every grant carries a token from one counter for the whole engine that only ever grows, so tokens
 *   strictly increase per lock name (and across names). A write fenced with `{ lock, token }` is accepted
 *   only while that lock is held under that token (for a semaphore: by one of its holders); a holder whose
 *   lease passed (paused by SIGSTOP, a long GC) has lost the lock even if nobody took it since, and its
 *   fenced writes are refused (`ERR_SHAREDKV_LOCK_LOST`).
 * - Nothing is kept per lock name once a lock has no holder and no waiter: one counter, not a token per
 *   name, is what keeps tokens growing, so locks per entity (a lock per user id) cost memory only while
 *   they are held.
 * - A lease ends at its ttl, on release, or the moment the owner sees the holder's process go (its
 *   session closes), whichever is first.
 * - Waiters are served first come, first served; a waiter whose `wait` passes gets `ERR_SHAREDKV_TIMEOUT`,
 *   and one whose client gives up (timeout, AbortSignal) is removed at once.
 */
import { badArgument, describe, SharedKVError } from '../../errors.js';
import type { Engine, Session } from '../engine.js';
import { type CommandContext, type CommandSpec, checkKey, checkOptions, checkTtl, command, PENDING } from '../table.js';

interface Holder {
  session: Session;
  token: number;
  until: number;
}

interface Waiter {
  session: Session;
  id: number;
  ttl: number;
  deadline: number;
}

interface LockState {
  limit: number;
  holders: Map<number, Holder>;
  waiters: Waiter[];
}

/** The lock table of an engine: only locks with a holder or a waiter are in it. */
export interface Locks {
  /** Locks that have a holder or a waiter, by name; a lock with neither is removed at once. */
  locks: Map<string, LockState>;
  /** Last token issued, for any lock; every grant takes the next one, so tokens never repeat. */
  lastToken: number;
  /** Names of the locks each session holds or waits for (so closing it frees them without a scan). */
  held: WeakMap<Session, Set<string>>;
}

/** The lock table of an engine (created on first use). */
export function lockTable(engine: Engine): Locks {
  let t = engine.ext.get('locks') as Locks | undefined;
  if (t) return t;
  const table: Locks = { locks: new Map(), lastToken: 0, held: new WeakMap() };
  t = table;
  engine.ext.set('locks', table);
  engine.onSessionClose.push((session) => {
    for (const name of table.held.get(session) ?? []) {
      const lock = table.locks.get(name);
      if (!lock) continue;
      for (const [token, h] of lock.holders) if (h.session === session) lock.holders.delete(token);
      lock.waiters = lock.waiters.filter((w) => w.session !== session);
      grantWaiters(engine, table, name, lock);
    }
    table.held.delete(session);
  });
  engine.timers.push({
    next() {
      let at = Number.POSITIVE_INFINITY;
      for (const lock of table.locks.values()) {
        for (const h of lock.holders.values()) at = Math.min(at, h.until);
        for (const w of lock.waiters) at = Math.min(at, w.deadline);
      }
      return at === Number.POSITIVE_INFINITY ? undefined : at;
    },
    tick(now) {
      for (const [name, lock] of [...table.locks]) {
        endLeases(table, name, lock, now);
        const expired = lock.waiters.filter((w) => w.deadline <= now);
        if (expired.length > 0) {
          lock.waiters = lock.waiters.filter((w) => w.deadline > now);
          for (const w of expired) {
            w.session.waiting.delete(w.id);
            untrack(table, w.session, name, lock);
            w.session.respond(
              w.id,
              new SharedKVError('ERR_SHAREDKV_TIMEOUT', `Lock ${JSON.stringify(name)} was not acquired in time`, {
                lock: name,
              }),
            );
          }
        }
        grantWaiters(engine, table, name, lock);
      }
    },
  });
  return table;
}

function track(table: Locks, session: Session, name: string): void {
  let set = table.held.get(session);
  if (!set) {
    set = new Set();
    table.held.set(session, set);
  }
  set.add(name);
}

/**
 * Forgets that `session` holds or waits for `name` once it does neither, so a long-lived session that
 * takes many different locks keeps no trace of the ones it is done with.
 */
function untrack(table: Locks, session: Session, name: string, lock: LockState): void {
  for (const h of lock.holders.values()) if (h.session === session) return;
  for (const w of lock.waiters) if (w.session === session) return;
  table.held.get(session)?.delete(name);
}

/** Ends the leases of `lock` that passed at `now`. */
function endLeases(table: Locks, name: string, lock: LockState, now: number): void {
  for (const [token, h] of lock.holders) {
    if (h.until <= now) {
      lock.holders.delete(token);
      untrack(table, h.session, name, lock);
    }
  }
}

function grant(engine: Engine, table: Locks, name: string, lock: LockState, session: Session, ttl: number) {
  const token = ++table.lastToken;
  for (const o of engine.fenceObservers) o(name, token);
  const until = engine.now() + ttl;
  lock.holders.set(token, { session, token, until });
  track(table, session, name);
  engine.wakeIn(ttl);
  return [token, ttl];
}

function grantWaiters(engine: Engine, table: Locks, name: string, lock: LockState): void {
  while (lock.holders.size < lock.limit && lock.waiters.length > 0) {
    const w = lock.waiters.shift()!;
    w.session.waiting.delete(w.id);
    w.session.respond(w.id, null, grant(engine, table, name, lock, w.session, w.ttl));
  }
  if (lock.holders.size === 0 && lock.waiters.length === 0) table.locks.delete(name);
}

function checkLockOptions(value: unknown): { ttl: number; wait: number; limit: number } {
  const o = checkOptions(value, ['ttl', 'wait', 'limit'], 'lock');
  checkTtl(o.ttl, 'ttl');
  const wait = o.wait ?? 0;
  if (typeof wait !== 'number' || !(wait >= 0)) {
    throw badArgument(`Expected \`wait\` to be a non-negative number of ms (or Infinity), got ${describe(wait)}`);
  }
  const limit = o.limit ?? 1;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw badArgument(`Expected \`limit\` to be a positive integer, got ${describe(limit)}`);
  }
  return { ttl: o.ttl as number, wait, limit };
}

function lock(ctx: CommandContext, name: string, o: { ttl: number; wait: number; limit: number }): unknown {
  const { engine, session } = ctx;
  const table = lockTable(engine);
  let state = table.locks.get(name);
  if (!state) {
    state = { limit: o.limit, holders: new Map(), waiters: [] };
    table.locks.set(name, state);
  } else if (state.limit !== o.limit) {
    throw badArgument(
      `Lock ${JSON.stringify(name)} is held as a semaphore of ${state.limit}; it cannot be taken with limit ${o.limit}`,
    );
  }
  // Expired leases end here too, so a free slot is seen even before the sweep passes.
  const now = engine.now();
  endLeases(table, name, state, now);
  if (state.holders.size < state.limit && state.waiters.length === 0) {
    return grant(engine, table, name, state, session, o.ttl);
  }
  if (o.wait === 0 || ctx.inBatch) {
    if (state.holders.size === 0 && state.waiters.length === 0) table.locks.delete(name);
    return null;
  }
  const waiter: Waiter = { session, id: ctx.id, ttl: o.ttl, deadline: now + o.wait };
  const s = state;
  s.waiters.push(waiter);
  track(table, session, name);
  session.waiting.set(ctx.id, () => {
    const i = s.waiters.indexOf(waiter);
    if (i !== -1) s.waiters.splice(i, 1);
    untrack(table, session, name, s);
    grantWaiters(engine, table, name, s);
  });
  if (Number.isFinite(o.wait)) engine.wakeIn(o.wait);
  return PENDING;
}

/**
 * Restores the last fencing token issued before a restart (persistence, on start), so every token issued
 * from now on is larger than any issued before.
 */
export function restoreFence(engine: Engine, token: number): void {
  const table = lockTable(engine);
  if (token > table.lastToken) table.lastToken = token;
}

/**
 * The token the lock inspector shows for `name`: the newest live holder's, or when the lock has no live
 * holder, the last token the engine issued (the next grant takes a larger one).
 */
export function fenceOf(engine: Engine, name: string): number {
  return newestHolder(engine, name) || lockTable(engine).lastToken;
}

/** The newest live holder's token of `name`, 0 when the lock is free. */
function newestHolder(engine: Engine, name: string): number {
  const now = engine.now();
  let newest = 0;
  for (const h of lockTable(engine).locks.get(name)?.holders.values() ?? []) {
    if (h.until > now && h.token > newest) newest = h.token;
  }
  return newest;
}

/** The live holder of `name` with `token`, or undefined when that lease is over. */
export function holderOf(engine: Engine, name: string, token: number): Holder | undefined {
  const table = lockTable(engine);
  const h = table.locks.get(name)?.holders.get(token);
  return h && h.until > engine.now() ? h : undefined;
}

/**
 * Refuses a fenced write unless its lock is held right now under its token (a lease that ended, by ttl,
 * release or the holder's exit, has lost the lock even when nobody took it since).
 *
 * @throws SharedKVError `ERR_SHAREDKV_LOCK_LOST`, with `data.latest` the newest live holder's token (0 when
 * the lock is free)
 */
export function checkFence(engine: Engine, fence: { lock: string; token: number }): void {
  if (!holderOf(engine, fence.lock, fence.token)) {
    const latest = newestHolder(engine, fence.lock);
    throw new SharedKVError(
      'ERR_SHAREDKV_LOCK_LOST',
      `Write fenced by lock ${JSON.stringify(fence.lock)} token ${fence.token} refused: that lease is over (${latest ? `held now under token ${latest}` : 'the lock is free'})`,
      { lock: fence.lock, token: fence.token, latest },
    );
  }
}

/** Validates a `fence` option: `{ lock: string, token: number }`. */
export function checkFenceOption(value: unknown): void {
  if (value === undefined) return;
  const f = value as { lock?: unknown; token?: unknown };
  if (value === null || typeof value !== 'object' || typeof f.lock !== 'string' || !Number.isSafeInteger(f.token)) {
    throw badArgument(`Expected \`fence\` to be { lock: string, token: integer }, got ${describe(value)}`);
  }
}

export const lockCommands: CommandSpec[] = [
  command({
    name: 'lock',
    arity: [2, 2],
    batchable: false,
    check: (a) => {
      checkKey(a[0], 'name');
      checkLockOptions(a[1]);
    },
    run: (ctx, a) => lock(ctx, a[0] as string, checkLockOptions(a[1])),
  }),
  command({
    name: 'unlock',
    arity: [2, 2],
    batchable: false,
    check: (a) => {
      checkKey(a[0], 'name');
      checkTtl(a[1], 'token');
    },
    run: (ctx, a) => {
      const table = lockTable(ctx.engine);
      const name = a[0] as string;
      const state = table.locks.get(name);
      const h = state?.holders.get(a[1] as number);
      if (!state || !h || h.until <= ctx.engine.now()) return false;
      state.holders.delete(h.token);
      untrack(table, h.session, name, state);
      grantWaiters(ctx.engine, table, name, state);
      return true;
    },
  }),
  command({
    name: 'extend',
    arity: [3, 3],
    batchable: false,
    check: (a) => {
      checkKey(a[0], 'name');
      checkTtl(a[1], 'token');
      checkTtl(a[2], 'ttl');
    },
    run: (ctx, a) => {
      const h = holderOf(ctx.engine, a[0] as string, a[1] as number);
      if (!h) return false;
      h.until = ctx.engine.now() + (a[2] as number);
      ctx.engine.wakeIn(a[2] as number);
      return true;
    },
  }),
  command({
    name: 'locks',
    arity: [0, 0],
    batchable: false,
    run: (ctx) => {
      const out: Array<{ name: string; holders: number; waiters: number; limit: number }> = [];
      for (const [name, s] of lockTable(ctx.engine).locks) {
        out.push({ name, holders: s.holders.size, waiters: s.waiters.length, limit: s.limit });
      }
      return out;
    },
  }),
];
