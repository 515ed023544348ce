/**
 * Unix domain socket transport: length-prefixed frames over a stream. The owner serves a private socket in
 * a 0700 temporary directory (the socket itself 0600), announced to its workers over IPC with a random
 * token that must arrive on the first frame.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  type Stats,
  statSync,
  unlinkSync,
} from 'node:fs';
import { chmod } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { SharedKVError } from '../errors.js';
import { DEFAULT_MAX_FRAME, FrameReader, frameHeader } from '../protocol/framing.js';
import type { Channel, PeerLink } from './transport.js';

/** Limits of a socket connection. */
export interface SocketLimits {
  /** Largest frame payload accepted, in bytes. @default 64 MiB */
  maxFrame?: number;
  /** Bytes queued to one peer before it is considered stuck and disconnected. @default 256 MiB */
  maxOutput?: number;
}

/** Frames up to this size are copied behind their header and written in one call (one syscall, no writev). */
const COPY_LIMIT = 64 * 1024;

function writeFrame(socket: net.Socket, payload: Buffer): void {
  if (payload.length <= COPY_LIMIT) {
    const buf = Buffer.allocUnsafe(payload.length + 4);
    buf.writeUInt32BE(payload.length, 0);
    buf.set(payload, 4);
    socket.write(buf);
    return;
  }
  socket.cork();
  socket.write(frameHeader(payload.length));
  socket.write(payload);
  process.nextTick(uncork, socket);
}

function uncork(socket: net.Socket): void {
  socket.uncork();
}

/**
 * A failure to read the byte stream as frames. The frame reader raises typed errors itself; anything
 * else it throws (an allocation it could not make, a bug) still becomes `ERR_SHAREDKV_PROTOCOL`, so every
 * error that leaves this transport has a stable code.
 */
function frameError(err: unknown): SharedKVError {
  if (err instanceof SharedKVError) return err;
  return new SharedKVError(
    'ERR_SHAREDKV_PROTOCOL',
    `Cannot read a frame from the stream: ${(err as Error)?.message ?? String(err)}`,
    undefined,
    { cause: err },
  );
}

/** A connection that could not be made or broke, as `ERR_SHAREDKV_DISCONNECTED` with the OS error code. */
function connectionError(path: string, err: unknown, what: string): SharedKVError {
  if (err instanceof SharedKVError) return err;
  const errno = (err as NodeJS.ErrnoException)?.code;
  return new SharedKVError(
    'ERR_SHAREDKV_DISCONNECTED',
    `${what} ${path}: ${(err as Error)?.message ?? String(err)}`,
    errno === undefined ? { path } : { path, errno },
    { cause: err },
  );
}

/** The OS error code (ENOENT, ECONNREFUSED …) behind a dial error, raw or wrapped by {@link connectionError}. */
function errnoOf(err: unknown): string {
  if (err instanceof SharedKVError) return errnoOf(err.cause);
  return (err as NodeJS.ErrnoException | undefined)?.code ?? '';
}

/**
 * Attaches framing to an accepted socket and reports frames and the close to `onFrame`/`onClose`.
 * Returns the link the server writes to.
 */
export function serveSocket(
  socket: net.Socket,
  label: string,
  limits: SocketLimits,
  onFrame: (payload: Buffer) => void,
  onClose: () => void,
  onError: (err: SharedKVError) => void,
): PeerLink {
  const reader = new FrameReader(limits.maxFrame ?? DEFAULT_MAX_FRAME);
  const maxOutput = limits.maxOutput ?? 256 * 1024 * 1024;
  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => {
    let frames: Buffer[];
    try {
      frames = reader.push(chunk);
    } catch (err) {
      onError(frameError(err));
      return;
    }
    for (const f of frames) {
      if (socket.destroyed) return;
      onFrame(f);
    }
  });
  socket.on('error', () => {
    // A peer that dies mid-write shows up as EPIPE/ECONNRESET; 'close' follows and does the cleanup.
  });
  socket.once('close', onClose);
  return {
    label,
    send(payload) {
      if (socket.destroyed || !socket.writable) return;
      if (socket.writableLength > maxOutput) {
        // The peer stopped reading: cut it off rather than buffer without bound.
        socket.destroy();
        return;
      }
      writeFrame(socket, payload);
    },
    close() {
      socket.end();
      socket.destroySoon();
    },
  };
}

/** A private socket path in a fresh 0700 directory, and a function that removes both. */
export function privateSocketPath(): { path: string; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'sharedkv-'));
  return { path: join(dir, 'owner.sock'), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Listens on a Unix socket path and makes the socket file 0600. */
export async function listenUnix(path: string, onSocket: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ noDelay: true }, onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
  return server;
}

