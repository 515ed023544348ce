/**
 * `connect()` is the only place that decides which side a process is on: the cluster primary (or a plain
 * process) becomes the owner and serves the others; a cluster worker or a forked child becomes a client.
 * The same application code therefore runs unchanged in a single process, in the primary and in workers.
 *
 * With a `socket` path the process instead reaches (or, with `autoServe`, becomes) the owner of a Unix
 * socket, whatever its relation to the others: unrelated processes, PM2 instances, a `sharedkv serve`
 * daemon. A worker thread finds the owner through its parent (see transport/thread.ts).
 */
import { type ChildProcess, type ForkOptions, fork as forkChild } from 'node:child_process';
import cluster from 'node:cluster';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, Worker, type WorkerOptions } from 'node:worker_threads';
import type { RedisConnectOptions, RedisStore } from './backends/redis/index.js';
import type { Caller } from './client/caller.js';
import { routerOf } from './client/events.js';
import { handshake } from './client/handshake.js';
import { NearCache, type NearCacheOptions } from './client/near-cache.js';
import { RemoteCaller } from './client/remote.js';
import { KVStore } from './client/store.js';
import { defineProcedure, type Procedure } from './engine/commands/procedures.js';
import { badArgument, describe, SharedKVError } from './errors.js';
import type { Inspector, InspectorOptions } from './inspector/index.js';
import { LocalCaller } from './server/local.js';
import { Server, type ServerOptions } from './server/server.js';
import { processChannel } from './transport/ipc.js';
import { type BoundSocket, bindUnix, checkSocketPath, dialUnix, dialUnixUntil } from './transport/socket.js';
import {
  acceptThreads,
  inThread,
  portChannel,
  shareWithThreads,
  threadEnvironment,
  threadHandshake,
} from './transport/thread.js';
import type { Channel } from './transport/transport.js';
import type { Store } from './types.js';

/** Options of {@link connect}. */
export interface ConnectOptions extends ServerOptions {
  /**
   * Which side this process takes. `auto` makes a cluster worker or a forked child (a process with an IPC
   * channel) a client and any other process the owner.
   * @default 'auto'
   */
  role?: 'auto' | 'owner' | 'client';
  /**
   * Data path of a cluster/fork client: the owner's private Unix socket (announced over IPC, the faster
   * path, see the README's performance table), or the IPC channel itself.
   * @default 'socket'
   */
  channel?: 'socket' | 'ipc';
  /** Default per-call timeout in ms; 0 disables. @default 5000 */
  timeout?: number;
  /** How long a client waits for the owner to answer the handshake, in ms. @default 10000 */
  readyTimeout?: number;
  /** Most calls in flight before new ones reject with `ERR_SHAREDKV_BACKPRESSURE`. @default 100000 */
  maxPending?: number;
  /**
   * Keep values this client reads in its own process; the owner invalidates them on every change, so a
   * read never returns a value older than an acknowledged write. Clients only; `true` for the defaults.
   */
  nearCache?: boolean | NearCacheOptions;
  /** Stored procedures the owner registers (ignored by clients); see {@link OwnerStore.define}. */
  procedures?: Record<string, Procedure>;
  /**
   * Path of a Unix socket to reach the owner through (a `sharedkv serve` daemon, `serve()` in another
   * process, or the first of several processes started with `autoServe`). With `role: 'owner'` this
   * process serves it. Under PM2 it defaults to {@link pm2SocketPath}.
   */
  socket?: string;
  /** Secret that socket clients must present on their first frame (compared in constant time). */
  token?: string;
  /**
   * With `socket`: the first process to bind the socket becomes the owner and serves it, the others
   * connect to it. Two processes starting at once end with exactly one owner. Defaults to `true` under
   * PM2 (when `process.env.pm_id` is set and no `socket` is given), `false` otherwise.
   * @default false
   */
  autoServe?: boolean;
  /**
   * Owner only: also serve the web inspector on 127.0.0.1 until the store closes (docs/inspector.md); its
   * URL, token included, is printed to stderr.
   * @example
   * connect({ inspector: { port: 7380 } })
   */
  inspector?: InspectorOptions;
}

