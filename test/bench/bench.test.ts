/**
 * Smoke tests of the benchmark harness (never of the numbers): option parsing, the targets, the chart, and
 * tiny real runs (Map and raw process.send, 1 worker; the daemon-socket and worker-thread rows, 2 workers;
 * 150 ms) into a temporary directory, so a broken harness shows up in `npm test` instead of on the next
 * `npm run bench`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderChart, shortNumber } from '../../bench/chart.js';
import { parseOptions } from '../../bench/options.js';
import { type CellSummary, fmtRatio, type Machine } from '../../bench/report.js';
import { STORES, type StoreKind } from '../../bench/stores.js';
import { evaluateTargets } from '../../bench/targets.js';
import type { WorkloadName } from '../../bench/workloads.js';

const RUN = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));
const machine: Machine = {
  cpu: 'Test CPU <1>',
  cores: 2,
  node: 'v20.0.0',
  platform: 'linux-x64',
  date: '2026-01-02T03:04:05.000Z',
  loadAverage: 0.1,
};

function cell(store: StoreKind, workload: WorkloadName, workers: number, ops: number, p50 = 50): CellSummary {
  return {
    store,
    workload,
    workers,
    label: store,
    runs: [{ opsPerSec: ops, ops: ops, p50Us: p50, p99Us: p50 * 2 }],
    medianOpsPerSec: ops,
    medianP50Us: p50,
    medianP99Us: p50 * 2,
  };
}

describe('bench options', () => {
  it('runs sharedkv and the baselines by default, the peers with --peers', () => {
    const core = parseOptions([])!;
    assert.ok(core.stores.every((kind) => STORES[kind].group !== 'peer'));
    for (const kind of [
      'sharedkv-socket',
      'sharedkv-ipc',
      'sharedkv-daemon',
      'sharedkv-thread',
      'raw',
      'floor',
      'map',
    ] as const) {
      assert.ok(core.stores.includes(kind), kind);
    }
    assert.deepEqual(core.schedule.find((s) => s.workload === 'mixed')?.workers, [2, 4]);
    assert.deepEqual(core.schedule.find((s) => s.workload === 'seq-get')?.workers, [2]);
    const peers = parseOptions(['--peers'])!;
    assert.ok(peers.stores.includes('redis-auto') && peers.stores.includes('memored'));
  });

  it('--quick shortens runs and keeps 4 workers only for the 64-in-flight workload', () => {
    const quick = parseOptions(['--quick'])!;
    assert.equal(quick.runs, 1);
    assert.equal(quick.durationMs, 500);
    assert.deepEqual(quick.schedule.find((s) => s.workload === 'hot-get')?.workers, [2]);
    assert.deepEqual(quick.workers, [2, 4]);
  });

  it('--only takes a family prefix and names peers without --peers; unknown names throw', () => {
    assert.deepEqual(parseOptions(['--only', 'redis'])!.stores, ['redis-auto', 'redis']);
    assert.deepEqual(parseOptions(['--workers', '3', '--workload', 'big'])!.schedule, [
      { workload: 'big', workers: [3] },
    ]);
    assert.throws(() => parseOptions(['--only', 'nope']), /unknown store/);
    assert.throws(() => parseOptions(['--workload', 'nope']), /unknown workload/);
    assert.equal(parseOptions(['--help']), undefined);
  });
});

describe('bench targets', () => {
  const options = parseOptions(['--peers'])!;

  it('passes, misses, and says what was not measured', () => {
    const cells = [
      cell('sharedkv-socket', 'mixed', 2, 600_000),
      cell('raw', 'mixed', 2, 100_000),
      cell('redis-auto', 'mixed', 2, 200_000),
      cell('sharedkv-socket', 'seq-get', 2, 20_000, 40),
      cell('raw', 'seq-get', 2, 18_000, 45),
      { ...cell('sharedkv-near', 'hot-get', 2, 0), runs: [], skipped: 'connect() rejects nearCache' },
      cell('map', 'hot-get', 2, 4_000_000),
    ];
    const results = evaluateTargets(cells, options);
    const byName = (part: string) => results.find((r) => r.target.includes(part));
    assert.equal(byName('90/10, 2 workers: sharedkv ÷ raw')?.status, 'PASS');
    assert.equal(byName('90/10, 2 workers: sharedkv ÷ Redis')?.status, 'MISS');
    assert.equal(byName('90/10, 4 workers: sharedkv ÷ raw')?.status, 'not measured');
    assert.equal(byName('sequential get p50')?.status, 'PASS');
    assert.equal(byName('hot-key get, 2 workers')?.status, 'n/a');
  });

  it('formats ratios across magnitudes', () => {
    assert.equal(fmtRatio(3.2149), '3.21×');
    assert.equal(fmtRatio(0.0042), '0.0042×');
    assert.equal(fmtRatio(Number.NaN), '–');
    assert.equal(shortNumber(1_234_567), '1.23M');
    assert.equal(shortNumber(950), '950');
  });
});

describe('bench chart', () => {
  it('draws one bar per measured cell, n/a for skipped ones, and the machine under it', () => {
    const options = parseOptions(['--peers', '--workload', 'mixed,incr'])!;
    const cells = [
      cell('sharedkv-socket', 'mixed', 2, 300_000),
      cell('map', 'mixed', 2, 5_000_000),
      { ...cell('memored', 'incr', 2, 0), runs: [], skipped: 'no incr' },
      cell('raw', 'incr', 2, 80_000),
    ];
    const svg = renderChart(cells, options, machine)!;
    assert.match(svg, /^<svg xmlns='http:\/\/www.w3.org\/2000\/svg'/);
    assert.match(svg, /<\/svg>\n$/);
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 3);
    assert.match(svg, />n\/a</);
    assert.match(svg, /Test CPU &lt;1&gt;, 2 cores · Node v20.0.0/);
    assert.match(svg, />300k</);
    assert.equal(renderChart([], options, machine), undefined);
  });
});

/** Runs the bench with `args` in a child process; resolves with its exit code and everything it printed. */
function runBench(args: string[], env = process.env): Promise<{ code: number | null; output: string }> {
  return runScript(RUN, args, env);
}

