/**
 * A REAL PM2 cluster (PM2_HOME in a temporary directory, `pm2 kill` after): 4 instances of
 * examples/pm2/app.mjs, each adding 1,000 to a shared counter through the PM2 auto mode, must end at exactly
 * 4,000, read back by the built CLI. Then the daemon recipe of examples/pm2/ecosystem.config.cjs: a
 * `sharedkv serve` PM2 app owning the data, with 4 client instances. (Each pm2 command costs seconds, so
 * the apps are left to `pm2 kill` in after().)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connect, pm2SocketPath } from '../../src/index.js';
import { cleanup, cli, ROOT, socketDir, waitFor } from './helpers.js';

const PM2 = join(ROOT, 'node_modules/pm2/bin/pm2');
const pm2Home = mkdtempSync(join(tmpdir(), 'skv-pm2-'));
// The apps' TMPDIR decides where their default socket lives; XDG_RUNTIME_DIR would take precedence.
const appTmp = socketDir();
const env = { ...process.env, PM2_HOME: pm2Home, TMPDIR: appTmp, XDG_RUNTIME_DIR: '' };

function pm2(args: string[], extra: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PM2, ...args], {
      env: { ...env, ...extra },
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`pm2 ${args.join(' ')}: ${code}\n${out}`)),
    );
  });
}

after(async () => {
  await pm2(['kill']).catch(() => {});
  rmSync(pm2Home, { recursive: true, force: true });
  await cleanup();
});

/** Waits until `instances` reaches `n` on the store behind `socket`. */
async function instancesDone(socket: string, n: number): Promise<void> {
  const kv = await connect({ socket, readyTimeout: 20_000 });
  try {
    await waitFor(async () => (await kv.get('instances')) === n, `${n} instances are done`, 30_000, 50);
  } finally {
    await kv.close();
  }
}

describe('PM2 cluster mode', () => {
  it('4 instances x 1,000 incr through autoServe = exactly 4,000, read back by the CLI', async () => {
    const name = `skv-${process.pid}`;
    await pm2(['start', join(ROOT, 'examples/pm2/app.mjs'), '-i', '4', '--name', name]);
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = appTmp;
    const socket = pm2SocketPath(name);
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    await instancesDone(socket, 4);
    const got = await cli(['get', 'counter', '--socket', socket]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.trim(), '4000');
    // The same socket by app name, as an operator would type it.
    const byName = await cli(['get', 'counter', '--pm2', name], { TMPDIR: appTmp, XDG_RUNTIME_DIR: '' });
    assert.equal(byName.stdout.trim(), '4000');
    const stats = JSON.parse((await cli(['stats', '--socket', socket, '--json'])).stdout) as { clients: number };
    // One instance owns the store; the 3 others and this CLI call are its clients.
    assert.equal(stats.clients, 4);
  });

  it('the daemon recipe of the ecosystem file: a `sharedkv serve` app owns the data, 4 instances are clients', async () => {
    const socket = join(socketDir(), 'daemon.sock');
    const ecosystem = join(ROOT, 'examples/pm2/ecosystem.config.cjs');
    // The ecosystem file reads SHAREDKV_SOCKET when `pm2 start` loads it.
    await pm2(['start', ecosystem, '--only', 'sharedkv-daemon,sharedkv-clients'], { SHAREDKV_SOCKET: socket });
    await instancesDone(socket, 4);
    assert.equal((await cli(['get', 'counter', '--socket', socket])).stdout.trim(), '4000');
    // The daemon owns the data: all 4 instances (and this CLI call) are its clients.
    const stats = JSON.parse((await cli(['stats', '--socket', socket, '--json'])).stdout) as { clients: number };
    assert.equal(stats.clients, 5);
  });
});
