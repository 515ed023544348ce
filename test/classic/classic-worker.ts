/**
 * Cluster worker for the classic tests: it uses `User` as the article does (calls right after `new User()`,
 * callbacks), runs the scenario named in CLASSIC_TASK and reports to the test process with the
 * application's own IPC messages. When done it closes its `User` and disconnects, so the test also sees
 * that a closed `User` lets its process exit.
 */
import cluster from 'node:cluster';
import { type Callback, User } from '../../src/classic/index.js';
import { SharedKVError } from '../../src/errors.js';

/** What a callback was called with, in a form that survives JSON IPC (which drops `undefined`). */
export interface Seen {
  /** Number of arguments the callback got. */
  arity: number;
  /** `typeof` of the value, or 'null'. */
  type: string;
  value: unknown;
  code?: string;
  isSharedKVError?: boolean;
}

const task = process.env.CLASSIC_TASK ?? '';
const user = new User();
let connected = false;
user.store.then(
  () => {
    connected = true;
  },
  () => {},
);

function seen(args: unknown[]): Seen {
  const [value, err] = args;
  const s: Seen = { arity: args.length, type: value === null ? 'null' : typeof value, value };
  if (err !== undefined) {
    s.isSharedKVError = err instanceof SharedKVError;
    s.code = (err as { code?: string }).code ?? String(err);
  }
  return s;
}

/** A callback that records what it gets under `name` and resolves once called. */
function recorder(into: Record<string, Seen>, name: string): [Callback<unknown>, Promise<void>] {
  let done!: () => void;
  const called = new Promise<void>((resolve) => {
    done = resolve;
  });
  const cb: Callback<unknown> = (...args) => {
    into[name] = seen(args);
    done();
  };
  return [cb, called];
}

function finish(event: string, data: Record<string, unknown>): void {
  process.send?.({ classic: true, event, ...data }, undefined, undefined, () => {
    user.close(() => cluster.worker?.disconnect());
  });
}

const results: Record<string, Seen> = {};
const waits: Promise<void>[] = [];
const record = (name: string): Callback<unknown> => {
  const [cb, called] = recorder(results, name);
  waits.push(called);
  return cb;
};

switch (task) {
  case 'article-writer': {
    // The article's call, issued in the same tick as `new User()`, with no callback.
    const connectedAtCall = connected;
    user.set('a', [0, 1, 2, 3]);
    user.get('a', record('readBack'));
    await Promise.all(waits);
    finish('written', { connectedAtCall, results });
    break;
  }
  case 'article-reader':
    user.get('a', record('a'));
    await Promise.all(waits);
    finish('read', { results });
    break;
  case 'falsy-writer':
    user.set('zero', 0, record('zero'));
    user.set('empty', '', record('empty'));
    user.set('false', false, record('false'));
    user.set('null', null, record('null'));
    await Promise.all(waits);
    finish('written', { results });
    break;
  case 'falsy-reader':
    for (const key of ['zero', 'empty', 'false', 'null', 'missing']) user.get(key, record(key));
    await Promise.all(waits);
    finish('read', { results });
    break;
  case 'queued': {
    // Everything here is issued before the connection is open; all of it must run, in this order.
    const connectedAtCall = connected;
    user.set('q', 1);
    user.set('q', 2, record('set'));
    user.del('n');
    user.incr('n');
    user.incr('n', 5, record('incr'));
    user.get('q', record('q'));
    user.del(['q', 'never-there'], record('del'));
    user.get('q', record('qAfterDel'));
    await Promise.all(waits);
    finish('done', { connectedAtCall, results });
    break;
  }
  case 'errors': {
    const events: Seen[] = [];
    user.on('error', (...args: unknown[]) => events.push(seen([undefined, ...args])));
    user.set('text', 'not a number');
    user.incr('text', record('wrongType'));
    user.set('fn', () => {}, record('notSerializable'));
    user.set('undef', undefined, record('undefinedValue'));
    user.set('neg', 1, { ttl: -5 }, record('badTtl'));
    user.get(42 as unknown as string, record('badKey'));
    // No callback: reported as an 'error' event, since there is a listener.
    user.incr('text');
    await Promise.all(waits);
    // The instance keeps working after errors.
    const [after, afterCalled] = recorder(results, 'afterErrors');
    user.get('text', after);
    await afterCalled;
    // After close(), calls fail with ERR_SHAREDKV_CLOSED; the callback still runs.
    const [closedCb, closedCalled] = recorder(results, 'afterClose');
    user.close(() => user.get('text', closedCb));
    await closedCalled;
    process.send?.({ classic: true, event: 'done', results, events }, undefined, undefined, () =>
      cluster.worker?.disconnect(),
    );
    break;
  }
  default:
    throw new Error(`unknown CLASSIC_TASK ${JSON.stringify(task)}`);
}
