/**
 * What a socket client keeps across a reconnect, with a real daemon process killed with -9 and restarted
 * on the same socket: subscriptions, patterns, watches and async iterators continue (registered again
 * before the calls that waited for the connection); locks held on the old connection are lost for good
 * (their token is never sent again, since the restarted owner may grant the same token to another
 * client); a call issued while the owner is down rejects at its deadline; a call that reached a frozen
 * owner times out and is cancelled there. Also: connection errors of the socket transport are typed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { linkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ClientStore, connect, SharedKVError, type Store, type WatchEvent } from '../../src/index.js';
import { frameHeader } from '../../src/protocol/framing.js';
import { dialUnix, dialUnixUntil } from '../../src/transport/socket.js';
import { cleanup, socketDir, waitFor } from './helpers.js';

const DAEMON = fileURLToPath(new URL('../fixtures/topology-daemon.ts', import.meta.url));
const daemons = new Set<ChildProcess>();
const stores: Store[] = [];

after(async () => {
  for (const kv of stores) await kv.close().catch(() => {});
  for (const d of daemons) {
    if (d.exitCode === null && d.signalCode === null) {
      d.kill('SIGKILL');
      await once(d, 'exit');
    }
  }
  await cleanup();
});

/** Starts the daemon fixture (`serve({ socket })` in its own process); resolves once it serves. */
async function startDaemon(socket: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', DAEMON, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  daemons.add(child);
  let out = '';
  child.stdout?.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the daemon exited with ${code}: ${out}`));
    child.once('exit', onExit);
    child.stdout?.on('data', (d: string) => {
      out += d;
      if (!out.includes('"listening"')) return;
      child.off('exit', onExit);
      resolve();
    });
  });
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

async function client(socket: string): Promise<ClientStore> {
  const kv = (await connect({ socket, role: 'client' })) as ClientStore;
  stores.push(kv);
  return kv;
}

function code(err: unknown): string {
  return err instanceof SharedKVError ? err.code : String(err);
}

/** Resolves once the client has seen its connection go: a call then fails with ERR_SHAREDKV_DISCONNECTED. */
async function untilDisconnected(kv: Store): Promise<void> {
  await waitFor(
    () =>
      kv.ping({ timeout: 100 }).then(
        () => false,
        (err) => code(err) === 'ERR_SHAREDKV_DISCONNECTED',
      ),
    'the client has seen the connection go',
  );
}

describe('a socket client across a daemon restart (kill -9, then a new daemon on the same socket)', () => {
  it('subscriptions, patterns, watches and iterators continue; locks are lost; waits in flight reject', async () => {
    const socket = join(socketDir(), 'kv.sock');
    const first = await startDaemon(socket);
    const kv = await client(socket);
    const other = await client(socket);

    const onChannel: unknown[] = [];
    const onPattern: Array<[unknown, string, string | undefined]> = [];
    const onWatch: WatchEvent[] = [];
    await kv.subscribe('news', (m) => onChannel.push(m));
    await kv.subscribe('ne*', (m, channel, pattern) => onPattern.push([m, channel, pattern]));
    await kv.watch('user:*', (e) => onWatch.push(e));
    const iterated = kv.subscribe<string>('news');
    await iterated.ready;
    // One registration per target: the handler and the iterator of 'news' share one, the pattern has its own.
    assert.equal(await kv.publish('news', 'before'), 2, 'the channel and the pattern are registered');
    await waitFor(() => onChannel.length === 1 && onPattern.length === 1, 'the first message arrives');
    assert.deepEqual(await iterated.next(), { value: { channel: 'news', message: 'before' }, done: false });

    // The lock held across the restart, a withLock whose fn runs through the kill, and a lock wait in flight.
    const held = await kv.lock('L', { ttl: 60_000 });
    await other.lock('W', { ttl: 60_000 });
    const waiting = kv.lock('W', { wait: 60_000 });
    waiting.catch(() => {});
    let inside = false;
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const section = kv.withLock(
      'S',
      async () => {
        inside = true;
        await gate;
        return 'done';
      },
      { ttl: 60_000 },
    );
    section.catch(() => {});
    await waitFor(() => inside, 'withLock runs its function');
    await waitFor(async () => (await other.stats()).pending >= 1, 'the lock wait is parked in the daemon');

    await kill9(first);
    await assert.rejects(waiting, { code: 'ERR_SHAREDKV_DISCONNECTED' }, 'a lock wait in flight rejects');
    await untilDisconnected(kv);

    // While the daemon is down: a call with a timeout rejects at its deadline (it was never sent) ...
    const t0 = performance.now();
    const down = await kv.get('x', { timeout: 300 }).then(
      () => assert.fail('answered while no daemon runs'),
      (err: unknown) => err,
    );
    const tookMs = performance.now() - t0;
    console.log(`# a get with timeout 300 issued while the daemon is down rejected after ${tookMs.toFixed(0)} ms`);
    assert.equal(code(down), 'ERR_SHAREDKV_DISCONNECTED');
    assert.equal((down as SharedKVError & { data: { sent: boolean } }).data.sent, false);
    assert.ok(tookMs >= 295 && tookMs < 1_000, `rejected after ${tookMs} ms`);
    // ... the lock held is already lost, and a withLock whose connection dropped reports it when fn ends ...
    await assert.rejects(held.extend(60_000), { code: 'ERR_SHAREDKV_LOCK_LOST' });
    finish();
    await assert.rejects(section, { code: 'ERR_SHAREDKV_LOCK_LOST' });
    // ... and a publish waits for the new connection, where it must find the subscriptions registered again.
    const queued = kv.publish('news', 'queued', { timeout: 60_000 });

    const second = await startDaemon(socket);
    assert.equal(await queued, 2, 'the re-registrations went ahead of the publish that waited for them');
    const pub = await client(socket);
    assert.equal(await pub.publish('news', 'after'), 2);
    await pub.set('user:1', { n: 1 });
    // Sentinels: one publisher's messages arrive in order, so anything duplicated would be in by then.
    await pub.publish('news', 'end');
    await pub.set('user:end', 0);
    await waitFor(() => onChannel.includes('end') && onWatch.some((e) => e.key === 'user:end'), 'the sentinels');
    assert.deepEqual(onChannel, ['before', 'queued', 'after', 'end'], 'each message exactly once');
    assert.deepEqual(
      onPattern.map(([m, channel, pattern]) => [m, channel, pattern]),
      ['before', 'queued', 'after', 'end'].map((m) => [m, 'news', 'ne*']),
    );
    assert.deepEqual(onWatch, [
      { key: 'user:1', op: 'set', value: { n: 1 } },
      { key: 'user:end', op: 'set', value: 0 },
    ]);
    const next = [];
    for (let i = 0; i < 3; i++) next.push((await iterated.next()).value?.message);
    assert.deepEqual(next, ['queued', 'after', 'end'], 'the async iterator continues too');

    // The old lock stays lost, also when the new daemon grants its very token to another client.
    await assert.rejects(held.extend(60_000), { code: 'ERR_SHAREDKV_LOCK_LOST' });
    const theirs = await pub.lock('L', { ttl: 60_000 });
    console.log(`# old lock token ${held.token}; the restarted daemon granted token ${theirs.token} to another client`);
    assert.equal(await held.release(), false, 'release() of a lost lock resolves false');
    await assert.rejects(kv.set('fenced', 1, { fence: held }), { code: 'ERR_SHAREDKV_LOCK_LOST' });
    await assert.rejects(held.extend(60_000), { code: 'ERR_SHAREDKV_LOCK_LOST' });
    assert.equal(await kv.tryLock('L'), null, "the other client's lock was not released by the old token");
    await theirs.extend(60_000);
    assert.equal(await pub.set('fenced', 2, { fence: theirs }), true);
    assert.equal(await theirs.release(), true);
    // A new lock of this client works.
    const fresh = await kv.lock('L', { ttl: 60_000 });
    await fresh.extend(60_000);
    assert.equal(await kv.set('fenced', 3, { fence: fresh }), true);
    assert.equal(await fresh.release(), true);
    assert.equal(await kv.withLock('S', () => 'again'), 'again');

    await iterated.unsubscribe();
    assert.deepEqual(await iterated.next(), { value: undefined, done: true });
    for (const s of [kv, other, pub]) await s.close();
    second.kill('SIGTERM');
    assert.equal((await once(second, 'exit'))[0], 0);
  });

  it('a call that reached a frozen owner (SIGSTOP) with hello times out with ERR_SHAREDKV_TIMEOUT and is cancelled there', async () => {
    const dir = socketDir();
    const socket = join(dir, 'kv.sock');
    const first = await startDaemon(socket);
    const kv = await client(socket);
    // The next daemon serves another path first, so its lock can be taken before the client finds it.
    const next = join(dir, 'next.sock');
    const second = await startDaemon(next);
    const holder = await client(next);
    const lock = await holder.lock('Q', { ttl: 60_000 });

    await kill9(first);
    await untilDisconnected(kv);
    second.kill('SIGSTOP');
    try {
      // The client's next dial lands in the frozen daemon's backlog: connected, hello never answered.
      rmSync(socket, { force: true });
      linkSync(next, socket);
      // A lock wait issued before the client has dialed is never sent (DISCONNECTED); once the dial has
      // connected, the next one leaves with hello and must time out as any call the owner does not answer.
      const seen: string[] = [];
      for (let i = 0; i < 40 && !seen.includes('ERR_SHAREDKV_TIMEOUT'); i++) {
        const t0 = performance.now();
        const err = await kv.lock('Q', { wait: 60_000, timeout: 300 }).then(
          () => assert.fail('granted by a frozen daemon'),
          (e: unknown) => e,
        );
        const ms = performance.now() - t0;
        assert.ok(ms >= 295 && ms < 1_000, `settled after ${ms} ms`);
        seen.push(code(err));
      }
      console.log(`# lock waits with timeout 300 while the daemon was frozen: ${seen.join(', ')}`);
      assert.equal(seen.at(-1), 'ERR_SHAREDKV_TIMEOUT');
      assert.ok(
        seen.slice(0, -1).every((c) => c === 'ERR_SHAREDKV_DISCONNECTED'),
        'the others were not sent: the connection was not up',
      );
    } finally {
      second.kill('SIGCONT');
    }
    // Once the daemon runs, it reads hello, the wait and its cancel in order; the ping answers after them.
    await kv.ping({ timeout: 10_000 });
    assert.equal((await holder.stats()).pending, 0, 'no wait is left in the daemon');
    assert.equal(await lock.release(), true);
    const third = await holder.tryLock('Q');
    assert.ok(third, 'the lock went to nobody who gave up on it');
    await third.release();
    await kv.close();
    await holder.close();
  });
});

