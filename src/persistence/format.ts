/**
 * The on-disk format shared by log segments and snapshots (see docs/persistence.md for the full layout).
 *
 * A file is a 16-byte header (8-byte magic, u32 format version, u32 CRC-32 of the first 12 bytes) and then
 * frames. A frame is a 12-byte header (u32 payload length, u32 CRC-32 of the payload, u32 CRC-32 of the
 * first 8 header bytes) and a payload of operations. The header has its own checksum so that a damaged
 * length is recognised as damage, instead of sending the reader past the end of the file (where it would
 * look like a torn tail and silently drop every good frame after it).
 *
 * The log writes one frame per group commit (every change of one event-loop turn), so a transaction, whose
 * changes are all announced in the same turn, lands in one frame: a torn or damaged frame drops it whole.
 * All integers are little-endian.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';

/** Magic of a log segment file. */
export const LOG_MAGIC = 'SKV-LOG\n';
/** Magic of a snapshot file. */
export const SNAPSHOT_MAGIC = 'SKV-SNP\n';
/**
 * Version of the format written. 2 added plain value encodings (see `PLAIN_TAG` in protocol/codec.ts); the
 * file layout is the same as 1's.
 */
export const FORMAT_VERSION = 2;
/**
 * Oldest version a reader accepts: version 1 files hold only the structured value encoding, which is still
 * read. A reader refuses versions outside this range, so an older sharedkv refuses a version 2 file
 * instead of failing later on values it cannot decode.
 */
export const OLDEST_FORMAT_VERSION = 1;
/** Bytes of the file header. */
export const FILE_HEADER_BYTES = 16;
/** Bytes of a frame header. */
export const FRAME_HEADER_BYTES = 12;

/** `SET key wallExpiry value`: the key now holds `value`; expiry in wall-clock ms since the epoch, 0 for none. */
export const OP_SET = 1;
/** `DEL key`: the key is gone (deleted, expired or evicted). */
export const OP_DEL = 2;
/**
 * `FENCE lock token`: the owner's fencing-token counter reached `token` (the log names the lock granted; a
 * snapshot writes one record with an empty name). Tokens must keep growing across restarts, so the loader
 * continues from the largest token of any record.
 */
export const OP_FENCE = 3;
/** `END keys time`: the last operation of a complete snapshot (its key count and wall-clock time). */
export const OP_END = 4;

/** The 16-byte header of a file with `magic`. */
export function fileHeader(magic: string): Buffer {
  const b = Buffer.alloc(FILE_HEADER_BYTES);
  b.write(magic, 0, 'latin1');
  b.writeUInt32LE(FORMAT_VERSION, 8);
  b.writeUInt32LE(crc32(b.subarray(0, 12)), 12);
  return b;
}

/** The format version a file header declares (check it with {@link checkFileHeader} first). */
export function headerVersion(b: Buffer): number {
  return b.readUInt32LE(8);
}

/** Why a file header is not acceptable, or null when it is. */
export function checkFileHeader(b: Buffer, magic: string): string | null {
  if (b.length < FILE_HEADER_BYTES) return 'incomplete file header';
  if (b.toString('latin1', 0, 8) !== magic) return `not a sharedkv ${magic === LOG_MAGIC ? 'log' : 'snapshot'} file`;
  if (b.readUInt32LE(12) !== crc32(b.subarray(0, 12))) return 'bad file header checksum';
  const version = b.readUInt32LE(8);
  if (version < OLDEST_FORMAT_VERSION || version > FORMAT_VERSION) {
    return `format version ${version}, this sharedkv reads versions ${OLDEST_FORMAT_VERSION} to ${FORMAT_VERSION}`;
  }
  return null;
}

/**
 * Builds the payload of one frame, operation by operation, in a reused growable buffer. {@link seal}
 * copies the frame out, so the work buffer is never shared with I/O in flight.
 */
export class FrameBuilder {
  private buf = Buffer.allocUnsafe(16 * 1024);
  private len = FRAME_HEADER_BYTES;
  /** Operations in the frame being built. */
  ops = 0;

