/**
 * A store served to unrelated processes: `node --import tsx examples/daemon-server.ts [socket]`.
 *
 * `serve()` makes this process the owner and serves the store on a Unix socket (0600, in a 0700
 * directory); any process of the same user can then `connect({ socket })` — see daemon-client.ts, or the
 * CLI: `sharedkv get visits --socket <socket>`. This process uses the store too, with no I/O on its calls.
 * The same thing without code: `sharedkv serve --socket <socket>`.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from 'sharedkv';

const socket = process.argv[2] ?? join(tmpdir(), `sharedkv-${process.getuid?.() ?? 'user'}`, 'example.sock');
// A token is optional: the private directory already keeps other users out. It guards against other
// processes of the same user that should not have access.
const token = process.env.SHAREDKV_TOKEN;
const daemon = await serve({ socket, ...(token ? { token } : {}) });
await daemon.store.set('motd', { text: 'served by a daemon', since: new Date() });
console.log(`serving ${daemon.socket} (pid ${process.pid}); stop with Ctrl-C`);

// Stop cleanly on Ctrl-C or SIGTERM: clients are dropped and the socket file is removed.
const stop = () => {
  daemon.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
