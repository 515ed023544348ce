/** The metrics module on its own: names, types, one stats call per scrape, and `up` when the owner is gone. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { registerMetrics } from '../../src/integrations/metrics.js';
import { stopStores, storeFactory, storeNames } from './stores.js';

after(stopStores);

for (const name of storeNames()) {
  describe(`metrics (${name})`, () => {
    it('exposes the owner stats, reads them once per scrape, reports up 0 once the store is closed', async () => {
      const kv = await storeFactory(name).owner();
      const registry = new Registry();
      const metrics = registerMetrics(kv, { registry, prefix: 'skv_' });
      await kv.set('a', 1);
      await kv.get('a');
      await kv.get('missing');
      const statsBefore = (await kv.stats()).commands.stats ?? 0;
      const text = await registry.metrics();
      assert.equal((await kv.stats()).commands.stats, statsBefore + 2, 'one stats call for the scrape (+1 here)');
      assert.match(text, /^skv_up 1$/m);
      assert.match(text, /^skv_keys 1$/m);
      assert.match(text, /^skv_commands_total\{command="set"\} 1$/m);
      assert.match(text, /^skv_hits_total 1$/m);
      assert.match(text, /^skv_misses_total 1$/m);
      assert.match(text, /^# TYPE skv_keys gauge$/m);
      assert.match(text, /^# TYPE skv_hits_total counter$/m);
      await kv.close();
      const down = await registry.metrics();
      assert.match(down, /^skv_up 0$/m);
      metrics.remove();
      assert.equal(await registry.metrics(), '\n');
    });
  });
}
