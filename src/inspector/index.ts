/**
 * The web inspector: a page served on the loopback interface that shows the keys and values of a store,
 * live charts, the connected clients, locks and subscriptions, and the command stream. Node's own `http`,
 * no frontend build: the page is one HTML document with its script inline (see page.ts), updated over
 * Server-Sent Events.
 *
 * Access is guarded by a random token in the URL: every route answers 401 without it, and the server
 * binds a loopback address only. Mutations (set, ttl, delete) also need the token in a header, which a
 * page of another origin cannot send without a CORS preflight that is never granted.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VALUE_TYPES, type ValueType } from '../engine/commands/introspect.js';
import { badArgument, describe, SharedKVError } from '../errors.js';
import { Server } from '../server/server.js';
import type { Store } from '../types.js';
import {
  type EventStream,
  isLoopback,
  openEventStream,
  readJson,
  sameSecret,
  securityHeaders,
  sendError,
  sendJson,
} from './http.js';
import { MonitorHub } from './monitor.js';
import { renderPage } from './page.js';
import { Sampler } from './sampler.js';
import { ownerSource, type SocketTarget, type Source, socketSource, storeSource } from './source.js';
import { INPUT_TYPES, type InputType, parseInput, toTagged } from './values.js';

export type { StreamBatch, StreamEvent } from './monitor.js';
export type { Point, Tick } from './sampler.js';
export type { SocketTarget } from './source.js';
export { fromTagged, type InputType, type Json, parseInput, type TaggedValue, toTagged } from './values.js';

/** Options of {@link startInspector}. */
export interface InspectorOptions {
  /** TCP port to listen on; `0` picks a free one (see {@link Inspector.url}). @default 0 */
  port?: number;
  /**
   * Loopback address to bind. Only `127.0.0.1` and `::1` are accepted: the inspector can read and change
   * every value, so it is never served on a network interface.
   * @default '127.0.0.1'
   */
  host?: '127.0.0.1' | '::1';
  /** Secret the URL carries (at least 16 characters). @default 32 random bytes, base64url */
  token?: string;
  /** Sampling interval of the live charts and tables, in ms (100 to 60000). @default 1000 */
  interval?: number;
  /** Serve the page without edit, ttl and delete (the routes answer 403). @default false */
  readonly?: boolean;
  /**
   * Called with the URL (token included) once listening. The default prints one line to stderr; `false`
   * prints nothing.
   */
  log?: ((url: string) => void) | false;
}

/** A running inspector. */
export interface Inspector {
  /** The page's URL, token included: `http://127.0.0.1:PORT/?token=...`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly token: string;
  /** The HTTP server (bound to loopback only). */
  readonly server: HttpServer;
  /** Stops serving: ends every page's streams, stops sampling and monitoring, and closes the connection
   * the inspector opened (a Store given to {@link startInspector} is left open). */
  close(): Promise<void>;
}

/**
 * What to inspect: the owner's {@link Server} in this process (everything), the Unix socket of an owner
 * (everything; `sharedkv inspect --socket`), or any {@link Store}, such as the Redis backend (keys, values,
 * ttl and stats only).
 */
export type InspectorTarget = Server | SocketTarget | Store;

function isStore(t: unknown): t is Store {
  const s = t as Partial<Store>;
  return typeof s.get === 'function' && typeof s.set === 'function' && typeof s.keys === 'function';
}

function isSocketTarget(t: unknown): t is SocketTarget {
  return t !== null && typeof t === 'object' && typeof (t as SocketTarget).socket === 'string' && !isStore(t);
}

function checkOptions(options: InspectorOptions): Required<Pick<InspectorOptions, 'port' | 'host' | 'interval'>> {
  if (options === null || typeof options !== 'object') {
    throw badArgument(`Expected inspector options to be an object, got ${describe(options)}`);
  }
  const port = options.port ?? 0;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) {
    throw badArgument(`Expected \`port\` to be an integer from 0 to 65535, got ${describe(port)}`);
  }
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== '::1') {
    throw badArgument(`Expected \`host\` to be a loopback address ('127.0.0.1' or '::1'), got ${describe(host)}`);
  }
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 16)) {
    throw badArgument('Expected `token` to be a string of at least 16 characters');
  }
  const interval = options.interval ?? 1000;
  if (typeof interval !== 'number' || !(interval >= 100 && interval <= 60_000)) {
    throw badArgument(`Expected \`interval\` to be from 100 to 60000 (ms), got ${describe(interval)}`);
  }
  return { port, host, interval };
}

