/**
 * The linearizability checker itself: it must reject hand-made histories that no sequential order
 * explains, accept every history produced by a sequential execution (however the intervals overlap), and
 * reject such a history once a result in it is made impossible.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkHistory, checkKey, type HistoryOp, type RegisterOp, step } from '../helpers/linearizability.js';

const INF = Number.POSITIVE_INFINITY;
const op = (client: string, invoke: number, response: number, o: RegisterOp, key = 'k'): HistoryOp => ({
  client,
  key,
  invoke,
  response,
  op: o,
});

describe('linearizability checker: hand-made histories', () => {
  it('rejects a stale read after a completed write', () => {
    const v = checkHistory([
      op('A', 0, 10, { f: 'set', value: 1 }),
      op('B', 20, 30, { f: 'set', value: 2 }),
      op('C', 40, 50, { f: 'get', result: 1 }),
    ]);
    assert.equal(v.linearizable, false);
    assert.ok(v.keys[0]!.stuckAt && v.keys[0]!.stuckAt.length > 0, 'the rejection names where the search got stuck');
  });

  it('rejects a lost update: two sequential incr that both answer 1', () => {
    const v = checkHistory([
      op('A', 0, 10, { f: 'incr', by: 1, result: 1 }),
      op('B', 20, 30, { f: 'incr', by: 1, result: 1 }),
    ]);
    assert.equal(v.linearizable, false);
  });

  it('rejects two cas from the same expected value that both succeed', () => {
    const v = checkHistory([
      op('A', 0, 5, { f: 'set', value: 1 }),
      op('B', 10, 40, { f: 'cas', expected: 1, next: 2, result: true }),
      op('C', 10, 40, { f: 'cas', expected: 1, next: 3, result: true }),
    ]);
    assert.equal(v.linearizable, false);
  });

  it('rejects a read that sees a write before the write was invoked', () => {
    const v = checkHistory([op('A', 0, 10, { f: 'get', result: 7 }), op('B', 20, 30, { f: 'set', value: 7 })]);
    assert.equal(v.linearizable, false);
  });

  it('rejects reads that go back in time (new value, then old value, both after the write)', () => {
    const v = checkHistory([
      op('A', 0, 5, { f: 'set', value: 1 }),
      op('B', 10, 100, { f: 'set', value: 2 }),
      op('C', 20, 30, { f: 'get', result: 2 }),
      op('D', 40, 50, { f: 'get', result: 1 }),
    ]);
    assert.equal(v.linearizable, false);
  });

  it('accepts overlapping operations in either order, and a key is judged on its own', () => {
    assert.equal(
      checkHistory([op('A', 0, 30, { f: 'set', value: 1 }), op('B', 10, 20, { f: 'get', result: 1 })]).linearizable,
      true,
    );
    assert.equal(
      checkHistory([op('A', 0, 30, { f: 'set', value: 1 }), op('B', 10, 20, { f: 'get', result: undefined })])
        .linearizable,
      true,
    );
    const v = checkHistory([
      op('A', 0, 10, { f: 'set', value: 1 }, 'x'),
      op('B', 20, 30, { f: 'get', result: undefined }, 'y'),
      op('C', 40, 50, { f: 'get', result: 1 }, 'x'),
    ]);
    assert.equal(v.linearizable, true);
    assert.equal(v.keys.length, 2);
  });

  it('places an operation of unknown outcome anywhere after its invocation, or nowhere', () => {
    // The failed incr took effect (the later read sees 1)...
    assert.equal(
      checkHistory([op('A', 0, INF, { f: 'incr', by: 1, result: 0 }), op('B', 20, 30, { f: 'get', result: 1 })])
        .linearizable,
      true,
    );
    // ...or did not.
    assert.equal(
      checkHistory([op('A', 0, INF, { f: 'incr', by: 1, result: 0 }), op('B', 20, 30, { f: 'get', result: undefined })])
        .linearizable,
      true,
    );
    // But it cannot take effect before it was invoked.
    assert.equal(
      checkHistory([op('B', 0, 10, { f: 'get', result: 1 }), op('A', 20, INF, { f: 'incr', by: 1, result: 0 })])
        .linearizable,
      false,
    );
  });
});

/** A random sequential execution on a few keys, with each operation's interval stretched at random around its point. */
const executions = fc
  .array(
    fc.record({
      key: fc.constantFrom('x', 'y'),
      kind: fc.constantFrom('get', 'set', 'incr', 'cas', 'del'),
      value: fc.integer({ min: 0, max: 3 }),
      before: fc.integer({ min: 0, max: 40 }),
      after: fc.integer({ min: 0, max: 40 }),
      client: fc.nat({ max: 3 }),
    }),
    { minLength: 1, maxLength: 60 },
  )
  .map((plan) => {
    const state = new Map<string, number | undefined>();
    return plan.map((p, i): HistoryOp => {
      const s = state.get(p.key);
      let o: RegisterOp;
      switch (p.kind) {
        case 'get':
          o = { f: 'get', result: s };
          break;
        case 'set':
          o = { f: 'set', value: p.value };
          break;
        case 'incr':
          o = { f: 'incr', by: 1, result: (s ?? 0) + 1 };
          break;
        case 'cas':
          o = { f: 'cas', expected: p.value === 0 ? undefined : p.value, next: p.value + 10, result: false };
          o.result = o.expected === s;
          break;
        default:
          o = { f: 'del', result: s === undefined ? 0 : 1 };
      }
      state.set(p.key, step(s, o)!.next);
      // The operation took effect at time 100 * i; its interval contains that point.
      return op(`c${p.client}`, 100 * i - p.before, 100 * i + p.after, o, p.key);
    });
  });

