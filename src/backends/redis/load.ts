/**
 * getOrSet across processes on Redis. A miss claims a load marker (`#ld:` beside the key, holding a
 * ticket, with the lease as its Redis ttl) in the same script that found the key missing; the claimer runs
 * its loader and `fill`s the key, which checks the ticket, deletes the marker and announces the key on the
 * load channel. Other callers that miss meanwhile wait:
 *
 * - woken at once by the announcement (a fill, or a loader that gave up) and claiming again, so the first
 *   to arrive takes a failed load over;
 * - or when the marker's ttl ends (a loader that died or hangs past its lease), by a timer set to it
 *   (at most a second, so a lost announcement costs a second, not a lease).
 *
 * The load channel is subscribed before the first claim, and an announcement that overtakes the claim's
 * answer (they travel on two connections) is noticed (see announcements.ts), so none slips between a claim
 * that says "wait" and the wait itself. Waiters honour their call's timeout and AbortSignal.
 */
import { randomInt } from 'node:crypto';
import type { Encoded } from '../../protocol/codec.js';
import { Announcements } from './announcements.js';
import { type Backend, KvCall } from './backend.js';
import type { EventHub } from './events.js';

/** Longest a waiter sleeps between two claims, in ms. */
const MAX_SLEEP = 1000;

/** Aborted when the waiting call times out, is aborted, or the store closes. */
export type Cancel = AbortSignal;

export class Loads {
  private readonly announcements = new Announcements();
  private listening: Promise<void> | null = null;

  constructor(
    private readonly b: Backend,
    private readonly hub: EventHub,
  ) {}

  private listen(): Promise<void> {
    this.listening ??= this.hub.listen(this.b.layout.loadChannel, (message) =>
      this.announcements.announce(message.toString()),
    );
    return this.listening;
  }

  /** `getOrSet(key, lease)`: answers `[0, value]` (hit) or `[1, ticket]` (load it yourself). */
  async getOrSet(key: string, lease: number, cancel: Cancel): Promise<[0, Encoded] | [1, number]> {
    await this.listen();
    const ticket = randomInt(1, 2 ** 47);
    const tracker = this.announcements.track(this.b.layout.data(key));
    let missed = false;
    try {
      for (;;) {
        const seen = tracker.version();
        const call = new KvCall(this.b);
        const i = call.data(key);
        const m = call.key(this.b.layout.internal('ld', key), key);
        call.op(undefined, 'claim', i, m, ticket, lease);
        const [r] = (await this.b.kv(call)) as [[number, Buffer | number | undefined]];
        if (r[0] === 0) {
          if (!missed) this.b.counters.hits++;
          return [0, this.b.format.fromStored(r[1] as Buffer)];
        }
        if (!missed) {
          missed = true;
          this.b.counters.misses++;
        }
        if (r[0] === 1) {
          if (cancel.aborted) {
            // The caller gave up while the ticket was on its way: give the load to the next one at once.
            await this.fill(key, ticket, null, undefined).catch(() => false);
            throw cancel.reason;
          }
          return [1, ticket];
        }
        if (cancel.aborted) throw cancel.reason;
        // Announced while the claim was on its way: ask again at once.
        if (tracker.version() !== seen) continue;
        // Until the marker's ttl ends, and at least every second, in case an announcement was lost
        // (the subscriber connection was reconnecting).
        await tracker.wait(Math.min(MAX_SLEEP, Math.max(1, (r[1] as number) + 1)), cancel);
        if (cancel.aborted) throw cancel.reason;
      }
    } finally {
      tracker.done();
    }
  }

  /** `fill(key, ticket, value | null, { ttl })`: stores the loaded value (or gives the load up). */
  async fill(key: string, ticket: number, value: Encoded | null, ttl: number | undefined): Promise<boolean> {
    let bytes: Buffer | null = null;
    if (value !== null) {
      try {
        bytes = this.b.format.toStored(value);
      } catch (err) {
        // The loaded value cannot be stored (json encoding): give the load up so a waiter can try.
        await this.fill(key, ticket, null, undefined);
        throw err;
      }
    }
    const call = new KvCall(this.b);
    const i = call.data(key);
    const m = call.key(this.b.layout.internal('ld', key), key);
    call.op(undefined, 'fill', i, m, ticket, bytes === null ? 0 : 1, bytes ?? '', ttl ?? 0);
    return (await this.b.kv(call))[0] === 1;
  }
}
