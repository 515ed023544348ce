/**
 * The inspector's value forms: tagged JSON round-trips every type the codec carries, the editor's input
 * types parse what they promise, and the owner's type sniffing (`valueType`, which never decodes) agrees
 * with the decoded value for every type.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { valueType } from '../../src/engine/commands/introspect.js';
import { SharedKVError } from '../../src/errors.js';
import { typeOfValue } from '../../src/inspector/source.js';
import { fromTagged, parseInput, toTagged } from '../../src/inspector/values.js';
import { decodeValue, encodeValue } from '../../src/protocol/codec.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof SharedKVError ? err.code : 'not a SharedKVError';
  }
  return undefined;
}

/** Through the wire form the page sees: tagged, stringified, parsed, untagged. */
function roundTrip(v: unknown): unknown {
  const { json, truncated } = toTagged(v);
  assert.equal(truncated, false);
  return fromTagged(JSON.parse(JSON.stringify(json)));
}

const SAMPLES: Array<[string, unknown]> = [
  ['string', 'héllo'],
  ['empty string', ''],
  ['number', 42.5],
  ['negative zero', -0],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['large integer', 2 ** 40],
  ['bigint', 12345678901234567890123n],
  ['negative bigint', -5n],
  ['true', true],
  ['false', false],
  ['null', null],
  ['array', [1, 'a', [true, null]]],
  ['object', { a: 1, nested: { b: [1, 2] } }],
  ['object with $ keys', { $map: 1, $x: { $set: 2 } }],
  ['empty object', {}],
  [
    'map',
    new Map<unknown, unknown>([
      [1, 'one'],
      [{ k: 1 }, new Set([1n])],
    ]),
  ],
  ['empty map', new Map()],
  ['set', new Set(['a', 1, null])],
  ['date', new Date('2024-05-01T12:00:00.000Z')],
  ['regexp', /a+b/gi],
  ['Uint8Array', Uint8Array.of(0, 1, 255)],
  ['Float64Array', Float64Array.of(1.5, -2)],
  ['BigInt64Array', BigInt64Array.of(-1n)],
  ['undefined inside', [undefined, { u: undefined }]],
  ['mixed', { when: new Date(0), tags: new Set(['x']), counts: new Map([['a', 1n]]), raw: Uint8Array.of(7) }],
];

