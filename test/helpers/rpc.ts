/**
 * The little RPC the conformance tests speak with a worker process over the application's own IPC
 * channel (plain objects without sharedkv's marker, so they also prove that both kinds of traffic share
 * the channel). Shared by the test side (`remote-store.ts`) and the worker (`conformance-worker.ts`).
 *
 * The channel uses `serialization: 'advanced'`, so Map, BigInt, Date, typed arrays and cycles cross it
 * intact. What structured clone cannot carry is replaced by a marker object and rebuilt on the other side:
 * functions (a value that must fail with ERR_SHAREDKV_NOT_SERIALIZABLE in the worker, or a callback — a
 * getOrSet loader, a withLock body, a subscribe or watch handler — that runs back in the test process),
 * symbols, and AbortSignals (aborted from the test side).
 *
 * Live objects stay in the worker and are reached by reference: a Lock, a Semaphore, an iterator
 * Subscription and an Unsubscribe function are kept in the worker's object table, and the test side holds
 * a proxy whose methods run on the real object there (a call message with `target`). Objects the test side
 * creates synchronously (`semaphore()`, the iterator form of `subscribe()`) get a reference chosen by the
 * test side (`into`), so calls on them can follow at once; the worker numbers the objects it hands out
 * itself below zero, so the two never collide.
 */

/** Key of a marker object. */
export const MARK = '__conformanceRpc';

/** What replaces a value that structured clone cannot carry. */
export type Marker =
  | { [MARK]: 'function' }
  | { [MARK]: 'symbol'; description: string | undefined }
  /** Test → worker: a function of the test process; `reply`: its result is awaited (else a handler). */
  | { [MARK]: 'callback'; id: number; reply: boolean }
  | { [MARK]: 'signal'; id: number; aborted: boolean }
  /** Test → worker: a proxy of an object in the worker's table (a Lock used as `fence`). */
  | { [MARK]: 'object'; ref: number }
  /** Worker → test: a Lock kept in the worker's table, with its fields. */
  | { [MARK]: 'lock'; ref: number; name: string; token: number }
  /** Worker → test: a function kept in the worker's table (an Unsubscribe). */
  | { [MARK]: 'remote'; ref: number };

/** An error as it crosses the RPC. */
export interface RpcError {
  code: string | undefined;
  message: string;
  data?: unknown;
}

/**
 * Test → worker: run a Store method (on the namespace chain `ns`), or a batch of `ops`, or a method of an
 * object in the worker's table (`target`).
 */
export interface CallMessage {
  rpc: number;
  ns: string[];
  method: string;
  args: unknown[];
  /** For `method: 'batch'`: the commands, as [Batch method, ...args]; `args` then holds exec()'s options. */
  ops?: Array<[string, ...unknown[]]>;
  /** Runs `method` on this object of the worker's table instead of the store. */
  target?: number;
  /** Keeps the (synchronous) result in the worker's table under this reference and answers `undefined`. */
  into?: number;
}

/** Test → worker: abort the signal with this id. */
export interface AbortMessage {
  rpcAbort: number;
}

/** Test → worker: the outcome of a callback the worker asked the test side to run. */
export interface CallbackReply {
  callbackReply: number;
  ok: boolean;
  value?: unknown;
  error?: RpcError;
}

/** Worker → test: the outcome of a call. */
export interface ResultMessage {
  rpc: number;
  ok: boolean;
  value?: unknown;
  error?: RpcError;
}

/** Worker → test: please run callback `callback` with `args` and answer with `callbackReply: callbackCall`. */
export interface CallbackCall {
  callbackCall: number;
  callback: number;
  args: unknown[];
}

/** Worker → test: a handler (subscribe, watch) was called with `args`; no answer is expected. */
export interface CallbackEvent {
  callbackEvent: number;
  args: unknown[];
}

/** Worker → test: connect() finished (or failed). */
export interface ReadyMessage {
  conformanceReady: boolean;
  pid: number;
  isClusterWorker: boolean;
  channel: string;
  error?: RpcError;
}

/** True when `msg` is an object carrying `key` (each message kind has its own key). */
export function has<K extends string>(msg: unknown, key: K): msg is Record<K, unknown> {
  return msg !== null && typeof msg === 'object' && key in msg;
}

/** Converts anything thrown into its RPC form (keeps `code` and `data`). */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; data?: unknown };
    const out: RpcError = { code: typeof e.code === 'string' ? e.code : undefined, message: e.message };
    if (e.data !== undefined) out.data = e.data;
    return out;
  }
  return { code: undefined, message: String(err) };
}

/** Returned by a replacer to keep walking into a value instead of replacing it. */
export const KEEP: unique symbol = Symbol('keep');

/**
 * Copies `value`, replacing every part for which `replace` returns something else than {@link KEEP}.
 * Walks plain objects, arrays (holes kept), Maps and Sets, and keeps cycles; any other object (Date,
 * typed array, class instance) is left as it is.
 */
export function deepMap(
  value: unknown,
  replace: (v: unknown) => unknown,
  seen: Map<object, unknown> = new Map(),
): unknown {
  const r = replace(value);
  if (r !== KEEP) return r;
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value);
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    seen.set(value, out);
    for (let i = 0; i < value.length; i++) if (i in value) out[i] = deepMap(value[i], replace, seen);
    return out;
  }
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>();
    seen.set(value, out);
    for (const [k, v] of value) out.set(deepMap(k, replace, seen), deepMap(v, replace, seen));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set<unknown>();
    seen.set(value, out);
    for (const v of value) out.add(deepMap(v, replace, seen));
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = proto === null ? Object.create(null) : {};
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) out[k] = deepMap(v, replace, seen);
  return out;
}

/** True when `v` is one of the marker objects. */
export function isMarker(v: unknown): v is Marker {
  return v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>)[MARK] === 'string';
}

/** The Store methods the worker runs for the test (never an arbitrary property name). */
export const STORE_METHODS = new Set([
  'ready',
  'get',
  'set',
  'del',
  'has',
  'keys',
  'mget',
  'mset',
  'clear',
  'size',
  'incr',
  'decr',
  'cas',
  'expire',
  'ttl',
  'persist',
  'getOrSet',
  'lock',
  'tryLock',
  'withLock',
  'semaphore',
  'publish',
  'subscribe',
  'watch',
  'call',
  'stats',
  'ping',
  'close',
]);

/** The Batch methods the worker replays. */
export const BATCH_METHODS = new Set(['get', 'set', 'del', 'has', 'incr', 'decr', 'cas', 'expire', 'persist', 'ttl']);

/** Kinds of the live objects a worker keeps for the test side. */
export type ObjectKind = 'lock' | 'semaphore' | 'subscription' | 'function';

/** The methods the worker runs on each kind of object (`ready` reads the Subscription's promise). */
export const OBJECT_METHODS: Record<ObjectKind, ReadonlySet<string>> = {
  lock: new Set(['release', 'extend']),
  semaphore: new Set(['acquire', 'tryAcquire', 'withPermit']),
  subscription: new Set(['ready', 'next', 'return', 'unsubscribe']),
  function: new Set(['call']),
};

/**
 * Which argument of a method is a callback of the test process, and whether the worker awaits its result
 * (`reply`) or only reports the calls (`event`, for subscribe and watch handlers).
 */
export const CALLBACK_ARGS: Readonly<Record<string, [index: number, kind: 'reply' | 'event']>> = {
  getOrSet: [1, 'reply'],
  withLock: [1, 'reply'],
  withPermit: [0, 'reply'],
  subscribe: [1, 'event'],
  watch: [1, 'event'],
};
