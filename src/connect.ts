/**
 * `connect()` is the only place that decides which side a process is on: the cluster primary (or a plain
 * process) becomes the owner and serves the others; a cluster worker or a forked child becomes a client.
 * The same application code therefore runs unchanged in a single process, in the primary and in workers.
 */
import { type ChildProcess, type ForkOptions, fork as forkChild } from 'node:child_process';
import cluster from 'node:cluster';
import type { Caller } from './client/caller.js';
import { handshake } from './client/handshake.js';
import { RemoteCaller } from './client/remote.js';
import { KVStore } from './client/store.js';
import { defineProcedure, type Procedure } from './engine/commands/procedures.js';
import { badArgument, describe, SharedKVError } from './errors.js';
import { LocalCaller } from './server/local.js';
import { Server, type ServerOptions } from './server/server.js';
import { processChannel } from './transport/ipc.js';
import { dialUnix } from './transport/socket.js';
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
  /** Stored procedures the owner registers (ignored by clients); see {@link OwnerStore.define}. */
  procedures?: Record<string, Procedure>;
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
}

/** The store as seen by a client. */
export interface ClientStore extends Store {
  readonly isOwner: false;
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
  'maxKeys',
  'maxBytes',
  'maxValueBytes',
  'evictionPolicy',
]);

let ownerServer: { server: Server; refs: number } | null = null;

class OwnerKVStore extends KVStore implements OwnerStore {
  readonly isOwner = true as const;
  constructor(
    caller: Caller,
    private readonly server: Server,
  ) {
    super(caller);
  }
  attach(child: ChildProcess): ChildProcess {
    this.server.serveChild(child);
    return child;
  }
  fork(modulePath: string, args: readonly string[] = [], options?: ForkOptions): ChildProcess {
    return this.attach(forkChild(modulePath, args, options));
  }
  define(name: string, fn: Procedure): void {
    defineProcedure(this.server.engine, name, fn);
  }
}

class ClientKVStore extends KVStore implements ClientStore {
  readonly isOwner = false as const;
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
}

/**
 * Opens the shared store. In the cluster primary (or any process without an IPC parent) this process
 * becomes the owner and serves every worker; in a worker or forked child it connects to the owner.
 * Resolves once the store is ready to serve calls.
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
export async function connect(options: ConnectOptions = {}): Promise<OwnerStore | ClientStore> {
  checkConnectOptions(options);
  const role = options.role ?? 'auto';
  const isClient = role === 'client' || (role === 'auto' && (cluster.isWorker || typeof process.send === 'function'));
  if (!isClient) return openOwner(options);
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
  return new ClientKVStore(caller);
}

function openOwner(options: ConnectOptions): OwnerStore {
  if (!ownerServer) {
    const server = new Server(options);
    server.serveCluster();
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
