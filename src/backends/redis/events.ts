/**
 * Everything that arrives over Redis pub/sub, on one subscriber connection per store (opened on first use):
 *
 * - user channels and patterns (`SUBSCRIBE`/`PSUBSCRIBE` of `<prefix>:<channel>`), pushed to the Store
 *   layer as `['message', channel, value, pattern?]`, exactly as the memory owner pushes them;
 * - key change events, which the value script publishes on `<prefix>#events` with every write (no
 *   reliance on keyspace notifications), matched here against this process's watch patterns and pushed
 *   as `['watch', pattern, key, op, value | null]`;
 * - expiry and eviction, which no script sees: Redis keyspace notifications (`__keyevent@<db>__:expired`
 *   and `:evicted`), turned on by the first `watch()` when the `expiryEvents` option allows, and listened
 *   to on every master (they are node-local on a cluster);
 * - internal channels (getOrSet fills, lock releases) that wake this process's waiters.
 */
import { debuglog } from 'node:util';
import { globToRegExp } from '../../engine/glob.js';
import type { Backend, Client } from './backend.js';

const debug = debuglog('sharedkv');
const GLOB = /[*?[]/;

type Listener = (message: Buffer) => void;

/** The subscriber side of one store. */
export class EventHub {
  private sub: Client | null = null;
  private readonly internal = new Map<string, Set<Listener>>();
  private readonly listening = new Map<string, Promise<void>>();
  /** Logical pattern of each user pattern subscription, by its Redis pattern. */
  private readonly patterns = new Map<string, string>();
  private readonly channels = new Set<string>();
  private readonly watches = new Map<string, { test(s: string): boolean } | null>();
  private keyspace: Promise<void> | null = null;
  /** The subscription to change events, while something is watched. */
  private events: Promise<void> | null = null;
  private keyspaceChannels: string[] = [];

  /** Receives pushes for the Store layer's router. */
  onPush: (message: unknown[]) => void = () => {};

  constructor(private readonly b: Backend) {}

  private connection(): Client {
    if (this.sub) return this.sub;
    const sub = this.b.duplicate();
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.message(channel.toString(), message));
    sub.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, message: Buffer) =>
      this.patternMessage(pattern.toString(), channel.toString(), message),
    );
    this.sub = sub;
    return sub;
  }

  private message(channel: string, message: Buffer): void {
    const listeners = this.internal.get(channel);
    if (listeners) {
      for (const fn of listeners) fn(message);
      return;
    }
    if (channel === this.b.layout.eventsChannel) {
      this.changes(message);
      return;
    }
    if (this.keyspaceChannels.includes(channel)) {
      const logical = this.b.layout.logical(message.toString());
      if (logical !== null) this.notify(logical, channel.endsWith(':evicted') ? 'evict' : 'expire', null);
      return;
    }
    const logical = this.b.layout.logicalChannel(channel);
    if (logical !== null && this.channels.has(logical)) {
      this.onPush(['message', logical, this.b.format.fromStored(message)]);
    }
  }

  private patternMessage(pattern: string, channel: string, message: Buffer): void {
    const target = this.patterns.get(pattern);
    const logical = this.b.layout.logicalChannel(channel);
    if (target === undefined || logical === null) return;
    this.onPush(['message', logical, this.b.format.fromStored(message), target]);
  }

  /** Parses a batch of change events: `op (s|d), u32 key length, key, u32 value length, value` each. */
  private changes(message: Buffer): void {
    if (this.watches.size === 0) return;
    let p = 0;
    while (p + 9 <= message.length) {
      const op = message[p] === 0x73 ? 'set' : 'del';
      const klen = message.readUInt32BE(p + 1);
      const key = message.toString('utf8', p + 5, p + 5 + klen);
      p += 5 + klen;
      const vlen = message.readUInt32BE(p);
      const value = message.subarray(p + 4, p + 4 + vlen);
      p += 4 + vlen;
      const logical = this.b.layout.logical(key);
      if (logical !== null) this.notify(logical, op, op === 'set' ? value : null);
    }
  }

  private notify(key: string, op: string, value: Buffer | null): void {
    for (const [pattern, re] of this.watches) {
      if (re ? !re.test(key) : pattern !== key) continue;
      this.onPush(['watch', pattern, key, op, value === null ? null : this.b.format.fromStored(value)]);
    }
  }

  /** Adds a listener of an internal channel; resolves once Redis has confirmed the subscription. */
  async listen(channel: string, fn: Listener): Promise<void> {
    let set = this.internal.get(channel);
    if (!set) {
      set = new Set();
      this.internal.set(channel, set);
    }
    set.add(fn);
    let ready = this.listening.get(channel);
    if (!ready) {
      ready = this.connection()
        .subscribe(channel)
        .then(() => {});
      this.listening.set(channel, ready);
    }
    await ready;
  }

  /** Subscribes to a user channel or pattern (its full logical name); answers whether it was new. */
  async subscribe(target: string): Promise<boolean> {
    const sub = this.connection();
    if (GLOB.test(target)) {
      const pattern = this.b.layout.channelPattern(target);
      if (this.patterns.has(pattern)) return false;
      this.patterns.set(pattern, target);
      await sub.psubscribe(pattern);
      return true;
    }
    if (this.channels.has(target)) return false;
    this.channels.add(target);
    await sub.subscribe(this.b.layout.channel(target));
    return true;
  }

  async unsubscribe(target: string): Promise<boolean> {
    if (!this.sub) return false;
    if (GLOB.test(target)) {
      const pattern = this.b.layout.channelPattern(target);
      if (!this.patterns.delete(pattern)) return false;
      await this.sub.punsubscribe(pattern);
      return true;
    }
    if (!this.channels.delete(target)) return false;
    await this.sub.unsubscribe(this.b.layout.channel(target));
    return true;
  }

  /** Starts delivering change events of keys matching `pattern` (a key or a glob). */
  async watch(pattern: string): Promise<boolean> {
    if (this.watches.has(pattern)) return false;
    this.watches.set(pattern, GLOB.test(pattern) ? globToRegExp(pattern) : null);
    // Every watch() waits for the subscription, also those that did not start it.
    this.events ??= this.connection()
      .subscribe(this.b.layout.eventsChannel)
      .then(() => {});
    await this.events;
    if (this.b.options.expiryEvents) {
      this.keyspace ??= this.startKeyspace().catch((err: unknown) => {
        // Let the next watch() try again.
        this.keyspace = null;
        throw err;
      });
      await this.keyspace;
    }
    return true;
  }

  async unwatch(pattern: string): Promise<boolean> {
    if (!this.watches.delete(pattern)) return false;
    if (this.watches.size === 0 && this.sub) {
      this.events = null;
      await this.sub.unsubscribe(this.b.layout.eventsChannel);
    }
    return true;
  }

  /**
   * Turns on the `Exe` keyspace notification flags where they are missing and listens to expired and
   * evicted keys on every master. Failure (CONFIG refused) is reported once as a warning, not as an error:
   * watchers then see every change but expiry.
   */
  private async startKeyspace(): Promise<void> {
    const db = this.b.isCluster ? 0 : ((this.b.cmd.options as { db?: number }).db ?? 0);
    const channels = [`__keyevent@${db}__:expired`, `__keyevent@${db}__:evicted`];
    this.keyspaceChannels = channels;
    const masters = this.b.masters();
    try {
      await Promise.all(masters.map((node) => enableNotifications(node)));
    } catch (err) {
      debug('redis: cannot enable keyspace notifications: %s', (err as Error).message);
      process.emitWarning(
        `sharedkv: watch() cannot report expired keys: enabling Redis keyspace notifications failed (${(err as Error).message}). Set notify-keyspace-events to include "Exe" on the server.`,
        { code: 'SHAREDKV_REDIS_KEYSPACE' },
      );
    }
    if (this.b.isCluster) {
      await Promise.all(
        masters.map(async (node) => {
          const conn = this.b.duplicate(node);
          conn.on('messageBuffer', (channel: Buffer, message: Buffer) => this.message(channel.toString(), message));
          await conn.subscribe(...channels);
        }),
      );
    } else {
      await this.connection().subscribe(...channels);
    }
  }
}

/** Adds the flags `E` (key events), `x` (expired) and `e` (evicted) to a server's notify-keyspace-events. */
async function enableNotifications(node: Client): Promise<void> {
  const reply = (await node.config('GET', 'notify-keyspace-events')) as unknown as string[];
  const current = reply[1] ?? '';
  const has = (f: string) => current.includes(f) || (current.includes('A') && f !== 'E' && f !== 'K');
  const missing = ['E', 'x', 'e'].filter((f) => !has(f)).join('');
  if (missing) await node.config('SET', 'notify-keyspace-events', current + missing);
}
