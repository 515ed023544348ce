/**
 * The built `sharedkv` CLI (dist/cli/main.js), run as a real process against a real daemon
 * (`sharedkv serve`): every command, `--json`, the documented exit codes (0 ok, 1 failed, 2 usage,
 * 3 cannot connect), `monitor` as a live stream, `serve --persist` across a restart, and `bench` staying
 * quiet in a pipe. `inspect` has its own file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, cleanup, cli, type Daemon, daemon, socketDir, waitFor } from '../topology/helpers.js';

const TOKEN = 'cli-test-token';
let d: Daemon;
let socket: string;
/** Runs the CLI against the test daemon (token from the environment, as the docs recommend). */
const kv = (...args: string[]) => cli([...args, '--socket', socket], { SHAREDKV_TOKEN: TOKEN });

before(async () => {
  socket = join(socketDir(), 'kv.sock');
  d = await daemon(socket, ['--token', TOKEN]);
});

after(async () => {
  await d?.stop();
  await cleanup();
});

describe('sharedkv CLI', () => {
  it('--help for the tool and for each command, exit 0', async () => {
    const general = await cli(['--help']);
    assert.equal(general.code, 0);
    for (const c of ['serve', 'get', 'set', 'del', 'keys', 'incr', 'ttl', 'stats', 'monitor', 'inspect', 'bench']) {
      assert.match(general.stdout, new RegExp(`\\n  ${c}\\b`));
      const own = await cli([c, '--help']);
      assert.equal(own.code, 0);
      assert.match(own.stdout, new RegExp(`^Usage: sharedkv ${c}`));
    }
    assert.match(general.stdout, /Exit codes: 0 ok, 1 command failed.*2 usage error, 3 cannot connect/);
  });

  it('usage errors exit with 2 before connecting', async () => {
    for (const args of [
      ['frobnicate'],
      ['get'],
      ['get', 'a', 'b', '--socket', '/nowhere.sock'],
      ['set', 'k', 'not json', '--socket', '/nowhere.sock'],
      ['set', 'k', '1', '--tll', '5', '--socket', '/nowhere.sock'],
      ['set', 'k', '1', '--ttl', '-5', '--socket', '/nowhere.sock'],
      ['incr', 'k', 'many', '--socket', '/nowhere.sock'],
      ['get', 'k', '--socket', 'a', '--pm2', 'b'],
    ]) {
      const r = await cli(args, { SHAREDKV_SOCKET: '' });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  it('cannot connect exits with 3: no daemon, or a wrong token', async () => {
    const none = await cli(['get', 'k', '--socket', join(socketDir(), 'none.sock'), '--json']);
    assert.equal(none.code, 3);
    assert.equal(JSON.parse(none.stderr).error.code, 'ERR_SHAREDKV_NO_OWNER');
    const wrong = await cli(['get', 'k', '--socket', socket, '--token', 'nope', '--json']);
    assert.equal(wrong.code, 3);
    assert.equal(JSON.parse(wrong.stderr).error.code, 'ERR_SHAREDKV_AUTH');
  });

  it('set takes JSON, with --ttl; get prints it back; a missing key exits with 1', async () => {
    assert.equal((await kv('set', 'user:1', '{"name":"Ada","tags":["x"]}', '--ttl', '60000')).stdout.trim(), 'OK');
    const got = await kv('get', 'user:1');
    assert.equal(got.code, 0);
    assert.deepEqual(JSON.parse(got.stdout), { name: 'Ada', tags: ['x'] });
    const ttl = Number((await kv('ttl', 'user:1')).stdout);
    assert.ok(ttl > 0 && ttl <= 60_000, `ttl ${ttl}`);
    const json = JSON.parse((await kv('get', 'user:1', '--json')).stdout);
    assert.deepEqual(json, { key: 'user:1', found: true, value: { name: 'Ada', tags: ['x'] } });
    const missing = await kv('get', 'nope');
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.deepEqual(JSON.parse((await kv('get', 'nope', '--json')).stdout), { key: 'nope', found: false });
    assert.equal((await kv('set', 'plain', 'hello world', '--string')).code, 0);
    assert.equal((await kv('get', 'plain')).stdout.trim(), '"hello world"');
    // nx on an existing key writes nothing and exits with 1.
    const nx = await kv('set', 'plain', '"other"', '--nx');
    assert.equal(nx.code, 1);
    assert.equal((await kv('get', 'plain')).stdout.trim(), '"hello world"');
  });

  it('incr, keys, del, ttl', async () => {
    assert.equal((await kv('incr', 'hits')).stdout.trim(), '1');
    assert.equal((await kv('incr', 'hits', '10')).stdout.trim(), '11');
    assert.equal((await kv('incr', 'hits', '-0.5')).stdout.trim(), '10.5');
    assert.deepEqual(JSON.parse((await kv('incr', 'hits', '--json')).stdout), { key: 'hits', value: 11.5 });
    await kv('set', 'a:1', '1');
    await kv('set', 'a:2', '2');
    assert.deepEqual((await kv('keys', 'a:*')).stdout.trim().split('\n'), ['a:1', 'a:2']);
    assert.deepEqual(JSON.parse((await kv('keys', 'a:*', '--json')).stdout), ['a:1', 'a:2']);
    assert.equal((await kv('del', 'a:1', 'a:2', 'a:3')).stdout.trim(), '2');
    assert.equal((await kv('ttl', 'hits')).stdout.trim(), '-1');
    assert.equal((await kv('ttl', 'a:1')).stdout.trim(), '-2');
    const wrongType = await kv('incr', 'user:1', '--json');
    assert.equal(wrongType.code, 1);
    assert.equal(JSON.parse(wrongType.stderr).error.code, 'ERR_SHAREDKV_WRONG_TYPE');
  });

  it('values JSON cannot carry are shown as what they are, and spelled out with --json', async () => {
    const { connect } = await import('../../src/index.js');
    const store = await connect({ socket, token: TOKEN });
    await store.set('rich', { big: 2n ** 70n, when: new Date(0), tags: new Set(['a']), map: new Map([['k', 1]]) });
    await store.close();
    const human = (await kv('get', 'rich')).stdout;
    assert.match(human, /1180591620717411303424n/);
    assert.match(human, /Set\(1\)/);
    const json = JSON.parse((await kv('get', 'rich', '--json')).stdout).value;
    assert.deepEqual(json, {
      big: { $bigint: '1180591620717411303424' },
      when: '1970-01-01T00:00:00.000Z',
      tags: { $set: ['a'] },
      map: { $map: [['k', 1]] },
    });
  });

  it('stats shows per-command counts and latency', async () => {
    await kv('set', 'x', '1');
    const json = JSON.parse((await kv('stats', '--json')).stdout);
    assert.ok(json.commands.set >= 1);
    assert.ok(json.latency.set.calls >= 1);
    for (const field of ['meanUs', 'p50Us', 'p99Us', 'maxUs']) assert.equal(typeof json.latency.set[field], 'number');
    const human = (await kv('stats')).stdout;
    assert.match(human, /^keys\s+\d+/m);
    assert.match(human, /^command\s+calls\s+mean µs\s+p50 µs\s+p99 µs\s+max µs$/m);
    assert.match(human, /^set\s+[\d,]+\s+[\d.]+/m);
  });

  it('monitor streams every command live, and stops on SIGINT with 0', { timeout: 30_000 }, async () => {
    const mon = spawn(process.execPath, [CLI, 'monitor', '--socket', socket, '--json'], {
      env: { ...process.env, SHAREDKV_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    mon.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    /** The first event of `command` (only complete lines: a chunk may end in the middle of one). */
    const seen = async (command: string) => {
      let hit: Record<string, unknown> | undefined;
      await waitFor(() => {
        hit = out
          .split('\n')
          .slice(0, -1)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((e) => e.command === command);
        return hit !== undefined;
      }, `the monitor shows a ${command}`);
      return hit as Record<string, unknown>;
    };
    // The monitor is live once it sees a command; ping until it does.
    const first = seen('ping');
    const { connect } = await import('../../src/index.js');
    const store = await connect({ socket, token: TOKEN });
    const pinger = setInterval(() => {
      store.ping().catch(() => {});
    }, 50);
    await first;
    clearInterval(pinger);
    await kv('set', 'watched', '{"v":42}', '--ttl', '9000');
    const event = await seen('set');
    assert.equal(typeof event.time, 'number');
    assert.match(String(event.client), /socket/);
    assert.deepEqual(event.args, ['watched', { v: 42 }, { ttl: 9000 }]);
    await store.close();
    const exited = new Promise((resolve) => mon.once('exit', resolve));
    mon.kill('SIGINT');
    assert.equal(await exited, 0);
  });

  it('serve --persist keeps the store across a restart; --fsync is checked', async () => {
    const dir = join(socketDir(), 'data');
    const path = join(socketDir(), 'persisted.sock');
    const run = (...args: string[]) => cli([...args, '--socket', path]);
    const first = await daemon(path, ['--persist', dir, '--fsync', 'always']);
    assert.equal((await run('set', 'kept', '{"v":1}')).code, 0);
    assert.equal(await first.stop(), 0);
    const second = await daemon(path, ['--persist', dir]);
    assert.deepEqual(JSON.parse((await run('get', 'kept')).stdout), { v: 1 });
    assert.equal(await second.stop(), 0);
    for (const bad of [['--persist', dir, '--fsync', 'sometimes'], ['--fsync', 'always'], ['--repair']]) {
      assert.equal((await cli(['serve', '--socket', path, ...bad])).code, 2, bad.join(' '));
    }
  });

  it('bench reports ops/s per command, quietly in a pipe', async () => {
    const r = await kv('bench', '-n', '3000', '-c', '16', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no progress output when stderr is not a terminal');
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { command: string; opsPerSec: number });
    assert.deepEqual(
      lines.map((l) => l.command),
      ['set', 'get', 'incr'],
    );
    for (const l of lines) assert.ok(l.opsPerSec > 0);
    console.log(`# bench (loaded 2-core machine): ${lines.map((l) => `${l.command} ${l.opsPerSec} ops/s`).join(', ')}`);
    assert.deepEqual(JSON.parse((await kv('keys', 'bench:*', '--json')).stdout), []);
  });
});
