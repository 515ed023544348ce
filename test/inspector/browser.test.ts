/**
 * The inspector end to end, in headless Chromium: a cluster primary owns the store and serves the page, 4
 * real workers write and read. The page must show their keys, edit a value that the workers then read,
 * delete a key, draw the load on the ops/s chart, and drop a lock when the worker holding it is killed.
 *
 * Needs Debian's `chromium` (playwright-core brings no browser). Without it the test is skipped with the
 * reason printed, unless SHAREDKV_REQUIRE_BROWSER=1 (CI), where a missing browser fails.
 * SHAREDKV_UPDATE_SCREENSHOT=1 rewrites docs/inspector.png.
 */
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { KVStore } from '../../src/client/store.js';
import { type Inspector, startInspector } from '../../src/inspector/index.js';
import { LocalCaller } from '../../src/server/local.js';
import { Server } from '../../src/server/server.js';
import { forkWorker, killAll, nextEvent } from '../helpers/processes.js';

/** The slice of the DOM the in-page functions use (tests compile without the DOM lib). */
declare const document: {
  querySelector(selector: string): { textContent: string | null; getAttribute(name: string): string | null } | null;
  body: { dataset: Record<string, string | undefined> };
};
declare const window: { scrollTo(x: number, y: number): void };

const CHROMIUM = process.env.SHAREDKV_CHROMIUM ?? '/usr/bin/chromium';
const FIXTURE = fileURLToPath(new URL('../fixtures/inspector-worker.ts', import.meta.url));
const SCREENSHOT =
  process.env.SHAREDKV_UPDATE_SCREENSHOT === '1'
    ? fileURLToPath(new URL('../../docs/inspector.png', import.meta.url))
    : join(tmpdir(), `sharedkv-inspector-${process.pid}.png`);

const missing = existsSync(CHROMIUM) ? null : `no browser at ${CHROMIUM} (apt-get install chromium)`;
if (missing && process.env.SHAREDKV_REQUIRE_BROWSER !== '1') {
  console.log(`# skipping the inspector browser test: ${missing}`);
}
const skip = missing !== null && process.env.SHAREDKV_REQUIRE_BROWSER !== '1' ? missing : false;

