#!/usr/bin/env node
/**
 * The `sharedkv` command: `serve` runs a daemon; every other command is a client of an owner reached by
 * its socket. Arguments are parsed with `node:util` parseArgs; exit codes are 0 ok, 1 command failed,
 * 2 usage error, 3 cannot connect (docs/cli.md).
 */
import { parseArgs } from 'node:util';
import { SharedKVError } from '../errors.js';
import { bench } from './bench.js';
import { dataCommand } from './commands.js';
import { serveCommand } from './daemon.js';
import { COMMANDS, GENERAL } from './help.js';
import { monitor } from './monitor.js';
import { ConnectError, EXIT, err, toJson, UsageError } from './output.js';

type OptionSpec = { type: 'string' | 'boolean'; short?: string };

const COMMON: Record<string, OptionSpec> = {
  socket: { type: 'string', short: 's' },
  pm2: { type: 'string' },
  token: { type: 'string' },
  wait: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const OWN: Record<string, Record<string, OptionSpec>> = {
  serve: {
    'token-file': { type: 'string' },
    'max-frame': { type: 'string' },
    'max-output': { type: 'string' },
    'max-keys': { type: 'string' },
    'max-bytes': { type: 'string' },
    persist: { type: 'string' },
    fsync: { type: 'string' },
    repair: { type: 'boolean' },
  },
  set: { ttl: { type: 'string' }, nx: { type: 'boolean' }, xx: { type: 'boolean' }, string: { type: 'boolean' } },
  inspect: {
    port: { type: 'string' },
    open: { type: 'boolean' },
    readonly: { type: 'boolean' },
    interval: { type: 'string' },
  },
  bench: {
    requests: { type: 'string', short: 'n' },
    concurrency: { type: 'string', short: 'c' },
    commands: { type: 'string' },
    size: { type: 'string' },
  },
};

const NEGATIVE = /^-(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const SHIELD = '\u0000';

/** Parsed command line of one command. */
export interface Invocation {
  command: string;
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

function parse(argv: string[]): Invocation | 'help' {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') return 'help';
  if (!Object.hasOwn(COMMANDS, command)) throw new UsageError(`Unknown command '${command}'`);
  try {
    // parseArgs would read a negative number ("incr k -1") as a short option: shield it, then restore it.
    const shielded = rest.map((a) => (NEGATIVE.test(a) ? `${SHIELD}${a}` : a));
    const unshield = (v: string) => (v.startsWith(SHIELD) ? v.slice(SHIELD.length) : v);
    const { values, positionals } = parseArgs({
      args: shielded,
      options: { ...COMMON, ...OWN[command] },
      allowPositionals: true,
      strict: true,
    });
    for (const [k, v] of Object.entries(values)) if (typeof v === 'string') values[k] = unshield(v);
    return { command, positionals: positionals.map(unshield), values: values as Invocation['values'] };
  } catch (e) {
    // parseArgs' own messages are clear ("Unknown option '--tll'"); only the exit code changes.
    throw new UsageError((e as Error).message);
  }
}

async function run(argv: string[]): Promise<number> {
  const inv = parse(argv);
  if (inv === 'help') {
    process.stdout.write(`${GENERAL}\n`);
    return EXIT.ok;
  }
  if (inv.values.help) {
    process.stdout.write(`${COMMANDS[inv.command]}\n`);
    return EXIT.ok;
  }
  switch (inv.command) {
    case 'serve':
      return serveCommand(inv);
    case 'monitor':
      return monitor(inv);
    case 'inspect':
      // Loaded on demand: the inspector's page and server are most of the CLI's code, and no other command needs them.
      return (await import('./inspect.js')).inspectCommand(inv);
    case 'bench':
      return bench(inv);
    default:
      return dataCommand(inv);
  }
}

function report(e: unknown, json: boolean): number {
  const code = e instanceof SharedKVError || e instanceof ConnectError ? e.code : undefined;
  const exit = e instanceof UsageError ? EXIT.usage : e instanceof ConnectError ? EXIT.connect : EXIT.failed;
  const message = (e as Error)?.message ?? String(e);
  if (json) err(toJson({ error: { code, message } }));
  else err(`sharedkv: ${message}${code ? ` (${code})` : ''}`);
  if (e instanceof UsageError) err("Run 'sharedkv --help' for usage.");
  else if (!(e instanceof SharedKVError) && !(e instanceof ConnectError)) err((e as Error)?.stack ?? '');
  return exit;
}

const argv = process.argv.slice(2);
run(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.exitCode = report(e, argv.includes('--json'));
  },
);
