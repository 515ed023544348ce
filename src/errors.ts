/**
 * Every error sharedkv raises is a {@link SharedKVError} with a stable `code`. Codes are never renamed or
 * reused; `docs/errors.md` has a section per code and a test keeps the two in step.
 */

/** The registry of error codes, with a one-line meaning each (the docs expand on them). */
export const ErrorCodes = {
  ERR_SHAREDKV_TIMEOUT: 'The call did not settle within its timeout.',
  ERR_SHAREDKV_DISCONNECTED: 'The connection to the owner was lost, or the owner went away, before the call settled.',
  ERR_SHAREDKV_BAD_ARGUMENT: 'An argument or option was missing, of the wrong type, out of range or unknown.',
  ERR_SHAREDKV_WRONG_TYPE: 'The command needs a value of another type than the one stored (e.g. incr on a string).',
  ERR_SHAREDKV_TOO_LARGE: 'A key, value or frame is larger than the configured limit.',
  ERR_SHAREDKV_OUT_OF_MEMORY: 'The store is at its memory bound and its policy forbids eviction.',
  ERR_SHAREDKV_LOCK_LOST: 'A lock is no longer held by the caller, or a fenced write carried a stale token.',
  ERR_SHAREDKV_PROTOCOL: 'A peer sent a message that does not follow the sharedkv protocol, or speaks another version.',
  ERR_SHAREDKV_AUTH: 'The connection did not present the right token.',
  ERR_SHAREDKV_NOT_SERIALIZABLE:
    'A value contains something that cannot be carried between processes (function, symbol).',
  ERR_SHAREDKV_CLOSED: 'The store was closed by this process; no further calls are accepted.',
  ERR_SHAREDKV_BACKPRESSURE: 'Too many calls are pending; the bounded queue refused another one.',
  ERR_SHAREDKV_NO_OWNER: 'No owner answered the handshake before the deadline.',
  ERR_SHAREDKV_ABORTED: 'The call was aborted through its AbortSignal.',
  ERR_SHAREDKV_PROCEDURE_FAILED: 'A stored procedure threw; its writes were undone.',
  ERR_SHAREDKV_ADDRESS_IN_USE: 'Another live owner already serves the socket path; it was not taken over.',
  ERR_SHAREDKV_CORRUPT: 'A persistence file is damaged (a bad checksum or record) other than by a torn tail.',
  ERR_SHAREDKV_IO: 'The owner could not write its persistence files (disk full, I/O error).',
  ERR_SHAREDKV_INTERNAL: 'A bug in sharedkv: the owner caught an unexpected exception while running a command.',
} as const;

/** A stable error code: one of the keys of {@link ErrorCodes}. */
export type ErrorCode = keyof typeof ErrorCodes;

/** The form in which an error crosses the wire; {@link SharedKVError.fromWire} rebuilds it. */
export interface WireError {
  code: string;
  message: string;
  data?: unknown;
}

/**
 * The one error class of sharedkv. Branch on `err.code`, never on the message text.
 *
 * @example
 * try { await kv.incr('name') } catch (err) {
 *   if (err instanceof SharedKVError && err.code === 'ERR_SHAREDKV_WRONG_TYPE') { ... }
 * }
 */
export class SharedKVError extends Error {
  /** The stable code; see `docs/errors.md`. */
  readonly code: ErrorCode;
  /** Structured details (for example the index of the failing command in a batch). */
  readonly data: unknown;

  constructor(code: ErrorCode, message: string, data?: unknown, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SharedKVError';
    this.code = code;
    this.data = data;
  }

  /** Converts to the wire form; the stack stays in the process that raised the error. */
  toWire(): WireError {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }

  /** Rebuilds an error received from a peer; an unknown code becomes `ERR_SHAREDKV_PROTOCOL`. */
  static fromWire(wire: unknown): SharedKVError {
    if (wire !== null && typeof wire === 'object') {
      const w = wire as Partial<WireError>;
      if (typeof w.code === 'string' && typeof w.message === 'string' && isErrorCode(w.code)) {
        return new SharedKVError(w.code, w.message, w.data);
      }
    }
    return new SharedKVError('ERR_SHAREDKV_PROTOCOL', `Received a malformed error from the peer: ${describe(wire)}`);
  }
}

/** True when `code` is a registered sharedkv error code. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ErrorCodes, code);
}

/** A short, safe description of a value for error messages ("got ..."). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string of length ${value.length}` : JSON.stringify(value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${String(value)}${typeof value === 'bigint' ? 'n' : ''}`;
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default:
      if (Array.isArray(value)) return `an array of length ${value.length}`;
      return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
  }
}

/** Shorthand for the most common error: an argument that failed validation. */
export function badArgument(message: string, data?: unknown): SharedKVError {
  return new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', message, data);
}
