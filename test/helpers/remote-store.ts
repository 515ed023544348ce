/**
 * A {@link Store} whose every call runs in another process: a real cluster worker or forked child running
 * `test/fixtures/conformance-worker.ts`, which is a sharedkv client of the owner in the test process. The
 * conformance suite runs unchanged on it, so what it checks holds for a client across a real transport.
 * Calls travel over the application's own IPC messages (see rpc.ts); callbacks (getOrSet loaders, withLock
 * bodies, subscribe and watch handlers) run back in the test process, so the suite can count their calls
 * however the store is reached, and locks, semaphores and subscriptions are proxies of the real objects in
 * the worker.
 */
import { type ChildProcess, fork } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { isErrorCode } from '../../src/errors.js';
import { connect, type OwnerStore, SharedKVError } from '../../src/index.js';
import type {
  Batch,
  CallOptions,
  CasOptions,
  GetOrSetOptions,
  Lock,
  LockOptions,
  Message,
  MsetOptions,
  Semaphore,
  SetOptions,
  Store,
  StoreStats,
  Subscription,
  Unsubscribe,
  WatchEvent,
} from '../../src/types.js';
import { CONFORMANCE_PROCEDURES } from '../conformance/procedures.js';
import type { StoreHandle } from '../conformance/suite.js';
import {
  CALLBACK_ARGS,
  type CallbackCall,
  type CallbackEvent,
  type CallbackReply,
  type CallMessage,
  deepMap,
  has,
  isMarker,
  KEEP,
  MARK,
  type Marker,
  type ReadyMessage,
  type ResultMessage,
  type RpcError,
  toRpcError,
} from './rpc.js';

/** The worker fixture of the remote conformance runs. */
export const CONFORMANCE_WORKER = fileURLToPath(new URL('../fixtures/conformance-worker.ts', import.meta.url));

/** How long a worker may take to start and connect (tsx compiles on first load), in ms. */
const READY_TIMEOUT = 30_000;

/** The process at the other end, whatever created it. */
export interface Endpoint {
  send(msg: unknown): void;
  onMessage(listener: (msg: unknown) => void): void;
  onExit(listener: () => void): void;
  /** Kills the process (SIGKILL) and resolves once it has exited. */
  kill(): Promise<void>;
}

/** Rebuilds an error that came over the RPC: sharedkv codes as SharedKVError, others as Error + code. */
function fromRpcError(e: RpcError): Error {
  if (e.code !== undefined && isErrorCode(e.code)) return new SharedKVError(e.code, e.message, e.data);
  return Object.assign(new Error(e.message), { code: e.code, data: e.data });
}

/** The test side of the RPC: pending calls, callbacks lent to the worker, signals forwarded to it. */
export class RpcLink {
  private nextId = 1;
  private nextRef = 1;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly callbacks = new Map<number, (...args: unknown[]) => unknown>();
  private exited = false;
  /** Resolves with the worker's ready message once its connect() has finished. */
  readonly ready: Promise<ReadyMessage>;

  constructor(readonly endpoint: Endpoint) {
    let onReady!: (msg: ReadyMessage) => void;
    let onFail!: (err: Error) => void;
    this.ready = new Promise<ReadyMessage>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    const timer = setTimeout(
      () => onFail(new Error('the conformance worker did not get ready in time')),
      READY_TIMEOUT,
    );
    endpoint.onMessage((msg) => {
      if (has(msg, 'conformanceReady')) {
        clearTimeout(timer);
        const ready = msg as unknown as ReadyMessage;
        if (ready.conformanceReady) onReady(ready);
        else onFail(fromRpcError(ready.error ?? { code: undefined, message: 'connect() failed' }));
      } else if (has(msg, 'rpc')) {
        this.settle(msg as unknown as ResultMessage);
      } else if (has(msg, 'callbackCall')) {
        this.runCallback(msg as unknown as CallbackCall);
      } else if (has(msg, 'callbackEvent')) {
        const event = msg as unknown as CallbackEvent;
        // A handler that throws does so here, as an uncaught exception, as it would in the worker.
        this.callbacks.get(event.callbackEvent)?.(...event.args.map((a) => this.fromWire(a)));
      }
    });
    endpoint.onExit(() => {
      this.exited = true;
      clearTimeout(timer);
      onFail(new Error('the conformance worker exited before it was ready'));
      for (const c of this.calls.values()) c.reject(new Error('the conformance worker exited'));
      this.calls.clear();
    });
  }

