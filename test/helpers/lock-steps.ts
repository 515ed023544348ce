/**
 * Steps of the multi-process lock tests that every client fixture runs the same way, whatever its store
 * (memory over any transport: test/fixtures/coord-worker.ts; Redis: test/redis/worker.ts): take a lock and
 * say when the request left, release it, write with its fencing token, and read-modify-write under
 * `withLock`. A step gets the test's message and answers with the fields of its result.
 */
import type { Lock, Store } from '../../src/index.js';

/** A step message from the test: what to do, its id, and its arguments. */
export type Step = { do: string; id: number; [k: string]: unknown };

/** Builds the lock steps over `kv`; `held` keeps the granted locks by name, `send` reaches the test. */
export function lockSteps(
  kv: Store,
  held: Map<string, Lock>,
  send: (msg: Record<string, unknown>) => void,
): Record<string, (s: Step) => Promise<Record<string, unknown>>> {
  return {
    async lock(s) {
      // Answers twice: 'waiting' once the request left, then the result when granted.
      const p = kv.lock(s.name as string, { ttl: s.ttl as number, wait: (s.wait as number) ?? 10_000 });
      send({ event: 'waiting', id: s.id });
      const lock = await p;
      held.set(s.name as string, lock);
      return { token: lock.token, at: performance.timeOrigin + performance.now() };
    },
    async release(s) {
      return { released: await held.get(s.name as string)?.release() };
    },
    async fencedWrites(s) {
      const lock = held.get(s.name as string)!;
      let accepted = 0;
      const codes = new Set<string>();
      await Promise.all(
        Array.from({ length: s.n as number }, (_, i) =>
          kv.set(`fenced:${i}`, i, { fence: lock }).then(
            () => accepted++,
            (err) => codes.add(err.code),
          ),
        ),
      );
      return { accepted, codes: [...codes] };
    },
    async withLockRmw(s) {
      for (let i = 0; i < (s.n as number); i++) {
        await kv.withLock(
          'rmw',
          async () => {
            const v = (await kv.get<number>(s.key as string)) ?? 0;
            await kv.set(s.key as string, v + 1);
          },
          { ttl: 5000, wait: 60_000 },
        );
      }
      return {};
    },
  };
}
