/**
 * sharedkv in one minute: a cluster of 4 workers sharing one store that lives in the primary (nothing to
 * install, no server to run). `npm start` runs it.
 *
 * The primary owns the data and directs the show: it tells the workers what to do, step by step, and
 * prints what each of them saw. Every read and write below is a real call from a worker process.
 */
import cluster, { type Worker } from 'node:cluster';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { connect, SharedKVError, type Store } from 'sharedkv';

const WORKERS = 4;
const TTL_MS = 300;

/**
 * The app's own IPC messages, beside sharedkv's (which carry a marker of their own): the primary sends
 * `{ demo: step }`, the worker answers `{ demo: step, line }` with what it saw.
 */
interface DemoMessage {
  demo: string;
  line?: string;
}

const show = (v: unknown) => inspect(v, { breakLength: Number.POSITIVE_INFINITY });

const kv = await connect();

if (cluster.isPrimary) await primary();
else worker(kv);

async function primary(): Promise<void> {
  console.log(`sharedkv demo: ${WORKERS} cluster workers, one store in the primary (pid ${process.pid})\n`);
  const workers = Array.from({ length: WORKERS }, () => cluster.fork());
  await Promise.all(workers.map((w) => answer(w, 'ready')));

  /** Asks workers to run `step` at the same time and prints their answers in worker order. */
  const run = async (step: string, who: Worker[] = workers): Promise<void> => {
    const answers = await Promise.all(
      who.map((w) => {
        w.send({ demo: step } satisfies DemoMessage);
        return answer(w, step);
      }),
    );
    for (const [i, a] of answers.entries()) console.log(`   worker ${who[i]?.id}  ${a.line}`);
  };
  const [w1, w2, w3, w4] = workers as [Worker, Worker, Worker, Worker];

  console.log("1. The article's example: worker 1 sets, the others read");
  await run('article-set', [w1]);
  await run('article-get', [w2, w3, w4]);

  console.log('\n2. Counters: each worker calls incr("hits") 1000 times, all at once');
  await kv.del('hits');
  await run('count');
  console.log(`   total: ${await kv.get('hits')} (exactly 4 x 1000: no update lost)`);

  console.log(`\n3. TTL: worker 1 sets "session" with a ${TTL_MS} ms time to live`);
  await run('ttl-set', [w1]);
  await run('ttl-get', [w2]);
  await sleep(TTL_MS + 50);
  console.log(`   ... ${TTL_MS + 50} ms later`);
  await run('ttl-get', [w2]);

  console.log('\n4. Batch: several commands applied atomically');
  await kv.mset({ alice: 100, bob: 0 });
  await run('batch-ok', [w3]);
  await run('batch-fail', [w4]);

  console.log('\n5. getOrSet: 4 workers miss "report" at the same moment');
  await kv.del(['report', 'loader-runs']);
  await run('get-or-set');
  const runs = await kv.get<number>('loader-runs');
  console.log(`   loader ran ${runs} time${runs === 1 ? '' : 's'} for ${WORKERS} workers`);

  for (const w of workers) w.send({ demo: 'bye' } satisfies DemoMessage);
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
  await kv.close();
  console.log('\ndone: every worker has left, the store is closed');
}

/** Resolves with the next answer of `w` to `step`. */
function answer(w: Worker, step: string): Promise<DemoMessage> {
  return new Promise((resolve) => {
    const onMessage = (msg: unknown) => {
      if (isDemo(msg) && msg.demo === step) {
        w.off('message', onMessage);
        resolve(msg);
      }
    };
    w.on('message', onMessage);
  });
}

function isDemo(msg: unknown): msg is DemoMessage {
  return msg !== null && typeof msg === 'object' && typeof (msg as DemoMessage).demo === 'string';
}

function worker(kv: Store): void {
  const id = cluster.worker?.id ?? 0;
  const reply = (demo: string, line: string) => process.send?.({ demo, line } satisfies DemoMessage);

  const steps: Record<string, () => Promise<string>> = {
    'article-set': async () => {
      await kv.set('a', [0, 1, 2, 3]);
      return `set a = ${show([0, 1, 2, 3])}`;
    },
    'article-get': async () => `get a -> ${show(await kv.get('a'))}`,
    count: async () => {
      // 1000 calls in flight at once: the client sends each tick's calls together, the owner runs them one by one.
      const results = await Promise.all(Array.from({ length: 1000 }, () => kv.incr('hits')));
      return `1000 x incr done; the last result it got: ${Math.max(...results)}`;
    },
    'ttl-set': async () => {
      // A Map, which JSON over IPC would turn into {}: values keep their types.
      const session = { user: 'ada', cart: new Map([['apple', 3]]) };
      await kv.set('session', session, { ttl: TTL_MS });
      return `set session = ${show(session)} (ttl ${TTL_MS} ms)`;
    },
    'ttl-get': async () => {
      const [value, ttl] = await Promise.all([kv.get('session'), kv.ttl('session')]);
      return value === undefined
        ? `get session -> undefined (expired; ttl() says ${ttl}: no such key)`
        : `get session -> ${show(value)} (${ttl} ms left)`;
    },
    'batch-ok': async () => {
      const result = await kv.batch().decr('alice', 30).incr('bob', 30).exec();
      return `transfer 30: decr alice, incr bob -> ${show(result)}`;
    },
    'batch-fail': async () => {
      await kv.set('name', 'ada');
      try {
        await kv.batch().decr('alice', 30).incr('bob', 30).incr('name').exec();
        return 'unexpected: the failing batch was applied';
      } catch (err) {
        if (!(err instanceof SharedKVError)) throw err;
        const index = (err.data as { index?: number }).index;
        const [alice, bob] = await kv.mget(['alice', 'bob']);
        return `transfer + incr("name") -> ${err.code} at command ${index}; nothing applied (alice ${alice}, bob ${bob})`;
      }
    },
    'get-or-set': async () => {
      let ranHere = false;
      const report = await kv.getOrSet('report', async () => {
        ranHere = true;
        await kv.incr('loader-runs');
        await sleep(100); // an expensive query
        return { builtBy: id, rows: 42 };
      });
      return `got ${show(report)}${ranHere ? '  <- loader ran here' : ''}`;
    },
  };

  process.on('message', (msg: unknown) => {
    if (!isDemo(msg)) return;
    const step = msg.demo;
    if (step === 'bye') {
      void kv.close().then(() => cluster.worker?.disconnect());
      return;
    }
    const fn = steps[step];
    if (!fn) return;
    fn().then(
      (line) => reply(step, line),
      (err: unknown) => reply(step, `failed: ${err instanceof SharedKVError ? err.code : String(err)}`),
    );
  });
  reply('ready', 'ready');
}
