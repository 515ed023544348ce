/**
 * Read-only introspection commands for the inspector (and any tool): `scan` pages through the keyspace,
 * `peek` reads one entry without counting a hit or touching its recency, `namespaces` groups keys by
 * their first `:` segment, `clients`, `lockinfo` and `subscriptions` describe the peers and what they hold.
 *
 * None of them changes the store, its counters (beside the command counts every command gets) or the LRU
 * order, and none decodes a value: the type of a value is read from the first bytes of its encoding.
 * Each bounds its own work per call, so the owner never stalls on a large keyspace.
 */
import { badArgument, describe } from '../../errors.js';
import { type Encoded, PLAIN_TAG } from '../../protocol/codec.js';
import type { Engine, Entry, Session } from '../engine.js';
import { globToRegExp, literalPrefix } from '../glob.js';
import { type CommandSpec, checkKey, checkOptions, command } from '../table.js';
import { fenceOf, lockTable } from './locks.js';

/** The kind of a stored value, read from its encoding (see {@link valueType}). */
export type ValueType =
  | 'string'
  | 'number'
  | 'bigint'
  | 'boolean'
  | 'null'
  | 'undefined'
  | 'array'
  | 'object'
  | 'map'
  | 'set'
  | 'date'
  | 'regexp'
  | 'error'
  | 'binary'
  | 'other';

/** Every value type, for argument checks and UIs. */
export const VALUE_TYPES: readonly ValueType[] = [
  'string',
  'number',
  'bigint',
  'boolean',
  'null',
  'undefined',
  'array',
  'object',
  'map',
  'set',
  'date',
  'regexp',
  'error',
  'binary',
  'other',
];

/** msgpackr extension type codes used by the value codec (structured clone + moreTypes). */
const EXT_TYPES: Record<number, ValueType> = {
  0: 'undefined',
  66: 'bigint',
  101: 'error',
  114: 'object',
  115: 'set',
  116: 'binary',
  120: 'regexp',
  255: 'date',
};

/**
 * The type of an encoded value, from its first bytes (MessagePack format byte, and the extension type
 * for the codec's structured-clone types). Never decodes the value; a test keeps it in step with the codec.
 */
export function valueType(bytes: Encoded, offset = 0): ValueType {
  const b = bytes[offset];
  if (b === undefined) return 'other';
  // A plain encoding: MessagePack follows the tag, and its maps are plain objects.
  if (b === PLAIN_TAG && offset === 0) {
    const inner = valueType(bytes, 1);
    return inner === 'map' ? 'object' : inner;
  }
  if (b <= 0x7f || b >= 0xe0 || (b >= 0xca && b <= 0xd2)) return 'number';
  if (b === 0xcf || b === 0xd3) return 'bigint';
  if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) return 'string';
  if ((b >= 0x90 && b <= 0x9f) || b === 0xdc || b === 0xdd) return 'array';
  if ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf) return 'map';
  if (b === 0xc0) return 'null';
  if (b === 0xc2 || b === 0xc3) return 'boolean';
  if (b >= 0xc4 && b <= 0xc6) return 'binary';
  // Extensions: fixext 1/2/4/8/16 carry the type in the next byte; ext 8/16/32 after a 1/2/4-byte length.
  let typeAt: number;
  let dataAt: number;
  if (b >= 0xd4 && b <= 0xd8) {
    typeAt = offset + 1;
    dataAt = offset + 2;
  } else if (b === 0xc7 || b === 0xc8 || b === 0xc9) {
    const lengthBytes = b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4;
    typeAt = offset + 1 + lengthBytes;
    dataAt = typeAt + 1;
  } else {
    return 'other';
  }
  const ext = bytes[typeAt];
  if (ext === undefined) return 'other';
  // 'i' marks an object that is referenced again (a cycle or a shared reference): the object follows its id.
  if (ext === 0x69 && b === 0xd6) return valueType(bytes, dataAt + 4);
  return EXT_TYPES[ext] ?? 'other';
}

