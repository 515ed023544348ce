/**
 * The IPC handshake of a cluster worker or forked child: it says `hello` to its parent until the owner
 * answers `welcome`, so start-up order never matters (a worker may connect before the primary has called
 * `connect()`); past the deadline it fails with an error that says what to do.
 */
import { SharedKVError } from '../errors.js';
import { type IpcMessage, ipc, isIpcMessage, PROTOCOL_VERSION } from '../protocol/envelope.js';

/** Interval between hellos while the owner is not answering, in ms. */
const RETRY_MS = 100;

/** Says hello to the parent process until it answers; resolves with its welcome. */
export function handshake(channel: 'socket' | 'ipc', deadlineMs: number): Promise<IpcMessage> {
  return new Promise((resolve, reject) => {
    const send = () => {
      if (!process.connected || !process.send) return;
      try {
        process.send(ipc('hello', { v: PROTOCOL_VERSION, channel, pid: process.pid }), undefined, undefined, () => {});
      } catch {
        // The disconnect handler reports it.
      }
    };
    const done = () => {
      clearInterval(retry);
      clearTimeout(deadline);
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
    };
    const onMessage = (msg: unknown) => {
      if (!isIpcMessage(msg) || msg.__sharedkv !== 'welcome') return;
      done();
      if (msg.error) reject(SharedKVError.fromWire(msg.error));
      else resolve(msg);
    };
    const onDisconnect = () => {
      done();
      reject(
        new SharedKVError('ERR_SHAREDKV_DISCONNECTED', 'The IPC channel to the parent closed during the handshake'),
      );
    };
    if (!process.send || !process.connected) {
      reject(
        new SharedKVError(
          'ERR_SHAREDKV_NO_OWNER',
          'This process has no IPC channel to a parent; call connect() without role "client" to own the store here',
        ),
      );
      return;
    }
    process.on('message', onMessage);
    process.on('disconnect', onDisconnect);
    const retry = setInterval(send, RETRY_MS);
    const deadline = setTimeout(() => {
      done();
      reject(
        new SharedKVError(
          'ERR_SHAREDKV_NO_OWNER',
          `No sharedkv owner answered within ${deadlineMs} ms. Call connect() in the cluster primary (or in the parent, and pass the child to kv.attach()), or raise the readyTimeout option`,
          { readyTimeout: deadlineMs },
        ),
      );
    }, deadlineMs);
    send();
  });
}
