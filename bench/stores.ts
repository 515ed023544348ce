/**
 * The stores under test, behind one small interface so the same workload code drives all of them.
 * Each store has a primary side (the owner: sharedkv's owner, a peer's manager, a private redis-server, or
 * nothing for the per-process Map) and a worker side (the client the workload calls).
 *
 * sharedkv and the two baselines live here; the peers a user would pick instead live in `peers.ts`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Worker, WorkerOptions } from 'node:worker_threads';
import { ArticleClient, serveArticleStore } from './article-store.js';
import { FloorClient, serveFloorStore } from './floor-store.js';
import { openPeerHost, openPeerStore, type PeerKind } from './peers.js';
import type { PrivateRedis } from './redis-server.js';
import type { WorkloadName } from './workloads.js';

/** Store kinds, in table order: sharedkv, then the peers, then the floor and the ceiling. */
export const STORE_KINDS = [
  'sharedkv-socket',
  'sharedkv-ipc',
  'sharedkv-near',
  'sharedkv-frozen',
  'sharedkv-daemon',
  'sharedkv-thread',
  'redis-auto',
  'redis',
  'lru-cache-clusters',
  'cluster-shared-memory',
  'memored',
  'raw',
  'floor',
  'map',
] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** What the report and the chart need to know about a store. */
export interface StoreInfo {
  /** Row label. */
  label: string;
  /** sharedkv itself, a peer (only with `--peers`), or a baseline (raw IPC floor, in-process ceiling). */
  group: 'sharedkv' | 'peer' | 'baseline';
  /** How the bench drives it, printed under the tables. */
  note?: string;
  /** Workloads the store cannot run, with the reason shown as "n/a". */
  unsupported?: Partial<Record<WorkloadName, string>>;
}

/** Labels, groups and notes of every store. */
export const STORES: Record<StoreKind, StoreInfo> = {
  'sharedkv-socket': {
    label: 'sharedkv (socket)',
    group: 'sharedkv',
    note: "`connect()` in each worker: the default channel, the owner's private Unix socket.",
  },
  'sharedkv-ipc': { label: 'sharedkv (ipc)', group: 'sharedkv', note: "`connect({ channel: 'ipc' })`." },
  'sharedkv-near': {
    label: 'sharedkv (near cache)',
    group: 'sharedkv',
    note: '`connect({ nearCache: { maxKeys: 10000 } })` in workers (socket channel); skipped when connect() rejects the option.',
  },
  'sharedkv-frozen': {
    label: 'sharedkv (near cache, frozen)',
    group: 'sharedkv',
    note: '`connect({ nearCache: { maxKeys: 10000, frozen: true } })`: hits return one shared, deeply frozen value instead of a fresh copy.',
  },
  'sharedkv-daemon': {
    label: 'sharedkv (daemon socket)',
    group: 'sharedkv',
    note:
      "The primary serves a public socket with a token (`connect({ role: 'owner', socket, token })`, what " +
      '`serve()` and the `sharedkv serve` daemon run); each worker calls `connect({ socket, token })` as an ' +
      'unrelated process would, without the cluster handshake.',
  },
  'sharedkv-thread': {
    label: 'sharedkv (worker threads)',
    group: 'sharedkv',
    note:
      "The workers are worker threads of the owner's process, created with `kv.thread(file)`; `connect()` in " +
      "each gets a private MessagePort to the owner. They share the owner's process (and its CPU time) and " +
      'report to the driver with postMessage instead of cluster IPC.',
  },
  'redis-auto': {
    label: 'Redis (ioredis, auto-pipelined)',
    group: 'peer',
    note:
      'ioredis with `enableAutoPipelining: true`, one connection per worker to a private redis-server on a Unix ' +
      "socket (`--save '' --appendonly no`). Values are JSON strings (`JSON.stringify` on set, `JSON.parse` on get), " +
      'incr is INCRBY.',
  },
  redis: { label: 'Redis (ioredis)', group: 'peer', note: 'The same without auto-pipelining.' },
  'lru-cache-clusters': {
    label: 'lru-cache-for-clusters-as-promised',
    group: 'peer',
    note:
      '`init()` in the primary, `getInstance({ timeout: 30000, failsafe: "reject" })` in workers; `get`/`set`/`incr`. ' +
      'Its default 100 ms timeout resolves `undefined` instead of failing, which under load would count lost ' +
      'calls as done.',
  },
  'cluster-shared-memory': {
    label: 'cluster-shared-memory',
    group: 'peer',
    note: 'Required in the primary before the fork; `get`/`set`. It has no incr: `mutex(key, get + set)` stands in (4 IPC round trips).',
  },
  memored: {
    label: 'memored',
    group: 'peer',
    note: 'Callback API (`read`/`store`) wrapped in promises.',
    unsupported: { incr: 'no incr, and no lock to build one (read + store from two workers loses updates)' },
  },
  raw: {
    label: 'raw process.send',
    group: 'baseline',
    note: 'The classic article design: one `process.send` message per call each way, JSON IPC, a plain object in the primary.',
  },
  floor: {
    label: 'batched socket floor',
    group: 'baseline',
    note:
      "The floor of sharedkv's own design (`floor-store.ts`): calls batched per tick over a Unix socket to the " +
      'primary, hand-packed binary frames, JSON values kept as bytes, and nothing else (no validation, errors, ' +
      'timeouts, TTL or reconnect). What any library built this way can reach on this machine.',
  },
  map: {
    label: 'in-process Map',
    group: 'baseline',
    note: 'The ceiling: a Map in each worker behind async functions (not shared, no copy).',
  },
};

