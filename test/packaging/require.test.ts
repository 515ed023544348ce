/** The ESM build loads through require() from CommonJS (Node 20.19+), through the package's own exports. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

test('a CommonJS app can require() sharedkv and sharedkv/classic', () => {
  const file = fileURLToPath(new URL('../fixtures/require-esm.cjs', import.meta.url));
  const out = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}');
  assert.deepEqual(result.value, { ok: true });
  assert.equal(result.connect, 'function');
  assert.equal(result.Manager, 'function');
  assert.ok(result.codes > 10);
});