  /** Runs `method(...args)` on the worker's store (through the namespaces `ns`). */
  call(ns: string[], method: string, args: unknown[], ops?: Array<[string, ...unknown[]]>): Promise<unknown> {
    return this.request({ ns, method }, args, ops);
  }

  /** Runs `method(...args)` on the object `target` of the worker's table. */
  callOn(target: number, method: string, args: unknown[]): Promise<unknown> {
    return this.request({ ns: [], method, target }, args);
  }

  /**
   * Has the worker run `method(...args)` (a method that returns an object synchronously) and keep the
   * result under a new reference, returned at once. An error is kept too: calls on the object reject with it.
   */
  create(ns: string[], method: string, args: unknown[]): number {
    const into = this.nextRef++;
    this.request({ ns, method, into }, args).catch(() => {});
    return into;
  }

  private request(
    head: Pick<CallMessage, 'ns' | 'method' | 'target' | 'into'>,
    args: unknown[],
    ops?: Array<[string, ...unknown[]]>,
  ): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error('the conformance worker exited'));
    const id = this.nextId++;
    const cleanup: Array<() => void> = [];
    const wire = (v: unknown) => deepMap(v, (x) => this.toWire(x, cleanup));
    const callbackAt = CALLBACK_ARGS[head.method];
    const wireArgs = args.map((a, i) => {
      if (callbackAt?.[0] === i && typeof a === 'function') {
        const ref = this.nextRef++;
        this.callbacks.set(ref, a as (...args: unknown[]) => unknown);
        const reply = callbackAt[1] === 'reply';
        // A handler stays registered after its unsubscribe, so a delivery that came too late still reaches
        // the test (which then fails) instead of vanishing here.
        if (reply) cleanup.push(() => this.callbacks.delete(ref));
        return { [MARK]: 'callback', id: ref, reply } satisfies Marker;
      }
      return wire(a);
    });
    const msg: CallMessage = { rpc: id, ...head, args: wireArgs };
    if (ops) msg.ops = ops.map(([op, ...a]) => [op, ...a.map(wire)]);
    return new Promise<unknown>((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.endpoint.send(msg);
    }).finally(() => {
      for (const c of cleanup) c();
    });
  }

  /** Replaces what structured clone cannot carry by markers (see rpc.ts). */
  private toWire(v: unknown, cleanup: Array<() => void>): unknown {
    if (v instanceof RemoteLock) return { [MARK]: 'object', ref: v.ref } satisfies Marker;
    if (typeof v === 'function') return { [MARK]: 'function' } satisfies Marker;
    if (typeof v === 'symbol') return { [MARK]: 'symbol', description: v.description } satisfies Marker;
    if (v instanceof AbortSignal) {
      const id = this.nextRef++;
      const onAbort = () => this.endpoint.send({ rpcAbort: id });
      v.addEventListener('abort', onAbort, { once: true });
      cleanup.push(() => v.removeEventListener('abort', onAbort));
      return { [MARK]: 'signal', id, aborted: v.aborted } satisfies Marker;
    }
    return KEEP;
  }

  /** Turns the worker's references (a Lock, a function) into proxies that call back into its table. */
  private fromWire(value: unknown): unknown {
    return deepMap(value, (v) => {
      if (!isMarker(v)) return KEEP;
      if (v[MARK] === 'lock') return new RemoteLock(this, v.ref, v.name, v.token);
      if (v[MARK] === 'remote') {
        const ref = v.ref;
        return (...args: unknown[]) => this.callOn(ref, 'call', args);
      }
      return KEEP;
    });
  }

  private settle(msg: ResultMessage): void {
    const call = this.calls.get(msg.rpc);
    if (!call) return;
    this.calls.delete(msg.rpc);
    if (msg.ok) call.resolve(this.fromWire(msg.value));
    else call.reject(fromRpcError(msg.error ?? { code: undefined, message: 'unknown error' }));
  }

  private runCallback(msg: CallbackCall): void {
    const fn = this.callbacks.get(msg.callback);
    const reply = (body: { ok: boolean; value?: unknown; error?: RpcError }) =>
      this.endpoint.send({ callbackReply: msg.callbackCall, ...body } satisfies CallbackReply);
    if (!fn) {
      reply({ ok: false, error: { code: undefined, message: 'the callback is no longer registered' } });
      return;
    }
    const args = msg.args.map((a) => this.fromWire(a));
    Promise.resolve()
      .then(() => fn(...args))
      .then(
        (value) => reply({ ok: true, value: deepMap(value, (x) => this.toWire(x, [])) }),
        (err: unknown) => reply({ ok: false, error: toRpcError(err) }),
      );
  }
}