/** The stores of a run without `--peers`. */
export const CORE_STORES: readonly StoreKind[] = STORE_KINDS.filter((kind) => STORES[kind].group !== 'peer');

/** The calls the workloads make; sharedkv's client, the peers' adapters and MapStore all satisfy it. */
export interface BenchStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<unknown>;
  incr(key: string, by?: number): Promise<number>;
  del(key: string): Promise<unknown>;
  close(): Promise<void>;
}

/** What the cluster primary holds while a cell runs. */
export interface PrimaryHost {
  /** Whether all workers see the same data (false for the per-process Map). */
  readonly shared: boolean;
  /** Extra environment for the workers (e.g. where the private redis-server listens). */
  readonly env?: Record<string, string>;
  /**
   * When set, the cell's workers are worker threads of this process made by this function (the owner's
   * `kv.thread`, which also serves them), instead of forked cluster workers.
   */
  readonly thread?: (filename: string, options: WorkerOptions) => Worker;
  /** Reads a counter on the primary side, after the workers have stopped; `undefined` when not shared. */
  readNumber(key: string): Promise<number | undefined>;
  close(): Promise<void>;
}

/** Resources that outlive one cell: started on first use, stopped by the orchestrator at the end. */
export interface HostContext {
  /** The private redis-server of this bench run. */
  redis(): Promise<PrivateRedis>;
}

/**
 * Why a store cannot run a cell: the library rejects an option it needs, a server binary is missing.
 * Reported as "n/a" with `reason`, never as a failure. `scope: 'store'` skips the store's other cells too.
 */
export class Unsupported extends Error {
  readonly scope: 'store' | 'cell';

  constructor(reason: string, scope: 'store' | 'cell' = 'store') {
    super(reason);
    this.name = 'Unsupported';
    this.scope = scope;
  }
}

/**
 * The ceiling: a Map in the worker itself, behind async functions so the workload pays the same
 * promise/await cost as with a real store. Values are kept by reference (no copy): nothing is cheaper.
 */
export class MapStore implements BenchStore {
  private readonly map = new Map<string, unknown>();

  async get(key: string): Promise<unknown> {
    return this.map.get(key);
  }

  async set(key: string, value: unknown): Promise<unknown> {
    this.map.set(key, value);
    return true;
  }

  async incr(key: string, by = 1): Promise<number> {
    const next = (Number(this.map.get(key)) || 0) + by;
    this.map.set(key, next);
    return next;
  }

  async del(key: string): Promise<unknown> {
    return this.map.delete(key) ? 1 : 0;
  }

  async close(): Promise<void> {
    this.map.clear();
  }
}

function isPeer(kind: StoreKind): kind is PeerKind {
  return STORES[kind].group === 'peer';
}

/**
 * Loads the library only when a sharedkv row runs, so the other rows work without it and a missing or
 * broken `src/index.ts` fails that row loudly instead of being stubbed.
 */
async function loadSharedkv() {
  return import('../src/index.js');
}

/** The near-cache option, kept apart so this file compiles before `ConnectOptions` declares it. */
const NEAR_CACHE = { nearCache: { maxKeys: 10_000 } };

async function connectNear(frozen: boolean): Promise<BenchStore> {
  const { connect, SharedKVError } = await loadSharedkv();
  const nearCache = { ...NEAR_CACHE.nearCache, frozen };
  const options = { channel: 'socket', nearCache } as Parameters<typeof connect>[0];
  try {
    return await connect(options);
  } catch (error) {
    if (error instanceof SharedKVError && error.code === 'ERR_SHAREDKV_BAD_ARGUMENT') {
      // The first clause of the message names the option; the list of known options after it is noise here.
      throw new Unsupported(`connect() rejects nearCache (${error.code}: ${error.message.split(';')[0]})`);
    }
    throw error;
  }
}

