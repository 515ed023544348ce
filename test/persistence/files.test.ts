/**
 * The files on disk: a log cut at any byte loads its valid prefix (the torn tail is dropped and counted),
 * damage in the middle refuses to start with ERR_SHAREDKV_CORRUPT unless `repair`, leftovers of an
 * interrupted snapshot or compaction are harmless, and a second owner cannot open the same directory.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { SharedKVError } from '../../src/errors.js';
import { FILE_HEADER_BYTES, FORMAT_VERSION } from '../../src/persistence/format.js';
import { logName, snapshotName } from '../../src/persistence/load.js';
import { encodeValue, legacyEncoding } from '../../src/protocol/codec.js';
import { enc } from '../helpers/engine.js';
import { digest, mulberry32, PersistedHarness, tempDir, WALL_BASE } from './harness.js';

/** Builds a log of `ticks` group commits; returns the file size and the digest after each commit. */
async function buildLog(dir: string, ticks: number): Promise<Array<{ size: number; digest: string }>> {
  const h = new PersistedHarness({ dir, fsync: 'always' });
  const log = join(dir, logName(1));
  const points = [{ size: statSync(log).size, digest: digest(h.engine, WALL_BASE) }];
  for (let t = 0; t < ticks; t++) {
    // One tick: a few changes of every kind, so each frame holds several operations.
    h.set(`k${t % 7}`, { t, pad: 'x'.repeat((t * 37) % 300) }, t % 3 === 0 ? { ttl: 60_000 } : undefined);
    if (t % 4 === 1) h.exec('del', [`k${(t + 3) % 7}`]);
    if (t % 5 === 2) h.exec('incr', 'n', 1);
    if (t % 6 === 3) h.exec('lock', 'L', { ttl: 1 });
    if (t % 8 === 5)
      h.exec('batch', [
        ['set', 'a', enc(t)],
        ['set', 'b', enc(t)],
      ]);
    await h.settle();
    points.push({ size: statSync(log).size, digest: digest(h.engine, WALL_BASE) });
  }
  await h.close();
  return points;
}

function reopen(dir: string, repair = false): PersistedHarness {
  return new PersistedHarness({ dir, fsync: 'no', repair });
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof SharedKVError ? err.code : String(err);
  }
  return undefined;
}

