/**
 * `sharedkv/classic` across a real cluster: this test process is the primary (`new Manager()`) and forks
 * real workers running `classic-worker.ts`, which use `User` the way the article does.
 */
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Manager, User } from '../../src/classic/index.js';
import { SharedKVError } from '../../src/errors.js';
import type { Seen } from './classic-worker.js';

const FIXTURE = fileURLToPath(new URL('./classic-worker.ts', import.meta.url));

interface Report {
  classic: true;
  event: string;
  connectedAtCall?: boolean;
  results: Record<string, Seen>;
  events?: Seen[];
}

let manager: Manager;
const forked = new Set<Worker>();

function fork(task: string): Worker {
  cluster.setupPrimary({ exec: FIXTURE, execArgv: ['--import', 'tsx'] });
  const worker = cluster.fork({ CLASSIC_TASK: task });
  forked.add(worker);
  return worker;
}

/** The worker's next report named `event`; fails if the worker exits first or takes over 20 s. */
function report(worker: Worker, event: string): Promise<Report> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out waiting for '${event}'`)), 20_000);
    const onMessage = (msg: unknown) => {
      const m = msg as Partial<Report> | null;
      if (m && m.classic === true && m.event === event) done(null, m as Report);
    };
    const onExit = (code: number) => done(new Error(`worker exited with code ${code} before '${event}'`));
    const done = (err: Error | null, value?: Report) => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as Report);
    };
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
}

/** Waits for a worker that closed its `User` to leave on its own, and checks it exited cleanly. */
async function exitedCleanly(worker: Worker): Promise<void> {
  const [code] = worker.process.exitCode === null ? await once(worker, 'exit') : [worker.process.exitCode];
  assert.equal(code, 0);
  forked.delete(worker);
}

/** Runs a method of the classic API as a promise of every argument its callback got. */
function callback(run: (cb: (...args: unknown[]) => void) => void): Promise<unknown[]> {
  return new Promise((resolve) => run((...args) => resolve(args)));
}

before(() => {
  manager = new Manager();
});

after(async () => {
  for (const worker of forked) worker.process.kill('SIGKILL');
  await Promise.all([...forked].map((w) => (w.process.exitCode === null ? once(w, 'exit') : null)));
  await callback((cb) => manager.close(cb));
});

describe('sharedkv/classic in a cluster', () => {
  it("the article's example: a value set by one worker is read by another", async () => {
    const writer = fork('article-writer');
    const written = await report(writer, 'written');
    // set() was issued in the tick of `new User()`, before the connection existed, and was not lost.
    assert.equal(written.connectedAtCall, false);
    assert.deepEqual(written.results.readBack, { arity: 1, type: 'object', value: [0, 1, 2, 3] });
    await exitedCleanly(writer);

    const reader = fork('article-reader');
    const read = await report(reader, 'read');
    // cb(value): exactly one argument on success, as in the article.
    assert.deepEqual(read.results.a, { arity: 1, type: 'object', value: [0, 1, 2, 3] });
    await exitedCleanly(reader);

    // The primary's Manager has the same methods and sees the same data.
    assert.deepEqual(await callback((cb) => manager.get('a', cb)), [[0, 1, 2, 3]]);
  });

  it("set's callback gets 'OK', and falsy values (0, '', false, null) round-trip; a missing key is undefined", async () => {
    const writer = fork('falsy-writer');
    const written = await report(writer, 'written');
    for (const key of ['zero', 'empty', 'false', 'null']) {
      assert.deepEqual(written.results[key], { arity: 1, type: 'string', value: 'OK' }, key);
    }
    await exitedCleanly(writer);

    const reader = fork('falsy-reader');
    const { results } = await report(reader, 'read');
    assert.deepEqual(results.zero, { arity: 1, type: 'number', value: 0 });
    assert.deepEqual(results.empty, { arity: 1, type: 'string', value: '' });
    assert.deepEqual(results.false, { arity: 1, type: 'boolean', value: false });
    assert.deepEqual(results.null, { arity: 1, type: 'null', value: null });
    // JSON IPC drops the `value: undefined` field; `type` tells it apart from null.
    assert.deepEqual(results.missing, { arity: 1, type: 'undefined' });
    await exitedCleanly(reader);
  });

  it('calls issued before the connection opens are queued and run in order', async () => {
    const worker = fork('queued');
    const { connectedAtCall, results } = await report(worker, 'done');
    assert.equal(connectedAtCall, false);
    assert.equal(results.set?.value, 'OK');
    assert.equal(results.incr?.value, 6, 'del n, incr n, incr n by 5');
    assert.equal(results.q?.value, 2, 'the second set of q won');
    assert.equal(results.del?.value, 1, 'q existed, never-there did not');
    assert.equal(results.qAfterDel?.type, 'undefined');
    await exitedCleanly(worker);
  });

  it('errors reach the callback as cb(undefined, err), err a SharedKVError with a code', async () => {
    const worker = fork('errors');
    const { results, events } = await report(worker, 'done');
    const failed = (code: string) => ({ arity: 2, type: 'undefined', isSharedKVError: true, code });
    assert.deepEqual(results.wrongType, failed('ERR_SHAREDKV_WRONG_TYPE'));
    assert.deepEqual(results.notSerializable, failed('ERR_SHAREDKV_NOT_SERIALIZABLE'));
    assert.deepEqual(results.undefinedValue, failed('ERR_SHAREDKV_BAD_ARGUMENT'));
    assert.deepEqual(results.badTtl, failed('ERR_SHAREDKV_BAD_ARGUMENT'));
    assert.deepEqual(results.badKey, failed('ERR_SHAREDKV_BAD_ARGUMENT'));
    // A failed call without a callback is emitted as 'error' on the User.
    assert.deepEqual(
      events?.map((e) => [e.isSharedKVError, e.code]),
      [[true, 'ERR_SHAREDKV_WRONG_TYPE']],
    );
    // Errors do not break the instance; close() makes later calls fail with ERR_SHAREDKV_CLOSED.
    assert.deepEqual(results.afterErrors, { arity: 1, type: 'string', value: 'not a number' });
    assert.deepEqual(results.afterClose, failed('ERR_SHAREDKV_CLOSED'));
    await exitedCleanly(worker);
  });
});

describe('sharedkv/classic in one process', () => {
  it('Manager.store is the owner store, for moving to the promise API', async () => {
    const store = await manager.store;
    assert.equal(store.isOwner, true);
    await store.set('from-promise-api', 7);
    assert.deepEqual(await callback((cb) => manager.incr('from-promise-api', 3, cb)), [10]);
    assert.deepEqual(await callback((cb) => manager.del('from-promise-api', cb)), [1]);
  });

  it('a User that finds no owner fails each call with ERR_SHAREDKV_NO_OWNER', async () => {
    // role 'client' in a process whose parent serves no store: the handshake gives up.
    const user = new User({ role: 'client', readyTimeout: 300 });
    const errors: unknown[] = [];
    user.on('error', (err) => errors.push(err));
    user.set('x', 1);
    const [value, err] = await callback((cb) => user.get('x', cb));
    assert.equal(value, undefined);
    assert.ok(err instanceof SharedKVError);
    assert.equal(err.code, 'ERR_SHAREDKV_NO_OWNER');
    // The set without a callback reported the same failure as an 'error' event, before the get's callback.
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as SharedKVError).code, 'ERR_SHAREDKV_NO_OWNER');
    await assert.rejects(user.store, { code: 'ERR_SHAREDKV_NO_OWNER' });
    assert.deepEqual(await callback((cb) => user.close(cb)), ['OK']);
  });

  it('a callback that is not a function is refused at once with ERR_SHAREDKV_BAD_ARGUMENT', () => {
    assert.throws(() => manager.get('a', 'nope' as never), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
    assert.throws(() => manager.set('a', 1, {}, 42 as never), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' });
  });
});
