/**
 * Value commands on Redis: reads are single Redis commands (atomic by themselves); every write runs the
 * value script, so it is atomic and publishes its change events. Arguments arrive checked by the command
 * table (see caller.ts) in the engine's wire form: keys already namespaced, values as msgpack bytes.
 */
import { globToRegExp, literalPrefix } from '../../engine/glob.js';
import { SharedKVError } from '../../errors.js';
import { type Encoded, legacyEncoding } from '../../protocol/codec.js';
import type { Backend } from './backend.js';
import { KvCall } from './backend.js';
import { asBuffer } from './format.js';
import { withIndex } from './replies.js';

type Options = Record<string, unknown> | undefined;
type Fence = { lock: string; token: number };

/** Adds a `set` to a script call. */
function addSet(b: Backend, call: KvCall, key: string, value: Encoded, o: Options): void {
  const i = call.data(key);
  const fence = o?.fence as Fence | undefined;
  let hi = 0;
  let fi = 0;
  if (fence) {
    hi = call.key(b.layout.internal('lh', fence.lock), fence.lock);
    fi = call.key(b.layout.internal('lf', fence.lock), fence.lock);
  }
  const flags = `${o?.nx === true ? 'n' : ''}${o?.xx === true ? 'x' : ''}${o?.keepTtl === true ? 'k' : ''}${o?.get === true ? 'g' : ''}`;
  call.op(
    fence,
    'set',
    i,
    b.format.toStored(value),
    flags,
    (o?.ttl as number | undefined) ?? 0,
    hi,
    fi,
    fence?.token ?? 0,
  );
}

function stored(b: Backend, r: unknown): Encoded | null {
  return r instanceof Buffer ? b.format.fromStored(r) : null;
}

function setResult(b: Backend, r: unknown, o: Options): unknown {
  return o?.get === true ? stored(b, r) : r === 1;
}

function addCas(b: Backend, call: KvCall, a: unknown[]): void {
  const expected = a[1] as Encoded | null;
  const next = a[2] as Encoded | null;
  const ttl = ((a[3] ?? {}) as { ttl?: number }).ttl ?? 0;
  // Values written before plain encodings existed are still equal to the value they hold.
  const legacy = expected !== null && b.format.name === 'msgpack' ? legacyEncoding(expected) : null;
  call.op(
    undefined,
    'cas',
    call.data(a[0] as string),
    expected === null ? 0 : 1,
    expected === null ? '' : b.format.toStored(expected),
    next === null ? 0 : 1,
    next === null ? '' : b.format.toStored(next),
    ttl,
    legacy === null ? '' : asBuffer(legacy),
  );
}

/**
 * True when a cas cannot match because its expected value is one the json encoding cannot hold: such a
 * value is never stored, so the answer is `false` as on the memory backend, not a NOT_SERIALIZABLE error.
 * The new value must still be storable, as the memory backend would have written it on a match.
 */
function neverStored(b: Backend, a: unknown[]): boolean {
  if (a[1] === null || b.format.name !== 'json') return false;
  try {
    b.format.toStored(a[1] as Encoded);
    return false;
  } catch {
    if (a[2] !== null) b.format.toStored(a[2] as Encoded);
    return true;
  }
}

/** Groups keys by hash tag (one group on a single server), keeping each key's position. */
function byTag(b: Backend, keys: string[]): Array<Array<[key: string, index: number]>> {
  if (!b.isCluster) return [keys.map((k, i) => [k, i])];
  const groups = new Map<string, Array<[string, number]>>();
  keys.forEach((k, i) => {
    const tag = b.layout.tag(k);
    let g = groups.get(tag);
    if (!g) {
      g = [];
      groups.set(tag, g);
    }
    g.push([k, i]);
  });
  return [...groups.values()];
}

/** Logical keys matching a glob (the engine's `keys` semantics), found with SCAN. */
export async function matchingKeys(b: Backend, pattern: string): Promise<string[]> {
  const literal = literalPrefix(pattern);
  if (literal === pattern) {
    return (await b.cmd.exists(b.layout.data(pattern))) === 1 ? [pattern] : [];
  }
  const re = globToRegExp(pattern);
  const out: string[] = [];
  for (const key of await b.scan(b.layout.scanPattern(literal))) {
    const logical = b.layout.logical(key);
    if (logical?.startsWith(literal) && re.test(logical)) out.push(logical);
  }
  return out;
}

async function deleteKeys(b: Backend, keys: string[]): Promise<number> {
  let n = 0;
  for (const group of byTag(b, keys)) {
    for (let start = 0; start < group.length; start += 1000) {
      const call = new KvCall(b);
      const part = group.slice(start, start + 1000);
      const indexes = part.map(([k]) => call.data(k));
      call.op(undefined, 'del', indexes.length, ...indexes);
      n += (await b.kv(call))[0] as number;
    }
  }
  return n;
}

/** A handler: the command's checked arguments in, its wire result out. */
export type Handler = (b: Backend, a: unknown[]) => Promise<unknown>;

