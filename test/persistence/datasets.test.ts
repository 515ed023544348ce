/**
 * Round trips: 200 random datasets (every kind of write, ttls, locks, transactions, with snapshots and log
 * rewrites running while writes go on) have the same digest after a restart; ttls are kept as absolute
 * times, and a wall-clock jump changes no ttl while the owner runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Server } from '../../src/server/server.js';
import { enc } from '../helpers/engine.js';
import { digest, mulberry32, PersistedHarness, tempDir, WALL_BASE } from './harness.js';

const FSYNCS = ['always', 'everysec', 'no'] as const;

/** One random command on the harness; `rng` picks it. */
function randomOp(h: PersistedHarness, rng: () => number): void {
  const key = () => `k${Math.floor(rng() * 40)}`;
  const value = () => {
    const pick = Math.floor(rng() * 5);
    if (pick === 0) return Math.floor(rng() * 1000);
    if (pick === 1) return 'v'.repeat(Math.floor(rng() * 200));
    if (pick === 2) return { at: new Date(1_700_000_000_000 + Math.floor(rng() * 1e6)), set: new Set([1, 2]) };
    if (pick === 3) return new Map([[Math.floor(rng() * 9), [1n, null, true]]]);
    return new Uint8Array(Math.floor(rng() * 64)).fill(7);
  };
  const ttl = () => 1 + Math.floor(rng() * 5_000);
  const r = rng();
  try {
    if (r < 0.3) h.set(key(), value(), rng() < 0.4 ? { ttl: ttl() } : undefined);
    else if (r < 0.4) h.exec('del', [key(), key()]);
    else if (r < 0.48) h.exec('expire', key(), ttl());
    else if (r < 0.53) h.exec('persist', key());
    else if (r < 0.6) h.exec('incr', `n${Math.floor(rng() * 3)}`, 1 + Math.floor(rng() * 5));
    else if (r < 0.66)
      h.exec('mset', [key(), enc(value()), key(), enc(value())], rng() < 0.5 ? { ttl: ttl() } : undefined);
    else if (r < 0.72)
      h.exec('batch', [
        ['set', key(), enc(value())],
        ['del', [key()]],
        ['incr', 'n0', 1],
      ]);
    else if (r < 0.76) h.exec('cas', key(), null, enc(value()));
    else if (r < 0.82) h.exec('lock', `lock${Math.floor(rng() * 3)}`, { ttl: 1 + Math.floor(rng() * 50) });
    else if (r < 0.85) h.exec('clear', `k${Math.floor(rng() * 4)}`);
    else if (r < 0.9) h.set(key(), value(), { keepTtl: true });
    else h.advance(Math.floor(rng() * 800));
  } catch {
    // Wrong type (incr on a string) and the like: a refused command changes nothing, which is fine here.
  }
}

describe('persistence round trips', () => {
  it('200 random datasets have the same digest (keys, values, absolute ttls, fences) after a restart', async () => {
    let saves = 0;
    for (let round = 0; round < 200; round++) {
      const rng = mulberry32(1000 + round);
      const dir = tempDir('ds');
      const fsync = FSYNCS[round % 3]!;
      // Every fourth round rewrites the log as soon as it passes 2 KiB, so compactions run mid-stream.
      const compactAfterBytes = round % 4 === 0 ? 2048 : 64 * 1024 * 1024;
      let h = new PersistedHarness({ dir, fsync, compactAfterBytes });
      const restarts = 1 + (round % 3);
      for (let life = 0; life < restarts; life++) {
        const ops = 20 + Math.floor(rng() * 200);
        const saving: Array<Promise<unknown>> = [];
        for (let i = 0; i < ops; i++) {
          randomOp(h, rng);
          // Let the event loop turn now and then: commits, snapshot slices and writes interleave.
          if (rng() < 0.15) await new Promise((r) => setImmediate(r));
          if (rng() < 0.02) saving.push(h.persistence.save());
        }
        await Promise.all(saving);
        const before = digest(h.engine, WALL_BASE);
        const clock = h.clock.t;
        saves += h.persistence.stats().saves;
        await h.close();
        h = new PersistedHarness({ dir, fsync, compactAfterBytes }, clock);
        assert.equal(digest(h.engine, WALL_BASE), before, `round ${round}, life ${life}`);
      }
      await h.close();
    }
    // Snapshots (asked for, and log rewrites past 2 KiB) really ran in the middle of the writes.
    assert.ok(saves > 100, `${saves} snapshots`);
  });

  it('keys whose ttl passed while the owner was down are not loaded; the others keep their deadline', async () => {
    const dir = tempDir();
    let h = new PersistedHarness({ dir, fsync: 'always' });
    h.set('short', 1, { ttl: 1_000 });
    h.set('long', 2, { ttl: 10_000 });
    h.set('none', 3);
    await h.settle();
    await h.close();
    // Down for 5 s of wall-clock time; the new process's monotonic clock starts elsewhere (at 50).
    h = new PersistedHarness({ dir }, 50, 1_000 + 5_000 - 50);
    assert.equal(h.get('short'), undefined);
    assert.equal(h.exec('ttl', 'long'), 5_000);
    assert.equal(h.exec('ttl', 'none'), -1);
    assert.equal(h.persistence.report.expired, 1);
    await h.close();
  });

  it('a wall-clock jump while the owner runs changes no ttl (the engine clock is monotonic)', async () => {
    const dir = tempDir();
    const realNow = Date.now;
    const server = new Server({ persist: { dir, fsync: 'always' } });
    const session = server.engine.openSession('test', () => {});
    let id = 1;
    const exec = (name: string, ...args: unknown[]) => server.engine.execute(session, id++, name, args);
    try {
      exec('set', 'k', enc('v'), { ttl: 300 });
      // The wall clock jumps an hour ahead, then a day back: neither moves the key's deadline.
      Date.now = () => realNow() + 3_600_000;
      await new Promise((r) => setTimeout(r, 50));
      assert.ok((exec('ttl', 'k') as number) > 200);
      Date.now = () => realNow() - 86_400_000;
      assert.ok((exec('ttl', 'k') as number) > 200);
      await new Promise((r) => setTimeout(r, 350));
      assert.equal(exec('get', 'k'), null);
      exec('set', 'j', enc('w'), { ttl: 60_000 });
    } finally {
      await server.close();
    }
    // Restarted with the clock still a day back: the absolute expiry was written in that clock, so the
    // remaining ttl is what it was (a restart across a jump is the one case that follows the wall clock).
    const again = new Server({ persist: { dir } });
    try {
      const s2 = again.engine.openSession('test', () => {});
      const ttl = again.engine.execute(s2, 1, 'ttl', ['j']) as number;
      assert.ok(ttl > 59_000 && ttl <= 60_000, `ttl ${ttl}`);
    } finally {
      Date.now = realNow;
      await again.close();
    }
  });
});
