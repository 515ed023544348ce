/** What the Store API needs from the layer below: a way to run one command on the owner. */
import { describe, SharedKVError } from '../errors.js';
import type { CallOptions } from '../types.js';
import type { NearCache } from './near-cache.js';

/** Runs commands on the owner, in the order they are issued. */
export interface Caller {
  /** Runs `name(...args)` on the owner; resolves with its raw result (values still encoded). */
  call(name: string, args: unknown[], options?: CallOptions): Promise<unknown>;
  /** Resolves when calls can be served. */
  ready(): Promise<void>;
  /** Stops; pending calls reject with `ERR_SHAREDKV_CLOSED`. */
  close(): Promise<void>;
  /** Calls sent and not yet answered. */
  readonly pending: number;
  /** Receives messages the owner pushes unasked (`[kind, ...data]`); the Store layer sets it. */
  onPush: (message: unknown[]) => void;
  /** The near cache of this connection, when enabled (clients only). */
  near?: NearCache | undefined;
  /**
   * Connections to the owner lost so far (clients only). Locks and subscriptions compare it with the
   * value they were made under to know that the owner has ended the session they belong to.
   */
  readonly lostConnections?: number;
  /**
   * Called when a new connection replaces a lost one (socket clients), before the calls that waited for
   * it are sent, so that state the owner forgot with the old session can be registered again first.
   */
  onReconnect?: () => void;
}

/** Default per-call timeout in ms. */
export const DEFAULT_TIMEOUT = 5000;

/** Checks a per-call timeout option. */
export function checkTimeout(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return Number.NaN;
  return value;
}

/**
 * Why a call must not start: a `timeout` that is not a non-negative number, or a signal that is already
 * aborted; undefined when it may. Every caller (owner socket, IPC, thread, Redis) refuses the same way.
 */
export function refuseCall(timeout: unknown, signal: AbortSignal | undefined): SharedKVError | undefined {
  if (typeof timeout !== 'number' || !(timeout >= 0)) {
    return new SharedKVError(
      'ERR_SHAREDKV_BAD_ARGUMENT',
      `Expected \`timeout\` to be a non-negative number (ms), got ${describe(timeout)}`,
    );
  }
  return signal?.aborted ? abortedError(signal) : undefined;
}

/** The error of a call its `signal` aborted; the signal's reason is the cause. */
export function abortedError(signal: AbortSignal): SharedKVError {
  return new SharedKVError('ERR_SHAREDKV_ABORTED', 'The call was aborted', undefined, { cause: signal.reason });
}