/** A Lock held by the worker's store; its methods run on the real Lock there. */
class RemoteLock implements Lock {
  constructor(
    /** The link of the worker that holds the lock: a fenced write must run there. */
    readonly link: RpcLink,
    /** The Lock's reference in the worker's table. */
    readonly ref: number,
    readonly name: string,
    readonly token: number,
  ) {}
  release(): Promise<boolean> {
    return this.link.callOn(this.ref, 'release', []) as Promise<boolean>;
  }
  extend(...args: [ttl: number]): Promise<void> {
    return this.link.callOn(this.ref, 'extend', args) as Promise<void>;
  }
}

/** A Semaphore of the worker's store; its methods run on the real one there. */
class RemoteSemaphore implements Semaphore {
  constructor(
    private readonly link: RpcLink,
    private readonly ref: number,
    readonly name: string,
    readonly limit: number,
  ) {}
  acquire(...args: [options?: LockOptions]): Promise<Lock> {
    return this.link.callOn(this.ref, 'acquire', args) as Promise<Lock>;
  }
  tryAcquire(...args: [options?: Omit<LockOptions, 'wait'>]): Promise<Lock | null> {
    return this.link.callOn(this.ref, 'tryAcquire', args) as Promise<Lock | null>;
  }
  withPermit<T>(...args: [fn: (lock: Lock) => T | Promise<T>, options?: LockOptions]): Promise<T> {
    return this.link.callOn(this.ref, 'withPermit', args) as Promise<T>;
  }
}

/** The iterator form of subscribe(): each step runs on the real Subscription in the worker. */
class RemoteSubscription<T> implements Subscription<T> {
  readonly ready: Promise<void>;
  constructor(
    private readonly link: RpcLink,
    private readonly ref: number,
  ) {
    this.ready = link.callOn(ref, 'ready', []) as Promise<void>;
    // As with the real one, a failed registration surfaces through next() and ready, never unhandled.
    this.ready.catch(() => {});
  }
  next(): Promise<IteratorResult<Message<T>>> {
    return this.link.callOn(this.ref, 'next', []) as Promise<IteratorResult<Message<T>>>;
  }
  return(): Promise<IteratorResult<Message<T>>> {
    return this.link.callOn(this.ref, 'return', []) as Promise<IteratorResult<Message<T>>>;
  }
  unsubscribe(): Promise<void> {
    return this.link.callOn(this.ref, 'unsubscribe', []) as Promise<void>;
  }
  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * The Store API over one or more {@link RpcLink}s; `namespace()` and `batch()` are recorded and replayed
 * remotely. With several links (several worker processes), each step goes to the next worker in turn
 * (calls made together in one synchronous run share a worker), so one test's steps run in different
 * processes; objects a call returns (locks, semaphores, subscriptions) stay with
 * the worker that made them, and a write fenced with a lock runs in the lock's worker.
 */
export class RemoteStore implements Store {
  private readonly links: RpcLink[];

