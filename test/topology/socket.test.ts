/**
 * The socket daemon's guarantees: a private socket (0600 in a 0700 directory), tokens, limits, garbage on
 * the wire, stale and live socket files, and the race of several processes starting with autoServe.
 * Crash-sensitive cases run against the real `sharedkv serve` (the built CLI) so a crash is observable.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type OwnerStore, SharedKVError, type Store, serve } from '../../src/index.js';
import { PLAIN_TAG } from '../../src/protocol/codec.js';
import { ERR, encodeFrame, INLINE, OK } from '../../src/protocol/envelope.js';
import { frameHeader } from '../../src/protocol/framing.js';
import { type AppMessage, killAll, nextEvent } from '../helpers/processes.js';
import { cleanup, cli, daemon, socketDir, waitFor } from './helpers.js';
import { connectionErrors, hello, raw } from './raw.js';

const AUTO = fileURLToPath(new URL('../fixtures/topology-auto.mjs', import.meta.url));

after(async () => {
  await killAll();
  await cleanup();
});

const code = (c: string) => (err: unknown) => err instanceof SharedKVError && err.code === c;

describe('the socket file', () => {
  it('is 0600 inside a 0700 directory created for it, and is removed on close', async () => {
    const dir = join(socketDir(), 'run', 'app');
    const d = await serve({ socket: join(dir, 'kv.sock') });
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, '..')).mode & 0o777, 0o700);
    assert.equal(lstatSync(d.socket).mode & 0o777, 0o600);
    assert.ok(lstatSync(d.socket).isSocket());
    await d.close();
    assert.equal(existsSync(d.socket), false);
  });

  it('refuses a directory that group or others can reach, and one that is not ours', async () => {
    const open = join(socketDir(), 'open');
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    await assert.rejects(serve({ socket: join(open, 'kv.sock') }), code('ERR_SHAREDKV_BAD_ARGUMENT'));
    assert.equal(existsSync(join(open, 'kv.sock')), false);
    if (process.getuid?.() === 0) {
      const theirs = join(socketDir(), 'theirs');
      mkdirSync(theirs, { mode: 0o700 });
      chownSync(theirs, 65534, 65534);
      await assert.rejects(serve({ socket: join(theirs, 'kv.sock') }), code('ERR_SHAREDKV_BAD_ARGUMENT'));
    }
  });

  it('refuses a path longer than the OS allows, on both sides, with a clear error', async () => {
    const long = join(socketDir(), 'x'.repeat(120), 'kv.sock');
    await assert.rejects(serve({ socket: long }), (err: SharedKVError) => {
      assert.equal(err.code, 'ERR_SHAREDKV_BAD_ARGUMENT');
      assert.ok((err.data as { limit: number }).limit >= 100);
      return true;
    });
    await assert.rejects(connect({ socket: long }), code('ERR_SHAREDKV_BAD_ARGUMENT'));
  });

  it('never replaces a file that is not a socket', async () => {
    const path = join(socketDir(), 'notes.txt');
    writeFileSync(path, 'precious');
    await assert.rejects(serve({ socket: path }), code('ERR_SHAREDKV_BAD_ARGUMENT'));
    assert.equal(readFileSync(path, 'utf8'), 'precious');
  });

  it('a stale socket left by kill -9 is recovered; a live one is never taken over', async () => {
    const socket = join(socketDir(), 'kv.sock');
    const first = await daemon(socket);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    assert.ok(lstatSync(socket).isSocket(), 'kill -9 leaves the socket file behind');
    // Stale: connections are refused, so the next daemon removes it and serves.
    const second = await daemon(socket);
    assert.notEqual(second.pid, first.pid);
    assert.equal(existsSync(`${socket}.lock`), false);
    const kv = await connect({ socket });
    try {
      await kv.set('owner', 'second');
      await liveIsNeverTakenOver(socket, kv);
    } finally {
      await kv.close();
    }
    assert.equal(await second.stop(), 0);
    assert.equal(existsSync(socket), false, 'a clean stop removes the socket file');
  });
});

/** A third daemon on a live socket is refused with a clear error and exit code 1; the live one is untouched. */
async function liveIsNeverTakenOver(socket: string, kv: Store): Promise<void> {
  const inode = lstatSync(socket).ino;
  const third = await cli(['serve', '--socket', socket, '--json']);
  assert.equal(third.code, 1);
  assert.equal(JSON.parse(third.stderr.trim().split('\n')[0]!).error.code, 'ERR_SHAREDKV_ADDRESS_IN_USE');
  await assert.rejects(serve({ socket }), code('ERR_SHAREDKV_ADDRESS_IN_USE'));
  assert.equal(lstatSync(socket).ino, inode);
  assert.equal(await kv.get('owner'), 'second');
  // The probes of the refused attempts are gone; this client is the only one left.
  await waitFor(async () => (await kv.stats()).clients === 1, 'only this client is connected');
}

