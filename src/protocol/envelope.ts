/**
 * Messages between clients and the owner.
 *
 * A **frame** is one MessagePack array of items. A request item is `[id, command, args]`; a reply item
 * is `[id, status, result]` with status {@link OK}, {@link INLINE} or {@link ERR} (the result is then
 * `{ code, message, data }`), or `[0, PUSH, [kind, ...data]]` for messages the owner sends unasked. A reply
 * frame may carry values after the item list, for its {@link INLINE} items. Every request a client issues
 * in one tick travels in one frame, and the owner answers all the requests of a frame in one frame.
 * Request id 0 is fire-and-forget (no reply), used by `cancel`.
 *
 * Over process IPC every message is an object carrying the {@link MARKER} key, so sharedkv traffic and the
 * application's own messages share the channel without confusion: anything without the marker is ignored,
 * both ways.
 */
import { Packr } from 'msgpackr';
import { SharedKVError } from '../errors.js';

/** Protocol version; a peer with another major version is refused with `ERR_SHAREDKV_PROTOCOL`. */
export const PROTOCOL_VERSION = 2;

/** Key present on every sharedkv IPC message; its value is the message kind. */
export const MARKER = '__sharedkv';

/** Reply status: success. */
export const OK = 0;
/** Reply status: the result is a wire error. */
export const ERR = 1;
/** Status of an unsolicited item (id 0): the result is `[kind, ...data]` (pub/sub message, watch event). */
export const PUSH = 2;
/**
 * Reply status: success, and the result is the frame's next inline value (see {@link encodeReplyFrame});
 * the item's own result slot is null.
 */
export const INLINE = 3;

/** IPC message kinds. */
export type IpcKind = 'hello' | 'welcome' | 'frame' | 'bye';

/** A sharedkv message on a process IPC channel. */
export interface IpcMessage {
  [MARKER]: IpcKind;
  /** Protocol version (hello, welcome). */
  v?: number;
  /** Data path the client asks for (hello). */
  channel?: 'socket' | 'ipc';
  /** Sender pid (hello, welcome). */
  pid?: number;
  /** Unix socket the owner serves this client on (welcome, socket channel). */
  socket?: string;
  /** Token to present on the socket's first frame (welcome). */
  token?: string;
  /** Handshake refusal (welcome). */
  error?: { code: string; message: string };
  /** Base64 frame payload (frame). */
  d?: string;
}

/** True when `msg` is one of ours; everything else on the channel belongs to the application. */
export function isIpcMessage(msg: unknown): msg is IpcMessage {
  return msg !== null && typeof msg === 'object' && typeof (msg as Record<string, unknown>)[MARKER] === 'string';
}

/** Builds an IPC message. */
export function ipc(kind: IpcKind, fields: Omit<IpcMessage, typeof MARKER> = {}): IpcMessage {
  return { [MARKER]: kind, ...fields };
}

// Frames hold arrays of primitives and value bytes; plain MessagePack without records is the fastest here.
const framePackr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

/** Encodes a frame payload (no length prefix). */
export function encodeFrame(items: unknown[]): Buffer {
  return framePackr.pack(items);
}

/**
 * Encodes a reply frame: the items, then the MessagePack of each inline value, in the order of the items
 * with status {@link INLINE}. `inline` holds stored plain encodings (tag byte first, see `PLAIN_TAG` in
 * codec.ts); the tag is left out, so the client decodes each value with the frame itself, in the same
 * pass: no view onto the value's bytes and no decoder set up per value. That was ~40 % of what a client
 * spent decoding a `get` reply (a 4-field object: 600 vs 370 ns in a 64-reply frame).
 */
export function encodeReplyFrame(items: unknown[], inline: readonly Uint8Array[]): Buffer {
  const head = framePackr.pack(items);
  if (inline.length === 0) return head;
  let size = head.length;
  for (const bytes of inline) size += bytes.length - 1;
  const frame = Buffer.allocUnsafe(size);
  // Each value is copied whole, tag included, one byte before its place, last value first: its tag lands
  // on the last byte of the value before it, which is written next, and the first value's tag on the last
  // byte of the item list, written last. No view per value (a Buffer view costs more than the copy).
  let end = size;
  for (let i = inline.length - 1; i >= 0; i--) {
    const bytes = inline[i]!;
    end -= bytes.length - 1;
    frame.set(bytes, end - 1);
  }
  frame.set(head, 0);
  return frame;
}

/**
 * Decodes a reply frame made by {@link encodeReplyFrame}: element 0 is the item list, and the inline
 * values follow it.
 *
 * @throws SharedKVError `ERR_SHAREDKV_PROTOCOL` when the bytes are not a reply frame.
 */
export function decodeReplyFrame(payload: Uint8Array): unknown[] {
  let values: unknown[];
  try {
    values = framePackr.unpackMultiple(payload) as unknown[];
  } catch (err) {
    throw new SharedKVError('ERR_SHAREDKV_PROTOCOL', `Malformed frame: ${(err as Error).message}`);
  }
  if (!Array.isArray(values[0])) {
    throw new SharedKVError('ERR_SHAREDKV_PROTOCOL', 'Malformed frame: not a list of items');
  }
  return values;
}

/**
 * The items of a reply frame, each {@link INLINE} item turned into an {@link OK} item holding its value.
 * For tools and tests that read replies; the client resolves inline values in its receive loop instead,
 * without building new items.
 *
 * @throws SharedKVError `ERR_SHAREDKV_PROTOCOL` when the bytes are not a reply frame.
 */
export function decodeReplyItems(payload: Uint8Array): unknown[][] {
  const values = decodeReplyFrame(payload);
  let next = 1;
  return (values[0] as unknown[][]).map((item) => {
    if (item[1] !== INLINE) return item;
    if (next >= values.length)
      throw new SharedKVError('ERR_SHAREDKV_PROTOCOL', 'Malformed frame: an inline reply without its value');
    return [item[0], OK, values[next++]];
  });
}

/**
 * Decodes a frame payload into its items.
 *
 * @throws SharedKVError `ERR_SHAREDKV_PROTOCOL` when the bytes are not a frame.
 */
export function decodeFrame(payload: Uint8Array): unknown[] {
  let items: unknown;
  try {
    items = framePackr.unpack(payload);
  } catch (err) {
    throw new SharedKVError('ERR_SHAREDKV_PROTOCOL', `Malformed frame: ${(err as Error).message}`);
  }
  if (!Array.isArray(items)) throw new SharedKVError('ERR_SHAREDKV_PROTOCOL', 'Malformed frame: not a list of items');
  return items;
}
