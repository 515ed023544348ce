/** A raw socket peer for protocol edge cases: writes whatever bytes it is given and collects the replies. */
import { once } from 'node:events';
import net from 'node:net';
import { decodeReplyFrame, decodeReplyItems, encodeFrame, PROTOCOL_VERSION } from '../../src/protocol/envelope.js';
import { FrameReader, frameHeader } from '../../src/protocol/framing.js';

/** A connected raw peer. */
export interface RawPeer {
  socket: net.Socket;
  /** Items of every frame received so far (inline replies as OK items holding their value). */
  items: unknown[][];
  /** Every frame received so far as sent: its item list, then its inline values. */
  frames: unknown[][];
  /** Writes one well-formed frame of `items`. */
  frame(items: unknown[]): void;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
}

/** Connects to `path` without any handshake. */
export async function raw(path: string): Promise<RawPeer> {
  const socket = net.createConnection(path);
  await once(socket, 'connect');
  const reader = new FrameReader(1 << 30);
  const items: unknown[][] = [];
  const frames: unknown[][] = [];
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const f of reader.push(chunk)) {
        frames.push(decodeReplyFrame(f));
        items.push(...decodeReplyItems(f));
      }
    } catch {
      // The peer under test only cares that the server answers or closes.
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    items,
    frames,
    frame(list) {
      const payload = encodeFrame(list);
      socket.write(Buffer.concat([frameHeader(payload.length), payload]));
    },
    closed,
  };
}

/** The `hello` request item. */
export function hello(token?: string): unknown[] {
  return [1, 'hello', [{ v: PROTOCOL_VERSION, ...(token === undefined ? {} : { token }) }]];
}

/** The error codes the server sent about the connection itself (id 0). */
export function connectionErrors(items: unknown[][]): string[] {
  return items.filter((i) => i[0] === 0 && i[1] === 1).map((i) => (i[2] as { code: string }).code);
}
