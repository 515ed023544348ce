/**
 * Worker-thread transport: frames over a private `MessagePort`. Each frame is copied once into an
 * ArrayBuffer of its exact size and that buffer is *transferred* (moved, not cloned) to the other thread,
 * so nothing is base64-encoded or serialized twice. The copy is needed because the frame encoder writes
 * into a shared scratch buffer: transferring that buffer would detach it under the encoder's feet, and
 * posting a view without transfer would clone the whole scratch buffer.
 *
 * How a thread finds the owner (see docs/topologies.md):
 * - A thread of the owner's process says `hello` on a BroadcastChannel whose name the owner left in the
 *   environment data (inherited by every thread created after the owner's `connect()`), so the
 *   application's own `worker.on('message')` never sees sharedkv's handshake. When the owner knows the
 *   thread's Worker (`kv.attachThread(worker)` or `kv.thread(file)`), it answers on the Worker with a
 *   fresh private MessagePort (one per `connect()`); otherwise it answers on the BroadcastChannel with its
 *   private Unix socket, so any thread of the process, even a thread's thread, reaches it.
 * - A thread that has no such environment data (created before its parent connected) says `hello` on its
 *   `parentPort` instead; its parent answers if it was given the Worker with `attachThread()`.
 * - A thread created by a *client* process (a cluster worker, a forked child, a daemon client) connects
 *   straight to the owner's Unix socket: its parent put the socket path and token in the thread's
 *   environment data (inherited by every thread created after the parent's `connect()`), or answers its
 *   hello with them. Relaying through the parent would add a hop and tie the thread's calls to the parent's
 *   connection; a direct connection gives the thread its own session, cleaned up when it dies.
 */
import { randomUUID } from 'node:crypto';
import {
  BroadcastChannel,
  getEnvironmentData,
  isMainThread,
  MessageChannel,
  type MessagePort,
  parentPort,
  setEnvironmentData,
  threadId,
  type Worker,
} from 'node:worker_threads';
import { SharedKVError, type WireError } from '../errors.js';
import { MARKER, PROTOCOL_VERSION } from '../protocol/envelope.js';
import type { Channel, PeerLink } from './transport.js';

/** Interval between hellos while the parent is not answering, in ms. */
const RETRY_MS = 50;

/** Key of the environment data a client process leaves for the threads it creates. */
export const ENV_KEY = 'sharedkv';

/** Key of the environment data naming the owner's BroadcastChannel for thread hellos. */
export const OWNER_KEY = 'sharedkv:owner';

/** Where a thread's parent tells it to find the owner. */
export interface ThreadWelcome {
  /** A private port to the owner (threads of the owner). */
  port?: MessagePort;
  /** The owner's Unix socket and its token (threads of a client process). */
  socket?: string;
  token?: string | undefined;
  /** The parent cannot serve the thread. */
  error?: WireError;
}

/** What a client process leaves in its threads' environment data. */
export interface ThreadEnvironment {
  v: number;
  socket: string;
  token?: string | undefined;
}

/** A thread's hello. */
export interface HelloMessage {
  [MARKER]: 'thread-hello';
  v: number;
  nonce: string;
  /** The sender's `threadId`, so the owner can tell which of its Workers is asking. */
  threadId: number;
}

interface WelcomeMessage extends ThreadWelcome {
  [MARKER]: 'thread-welcome';
  v: number;
  nonce: string;
}

function isMessage<K extends string>(msg: unknown, kind: K): msg is Record<string, unknown> {
  return msg !== null && typeof msg === 'object' && (msg as Record<string, unknown>)[MARKER] === kind;
}

/** Posts one frame payload, moving a fresh copy of its bytes to the other thread. */
function post(port: MessagePort, payload: Uint8Array): void {
  const bytes = new Uint8Array(payload);
  port.postMessage(bytes.buffer, [bytes.buffer]);
}

/** True when this code runs in a worker thread that has a parent to talk to. */
export function inThread(): boolean {
  return !isMainThread && parentPort !== null;
}

/**
 * The socket a client parent left for this thread, if any. A thread of the owner's own process gets none
 * even when the owner also serves a socket (which leaves its path here too): it must ask the owner's
 * BroadcastChannel, so that a thread the owner was given gets its private MessagePort, as documented.
 */
