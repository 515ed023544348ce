/**
 * Write throughput of the owner with each persistence policy: none, fsync 'no', 'everysec', 'always'.
 *
 *   node --import tsx bench/persist.ts [--duration ms] [--runs n] [--value bytes]
 *
 * Two loads per policy, each for `--duration` ms, `--runs` times (the table shows medians):
 * - owner: the owner's own store, 64 calls in flight (no I/O between client and owner);
 * - 2 clients: two forked children, 64 calls in flight each, over the owner's private socket.
 * Each call is a `set` of a `--value`-byte string on one of 10,000 keys. The last column is the median
 * p99 latency of the two-client load, where the group commit of fsync 'always' shows.
 *
 * This file is both the orchestrator and, with SKV_BENCH_CLIENT=1, the client process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, type OwnerStore, type Store } from '../src/index.js';

const IN_FLIGHT = 64;
const KEYS = 10_000;

interface Load {
  ops: number;
  ms: number;
  /** Latencies of a sample of calls, in ms. */
  lat: number[];
}

/** Runs `IN_FLIGHT` loops of `set` on `kv` for `ms` and counts the calls. */
async function load(kv: Store, ms: number, valueBytes: number): Promise<Load> {
  const value = 'v'.repeat(valueBytes);
  const end = performance.now() + ms;
  let ops = 0;
  const lat: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, loop) => {
      let i = loop;
      while (performance.now() < end) {
        const t = performance.now();
        // No timeout: a slow disk shows as low throughput and high latency, not as a crash.
        await kv.set(`k${i % KEYS}`, value, { timeout: 0 });
        if ((ops & 15) === 0) lat.push(performance.now() - t);
        ops++;
        i += IN_FLIGHT;
      }
    }),
  );
  return { ops, ms: performance.now() - start, lat };
}

if (process.env.SKV_BENCH_CLIENT === '1') {
  const kv = await connect();
  process.on('message', async (m: { go?: number; value?: number }) => {
    if (m.go === undefined) return;
    const r = await load(kv, m.go, m.value ?? 100);
    process.send?.({ result: r });
  });
  process.send?.({ ready: true });
} else {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '2000' },
      runs: { type: 'string', default: '3' },
      value: { type: 'string', default: '100' },
    },
  });
  const duration = Number(values.duration);
  const runs = Number(values.runs);
  const valueBytes = Number(values.value);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)] ?? 0;
  const rows: string[] = [];
  for (const policy of ['off', 'no', 'everysec', 'always'] as const) {
    const owner: number[] = [];
    const clients: number[] = [];
    const tails: number[] = [];
    for (let run = 0; run < runs; run++) {
      const dir = mkdtempSync(join(tmpdir(), 'skv-bench-persist-'));
      const kv = (await connect({
        role: 'owner',
        ...(policy === 'off' ? {} : { persist: { dir, fsync: policy } }),
      })) as OwnerStore;
      try {
        const own = await load(kv, duration, valueBytes);
        owner.push((own.ops / own.ms) * 1000);
        const children = [0, 1].map(() =>
          kv.fork(new URL(import.meta.url).pathname, [], {
            execArgv: ['--import', 'tsx'],
            env: { ...process.env, SKV_BENCH_CLIENT: '1' },
          }),
        );
        // Wait for each child's own 'ready' (its sharedkv handshake also arrives as 'message' events).
        await Promise.all(
          children.map(
            (c) =>
              new Promise<void>((resolve) => {
                const onMessage = (m: { ready?: boolean }) => {
                  if (!m.ready) return;
                  c.off('message', onMessage);
                  resolve();
                };
                c.on('message', onMessage);
              }),
          ),
        );
        const results = await Promise.all(
          children.map(
            (c) =>
              new Promise<Load>((resolve) => {
                c.on('message', (m: { result?: Load }) => m.result && resolve(m.result));
                c.send({ go: duration, value: valueBytes });
              }),
          ),
        );
        clients.push(results.reduce((n, r) => n + (r.ops / r.ms) * 1000, 0));
        tails.push(p99(results.flatMap((r) => r.lat)));
        for (const c of children) c.kill();
      } finally {
        await kv.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(10);
    rows.push(
      `| ${policy.padEnd(8)} | ${fmt(median(owner))} | ${fmt(median(clients))} | ${median(tails).toFixed(2).padStart(8)} |`,
    );
  }
  process.stdout.write(
    `set of ${valueBytes} B, ${IN_FLIGHT} in flight per process, ${duration} ms x ${runs} runs (medians)\n\n` +
      '| fsync    | owner ops/s | 2 clients ops/s | p99 ms |\n|----------|------------:|----------------:|-------:|\n' +
      `${rows.join('\n')}\n`,
  );
}
