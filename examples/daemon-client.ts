/**
 * A client of the daemon, from an unrelated process: `node --import tsx examples/daemon-client.ts [socket]`
 * (start daemon-server.ts first, or `sharedkv serve --socket <socket>`).
 *
 * The client reconnects by itself if the daemon restarts: calls in flight at that moment reject with
 * ERR_SHAREDKV_DISCONNECTED (a write is never silently sent twice), later calls wait for the new daemon.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, SharedKVError } from 'sharedkv';

const socket = process.argv[2] ?? join(tmpdir(), `sharedkv-${process.getuid?.() ?? 'user'}`, 'example.sock');
const token = process.env.SHAREDKV_TOKEN;
try {
  // readyTimeout: wait up to 5 s for the daemon, so this can start first.
  const kv = await connect({ socket, readyTimeout: 5_000, ...(token ? { token } : {}) });
  const motd = await kv.get<{ text: string; since: Date }>('motd');
  const visits = await kv.incr('visits');
  console.log(`pid ${process.pid}: motd "${motd?.text}" since ${motd?.since.toISOString()}; visit #${visits}`);
  await kv.close();
} catch (err) {
  if (err instanceof SharedKVError && err.code === 'ERR_SHAREDKV_NO_OWNER') {
    console.error(`Nothing serves ${socket}: start examples/daemon-server.ts first`);
    process.exitCode = 3;
  } else throw err;
}