export function threadEnvironment(): ThreadEnvironment | undefined {
  const owner = getEnvironmentData(OWNER_KEY) as { channel?: unknown } | undefined;
  if (typeof owner?.channel === 'string') return undefined;
  const env = getEnvironmentData(ENV_KEY) as Partial<ThreadEnvironment> | undefined;
  if (!env || typeof env !== 'object' || env.v !== PROTOCOL_VERSION || typeof env.socket !== 'string') return undefined;
  return { v: env.v, socket: env.socket, token: typeof env.token === 'string' ? env.token : undefined };
}

/** Leaves the owner's socket for the threads this process creates from now on. */
export function shareWithThreads(socket: string, token: string | undefined): void {
  setEnvironmentData(ENV_KEY, { v: PROTOCOL_VERSION, socket, ...(token === undefined ? {} : { token }) });
}

/**
 * Owner side: a private channel for one thread. Hand `port` to the thread; `link` is what the server
 * writes to, and `bind` connects the incoming frames and the close to the connection.
 */
export function openPort(label: string): {
  port: MessagePort;
  link: PeerLink;
  bind(onFrame: (payload: Buffer) => void, onClose: () => void): void;
} {
  const { port1, port2 } = new MessageChannel();
  let closed = false;
  const link: PeerLink = {
    label,
    send(payload) {
      if (!closed) post(port1, payload);
    },
    close() {
      if (closed) return;
      closed = true;
      port1.close();
    },
  };
  return {
    port: port2,
    link,
    bind(onFrame, onClose) {
      port1.on('message', (data: unknown) => {
        if (data instanceof ArrayBuffer) onFrame(Buffer.from(data));
      });
      // Fires when the thread closes its end, or when the thread ends (terminate(), exit, crash).
      port1.once('close', () => {
        closed = true;
        onClose();
      });
      // A connection to a thread must not keep the owner alive by itself (the Worker object decides that).
      port1.unref();
    },
  };
}

function welcomeMessage(nonce: string, welcome: ThreadWelcome): WelcomeMessage {
  return { [MARKER]: 'thread-welcome', v: PROTOCOL_VERSION, nonce, ...welcome };
}

/** Sends a welcome to a thread through its Worker (the only way a MessagePort can be transferred to it). */
export function welcomeThread(worker: Worker, nonce: string, welcome: ThreadWelcome): void {
  try {
    worker.postMessage(welcomeMessage(nonce, welcome), welcome.port ? [welcome.port] : []);
  } catch {
    // The thread is gone; its port (if any) is closed with it and the connection cleans up.
    welcome.port?.close();
  }
}

/** Runs `answer` for a hello and sends what it gives (or its error) with `reply`. */
function answerHello(
  hello: HelloMessage,
  answer: () => ThreadWelcome | Promise<ThreadWelcome>,
  reply: (welcome: ThreadWelcome) => void,
): void {
  if (hello.v !== PROTOCOL_VERSION) {
    reply({
      error: new SharedKVError(
        'ERR_SHAREDKV_PROTOCOL',
        `Protocol version mismatch: the owner speaks ${PROTOCOL_VERSION}, the thread ${String(hello.v)}`,
      ).toWire(),
    });
    return;
  }
  Promise.resolve()
    .then(answer)
    .then(reply, (err: unknown) =>
      reply({
        error:
          err instanceof SharedKVError
            ? err.toWire()
            : { code: 'ERR_SHAREDKV_DISCONNECTED', message: `The parent cannot serve the thread: ${String(err)}` },
      }),
    );
}

/** Accepts a hello once per nonce (a thread repeats its hello until it is answered). */
function onceEach(): (hello: HelloMessage) => boolean {
  const seen = new Set<string>();
  return (hello) => {
    if (typeof hello.nonce !== 'string' || seen.has(hello.nonce)) return false;
    // One nonce per connect() of a thread: bound the memory of a very long-lived owner anyway.
    if (seen.size > 10_000) seen.clear();
    seen.add(hello.nonce);
    return true;
  };
}

/**
 * Owner side: answers the hellos of this process's threads on a BroadcastChannel named in the
 * environment data of threads created from now on. `onHello` decides how to answer: with `toWorker` (a
 * MessagePort, for a thread whose Worker the owner knows) or with `toChannel` (its socket, for any other).
 * Returns a function that stops listening.
 */
