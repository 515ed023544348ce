/**
 * What the inspector reads from: the owner's engine in this process, an owner reached through its Unix
 * socket, or any {@link Store} (the Redis backend, a client store), which offers fewer panels. Each kind
 * is one implementation of {@link Source}; the HTTP layer never knows which it talks to.
 */
import { RemoteCaller } from '../client/remote.js';
import type {
  ClientsResult,
  LockInfo,
  NamespacesResult,
  ScanResult,
  SubscriptionInfo,
  ValueType,
} from '../engine/commands/introspect.js';
import { PENDING } from '../engine/table.js';
import { badArgument, SharedKVError } from '../errors.js';
import { decodeStored, type Encoded, encodeValue } from '../protocol/codec.js';
import type { CommandLatency, MonitorEvent, Server } from '../server/server.js';
import { dialUnix, dialUnixUntil } from '../transport/socket.js';
import type { Store } from '../types.js';

/** Owner statistics as the inspector uses them (`stats` of the owner, latency when the server reports it). */
export interface SourceStats {
  keys: number;
  bytes: number;
  clients: number;
  pending: number;
  hits: number;
  misses: number;
  expired: number;
  evicted: number;
  uptime: number;
  commands: Record<string, number>;
  latency?: Record<string, CommandLatency>;
}

/** One value as the viewer gets it, decoded. */
export interface PeekedValue {
  value: unknown;
  type: ValueType;
  size: number;
  ttl: number;
}

/** Which panels a source can fill. */
export interface SourceFeatures {
  clients: boolean;
  locks: boolean;
  subscriptions: boolean;
  monitor: boolean;
}

