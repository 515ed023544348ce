/**
 * The owner's memory when peers come and go for a long time: every per-peer structure must be dropped when
 * the peer goes. Driven at unit level on the server with stand-in peers, each carrying a 20 KB ballast so
 * that a retained peer shows up in the heap: 3,000 forked children (`serveChild`) that exit, and 3,000
 * socket connections that close.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Engine } from '../../src/engine/engine.js';
import { Server } from '../../src/server/server.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapMB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** A stand-in for a ChildProcess as serveChild uses it, holding `ballast` bytes. */
function fakeChild(pid: number): ChildProcess {
  return Object.assign(new EventEmitter(), {
    pid,
    connected: true,
    // On the V8 heap (an ArrayBuffer's bytes would not count in heapUsed).
    ballast: Array.from({ length: 2_500 }, (_, i) => i + pid),
    send: () => true,
  }) as unknown as ChildProcess;
}

describe('owner memory as peers come and go', () => {
  it('3,000 socket peers that connect, talk and close leave nothing behind', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sharedkv-mem-'));
    const server = new Server();
    try {
      const path = join(dir, 's.sock');
      await server.listen(path, undefined);
      const before = heapMB();
      for (let i = 0; i < 3_000; i++) {
        const s = net.createConnection(path);
        await new Promise<void>((resolve, reject) => {
          s.once('connect', resolve);
          s.once('error', reject);
        });
        s.end();
        await new Promise((r) => s.once('close', r));
      }
      const end = performance.now() + 10_000;
      while (server.connections.size > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
      assert.equal(server.connections.size, 0);
      const growth = heapMB() - before;
      assert.ok(growth < 4, `heap grew by ${growth.toFixed(2)} MB over 3,000 connections`);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('3,000 forked children that exit leave nothing behind', {
    timeout: 300_000,
  }, async () => {
    const server = new Server();
    try {
      const before = heapMB();
      for (let i = 0; i < 3_000; i++) {
        const child = fakeChild(100_000 + i);
        server.serveChild(child);
        child.emit('exit', null, 'SIGKILL');
      }
      const growth = heapMB() - before;
      // 3,000 x 20 KB = 60 MB if every child were kept.
      assert.ok(growth < 10, `heap grew by ${growth.toFixed(2)} MB over 3,000 children`);
    } finally {
      await server.close();
    }
  });

  it('100,000 distinct lock names taken and released leave nothing behind', { timeout: 300_000 }, () => {
    const engine = new Engine();
    const session = engine.openSession('t', () => {});
    const run = (n: number, offset: number) => {
      for (let i = 0; i < n; i++) {
        const name = `user:${offset + i}:${'x'.repeat(40)}`;
        const [token] = engine.execute(session, 1, 'lock', [name, { ttl: 60_000, wait: 0 }]) as [number];
        assert.equal(engine.execute(session, 2, 'unlock', [name, token]), true);
      }
    };
    run(1_000, 0);
    const before = heapMB();
    run(100_000, 1_000);
    const growth = heapMB() - before;
    assert.ok(growth < 2, `heap grew by ${growth.toFixed(2)} MB over 100,000 lock names`);
  });
});
