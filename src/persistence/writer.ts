/**
 * The log writer: appends group commits to the current log segment, one I/O at a time, off the event
 * loop (libuv's thread pool does the write and fsync calls).
 *
 * Group commit: every change of one event-loop turn goes into one frame; at `setImmediate` that frame is
 * written (and, with fsync 'always', fdatasync'ed) while the next turn's changes gather in the builder. The
 * busier the store, the more changes share one fsync. Jobs run strictly in order (commit, rotate, sync), so
 * the file holds the changes in the order they were made, and a rotation cuts the log exactly where it was
 * asked for.
 *
 * After a failed write or fsync the segment is truncated back to its last good frame and every later
 * commit is dropped: a log with a hole would replay into a state that never existed. The owner's memory is
 * still complete, so the persistence layer heals the disk by writing a snapshot (which also rotates the
 * log, and appends resume in the new segment).
 */
import { close, constants, fdatasync, fdatasyncSync, fsync, ftruncate, open, write, writeSync } from 'node:fs';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { SharedKVError } from '../errors.js';
import { FILE_HEADER_BYTES, FrameBuilder, fileHeader, LOG_MAGIC } from './format.js';
import { logName } from './load.js';

const log = debuglog('sharedkv');

/** When a write is made durable: before its reply, within about a second, or when the OS decides. */
export type FsyncPolicy = 'always' | 'everysec' | 'no';

/** A promise with its settle functions; a handler is attached at once so a rejection is never unhandled. */
export interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

type Job =
  | { kind: 'commit'; frame: Buffer; done: Deferred | null }
  | { kind: 'rotate'; gen: number; done: Deferred }
  | { kind: 'sync'; done: Deferred | null };

/** Promisified fs calls on raw descriptors (cheaper than FileHandle on the hot path). */
export const io = {
  open: (path: string, flags: number, mode = 0o600) =>
    new Promise<number>((res, rej) => open(path, flags, mode, (e, fd) => (e ? rej(e) : res(fd)))),
  close: (fd: number) => new Promise<void>((res, rej) => close(fd, (e) => (e ? rej(e) : res()))),
  fdatasync: (fd: number) => new Promise<void>((res, rej) => fdatasync(fd, (e) => (e ? rej(e) : res()))),
  fsync: (fd: number) => new Promise<void>((res, rej) => fsync(fd, (e) => (e ? rej(e) : res()))),
  ftruncate: (fd: number, len: number) =>
    new Promise<void>((res, rej) => ftruncate(fd, len, (e) => (e ? rej(e) : res()))),
  /** Writes all of `buf` at the current position (the end, for files opened with O_APPEND). */
  writeAll: (fd: number, buf: Buffer) =>
    new Promise<void>((res, rej) => {
      const step = (off: number) =>
        write(fd, buf, off, buf.length - off, null, (e, n) => {
          if (e) rej(e);
          else if (off + n < buf.length) step(off + n);
          else res();
        });
      step(0);
    }),
  /** Makes a directory's entries (a created or renamed file) durable. */
  fsyncDir: async (dir: string) => {
    const fd = await io.open(dir, constants.O_RDONLY);
    try {
      await io.fsync(fd);
    } finally {
      await io.close(fd);
    }
  },
};

/** Flags of an appendable log segment. */
export const APPEND = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND;

/** Backlog (bytes written by the store but not yet by the disk) past which replies wait for the disk. */
const MAX_BACKLOG = 64 * 1024 * 1024;

/** Appends frames to the log segment of generation {@link gen}. */
export class LogWriter {
  /** Changes of the current event-loop turn, not yet handed to the disk. */
  readonly builder = new FrameBuilder();
  /** The first error of the current failure episode; null when the log is healthy. */
  failure: SharedKVError | null = null;
  /** Failures so far (a snapshot heals the log only if none happened after it started). */
  failures = 0;
  /** Bytes of the log segments written since the last snapshot. */
  logBytes: number;
  /** Called after each commit reaches the file (the persistence layer checks whether to compact). */
  onCommit: () => void = () => {};
  /** Called when a write fails (the persistence layer schedules the healing snapshot). */
  onFailure: () => void = () => {};
  private queue: Job[] = [];
  private busy = false;
  private scheduled = false;
  /** Set after a failure: commits are dropped until a rotation starts a clean segment. */
  private dropping = false;
  /** Resolves the changes in {@link builder} once durable (fsync 'always'). */
  private pendingDone: Deferred | null = null;
  /** The newest unsettled commit: what a reply must wait for. */
  private tail: Deferred | null = null;
  /** With a failure: resolves when a snapshot has made the store durable again. */
  private recovered: Deferred | null = null;
  /** Bytes sealed but not yet written: past {@link MAX_BACKLOG} replies wait for the disk. */
  private backlog = 0;
  private gate: Deferred | null = null;
  /** Bytes of the current segment known to be on disk (fsynced). */
  synced: number;
  private idle: Deferred | null = null;