describe('tagged JSON', () => {
  for (const [name, v] of SAMPLES) {
    it(`round-trips ${name}`, () => {
      assert.deepStrictEqual(roundTrip(v), v);
    });
  }

  it('keeps a key named __proto__ as an own key, both ways', () => {
    const v = JSON.parse('{"__proto__": {"polluted": 1}, "a": 1}') as Record<string, unknown>;
    const back = roundTrip(v) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.deepEqual(Object.keys(back), ['__proto__', 'a']);
    assert.equal(({} as { polluted?: number }).polluted, undefined);
  });

  it('marks a cycle and refuses to write it back', () => {
    const v: Record<string, unknown> = { a: 1 };
    v.self = v;
    const { json } = toTagged(decodeValue(encodeValue(v)));
    assert.deepEqual(json, { a: 1, self: { $circular: '$' } });
    assert.equal(
      code(() => fromTagged(json)),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
  });

  it('cuts long strings, long lists and large binaries, and says so', () => {
    const s = toTagged('x'.repeat(50), { maxString: 10 });
    assert.equal(s.truncated, true);
    assert.deepEqual(s.json, { $truncated: { kind: 'string', text: 'x'.repeat(10), more: 40 } });
    const list = toTagged(
      Array.from({ length: 100 }, (_, i) => i),
      { maxNodes: 10 },
    );
    assert.equal(list.truncated, true);
    assert.equal((list.json as unknown[]).length, 10);
    const bin = toTagged(new Uint8Array(100), { maxBinary: 4 });
    assert.deepEqual(bin.json, { $binary: { type: 'Uint8Array', hex: '00000000', more: 96 } });
    assert.equal(
      code(() => fromTagged(list.json)),
      'ERR_SHAREDKV_BAD_ARGUMENT',
    );
  });

  it('refuses malformed tags with ERR_SHAREDKV_BAD_ARGUMENT', () => {
    for (const bad of [
      { $bigint: '1.5' },
      { $date: 'not a date' },
      { $map: [[1]] },
      { $set: 1 },
      { $binary: { type: 'Int32Array', hex: '0102' } },
      { $binary: { hex: 'zz' } },
      { $number: 'lots' },
      { $regexp: { source: '(' } },
    ]) {
      assert.equal(
        code(() => fromTagged(bad)),
        'ERR_SHAREDKV_BAD_ARGUMENT',
        JSON.stringify(bad),
      );
    }
  });
});

describe('editor input types', () => {
  it('parses each type', () => {
    assert.equal(parseInput('  plain text ', 'string'), '  plain text ');
    assert.equal(parseInput('1e3', 'number'), 1000);
    assert.ok(Object.is(parseInput('-0', 'number'), -0));
    assert.ok(Number.isNaN(parseInput('NaN', 'number')));
    assert.equal(parseInput('123456789012345678901234567890n', 'bigint'), 123456789012345678901234567890n);
    assert.equal(parseInput('false', 'boolean'), false);
    assert.deepEqual(parseInput('2024-01-02T03:04:05Z', 'date'), new Date('2024-01-02T03:04:05Z'));
    assert.deepEqual(parseInput('0', 'date'), new Date(0));
    assert.equal(parseInput('anything', 'null'), null);
    assert.deepEqual(
      parseInput('[[1, "a"], [{"$bigint": "2"}, {"$set": [1]}]]', 'map'),
      new Map<unknown, unknown>([
        [1, 'a'],
        [2n, new Set([1])],
      ]),
    );
    assert.deepEqual(parseInput('{"a": 1}', 'map'), new Map([['a', 1]]));
    assert.deepEqual(parseInput('[1, 1, 2]', 'set'), new Set([1, 2]));
    assert.deepEqual(parseInput('00 ff 10', 'binary'), Uint8Array.of(0, 255, 16));
    assert.deepEqual(parseInput('{"d": {"$date": "2024-01-01T00:00:00.000Z"}}', 'json'), {
      d: new Date('2024-01-01T00:00:00.000Z'),
    });
  });

  it('refuses text that does not fit the type', () => {
    for (const [text, as] of [
      ['12abc', 'number'],
      ['1.5', 'bigint'],
      ['yes', 'boolean'],
      ['someday', 'date'],
      ['{', 'json'],
      ['{"a":1}', 'set'],
      ['abc', 'binary'],
      ['1', 'nonsense'],
    ] as const) {
      assert.equal(
        code(() => parseInput(text, as as never)),
        'ERR_SHAREDKV_BAD_ARGUMENT',
        `${as}: ${text}`,
      );
    }
  });
});

describe('type sniffing in the owner', () => {
  const extra: unknown[] = [
    'x'.repeat(300),
    'y'.repeat(70_000),
    2 ** 33,
    4_000_000_000,
    -100,
    1n,
    -(2n ** 70n),
    new Error('e'),
    Buffer.from('hi'),
    new Uint8Array(70_000),
    new ArrayBuffer(2),
    Array(20).fill(1),
    Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])),
    new Map(Array.from({ length: 20 }, (_, i) => [i, i])),
    undefined,
  ];
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  for (const v of [...SAMPLES.map(([, s]) => s), ...extra, cyclic]) {
    it(`agrees with the decoded value for ${typeOfValue(v)} ${String(v).slice(0, 30)}`, () => {
      const bytes = encodeValue(v);
      assert.equal(valueType(bytes), typeOfValue(decodeValue(bytes)));
    });
  }
});
