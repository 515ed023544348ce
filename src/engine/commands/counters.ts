/** Counters: incr and decr, on numbers stored with the value codec (integers and floats). */
import { decodeStored, type Encoded, encodeNumber } from '../../protocol/codec.js';
import type { Engine } from '../engine.js';
import { type CommandSpec, checkKey, checkNumber, command } from '../table.js';
import { wrongType } from './values.js';

function add(engine: Engine, key: string, by: number): number {
  const e = engine.read(key);
  let current = 0;
  if (e) {
    const v = decodeStored(e.v as Encoded);
    if (typeof v !== 'number') throw wrongType(key, 'a number');
    current = v;
  }
  const next = current + by;
  // Like Redis INCR, a counter keeps its ttl.
  engine.write(key, { v: encodeNumber(next), exp: e?.exp ?? 0 });
  return next;
}

function checkCounter(a: unknown[]): void {
  checkKey(a[0]);
  if (a[1] !== undefined) checkNumber(a[1], 'by');
}

export const counterCommands: CommandSpec[] = [
  command({
    name: 'incr',
    arity: [1, 2],
    write: true,
    check: checkCounter,
    run: (ctx, a) => add(ctx.engine, a[0] as string, (a[1] as number | undefined) ?? 1),
  }),
  command({
    name: 'decr',
    arity: [1, 2],
    write: true,
    check: checkCounter,
    run: (ctx, a) => add(ctx.engine, a[0] as string, -((a[1] as number | undefined) ?? 1)),
  }),
];
