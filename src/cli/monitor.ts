/**
 * `sharedkv monitor`: asks the owner to push every command it runs to this connection (the `monitor`
 * command, handled by the server, not the engine) and prints them as they come. After a daemon restart
 * the client reconnects and asks again.
 */
import { RemoteCaller } from '../client/remote.js';
import { SharedKVError } from '../errors.js';
import { decodeValue } from '../protocol/codec.js';
import type { MonitorEvent } from '../server/server.js';
import { dialUnix, dialUnixUntil } from '../transport/socket.js';
import { intOption, socketPath, token } from './connection.js';
import type { Invocation } from './main.js';
import { ConnectError, EXIT, err, human, out, toJson, UsageError } from './output.js';

/** Arguments as the user wrote them: value bytes decoded, long values cut. */
function readable(args: unknown[]): unknown[] {
  return args.map((a) => {
    if (a instanceof Uint8Array) {
      try {
        return decodeValue(a);
      } catch {
        return a;
      }
    }
    if (Array.isArray(a)) return readable(a);
    return a;
  });
}

function line(e: MonitorEvent): string {
  const time = new Date(e.time).toISOString().slice(11, 23);
  const args = readable(e.args)
    .map((a) => {
      const text = human(a);
      return text.length > 200 ? `${text.slice(0, 200)}...` : text;
    })
    .join(' ');
  return `${time} [${e.client}] ${e.command}${args ? ` ${args}` : ''}`;
}

/** Runs the monitor until SIGINT/SIGTERM; resolves with the exit code. */
export async function monitor(inv: Invocation): Promise<number> {
  if (inv.positionals.length > 0) throw new UsageError(`Unexpected argument '${inv.positionals[0]}'`);
  const socket = socketPath(inv);
  const json = inv.values.json === true;
  const caller = new RemoteCaller(dialUnixUntil(socket, {}, intOption(inv, 'wait', 0)), {
    timeout: intOption(inv, 'timeout', 5000),
    hello: { token: token(inv) },
    redial: () => dialUnix(socket, {}),
  });
  caller.onPush = (message) => {
    if (message[0] !== 'monitor') return;
    const event = message[1] as MonitorEvent;
    out(json ? toJson({ ...event, args: readable(event.args) }) : line(event));
  };
  caller.onReconnect = () => {
    caller.call('monitor', []).then(
      () => err('sharedkv: reconnected; monitoring again'),
      (e: Error) => err(`sharedkv: could not monitor again: ${e.message}`),
    );
  };
  try {
    await caller.ready();
    await caller.call('monitor', []);
  } catch (e) {
    await caller.close();
    throw new ConnectError(
      `Cannot monitor ${socket}: ${(e as Error).message}`,
      e instanceof SharedKVError ? e.code : undefined,
    );
  }
  if (!json && process.stderr.isTTY) err(`sharedkv: monitoring ${socket}; Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await caller.close();
  return EXIT.ok;
}