/** Runs a bench script under tsx in a child process; resolves with its exit code and everything it printed. */
async function runScript(
  script: string,
  args: string[],
  env = process.env,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

const TINY = ['--duration', '150', '--warmup', '0', '--runs', '1'];

describe('bench run (tiny, real processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sharedkv-bench-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs Map and raw process.send end to end and writes the JSON and the chart', async () => {
    const { code, output } = await runBench([
      ...['--only', 'map,raw', '--workload', 'mixed,incr', '--workers', '1'],
      ...[...TINY, '--tsx-workers', '--out', dir],
    ]);
    assert.equal(code, 0, output);
    const record = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as { cells: CellSummary[] };
    assert.equal(record.cells.length, 4);
    for (const c of record.cells) assert.ok(c.medianOpsPerSec > 0, `${c.store} ${c.workload}`);
    assert.ok(record.cells.filter((c) => c.workload === 'incr').every((c) => c.incrExact === true));
    assert.match(readFileSync(join(dir, 'latest.svg'), 'utf8'), /^<svg /);
    assert.match(output, /### 64 in flight, 90% get \/ 10% set · 1 worker\n/);
  });

  it('runs the daemon-socket and worker-thread rows (compiled workers) with exact incr counts', async () => {
    const out = join(dir, 'topologies');
    // A private TMPDIR, where the daemon row makes its socket directory, to see that it is removed.
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const { code, output } = await runBench(
      [
        ...['--only', 'sharedkv-daemon,sharedkv-thread', '--workload', 'incr', '--workers', '2'],
        ...[...TINY, '--no-chart', '--out', out],
      ],
      { ...process.env, TMPDIR: tmp },
    );
    assert.equal(code, 0, output);
    const record = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { cells: CellSummary[] };
    assert.deepEqual(
      record.cells.map((c) => c.store),
      ['sharedkv-daemon', 'sharedkv-thread'],
    );
    for (const c of record.cells) {
      assert.ok(c.medianOpsPerSec > 0, c.store);
      assert.equal(c.incrExact, true, c.store);
    }
    // tsx keeps its cache there too; the daemon row's directories are the `sharedkv-bench-` ones.
    assert.deepEqual(
      readdirSync(tmp).filter((name) => name.startsWith('sharedkv-bench-')),
      [],
    );
  });
});

describe('bench/ttl.ts (tiny, real processes)', () => {
  it('stores keys with ttls, measures until they are gone, and prints the table with 0 stale reads', async () => {
    const script = fileURLToPath(new URL('../../bench/ttl.ts', import.meta.url));
    const { code, output } = await runScript(script, ['--keys', '20000', '--runs', '1', '--churn', '0,5000']);
    assert.equal(code, 0, output);
    const runs = output
      .split('\n')
      .filter((l) => l.includes('"keys":20000'))
      .map(
        (l) => JSON.parse(l.slice(l.indexOf('{'))) as { stale: number; reads: number; added: number; maxMs: number },
      );
    assert.equal(runs.length, 2, output);
    for (const r of runs) {
      assert.equal(r.stale, 0);
      assert.ok(r.reads > 0 && r.maxMs > 0, JSON.stringify(r));
    }
    assert.ok(runs[1]!.added > 1_000, 'the churn run stored new keys');
    assert.match(output, /\| 5,000 \| [\d.]+ \(/);
  });
});
