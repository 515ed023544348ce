/**
 * Pub/sub and key watching. Both deliver through the session's push channel, so a message reaches every
 * subscriber in the order its publisher sent it (one publisher's commands run in order, and each peer's
 * pushes leave in order). A target with glob characters (`*`, `?`, `[`) is a pattern.
 *
 * Push messages: `['message', channel, value, pattern?]` and `['watch', pattern, key, op, value | null]`.
 */
import type { Encoded } from '../../protocol/codec.js';
import type { Engine, Entry, KeyOp, Session } from '../engine.js';
import { type GlobMatcher, globToRegExp } from '../glob.js';
import { type CommandSpec, checkEncoded, checkKey, command } from '../table.js';

interface Topic {
  /** Null for an exact name. */
  re: GlobMatcher | null;
  sessions: Set<Session>;
}

interface Registry {
  subs: Map<string, Topic>;
  watches: Map<string, Topic>;
  bySession: WeakMap<Session, { subs: Set<string>; watches: Set<string> }>;
  /** Count of pattern subscriptions, so a publish with none skips the pattern scan. */
  patterns: number;
}

const GLOB = /[*?[]/;

function registry(engine: Engine): Registry {
  let r = engine.ext.get('pubsub') as Registry | undefined;
  if (r) return r;
  const reg: Registry = { subs: new Map(), watches: new Map(), bySession: new WeakMap(), patterns: 0 };
  r = reg;
  engine.ext.set('pubsub', reg);
  engine.onSessionClose.push((session) => {
    const mine = reg.bySession.get(session);
    if (!mine) return;
    for (const t of mine.subs) remove(reg, reg.subs, t, session);
    for (const t of mine.watches) remove(reg, reg.watches, t, session);
    reg.bySession.delete(session);
  });
  engine.observe((key, op, entry) => notify(reg, key, op, entry));
  return reg;
}

function mineOf(reg: Registry, session: Session) {
  let m = reg.bySession.get(session);
  if (!m) {
    m = { subs: new Set(), watches: new Set() };
    reg.bySession.set(session, m);
  }
  return m;
}

function add(reg: Registry, map: Map<string, Topic>, target: string, session: Session): boolean {
  let topic = map.get(target);
  if (!topic) {
    topic = { re: GLOB.test(target) ? globToRegExp(target) : null, sessions: new Set() };
    map.set(target, topic);
    if (topic.re && map === reg.subs) reg.patterns++;
  }
  if (topic.sessions.has(session)) return false;
  topic.sessions.add(session);
  return true;
}

function remove(reg: Registry, map: Map<string, Topic>, target: string, session: Session): boolean {
  const topic = map.get(target);
  if (!topic?.sessions.delete(session)) return false;
  if (topic.sessions.size === 0) {
    map.delete(target);
    if (topic.re && map === reg.subs) reg.patterns--;
  }
  return true;
}

function publish(reg: Registry, channel: string, value: Encoded): number {
  let n = 0;
  const exact = reg.subs.get(channel);
  if (exact && !exact.re) {
    for (const s of exact.sessions) {
      s.push(['message', channel, value]);
      n++;
    }
  }
  if (reg.patterns > 0) {
    for (const [pattern, topic] of reg.subs) {
      if (!topic.re?.test(channel)) continue;
      for (const s of topic.sessions) {
        s.push(['message', channel, value, pattern]);
        n++;
      }
    }
  }
  return n;
}

function notify(reg: Registry, key: string, op: KeyOp, entry: Entry | undefined): void {
  if (reg.watches.size === 0) return;
  for (const [pattern, topic] of reg.watches) {
    if (topic.re ? !topic.re.test(key) : pattern !== key) continue;
    for (const s of topic.sessions) s.push(['watch', pattern, key, op, op === 'set' && entry ? entry.v : null]);
  }
}

export const pubsubCommands: CommandSpec[] = [
  command({
    name: 'subscribe',
    arity: [1, 1],
    batchable: false,
    check: (a) => checkKey(a[0], 'channel'),
    run: (ctx, a) => {
      const reg = registry(ctx.engine);
      const ok = add(reg, reg.subs, a[0] as string, ctx.session);
      mineOf(reg, ctx.session).subs.add(a[0] as string);
      return ok;
    },
  }),
  command({
    name: 'unsubscribe',
    arity: [1, 1],
    batchable: false,
    check: (a) => checkKey(a[0], 'channel'),
    run: (ctx, a) => {
      const reg = registry(ctx.engine);
      reg.bySession.get(ctx.session)?.subs.delete(a[0] as string);
      return remove(reg, reg.subs, a[0] as string, ctx.session);
    },
  }),
  command({
    name: 'publish',
    arity: [2, 2],
    check: (a) => {
      checkKey(a[0], 'channel');
      checkEncoded(a[1], 'message');
    },
    // The bytes leave in this tick's frames (or are decoded by the owner's own handlers), so no copy is kept.
    run: (ctx, a) => publish(registry(ctx.engine), a[0] as string, a[1] as Encoded),
  }),
  command({
    name: 'watch',
    arity: [1, 1],
    batchable: false,
    check: (a) => checkKey(a[0], 'pattern'),
    run: (ctx, a) => {
      const reg = registry(ctx.engine);
      const ok = add(reg, reg.watches, a[0] as string, ctx.session);
      mineOf(reg, ctx.session).watches.add(a[0] as string);
      return ok;
    },
  }),
  command({
    name: 'unwatch',
    arity: [1, 1],
    batchable: false,
    check: (a) => checkKey(a[0], 'pattern'),
    run: (ctx, a) => {
      const reg = registry(ctx.engine);
      reg.bySession.get(ctx.session)?.watches.delete(a[0] as string);
      return remove(reg, reg.watches, a[0] as string, ctx.session);
    },
  }),
];
