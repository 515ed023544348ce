/** `sharedkv serve`: a daemon owning the store, serving it on a Unix socket until SIGINT/SIGTERM. */
import type { PersistOptions } from '../persistence/persistence.js';
import { serve } from '../serve.js';
import { intOption, socketPath, token } from './connection.js';
import type { Invocation } from './main.js';
import { out, runUntilSignal, toJson, UsageError } from './output.js';

const FSYNC = ['always', 'everysec', 'no'] as const;

/** `--persist DIR [--fsync P] [--repair]` as the server's `persist` option (docs/persistence.md). */
function persistOption(inv: Invocation): PersistOptions | undefined {
  const dir = inv.values.persist;
  const fsync = inv.values.fsync;
  if (typeof dir !== 'string') {
    if (fsync !== undefined || inv.values.repair) throw new UsageError('--fsync and --repair need --persist DIR');
    return undefined;
  }
  if (fsync !== undefined && !FSYNC.includes(fsync as never)) {
    throw new UsageError(`Expected --fsync to be one of ${FSYNC.join(', ')}, got '${String(fsync)}'`);
  }
  return {
    dir,
    ...(fsync === undefined ? {} : { fsync: fsync as (typeof FSYNC)[number] }),
    ...(inv.values.repair ? { repair: true } : {}),
  };
}

/** Runs the daemon; resolves with the exit code once it has stopped. */
export async function serveCommand(inv: Invocation): Promise<number> {
  if (inv.positionals.length > 0) throw new UsageError(`Unexpected argument '${inv.positionals[0]}'`);
  const socket = socketPath(inv);
  const t = token(inv);
  const maxFrame = intOption(inv, 'max-frame');
  const maxOutput = intOption(inv, 'max-output');
  const maxKeys = intOption(inv, 'max-keys');
  const maxBytes = intOption(inv, 'max-bytes');
  const persist = persistOption(inv);
  const daemon = await serve({
    socket,
    ...(t === undefined ? {} : { token: t }),
    ...(maxFrame === undefined ? {} : { maxFrame }),
    ...(maxOutput === undefined ? {} : { maxOutput }),
    ...(maxKeys === undefined ? {} : { maxKeys }),
    ...(maxBytes === undefined ? {} : { maxBytes }),
    ...(persist === undefined ? {} : { persist }),
  });
  const ready = { event: 'listening', socket: daemon.socket, pid: process.pid, token: t !== undefined };
  out(inv.values.json ? toJson(ready) : `sharedkv serving ${daemon.socket} (pid ${process.pid})`);
  return runUntilSignal(inv.values.json === true, () => daemon.close());
}
