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

/**
 * Plain values: objects and arrays made only of plain objects, arrays and primitives, with no shared
 * references. Most cached values are like this, and for them structured clone's extras are dead weight:
 * msgpackr's records write a record definition inside every value, and reading one back (defining the
 * record, then reading through it) cost 790 ns for a 4-field object against 480 ns for a plain MessagePack
 * map (encoding, 590 vs 320 ns). They are written as plain MessagePack after the byte 0xc1, which
 * MessagePack leaves unused, so no encoding made by the structured codec starts with it and values written
 * before this format existed still read back.
 */
const plainPackr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  useToJSON: false,
  int64AsType: 'bigint',
});

/** First byte of a plain encoding (the value's MessagePack follows it). */
export const PLAIN_TAG = 0xc1;
/**
 * Plain objects (not arrays) a value may hold and still be written plain. Records pay off once a shape
 * repeats: 1,000 objects of one shape read back in 320 µs as records and 590 µs as maps, and take 52 KB
 * instead of 80 KB.
 */
const PLAIN_MAX_OBJECTS = 4;
/** Values (at any depth) the plain check looks at before it gives up and lets structured clone write it. */
const PLAIN_MAX_NODES = 256;

/** Budget of the plain check, reset per value; module state so the check allocates nothing. */
let plainObjects = 0;
let plainNodes = 0;
/** The objects and arrays seen so far in the value being checked, made only when there is a second one. */
let plainFirst: object | undefined;
let plainSeen: Set<object> | undefined;

function isPlainNode(value: unknown): boolean {
  if (++plainNodes > PLAIN_MAX_NODES) return false;
  if (typeof value !== 'object') {
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === undefined;
  }
  if (value === null) return true;
  // A second sighting of the same object is a shared reference (or a cycle), which only structured clone keeps.
  if (plainFirst === undefined) plainFirst = value;
  else {
    if (plainSeen === undefined) plainSeen = new Set([plainFirst]);
    if (plainSeen.has(value)) return false;
    plainSeen.add(value);
  }
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (let i = 0; i < value.length; i++) if (!isPlainNode(value[i])) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if ((proto !== Object.prototype && proto !== null) || ++plainObjects > PLAIN_MAX_OBJECTS) return false;
  for (const k in value) {
    if (!isPlainNode((value as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function isPlain(value: object): boolean {
  plainObjects = 0;
  plainNodes = 0;
  plainFirst = undefined;
  plainSeen = undefined;
  const plain = isPlainNode(value);
  plainFirst = undefined;
  plainSeen = undefined;
  return plain;
}

function encodePlain(value: object): Encoded {
  const body = plainPackr.pack(value);
  const out = new Uint8Array(body.length + 1);
  out[0] = PLAIN_TAG;
  out.set(body, 1);
  return out;
}

/** Big-endian unsigned integer of `n` bytes (1, 2 or 4) at `at`. */
function readLength(bytes: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + bytes[at + i]!;
  return v;
}

/**
 * True when `bytes` is the tag followed by exactly one value in the MessagePack subset the plain encoder
 * writes (nil, booleans, numbers, strings, arrays, maps, and `undefined` as fixext 1 of type 0), and
 * nothing after it. The owner checks every tagged value it is given: a `get` reply splices those bytes
 * into its frame as they are (see `encodeReplyFrame`), so bytes that are not one such value (sent by a
 * broken or hostile client) would make the frame unreadable, or shift the inline values of other replies
 * in it. Walks the lengths only; allocates nothing.
 */
export function isPlainEncoding(bytes: Uint8Array): boolean {
  if (bytes[0] !== PLAIN_TAG) return false;
  const end = bytes.length;
  let at = 1;
  // Values still to read: each array item and each map key and value adds one; every value takes a byte.
  let pending = 1;
  while (pending > 0) {
    if (at >= end) return false;
    const b = bytes[at++]!;
    pending--;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;
    if (b >= 0xa0 && b <= 0xbf) at += b & 0x1f;
    else if (b >= 0x90 && b <= 0x9f) pending += b & 0x0f;
    else if (b >= 0x80 && b <= 0x8f) pending += 2 * (b & 0x0f);
    else {
      switch (b) {
        case 0xcc:
        case 0xd0:
          at += 1;
          break;
        case 0xcd:
        case 0xd1:
          at += 2;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          at += 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          at += 8;
          break;
        case 0xd9:
        case 0xda:
        case 0xdb: {
          const n = b === 0xd9 ? 1 : b === 0xda ? 2 : 4;
          if (at + n > end) return false;
          at += n + readLength(bytes, at, n);
          break;
        }
        case 0xdc:
        case 0xdd:
        case 0xde:
        case 0xdf: {
          const n = b === 0xdc || b === 0xde ? 2 : 4;
          if (at + n > end) return false;
          pending += (b >= 0xde ? 2 : 1) * readLength(bytes, at, n);
          at += n;
          break;
        }
        case 0xd4:
          // Only `undefined` (fixext 1, type 0); other extensions could change how the rest of a frame reads.
          if (at + 2 > end || bytes[at] !== 0) return false;
          at += 2;
          break;
        default:
          return false;
      }
    }
  }
  return at === end;
}

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
    if (typeof value === 'object' && value !== null && isPlain(value)) return encodePlain(value);
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
  if (bytes[0] === PLAIN_TAG) return plainPackr.unpack(bytes.subarray(1));
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
  if (bytes[0] === PLAIN_TAG) return plainPackr.unpack(bytes.subarray(1));
  return valuePackr.unpack(bytes.subarray(0));
}

/** The encoding of a plain number, used by counters in the owner. */
export function encodeNumber(n: number): Encoded {
  return valuePackr.pack(n);
}

/**
 * The encoding the same value had before plain encodings existed (structured clone for every object), or
 * null when `bytes` is not a plain encoding. Files of persistence format 1 (sharedkv 0.1) and data
 * left in Redis by it hold such bytes: compare-and-set accepts either form, so an upgrade does not make
 * equal values compare unequal.
 */
export function legacyEncoding(bytes: Encoded): Encoded | null {
  if (bytes[0] !== PLAIN_TAG) return null;
  return valuePackr.pack(plainPackr.unpack(bytes.subarray(1)));
}

/**
 * True when a stored encoding holds the value `expected` encodes, as compare-and-set needs it: the same
 * bytes, or a stored value in the older form of a plain value (see {@link legacyEncoding}).
 */
export function sameStored(stored: Encoded, expected: Encoded): boolean {
  if (sameBytes(stored, expected)) return true;
  if (stored[0] === PLAIN_TAG || expected[0] !== PLAIN_TAG) return false;
  const legacy = legacyEncoding(expected);
  return legacy !== null && sameBytes(stored, legacy);
}

/** True when two encodings are byte-for-byte equal (structural equality with the same key order). */
export function sameBytes(a: Encoded, b: Encoded): boolean {
  if (a.length !== b.length) return false;
  return Buffer.compare(a, b) === 0;
}
