/**
 * The examples run as a user runs them (`node --import tsx examples/<name>.ts`), as real processes with
 * real cluster workers. They import `sharedkv` through the package's own exports, so `dist/` must be built
 * (`npm test` does that first).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const running = new Set<ChildProcess>();

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs an example to its end; rejects when it is still running after `timeoutMs`. */
function runExample(file: string, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      reject(new Error(`${file} still running after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

before(() => {
  assert.ok(existsSync(`${root}dist/classic/index.js`), 'the examples import dist/: run `npm run build` first');
});

after(() => {
  // A process still here timed out; its cluster workers exit with it (they lose their IPC channel).
  for (const child of running) child.kill('SIGKILL');
});

describe('examples', () => {
  it("classic.ts: the article's example prints [ 0, 1, 2, 3 ] and exits", async () => {
    const run = await runExample('examples/classic.ts', { SHAREDKV_EXAMPLE_EXIT: '1' });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '[ 0, 1, 2, 3 ]\n');
    assert.equal(run.stderr, '');
  });

  it('demo.ts: every step reports what it should and the demo exits 0', async () => {
    const run = await runExample('examples/demo.ts');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    const out = run.stdout;
    const lines = out.trimEnd().split('\n');
    assert.ok(lines.length <= 40, `the demo stays short (${lines.length} lines)`);

    // The article's scenario: worker 1 sets, 2..4 read the same array.
    assert.match(out, /worker 1 {2}set a = \[ 0, 1, 2, 3 \]/);
    for (const id of [2, 3, 4]) assert.match(out, new RegExp(`worker ${id} {2}get a -> \\[ 0, 1, 2, 3 \\]`));

    // Counters: the exact total.
    assert.match(out, /total: 4000 /);
    assert.equal(lines.filter((l) => /1000 x incr done/.test(l)).length, 4);

    // ttl: seen before, gone after.
    assert.match(out, /worker 2 {2}get session -> \{ user: 'ada'.*ms left\)/);
    assert.match(out, /worker 2 {2}get session -> undefined \(expired/);

    // Batch: applied, then a failing one applied nothing.
    assert.match(out, /decr alice, incr bob -> \[ 70, 30 \]/);
    assert.match(out, /ERR_SHAREDKV_WRONG_TYPE at command 2; nothing applied \(alice 70, bob 30\)/);

    // getOrSet: one loader for four workers, and all four got its value.
    assert.match(out, /loader ran 1 time for 4 workers/);
    assert.equal(lines.filter((l) => l.includes('<- loader ran here')).length, 1);
    const got = lines.filter((l) => / {2}got \{ builtBy: /.test(l)).map((l) => l.replace(/^.* {2}got |\s+<-.*$/g, ''));
    assert.equal(got.length, 4);
    assert.equal(new Set(got).size, 1, 'every worker got the one loaded value');

    assert.match(lines.at(-1) ?? '', /^done/);
  });
});
