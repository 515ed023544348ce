/**
 * TTL at scale, through the owner's own sweep timer (server.ts: time-sliced sweeps between loop turns):
 * a million keys with random ttls expire, no get ever returns a key whose ttl passed, and no sweep slice
 * holds the event loop for long. Two phases on the same store:
 * 1. steady: expired keys are replaced as they go (a session store or cache), ~250,000 expiries a second
 *    with the population at ~1 M: 99 % of sweep calls take under 5 ms of wall time (the slice budget is
 *    2 ms; the rest are calls that a garbage collection or another process interrupted);
 * 2. drain: nothing is replaced and all 1 M keys expire; the store is empty within 5 s of the last deadline
 *    (the lag is printed). The sweep removes a key in ~3.5 µs at this size (heap pop, shard lookup, delete;
 *    ~3.8 s for a million on the dev box, measured alone), so keys that fall due at ~330,000 a second keep
 *    it busy and the last ones go up to a few seconds late on a loaded 2-core machine; they are never
 *    returned meanwhile (lazy expiry), which is what the first assertion checks.
 * The key table is split into 1,024 Maps (src/engine/shards.ts), so a Map rehash (which V8 does in one
 * step, when a Map grows, shrinks below a quarter of its capacity, or fills its table with inserts after
 * deletes) touches about a thousand entries instead of a million: asserted here as the largest shard at
 * 1 M keys. The event-loop delay is measured (monitorEventLoopDelay, 1 ms resolution) and reported, not
 * asserted (speed belongs in the benchmark: `npm run bench -- --ttl` measures issue 6's "max under 10 ms"
 * in fresh processes). Here, alone on the quiet 2-core dev box: 15 ms steady (the refill keeps the loop
 * busy), 6-8 ms drain; 25-31 and 14-19 ms while other suites ran; 223-235 and 119-135 ms with one Map.
 * See docs/persistence.md, "TTL at scale", for the numbers.
 */
import assert from 'node:assert/strict';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { Server } from '../../src/server/server.js';
import { enc } from '../helpers/engine.js';
import { mulberry32 } from './harness.js';

const KEYS = 1_000_000;
/** Ttls are spread uniformly over [MIN_TTL, MIN_TTL + SPREAD) ms. */
const MIN_TTL = 1_000;
const SPREAD = 3_000;
const STEADY_MS = 3_000;

interface Phase {
  /** Event-loop delay, max and 99th percentile, in ms. */
  maxMs: number;
  p99Ms: number;
  /** Longest garbage-collection pause, in ms. */
  gcMaxMs: number;
  /** Calls of engine.sweep, their 99th and 99.9th percentile and longest duration (wall time), in ms. */
  sweeps: number;
  sweepP99Ms: number;
  sweepP999Ms: number;
  sweepMaxMs: number;
  hits: number;
  misses: number;
  added: number;
}

describe('ttl at scale', () => {
  it('1 M keys with random ttls: sliced sweeps while they expire, and expired keys are never returned', async (t) => {
    const server = new Server();
    const engine = server.engine;
    const session = engine.openSession('test', () => {});
    let id = 1;
    const rng = mulberry32(99);
    const value = enc({ some: 'value', n: 1 });
    // Latest possible expiry of each key: its ttl counted from just after its set ran.
    const deadline = new Float64Array(KEYS * 3);
    let next = 0;
    const add = () => {
      const ttl = MIN_TTL + Math.floor(rng() * SPREAD);
      engine.execute(session, id++, 'set', [`key:${next}`, value, { ttl }]);
      deadline[next++] = engine.now() + ttl;
    };
    const setupStart = performance.now();
    while (next < KEYS) add();
    const setupMs = Math.round(performance.now() - setupStart);
    // No shard is much larger than the mean (~977 keys), so no rehash touches more than that.
    const largestShard = Math.max(...engine.data.shards.map((s) => s.size));
    assert.ok(largestShard < 1_200, `largest shard ${largestShard}`);

    let sweeps: number[] = [];
    const sweep = engine.sweep.bind(engine);
    engine.sweep = (budget) => {
      const t0 = performance.now();
      try {
        return sweep(budget);
      } finally {
        sweeps.push(performance.now() - t0);
      }
    };
    let gcMaxMs = 0;
    const gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, e.duration);
    });
    gc.observe({ entryTypes: ['gc'] });

    /** Runs a phase: every ms, 20 random gets (a hit must be live) and, when `refill`, top-ups to 1 M keys. */
    const phase = async (refill: boolean, until: () => boolean): Promise<Phase> => {
      sweeps = [];
      gcMaxMs = 0;
      const histogram = monitorEventLoopDelay({ resolution: 1 });
      histogram.enable();
      let hits = 0;
      let misses = 0;
      let wrong = 0;
      const first = next;
      await new Promise<void>((resolve) => {
        const probe = () => {
          for (let n = 0; n < 20; n++) {
            const i = Math.floor(rng() * next);
            const at = engine.now();
            if (engine.execute(session, id++, 'get', [`key:${i}`]) === null) misses++;
            else if (at >= deadline[i]!) wrong++;
            else hits++;
          }
          // The sweep removes expired keys; replace them, a bounded number per ms.
          for (let n = 0; refill && n < 500 && engine.data.size < KEYS && next < deadline.length; n++) add();
          if (until()) resolve();
          else setTimeout(probe, 1);
        };
        setTimeout(probe, 1);
      });
      histogram.disable();
      assert.equal(wrong, 0, 'a get returned a key after its ttl');
      sweeps.sort((a, b) => a - b);
      return {
        maxMs: histogram.max / 1e6,
        p99Ms: histogram.percentile(99) / 1e6,
        gcMaxMs,
        sweeps: sweeps.length,
        sweepP99Ms: sweeps[Math.floor(sweeps.length * 0.99)] ?? 0,
        sweepP999Ms: sweeps[Math.floor(sweeps.length * 0.999)] ?? 0,
        sweepMaxMs: sweeps.at(-1) ?? 0,
        hits,
        misses,
        added: next - first,
      };
    };

    try {
      // Start once expiries are under way, so the garbage of the setup is collected outside the window.
      await new Promise((r) => setTimeout(r, MIN_TTL));
      const steadyEnd = performance.now() + STEADY_MS;
      const steady = await phase(true, () => performance.now() > steadyEnd);
      t.diagnostic(`setup ${setupMs} ms, largest shard ${largestShard} keys; steady: ${JSON.stringify(steady)}`);
      let last = 0;
      for (let i = 0; i < next; i++) last = Math.max(last, deadline[i]!);
      const drain = await phase(false, () => engine.data.size === 0 || engine.now() > last + 5_000);
      const lagMs = Math.max(0, engine.now() - last);
      t.diagnostic(`drain: ${JSON.stringify({ ...drain, lagMs, left: engine.data.size })}`);
      assert.equal(engine.data.size, 0, `every key removed within 5 s of the last deadline (lag ${lagMs} ms)`);
      assert.ok(steady.added > 100_000 && steady.hits > 0 && steady.misses > 0, JSON.stringify(steady));
      assert.ok(steady.sweeps > 100 && steady.sweepP99Ms < 5, `steady: sweep slices ${JSON.stringify(steady)}`);
    } finally {
      gc.disconnect();
      await server.close();
    }
  });
});
