/**
 * The near cache never serves a value older than the last acknowledged write, across processes, and it
 * respects ttls; reads it can serve locally never reach the owner.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type OwnerStore } from '../../src/index.js';
import { forkWorker, killAll, nextEvent } from '../helpers/processes.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/near-worker.ts', import.meta.url));
let kv: OwnerStore | undefined;

after(async () => {
  await killAll();
  await kv?.close();
});

describe('near cache', () => {
  it('10,000 write/read interleavings between processes: never older than an acknowledged write', async () => {
    kv = (await connect({ role: 'owner' })) as OwnerStore;
    const reader = forkWorker({ SKV_ROLE: 'reader', SKV_N: '10000' }, FIXTURE);
    const writer = forkWorker({ SKV_ROLE: 'writer', SKV_N: '10000' }, FIXTURE);
    const [r] = await Promise.all([nextEvent(reader, 'done', 60_000), nextEvent(writer, 'done', 60_000)]);
    assert.equal(r.stale, 0, 'no stale read');
    assert.ok((r.reads as number) > 0);
    // The reader read far more often than it asked the owner: the rest came from its near cache.
    const stats = await kv.stats();
    const served = (stats.commands.getc ?? 0) + (stats.commands.get ?? 0);
    assert.ok(served < (r.reads as number) * 2 + (r.reads as number) / 3, `owner served ${served} reads`);
    for (const w of [reader, writer]) w.kill('SIGKILL');
    await Promise.all([once(reader, 'exit'), once(writer, 'exit')]);
  });

  it('2 writers bursting 50 keys a round, 2 readers with 32 reads in flight: never older than an acknowledged round', async () => {
    kv ??= (await connect({ role: 'owner' })) as OwnerStore;
    const common = { SKV_KEYS: '50', SKV_N: '300' };
    const writers = ['a', 'b'].map((id) => forkWorker({ ...common, SKV_ROLE: 'burst-writer', SKV_ID: id }, FIXTURE));
    const readers = [0, 1].map(() => forkWorker({ ...common, SKV_ROLE: 'burst-reader', SKV_WRITERS: 'a,b' }, FIXTURE));
    const results = await Promise.all([...writers, ...readers].map((p) => nextEvent(p, 'done', 120_000)));
    for (const r of results.slice(2)) {
      assert.equal(r.stale, 0, 'no read older than the round its writer had acknowledged');
      assert.ok((r.reads as number) > 1_000, `only ${r.reads} reads`);
    }
    const procs = [...writers, ...readers];
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => once(p, 'exit')));
  });

  it('frozen mode: hits share one deeply frozen object; values that cannot be frozen are copies', async () => {
    kv ??= (await connect({ role: 'owner' })) as OwnerStore;
    const w = forkWorker({ SKV_ROLE: 'frozen' }, FIXTURE);
    const r = await nextEvent(w, 'done');
    assert.equal(r.sameObject, true);
    assert.equal(r.frozen, true);
    assert.equal(r.threw, true, 'mutating a frozen value throws');
    assert.deepEqual(r.third, [1, 2]);
    assert.equal(r.mapsDistinct, true, 'a Map is decoded afresh on every read');
    assert.deepEqual(r.m3, [['x', 1]], 'mutating a returned Map does not change the cache');
    assert.equal(r.dagShared, true, 'a shared reference is one object in every read');
    assert.equal(r.cycleKept, true, 'a cycle is kept in every read');
    assert.deepEqual(r.treeKeys, ['z', 'a', 'u', 'n'], 'key order as written');
    assert.equal(r.treeEqual, true, 'hits equal the value written (NaN, undefined, bigint included)');
    assert.equal(r.treeCopies, false);
    assert.equal(r.hasUndefinedKey, true);
    assert.equal(r.treeFetches, 1, 'one read went to the owner, the others were hits');
    assert.deepEqual(r.deepReads, [1000, 1000, 1000], 'a value nested 1,000 deep reads back whole');
    w.kill('SIGKILL');
    await once(w, 'exit');
  });

  it('default mode: every read returns its own copy, cached or not', async () => {
    kv ??= (await connect({ role: 'owner' })) as OwnerStore;
    const w = forkWorker({ SKV_ROLE: 'copies' }, FIXTURE);
    const r = await nextEvent(w, 'done');
    assert.equal(r.sameObject, false);
    assert.equal(r.frozen, false);
    assert.equal(r.threw, false);
    assert.deepEqual(r.third, [1, 2], 'a mutation of one read does not show in the next');
    assert.equal(r.mapsDistinct, true);
    assert.deepEqual(r.m3, [['x', 1]]);
    assert.equal(r.dagShared, true, 'a shared reference is one object in every read');
    assert.equal(r.cycleKept, true, 'a cycle is kept in every read');
    assert.deepEqual(r.treeKeys, ['z', 'a', 'u', 'n'], 'key order as written');
    assert.equal(r.treeEqual, true, 'hits equal the value written (NaN, undefined, bigint included)');
    assert.equal(r.treeCopies, true, "each hit is its own copy, and a change to the miss's object shows in none");
    assert.equal(r.hasUndefinedKey, true);
    assert.equal(r.treeFetches, 1, 'one read went to the owner, the others were hits');
    assert.deepEqual(r.deepReads, [1000, 1000, 1000], 'a value nested 1,000 deep reads back whole');
    w.kill('SIGKILL');
    await once(w, 'exit');
  });

  it('a cached value ends with its ttl', async () => {
    kv ??= (await connect({ role: 'owner' })) as OwnerStore;
    const w = forkWorker({ SKV_ROLE: 'ttl' }, FIXTURE);
    const r = await nextEvent(w, 'done');
    assert.equal(r.first, 'v');
    assert.equal(r.again, 'v');
    assert.equal(r.after, null);
    w.kill('SIGKILL');
    await once(w, 'exit');
  });
});