  constructor(
    link: RpcLink | RpcLink[],
    private readonly ns: string[] = [],
    /** The turn counter, shared with the namespaces made from this store. */
    private readonly turn = { n: 0, moving: false },
  ) {
    this.links = Array.isArray(link) ? link : [link];
  }

  /** The worker for the next call. */
  private pick(args: unknown[] = []): RpcLink {
    for (const a of args) {
      const fence = a !== null && typeof a === 'object' ? (a as { fence?: unknown }).fence : undefined;
      if (fence instanceof RemoteLock) return fence.link;
    }
    // Calls made in the same synchronous run (a Promise.all of concurrent calls) share one worker, as one
    // process's concurrent calls would: ordering per publisher holds. The next step goes to the next one.
    if (!this.turn.moving) {
      this.turn.moving = true;
      queueMicrotask(() => {
        this.turn.n++;
        this.turn.moving = false;
      });
    }
    return this.links[this.turn.n % this.links.length] as RpcLink;
  }

  private get link(): RpcLink {
    return this.pick();
  }

  private run<T>(method: string, args: unknown[]): Promise<T> {
    return this.pick(args).call(this.ns, method, args) as Promise<T>;
  }

  ready(...args: []): Promise<void> {
    return this.run('ready', args);
  }
  get<T = unknown>(...args: [key: string, options?: CallOptions]): Promise<T | undefined> {
    return this.run('get', args);
  }
  set(...args: [key: string, value: unknown, options?: SetOptions]): Promise<unknown> {
    return this.run('set', args);
  }
  del(...args: [keys: string | string[], options?: CallOptions]): Promise<number> {
    return this.run('del', args);
  }
  has(...args: [key: string, options?: CallOptions]): Promise<boolean> {
    return this.run('has', args);
  }
  keys(...args: [pattern?: string, options?: CallOptions]): Promise<string[]> {
    return this.run('keys', args);
  }
  mget<T = unknown>(...args: [keys: string[], options?: CallOptions]): Promise<Array<T | undefined>> {
    return this.run('mget', args);
  }
  mset(
    entries: Record<string, unknown> | Iterable<[string, unknown]>,
    ...rest: [options?: MsetOptions]
  ): Promise<void> {
    // A generic iterable cannot be cloned; its pairs can.
    const sendable =
      entries !== null && typeof entries === 'object' && Symbol.iterator in entries && !Array.isArray(entries)
        ? [...(entries as Iterable<[string, unknown]>)]
        : entries;
    return this.run('mset', [sendable, ...rest]);
  }
  clear(...args: [options?: CallOptions]): Promise<number> {
    return this.run('clear', args);
  }
  size(...args: [options?: CallOptions]): Promise<number> {
    return this.run('size', args);
  }
  incr(...args: [key: string, by?: number, options?: CallOptions]): Promise<number> {
    return this.run('incr', args);
  }
  decr(...args: [key: string, by?: number, options?: CallOptions]): Promise<number> {
    return this.run('decr', args);
  }
  cas(...args: [key: string, expected: unknown, next: unknown, options?: CasOptions]): Promise<boolean> {
    return this.run('cas', args);
  }
  expire(...args: [key: string, ttl: number, options?: CallOptions]): Promise<boolean> {
    return this.run('expire', args);
  }
  ttl(...args: [key: string, options?: CallOptions]): Promise<number> {
    return this.run('ttl', args);
  }
  persist(...args: [key: string, options?: CallOptions]): Promise<boolean> {
    return this.run('persist', args);
  }
  getOrSet<T>(...args: [key: string, loader: () => T | Promise<T>, options?: GetOrSetOptions]): Promise<T> {
    return this.run('getOrSet', args);
  }
  batch(): Batch {
    return new RemoteBatch(this.link, this.ns);
  }
  namespace(name: string): Store {
    // Validated by the worker's real namespace() on each call, which rejects a bad name.
    return new RemoteStore(this.links, [...this.ns, name], this.turn);
  }
  publish(...args: [channel: string, message: unknown, options?: CallOptions]): Promise<number> {
    return this.run('publish', args);
  }
  call<T = unknown>(...args: [procedure: string, ...args: unknown[]]): Promise<T> {
    return this.run('call', args);
  }
  lock(...args: [name: string, options?: LockOptions]): Promise<Lock> {
    return this.run('lock', args);
  }
  tryLock(...args: [name: string, options?: Omit<LockOptions, 'wait'>]): Promise<Lock | null> {
    return this.run('tryLock', args);
  }
  withLock<T>(...args: [name: string, fn: (lock: Lock) => T | Promise<T>, options?: LockOptions]): Promise<T> {
    return this.run('withLock', args);
  }
  semaphore(name: string, limit: number): Semaphore {
    // The real semaphore() throws at once on a bad limit; this one's methods reject with that error.
    const link = this.link;
    return new RemoteSemaphore(link, link.create(this.ns, 'semaphore', [name, limit]), name, limit);
  }
  subscribe<T = unknown>(
    channel: string,
    handler: (message: T, channel: string, pattern?: string) => void,
  ): Promise<Unsubscribe>;
  subscribe<T = unknown>(channel: string): Subscription<T>;
  subscribe<T = unknown>(
    channel: string,
    handler?: (message: T, channel: string, pattern?: string) => void,
  ): Promise<Unsubscribe> | Subscription<T> {
    if (handler === undefined) {
      // The real call throws at once on a bad channel; this one's ready and next() reject with that error.
      const link = this.link;
      return new RemoteSubscription<T>(link, link.create(this.ns, 'subscribe', [channel]));
    }
    return this.run('subscribe', [channel, handler]);
  }
  watch<T = unknown>(...args: [pattern: string, handler: (event: WatchEvent<T>) => void]): Promise<Unsubscribe> {
    return this.run('watch', args);
  }
  stats(...args: [options?: CallOptions]): Promise<StoreStats> {
    return this.run('stats', args);
  }
  ping(...args: [options?: CallOptions]): Promise<number> {
    return this.run('ping', args);
  }
  async close(): Promise<void> {
    // Every worker's store: a call after close must be refused whichever worker it reaches.
    await Promise.all(this.links.map((l) => l.call(this.ns, 'close', [])));
  }
}

/** Records Batch calls; `exec()` replays them on a real Batch in the worker. */
class RemoteBatch implements Batch {
  private readonly ops: Array<[string, ...unknown[]]> = [];