/** The store as seen by the owner: it can also serve children it forks. */
export interface OwnerStore extends Store {
  /** True in the owner. */
  readonly isOwner: true;
  /** Serves a child created with `child_process.fork` (it calls `connect()` on its side). */
  attach(child: ChildProcess): ChildProcess;
  /** Forks a child with `child_process.fork` and serves it. */
  fork(modulePath: string, args?: readonly string[], options?: ForkOptions): ChildProcess;
  /**
   * Registers (or replaces) a stored procedure that every process can run atomically with `kv.call()`.
   * @example
   * kv.define('transfer', (tx, from, to, n) => {
   *   if ((tx.get<number>(from) ?? 0) < n) throw new Error('insufficient funds');
   *   tx.decr(from, n); tx.incr(to, n);
   * });
   */
  define(name: string, fn: Procedure): void;
  /**
   * Serves a worker thread created by this process: the thread's `connect()` gets a private MessagePort
   * to this owner. Returns the worker.
   */
  attachThread(worker: Worker): Worker;
  /** Creates a worker thread (`new Worker(filename, options)`) and serves it; see {@link attachThread}. */
  thread(filename: string | URL, options?: WorkerOptions): Worker;
  /** Absolute path of the Unix socket this store serves, if it serves one. */
  readonly socket: string | undefined;
  /**
   * Writes a snapshot of the store now and rewrites the log (needs `persist`). Resolves once the snapshot
   * is durable; it holds every write acknowledged before the call.
   *
   * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` without `persist`; `ERR_SHAREDKV_IO` when the disk
   * refuses.
   * @example
   * const kv = await connect({ role: 'owner', persist: { dir: './data' } });
   * await kv.save();
   */
  save(): Promise<void>;
  /**
   * Serves the web inspector of this store on a loopback address until the store closes (docs/inspector.md).
   *
   * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` for a non-loopback host; `ERR_SHAREDKV_ADDRESS_IN_USE`
   * when the port is taken.
   * @example
   * const inspector = await kv.inspect({ port: 7380 });
   * console.log(inspector.url);
   */
  inspect(options?: InspectorOptions): Promise<Inspector>;
}

/** The store as seen by a client. */
export interface ClientStore extends Store {
  readonly isOwner: false;
  /**
   * Lets a worker thread created by this process reach the owner: its `connect()` is told the owner's
   * socket and connects to it directly. Threads created after `connect()` resolved need no call: they
   * inherit the socket through their environment data. Returns the worker.
   *
   * The thread's connect fails with `ERR_SHAREDKV_DISCONNECTED` when this process reaches the owner over
   * process IPC (`channel: 'ipc'`) or a MessagePort: there is no socket to hand on.
   */
  attachThread(worker: Worker): Worker;
}

const OPTION_NAMES = new Set([
  'role',
  'channel',
  'timeout',
  'readyTimeout',
  'maxPending',
  'now',
  'maxFrame',
  'maxOutput',
  'procedures',
  'socket',
  'token',
  'autoServe',
  'maxKeys',
  'maxBytes',
  'maxValueBytes',
  'evictionPolicy',
  'persist',
  'inspector',
  'nearCache',
]);

let ownerServer: { server: Server; refs: number } | null = null;

class OwnerKVStore extends KVStore implements OwnerStore {
  readonly isOwner = true as const;
  socket: string | undefined;
  private readonly closers: Array<() => Promise<void>> = [];
  constructor(
    caller: Caller,
    private readonly server: Server,
  ) {
    super(caller);
  }
  attachThread(worker: Worker): Worker {
    this.server.serveThread(worker);
    return worker;
  }
  thread(filename: string | URL, options?: WorkerOptions): Worker {
    return this.attachThread(new Worker(filename, options));
  }
  /** Binds `path` (see bindUnix) and serves it until this store closes. */
  async serveSocket(path: string, token: string | undefined): Promise<void> {
    const conns = new Set<{ link: { close(): void }; gone(): void }>();
    const bound: BoundSocket = await bindUnix(path, (socket) => {
      const conn = this.server.acceptSocket(socket, token);
      conns.add(conn);
      socket.once('close', () => conns.delete(conn));
    });
    const onExit = () => bound.unlink();
    process.once('exit', onExit);
    const stop = this.server.adopt(bound.server, () => {
      bound.unlink();
      process.off('exit', onExit);
    });
    this.closers.push(async () => {
      const closing = stop();
      // server.close() waits for open connections: drop this socket's peers so it can finish.
      for (const conn of conns) {
        conn.link.close();
        conn.gone();
      }
      await closing;
    });
    this.socket = bound.path;
    shareWithThreads(bound.path, token);
  }
  override async close(): Promise<void> {
    const closers = this.closers.splice(0);
    for (const c of closers) await c();
    await super.close();
  }
  attach(child: ChildProcess): ChildProcess {
    this.server.serveChild(child);
    return child;
  }
  fork(modulePath: string, args: readonly string[] = [], options?: ForkOptions): ChildProcess {
    return this.attach(forkChild(modulePath, args, options));
  }
  async save(): Promise<void> {
    await this.server.save();
  }
  async inspect(options: InspectorOptions = {}): Promise<Inspector> {
    // Loaded on demand: a process that never inspects loads neither the page nor node:http.
    const { startInspector } = await import('./inspector/index.js');
    const inspector = await startInspector(this.server, options);
    this.closers.push(() => inspector.close());
    return inspector;
  }
  define(name: string, fn: Procedure): void {
    defineProcedure(this.server.engine, name, fn);
  }
}

