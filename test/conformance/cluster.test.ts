/**
 * The conformance suite on real cluster workers: this test process is the cluster primary and the owner,
 * and every Store call runs in one of 4 workers, each a sharedkv client, in turn (so a test's write and
 * the read that checks it usually run in different processes), once per data channel. The spare stores
 * that the lifecycle tests open and close are one worker each, which keeps the process count sane.
 */
import { clusterStore } from '../helpers/remote-store.js';
import { runConformance } from './suite.js';

const WORKERS = 4;

for (const channel of ['socket', 'ipc'] as const) {
  let opened = 0;
  runConformance(`conformance: ${WORKERS} cluster workers, ${channel} channel`, () =>
    clusterStore(channel, opened++ === 0 ? WORKERS : 1),
  );
}
