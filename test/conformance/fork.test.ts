/**
 * The conformance suite on a child process: every Store call runs in a child that is a sharedkv client of
 * this process, once per data channel; the child is created by the owner's `fork()` for one channel and
 * by `child_process.fork` + `attach()` for the other, so both ways of serving a child are covered.
 */
import { attachedStore, forkStore } from '../helpers/remote-store.js';
import { runConformance } from './suite.js';

runConformance('conformance: kv.fork() child, socket channel', () => forkStore('socket'));
runConformance('conformance: attached child, ipc channel', () => attachedStore('ipc'));
