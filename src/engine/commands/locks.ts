/**
 * Locks with leases and fencing tokens, and counting semaphores (a lock is a semaphore of 1).
 *
 * - Every grant carries a token taken from a counter per lock name that only ever grows, so a holder
 *   whose lease passed (paused by SIGSTOP, a long GC) holds a token older than the current holder's, and
 *   a write fenced with it is refused (`ERR_SHAREDKV_LOCK_LOST`).
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

interface Locks {
  locks: Map<string, LockState>;
  /** Last token issued per lock name; survives the lock state so tokens never repeat. */
  fences: Map<string, number>;
  held: WeakMap<Session, Set<string>>;
}

/** The lock table of an engine (created on first use). */
export function lockTable(engine: Engine): Locks {
  let t = engine.ext.get('locks') as Locks | undefined;
  if (t) return t;
  const table: Locks = { locks: new Map(), fences: new Map(), held: new WeakMap() };
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
        for (const [token, h] of lock.holders) if (h.until <= now) lock.holders.delete(token);
        const expired = lock.waiters.filter((w) => w.deadline <= now);
        if (expired.length > 0) {
          lock.waiters = lock.waiters.filter((w) => w.deadline > now);
          for (const w of expired) {
            w.session.waiting.delete(w.id);
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

function grant(engine: Engine, table: Locks, name: string, lock: LockState, session: Session, ttl: number) {
  const token = (table.fences.get(name) ?? 0) + 1;
  table.fences.set(name, token);
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
  for (const [token, h] of state.holders) if (h.until <= now) state.holders.delete(token);
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
    grantWaiters(engine, table, name, s);
  });
  if (Number.isFinite(o.wait)) engine.wakeIn(o.wait);
  return PENDING;
}

/** Restores the last fencing token of a lock (persistence, on start), so tokens keep increasing. */
export function restoreFence(engine: Engine, name: string, token: number): void {
  const table = lockTable(engine);
  if (token > (table.fences.get(name) ?? 0)) table.fences.set(name, token);
}

/** The live holder of `name` with `token`, or undefined when that lease is over. */
export function holderOf(engine: Engine, name: string, token: number): Holder | undefined {
  const table = lockTable(engine);
  const h = table.locks.get(name)?.holders.get(token);
  return h && h.until > engine.now() ? h : undefined;
}

/**
 * Refuses a fenced write whose token is not the live lease of its lock.
 *
 * @throws SharedKVError `ERR_SHAREDKV_LOCK_LOST`
 */
export function checkFence(engine: Engine, fence: { lock: string; token: number }): void {
  if (!holderOf(engine, fence.lock, fence.token)) {
    const latest = lockTable(engine).fences.get(fence.lock) ?? 0;
    throw new SharedKVError(
      'ERR_SHAREDKV_LOCK_LOST',
      `Write fenced by lock ${JSON.stringify(fence.lock)} token ${fence.token} refused: that lease is over (latest token ${latest})`,
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
