/**
 * The "article design": the classic way blog posts share memory between cluster workers. The primary
 * keeps a plain object; every single call from a worker is its own `process.send` message carrying a
 * uuid, the primary runs it and answers the worker by id, and the worker resolves the promise it parked
 * under that uuid. No batching, no binary encoding: Node's default JSON IPC serialisation both ways.
 *
 * It is written here faithfully (not tuned) because it is the baseline sharedkv is compared against.
 */

import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';

type Method = 'get' | 'set' | 'incr' | 'del';

/** Worker → primary. */
interface ArticleRequest {
  isSharedMemoryMessage: true;
  method: Method;
  id: number;
  uuid: string;
  key: string;
  value?: unknown;
}

/** Primary → worker. */
interface ArticleReply {
  isSharedMemoryMessage: true;
  uuid: string;
  value?: unknown;
}

function isArticleMessage(message: unknown): message is { isSharedMemoryMessage: true } {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { isSharedMemoryMessage?: unknown }).isSharedMemoryMessage === true
  );
}

/** The primary's side: the data and a way to stop answering. */
export interface ArticleServer {
  /** The shared data itself (the primary reads the final counter here). */
  readonly data: Record<string, unknown>;
  /** Stops listening to workers. */
  close(): void;
}

/**
 * Makes the cluster primary answer article-design calls from all workers, current and future.
 * Call once per cluster; `close()` detaches the listener.
 */
export function serveArticleStore(): ArticleServer {
  // A plain object, as in the article (not a Map): that is part of the design being measured.
  const data: Record<string, unknown> = {};
  const run = (request: ArticleRequest): unknown => {
    switch (request.method) {
      case 'get':
        return data[request.key];
      case 'set':
        data[request.key] = request.value;
        return true;
      case 'incr': {
        const next = (Number(data[request.key]) || 0) + (Number(request.value) || 1);
        data[request.key] = next;
        return next;
      }
      case 'del': {
        const existed = request.key in data;
        delete data[request.key];
        return existed ? 1 : 0;
      }
    }
  };
  const onMessage = (_worker: Worker, message: unknown): void => {
    if (!isArticleMessage(message)) return;
    const request = message as ArticleRequest;
    const reply: ArticleReply = { isSharedMemoryMessage: true, uuid: request.uuid, value: run(request) };
    // The article answers the worker named in the message, not the one the event came from.
    cluster.workers?.[request.id]?.send(reply);
  };
  cluster.on('message', onMessage);
  return {
    data,
    close: () => {
      cluster.off('message', onMessage);
    },
  };
}

/** A worker's side: one promise per call, parked under its uuid until the primary answers. */
export class ArticleClient {
  private readonly pending = new Map<string, (value: unknown) => void>();
  private readonly onMessage = (message: unknown): void => {
    if (!isArticleMessage(message)) return;
    const reply = message as ArticleReply;
    const resolve = this.pending.get(reply.uuid);
    if (resolve === undefined) return;
    this.pending.delete(reply.uuid);
    resolve(reply.value);
  };

  constructor() {
    if (cluster.worker === undefined || process.send === undefined) {
      throw new Error('ArticleClient must run in a cluster worker');
    }
    process.on('message', this.onMessage);
  }

  private call(method: Method, key: string, value?: unknown): Promise<unknown> {
    return new Promise((resolve) => {
      const uuid = randomUUID();
      this.pending.set(uuid, resolve);
      const request: ArticleRequest = { isSharedMemoryMessage: true, method, id: cluster.worker!.id, uuid, key };
      if (value !== undefined) request.value = value;
      process.send!(request);
    });
  }

  /** Value of `key`, or `undefined`. */
  get(key: string): Promise<unknown> {
    return this.call('get', key);
  }

  /** Stores `value` under `key`. */
  set(key: string, value: unknown): Promise<unknown> {
    return this.call('set', key, value);
  }

  /** Adds `by` (default 1) to the number at `key` and resolves with the result. */
  async incr(key: string, by = 1): Promise<number> {
    return Number(await this.call('incr', key, by));
  }

  /** Deletes `key`; resolves with 1 when it existed. */
  async del(key: string): Promise<number> {
    return Number(await this.call('del', key));
  }

  /** Stops listening; calls still pending never resolve (as in the article, which has no timeout). */
  async close(): Promise<void> {
    process.off('message', this.onMessage);
  }
}
