/**
 * The bench's own redis-server: started on first use, in a fresh temporary directory, listening only on a
 * Unix socket in that directory (`--port 0`: no TCP at all, so it can never collide with the machine's
 * Redis on 6379), persistence off, and killed when the bench exits, however it exits.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { spawnRedis, waitForPing } from '../scripts/redis-process.js';

/** A running private server. */
export interface PrivateRedis {
  /** Path of its Unix socket. */
  readonly socket: string;
  readonly pid: number;
  /** `redis-server --version`, first line. */
  readonly version: string;
  /** Stops it (SIGTERM, then SIGKILL after 2 s) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Why no private Redis can start here (no `redis-server` binary), or `undefined` when one can.
 */
export function redisUnavailable(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    return 'redis-server is not installed (apt-get install redis-server)';
  }
  return undefined;
}

/** The socket lives in the server's own directory: private to it, and gone with it. */
function socketIn(dir: string): string {
  return join(dir, 'redis.sock');
}

/**
 * Starts a private redis-server and resolves once it answers PING on its socket.
 *
 * @throws Error when the binary is missing, or the server exits or stays silent for 10 s.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const missing = redisUnavailable();
  if (missing !== undefined) throw new Error(missing);
  const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
  const server = spawnRedis('sharedkv-bench-redis-', (dir) => [
    '--port',
    '0',
    '--unixsocket',
    socketIn(dir),
    '--unixsocketperm',
    '700',
  ]);
  const socket = socketIn(server.dir);
  await waitForPing(server, { path: socket }, 'the private redis-server');
  return { socket, pid: server.pid, version, stop: server.stop };
}
