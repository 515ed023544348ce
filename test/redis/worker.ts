/**
 * A process of the Redis multi-process tests: it opens the store with `connect({ redis })` (so the
 * on-demand loading in src/connect.ts is what runs), then performs the steps the test sends over IPC and
 * answers `{ app, event: 'result', id, ... }`.
 */
import { connect, type Lock } from '../../src/index.js';

const kv = await connect({
  redis: process.env.SKV_REDIS_URL ?? '',
  prefix: process.env.SKV_PREFIX ?? 'sharedkv',
  lockLiveness: Number(process.env.SKV_LIVENESS ?? 5000),
});
const held = new Map<string, Lock>();
const send = (msg: Record<string, unknown>) => process.send?.({ app: true, pid: process.pid, ...msg });

type Step = { do: string; id: number; [k: string]: unknown };

const steps: Record<string, (s: Step) => Promise<Record<string, unknown>>> = {
  async incr(s) {
    // A window of calls in flight, as a busy server would issue them.
    const n = s.n as number;
    const results: number[] = [];
    let next = 0;
    const runner = async () => {
      while (next < n) {
        next++;
        results.push(await kv.incr(s.key as string));
      }
    };
    await Promise.all(Array.from({ length: 64 }, runner));
    return { results };
  },
  async lock(s) {
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
  async getOrSet(s) {
    let calls = 0;
    const values = await Promise.all(
      Array.from({ length: 5 }, () =>
        kv.getOrSet(s.key as string, async () => {
          calls++;
          await new Promise((r) => setTimeout(r, s.delay as number));
          return { by: process.pid };
        }),
      ),
    );
    return { calls, values };
  },
};

process.on('message', async (msg: Step) => {
  if (!msg || typeof msg !== 'object' || typeof msg.do !== 'string') return;
  try {
    const result = await steps[msg.do]!(msg);
    send({ event: 'result', id: msg.id, ...result });
  } catch (err) {
    send({ event: 'result', id: msg.id, error: (err as { code?: string }).code ?? String(err) });
  }
});
send({ event: 'ready' });
