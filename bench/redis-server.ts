/**
 * The bench's own redis-server: started on first use, in a fresh temporary directory, listening only on a
 * Unix socket in that directory (`--port 0`: no TCP at all, so it can never collide with the machine's
 * Redis on 6379), persistence off, and killed when the bench exits, however it exits.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

const START_TIMEOUT_MS = 10_000;

const running = new Set<ChildProcess>();
// Whatever ends the bench (an error, process.exit, a signal turned into exit by run.ts) ends the server.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

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

function pings(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path });
    let data = '';
    socket.setTimeout(500, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString();
      if (data.includes('\r\n')) {
        socket.end();
        resolve(data.startsWith('+PONG'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
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
  const dir = mkdtempSync(join(tmpdir(), 'sharedkv-bench-redis-'));
  const socket = join(dir, 'redis.sock');
  const child = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--unixsocket',
      socket,
      '--unixsocketperm',
      '700',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = once(child, 'exit');
  let stopping: Promise<void> | undefined;
  const server: PrivateRedis = {
    socket,
    pid: child.pid ?? -1,
    version,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
          await exited;
          clearTimeout(timer);
        }
        running.delete(child);
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await pings(socket))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await server.stop();
      throw new Error(`the private redis-server did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return server;
}
