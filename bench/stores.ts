/**
 * The stores under test, behind one small interface so the same workload code drives all of them.
 * Each store has a primary side (the owner: sharedkv's owner, the article's plain object, or nothing for
 * the per-process Map) and a worker side (the client the workload calls).
 */
import { ArticleClient, serveArticleStore } from './article-store.js';

/** Store kinds, in table order. */
export const STORE_KINDS = ['sharedkv-socket', 'sharedkv-ipc', 'article', 'map'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** Row labels of the report. */
export const STORE_LABELS: Record<StoreKind, string> = {
  'sharedkv-socket': 'sharedkv (socket)',
  'sharedkv-ipc': 'sharedkv (ipc)',
  article: 'article design',
  map: 'in-process Map',
};

/** The calls the workloads make; sharedkv's client, ArticleClient and MapStore all satisfy it. */
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
  /** Reads a counter on the primary side, after the workers have stopped; `undefined` when not shared. */
  readNumber(key: string): Promise<number | undefined>;
  close(): Promise<void>;
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

function sharedkvChannel(kind: StoreKind): 'socket' | 'ipc' {
  return kind === 'sharedkv-ipc' ? 'ipc' : 'socket';
}

/**
 * Loads the library only when a sharedkv row runs, so the other rows work without it and a missing or
 * broken `src/index.ts` fails that row loudly instead of being stubbed.
 */
async function loadSharedkv() {
  return import('../src/index.js');
}

/**
 * Sets up the primary side of `kind` in the cluster primary. Must run before the workers are forked:
 * sharedkv's owner has to exist before its clients connect.
 */
export async function openPrimaryHost(kind: StoreKind): Promise<PrimaryHost> {
  switch (kind) {
    case 'sharedkv-socket':
    case 'sharedkv-ipc': {
      const { connect } = await loadSharedkv();
      const kv = await connect({ channel: sharedkvChannel(kind) });
      return {
        shared: true,
        readNumber: async (key) => Number(await kv.get(key)),
        close: () => kv.close(),
      };
    }
    case 'article': {
      const server = serveArticleStore();
      return {
        shared: true,
        readNumber: async (key) => Number(server.data[key]),
        close: async () => server.close(),
      };
    }
    case 'map':
      return { shared: false, readNumber: async () => undefined, close: async () => {} };
  }
}

/** Opens the worker side of `kind` (in a cluster worker). */
export async function openWorkerStore(kind: StoreKind): Promise<BenchStore> {
  switch (kind) {
    case 'sharedkv-socket':
    case 'sharedkv-ipc': {
      const { connect } = await loadSharedkv();
      return connect({ channel: sharedkvChannel(kind) });
    }
    case 'article':
      return new ArticleClient();
    case 'map':
      return new MapStore();
  }
}

/** Whether `value` names a store kind. */
export function isStoreKind(value: unknown): value is StoreKind {
  return (STORE_KINDS as readonly unknown[]).includes(value);
}