/**
 * Connects to a Unix socket and returns a framed {@link Channel} once connected.
 *
 * @throws SharedKVError `ERR_SHAREDKV_DISCONNECTED` when the connection cannot be made, with the OS
 * error code in `data.errno` and the OS error as `cause`. The channel closes with
 * `ERR_SHAREDKV_DISCONNECTED` (connection errors) or `ERR_SHAREDKV_PROTOCOL` (bad frames).
 */
export function dialUnix(path: string, limits: SocketLimits = {}): Promise<Channel> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    const reader = new FrameReader(limits.maxFrame ?? DEFAULT_MAX_FRAME);
    let closed = false;
    const channel: Channel = {
      kind: 'socket',
      send(payload) {
        if (!socket.destroyed) writeFrame(socket, payload);
      },
      close() {
        socket.destroy();
      },
      onFrame: () => {},
      onClose: () => {},
    };
    const fail = (reason: SharedKVError) => {
      if (closed) return;
      closed = true;
      socket.destroy();
      channel.onClose(reason);
    };
    socket.setNoDelay(true);
    const refused = (err: Error) => reject(connectionError(path, err, 'Cannot connect to'));
    socket.once('connect', () => {
      socket.off('error', refused);
      socket.on('error', (err) => fail(connectionError(path, err, 'Lost the connection to')));
      resolve(channel);
    });
    socket.once('error', refused);
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        fail(frameError(err));
        return;
      }
      for (const f of frames) channel.onFrame(f);
    });
    socket.once('close', () => fail(new SharedKVError('ERR_SHAREDKV_DISCONNECTED', 'The owner closed the connection')));
  });
}

/** Errors of a dial that mean "nobody is serving there yet": the socket file is missing or stale. */
const NOT_YET = new Set(['ENOENT', 'ECONNREFUSED', 'EAGAIN']);

/**
 * Dials a Unix socket, trying again while nobody serves it yet (missing or stale socket file), so a client
 * may start before its daemon.
 *
 * @throws SharedKVError `ERR_SHAREDKV_NO_OWNER` when nothing serves `path` within `waitMs`;
 * `ERR_SHAREDKV_DISCONNECTED` at once for other errors (for example `EACCES`: the socket is not ours).
 */
export async function dialUnixUntil(path: string, limits: SocketLimits, waitMs: number): Promise<Channel> {
  const end = performance.now() + waitMs;
  let delay = 10;
  for (;;) {
    try {
      return await dialUnix(path, limits);
    } catch (err) {
      const code = errnoOf(err);
      if (!NOT_YET.has(code)) throw connectionError(path, err, 'Cannot connect to');
      const left = end - performance.now();
      if (left <= 0) {
        throw new SharedKVError(
          'ERR_SHAREDKV_NO_OWNER',
          `Nothing serves the socket ${path} (${code}); start the daemon (\`sharedkv serve --socket ${path}\`), ` +
            'pass autoServe: true to serve it from this process, or raise readyTimeout',
          { path, errno: code, readyTimeout: waitMs },
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(delay, left)));
      delay = Math.min(delay * 2, 100);
    }
  }
}

/** Longest Unix socket path the OS accepts, in bytes (`sun_path` less its terminating NUL). */
export const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

/** A socket path bound by {@link bindUnix}. */
export interface BoundSocket {
  /** Absolute path of the socket file. */
  readonly path: string;
  /** The listening server. */
  readonly server: net.Server;
  /** Removes the socket file, if it is still ours (synchronous, so it can run on process exit). */
  unlink(): void;
}

/**
 * Checks a socket path before binding it.
 *
 * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` when it is not a string or longer than the OS allows.
 */
export function checkSocketPath(path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', `Expected \`socket\` to be a file path, got ${String(path)}`);
  }
  if (path.startsWith('\0')) {
    // Abstract sockets have no file, hence no permissions: anyone on the machine could connect.
    throw new SharedKVError(
      'ERR_SHAREDKV_BAD_ARGUMENT',
      'Abstract-namespace sockets are refused: they have no permissions',
    );
  }
  const full = resolve(path);
  const bytes = Buffer.byteLength(full);
  if (bytes > MAX_SOCKET_PATH) {
    throw new SharedKVError(
      'ERR_SHAREDKV_BAD_ARGUMENT',
      `The socket path ${full} is ${bytes} bytes long; the OS allows at most ${MAX_SOCKET_PATH}. Use a shorter path`,
      { path: full, bytes, limit: MAX_SOCKET_PATH },
    );
  }
  return full;
}

/**
 * Makes sure `dir` exists and only we can enter it: created 0700 when missing; an existing one must be
 * owned by this user and closed to group and others, or it is refused (never chmod-ed behind the user's back).
 *
 * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` for a directory that others can reach or that is not ours.
 */
