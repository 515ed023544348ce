/**
 * The introspection commands in the engine: `scan` pages through a large keyspace with bounded work per
 * call and a cursor, `peek` reads without side effects, `namespaces` counts, and `clients`, `lockinfo`
 * and `subscriptions` describe what each session holds, and forget it when the session closes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientsResult, LockInfo, ScanResult, SubscriptionInfo } from '../../src/engine/commands/introspect.js';
import { Engine } from '../../src/engine/engine.js';
import { SharedKVError } from '../../src/errors.js';
import { decodeValue } from '../../src/protocol/codec.js';
import { EngineHarness, enc } from '../helpers/engine.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof SharedKVError ? err.code : 'not a SharedKVError';
  }
  return undefined;
}

describe('scan', () => {
  it('returns every key of a large keyspace exactly once, a page at a time', () => {
    const t = new EngineHarness();
    const n = 25_000;
    const pairs: unknown[] = [];
    for (let i = 0; i < n; i++) pairs.push(`k:${i}`, enc(i));
    t.a.exec('mset', pairs);
    const seen = new Set<string>();
    let cursor = 0;
    let calls = 0;
    do {
      const r = t.a.exec('scan', cursor, { count: 1000 }) as ScanResult;
      for (const it of r.items) {
        assert.ok(!seen.has(it.key), `${it.key} returned twice`);
        seen.add(it.key);
      }
      assert.ok(r.items.length <= 1000);
      cursor = r.cursor;
      calls++;
    } while (cursor !== 0);
    assert.equal(seen.size, n);
    assert.equal(calls, 25);
  });

  it('filters by glob and type, reports size and ttl, and skips expired keys', () => {
    const t = new EngineHarness();
    t.a.exec('set', 'user:1', enc({ name: 'a' }));
    t.a.exec('set', 'user:2', enc(new Map([[1, 2]])), { ttl: 5_000 });
    t.a.exec('set', 'user:3', enc('gone soon'), { ttl: 10 });
    t.a.exec('set', 'other', enc(1));
    t.clock.t += 20;
    const all = t.a.exec('scan', 0, { match: 'user:*' }) as ScanResult;
    assert.equal(all.cursor, 0);
    // A scan visits keys in the key table's order (shard by shard), not in insertion order.
    const items = [...all.items].sort((a, b) => (a.key < b.key ? -1 : 1));
    assert.deepEqual(
      items.map((i) => [i.key, i.type, i.ttl]),
      [
        ['user:1', 'object', -1],
        ['user:2', 'map', 4_980],
      ],
    );
    assert.equal(items[0]!.size, enc({ name: 'a' }).length);
    const maps = t.a.exec('scan', 0, { match: '*', type: 'map' }) as ScanResult;
    assert.deepEqual(
      maps.items.map((i) => i.key),
      ['user:2'],
    );
    // Read-only: the expired key is skipped, not removed, and nothing counts as a hit or a miss.
    assert.equal(t.engine.data.has('user:3'), true);
    assert.equal(t.engine.hits + t.engine.misses, 0);
  });

  it('bounds the work of one call on a sparse match, and the cursor carries on', () => {
    const t = new EngineHarness();
    const pairs: unknown[] = [];
    for (let i = 0; i < 50_000; i++) pairs.push(`noise:${i}`, enc(i));
    pairs.push('needle', enc(1));
    t.a.exec('mset', pairs);
    const first = t.a.exec('scan', 0, { match: 'needle' }) as ScanResult;
    assert.ok(first.cursor > 0 && first.scanned <= 20_000);
    // The needle may be on any page (the scan follows the key table's shards, not insertion order).
    const found = first.items.map((i) => i.key);
    let cursor = first.cursor;
    let calls = 1;
    while (cursor !== 0) {
      const r = t.a.exec('scan', cursor, { match: 'needle' }) as ScanResult;
      assert.ok(r.scanned <= 20_000);
      found.push(...r.items.map((i) => i.key));
      cursor = r.cursor;
      calls++;
    }
    assert.deepEqual(found, ['needle']);
    assert.ok(calls >= 3, `${calls} calls for 50,001 keys`);
  });

  it('refuses unknown cursors and bad options; old cursors expire beyond the limit', () => {
    const t = new EngineHarness();
    for (let i = 0; i < 10; i++) t.a.exec('set', `k${i}`, enc(i));
    assert.equal(
      code(() => t.a.exec('scan', 999)),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
    assert.equal(
      code(() => t.a.exec('scan', -1)),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
    assert.equal(
      code(() => t.a.exec('scan', 0, { count: 0 })),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
    assert.equal(
      code(() => t.a.exec('scan', 0, { type: 'nope' })),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
    assert.equal(
      code(() => t.a.exec('scan', 0, { cont: 5 })),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
    const first = (t.a.exec('scan', 0, { count: 1 }) as ScanResult).cursor;
    for (let i = 0; i < 64; i++) t.a.exec('scan', 0, { count: 1 });
    assert.equal(
      code(() => t.a.exec('scan', first, { count: 1 })),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
  });

  it('drops the cursors of a session that closes', () => {
    const t = new EngineHarness();
    for (let i = 0; i < 10; i++) t.a.exec('set', `k${i}`, enc(i));
    const b = t.open('b');
    const cursor = (b.exec('scan', 0, { count: 1 }) as ScanResult).cursor;
    t.engine.closeSession(b.session);
    assert.equal(
      code(() => t.a.exec('scan', cursor, { count: 1 })),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
  });
});

describe('peek and namespaces', () => {
  it('peek reads a value, its type and ttl without counting a hit or touching the LRU order', () => {
    const engine = new Engine({ maxKeys: 100, evictionPolicy: 'allkeys-lru' });
    const s = engine.openSession('t', () => {});
    engine.execute(s, 1, 'set', ['a', enc(new Set([1])), { ttl: 60_000 }]);
    engine.execute(s, 2, 'set', ['b', enc(2)]);
    // The LRU policies stamp every read and write on the entry; peek must leave the stamps alone.
    const stamps = () => ['a', 'b'].map((k) => engine.data.get(k)?.a);
    const before = stamps();
    assert.ok(before[0]! < before[1]!);
    const r = engine.execute(s, 3, 'peek', ['a']) as { v: Uint8Array; type: string; size: number; ttl: number };
    assert.deepEqual(decodeValue(r.v), new Set([1]));
    assert.equal(r.type, 'set');
    assert.ok(r.ttl > 59_000 && r.ttl <= 60_000);
    assert.equal(engine.execute(s, 4, 'peek', ['missing']), null);
    assert.deepEqual(stamps(), before);
    assert.equal(engine.hits + engine.misses, 0);
  });

  it('counts keys and bytes by namespace', () => {
    const t = new EngineHarness();
    for (let i = 0; i < 5; i++) t.a.exec('set', `users:${i}`, enc(i));
    t.a.exec('set', 'jobs:1', enc('x'));
    t.a.exec('set', 'plain', enc(true));
    const r = t.a.exec('namespaces') as {
      total: number;
      partial: boolean;
      namespaces: Array<{ name: string; keys: number }>;
    };
    assert.equal(r.total, 7);
    assert.equal(r.partial, false);
    assert.deepEqual(
      r.namespaces.map((n) => [n.name, n.keys]),
      [
        ['users', 5],
        ['', 1],
        ['jobs', 1],
      ],
    );
    const limited = t.a.exec('namespaces', { limit: 3 }) as { partial: boolean; scanned: number };
    assert.equal(limited.partial, true);
    assert.equal(limited.scanned, 3);
  });
});

describe('clients, lockinfo and subscriptions', () => {
  it('describe what each session holds, and forget a closed session', () => {
    const t = new EngineHarness();
    const worker = t.open('worker 1 (ipc, pid 4242)');
    const sock = t.open('socket (fd 9)');
    assert.deepEqual(worker.exec('lock', 'job', { ttl: 10_000 }), [1, 10_000]);
    // The socket peer waits for the same lock; the worker also subscribes and watches.
    assert.equal(typeof sock.execId(7, 'lock', 'job', { ttl: 1_000, wait: 5_000 }), 'symbol');
    worker.exec('subscribe', 'news');
    worker.exec('subscribe', 'news:*');
    sock.exec('watch', 'cfg');

    const locks = t.a.exec('lockinfo') as LockInfo[];
    assert.equal(locks.length, 1);
    assert.deepEqual(locks[0]!.holders, [
      { client: worker.session.id, label: worker.session.label, pid: 4242, token: 1, ttl: 10_000 },
    ]);
    assert.deepEqual(locks[0]!.waiters, [{ client: sock.session.id, label: 'socket (fd 9)', pid: null, wait: 5_000 }]);

    const subs = t.a.exec('subscriptions') as SubscriptionInfo[];
    assert.deepEqual(
      subs.map((s) => [s.kind, s.target, s.clients.map((c) => c.pid)]),
      [
        ['channel', 'news', [4242]],
        ['pattern', 'news:*', [4242]],
        ['watch', 'cfg', [null]],
      ],
    );

    const clients = worker.exec('clients') as ClientsResult;
    // Without an engine that tracks its sessions, the list is those seen in locks and subscriptions.
    assert.equal(clients.complete, 'sessions' in t.engine);
    const me = clients.clients.find((c) => c.self);
    assert.equal(me?.id, worker.session.id);
    assert.equal(me?.transport, 'ipc');
    assert.deepEqual(me?.locks, [{ name: 'job', token: 1, ttl: 10_000 }]);
    assert.deepEqual(me?.subscriptions, ['news', 'news:*']);
    const other = clients.clients.find((c) => c.id === sock.session.id);
    assert.equal(other?.transport, 'socket');
    assert.deepEqual(other?.waitingFor, ['job']);
    assert.deepEqual(other?.watches, ['cfg']);
    assert.equal(other?.waiting, 1);

    // The worker dies: its lock goes to the waiter, and it is gone from every list.
    t.engine.closeSession(worker.session);
    const after = t.a.exec('lockinfo') as LockInfo[];
    assert.deepEqual(
      after[0]!.holders.map((h) => h.client),
      [sock.session.id],
    );
    assert.equal((t.a.exec('subscriptions') as SubscriptionInfo[]).length, 1);
    const left = (t.a.exec('clients') as ClientsResult).clients.map((c) => c.id);
    assert.ok(!left.includes(worker.session.id));
  });

  it('lists every session when the server provides them', () => {
    const t = new EngineHarness();
    const idle = t.open('thread 3 (pid 77)');
    t.engine.ext.set('sessions', () => [t.a.session, idle.session]);
    const r = t.a.exec('clients') as ClientsResult;
    assert.equal(r.complete, true);
    assert.deepEqual(
      r.clients.map((c) => [c.label, c.transport, c.pid, c.self]),
      [
        ['a', 'unknown', null, true],
        ['thread 3 (pid 77)', 'thread', 77, false],
      ],
    );
  });
});
