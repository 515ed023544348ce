/**
 * Model-based tests of the memory backend across real transports: the test process is the owner (on an
 * injected clock it moves when a sequence says `advance`), and each sequence runs inside a client process
 * (cluster worker or forked child, on the socket and on the IPC data path) against its own store. Running
 * the sequences in the client rather than through test/helpers/remote-store.ts saves one IPC hop per
 * command and lets locks (which that proxy does not carry) take part.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type OwnerStore } from '../../src/index.js';
import { modelBudget, replayFromEnv } from '../helpers/model.js';
import { type AppMessage, forkWorker, killAll, nextEvent } from '../helpers/processes.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/stress-model-worker.ts', import.meta.url));
const only = process.env.SHAREDKV_MODEL_TARGET;
const clock = { t: 1_000_000 };
let owner: OwnerStore;

type Proc = {
  send(msg: unknown): void;
  on(e: 'message', f: (m: unknown) => void): unknown;
  off(e: 'message', f: (m: unknown) => void): unknown;
  kill(): void;
  exited: Promise<unknown>;
};

before(async () => {
  // The first owner store of this process creates the server; its clock is the one every client sees.
  owner = (await connect({ role: 'owner', now: () => clock.t, timeout: 60_000 })) as OwnerStore;
});
after(async () => {
  await killAll();
  await owner.close();
});

function spawn(kind: 'cluster' | 'fork', channel: 'socket' | 'ipc'): Proc {
  const env = { SKV_CHANNEL: channel };
  if (kind === 'cluster') {
    const w = forkWorker(env, FIXTURE);
    return {
      send: (m) => w.send(m as never),
      on: (e, f) => w.on(e, f),
      off: (e, f) => w.off(e, f),
      kill: () => w.process.kill('SIGKILL'),
      exited: once(w, 'exit'),
    };
  }
  const c = owner.fork(FIXTURE, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
  return {
    send: (m) => c.send(m as never),
    on: (e, f) => c.on(e, f),
    off: (e, f) => c.off(e, f),
    kill: () => c.kill('SIGKILL'),
    exited: once(c, 'exit'),
  };
}

const targets = [
  ['cluster', 'socket', 60],
  ['cluster', 'ipc', 60],
  ['fork', 'socket', 40],
  ['fork', 'ipc', 40],
] as const;

describe('model: memory backend over real transports', () => {
  for (const [kind, channel, ciRuns] of targets) {
    const name = `${kind}/${channel}`;
    it(name, { skip: only !== undefined && only !== name, timeout: 3_600_000 }, async (t) => {
      const p = spawn(kind, channel);
      t.after(async () => {
        p.kill();
        await p.exited;
      });
      const onAdvance = (m: unknown) => {
        const msg = m as AppMessage;
        if (msg?.app && msg.event === 'advance') {
          clock.t += msg.ms as number;
          p.send({ advanced: msg.id, now: clock.t });
        }
      };
      p.on('message', onAdvance);
      await nextEvent(p as never, 'ready', 60_000);
      const done = nextEvent(p as never, 'modelDone', 3_600_000);
      p.send({ modelRun: { ...modelBudget(ciRuns), ...replayFromEnv() } });
      const result = await done;
      p.off('message', onAdvance);
      if (!result.ok) assert.fail(result.error as string);
      console.log(JSON.stringify(result.report));
    });
  }
});