describe('tokens', () => {
  it('a wrong or missing token closes the connection with ERR_SHAREDKV_AUTH, with no side effect', async () => {
    const socket = join(socketDir(), 'kv.sock');
    const d = await serve({ socket, token: 's3cret' });
    await assert.rejects(connect({ socket, token: 'wrong' }), code('ERR_SHAREDKV_AUTH'));
    await assert.rejects(connect({ socket }), code('ERR_SHAREDKV_AUTH'));
    // Raw peers: commands in the same frame as a bad hello, or instead of it, are never run.
    const attempts: unknown[][][] = [
      [hello('wrong'), [2, 'set', ['x', encodeFrame(['x'])]]],
      [hello(), [2, 'set', ['x', encodeFrame(['x'])]]],
      [[1, 'set', ['x', encodeFrame(['x'])]]],
      [hello('s3cre'), [2, 'incr', ['n', 1]]],
      [hello('s3cret!'), [2, 'incr', ['n', 1]]],
    ];
    for (const items of attempts) {
      const peer = await raw(socket);
      peer.frame(items);
      await peer.closed;
      assert.deepEqual(connectionErrors(peer.items), ['ERR_SHAREDKV_AUTH']);
    }
    assert.equal(await d.store.has('x'), false);
    assert.equal(await d.store.has('n'), false);
    const stats = await d.store.stats();
    assert.equal(stats.commands.set, undefined);
    assert.equal(stats.commands.incr, undefined);
    assert.equal(stats.clients, 0);
    const good = await connect({ socket, token: 's3cret' });
    assert.equal(await good.incr('n'), 1);
    await good.close();
    await d.close();
  });
});

/** One malformed input of each kind, chosen by `i`. */
function garbage(i: number, maxFrame: number): Buffer {
  const valid = (items: unknown) => {
    const p = encodeFrame(items as unknown[]);
    return Buffer.concat([frameHeader(p.length), p]);
  };
  switch (i % 8) {
    case 0: // random bytes, random length
      return randomBytes(1 + (i % 97));
    case 1: // a declared length above the limit
      return Buffer.concat([frameHeader(maxFrame + 1 + (i % 1000)), randomBytes(16)]);
    case 2: // a frame cut short, then the end of the stream
      return Buffer.concat([frameHeader(1000), randomBytes(i % 999)]);
    case 3: {
      // right length, bytes that are not MessagePack (0xc1 is never used by the format)
      const body = Buffer.concat([Buffer.from([0xc1]), randomBytes(i % 50)]);
      return Buffer.concat([frameHeader(body.length), body]);
    }
    case 4: // MessagePack, but not a list of items
      return valid({ not: 'a frame' });
    case 5: // items of the wrong shape
      return valid([['hello', 1], 42, null]);
    case 6: // a good hello, then random bytes as a frame
      return Buffer.concat([valid([hello()]), frameHeader(64), randomBytes(64)]);
    default: // a good hello, then requests of the wrong shape and unknown commands
      return Buffer.concat([valid([hello()]), valid([[2, 'no-such-command', []], [3], ['x', 'get']])]);
  }
}

