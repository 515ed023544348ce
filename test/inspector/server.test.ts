/**
 * The inspector's HTTP side without a browser, on an owner reached through its Unix socket (the path of
 * `sharedkv inspect --socket`): loopback only, 401 on every route without the token, the JSON routes, the
 * event streams, and the reduced view of a plain Store.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ScanItem } from '../../src/engine/commands/introspect.js';
import { SharedKVError } from '../../src/errors.js';
import { type ServeHandle, serve } from '../../src/index.js';
import { type Inspector, type InspectorOptions, startInspector, type Tick } from '../../src/inspector/index.js';
import type { StreamBatch } from '../../src/inspector/monitor.js';

const SOCKET_TOKEN = 'socket-token-for-tests';
let dir: string;
let daemon: ServeHandle;
let inspector: Inspector;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skv-insp-'));
  daemon = await serve({ socket: join(dir, 'kv.sock'), token: SOCKET_TOKEN });
  inspector = await startInspector({ socket: daemon.socket, token: SOCKET_TOKEN }, { log: false, interval: 200 });
});

after(async () => {
  await inspector?.close();
  await daemon?.close();
  rmSync(dir, { recursive: true, force: true });
});

function url(path: string, token: string | null = inspector.token): string {
  const u = new URL(path, `http://127.0.0.1:${inspector.port}`);
  if (token !== null) u.searchParams.set('token', token);
  return u.href;
}

/** Shapes of the answers the tests read. */
interface Answer {
  items: ScanItem[];
  cursor: number;
  type: string;
  ttl: number;
  json: unknown;
  namespaces: Array<{ name: string; keys: number }>;
  error: { code: string; message: string };
  kind: string;
  features: { monitor: boolean };
}

async function getJson(path: string, params: Record<string, string> = {}): Promise<{ status: number; body: Answer }> {
  const u = new URL(url(path));
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  const r = await fetch(u);
  return { status: r.status, body: (await r.json()) as Answer };
}

async function post(path: string, body: unknown, token: string | null = inspector.token) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers['x-sharedkv-token'] = token;
  const r = await fetch(url(path, null), { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Answer };
}

/** Reads Server-Sent Events from `path` until `until` returns true (or fails after 10 s). */
function readEvents(
  path: string,
  until: (event: string, data: unknown) => boolean,
  onOpen: () => void = () => {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url(path), (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /text\/event-stream/);
      onOpen();
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let i = buffer.indexOf('\n\n'); i !== -1; i = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data && until(event, JSON.parse(data))) {
            clearTimeout(timer);
            req.destroy();
            resolve();
            return;
          }
        }
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no matching event on ${path}`));
    }, 10_000);
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}

describe('access', () => {
  it('listens on loopback only', () => {
    const address = inspector.server.address();
    assert.ok(address !== null && typeof address === 'object');
    assert.equal(address.address, '127.0.0.1');
    assert.equal(address.family, 'IPv4');
    assert.ok(inspector.url.startsWith(`http://127.0.0.1:${inspector.port}/?token=`));
  });

  it('refuses any address but loopback, and bad options', async () => {
    for (const options of [
      { host: '0.0.0.0' },
      { host: '::' },
      { host: '192.168.1.10' },
      { host: 'localhost' },
      { port: 70_000 },
      { token: 'short' },
      { interval: 10 },
    ]) {
      await assert.rejects(
        startInspector(daemon.store, { log: false, ...(options as InspectorOptions) }),
        (err: unknown) => err instanceof SharedKVError && err.code === 'ERR_SHAREDKV_BAD_ARGUMENT',
        JSON.stringify(options),
      );
    }
  });

  it('answers 401 on every route without the right token', async () => {
    const paths = [
      '/',
      '/api/info',
      '/api/keys',
      '/api/key?key=a',
      '/api/namespaces',
      '/api/events',
      '/api/monitor',
      '/favicon.ico',
      '/no/such/route',
    ];
    for (const path of paths) {
      for (const token of [null, '', 'wrong', `${inspector.token}x`]) {
        const r = await fetch(url(path, token));
        assert.equal(r.status, 401, `${path} with token ${token}`);
        await r.body?.cancel();
      }
    }
    for (const path of ['/api/set', '/api/del', '/api/expire', '/']) {
      assert.equal((await post(path, { key: 'a' }, null)).status, 401, path);
      assert.equal((await post(path, { key: 'a' }, 'wrong')).status, 401, path);
      // A POST must carry the token in its header: the query alone is not enough.
      const r = await fetch(url(path), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(r.status, 401, `${path} with the token in the query only`);
      await r.body?.cancel();
    }
  });

  it('answers 403 to a foreign Host even with the token (DNS rebinding)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(url('/api/info'), { headers: { host: `evil.example:${inspector.port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 403);
  });

  it('serves the page with a nonce-only CSP and without the token inside', async () => {
    const r = await fetch(url('/'));
    assert.equal(r.status, 200);
    const csp = r.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, csp);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    const html = await r.text();
    assert.ok(html.includes(`<script nonce="${nonce}">`));
    assert.ok(!html.includes(inspector.token));
  });
});

