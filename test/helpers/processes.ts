/** Spawning and watching real processes for the multi-process tests; every one is killed by `killAll()`. */
import { type ChildProcess, fork } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';

/** The worker fixture used by the process tests. */
export const WORKER_FIXTURE = fileURLToPath(new URL('../fixtures/process-worker.ts', import.meta.url));

const spawned = new Set<ChildProcess>();

/** A message from a fixture (the application's own channel). */
export interface AppMessage {
  app: true;
  pid: number;
  event: string;
  [k: string]: unknown;
}

function isApp(msg: unknown): msg is AppMessage {
  return msg !== null && typeof msg === 'object' && (msg as { app?: unknown }).app === true;
}

/** Forks a real cluster worker running the fixture with the given env. */
export function forkWorker(env: Record<string, string>, file = WORKER_FIXTURE): Worker {
  cluster.setupPrimary({ exec: file, execArgv: ['--import', 'tsx'], silent: false });
  const w = cluster.fork(env);
  spawned.add(w.process);
  return w;
}

/** Forks a child with child_process.fork running the fixture. */
export function forkChild(env: Record<string, string>, file = WORKER_FIXTURE): ChildProcess {
  const child = fork(file, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
  spawned.add(child);
  return child;
}

/** Resolves with the next app message from `proc` matching `event`. */
export function nextEvent(proc: ChildProcess | Worker, event: string, timeoutMs = 90_000): Promise<AppMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.off('message', onMessage);
      reject(new Error(`timed out waiting for '${event}'`));
    }, timeoutMs);
    const onMessage = (msg: unknown) => {
      if (isApp(msg) && msg.event === event) {
        clearTimeout(timer);
        proc.off('message', onMessage);
        resolve(msg);
      }
    };
    proc.on('message', onMessage);
  });
}

/** Kills every process spawned here (SIGKILL) and waits for them to exit. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...spawned].map(
      (p) =>
        new Promise<void>((resolve) => {
          spawned.delete(p);
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGKILL');
        }),
    ),
  );
}
