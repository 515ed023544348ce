/**
 * The soak in its CI size: `scripts/soak.ts --seconds 30` (4 workers, mixed traffic). Always asserted: no
 * process warning, no failed call, and the owner's heap after full GCs flat (slope under 1 MB/min after
 * warm-up), which is where a leak of per-call or per-client state shows within 30 s.
 *
 * RSS slope (< 1 MB/min) and event-loop delay p99 (< 20 ms above the machine's idle p99) are the
 * acceptance run's limits, `npm run soak -- --minutes 2`: RSS needs about a minute to reach its steady
 * state (V8 and malloc settle, value buffers are freed only by full GCs), so a 30-second window cannot judge
 * it, and a machine loaded by other processes makes the delay meaningless. They are asserted here only with
 * SHAREDKV_DEEP=1 (which runs the 2-minute soak) or SHAREDKV_SOAK_STRICT=1, and printed always.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/soak.ts', import.meta.url));
const DEEP = process.env.SHAREDKV_DEEP === '1';
const STRICT = DEEP || process.env.SHAREDKV_SOAK_STRICT === '1';
const ARGS = DEEP ? ['--minutes', '2'] : ['--seconds', String(process.env.SHAREDKV_SOAK_SECONDS ?? 30)];

describe('soak', () => {
  it(`scripts/soak.ts ${ARGS.join(' ')}: no warnings, no failed call, flat heap${STRICT ? ', flat RSS, responsive owner' : ''}`, {
    timeout: 900_000,
  }, async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...ARGS, '--json'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const [code] = await once(child, 'exit');
    const report = JSON.parse(out.trim().split('\n').pop() ?? '{}');
    console.log(JSON.stringify(report));
    assert.ok(report.calls > 0, 'traffic ran');
    assert.deepEqual(report.warnings, []);
    assert.deepEqual(report.errors, {});
    assert.ok(report.heapAfterGcSlopeMBPerMin < 1, `heap after GC grew ${report.heapAfterGcSlopeMBPerMin} MB/min`);
    if (STRICT) {
      assert.ok(report.rssSlopeMBPerMin < 1, `RSS slope ${report.rssSlopeMBPerMin} MB/min`);
      assert.ok(
        report.eventLoopDelayP99ExcessMs < 20,
        `event-loop delay p99 ${report.eventLoopDelayP99ExcessMs} ms above idle`,
      );
      assert.equal(code, 0, `soak failed: ${JSON.stringify(report.failures)}`);
    } else {
      t.diagnostic(
        `not asserted in a 30 s run: RSS slope ${report.rssSlopeMBPerMin} MB/min, event-loop delay p99 ` +
          `${report.eventLoopDelayP99ExcessMs} ms above idle (${report.idleEventLoopDelayP99Ms} ms)`,
      );
    }
  });
});
