/**
 * Cross-backend parity: the same seeded random command sequences run on the memory owner
 * (`connect({ role: 'owner' })`) and on Redis, and every result (value, or error code and batch index)
 * must be identical, as must the whole store after each sequence. 1,000 sequences of 20 commands each,
 * over a small key space with namespaces, counters on floats and integers, cas on the values counters
 * wrote (which checks that Redis writes numbers byte for byte as the memory owner does), batches that
 * fail midway (with cas among their commands), and refused arguments. Ttls are long (a minute) and compared as "has one or not", so the
 * run does not depend on timing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectRedis } from '../../src/backends/redis/index.js';
import { connect, type SharedKVError, type Store } from '../../src/index.js';
import { type RedisServer, redisSkipReason, startRedis } from '../helpers/redis-server.js';

const SEQUENCES = 1000;
const COMMANDS = 20;
const LONG = 60_000;
const LANES = 10;

/** mulberry32: a small seeded PRNG, so a failing sequence can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Step = { label: string; run: (s: Store) => Promise<unknown> };

function generator(random: () => number) {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const int = (n: number) => Math.floor(random() * n);
  const KEYS = ['a', 'b', 'c', 'n:x', 'n:y', 'n:m:z', 'q?'];
  const VALUES: Array<() => unknown> = [
    () => int(100),
    () => -int(1000),
    () => int(1000) / 8,
    () => 0.1 * int(10),
    () => 2 ** 32 + int(10),
    () => 'text',
    () => ({ o: int(3), list: [1, 'x'] }),
    () => [int(3)],
    () => null,
    () => false,
    () => new Map([['k', int(3)]]),
    () => 7n,
    // Near the boundaries of msgpack's number formats, so counters cross them.
    () => pick([62, 254, 65534, 2 ** 32 - 2, -31, -127, -32767, -(2 ** 31) + 1]) + int(2),
  ];
  const BYS = [1, 1, 2, -1, -3, 0.5, 0.1, 1e-7, 2 ** 31, -(2 ** 33), 1.5];
  const PATTERNS = ['*', 'n:*', '?', '[ab]*', 'n:m:*', '*z', 'q\\?'];
  /** Reaches namespaced keys through their namespace half of the time (decided now, not per backend). */
  const via = (key: string): ((s: Store) => [Store, string]) => {
    if (key.startsWith('n:') && random() < 0.5) return (s) => [s.namespace('n'), key.slice(2)];
    return (s) => [s, key];
  };
  const setOptions = (): Record<string, unknown> | undefined => {
    const r = random();
    if (r < 0.4) return undefined;
    const o: Record<string, unknown> = {};
    if (random() < 0.3) o.ttl = LONG;
    if (random() < 0.2) o.nx = true;
    if (random() < 0.2) o.xx = true;
    if (random() < 0.15) o.keepTtl = true;
    if (random() < 0.3) o.get = true;
    if (random() < 0.03) o.ttl = -1;
    return o;
  };
  return (): Step => {
    const key = pick(KEYS);
    const r = random();
    if (r < 0.16) {
      const value = pick(VALUES)();
      const o = setOptions();
      const at = via(key);
      return {
        label: `set ${key} ${String(value)} ${JSON.stringify(o)}`,
        run: (s) => {
          const [st, k] = at(s);
          return st.set(k, value, o as never);
        },
      };
    }
    if (r < 0.26) return { label: `get ${key}`, run: (s) => s.get(key) };
    if (r < 0.4) {
      const by = pick(BYS);
      const down = random() < 0.3;
      const at = via(key);
      // Half the time, compare-and-set the result onto itself: true only if the stored bytes are exactly
      // what the codec writes for that number (the memory owner's bytes).
      const check = random() < 0.5;
      return {
        label: `${down ? 'decr' : 'incr'} ${key} ${by}${check ? ' + cas' : ''}`,
        run: async (s) => {
          const [st, k] = at(s);
          const n = down ? await st.decr(k, by) : await st.incr(k, by);
          return check ? [n, await st.cas(k, n, n)] : n;
        },
      };
    }
    if (r < 0.47) {
      const keys = [pick(KEYS), pick(KEYS)];
      return { label: `del ${keys}`, run: (s) => s.del(keys) };
    }
    if (r < 0.5) return { label: `has ${key}`, run: (s) => s.has(key) };
    if (r < 0.57) {
      // Expected: usually the current value (so counters' bytes are compared), sometimes another.
      const next = random() < 0.1 ? undefined : pick(VALUES)();
      const other = random() < 0.3;
      const otherValue = pick(VALUES)();
      const ttl = random() < 0.3 ? { ttl: LONG } : undefined;
      return {
        label: `cas ${key} ${other ? String(otherValue) : 'current'} → ${String(next)}`,
        run: async (s) => {
          const expected = other ? otherValue : await s.get(key);
          return s.cas(key, expected, next, ttl);
        },
      };
    }
    if (r < 0.61) {
      const ttl = random() < 0.05 ? 0 : LONG;
      return { label: `expire ${key} ${ttl}`, run: (s) => s.expire(key, ttl) };
    }
    if (r < 0.64) return { label: `persist ${key}`, run: (s) => s.persist(key) };
    if (r < 0.68) {
      return {
        label: `ttl ${key}`,
        run: async (s) => {
          const t = await s.ttl(key);
          return t > 0 ? 'positive' : t;
        },
      };
    }
    if (r < 0.72) {
      const keys = [pick(KEYS), pick(KEYS), 'missing'];
      return { label: `mget ${keys}`, run: (s) => s.mget(keys) };
    }
    if (r < 0.76) {
      const entries: Array<[string, unknown]> = [
        [pick(KEYS), pick(VALUES)()],
        [pick(KEYS), pick(VALUES)()],
      ];
      const ttl = random() < 0.4 ? { ttl: LONG } : undefined;
      return { label: `mset ${JSON.stringify(entries.map((e) => e[0]))}`, run: (s) => s.mset(entries, ttl) };
    }
    if (r < 0.8) {
      const pattern = pick(PATTERNS);
      return { label: `keys ${pattern}`, run: async (s) => (await s.keys(pattern)).sort() };
    }
    if (r < 0.82) return { label: 'size', run: (s) => s.size() };
    if (r < 0.83) return { label: 'clear n', run: (s) => s.namespace('n').clear() };
    if (r < 0.85) {
      const value = pick(VALUES)();
      return { label: `getOrSet ${key}`, run: (s) => s.getOrSet(key, () => value) };
    }
    // A batch of 1 to 5 commands, some of which may fail (a wrong type, a bad ttl).
    const n = 1 + int(5);
    /** Each command, given the batch and the values its keys held before it (for cas of the current value). */
    const ops: Array<(b: ReturnType<Store['batch']>, current: Map<string, unknown>) => void> = [];
    const labels: string[] = [];
    const reads = new Set<string>();
    for (let i = 0; i < n; i++) {
      const k = pick(KEYS);
      const c = random();
      if (c < 0.3) {
        const v = pick(VALUES)();
        const o = setOptions();
        ops.push((b) => b.set(k, v, o as never));
        labels.push(`set ${k}`);
      } else if (c < 0.45) {
        ops.push((b) => b.get(k));
        labels.push(`get ${k}`);
      } else if (c < 0.63) {
        const by = pick(BYS);
        ops.push((b) => b.incr(k, by));
        labels.push(`incr ${k}`);
      } else if (c < 0.71) {
        ops.push((b) => b.del(k));
        labels.push(`del ${k}`);
      } else if (c < 0.76) {
        ops.push((b) => b.has(k));
        labels.push(`has ${k}`);
      } else if (c < 0.82) {
        ops.push((b) => b.expire(k, LONG));
        labels.push(`expire ${k}`);
      } else if (c < 0.86) {
        ops.push((b) => b.persist(k));
        labels.push(`persist ${k}`);
      } else {
        // Expected: the value before the batch (counters' bytes compared), absent, or another value.
        const e = random();
        const other = pick(VALUES)();
        const next = random() < 0.15 ? undefined : pick(VALUES)();
        const o = random() < 0.3 ? { ttl: LONG } : undefined;
        if (e < 0.5) reads.add(k);
        ops.push((b, current) => b.cas(k, e < 0.5 ? current.get(k) : e < 0.65 ? undefined : other, next, o));
        labels.push(`cas ${k} ${e < 0.5 ? 'current' : e < 0.65 ? 'absent' : String(other)} → ${String(next)}`);
      }
    }
    return {
      label: `batch [${labels.join(', ')}]`,
      run: async (s) => {
        const current = new Map<string, unknown>();
        for (const k of reads) current.set(k, await s.get(k));
        const b = s.batch();
        for (const op of ops) op(b, current);
        return b.exec();
      },
    };
  };
}

