/**
 * Just enough of Vitest's API, on node:test and node:assert, to run @keyv/test-suite's exported test
 * functions (`keyvTestSuite(test, Keyv, store)`): `test.it`, `test.beforeEach`, `test.afterEach` and the
 * test context's `t.expect` with the matchers the suite uses. The suite only needs Vitest as a test
 * registry; running it here keeps one test runner for the whole project.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';

type Hook = () => unknown;

/** The matchers @keyv/test-suite calls. */
interface Matchers {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeTruthy(): void;
  toBeFalsy(): void;
  toBeUndefined(): void;
  toBeDefined(): void;
  toBeNull(): void;
  not: Omit<Matchers, 'not'>;
}

/** `t.expect`, which also counts assertions for `expect.assertions(n)`. */
interface Expect {
  (actual: unknown): Matchers;
  assertions(n: number): void;
}

function matchers(actual: unknown, negate: boolean, onCheck: () => void): Matchers {
  const check = (pass: boolean, what: string) => {
    onCheck();
    assert.ok(negate ? !pass : pass, `expected ${String(actual)} ${negate ? 'not ' : ''}${what}`);
  };
  const m = {
    toBe: (e: unknown) => check(Object.is(actual, e), `to be ${String(e)}`),
    // Vitest's toEqual ignores undefined properties, as JSON-shaped comparisons do.
    toEqual: (e: unknown) => check(isDeepStrictEqual(strip(actual), strip(e)), `to equal ${JSON.stringify(e)}`),
    toBeTruthy: () => check(Boolean(actual), 'to be truthy'),
    toBeFalsy: () => check(!actual, 'to be falsy'),
    toBeUndefined: () => check(actual === undefined, 'to be undefined'),
    toBeDefined: () => check(actual !== undefined, 'to be defined'),
    toBeNull: () => check(actual === null, 'to be null'),
  } as Matchers;
  if (!negate) m.not = matchers(actual, true, onCheck);
  return m;
}

/** Drops undefined-valued properties (recursively) the way Vitest's `toEqual` disregards them. */
function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, strip(v)]),
    );
  }
  return value;
}

/** A Vitest-like `test` namespace whose tests register with node:test. */
export function vitestShim() {
  return {
    it(name: string, fn: (t: { expect: Expect }) => unknown) {
      it(name, async () => {
        let count = 0;
        let expected: number | undefined;
        const expect = ((actual: unknown) => matchers(actual, false, () => count++)) as Expect;
        expect.assertions = (n) => {
          expected = n;
        };
        await fn({ expect });
        if (expected !== undefined) assert.equal(count, expected, `expected ${expected} assertions, ran ${count}`);
      });
    },
    beforeEach(fn: Hook) {
      beforeEach(async () => {
        await fn();
      });
    },
    afterEach(fn: Hook) {
      afterEach(async () => {
        await fn();
      });
    },
  };
}
