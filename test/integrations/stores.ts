/**
 * The stores the integration tests run on, by name. A test takes a factory, never `connect()` itself, so
 * the Redis backend joins by adding an entry here (its owner side and client side both call
 * `connect({ redis })`) and naming it in `SKV_INTEGRATION_STORES`.
 */
import { connect } from '../../src/index.js';
import type { Store } from '../../src/types.js';

/** How one backend opens a store in the test process (the owner) and in a worker (a client). */
export interface IntegrationStoreFactory {
  /** The store of the test process. For the memory backend it owns the data and serves the workers. */
  owner(): Promise<Store>;
  /** The store of a worker process. */
  client(): Promise<Store>;
}

/** Every backend the integration tests know. */
export const STORE_FACTORIES: Record<string, IntegrationStoreFactory> = {
  sharedkv: {
    // Explicit role: the test runner gives test files an IPC channel, which would make `auto` a client.
    owner: () => connect({ role: 'owner' }),
    client: () => connect(),
  },
};

/** The backends to run: `SKV_INTEGRATION_STORES=sharedkv,redis`, by default the memory backend only. */
export function storeNames(): string[] {
  return (process.env.SKV_INTEGRATION_STORES ?? 'sharedkv').split(',').filter((n) => n in STORE_FACTORIES);
}

/** The factory named `name`. */
export function storeFactory(name: string): IntegrationStoreFactory {
  const f = STORE_FACTORIES[name];
  if (!f) throw new Error(`No integration store factory named ${JSON.stringify(name)}`);
  return f;
}
