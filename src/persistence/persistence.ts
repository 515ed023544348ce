/**
 * Persistence of one owner's store: an append-only log of changes with a CRC-32 per frame, snapshots, and
 * log rewrite (compaction) in the background. See docs/persistence.md for the format and the guarantees.
 *
 * What is recorded comes from the engine's hooks, never from the commands: `engine.observe` (every key
 * change after its transaction commits, ttl-only changes included) and `engine.fenceObservers` (every
 * fencing token issued). Expiry times are stored as absolute wall-clock times, converted from the engine's
 * monotonic clock when written and back when loaded, so a key keeps its deadline across a restart.
 */
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  rename,
  unlink,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { restoreFence } from '../engine/commands/locks.js';
import type { Engine } from '../engine/engine.js';
import { badArgument, describe, SharedKVError } from '../errors.js';
import { FILE_HEADER_BYTES, fileHeader, LOG_MAGIC } from './format.js';
import { type LoadReport, listGenerations, loadDir, logName, snapshotName } from './load.js';
import { SnapshotAborted, writeSnapshot } from './snapshot.js';
import { APPEND, type FsyncPolicy, io, LogWriter } from './writer.js';

const log = debuglog('sharedkv');

/** Options of the owner's persistence (`connect({ persist })`, `serve({ persist })`). */
export interface PersistOptions {
  /**
   * Directory of the snapshot and log files, created (mode 0700) if missing. One owner at a time: a second
   * live owner opening it fails with `ERR_SHAREDKV_BAD_ARGUMENT`.
   */
  dir: string;
  /**
   * When a write is durable. `always`: its reply waits until the change is fsynced (group commit: one
   * fsync covers every change of an event-loop turn). `everysec`: the log is fsynced about once a second,
   * so an OS crash or power loss can lose the last second of writes (a crash of the owner alone loses
   * nothing the OS already has). `no`: the OS writes the log when it likes.
   * @default 'everysec'
   */
  fsync?: FsyncPolicy;
  /**
   * Start even when a file is damaged in the middle: the log is cut at the first bad frame (later log
   * segments are removed) and a damaged snapshot is kept up to its first bad frame. The load report says
   * where and how many bytes were dropped. Without it such damage fails with `ERR_SHAREDKV_CORRUPT`.
   * @default false
   */
  repair?: boolean;
  /**
   * Rewrite the log (write a snapshot, start a new segment, delete the old files) once the log written
   * since the last snapshot is larger than this many bytes and larger than that snapshot.
   * @default 67108864 (64 MiB)
   */
  compactAfterBytes?: number;
}

/** What one snapshot wrote ({@link Persistence.save}). */
export interface SaveReport {
  /** File name of the snapshot. */
  file: string;
  /** Keys it holds. */
  keys: number;
  /** Its size in bytes. */
  bytes: number;
  /** Time from start to installed, in ms. */
  ms: number;
}

/** Counters of the persistence layer. */
export interface PersistStats {
  fsync: FsyncPolicy;
  /** Bytes of log written since the last snapshot. */
  logBytes: number;
  /** Size of the last snapshot in bytes (0 when there is none). */
  snapshotBytes: number;
  /** Snapshots written by this process. */
  saves: number;
  /** True while a snapshot is being written. */
  saving: boolean;
  /** The current I/O failure (the log is being healed by a snapshot), or null. */
  failure: string | null;
}

const DEFAULT_COMPACT = 64 * 1024 * 1024;
/** Delay before retrying a failed snapshot or healing a failed log, in ms (doubles up to 30 s). */
const RETRY_MS = 1000;
/** Directories opened by this process (a second open in the same process must fail too). */
const openDirs = new Set<string>();

/** Validates `persist` options and fills in the defaults. */
export function checkPersistOptions(value: unknown): Required<PersistOptions> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badArgument(
      `Expected \`persist\` to be { dir, fsync?, repair?, compactAfterBytes? }, got ${describe(value)}`,
    );
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['dir', 'fsync', 'repair', 'compactAfterBytes'].includes(k)) {
      throw badArgument(`Unknown option \`persist.${k}\`; expected dir, fsync, repair or compactAfterBytes`);
    }
  }
  if (typeof o.dir !== 'string' || o.dir.length === 0) {
    throw badArgument(`Expected \`persist.dir\` to be a non-empty path, got ${describe(o.dir)}`);
  }
  const fsync = o.fsync ?? 'everysec';
  if (fsync !== 'always' && fsync !== 'everysec' && fsync !== 'no') {
    throw badArgument(`Expected \`persist.fsync\` to be 'always', 'everysec' or 'no', got ${describe(o.fsync)}`);
  }
  const repair = o.repair ?? false;
  if (typeof repair !== 'boolean')
    throw badArgument(`Expected \`persist.repair\` to be a boolean, got ${describe(repair)}`);
  const compact = o.compactAfterBytes ?? DEFAULT_COMPACT;
  if (typeof compact !== 'number' || !(compact > 0)) {
    throw badArgument(`Expected \`persist.compactAfterBytes\` to be a positive number, got ${describe(compact)}`);
  }
  return { dir: o.dir, fsync, repair, compactAfterBytes: compact };
}

