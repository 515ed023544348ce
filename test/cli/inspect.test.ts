/**
 * `sharedkv inspect` as a real process next to a real daemon (`sharedkv serve`): it prints a URL that
 * serves the inspector of that daemon with the token (200) and refuses requests without it (401), stops on
 * SIGINT with 0, and exits with the documented codes when it cannot start (2 usage, 3 cannot connect).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, cleanup, cli, type Daemon, daemon, socketDir, waitFor } from '../topology/helpers.js';

const TOKEN = 'cli-inspect-token';
let d: Daemon;
let socket: string;
const children = new Set<ChildProcess>();

/** Starts `sharedkv inspect` and resolves with the child and its `listening` event, once printed. */
async function startInspect(args: string[]): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(process.execPath, [CLI, 'inspect', '--socket', socket, '--json', ...args], {
    env: { ...process.env, SHAREDKV_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`inspect exited with ${child.exitCode}: ${stdout}${stderr}`);
      return stdout.includes('\n');
    },
    'sharedkv inspect prints its URL',
    20_000,
  );
  return { child, ready: JSON.parse(stdout.split('\n')[0]!) as Record<string, unknown> };
}

before(async () => {
  socket = join(socketDir(), 'kv.sock');
  d = await daemon(socket, ['--token', TOKEN]);
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await d?.stop();
  await cleanup();
});

describe('sharedkv inspect', () => {
  it('serves the daemon inspector at the printed URL: 200 with the token, 401 without; SIGINT stops it with 0', {
    timeout: 60_000,
  }, async () => {
    assert.equal((await cli(['set', 'seen:by-inspector', '{"n":1}', '--socket', socket, '--token', TOKEN])).code, 0);
    const { child, ready } = await startInspect([]);
    assert.equal(ready.event, 'listening');
    const url = new URL(String(ready.url));
    assert.equal(url.hostname, '127.0.0.1');
    const token = url.searchParams.get('token');
    assert.ok(token && token.length >= 16, 'the URL carries a token');

    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    await page.text();
    const bare = await fetch(`${url.origin}/`);
    assert.equal(bare.status, 401);
    assert.equal(((await bare.json()) as { error: { code: string } }).error.code, 'ERR_SHAREDKV_AUTH');
    assert.equal((await fetch(`${url.origin}/api/keys?token=wrong-token-wrong-token`)).status, 401);

    // It inspects the daemon: its kind is a socket owner and it lists the key the CLI wrote there.
    const info = (await (await fetch(`${url.origin}/api/info?token=${token}`)).json()) as Record<string, unknown>;
    assert.equal(info.kind, 'socket');
    assert.equal(info.readonly, false);
    const keys = (await (await fetch(`${url.origin}/api/keys?match=seen:*&token=${token}`)).json()) as {
      items: Array<{ key: string }>;
    };
    assert.deepEqual(
      keys.items.map((i) => i.key),
      ['seen:by-inspector'],
    );

    const exited = once(child, 'exit');
    child.kill('SIGINT');
    assert.deepEqual(await exited, [0, null]);
    // Stopped means stopped: the port no longer answers.
    await assert.rejects(fetch(url));
  });

  it('--readonly and --port are passed on', { timeout: 60_000 }, async () => {
    const { child, ready } = await startInspect(['--readonly']);
    const url = new URL(String(ready.url));
    const info = (await (await fetch(`${url.origin}/api/info?token=${url.searchParams.get('token')}`)).json()) as {
      readonly: boolean;
    };
    assert.equal(info.readonly, true);
    // A second inspector on the port the first one holds cannot listen: exit 1, ERR_SHAREDKV_ADDRESS_IN_USE.
    const taken = await cli(['inspect', '--socket', socket, '--port', String(ready.port), '--json'], {
      SHAREDKV_TOKEN: TOKEN,
    });
    assert.equal(taken.code, 1);
    assert.equal(JSON.parse(taken.stderr.split('\n')[0]!).error.code, 'ERR_SHAREDKV_ADDRESS_IN_USE');
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
  });

  it('exits with 3 when it cannot reach the owner or the token is wrong, with 2 on bad options', async () => {
    const none = await cli(['inspect', '--socket', join(socketDir(), 'none.sock'), '--json']);
    assert.equal(none.code, 3);
    assert.equal(JSON.parse(none.stderr.split('\n')[0]!).error.code, 'ERR_SHAREDKV_NO_OWNER');
    const wrong = await cli(['inspect', '--socket', socket, '--token', 'nope', '--json']);
    assert.equal(wrong.code, 3);
    assert.equal(JSON.parse(wrong.stderr.split('\n')[0]!).error.code, 'ERR_SHAREDKV_AUTH');
    for (const bad of [['--port', '70000'], ['--interval', '5'], ['extra']]) {
      const r = await cli(['inspect', '--socket', socket, ...bad]);
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
    }
  });
});
