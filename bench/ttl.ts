/**
 * TTL at scale (issue 6): how long the owner's event loop stands still while a million keys with random
 * ttls expire, measured with `monitorEventLoopDelay` in an owner process of its own.
 *
 *   node --import tsx bench/ttl.ts [--keys n] [--runs n] [--churn list]
 *
 * Each run is a fresh process (a heap that earlier runs left garbage in would measure them, not this one):
 * it stores `--keys` keys through the owner's store, with deadlines spread uniformly over 3 s starting 11 s
 * after the setup began (for a million keys) (so the setup is over before the first one), then measures from half a second
 * before the first deadline until the last key is gone. Every ms a probe reads 20 random keys; a read that
 * starts after a key's deadline and still returns it counts as `stale` (must be 0). With a churn rate the
 * probe also stores that many new keys a second for the first 3 s, as a session store or a cache would
 * (what it adds is garbage to collect, and more to expire). Reported per churn rate, medians of the runs:
 * the longest and the 99th-percentile loop delay, the longest garbage-collection pause, and how late the
 * last key went after its deadline.
 *
 * This file is both the orchestrator and, with `--child`, the measured owner.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect, type OwnerStore } from '../src/index.js';

const MIN_TTL = 1_000;
const SPREAD = 3_000;
const CHURN_MS = 3_000;
/**
 * The setup (storing `keys` keys) must be over this long after it started, in ms; the first deadlines
 * follow. 10 s for a million (it takes ~3-7 s on the 2-core dev box).
 */
const setupBudget = (keys: number) => Math.max(1_000, keys / 100);
const PROBE_READS = 20;
/** perf_hooks GC kinds (NODE_PERFORMANCE_GC_*). */
const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };

/** What one run reports (the child prints it as one JSON line). */
export interface TtlRun {
  keys: number;
  churn: number;
  added: number;
  setupMs: number;
  /** Event-loop delay over the window, ms. */
  maxMs: number;
  p99Ms: number;
  /** Longest GC pause in the window, ms, and its kind (minor: a scavenge; major: mark-compact). */
  gcMaxMs: number;
  gcMaxKind: string;
  /** Reads that returned a key after its deadline (must be 0). */
  stale: number;
  reads: number;
  /** How long after the last deadline the store was empty, ms. */
  lagMs: number;
  windowMs: number;
}