/** One key as listed by `scan`. */
export interface ScanItem {
  key: string;
  type: ValueType;
  /** Encoded value size in bytes. */
  size: number;
  /** Remaining ttl in ms, or -1 when the key does not expire. */
  ttl: number;
}

/** Result of `scan`. */
export interface ScanResult {
  /** Cursor to pass to the next call; 0 when the scan is complete. */
  cursor: number;
  items: ScanItem[];
  /** Entries examined by this call (matching or not). */
  scanned: number;
}

/** Most cursors kept open per engine; the least recently used one is dropped beyond it. */
const MAX_CURSORS = 64;
/** Most entries one `scan` call examines, so a sparse glob never stalls the owner. */
const SCAN_BUDGET = 20_000;
/** Largest page `scan` returns. */
const MAX_COUNT = 1000;

interface Cursor {
  it: Iterator<[string, Entry]>;
  session: Session;
  /** An entry read ahead to learn whether the scan had ended; examined first by the next call. */
  ahead: [string, Entry] | undefined;
}

interface Cursors {
  open: Map<number, Cursor>;
  next: number;
}

function cursors(engine: Engine): Cursors {
  let c = engine.ext.get('scanCursors') as Cursors | undefined;
  if (c) return c;
  const table: Cursors = { open: new Map(), next: 1 };
  c = table;
  engine.ext.set('scanCursors', table);
  engine.onSessionClose.push((session) => {
    for (const [id, cur] of table.open) if (cur.session === session) table.open.delete(id);
  });
  return table;
}

function ttlLeft(e: Entry, now: number): number {
  return e.exp === 0 ? -1 : Math.max(0, Math.ceil(e.exp - now));
}

function checkScanOptions(value: unknown): { match: string; count: number; type: ValueType | undefined } {
  const o = checkOptions(value, ['match', 'count', 'type'], 'scan');
  const match = o.match ?? '*';
  checkKey(match, 'match');
  const count = o.count ?? 100;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1 || count > MAX_COUNT) {
    throw badArgument(`Expected \`count\` to be an integer from 1 to ${MAX_COUNT}, got ${describe(count)}`);
  }
  const type = o.type;
  if (type !== undefined && !VALUE_TYPES.includes(type as ValueType)) {
    throw badArgument(`Expected \`type\` to be one of ${VALUE_TYPES.join(', ')}, got ${describe(type)}`);
  }
  return { match, count, type: type as ValueType | undefined };
}

/**
 * One page of the keyspace. A cursor is a live iterator over the key table kept in the owner, so a page
 * costs the entries it examines, not the ones before it. Every key present for the whole scan is returned
 * at least once; a key written during the scan may be returned twice or not at all (as with Redis SCAN).
 */
function scan(engine: Engine, session: Session, cursorArg: number, o: ReturnType<typeof checkScanOptions>): ScanResult {
  const table = cursors(engine);
  let id = cursorArg;
  let cur: Cursor | undefined;
  if (id === 0) {
    id = table.next++;
    cur = { it: engine.data.entries(), session, ahead: undefined };
  } else {
    cur = table.open.get(id);
    if (!cur) {
      throw badArgument(`Unknown or expired scan cursor ${id}; start again from cursor 0`, { cursor: id });
    }
    table.open.delete(id);
  }
  const prefix = literalPrefix(o.match);
  const re = prefix === o.match ? null : globToRegExp(o.match);
  const now = engine.now();
  const items: ScanItem[] = [];
  let scanned = 0;
  let done = false;
  const next = (): [string, Entry] | undefined => {
    const ahead = cur.ahead;
    if (ahead) {
      cur.ahead = undefined;
      return ahead;
    }
    const step = cur.it.next();
    return step.done ? undefined : step.value;
  };
  while (items.length < o.count && scanned < SCAN_BUDGET) {
    const entry = next();
    if (!entry) {
      done = true;
      break;
    }
    scanned++;
    const [key, e] = entry;
    if (!key.startsWith(prefix) || (re ? !re.test(key) : key !== o.match)) continue;
    // Expired keys are skipped, not removed: scan stays read-only (the sweep removes them).
    if (e.exp !== 0 && e.exp <= now) continue;
    const type = valueType(e.v);
    if (o.type !== undefined && type !== o.type) continue;
    items.push({ key, type, size: e.v.length, ttl: ttlLeft(e, now) });
  }
  if (!done) {
    // Reading one entry ahead tells a full last page from a page with more after it, so a scan of
    // exactly `count` keys answers with cursor 0 instead of needing one more, empty, call.
    cur.ahead = next();
    done = cur.ahead === undefined;
  }
  if (done) return { cursor: 0, items, scanned };
  // Re-inserting marks the cursor as the most recently used; the oldest goes beyond the limit.
  table.open.set(id, cur);
  if (table.open.size > MAX_CURSORS) {
    const oldest = table.open.keys().next().value;
    if (oldest !== undefined) table.open.delete(oldest);
  }
  return { cursor: id, items, scanned };
}

