/** Value commands: get, set, del, has, keys, mget, mset, clear, size, cas, expire, ttl, persist. */
import { badArgument, SharedKVError } from '../../errors.js';
import { type Encoded, sameStored } from '../../protocol/codec.js';
import type { Engine, Entry } from '../engine.js';
import { globToRegExp, literalPrefix } from '../glob.js';
import {
  type CommandSpec,
  checkEncoded,
  checkFlag,
  checkKey,
  checkKeys,
  checkOptions,
  checkTtl,
  command,
  optionalTtl,
} from '../table.js';
import { checkFence, checkFenceOption } from './locks.js';

const SET_OPTIONS = ['ttl', 'nx', 'xx', 'keepTtl', 'get', 'fence'] as const;

/** A read that counts towards hits and misses. */
function lookupValue(engine: Engine, key: string): Entry | undefined {
  const e = engine.read(key);
  if (e) engine.hits++;
  else engine.misses++;
  return e;
}

function expiryFrom(engine: Engine, ttl: number | undefined): number {
  return ttl === undefined ? 0 : engine.now() + ttl;
}

function checkSet(args: unknown[]): void {
  checkKey(args[0]);
  checkEncoded(args[1]);
  const o = checkOptions(args[2], SET_OPTIONS, 'set');
  optionalTtl(o);
  const nx = checkFlag(o, 'nx', 'set');
  const xx = checkFlag(o, 'xx', 'set');
  const keepTtl = checkFlag(o, 'keepTtl', 'set');
  checkFlag(o, 'get', 'set');
  checkFenceOption(o.fence);
  if (nx && xx) throw badArgument('Options `nx` and `xx` of `set` exclude each other');
  if (keepTtl && o.ttl !== undefined) throw badArgument('Options `ttl` and `keepTtl` of `set` exclude each other');
}

/** Runs `set` after its checks; shared with batches and fenced writes. */
export function runSet(engine: Engine, key: string, value: Encoded, o: Record<string, unknown>): unknown {
  if (o.fence !== undefined) checkFence(engine, o.fence as { lock: string; token: number });
  const prev = engine.read(key);
  const result = (ok: boolean): unknown => (o.get === true ? (prev?.v ?? null) : ok);
  if ((o.nx === true && prev) || (o.xx === true && !prev)) return result(false);
  const exp = o.keepTtl === true && prev ? prev.exp : expiryFrom(engine, o.ttl as number | undefined);
  engine.write(key, { v: copy(value), exp });
  return result(true);
}

/**
 * Values from a socket frame are views into the frame; copying keeps a stored value from pinning the
 * whole frame in memory.
 */
export function copy(value: Encoded): Encoded {
  // Buffer#slice makes a view, not a copy: use Uint8Array's.
  return value.byteOffset === 0 && value.byteLength === value.buffer.byteLength
    ? value
    : Uint8Array.prototype.slice.call(value);
}

function ttlOf(engine: Engine, e: Entry | undefined): number {
  if (!e) return -2;
  if (e.exp === 0) return -1;
  return Math.max(0, Math.ceil(e.exp - engine.now()));
}

