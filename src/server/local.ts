/**
 * The owner's own client: calls go straight into the engine, with no encoding of the request and no I/O.
 * Values are still encoded by the Store layer on the way in and decoded on the way out, so the owner gets
 * the same copy semantics as every other process (mutating a result never changes the store).
 */
import { abortedError, type Caller, DEFAULT_TIMEOUT, refuseCall } from '../client/caller.js';
import type { Session } from '../engine/engine.js';
import { PENDING } from '../engine/table.js';
import { SharedKVError } from '../errors.js';
import type { CallOptions } from '../types.js';
import type { Server } from './server.js';

interface Waiting {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

/** Runs calls in the owner's engine. Closing it frees its session; the server's life is managed by its opener. */
export class LocalCaller implements Caller {
  private readonly session: Session;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly server: Server,
    private readonly timeout = DEFAULT_TIMEOUT,
  ) {
    this.session = server.engine.openSession(
      `owner (pid ${process.pid})`,
      (id, err, result) => {
        // The answer is an acknowledgement: invalidations the engine holds back leave first.
        server.engine.flushUrgent();
        const w = this.waiting.get(id);
        if (!w) return;
        this.waiting.delete(id);
        if (w.timer) clearTimeout(w.timer);
        if (err) w.reject(err);
        else w.resolve(viewsOf(result));
      },
      (message) => {
        // Delivered asynchronously, as for remote clients, so a handler never runs inside the publisher's call.
        queueMicrotask(() => this.onPush(message));
      },
    );
  }

  /** Receives pushed messages (pub/sub, watch); set by the Store layer. */
  onPush: (message: unknown[]) => void = () => {};

  get pending(): number {
    return this.waiting.size;
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  call(name: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    if (this.closed) return Promise.reject(new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed'));
    const refused = refuseCall(options?.timeout ?? this.timeout, options?.signal);
    if (refused) return Promise.reject(refused);
    const id = this.nextId++;
    let result: unknown;
    try {
      result = this.server.engine.execute(this.session, id, name, args);
    } catch (err) {
      return Promise.reject(err);
    }
    if (result !== PENDING) {
      this.server.engine.flushUrgent();
      const out = viewsOf(result);
      const durable = this.server.engine.durable?.();
      return durable ? durable.then(() => out) : Promise.resolve(out);
    }
    // Only waits (getOrSet while another process loads) get here; they honour timeout and signal.
    return new Promise((resolve, reject) => {
      const timeout = options?.timeout ?? this.timeout;
      const w: Waiting = { resolve, reject, timer: undefined };
      const fail = (err: SharedKVError) => {
        if (!this.waiting.delete(id)) return;
        if (w.timer) clearTimeout(w.timer);
        this.server.engine.cancel(this.session, id);
        reject(err);
      };
      if (timeout > 0) {
        w.timer = setTimeout(() => fail(new SharedKVError('ERR_SHAREDKV_TIMEOUT', 'The call timed out')), timeout);
      }
      const signal = options?.signal;
      signal?.addEventListener('abort', () => fail(abortedError(signal)), { once: true });
      this.waiting.set(id, w);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.server.engine.closeSession(this.session);
    for (const w of this.waiting.values()) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed'));
    }
    this.waiting.clear();
  }
}

/**
 * The engine answers with its stored value bytes themselves (a remote peer gets a copy in the frame). The
 * owner's own store decodes them in this process, and the decoder caches a DataView on the array it reads
 * (see `decodeStored` in protocol/codec.ts): hand it fresh views instead, so stored values stay untouched.
 */
function viewsOf(result: unknown): unknown {
  if (result instanceof Uint8Array) return result.subarray(0);
  if (!Array.isArray(result)) return result;
  let out: unknown[] | undefined;
  for (let i = 0; i < result.length; i++) {
    const v = viewsOf(result[i]);
    if (v !== result[i]) {
      out ??= result.slice();
      out[i] = v;
    }
  }
  return out ?? result;
}