describe('keys and values over a socket owner', () => {
  it('pages keys by glob with type, size and ttl', async () => {
    const kv = daemon.store;
    await kv.mset(Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`page:${i}`, i])));
    await kv.set('page:ttl', new Map([[1, 2]]), { ttl: 60_000 });
    const seen = new Set<string>();
    let cursor = '0';
    let pages = 0;
    do {
      const { status, body } = await getJson('/api/keys', { match: 'page:*', count: '100', cursor });
      assert.equal(status, 200);
      for (const it of body.items as ScanItem[]) seen.add(it.key);
      cursor = String(body.cursor);
      pages++;
    } while (cursor !== '0');
    assert.equal(seen.size, 251);
    assert.equal(pages, 3);
    const one = await getJson('/api/keys', { match: 'page:ttl' });
    assert.equal(one.body.items[0]?.type, 'map');
    assert.ok((one.body.items[0]?.ttl ?? 0) > 50_000);
    const ns = await getJson('/api/namespaces');
    assert.equal(ns.body.namespaces.find((n) => n.name === 'page')?.keys, 251);
    assert.equal((await getJson('/api/keys', { cursor: '424242' })).status, 400);
  });

  it('shows a value in tagged JSON, and 404 for a missing key', async () => {
    await daemon.store.set('v', { d: new Date(0), b: 10n, s: new Set(['x']), bin: Uint8Array.of(1) });
    const { status, body } = await getJson('/api/key', { key: 'v' });
    assert.equal(status, 200);
    assert.equal(body.type, 'object');
    assert.equal(body.ttl, -1);
    assert.deepEqual(body.json, {
      d: { $date: '1970-01-01T00:00:00.000Z' },
      b: { $bigint: '10' },
      s: { $set: ['x'] },
      bin: { $binary: { type: 'Uint8Array', hex: '01' } },
    });
    assert.equal((await getJson('/api/key', { key: 'nope' })).status, 404);
  });

  it('writes typed values, sets and removes a ttl, and deletes', async () => {
    const kv = daemon.store;
    assert.equal(
      (await post('/api/set', { key: 'e', as: 'map', text: '[[1, {"$date": "2024-01-01T00:00:00Z"}]]' })).status,
      200,
    );
    assert.deepEqual(await kv.get('e'), new Map([[1, new Date('2024-01-01T00:00:00Z')]]));
    await post('/api/set', { key: 'e', as: 'bigint', text: '99', ttl: 30_000 });
    assert.equal(await kv.get('e'), 99n);
    assert.ok((await kv.ttl('e')) > 25_000);
    // Without a ttl in the request the key keeps its ttl; 'none' clears it.
    await post('/api/set', { key: 'e', as: 'string', text: 'kept' });
    assert.ok((await kv.ttl('e')) > 25_000);
    await post('/api/set', { key: 'e', as: 'number', text: '5', ttl: 'none' });
    assert.equal(await kv.ttl('e'), -1);
    assert.deepEqual((await post('/api/expire', { key: 'e', ttl: 10_000 })).body, { ok: true });
    assert.ok((await kv.ttl('e')) > 5_000);
    assert.deepEqual((await post('/api/expire', { key: 'e', ttl: null })).body, { ok: true });
    assert.equal(await kv.ttl('e'), -1);
    assert.deepEqual((await post('/api/expire', { key: 'missing', ttl: null })).body, { ok: false });
    assert.deepEqual((await post('/api/del', { key: 'e' })).body, { deleted: 1 });
    assert.equal(await kv.has('e'), false);
  });

  it('answers 400 with a code for input that does not parse', async () => {
    for (const body of [
      { key: 'x', as: 'number', text: 'abc' },
      { key: 'x', as: 'json', text: '{' },
      { key: 'x', as: 'weird', text: '1' },
      { key: 'x', as: 'json', text: '{"$undefined": true}' },
      { key: 'x', as: 'json', text: '1', ttl: -5 },
      { key: 42, as: 'json', text: '1' },
    ]) {
      const r = await post('/api/set', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'ERR_SHAREDKV_BAD_ARGUMENT');
    }
    const notJson = await fetch(url('/api/set', null), {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-sharedkv-token': inspector.token },
      body: 'x',
    });
    assert.equal(notJson.status, 400);
    await notJson.body?.cancel();
  });
});

