/**
 * `child_process.fork` topology: a parent owns the store and serves the children it forked. A forked
 * child outlives its parent, so the parent's death must settle every call the child has pending.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type OwnerStore } from '../../src/index.js';
import { type AppMessage, forkChild, killAll, nextEvent } from '../helpers/processes.js';

const OWNER_FIXTURE = fileURLToPath(new URL('../fixtures/fork-owner.ts', import.meta.url));
const orphans: number[] = [];

after(async () => {
  await killAll();
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

for (const channel of ['socket', 'ipc'] as const) {
  describe(`fork, ${channel} channel`, () => {
    it('children forked by the owner share its store', async () => {
      const kv = (await connect({ role: 'owner' })) as OwnerStore;
      try {
        await kv.del('counter');
        const children = Array.from({ length: 3 }, () =>
          kv.fork(fileURLToPath(new URL('../fixtures/process-worker.ts', import.meta.url)), [], {
            execArgv: ['--import', 'tsx'],
            env: { ...process.env, SKV_TASK: 'incr', SKV_N: '2000', SKV_CHANNEL: channel },
          }),
        );
        await Promise.all(children.map((c) => nextEvent(c, 'done')));
        assert.equal(await kv.get('counter'), 6000);
        for (const c of children) c.kill('SIGKILL');
        await Promise.all(children.map((c) => once(c, 'exit')));
      } finally {
        await kv.close();
      }
    });

    it('kill -9 of the owner rejects every pending call in a child at once, and later calls fail fast', async () => {
      const reportFile = join(tmpdir(), `skv-report-${process.pid}-${channel}.jsonl`);
      rmSync(reportFile, { force: true });
      const owner = forkChild({}, OWNER_FIXTURE);
      await nextEvent(owner, 'owner-ready');
      const forked = (env: Record<string, string>) => {
        const p = nextEvent(owner, 'forked');
        owner.send({ cmd: 'fork', env: { SKV_CHANNEL: channel, ...env } });
        return p;
      };
      // The holder must own the load of 'held' before the waiter asks for it, or the waiter loads it itself.
      const loading = nextEvent(owner, 'loading');
      const holder = await forked({ SKV_TASK: 'hold-load' });
      orphans.push(holder.child as number);
      await loading;
      const waiterReady = nextEvent(owner, 'ready');
      const waiter = await forked({ SKV_TASK: 'pending-then-owner-dies', SKV_REPORT_FILE: reportFile });
      orphans.push(waiter.child as number);
      await waiterReady;
      // Wait until the child's 200 calls are parked in the owner (they wait on the holder's load).
      let stats: AppMessage;
      const parkedBy = Date.now() + 30_000;
      do {
        if (Date.now() > parkedBy) throw new Error(`only ${JSON.stringify(stats!.stats)} calls parked after 30 s`);
        const p = nextEvent(owner, 'stats');
        owner.send({ cmd: 'stats' });
        stats = await p;
      } while ((stats.stats as { pending: number }).pending < 200);
      owner.kill('SIGKILL');
      await once(owner, 'exit');
      const result = await waitForReport(reportFile);
      assert.deepEqual(result.codes, ['ERR_SHAREDKV_DISCONNECTED']);
      // "At once": the 200 rejections all happen within the same few milliseconds.
      assert.ok((result.spreadMs as number) < 50, `settled over ${result.spreadMs} ms`);
      assert.equal(result.later, 'ERR_SHAREDKV_DISCONNECTED');
    });
  });
}

async function waitForReport(file: string): Promise<AppMessage> {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AppMessage);
      const done = lines.find((l) => l.event === 'done');
      if (done) return done;
    } catch {
      // Not written yet.
    }
    if (Date.now() > end) throw new Error('the child never reported');
    await new Promise((r) => setTimeout(r, 20));
  }
}