/** Result of `peek`. */
export interface PeekResult {
  /** The encoded value. */
  v: Encoded;
  type: ValueType;
  size: number;
  /** Remaining ttl in ms, or -1 when the key does not expire. */
  ttl: number;
}

/** Key counts by namespace (the part of the key before its first `:`; '' for keys without one). */
export interface NamespacesResult {
  /** Live keys in the store. */
  total: number;
  /** Keys examined; less than `total` when the store is larger than the limit (`partial`). */
  scanned: number;
  partial: boolean;
  namespaces: Array<{ name: string; keys: number; bytes: number }>;
}

function namespaces(engine: Engine, limit: number): NamespacesResult {
  const counts = new Map<string, { keys: number; bytes: number }>();
  const now = engine.now();
  let scanned = 0;
  for (const [key, e] of engine.data) {
    if (scanned >= limit) break;
    if (e.exp !== 0 && e.exp <= now) continue;
    scanned++;
    const i = key.indexOf(':');
    const name = i === -1 ? '' : key.slice(0, i);
    const c = counts.get(name);
    if (c) {
      c.keys++;
      c.bytes += e.v.length;
    } else {
      counts.set(name, { keys: 1, bytes: e.v.length });
    }
  }
  const list = [...counts].map(([name, c]) => ({ name, ...c }));
  list.sort((a, b) => b.keys - a.keys || (a.name < b.name ? -1 : 1));
  return { total: engine.data.size, scanned, partial: scanned < engine.data.size, namespaces: list.slice(0, 200) };
}

/** How a peer reaches the owner. */
export type ClientTransport = 'ipc' | 'socket' | 'thread' | 'local' | 'unknown';

/** One session (a connected peer, or a store of the owner itself) as listed by `clients`. */
export interface ClientInfo {
  id: number;
  label: string;
  transport: ClientTransport;
  /** Process id, when the peer told it (or its label carries it). */
  pid: number | null;
  /** Calls of this peer waiting in the owner (lock waits, getOrSet loads). */
  waiting: number;
  /** Locks (and semaphore permits) it holds. */
  locks: Array<{ name: string; token: number; ttl: number }>;
  /** Lock names it waits for. */
  waitingFor: string[];
  subscriptions: string[];
  watches: string[];
  /** True for the session that asked. */
  self: boolean;
}

/** Result of `clients`. */
export interface ClientsResult {
  /**
   * False when the owner does not track every session (an older server): only the sessions that hold a
   * lock, wait for one or subscribe are listed.
   */
  complete: boolean;
  clients: ClientInfo[];
}

/** A session as the engine may describe it: `pid` and `transport` are set by servers that know them. */
type DescribedSession = Session & { pid?: number; transport?: string };

/** Structural view of the pub/sub registry kept by commands/pubsub.ts under `ext.get('pubsub')`. */
interface PubsubView {
  subs: Map<string, { re: unknown; sessions: Set<Session> }>;
  watches: Map<string, { re: unknown; sessions: Set<Session> }>;
}

function pubsubOf(engine: Engine): PubsubView | undefined {
  const r = engine.ext.get('pubsub') as Partial<PubsubView> | undefined;
  return r?.subs instanceof Map && r.watches instanceof Map ? (r as PubsubView) : undefined;
}

