/**
 * Disk errors and power loss: a failed append leaves no hole in the log, with fsync 'always' the replies
 * of the writes it held wait until a snapshot has healed the directory, save() fails with ERR_SHAREDKV_IO
 * meanwhile, and a restart finds every write. A power loss with fsync 'everysec' (the log cut at its last
 * fsynced byte) loses only writes acknowledged within about the last second.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { cpSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SharedKVError } from '../../src/errors.js';
import { logName } from '../../src/persistence/load.js';
import { io, type LogWriter } from '../../src/persistence/writer.js';
import { mulberry32, PersistedHarness, tempDir } from './harness.js';

describe('persistence faults', () => {
  it("a disk that refuses writes for a while: replies wait (fsync 'always'), the log heals, nothing is lost", async () => {
    const dir = tempDir('fault');
    const h = new PersistedHarness({ dir, fsync: 'always' });
    h.set('a', 1);
    await h.settle();
    const writeAll = io.writeAll;
    let failing = true;
    io.writeAll = (fd, buf) =>
      failing
        ? Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC', syscall: 'write' }))
        : writeAll(fd, buf);
    const warned = once(process, 'warning');
    try {
      h.set('b', 2);
      const reply = h.engine.durable?.();
      assert.ok(reply, 'the write of b waits for the disk');
      let replied = false;
      void reply.then(() => {
        replied = true;
      });
      const [warning] = (await warned) as [Error & { code?: string }];
      assert.equal(warning.code, 'ERR_SHAREDKV_IO');
      assert.match(String(h.persistence.stats().failure), /no space/);
      await assert.rejects(h.persistence.save(), (err: SharedKVError) => err.code === 'ERR_SHAREDKV_IO');
      h.set('c', 3);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(replied, false, 'no reply while the write is not durable');
      failing = false;
      // The next retry writes a snapshot with everything and restarts the log in a new segment.
      await reply;
      assert.equal(h.persistence.stats().failure, null);
      h.set('d', 4);
      await h.settle();
    } finally {
      io.writeAll = writeAll;
      await h.close();
    }
    const again = new PersistedHarness({ dir });
    try {
      assert.deepEqual(
        ['a', 'b', 'c', 'd'].map((k) => again.get(k)),
        [1, 2, 3, 4],
      );
      assert.equal(again.persistence.report.droppedBytes, 0, 'the failed append left no partial frame');
    } finally {
      await again.close();
    }
  });

  it("fsync 'everysec', power loss at 8 random moments: only writes acknowledged in the last ~1 s are lost", async () => {
    const dir = tempDir('power');
    const h = new PersistedHarness({ dir, fsync: 'everysec' });
    const writer = Reflect.get(h.persistence, 'writer') as LogWriter;
    const rng = mulberry32(3);
    const acked: number[] = [];
    let crashes = 0;
    let lostMax = 0;
    try {
      for (let i = 1; crashes < 8; i++) {
        h.set('k', i);
        acked[i] = performance.now();
        await new Promise((r) => setTimeout(r, 5));
        if (i > 60 && rng() < 0.02) {
          // The disk as a power loss would leave it: the log up to its last fsynced byte.
          const image = tempDir('image');
          const synced = writer.synced;
          const at = performance.now();
          cpSync(dir, image, { recursive: true });
          truncateSync(join(image, logName(writer.gen)), synced);
          const after = new PersistedHarness({ dir: image });
          const restored = (after.get('k') as number | undefined) ?? 0;
          await after.close();
          for (let j = restored + 1; j <= i; j++) lostMax = Math.max(lostMax, at - acked[j]!);
          crashes++;
        }
      }
    } finally {
      await h.close();
    }
    assert.ok(lostMax < 1_200, `a write acknowledged ${Math.round(lostMax)} ms before the power loss was lost`);
    assert.ok(lostMax > 0, 'some writes were not fsynced yet (the test really cut the log)');
  });
});