/** A result or the error's code and batch index: what two backends must agree on. */
async function outcome(p: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: await p() };
  } catch (err) {
    const e = err as SharedKVError;
    return { code: e.code, index: (e.data as { index?: number } | undefined)?.index };
  }
}

async function everything(s: Store): Promise<unknown> {
  const keys = (await s.keys()).sort();
  const values = await s.mget(keys);
  const ttls = await Promise.all(keys.map(async (k) => ((await s.ttl(k)) > 0 ? 'ttl' : 'none')));
  return keys.map((k, i) => [k, values[i], ttls[i]]);
}

const skip = redisSkipReason();
describe('parity: memory owner and Redis run the same command sequences alike', { skip }, () => {
  let server: RedisServer;
  let memory: Store;
  let redis: Store;
  before(async () => {
    server = await startRedis();
    memory = await connect({ role: 'owner' });
    redis = await connectRedis({ redis: server.url, prefix: 'parity' });
  });
  after(async () => {
    await memory?.close();
    await redis?.close();
    await server?.stop();
  });

  it(`${SEQUENCES} seeded sequences of ${COMMANDS} commands give identical results and stores`, async () => {
    let commands = 0;
    // Sequences run in lanes, each in a namespace of its own on both backends, so Redis round trips overlap.
    const lane = async (n: number) => {
      const m = memory.namespace(`lane${n}`);
      const r = redis.namespace(`lane${n}`);
      for (let seq = n + 1; seq <= SEQUENCES; seq += LANES) {
        await Promise.all([m.clear(), r.clear()]);
        const next = generator(rng(seq));
        const log: string[] = [];
        for (let i = 0; i < COMMANDS; i++) {
          const step = next();
          log.push(step.label);
          const [a, b] = await Promise.all([outcome(() => step.run(m)), outcome(() => step.run(r))]);
          commands++;
          assert.deepStrictEqual(b, a, `seed ${seq}, command ${i}: ${step.label}\n${log.join('\n')}`);
        }
        assert.deepStrictEqual(await everything(r), await everything(m), `seed ${seq}: final store`);
      }
    };
    await Promise.all(Array.from({ length: LANES }, (_, n) => lane(n)));
    assert.equal(commands, SEQUENCES * COMMANDS);
  });
});