export const valueHandlers: Record<string, Handler> = {
  async get(b, a) {
    const r = await b.cmd.getBuffer(b.layout.data(a[0] as string));
    if (r === null) b.counters.misses++;
    else b.counters.hits++;
    return stored(b, r);
  },
  async set(b, a) {
    const call = new KvCall(b);
    const o = a[2] as Options;
    addSet(b, call, a[0] as string, a[1] as Encoded, o);
    return setResult(b, (await b.kv(call))[0], o);
  },
  async del(b, a) {
    const keys = a[0] as string[];
    if (keys.length === 0) return 0;
    return deleteKeys(b, keys);
  },
  async has(b, a) {
    return (await b.cmd.exists(b.layout.data(a[0] as string))) === 1;
  },
  keys: (b, a) => matchingKeys(b, (a[0] as string | undefined) ?? '*'),
  async mget(b, a) {
    const keys = a[0] as string[];
    const out: Array<Encoded | null> = new Array(keys.length).fill(null);
    await Promise.all(
      byTag(b, keys).map(async (group) => {
        if (group.length === 0) return;
        const values = await b.cmd.mgetBuffer(...group.map(([k]) => b.layout.data(k)));
        group.forEach(([, i], j) => {
          out[i] = stored(b, values[j]);
        });
      }),
    );
    for (const v of out) {
      if (v === null) b.counters.misses++;
      else b.counters.hits++;
    }
    return out;
  },
  async mset(b, a) {
    const pairs = a[0] as unknown[];
    if (pairs.length === 0) return null;
    const ttl = ((a[1] ?? {}) as { ttl?: number }).ttl;
    const call = new KvCall(b);
    for (let i = 0; i < pairs.length; i += 2) {
      addSet(b, call, pairs[i] as string, pairs[i + 1] as Encoded, ttl === undefined ? undefined : { ttl });
    }
    await b.kv(call);
    return null;
  },
  async clear(b, a) {
    return deleteKeys(b, await matchingKeys(b, `${(a[0] as string | undefined) ?? ''}*`));
  },
  async size(b, a) {
    return (await matchingKeys(b, `${(a[0] as string | undefined) ?? ''}*`)).length;
  },
  incr: (b, a) => counter(b, a[0] as string, (a[1] as number | undefined) ?? 1),
  decr: (b, a) => counter(b, a[0] as string, -((a[1] as number | undefined) ?? 1)),
  async cas(b, a) {
    if (neverStored(b, a)) return false;
    const call = new KvCall(b);
    addCas(b, call, a);
    return (await b.kv(call))[0] === 1;
  },
  async expire(b, a) {
    return (await b.cmd.pexpire(b.layout.data(a[0] as string), a[1] as number)) === 1;
  },
  async ttl(b, a) {
    return b.cmd.pttl(b.layout.data(a[0] as string));
  },
  async persist(b, a) {
    return (await b.cmd.persist(b.layout.data(a[0] as string))) === 1;
  },
  async ping(b) {
    await b.cmd.ping();
    return 'pong';
  },
  batch: (b, a) => runBatch(b, a[0] as Array<[string, ...unknown[]]>),
};

async function counter(b: Backend, key: string, by: number): Promise<number> {
  const call = new KvCall(b);
  call.op(undefined, 'incr', call.data(key), by);
  return b.format.number((await b.kv(call))[0] as Buffer);
}

/** Turns the script's results into one batch command's result. */
type Convert = (results: unknown[]) => unknown;

/** Runs a checked batch as one script call: all of it applies, or none of it. */
async function runBatch(b: Backend, ops: Array<[string, ...unknown[]]>): Promise<unknown[]> {
  const call = new KvCall(b, true);
  const convert: Convert[] = [];
  ops.forEach((op, index) => {
    const [name, ...a] = op;
    // The script's result of this command is at `at` (mset adds one script command per pair).
    const at = call.count;
    const bool: Convert = (rs) => rs[at] === 1;
    try {
      switch (name) {
        case 'get':
          call.op(undefined, 'get', call.data(a[0] as string));
          convert.push((rs) => {
            const v = stored(b, rs[at]);
            if (v === null) b.counters.misses++;
            else b.counters.hits++;
            return v;
          });
          break;
        case 'set':
          addSet(b, call, a[0] as string, a[1] as Encoded, a[2] as Options);
          convert.push((rs) => setResult(b, rs[at], a[2] as Options));
          break;
        case 'del': {
          const indexes = (a[0] as string[]).map((k) => call.data(k));
          call.op(undefined, 'del', indexes.length, ...indexes);
          convert.push((rs) => rs[at]);
          break;
        }
        case 'has':
          call.op(undefined, 'has', call.data(a[0] as string));
          convert.push(bool);
          break;
        case 'incr':
        case 'decr': {
          const by = (a[1] as number | undefined) ?? 1;
          call.op(undefined, 'incr', call.data(a[0] as string), name === 'decr' ? -by : by);
          convert.push((rs) => b.format.number(rs[at] as Buffer));
          break;
        }
        case 'expire':
          call.op(undefined, 'expire', call.data(a[0] as string), a[1] as number);
          convert.push(bool);
          break;
        case 'persist':
          call.op(undefined, 'persist', call.data(a[0] as string));
          convert.push(bool);
          break;
        case 'ttl':
          call.op(undefined, 'ttl', call.data(a[0] as string));
          convert.push((rs) => rs[at]);
          break;
        case 'cas':
          if (neverStored(b, a)) {
            // Nothing for the script to do; the other commands still run.
            convert.push(() => false);
            break;
          }
          addCas(b, call, a);
          convert.push(bool);
          break;
        case 'mset': {
          const pairs = a[0] as unknown[];
          const ttl = ((a[1] ?? {}) as { ttl?: number }).ttl;
          for (let i = 0; i < pairs.length; i += 2) {
            addSet(b, call, pairs[i] as string, pairs[i + 1] as Encoded, ttl === undefined ? undefined : { ttl });
          }
          convert.push(() => null);
          break;
        }
        default:
          throw new SharedKVError(
            'ERR_SHAREDKV_BAD_ARGUMENT',
            `\`${name}\` cannot be used inside a batch on the Redis backend`,
          );
      }
    } catch (err) {
      throw withIndex(err, index);
    }
  });
  const results = call.count === 0 ? [] : await b.kv(call);
  return convert.map((c) => c(results));
}
