/**
 * `serve()`: make this process the owner of a store served on a Unix socket, so that any process on the
 * machine (not only the children of this one) can `connect({ socket })` to it. It is what the
 * `sharedkv serve` daemon runs, and it can run in any process beside its own work: the process also
 * gets the store itself, with no I/O on its own calls.
 */
import { connect, type OwnerStore } from './connect.js';
import type { Procedure } from './engine/commands/procedures.js';
import { badArgument, describe } from './errors.js';
import type { InspectorOptions } from './inspector/index.js';
import type { ServerOptions } from './server/server.js';

/** Options of {@link serve}. */
export interface ServeOptions extends ServerOptions {
  /**
   * Path of the Unix socket to serve. Its directory is created 0700 when missing; an existing directory
   * must belong to this user and be closed to group and others. The socket file is 0600. A stale socket
   * file (left by a process killed with -9) is replaced; a live one never is.
   */
  socket: string;
  /** Secret every client must present on its first frame; compared in constant time. */
  token?: string;
  /** Default per-call timeout in ms of the local store; 0 disables. @default 5000 */
  timeout?: number;
  /** Stored procedures to register; see `OwnerStore.define`. */
  procedures?: Record<string, Procedure>;
  /** Also serve the web inspector on 127.0.0.1 (docs/inspector.md); its URL is printed to stderr. */
  inspector?: InspectorOptions;
}

/** A running socket server. */
export interface ServeHandle {
  /** Absolute path of the socket being served. */
  readonly socket: string;
  /** The store, served locally (calls from this process go straight into the engine). */
  readonly store: OwnerStore;
  /** Stops serving: drops the socket's clients, removes the socket file and closes the local store. */
  close(): Promise<void>;
}

/**
 * Serves a store on a Unix socket. When this process already owns a store (through `connect()`), the
 * socket serves that same store, and the engine options given here are ignored.
 *
 * @throws SharedKVError `ERR_SHAREDKV_ADDRESS_IN_USE` when another live owner serves the path (it is left
 * untouched); `ERR_SHAREDKV_BAD_ARGUMENT` for a path longer than the OS allows, a directory that group or
 * others can reach or that belongs to another user, or a path that holds a file other than a socket.
 * @example
 * import { serve } from 'sharedkv';
 * const daemon = await serve({ socket: '/run/user/1000/myapp/kv.sock' });
 * await daemon.store.set('started', new Date());
 * process.on('SIGTERM', () => daemon.close());
 * // elsewhere, in any process: const kv = await connect({ socket: '/run/user/1000/myapp/kv.sock' });
 */
export async function serve(options: ServeOptions): Promise<ServeHandle> {
  if (options === null || typeof options !== 'object') {
    throw badArgument(`Expected serve() options to be an object, got ${describe(options)}`);
  }
  if (typeof options.socket !== 'string') {
    throw badArgument(`Expected \`socket\` to be a file path, got ${describe(options.socket)}`);
  }
  const store = (await connect({ ...options, role: 'owner' })) as OwnerStore;
  const socket = store.socket;
  if (socket === undefined) throw new Error('unreachable: an owner opened with a socket serves it');
  return { socket, store, close: () => store.close() };
}
