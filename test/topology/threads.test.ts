/**
 * Worker threads: threads of the owner (a private MessagePort each), a thread inside a cluster worker
 * (straight to the primary's socket), and the clean-up when a thread ends.
 */
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type OwnerStore } from '../../src/index.js';
import { decodeFrame, encodeFrame } from '../../src/protocol/envelope.js';
import { openPort, portChannel } from '../../src/transport/thread.js';
import { killAll, nextEvent } from '../helpers/processes.js';
import { cleanup, jsThread, nextMessage, waitFor } from './helpers.js';

const THREAD = new URL('../fixtures/topology-thread.mjs', import.meta.url);
const CLUSTER_WORKER = fileURLToPath(new URL('../fixtures/topology-cluster-worker.mjs', import.meta.url));

let kv: OwnerStore | undefined;
after(async () => {
  await cleanup();
  await killAll();
  await kv?.close();
});

const ready = (w: Parameters<typeof nextMessage>[0]) =>
  nextMessage(w, (m) => m.ev === 'ready' || m.ev === 'connect-error');

describe('thread transport', () => {
  it('moves frames as transferred ArrayBuffers, both ways', async () => {
    const { port, link, bind } = openPort('test');
    const got: unknown[] = [];
    bind(
      (payload) => got.push(decodeFrame(payload)),
      () => got.push('closed'),
    );
    const channel = portChannel(port);
    const back = new Promise<unknown>((resolve) => {
      channel.onFrame = (payload) => resolve(decodeFrame(payload));
    });
    // Two frames encoded back to back share the encoder's scratch buffer: each must arrive intact.
    const a = encodeFrame([[1, 'set', 'k', new Uint8Array([1, 2, 3])]]);
    const b = encodeFrame([[2, 'get', 'k']]);
    channel.send(a);
    channel.send(b);
    link.send(encodeFrame([[1, 0, 'ok']]));
    assert.deepEqual(await back, [[1, 0, 'ok']]);
    await waitFor(() => got.length === 2, 'both frames arrive');
    assert.deepEqual(got[1], [[2, 'get', 'k']]);
    channel.close();
    await waitFor(() => got.includes('closed'), 'the owner side sees the close');
  });
});

describe('threads of the owner', () => {
  it('4 threads x 2,000 concurrent incr end at exactly 8,000, then each thread leaves nothing behind', async () => {
    kv ??= (await connect({ role: 'owner' })) as OwnerStore;
    await kv.del('counter');
    const threads = Array.from({ length: 4 }, () => kv!.attachThread(jsThread(THREAD)));
    const states = await Promise.all(threads.map(ready));
    assert.deepEqual(
      states.map((s) => s.ev),
      ['ready', 'ready', 'ready', 'ready'],
    );
    assert.equal((await kv.stats()).clients, 4);
    const done = threads.map((t) => nextMessage<{ max: number }>(t, (m) => m.ev === 'incr'));
    for (const t of threads) t.postMessage({ op: 'incr', n: 2000 });
    const results = await Promise.all(done);
    assert.equal(await kv.get('counter'), 8000);
    assert.equal(Math.max(...results.map((r) => r.max)), 8000);
    // A terminated thread's session is closed by the owner (its port closes with the thread).
    await threads[0]!.terminate();
    await waitFor(async () => (await kv!.stats()).clients === 3, 'the owner drops the terminated thread');
    // One that closes its store leaves too; the others are unaffected.
    threads[1]!.postMessage({ op: 'close' });
    await nextMessage(threads[1]!, (m) => m.ev === 'closed');
    await waitFor(async () => (await kv!.stats()).clients === 2, 'the owner drops the closed thread');
    const get = nextMessage<{ value: unknown }>(threads[2]!, (m) => m.ev === 'get');
    threads[2]!.postMessage({ op: 'get', key: 'counter' });
    assert.equal((await get).value, 8000);
    await Promise.all(threads.map((t) => t.terminate()));
  });

  it('kv.thread() creates and serves a thread in one call', async () => {
    kv ??= (await connect({ role: 'owner' })) as OwnerStore;
    await kv.set('greeting', 'hello thread');
    const t = kv.thread(THREAD);
    assert.equal((await ready(t)).ev, 'ready');
    const get = nextMessage<{ value: unknown }>(t, (m) => m.ev === 'get');
    t.postMessage({ op: 'get', key: 'greeting' });
    assert.equal((await get).value, 'hello thread');
    await t.terminate();
  });

  it('a thread the owner was not given still reaches it (through the private socket)', async () => {
    kv ??= (await connect({ role: 'owner' })) as OwnerStore;
    await kv.set('greeting', 'hello unattached thread');
    const t = jsThread(THREAD);
    assert.equal((await ready(t)).ev, 'ready');
    const get = nextMessage<{ value: unknown }>(t, (m) => m.ev === 'get');
    t.postMessage({ op: 'get', key: 'greeting' });
    assert.equal((await get).value, 'hello unattached thread');
    await t.terminate();
  });

  it('the handshake never shows up among the application messages of the parent', async () => {
    kv ??= (await connect({ role: 'owner' })) as OwnerStore;
    const t = kv.attachThread(jsThread(THREAD));
    const seen: unknown[] = [];
    t.on('message', (m) => seen.push(m));
    await ready(t);
    assert.deepEqual(seen, [{ ev: 'ready', isOwner: false }]);
    await t.terminate();
  });

  it('with no owner in the process, a thread fails with ERR_SHAREDKV_NO_OWNER by its readyTimeout', async () => {
    await kv?.close();
    kv = undefined;
    const t = jsThread(THREAD, { workerData: { readyTimeout: 300 } });
    const state = await ready(t);
    assert.equal(state.ev, 'connect-error');
    assert.equal(state.code, 'ERR_SHAREDKV_NO_OWNER');
    await t.terminate();
  });
});

describe('a thread inside a cluster worker', () => {
  it("reaches the primary's store directly, through the socket its worker left in the environment data", async () => {
    kv ??= (await connect({ role: 'owner' })) as OwnerStore;
    await kv.del('counter');
    cluster.setupPrimary({ exec: CLUSTER_WORKER, execArgv: [] });
    const worker = cluster.fork();
    const done = await nextEvent(worker, 'done', 30_000);
    assert.equal(done.max, 501, JSON.stringify(done));
    assert.equal(await kv.get('counter'), 501);
    // The worker and its thread each hold their own connection to the primary.
    assert.equal((await kv.stats()).clients, 2);
    worker.process.kill('SIGKILL');
    await once(worker, 'exit');
    await waitFor(async () => (await kv!.stats()).clients === 0, 'both connections are dropped');
  });
});
