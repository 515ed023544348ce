/**
 * A client of a remote owner: pending calls by id, one frame per tick, per-call timeouts, and the rule
 * that every call settles. Requests issued in the same tick leave together in one frame (the owner
 * answers them in one frame), which is where most of the speed over one-message-per-call comes from.
 *
 * Socket clients reconnect: when the connection drops, every call in flight rejects at once with
 * `ERR_SHAREDKV_DISCONNECTED` (a write may or may not have been applied, so nothing is ever re-sent),
 * and the client dials again with capped exponential backoff. Calls issued while it is away wait for the
 * new connection within their own timeout; they were never sent, so sending them later is no retry.
 * The new connection is a new session of the owner: its first frame carries `hello`, then whatever
 * {@link RemoteCaller.onReconnect} re-registers (subscriptions, watches), then the waiting calls, so a
 * call issued during the outage already finds the re-registered state.
 */
import { SharedKVError } from '../errors.js';
import { decodeReplyFrame, ERR, encodeFrame, INLINE, OK, PROTOCOL_VERSION, PUSH } from '../protocol/envelope.js';
import type { Channel } from '../transport/transport.js';
import type { CallOptions } from '../types.js';
import { abortedError, type Caller, DEFAULT_TIMEOUT, refuseCall } from './caller.js';
import type { NearCache } from './near-cache.js';
import { PendingTable } from './pending.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  /** Deadline on performance.now(), or Infinity. */
  deadline: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** How many frames had been sent when the call was queued: it has left once more have been sent. */
  frame: number;
}

/** Options of {@link RemoteCaller}. */
export interface RemoteOptions {
  /** Default per-call timeout in ms; 0 disables. @default 5000 */
  timeout?: number;
  /** Most calls in flight before new ones reject with `ERR_SHAREDKV_BACKPRESSURE`. @default 100000 */
  maxPending?: number;
  /** Send `hello` first (socket channels), with this token. */
  hello?: { token?: string | undefined };
  /**
   * Opens a new channel after the connection drops; without it a lost connection is final. Connection
   * errors the owner reports itself (auth, protocol) are always final: dialing again would not fix them.
   */
  redial?: () => Promise<Channel>;
  /** Delay before the first redial, doubled after each failure up to `max`, in ms. @default { min: 20, max: 400 } */
  backoff?: { min: number; max: number };
}

/** Codes of connection errors that a new connection would not fix. */
const FINAL = new Set(['ERR_SHAREDKV_AUTH', 'ERR_SHAREDKV_PROTOCOL', 'ERR_SHAREDKV_CLOSED']);

/** Client side of any remote transport. */
export class RemoteCaller implements Caller {
  private readonly calls = new PendingTable<Pending>();
  private queue: unknown[] = [];
  private flushScheduled = false;
  private nextId = 1;
  private channel: Channel | null = null;
  private state: 'connecting' | 'open' | 'reconnecting' | 'lost' | 'closed' = 'connecting';
  private lostReason: SharedKVError | null = null;
  private timer: NodeJS.Timeout | null = null;
  private redialTimer: NodeJS.Timeout | null = null;
  private redialDelay: number;
  /** Frames sent so far, on any connection; every call queued before a frame is sent leaves in it. */
  private frames = 0;
  /** Queued calls that ended (timeout, abort) before they were sent: the next flush leaves them out. */
  private readonly unsent = new Set<number>();
  private readonly opened: Promise<void>;
  private readonly timeout: number;
  private readonly maxPending: number;

  constructor(
    open: Promise<Channel>,
    private readonly options: RemoteOptions = {},
  ) {
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT;
    this.maxPending = options.maxPending ?? 100_000;
    this.redialDelay = options.backoff?.min ?? 20;
    this.opened = open.then(
      (channel) => this.attach(channel),
      (err: unknown) => {
        this.lose(
          err instanceof SharedKVError
            ? err
            : new SharedKVError('ERR_SHAREDKV_DISCONNECTED', `Cannot reach the owner: ${(err as Error).message}`),
        );
        throw this.lostReason;
      },
    );
    // A failed start is reported through ready() and every call; never as an unhandled rejection.
    this.opened.catch(() => {});
  }

  /** Receives messages the owner pushes (pub/sub, watch); set by the Store layer. */
  onPush: (message: unknown[]) => void = () => {};

  /**
   * Called when a new connection replaces a dropped one, right after `hello` is queued and before the
   * calls that waited for it. The owner gave the old session's subscriptions, watches and locks up when
   * it went, so whoever keeps such state re-registers it here: calls made synchronously in this hook
   * leave in the new connection's first frame, ahead of the waiting calls. It runs again for every new
   * connection (also when the previous attempt failed during `hello`).
   */
  onReconnect: () => void = () => {};

  /**
   * Connections lost so far. A value read while a connection is up changes once that connection is gone,
   * which is how a lock knows that the owner has ended the session that holds it. Every loss seen in the
   * same turn as a reply is final (a protocol or auth error), so a grant read right after its reply is
   * always counted on the connection that made it.
   */
  lostConnections = 0;

