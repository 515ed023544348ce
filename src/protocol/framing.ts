/**
 * Length-prefixed framing for stream sockets: each frame is a 4-byte big-endian length followed by that
 * many payload bytes. The reader refuses a declared length above its limit before buffering it, so a
 * hostile or broken peer cannot make it allocate without bound.
 */
import { SharedKVError } from '../errors.js';

/** Default maximum frame payload: 64 MiB. */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;

/** Writes one frame as a header and a payload (two buffers, no copy of the payload). */
export function frameHeader(length: number): Buffer {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(length, 0);
  return h;
}

/** Splits a byte stream into frame payloads. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1;

  constructor(private readonly maxFrame = DEFAULT_MAX_FRAME) {}

  /**
   * Feeds bytes and returns the complete payloads they finish.
   *
   * @throws SharedKVError `ERR_SHAREDKV_PROTOCOL` when a frame declares more than the limit.
   */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need === -1) {
        if (this.buffered < 4) break;
        const head = this.take(4);
        const n = head.readUInt32BE(0);
        if (n > this.maxFrame) {
          throw new SharedKVError(
            'ERR_SHAREDKV_PROTOCOL',
            `Frame of ${n} bytes exceeds the limit of ${this.maxFrame} bytes`,
            { length: n, limit: this.maxFrame },
          );
        }
        this.need = n;
      }
      if (this.buffered < this.need) break;
      // An empty frame has no chunk to take from; it is still a frame (the decoder refuses it).
      out.push(this.need === 0 ? Buffer.alloc(0) : this.take(this.need));
      this.need = -1;
    }
    return out;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pending(): number {
    return this.buffered;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}
