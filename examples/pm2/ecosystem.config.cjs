/**
 * Two ways to share a sharedkv store between the instances of a PM2 cluster-mode app.
 *
 * 1. `sharedkv-app`: nothing else to run. Under PM2, `connect()` derives a socket path from the app name
 *    (`pm2SocketPath('sharedkv-app')`); the first instance to bind it owns the store, the others connect.
 *      pm2 start examples/pm2/ecosystem.config.cjs --only sharedkv-app
 *      sharedkv get counter --pm2 sharedkv-app
 *
 * 2. `sharedkv-daemon` + `sharedkv-clients`: a separate PM2 app runs `sharedkv serve`, so the data outlives
 *    restarts and scaling of the app's instances; the instances get its socket in SHAREDKV_SOCKET.
 *      pm2 start examples/pm2/ecosystem.config.cjs --only sharedkv-daemon,sharedkv-clients
 *      sharedkv get counter --socket "$SHAREDKV_SOCKET"
 *
 * In an installed project, the daemon's script is `node_modules/sharedkv/dist/cli/main.js`.
 */
const { tmpdir } = require('node:os');
const { join } = require('node:path');

// Any directory of your own works; it is created 0700 when missing, and refused if others can enter it.
const socket = process.env.SHAREDKV_SOCKET ?? join(tmpdir(), `sharedkv-${process.getuid?.() ?? 'user'}`, 'daemon.sock');

module.exports = {
  apps: [
    {
      name: 'sharedkv-app',
      script: join(__dirname, 'app.mjs'),
      exec_mode: 'cluster',
      instances: 4,
    },
    {
      name: 'sharedkv-daemon',
      script: join(__dirname, '../../dist/cli/main.js'),
      args: ['serve', '--socket', socket],
      exec_mode: 'fork',
      instances: 1,
      // Give it the time to remove its socket file on restart or stop.
      kill_timeout: 5000,
    },
    {
      name: 'sharedkv-clients',
      script: join(__dirname, 'app.mjs'),
      exec_mode: 'cluster',
      instances: 4,
      env: { SHAREDKV_SOCKET: socket },
    },
  ],
};
