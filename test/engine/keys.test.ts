/** Engine: `keys` and its glob patterns (`*`, `?`, `[abc]`, `[a-z]`, `[^a]`, `\` escapes). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineHarness } from '../helpers/engine.js';

const KEYS = [
  'user:1',
  'user:2',
  'user:10',
  'user:',
  'users',
  'ax',
  'bx',
  'cx',
  'dx',
  'a*b',
  'aXb',
  'a?',
  'ab',
  'a.c',
  'abc',
  '[x]',
  'x',
  'line\nbreak',
];

function withKeys(): EngineHarness {
  const h = new EngineHarness();
  for (const k of KEYS) h.set(k, k);
  return h;
}

function keys(h: EngineHarness, pattern?: string): string[] {
  return ((pattern === undefined ? h.exec('keys') : h.exec('keys', pattern)) as string[]).sort();
}

describe('engine: keys', () => {
  it('no pattern and * list every key', () => {
    const h = withKeys();
    assert.deepEqual(keys(h), [...KEYS].sort());
    assert.deepEqual(keys(h, '*'), [...KEYS].sort());
    assert.deepEqual(keys(new EngineHarness(), '*'), []);
  });

  const cases: Array<[pattern: string, expected: string[]]> = [
    ['user:*', ['user:', 'user:1', 'user:10', 'user:2']],
    ['user:?', ['user:1', 'user:2']],
    ['user:??', ['user:10']],
    ['user*', ['user:', 'user:1', 'user:10', 'user:2', 'users']],
    ['[ab]x', ['ax', 'bx']],
    ['[a-c]x', ['ax', 'bx', 'cx']],
    ['[^a]x', ['bx', 'cx', 'dx']],
    ['[!ab]x', ['cx', 'dx']],
    ['a\\*b', ['a*b']],
    ['a*b', ['a*b', 'aXb', 'ab']],
    ['a\\?', ['a?']],
    ['a?', ['a?', 'ab', 'ax']],
    ['a.c', ['a.c']],
    ['a.*', ['a.c']],
    ['\\[x]', ['[x]']],
    ['*\nbreak', ['line\nbreak']],
    ['line?break', ['line\nbreak']],
    ['x', ['x']],
    ['ab', ['ab']],
    ['nothing*', []],
  ];
  for (const [pattern, expected] of cases) {
    it(`${JSON.stringify(pattern)} matches ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(keys(withKeys(), pattern), expected);
    });
  }

  it('a pattern without special characters matches that key exactly, not as a prefix', () => {
    const h = withKeys();
    assert.deepEqual(keys(h, 'user'), []);
    assert.deepEqual(keys(h, 'user:1'), ['user:1']);
  });

  it('an unclosed [ is a literal character', () => {
    const h = new EngineHarness();
    h.set('[ab', 1);
    h.set('a', 1);
    assert.deepEqual(keys(h, '[ab'), ['[ab']);
    assert.deepEqual(keys(h, '[a*'), ['[ab']);
  });

  it('expired keys are not listed', () => {
    const h = new EngineHarness();
    h.set('k:live', 1);
    h.set('k:short', 1, { ttl: 10 });
    h.advance(9);
    assert.deepEqual(keys(h, 'k:*'), ['k:live', 'k:short']);
    h.advance(1);
    assert.deepEqual(keys(h, 'k:*'), ['k:live']);
    assert.deepEqual(keys(h, 'k:short'), []);
  });
});
