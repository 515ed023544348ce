/**
 * getOrSet across processes: the first caller that misses a key gets a load ticket and runs its loader;
 * every other caller that misses the same key meanwhile waits in the owner for the loaded value, so one
 * loader runs however many processes miss at once. If the loader fails, its process dies, or its lease
 * passes, the ticket moves to the next waiter (first come, first served), whose own loader runs.
 *
 * Wire: `getOrSet(key, lease)` answers `[0, value]` (hit) or `[1, ticket]` (you load); `fill(key, ticket,
 * value | null, options)` stores the loaded value (or, with null, gives up) and answers whether the ticket
 * was still valid.
 */
import type { Encoded } from '../../protocol/codec.js';
import type { Engine, Session } from '../engine.js';
import {
  type CommandContext,
  type CommandSpec,
  checkEncoded,
  checkKey,
  checkOptions,
  checkTtl,
  command,
  optionalTtl,
  PENDING,
} from '../table.js';
import { copy } from './values.js';

interface Waiter {
  session: Session;
  id: number;
  lease: number;
}

interface Load {
  session: Session;
  ticket: number;
  until: number;
  waiters: Waiter[];
}

interface LoadState {
  loads: Map<string, Load>;
  nextTicket: number;
}

function state(engine: Engine): LoadState {
  let s = engine.ext.get('loads') as LoadState | undefined;
  if (!s) {
    const created: LoadState = { loads: new Map(), nextTicket: 1 };
    s = created;
    engine.ext.set('loads', created);
    engine.onSessionClose.push((session) => {
      for (const key of session.loads) handOver(engine, created, key);
    });
    engine.timers.push({
      next() {
        let at = Number.POSITIVE_INFINITY;
        for (const load of created.loads.values()) if (load.waiters.length > 0) at = Math.min(at, load.until);
        return at === Number.POSITIVE_INFINITY ? undefined : at;
      },
      tick: () => expireLeases(engine),
    });
  }
  return s;
}

function grant(engine: Engine, s: LoadState, key: string, session: Session, lease: number): number {
  const ticket = s.nextTicket++;
  const prev = s.loads.get(key);
  if (prev) prev.session.loads.delete(key);
  s.loads.set(key, { session, ticket, until: engine.now() + lease, waiters: prev?.waiters ?? [] });
  session.loads.add(key);
  return ticket;
}

/** Gives the ticket of `key` to its first waiter, or forgets the load when nobody waits. */
function handOver(engine: Engine, s: LoadState, key: string): void {
  const load = s.loads.get(key);
  if (!load) return;
  load.session.loads.delete(key);
  const next = load.waiters.shift();
  if (!next) {
    s.loads.delete(key);
    return;
  }
  next.session.waiting.delete(next.id);
  const hit = engine.read(key);
  if (hit) {
    // Someone wrote the key meanwhile: everybody can have it.
    s.loads.delete(key);
    for (const w of [next, ...load.waiters]) {
      w.session.waiting.delete(w.id);
      w.session.respond(w.id, null, [0, hit.v]);
    }
    return;
  }
  const ticket = grant(engine, s, key, next.session, next.lease);
  next.session.respond(next.id, null, [1, ticket]);
}

/** Hands over loads whose lease has passed while others wait; the server calls this from its timer. */
export function expireLeases(engine: Engine): void {
  const s = engine.ext.get('loads') as LoadState | undefined;
  if (!s || s.loads.size === 0) return;
  const now = engine.now();
  for (const [key, load] of [...s.loads]) if (load.until <= now) handOver(engine, s, key);
}

function getOrSet(ctx: CommandContext, key: string, lease: number): unknown {
  const { engine, session } = ctx;
  const hit = engine.read(key);
  if (hit) {
    engine.hits++;
    return [0, hit.v];
  }
  engine.misses++;
  const s = state(engine);
  const load = s.loads.get(key);
  if (!load || load.until <= engine.now() || load.session.closed) {
    return [1, grant(engine, s, key, session, lease)];
  }
  const waiter: Waiter = { session, id: ctx.id, lease };
  load.waiters.push(waiter);
  session.waiting.set(ctx.id, () => {
    const i = load.waiters.indexOf(waiter);
    if (i !== -1) load.waiters.splice(i, 1);
  });
  return PENDING;
}

function fill(ctx: CommandContext, key: string, ticket: number, value: Encoded | null, ttl: number | undefined) {
  const { engine } = ctx;
  const s = state(engine);
  const load = s.loads.get(key);
  if (!load || load.ticket !== ticket) return false;
  if (value === null) {
    handOver(engine, s, key);
    return true;
  }
  const stored = copy(value);
  engine.write(key, { v: stored, exp: ttl === undefined ? 0 : engine.now() + ttl });
  s.loads.delete(key);
  load.session.loads.delete(key);
  for (const w of load.waiters) {
    w.session.waiting.delete(w.id);
    w.session.respond(w.id, null, [0, stored]);
  }
  return true;
}

export const loadCommands: CommandSpec[] = [
  command({
    name: 'getOrSet',
    arity: [2, 2],
    batchable: false,
    check: (a) => {
      checkKey(a[0]);
      checkTtl(a[1], 'lease');
    },
    run: (ctx, a) => getOrSet(ctx, a[0] as string, a[1] as number),
  }),
  command({
    name: 'fill',
    arity: [3, 4],
    write: true,
    batchable: false,
    check: (a) => {
      checkKey(a[0]);
      if (typeof a[1] !== 'number') checkTtl(a[1], 'ticket');
      if (a[2] !== null) checkEncoded(a[2]);
      optionalTtl(checkOptions(a[3], ['ttl'], 'fill'));
    },
    run: (ctx, a) =>
      fill(ctx, a[0] as string, a[1] as number, a[2] as Encoded | null, (a[3] as { ttl?: number } | undefined)?.ttl),
  }),
];
