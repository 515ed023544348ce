/**
 * The one interface every transport implements, on each side. A transport moves frame payloads (see
 * `protocol/envelope.ts`); it knows nothing about commands.
 */
import type { SharedKVError } from '../errors.js';

/** Client side: a connection to the owner. */
export interface Channel {
  /** Which transport this is, for stats and errors: a worker thread's MessagePort is `thread`. */
  readonly kind: 'socket' | 'ipc' | 'thread';
  /** Sends one frame payload. */
  send(payload: Buffer): void;
  /** Closes the channel; `onClose` is called once. */
  close(): void;
  /** Receives each frame payload from the owner. */
  onFrame: (payload: Buffer) => void;
  /** Called once when the channel is gone, with the reason. */
  onClose: (reason: SharedKVError) => void;
}

/** Owner side: one connected peer. */
export interface PeerLink {
  /** Describes the peer (transport and pid) for stats and errors. */
  readonly label: string;
  /** Sends one frame payload; must never throw, even when the peer has just died. */
  send(payload: Buffer): void;
  /** Drops the peer. */
  close(): void;
}