describe('socket transport errors are typed', () => {
  it('a dial that cannot connect rejects with ERR_SHAREDKV_DISCONNECTED carrying the OS code', async () => {
    const dir = socketDir();
    const file = join(dir, 'file');
    writeFileSync(file, '');
    // A path through a regular file: ENOTDIR, which waiting would not fix, so dialUnixUntil fails at once.
    for (const dial of [() => dialUnix(join(file, 'kv.sock')), () => dialUnixUntil(join(file, 'kv.sock'), {}, 5_000)]) {
      const err = await dial().then(
        () => assert.fail('connected'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof SharedKVError, String(err));
      assert.equal(err.code, 'ERR_SHAREDKV_DISCONNECTED');
      assert.equal((err.data as { errno: string }).errno, 'ENOTDIR');
    }
    const missing = await dialUnix(join(dir, 'nobody.sock')).catch((e: unknown) => e);
    assert.equal(code(missing), 'ERR_SHAREDKV_DISCONNECTED');
    assert.equal(((missing as SharedKVError).data as { errno: string }).errno, 'ENOENT');
  });

  it('an owner that sends no frames closes the channel with ERR_SHAREDKV_PROTOCOL; one that hangs up, DISCONNECTED', async () => {
    const path = join(socketDir(), 'fake.sock');
    const peers: net.Socket[] = [];
    const server = net.createServer((s) => peers.push(s));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const garbage = await dialUnix(path, { maxFrame: 16 });
      const garbageClosed = new Promise<SharedKVError>((resolve) => {
        garbage.onClose = resolve;
      });
      await waitFor(() => peers.length === 1, 'the fake owner accepted');
      peers[0]!.write(frameHeader(1_000));
      const reason = await garbageClosed;
      assert.ok(reason instanceof SharedKVError);
      assert.equal(reason.code, 'ERR_SHAREDKV_PROTOCOL');

      const dropped = await dialUnix(path);
      const droppedClosed = new Promise<SharedKVError>((resolve) => {
        dropped.onClose = resolve;
      });
      await waitFor(() => peers.length === 2, 'the fake owner accepted again');
      peers[1]!.destroy();
      const gone = await droppedClosed;
      assert.ok(gone instanceof SharedKVError);
      assert.equal(gone.code, 'ERR_SHAREDKV_DISCONNECTED');
    } finally {
      for (const p of peers) p.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
