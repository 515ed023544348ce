/**
 * Worker threads sharing the main thread's store: `node --import tsx examples/threads.ts`.
 *
 * The main thread owns the store and serves each thread it creates (`kv.thread()` = `new Worker()` +
 * `kv.attachThread()`); in a thread, the same `connect()` call finds the owner through its parent and gets
 * a private MessagePort to it. Frames move between threads as transferred buffers, never re-encoded.
 */
import { isMainThread, parentPort, threadId } from 'node:worker_threads';
import { connect, type OwnerStore } from 'sharedkv';

const THREADS = 4;
const PER_THREAD = 1_000;

const kv = await connect();

if (isMainThread) {
  const owner = kv as OwnerStore;
  await owner.set('config', { greeting: 'hello from the main thread', started: new Date() });
  const threads = Array.from({ length: THREADS }, () => owner.thread(threadEntry()));
  const reports = await Promise.all(
    threads.map((t) => new Promise<string>((resolve) => t.once('message', (line: string) => resolve(line)))),
  );
  for (const line of reports) console.log(line);
  console.log(`counter = ${await kv.get('counter')} (expected ${THREADS * PER_THREAD})`);
  await Promise.all(threads.map((t) => t.terminate()));
  await kv.close();
} else {
  const config = await kv.get<{ greeting: string; started: Date }>('config');
  await Promise.all(Array.from({ length: PER_THREAD }, () => kv.incr('counter')));
  parentPort?.postMessage(
    `thread ${threadId}: read "${config?.greeting}" (a real Date: ${config?.started instanceof Date}), added ${PER_THREAD}`,
  );
  await kv.close();
}

/**
 * The thread runs this same file. Node 20 starts a thread without the main thread's loader hooks, so a
 * TypeScript file needs tsx registered in the thread first; a compiled app would simply pass
 * `new URL(import.meta.url)` (or its worker's own .js file).
 */
function threadEntry(): URL {
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}
