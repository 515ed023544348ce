/**
 * `sharedkv inspect`: the web inspector (docs/inspector.md) for an owner reached by its socket. It is
 * `startInspector({ socket, token })` of `sharedkv/inspector` with the CLI's connection options, so the
 * page, its token check and its loopback-only binding are the ones every other way of starting it gets.
 */
import { spawn } from 'node:child_process';
import { SharedKVError } from '../errors.js';
import { type Inspector, startInspector } from '../inspector/index.js';
import { intOption, socketPath, token } from './connection.js';
import type { Invocation } from './main.js';
import { ConnectError, err, out, runUntilSignal, toJson, UsageError } from './output.js';

/** Errors of the inspector's own HTTP side (exit 1); anything else came from reaching the owner (exit 3). */
const LOCAL_FAILURES = new Set(['ERR_SHAREDKV_ADDRESS_IN_USE', 'ERR_SHAREDKV_IO', 'ERR_SHAREDKV_BAD_ARGUMENT']);

function rangeOption(inv: Invocation, name: string, fallback: number, min: number, max: number): number {
  const n = intOption(inv, name, fallback);
  if (n < min || n > max) throw new UsageError(`Expected --${name} to be from ${min} to ${max}, got ${n}`);
  return n;
}

/**
 * Opens `url` in the desktop's browser, without waiting for it. A machine without one (a server, a
 * container) only gets a note: the URL is printed either way.
 */
function openBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(command, [url], { stdio: 'ignore', detached: true });
  child.once('error', (e) => err(`sharedkv: could not open a browser (${e.message}); open the URL above yourself`));
  child.unref();
}

/**
 * Serves the inspector until SIGINT/SIGTERM and resolves with the exit code. Prints the page's URL, token
 * included, on stdout once it listens (`{"event":"listening","url":...}` with --json).
 *
 * @throws ConnectError (exit 3) when the owner cannot be reached or refuses the token; UsageError (exit 2)
 * for bad options; SharedKVError `ERR_SHAREDKV_ADDRESS_IN_USE` (exit 1) when --port is taken.
 */
export async function inspectCommand(inv: Invocation): Promise<number> {
  if (inv.positionals.length > 0) throw new UsageError(`Unexpected argument '${inv.positionals[0]}'`);
  const socket = socketPath(inv);
  const t = token(inv);
  const port = rangeOption(inv, 'port', 0, 0, 65_535);
  const interval = rangeOption(inv, 'interval', 1000, 100, 60_000);
  let inspector: Inspector;
  try {
    inspector = await startInspector(
      { socket, token: t, wait: intOption(inv, 'wait', 0), timeout: intOption(inv, 'timeout', 5000) },
      { port, interval, readonly: inv.values.readonly === true, log: false },
    );
  } catch (e) {
    if (e instanceof SharedKVError && !LOCAL_FAILURES.has(e.code)) {
      throw new ConnectError(`Cannot inspect ${socket}: ${e.message}`, e.code);
    }
    throw e;
  }
  const ready = { event: 'listening', url: inspector.url, port: inspector.port, socket, pid: process.pid };
  out(inv.values.json ? toJson(ready) : `sharedkv inspector: ${inspector.url}`);
  if (!inv.values.json && process.stderr.isTTY) err(`sharedkv: inspecting ${socket}; Ctrl-C to stop`);
  if (inv.values.open) openBrowser(inspector.url);
  return runUntilSignal(inv.values.json === true, () => inspector.close());
}
