/**
 * Process IPC transport (`process.send` between a cluster primary and its workers, or a parent and the
 * children it forked). Frames travel base64-encoded inside marked messages, so the application's own
 * messages on the same channel are never touched. Used for the handshake always, and for data when the
 * client asks for `channel: 'ipc'`.
 */
import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:cluster';
import { SharedKVError } from '../errors.js';
import { type IpcMessage, ipc, isIpcMessage } from '../protocol/envelope.js';
import type { Channel, PeerLink } from './transport.js';

/** The owner's view of a process at the other end of an IPC channel (a cluster worker or a child). */
export interface IpcPeer {
  readonly pid: number | undefined;
  send(msg: IpcMessage): void;
  connected(): boolean;
}

/** Wraps a cluster worker. Sending never throws: a worker that just died is simply skipped. */
export function workerPeer(worker: Worker): IpcPeer {
  return {
    pid: worker.process.pid,
    connected: () => worker.isConnected(),
    send(msg) {
      if (!worker.isConnected()) return;
      try {
        // The callback receives ERR_IPC_CHANNEL_CLOSED instead of an 'error' event that would crash us.
        worker.send(msg, undefined, ignore);
      } catch {
        // Channel closed between the check and the send: the exit handler cleans up.
      }
    },
  };
}

/** Wraps a forked child. */
export function childPeer(child: ChildProcess): IpcPeer {
  return {
    pid: child.pid,
    connected: () => child.connected,
    send(msg) {
      if (!child.connected) return;
      try {
        child.send(msg, undefined, undefined, ignore);
      } catch {
        // See workerPeer.
      }
    },
  };
}

function ignore(): void {}

/** Owner side: a data link over a peer's IPC channel. */
export function ipcLink(peer: IpcPeer, label: string, onClose: () => void): PeerLink {
  return {
    label,
    send(payload) {
      peer.send(ipc('frame', { d: payload.toString('base64') }));
    },
    close: onClose,
  };
}

/** Client side: the frames of this process's IPC channel with its parent, as a {@link Channel}. */
export function processChannel(): Channel {
  const onMessage = (msg: unknown) => {
    if (isIpcMessage(msg) && msg.__sharedkv === 'frame' && typeof msg.d === 'string') {
      channel.onFrame(Buffer.from(msg.d, 'base64'));
    }
  };
  const onDisconnect = () => {
    cleanup();
    channel.onClose(new SharedKVError('ERR_SHAREDKV_DISCONNECTED', 'The IPC channel to the owner closed'));
  };
  const cleanup = () => {
    process.off('message', onMessage);
    process.off('disconnect', onDisconnect);
  };
  const channel: Channel = {
    kind: 'ipc',
    send(payload) {
      if (!process.connected || !process.send) return;
      try {
        process.send(ipc('frame', { d: payload.toString('base64') }), undefined, undefined, ignore);
      } catch {
        // The disconnect handler rejects the pending calls.
      }
    },
    close() {
      cleanup();
      channel.onClose(new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed'));
    },
    onFrame: () => {},
    onClose: () => {},
  };
  process.on('message', onMessage);
  process.on('disconnect', onDisconnect);
  return channel;
}
