/**
 * The integration examples run as a user runs them (`node --import tsx examples/<name>.ts`), with real
 * cluster workers, importing `sharedkv/*` through the package's exports (so `dist/` must be built; `npm
 * test` does that first). Each is hit over HTTP with fetch, checked, and killed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const running = new Set<ChildProcess>();

after(async () => {
  // Killing a primary ends its cluster workers too: they exit when their IPC channel closes.
  await Promise.all(
    [...running].map((c) => {
      const closed = once(c, 'close');
      c.kill('SIGKILL');
      return closed;
    }),
  );
});

/** Starts an example; resolves once its stdout matches `ready`, with a way to read all of its output. */
async function start(file: string, env: Record<string, string>, ready: RegExp): Promise<{ output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('close', () => running.delete(child));
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start:\n${out}`)), 60_000);
    child.stdout.on('data', (d: string) => {
      out += d;
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`${file} exited early:\n${out}`));
    });
  });
  return { output: () => out };
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

describe('integration examples', () => {
  it('express-app: a shared rate limit, sessions and cluster metrics', async () => {
    const port = await freePort();
    await start('examples/express-app.ts', { PORT: String(port), WORKERS: '2' }, /listening on/);
    const base = `http://127.0.0.1:${port}`;
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await fetch(`${base}/api`)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    const login = await fetch(`${base}/login?user=ada`);
    // express-session sends the headers before its store has saved the session and holds back the last
    // byte of the body until it has: read the whole body before the next request relies on the session.
    await login.text();
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const me = (await (await fetch(`${base}/me`, { headers: { cookie } })).json()) as { user: unknown };
    assert.equal(me.user, 'ada', JSON.stringify({ cookie, me, login: login.status }));
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^sharedkv_commands_total\{command="incr"\} 7$/m);
    assert.match(metrics, /^sharedkv_clients 2$/m);
  });

  it('fastify-app: a shared rate limit and sessions', async () => {
    const port = await freePort();
    await start('examples/fastify-app.ts', { PORT: String(port), WORKERS: '2' }, /listening on/);
    const base = `http://127.0.0.1:${port}`;
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${base}/api`)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
    const first = await fetch(`${base}/visit`);
    // The whole response, so the session save it waits for is done (see above).
    const firstBody = JSON.parse(await first.text()) as { visits: number };
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    assert.equal(firstBody.visits, 1);
    const second = (await (await fetch(`${base}/visit`, { headers: { cookie } })).json()) as { visits: number };
    assert.equal(second.visits, 2);
  });

  it('cache-manager: 4 workers miss one key together and the loader runs once', async () => {
    const run = await start('examples/cache-manager.ts', { WORKERS: '4' }, /loader runs: \d+/);
    assert.match(run.output(), /loader runs: 1\n/);
    assert.equal(run.output().match(/worker \d+: (loaded|got) \{"total":42/g)?.length, 4);
  });
});
