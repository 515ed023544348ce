/**
 * The live command stream. The owner's `monitor` pushes every command it runs; the hub turns them into
 * short readable lines and sends them to the pages in batches (a few per second), at most
 * {@link MAX_PER_BATCH} per batch: under heavy load the rest are counted as dropped, so the page and the
 * owner stay responsive. The owner is monitored only while a page shows the stream (monitoring has a cost
 * on every command), and the inspector's own commands are left out.
 */
import { inspect } from 'node:util';
import { decodeValue } from '../protocol/codec.js';
import type { MonitorEvent } from '../server/server.js';
import type { Source } from './source.js';

/** One command as the page shows it. */
export interface StreamEvent {
  time: number;
  client: string;
  command: string;
  /** The arguments, decoded and shortened, as one line of text. */
  args: string;
}

/** What a page receives every flush. */
export interface StreamBatch {
  events: StreamEvent[];
  /** Commands seen since the last batch but not sent (over the per-batch limit). */
  dropped: number;
}

/** Most events in one batch. */
const MAX_PER_BATCH = 100;
/** Longest argument text of one event, in characters. */
const MAX_ARGS = 300;

/** Argument values are encoded bytes on the wire: decode them (and those inside batches) for display. */
function readable(args: unknown[]): unknown[] {
  return args.map((a) => {
    if (a instanceof Uint8Array) {
      try {
        return decodeValue(a);
      } catch {
        return a;
      }
    }
    return Array.isArray(a) ? readable(a) : a;
  });
}

/** Formats a monitor event's arguments as one line. */
export function formatArgs(args: unknown[]): string {
  const text = readable(args)
    .map((a) =>
      inspect(a, { depth: 3, breakLength: Number.POSITIVE_INFINITY, maxArrayLength: 20, maxStringLength: 120 }),
    )
    .join(' ');
  return text.length > MAX_ARGS ? `${text.slice(0, MAX_ARGS)}…` : text;
}

/** Fans the owner's command stream out to every page that shows it. */
export class MonitorHub {
  private readonly listeners = new Set<(batch: StreamBatch) => void>();
  private buffer: MonitorEvent[] = [];
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> = Promise.resolve();
  private stopSource: (() => Promise<void>) | null = null;
  private starting: Promise<void> | null = null;

  constructor(
    private readonly source: Source,
    private readonly flushEvery = 250,
  ) {}

  /**
   * Sends batches to `fn` until the returned function is called. Rejects when the source cannot monitor.
   */
  async subscribe(fn: (batch: StreamBatch) => void): Promise<() => void> {
    this.listeners.add(fn);
    try {
      if (this.listeners.size === 1 || this.starting) await this.start();
    } catch (err) {
      this.listeners.delete(fn);
      throw err;
    }
    return () => {
      if (!this.listeners.delete(fn)) return;
      if (this.listeners.size === 0) void this.stop();
    };
  }

  private start(): Promise<void> {
    this.starting ??= (async () => {
      await this.stopping;
      this.stopSource = await this.source.monitor((e) => this.receive(e));
      this.timer = setInterval(() => this.flush(), this.flushEvery);
      this.timer.unref();
      // Every page may have left while the owner was being asked.
      if (this.listeners.size === 0) await this.stop();
    })().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  /** Called inside other peers' commands: only counts and keeps the event. */
  private receive(e: MonitorEvent): void {
    if (e.client === this.source.selfLabel) return;
    if (this.buffer.length < MAX_PER_BATCH) this.buffer.push(e);
    else this.dropped++;
  }

  private flush(): void {
    if (this.buffer.length === 0 && this.dropped === 0) return;
    const events = this.buffer.map((e) => ({
      time: e.time,
      client: e.client,
      command: e.command,
      args: formatArgs(e.args),
    }));
    const batch = { events, dropped: this.dropped };
    this.buffer = [];
    this.dropped = 0;
    for (const fn of this.listeners) fn(batch);
  }

  /** Stops monitoring the owner (also when the inspector closes). */
  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.buffer = [];
    this.dropped = 0;
    const stop = this.stopSource;
    this.stopSource = null;
    this.stopping = stop ? stop().catch(() => {}) : Promise.resolve();
    return this.stopping;
  }
}
