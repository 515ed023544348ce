/**
 * The topology examples, run as a user runs them (`node --import tsx examples/<name>.ts`, importing
 * `sharedkv` from the built package): worker threads, and a daemon with clients in unrelated processes.
 * The PM2 example (examples/pm2/) is exercised by pm2.test.ts under a real PM2.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cleanup, cli, ROOT, socketDir } from './helpers.js';

const running = new Set<ChildProcess>();
after(async () => {
  for (const c of running) c.kill('SIGKILL');
  await cleanup();
});

function start(file: string, args: string[] = []): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', file), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Runs an example to its end and returns its output. */
function run(file: string, args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = start(file, args);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('topology examples', () => {
  it('threads.ts: 4 threads share the main thread store; the counter is exact', async () => {
    const r = await run('threads.ts');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /counter = 4000 \(expected 4000\)/);
    assert.equal(r.stdout.match(/a real Date: true/g)?.length, 4);
  });

  it('daemon-server.ts serves unrelated processes: daemon-client.ts twice, and the CLI', async () => {
    const socket = join(socketDir(), 'example.sock');
    const server = start('daemon-server.ts', [socket]);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
      server.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('serving')) resolve();
      });
    });
    const first = await run('daemon-client.ts', [socket]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /motd "served by a daemon" since .*; visit #1/);
    const second = await run('daemon-client.ts', [socket]);
    assert.match(second.stdout, /visit #2/);
    assert.equal((await cli(['get', 'visits', '--socket', socket])).stdout.trim(), '2');
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    assert.equal(await exited, 0);
    // Without the daemon, the client explains what to do and exits with 3.
    const none = await run('daemon-client.ts', [join(socketDir(), 'none.sock')]);
    assert.equal(none.code, 3);
  });
});