/**
 * The owner of the daemon row: serves a socket in a fresh private directory (mkdtemp makes it 0700, as
 * `serve()` requires) with a random token, which the workers get through their environment.
 */
async function openDaemonHost(): Promise<PrimaryHost> {
  const { connect } = await loadSharedkv();
  const dir = await mkdtemp(path.join(tmpdir(), 'sharedkv-bench-'));
  const socket = path.join(dir, 'kv.sock');
  const token = randomBytes(16).toString('hex');
  let kv: Awaited<ReturnType<typeof connect>>;
  try {
    kv = await connect({ role: 'owner', socket, token });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    shared: true,
    env: { BENCH_SOCKET: socket, BENCH_TOKEN: token },
    readNumber: async (key) => Number(await kv.get(key)),
    close: async () => {
      try {
        await kv.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Sets up the primary side of `kind` in the cluster primary. Must run before the workers are forked:
 * sharedkv's owner and the peers' managers have to exist before their clients start.
 *
 * @throws Unsupported when the store cannot run here (e.g. no redis-server binary).
 */
export async function openPrimaryHost(kind: StoreKind, context: HostContext): Promise<PrimaryHost> {
  if (isPeer(kind)) return openPeerHost(kind, context);
  switch (kind) {
    case 'sharedkv-socket':
    case 'sharedkv-near':
    case 'sharedkv-frozen':
    case 'sharedkv-ipc': {
      const { connect } = await loadSharedkv();
      const kv = await connect({ channel: kind === 'sharedkv-ipc' ? 'ipc' : 'socket' });
      return {
        shared: true,
        readNumber: async (key) => Number(await kv.get(key)),
        close: () => kv.close(),
      };
    }
    case 'sharedkv-daemon':
      return openDaemonHost();
    case 'sharedkv-thread': {
      const { connect } = await loadSharedkv();
      const kv = await connect({ role: 'owner' });
      if (!kv.isOwner) throw new Error('unreachable: connect({ role: "owner" }) opened a client');
      return {
        shared: true,
        thread: (filename, options) => kv.thread(filename, options),
        readNumber: async (key) => Number(await kv.get(key)),
        close: () => kv.close(),
      };
    }
    case 'raw': {
      const server = serveArticleStore();
      return {
        shared: true,
        readNumber: async (key) => Number(server.data[key]),
        close: async () => server.close(),
      };
    }
    case 'floor': {
      const server = await serveFloorStore();
      return {
        shared: true,
        env: { BENCH_FLOOR_SOCKET: server.socket },
        readNumber: async (key) => server.readNumber(key),
        close: () => server.close(),
      };
    }
    case 'map':
      return { shared: false, readNumber: async () => undefined, close: async () => {} };
  }
}

/**
 * Opens the worker side of `kind` (in a cluster worker).
 *
 * @throws Unsupported when the store rejects what the bench asks of it (the near cache option).
 */
export async function openWorkerStore(kind: StoreKind): Promise<BenchStore> {
  if (isPeer(kind)) return openPeerStore(kind);
  switch (kind) {
    case 'sharedkv-socket':
    case 'sharedkv-ipc': {
      const { connect } = await loadSharedkv();
      return connect({ channel: kind === 'sharedkv-ipc' ? 'ipc' : 'socket' });
    }
    case 'sharedkv-daemon': {
      const { connect } = await loadSharedkv();
      const { BENCH_SOCKET: socket, BENCH_TOKEN: token } = process.env;
      if (socket === undefined || token === undefined) throw new Error('BENCH_SOCKET/BENCH_TOKEN are not set');
      return connect({ socket, token });
    }
    case 'sharedkv-thread': {
      // Inside a worker thread of the owner, `connect()` finds the owner by itself (a private MessagePort).
      const { connect } = await loadSharedkv();
      return connect();
    }
    case 'sharedkv-near':
      return connectNear(false);
    case 'sharedkv-frozen':
      return connectNear(true);
    case 'raw':
      return new ArticleClient();
    case 'floor': {
      const socket = process.env.BENCH_FLOOR_SOCKET;
      if (socket === undefined) throw new Error('BENCH_FLOOR_SOCKET is not set');
      return FloorClient.connect(socket);
    }
    case 'map':
      return new MapStore();
  }
}

/** Whether `value` names a store kind. */
export function isStoreKind(value: unknown): value is StoreKind {
  return (STORE_KINDS as readonly unknown[]).includes(value);
}
