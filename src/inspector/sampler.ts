/**
 * Samples the owner for the live charts and tables: one round of `stats`, `clients`, `lockinfo` and
 * `subscriptions` per interval, plus a ping every quarter interval for the latency chart. It runs only while
 * a page is watching, and every page shares the same samples (and a history, so a page opened late draws
 * the last minutes at once).
 */
import type { ClientsResult, LockInfo, SubscriptionInfo } from '../engine/commands/introspect.js';
import type { CommandLatency } from '../server/server.js';
import type { Source, SourceStats } from './source.js';

/** One point of the charts. Rates leave out the inspector's own commands. */
export interface Point {
  /** Wall-clock time, ms since the epoch. */
  t: number;
  /** Commands per second, all commands. */
  ops: number;
  /** Commands per second by command (only those that ran). */
  byCommand: Record<string, number>;
  keys: number;
  bytes: number;
  clients: number;
  /** Calls waiting in the owner (lock waits, getOrSet loads). */
  pending: number;
  /** Round trip of `ping` over the last 10 s, in ms (median and 99th percentile). */
  pingP50: number | null;
  pingP99: number | null;
  /** Mean execution time of a command in the owner over the interval, in µs (when the owner reports it). */
  execUs: number | null;
}

/** What every page receives each interval. */
export interface Tick {
  point: Point | null;
  stats: {
    uptime: number;
    hits: number;
    misses: number;
    expired: number;
    evicted: number;
    latency: Record<string, CommandLatency> | null;
  } | null;
  clients: ClientsResult | null;
  locks: LockInfo[] | null;
  subscriptions: SubscriptionInfo[] | null;
  /** Why the last round failed (the owner is unreachable), or null. */
  error: string | null;
}

/** Points kept for pages that open late (5 minutes at the default interval). */
const HISTORY = 300;
/** Ping samples kept for the percentiles (10 s at the default interval). */
const PING_SAMPLES = 40;
/** Most rows of a list sent to the page. */
const MAX_ROWS = 500;

interface Baseline {
  at: number;
  commands: Record<string, number>;
  own: Map<string, number>;
  latency: Record<string, CommandLatency> | undefined;
}

function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round(sorted[i]! * 1000) / 1000;
}

/** Rounds a rate for the wire. */
function rate(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Shared sampling of one source. */
export class Sampler {
  readonly history: Point[] = [];
  last: Tick | null = null;
  private readonly listeners = new Set<(tick: Tick) => void>();
  private timer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly pings: number[] = [];
  private baseline: Baseline | null = null;
  private running = false;
  private pinging = false;

  constructor(
    private readonly source: Source,
    private readonly interval: number,
  ) {}

  /** Calls `fn` with every tick until the returned function is called; sampling runs while anyone listens. */
  subscribe(fn: (tick: Tick) => void): () => void {
    this.listeners.add(fn);
    if (this.listeners.size === 1) this.start();
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0) this.stop();
    };
  }

  private start(): void {
    this.baseline = null;
    this.timer = setInterval(() => void this.round(), this.interval);
    this.pingTimer = setInterval(() => void this.samplePing(), Math.max(50, this.interval / 4));
    this.timer.unref();
    this.pingTimer.unref();
    void this.samplePing();
    void this.round();
  }

  /** Stops sampling (also when the inspector closes). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.timer = null;
    this.pingTimer = null;
  }

  private async samplePing(): Promise<void> {
    if (this.pinging) return;
    this.pinging = true;
    try {
      this.pings.push(await this.source.ping());
      if (this.pings.length > PING_SAMPLES) this.pings.shift();
    } catch {
      // The round reports the error; a lost ping only leaves a gap.
    } finally {
      this.pinging = false;
    }
  }

  /** One sampling round; rounds never overlap (a slow owner makes them rarer, not piled up). */
  private async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const tick = await this.sample();
      this.last = tick;
      if (tick.point) {
        this.history.push(tick.point);
        if (this.history.length > HISTORY) this.history.shift();
      }
      for (const fn of this.listeners) fn(tick);
    } finally {
      this.running = false;
    }
  }

  private async sample(): Promise<Tick> {
    const src = this.source;
    // Issued together, in this order: the owner runs them in order, so the own-command snapshot taken right
    // after issuing `stats` counts exactly the inspector's commands that stats has seen.
    const statsCall = src.stats();
    const own = new Map(src.own);
    const at = Date.now();
    const lists = Promise.all([
      src.clients().catch(() => null),
      src.locks().catch(() => null),
      src.subscriptions().catch(() => null),
    ]);
    let stats: SourceStats;
    try {
      stats = await statsCall;
    } catch (err) {
      await lists;
      this.baseline = null;
      return { point: null, stats: null, clients: null, locks: null, subscriptions: null, error: String(err) };
    }
    const [clients, locks, subscriptions] = await lists;
    const point = this.point(stats, own, at);
    const cap = <T>(rows: T[] | null) => (rows && rows.length > MAX_ROWS ? rows.slice(0, MAX_ROWS) : rows);
    return {
      point,
      stats: {
        uptime: stats.uptime,
        hits: stats.hits,
        misses: stats.misses,
        expired: stats.expired,
        evicted: stats.evicted,
        latency: stats.latency ?? null,
      },
      clients: clients && { complete: clients.complete, clients: cap(clients.clients) ?? [] },
      locks: cap(locks),
      subscriptions: cap(subscriptions),
      error: null,
    };
  }

  private point(stats: SourceStats, own: Map<string, number>, at: number): Point | null {
    const prev = this.baseline;
    this.baseline = { at, commands: { ...stats.commands }, own, latency: stats.latency };
    // A Store other than the owner's (Redis) may count only its own calls; nothing is assumed.
    if (!prev) return null;
    const seconds = Math.max((at - prev.at) / 1000, 0.001);
    const byCommand: Record<string, number> = {};
    let total = 0;
    for (const [name, n] of Object.entries(stats.commands ?? {})) {
      const theirs = n - (prev.commands[name] ?? 0) - ((own.get(name) ?? 0) - (prev.own.get(name) ?? 0));
      if (theirs <= 0) continue;
      byCommand[name] = rate(theirs / seconds);
      total += theirs;
    }
    let execUs: number | null = null;
    if (stats.latency && prev.latency) {
      let calls = 0;
      let us = 0;
      for (const [name, l] of Object.entries(stats.latency)) {
        const before = prev.latency[name];
        calls += l.calls - (before?.calls ?? 0);
        us += l.calls * l.meanUs - (before ? before.calls * before.meanUs : 0);
      }
      execUs = calls > 0 ? Math.round((us / calls) * 100) / 100 : null;
    }
    const sorted = [...this.pings].sort((a, b) => a - b);
    return {
      t: at,
      ops: rate(total / seconds),
      byCommand,
      keys: stats.keys,
      bytes: stats.bytes,
      clients: stats.clients,
      pending: stats.pending,
      pingP50: percentile(sorted, 0.5),
      pingP99: percentile(sorted, 0.99),
      execUs,
    };
  }
}