describe('linearizability checker: generated histories', () => {
  it('accepts every history of a sequential execution', () => {
    fc.assert(
      fc.property(executions, (h) => {
        const v = checkHistory(h);
        assert.equal(v.linearizable, true, JSON.stringify(v));
      }),
      { numRuns: 500 },
    );
  });

  it('rejects a sequential history once a read answers a value nobody wrote', () => {
    fc.assert(
      fc.property(executions, fc.nat(), (h, pick) => {
        const reads = h.filter((x) => x.op.f === 'get');
        fc.pre(reads.length > 0);
        const r = reads[pick % reads.length]!;
        (r.op as { result: number | undefined }).result = 999_999;
        assert.equal(checkHistory(h).linearizable, false);
      }),
      { numRuns: 300 },
    );
  });

  it('checks a long history of 8 overlapping clients quickly', () => {
    // 20,000 operations on one key by 8 clients whose intervals overlap their neighbours'.
    const ops: HistoryOp[] = [];
    let value: number | undefined;
    for (let i = 0; i < 20_000; i++) {
      const o: RegisterOp = i % 3 === 0 ? { f: 'incr', by: 1, result: (value ?? 0) + 1 } : { f: 'get', result: value };
      value = step(value, o)!.next;
      ops.push(op(`c${i % 8}`, 10 * i - 35, 10 * i + 35, o));
    }
    const v = checkHistory(ops);
    assert.equal(v.linearizable, true);
    assert.ok(v.ms < 20_000, `took ${v.ms} ms`);
  });

  it('a forged read deep in a long history is never accepted, and the search stays within its budget', () => {
    const ops: HistoryOp[] = [];
    let value: number | undefined;
    for (let i = 0; i < 4_000; i++) {
      const o: RegisterOp = i % 3 === 0 ? { f: 'incr', by: 1, result: (value ?? 0) + 1 } : { f: 'get', result: value };
      value = step(value, o)!.next;
      ops.push(op(`c${i % 8}`, 10 * i - 35, 10 * i + 35, o));
    }
    (ops[3_001]!.op as { result: number }).result = -1;
    const v = checkKey('k', ops, undefined, 2_000_000);
    assert.equal(v.linearizable, false);
    assert.ok(v.steps <= 4_000_001, `${v.steps} steps`);
  });
});
