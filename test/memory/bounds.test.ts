/** Memory bounds: maxKeys, maxBytes, maxValueBytes and the eviction policies, in the owner. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { connect, type OwnerStore } from '../../src/index.js';
import { encodeValue } from '../../src/protocol/codec.js';

function engineWith(options: ConstructorParameters<typeof Engine>[0]) {
  let t = 1000;
  const engine = new Engine({ now: () => t, ...options });
  const s = engine.openSession('test', () => {});
  const run = (name: string, ...args: unknown[]) => engine.execute(s, 1, name, args);
  return { engine, run, advance: (ms: number) => (t += ms) };
}

describe('memory bounds', () => {
  it('noeviction: writes past maxKeys fail with ERR_SHAREDKV_OUT_OF_MEMORY, reads and deletes still work', () => {
    const { run } = engineWith({ maxKeys: 3 });
    for (const k of ['a', 'b', 'c']) run('set', k, encodeValue(k));
    assert.throws(() => run('set', 'd', encodeValue('d')), { code: 'ERR_SHAREDKV_OUT_OF_MEMORY' });
    // An mset that would pass the bound is refused whole.
    run('del', ['c']);
    assert.throws(() => run('mset', ['x', encodeValue(1), 'y', encodeValue(2)]), {
      code: 'ERR_SHAREDKV_OUT_OF_MEMORY',
    });
    assert.equal(run('has', 'x'), false);
    assert.equal(run('size'), 2);
    assert.ok(run('get', 'a'));
    // Overwriting an existing key does not add a key, so it is allowed.
    assert.equal(run('set', 'a', encodeValue('A')), true);
  });

  it('allkeys-lru evicts the least recently used key and counts it', () => {
    const { run, engine } = engineWith({ maxKeys: 3, evictionPolicy: 'allkeys-lru' });
    for (const k of ['a', 'b', 'c']) run('set', k, encodeValue(k));
    run('get', 'a'); // a is now the most recently used; b the least.
    run('set', 'd', encodeValue('d'));
    assert.deepEqual((run('keys') as string[]).sort(), ['a', 'c', 'd']);
    assert.equal(engine.stats().evicted, 1);
  });

  it('allkeys-lru keeps approximate bytes within 10% of maxBytes under a write flood', () => {
    const maxBytes = 1_000_000;
    const { run, engine } = engineWith({ maxBytes, evictionPolicy: 'allkeys-lru' });
    let peak = 0;
    for (let i = 0; i < 20_000; i++) {
      run('set', `k${i}`, encodeValue({ i, pad: 'x'.repeat(100 + (i % 400)) }));
      peak = Math.max(peak, engine.bytes);
    }
    assert.ok(peak <= maxBytes * 1.1, `peak ${peak}`);
    assert.ok(engine.bytes <= maxBytes);
    assert.ok(engine.stats().evicted > 10_000);
  });

  it('allkeys-lru at scale (sampled, per shard): keys read recently survive a flood of new keys', () => {
    const { run, engine } = engineWith({ maxKeys: 10_000, evictionPolicy: 'allkeys-lru' });
    const value = encodeValue(1);
    for (let i = 0; i < 10_000; i++) run('set', `cold:${i}`, value);
    const hot = Array.from({ length: 1_000 }, (_, i) => `cold:${i * 7}`);
    for (let i = 0; i < 30_000; i++) {
      // Every 100 writes, all hot keys are read again: they are never among the least recently used.
      if (i % 100 === 0) for (const k of hot) assert.ok(run('get', k), `${k} was evicted`);
      run('set', `new:${i}`, value);
    }
    assert.equal(engine.data.size, 10_000);
    assert.equal(engine.stats().evicted, 30_000);
    for (const k of hot) assert.ok(run('has', k), `${k} was evicted`);
    // The 9,000 cold keys, older than every hot read, went first: none is left.
    assert.equal((run('keys', 'cold:*') as string[]).length, 1_000);
  });

  it('volatile-lru evicts only keys with a ttl, the least recently used first', () => {
    const { run } = engineWith({ maxKeys: 4, evictionPolicy: 'volatile-lru' });
    run('set', 'p', encodeValue(0));
    for (const k of ['a', 'b', 'c']) run('set', k, encodeValue(k), { ttl: 60_000 });
    run('get', 'a');
    run('set', 'd', encodeValue('d'), { ttl: 60_000 });
    assert.deepEqual((run('keys') as string[]).sort(), ['a', 'c', 'd', 'p']);
  });

  it('volatile-ttl evicts the key closest to expiry; volatile-lru never touches keys without ttl', () => {
    const v = engineWith({ maxKeys: 3, evictionPolicy: 'volatile-ttl' });
    v.run('set', 'forever', encodeValue(1));
    v.run('set', 'soon', encodeValue(2), { ttl: 100 });
    v.run('set', 'later', encodeValue(3), { ttl: 10_000 });
    v.run('set', 'new', encodeValue(4), { ttl: 50_000 });
    assert.deepEqual((v.run('keys') as string[]).sort(), ['forever', 'later', 'new']);

    const l = engineWith({ maxKeys: 2, evictionPolicy: 'volatile-lru' });
    l.run('set', 'p1', encodeValue(1));
    l.run('set', 'p2', encodeValue(2));
    assert.throws(() => l.run('set', 'p3', encodeValue(3)), { code: 'ERR_SHAREDKV_OUT_OF_MEMORY' });
  });

  it('evictions reach watchers as evict events', async () => {
    const kv = (await connect({ role: 'owner', maxKeys: 2, evictionPolicy: 'allkeys-lru' })) as OwnerStore;
    try {
      const events: string[] = [];
      await kv.watch('*', (e) => events.push(`${e.op}:${e.key}`));
      await kv.set('a', 1);
      await kv.set('b', 2);
      await kv.set('c', 3);
      await new Promise((r) => setImmediate(r));
      // The write lands, then the eviction it caused; both in one transaction.
      assert.deepEqual(events, ['set:a', 'set:b', 'set:c', 'evict:a']);
      assert.equal((await kv.stats()).evicted, 1);
    } finally {
      await kv.close();
    }
  });

  it('a value over maxValueBytes is refused with ERR_SHAREDKV_TOO_LARGE and changes nothing', async () => {
    const kv = (await connect({ role: 'owner', maxValueBytes: 1024 })) as OwnerStore;
    try {
      await kv.set('small', 'x'.repeat(100));
      await assert.rejects(kv.set('small', 'x'.repeat(5000)), { code: 'ERR_SHAREDKV_TOO_LARGE' });
      assert.equal(await kv.get('small'), 'x'.repeat(100));
      assert.equal(await kv.set('after', 1), true);
    } finally {
      await kv.close();
    }
  });
});
