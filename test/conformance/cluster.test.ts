/**
 * The conformance suite on a real cluster worker: this test process is the cluster primary and the owner,
 * and every Store call runs in the worker, a sharedkv client, once per data channel.
 */
import { clusterStore } from '../helpers/remote-store.js';
import { runConformance } from './suite.js';

for (const channel of ['socket', 'ipc'] as const) {
  runConformance(`conformance: cluster worker, ${channel} channel`, () => clusterStore(channel));
}
