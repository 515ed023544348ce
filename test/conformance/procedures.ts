/**
 * The stored procedures the conformance suite calls. A procedure is code, which no RPC carries, so every
 * factory registers these when it opens its stores: the memory backend's owner with `procedures` (in a
 * daemon, through `serve()`), the Redis backend in every store (there a procedure runs in the caller).
 */
import type { Procedure } from '../../src/engine/commands/procedures.js';

/** Procedures by name, as `connect({ procedures })`, `serve({ procedures })` and `connectRedis` take them. */
export const CONFORMANCE_PROCEDURES: Record<string, Procedure> = {
  /** Moves `n` from one counter to another; refuses (after writing) to leave `from` below zero. */
  transfer: (tx, from: string, to: string, n: number) => {
    tx.decr(from, n);
    tx.incr(to, n);
    if ((tx.get<number>(from) ?? 0) < 0) throw new Error('insufficient funds');
    return tx.get(to);
  },
  /** Answers its arguments, to check what crosses the call both ways. */
  echo: (_tx, ...args: unknown[]) => args,
  /** Reads a key it writes, with a ttl, and answers what it saw. */
  readOwnWrites: (tx, key: string) => {
    const before = tx.has(key);
    tx.set(key, { by: 'procedure' }, { ttl: 60_000 });
    return { before, after: tx.get(key), ttl: tx.ttl(key) > 0, keys: tx.keys(`${key}*`) };
  },
};
