/**
 * Loading a persistence directory: the newest snapshot, then every log segment after it, in order.
 *
 * - A torn tail (an append cut short by a crash: incomplete frame, zero-filled tail, bad checksum on the
 *   very last frame of the last segment) is cut off, and the number of bytes dropped is logged and reported.
 * - Damage anywhere else (a bad frame with good data after it, a damaged snapshot, a missing segment)
 *   refuses to start with `ERR_SHAREDKV_CORRUPT`, because silently skipping it would resurrect deleted keys
 *   or lose acknowledged writes. With `repair`, the log is instead cut at the first bad frame and every
 *   later segment removed, and the report says how many bytes went.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { SharedKVError } from '../errors.js';
import {
  checkFileHeader,
  decodeOps,
  FILE_HEADER_BYTES,
  FORMAT_VERSION,
  fileHeader,
  headerVersion,
  LOG_MAGIC,
  OP_DEL,
  OP_END,
  OP_FENCE,
  OP_SET,
  readFrames,
  SNAPSHOT_MAGIC,
} from './format.js';

const log = debuglog('sharedkv');

/** A key as read from disk: value bytes and absolute wall-clock expiry (ms since the epoch, 0 = none). */
export interface StoredEntry {
  v: Buffer;
  wallExp: number;
}

/** What {@link loadDir} says about the files it read (also logged with `NODE_DEBUG=sharedkv`). */
export interface LoadReport {
  /** Live keys loaded. */
  keys: number;
  /** Keys skipped because their ttl passed while the owner was down. */
  expired: number;
  /** The last fencing token issued before the restart (0 when none): every token from now on is larger. */
  fence: number;
  /** File name of the snapshot loaded, or null when there was none. */
  snapshot: string | null;
  /** File names of the log segments replayed, oldest first. */
  segments: string[];
  /** Log frames (group commits) replayed. */
  frames: number;
  /** Bytes cut off the end of the log: a torn tail, or everything after the first bad frame with `repair`. */
  droppedBytes: number;
  /** Where the log was cut with `repair` ({ file, offset, reason }), or null when nothing was repaired. */
  repaired: { file: string; offset: number; reason: string } | null;
  /** Time taken to load, in ms. */
  ms: number;
}

/** Everything the loader found, for the persistence layer to install and to continue appending. */
export interface Loaded {
  data: Map<string, StoredEntry>;
  /** The largest fencing token found (0 when none). */
  fence: number;
  report: LoadReport;
  /** Generation of the segment to append to (it may not exist yet). */
  gen: number;
  /** Its size after any truncation, in bytes; below the header size it must be (re)created. */
  size: number;
  /** Bytes of the loaded snapshot, and of the log segments after it (compaction is sized on them). */
  snapshotBytes: number;
  logBytes: number;
}

/** Name of the log segment of generation `gen`. */
export function logName(gen: number): string {
  return `log-${String(gen).padStart(6, '0')}.skv`;
}

/** Name of the snapshot of generation `gen` (the state before `logName(gen)`). */
export function snapshotName(gen: number): string {
  return `snapshot-${String(gen).padStart(6, '0')}.skv`;
}

/** The generations of the snapshots and log segments present in `dir`, each sorted ascending. */
export function listGenerations(dir: string): { snapshots: number[]; logs: number[]; temps: string[] } {
  const snapshots: number[] = [];
  const logs: number[] = [];
  const temps: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = /^(log|snapshot)-(\d+)\.skv$/.exec(name);
    if (m) (m[1] === 'log' ? logs : snapshots).push(Number(m[2]));
    else if (/^snapshot-\d+\.skv\.tmp$/.test(name)) temps.push(name);
  }
  const up = (a: number, b: number) => a - b;
  return { snapshots: snapshots.sort(up), logs: logs.sort(up), temps };
}

function corrupt(file: string, offset: number, reason: string, extra = ''): SharedKVError {
  return new SharedKVError(
    'ERR_SHAREDKV_CORRUPT',
    `Persistence file ${file} is damaged at byte ${offset} (${reason}); the owner refuses to start on it.${extra} ` +
      'Start with persist: { repair: true } to cut the log at the first bad record (the report says how many ' +
      'bytes are dropped), or restore the directory from a backup.',
    { file, offset, reason },
  );
}