/**
 * Every session the engine can see. The complete list comes from the server, which registers a provider
 * as `ext.get('sessions')` (or from `engine.sessions` when the engine tracks them itself); without one,
 * the sessions seen in the lock table and the pub/sub registry.
 */
export function sessionsOf(engine: Engine, self?: Session): { sessions: Set<Session>; complete: boolean } {
  const out = new Set<Session>();
  let complete = false;
  const tracked = (engine as Engine & { sessions?: Iterable<Session> }).sessions;
  if (tracked && typeof tracked[Symbol.iterator] === 'function') {
    for (const s of tracked) out.add(s);
    complete = true;
  }
  const provider = engine.ext.get('sessions');
  if (typeof provider === 'function') {
    for (const s of (provider as () => Iterable<Session>)()) out.add(s);
    complete = true;
  }
  for (const lock of lockTable(engine).locks.values()) {
    for (const h of lock.holders.values()) out.add(h.session);
    for (const w of lock.waiters) out.add(w.session);
  }
  const ps = pubsubOf(engine);
  if (ps) {
    for (const t of ps.subs.values()) for (const s of t.sessions) out.add(s);
    for (const t of ps.watches.values()) for (const s of t.sessions) out.add(s);
  }
  if (self) out.add(self);
  for (const s of out) if (s.closed) out.delete(s);
  return { sessions: out, complete };
}

/** The transport of a session, from what the server recorded or else from its label. */
export function transportOf(session: Session): ClientTransport {
  const t = (session as DescribedSession).transport;
  if (t === 'ipc' || t === 'socket' || t === 'thread' || t === 'local') return t;
  const label = session.label;
  if (label.includes('(ipc')) return 'ipc';
  if (label.startsWith('socket')) return 'socket';
  if (label.startsWith('thread')) return 'thread';
  if (label.startsWith('owner') || label.startsWith('inspector')) return 'local';
  return 'unknown';
}

/** The process id of a session, from what the server recorded or else from its label (`pid 123`). */
export function pidOf(session: Session): number | null {
  const pid = (session as DescribedSession).pid;
  if (typeof pid === 'number' && Number.isSafeInteger(pid)) return pid;
  const m = /\bpid (\d+)/.exec(session.label);
  return m ? Number(m[1]) : null;
}

/** Describes the sessions of `engine` (see {@link ClientInfo}); `self` is the asking session. */
export function describeClients(engine: Engine, self?: Session): ClientsResult {
  const { sessions, complete } = sessionsOf(engine, self);
  const now = engine.now();
  const byId = new Map<Session, ClientInfo>();
  for (const s of sessions) {
    byId.set(s, {
      id: s.id,
      label: s.label,
      transport: transportOf(s),
      pid: pidOf(s),
      waiting: s.waiting.size,
      locks: [],
      waitingFor: [],
      subscriptions: [],
      watches: [],
      self: s === self,
    });
  }
  for (const [name, lock] of lockTable(engine).locks) {
    for (const h of lock.holders.values()) {
      if (h.until > now) byId.get(h.session)?.locks.push({ name, token: h.token, ttl: Math.ceil(h.until - now) });
    }
    for (const w of lock.waiters) byId.get(w.session)?.waitingFor.push(name);
  }
  const ps = pubsubOf(engine);
  if (ps) {
    for (const [target, t] of ps.subs) for (const s of t.sessions) byId.get(s)?.subscriptions.push(target);
    for (const [target, t] of ps.watches) for (const s of t.sessions) byId.get(s)?.watches.push(target);
  }
  return { complete, clients: [...byId.values()].sort((a, b) => a.id - b.id) };
}

/** One lock as listed by `lockinfo`. */
export interface LockInfo {
  name: string;
  /** Permits (1 for a lock, more for a semaphore). */
  limit: number;
  /**
   * The newest live holder's fencing token; with no live holder (waiters only), the last token the owner
   * issued for any lock (tokens come from one counter, and the next grant takes a larger one).
   */
  fence: number;
  holders: Array<{ client: number; label: string; pid: number | null; token: number; ttl: number }>;
  /** In the order they will be served; `wait` is the time left before each gives up, in ms. */
  waiters: Array<{ client: number; label: string; pid: number | null; wait: number }>;
}