export function ownerBeacon(
  onHello: (hello: HelloMessage, toChannel: (welcome: ThreadWelcome) => void) => void,
): () => void {
  const name = `sharedkv:${process.pid}:${randomUUID()}`;
  const channel = new BroadcastChannel(name);
  const fresh = onceEach();
  channel.onmessage = (event) => {
    const msg = (event as MessageEvent).data;
    if (!isMessage(msg, 'thread-hello')) return;
    const hello = msg as unknown as HelloMessage;
    if (!fresh(hello)) return;
    onHello(hello, (welcome) => channel.postMessage(welcomeMessage(hello.nonce, welcome)));
  };
  // Listening for threads must not keep the owner alive.
  channel.unref();
  setEnvironmentData(OWNER_KEY, { v: PROTOCOL_VERSION, channel: name });
  return () => {
    channel.close();
    if ((getEnvironmentData(OWNER_KEY) as { channel?: string } | undefined)?.channel === name) {
      setEnvironmentData(OWNER_KEY, undefined);
    }
  };
}

/** Answers a hello from a known thread (see {@link ownerBeacon}), through its Worker. */
export function answerThread(
  worker: Worker,
  hello: HelloMessage,
  answer: () => ThreadWelcome | Promise<ThreadWelcome>,
): void {
  answerHello(hello, answer, (welcome) => welcomeThread(worker, hello.nonce, welcome));
}

/**
 * Parent side: answers the hellos a thread sends on its `parentPort` (threads that were created before
 * their parent connected, so they know no BroadcastChannel). Returns a function that stops.
 */
export function acceptThreads(worker: Worker, answer: () => ThreadWelcome | Promise<ThreadWelcome>): () => void {
  const fresh = onceEach();
  const onMessage = (msg: unknown) => {
    if (!isMessage(msg, 'thread-hello')) return;
    const hello = msg as unknown as HelloMessage;
    if (fresh(hello)) answerThread(worker, hello, answer);
  };
  return () => worker.off('message', onMessage);
}

/**
 * Thread side: says hello to the parent thread until it answers; resolves with its welcome.
 *
 * @throws SharedKVError `ERR_SHAREDKV_NO_OWNER` when nothing answers within `deadlineMs`.
 */
export function threadHandshake(deadlineMs: number): Promise<ThreadWelcome> {
  return new Promise((resolve, reject) => {
    const port = parentPort;
    if (!port) {
      reject(new SharedKVError('ERR_SHAREDKV_NO_OWNER', 'This code does not run in a worker thread'));
      return;
    }
    const nonce = randomUUID();
    const hello: HelloMessage = { [MARKER]: 'thread-hello', v: PROTOCOL_VERSION, nonce, threadId };
    // Prefer the owner's BroadcastChannel (no message on the application's channels); the welcome comes
    // back on it (a socket) or on parentPort (a MessagePort can only travel that way).
    const owner = getEnvironmentData(OWNER_KEY) as { v?: unknown; channel?: unknown } | undefined;
    const beacon = typeof owner?.channel === 'string' ? new BroadcastChannel(owner.channel) : null;
    const send = () => (beacon ? beacon.postMessage(hello) : port.postMessage(hello));
    const done = () => {
      clearInterval(retry);
      clearTimeout(deadline);
      port.off('message', onMessage);
      beacon?.close();
    };
    const onMessage = (msg: unknown) => {
      if (!isMessage(msg, 'thread-welcome') || msg.nonce !== nonce) return;
      done();
      const welcome = msg as unknown as WelcomeMessage;
      if (welcome.error) reject(SharedKVError.fromWire(welcome.error));
      else resolve(welcome);
    };
    port.on('message', onMessage);
    if (beacon) beacon.onmessage = (event) => onMessage((event as MessageEvent).data);
    const retry = setInterval(send, RETRY_MS);
    const deadline = setTimeout(() => {
      done();
      reject(
        new SharedKVError(
          'ERR_SHAREDKV_NO_OWNER',
          `No sharedkv owner answered this worker thread within ${deadlineMs} ms. In the thread's parent, pass the ` +
            'Worker to kv.attachThread(worker) (or create it with kv.thread(file)), or give connect() a `socket`',
          { readyTimeout: deadlineMs },
        ),
      );
    }, deadlineMs);
    send();
  });
}

/** Thread side: the frames of a port handed over by the owner, as a {@link Channel}. */
export function portChannel(port: MessagePort): Channel {
  let closed = false;
  const channel: Channel = {
    kind: 'thread',
    send(payload) {
      if (!closed) post(port, payload);
    },
    close() {
      port.close();
    },
    onFrame: () => {},
    onClose: () => {},
  };
  port.on('message', (data: unknown) => {
    if (data instanceof ArrayBuffer) channel.onFrame(Buffer.from(data));
  });
  port.once('close', () => {
    closed = true;
    channel.onClose(new SharedKVError('ERR_SHAREDKV_DISCONNECTED', 'The owner closed the port to this thread'));
  });
  return channel;
}