/** Builds a client store, with its near cache when asked for. */
function clientStore(
  options: ConnectOptions,
  caller: RemoteCaller,
  share: { socket: string; token: string | undefined } | undefined,
): ClientKVStore {
  if (options.nearCache) {
    const o = options.nearCache === true ? {} : options.nearCache;
    if (o === null || typeof o !== 'object') {
      throw badArgument(`Expected \`nearCache\` to be true or { maxKeys, maxBytes, frozen }, got ${describe(o)}`);
    }
    caller.near = new NearCache(o);
    // The router receives the owner's invalidations.
    routerOf(caller);
  }
  return new ClientKVStore(caller, share);
}

class ClientKVStore extends KVStore implements ClientStore {
  readonly isOwner = false as const;
  private readonly detach: Array<() => void> = [];
  constructor(
    caller: Caller,
    /** The owner's socket and token, to hand on to threads; undefined when this client has no socket. */
    private readonly share: { socket: string; token: string | undefined } | undefined,
  ) {
    super(caller);
  }
  attachThread(worker: Worker): Worker {
    this.detach.push(
      acceptThreads(worker, () => {
        if (this.share) return { socket: this.share.socket, token: this.share.token };
        throw new SharedKVError(
          'ERR_SHAREDKV_DISCONNECTED',
          "This process reaches the owner without a socket (channel 'ipc' or a MessagePort), so it has none to " +
            "hand on to its threads; connect it with channel 'socket' (the default)",
        );
      }),
    );
    return worker;
  }
  override async close(): Promise<void> {
    for (const d of this.detach.splice(0)) d();
    await super.close();
  }
}

function checkConnectOptions(options: ConnectOptions): void {
  if (options === null || typeof options !== 'object') {
    throw badArgument(`Expected connect() options to be an object, got ${describe(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) {
      throw badArgument(`Unknown option \`${name}\` for connect(); expected one of: ${[...OPTION_NAMES].join(', ')}`);
    }
  }
  if (options.role !== undefined && !['auto', 'owner', 'client'].includes(options.role)) {
    throw badArgument(`Expected \`role\` to be 'auto', 'owner' or 'client', got ${describe(options.role)}`);
  }
  if (options.channel !== undefined && !['socket', 'ipc'].includes(options.channel)) {
    throw badArgument(`Expected \`channel\` to be 'socket' or 'ipc', got ${describe(options.channel)}`);
  }
  if (options.socket !== undefined) checkSocketPath(options.socket);
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length === 0)) {
    throw badArgument(`Expected \`token\` to be a non-empty string, got ${describe(options.token)}`);
  }
  if (options.autoServe !== undefined && typeof options.autoServe !== 'boolean') {
    throw badArgument(`Expected \`autoServe\` to be a boolean, got ${describe(options.autoServe)}`);
  }
  if (options.autoServe === true && options.socket === undefined && !underPm2()) {
    throw badArgument('`autoServe` needs a `socket` path (under PM2 one is derived from the app name)');
  }
}

/** True when PM2 runs this process (it sets `pm_id` in every app's environment). */
function underPm2(): boolean {
  return process.env.pm_id !== undefined;
}

