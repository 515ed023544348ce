/** How every client command reaches the owner: socket, token and limits from options or environment. */
import { readFileSync } from 'node:fs';
import { connect, pm2SocketPath } from '../connect.js';
import { SharedKVError } from '../errors.js';
import type { Store } from '../types.js';
import type { Invocation } from './main.js';
import { ConnectError, UsageError } from './output.js';

/** A non-negative integer option, or `fallback` when absent. */
export function intOption(inv: Invocation, name: string, fallback: number): number;
export function intOption(inv: Invocation, name: string, fallback?: undefined): number | undefined;
export function intOption(inv: Invocation, name: string, fallback?: number): number | undefined {
  const raw = inv.values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`Expected --${name} to be a non-negative integer, got '${String(raw)}'`);
  }
  return n;
}

/** The socket path from --socket, --pm2 or $SHAREDKV_SOCKET. */
export function socketPath(inv: Invocation): string {
  const socket = inv.values.socket;
  const pm2 = inv.values.pm2;
  if (typeof socket === 'string' && typeof pm2 === 'string') throw new UsageError('Give --socket or --pm2, not both');
  if (typeof socket === 'string') return socket;
  if (typeof pm2 === 'string') return pm2SocketPath(pm2);
  const env = process.env.SHAREDKV_SOCKET;
  if (env) return env;
  throw new UsageError('No socket: pass --socket PATH (or --pm2 NAME, or set SHAREDKV_SOCKET)');
}

/** The token from --token, --token-file or $SHAREDKV_TOKEN. */
export function token(inv: Invocation): string | undefined {
  const file = inv.values['token-file'];
  if (typeof file === 'string') {
    const line = readFileSync(file, 'utf8').split('\n')[0]?.trim();
    if (!line) throw new UsageError(`The token file ${file} is empty`);
    return line;
  }
  const given = inv.values.token;
  if (typeof given === 'string') return given;
  return process.env.SHAREDKV_TOKEN || undefined;
}

/** Connects as a client; any failure to do so is a {@link ConnectError} (exit code 3). */
export async function open(inv: Invocation): Promise<Store> {
  const socket = socketPath(inv);
  const t = token(inv);
  try {
    return await connect({
      socket,
      role: 'client',
      readyTimeout: intOption(inv, 'wait', 0),
      timeout: intOption(inv, 'timeout', 5000),
      ...(t === undefined ? {} : { token: t }),
    });
  } catch (e) {
    const code = e instanceof SharedKVError ? e.code : undefined;
    throw new ConnectError(`Cannot connect to ${socket}: ${(e as Error).message}`, code);
  }
}
