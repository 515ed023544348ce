/**
 * Engine: fencing tokens come from one counter for the whole engine, so the lock table keeps nothing per
 * lock name once a lock has no holder and no waiter (100,000 names locked and released leave it empty),
 * tokens still strictly increase, and a write fenced with a lease that ended is refused even when nobody
 * took the lock since.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lockTable } from '../../src/engine/commands/locks.js';
import { PENDING } from '../../src/engine/engine.js';
import type { SharedKVError } from '../../src/errors.js';
import { EngineHarness, enc } from '../helpers/engine.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as SharedKVError).code;
  }
  return undefined;
}

describe('engine: lock memory and fencing', () => {
  it('100,000 distinct lock names locked and released leave no per-name state; tokens keep increasing', () => {
    const h = new EngineHarness();
    const table = lockTable(h.engine);
    let last = 0;
    for (let i = 0; i < 100_000; i++) {
      const name = `user:${i}`;
      const [token] = h.exec('lock', name, { ttl: 60_000 }) as [number];
      assert.ok(token > last, `token ${token} after ${last}`);
      last = token;
      if (i % 3 === 0) {
        // Released by unlock.
        assert.equal(h.exec('unlock', name, token), true);
      } else if (i % 3 === 1) {
        // Fenced write, then released by unlock.
        assert.equal(h.exec('set', `v:${i % 10}`, enc(i), { fence: { lock: name, token } }), true);
        assert.equal(h.exec('unlock', name, token), true);
      } else {
        // Released by lease expiry, seen by the sweep.
        h.advance(60_000);
        h.engine.sweep();
      }
      if (i % 10_000 === 0) {
        assert.equal(table.locks.size, 0);
        assert.equal(table.held.get(h.a.session)?.size ?? 0, 0);
      }
    }
    assert.equal(table.locks.size, 0, 'no lock state left');
    assert.equal(table.held.get(h.a.session)?.size ?? 0, 0, 'the session remembers no lock');
    assert.equal(table.lastToken, 100_000);
    // A name used before gets a token larger than any issued.
    const [again] = h.exec('lock', 'user:0', { ttl: 1_000 }) as [number];
    assert.equal(again, 100_001);
  });

  it('a waiter that times out or is cancelled, and a session that closes, leave no per-name state', () => {
    const h = new EngineHarness();
    const b = h.open('b');
    const table = lockTable(h.engine);
    const [token] = h.exec('lock', 'L', { ttl: 10_000 }) as [number];
    assert.equal(b.execId(7, 'lock', 'L', { ttl: 100, wait: 50 }), PENDING);
    h.advance(50);
    h.engine.sweep();
    assert.equal(h.replies.at(-1)?.err?.code, 'ERR_SHAREDKV_TIMEOUT');
    assert.equal(table.held.get(b.session)?.size ?? 0, 0, 'the timed-out waiter is forgotten');
    assert.equal(b.execId(8, 'lock', 'L', { ttl: 100, wait: 5_000 }), PENDING);
    h.engine.cancel(b.session, 8);
    assert.equal(table.held.get(b.session)?.size ?? 0, 0, 'the cancelled waiter is forgotten');
    assert.equal(table.locks.get('L')?.waiters.length, 0);
    h.engine.closeSession(h.a.session);
    assert.equal(table.locks.size, 0, 'closing the holder frees the lock');
    assert.ok(token > 0);
  });

  it('a fenced write after its lease ended is refused, even when nobody took the lock since', () => {
    const h = new EngineHarness();
    const [token] = h.exec('lock', 'job', { ttl: 100 }) as [number];
    assert.equal(h.exec('set', 'k', enc(1), { fence: { lock: 'job', token } }), true);
    h.advance(100);
    assert.equal(
      codeOf(() => h.exec('set', 'k', enc(2), { fence: { lock: 'job', token } })),
      'ERR_SHAREDKV_LOCK_LOST',
    );
    assert.equal(h.get('k'), 1, 'the refused write changed nothing');
    // Released, then fenced: refused too.
    const [t2] = h.exec('lock', 'job', { ttl: 1_000 }) as [number];
    assert.ok(t2 > token);
    assert.equal(h.exec('unlock', 'job', t2), true);
    assert.equal(
      codeOf(() => h.exec('set', 'k', enc(3), { fence: { lock: 'job', token: t2 } })),
      'ERR_SHAREDKV_LOCK_LOST',
    );
    // A token of another lock does not fence this one.
    const [other] = h.exec('lock', 'other', { ttl: 1_000 }) as [number];
    assert.equal(
      codeOf(() => h.exec('set', 'k', enc(4), { fence: { lock: 'job', token: other } })),
      'ERR_SHAREDKV_LOCK_LOST',
    );
    assert.equal(h.get('k'), 1);
  });

  it('a semaphore accepts a fenced write from any of its live holders, and only from them', () => {
    const h = new EngineHarness();
    const [t1] = h.exec('lock', 'sem', { ttl: 100, limit: 2 }) as [number];
    h.advance(50);
    const [t2] = h.exec('lock', 'sem', { ttl: 100, limit: 2 }) as [number];
    assert.ok(t2 > t1);
    assert.equal(h.exec('set', 'a', enc(1), { fence: { lock: 'sem', token: t1 } }), true);
    assert.equal(h.exec('set', 'a', enc(2), { fence: { lock: 'sem', token: t2 } }), true);
    h.advance(50);
    // t1's lease ended; t2's is live.
    assert.equal(
      codeOf(() => h.exec('set', 'a', enc(3), { fence: { lock: 'sem', token: t1 } })),
      'ERR_SHAREDKV_LOCK_LOST',
    );
    assert.equal(h.exec('set', 'a', enc(4), { fence: { lock: 'sem', token: t2 } }), true);
    assert.equal(h.get('a'), 4);
  });
});

describe('fencing tokens across owner restarts', () => {
  it('an owner without persistence, restarted, issues tokens above every token of its previous run', async () => {
    const { Server } = await import('../../src/server/server.js');
    const grant = (server: InstanceType<typeof Server>, name: string): number => {
      const session = server.engine.openSession('test', () => {});
      const [token] = server.engine.execute(session, 1, 'lock', [name, { ttl: 1_000 }]) as [number];
      return token;
    };
    const first = new Server();
    let last = 0;
    for (let i = 0; i < 1_000; i++) last = grant(first, `job:${i}`);
    await first.close();
    const second = new Server();
    const next = grant(second, 'job:0');
    await second.close();
    assert.ok(next > last, `token ${next} after the restart is not above ${last}`);
    assert.ok(Number.isSafeInteger(next));
  });
});
