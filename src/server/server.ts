/**
 * The owner side: one engine, any number of peers on any transport, and the timer that expires keys.
 * Cluster workers and forked children introduce themselves over IPC (`hello`); the owner answers with the
 * data path they asked for: its private Unix socket (default) or the IPC channel itself.
 */
import type { ChildProcess } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { debuglog } from 'node:util';
import { Engine, type EngineOptions } from '../engine/engine.js';
import { SharedKVError } from '../errors.js';
import { type IpcMessage, ipc, isIpcMessage, PROTOCOL_VERSION } from '../protocol/envelope.js';
import { childPeer, type IpcPeer, ipcLink, workerPeer } from '../transport/ipc.js';
import { listenUnix, privateSocketPath, type SocketLimits, serveSocket } from '../transport/socket.js';
import { Connection } from './connection.js';

const log = debuglog('sharedkv');

/** Options of the owner. */
export interface ServerOptions extends EngineOptions, SocketLimits {}

/** The owner: engine plus every connected peer. */
export class Server {
  readonly engine: Engine;
  readonly connections = new Set<Connection>();
  private readonly ipcConnections = new Map<IpcPeer | object, Connection>();
  private readonly startedAt = Date.now();
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweepImmediate: NodeJS.Immediate | null = null;
  private sweepAt = Number.POSITIVE_INFINITY;
  private privateSocket: Promise<{ path: string; token: string }> | null = null;
  private readonly sockets: Array<{ server: net.Server; dispose: () => void }> = [];
  private readonly detach: Array<() => void> = [];
  private closed = false;

  constructor(private readonly options: ServerOptions = {}) {
    this.engine = new Engine(options);
    this.engine.ext.set('serverStats', () => ({
      clients: this.connections.size,
      pending: [...this.connections].reduce((n, c) => n + c.waiting, 0),
      uptime: Date.now() - this.startedAt,
    }));
    this.engine.onWake = (delay) => this.wake(delay);
    this.scheduleSweep(1000);
  }

  /** Serves every cluster worker, those forked before this call and those forked after. */
  serveCluster(): void {
    const peers = new WeakMap<Worker, IpcPeer>();
    const peerOf = (w: Worker) => {
      let p = peers.get(w);
      if (!p) {
        p = workerPeer(w);
        peers.set(w, p);
      }
      return p;
    };
    const onMessage = (worker: Worker, msg: unknown) => this.onIpc(peerOf(worker), `worker ${worker.id}`, msg);
    const onGone = (worker: Worker) => this.ipcGone(peerOf(worker));
    cluster.on('message', onMessage);
    cluster.on('exit', onGone);
    cluster.on('disconnect', onGone);
    this.detach.push(() => {
      cluster.off('message', onMessage);
      cluster.off('exit', onGone);
      cluster.off('disconnect', onGone);
    });
  }

  /** Serves a child forked with `child_process.fork` (its IPC channel). */
  serveChild(child: ChildProcess): void {
    const peer = childPeer(child);
    const onMessage = (msg: unknown) => this.onIpc(peer, `child ${child.pid}`, msg);
    const onGone = () => this.ipcGone(peer);
    child.on('message', onMessage);
    child.once('exit', onGone);
    child.once('disconnect', onGone);
    // Without a listener, a failed send to a dead child would be an uncaught 'error' event.
    child.on('error', (err) => log('child %d error: %s', child.pid, err.message));
    this.detach.push(() => {
      child.off('message', onMessage);
      child.off('exit', onGone);
      child.off('disconnect', onGone);
    });
  }

