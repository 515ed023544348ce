/**
 * Messages between clients and the owner.
 *
 * A **frame** is one MessagePack array of items. A request item is `[id, command, args]`; a reply item
 * is `[id, status, result]` with status {@link OK} or {@link ERR} (the result is then `{ code, message,
 * data }`), or `[0, PUSH, [kind, ...data]]` for messages the owner sends unasked. Every request a client issues in one tick travels in one frame, and the owner answers all the
 * requests of a frame in one frame. Request id 0 is fire-and-forget (no reply), used by `cancel`.
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
