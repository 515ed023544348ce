/**
 * One peer of the owner: decodes its frames, runs each request through the engine, and answers every
 * request of a frame in one frame. Keeps the peer's engine session, so whatever the peer held (waiting
 * calls, loads; later locks and subscriptions) is freed exactly once when it goes away, whichever of
 * exit, disconnect or socket close is seen first.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Engine, Session } from '../engine/engine.js';
import { PENDING } from '../engine/table.js';
import { SharedKVError } from '../errors.js';
import { PLAIN_TAG } from '../protocol/codec.js';
import { decodeFrame, ERR, encodeReplyFrame, INLINE, OK, PROTOCOL_VERSION, PUSH } from '../protocol/envelope.js';
import type { PeerLink } from '../transport/transport.js';

/** How the peer must introduce itself. */
export interface ConnectionAuth {
  /** When set, the first request must be `hello` carrying this token. */
  token?: string | undefined;
  /** When true, the first request must be `hello` (socket peers). IPC peers already did their handshake. */
  requireHello: boolean;
}

/** A connected peer. */
export class Connection {
  readonly session: Session;
  private outbox: unknown[] = [];
  /** Values of the outbox's {@link INLINE} items, in their order. */
  private inline: Uint8Array[] = [];
  private flushScheduled = false;
  /** {@link flush}, bound once: what the engine runs to send this peer's held-back urgent pushes. */
  private readonly flushNow = () => this.flush();
  private greeted: boolean;
  closed = false;

  constructor(
    private readonly engine: Engine,
    readonly link: PeerLink,
    private readonly auth: ConnectionAuth,
    private readonly onGone: (c: Connection) => void,
  ) {
    this.greeted = !auth.requireHello;
    this.session = engine.openSession(
      link.label,
      (id, err, result) => this.deferred(id, err, result),
      (message, urgent) => {
        this.queue([0, PUSH, message]);
        if (urgent) engine.deferUrgent(this.flushNow);
      },
    );
  }

  /** Calls this peer has waiting in the engine. */
  get waiting(): number {
    return this.session.waiting.size;
  }

  /** Handles one frame payload from the peer. */
  receive(payload: Uint8Array): void {
    if (this.closed) return;
    let items: unknown[];
    try {
      items = decodeFrame(payload);
    } catch (err) {
      this.fail(err as SharedKVError);
      return;
    }
    for (const item of items) {
      if (this.closed) return;
      this.handle(item);
    }
    this.flush();
  }

  private handle(item: unknown): void {
    if (
      !Array.isArray(item) ||
      typeof item[0] !== 'number' ||
      typeof item[1] !== 'string' ||
      (item[2] !== undefined && !Array.isArray(item[2]))
    ) {
      this.fail(new SharedKVError('ERR_SHAREDKV_PROTOCOL', 'Malformed request: expected [id, command, args]'));
      return;
    }
    const id = item[0];
    const name = item[1];
    const args: unknown[] = item[2] ?? [];
    if (!this.greeted) {
      this.hello(id, name, args[0]);
      return;
    }
    if (name === 'cancel') {
      if (typeof args[0] === 'number') this.engine.cancel(this.session, args[0]);
      return;
    }
    let result: unknown;
    try {
      result = this.engine.execute(this.session, id, name, args);
    } catch (err) {
      if (id !== 0) this.outbox.push([id, ERR, toWireError(err)]);
      return;
    }
    if (result === PENDING || id === 0) return;
    // A plain value read by `get` travels inline, after the item list (see encodeReplyFrame).
    if (name === 'get' && result instanceof Uint8Array && result[0] === PLAIN_TAG) {
      this.outbox.push([id, INLINE, null]);
      this.inline.push(result);
    } else {
      this.outbox.push([id, OK, result]);
    }
  }

  private hello(id: number, name: string, info: unknown): void {
    const fields = (info ?? {}) as { v?: unknown; token?: unknown; pid?: unknown };
    if (name !== 'hello') {
      this.fail(new SharedKVError('ERR_SHAREDKV_AUTH', 'The first request on a connection must be `hello`'));
      return;
    }
    if (this.auth.token !== undefined && !sameToken(fields.token, this.auth.token)) {
      this.fail(new SharedKVError('ERR_SHAREDKV_AUTH', 'Wrong or missing token'));
      return;
    }
    if (fields.v !== PROTOCOL_VERSION) {
      this.fail(
        new SharedKVError(
          'ERR_SHAREDKV_PROTOCOL',
          `Protocol version mismatch: the owner speaks ${PROTOCOL_VERSION}, the client ${String(fields.v)}; use the same sharedkv version on both sides`,
        ),
      );
      return;
    }
    this.greeted = true;
    // Informational only (a peer may claim any pid): Node cannot read a Unix socket peer's credentials.
    if (typeof fields.pid === 'number' && Number.isSafeInteger(fields.pid)) this.session.pid = fields.pid;
    this.outbox.push([id, OK, { v: PROTOCOL_VERSION, pid: process.pid }]);
  }

  private deferred(id: number, err: SharedKVError | null, result?: unknown): void {
    this.queue(err ? [id, ERR, err.toWire()] : [id, OK, result]);
  }

  /** Queues an item for the next flush (this tick), for answers and pushes caused by other peers. */
  private queue(item: unknown[]): void {
    if (this.closed) return;
    this.outbox.push(item);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /** Sends every queued reply as one frame, after the urgent pushes of every peer (see `Engine.deferUrgent`). */
  flush(): void {
    this.engine.flushUrgent();
    this.flushScheduled = false;
    if (this.outbox.length === 0 || this.closed) return;
    const items = this.outbox;
    this.outbox = [];
    const inline = this.inline;
    if (inline.length > 0) this.inline = [];
    const frame = encodeReplyFrame(items, inline);
    // With fsync 'always' the answers wait for the group commit that makes this tick's writes durable.
    const durable = this.engine.durable?.();
    if (durable)
      durable.then(
        () => this.closed || this.link.send(frame),
        () => this.link.close(),
      );
    else this.link.send(frame);
  }

  /** Answers with a protocol or auth error (id 0: about the connection) and drops the peer. */
  fail(err: SharedKVError): void {
    if (this.closed) return;
    this.outbox.push([0, ERR, err.toWire()]);
    this.flush();
    this.link.close();
    this.gone();
  }

  /** The peer is gone: free its state, once. */
  gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.outbox = [];
    this.inline = [];
    this.engine.closeSession(this.session);
    this.onGone(this);
  }
}

/** Converts anything thrown by a command into a wire error; unexpected exceptions are bugs (INTERNAL). */
export function toWireError(err: unknown) {
  if (err instanceof SharedKVError) return err.toWire();
  return new SharedKVError('ERR_SHAREDKV_INTERNAL', `Unexpected error in the owner: ${String(err)}`).toWire();
}

function sameToken(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  // timingSafeEqual needs equal lengths; comparing b with itself keeps the time independent of the guess.
  return a.length === b.length ? timingSafeEqual(a, b) : !timingSafeEqual(b, b);
}
