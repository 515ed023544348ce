/**
 * Store factories of the conformance suite for the thread and socket topologies (see
 * test/conformance/suite.ts for the {@link StoreHandle} contract):
 * - {@link threadStore}: this process owns the store; a real worker thread, served with
 *   `kv.attachThread()`, connects with a plain `connect()` and runs every call (RPC over postMessage,
 *   the conformance worker's own protocol); the owner's store is the peer.
 * - {@link socketStore}: a daemon process serves the store on a Unix socket (`serve()`, with the suite's
 *   procedures); this process is a socket client of it, and a second socket client is the peer.
 *
 * @example
 * runConformance('conformance: worker thread', threadStore);
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { connect } from '../../src/index.js';
import type { StoreHandle } from '../conformance/suite.js';
import { conformanceOwner, type Endpoint, RemoteStore, RpcLink } from '../helpers/remote-store.js';
import { fromPort, toPort } from './buffers.js';
import { tsThread } from './helpers.js';

const THREAD_WORKER = fileURLToPath(new URL('../fixtures/topology-thread-conformance.ts', import.meta.url));
const DAEMON = fileURLToPath(new URL('../fixtures/conformance-daemon.ts', import.meta.url));

function threadEndpoint(worker: Worker): Endpoint {
  let exited = false;
  worker.once('exit', () => {
    exited = true;
  });
  return {
    send: (msg) => worker.postMessage(toPort(msg)),
    onMessage: (listener) => worker.on('message', (msg: unknown) => listener(fromPort(msg))),
    onExit: (listener) => worker.once('exit', listener),
    async kill() {
      if (!exited) await worker.terminate();
    },
  };
}

/** A store whose every call runs in a real worker thread of this (owner) process. */
export async function threadStore(): Promise<StoreHandle> {
  const owner = await conformanceOwner();
  const endpoint = threadEndpoint(owner.attachThread(tsThread(THREAD_WORKER)));
  const link = new RpcLink(endpoint);
  const close = async () => {
    await endpoint.kill();
    await owner.close();
  };
  try {
    await link.ready;
  } catch (err) {
    await close();
    throw err;
  }
  return { store: new RemoteStore(link), peer: owner, close };
}

/** Starts the daemon fixture on `socket`; resolves once it serves. */
async function startDaemon(socket: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', DAEMON, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the daemon exited with ${code}`)));
    child.stdout?.on('data', (d: string) => {
      out += d;
      if (out.includes('"listening"')) resolve();
    });
  });
  return child;
}

/** The daemon the socket stores of this process share (a second store from the factory sees the same data). */
let shared: { socket: string; dir: string; daemon: Promise<ChildProcess>; refs: number } | null = null;

/**
 * A socket client of a daemon in another process, with a second client as the peer. Every store the
 * factory opens while another is open talks to the same daemon, as a second `connect()` would.
 */
export async function socketStore(): Promise<StoreHandle> {
  if (!shared) {
    const dir = mkdtempSync(join(tmpdir(), 'skvc-'));
    const socket = join(dir, 'kv.sock');
    shared = { socket, dir, daemon: startDaemon(socket), refs: 0 };
  }
  const entry = shared;
  entry.refs++;
  let store: Awaited<ReturnType<typeof connect>> | undefined;
  let peer: Awaited<ReturnType<typeof connect>> | undefined;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.allSettled([store?.close(), peer?.close()]);
    if (--entry.refs > 0) return;
    if (shared === entry) shared = null;
    const daemon = await entry.daemon.catch(() => null);
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      const exited = once(daemon, 'exit');
      daemon.kill('SIGKILL');
      await exited;
    }
    rmSync(entry.dir, { recursive: true, force: true });
  };
  try {
    await entry.daemon;
    store = await connect({ socket: entry.socket });
    peer = await connect({ socket: entry.socket });
  } catch (err) {
    await close();
    throw err;
  }
  return { store, peer, close };
}