function readHeader(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(FILE_HEADER_BYTES);
    const n = readSync(fd, b, 0, FILE_HEADER_BYTES, 0);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Rewrites the header of the segment about to be appended to when an older format version wrote it: what
 * is appended now may use encodings that version cannot read, and its readers must refuse the file rather
 * than fail on a value later. 16 bytes in one write at offset 0, then fsync.
 */
function upgradeHeader(path: string): void {
  if (headerVersion(readHeader(path)) === FORMAT_VERSION) return;
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, fileHeader(LOG_MAGIC), 0, FILE_HEADER_BYTES, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  log('persistence: %s now declares format version %d', path, FORMAT_VERSION);
}

function truncate(path: string, size: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

function fileSize(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads `dir` (which must exist): the newest snapshot and the log segments after it. Removes leftovers of
 * interrupted snapshots and of finished compactions, and truncates a torn tail. `wallNow` is the
 * wall-clock time in ms used to drop keys whose ttl passed while the owner was down.
 *
 * @throws SharedKVError `ERR_SHAREDKV_CORRUPT` when a file is damaged other than by a torn tail (unless
 * `repair`).
 */
export function loadDir(dir: string, options: { repair: boolean; wallNow: number }): Loaded {
  const t0 = performance.now();
  const { snapshots, logs, temps } = listGenerations(dir);
  // A snapshot that was still being written when the owner stopped: the one before it is intact.
  for (const t of temps) unlinkSync(join(dir, t));
  const base = snapshots.at(-1) ?? 0;
  // Leftovers of a compaction that finished its rename but not its clean-up: superseded by `base`.
  for (const g of snapshots) if (g < base) unlinkSync(join(dir, snapshotName(g)));
  for (const g of logs) if (g < base) unlinkSync(join(dir, logName(g)));
  const segments = logs.filter((g) => g >= base);

  const data = new Map<string, StoredEntry>();
  // Tokens come from one counter per owner: the largest token recorded is where it continues. Files from
  // before that (one FENCE record per lock name) are read the same way.
  let fence = 0;
  const report: LoadReport = {
    keys: 0,
    expired: 0,
    fence: 0,
    snapshot: null,
    segments: [],
    frames: 0,
    droppedBytes: 0,
    repaired: null,
    ms: 0,
  };
  const apply = (payload: Buffer, ended: { done: boolean; keys: number } | null) => {
    for (const op of decodeOps(payload)) {
      if (ended?.done) throw new Error('operations after the end of the snapshot');
      if (op.op === OP_SET) {
        data.set(op.key, { v: op.value, wallExp: op.wallExp });
        if (ended) ended.keys++;
      } else if (op.op === OP_DEL) {
        data.delete(op.key);
      } else if (op.op === OP_FENCE) {
        if (op.token > fence) fence = op.token;
      } else if (op.op === OP_END) {
        if (!ended) throw new Error('a snapshot end marker inside a log');
        if (op.keys !== ended.keys) throw new Error(`snapshot says ${op.keys} keys, holds ${ended.keys}`);
        ended.done = true;
      }
    }
  };
  /** Cuts the log at `offset` of segment `index` (repair), removing every later segment. */
  const cut = (index: number, offset: number, reason: string) => {
    const name = logName(segments[index]!);
    const path = join(dir, name);
    let dropped = fileSize(path) - offset;
    truncate(path, offset);
    for (const g of segments.splice(index + 1)) {
      dropped += fileSize(join(dir, logName(g)));
      unlinkSync(join(dir, logName(g)));
    }
    report.droppedBytes += dropped;
    report.repaired = { file: name, offset, reason };
    log('persistence: repair cut %s at byte %d (%s), dropping %d bytes', name, offset, reason, dropped);
  };

  let snapshotBytes = 0;
  if (base > 0) {
    const name = snapshotName(base);
    const path = join(dir, name);
    report.snapshot = name;
    snapshotBytes = statSync(path).size;
    const bad = checkFileHeader(readHeader(path), SNAPSHOT_MAGIC);
    if (bad) {
      if (!options.repair) throw corrupt(name, 0, bad);
      report.repaired = { file: name, offset: 0, reason: bad };
    } else {
      const ended = { done: false, keys: 0 };
      let scan: ReturnType<typeof readFrames>;
      try {
        scan = readFrames(path, FILE_HEADER_BYTES, (p) => apply(p, ended));
      } catch (err) {
        const offset = (err as { offset?: number }).offset ?? 0;
        if (!options.repair || offset === 0) throw corrupt(name, offset, (err as Error).message);
        scan = {
          size: snapshotBytes,
          end: offset,
          frames: 0,
          fault: { offset, reason: (err as Error).message, torn: false },
        };
      }
      // A snapshot is renamed into place only when complete, so any fault in it is damage, never a torn write.
      const reason = scan.fault?.reason ?? (ended.done ? null : 'the snapshot has no end marker');
      if (reason) {
        const offset = scan.fault?.offset ?? scan.end;
        if (!options.repair) throw corrupt(name, offset, reason);
        // Keep what was read: the log after the snapshot still brings every key it touches up to date.
        report.repaired = { file: name, offset, reason };
        report.droppedBytes += scan.size - offset;
        log('persistence: repair kept the first %d bytes of the damaged snapshot %s (%s)', offset, name, reason);
      }
    }
  }

  if (segments.length > 0 && base > 0 && segments[0] !== base && !options.repair) {
    throw corrupt(logName(base), 0, 'the log segment that follows the snapshot is missing');
  }
  for (let i = 0; i < segments.length; i++) {
    const gen = segments[i]!;
    const expected = (segments[0] ?? 0) + i;
    if (gen !== expected) {
      if (!options.repair) throw corrupt(logName(expected), 0, 'a log segment is missing');
      cut(i - 1, fileSize(join(dir, logName(segments[i - 1]!))), `log segment ${logName(expected)} is missing`);
      break;
    }
    const name = logName(gen);
    const path = join(dir, name);
    const last = i === segments.length - 1;
    const header = readHeader(path);
    if (header.length < FILE_HEADER_BYTES && last) {
      // Created, but the owner died before its header was written: an empty segment.
      report.droppedBytes += header.length;
      truncate(path, 0);
      report.segments.push(name);
      continue;
    }
    const bad = checkFileHeader(header, LOG_MAGIC);
    if (bad) {
      if (!options.repair) throw corrupt(name, 0, bad);
      cut(i, 0, bad);
      break;
    }
    report.segments.push(name);
    let scan: ReturnType<typeof readFrames>;
    try {
      scan = readFrames(path, FILE_HEADER_BYTES, (p) => apply(p, null));
    } catch (err) {
      const offset = (err as { offset?: number }).offset;
      if (offset === undefined) throw err;
      if (!options.repair) throw corrupt(name, offset, `malformed frame: ${(err as Error).message}`);
      cut(i, offset, (err as Error).message);
      break;
    }
    report.frames += scan.frames;
    if (!scan.fault) continue;
    const { offset, reason, torn } = scan.fault;
    if (torn && last) {
      // An append cut short by the crash: that commit was never acknowledged (with fsync 'always').
      truncate(path, offset);
      report.droppedBytes += scan.size - offset;
      log('persistence: torn tail of %s: dropped %d bytes at byte %d (%s)', name, scan.size - offset, offset, reason);
      continue;
    }
    if (!options.repair) {
      throw corrupt(name, offset, reason, last ? '' : ' Later log segments follow it.');
    }
    cut(i, offset, reason);
    break;
  }

  // Keys whose absolute expiry passed while the owner was down are not loaded.
  for (const [key, e] of data) {
    if (e.wallExp !== 0 && e.wallExp <= options.wallNow) {
      data.delete(key);
      report.expired++;
    }
  }
  report.keys = data.size;
  report.fence = fence;
  const gen = segments.at(-1) ?? Math.max(base, 1);
  const size = segments.length > 0 ? fileSize(join(dir, logName(gen))) : 0;
  if (size >= FILE_HEADER_BYTES) upgradeHeader(join(dir, logName(gen)));
  let logBytes = 0;
  for (const g of segments) logBytes += fileSize(join(dir, logName(g)));
  report.ms = Math.round((performance.now() - t0) * 10) / 10;
  log(
    'persistence: loaded %d keys (%d expired while down, last fencing token %d) from %s + %d segments, %d frames, %d bytes dropped, in %d ms',
    report.keys,
    report.expired,
    report.fence,
    report.snapshot ?? 'no snapshot',
    report.segments.length,
    report.frames,
    report.droppedBytes,
    report.ms,
  );
  return { data, fence, report, gen, size, snapshotBytes, logBytes };
}
