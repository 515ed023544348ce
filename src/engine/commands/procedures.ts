/**
 * Stored procedures: functions the owner registers and any client runs atomically with `kv.call(name,
 * ...args)`. The function gets a synchronous transaction view of the engine; nothing else runs while it
 * does, and if it throws, every write it made is undone. It runs in the owner's process, next to the data,
 * so a read-modify-write needs one round trip instead of a lock and several.
 */
import { badArgument, describe, SharedKVError } from '../../errors.js';
import { decodeStored, decodeValue, type Encoded, encodeValue } from '../../protocol/codec.js';
import type { Engine } from '../engine.js';
import { type CommandContext, type CommandSpec, checkKey, command } from '../table.js';

/** The synchronous view of the store a procedure works on. Values are copies, as everywhere. */
export interface Transaction {
  get<T = unknown>(key: string): T | undefined;
  set(key: string, value: unknown, options?: { ttl?: number; nx?: boolean; xx?: boolean; keepTtl?: boolean }): boolean;
  del(...keys: string[]): number;
  has(key: string): boolean;
  incr(key: string, by?: number): number;
  decr(key: string, by?: number): number;
  keys(pattern?: string): string[];
  ttl(key: string): number;
  expire(key: string, ttl: number): boolean;
}

/** A stored procedure: synchronous; its return value is sent to the caller. */
export type Procedure = (tx: Transaction, ...args: never[]) => unknown;

function procedures(engine: Engine): Map<string, Procedure> {
  let m = engine.ext.get('procedures') as Map<string, Procedure> | undefined;
  if (!m) {
    m = new Map();
    engine.ext.set('procedures', m);
  }
  return m;
}

/**
 * Registers (or replaces) a procedure in the owner.
 *
 * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` when `fn` is not a function or the name is not a string.
 */
export function defineProcedure(engine: Engine, name: string, fn: Procedure): void {
  checkKey(name, 'name');
  if (typeof fn !== 'function') throw badArgument(`Expected procedure ${JSON.stringify(name)} to be a function`);
  procedures(engine).set(name, fn);
}

function transaction(ctx: CommandContext): Transaction {
  const run = (name: string, ...args: unknown[]) => ctx.engine.runInside(ctx, name, args);
  return {
    get: (key) => {
      const v = run('get', key) as Encoded | null;
      return v === null ? undefined : (decodeStored(v) as never);
    },
    set: (key, value, options) => {
      if (value === undefined) throw badArgument('Cannot store `undefined`; use del()');
      return run('set', key, encodeValue(value), options) as boolean;
    },
    del: (...keys) => run('del', keys) as number,
    has: (key) => run('has', key) as boolean,
    incr: (key, by = 1) => run('incr', key, by) as number,
    decr: (key, by = 1) => run('decr', key, by) as number,
    keys: (pattern = '*') => run('keys', pattern) as string[],
    ttl: (key) => run('ttl', key) as number,
    expire: (key, ttl) => run('expire', key, ttl) as boolean,
  };
}

function call(ctx: CommandContext, name: string, rawArgs: Encoded[]): unknown {
  const fn = procedures(ctx.engine).get(name);
  if (!fn) {
    throw badArgument(`No procedure named ${JSON.stringify(name)} is defined in the owner`, { procedure: name });
  }
  const args = rawArgs.map((a) => decodeValue(a));
  const inner: CommandContext = { ...ctx, inBatch: true };
  const result = ctx.engine.atomically(() => {
    let r: unknown;
    try {
      r = fn(transaction(inner), ...(args as never[]));
    } catch (err) {
      if (err instanceof SharedKVError) throw err;
      throw new SharedKVError(
        'ERR_SHAREDKV_PROCEDURE_FAILED',
        `Procedure ${JSON.stringify(name)} threw: ${err instanceof Error ? err.message : describe(err)}`,
        { procedure: name },
      );
    }
    if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
      throw badArgument(`Procedure ${JSON.stringify(name)} returned a promise; procedures must be synchronous`);
    }
    return r;
  });
  return result === undefined ? null : encodeValue(result);
}

export const procedureCommands: CommandSpec[] = [
  command({
    name: 'call',
    arity: [1, 2],
    write: true,
    batchable: false,
    check: (a) => {
      checkKey(a[0], 'procedure');
      if (a[1] !== undefined && (!Array.isArray(a[1]) || !a[1].every((x) => x instanceof Uint8Array))) {
        throw badArgument('Expected procedure arguments as a list of encoded values');
      }
    },
    run: (ctx, a) => call(ctx, a[0] as string, (a[1] as Encoded[] | undefined) ?? []),
  }),
];
