/**
 * The core acceptance tests across real processes: a cluster primary owning the store and real workers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { connect, type OwnerStore } from '../../src/index.js';
import { forkWorker, killAll, nextEvent } from '../helpers/processes.js';

let kv: OwnerStore;

after(async () => {
  await killAll();
  await kv?.close();
});

for (const channel of ['socket', 'ipc'] as const) {
  describe(`cluster, ${channel} channel`, () => {
    it('4 workers x 10,000 concurrent incr end at exactly 40,000', async () => {
      kv ??= (await connect({ role: 'owner' })) as OwnerStore;
      await kv.del('counter');
      const workers = Array.from({ length: 4 }, () =>
        forkWorker({ SKV_TASK: 'incr', SKV_N: '10000', SKV_CHANNEL: channel }),
      );
      const done = await Promise.all(workers.map((w) => nextEvent(w, 'done', 60_000)));
      assert.equal(await kv.get('counter'), 40_000);
      // Each worker saw a distinct, increasing sequence, so the largest result any of them got is 40,000 at most.
      assert.ok(done.every((d) => (d.max as number) <= 40_000));
      assert.equal(Math.max(...done.map((d) => d.max as number)), 40_000);
      await Promise.all(workers.map((w) => stop(w)));
    });

    it('kill -9 of a worker with 1,000 calls in flight leaves the owner serving the others', async () => {
      kv ??= (await connect({ role: 'owner' })) as OwnerStore;
      const victim = forkWorker({ SKV_TASK: 'flood', SKV_N: '1000', SKV_CHANNEL: channel });
      const flooding = nextEvent(victim, 'flooding');
      const other = forkWorker({ SKV_TASK: 'incr', SKV_N: '1', SKV_CHANNEL: channel });
      const otherDone = nextEvent(other, 'done');
      await flooding;
      await otherDone;
      // Let the flood run until well past its first 1,000 calls, so replies are in flight when it dies.
      await waitFor(async () => ((await kv.stats()).commands.set ?? 0) > 3000, 90_000);
      victim.process.kill('SIGKILL');
      await once(victim, 'exit');
      // The owner survives and keeps serving a new worker and itself.
      const next = forkWorker({ SKV_TASK: 'incr', SKV_N: '500', SKV_CHANNEL: channel });
      await nextEvent(next, 'done');
      assert.equal(await kv.set('alive', true), true);
      const stats = await kv.stats();
      assert.equal(stats.pending, 0);
      await Promise.all([other, next].map((w) => stop(w)));
      // The victim's connection is gone from the owner.
      await waitFor(async () => (await kv.stats()).clients === 0);
    });

    it('getOrSet: 4 workers missing the same key at once run the loader once', async () => {
      kv ??= (await connect({ role: 'owner' })) as OwnerStore;
      await kv.del('expensive');
      const workers = Array.from({ length: 4 }, () => forkWorker({ SKV_TASK: 'getOrSet', SKV_CHANNEL: channel }));
      const done = await Promise.all(workers.map((w) => nextEvent(w, 'done')));
      const runs = done.reduce((n, d) => n + (d.loaderRuns as number), 0);
      assert.equal(runs, 1);
      const values = new Set(done.map((d) => JSON.stringify(d.value)));
      assert.equal(values.size, 1, 'every worker got the one loaded value');
      await Promise.all(workers.map((w) => stop(w)));
    });
  });
}

describe('start-up and foreign messages', () => {
  it('a worker that connects before the owner waits for it', async () => {
    await kv?.close();
    const w = forkWorker({ SKV_TASK: 'serve-app-messages' });
    // The worker starts its handshake now; the owner appears only later.
    await new Promise((r) => setTimeout(r, 700));
    kv = (await connect({ role: 'owner' })) as OwnerStore;
    await kv.set('shared', 'late owner');
    const got = await nextEvent(w, 'get');
    assert.equal(got.value, 'late owner');
    // The application's own messages pass both ways untouched.
    w.send({ echo: { hello: 'app' } });
    const echo = await nextEvent(w, 'echo');
    assert.deepEqual(echo.echo, { hello: 'app' });
    w.kill('SIGKILL');
    await once(w, 'exit');
  });

  it('a worker with no owner fails with ERR_SHAREDKV_NO_OWNER past its deadline', async () => {
    await kv.close();
    const w = forkWorker({ SKV_TASK: 'none', SKV_READY_TIMEOUT: '400' });
    const err = await nextEvent(w, 'connect-error');
    assert.equal(err.code, 'ERR_SHAREDKV_NO_OWNER');
    w.kill('SIGKILL');
    await once(w, 'exit');
    kv = (await connect({ role: 'owner' })) as OwnerStore;
  });
});

function stop(w: import('node:cluster').Worker): Promise<unknown> {
  w.kill('SIGKILL');
  return once(w, 'exit');
}

async function waitFor(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
