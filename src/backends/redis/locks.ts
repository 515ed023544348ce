/**
 * Locks and semaphores on Redis (see script-lock.ts for the data): taking, waiting in line, releasing,
 * extending, and the watchdog that renews this process's leases while it lives.
 *
 * Waiting: a waiter that is not served at once takes its place in line in Redis and sleeps until the
 * lock channel announces a release of that lock, the soonest lease ends (a holder that died or stalled),
 * or a third of the liveness window passes (it then calls again, which keeps its place), whichever is
 * first. At its `wait` deadline, or when its call times out or is aborted, it leaves the line at once.
 */
import { randomBytes } from 'node:crypto';
import { SharedKVError } from '../../errors.js';
import { Announcements } from './announcements.js';
import type { Backend } from './backend.js';
import type { EventHub } from './events.js';
import type { Cancel } from './load.js';

interface Held {
  name: string;
  token: number;
  /** End of the lease the holder asked for, on the Redis clock (ms). */
  deadline: number;
  timer: NodeJS.Timeout | null;
}

export class Locks {
  private readonly held = new Map<string, Held>();
  private readonly announcements = new Announcements();
  private listening: Promise<void> | null = null;
  private readonly id = randomBytes(6).toString('hex');
  private seq = 0;
  private closed = false;

  constructor(
    private readonly b: Backend,
    private readonly hub: EventHub,
  ) {}

  private get live(): number {
    return this.b.options.lockLiveness;
  }

  private listen(): Promise<void> {
    this.listening ??= this.hub.listen(this.b.layout.lockChannel, (message) =>
      this.announcements.announce(message.toString()),
    );
    return this.listening;
  }

  /** `lock(name, { ttl, wait, limit })`: answers `[token, ttl]`, or `null` when not free and `wait` is 0. */
  async lock(
    name: string,
    o: { ttl: number; wait: number; limit?: number },
    cancel: Cancel,
  ): Promise<[number, number] | null> {
    const limit = o.limit ?? 1;
    const mayWait = o.wait > 0;
    if (mayWait) await this.listen();
    const waiter = `${this.id}:${++this.seq}`;
    const deadline = performance.now() + o.wait;
    const tracker = this.announcements.track(this.b.layout.internal('lh', name));
    try {
      for (;;) {
        const seen = tracker.version();
        let r: number[];
        try {
          r = await this.b.lock(name, 'acquire', waiter, o.ttl, this.live, limit, mayWait ? 1 : 0);
        } catch (err) {
          if ((err as SharedKVError).code === 'ERR_SHAREDKV_BAD_ARGUMENT') {
            const held = (err as Error).message.split(' ').pop();
            throw new SharedKVError(
              'ERR_SHAREDKV_BAD_ARGUMENT',
              `Lock ${JSON.stringify(name)} is held as a semaphore of ${held}; it cannot be taken with limit ${limit}`,
            );
          }
          throw err;
        }
        if (r[0] === 1) {
          const token = r[1]!;
          if (cancel.aborted || this.closed) {
            // The caller gave up while the grant was on its way: hand the permit straight back.
            await this.b.lock(name, 'release', token).catch(() => {});
            throw cancel.reason ?? new SharedKVError('ERR_SHAREDKV_CLOSED', 'The store was closed');
          }
          this.hold(name, token, r[2]!, o.ttl);
          return [token, o.ttl];
        }
        if (r[0] === 0) return null;
        const left = deadline - performance.now();
        if (cancel.aborted || left <= 0) {
          await this.b.lock(name, 'leave', waiter).catch(() => {});
          if (cancel.aborted) throw cancel.reason;
          throw new SharedKVError('ERR_SHAREDKV_TIMEOUT', `Lock ${JSON.stringify(name)} was not acquired in time`, {
            lock: name,
          });
        }
        // Released while the request was on its way: ask again at once.
        if (tracker.version() !== seen) continue;
        const nextEnd = r[1] ?? -1;
        let ms = Math.min(left, this.live / 3);
        if (nextEnd >= 0) ms = Math.min(ms, nextEnd + 1);
        await tracker.wait(Math.max(1, Math.ceil(ms)), cancel);
      }
    } finally {
      tracker.done();
    }
  }

  private key(name: string, token: number): string {
    return `${name}\n${token}`;
  }

  /** Keeps a granted lease alive (watchdog) while it is longer than the liveness window. */
  private hold(name: string, token: number, deadline: number, ttl: number): void {
    const h: Held = { name, token, deadline, timer: null };
    this.held.set(this.key(name, token), h);
    if (ttl > this.live) this.schedule(h);
  }

  private schedule(h: Held): void {
    if (h.timer) clearTimeout(h.timer);
    h.timer = setTimeout(() => {
      h.timer = null;
      this.b.lock(h.name, 'renew', h.token, h.deadline, this.live).then(
        (r) => {
          if (this.held.get(this.key(h.name, h.token)) !== h) return;
          if (r[0] === 1 && r[1] === 1) this.schedule(h);
          else if (r[0] !== 1) this.held.delete(this.key(h.name, h.token));
        },
        // A failed renewal is tried again; if Redis stays away, the lease simply runs out.
        () => {
          if (this.held.get(this.key(h.name, h.token)) === h) this.schedule(h);
        },
      );
    }, this.live / 3);
    // A held lock must not keep the process alive; if the process exits, its lease runs out.
    h.timer.unref();
  }

  private forget(name: string, token: number): void {
    const k = this.key(name, token);
    const h = this.held.get(k);
    if (h?.timer) clearTimeout(h.timer);
    this.held.delete(k);
  }

  /** `unlock(name, token)`: whether the lease was still live. */
  async unlock(name: string, token: number): Promise<boolean> {
    this.forget(name, token);
    return (await this.b.lock(name, 'release', token))[0] === 1;
  }

  /** `extend(name, token, ttl)`: whether the lease was still live (it then ends `ttl` ms from now). */
  async extend(name: string, token: number, ms: number): Promise<boolean> {
    const r = await this.b.lock(name, 'extend', token, ms, this.live);
    if (r[0] !== 1) {
      this.forget(name, token);
      return false;
    }
    const h = this.held.get(this.key(name, token));
    if (h) {
      h.deadline = r[1]!;
      if (ms > this.live) this.schedule(h);
      else if (h.timer) {
        clearTimeout(h.timer);
        h.timer = null;
      }
    }
    return true;
  }

  /** Stops renewing and releases every lease this process holds (the store is closing). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.held.values()];
    this.held.clear();
    for (const h of all) if (h.timer) clearTimeout(h.timer);
    await Promise.all(all.map((h) => this.b.lock(h.name, 'release', h.token).catch(() => {})));
  }
}
