/**
 * Model-based tests of the memory backend in this process: the engine alone (the Store API straight over
 * `Engine`, on a hand-moved clock) and the owner's own store (`connect({ role: 'owner' })`, through its
 * LocalCaller and server, on the same kind of injected clock). Random sequences of up to 100 commands;
 * see test/helpers/model.ts for the model and how a failure replays.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { connect, type OwnerStore } from '../../src/index.js';
import { engineStore, modelBudget, replayFromEnv, runModel } from '../helpers/model.js';

const only = process.env.SHAREDKV_MODEL_TARGET;
const replay = replayFromEnv();

describe('model: memory backend in this process', () => {
  let owner: OwnerStore | undefined;
  after(async () => {
    await owner?.close();
  });

  it('engine alone, with time travel', {
    skip: only !== undefined && only !== 'engine',
    timeout: 3_600_000,
  }, async () => {
    const clock = { t: 1_000_000 };
    const store = engineStore(new Engine({ now: () => clock.t }));
    const report = await runModel(
      {
        name: 'engine',
        store,
        exactTokens: true,
        advance: async (ms) => (clock.t += ms),
      },
      { ...modelBudget(400), ...replay },
    );
    console.log(JSON.stringify(report));
    assert.ok(report.sequences > 0);
  });

  it('local owner, with time travel', {
    skip: only !== undefined && only !== 'local',
    timeout: 3_600_000,
  }, async () => {
    const clock = { t: 1_000_000 };
    owner = (await connect({ role: 'owner', now: () => clock.t, timeout: 60_000 })) as OwnerStore;
    const report = await runModel(
      {
        name: 'local',
        store: owner,
        exactTokens: true,
        advance: async (ms) => (clock.t += ms),
      },
      { ...modelBudget(200), ...replay },
    );
    console.log(JSON.stringify(report));
    assert.ok(report.sequences > 0);
  });
});
