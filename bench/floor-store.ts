/**
 * The floor of sharedkv's own design: the least a store owned by one process and reached over a Unix
 * socket can do per call, with nothing a library needs on top. Each tick's calls leave in one write, the
 * owner answers each read with one write, the frames are a few hand-packed bytes, and values are JSON
 * text the owner keeps as bytes. There is no validation, no error path, no timeout, no TTL, no namespace
 * and no reconnect: a wrong byte would take it down. It exists to be measured beside sharedkv in the same
 * run, to show how much of sharedkv's time is the library and how much is the processes, the socket and
 * the kernel that every such design pays (issue 8 asks for ratios that depend on that split).
 *
 * Request frame: u32 length, u8 op, u32 id, u16 key length, key (UTF-8), value (JSON, set and incr).
 * Reply frame: u32 length, u32 id, value (JSON; empty for a missing key).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BenchStore } from './stores.js';

const GET = 1;
const SET = 2;
const INCR = 3;
const DEL = 4;

/** The owner side: the data and the socket the workers dial. */
export interface FloorServer {
  /** Socket path, handed to the workers through their environment. */
  readonly socket: string;
  /** Reads a counter after the workers stop. */
  readNumber(key: string): number | undefined;
  close(): Promise<void>;
}

const TRUE = Buffer.from('true');

/** Starts the owner side in a fresh private directory. */
export async function serveFloorStore(): Promise<FloorServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sharedkv-floor-'));
  const socket = path.join(dir, 'floor.sock');
  const data = new Map<string, Buffer>();
  const run = (op: number, key: string, value: Buffer): Buffer | undefined => {
    switch (op) {
      case GET:
        return data.get(key);
      case SET:
        data.set(key, Buffer.from(value));
        return TRUE;
      case INCR: {
        const old = data.get(key);
        const next = Buffer.from(String((old ? Number(old.toString()) : 0) + Number(value.toString())));
        data.set(key, next);
        return next;
      }
      case DEL:
        return Buffer.from(data.delete(key) ? '1' : '0');
      default:
        throw new Error(`floor store: unknown op ${op}`);
    }
  };
  const server = net.createServer((conn) => {
    let pending: Buffer = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      let off = 0;
      while (buf.length - off >= 4) {
        const len = buf.readUInt32LE(off);
        if (buf.length - off < 4 + len) break;
        const op = buf[off + 4]!;
        const id = buf.readUInt32LE(off + 5);
        const keyLen = buf.readUInt16LE(off + 9);
        const key = buf.toString('utf8', off + 11, off + 11 + keyLen);
        const value = run(op, key, buf.subarray(off + 11 + keyLen, off + 4 + len));
        const head = Buffer.allocUnsafe(8);
        head.writeUInt32LE(4 + (value?.length ?? 0), 0);
        head.writeUInt32LE(id, 4);
        out.push(head);
        if (value) out.push(value);
        off += 4 + len;
      }
      pending = buf.subarray(off);
      if (out.length > 0) conn.write(Buffer.concat(out));
    });
    conn.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  return {
    socket,
    readNumber: (key) => {
      const v = data.get(key);
      return v === undefined ? undefined : Number(v.toString());
    },
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The worker side: one promise per call, one write per tick. */
export class FloorClient implements BenchStore {
  private readonly conn: net.Socket;
  private readonly calls = new Map<number, (reply: Buffer | undefined) => void>();
  private queue: Buffer[] = [];
  private scheduled = false;
  private nextId = 1;
  private pending: Buffer = Buffer.alloc(0);

  private constructor(conn: net.Socket) {
    this.conn = conn;
    conn.on('data', (chunk: Buffer) => this.receive(chunk));
  }

  /** Dials the owner at `socket`. */
  static async connect(socket: string): Promise<FloorClient> {
    const conn = net.connect(socket);
    await new Promise<void>((resolve, reject) => {
      conn.once('connect', resolve);
      conn.once('error', reject);
    });
    return new FloorClient(conn);
  }

  private receive(chunk: Buffer): void {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32LE(off);
      if (buf.length - off < 4 + len) break;
      const id = buf.readUInt32LE(off + 4);
      const resolve = this.calls.get(id);
      this.calls.delete(id);
      resolve?.(len > 4 ? buf.subarray(off + 8, off + 4 + len) : undefined);
      off += 4 + len;
    }
    this.pending = buf.subarray(off);
  }

  private call(op: number, key: string, value?: string): Promise<Buffer | undefined> {
    const id = this.nextId++;
    const keyLen = Buffer.byteLength(key);
    const valueLen = value === undefined ? 0 : Buffer.byteLength(value);
    const frame = Buffer.allocUnsafe(11 + keyLen + valueLen);
    frame.writeUInt32LE(7 + keyLen + valueLen, 0);
    frame[4] = op;
    frame.writeUInt32LE(id, 5);
    frame.writeUInt16LE(keyLen, 9);
    frame.write(key, 11);
    if (value !== undefined) frame.write(value, 11 + keyLen);
    this.queue.push(frame);
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.flush());
    }
    return new Promise((resolve) => this.calls.set(id, resolve));
  }

  private flush(): void {
    this.scheduled = false;
    const frames = this.queue;
    this.queue = [];
    this.conn.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  async get(key: string): Promise<unknown> {
    const reply = await this.call(GET, key);
    return reply === undefined ? undefined : JSON.parse(reply.toString());
  }

  async set(key: string, value: unknown): Promise<unknown> {
    await this.call(SET, key, JSON.stringify(value));
    return true;
  }

  async incr(key: string, by = 1): Promise<number> {
    return Number((await this.call(INCR, key, String(by)))!.toString());
  }

  async del(key: string): Promise<unknown> {
    return Number((await this.call(DEL, key))!.toString());
  }

  async close(): Promise<void> {
    this.conn.end();
  }
}