describe('limits and garbage', () => {
  it('10,000 malformed frames: 0 crashes, each closes only its own connection, others served throughout', async () => {
    const maxFrame = 64 * 1024;
    const socket = join(socketDir(), 'kv.sock');
    const d = await daemon(socket, ['--max-frame', String(maxFrame)]);
    const kv = await connect({ socket });
    // A well-behaved client keeps working the whole time.
    let served = 0;
    let failures = 0;
    let fuzzing = true;
    const healthy = (async () => {
      while (fuzzing) {
        await kv.incr('healthy').then(
          () => served++,
          () => failures++,
        );
      }
    })();
    const TOTAL = 10_000;
    let sent = 0;
    let closedByServer = 0;
    const codes = new Map<string, number>();
    const lane = async () => {
      while (sent < TOTAL) {
        const i = sent++;
        const peer = await raw(socket);
        // Written, then half-closed: a frame cut short (or random bytes read as one) ends with the stream.
        peer.socket.end(garbage(i, maxFrame));
        await peer.closed;
        closedByServer++;
        for (const c of connectionErrors(peer.items)) codes.set(c, (codes.get(c) ?? 0) + 1);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: 64 }, lane));
    const seconds = (performance.now() - started) / 1000;
    fuzzing = false;
    await healthy;
    console.log(
      `# ${TOTAL} malformed frames in ${seconds.toFixed(1)} s; replies: ${JSON.stringify(Object.fromEntries(codes))}; ` +
        `healthy client served ${served} calls meanwhile, ${failures} failed`,
    );
    assert.equal(closedByServer, TOTAL);
    assert.equal(d.child.exitCode, null, 'the daemon is still running');
    assert.equal(failures, 0);
    assert.ok(served > 0);
    assert.ok((codes.get('ERR_SHAREDKV_PROTOCOL') ?? 0) > TOTAL / 2, 'malformed frames are answered with PROTOCOL');
    assert.equal(await kv.get('healthy'), served);
    await waitFor(async () => (await kv.stats()).clients === 1, 'every malformed connection is gone');
    await kv.close();
    assert.equal(await d.stop(), 0);
  });

  it('a client that stops reading is cut off at maxOutput; the others are unaffected', async () => {
    const socket = join(socketDir(), 'kv.sock');
    const maxOutput = 1024 * 1024;
    const d = await daemon(socket, ['--max-output', String(maxOutput)]);
    const kv = await connect({ socket });
    await kv.set('big', 'x'.repeat(256 * 1024));
    const slow = await raw(socket);
    slow.frame([hello()]);
    await waitFor(() => slow.items.length === 1, 'the hello is answered');
    slow.socket.pause();
    // 200 reads of 256 KiB = 50 MiB of replies that the peer never reads.
    for (let i = 0; i < 200; i++) slow.frame([[i + 2, 'get', ['big']]]);
    const t0 = performance.now();
    await waitFor(async () => (await kv.stats()).clients === 1, 'the owner drops the stuck client');
    console.log(`# the stuck client was cut off ${Math.round(performance.now() - t0)} ms after its reads were queued`);
    assert.equal(await kv.incr('still-fine'), 1);
    assert.equal((await kv.get<string>('big'))?.length, 256 * 1024);
    slow.socket.resume();
    await slow.closed;
    await kv.close();
    await d.stop();
  });

  it('a connection that never says hello is dropped (no piling up before authentication)', async () => {
    const socket = join(socketDir(), 'kv.sock');
    const d = await serve({ socket });
    const peers = await Promise.all(Array.from({ length: 20 }, () => raw(socket)));
    await waitFor(async () => (await d.store.stats()).clients === 20, 'the owner accepts the 20 peers');
    // Hello's timeout is 10 s; here the peers give up on their side, and the server frees them at once.
    for (const p of peers) p.socket.destroy();
    await waitFor(async () => (await d.store.stats()).clients === 0, 'closed peers are gone');
    await d.close();
  });
});

