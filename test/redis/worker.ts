/**
 * A process of the Redis multi-process tests: it opens the store with `connect({ redis })` (so the
 * on-demand loading in src/connect.ts is what runs), then performs the steps the test sends over IPC and
 * answers `{ app, event: 'result', id, ... }`.
 */
import { connect, type Lock } from '../../src/index.js';
import { lockSteps, type Step } from '../helpers/lock-steps.js';

const kv = await connect({
  redis: process.env.SKV_REDIS_URL ?? '',
  prefix: process.env.SKV_PREFIX ?? 'sharedkv',
  lockLiveness: Number(process.env.SKV_LIVENESS ?? 5000),
});
const held = new Map<string, Lock>();
const send = (msg: Record<string, unknown>) => process.send?.({ app: true, pid: process.pid, ...msg });

const steps: Record<string, (s: Step) => Promise<Record<string, unknown>>> = {
  ...lockSteps(kv, held, send),
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