  /** The near cache of this connection, when enabled; emptied whenever the connection drops. */
  near: NearCache | undefined = undefined;

  /**
   * Takes a freshly opened channel into use: its first frame carries hello (socket channels), then, on a
   * reconnect, the re-registrations of {@link onReconnect}, then the calls queued while no channel was up.
   */
  private async attach(channel: Channel): Promise<void> {
    if (this.state === 'closed') {
      channel.close();
      throw new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed');
    }
    const resuming = this.state === 'reconnecting';
    this.channel = channel;
    channel.onFrame = (payload) => this.receive(payload);
    channel.onClose = (reason) => {
      if (this.channel === channel) this.lose(reason);
    };
    const waiting = this.queue;
    this.queue = [];
    const hello = this.options.hello
      ? this.send('hello', [{ v: PROTOCOL_VERSION, token: this.options.hello.token, pid: process.pid }], {
          timeout: 0,
        })
      : undefined;
    if (resuming) {
      try {
        this.onReconnect();
      } catch (err) {
        // The hook belongs to another layer; its failure must not stop the connection from opening.
        process.emitWarning(err as Error);
      }
    }
    this.queue = this.queue.length === 0 ? waiting : this.queue.concat(waiting);
    this.flushNow();
    if (hello) await hello;
    // close() may have run while hello was in flight.
    if (this.isClosed()) return;
    this.state = 'open';
    this.flushNow();
  }

  get pending(): number {
    return this.calls.size;
  }

  ready(): Promise<void> {
    return this.opened;
  }

