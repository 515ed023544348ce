/**
 * Wake-ups by key from an internal channel (getOrSet fills, lock releases). The answer to a request and an
 * announcement about the same key travel on two connections, so the announcement may be processed first:
 * a waiter that only started listening after the answer would then sleep through it. Each tracked key
 * therefore counts its announcements; a waiter notes the count before its request and, when the answer
 * says "wait", waits only if nothing was announced since.
 */

interface Tracked {
  refs: number;
  version: number;
  wakers: Set<() => void>;
}

/** One waiter's hold on a key. */
export interface Tracker {
  /** Announcements seen for the key so far. */
  version(): number;
  /** Resolves on the next announcement for the key, after `ms`, or when `cancel` aborts. */
  wait(ms: number, cancel: AbortSignal): Promise<void>;
  /** Stops tracking (call once, in `finally`). */
  done(): void;
}

export class Announcements {
  private readonly keys = new Map<string, Tracked>();

  /** Called for every announcement received. */
  announce(key: string): void {
    const t = this.keys.get(key);
    if (!t) return;
    t.version++;
    for (const wake of [...t.wakers]) wake();
  }

  /** Starts tracking `key` for one waiter. */
  track(key: string): Tracker {
    let t = this.keys.get(key);
    if (!t) {
      t = { refs: 0, version: 0, wakers: new Set() };
      this.keys.set(key, t);
    }
    const tracked = t;
    tracked.refs++;
    return {
      version: () => tracked.version,
      wait: (ms, cancel) =>
        new Promise((resolve) => {
          if (cancel.aborted) return resolve();
          const wake = () => {
            clearTimeout(timer);
            tracked.wakers.delete(wake);
            cancel.removeEventListener('abort', wake);
            resolve();
          };
          const timer = setTimeout(wake, ms);
          tracked.wakers.add(wake);
          cancel.addEventListener('abort', wake, { once: true });
        }),
      done: () => {
        if (--tracked.refs === 0 && this.keys.get(key) === tracked) this.keys.delete(key);
      },
    };
  }
}
