/**
 * A PM2 cluster app sharing one sharedkv store between its instances, with nothing else to run.
 *
 * Under PM2 cluster mode the cluster primary is PM2's own daemon, which runs no app code, so "the primary
 * owns the store" cannot work. Here `connect()` sees `process.env.pm_id` and switches to auto mode on a
 * socket derived from the app's name (`pm2SocketPath()`): the first instance to bind it owns the store,
 * the others are its clients.
 *
 *   pm2 start examples/pm2/ecosystem.config.cjs --only sharedkv-app
 *   sharedkv get counter --pm2 sharedkv-app
 *
 * Each instance adds SKV_INCR (default 1000) to `counter`, counts itself in `instances`, then stays up, as a
 * server would. In this recipe the data lives in one of the instances (restart that one and it is gone);
 * for data that outlives them, run a `sharedkv serve` app beside them and give the instances its socket
 * in SHAREDKV_SOCKET: the `sharedkv-daemon` and `sharedkv-clients` apps of ecosystem.config.cjs.
 */
import { connect } from 'sharedkv';

// With SHAREDKV_SOCKET set (the daemon recipe), the instances are all clients of that socket's owner.
const socket = process.env.SHAREDKV_SOCKET;
const kv = await connect(socket ? { socket, readyTimeout: 10_000 } : {});
const n = Number(process.env.SKV_INCR ?? 1000);
await Promise.all(Array.from({ length: n }, () => kv.incr('counter')));
const done = await kv.incr('instances');
console.log(`instance ${process.env.pm_id} (${kv.isOwner ? 'owner' : 'client'}): added ${n}; ${done} instance(s) done`);

// Stand-in for the app's real work (an HTTP server, a queue consumer...).
setInterval(() => {}, 60_000);
process.once('SIGINT', () => {
  kv.close().then(() => process.exit(0));
});