/** Takes the directory's LOCK file (holding the owner's pid); a stale one (dead pid) is taken over. */
function lockDir(dir: string): () => void {
  const path = join(dir, 'LOCK');
  if (openDirs.has(dir)) {
    throw badArgument(`\`persist.dir\` ${dir} is already open in this process; two owners cannot share it`);
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw badArgument(
          `\`persist.dir\` ${dir} is in use by the live owner pid ${pid}; two owners cannot share it (remove ${path} only if that pid is not a sharedkv owner)`,
          { dir, pid },
        );
      }
      // Left by an owner that died (kill -9): take it over.
      unlinkSync(path);
    }
  }
  openDirs.add(dir);
  return () => {
    openDirs.delete(dir);
    try {
      if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
    } catch {
      // Already gone.
    }
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The persistence of one engine. Open it with {@link Persistence.open} before the owner serves anyone: it
 * loads the directory into the engine synchronously (the owner has nothing else to do until then) and
 * records every change from then on.
 */
export class Persistence {
  /** What loading found. */
  readonly report: LoadReport;
  private readonly writer: LogWriter;
  private snapshotBytes: number;
  private snapshotting: Promise<SaveReport> | null = null;
  private closed = false;
  private saves = 0;
  private retryAt = 0;
  private retryDelay = RETRY_MS;
  private readonly timer: NodeJS.Timeout;
  private readonly unlock: () => void;

  private constructor(
    private readonly engine: Engine,
    private readonly options: Required<PersistOptions>,
    private readonly wall: () => number,
  ) {
    const dir = options.dir;
    this.unlock = lockDir(dir);
    try {
      const loaded = loadDir(dir, { repair: options.repair, wallNow: wall() });
      this.report = loaded.report;
      this.snapshotBytes = loaded.snapshotBytes;
      // Into the engine without events (op null): loading is not a change to record again.
      const offset = engine.now() - wall();
      for (const [key, e] of loaded.data)
        engine.write(key, { v: e.v, exp: e.wallExp === 0 ? 0 : e.wallExp + offset }, null);
      restoreFence(engine, loaded.fence);
      const path = join(dir, logName(loaded.gen));
      const fd = openSync(path, APPEND, 0o600);
      if (loaded.size < FILE_HEADER_BYTES) {
        // A new segment, or one whose header never made it to disk: (re)start it, durably.
        ftruncateSync(fd, 0);
        writeSync(fd, fileHeader(LOG_MAGIC));
        fsyncSync(fd);
        const dirFd = openSync(dir, 'r');
        fsyncSync(dirFd);
        closeSync(dirFd);
      }
      this.writer = new LogWriter(
        dir,
        fd,
        loaded.gen,
        Math.max(loaded.size, FILE_HEADER_BYTES),
        Math.max(loaded.logBytes, FILE_HEADER_BYTES),
        options.fsync,
      );
    } catch (err) {
      this.unlock();
      throw err;
    }
    this.writer.onCommit = () => this.maybeCompact();
    // While the log is failed the retry timer keeps the process alive: replies and data wait on it.
    this.writer.onFailure = () => this.timer.ref();
    engine.observe(
      (key, op, entry) => {
        if (this.closed) return;
        const b = this.writer.builder;
        if (op === 'set' && entry)
          b.set(key, entry.v, entry.exp === 0 ? 0 : entry.exp - this.engine.now() + this.wall());
        else b.del(key);
        this.writer.added();
      },
      { ttlChanges: true },
    );
    engine.fenceObservers.push((lock, token) => {
      if (this.closed) return;
      this.writer.builder.fence(lock, token);
      this.writer.added();
    });
    engine.durable = () => this.writer.durable();
    process.on('exit', this.onExit);
    // One timer for the 'everysec' fsync and for retries; it keeps the process alive only while the log is failed.
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  /**
   * Opens `options.dir` (creating it), loads it into `engine` and starts recording. `wall` is the
   * wall-clock source in ms (tests inject one).
   *
   * @throws SharedKVError `ERR_SHAREDKV_CORRUPT` when a file is damaged (see {@link PersistOptions.repair});
   * `ERR_SHAREDKV_BAD_ARGUMENT` for bad options or a directory another live owner holds.
   */
  static open(engine: Engine, options: PersistOptions, wall: () => number = () => Date.now()): Persistence {
    const o = checkPersistOptions(options);
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    return new Persistence(engine, { ...o, dir: realpathSync(o.dir) }, wall);
  }

  /**
   * Writes a snapshot now and rewrites the log (older files are deleted once it is installed). Resolves
   * when the snapshot is durable; it holds at least every write acknowledged before the call. Concurrent
   * calls share a snapshot when it started after they were made.
   *
   * @throws SharedKVError `ERR_SHAREDKV_IO` when the disk refuses (the previous snapshot and log stay
   * valid); `ERR_SHAREDKV_CLOSED` after {@link close}.
   */
  async save(): Promise<SaveReport> {
    const running = this.snapshotting;
    if (running) await running.catch(() => {});
    if (this.snapshotting && this.snapshotting !== running) return this.snapshotting;
    return this.compact();
  }

  /** Counters for stats and tests. */
  stats(): PersistStats {
    return {
      fsync: this.options.fsync,
      logBytes: this.writer.logBytes,
      snapshotBytes: this.snapshotBytes,
      saves: this.saves,
      saving: this.snapshotting !== null,
      failure: this.writer.failure?.message ?? null,
    };
  }

  /** Stops recording: stops a running snapshot, writes and fsyncs what is left, closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    process.off('exit', this.onExit);
    await this.snapshotting?.catch(() => {});
    await this.writer.sync().catch(() => {});
    await this.writer.drained();
    await this.writer.close().catch(() => {});
    if (this.engine.durable) this.engine.durable = null;
    this.unlock();
  }

  /** `process.exit()` leaves no turn for the group commit: write this turn's changes now. */
  private readonly onExit = () => this.writer.flushSync();

  private tick(): void {
    if (this.options.fsync === 'everysec') this.writer.syncIfDirty();
    this.maybeCompact();
  }

  /** Starts a compaction when the log has outgrown its snapshot, or to heal a failed log. */
  private maybeCompact(): void {
    if (this.closed || this.snapshotting || performance.now() < this.retryAt) return;
    const w = this.writer;
    const big = w.logBytes >= this.options.compactAfterBytes && w.logBytes >= this.snapshotBytes;
    if (!big && !w.failure) return;
    this.compact().catch((err: Error) => log('persistence: background snapshot failed: %s', err.message));
  }

  private compact(): Promise<SaveReport> {
    if (this.closed) return Promise.reject(new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed'));
    const run = this.snapshot().then(
      (r) => {
        this.retryDelay = RETRY_MS;
        if (!this.writer.failure) this.timer.unref();
        return r;
      },
      (err: unknown) => {
        if (err instanceof SnapshotAborted) throw new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed');
        // Back off, so a full disk is not hammered with snapshot attempts.
        this.retryAt = performance.now() + this.retryDelay;
        this.retryDelay = Math.min(this.retryDelay * 2, 30_000);
        if (err instanceof SharedKVError) throw err;
        throw new SharedKVError(
          'ERR_SHAREDKV_IO',
          `The owner could not write a snapshot in ${this.options.dir}: ${(err as Error).message}`,
          { dir: this.options.dir, syscall: (err as NodeJS.ErrnoException).syscall },
          { cause: err },
        );
      },
    );
    const tracked = run.finally(() => {
      if (this.snapshotting === tracked) this.snapshotting = null;
    });
    this.snapshotting = tracked;
    return tracked;
  }

  /**
   * The rewrite: (1) rotate the log to a new segment, so every change from now on lands there; (2) walk the
   * store into `snapshot-N.skv.tmp` in slices; (3) fsync the new segment, so it holds every change the walk
   * may have seen; (4) rename the snapshot into place and fsync the directory; (5) delete the files it
   * supersedes. A crash before (4) leaves the previous snapshot and every segment; after it, the new
   * snapshot and its segment (the loader deletes leftovers).
   */
  private async snapshot(): Promise<SaveReport> {
    const t0 = performance.now();
    const dir = this.options.dir;
    const gen = this.writer.gen + 1;
    const since = this.writer.failures;
    const rotated = this.writer.rotate(gen);
    const tmp = join(dir, `${snapshotName(gen)}.tmp`);
    try {
      const file = await writeSnapshot(this.engine, tmp, this.wall, () => this.closed);
      await rotated;
      await this.writer.sync();
      await new Promise<void>((res, rej) => rename(tmp, join(dir, snapshotName(gen)), (e) => (e ? rej(e) : res())));
      await io.fsyncDir(dir);
      this.snapshotBytes = file.bytes;
      this.saves++;
      this.writer.healed(since);
      // Superseded files go last: until now they were what a restart would load.
      const { snapshots, logs } = listGenerations(dir);
      const old = [...snapshots.filter((g) => g < gen).map(snapshotName), ...logs.filter((g) => g < gen).map(logName)];
      await Promise.all(old.map((f) => new Promise<void>((res) => unlink(join(dir, f), () => res()))));
      const ms = Math.round(performance.now() - t0);
      log('persistence: snapshot %s: %d keys, %d bytes, %d ms', snapshotName(gen), file.keys, file.bytes, ms);
      return { file: snapshotName(gen), keys: file.keys, bytes: file.bytes, ms };
    } catch (err) {
      unlink(tmp, () => {});
      await rotated.catch(() => {});
      throw err;
    }
  }
}