  constructor(
    private readonly link: RpcLink,
    private readonly ns: string[],
  ) {}

  private add(op: string, args: unknown[]): this {
    this.ops.push([op, ...args]);
    return this;
  }
  get length(): number {
    return this.ops.length;
  }
  get(...args: [key: string]): this {
    return this.add('get', args);
  }
  set(...args: [key: string, value: unknown, options?: Omit<SetOptions, keyof CallOptions>]): this {
    return this.add('set', args);
  }
  del(...keys: string[]): this {
    return this.add('del', keys);
  }
  has(...args: [key: string]): this {
    return this.add('has', args);
  }
  incr(...args: [key: string, by?: number]): this {
    return this.add('incr', args);
  }
  decr(...args: [key: string, by?: number]): this {
    return this.add('decr', args);
  }
  cas(...args: [key: string, expected: unknown, next: unknown, options?: Omit<CasOptions, keyof CallOptions>]): this {
    return this.add('cas', args);
  }
  expire(...args: [key: string, ttl: number]): this {
    return this.add('expire', args);
  }
  ttl(...args: [key: string]): this {
    return this.add('ttl', args);
  }
  persist(...args: [key: string]): this {
    return this.add('persist', args);
  }
  exec(...args: [options?: CallOptions]): Promise<unknown[]> {
    // A batch with a write fenced by a lock runs in the worker that holds the lock.
    let link = this.link;
    for (const [, ...opArgs] of this.ops) {
      for (const a of opArgs) {
        const fence = a !== null && typeof a === 'object' ? (a as { fence?: unknown }).fence : undefined;
        if (fence instanceof RemoteLock) link = fence.link;
      }
    }
    return link.call(this.ns, 'batch', args, this.ops) as Promise<unknown[]>;
  }
}

function workerEndpoint(worker: Worker): Endpoint {
  return {
    send: (msg) => worker.send(msg as never),
    onMessage: (listener) => worker.on('message', listener),
    onExit: (listener) => worker.once('exit', listener),
    async kill() {
      if (worker.isDead()) return;
      const exited = once(worker, 'exit');
      worker.process.kill('SIGKILL');
      await exited;
    },
  };
}

function childEndpoint(child: ChildProcess): Endpoint {
  return {
    send: (msg) => child.send(msg as never),
    onMessage: (listener) => child.on('message', listener),
    onExit: (listener) => child.once('exit', listener),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Makes this process the owner, with the procedures the conformance suite calls. */
export async function conformanceOwner(): Promise<OwnerStore> {
  return (await connect({ role: 'owner', procedures: CONFORMANCE_PROCEDURES })) as OwnerStore;
}

/** Waits for the worker, checks it is what the test asked for, and wraps everything in a handle. */
async function handleOf(
  owner: OwnerStore,
  endpoints: Endpoint[],
  expected: { isClusterWorker: boolean; channel: 'socket' | 'ipc' },
): Promise<StoreHandle> {
  const links = endpoints.map((e) => new RpcLink(e));
  const close = async () => {
    await Promise.all(endpoints.map((e) => e.kill()));
    await owner.close();
  };
  try {
    for (const link of links) {
      const ready = await link.ready;
      if (ready.isClusterWorker !== expected.isClusterWorker || ready.channel !== expected.channel) {
        throw new Error(`the worker is not what was asked for: ${JSON.stringify(ready)}`);
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { store: new RemoteStore(links), peer: owner, close };
}

/**
 * Makes this process the owner, forks a real cluster worker that connects over `channel`, and returns the
 * worker's store (as a {@link RemoteStore}) with the owner's own store as its peer.
 */
export async function clusterStore(channel: 'socket' | 'ipc', workers = 1): Promise<StoreHandle> {
  const owner = await conformanceOwner();
  cluster.setupPrimary({ exec: CONFORMANCE_WORKER, execArgv: ['--import', 'tsx'], serialization: 'advanced' });
  const endpoints = Array.from({ length: workers }, () =>
    workerEndpoint(cluster.fork({ SHAREDKV_CONFORMANCE_CHANNEL: channel })),
  );
  return handleOf(owner, endpoints, { isClusterWorker: true, channel });
}

/** Like {@link clusterStore}, with a child created by the owner's `fork()` (child_process.fork). */
export async function forkStore(channel: 'socket' | 'ipc'): Promise<StoreHandle> {
  const owner = await conformanceOwner();
  const child = owner.fork(CONFORMANCE_WORKER, [], {
    execArgv: ['--import', 'tsx'],
    serialization: 'advanced',
    env: { ...process.env, SHAREDKV_CONFORMANCE_CHANNEL: channel },
  });
  return handleOf(owner, [childEndpoint(child)], { isClusterWorker: false, channel });
}

/**
 * Like {@link forkStore}, but the child is forked with plain `child_process.fork` and then handed to the
 * owner with `attach()`.
 */
export async function attachedStore(channel: 'socket' | 'ipc'): Promise<StoreHandle> {
  const owner = await conformanceOwner();
  const child = owner.attach(
    fork(CONFORMANCE_WORKER, [], {
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      env: { ...process.env, SHAREDKV_CONFORMANCE_CHANNEL: channel },
    }),
  );
  return handleOf(owner, [childEndpoint(child)], { isClusterWorker: false, channel });
}
