/**
 * The little RPC the conformance tests speak with a worker process over the application's own IPC
 * channel (plain objects without sharedkv's marker, so they also prove that both kinds of traffic share
 * the channel). Shared by the test side (`remote-store.ts`) and the worker (`conformance-worker.ts`).
 *
 * The channel uses `serialization: 'advanced'`, so Map, BigInt, Date, typed arrays and cycles cross it
 * intact. What structured clone cannot carry is replaced by a marker object and rebuilt on the other side:
 * functions (a value that must fail with ERR_SHAREDKV_NOT_SERIALIZABLE in the worker, or a getOrSet loader
 * that calls back into the test process), symbols, and AbortSignals (aborted from the test side).
 */

/** Key of a marker object. */
export const MARK = '__conformanceRpc';

/** What replaces a value that structured clone cannot carry. */
export type Marker =
  | { [MARK]: 'function' }
  | { [MARK]: 'symbol'; description: string | undefined }
  | { [MARK]: 'loader'; id: number }
  | { [MARK]: 'signal'; id: number; aborted: boolean };

/** An error as it crosses the RPC. */
export interface RpcError {
  code: string | undefined;
  message: string;
  data?: unknown;
}

/** Test → worker: run a Store method (on the namespace chain `ns`), or a batch of `ops`. */
export interface CallMessage {
  rpc: number;
  ns: string[];
  method: string;
  args: unknown[];
  /** For `method: 'batch'`: the commands, as [Batch method, ...args]; `args` then holds exec()'s options. */
  ops?: Array<[string, ...unknown[]]>;
}

/** Test → worker: abort the signal with this id. */
export interface AbortMessage {
  rpcAbort: number;
}

/** Test → worker: the outcome of a loader the worker asked the test side to run. */
export interface LoaderReply {
  loaderReply: number;
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

/** Worker → test: please run loader `loader` and answer with `loaderReply: call`. */
export interface LoaderCall {
  loaderCall: number;
  loader: number;
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
  'publish',
  'call',
  'stats',
  'ping',
  'close',
]);

/** The Batch methods the worker replays. */
export const BATCH_METHODS = new Set(['get', 'set', 'del', 'has', 'incr', 'decr', 'expire', 'persist']);
