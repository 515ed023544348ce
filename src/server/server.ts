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
import type { Worker as ThreadWorker } from 'node:worker_threads';
import { restoreFence } from '../engine/commands/locks.js';
import { Engine, type EngineOptions, type Session } from '../engine/engine.js';
import { SharedKVError } from '../errors.js';
import { Persistence, type PersistOptions, type SaveReport } from '../persistence/persistence.js';
import { type IpcMessage, ipc, isIpcMessage, PROTOCOL_VERSION } from '../protocol/envelope.js';
import { childPeer, type IpcPeer, ipcLink, workerPeer } from '../transport/ipc.js';
import { listenUnix, privateSocketPath, type SocketLimits, serveSocket } from '../transport/socket.js';
import { acceptThreads, answerThread, openPort, ownerBeacon, type ThreadWelcome } from '../transport/thread.js';
import { Connection } from './connection.js';

const log = debuglog('sharedkv');

/** Options of the owner. */
export interface ServerOptions extends EngineOptions, SocketLimits {
  /**
   * Keep the data on disk (append-only log plus snapshots, see docs/persistence.md): the owner loads
   * `persist.dir` when it starts and records every change from then on.
   * @example
   * connect({ role: 'owner', persist: { dir: '/var/lib/app/kv', fsync: 'always' } })
   */
  persist?: PersistOptions;
}

/** One command as seen by `monitor` (and the CLI's `sharedkv monitor`). */
export interface MonitorEvent {
  /** Wall-clock time in ms since the epoch. */
  time: number;
  /** The peer that sent it (transport and pid). */
  client: string;
  /** Command name. */
  command: string;
  /** Raw arguments: values are still encoded bytes. */
  args: unknown[];
}

/** Latency of one command in the owner, as reported by `stats().latency`. */
export interface CommandLatency {
  calls: number;
  /** Mean execution time in the owner, in µs (not the round trip). */
  meanUs: number;
  /** Approximate median and 99th percentile in µs (power-of-two buckets, interpolated inside the bucket). */
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/** Most time one slice of the expiry sweep runs before the loop is let go, in ms. */
const SWEEP_SLICE_MS = 2;
/** Keys expired between two looks at the clock within a slice. */
const SWEEP_CHUNK = 128;

/** How long a socket peer may stay silent before its first frame (`hello`), in ms. */
const HELLO_TIMEOUT = 10_000;

/** Per-command execution time histogram: bucket k counts calls of [2^(k-1), 2^k) µs. */
class LatencyRecorder {
  private readonly byCommand = new Map<string, { calls: number; total: number; max: number; buckets: Uint32Array }>();

  record(name: string, ms: number): void {
    let h = this.byCommand.get(name);
    if (!h) {
      h = { calls: 0, total: 0, max: 0, buckets: new Uint32Array(32) };
      this.byCommand.set(name, h);
    }
    const us = ms * 1000;
    h.calls++;
    h.total += us;
    if (us > h.max) h.max = us;
    h.buckets[Math.min(31, 32 - Math.clz32(Math.ceil(us)))]!++;
  }

  report(): Record<string, CommandLatency> {
    const out: Record<string, CommandLatency> = {};
    for (const [name, h] of this.byCommand) {
      // Interpolates linearly inside the bucket that holds the q-th call.
      const pct = (q: number) => {
        const rank = q * h.calls;
        let seen = 0;
        for (let k = 0; k < 32; k++) {
          const n = h.buckets[k]!;
          if (n > 0 && seen + n >= rank) {
            const lo = k === 0 ? 0 : 2 ** (k - 1);
            return Math.min(lo + ((rank - seen) / n) * (2 ** k - lo), h.max);
          }
          seen += n;
        }
        return h.max;
      };
      const round = (n: number) => Math.round(n * 100) / 100;
      out[name] = {
        calls: h.calls,
        meanUs: round(h.total / h.calls),
        p50Us: round(pct(0.5)),
        p99Us: round(pct(0.99)),
        maxUs: round(h.max),
      };
    }
    return out;
  }
}

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
  private readonly monitors = new Set<Session>();
  /** Worker threads this owner was given, by threadId: they get a private MessagePort. */
  private readonly threads = new Map<number, ThreadWorker>();
  private readonly latency = new LatencyRecorder();
  private closed = false;

