/**
 * Engine: getOrSet and fill. The first session to miss gets a load ticket; others wait (PENDING) and are
 * answered through their session's `respond`; the ticket moves to the next waiter, first come first
 * served, when the loader fails, its session closes or its lease passes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expireLeases } from '../../src/engine/commands/load.js';
import { PENDING } from '../../src/engine/engine.js';
import { dec, EngineHarness, enc } from '../helpers/engine.js';

const LEASE = 1_000;

/** Decodes a getOrSet answer: `{ hit: value }` or `{ ticket }`. */
function answer(r: unknown): { hit: unknown } | { ticket: number } {
  const [status, payload] = r as [number, unknown];
  return status === 0 ? { hit: dec(payload) } : { ticket: payload as number };
}

function ticketOf(r: unknown): number {
  const a = answer(r);
  assert.ok('ticket' in a, `expected a load ticket, got ${JSON.stringify(a)}`);
  return a.ticket;
}

/** A harness with a loader session `a` and waiting sessions `b`, `c`. */
function setup() {
  const h = new EngineHarness();
  const b = h.open('b');
  const c = h.open('c');
  return { h, b, c };
}

describe('engine: getOrSet and fill', () => {
  it('a hit answers the value at once and counts a hit', () => {
    const { h } = setup();
    h.set('k', { v: 1 });
    assert.deepEqual(answer(h.exec('getOrSet', 'k', LEASE)), { hit: { v: 1 } });
    assert.equal(h.engine.hits, 1);
  });

  it('the first miss gets a ticket; others wait and all get the filled value', () => {
    const { h, b, c } = setup();
    const ticket = ticketOf(h.exec('getOrSet', 'k', LEASE));
    assert.equal(b.execId(7, 'getOrSet', 'k', LEASE), PENDING);
    assert.equal(c.execId(9, 'getOrSet', 'k', LEASE), PENDING);
    assert.equal(b.session.waiting.size, 1);
    assert.equal(h.replies.length, 0);
    assert.equal(h.exec('fill', 'k', ticket, enc('loaded')), true);
    assert.deepEqual(
      h.replies.map((r) => [r.session, r.id, r.err, answer(r.result)]),
      [
        ['b', 7, null, { hit: 'loaded' }],
        ['c', 9, null, { hit: 'loaded' }],
      ],
    );
    assert.equal(b.session.waiting.size, 0);
    assert.equal(h.get('k'), 'loaded');
    assert.deepEqual(answer(c.exec('getOrSet', 'k', LEASE)), { hit: 'loaded' });
  });

  it('fill stores with the ttl option, and without it the value does not expire', () => {
    const { h } = setup();
    h.exec('fill', 'a', ticketOf(h.exec('getOrSet', 'a', LEASE)), enc(1), { ttl: 50 });
    h.exec('fill', 'b', ticketOf(h.exec('getOrSet', 'b', LEASE)), enc(2));
    assert.equal(h.exec('ttl', 'a'), 50);
    assert.equal(h.exec('ttl', 'b'), -1);
    h.advance(50);
    assert.equal(h.exec('has', 'a'), false);
  });

  it('a failed loader (fill with null) hands the ticket to the next waiter, first come first served', () => {
    const { h, b, c } = setup();
    const t1 = ticketOf(h.exec('getOrSet', 'k', LEASE));
    b.execId(1, 'getOrSet', 'k', LEASE);
    c.execId(2, 'getOrSet', 'k', LEASE);
    assert.equal(h.exec('fill', 'k', t1, null), true);
    assert.equal(h.replies.length, 1);
    const handed = h.replies[0]!;
    assert.deepEqual([handed.session, handed.id], ['b', 1]);
    const t2 = ticketOf(handed.result);
    assert.notEqual(t2, t1);
    // The old ticket is void: a late fill from the first loader is refused and stores nothing.
    assert.equal(h.exec('fill', 'k', t1, enc('late')), false);
    assert.equal(h.exec('has', 'k'), false);
    // b fails too; c is next.
    assert.equal(b.exec('fill', 'k', t2, null), true);
    const t3 = ticketOf(h.replies[1]!.result);
    assert.equal(h.replies[1]!.session, 'c');
    assert.equal(c.exec('fill', 'k', t3, enc('third')), true);
    assert.equal(h.get('k'), 'third');
    assert.equal(h.replies.length, 2);
  });

  it('a failed loader with nobody waiting releases the key: the next miss gets a ticket', () => {
    const { h, b } = setup();
    const t1 = ticketOf(h.exec('getOrSet', 'k', LEASE));
    assert.equal(h.exec('fill', 'k', t1, null), true);
    const t2 = ticketOf(b.exec('getOrSet', 'k', LEASE));
    assert.notEqual(t2, t1);
  });

  it("closing the loader's session hands over to the next waiter", () => {
    const { h, b, c } = setup();
    const t1 = ticketOf(b.exec('getOrSet', 'k', LEASE));
    c.execId(5, 'getOrSet', 'k', LEASE);
    h.engine.closeSession(b.session);
    assert.equal(h.replies.length, 1);
    assert.equal(h.replies[0]!.session, 'c');
    const t2 = ticketOf(h.replies[0]!.result);
    assert.equal(h.exec('fill', 'k', t1, enc('from closed')), false);
    assert.equal(c.exec('fill', 'k', t2, enc('from c')), true);
    assert.equal(h.get('k'), 'from c');
  });

  it('a closed waiting session is skipped on hand-over and never answered', () => {
    const { h, b, c } = setup();
    const t1 = ticketOf(h.exec('getOrSet', 'k', LEASE));
    b.execId(1, 'getOrSet', 'k', LEASE);
    c.execId(2, 'getOrSet', 'k', LEASE);
    h.engine.closeSession(b.session);
    h.exec('fill', 'k', t1, null);
    assert.deepEqual(
      h.replies.map((r) => r.session),
      ['c'],
    );
  });

  it('a cancelled waiter is never answered', () => {
    const { h, b, c } = setup();
    const t1 = ticketOf(h.exec('getOrSet', 'k', LEASE));
    b.execId(1, 'getOrSet', 'k', LEASE);
    c.execId(2, 'getOrSet', 'k', LEASE);
    h.engine.cancel(b.session, 1);
    assert.equal(b.session.waiting.size, 0);
    h.exec('fill', 'k', t1, enc('v'));
    assert.deepEqual(
      h.replies.map((r) => r.session),
      ['c'],
    );
  });

  it('expireLeases hands over a load whose lease has passed, and only then', () => {
    const { h, b } = setup();
    const t1 = ticketOf(h.exec('getOrSet', 'k', LEASE));
    b.execId(3, 'getOrSet', 'k', 5_000);
    h.advance(LEASE - 1);
    expireLeases(h.engine);
    assert.equal(h.replies.length, 0);
    h.advance(1);
    expireLeases(h.engine);
    assert.equal(h.replies.length, 1);
    const t2 = ticketOf(h.replies[0]!.result);
    assert.equal(h.exec('fill', 'k', t1, enc('slow')), false);
    // The new loader holds the lease it asked for (5 s), not the first one's.
    h.advance(4_999);
    expireLeases(h.engine);
    assert.equal(b.exec('fill', 'k', t2, enc('b')), true);
    assert.equal(h.get('k'), 'b');
  });

  it('a lease that passes with nobody waiting frees the key for the next miss', () => {
    const { h, b } = setup();
    const t1 = ticketOf(h.exec('getOrSet', 'k', LEASE));
    h.advance(LEASE);
    expireLeases(h.engine);
    const t2 = ticketOf(b.exec('getOrSet', 'k', LEASE));
    assert.notEqual(t1, t2);
  });

  it('a miss after the lease passed (before expireLeases runs) takes over the load', () => {
    const { h, b } = setup();
    const t1 = ticketOf(h.exec('getOrSet', 'k', LEASE));
    h.advance(LEASE);
    const t2 = ticketOf(b.exec('getOrSet', 'k', LEASE));
    assert.equal(h.exec('fill', 'k', t1, enc('stale')), false);
    assert.equal(b.exec('fill', 'k', t2, enc('fresh')), true);
    assert.equal(h.get('k'), 'fresh');
  });

  it('when the key was written meanwhile, a hand-over answers every waiter with that value', () => {
    const { h, b, c } = setup();
    const t1 = ticketOf(h.exec('getOrSet', 'k', LEASE));
    b.execId(1, 'getOrSet', 'k', LEASE);
    c.execId(2, 'getOrSet', 'k', LEASE);
    h.set('k', 'written by set');
    h.exec('fill', 'k', t1, null);
    assert.deepEqual(
      h.replies.map((r) => [r.session, answer(r.result)]),
      [
        ['b', { hit: 'written by set' }],
        ['c', { hit: 'written by set' }],
      ],
    );
    // Nothing is left loading: the next miss after a delete gets a fresh ticket.
    h.exec('del', ['k']);
    ticketOf(b.exec('getOrSet', 'k', LEASE));
  });

  it('fill with an unknown ticket or key answers false and stores nothing', () => {
    const { h } = setup();
    const t = ticketOf(h.exec('getOrSet', 'k', LEASE));
    assert.equal(h.exec('fill', 'k', t + 100, enc(1)), false);
    assert.equal(h.exec('fill', 'other', t, enc(1)), false);
    assert.equal(h.exec('has', 'k'), false);
    assert.equal(h.exec('has', 'other'), false);
    assert.equal(h.exec('fill', 'k', t, enc(2)), true);
  });

  it('loads of different keys are independent', () => {
    const { h, b } = setup();
    const ta = ticketOf(h.exec('getOrSet', 'a', LEASE));
    const tb = ticketOf(b.exec('getOrSet', 'b', LEASE));
    assert.notEqual(ta, tb);
    assert.equal(b.exec('fill', 'b', tb, enc('B')), true);
    assert.equal(h.exec('fill', 'a', ta, enc('A')), true);
    assert.deepEqual([h.get('a'), h.get('b')], ['A', 'B']);
  });

  it('a value filled with bytes from a frame is stored as its own copy', () => {
    const { h } = setup();
    const t = ticketOf(h.exec('getOrSet', 'k', LEASE));
    const frame = Buffer.concat([Buffer.alloc(8, 0xff), enc('filled')]);
    h.exec('fill', 'k', t, frame.subarray(8));
    frame.fill(0);
    assert.equal(h.get('k'), 'filled');
  });
});
