/**
 * The value codec's two encodings: plain values (objects and arrays of plain data, few objects, no shared
 * references) are written as tagged plain MessagePack, everything else with structured clone. Both read
 * back exactly, bytes of the older form (every object structured) still read and still compare equal in
 * compare-and-set, and the owner's type sniffing sees through the tag.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { valueType } from '../../src/engine/commands/introspect.js';
import {
  decodeStored,
  decodeValue,
  encodeValue,
  isPlainEncoding,
  legacyEncoding,
  PLAIN_TAG,
  sameStored,
} from '../../src/protocol/codec.js';
import { decodeReplyItems, encodeReplyFrame, INLINE, OK } from '../../src/protocol/envelope.js';
import { dec, EngineHarness, enc } from '../helpers/engine.js';

const isPlain = (value: unknown) => encodeValue(value)[0] === PLAIN_TAG;

describe('value codec: plain and structured encodings', () => {
  it('writes the common cached shapes plain, and reads them back exactly', () => {
    const plain: unknown[] = [
      { id: 7, name: 'user-7', score: 10.5, active: true },
      [1, 'two', null, true, 2 ** 40, -(2 ** 53 - 1), 0.1],
      { a: undefined, nested: { list: [undefined, null, 'x'] } },
      { text: 'héllo 🌍 \u0000 end', empty: '', n: Number.NaN, inf: Number.NEGATIVE_INFINITY },
      [],
      {},
    ];
    for (const value of plain) {
      const bytes = encodeValue(value);
      assert.equal(bytes[0], PLAIN_TAG, `${JSON.stringify(value)} is written plain`);
      const back = decodeValue(bytes);
      assert.deepEqual(back, value);
      assert.deepEqual(decodeStored(bytes), value);
    }
    // As structured clone does, an object without a prototype reads back as a plain object.
    const bare = encodeValue(Object.assign(Object.create(null), { bare: 1 }));
    assert.equal(bare[0], PLAIN_TAG);
    assert.deepEqual(decodeValue(bare), { bare: 1 });
    assert.deepEqual(structuredClone(Object.assign(Object.create(null), { bare: 1 })), { bare: 1 });
  });

  it('leaves to structured clone what plain MessagePack would change', () => {
    const shared = { x: 1 };
    const cyclic: Record<string, unknown> = { name: 'c' };
    cyclic.self = cyclic;
    const structured: Array<[string, unknown]> = [
      ['a Map inside an object', { m: new Map([['k', 1]]) }],
      ['a Date inside an array', [new Date(5)]],
      ['a BigInt inside an object', { n: 5n }],
      ['a Uint8Array inside an object', { b: new Uint8Array([1]) }],
      [
        'a class instance',
        [
          new (class Point {
            x = 1;
          })(),
        ],
      ],
      ['a shared reference', { a: shared, b: shared }],
      ['a cycle', cyclic],
      ['five objects (records pay off when shapes repeat)', [{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }, { a: 5 }]],
      ['more than 256 values', Array.from({ length: 300 }, (_, i) => i)],
    ];
    for (const [label, value] of structured) assert.equal(isPlain(value), false, label);
    // Four objects and 256 values are still plain: the limits are where the docs say.
    assert.equal(isPlain([{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }]), true, 'four objects');
    assert.equal(isPlain(Array.from({ length: 255 }, (_, i) => i)), true, '255 elements and the array');

    const back = decodeValue(encodeValue({ a: shared, b: shared })) as { a: object; b: object };
    assert.equal(back.a, back.b, 'the shared reference survives');
    const loop = decodeValue(encodeValue(cyclic)) as Record<string, unknown>;
    assert.equal(loop.self, loop, 'the cycle survives');
    // Primitives were never structured: their bytes are what they always were.
    assert.deepEqual([...encodeValue('s')], [0xa1, 0x73]);
    assert.deepEqual([...encodeValue(1)], [0x01]);
  });

  it('the plain check leaves no state behind: a value after a rejected one is judged on its own', () => {
    const shared = { x: 1 };
    assert.equal(isPlain({ a: shared, b: shared }), false);
    // Had the check kept the objects it saw, `shared` would now look like a shared reference.
    assert.equal(isPlain({ only: shared }), true);
    assert.equal(isPlain([{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }, { a: 5 }]), false);
    assert.equal(isPlain({ a: 1 }), true);
  });

  it('bytes of the older form read back, and compare equal to the plain form in compare-and-set', () => {
    const value = { id: 1, tags: ['a', 'b'] };
    const plain = encodeValue(value);
    const legacy = legacyEncoding(plain);
    assert.ok(legacy);
    assert.notEqual(legacy[0], PLAIN_TAG);
    assert.deepEqual(decodeValue(legacy), value);
    assert.equal(sameStored(legacy, plain), true);
    assert.equal(sameStored(plain, plain), true);
    assert.equal(sameStored(legacy, encodeValue({ id: 2, tags: ['a', 'b'] })), false);
    assert.equal(legacyEncoding(encodeValue(new Map())), null, 'only plain encodings have an older form');

    const h = new EngineHarness();
    h.exec('set', 'k', legacy);
    assert.equal(h.exec('cas', 'k', enc({ id: 2, tags: [] }), enc('no')), false);
    assert.equal(h.exec('cas', 'k', enc(value), enc('swapped')), true);
    assert.equal(dec(h.exec('get', 'k')), 'swapped');
  });

  it("the owner's type sniffing sees through the tag", () => {
    assert.equal(valueType(encodeValue({ a: 1 })), 'object');
    assert.equal(valueType(encodeValue([1, 2])), 'array');
    assert.equal(valueType(encodeValue(new Map([[1, 2]]))), 'map');
    assert.equal(valueType(encodeValue([new Date(1)])), 'array');
  });
});

describe('reply frames with inline values', () => {
  it('any mix of inline values and ordinary items reads back in order (property)', () => {
    const plainValue = fc
      .oneof(fc.array(fc.jsonValue(), { maxLength: 5 }), fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }))
      .filter((v) => encodeValue(v)[0] === PLAIN_TAG);
    const item = fc.oneof(
      plainValue.map((v) => ({ inline: true as const, v })),
      fc.oneof(fc.boolean(), fc.integer(), fc.constant(null), fc.string()).map((v) => ({ inline: false as const, v })),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 40 }), (list) => {
        const inline: Uint8Array[] = [];
        const items = list.map((x, i) => {
          if (!x.inline) return [i + 1, OK, x.v];
          inline.push(encodeValue(x.v));
          return [i + 1, INLINE, null];
        });
        const back = decodeReplyItems(encodeReplyFrame(items, inline));
        assert.deepEqual(
          back,
          // Inline, a value reads back as decoding its stored bytes reads it.
          list.map((x, i) => [i + 1, OK, x.inline ? decodeValue(encodeValue(x.v)) : x.v]),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('an inline item without its value is a protocol error, not a wrong answer', () => {
    const frame = encodeReplyFrame(
      [
        [1, INLINE, null],
        [2, INLINE, null],
      ],
      [encodeValue({ a: 1 })],
    );
    assert.throws(() => decodeReplyItems(frame), { code: 'ERR_SHAREDKV_PROTOCOL' });
    assert.throws(() => decodeReplyItems(Buffer.of(0x01)), { code: 'ERR_SHAREDKV_PROTOCOL' });
  });
});

describe('the owner accepts a tagged value only when it is one plain value', () => {
  it('every plain encoding passes the check (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(fc.jsonValue()), fc.dictionary(fc.string(), fc.jsonValue())), (value) => {
        const bytes = encodeValue(value);
        if (bytes[0] === PLAIN_TAG) assert.equal(isPlainEncoding(bytes), true);
        else assert.equal(isPlainEncoding(bytes), false);
      }),
      { numRuns: 500 },
    );
    assert.equal(
      isPlainEncoding(encodeValue({ u: undefined, f: 1.5, big: 2 ** 40, neg: -5, s: 'x'.repeat(300) })),
      true,
    );
  });

  it('refuses what would corrupt a reply frame, and the store is left as it was', () => {
    const good = encodeValue({ a: [1, 'two'] });
    const bad: Array<[string, Uint8Array]> = [
      ['the tag alone', Uint8Array.of(PLAIN_TAG)],
      ['a value cut short', good.subarray(0, good.length - 1)],
      ['a byte after the value', Uint8Array.of(...good, 0x01)],
      ['two values', Uint8Array.of(PLAIN_TAG, 0x01, 0x02)],
      ['a record definition', Uint8Array.of(PLAIN_TAG, 0xd4, 0x72, 0x40)],
      ['bytes (bin 8)', Uint8Array.of(PLAIN_TAG, 0xc4, 0x01, 0x00)],
      ['an array that claims more items than follow', Uint8Array.of(PLAIN_TAG, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01)],
      ['a string longer than the bytes', Uint8Array.of(PLAIN_TAG, 0xdb, 0x00, 0x01, 0x00, 0x00, 0x61)],
      ['the unused byte inside', Uint8Array.of(PLAIN_TAG, 0x91, PLAIN_TAG)],
    ];
    const h = new EngineHarness();
    h.set('k', 'kept');
    for (const [label, bytes] of bad) {
      assert.equal(isPlainEncoding(bytes), false, label);
      for (const run of [
        () => h.exec('set', 'k', bytes),
        () => h.exec('mset', ['k', bytes]),
        () => h.exec('cas', 'k', enc('kept'), bytes),
        () => h.exec('publish', 'ch', bytes),
      ]) {
        assert.throws(run, { code: 'ERR_SHAREDKV_BAD_ARGUMENT' }, label);
      }
      assert.equal(dec(h.exec('get', 'k')), 'kept', label);
    }
  });
});