export function securePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory()) {
    throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', `${dir} is not a directory`, { path: dir });
  }
  if (uid !== undefined && st.uid !== uid) {
    throw new SharedKVError(
      'ERR_SHAREDKV_BAD_ARGUMENT',
      `The socket directory ${dir} belongs to uid ${st.uid}, not to this process (uid ${uid}); use a directory of your own`,
      { path: dir, uid: st.uid },
    );
  }
  if ((st.mode & 0o077) !== 0) {
    throw new SharedKVError(
      'ERR_SHAREDKV_BAD_ARGUMENT',
      `The socket directory ${dir} has mode ${(st.mode & 0o777).toString(8)}; it must be 700 (no access for group and others): chmod 700 ${dir}`,
      { path: dir, mode: st.mode & 0o777 },
    );
  }
}

/** What is at a socket path: a live server, a stale socket file, or nothing. */
function probe(path: string): Promise<'live' | 'stale' | 'gone'> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve('live');
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.destroy();
      if (err.code === 'ECONNREFUSED') resolve('stale');
      else if (err.code === 'ENOENT') resolve('gone');
      // A full backlog: somebody is serving, busily.
      else if (err.code === 'EAGAIN') resolve('live');
      else reject(err);
    });
  });
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/**
 * Removes a stale socket file (left by a process killed with -9) under a lock, so that two processes
 * recovering the same stale file cannot remove the live socket that the first of them has just put there.
 * The lock is a directory (mkdir is atomic); one older than 5 s is from a process that died mid-recovery.
 */
async function removeStale(path: string): Promise<void> {
  const lock = `${path}.lock`;
  const end = performance.now() + 10_000;
  for (;;) {
    try {
      mkdirSync(lock, { mode: 0o700 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = lstatOrNull(lock);
      if (st && Date.now() - st.mtimeMs > 5_000) rmSync(lock, { recursive: true, force: true });
      else if (performance.now() > end) throw err;
      else await new Promise((r) => setTimeout(r, 5));
    }
  }
  try {
    // Only a file that is still a socket and still refuses connections is removed; under the lock nobody
    // else removes it, and nobody can link a live one in its place while it exists.
    const st = lstatOrNull(path);
    if (st?.isSocket() && (await probe(path)) === 'stale') unlinkSync(path);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Binds a Unix socket at `path` exclusively and securely:
 * - the directory is private (see {@link securePrivateDir}), so nobody else can reach the socket at any
 *   moment, whatever its mode;
 * - the server listens on a temporary name in that directory, the file is made 0600, and only then is it
 *   hard-linked to `path`: it is 0600 from the moment it has its name. `link()` fails when `path` exists,
 *   which makes "first to bind wins" atomic between processes (a rename would silently replace);
 * - an existing `path` is probed: a live server is never taken over (`ERR_SHAREDKV_ADDRESS_IN_USE`), a
 *   stale file (connection refused) is removed and the bind tried again; anything that is not a socket
 *   is left alone.
 *
 * @throws SharedKVError `ERR_SHAREDKV_ADDRESS_IN_USE` when a live server holds `path`;
 * `ERR_SHAREDKV_BAD_ARGUMENT` for a bad path or directory, or a path that holds another kind of file.
 */
export async function bindUnix(path: string, onSocket: (s: net.Socket) => void): Promise<BoundSocket> {
  const full = checkSocketPath(path);
  const dir = dirname(full);
  securePrivateDir(dir);
  const temp = join(dir, `.skv-${randomBytes(4).toString('hex')}`);
  checkSocketPath(temp);
  const server = net.createServer({ noDelay: true }, onSocket);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(temp, () => {
      server.off('error', fail);
      ok();
    });
  });
  try {
    chmodSync(temp, 0o600);
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(temp, full);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 20) throw err;
      }
      const st = lstatOrNull(full);
      if (st && !st.isSocket()) {
        throw new SharedKVError(
          'ERR_SHAREDKV_BAD_ARGUMENT',
          `${full} exists and is not a socket; refusing to replace it`,
          { path: full },
        );
      }
      const state = await probe(full);
      if (state === 'live') {
        throw new SharedKVError(
          'ERR_SHAREDKV_ADDRESS_IN_USE',
          `Another sharedkv owner is already serving ${full}; connect to it as a client, or choose another path`,
          { path: full },
        );
      }
      if (state === 'stale') await removeStale(full);
    }
  } catch (err) {
    await new Promise<void>((done) => server.close(() => done()));
    rmSync(temp, { force: true });
    throw err;
  }
  // The server keeps listening on the inode; the temporary name is no longer needed.
  unlinkSync(temp);
  const ino = lstatSync(full).ino;
  return {
    path: full,
    server,
    unlink() {
      // Never remove a socket that another owner has bound at this path since (after we were replaced).
      if (lstatOrNull(full)?.ino === ino) rmSync(full, { force: true });
    },
  };
}