async function child(keys: number, churn: number): Promise<TtlRun> {
  const kv = (await connect({ role: 'owner' })) as OwnerStore;
  // Latest moment each key may still exist: its ttl counted from when its set resolved.
  const deadline = new Float64Array(keys + churn * (CHURN_MS / 1000) + 1_000);
  let next = 0;
  let seed = 7;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // Deadlines of the first `keys` keys are spread over [origin + MIN_TTL, origin + MIN_TTL + SPREAD), with
  // the origin far enough ahead that the setup is over by then: all of them fall due inside the window.
  const setupStart = performance.now();
  const origin = setupStart + setupBudget(keys);
  const add = async (): Promise<void> => {
    const i = next++;
    const target = (i < keys ? origin : performance.now()) + MIN_TTL + Math.floor(rand() * SPREAD);
    const ttl = Math.max(1, Math.round(target - performance.now()));
    await kv.set(`session:${i}`, { user: i, roles: ['reader'] }, { ttl });
    deadline[i] = performance.now() + ttl;
  };
  while (next < keys) {
    const batch: Promise<void>[] = [];
    for (let n = 0; n < 1_000 && next < keys; n++) batch.push(add());
    await Promise.all(batch);
    // Let the loop turn, as it would between clients' frames.
    await new Promise((r) => setImmediate(r));
  }
  const setupMs = performance.now() - setupStart;
  if (setupMs > setupBudget(keys)) process.stderr.write(`setup took ${Math.round(setupMs)} ms, over its budget\n`);
  // Start when the setup's garbage has had time to go, shortly before the first deadline.
  await new Promise((r) => setTimeout(r, Math.max(0, origin + MIN_TTL / 2 - performance.now())));

  let gcMaxMs = 0;
  let gcMaxKind = '';
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration <= gcMaxMs) continue;
      gcMaxMs = e.duration;
      gcMaxKind = GC_KINDS[(e as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other';
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const windowStart = performance.now();
  const churnEnd = windowStart + CHURN_MS;
  let stale = 0;
  let reads = 0;
  let added = 0;
  let owed = 0;
  let last = windowStart;
  let checkAt = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1));
    const now = performance.now();
    for (let n = 0; n < PROBE_READS; n++) {
      const i = Math.floor(rand() * next);
      const at = performance.now();
      const v = await kv.get(`session:${i}`);
      reads++;
      if (v !== undefined && at >= deadline[i]!) stale++;
    }
    if (churn > 0 && now < churnEnd) {
      owed += ((now - last) * churn) / 1000;
      const writes: Promise<void>[] = [];
      for (; owed >= 1 && next < deadline.length; owed--) writes.push(add());
      added += writes.length;
      await Promise.all(writes);
    }
    last = now;
    // stats is cheap (it counts what is stored), but there is no need to ask every ms.
    if (now > churnEnd && now > checkAt) {
      checkAt = now + 50;
      if ((await kv.stats()).keys === 0) break;
    }
  }
  histogram.disable();
  gc.disconnect();
  const end = performance.now();
  let lastDeadline = 0;
  for (let i = 0; i < next; i++) lastDeadline = Math.max(lastDeadline, deadline[i]!);
  await kv.close();
  return {
    keys,
    churn,
    added,
    setupMs: Math.round(setupMs),
    maxMs: histogram.max / 1e6,
    p99Ms: histogram.percentile(99) / 1e6,
    gcMaxMs,
    gcMaxKind,
    stale,
    reads,
    lagMs: Math.max(0, Math.round(end - lastDeadline)),
    windowMs: Math.round(end - windowStart),
  };
}

const { values } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    keys: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    churn: { type: 'string', default: '0,50000' },
  },
});
const keys = Number(values.keys);
if (values.child) {
  const run = await child(keys, Number(values.churn));
  process.stdout.write(`${JSON.stringify(run)}\n`);
} else {
  const runs = Number(values.runs);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const rows: string[] = [];
  let failed = false;
  for (const churn of (values.churn ?? '0').split(',').map(Number)) {
    const results: TtlRun[] = [];
    for (let run = 0; run < runs; run++) {
      const proc = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          fileURLToPath(import.meta.url),
          '--child',
          '--keys',
          String(keys),
          '--churn',
          String(churn),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const [code] = (await once(proc, 'exit')) as [number | null];
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        process.stderr.write(`ttl run failed (exit ${code}): ${out}\n`);
        failed = true;
        continue;
      }
      const r = JSON.parse(line) as TtlRun;
      process.stderr.write(`  churn ${churn}/s run ${run + 1}: ${line}\n`);
      if (r.stale > 0) failed = true;
      results.push(r);
    }
    if (results.length === 0) continue;
    const m = (f: (r: TtlRun) => number) => median(results.map(f));
    const all = (f: (r: TtlRun) => number) => results.map((r) => f(r).toFixed(1)).join(', ');
    rows.push(
      `| ${churn.toLocaleString('en-US')} | ${m((r) => r.maxMs).toFixed(1)} (${all((r) => r.maxMs)}) | ${m((r) => r.p99Ms).toFixed(1)} | ${m((r) => r.gcMaxMs).toFixed(1)} | ${results.reduce((n, r) => n + r.stale, 0)} / ${results.reduce((n, r) => n + r.reads, 0).toLocaleString('en-US')} | ${m((r) => r.lagMs)} |`,
    );
  }
  process.stdout.write(
    `${keys.toLocaleString('en-US')} keys falling due over ${SPREAD / 1000} s, measured until all expired, ${runs} runs (medians; every run in brackets)\n\n` +
      '| new keys/s (first 3 s) | loop delay max ms | p99 ms | longest GC ms | stale reads | last key late, ms |\n' +
      '|---:|---:|---:|---:|---:|---:|\n' +
      `${rows.join('\n')}\n`,
  );
  process.exitCode = failed ? 1 : 0;
}
