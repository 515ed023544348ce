/** Every integration subpath of the build loads through the package's exports, from ESM and from require(). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const EXPECTED: Record<string, string[]> = {
  'express-rate-limit': ['RateLimitStore'],
  'express-session': ['SessionStore'],
  keyv: ['KeyvSharedKV', 'sharedWrap'],
  metrics: ['metricsHandler', 'registerMetrics'],
  'fastify-rate-limit': ['FastifyRateLimitStore', 'fastifyRateLimitStore'],
  'rate-limiter-flexible': ['RateLimiterSharedKV'],
};

test('a CommonJS app can require() every integration subpath', () => {
  const file = fileURLToPath(new URL('../fixtures/integrations-require.cjs', import.meta.url));
  const out = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
  assert.deepEqual(JSON.parse(out.trim().split('\n').pop() ?? '{}'), EXPECTED);
});

test('every integration subpath imports as ESM', async () => {
  for (const [name, exports] of Object.entries(EXPECTED)) {
    const mod = (await import(`sharedkv/${name}`)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(mod).sort(), exports, name);
  }
});
