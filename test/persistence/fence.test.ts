/**
 * Fencing tokens across restarts: the owner keeps one token counter, persisted in the log (one FENCE
 * record per grant) and in snapshots (one record in all, however many lock names were used); after a
 * restart every token is larger than any issued before. Files written when the owner kept a token per lock
 * name (a FENCE record per name) load too: the counter continues from their largest token.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lockTable } from '../../src/engine/commands/locks.js';
import {
  decodeOps,
  FILE_HEADER_BYTES,
  FrameBuilder,
  fileHeader,
  LOG_MAGIC,
  OP_FENCE,
  readFrames,
  SNAPSHOT_MAGIC,
} from '../../src/persistence/format.js';
import { logName, snapshotName } from '../../src/persistence/load.js';
import { PersistedHarness, tempDir } from './harness.js';

/** Locks `n` distinct names (released at once) and returns the largest token. */
function lockMany(h: PersistedHarness, n: number, prefix: string): number {
  let last = 0;
  for (let i = 0; i < n; i++) {
    const [token] = h.exec('lock', `${prefix}:${i}`, { ttl: 60_000 }) as [number];
    assert.ok(token > last);
    last = token;
    assert.equal(h.exec('unlock', `${prefix}:${i}`, token), true);
  }
  return last;
}

function fenceRecords(path: string): Array<{ lock: string; token: number }> {
  const out: Array<{ lock: string; token: number }> = [];
  readFrames(path, FILE_HEADER_BYTES, (payload) => {
    for (const op of decodeOps(payload)) if (op.op === OP_FENCE) out.push({ lock: op.lock, token: op.token });
  });
  return out;
}

describe('persistence: fencing tokens', () => {
  it('tokens after a restart are larger than any before, from the log and from a snapshot', async () => {
    const dir = tempDir('fence');
    let h = new PersistedHarness({ dir, fsync: 'always' });
    const first = lockMany(h, 1_000, 'user');
    await h.settle();
    await h.close();

    // From the log alone.
    h = new PersistedHarness({ dir, fsync: 'always' });
    assert.equal(h.persistence.report.fence, first);
    assert.equal(lockTable(h.engine).locks.size, 0, 'leases are not restored, only the counter');
    const second = lockMany(h, 500, 'order');
    assert.ok(second > first, `${second} > ${first}`);
    const report = await h.persistence.save();
    // The snapshot holds the counter once, not a record per lock name.
    assert.deepEqual(fenceRecords(join(dir, report.file)), [{ lock: '', token: second }]);
    await h.close();

    // From the snapshot.
    h = new PersistedHarness({ dir, fsync: 'always' });
    assert.equal(h.persistence.report.fence, second);
    const [third] = h.exec('lock', 'user:0', { ttl: 1_000 }) as [number];
    assert.equal(third, second + 1);
    await h.settle();
    await h.close();
  });

  it('a log and a snapshot with one FENCE record per lock name (older files) continue from their largest token', async () => {
    const dir = tempDir('fence-old');
    const snap = new FrameBuilder();
    snap.fence('a', 40);
    snap.fence('b', 3);
    snap.end(0, 1);
    writeFileSync(join(dir, snapshotName(1)), Buffer.concat([fileHeader(SNAPSHOT_MAGIC), snap.seal()]));
    const log = new FrameBuilder();
    log.fence('a', 41);
    log.fence('c', 7);
    writeFileSync(join(dir, logName(1)), Buffer.concat([fileHeader(LOG_MAGIC), log.seal()]));
    const h = new PersistedHarness({ dir, fsync: 'always' });
    assert.equal(h.persistence.report.fence, 41);
    const [token] = h.exec('lock', 'c', { ttl: 1_000 }) as [number];
    assert.equal(token, 42);
    await h.settle();
    await h.close();
    // The grant is in the log, after the old records.
    const records = fenceRecords(join(dir, logName(1)));
    assert.deepEqual(records.at(-1), { lock: 'c', token: 42 });
  });
});
