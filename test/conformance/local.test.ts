/** The conformance suite on the owner's own store, in this process (no transport). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '../../src/index.js';
import { CONFORMANCE_PROCEDURES } from './procedures.js';
import { runConformance, storePair } from './suite.js';

runConformance('conformance: local owner', async () => {
  // Explicit role: the test runner may give this process an IPC channel, which would make `auto` a client.
  const store = await connect({ role: 'owner', procedures: CONFORMANCE_PROCEDURES });
  const peer = await connect({ role: 'owner' });
  return storePair(store, peer);
});

describe('owner stores of one process', () => {
  it('share one store; closing one of them twice does not close it for the others', async () => {
    const a = await connect({ role: 'owner' });
    const b = await connect({ role: 'owner' });
    await a.set('shared', 'by a');
    await b.close();
    await b.close();
    const c = await connect({ role: 'owner' });
    try {
      assert.equal(await c.get('shared'), 'by a', 'a store opened later still sees the same data');
    } finally {
      await c.close();
      await a.close();
    }
  });
});