describe('inspector in a browser', { skip, timeout: 120_000 }, () => {
  let server: Server;
  let owner: KVStore;
  let inspector: Inspector;
  let browser: Browser;
  let page: Page;
  let workers: Worker[];
  const pageErrors: string[] = [];

  before(async () => {
    if (missing) throw new Error(`SHAREDKV_REQUIRE_BROWSER=1 but ${missing}`);
    server = new Server();
    server.serveCluster();
    owner = new KVStore(new LocalCaller(server));
    await owner.set('typed', {
      tags: new Map<unknown, unknown>([
        ['a', 1],
        [2, new Set(['x'])],
      ]),
      when: new Date('2024-05-01T12:00:00.000Z'),
      big: 12345678901234567890n,
      bytes: Uint8Array.of(1, 2, 255),
    });
    // Workers 0 and 1 use the default socket data path, 2 and 3 process IPC: both transports show up.
    workers = [0, 1, 2, 3].map((i) =>
      forkWorker({ SKV_INDEX: String(i), SKV_CHANNEL: i < 2 ? 'socket' : 'ipc' }, FIXTURE),
    );
    const launching = chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    await Promise.all(workers.map((w) => nextEvent(w, 'ready', 60_000)));
    inspector = await startInspector(server, { port: 0, log: false, interval: 500 });
    browser = await launching;
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(inspector.url);
    await page.waitForSelector('body[data-ready="1"]');
  });

  after(async () => {
    await browser?.close();
    await inspector?.close();
    await killAll();
    await owner?.close();
    await server?.close();
  });

  /** Runs a glob search in the keys panel and waits for its answer. */
  async function search(glob: string): Promise<void> {
    await page.fill('#search', glob);
    const answered = page.waitForResponse(
      (r) => r.url().includes('/api/keys') && new URL(r.url()).searchParams.get('match') === glob,
    );
    await page.press('#search', 'Enter');
    await answered;
    await page.waitForFunction(() => !document.querySelector('#keys-info')?.textContent?.startsWith('searching'));
  }

  /** Waits until the value viewer shows `key`. */
  async function viewing(key: string): Promise<void> {
    await page.waitForFunction((k) => document.querySelector('#v-key')?.textContent === k, key);
  }

  it('lists the keys the 4 workers wrote, by namespace, with type, size and ttl', async () => {
    for (const i of [0, 1, 2, 3]) await page.waitForSelector(`.chip[data-ns="w${i}"]`);
    assert.match((await page.textContent('.chip[data-ns="w2"]')) ?? '', /w2\s*50/);
    await search('*:item:7');
    const keys = await page.$$eval('#keys-table tbody tr', (rows) => rows.map((r) => r.getAttribute('data-key')));
    assert.deepEqual(keys.sort(), ['w0:item:7', 'w1:item:7', 'w2:item:7', 'w3:item:7']);
    const cells = await page.$$eval('#keys-table tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
    assert.equal(cells[1], 'object');
    assert.match(cells[2] ?? '', /\d+ B/);
    assert.equal(cells[3], 'none');
  });

  it('shows a Map, a Set, a Date, a BigInt and bytes faithfully', async () => {
    await search('typed');
    await page.click('tr[data-key="typed"]');
    await viewing('typed');
    const tree = (await page.textContent('#v-tree')) ?? '';
    assert.match(tree, /Map\(2\)/);
    assert.match(tree, /Set\(1\)/);
    assert.match(tree, /Date 2024-05-01T12:00:00\.000Z/);
    assert.match(tree, /12345678901234567890n/);
    assert.match(tree, /Uint8Array\(3 bytes\) 01 02 ff/);
  });

  it('draws the workers’ load on the ops/s chart', async () => {
    const before = Number(await page.getAttribute('#chart-ops', 'data-last'));
    const loaded = Promise.all(workers.map((w) => nextEvent(w, 'loaded')));
    for (const w of workers) w.send({ cmd: 'load', ms: 5000 });
    await page.waitForFunction(
      () => Number(document.querySelector('#chart-ops')?.getAttribute('data-last')) > 500,
      null,
      {
        timeout: 15_000,
      },
    );
    const during = Number(await page.getAttribute('#chart-ops', 'data-last'));
    assert.ok(during > before + 500, `ops/s went from ${before} to ${during}`);
    assert.match((await page.textContent('#legend-ops')) ?? '', /incr/);
    // The picture for the README: the page from the top, under load, with a value open.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(statSync(SCREENSHOT).size > 20_000);
    // The command stream shows the workers' commands, filtered.
    await page.fill('#mon-filter', 'incr');
    await page.waitForSelector('#mon-table tbody tr[data-command="incr"]');
    const visible = await page.$$eval('#mon-table tbody tr:not([hidden])', (rows) =>
      rows.map((r) => r.getAttribute('data-command')),
    );
    assert.ok(visible.length > 0 && visible.every((c) => c === 'incr'));
    // Paused, the stream stops growing.
    await page.click('#mon-toggle');
    const paused = await page.$$eval('#mon-table tbody tr', (rows) => rows.length);
    const ticks = Number(await page.getAttribute('body', 'data-ticks'));
    await page.waitForFunction((n) => Number(document.body.dataset.ticks) >= n, ticks + 2);
    assert.equal(await page.$$eval('#mon-table tbody tr', (rows) => rows.length), paused);
    await loaded;
  });

  it('edits a value, and every worker reads the new one', async () => {
    await search('cfg');
    await page.click('tr[data-key="cfg"]');
    await viewing('cfg');
    await page.click('#v-edit');
    assert.equal(await page.inputValue('#e-type'), 'json');
    await page.fill('#e-text', '{"mode": "b", "n": 2, "since": {"$date": "2025-01-01T00:00:00.000Z"}}');
    await page.click('#e-save');
    await page.click('#confirm-ok');
    await page.waitForFunction(() => document.querySelector('#v-tree')?.textContent?.includes('"b"'));
    for (const w of workers) w.send({ cmd: 'read', key: 'cfg' });
    const reads = await Promise.all(workers.map((w) => nextEvent(w, 'read')));
    // The workers got a real Date (sent back over JSON IPC as its ISO string).
    for (const r of reads) assert.deepEqual(r.value, { mode: 'b', n: 2, since: '2025-01-01T00:00:00.000Z' });
    assert.ok((await owner.get<{ since: unknown }>('cfg'))?.since instanceof Date);
  });

  it('deletes a key after confirmation', async () => {
    await search('w1:item:3');
    await page.click('tr[data-key="w1:item:3"]');
    await viewing('w1:item:3');
    await page.click('#v-delete');
    assert.match((await page.textContent('#confirm-text')) ?? '', /Delete w1:item:3/);
    await page.click('#confirm-ok');
    await page.waitForSelector('tr[data-key="w1:item:3"]', { state: 'detached' });
    assert.equal(await owner.has('w1:item:3'), false);
  });

  it('shows the clients and a lock held by a worker, which goes when the worker is killed', async () => {
    const victim = workers[2]!;
    const pid = victim.process.pid!;
    victim.send({ cmd: 'lock', name: 'job' });
    await nextEvent(victim, 'locked');
    await page.waitForSelector('#locks-table tr[data-lock="job"]');
    assert.match((await page.textContent('#locks-table tr[data-lock="job"]')) ?? '', new RegExp(`pid ${pid}`));
    await page.waitForSelector(`#clients-table tr[data-pid="${pid}"]`);
    assert.match((await page.textContent(`#clients-table tr[data-pid="${pid}"]`)) ?? '', /ipc.*job #\d+.*chan:2/s);
    assert.match((await page.textContent('#subs-table')) ?? '', /chan:3/);
    victim.process.kill('SIGKILL');
    await once(victim, 'exit');
    await page.waitForSelector('#locks-table tr[data-lock="job"]', { state: 'detached', timeout: 10_000 });
    await page.waitForSelector(`#clients-table tr[data-pid="${pid}"]`, { state: 'detached' });
    assert.deepEqual(pageErrors, []);
  });
});
