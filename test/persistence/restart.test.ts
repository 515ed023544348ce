/**
 * A cluster app restarted on the same `persist.dir` comes back with the same data: a primary with
 * persistence and two workers writing, kill -9 of the primary, a new primary on the same directory,
 * the same digest (keys, value bytes, absolute ttls, the last fencing token). Also `kv.save()` through connect().
 */
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type OwnerStore, type SharedKVError } from '../../src/index.js';
import { tempDir } from './harness.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/persist-cluster.ts', import.meta.url));
const spawned = new Set<number>();

after(() => {
  for (const pid of spawned) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

interface Digest {
  rows: Array<[string, string, number]>;
  /** The owner's last fencing token. */
  fence: number;
}

function start(env: Record<string, string>): { child: ChildProcess; digest: Promise<Digest> } {
  const child = fork(FIXTURE, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
  spawned.add(child.pid as number);
  const digest = new Promise<Digest>((resolve, reject) => {
    child.on('message', (m: { event?: string; pids?: number[] } & Partial<Digest>) => {
      if (m.event === 'workers') for (const pid of m.pids ?? []) spawned.add(pid);
      if (m.event === 'digest') resolve({ rows: m.rows ?? [], fence: m.fence ?? 0 });
    });
    child.once('exit', (code) => reject(new Error(`the primary exited (${code}) before its digest`)));
  });
  return { child, digest };
}

describe('restart', () => {
  it('a cluster primary killed with -9 and restarted on its directory has the same digest', async () => {
    const dir = tempDir('cluster');
    const first = start({ SKV_DIR: dir, SKV_MODE: 'write', SKV_WORKERS: '2' });
    const before = await first.digest;
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    const second = start({ SKV_DIR: dir, SKV_MODE: 'read' });
    const afterRestart = await second.digest;
    second.child.kill('SIGKILL');
    assert.ok(before.rows.length > 500, `${before.rows.length} keys`);
    assert.ok(before.rows.some((r) => r[2] !== 0) && before.fence > 0);
    assert.deepEqual(
      afterRestart.rows.map(([k, v]) => [k, v]),
      before.rows.map(([k, v]) => [k, v]),
    );
    // Absolute expiries agree to within the clocks' resolution (Date.now is whole milliseconds).
    afterRestart.rows.forEach(([k, , exp], i) => {
      assert.ok(Math.abs(exp - before.rows[i]![2]) <= 5, `${k}: ${exp} vs ${before.rows[i]![2]}`);
    });
    // The next token is never below the last one issued (the owner also seeds its counter from the wall
    // clock, so it is usually above; test/persistence/fence.test.ts checks the counter itself is restored).
    assert.ok(afterRestart.fence >= before.fence, `fence ${afterRestart.fence} after restart < ${before.fence}`);
  });

  it('connect({ persist }) and kv.save(): a snapshot, and the same data in the next owner', async () => {
    const dir = tempDir('save');
    let kv = (await connect({ role: 'owner', persist: { dir, fsync: 'always' } })) as OwnerStore;
    try {
      await kv.mset({ a: 1, b: new Map([[1, 2]]) });
      await kv.set('c', 'x', { ttl: 60_000 });
      await kv.save();
      assert.deepEqual(readdirSync(dir).sort(), ['LOCK', 'log-000002.skv', 'snapshot-000002.skv']);
      await kv.del('a');
    } finally {
      await kv.close();
    }
    kv = (await connect({ role: 'owner', persist: { dir } })) as OwnerStore;
    try {
      assert.equal(await kv.get('a'), undefined);
      assert.deepEqual(await kv.get('b'), new Map([[1, 2]]));
      assert.ok((await kv.ttl('c')) > 59_000);
    } finally {
      await kv.close();
    }
    const plain = (await connect({ role: 'owner' })) as OwnerStore;
    try {
      await assert.rejects(plain.save(), (err: SharedKVError) => err.code === 'ERR_SHAREDKV_BAD_ARGUMENT');
    } finally {
      await plain.close();
    }
  });
});