/**
 * The socket path PM2 instances of one app share by default: `<dir>/pm2-<app name>.sock`, where `<dir>` is
 * `$XDG_RUNTIME_DIR/sharedkv` when that is set, else `<os tmpdir>/sharedkv-<uid>`, created 0700. The app
 * name comes from PM2 (`process.env.name`); other tools (`sharedkv get --pm2 NAME`) compute the same path.
 *
 * @example
 * pm2SocketPath('api') // '/run/user/1000/sharedkv/pm2-api.sock'
 */
export function pm2SocketPath(appName: string = process.env.name ?? 'app'): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  const dir = runtime ? join(runtime, 'sharedkv') : join(tmpdir(), `sharedkv-${process.getuid?.() ?? 'user'}`);
  // A name is reduced to safe characters and cut so the path stays within the OS limit.
  const safe = appName.replace(/[^\w.-]/g, '_').slice(0, 48) || 'app';
  return join(dir, `pm2-${safe}.sock`);
}

function isCode(err: unknown, code: string): boolean {
  return err instanceof SharedKVError && err.code === code;
}

/** A client of the owner serving `path`, reconnecting when the connection drops. */
async function socketClient(
  path: string,
  token: string | undefined,
  options: ConnectOptions,
  waitMs: number,
): Promise<ClientStore> {
  const limits = options.maxFrame === undefined ? {} : { maxFrame: options.maxFrame };
  const caller = new RemoteCaller(dialUnixUntil(path, limits, waitMs), {
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(options.maxPending === undefined ? {} : { maxPending: options.maxPending }),
    hello: { token },
    redial: () => dialUnix(path, limits),
  });
  await caller.ready();
  shareWithThreads(path, token);
  return clientStore(options, caller, { socket: path, token });
}

