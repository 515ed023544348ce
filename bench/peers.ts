/**
 * The peers a user would pick instead of sharedkv, driven the way their READMEs say:
 *
 * - `cluster-shared-memory`: required in the primary (it hooks `cluster.on('online')`), promise API in workers.
 * - `lru-cache-for-clusters-as-promised`: `init()` in the primary (it hooks `cluster.on('fork')`),
 *   `getInstance()` in workers.
 * - `memored`: required in the primary (it hooks `cluster.on('fork')`), callback API in workers.
 * - Redis through ioredis, plain and with `enableAutoPipelining`, on the bench's private redis-server.
 *
 * The three IPC peers install their listeners on the cluster module when first required and offer no way to
 * remove them. cluster-shared-memory answers any message carrying `isSharedMemoryMessage`, the raw
 * process.send baseline's marker too (and throws in the primary on a method it lacks, such as incr), so the
 * bench detaches the peers' cluster listeners after each of their cells and re-attaches them for the next:
 * no peer ever sees another store's traffic.
 */
import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import type { BenchStore, HostContext, PrimaryHost } from './stores.js';
import { Unsupported } from './stores.js';

/** The peers' store kinds (a subset of `StoreKind`). */
export type PeerKind = 'redis-auto' | 'redis' | 'lru-cache-clusters' | 'cluster-shared-memory' | 'memored';

const requireCjs = createRequire(import.meta.url);

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
}

/** `require(name)`; a peer that is not installed makes its rows n/a instead of failed. */
function load(name: string): unknown {
  try {
    return requireCjs(name);
  } catch (error) {
    if (isMissing(error)) throw new Unsupported(`${name} is not installed (npm i -D ${name})`);
    throw error;
  }
}

/** ioredis, loaded only for the Redis rows. */
async function loadIoredis(): Promise<typeof import('ioredis').Redis> {
  try {
    return (await import('ioredis')).Redis;
  } catch (error) {
    if (isMissing(error)) throw new Unsupported('ioredis is not installed (npm i -D ioredis)');
    throw error;
  }
}

/** Environment variable that tells a worker where the private redis-server listens. */
const REDIS_SOCKET_ENV = 'BENCH_REDIS_SOCKET';

/** How long an lru-cache-for-clusters-as-promised call may take before it rejects. */
const LRU_TIMEOUT_MS = 30_000;
const LRU_NAMESPACE = 'bench';

// ---- the peers' APIs, as far as the bench uses them (none of the three ships usable types) ----

interface CsmApi {
  /** In the primary too: reads the manager's data. */
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<unknown>;
  remove(key: string): Promise<unknown>;
  mutex<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Primary only: the manager's data and lock tables. */
  __sharedMemory__?: { clear(): void; locks: Record<string, string>; lockRequestQueues: Record<string, unknown[]> };
}

interface LruCache {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<unknown>;
  incr(key: string, amount?: number): Promise<number>;
  del(key: string): Promise<unknown>;
}

interface LruModule {
  init(): void;
  getInstance(options: Record<string, unknown>): Promise<LruCache>;
  /** Primary only: the caches by namespace (lru-cache 6 instances). */
  getAllCaches(): Record<string, { get(key: string): unknown; reset(): void } | undefined>;
}

type NodeCallback<T> = (err: unknown, value?: T) => void;

interface MemoredApi {
  read(key: string, callback: NodeCallback<unknown>): void;
  store(key: string, value: unknown, callback: NodeCallback<number>): void;
  remove(key: string, callback: () => void): void;
  /** Primary only: empties the cache. */
  reset(): void;
}

// ---- primary side ----

const CLUSTER_EVENTS = ['fork', 'online', 'message'] as const;
type ClusterListener = (...args: unknown[]) => void;

/** A peer module loaded in the primary, with the cluster listeners it installed. */
interface Hooked {
  module: unknown;
  listeners: Array<[event: (typeof CLUSTER_EVENTS)[number], listener: ClusterListener]>;
}

const hooked = new Map<string, Hooked>();

/**
 * Requires `name` in the primary (once) and makes sure its cluster listeners are attached; the returned
 * function detaches them again.
 */
function attachPeer(name: string): { module: unknown; detach(): void } {
  let entry = hooked.get(name);
  if (entry === undefined) {
    const before = new Map(CLUSTER_EVENTS.map((event) => [event, cluster.listeners(event)]));
    const module = load(name);
    const listeners: Hooked['listeners'] = [];
    for (const event of CLUSTER_EVENTS) {
      for (const listener of cluster.listeners(event)) {
        if (!before.get(event)?.includes(listener)) listeners.push([event, listener as ClusterListener]);
      }
    }
    entry = { module, listeners };
    hooked.set(name, entry);
  } else {
    for (const [event, listener] of entry.listeners) cluster.on(event, listener);
  }
  const { listeners } = entry;
  return {
    module: entry.module,
    detach: () => {
      for (const [event, listener] of listeners) cluster.off(event, listener);
    },
  };
}