/** The inspector's view of a store. Every method may reject with a SharedKVError. */
export interface Source {
  /** `owner` (this process), `socket` (an owner reached through a socket) or `store` (the Store API only). */
  readonly kind: 'owner' | 'socket' | 'store';
  /** Human-readable description of what is inspected. */
  readonly description: string;
  readonly features: SourceFeatures;
  /** Commands this source has sent, by name, so the charts can leave the inspector's own load out. */
  readonly own: Map<string, number>;
  /** Label of the inspector's own session in the owner (to leave its commands out of the monitor). */
  selfLabel: string | undefined;
  scan(cursor: number, options: { match: string; count: number; type?: ValueType | undefined }): Promise<ScanResult>;
  peek(key: string): Promise<PeekedValue | null>;
  namespaces(): Promise<NamespacesResult>;
  set(key: string, value: unknown, ttl: number | 'keep' | 'none'): Promise<void>;
  expire(key: string, ttl: number | null): Promise<boolean>;
  del(key: string): Promise<number>;
  stats(): Promise<SourceStats>;
  /** Round trip to the owner in ms. */
  ping(): Promise<number>;
  clients(): Promise<ClientsResult | null>;
  locks(): Promise<LockInfo[] | null>;
  subscriptions(): Promise<SubscriptionInfo[] | null>;
  /** Starts receiving every command the owner runs; resolves with the function that stops it. */
  monitor(onEvent: (event: MonitorEvent) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Runs raw commands (values still encoded) on an owner. */
interface RawCaller {
  call(name: string, args: unknown[]): Promise<unknown>;
  close(): Promise<void>;
}

/** A source that speaks the owner's commands, through whatever {@link RawCaller} it is given. */
class RawSource implements Source {
  readonly own = new Map<string, number>();
  readonly features: SourceFeatures = { clients: true, locks: true, subscriptions: true, monitor: true };
  selfLabel: string | undefined;

  constructor(
    readonly kind: 'owner' | 'socket',
    readonly description: string,
    private readonly caller: RawCaller,
    /** Opens a second caller whose pushes go to `onPush` (for monitor: it can only stop by closing). */
    private readonly openPushed: (onPush: (message: unknown[]) => void) => Promise<RawCaller>,
    /** Ids of the inspector's other sessions (its monitor), to mark them as its own in `clients`. */
    private readonly ownSessions: () => ReadonlySet<number> = () => new Set(),
  ) {}

  private call(name: string, args: unknown[]): Promise<unknown> {
    this.own.set(name, (this.own.get(name) ?? 0) + 1);
    return this.caller.call(name, args);
  }

  async scan(cursor: number, o: { match: string; count: number; type?: ValueType | undefined }): Promise<ScanResult> {
    const options: Record<string, unknown> = { match: o.match, count: o.count };
    if (o.type !== undefined) options.type = o.type;
    return (await this.call('scan', [cursor, options])) as ScanResult;
  }

  async peek(key: string): Promise<PeekedValue | null> {
    const r = (await this.call('peek', [key])) as { v: Encoded; type: ValueType; size: number; ttl: number } | null;
    return r && { value: decodeStored(r.v), type: r.type, size: r.size, ttl: r.ttl };
  }

  async namespaces(): Promise<NamespacesResult> {
    return (await this.call('namespaces', [])) as NamespacesResult;
  }

  async set(key: string, value: unknown, ttl: number | 'keep' | 'none'): Promise<void> {
    const options = ttl === 'keep' ? { keepTtl: true } : ttl === 'none' ? undefined : { ttl };
    const encoded = encodeStored(value);
    await this.call('set', options ? [key, encoded, options] : [key, encoded]);
  }

  async expire(key: string, ttl: number | null): Promise<boolean> {
    if (ttl === null) {
      // persist answers false both for "no such key" and "had no ttl": tell them apart for the page.
      const done = (await this.call('persist', [key])) as boolean;
      return done || ((await this.call('has', [key])) as boolean);
    }
    return (await this.call('expire', [key, ttl])) as boolean;
  }

  async del(key: string): Promise<number> {
    return (await this.call('del', [[key]])) as number;
  }

  async stats(): Promise<SourceStats> {
    return (await this.call('stats', [])) as SourceStats;
  }

  async ping(): Promise<number> {
    const t0 = performance.now();
    // In the owner's own process a call has no round trip: what a client waits for is the loop's next turn.
    if (this.kind === 'owner') await new Promise((resolve) => setImmediate(resolve));
    await this.call('ping', []);
    return performance.now() - t0;
  }

  async clients(): Promise<ClientsResult> {
    const r = (await this.call('clients', [])) as ClientsResult;
    this.selfLabel = r.clients.find((c) => c.self)?.label ?? this.selfLabel;
    const mine = this.ownSessions();
    for (const c of r.clients) if (mine.has(c.id)) c.self = true;
    return r;
  }

  async locks(): Promise<LockInfo[]> {
    return (await this.call('lockinfo', [])) as LockInfo[];
  }

  async subscriptions(): Promise<SubscriptionInfo[]> {
    return (await this.call('subscriptions', [])) as SubscriptionInfo[];
  }

  async monitor(onEvent: (event: MonitorEvent) => void): Promise<() => Promise<void>> {
    const caller = await this.openPushed((message) => {
      if (message[0] === 'monitor') onEvent(message[1] as MonitorEvent);
    });
    try {
      await caller.call('monitor', []);
    } catch (err) {
      await caller.close();
      throw err;
    }
    return () => caller.close();
  }

  close(): Promise<void> {
    return this.caller.close();
  }
}

function encodeStored(value: unknown): Encoded {
  if (value === undefined) {
    throw badArgument('Cannot store `undefined` (it reads back as a missing key); delete the key instead');
  }
  return encodeValue(value);
}

/**
 * Runs commands in the owner's engine directly, on a session of its own (so the owner sees the inspector
 * as one more client, labelled `inspector (pid N)`). Commands go through the server's `execute` wrapper,
 * so they are counted and monitored like any other.
 */
function engineCaller(server: Server, label: string, onPush: (message: unknown[]) => void = () => {}) {
  const engine = server.engine;
  const session = engine.openSession(label, () => {}, onPush);
  let nextId = 1;
  let closed = false;
  const caller = {
    session,
    call(name: string, args: unknown[]): Promise<unknown> {
      if (closed) return Promise.reject(new SharedKVError('ERR_SHAREDKV_CLOSED', 'The inspector was closed'));
      let result: unknown;
      try {
        result = engine.execute(session, nextId++, name, args);
      } catch (err) {
        return Promise.reject(err);
      }
      if (result === PENDING) {
        // The inspector only runs commands that answer at once; a waiting one would be a bug here.
        return Promise.reject(new SharedKVError('ERR_SHAREDKV_INTERNAL', `\`${name}\` would wait in the owner`));
      }
      // With fsync 'always' a write is acknowledged once durable, as for every other client.
      const durable = engine.durable?.();
      return durable ? durable.then(() => result) : Promise.resolve(result);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      engine.closeSession(session);
    },
  };
  return caller;
}

/**
 * The inspector of an owner running in this process. Until the server tracks its sessions for `clients`
 * (engine `sessions` or `ext.get('sessions')`), this registers a provider of them: the server's
 * connections and the inspector's own sessions.
 */
export function ownerSource(server: Server): Source {
  const label = `inspector (pid ${process.pid})`;
  const main = engineCaller(server, label);
  const engine = server.engine;
  const mine = new Set([main.session]);
  const installed = !engine.ext.has('sessions') && !(engine as { sessions?: unknown }).sessions;
  if (installed) {
    engine.ext.set('sessions', () => [...[...server.connections].map((c) => c.session), ...mine]);
  }
  const source = new RawSource(
    'owner',
    `owner pid ${process.pid} (in process)`,
    {
      call: (n, a) => main.call(n, a),
      async close() {
        if (installed) engine.ext.delete('sessions');
        await main.close();
      },
    },
    async (onPush) => {
      // Pushes arrive inside another peer's command: only buffer here, never do real work.
      const c = engineCaller(server, `${label} monitor`, onPush);
      mine.add(c.session);
      return {
        call: (n, a) => c.call(n, a),
        async close() {
          mine.delete(c.session);
          await c.close();
        },
      };
    },
    () => new Set([...mine].map((s) => s.id)),
  );
  source.selfLabel = label;
  return source;
}

/** Options of {@link socketSource}. */
export interface SocketTarget {
  /** Path of the owner's Unix socket (`sharedkv serve`, `serve()`, `connect({ socket, autoServe })`). */
  socket: string;
  /** Token the owner requires, if any. */
  token?: string | undefined;
  /** How long to wait for the owner to come up, in ms. @default 0 */
  wait?: number;
  /** Per-call timeout in ms (`sharedkv inspect --timeout`). @default 10000 */
  timeout?: number;
}

/** The inspector of an owner reached through its Unix socket; reconnects when the owner restarts. */
export async function socketSource(target: SocketTarget): Promise<Source> {
  const open = (wait: number, onPush?: (m: unknown[]) => void) => {
    const caller = new RemoteCaller(dialUnixUntil(target.socket, {}, wait), {
      timeout: target.timeout ?? 10_000,
      hello: { token: target.token },
      redial: () => dialUnix(target.socket, {}),
    });
    if (onPush) caller.onPush = onPush;
    return caller;
  };
  const main = open(target.wait ?? 0);
  await main.ready();
  const mine = new Set<number>();
  /** Learns the owner's id of a monitor connection's session, to mark it as the inspector's own. */
  const learnId = async (c: RemoteCaller) => {
    const r = (await c.call('clients', [])) as ClientsResult;
    const id = r.clients.find((x) => x.self)?.id;
    if (id !== undefined) mine.add(id);
    return id;
  };
  return new RawSource(
    'socket',
    `owner at ${target.socket}`,
    { call: (n, a) => main.call(n, a), close: () => main.close() },
    async (onPush) => {
      const c = open(0, onPush);
      let id: number | undefined;
      // After a reconnect the owner has forgotten the old session: ask for the stream again.
      c.onReconnect = () => {
        if (id !== undefined) mine.delete(id);
        learnId(c).then(
          (n) => (id = n),
          () => {},
        );
        c.call('monitor', []).catch(() => {});
      };
      await c.ready();
      // An owner without `clients` (an older version) still streams; its monitor session is then unmarked.
      id = await learnId(c).catch(() => undefined);
      return {
        call: (n, a) => c.call(n, a),
        async close() {
          if (id !== undefined) mine.delete(id);
          await c.close();
        },
      };
    },
    () => mine,
  );
}

/** The type of a decoded value, named as `scan` names it. */
export function typeOfValue(v: unknown): ValueType {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
    case 'undefined':
      return typeof v as ValueType;
    case 'object':
      if (Array.isArray(v)) return 'array';
      if (v instanceof Map) return 'map';
      if (v instanceof Set) return 'set';
      if (v instanceof Date) return 'date';
      if (v instanceof RegExp) return 'regexp';
      if (v instanceof Error) return 'error';
      if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return 'binary';
      return 'object';
    default:
      return 'other';
  }
}

/** Most keys the Store-only source lists for one pattern (it has no cursor in the owner). */
const STORE_KEY_LIMIT = 100_000;

/**
 * The inspector of any {@link Store}: keys, values, ttl and stats through the public API only. Clients,
 * locks, subscriptions and the monitor need an owner (or a socket) and are not available.
 */
export function storeSource(store: Store, description = 'store'): Source {
  const own = new Map<string, number>();
  const count = (name: string, n = 1) => own.set(name, (own.get(name) ?? 0) + n);
  // A pattern's key list, taken at cursor 0 and paged from memory.
  const lists = new Map<number, { keys: string[]; at: number }>();
  let nextList = 1;
  const describeKey = async (key: string) => {
    count('get');
    count('ttl');
    const [value, ttl] = await Promise.all([store.get(key), store.ttl(key)]);
    if (value === undefined) return null;
    return { value, type: typeOfValue(value), size: encodeValue(value).length, ttl };
  };
  return {
    kind: 'store',
    description,
    features: { clients: false, locks: false, subscriptions: false, monitor: false },
    own,
    selfLabel: undefined,
    async scan(cursor, o) {
      let list = lists.get(cursor);
      let id = cursor;
      if (cursor === 0) {
        count('keys');
        const keys = (await store.keys(o.match)).slice(0, STORE_KEY_LIMIT);
        id = nextList++;
        list = { keys, at: 0 };
        lists.set(id, list);
        // Only the latest few lists are kept.
        for (const old of lists.keys()) if (lists.size > 8) lists.delete(old);
      }
      if (!list) throw badArgument(`Unknown or expired scan cursor ${cursor}; start again from cursor 0`);
      const page = list.keys.slice(list.at, list.at + o.count);
      list.at += page.length;
      const described = await Promise.all(page.map(async (key) => ({ key, d: await describeKey(key) })));
      const items = described
        .filter((x) => x.d !== null && (o.type === undefined || x.d.type === o.type))
        .map((x) => ({ key: x.key, type: x.d!.type, size: x.d!.size, ttl: x.d!.ttl }));
      const done = list.at >= list.keys.length;
      if (done) lists.delete(id);
      return { cursor: done ? 0 : id, items, scanned: page.length };
    },
    peek: (key) => describeKey(key),
    async namespaces() {
      count('keys');
      const keys = await store.keys('*');
      const counts = new Map<string, number>();
      for (const k of keys) {
        const i = k.indexOf(':');
        const name = i === -1 ? '' : k.slice(0, i);
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      const namespaces = [...counts]
        .map(([name, n]) => ({ name, keys: n, bytes: 0 }))
        .sort((a, b) => b.keys - a.keys)
        .slice(0, 200);
      return { total: keys.length, scanned: keys.length, partial: false, namespaces };
    },
    async set(key, value, ttl) {
      count('set');
      encodeStored(value);
      await store.set(key, value, ttl === 'keep' ? { keepTtl: true } : ttl === 'none' ? {} : { ttl });
    },
    async expire(key, ttl) {
      if (ttl === null) {
        count('persist');
        count('has');
        return (await store.persist(key)) || (await store.has(key));
      }
      count('expire');
      return store.expire(key, ttl);
    },
    del: (key) => {
      count('del');
      return store.del(key);
    },
    async stats() {
      count('stats');
      return (await store.stats()) as SourceStats;
    },
    async ping() {
      count('ping');
      const t0 = performance.now();
      await store.ping();
      return performance.now() - t0;
    },
    clients: async () => null,
    locks: async () => null,
    subscriptions: async () => null,
    monitor: () =>
      Promise.reject(new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', 'The monitor needs an owner (not a Store)')),
    // The store belongs to the caller of startInspector: it stays open.
    close: async () => {},
  };
}
