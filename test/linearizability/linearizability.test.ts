/**
 * Linearizability across transports: 8 client processes (cluster workers on the socket and IPC data paths,
 * children forked by the owner on both) each run two loops of get/set/incr/cas on three shared keys for a
 * few seconds (30 s with SHAREDKV_DEEP=1), recording timed histories on the machine's monotonic clock. The
 * checker (test/helpers/linearizability.ts) must find every key's history linearizable.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type OwnerStore } from '../../src/index.js';
import { forkWorker, killAll } from '../helpers/processes.js';
import { type LinearProc, runAndCheck, SECONDS } from './run-histories.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/stress-linear-worker.ts', import.meta.url));

/** The 8 clients: transport and data path. */
const CLIENTS = [
  ['cluster', 'socket'],
  ['cluster', 'socket'],
  ['cluster', 'socket'],
  ['cluster', 'ipc'],
  ['cluster', 'ipc'],
  ['fork', 'socket'],
  ['fork', 'socket'],
  ['fork', 'ipc'],
] as const;

let owner: OwnerStore;
let dir: string;
const procs: LinearProc[] = [];

before(async () => {
  owner = (await connect({ role: 'owner', timeout: 60_000 })) as OwnerStore;
  dir = mkdtempSync(join(tmpdir(), 'sharedkv-lin-'));
});
after(async () => {
  for (const p of procs) p.kill();
  await Promise.all(procs.map((p) => p.exited));
  await killAll();
  await owner.close();
  rmSync(dir, { recursive: true, force: true });
});

function spawn(kind: 'cluster' | 'fork', channel: 'socket' | 'ipc', i: number): LinearProc {
  const env = { SKV_CHANNEL: channel };
  const label = `${kind}/${channel}/${i}`;
  if (kind === 'cluster') {
    const w = forkWorker(env, FIXTURE);
    return {
      label,
      send: (m) => w.send(m as never),
      on: (e, f) => w.on(e, f),
      off: (e, f) => w.off(e, f),
      kill: () => w.process.kill('SIGKILL'),
      exited: w.isDead() ? Promise.resolve() : once(w, 'exit'),
    };
  }
  const c = owner.fork(FIXTURE, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
  return {
    label,
    send: (m) => c.send(m as never),
    on: (e, f) => c.on(e, f),
    off: (e, f) => c.off(e, f),
    kill: () => c.kill('SIGKILL'),
    exited: once(c, 'exit'),
  };
}

describe('linearizability over real transports', () => {
  it(`8 clients x 2 loops x ${SECONDS} s of get/set/incr/cas on 3 keys: every history is linearizable`, {
    timeout: 600_000,
  }, async () => {
    for (const [i, [kind, channel]] of CLIENTS.entries()) procs.push(spawn(kind, channel, i));
    await runAndCheck(procs, dir, { backend: 'memory' });
  });
});