/** Makes this process the owner and serves `path`. */
async function ownerOnSocket(path: string, options: ConnectOptions): Promise<OwnerStore> {
  const store = openOwner(options);
  try {
    await store.serveSocket(path, options.token);
    if (options.inspector) await store.inspect(options.inspector);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/**
 * Socket topologies. With `autoServe`, each round tries to connect (no waiting) and, when nobody serves,
 * to bind: the bind is atomic (see bindUnix), so of several processes racing exactly one becomes the owner
 * and the others' binds fail with ADDRESS_IN_USE, after which their next dial finds the winner.
 */
async function connectSocket(
  path: string,
  options: ConnectOptions,
  autoServe: boolean,
): Promise<OwnerStore | ClientStore> {
  const wait = options.readyTimeout ?? 10_000;
  if (options.role === 'owner') return ownerOnSocket(path, options);
  if (!autoServe || options.role === 'client') return socketClient(path, options.token, options, wait);
  const end = performance.now() + wait;
  for (;;) {
    try {
      return await socketClient(path, options.token, options, 0);
    } catch (err) {
      if (!isCode(err, 'ERR_SHAREDKV_NO_OWNER')) throw err;
    }
    try {
      return await ownerOnSocket(path, options);
    } catch (err) {
      if (!isCode(err, 'ERR_SHAREDKV_ADDRESS_IN_USE') || performance.now() > end) throw err;
    }
  }
}

/**
 * A worker thread: through the socket its parent process left in the environment data, or by asking the
 * parent thread (a MessagePort from an owner, a socket from a client).
 */
async function connectThread(options: ConnectOptions): Promise<ClientStore> {
  const wait = options.readyTimeout ?? 10_000;
  const env = threadEnvironment();
  if (env) return socketClient(env.socket, env.token, options, wait);
  const welcome = await threadHandshake(wait);
  if (welcome.socket !== undefined) return socketClient(welcome.socket, welcome.token, options, wait);
  if (!welcome.port) throw new SharedKVError('ERR_SHAREDKV_PROTOCOL', "The thread's parent sent an empty welcome");
  const caller = new RemoteCaller(Promise.resolve(portChannel(welcome.port)), {
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(options.maxPending === undefined ? {} : { maxPending: options.maxPending }),
  });
  await caller.ready();
  return clientStore(options, caller, undefined);
}

/**
 * Opens the shared store. In the cluster primary (or any process without an IPC parent) this process
 * becomes the owner and serves every worker; in a worker or forked child it connects to the owner.
 * Resolves once the store is ready to serve calls. With `{ redis }`, every process instead opens the same
 * Store API on Redis or Valkey (ioredis must be installed; see docs/redis.md).
 *
 * @throws SharedKVError `ERR_SHAREDKV_NO_OWNER` when a client gets no answer within `readyTimeout`;
 * `ERR_SHAREDKV_BAD_ARGUMENT` for unknown options.
 * @example
 * import cluster from 'node:cluster';
 * import { connect } from 'sharedkv';
 * const kv = await connect();
 * if (cluster.isPrimary) cluster.fork();
 * else console.log(await kv.incr('hits'));
 */
export function connect(options: RedisConnectOptions): Promise<RedisStore>;
export function connect(options?: ConnectOptions): Promise<OwnerStore | ClientStore>;
export async function connect(
  options: ConnectOptions | RedisConnectOptions = {},
): Promise<OwnerStore | ClientStore | RedisStore> {
  if (isRedisOptions(options)) return connectToRedis(options);
  checkConnectOptions(options);
  const role = options.role ?? 'auto';
  // Under PM2 the cluster primary is PM2's own daemon, which runs no app code: the instances share a socket.
  const pm2 = role === 'auto' && options.socket === undefined && isMainThread && underPm2();
  const socket = options.socket ?? (pm2 ? pm2SocketPath() : undefined);
  if (socket !== undefined) return connectSocket(socket, options, options.autoServe ?? pm2);
  if (role === 'auto' && inThread()) return connectThread(options);
  const isClient = role === 'client' || (role === 'auto' && (cluster.isWorker || typeof process.send === 'function'));
  if (!isClient) {
    const owner = openOwner(options);
    if (options.inspector) {
      try {
        await owner.inspect(options.inspector);
      } catch (err) {
        await owner.close();
        throw err;
      }
    }
    return owner;
  }
  const channel = options.channel ?? 'socket';
  const welcome = await handshake(channel, options.readyTimeout ?? 10_000);
  let open: Promise<Channel>;
  if (channel === 'socket') {
    if (typeof welcome.socket !== 'string')
      throw new SharedKVError('ERR_SHAREDKV_PROTOCOL', 'The owner announced no socket');
    open = dialUnix(welcome.socket, options);
  } else {
    open = Promise.resolve(processChannel());
  }
  const caller = new RemoteCaller(open, {
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(options.maxPending === undefined ? {} : { maxPending: options.maxPending }),
    ...(channel === 'socket' ? { hello: { token: welcome.token } } : {}),
  });
  await caller.ready();
  if (channel === 'socket' && typeof welcome.socket === 'string') {
    // Threads this process creates from now on reach the owner directly, with the same socket and token.
    shareWithThreads(welcome.socket, welcome.token);
    return clientStore(options, caller, { socket: welcome.socket, token: welcome.token });
  }
  return clientStore(options, caller, undefined);
}

/** True for the options of the Redis backend (`{ redis: ... }`). */
function isRedisOptions(options: unknown): options is RedisConnectOptions {
  return options !== null && typeof options === 'object' && (options as { redis?: unknown }).redis !== undefined;
}

/** Opens the Redis backend, loaded on demand so that ioredis stays an optional peer dependency. */
async function connectToRedis(options: RedisConnectOptions): Promise<RedisStore> {
  let redis: typeof import('./backends/redis/index.js');
  try {
    redis = await import('./backends/redis/index.js');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String(err).includes('ioredis')) {
      throw badArgument('connect({ redis }) needs the optional peer dependency ioredis: npm install ioredis');
    }
    throw err;
  }
  return redis.connectRedis(options);
}

function openOwner(options: ConnectOptions): OwnerKVStore {
  if (!ownerServer) {
    const server = new Server(options);
    server.serveCluster();
    server.serveThreads();
    ownerServer = { server, refs: 0 };
  }
  const entry = ownerServer;
  entry.refs++;
  for (const [name, fn] of Object.entries(options.procedures ?? {})) defineProcedure(entry.server.engine, name, fn);
  const local = new LocalCaller(entry.server, options.timeout);
  let closed = false;
  const caller: Caller = {
    get onPush() {
      return local.onPush;
    },
    set onPush(fn) {
      local.onPush = fn;
    },
    call: (n, a, o) => local.call(n, a, o),
    ready: () => local.ready(),
    get pending() {
      return local.pending;
    },
    async close() {
      // Closing one store twice must not count twice: the server is shared by every owner store.
      if (closed) return;
      closed = true;
      await local.close();
      if (--entry.refs === 0) {
        if (ownerServer === entry) ownerServer = null;
        await entry.server.close();
      }
    },
  };
  return new OwnerKVStore(caller, entry.server);
}
