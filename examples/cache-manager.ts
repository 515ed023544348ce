/**
 * cache-manager on sharedkv: every worker of a cluster reads and writes one cache, and `sharedWrap` makes a
 * cache miss load once for the whole cluster (cache-manager's own `wrap` coalesces only inside a process).
 *
 *   node --import tsx examples/cache-manager.ts         # WORKERS (default 4)
 *
 * Each worker asks for the same slow report at the same moment; the primary prints who loaded it.
 */
import cluster from 'node:cluster';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCache } from 'cache-manager';
import Keyv from 'keyv';
import { connect } from 'sharedkv';
import { KeyvSharedKV, sharedWrap } from 'sharedkv/keyv';

const WORKERS = Number(process.env.WORKERS ?? 4);

const kv = await connect();

/**
 * The app's own IPC messages between the primary and the workers. They carry a `demo` key because the
 * same channel also carries sharedkv's messages, which the app must ignore.
 */
type Message = { demo: 'ready' } | { demo: 'answer'; worker: number; report: unknown; loaded: boolean };

if (cluster.isPrimary) {
  const answers: Array<Extract<Message, { demo: 'answer' }>> = [];
  let ready = 0;
  for (let i = 0; i < WORKERS; i++) {
    cluster.fork().on('message', (msg: Message) => {
      // Start every worker at once, so they all miss the cache together.
      if (msg?.demo === 'ready' && ++ready === WORKERS) {
        for (const w of Object.values(cluster.workers ?? {})) w?.send({ demo: 'go' });
      }
      if (msg?.demo !== 'answer') return;
      answers.push(msg);
      if (answers.length < WORKERS) return;
      for (const a of answers)
        console.log(`worker ${a.worker}: ${a.loaded ? 'loaded' : 'got'} ${JSON.stringify(a.report)}`);
      console.log(`loader runs: ${answers.filter((a) => a.loaded).length}`);
      for (const w of Object.values(cluster.workers ?? {})) w?.kill();
      void kv.close();
    });
  }
} else {
  // A namespace of its own, so clearing the cache never touches the app's other data.
  const cache = createCache({ stores: [new Keyv({ store: new KeyvSharedKV(kv.namespace('cache')) })] });
  const go = (msg: { demo?: string }) => {
    if (msg?.demo !== 'go') return;
    process.off('message', go);
    void load();
  };
  const load = async () => {
    let loaded = false;
    const report = await sharedWrap(
      cache,
      kv,
      'report:daily',
      async () => {
        loaded = true;
        await sleep(300); // a slow query
        return { total: 42, by: cluster.worker?.id };
      },
      { ttl: 60_000 },
    );
    process.send?.({ demo: 'answer', worker: cluster.worker?.id ?? 0, report, loaded } satisfies Message);
  };
  process.on('message', go);
  process.send?.({ demo: 'ready' } satisfies Message);
}
