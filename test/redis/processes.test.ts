/**
 * The Redis backend across real processes (child_process.fork, each with `connect({ redis })`): counters
 * under load, getOrSet's single loader, locks with fencing, FIFO waiting, the watchdog that keeps a live
 * holder's lease and lets a dead holder's lock go within the liveness window.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { connectRedis, type RedisStore } from '../../src/backends/redis/index.js';
import { type RedisServer, redisSkipReason, startRedis } from '../helpers/redis-server.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const LIVENESS = 1000;

interface Result {
  [k: string]: unknown;
}

class Proc {
  private nextId = 1;
  readonly exited: Promise<unknown>;
  constructor(readonly child: ChildProcess) {
    this.exited = once(child, 'exit');
  }
  static async start(env: Record<string, string>): Promise<Proc> {
    const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
    const p = new Proc(child);
    await p.next('ready', 0);
    return p;
  }
  private next(event: string, id: number): Promise<Result> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${event}' from ${this.child.pid}`)), 60_000);
      // Only 'lock' steps announce 'waiting': an unanswered wait must not hold the process open.
      timer.unref();
      const on = (m: Result) => {
        if (m?.app && m.event === event && (id === 0 || m.id === id)) {
          clearTimeout(timer);
          this.child.off('message', on);
          if (m.error) reject(new Error(`step failed: ${m.error}`));
          else resolve(m);
        }
      };
      this.child.on('message', on);
    });
  }
  /** Sends a step; resolves with its result (and, for `lock`, `waiting` once the request is under way). */
  step(what: string, params: Record<string, unknown> = {}): { result: Promise<Result>; waiting: Promise<Result> } {
    const id = this.nextId++;
    const result = this.next('result', id);
    const waiting = this.next('waiting', id);
    waiting.catch(() => {});
    this.child.send({ do: what, id, ...params });
    return { result, waiting };
  }
  run(what: string, params: Record<string, unknown> = {}): Promise<Result> {
    return this.step(what, params).result;
  }
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }
}

const skip = redisSkipReason();
describe('Redis backend across processes', { skip }, () => {
  let server: RedisServer;
  let kv: RedisStore;
  let raw: Redis;
  let procs: Proc[] = [];
  const env = () => ({ SKV_REDIS_URL: server.url, SKV_PREFIX: 'procs', SKV_LIVENESS: String(LIVENESS) });

  before(async () => {
    server = await startRedis();
    kv = await connectRedis({ redis: server.url, prefix: 'procs', lockLiveness: LIVENESS });
    raw = new Redis(server.url);
    procs = await Promise.all(Array.from({ length: 4 }, () => Proc.start(env())));
  });
  after(async () => {
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.exited));
    raw?.disconnect();
    await kv?.close();
    await server?.stop();
  });

  it('4 processes x 5,000 incr end at exactly 20,000, each result handed out once', async () => {
    const results = await Promise.all(procs.map((p) => p.run('incr', { key: 'hits', n: 5000 })));
    assert.equal(await kv.get('hits'), 20_000);
    const all = results.flatMap((r) => r.results as number[]).sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: 20_000 }, (_, i) => i + 1),
    );
  });

  it('getOrSet missed in 4 processes at once (5 callers each) runs one loader in total', async () => {
    const results = await Promise.all(procs.map((p) => p.run('getOrSet', { key: 'report', delay: 100 })));
    assert.equal(
      results.reduce((n, r) => n + (r.calls as number), 0),
      1,
    );
    const values = results.flatMap((r) => r.values as unknown[]);
    assert.equal(new Set(values.map((v) => JSON.stringify(v))).size, 1);
  });

  it('4 processes x 100 withLock read-modify-write sections end exact', async () => {
    await kv.del('rmw-counter');
    await Promise.all(procs.map((p) => p.run('withLockRmw', { n: 100, key: 'rmw-counter' })));
    assert.equal(await kv.get('rmw-counter'), 400);
  });

  it('a holder paused by SIGSTOP past its lease has all 1,000 fenced writes refused', async () => {
    const holder = procs[0]!;
    const first = await holder.run('lock', { name: 'fence', ttl: 150, wait: 1000 });
    holder.kill('SIGSTOP');
    try {
      await new Promise((r) => setTimeout(r, 300));
      const next = await kv.lock('fence', { ttl: 60_000, wait: 5000 });
      assert.ok(next.token > (first.token as number), 'fencing tokens increase');
      holder.kill('SIGCONT');
      const r = await holder.run('fencedWrites', { name: 'fence', n: 1000 });
      assert.equal(r.accepted, 0);
      assert.deepEqual(r.codes, ['ERR_SHAREDKV_LOCK_LOST']);
      assert.equal(await kv.get('fenced:0'), undefined);
      assert.equal(await kv.set('fenced:live', 1, { fence: next }), true, "the live holder's fenced write applies");
      assert.equal(await next.release(), true);
    } finally {
      holder.kill('SIGCONT');
    }
  });

  it('a live holder keeps a long lease past the liveness window (the watchdog renews it)', async () => {
    const holder = procs[1]!;
    await holder.run('lock', { name: 'long', ttl: 60_000, wait: 1000 });
    await new Promise((r) => setTimeout(r, LIVENESS * 3));
    assert.equal(await kv.tryLock('long'), null, 'still held');
    assert.equal((await holder.run('release', { name: 'long' })).released, true);
  });

  it('kill -9 of a holder frees its lock within the liveness window; waiters are served in arrival order', async () => {
    // The last test: the fourth worker is the victim, the other three wait.
    const victim = procs[3]!;
    await victim.run('lock', { name: 'L0', ttl: 60_000, wait: 1000 });
    const waiters = procs.slice(0, 3);
    const results: Array<Promise<Result>> = [];
    for (const w of waiters) {
      const { waiting, result } = w.step('lock', { name: 'L0', ttl: 60_000, wait: 30_000 });
      await waiting;
      // Queued in Redis before the next one asks, so the arrival order is known.
      const queued = results.length + 1;
      for (let i = 0; (await raw.zcard('{procs}#lq:L0')) < queued; i++) {
        if (i > 1000) throw new Error('the waiter never queued');
        await new Promise((r) => setTimeout(r, 5));
      }
      results.push(result);
    }
    const killed = performance.now();
    victim.kill();
    const firstGrant = await results[0]!;
    const freedIn = performance.now() - killed;
    assert.ok(freedIn < LIVENESS + 1000, `freed in ${freedIn.toFixed(0)} ms`);
    assert.ok(freedIn >= LIVENESS / 3, `not before the lease ran out (${freedIn.toFixed(0)} ms)`);
    // Each waiter releases in turn; the next one in line gets it.
    const got = [firstGrant];
    for (let i = 1; i < waiters.length; i++) {
      await waiters[i - 1]!.run('release', { name: 'L0' });
      got.push(await results[i]!);
    }
    await waiters[waiters.length - 1]!.run('release', { name: 'L0' });
    const tokens = got.map((g) => g.token as number);
    assert.deepEqual(
      [...tokens].sort((a, b) => a - b),
      tokens,
      'tokens increase in arrival order',
    );
    const at = got.map((g) => g.at as number);
    assert.deepEqual(
      [...at].sort((a, b) => a - b),
      at,
    );
  });
});