  /** The owner's persistence, when `persist` was given. */
  readonly persistence: Persistence | null;

  /**
   * @throws SharedKVError `ERR_SHAREDKV_CORRUPT` when `persist.dir` holds a damaged file;
   * `ERR_SHAREDKV_BAD_ARGUMENT` for bad options.
   */
  constructor(private readonly options: ServerOptions = {}) {
    this.engine = new Engine(options);
    // Loaded before anything is served, so no peer ever sees the store half-loaded.
    this.persistence = options.persist ? Persistence.open(this.engine, options.persist) : null;
    // Fencing tokens start from the wall clock (in thousandths of a ms), so the tokens of a restarted owner
    // are still larger than any its previous run issued, persisted or not, as long as that run averaged
    // fewer than 1,000 grants a millisecond: a store that remembers the largest token it saw keeps
    // accepting the new holders. (Safe integers until the year 2255.)
    restoreFence(this.engine, Date.now() * 1000);
    this.engine.ext.set('serverStats', () => ({
      clients: this.connections.size,
      pending: [...this.connections].reduce((n, c) => n + c.waiting, 0),
      uptime: Date.now() - this.startedAt,
      latency: this.latency.report(),
    }));
    this.observeCommands();
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
    const detach = () => {
      child.off('message', onMessage);
      child.off('exit', onGone);
      child.off('disconnect', onGone);
    };
    this.detach.push(detach);
    // A child that exits must not stay referenced by the server (3,000 short-lived children leaked 60 MB).
    child.once('exit', () => {
      const i = this.detach.indexOf(detach);
      if (i !== -1) this.detach.splice(i, 1);
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
    const server = await listenUnix(path, (socket) => this.acceptSocket(socket, token));
    this.sockets.push({ server, dispose });
    const cleanup = () => dispose();
    process.once('exit', cleanup);
    this.detach.push(() => process.off('exit', cleanup));
  }

  /**
   * Serves one accepted stream socket: the peer must send `hello` first (with `token` when one is set).
   * A peer that has not sent one complete frame after {@link HELLO_TIMEOUT} (nothing, or a frame trickled
   * byte by byte) is dropped, so unauthenticated connections cannot pile up.
   */
  acceptSocket(socket: net.Socket, token: string | undefined): Connection {
    let conn: Connection | undefined;
    const link = serveSocket(
      socket,
      `socket (fd ${(socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? '?'})`,
      this.options,
      (payload) => {
        // The first complete frame either authenticates the peer or gets it dropped: no more deadline.
        if (!framed) {
          framed = true;
          socket.setTimeout(0);
        }
        conn?.receive(payload);
      },
      () => conn?.gone(),
      (err) => conn?.fail(err),
    );
    let framed = false;
    socket.setTimeout(HELLO_TIMEOUT, () => socket.destroy());
    conn = this.accept(link, token, true);
    return conn;
  }

  /**
   * Takes charge of a listening server opened elsewhere (`serve()`): it is closed, and `dispose` run, when
   * the owner closes. Returns a function that stops it earlier.
   */
  adopt(server: net.Server, dispose: () => void): () => Promise<void> {
    const entry = { server, dispose };
    this.sockets.push(entry);
    return async () => {
      const i = this.sockets.indexOf(entry);
      if (i === -1) return;
      this.sockets.splice(i, 1);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      dispose();
    };
  }

  /**
   * Answers the worker threads of this process (see transport/thread.ts): a thread whose Worker was given
   * to {@link serveThread} gets a private MessagePort; any other thread gets the private socket.
   */
  serveThreads(): void {
    this.detach.push(
      ownerBeacon((hello, toChannel) => {
        const worker = this.threads.get(hello.threadId);
        if (worker) {
          answerThread(worker, hello, () => this.openThreadPort(worker));
          return;
        }
        this.ensurePrivateSocket().then(
          ({ path, token }) => toChannel({ socket: path, token }),
          (err: Error) =>
            toChannel({
              error: { code: 'ERR_SHAREDKV_DISCONNECTED', message: `The owner cannot open its socket: ${err.message}` },
            }),
        );
      }),
    );
  }

  /**
   * Serves a worker thread created by this process with a private MessagePort per `connect()` in it.
   * The thread asks through the owner's BroadcastChannel, or, when it was created before this process
   * became the owner, through its `parentPort`.
   */
  serveThread(worker: ThreadWorker): void {
    const id = worker.threadId;
    this.threads.set(id, worker);
    worker.once('exit', () => {
      if (this.threads.get(id) === worker) this.threads.delete(id);
    });
    this.detach.push(acceptThreads(worker, () => this.openThreadPort(worker)));
  }

  private openThreadPort(worker: ThreadWorker): ThreadWelcome {
    if (this.closed) throw new SharedKVError('ERR_SHAREDKV_DISCONNECTED', 'The owner is closing');
    const { port, link, bind } = openPort(`thread ${worker.threadId} (pid ${process.pid})`);
    // The port is private to the thread the owner gave it to, so no hello or token is needed on it.
    const conn = this.accept(link, undefined, false);
    bind(
      (payload) => conn.receive(payload),
      () => conn.gone(),
    );
    return { port };
  }

  /**
   * Every command of every peer (and of the owner itself) passes through here: `monitor` sessions see
   * them, and their execution time is recorded. Wrapping the engine's `execute` keeps both out of the
   * pure engine and out of each transport; it costs two clock reads per command.
   */
  private observeCommands(): void {
    const engine = this.engine;
    const execute = engine.execute.bind(engine);
    engine.execute = (session, id, name, args) => {
      if (name === 'monitor') return this.addMonitor(session);
      if (this.monitors.size > 0) this.emitMonitor(session, name, args);
      const t0 = performance.now();
      try {
        return execute(session, id, name, args);
      } finally {
        // Only names the engine accepted are recorded, so a peer sending random names cannot grow the table.
        if (engine.counts.has(name)) this.latency.record(name, performance.now() - t0);
      }
    };
    engine.onSessionClose.push((s) => this.monitors.delete(s));
  }

  private addMonitor(session: Session): true {
    this.monitors.add(session);
    return true;
  }

  private emitMonitor(from: Session, command: string, args: unknown[]): void {
    const event: MonitorEvent = { time: Date.now(), client: from.label, command, args };
    for (const m of this.monitors) if (!m.closed) m.push(['monitor', event]);
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
   * Expires keys in small slices: when a slice uses up its time the next one runs on the next loop turn
   * (setImmediate), so I/O is served between slices however many keys expire at once. The budget is time,
   * not a key count, because what one expiry costs varies (watchers, persistence, a loaded machine).
   */
  private sweep(): void {
    this.sweepTimer = null;
    this.sweepImmediate = null;
    const until = performance.now() + SWEEP_SLICE_MS;
    let more = this.engine.sweep(SWEEP_CHUNK);
    while (more && performance.now() < until) more = this.engine.sweep(SWEEP_CHUNK);
    if (more) {
      this.sweepImmediate = setImmediate(() => this.sweep());
      this.sweepImmediate.unref();
      return;
    }
    const next = this.engine.nextExpiry();
    this.scheduleSweep(Math.min(next === undefined ? 1000 : Math.max(next, 1), 1000));
  }

  /**
   * Writes a snapshot now and rewrites the log (what `sharedkv save` asks a daemon to do). Resolves once
   * the snapshot is durable; it holds every write acknowledged before the call.
   *
   * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` when the owner has no `persist`; `ERR_SHAREDKV_IO`
   * when the disk refuses; `ERR_SHAREDKV_CLOSED` once closed.
   */
  save(): Promise<SaveReport> {
    if (!this.persistence) {
      return Promise.reject(
        new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', 'save() needs an owner opened with `persist`'),
      );
    }
    return this.persistence.save();
  }

  /** Stops serving: drops every peer and removes the sockets, then flushes and closes the persistence files. */
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
    await this.persistence?.close();
  }
}
