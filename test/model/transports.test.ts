/**
 * Model-based tests of the memory backend across real transports: the test process is the owner (on an
 * injected clock it moves when a sequence says `advance`), and each sequence runs inside a client against
 * its own store: a cluster worker or a forked child (on the socket and on the IPC data path), a worker
 * thread of the owner (its private MessagePort), or an unrelated process that reaches the owner's public
 * socket with a token. Running the sequences in the client rather than through
 * test/helpers/remote-store.ts saves one IPC hop per command and lets locks (which that proxy does not
 * carry) take part.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Engine, Session } from '../../src/engine/engine.js';
import { connect, type OwnerStore } from '../../src/index.js';
import { modelBudget, replayFromEnv } from '../helpers/model.js';
import { type AppMessage, forkChild, forkWorker, killAll, nextEvent } from '../helpers/processes.js';
import { cleanup, tsThread } from '../topology/helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/stress-model-worker.ts', import.meta.url));
const only = process.env.SHAREDKV_MODEL_TARGET;
const clock = { t: 1_000_000 };
const dir = mkdtempSync(join(tmpdir(), 'skvm-'));
const SOCKET = join(dir, 'kv.sock');
const TOKEN = 'model-token';
let owner: OwnerStore;

type Proc = {
  /** True for the owner's session of this client when it is served on the transport under test. */
  servedBy(s: Session): boolean;
  send(msg: unknown): void;
  on(e: 'message', f: (m: unknown) => void): unknown;
  off(e: 'message', f: (m: unknown) => void): unknown;
  kill(): void;
  exited: Promise<unknown>;
};

before(async () => {
  // The first owner store of this process creates the server; its clock is the one every client sees. It
  // also serves a public socket, for the client that is an unrelated process.
  owner = (await connect({
    role: 'owner',
    now: () => clock.t,
    timeout: 60_000,
    socket: SOCKET,
    token: TOKEN,
  })) as OwnerStore;
});
after(async () => {
  await cleanup();
  await killAll();
  await owner.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Whether a session is the one of process `pid` on `channel` (its socket peers say their pid in `hello`). */
function servedOn(pid: number, channel: string): (s: Session) => boolean {
  return (s) =>
    (s.pid === pid || s.label.endsWith(`pid ${pid})`)) &&
    (channel === 'ipc' ? s.label.includes('(ipc') : s.label.startsWith('socket'));
}

function spawn(kind: 'cluster' | 'fork' | 'thread' | 'socket', channel: 'socket' | 'ipc' | 'port'): Proc {
  const env = { SKV_CHANNEL: channel };
  if (kind === 'thread') {
    const w = owner.attachThread(tsThread(FIXTURE));
    return {
      // The owner labels a thread's port session with the thread's id (a socket session has another label).
      servedBy: (s) => s.label.startsWith(`thread ${w.threadId} `),
      send: (m) => w.postMessage(m),
      on: (e, f) => w.on(e, f),
      off: (e, f) => w.off(e, f),
      kill: () => void w.terminate(),
      exited: once(w, 'exit'),
    };
  }
  if (kind === 'socket') {
    // A plain child process, not attached to the owner: it reaches it only through the public socket.
    const c = forkChild({ SKV_SOCKET: SOCKET, SKV_TOKEN: TOKEN }, FIXTURE);
    return {
      servedBy: servedOn(c.pid!, 'socket'),
      send: (m) => c.send(m as never),
      on: (e, f) => c.on(e, f),
      off: (e, f) => c.off(e, f),
      kill: () => c.kill('SIGKILL'),
      exited: once(c, 'exit'),
    };
  }
  if (kind === 'cluster') {
    const w = forkWorker(env, FIXTURE);
    return {
      servedBy: servedOn(w.process.pid!, channel),
      send: (m) => w.send(m as never),
      on: (e, f) => w.on(e, f),
      off: (e, f) => w.off(e, f),
      kill: () => w.process.kill('SIGKILL'),
      exited: once(w, 'exit'),
    };
  }
  const c = owner.fork(FIXTURE, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
  return {
    servedBy: servedOn(c.pid!, channel),
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
  ['thread', 'port', 60],
  ['socket', 'socket', 40],
] as const;

describe('model: memory backend over real transports', () => {
  for (const [kind, channel, ciRuns] of targets) {
    // A thread and an unrelated socket client each have one data path: their name is their kind.
    const name = kind === 'thread' || kind === 'socket' ? kind : `${kind}/${channel}`;
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
      const engine = (owner as unknown as { server: { engine: Engine } }).server.engine;
      const mine = [...engine.sessions].filter((s) => p.servedBy(s));
      assert.equal(mine.length, 1, `the owner serves the client on the transport under test`);
      const done = nextEvent(p as never, 'modelDone', 3_600_000);
      p.send({ modelRun: { ...modelBudget(ciRuns), ...replayFromEnv() } });
      const result = await done;
      p.off('message', onAdvance);
      if (!result.ok) assert.fail(result.error as string);
      console.log(JSON.stringify(result.report));
    });
  }
});