describe('persistence files', () => {
  it('a log cut at 200 random offsets loads exactly its valid prefix, reporting the bytes dropped', async () => {
    const source = tempDir();
    const points = await buildLog(source, 60);
    const full = points.at(-1)!.size;
    const rng = mulberry32(42);
    for (let i = 0; i < 200; i++) {
      // Every tenth cut lands inside the file header, the others anywhere in the frames.
      const cut =
        i % 10 === 0
          ? Math.floor(rng() * FILE_HEADER_BYTES)
          : FILE_HEADER_BYTES + Math.floor(rng() * (full - FILE_HEADER_BYTES + 1));
      const dir = tempDir('cut');
      cpSync(source, dir, { recursive: true });
      truncateSync(join(dir, logName(1)), cut);
      const h = reopen(dir);
      const boundary = [...points].reverse().find((p) => p.size <= cut) ?? points[0]!;
      const expected = cut < FILE_HEADER_BYTES ? points[0]!.digest : boundary.digest;
      assert.equal(digest(h.engine, WALL_BASE), expected, `cut at ${cut}`);
      const dropped = cut < FILE_HEADER_BYTES ? cut : cut - boundary.size;
      assert.equal(h.persistence.report.droppedBytes, dropped, `cut at ${cut}`);
      await h.close();
      // The torn tail was cut off: the next start finds a clean log.
      const again = reopen(dir);
      assert.equal(again.persistence.report.droppedBytes, 0);
      assert.equal(digest(again.engine, WALL_BASE), expected);
      await again.close();
    }
  });

  it('a flipped byte in the middle of the log refuses to start with ERR_SHAREDKV_CORRUPT; repair keeps the prefix', async () => {
    const source = tempDir();
    const points = await buildLog(source, 30);
    const rng = mulberry32(7);
    for (let i = 0; i < 20; i++) {
      const dir = tempDir('flip');
      cpSync(source, dir, { recursive: true });
      const file = join(dir, logName(1));
      const bytes = readFileSync(file);
      // A byte of any frame but the last (damage there is indistinguishable from a torn write).
      const frame = 1 + Math.floor(rng() * (points.length - 3));
      const at = points[frame]!.size + Math.floor(rng() * (points[frame + 1]!.size - points[frame]!.size));
      bytes[at] = bytes[at]! ^ (1 << Math.floor(rng() * 8));
      writeFileSync(file, bytes);
      let err: unknown;
      try {
        reopen(dir);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof SharedKVError, `flip at ${at}`);
      assert.equal(err.code, 'ERR_SHAREDKV_CORRUPT');
      assert.deepEqual(err.data, {
        file: logName(1),
        offset: points[frame]!.size,
        reason: (err.data as { reason: string }).reason,
      });
      assert.equal(readFileSync(file).length, bytes.length, 'a refused start changes no file');
      const h = reopen(dir, true);
      assert.equal(digest(h.engine, WALL_BASE), points[frame]!.digest);
      assert.equal(h.persistence.report.repaired?.offset, points[frame]!.size);
      assert.equal(h.persistence.report.droppedBytes, bytes.length - points[frame]!.size);
      await h.close();
      const again = reopen(dir);
      assert.equal(digest(again.engine, WALL_BASE), points[frame]!.digest);
      await again.close();
    }
  });

  it('a damaged last frame is a torn tail; zeros after the last frame are a torn tail too', async () => {
    const dir = tempDir();
    const points = await buildLog(dir, 10);
    const file = join(dir, logName(1));
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(file, Buffer.concat([bytes]));
    let h = reopen(dir);
    assert.equal(digest(h.engine, WALL_BASE), points.at(-2)!.digest);
    await h.close();
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.alloc(4096)]));
    h = reopen(dir);
    assert.equal(h.persistence.report.droppedBytes, 4096);
    assert.equal(digest(h.engine, WALL_BASE), points.at(-2)!.digest);
    await h.close();
  });

  it('a damaged snapshot refuses to start; a missing log segment too', async () => {
    const dir = tempDir();
    const h = new PersistedHarness({ dir, fsync: 'always' });
    for (let i = 0; i < 100; i++) h.set(`k${i}`, i);
    await h.persistence.save();
    h.set('after', 1);
    await h.persistence.save();
    h.set('later', 2);
    await h.settle();
    await h.close();
    assert.deepEqual(readdirSync(dir).sort(), ['log-000003.skv', 'snapshot-000003.skv']);
    const snap = join(dir, snapshotName(3));
    const good = readFileSync(snap);
    const bad = Buffer.from(good);
    bad[40] = bad[40]! ^ 1;
    writeFileSync(snap, bad);
    assert.equal(
      codeOf(() => reopen(dir)),
      'ERR_SHAREDKV_CORRUPT',
    );
    writeFileSync(snap, good.subarray(0, good.length - 20));
    assert.equal(
      codeOf(() => reopen(dir)),
      'ERR_SHAREDKV_CORRUPT',
      'a snapshot without its end marker is damaged',
    );
    writeFileSync(snap, good);
    writeFileSync(join(dir, logName(5)), readFileSync(join(dir, logName(3))));
    assert.equal(
      codeOf(() => reopen(dir)),
      'ERR_SHAREDKV_CORRUPT',
      'log 4 is missing',
    );
    const r = reopen(dir, true);
    assert.equal(r.get('later'), 2);
    assert.ok(r.persistence.report.repaired);
    await r.close();
  });

  it('leftovers of an interrupted snapshot and of a finished compaction are ignored and removed', async () => {
    const dir = tempDir();
    const h = new PersistedHarness({ dir, fsync: 'always' });
    for (let i = 0; i < 50; i++) h.set(`k${i}`, i);
    await h.persistence.save();
    const before = digest(h.engine, WALL_BASE);
    const files = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
    h.set('k1', 'changed');
    await h.settle();
    const after = digest(h.engine, WALL_BASE);
    await h.close();
    // A snapshot that died half-written beside the log it would have superseded.
    writeFileSync(join(dir, `${snapshotName(3)}.tmp`), Buffer.from('SKV-SNP\n partial'));
    let r = reopen(dir);
    assert.equal(digest(r.engine, WALL_BASE), after);
    await r.close();
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')));
    // The files a compaction supersedes, still there when the owner died before deleting them.
    writeFileSync(join(dir, snapshotName(1)), files[snapshotName(2)]!);
    writeFileSync(join(dir, logName(1)), Buffer.from('garbage that nobody reads'));
    r = reopen(dir);
    assert.equal(digest(r.engine, WALL_BASE), after);
    assert.notEqual(before, after);
    await r.close();
    assert.deepEqual(readdirSync(dir).sort(), [logName(2), snapshotName(2)]);
  });

  it('refuses a directory held by another live owner, takes over one left by a dead owner', async () => {
    const dir = tempDir();
    const h = new PersistedHarness({ dir });
    assert.equal(
      codeOf(() => new PersistedHarness({ dir })),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
    await h.close();
    // pid 1 is alive (init) and not this process: the directory is held.
    writeFileSync(join(dir, 'LOCK'), '1\n');
    assert.equal(
      codeOf(() => new PersistedHarness({ dir })),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
    // A pid that no process has: a stale lock, taken over.
    writeFileSync(join(dir, 'LOCK'), '4194303\n');
    const r = new PersistedHarness({ dir });
    await r.close();
    assert.ok(!readdirSync(dir).includes('LOCK'));
  });

  it('a format 1 directory (objects in the structured encoding) loads and upgrades; other versions are refused', async () => {
    const dir = tempDir();
    const value = { id: 3, tags: ['a'] };
    const h = new PersistedHarness({ dir, fsync: 'always' });
    // What sharedkv 0.1 wrote: every object in the structured encoding, under a version 1 header.
    const legacy = legacyEncoding(encodeValue(value));
    assert.ok(legacy);
    h.exec('set', 'old', legacy);
    h.set('n', 5);
    await h.settle();
    await h.close();
    const log = join(dir, logName(1));
    const withVersion = (version: number) => {
      const b = readFileSync(log);
      b.writeUInt32LE(version, 8);
      b.writeUInt32LE(crc32(b.subarray(0, 12)), 12);
      writeFileSync(log, b);
    };
    withVersion(1);

    const r = reopen(dir);
    assert.equal(readFileSync(log).readUInt32LE(8), FORMAT_VERSION, 'the segment appended to now says version 2');
    assert.equal(FORMAT_VERSION, 2);
    assert.deepEqual(r.get('old'), value);
    assert.equal(r.get('n'), 5);
    assert.equal(r.exec('cas', 'old', enc(value), enc({ id: 4, tags: [] })), true, 'the older bytes equal the value');
    await r.settle();
    await r.close();
    const again = reopen(dir);
    assert.deepEqual(again.get('old'), { id: 4, tags: [] });
    await again.close();

    withVersion(3);
    assert.throws(() => reopen(dir), /format version 3, this sharedkv reads versions 1 to 2/);
    withVersion(0);
    assert.equal(
      codeOf(() => reopen(dir)),
      'ERR_SHAREDKV_CORRUPT',
    );
  });

  it('rejects bad options with ERR_SHAREDKV_BAD_ARGUMENT', () => {
    for (const bad of [
      { dir: '' },
      { dir: tempDir(), fsync: 'sometimes' },
      { dir: tempDir(), repair: 1 },
      { dir: tempDir(), extra: 1 },
    ]) {
      assert.equal(
        codeOf(() => new PersistedHarness(bad as never)),
        'ERR_SHAREDKV_BAD_ARGUMENT',
      );
    }
  });
});
