/** Help texts of the CLI: one general page and one per command (`sharedkv <command> --help`). */

const CONNECTION = `Connection options:
  -s, --socket PATH   socket of the owner (default: $SHAREDKV_SOCKET)
      --pm2 NAME      the socket PM2 app NAME's instances share (see docs/topologies.md)
      --token TOKEN   token the owner requires (default: $SHAREDKV_TOKEN; prefer the
                      variable: other users can read command lines in ps)
      --wait MS       wait up to MS for the owner to come up (default: 0, fail at once)
      --timeout MS    per-call timeout (default: 5000)
      --json          machine-readable output: one JSON document per line
  -h, --help          show help`;

const EXIT_CODES = `Exit codes: 0 ok, 1 command failed (or key not found), 2 usage error, 3 cannot connect.`;

/** The general help page. */
export const GENERAL = `sharedkv: a shared key-value store for Node.js processes, from the command line.

Usage: sharedkv <command> [arguments] [options]

Commands:
  serve                    run a daemon that owns a store and serves it on --socket
  get <key>                print a value
  set <key> <json>         store a value given as JSON ('{"a":1}', '"text"', 42)
  del <key>...             delete keys; prints how many existed
  keys [pattern]           list keys matching a glob (default *)
  incr <key> [by]          add to a number (default 1); prints the result
  ttl <key>                remaining time to live in ms (-1: none, -2: no such key)
  stats                    owner statistics, with per-command latency
  monitor                  print every command the owner runs, live
  inspect                  serve the web inspector of the owner on 127.0.0.1
  bench                    measure operations per second against the owner

${CONNECTION}

${EXIT_CODES}
Run 'sharedkv <command> --help' for a command's own options. Docs: docs/cli.md.`;

/** Help of each command. */
export const COMMANDS: Record<string, string> = {
  serve: `Usage: sharedkv serve --socket PATH [options]

Owns a store and serves it on a Unix socket until SIGINT or SIGTERM. The socket's directory is created
0700 when missing (an existing one must be yours and closed to others), the socket file is 0600. A socket
file left by a killed daemon is replaced; a live daemon on the same path is never taken over (exit 1).
Prints one line when ready to serve ({"event":"listening",...} with --json).

Options:
  -s, --socket PATH       socket to serve (default: $SHAREDKV_SOCKET)
      --pm2 NAME          serve the socket PM2 app NAME's instances share
      --token TOKEN       require this token from clients (default: $SHAREDKV_TOKEN)
      --token-file FILE   read the token from FILE (first line)
      --max-frame BYTES   largest frame a client may send (default: 64 MiB)
      --max-output BYTES  bytes queued to a client that stopped reading before it is cut off
                          (default: 256 MiB)
      --max-keys N        evict beyond N keys (LRU)
      --max-bytes BYTES   evict beyond BYTES of keys and values (LRU)
      --persist DIR       keep the store on disk in DIR: loaded at start, every change logged
                          (docs/persistence.md)
      --fsync POLICY      with --persist: always, everysec or no (default: everysec)
      --repair            with --persist: start even when a file is damaged, cutting it there
      --json              machine-readable output
  -h, --help              show this help

${EXIT_CODES}`,
  get: `Usage: sharedkv get <key> [options]

Prints the value of <key>: as JSON when JSON carries it exactly, otherwise in Node's inspect form
(Map, Set, Date, BigInt...). With --json: {"key":..,"found":true,"value":..}. A missing key prints
nothing on stdout and exits with 1.

${CONNECTION}

${EXIT_CODES}`,
  set: `Usage: sharedkv set <key> <json> [options]

Stores a value given as JSON: sharedkv set user:1 '{"name":"Ada"}' --ttl 60000

Options:
      --ttl MS        time to live in ms
      --nx            only set when the key does not exist (exit 1 when it did)
      --xx            only set when the key exists (exit 1 when it did not)
      --string        store <json> as a plain string instead of parsing it
${CONNECTION.split('\n').slice(1).join('\n')}

${EXIT_CODES}`,
  del: `Usage: sharedkv del <key>... [options]

Deletes the keys; prints how many of them existed.

${CONNECTION}

${EXIT_CODES}`,
  keys: `Usage: sharedkv keys [pattern] [options]

Lists the keys matching a glob (*, ?, [abc], \\ escapes), one per line (a JSON array with --json).

${CONNECTION}

${EXIT_CODES}`,
  incr: `Usage: sharedkv incr <key> [by] [options]

Adds <by> (default 1, may be negative or fractional) to the number at <key>, atomically; prints the result.

${CONNECTION}

${EXIT_CODES}`,
  ttl: `Usage: sharedkv ttl <key> [options]

Prints the remaining time to live of <key> in ms: -1 when it has none, -2 when there is no such key.

${CONNECTION}

${EXIT_CODES}`,
  stats: `Usage: sharedkv stats [options]

Prints the owner's statistics: keys, bytes, clients, hits and misses, uptime, and per command the number
of calls with the time the owner spent on them (mean, p50, p99, max, in µs; p50/p99 from power-of-two
buckets).

${CONNECTION}

${EXIT_CODES}`,
  monitor: `Usage: sharedkv monitor [options]

Prints every command the owner runs, as it runs it, until interrupted (Ctrl-C): time, client, command and
arguments (values decoded). With --json, one object per line. Survives a daemon restart (it reconnects).
Monitoring costs the owner a copy of every command: use it to debug, not permanently.

${CONNECTION}

${EXIT_CODES}`,
  inspect: `Usage: sharedkv inspect [options]

Serves the web inspector (docs/inspector.md) of the owner on --socket: keys and values with an editor,
live charts, clients, locks, subscriptions and the command stream. It listens on 127.0.0.1 only and
prints the page's URL, which carries a random token (any request without it gets 401), then runs until
SIGINT or SIGTERM; it reconnects when the daemon restarts. Anyone who can read the URL can change every
value until it stops: pass --readonly to only look.

Options:
      --port N        TCP port on 127.0.0.1 (default: 0, a free one)
      --open          also open the URL in the desktop's browser
      --readonly      no edit, ttl or delete from the page
      --interval MS   sampling interval of the charts and tables, 100 to 60000 (default: 1000)
${CONNECTION.split('\n').slice(1).join('\n')}

${EXIT_CODES}`,
  bench: `Usage: sharedkv bench [options]

Measures operations per second against the owner with several calls in flight, for each command.
Progress is shown on a terminal, not in pipes.

Options:
  -n, --requests N      operations per command (default: 100000)
  -c, --concurrency N   calls in flight (default: 64)
      --commands LIST   comma-separated, from set,get,incr (default: set,get,incr)
      --size BYTES      size of the values written by set (default: 100)
${CONNECTION.split('\n').slice(1).join('\n')}

${EXIT_CODES}`,
};
