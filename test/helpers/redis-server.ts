/**
 * Private `redis-server` processes for the Redis backend tests: each lives in its own temporary directory
 * on its own loopback port, with persistence off, and is stopped by pid in the test's `after()`. The
 * machine's shared Redis (127.0.0.1:6379) is never used.
 *
 * Without the binary the tests skip with a printed reason, unless `SHAREDKV_REQUIRE_REDIS=1` (set by
 * `.ci/run`) turns the missing binary into a failure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { spawnRedis, waitForPing } from '../../scripts/redis-process.js';

/** A running private server. */
export interface RedisServer {
  readonly port: number;
  readonly pid: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** A running private cluster of masters (no replicas). */
export interface RedisClusterServers {
  readonly nodes: RedisServer[];
  /** `{ host, port }` of every master, for `new Cluster(...)`. */
  readonly startup: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

let probed: string | null | undefined;

/**
 * Why the Redis tests cannot run here (no `redis-server` binary), or `undefined` when they can.
 *
 * @throws Error when the binary is missing and `SHAREDKV_REQUIRE_REDIS=1`.
 */
export function redisSkipReason(): string | undefined {
  if (probed === undefined) {
    const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    const cli = spawnSync('redis-cli', ['--version'], { encoding: 'utf8' });
    probed =
      r.error || r.status !== 0
        ? 'redis-server is not installed (apt-get install redis-server)'
        : cli.error || cli.status !== 0
          ? 'redis-cli is not installed (apt-get install redis-tools)'
          : null;
  }
  if (probed === null) return undefined;
  if (process.env.SHAREDKV_REQUIRE_REDIS === '1') {
    throw new Error(`SHAREDKV_REQUIRE_REDIS=1 but ${probed}`);
  }
  console.log(`# skipping Redis tests: ${probed}`);
  return probed;
}

/** A loopback port that is free now, and whose cluster bus port (+10000) is free too when asked. */
async function freePort(withBus = false): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    // Stay clear of the machine's own Redis and keep room for the bus port.
    if (port === 6379 || port + 10_000 > 65_535) continue;
    if (!withBus || (await isFree(port + 10_000))) return port;
  }
  throw new Error('no free loopback port found');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Options of {@link startRedis}. */
export interface StartOptions {
  /** Also keep port + 10000 free (the cluster bus). */
  bus?: boolean;
  /** Use this port (to restart a server where a stopped one was) instead of a free one. */
  port?: number;
}

/** Starts one private server; extra `args` are passed to `redis-server` (e.g. cluster mode). */
export async function startRedis(args: string[] = [], options: StartOptions = {}): Promise<RedisServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < (options.port === undefined ? 5 : 1); attempt++) {
    const port = options.port ?? (await freePort(options.bus));
    const server = spawnRedis('sharedkv-redis-', () => ['--port', String(port), '--bind', '127.0.0.1', ...args]);
    try {
      await waitForPing(server, { host: '127.0.0.1', port }, `redis-server on port ${port}`);
      return { port, pid: server.pid, url: `redis://127.0.0.1:${port}`, stop: server.stop };
    } catch (err) {
      // Another process may have taken the port between freePort() and the server's bind: try another.
      lastError = err;
    }
  }
  throw lastError;
}

/** Runs `redis-cli` with `args` and resolves with its output; rejects on a non-zero exit. */
async function cli(args: string[]): Promise<string> {
  const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`redis-cli ${args.join(' ')} exited with ${code}: ${out}`);
  return out;
}

/**
 * Starts `n` cluster-enabled servers and joins them into one cluster of `n` masters with
 * `redis-cli --cluster create`, then waits until every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(n = 3): Promise<RedisClusterServers> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < n; i++) {
      nodes.push(
        await startRedis(
          ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
          { bus: true },
        ),
      );
    }
    await cli([
      '--cluster',
      'create',
      ...nodes.map((s) => `127.0.0.1:${s.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const end = Date.now() + 20_000;
    for (const s of nodes) {
      for (;;) {
        const info = await cli(['-p', String(s.port), 'cluster', 'info']);
        if (info.includes('cluster_state:ok')) break;
        if (Date.now() > end) throw new Error(`cluster did not become ready: ${info}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, startup: nodes.map((s) => ({ host: '127.0.0.1', port: s.port })), stop };
}