  constructor(
    private readonly dir: string,
    private fd: number,
    public gen: number,
    public size: number,
    logBytes: number,
    readonly policy: FsyncPolicy,
  ) {
    this.logBytes = logBytes;
    this.synced = size;
  }

  /** Call after adding to {@link builder}: schedules the group commit of this turn. */
  added(): void {
    if (this.policy === 'always' && !this.pendingDone) {
      this.pendingDone = deferred();
      this.tail = this.pendingDone;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.kick();
      });
    }
  }

  /**
   * What a reply must wait for, or null to send it now. With 'always': the commit holding the newest
   * change (so nothing is acknowledged before it is on disk, and replies keep their order); while the log
   * is failed, the recovery. Otherwise: only when the disk has fallen far behind (backpressure).
   */
  durable(): Promise<void> | null {
    if (this.policy === 'always') {
      if (this.failure) return this.recovered?.promise ?? null;
      return this.tail?.promise ?? null;
    }
    if (this.gate) return this.gate.promise;
    if (this.backlog + this.builder.bytes > MAX_BACKLOG) {
      this.gate = deferred();
      return this.gate.promise;
    }
    return null;
  }

  /**
   * Starts a new segment `gen`: what was recorded so far goes to the current segment, every change from
   * now on to the new one. Resolves once the new segment exists on disk.
   */
  rotate(gen: number): Promise<void> {
    this.seal();
    const done = deferred();
    this.queue.push({ kind: 'rotate', gen, done });
    this.kick();
    return done.promise;
  }

  /** Writes and fsyncs everything recorded so far; rejects when the log is failed. */
  sync(): Promise<void> {
    this.seal();
    const done = deferred();
    this.queue.push({ kind: 'sync', done });
    this.kick();
    return done.promise;
  }

  /** Resolves when every queued job has run. */
  drained(): Promise<void> {
    if (!this.busy && this.queue.length === 0 && this.builder.ops === 0) return Promise.resolve();
    this.idle ??= deferred();
    this.kick();
    return this.idle.promise;
  }

  /** Fsyncs if anything was written since the last fsync (the 'everysec' timer). */
  syncIfDirty(): void {
    if (this.synced >= this.size || this.queue.some((j) => j.kind === 'sync')) return;
    this.queue.push({ kind: 'sync', done: null });
    this.kick();
  }

  /** A snapshot that started after failure number `since` made the store durable again. */
  healed(since: number): void {
    if (!this.failure || this.failures !== since) return;
    log('persistence: the log is healthy again');
    this.failure = null;
    this.recovered?.resolve();
    this.recovered = null;
  }

  /**
   * Writes this turn's changes synchronously, for a process that is exiting (`process.exit()` gives no
   * later turn). Skipped while an asynchronous job runs: writing beside it could reorder the log.
   */
  flushSync(): void {
    if (this.busy || this.queue.length > 0 || this.dropping || this.builder.ops === 0) return;
    const frame = this.builder.seal();
    try {
      writeSync(this.fd, frame);
      if (this.policy !== 'no') fdatasyncSync(this.fd);
    } catch (err) {
      log('persistence: final write failed: %s', (err as Error).message);
    }
  }

  /** Closes the segment (after {@link drained}). */
  async close(): Promise<void> {
    await io.close(this.fd);
  }

  /** Seals this turn's changes into a commit job. */
  private seal(): void {
    if (this.builder.ops === 0) return;
    const frame = this.builder.seal();
    this.backlog += frame.length;
    this.queue.push({ kind: 'commit', frame, done: this.pendingDone });
    this.pendingDone = null;
  }

  private kick(): void {
    if (this.busy) return;
    this.busy = true;
    this.run().then(
      () => {},
      (err: unknown) => log('persistence: writer stopped on a bug: %s', String(err)),
    );
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) this.seal();
      const job = this.queue.shift();
      if (!job) break;
      if (job.kind === 'commit') await this.commit(job.frame, job.done);
      else if (job.kind === 'rotate') await this.rotateNow(job.gen, job.done);
      else await this.syncNow(job.done);
    }
    this.busy = false;
    const idle = this.idle;
    this.idle = null;
    idle?.resolve();
  }

  private async commit(frame: Buffer, done: Deferred | null): Promise<void> {
    this.backlog -= frame.length;
    if (this.dropping) {
      this.settle(done, this.failure);
      return;
    }
    const good = this.size;
    try {
      await io.writeAll(this.fd, frame);
      this.size += frame.length;
      this.logBytes += frame.length;
      if (this.policy === 'always') {
        await io.fdatasync(this.fd);
        this.synced = this.size;
      }
      this.settle(done, null);
    } catch (err) {
      await this.fail(err as Error, 'append to', good);
      this.settle(done, this.failure);
    }
    if (this.gate && this.backlog + this.builder.bytes <= MAX_BACKLOG / 2) {
      this.gate.resolve();
      this.gate = null;
    }
    this.onCommit();
  }

  private settle(done: Deferred | null, err: Error | null): void {
    if (!done) return;
    if (this.tail === done) this.tail = null;
    // While the log is failed a reply waits for the recovery (see durable()), not for this commit.
    if (err && this.recovered) {
      this.recovered.promise.then(done.resolve, done.reject);
      return;
    }
    if (err) done.reject(err);
    else done.resolve();
  }

  private async rotateNow(gen: number, done: Deferred): Promise<void> {
    let fd: number | null = null;
    try {
      fd = await io.open(join(this.dir, logName(gen)), APPEND | constants.O_TRUNC);
      await io.writeAll(fd, fileHeader(LOG_MAGIC));
      await io.fdatasync(fd);
      await io.fsyncDir(this.dir);
      // The old segment is complete: it must be durable before anything is appended after it, so that a
      // torn tail can only ever be in the last segment.
      if (!this.dropping) await io.fdatasync(this.fd);
      await io.close(this.fd).catch(() => {});
      this.fd = fd;
      this.gen = gen;
      this.size = FILE_HEADER_BYTES;
      this.logBytes = FILE_HEADER_BYTES;
      this.dropping = false;
      this.synced = FILE_HEADER_BYTES;
      done.resolve();
    } catch (err) {
      if (fd !== null) await io.close(fd).catch(() => {});
      await this.fail(err as Error, 'start the log segment', this.size);
      done.reject(this.failure ?? (err as Error));
    }
  }

  private async syncNow(done: Deferred | null): Promise<void> {
    if (this.dropping) {
      done?.reject(this.failure ?? new Error('log failed'));
      return;
    }
    try {
      const size = this.size;
      await io.fdatasync(this.fd);
      this.synced = size;
      done?.resolve();
    } catch (err) {
      await this.fail(err as Error, 'fsync', this.size);
      done?.reject(this.failure ?? (err as Error));
    }
  }

  /** Enters (or stays in) the failed state: cut the segment back to `good` bytes, drop commits until healed. */
  private async fail(err: Error, what: string, good: number): Promise<void> {
    this.failures++;
    this.dropping = true;
    const first = this.failure === null;
    this.failure ??= new SharedKVError(
      'ERR_SHAREDKV_IO',
      `The owner could not ${what} ${logName(this.gen)} in ${this.dir}: ${err.message}`,
      { dir: this.dir, file: logName(this.gen), syscall: (err as NodeJS.ErrnoException).syscall },
      { cause: err },
    );
    this.recovered ??= deferred();
    try {
      await io.ftruncate(this.fd, good);
      this.size = good;
    } catch {
      // The next snapshot starts a new segment anyway.
    }
    log('persistence: %s failed: %s', what, err.message);
    this.onFailure();
    if (first) process.emitWarning(this.failure.message, { code: 'ERR_SHAREDKV_IO' });
  }
}