async function openSource(target: InspectorTarget): Promise<Source> {
  if (target instanceof Server) return ownerSource(target);
  if (isSocketTarget(target)) return socketSource(target);
  if (isStore(target)) return storeSource(target);
  throw badArgument(`Expected a Server, a Store or { socket } to inspect, got ${describe(target)}`);
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw badArgument(`Expected \`${what}\` to be a string, got ${describe(v)}`);
  return v;
}

function ttlArg(v: unknown): number | 'keep' | 'none' {
  if (v === 'keep' || v === 'none' || v === undefined || v === null) return v === 'none' ? 'none' : 'keep';
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw badArgument(`Expected \`ttl\` to be a positive integer (ms), 'keep' or 'none', got ${describe(v)}`);
  }
  return v;
}

/**
 * Serves the inspector page for `target` on a loopback address and resolves once it listens.
 *
 * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` for a non-loopback `host` or bad options;
 * `ERR_SHAREDKV_NO_OWNER` / `ERR_SHAREDKV_AUTH` when a socket target cannot be reached.
 * @example
 * import { startInspector } from 'sharedkv/inspector';
 * const inspector = await startInspector({ socket: '/run/user/1000/app/kv.sock' }, { port: 7380 });
 * // prints: sharedkv inspector: http://127.0.0.1:7380/?token=...
 * await inspector.close();
 */