describe('live streams', () => {
  it('ticks with stats, clients, locks and subscriptions, leaving its own commands out of ops/s', async () => {
    const lock = await daemon.store.lock('inspect-lock', { ttl: 30_000 });
    const off = await daemon.store.subscribe('inspect-chan', () => {});
    const ticks: Tick[] = [];
    await readEvents('/api/events', (event, data) => {
      if (event === 'tick') ticks.push(data as Tick);
      return ticks.filter((t) => t.point).length >= 2;
    });
    const t = ticks[ticks.length - 1]!;
    assert.equal(t.error, null);
    // Nothing but the inspector ran meanwhile: its own sampling is not counted.
    assert.equal(t.point?.ops, 0);
    assert.ok(t.point!.keys > 250);
    assert.ok(t.point!.pingP50 !== null && t.point!.pingP50 > 0);
    const self = t.clients?.clients.find((c) => c.self && c.transport === 'socket');
    assert.ok(self, 'the inspector sees its own socket session');
    assert.ok(t.locks?.some((l) => l.name === 'inspect-lock' && l.holders.length === 1));
    assert.ok(t.subscriptions?.some((s) => s.target === 'inspect-chan'));
    assert.ok(t.stats?.latency?.stats);
    await lock.release();
    await off();
  });

  it('streams the commands of other clients, not its own', async () => {
    const batches: StreamBatch[] = [];
    await readEvents(
      '/api/monitor',
      (event, data) => {
        if (event === 'batch') batches.push(data as StreamBatch);
        return batches.some((b) => b.events.some((e) => e.command === 'set' && e.args.startsWith("'streamed'")));
      },
      () => {
        // Once the stream is open, write from the daemon's own store (another client of the owner).
        setTimeout(() => void daemon.store.set('streamed', { n: 1 }), 100);
      },
    );
    const events = batches.flatMap((b) => b.events);
    const set = events.find((e) => e.command === 'set');
    assert.match(set?.args ?? '', /'streamed' \{ n: 1 \}/);
    assert.ok(!events.some((e) => ['stats', 'clients', 'lockinfo', 'subscriptions', 'ping'].includes(e.command)));
  });
});

describe('other targets and modes', () => {
  it('a read-only inspector refuses writes with 403', async () => {
    const ro = await startInspector({ socket: daemon.socket, token: SOCKET_TOKEN }, { log: false, readonly: true });
    try {
      const r = await fetch(`http://127.0.0.1:${ro.port}/api/set`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sharedkv-token': ro.token },
        body: JSON.stringify({ key: 'x', text: '1' }),
      });
      assert.equal(r.status, 403);
      await r.body?.cancel();
    } finally {
      await ro.close();
    }
  });

  it('a plain Store gets keys, values and stats, and no monitor', async () => {
    let printed = '';
    const ins = await startInspector(daemon.store, { log: (u) => (printed = u) });
    try {
      assert.equal(printed, ins.url);
      const base = `http://127.0.0.1:${ins.port}`;
      const info = (await (await fetch(`${base}/api/info?token=${ins.token}`)).json()) as Answer;
      assert.equal(info.kind, 'store');
      assert.equal(info.features.monitor, false);
      const keys = (await (await fetch(`${base}/api/keys?token=${ins.token}&match=page:1*&count=5`)).json()) as Answer;
      assert.equal(keys.items.length, 5);
      assert.equal(keys.items[0]?.type, 'number');
      const mon = await fetch(`${base}/api/monitor?token=${ins.token}`);
      assert.equal(mon.status, 501);
      await mon.body?.cancel();
    } finally {
      await ins.close();
    }
    // The Store belongs to the caller: closing the inspector leaves it open.
    assert.equal(await daemon.store.get('page:1'), 1);
  });

  it('closes its socket connection and its port', async () => {
    const ins = await startInspector({ socket: daemon.socket, token: SOCKET_TOKEN }, { log: false });
    const before = (await daemon.store.stats()).clients;
    await ins.close();
    await assert.rejects(fetch(`http://127.0.0.1:${ins.port}/api/info?token=${ins.token}`));
    for (let i = 0; i < 100 && (await daemon.store.stats()).clients >= before; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await daemon.store.stats()).clients, before - 1);
  });
});
