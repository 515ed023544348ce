/**
 * Value codec. Values are encoded once, in the process that writes them, and the owner keeps the bytes:
 * it never re-parses a value to store or return it (only counters and compare-and-set look inside).
 *
 * MessagePack (msgpackr) with its structured-clone extensions carries what structured clone carries:
 * Map, Set, Date, RegExp, Error, BigInt of any size, NaN, ±Infinity, `undefined` inside objects and
 * arrays, typed arrays and cycles. JSON IPC would silently change most of those, and v8.serialize is
 * 5-10x slower for small values (measured: 2.3 µs vs 0.26 µs to encode a small object).
 */
import { Packr } from 'msgpackr';
import { describe, SharedKVError } from '../errors.js';

const valuePackr = new Packr({
  structuredClone: true,
  moreTypes: true,
  int64AsType: 'bigint',
  // Objects that define toJSON are cloned field by field, as structured clone does, not via toJSON.
  useToJSON: false,
  // A Buffer read back must be a copy, never a view into the stored bytes.
  copyBuffers: true,
  writeFunction(): never {
    throw new SharedKVError('ERR_SHAREDKV_NOT_SERIALIZABLE', 'Values cannot contain functions');
  },
});

/** Encoded value bytes as stored by the owner. */
export type Encoded = Uint8Array;

/**
 * Encodes a value for storage or transport.
 *
 * @throws SharedKVError `ERR_SHAREDKV_NOT_SERIALIZABLE` for functions and symbols anywhere in the value.
 */
export function encodeValue(value: unknown): Encoded {
  if (typeof value === 'symbol' || typeof value === 'function') {
    throw new SharedKVError('ERR_SHAREDKV_NOT_SERIALIZABLE', `Cannot store ${describe(value)}`);
  }
  // MessagePack writes -0 as the integer 0; as a whole value it is kept as a float. Nested -0 still becomes 0.
  if (value === 0 && Object.is(value, -0)) return Uint8Array.of(0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0);
  try {
    return valuePackr.pack(value);
  } catch (err) {
    if (err instanceof SharedKVError) throw err;
    throw new SharedKVError(
      'ERR_SHAREDKV_NOT_SERIALIZABLE',
      `The value cannot be carried between processes: ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
}

/**
 * Decodes bytes made by {@link encodeValue}; each call returns a fresh copy. For bytes that live on (the
 * owner's stored values, a near cache's entries) use {@link decodeStored}.
 */
export function decodeValue(bytes: Encoded): unknown {
  return valuePackr.unpack(bytes);
}

/**
 * {@link decodeValue} for bytes that are kept: msgpackr caches a DataView on the array it reads
 * (`source.dataView`), which on a stored value would stay for as long as the key lives: memory for every
 * key ever read, and a young object referenced from an old one, which made the scavenges of an owner
 * expiring a million keys under reads 5-7 ms instead of 1-3 ms. Reading through a throwaway view leaves
 * the bytes as they were (~200 ns more, what decoding a value fresh from a frame costs anyway).
 */
export function decodeStored(bytes: Encoded): unknown {
  return valuePackr.unpack(bytes.subarray(0));
}

/** The encoding of a plain number, used by counters in the owner. */
export function encodeNumber(n: number): Encoded {
  return valuePackr.pack(n);
}

/** True when two encodings are byte-for-byte equal (structural equality with the same key order). */
export function sameBytes(a: Encoded, b: Encoded): boolean {
  if (a.length !== b.length) return false;
  return Buffer.compare(a, b) === 0;
}
