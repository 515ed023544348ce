/**
 * How the CLI prints: values as JSON when JSON can carry them exactly, otherwise in Node's inspect form
 * (so a Map or a BigInt is shown as what it is rather than silently flattened); `--json` output is always
 * valid JSON, one document per line, with the types JSON lacks spelled out (see docs/cli.md).
 */
import { inspect } from 'node:util';

/** Exit codes of the CLI (documented in docs/cli.md and `sharedkv --help`). */
export const EXIT = { ok: 0, failed: 1, usage: 2, connect: 3 } as const;

/** A mistake in the command line: printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Could not reach the owner: exit code 3. */
export class ConnectError extends Error {
  override readonly name = 'ConnectError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * A JSON replacer for what JSON has no form for: BigInt as `{ "$bigint": "123" }`, Map as `{ "$map": [[k, v]] }`,
 * Set as `{ "$set": [...] }`, Date as its ISO string, bytes as `{ "$bytes": "<base64>" }`, `undefined` as null.
 */
export function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (raw instanceof Map) return { $map: [...raw.entries()] };
  if (raw instanceof Set) return { $set: [...raw.values()] };
  if (raw instanceof Uint8Array) return { $bytes: Buffer.from(raw).toString('base64') };
  if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
  return value;
}

/** One line of `--json` output. */
export function toJson(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, jsonReplacer);
}

/** True when JSON round-trips `value` unchanged (plain objects, arrays, strings, finite numbers, booleans, null). */
function jsonExact(value: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => v !== undefined && jsonExact(v, depth + 1));
  if (typeof value === 'object') {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    return Object.values(value).every((v) => v !== undefined && jsonExact(v, depth + 1));
  }
  return false;
}

/** Human form of a value: JSON when exact, else Node's inspect form. */
export function human(value: unknown, color = false): string {
  if (jsonExact(value)) return JSON.stringify(value);
  return inspect(value, { depth: 8, colors: color, breakLength: Number.POSITIVE_INFINITY });
}

/** Writes one line to stdout. */
export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Writes one line to stderr. */
export function err(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Formats an integer with thousands separators. */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * Runs a long-lived command (`serve`, `inspect`) until SIGINT or SIGTERM, then `stop()`s it; with --json
 * it then prints `{"event":"stopped","signal":...}`. Resolves with exit code 0.
 */
export async function runUntilSignal(json: boolean, stop: () => Promise<void>): Promise<number> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await stop();
  if (json) out(toJson({ event: 'stopped', signal }));
  return EXIT.ok;
}
