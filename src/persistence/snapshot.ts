/**
 * Writing a snapshot without stalling clients: the engine's Map is walked in slices of at most
 * {@link SLICE_MS} of work, with `setImmediate` between slices so client I/O is served in between, and the
 * frames go to a temporary file through the thread pool.
 *
 * The walk sees the store as it is when each slice runs, not at one instant (a "fuzzy" snapshot). That is
 * enough because the log was rotated just before the walk started: every change made during the walk is
 * also in the new log segment, and replaying that segment over the snapshot sets each touched key to its
 * final state (SET and DEL carry absolute values, so replaying a change the snapshot already holds is
 * harmless). The caller installs the snapshot only after that segment is fsynced, so a crash can never
 * pair the snapshot with a log that lacks a change the snapshot saw.
 */
import { constants } from 'node:fs';
import { lockTable } from '../engine/commands/locks.js';
import type { Engine } from '../engine/engine.js';
import { FrameBuilder, fileHeader, SNAPSHOT_MAGIC } from './format.js';
import { io } from './writer.js';

/** Most time one slice of the walk may take, in ms (the event loop is free in between). */
export const SLICE_MS = 2;
/** Frames are written once they reach this size, in bytes. */
const FRAME_BYTES = 1 << 20;

/** The result of {@link writeSnapshot}. */
export interface SnapshotFile {
  /** Keys written. */
  keys: number;
  /** Size of the file, in bytes. */
  bytes: number;
}

/** Thrown when {@link writeSnapshot} is stopped (the owner is closing). */
export class SnapshotAborted extends Error {}

/**
 * Writes the engine's keys and its fencing-token counter to `path` (created or truncated, mode 0600) and fsyncs it.
 * `wall` gives wall-clock ms, to turn each ttl into an absolute expiry; `stopped` is polled between slices.
 *
 * @throws SnapshotAborted when `stopped()` turns true; the file system's errors as they come.
 */
export async function writeSnapshot(
  engine: Engine,
  path: string,
  wall: () => number,
  stopped: () => boolean,
): Promise<SnapshotFile> {
  const fd = await io.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC);
  try {
    const builder = new FrameBuilder();
    let bytes = 0;
    const flush = async () => {
      const frame = builder.seal();
      bytes += frame.length;
      await io.writeAll(fd, frame);
    };
    const header = fileHeader(SNAPSHOT_MAGIC);
    await io.writeAll(fd, header);
    bytes += header.length;
    let keys = 0;
    const entries = engine.data.entries();
    for (let done = false; !done; ) {
      if (stopped()) throw new SnapshotAborted('the owner is closing');
      const start = performance.now();
      const now = engine.now();
      const offset = wall() - now;
      // Check the clock every 64 keys: cheap, and a slice overruns its budget by 64 keys at most.
      for (let n = 0; ; n++) {
        if ((n & 63) === 63 && performance.now() - start >= SLICE_MS) break;
        const next = entries.next();
        if (next.done) {
          done = true;
          break;
        }
        const [key, e] = next.value;
        if (e.exp !== 0 && e.exp <= now) continue;
        builder.set(key, e.v, e.exp === 0 ? 0 : e.exp + offset);
        keys++;
        if (builder.bytes >= FRAME_BYTES) break;
      }
      if (builder.bytes >= FRAME_BYTES) await flush();
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
    // One FENCE record with an empty lock name holds the engine's token counter (older snapshots hold one
    // record per lock name; the loader takes the largest token either way).
    const lastToken = lockTable(engine).lastToken;
    if (lastToken > 0) builder.fence('', lastToken);
    builder.end(keys, wall());
    await flush();
    await io.fdatasync(fd);
    return { keys, bytes };
  } finally {
    await io.close(fd).catch(() => {});
  }
}