  /** Payload bytes so far. */
  get bytes(): number {
    return this.len - FRAME_HEADER_BYTES;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Writes a u32 length and the UTF-8 bytes of `s`; the caller reserved room for both. */
  private string(s: string): void {
    const n = this.buf.write(s, this.len + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.len);
    this.len += 4 + n;
  }

  /** Appends `SET`. `wallExp` is the absolute wall-clock expiry in ms, 0 for none. */
  set(key: string, value: Uint8Array, wallExp: number): void {
    // A UTF-16 code unit takes at most 3 UTF-8 bytes.
    this.ensure(1 + 4 + key.length * 3 + 8 + 4 + value.length);
    this.buf[this.len++] = OP_SET;
    this.string(key);
    this.buf.writeDoubleLE(wallExp, this.len);
    this.buf.writeUInt32LE(value.length, this.len + 8);
    this.buf.set(value, this.len + 12);
    this.len += 12 + value.length;
    this.ops++;
  }

  /** Appends `DEL`. */
  del(key: string): void {
    this.ensure(1 + 4 + key.length * 3);
    this.buf[this.len++] = OP_DEL;
    this.string(key);
    this.ops++;
  }

  /** Appends `FENCE`. */
  fence(lock: string, token: number): void {
    this.ensure(1 + 4 + lock.length * 3 + 8);
    this.buf[this.len++] = OP_FENCE;
    this.string(lock);
    this.buf.writeDoubleLE(token, this.len);
    this.len += 8;
    this.ops++;
  }

  /** Appends `END` (snapshots only). */
  end(keys: number, time: number): void {
    this.ensure(17);
    this.buf[this.len++] = OP_END;
    this.buf.writeDoubleLE(keys, this.len);
    this.buf.writeDoubleLE(time, this.len + 8);
    this.len += 16;
    this.ops++;
  }

  /** Returns the finished frame (header and payload, a fresh buffer) and empties the builder. */
  seal(): Buffer {
    const payload = this.buf.subarray(FRAME_HEADER_BYTES, this.len);
    const frame = Buffer.allocUnsafe(this.len);
    frame.writeUInt32LE(payload.length, 0);
    frame.writeUInt32LE(crc32(payload), 4);
    frame.writeUInt32LE(crc32(frame.subarray(0, 8)), 8);
    payload.copy(frame, FRAME_HEADER_BYTES);
    this.len = FRAME_HEADER_BYTES;
    this.ops = 0;
    // A huge transaction grew the work buffer: let it go rather than keep it for the life of the process.
    if (this.buf.length > 4 * 1024 * 1024) this.buf = Buffer.allocUnsafe(16 * 1024);
    return frame;
  }
}

/** One operation read back from a frame. */
export type Op =
  | { op: typeof OP_SET; key: string; value: Buffer; wallExp: number }
  | { op: typeof OP_DEL; key: string }
  | { op: typeof OP_FENCE; lock: string; token: number }
  | { op: typeof OP_END; keys: number; time: number };

/**
 * Decodes the operations of a payload whose checksum already matched.
 *
 * @throws Error when the payload is malformed (a bug or another version wrote it); the caller reports it
 * as corruption.
 */
export function* decodeOps(payload: Buffer): Generator<Op> {
  let p = 0;
  const need = (n: number) => {
    if (p + n > payload.length) throw new Error(`operation runs past the end of its frame at byte ${p}`);
  };
  const string = () => {
    need(4);
    const n = payload.readUInt32LE(p);
    need(4 + n);
    const s = payload.toString('utf8', p + 4, p + 4 + n);
    p += 4 + n;
    return s;
  };
  while (p < payload.length) {
    const op = payload[p++];
    if (op === OP_SET) {
      const key = string();
      need(12);
      const wallExp = payload.readDoubleLE(p);
      const n = payload.readUInt32LE(p + 8);
      p += 12;
      need(n);
      // A copy: the stored value must not pin the reader's whole window in memory.
      const value = Buffer.from(payload.subarray(p, p + n));
      p += n;
      yield { op, key, value, wallExp };
    } else if (op === OP_DEL) {
      yield { op, key: string() };
    } else if (op === OP_FENCE) {
      const lock = string();
      need(8);
      const token = payload.readDoubleLE(p);
      p += 8;
      yield { op, lock, token };
    } else if (op === OP_END) {
      need(16);
      const keys = payload.readDoubleLE(p);
      const time = payload.readDoubleLE(p + 8);
      p += 16;
      yield { op, keys, time };
    } else {
      throw new Error(`unknown operation ${op} at byte ${p - 1}`);
    }
  }
}

/** Where and why reading a file stopped before its end. */
export interface FrameFault {
  /** Offset of the first byte of the bad frame; everything before it is good. */
  offset: number;
  /** What was wrong, for the error message. */
  reason: string;
  /**
   * True when the damage can only be an interrupted append: an incomplete header or frame at the end, a
   * zero-filled tail, or a bad checksum on the very last frame. False for damage with good data after it.
   */
  torn: boolean;
}

/** The result of {@link readFrames}. */
export interface FrameScan {
  /** Size of the file in bytes. */
  size: number;
  /** Offset just past the last good frame. */
  end: number;
  /** Good frames read. */
  frames: number;
  /** Set when the file did not end cleanly with a good frame. */
  fault: FrameFault | null;
}

/**
 * Reads a file frame by frame through a window of `window` bytes (a frame larger than the window gets a
 * buffer of its own), handing each good payload to `onPayload`. Stops at the first bad frame and says
 * whether it is a torn tail or damage in the middle; the header is checked by the caller first.
 *
 * @throws Error from `onPayload` (with `.offset` set to the frame's offset) or from the file system.
 */
export function readFrames(
  path: string,
  start: number,
  onPayload: (payload: Buffer, offset: number) => void,
  window = 1 << 20,
): FrameScan {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    let buf = Buffer.allocUnsafe(window);
    let bufStart = start; // File offset of buf[0].
    let bufLen = 0;
    let pos = start;
    let frames = 0;
    /** Makes bytes [pos, pos + n) available in buf; false when the file ends first. */
    const have = (n: number): boolean => {
      if (pos + n > size) return false;
      if (pos + n <= bufStart + bufLen) return true;
      const keep = bufStart + bufLen - pos;
      if (n > buf.length) {
        const bigger = Buffer.allocUnsafe(n);
        buf.copy(bigger, 0, pos - bufStart, pos - bufStart + keep);
        buf = bigger;
      } else {
        buf.copy(buf, 0, pos - bufStart, pos - bufStart + keep);
      }
      bufStart = pos;
      bufLen = keep;
      while (bufLen < n) {
        const got = readSync(
          fd,
          buf,
          bufLen,
          Math.min(buf.length - bufLen, size - (bufStart + bufLen)),
          bufStart + bufLen,
        );
        if (got === 0) return false;
        bufLen += got;
      }
      return true;
    };
    const fault = (reason: string, torn: boolean): FrameScan => ({
      size,
      end: pos,
      frames,
      fault: { offset: pos, reason, torn },
    });
    while (pos < size) {
      if (!have(FRAME_HEADER_BYTES)) return fault('incomplete frame header at the end of the file', true);
      const h = pos - bufStart;
      const length = buf.readUInt32LE(h);
      const sum = buf.readUInt32LE(h + 4);
      if (buf.readUInt32LE(h + 8) !== crc32(buf.subarray(h, h + 8))) {
        // Zeros where a frame should start: the file was extended but the data never reached the disk.
        if (zerosFrom(fd, pos, size)) return fault('zero-filled tail', true);
        return fault('bad frame header checksum', false);
      }
      if (!have(FRAME_HEADER_BYTES + length)) return fault('incomplete frame at the end of the file', true);
      const p = pos - bufStart + FRAME_HEADER_BYTES;
      const payload = buf.subarray(p, p + length);
      if (crc32(payload) !== sum) {
        const last = pos + FRAME_HEADER_BYTES + length === size;
        return fault(last ? 'bad checksum on the last frame' : 'bad frame checksum', last);
      }
      try {
        onPayload(payload, pos);
      } catch (err) {
        Object.assign(err as object, { offset: pos });
        throw err;
      }
      pos += FRAME_HEADER_BYTES + length;
      frames++;
    }
    return { size, end: pos, frames, fault: null };
  } finally {
    closeSync(fd);
  }
}

function zerosFrom(fd: number, from: number, size: number): boolean {
  const chunk = Buffer.allocUnsafe(64 * 1024);
  for (let pos = from; pos < size; ) {
    const got = readSync(fd, chunk, 0, Math.min(chunk.length, size - pos), pos);
    if (got === 0) return true;
    for (let i = 0; i < got; i++) if (chunk[i] !== 0) return false;
    pos += got;
  }
  return true;
}
