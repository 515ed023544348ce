/**
 * The soak (`scripts/soak.ts`: an owner and 4 cluster workers with mixed traffic). Always asserted: no
 * process warning (MaxListenersExceededWarning and the like, in the owner or any worker), no failed call,
 * and the owner's heap after full GCs flat (slope under 1 MB/min after warm-up), which is where a leak of
 * per-call or per-client state shows.
 *
 * Two sizes:
 * - the acceptance run, in CI (`.ci/run` exports SHAREDKV_SOAK_ACCEPTANCE=1) and with SHAREDKV_DEEP=1:
 *   2 minutes, and strict: also RSS slope under 1 MB/min after a 1-minute warm-up and event-loop delay p99
 *   under 20 ms (the idle p99 before traffic is printed beside it; see scripts/soak.ts). RSS needs about a minute to reach its
 *   steady state (V8 and malloc settle, value buffers are freed only by full GCs), so a shorter window
 *   cannot judge it;
 * - a developer's `npm test`: 30 s (SHAREDKV_SOAK_SECONDS), with RSS and delay printed, not asserted
 *   (SHAREDKV_SOAK_STRICT=1 asserts them there too).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/soak.ts', import.meta.url));
const ACCEPTANCE = process.env.SHAREDKV_DEEP === '1' || process.env.SHAREDKV_SOAK_ACCEPTANCE === '1';
const STRICT = ACCEPTANCE || process.env.SHAREDKV_SOAK_STRICT === '1';
const ARGS = ACCEPTANCE ? ['--minutes', '2'] : ['--seconds', String(process.env.SHAREDKV_SOAK_SECONDS ?? 30)];

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
        report.eventLoopDelayP99Ms < 20,
        `event-loop delay p99 ${report.eventLoopDelayP99Ms} ms (idle p99 ${report.idleEventLoopDelayP99Ms} ms)`,
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
