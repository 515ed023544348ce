/**
 * Unix domain socket transport: length-prefixed frames over a stream. The owner serves a private socket in
 * a 0700 temporary directory (the socket itself 0600), announced to its workers over IPC with a random
 * token that must arrive on the first frame.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

function writeFrame(socket: net.Socket, payload: Buffer): void {
  socket.cork();
  socket.write(frameHeader(payload.length));
  socket.write(payload);
  process.nextTick(uncork, socket);
}

function uncork(socket: net.Socket): void {
  socket.uncork();
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
      onError(err as SharedKVError);
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

/** Connects to a Unix socket and returns a framed {@link Channel} once connected. */
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
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', (err) => {
        fail(new SharedKVError('ERR_SHAREDKV_DISCONNECTED', `Connection to the owner failed: ${err.message}`));
      });
      resolve(channel);
    });
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        fail(err as SharedKVError);
        return;
      }
      for (const f of frames) channel.onFrame(f);
    });
    socket.once('close', () => fail(new SharedKVError('ERR_SHAREDKV_DISCONNECTED', 'The owner closed the connection')));
  });
}
