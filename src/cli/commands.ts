/** The data commands: get, set, del, keys, incr, ttl, stats. Each opens a connection, runs, closes. */
import type { StoreStats } from '../types.js';
import { intOption, open } from './connection.js';
import type { Invocation } from './main.js';
import { EXIT, human, int, out, toJson, UsageError } from './output.js';

function arity(inv: Invocation, min: number, max: number, usage: string): string[] {
  const n = inv.positionals.length;
  if (n < min || n > max) throw new UsageError(`Usage: sharedkv ${inv.command} ${usage}`);
  return inv.positionals;
}

function parseValue(inv: Invocation, text: string): unknown {
  if (inv.values.string) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(
      `The value is not JSON: ${text.length > 40 ? `${text.slice(0, 40)}...` : text}. Quote a string as '"text"', or pass --string`,
    );
  }
}

function num(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`Expected ${what} to be a number, got '${text}'`);
  return n;
}

/** Runs one data command; resolves with the exit code. */
export async function dataCommand(inv: Invocation): Promise<number> {
  const json = inv.values.json === true;
  // Arguments are checked before connecting, so a usage error never waits for the owner.
  const run = prepare(inv, json);
  const kv = await open(inv);
  try {
    return await run(kv);
  } finally {
    await kv.close();
  }
}

type Runner = (kv: Awaited<ReturnType<typeof open>>) => Promise<number>;

function prepare(inv: Invocation, json: boolean): Runner {
  switch (inv.command) {
    case 'get': {
      const [key] = arity(inv, 1, 1, '<key>') as [string];
      return async (kv) => {
        // A stored value is never undefined (set refuses it), so undefined means "no such key".
        const value = await kv.get(key);
        const found = value !== undefined;
        if (json) out(toJson(found ? { key, found, value } : { key, found }));
        else if (found) out(human(value, process.stdout.isTTY === true));
        return found ? EXIT.ok : EXIT.failed;
      };
    }
    case 'set': {
      const [key, text] = arity(inv, 2, 2, '<key> <json>') as [string, string];
      const value = parseValue(inv, text);
      const ttl = intOption(inv, 'ttl');
      const options = {
        ...(ttl === undefined ? {} : { ttl }),
        ...(inv.values.nx ? { nx: true } : {}),
        ...(inv.values.xx ? { xx: true } : {}),
      };
      return async (kv) => {
        const written = (await kv.set(key, value, options)) === true;
        if (json) out(toJson({ key, written }));
        else out(written ? 'OK' : 'not written (nx/xx)');
        return written ? EXIT.ok : EXIT.failed;
      };
    }
    case 'del': {
      const keys = arity(inv, 1, Number.POSITIVE_INFINITY, '<key>...');
      return async (kv) => {
        const n = await kv.del(keys);
        out(json ? toJson({ deleted: n }) : String(n));
        return EXIT.ok;
      };
    }
    case 'keys': {
      const [pattern = '*'] = arity(inv, 0, 1, '[pattern]');
      return async (kv) => {
        const keys = (await kv.keys(pattern)).sort();
        if (json) out(toJson(keys));
        else for (const k of keys) out(k);
        return EXIT.ok;
      };
    }
    case 'incr': {
      const [key, by = '1'] = arity(inv, 1, 2, '<key> [by]') as [string, string?];
      const step = num(by, 'by');
      return async (kv) => {
        const n = await kv.incr(key, step);
        out(json ? toJson({ key, value: n }) : String(n));
        return EXIT.ok;
      };
    }
    case 'ttl': {
      const [key] = arity(inv, 1, 1, '<key>') as [string];
      return async (kv) => {
        const ms = await kv.ttl(key);
        out(json ? toJson({ key, ttl: ms }) : String(ms));
        return EXIT.ok;
      };
    }
    case 'stats': {
      arity(inv, 0, 0, '');
      return async (kv) => {
        const stats = await kv.stats();
        out(json ? toJson(stats) : formatStats(stats));
        return EXIT.ok;
      };
    }
    default:
      throw new UsageError(`Unknown command '${inv.command}'`);
  }
}

interface Latency {
  calls: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/** A readable stats page: totals, then one row per command with its latency in the owner. */
export function formatStats(stats: StoreStats): string {
  const s = stats as StoreStats & { latency?: Record<string, Latency> };
  const lines = [
    `keys      ${int(s.keys)}`,
    `bytes     ${int(s.bytes)}`,
    `clients   ${int(s.clients)}`,
    `hits      ${int(s.hits)}`,
    `misses    ${int(s.misses)}`,
    `expired   ${int(s.expired)}`,
    `uptime    ${(s.uptime / 1000).toFixed(1)} s`,
  ];
  const names = Object.keys(s.commands).sort();
  if (names.length > 0) {
    const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(14) : c.padStart(11))).join('');
    lines.push('', row(['command', 'calls', 'mean µs', 'p50 µs', 'p99 µs', 'max µs']));
    for (const name of names) {
      const l = s.latency?.[name];
      lines.push(
        row([
          name,
          int(s.commands[name] ?? 0),
          ...(l ? [l.meanUs, l.p50Us, l.p99Us, l.maxUs].map((n) => n.toFixed(1)) : ['-', '-', '-', '-']),
        ]),
      );
    }
  }
  return lines.join('\n');
}