function lockInfo(engine: Engine): LockInfo[] {
  const table = lockTable(engine);
  const now = engine.now();
  const out: LockInfo[] = [];
  for (const [name, lock] of table.locks) {
    const holders = [...lock.holders.values()]
      .filter((h) => h.until > now)
      .map((h) => ({
        client: h.session.id,
        label: h.session.label,
        pid: pidOf(h.session),
        token: h.token,
        ttl: Math.ceil(h.until - now),
      }));
    const waiters = lock.waiters.map((w) => ({
      client: w.session.id,
      label: w.session.label,
      pid: pidOf(w.session),
      wait: Number.isFinite(w.deadline) ? Math.max(0, Math.ceil(w.deadline - now)) : -1,
    }));
    if (holders.length + waiters.length === 0) continue;
    out.push({ name, limit: lock.limit, fence: fenceOf(engine, name), holders, waiters });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** One subscription target as listed by `subscriptions`. */
export interface SubscriptionInfo {
  /** `channel` (exact), `pattern` (glob) or `watch` (key change events for a key or glob). */
  kind: 'channel' | 'pattern' | 'watch';
  target: string;
  clients: Array<{ client: number; label: string; pid: number | null }>;
}

function subscriptions(engine: Engine): SubscriptionInfo[] {
  const ps = pubsubOf(engine);
  if (!ps) return [];
  const out: SubscriptionInfo[] = [];
  const who = (sessions: Set<Session>) => [...sessions].map((s) => ({ client: s.id, label: s.label, pid: pidOf(s) }));
  for (const [target, t] of ps.subs) out.push({ kind: t.re ? 'pattern' : 'channel', target, clients: who(t.sessions) });
  for (const [target, t] of ps.watches) out.push({ kind: 'watch', target, clients: who(t.sessions) });
  return out.sort((a, b) => (a.kind === b.kind ? (a.target < b.target ? -1 : 1) : a.kind < b.kind ? -1 : 1));
}

export const introspectCommands: CommandSpec[] = [
  command({
    name: 'scan',
    arity: [1, 2],
    batchable: false,
    check: (a) => {
      if (typeof a[0] !== 'number' || !Number.isSafeInteger(a[0]) || a[0] < 0) {
        throw badArgument(`Expected \`cursor\` to be a non-negative integer, got ${describe(a[0])}`);
      }
      checkScanOptions(a[1]);
    },
    run: (ctx, a) => scan(ctx.engine, ctx.session, a[0] as number, checkScanOptions(a[1])),
  }),
  command({
    name: 'peek',
    arity: [1, 1],
    batchable: false,
    check: (a) => checkKey(a[0]),
    run: (ctx, a): PeekResult | null => {
      const e = ctx.engine.data.get(a[0] as string);
      const now = ctx.engine.now();
      if (!e || (e.exp !== 0 && e.exp <= now)) return null;
      return { v: e.v, type: valueType(e.v), size: e.v.length, ttl: ttlLeft(e, now) };
    },
  }),
  command({
    name: 'namespaces',
    arity: [0, 1],
    batchable: false,
    check: (a) => {
      const limit = checkOptions(a[0], ['limit'], 'namespaces').limit;
      if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1)) {
        throw badArgument(`Expected \`limit\` to be a positive integer, got ${describe(limit)}`);
      }
    },
    run: (ctx, a) => namespaces(ctx.engine, ((a[0] ?? {}) as { limit?: number }).limit ?? 200_000),
  }),
  command({
    name: 'clients',
    arity: [0, 0],
    batchable: false,
    run: (ctx) => describeClients(ctx.engine, ctx.session),
  }),
  command({
    name: 'lockinfo',
    arity: [0, 0],
    batchable: false,
    run: (ctx) => lockInfo(ctx.engine),
  }),
  command({
    name: 'subscriptions',
    arity: [0, 0],
    batchable: false,
    run: (ctx) => subscriptions(ctx.engine),
  }),
];
