/** The table of calls in flight: same answers as a Map under any mix of adds and removals. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PendingTable } from '../../src/client/pending.js';

/** Hands out ids as the callers do: in sequence from `start`, wrapping from 2^31 - 1 to 1. */
function idSource(start: number): () => number {
  let next = start;
  return () => {
    const id = next;
    next = id >= 0x7fffffff ? 1 : id + 1;
    return id;
  };
}

function capacityOf(table: PendingTable<unknown>): number {
  return (table as unknown as { ids: Int32Array }).ids.length;
}

function overflowOf(table: PendingTable<unknown>): number {
  return (table as unknown as { overflow: Map<number, unknown> }).overflow.size;
}

describe('PendingTable', () => {
  it('agrees with a Map on get, delete, size, forEach and drain, across the id wrap', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), n: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('removeNewest' as const), n: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('get' as const), id: fc.integer({ min: 1, max: 0x7fffffff }) }),
      fc.record({ kind: fc.constant('sweep' as const), mod: fc.integer({ min: 2, max: 5 }) }),
      fc.constant({ kind: 'drain' as const }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7fffffff }), fc.array(op, { maxLength: 80 }), (start, ops) => {
        const table = new PendingTable<{ id: number }>();
        const model = new Map<number, { id: number }>();
        const nextId = idSource(start);
        for (const o of ops) {
          if (o.kind === 'add') {
            for (let i = 0; i < o.n; i++) {
              const id = nextId();
              const item = { id };
              table.set(id, item);
              model.set(id, item);
            }
          } else if (o.kind === 'remove' && model.size > 0) {
            const id = [...model.keys()][o.pick % model.size]!;
            assert.equal(table.delete(id), true);
            model.delete(id);
            assert.equal(table.delete(id), false, 'a second delete finds nothing');
          } else if (o.kind === 'removeNewest') {
            // Calls made last may end first, while the oldest stay in flight (a lock wait): the overflow's case.
            for (const id of [...model.keys()].slice(-o.n)) {
              table.delete(id);
              model.delete(id);
            }
          } else if (o.kind === 'get') {
            assert.equal(table.get(o.id), model.get(o.id));
          } else if (o.kind === 'sweep') {
            // The timer's pattern: delete some of the calls while visiting them.
            const seen = new Set<number>();
            table.forEach((item, id) => {
              assert.equal(item.id, id);
              assert.ok(!seen.has(id), 'each call is visited once');
              seen.add(id);
              if (id % o.mod === 0) table.delete(id);
            });
            assert.deepEqual([...seen].sort(), [...model.keys()].sort());
            for (const id of seen) if (id % o.mod === 0) model.delete(id);
          } else if (o.kind === 'drain') {
            const drained = table.drain();
            assert.deepEqual(drained.map((d) => d.id).sort(), [...model.keys()].sort());
            model.clear();
          }
          assert.equal(table.size, model.size);
          for (const [id, item] of model) assert.equal(table.get(id), item);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps calls whose ids share a slot, the older one in the overflow', () => {
    const table = new PendingTable<string>();
    table.set(5, 'a');
    table.set(5 + 64, 'b');
    table.set(5 + 128, 'c');
    assert.equal(table.get(5), 'a');
    assert.equal(table.get(69), 'b');
    assert.equal(table.get(133), 'c');
    assert.equal(table.get(5 + 256), undefined);
    assert.equal(table.size, 3);
    assert.equal(capacityOf(table), 64, 'no growth for three calls');
    assert.equal(table.delete(69), true);
    assert.equal(table.get(69), undefined);
    assert.equal(table.size, 2);
  });

  it('does not grow while one call stays in flight and a million others pass', () => {
    // A lock wait that lasts while the client keeps working: growing on every clash would double the
    // table each time the ids went round it.
    const table = new PendingTable<number>();
    const nextId = idSource(1);
    const waiting = nextId();
    table.set(waiting, waiting);
    const inFlight: number[] = [];
    for (let i = 0; i < 64 * 16_000; i++) {
      const id = nextId();
      table.set(id, id);
      inFlight.push(id);
      if (inFlight.length === 64) for (const done of inFlight.splice(0)) assert.equal(table.delete(done), true);
    }
    assert.ok(capacityOf(table) <= 256, `the table grew to ${capacityOf(table)} slots`);
    assert.equal(table.get(waiting), waiting);
    assert.equal(table.size, 1);
  });

  it('does not grow while 64 calls at a time go through it in sequence', () => {
    const table = new PendingTable<number>();
    const nextId = idSource(0x7fffffff - 5_000);
    const inFlight: number[] = [];
    for (let i = 0; i < 64 * 1_600; i++) {
      const id = nextId();
      table.set(id, id);
      inFlight.push(id);
      if (inFlight.length === 64) for (const done of inFlight.splice(0)) table.delete(done);
    }
    // The table doubles when the calls in flight would fill more than half of it: 64 at a time fit in 128.
    assert.equal(capacityOf(table), 128);
    assert.equal(table.size, 0);
    assert.equal(overflowOf(table), 0, 'sequential calls never take the slot of another, also across the id wrap');
  });
});
