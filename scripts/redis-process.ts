/**
 * A private `redis-server` child process: the part the bench's server (bench/redis-server.ts) and the
 * tests' servers (test/helpers/redis-server.ts) share. Each server gets its own temporary directory and
 * no persistence, so nothing of it outlives the run, and the machine's own Redis is never touched.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where a server answers PING: a TCP address or a Unix socket. */
export type RedisAddress = { readonly host: string; readonly port: number } | { readonly path: string };

/** A spawned `redis-server`, not necessarily ready yet (see {@link waitForPing}). */
export interface RedisProcess {
  readonly pid: number;
  /** Its temporary directory, where a caller can put a Unix socket: removed by `stop()`. */
  readonly dir: string;
  /** Its last ~4,000 characters of stdout and stderr: what a failed start is explained by. */
  output(): string;
  /** Whether it has exited or been killed, so that a wait for it can end early. */
  exited(): boolean;
  /** Stops it (SIGTERM, then SIGKILL after 2 s) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const OUTPUT_CHARS = 4_000;
const KILL_AFTER_MS = 2_000;
const START_TIMEOUT_MS = 10_000;
const POLL_MS = 20;

const running = new Set<ChildProcess>();
// Whatever ends the process (an error, process.exit, a signal turned into exit, a test process dying
// without its after() hooks) must not leave servers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function terminate(child: ChildProcess, exit: Promise<unknown>, dir: string): Promise<void> {
  if (!hasExited(child)) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    await exit;
    clearTimeout(timer);
  }
  running.delete(child);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Spawns `redis-server` in a fresh temporary directory (`prefix` names it), persistence off, with the
 * arguments `args` returns for that directory (where to listen, cluster mode): they get the directory
 * because a Unix socket has to be inside it before the server starts.
 */
export function spawnRedis(prefix: string, args: (dir: string) => readonly string[]): RedisProcess {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const base = ['--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
  const child = spawn('redis-server', [...base, ...args(dir)], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // Listened for now: the exit may come before anyone stops it.
  const exit = once(child, 'exit');
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid ?? -1,
    dir,
    output: () => output,
    exited: () => hasExited(child),
    stop: () => (stopping ??= terminate(child, exit, dir)),
  };
}

function pings(address: RedisAddress): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(address);
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

async function pollPing(server: RedisProcess, address: RedisAddress): Promise<void> {
  const end = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < end) {
    if (server.exited()) throw new Error('the process exited');
    if (await pings(address)) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error('no answer to PING within 10 s');
}

/**
 * Resolves once `server` answers PING at `address`. A server that will not answer is of no use to anyone,
 * so on failure it is stopped before the rejection.
 *
 * @throws Error `<name> did not start: <why>` and the server's output, when it exits first or stays
 * silent for 10 s.
 */
export async function waitForPing(server: RedisProcess, address: RedisAddress, name: string): Promise<void> {
  try {
    await pollPing(server, address);
  } catch (err) {
    // The output as it was when the start failed, not the server's own shutdown lines after.
    const error = new Error(`${name} did not start: ${(err as Error).message}\n${server.output()}`);
    await server.stop();
    throw error;
  }
}