/** Sets up the primary side of a peer. */
export async function openPeerHost(kind: PeerKind, context: HostContext): Promise<PrimaryHost> {
  switch (kind) {
    case 'redis':
    case 'redis-auto': {
      let server: Awaited<ReturnType<HostContext['redis']>>;
      try {
        server = await context.redis();
      } catch (error) {
        throw new Unsupported(error instanceof Error ? error.message.split('\n')[0]! : String(error));
      }
      const Redis = await loadIoredis();
      const control = new Redis({ path: server.socket, lazyConnect: true });
      await control.connect();
      // One server serves every Redis cell of the run: each cell starts from an empty database.
      await control.flushall();
      return {
        shared: true,
        env: { [REDIS_SOCKET_ENV]: server.socket },
        readNumber: async (key) => Number(await control.get(key)),
        close: async () => {
          await control.quit();
        },
      };
    }
    case 'lru-cache-clusters': {
      const { module, detach } = attachPeer('lru-cache-for-clusters-as-promised');
      const lru = module as LruModule;
      lru.init();
      return {
        shared: true,
        readNumber: async (key) => Number(lru.getAllCaches()[LRU_NAMESPACE]?.get(key)),
        close: async () => {
          detach();
          for (const cache of Object.values(lru.getAllCaches())) cache?.reset();
        },
      };
    }
    case 'cluster-shared-memory': {
      const { module, detach } = attachPeer('cluster-shared-memory');
      const csm = module as CsmApi;
      return {
        shared: true,
        readNumber: async (key) => Number(await csm.get(key)),
        close: async () => {
          detach();
          const memory = csm.__sharedMemory__;
          if (memory !== undefined) {
            memory.clear();
            memory.locks = {};
            memory.lockRequestQueues = {};
          }
        },
      };
    }
    case 'memored': {
      const { module, detach } = attachPeer('memored');
      const memored = module as MemoredApi;
      return {
        shared: true,
        // memored has no incr (see STORES), so there is never a counter to read.
        readNumber: async () => undefined,
        close: async () => {
          detach();
          memored.reset();
        },
      };
    }
  }
}

// ---- worker side ----

function callback<T>(call: (done: NodeCallback<T>) => void): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    call((err, value) => (err ? reject(err) : resolve(value)));
  });
}

async function redisStore(auto: boolean): Promise<BenchStore> {
  const path = process.env[REDIS_SOCKET_ENV];
  if (path === undefined) throw new Error(`${REDIS_SOCKET_ENV} is not set`);
  const Redis = await loadIoredis();
  const redis = new Redis({ path, enableAutoPipelining: auto, lazyConnect: true });
  await redis.connect();
  return {
    get: async (key) => {
      const text = await redis.get(key);
      return text === null ? undefined : JSON.parse(text);
    },
    set: (key, value) => redis.set(key, JSON.stringify(value)),
    incr: (key, by = 1) => redis.incrby(key, by),
    del: (key) => redis.del(key),
    close: async () => {
      await redis.quit();
    },
  };
}

function csmStore(): BenchStore {
  const csm = load('cluster-shared-memory') as CsmApi;
  return {
    get: (key) => csm.get(key),
    set: (key, value) => csm.set(key, value),
    // What its README offers for read-modify-write: a lock around get and set.
    incr: (key, by = 1) =>
      csm.mutex(key, async () => {
        const next = (Number(await csm.get(key)) || 0) + by;
        await csm.set(key, next);
        return next;
      }),
    del: (key) => csm.remove(key),
    // It has no way to stop listening; the worker exits right after.
    close: async () => {},
  };
}

async function lruStore(): Promise<BenchStore> {
  const lru = load('lru-cache-for-clusters-as-promised') as LruModule;
  const cache = await lru.getInstance({ namespace: LRU_NAMESPACE, timeout: LRU_TIMEOUT_MS, failsafe: 'reject' });
  return {
    get: (key) => cache.get(key),
    set: (key, value) => cache.set(key, value),
    incr: (key, by = 1) => cache.incr(key, by),
    del: (key) => cache.del(key),
    close: async () => {},
  };
}

function memoredStore(): BenchStore {
  const memored = load('memored') as MemoredApi;
  return {
    get: (key) => callback<unknown>((done) => memored.read(key, done)),
    set: (key, value) => callback<number>((done) => memored.store(key, value, done)),
    incr: async () => {
      throw new Unsupported('memored has no incr', 'cell');
    },
    del: (key) => callback<void>((done) => memored.remove(key, () => done(null))),
    close: async () => {},
  };
}

/** Opens the worker side of a peer. */
export async function openPeerStore(kind: PeerKind): Promise<BenchStore> {
  switch (kind) {
    case 'redis':
      return redisStore(false);
    case 'redis-auto':
      return redisStore(true);
    case 'lru-cache-clusters':
      return lruStore();
    case 'cluster-shared-memory':
      return csmStore();
    case 'memored':
      return memoredStore();
  }
}
