/**
 * The conformance suite: one set of tests of the {@link Store} contract that runs against any store
 * factory, in the manner of keyv's `core/test-suite`. Each backend × transport has a test file of a few
 * lines that calls {@link runConformance} with its factory; the tests themselves never know which store
 * they talk to.
 *
 * A backend that lacks a feature declares it in {@link Capabilities} with a reason; the tests that need it
 * are then skipped with that reason printed. Nothing is ever skipped without a declaration: a factory that
 * returns no `peer` without declaring `lacks.peer` fails the peer tests.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Store } from '../../src/types.js';
import { errorTests } from './suite-errors.js';
import { expiryTests } from './suite-expiry.js';
import { loadTests } from './suite-load.js';
import { lockTests } from './suite-locks.js';
import { procedureTests } from './suite-procedures.js';
import { processTests } from './suite-process.js';
import { pubsubTests } from './suite-pubsub.js';
import { structureTests } from './suite-structure.js';
import { valueTests } from './suite-values.js';
import { watchTests } from './suite-watch.js';

/** An open store and how to close it (and everything the factory started for it). */
export interface StoreHandle {
  /** The store under test. */
  store: Store;
  /**
   * Another view of the same data: another session, ideally in another process (for a remote client,
   * the owner's own store). Needed by the `peer` tests.
   */
  peer?: Store;
  /** Closes the stores and ends every process the factory started. */
  close(): Promise<void>;
}

/** Opens a fresh store; called once per suite and again by the tests that need a store of their own. */
export type StoreFactory = () => Promise<StoreHandle>;

/** Features a backend may lack, with what each means. */
export const FEATURES = {
  peer: 'a second view of the same data, through another session (or process)',
  lifecycle: 'opening a second store with the factory and closing it while the first keeps serving',
  abort: 'AbortSignal on calls',
  leases: 'handing a getOrSet load to a waiter when the lease of a stuck loader passes',
  procedures:
    'the stored procedures of test/conformance/procedures.ts, registered by the factory (in the owner; on Redis, in every store)',
  receiverCount: 'publish() resolving with the exact number of subscriptions that received the message',
} as const;

/** A feature name. */
export type Feature = keyof typeof FEATURES;

/** What a backend supports; by default, everything. */
export interface Capabilities {
  /** Features this backend lacks, each with the reason printed when its tests are skipped. */
  lacks?: Partial<Record<Feature, string>>;
}

/** What a group of tests gets from the runner. */
export interface Suite {
  /** The store under test (valid inside a test). Emptied before each test. */
  readonly store: Store;
  /** The peer view of the same data (valid inside a test that declared `needs: 'peer'`). */
  readonly peer: Store;
  /**
   * A second store from the factory, for a test that needs one; each call opens another (the first one is
   * opened while the other tests run, as starting a worker process takes a while). Its `close()` may be
   * called more than once; the runner closes it after the suite if the test did not.
   */
  second(): Promise<StoreHandle>;
  /** Declares a test; when the backend lacks one of `needs`, it is skipped with the declared reason. */
  test(name: string, fn: () => Promise<void>, needs?: Feature | Feature[]): void;
  /**
   * Declares a test of a known bug, run and reported as `todo` with `reason` (its failure does not fail
   * the run): the test stays in place and turns into a plain one when the bug is fixed.
   */
  todo(name: string, reason: string, fn: () => Promise<void>): void;
}

/** Stores opened ahead for the tests that take a `second()` one (the lifecycle test and a lock test). */
const SPARES = 2;

/** Per-test limit: a hung call fails its test instead of the whole run. */
const TEST_TIMEOUT = 15_000;

/**
 * Registers the whole suite under `describe(name)`.
 *
 * @example
 * runConformance('local owner', async () => {
 *   const store = await connect({ role: 'owner' });
 *   return { store, close: () => store.close() };
 * });
 */
export function runConformance(name: string, factory: StoreFactory, caps: Capabilities = {}): void {
  describe(name, () => {
    let handle: StoreHandle | undefined;
    /** Stores opened ahead for `second()`, and every one opened for it (closed after the suite). */
    const spares: Array<Promise<StoreHandle>> = [];
    const seconds: Array<Promise<StoreHandle>> = [];
    const openSecond = () => {
      const opened = factory().then(closingOnce);
      opened.catch(() => {});
      seconds.push(opened);
      return opened;
    };
    const current = (): StoreHandle => {
      if (!handle) throw new Error('the store factory failed (see the before hook)');
      return handle;
    };

    before(async () => {
      handle = await factory();
      await handle.store.ready();
      if (caps.lacks?.lifecycle === undefined) {
        for (let i = 0; i < SPARES; i++) spares.push(openSecond());
      }
    });
    after(async () => {
      await handle?.close();
      for (const h of seconds) await (await h.catch(() => undefined))?.close();
    });
    beforeEach(async () => {
      await current().store.clear();
    });

    const suite: Suite = {
      get store() {
        return current().store;
      },
      get peer() {
        const peer = current().peer;
        if (!peer) throw new Error(`the factory returned no peer; declare caps.lacks.peer to skip these tests`);
        return peer;
      },
      second: () => {
        return spares.shift() ?? openSecond();
      },
      test(testName, fn, needs) {
        const missing = [needs ?? []].flat().filter((f) => caps.lacks?.[f] !== undefined);
        if (missing.length > 0) {
          const reason = missing.map((f) => `lacks ${f} (${FEATURES[f]}): ${caps.lacks?.[f]}`).join('; ');
          it(testName, { skip: reason }, () => {});
          return;
        }
        it(testName, { timeout: TEST_TIMEOUT }, fn);
      },
      todo(testName, reason, fn) {
        it(testName, { timeout: TEST_TIMEOUT, todo: reason }, fn);
      },
    };

    valueTests(suite);
    expiryTests(suite);
    structureTests(suite);
    loadTests(suite);
    errorTests(suite);
    processTests(suite);
    lockTests(suite);
    pubsubTests(suite);
    watchTests(suite);
    procedureTests(suite);
  });
}

/** The handle of a store and its peer, two sessions of the same data that the handle closes together. */
export function storePair(store: Store, peer: Store): StoreHandle {
  return {
    store,
    peer,
    async close() {
      await store.close();
      await peer.close();
    },
  };
}

/** Makes `close()` of a handle safe to call twice. */
function closingOnce(h: StoreHandle): StoreHandle {
  let closing: Promise<void> | undefined;
  return { ...h, close: () => (closing ??= h.close()) };
}

/**
 * Everything a client can see of the store: each key with its value and whether it has a ttl. Two equal
 * snapshots mean that nothing observable changed.
 */
export async function snapshot(store: Store): Promise<Array<[key: string, value: unknown, hasTtl: boolean]>> {
  const keys = (await store.keys()).sort();
  const values = await store.mget(keys);
  const ttls = await Promise.all(keys.map((k) => store.ttl(k)));
  return keys.map((k, i) => [k, values[i], (ttls[i] ?? -2) > 0]);
}

/** Resolves once `cond` holds, polling every `interval` ms; rejects after `timeout` ms. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeout = 3_000,
  interval = 10,
): Promise<void> {
  const end = performance.now() + timeout;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeout} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** A promise with its resolve function outside, to hold a loader until the test lets it go. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** An error with a code of its own, as a loader might throw. */
export function loaderError(code = 'E_LOADER'): Error {
  return Object.assign(new Error('the loader failed'), { code });
}
