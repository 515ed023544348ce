/**
 * How values are stored in Redis. The Store layer always hands over msgpack bytes (the same codec as the
 * memory backend); a format turns them into the stored bytes and back.
 *
 * - `msgpack` (default): stored as they come, so every type structured clone carries round-trips, and the
 *   bytes are the ones the memory owner keeps.
 * - `json`: stored as JSON text, for data that other Redis clients must read. A value JSON would change
 *   (Date, Map, BigInt, undefined, NaN, -0, cycles, …) is refused with `ERR_SHAREDKV_NOT_SERIALIZABLE`,
 *   never silently altered.
 */
import { describe, SharedKVError } from '../../errors.js';
import { decodeValue, type Encoded, encodeValue } from '../../protocol/codec.js';

/** A stored value format. */
export interface ValueFormat {
  readonly name: 'msgpack' | 'json';
  /** The script's name for it: `m` or `j`. */
  readonly code: 'm' | 'j';
  /**
   * Store-layer bytes to the stored form.
   * @throws SharedKVError `ERR_SHAREDKV_NOT_SERIALIZABLE` for a value the format cannot carry.
   */
  toStored(bytes: Encoded): Buffer;
  /** Stored bytes to the Store layer's bytes. */
  fromStored(bytes: Buffer): Encoded;
  /** The number a counter script answered (stored form). */
  number(bytes: Buffer): number;
}

/** Wraps bytes as a Buffer without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export const msgpackFormat: ValueFormat = {
  name: 'msgpack',
  code: 'm',
  toStored: asBuffer,
  fromStored: (bytes) => bytes,
  number: (bytes) => decodeValue(bytes) as number,
};

export const jsonFormat: ValueFormat = {
  name: 'json',
  code: 'j',
  toStored(bytes) {
    const value = decodeValue(bytes);
    checkJson(value, '', new Set());
    return Buffer.from(JSON.stringify(value));
  },
  fromStored(bytes) {
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new SharedKVError(
        'ERR_SHAREDKV_WRONG_TYPE',
        'The stored value is not JSON (was it written by another client in another format?)',
        undefined,
        { cause: err },
      );
    }
    return encodeValue(value);
  },
  number: (bytes) => Number(bytes.toString('utf8')),
};

function refuse(path: string, what: string): never {
  throw new SharedKVError(
    'ERR_SHAREDKV_NOT_SERIALIZABLE',
    `The json encoding cannot carry ${what}${path ? ` at ${path}` : ''}; use the default msgpack encoding for it`,
    { path },
  );
}

/** Throws unless `JSON.parse(JSON.stringify(value))` gives back exactly `value`. */
function checkJson(value: unknown, path: string, stack: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) refuse(path, String(value));
      if (Object.is(value, -0)) refuse(path, '-0');
      return;
    case 'object':
      break;
    default:
      refuse(path, describe(value));
  }
  if (value === null) return;
  const obj = value as object;
  if (stack.has(obj)) refuse(path, 'a cycle');
  stack.add(obj);
  if (Array.isArray(obj)) {
    if (Object.getPrototypeOf(obj) !== Array.prototype) refuse(path, describe(obj));
    for (let i = 0; i < obj.length; i++) {
      if (!(i in obj)) refuse(`${path}[${i}]`, 'an empty array slot');
      checkJson(obj[i], `${path}[${i}]`, stack);
    }
    if (Object.keys(obj).length !== obj.length) refuse(path, 'an array with extra properties');
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) refuse(path, describe(obj));
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined) refuse(`${path}.${k}`, 'undefined');
      checkJson(v, `${path}.${k}`, stack);
    }
  }
  stack.delete(obj);
}