describe('reply frames', () => {
  it('a plain value read by get travels inline after the item list; other results stay in their item', async () => {
    const socket = join(socketDir(), 'kv.sock');
    const d = await serve({ socket });
    const kv = await connect({ socket });
    await kv.set('plain', { id: 1, tags: ['a'] });
    await kv.set('map', new Map([['k', 1]]));
    await kv.set('n', 7);
    const peer = await raw(socket);
    peer.frame([
      hello(),
      [2, 'get', ['plain']],
      [3, 'get', ['map']],
      [4, 'get', ['missing']],
      [5, 'get', ['n']],
      [6, 'mget', [['plain']]],
      [7, 'get', ['plain']],
      // Two values behind the tag: inlined, they would hand the second to the next inline reply.
      [8, 'set', ['evil', Buffer.of(PLAIN_TAG, 0x01, 0x02)]],
      [9, 'get', ['plain']],
    ]);
    await waitFor(async () => peer.items.length === 9, 'the nine replies');
    const [items, ...inline] = peer.frames.at(-1) as [unknown[][], ...unknown[]];
    const status = Object.fromEntries(items.map((i) => [i[0], i[1]]));
    assert.deepEqual(status, { 1: OK, 2: INLINE, 3: OK, 4: OK, 5: OK, 6: OK, 7: INLINE, 8: ERR, 9: INLINE });
    assert.deepEqual(inline, [
      { id: 1, tags: ['a'] },
      { id: 1, tags: ['a'] },
      { id: 1, tags: ['a'] },
    ]);
    assert.equal((items.find((i) => i[0] === 8)![2] as { code: string }).code, 'ERR_SHAREDKV_BAD_ARGUMENT');
    assert.equal(await kv.has('evil'), false);
    const byId = new Map(items.map((i) => [i[0], i[2]]));
    assert.ok(byId.get(3) instanceof Uint8Array, 'a structured value stays encoded in its item');
    assert.equal(byId.get(4), null);
    // The client puts the two kinds back together.
    assert.deepEqual(await kv.mget(['plain', 'map', 'missing', 'n']), [
      { id: 1, tags: ['a'] },
      new Map([['k', 1]]),
      undefined,
      7,
    ]);
    assert.deepEqual(await Promise.all(['plain', 'map', 'missing', 'n'].map((k) => kv.get(k))), [
      { id: 1, tags: ['a'] },
      new Map([['k', 1]]),
      undefined,
      7,
    ]);
    peer.socket.destroy();
    await kv.close();
    await d.close();
  });
});

describe('autoServe', () => {
  it('4 processes starting at once end with exactly one owner, and every incr lands (4 x 1,000)', async () => {
    const socket = join(socketDir(), 'auto.sock');
    const procs = Array.from({ length: 4 }, () =>
      fork(AUTO, [], {
        env: { ...process.env, SKV_SOCKET: socket, SKV_N: '1000' },
      }),
    );
    const done: AppMessage[] = await Promise.all(procs.map((p) => nextEvent(p, 'done', 30_000)));
    for (const p of procs) p.on('error', () => {});
    assert.deepEqual(
      done.map((d) => d.error),
      [undefined, undefined, undefined, undefined],
    );
    assert.equal(done.filter((d) => d.isOwner === true).length, 1, JSON.stringify(done));
    const kv = await connect({ socket });
    assert.equal(await kv.get('counter'), 4000);
    assert.equal((await kv.stats()).clients, 4);
    await kv.close();
    for (const p of procs) p.kill('SIGKILL');
  });

  it('a socket client that is also an owner elsewhere: serve() shares the owner store of connect()', async () => {
    const owner = (await connect({ role: 'owner' })) as OwnerStore;
    await owner.set('shared', 'by connect()');
    const d = await serve({ socket: join(socketDir(), 'kv.sock') });
    const client = await connect({ socket: d.socket });
    assert.equal(await client.get('shared'), 'by connect()');
    await client.close();
    await d.close();
    // Closing the daemon handle leaves the store of connect() serving.
    assert.equal(await owner.get('shared'), 'by connect()');
    await owner.close();
    assert.ok(!existsSync(d.socket));
  });
});
