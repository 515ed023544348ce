/**
 * Helpers of the topology and CLI tests: TypeScript worker threads, private socket directories, the built
 * CLI run as a real process, and a daemon (`sharedkv serve`) that can be killed with -9 and restarted.
 * Every process and thread started here is ended by {@link cleanup}, which each test file calls in after().
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Root of the package. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The built CLI (`npm run build` makes it; `npm test` builds first). */
export const CLI = join(ROOT, 'dist/cli/main.js');

const processes = new Set<ChildProcess>();
const threads = new Set<Worker>();
const dirs: string[] = [];

/**
 * A worker thread running a TypeScript file. Threads do not inherit tsx's loader hooks, so a tiny
 * JavaScript entry registers tsx in the thread first and then imports the file.
 */
export function tsThread(file: string | URL, options: WorkerOptions = {}): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  const url = typeof file === 'string' ? new URL(`file://${file}`).href : file.href;
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
  const worker = new Worker(code, { ...options, eval: true });
  threads.add(worker);
  worker.once('exit', () => threads.delete(worker));
  return worker;
}

/** A worker thread running a JavaScript file (fixtures on the built package start fastest). */
export function jsThread(file: URL, options: WorkerOptions = {}): Worker {
  const worker = new Worker(file, options);
  threads.add(worker);
  worker.once('exit', () => threads.delete(worker));
  return worker;
}

/** A fresh private (0700) directory for sockets, removed by {@link cleanup}. Short, to stay under 107 bytes. */
export function socketDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skvt-'));
  dirs.push(dir);
  return dir;
}

/** Resolves with the next message from `worker` for which `match` holds. */
export function nextMessage<T = Record<string, unknown>>(
  worker: Worker,
  match: (msg: Record<string, unknown>) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      worker.off('message', onMessage);
      reject(new Error('timed out waiting for a message from the thread'));
    }, timeoutMs);
    const onMessage = (msg: unknown) => {
      if (msg !== null && typeof msg === 'object' && match(msg as Record<string, unknown>)) {
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve(msg as T);
      }
    };
    worker.on('message', onMessage);
  });
}

/** The outcome of a CLI run. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to its end. */
export function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    if (!existsSync(CLI)) {
      reject(new Error('dist/cli/main.js is missing: run `npm run build` first'));
      return;
    }
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    processes.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sharedkv ${args.join(' ')} still running after ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      processes.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A daemon started with `sharedkv serve --json`. */
export interface Daemon {
  child: ChildProcess;
  pid: number;
  socket: string;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** Stops it with SIGTERM and waits for its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `sharedkv serve --socket <socket> --json ...extra` and resolves once it printed its `listening`
 * line (so the socket is bound), or rejects with what it printed when it exits first.
 */
export function daemon(socket: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Daemon> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--socket', socket, '--json', ...extra], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    processes.add(child);
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const onExit = (code: number | null) => reject(new Error(`the daemon exited with ${code}: ${stdout}${stderr}`));
    child.once('exit', onExit);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const line = stdout.split('\n').find((l) => l.includes('"listening"'));
      if (!line) return;
      child.off('exit', onExit);
      const ready = JSON.parse(line) as { socket: string; pid: number };
      resolve({
        child,
        pid: ready.pid,
        socket: ready.socket,
        stderr: () => stderr,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done(child.exitCode);
            child.once('exit', (code) => done(code));
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/** Kills the processes (SIGKILL) and threads started here, and removes the socket directories. */
export async function cleanup(): Promise<void> {
  await Promise.all([
    ...[...processes].map(
      (p) =>
        new Promise<void>((resolve) => {
          processes.delete(p);
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGKILL');
        }),
    ),
    ...[...threads].map((t) => t.terminate().then(() => undefined)),
  ]);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Resolves once `cond` holds, polling every `interval` ms. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000, interval = 10) {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}
