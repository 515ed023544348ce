/**
 * Keeps Buffers Buffers across postMessage in the thread variant of the conformance RPC: structured clone
 * delivers a Buffer as a plain Uint8Array, which the suite would (rightly) see as a different value.
 */
import { deepMap, KEEP } from '../helpers/rpc.js';

const TAG = '__topologyBuffer';

/** Replaces every Buffer in `msg` by a marker holding its bytes. */
export function toPort(msg: unknown): unknown {
  return deepMap(msg, (v) => (Buffer.isBuffer(v) ? { [TAG]: new Uint8Array(v) } : KEEP));
}

/** Turns the markers of {@link toPort} back into Buffers. */
export function fromPort(msg: unknown): unknown {
  return deepMap(msg, (v) => {
    if (v !== null && typeof v === 'object' && (v as Record<string, unknown>)[TAG] instanceof Uint8Array) {
      const bytes = (v as Record<string, Uint8Array>)[TAG]!;
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    return KEEP;
  });
}