  private onIpc(peer: IpcPeer, label: string, msg: unknown): void {
    if (!isIpcMessage(msg) || this.closed) return;
    const kind = msg.__sharedkv;
    if (kind === 'frame') {
      const conn = this.ipcConnections.get(peer);
      if (conn && typeof msg.d === 'string') conn.receive(Buffer.from(msg.d, 'base64'));
      return;
    }
    if (kind !== 'hello') return;
    if (msg.v !== PROTOCOL_VERSION) {
      peer.send(
        ipc('welcome', {
          v: PROTOCOL_VERSION,
          error: new SharedKVError(
            'ERR_SHAREDKV_PROTOCOL',
            `Protocol version mismatch: the owner speaks ${PROTOCOL_VERSION}, the client ${String(msg.v)}`,
          ).toWire(),
        }),
      );
      return;
    }
    if (msg.channel === 'ipc') {
      this.ipcGone(peer);
      const conn = this.accept(
        ipcLink(peer, `${label} (ipc, pid ${peer.pid})`, () => this.ipcGone(peer)),
        undefined,
        false,
      );
      this.ipcConnections.set(peer, conn);
      peer.send(ipc('welcome', { v: PROTOCOL_VERSION, pid: process.pid }));
      return;
    }
    this.ensurePrivateSocket().then(
      ({ path, token }) => peer.send(ipc('welcome', { v: PROTOCOL_VERSION, pid: process.pid, socket: path, token })),
      (err: Error) =>
        peer.send(
          ipc('welcome', {
            v: PROTOCOL_VERSION,
            error: { code: 'ERR_SHAREDKV_DISCONNECTED', message: `The owner cannot open its socket: ${err.message}` },
          } satisfies Partial<IpcMessage>),
        ),
    );
  }

  private ipcGone(peer: IpcPeer | object): void {
    const conn = this.ipcConnections.get(peer);
    if (!conn) return;
    this.ipcConnections.delete(peer);
    conn.gone();
  }

  /** Starts (once) the private socket announced to IPC peers. */
  private ensurePrivateSocket(): Promise<{ path: string; token: string }> {
    if (!this.privateSocket) {
      const token = randomBytes(24).toString('base64url');
      const { path, dispose } = privateSocketPath();
      this.privateSocket = this.listen(path, token, dispose).then(() => ({ path, token }));
    }
    return this.privateSocket;
  }

  /** Serves a Unix socket path; peers must send `hello` (with `token` when one is set). */
  async listen(path: string, token: string | undefined, dispose: () => void = () => {}): Promise<void> {
    const server = await listenUnix(path, (socket) => {
      let conn: Connection | undefined;
      const link = serveSocket(
        socket,
        `socket (fd ${(socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? '?'})`,
        this.options,
        (payload) => conn?.receive(payload),
        () => conn?.gone(),
        (err) => conn?.fail(err),
      );
      conn = this.accept(link, token, true);
    });
    this.sockets.push({ server, dispose });
    const cleanup = () => dispose();
    process.once('exit', cleanup);
    this.detach.push(() => process.off('exit', cleanup));
  }

  /** Registers a peer on any transport. */
  accept(link: Connection['link'], token: string | undefined, requireHello: boolean): Connection {
    const conn = new Connection(this.engine, link, { token, requireHello }, (c) => this.connections.delete(c));
    this.connections.add(conn);
    return conn;
  }

  private scheduleSweep(delay: number): void {
    if (this.closed) return;
    this.sweepAt = performance.now() + delay;
    this.sweepTimer = setTimeout(() => this.sweep(), delay);
    this.sweepTimer.unref();
  }

  /** The engine asks to be swept sooner (a lock lease or wait deadline): move the timer earlier. */
  private wake(delay: number): void {
    if (this.closed || this.sweepImmediate || performance.now() + delay >= this.sweepAt) return;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.scheduleSweep(Math.max(delay, 1));
  }

  /**
   * Expires keys in small slices: when a slice hits its budget the next one runs on the next loop turn
   * (setImmediate), so I/O is served between slices however many keys expire at once.
   */
  private sweep(): void {
    this.sweepTimer = null;
    this.sweepImmediate = null;
    const more = this.engine.sweep(1000);
    if (more) {
      this.sweepImmediate = setImmediate(() => this.sweep());
      this.sweepImmediate.unref();
      return;
    }
    const next = this.engine.nextExpiry();
    this.scheduleSweep(Math.min(next === undefined ? 1000 : Math.max(next, 1), 1000));
  }

  /** Stops serving: drops every peer and removes the sockets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    if (this.sweepImmediate) clearImmediate(this.sweepImmediate);
    for (const peer of [...this.ipcConnections.keys()]) {
      (peer as IpcPeer).send(ipc('bye'));
      this.ipcGone(peer);
    }
    for (const conn of [...this.connections]) {
      conn.link.close();
      conn.gone();
    }
    for (const d of this.detach) d();
    await Promise.all(
      this.sockets.map(
        ({ server, dispose }) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            dispose();
          }),
      ),
    );
  }
}
