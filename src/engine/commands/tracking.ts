/**
 * Server side of the near cache (client-side caching, as Redis 6 `CLIENT TRACKING`): a client that reads
 * with `getc` is remembered as holding that key, and the first change of the key afterwards (a write,
 * delete, expiry, eviction, or a change of its ttl) sends it `['inv', key]` once and forgets it.
 *
 * The invalidation is pushed as urgent: it leaves on the holder's connection before the writer's own
 * reply is sent, so by the time any process learns that the write was acknowledged, every holder's
 * connection already carries the invalidation ahead of anything it reads later.
 */
import type { Engine, Session } from '../engine.js';
import { type CommandSpec, checkKey, command } from '../table.js';

interface Tracking {
  holders: Map<string, Set<Session>>;
  keysOf: WeakMap<Session, Set<string>>;
}

function tracking(engine: Engine): Tracking {
  let t = engine.ext.get('tracking') as Tracking | undefined;
  if (t) return t;
  const table: Tracking = { holders: new Map(), keysOf: new WeakMap() };
  t = table;
  engine.ext.set('tracking', table);
  const invalidate = (key: string) => {
    const sessions = table.holders.get(key);
    if (!sessions) return;
    table.holders.delete(key);
    for (const s of sessions) {
      table.keysOf.get(s)?.delete(key);
      s.push(['inv', key], true);
    }
  };
  engine.observe((key) => invalidate(key), { ttlChanges: true });
  engine.onSessionClose.push((session) => {
    for (const key of table.keysOf.get(session) ?? []) {
      const set = table.holders.get(key);
      set?.delete(session);
      if (set?.size === 0) table.holders.delete(key);
    }
    table.keysOf.delete(session);
  });
  return table;
}

export const trackingCommands: CommandSpec[] = [
  command({
    name: 'getc',
    arity: [1, 1],
    batchable: false,
    check: (a) => checkKey(a[0]),
    run: (ctx, a) => {
      const key = a[0] as string;
      const e = ctx.engine.read(key);
      if (!e) {
        ctx.engine.misses++;
        return null;
      }
      ctx.engine.hits++;
      const t = tracking(ctx.engine);
      let set = t.holders.get(key);
      if (!set) {
        set = new Set();
        t.holders.set(key, set);
      }
      set.add(ctx.session);
      let mine = t.keysOf.get(ctx.session);
      if (!mine) {
        mine = new Set();
        t.keysOf.set(ctx.session, mine);
      }
      mine.add(key);
      // The client caches the value until its ttl passes (or an invalidation arrives first).
      return [e.v, e.exp === 0 ? -1 : Math.max(0, e.exp - ctx.engine.now())];
    },
  }),
];