export async function startInspector(target: InspectorTarget, options: InspectorOptions = {}): Promise<Inspector> {
  const { port, host, interval } = checkOptions(options);
  const token = options.token ?? randomBytes(32).toString('base64url');
  const readonly = options.readonly === true;
  const source = await openSource(target);
  const sampler = new Sampler(source, interval);
  const monitor = new MonitorHub(source);
  const streams = new Set<{ close(): void }>();
  let actualPort = port;

  const hostAllowed = (value: string | undefined) => {
    const name = host === '::1' ? '[::1]' : host;
    return value === `${name}:${actualPort}` || value === `localhost:${actualPort}`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://inspector');
    const method = req.method ?? 'GET';
    // Mutations take the token from a header only (a cross-origin page cannot set one without a preflight);
    // reads also from the query, which is how the page and its event streams are opened.
    const given = method === 'GET' ? (url.searchParams.get('token') ?? header(req)) : header(req);
    if (!sameSecret(given, token)) {
      sendJson(res, 401, { error: { code: 'ERR_SHAREDKV_AUTH', message: 'Missing or wrong token' } });
      return;
    }
    // Another Host means the page was reached through a foreign name (DNS rebinding): refuse it.
    if (!hostAllowed(req.headers.host)) {
      sendJson(res, 403, { error: { code: 'ERR_SHAREDKV_AUTH', message: 'Unexpected Host header' } });
      return;
    }
    const route = `${method} ${url.pathname}`;
    const q = url.searchParams;
    switch (route) {
      case 'GET /': {
        const nonce = randomBytes(16).toString('base64');
        const html = renderPage(nonce);
        res.writeHead(200, { ...securityHeaders(nonce), 'content-type': 'text/html; charset=utf-8' });
        res.end(html);
        return;
      }
      case 'GET /api/info':
        sendJson(res, 200, {
          kind: source.kind,
          description: source.description,
          features: source.features,
          readonly,
          interval,
          pid: process.pid,
          inputTypes: INPUT_TYPES,
          valueTypes: VALUE_TYPES,
        });
        return;
      case 'GET /api/keys':
        sendJson(res, 200, await scanPage(source, q));
        return;
      case 'GET /api/namespaces':
        sendJson(res, 200, await source.namespaces());
        return;
      case 'GET /api/key': {
        const key = str(q.get('key'), 'key');
        const found = await source.peek(key);
        if (!found) {
          sendJson(res, 404, { error: { message: `No key ${JSON.stringify(key)}` } });
          return;
        }
        const tagged = toTagged(found.value);
        sendJson(res, 200, { key, type: found.type, size: found.size, ttl: found.ttl, ...tagged });
        return;
      }
      case 'GET /api/events':
        events(req, res);
        return;
      case 'GET /api/monitor':
        await stream(req, res);
        return;
      case 'POST /api/set':
      case 'POST /api/expire':
      case 'POST /api/del':
        if (readonly) {
          sendJson(res, 403, { error: { code: 'ERR_SHAREDKV_AUTH', message: 'The inspector is read-only' } });
          return;
        }
        sendJson(res, 200, await mutate(route, await readJson(req)));
        return;
      default:
        sendJson(res, 404, { error: { message: `No route ${route}` } });
    }
  };

  const mutate = async (route: string, body: Record<string, unknown>): Promise<unknown> => {
    const key = str(body.key, 'key');
    if (route === 'POST /api/del') return { deleted: await source.del(key) };
    if (route === 'POST /api/expire') {
      const ttl = body.ttl === null ? null : ttlArg(body.ttl);
      if (typeof ttl === 'string') throw badArgument('Expected `ttl` to be a positive integer (ms) or null');
      return { ok: await source.expire(key, ttl) };
    }
    const as = body.as ?? 'json';
    if (!INPUT_TYPES.includes(as as InputType)) {
      throw badArgument(`Expected \`as\` to be one of ${INPUT_TYPES.join(', ')}, got ${describe(as)}`);
    }
    const value = parseInput(str(body.text ?? '', 'text'), as as InputType);
    await source.set(key, value, ttlArg(body.ttl));
    return { ok: true };
  };

  const events = (req: IncomingMessage, res: ServerResponse) => {
    const es = openEventStream(req, res);
    streams.add(es);
    es.send('init', { history: sampler.history, last: sampler.last });
    const off = sampler.subscribe((tick) => es.send('tick', tick));
    void es.closed.then(() => {
      off();
      streams.delete(es);
    });
  };

  const stream = async (req: IncomingMessage, res: ServerResponse) => {
    if (!source.features.monitor) {
      sendJson(res, 501, { error: { message: 'This target has no command stream (it needs an owner)' } });
      return;
    }
    let es: EventStream | undefined;
    let off: () => void;
    try {
      off = await monitor.subscribe((batch) => es?.send('batch', batch));
    } catch (err) {
      sendError(res, err);
      return;
    }
    // The page may have gone while the owner was being asked to monitor.
    if (res.destroyed) {
      off();
      return;
    }
    es = openEventStream(req, res);
    streams.add(es);
    es.send('ready', {});
    void es.closed.then(() => {
      off();
      streams.delete(es);
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => sendError(res, err));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await source.close();
    const e = err as NodeJS.ErrnoException;
    throw new SharedKVError(
      e.code === 'EADDRINUSE' ? 'ERR_SHAREDKV_ADDRESS_IN_USE' : 'ERR_SHAREDKV_IO',
      `The inspector cannot listen on ${host}:${port}: ${e.message}`,
      undefined,
      { cause: err },
    );
  }
  const address = server.address() as AddressInfo;
  // Belt and braces: whatever Node resolved the host to, refuse to serve anywhere but loopback.
  if (!isLoopback(address.address)) {
    server.close();
    await source.close();
    throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', `The inspector bound ${address.address}, not loopback`);
  }
  actualPort = address.port;
  const url = `http://${host === '::1' ? '[::1]' : host}:${actualPort}/?token=${token}`;
  if (options.log !== false) {
    const log = options.log ?? ((u: string) => process.stderr.write(`sharedkv inspector: ${u}\n`));
    log(url);
  }
  let closing: Promise<void> | null = null;
  return {
    url,
    host,
    port: actualPort,
    token,
    server,
    close() {
      closing ??= (async () => {
        sampler.stop();
        for (const s of [...streams]) s.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await monitor.stop();
        await source.close();
      })();
      return closing;
    },
  };
}

function header(req: IncomingMessage): string | undefined {
  const v = req.headers['x-sharedkv-token'];
  return Array.isArray(v) ? v[0] : v;
}

/** Time one page request may spend on sparse matches before it answers with what it has. */
const PAGE_BUDGET_MS = 250;

/**
 * One page of keys: calls `scan` until it has `count` keys, the scan ends, or the time budget is spent
 * (each call is bounded in the owner, so a sparse glob answers in steps rather than stalling the owner).
 */
async function scanPage(source: Source, q: URLSearchParams) {
  const match = q.get('match') || '*';
  const count = Number(q.get('count') ?? 100);
  let cursor = Number(q.get('cursor') ?? 0);
  const typeParam = q.get('type') || undefined;
  if (typeParam !== undefined && !VALUE_TYPES.includes(typeParam as ValueType)) {
    throw badArgument(`Unknown type filter ${describe(typeParam)}`);
  }
  const type = typeParam as ValueType | undefined;
  if (!Number.isSafeInteger(cursor) || cursor < 0) throw badArgument(`Bad cursor ${describe(q.get('cursor'))}`);
  const end = performance.now() + PAGE_BUDGET_MS;
  const items = [];
  let scanned = 0;
  do {
    const r = await source.scan(cursor, { match, count: count - items.length, type });
    items.push(...r.items);
    scanned += r.scanned;
    cursor = r.cursor;
  } while (cursor !== 0 && items.length < count && performance.now() < end);
  return { cursor, items, scanned };
}
