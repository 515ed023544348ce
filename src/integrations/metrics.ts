/**
 * Prometheus metrics of a sharedkv store through prom-client. The numbers come from `kv.stats()`, which the
 * owner answers for the whole store: commands run by every process, keys, bytes, connected clients. So
 * one scrape of any one process (usually the owner) shows the cluster, and no per-worker aggregation is
 * needed. Values are read when Prometheus scrapes, with one `stats` call per scrape.
 *
 * @example
 * import http from 'node:http';
 * import { connect } from 'sharedkv';
 * import { metricsHandler, registerMetrics } from 'sharedkv/metrics';
 * const kv = await connect();
 * const { registry } = registerMetrics(kv);
 * http.createServer(metricsHandler(registry)).listen(9464);
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, register as defaultRegistry, Gauge, type Registry } from 'prom-client';
import type { Store, StoreStats } from '../types.js';

/** Options of {@link registerMetrics}. */
export interface MetricsOptions {
  /** Registry to add the metrics to. @default prom-client's default registry */
  registry?: Registry;
  /** Prefix of every metric name. @default 'sharedkv_' */
  prefix?: string;
  /** Timeout of the `stats` call made per scrape, in ms. @default 2000 */
  timeout?: number;
}

/** What {@link registerMetrics} returns. */
export interface SharedKVMetrics {
  /** The registry holding the metrics. */
  registry: Registry;
  /** Removes the metrics from the registry. */
  remove(): void;
}

/** Owner-side execution time of one command, as `stats().latency` reports it (µs). */
interface CommandLatency {
  calls: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/**
 * `stats()` as the owner answers it today, plus fields it may gain: everything beyond {@link StoreStats}
 * is optional, and a metric whose field is missing reports nothing rather than a false zero.
 */
type OwnerStats = StoreStats & {
  evicted?: number;
  latency?: Record<string, CommandLatency>;
  timeouts?: number;
  lockWaits?: number;
};

/**
 * Adds sharedkv's metrics to a prom-client registry: `commands_total{command}`,
 * `command_duration_seconds{command,quantile}` (owner execution time, p50/p99/max),
 * `command_duration_seconds_sum{command}`, `keys`, `bytes`, `clients`, `pending_calls`, `hits_total`,
 * `misses_total`, `expired_keys_total`, `evicted_keys_total`, `uptime_seconds`, `up` (whether the last
 * scrape reached the owner), and `timeouts_total` / `lock_waits_total` once the owner reports them.
 *
 * @param kv Any sharedkv store; every process sees the same owner-wide numbers.
 * @throws Error from prom-client when metrics of the same names are already registered.
 */
export function registerMetrics(kv: Store, options: MetricsOptions = {}): SharedKVMetrics {
  const registry = options.registry ?? defaultRegistry;
  const p = options.prefix ?? 'sharedkv_';
  const timeout = options.timeout ?? 2_000;
  let current: Promise<OwnerStats | null> | null = null;
  // prom-client starts the `collect` of every metric of a scrape in one synchronous pass, so they share one
  // `stats` call; it is forgotten in the next microtask, so the next scrape reads fresh numbers.
  const stats = (): Promise<OwnerStats | null> => {
    if (!current) {
      current = kv.stats({ timeout }).then(
        (s) => s as OwnerStats,
        () => null,
      );
      queueMicrotask(() => {
        current = null;
      });
    }
    return current;
  };
  const metrics: Array<Counter | Gauge> = [];
  const gauge = (name: string, help: string, read: (s: OwnerStats) => number | undefined) =>
    metrics.push(
      new Gauge({
        name: p + name,
        help,
        registers: [registry],
        async collect() {
          const s = await stats();
          const v = s ? read(s) : undefined;
          if (v === undefined) this.reset();
          else this.set(v);
        },
      }),
    );
  // A counter read from the owner is an absolute total: reset, then add it, so the exposed value is it.
  const counter = (name: string, help: string, read: (s: OwnerStats) => number | undefined) =>
    metrics.push(
      new Counter({
        name: p + name,
        help,
        registers: [registry],
        async collect() {
          const s = await stats();
          const v = s ? read(s) : undefined;
          this.reset();
          if (v !== undefined) this.inc(v);
        },
      }),
    );

  metrics.push(
    new Gauge({
      name: `${p}up`,
      help: 'Whether the last scrape reached the sharedkv owner (1) or not (0)',
      registers: [registry],
      async collect() {
        this.set((await stats()) ? 1 : 0);
      },
    }),
  );
  metrics.push(
    new Counter({
      name: `${p}commands_total`,
      help: 'Commands executed by the owner, from every process, by command',
      labelNames: ['command'],
      registers: [registry],
      async collect() {
        const s = await stats();
        this.reset();
        for (const [command, n] of Object.entries(s?.commands ?? {})) this.inc({ command }, n);
      },
    }),
    new Gauge({
      name: `${p}command_duration_seconds`,
      help: 'Execution time of commands in the owner (not the round trip): p50, p99 and max (quantile 1)',
      labelNames: ['command', 'quantile'],
      registers: [registry],
      async collect() {
        const s = await stats();
        this.reset();
        for (const [command, l] of Object.entries(s?.latency ?? {})) {
          this.set({ command, quantile: '0.5' }, l.p50Us / 1e6);
          this.set({ command, quantile: '0.99' }, l.p99Us / 1e6);
          this.set({ command, quantile: '1' }, l.maxUs / 1e6);
        }
      },
    }),
    new Counter({
      name: `${p}command_duration_seconds_sum`,
      help: 'Total execution time of commands in the owner, by command (divide by commands_total for the mean)',
      labelNames: ['command'],
      registers: [registry],
      async collect() {
        const s = await stats();
        this.reset();
        for (const [command, l] of Object.entries(s?.latency ?? {})) this.inc({ command }, (l.meanUs * l.calls) / 1e6);
      },
    }),
  );
  gauge('keys', 'Live keys in the store', (s) => s.keys);
  gauge('bytes', 'Approximate bytes held by keys and values', (s) => s.bytes);
  gauge('clients', 'Processes connected to the owner', (s) => s.clients);
  gauge('pending_calls', 'Calls waiting in the owner (lock waits, loads in progress)', (s) => s.pending);
  gauge('uptime_seconds', 'Seconds since the owner started', (s) => s.uptime / 1000);
  counter('hits_total', 'Reads that found their key', (s) => s.hits);
  counter('misses_total', 'Reads that found nothing', (s) => s.misses);
  counter('expired_keys_total', 'Keys removed because their ttl passed', (s) => s.expired);
  counter('evicted_keys_total', 'Keys evicted to stay within maxKeys / maxBytes', (s) => s.evicted);
  counter('timeouts_total', 'Calls that timed out waiting in the owner', (s) => s.timeouts);
  counter('lock_waits_total', 'Lock requests that had to wait', (s) => s.lockWaits);

  return {
    registry,
    remove() {
      for (const m of metrics) registry.removeSingleMetric((m as unknown as { name: string }).name);
    },
  };
}

/**
 * A request handler (node:http, Express, or Fastify's raw request/response) that answers with the
 * registry's metrics in Prometheus text format.
 */
export function metricsHandler(
  registry: Registry = defaultRegistry,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    registry.metrics().then(
      (body) => {
        res.writeHead(200, { 'Content-Type': registry.contentType });
        res.end(body);
      },
      (err: Error) => {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`metrics failed: ${err.message}`);
      },
    );
  };
}