export const valueCommands: CommandSpec[] = [
  command({
    name: 'get',
    arity: [1, 1],
    check: (a) => checkKey(a[0]),
    run: (ctx, a) => lookupValue(ctx.engine, a[0] as string)?.v ?? null,
  }),
  command({
    name: 'set',
    arity: [2, 3],
    write: true,
    check: checkSet,
    run: (ctx, a) => runSet(ctx.engine, a[0] as string, a[1] as Encoded, (a[2] ?? {}) as Record<string, unknown>),
  }),
  command({
    name: 'del',
    arity: [1, 1],
    write: true,
    check: (a) => checkKeys(a[0]),
    run: (ctx, a) => {
      let n = 0;
      for (const key of a[0] as string[]) {
        if (ctx.engine.read(key)) {
          ctx.engine.write(key, undefined);
          n++;
        }
      }
      return n;
    },
  }),
  command({
    name: 'has',
    arity: [1, 1],
    check: (a) => checkKey(a[0]),
    run: (ctx, a) => ctx.engine.read(a[0] as string) !== undefined,
  }),
  command({
    name: 'keys',
    arity: [0, 1],
    check: (a) => {
      if (a[0] !== undefined) checkKey(a[0], 'pattern');
    },
    run: (ctx, a) => {
      const pattern = (a[0] as string | undefined) ?? '*';
      const prefix = literalPrefix(pattern);
      const re = prefix === pattern ? null : globToRegExp(pattern);
      const out: string[] = [];
      for (const key of [...ctx.engine.data.keys()]) {
        if (!key.startsWith(prefix)) continue;
        if (re ? !re.test(key) : key !== pattern) continue;
        if (ctx.engine.read(key)) out.push(key);
      }
      return out;
    },
  }),
  command({
    name: 'mget',
    arity: [1, 1],
    check: (a) => checkKeys(a[0]),
    run: (ctx, a) => (a[0] as string[]).map((key) => lookupValue(ctx.engine, key)?.v ?? null),
  }),
  command({
    name: 'mset',
    arity: [1, 2],
    write: true,
    check: (a) => {
      const pairs = a[0];
      if (!Array.isArray(pairs) || pairs.length % 2 !== 0) {
        throw badArgument('Expected `mset` entries as a flat [key, value, ...] list');
      }
      for (let i = 0; i < pairs.length; i += 2) {
        checkKey(pairs[i], 'entries key');
        checkEncoded(pairs[i + 1], 'entries value');
      }
      optionalTtl(checkOptions(a[1], ['ttl'], 'mset'));
    },
    run: (ctx, a) => {
      const pairs = a[0] as unknown[];
      const exp = expiryFrom(ctx.engine, ((a[1] ?? {}) as { ttl?: number }).ttl);
      for (let i = 0; i < pairs.length; i += 2) {
        ctx.engine.write(pairs[i] as string, { v: copy(pairs[i + 1] as Encoded), exp });
      }
      return null;
    },
  }),
  command({
    name: 'clear',
    arity: [0, 1],
    write: true,
    check: (a) => {
      if (a[0] !== undefined) checkKey(a[0], 'prefix');
    },
    run: (ctx, a) => ctx.engine.clear((a[0] as string | undefined) ?? ''),
  }),
  command({
    name: 'size',
    arity: [0, 1],
    check: (a) => {
      if (a[0] !== undefined) checkKey(a[0], 'prefix');
    },
    run: (ctx, a) => ctx.engine.liveCount((a[0] as string | undefined) ?? ''),
  }),
  command({
    name: 'cas',
    arity: [3, 4],
    write: true,
    check: (a) => {
      checkKey(a[0]);
      if (a[1] !== null) checkEncoded(a[1], 'expected');
      if (a[2] !== null) checkEncoded(a[2], 'next');
      optionalTtl(checkOptions(a[3], ['ttl'], 'cas'));
    },
    run: (ctx, a) => {
      const engine = ctx.engine;
      const key = a[0] as string;
      const prev = engine.read(key);
      const expected = a[1] as Encoded | null;
      if (expected === null ? prev !== undefined : !prev || !sameStored(prev.v, expected)) return false;
      const next = a[2] as Encoded | null;
      const ttl = ((a[3] ?? {}) as { ttl?: number }).ttl;
      if (next === null) engine.write(key, undefined);
      else engine.write(key, { v: copy(next), exp: ttl === undefined ? (prev?.exp ?? 0) : expiryFrom(engine, ttl) });
      return true;
    },
  }),
  command({
    name: 'expire',
    arity: [2, 2],
    write: true,
    check: (a) => {
      checkKey(a[0]);
      checkTtl(a[1]);
    },
    run: (ctx, a) => {
      const e = ctx.engine.read(a[0] as string);
      if (!e) return false;
      ctx.engine.write(a[0] as string, { v: e.v, exp: ctx.engine.now() + (a[1] as number) });
      return true;
    },
  }),
  command({
    name: 'ttl',
    arity: [1, 1],
    check: (a) => checkKey(a[0]),
    run: (ctx, a) => ttlOf(ctx.engine, ctx.engine.read(a[0] as string)),
  }),
  command({
    name: 'persist',
    arity: [1, 1],
    write: true,
    check: (a) => checkKey(a[0]),
    run: (ctx, a) => {
      const e = ctx.engine.read(a[0] as string);
      if (!e || e.exp === 0) return false;
      ctx.engine.write(a[0] as string, { v: e.v, exp: 0 });
      return true;
    },
  }),
  command({
    name: 'batch',
    arity: [1, 1],
    write: true,
    batchable: false,
    check: (a) => {
      const ops = a[0];
      if (!Array.isArray(ops) || !ops.every((op) => Array.isArray(op) && typeof op[0] === 'string')) {
        throw badArgument('Expected `batch` to carry a list of [command, ...args] entries');
      }
    },
    run: (ctx, a) => ctx.engine.runBatch(ctx, a[0] as Array<[string, ...unknown[]]>),
  }),
  command({
    name: 'ping',
    arity: [0, 0],
    batchable: false,
    run: () => 'pong',
  }),
];

/** Thrown for a non-number where a number is stored. */
export function wrongType(key: string, what: string): SharedKVError {
  return new SharedKVError('ERR_SHAREDKV_WRONG_TYPE', `Expected the value at ${JSON.stringify(key)} to be ${what}`, {
    key,
  });
}
