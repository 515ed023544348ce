/** `sharedkv serve`: a daemon owning the store, serving it on a Unix socket until SIGINT/SIGTERM. */
import { serve } from '../serve.js';
import { intOption, socketPath, token } from './connection.js';
import type { Invocation } from './main.js';
import { EXIT, out, toJson, UsageError } from './output.js';

/** Runs the daemon; resolves with the exit code once it has stopped. */
export async function serveCommand(inv: Invocation): Promise<number> {
  if (inv.positionals.length > 0) throw new UsageError(`Unexpected argument '${inv.positionals[0]}'`);
  const socket = socketPath(inv);
  const t = token(inv);
  const maxFrame = intOption(inv, 'max-frame');
  const maxOutput = intOption(inv, 'max-output');
  const maxKeys = intOption(inv, 'max-keys');
  const maxBytes = intOption(inv, 'max-bytes');
  const daemon = await serve({
    socket,
    ...(t === undefined ? {} : { token: t }),
    ...(maxFrame === undefined ? {} : { maxFrame }),
    ...(maxOutput === undefined ? {} : { maxOutput }),
    ...(maxKeys === undefined ? {} : { maxKeys }),
    ...(maxBytes === undefined ? {} : { maxBytes }),
  });
  const ready = { event: 'listening', socket: daemon.socket, pid: process.pid, token: t !== undefined };
  out(inv.values.json ? toJson(ready) : `sharedkv serving ${daemon.socket} (pid ${process.pid})`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await daemon.close();
  if (inv.values.json) out(toJson({ event: 'stopped', signal }));
  return EXIT.ok;
}