  call(name: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    if (this.state === 'closed')
      return Promise.reject(new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed'));
    if (this.state === 'lost') return Promise.reject(this.lostReason);
    // While reconnecting, calls queue (unsent) and wait for the new connection within their timeout.
    if (this.calls.size >= this.maxPending) {
      return Promise.reject(
        new SharedKVError(
          'ERR_SHAREDKV_BACKPRESSURE',
          `${this.calls.size} calls are already pending (maxPending); await some before issuing more`,
        ),
      );
    }
    return this.send(name, args, options);
  }

  private send(name: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    const timeout = options?.timeout ?? this.timeout;
    const signal = options?.signal;
    const refused = refuseCall(timeout, signal);
    if (refused) return Promise.reject(refused);
    const id = this.nextId;
    this.nextId = id >= 0x7fffffff ? 1 : id + 1;
    return new Promise((resolve, reject) => {
      const p: Pending = {
        resolve,
        reject,
        deadline: timeout === 0 ? Number.POSITIVE_INFINITY : performance.now() + timeout,
        signal,
        onAbort: undefined,
        frame: this.frames,
      };
      if (signal) {
        p.onAbort = () => this.expire(id, abortedError(signal));
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.calls.set(id, p);
      this.queue.push([id, name, args]);
      if (timeout !== 0) this.armTimer();
      if (!this.flushScheduled && this.state !== 'connecting') {
        this.flushScheduled = true;
        process.nextTick(() => this.flushNow());
      }
    });
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private flushNow(): void {
    this.flushScheduled = false;
    // Without a channel (connecting, or reconnecting between two connections) the queue waits.
    if (this.queue.length === 0 || !this.channel) return;
    let items = this.queue;
    this.queue = [];
    if (this.unsent.size > 0) {
      const unsent = this.unsent;
      items = items.filter((item) => !unsent.has((item as unknown[])[0] as number));
      unsent.clear();
      if (items.length === 0) return;
    }
    this.frames++;
    this.channel.send(encodeFrame(items));
  }

  private receive(payload: Buffer): void {
    let values: unknown[];
    try {
      values = decodeReplyFrame(payload);
    } catch (err) {
      this.channel?.close();
      this.lose(err as SharedKVError);
      return;
    }
    const items = values[0] as unknown[];
    // The frame's inline values follow its item list, in the order of the INLINE items.
    let next = 1;
    for (const item of items) {
      let [id, status, result] = item as [number, number, unknown];
      if (status === INLINE) {
        if (next >= values.length) {
          this.channel?.close();
          this.lose(new SharedKVError('ERR_SHAREDKV_PROTOCOL', 'Malformed frame: an inline reply without its value'));
          return;
        }
        result = values[next++];
        status = OK;
      }
      if (id === 0) {
        if (status === PUSH) this.push(result as unknown[]);
        // An error about the connection itself (auth, protocol): everything pending fails with it.
        else if (status === ERR) this.lose(SharedKVError.fromWire(result));
        continue;
      }
      const p = this.calls.get(id);
      if (!p) continue; // Timed out or aborted earlier: the late answer is dropped.
      this.calls.delete(id);
      if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
      if (status === OK) p.resolve(result);
      else p.reject(SharedKVError.fromWire(result));
    }
  }

  /**
   * Hands a pushed message on. One that cannot be handled (a value that does not decode) is reported as
   * a warning and dropped: it must not keep the replies later in the same frame from their calls.
   */
  private push(message: unknown[]): void {
    try {
      this.onPush(message);
    } catch (err) {
      process.emitWarning(
        err instanceof SharedKVError
          ? err
          : new SharedKVError(
              'ERR_SHAREDKV_PROTOCOL',
              `A message pushed by the owner could not be handled: ${String(err)}`,
            ),
      );
    }
  }

  /**
   * Rejects one call early (timeout, abort). A call not sent yet is left out of the next frame; one
   * already sent (also one that left with `hello` on a connection still opening) is cancelled at the
   * owner, so a lock or load it waits for there is not granted to a caller that gave up.
   */
  private expire(id: number, err: SharedKVError): void {
    const p = this.calls.get(id);
    if (!p) return;
    this.calls.delete(id);
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    p.reject(err);
    if (!this.wasSent(p)) {
      this.unsent.add(id);
      return;
    }
    // A call sent on a connection that is gone was rejected when it went, and the owner forgot it then.
    if (!this.channel) return;
    this.queue.push([0, 'cancel', [id]]);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flushNow());
    }
  }

  private wasSent(p: Pending): boolean {
    return this.frames > p.frame;
  }

  /**
   * The error of a call whose deadline passed: `ERR_SHAREDKV_DISCONNECTED` when it could not even be sent
   * because the connection is down (`data.sent` is false: it was certainly not applied), else
   * `ERR_SHAREDKV_TIMEOUT` (the owner had it, or the first connection is still opening).
   */
  private timedOut(id: number, sent: boolean): SharedKVError {
    if (!sent && this.state === 'reconnecting' && !this.channel) {
      return new SharedKVError(
        'ERR_SHAREDKV_DISCONNECTED',
        `The connection to the owner is down and did not come back within the call's timeout: ${this.lostReason?.message}`,
        { id, sent: false },
      );
    }
    return new SharedKVError('ERR_SHAREDKV_TIMEOUT', 'The call timed out waiting for the owner', { id, sent });
  }

  /**
   * One coarse timer for all calls instead of one per call (a timer per call costs more than the call).
   * Timeouts therefore fire up to 25 ms late.
   */
  private armTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const now = performance.now();
      let armed = false;
      this.calls.forEach((p, id) => {
        if (p.deadline <= now) this.expire(id, this.timedOut(id, this.wasSent(p)));
        else if (p.deadline !== Number.POSITIVE_INFINITY) armed = true;
      });
      if (!armed && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }, 25);
    this.timer.unref();
  }

  /**
   * The connection is gone: every pending call rejects now. Then either later calls fail fast (no
   * `redial`, or an error a new connection would not fix), or the client reconnects.
   */
  private lose(reason: SharedKVError): void {
    if (this.state === 'closed' || this.state === 'lost') return;
    this.lostConnections++;
    // Invalidations sent while the connection is down are lost: the near cache cannot be trusted any more.
    this.near?.clear();
    const wasUp = this.state === 'open' || this.state === 'reconnecting';
    this.lostReason = reason;
    const old = this.channel;
    this.channel = null;
    old?.close();
    if (!this.options.redial || !wasUp || FINAL.has(reason.code)) {
      this.state = 'lost';
      this.rejectAll(reason);
      return;
    }
    this.state = 'reconnecting';
    this.rejectSent(reason);
    this.scheduleRedial();
  }

  private scheduleRedial(): void {
    if (this.redialTimer || this.state !== 'reconnecting') return;
    const max = this.options.backoff?.max ?? 400;
    // Jitter spreads the clients of a restarted owner so they do not all knock at the same instant.
    const delay = this.redialDelay * (0.5 + Math.random() / 2);
    this.redialDelay = Math.min(this.redialDelay * 2, max);
    this.redialTimer = setTimeout(() => {
      this.redialTimer = null;
      this.redial();
    }, delay);
  }

  private redial(): void {
    const redial = this.options.redial;
    if (!redial || this.state !== 'reconnecting') return;
    redial()
      .then((channel) => this.attach(channel))
      .then(
        () => {
          if (this.state === 'open') this.redialDelay = this.options.backoff?.min ?? 20;
        },
        (err: unknown) => {
          if (this.state !== 'reconnecting') return;
          const reason = err instanceof SharedKVError ? err : null;
          if (reason && FINAL.has(reason.code)) {
            this.state = 'lost';
            this.lostReason = reason;
            this.rejectAll(reason);
            return;
          }
          this.scheduleRedial();
        },
      );
  }

  /** Rejects the calls that left on the lost connection; those still queued wait for the next one. */
  private rejectSent(reason: SharedKVError): void {
    this.calls.forEach((p, id) => {
      if (!this.wasSent(p)) return;
      this.calls.delete(id);
      if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
      p.reject(reason);
    });
  }

  private rejectAll(reason: SharedKVError): void {
    this.queue = [];
    this.unsent.clear();
    const calls = this.calls.drain();
    for (const p of calls) {
      if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
      p.reject(reason);
    }
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    if (this.redialTimer) clearTimeout(this.redialTimer);
    if (wasOpen) this.flushNow();
    this.rejectAll(new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed'));
    this.channel?.close();
  }
}
