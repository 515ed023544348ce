/**
 * HTTP plumbing of the inspector: the token check, security headers, JSON bodies and Server-Sent Events.
 * Node's own `http`, nothing else.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { SharedKVError } from '../errors.js';

/** Largest request body accepted, in bytes (a value typed into the editor). */
export const MAX_BODY = 16 * 1024 * 1024;
/** Bytes queued to a page that stopped reading before its events are dropped instead of queued. */
const MAX_QUEUED = 1024 * 1024;

/**
 * Headers on every answer: no caching, no sniffing, no framing, no referrer (the URL carries the token), and
 * a Content-Security-Policy that lets only the page's own nonce-tagged script and style run.
 */
export function securityHeaders(nonce?: string): Record<string, string> {
  const csp = nonce
    ? `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
    : "default-src 'none'; frame-ancestors 'none'";
  return {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-resource-policy': 'same-origin',
    'content-security-policy': csp,
  };
}

/** Sends a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...securityHeaders(),
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** HTTP status of a SharedKVError: the caller's mistakes are 4xx, the owner's refusals and absence 5xx. */
const STATUS: Partial<Record<string, number>> = {
  ERR_SHAREDKV_BAD_ARGUMENT: 400,
  ERR_SHAREDKV_WRONG_TYPE: 400,
  ERR_SHAREDKV_NOT_SERIALIZABLE: 400,
  ERR_SHAREDKV_TOO_LARGE: 413,
  ERR_SHAREDKV_OUT_OF_MEMORY: 507,
};

/**
 * Sends an error as `{ error: { code, message } }`: 400 (413, 507) for what the request asked, 502 when the
 * owner cannot be reached or fails, 500 for anything else.
 */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof SharedKVError) {
    sendJson(res, STATUS[err.code] ?? 502, { error: { code: err.code, message: err.message } });
    return;
  }
  sendJson(res, 500, { error: { code: 'ERR_SHAREDKV_INTERNAL', message: String(err) } });
}

/** Compares a secret in constant time (for equal lengths; a different length is a mismatch). */
export function sameSecret(given: string | null | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length ? timingSafeEqual(a, b) : !timingSafeEqual(b, b);
}

/** True for the IPv4 and IPv6 loopback addresses. */
export function isLoopback(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith('127.');
  return address === '::1';
}

/** Reads a JSON request body of at most {@link MAX_BODY} bytes. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) {
    throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', 'Expected a JSON body (content-type: application/json)');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY)
      throw new SharedKVError('ERR_SHAREDKV_TOO_LARGE', `The request body exceeds ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', `The request body is not JSON: ${(err as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', 'Expected the request body to be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** An open Server-Sent Events stream to one page. */
export interface EventStream {
  /** Sends one event; returns false (and drops it) when the page is not keeping up. */
  send(event: string, data: unknown): boolean;
  /** Ends the stream. */
  close(): void;
  /** Resolves when the page goes away or {@link close} is called. */
  readonly closed: Promise<void>;
}

/** Starts an event stream on `res`, with a comment every 15 s so proxies and the browser keep it open. */
export function openEventStream(req: IncomingMessage, res: ServerResponse): EventStream {
  res.writeHead(200, {
    ...securityHeaders(),
    'content-type': 'text/event-stream; charset=utf-8',
    connection: 'keep-alive',
  });
  res.write('retry: 2000\n\n');
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  heartbeat.unref();
  let done = false;
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  const finish = () => {
    if (done) return;
    done = true;
    clearInterval(heartbeat);
    resolveClosed();
  };
  req.once('close', finish);
  res.once('close', finish);
  return {
    send(event, data) {
      if (done || res.writableLength > MAX_QUEUED) return false;
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      return true;
    },
    close() {
      finish();
      res.end();
    },
    closed,
  };
}
