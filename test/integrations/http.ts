/**
 * HTTP for the integration tests. Each request opens its own connection (`agent: false`), so with the
 * cluster's round-robin the requests of one client spread over every worker, as many browsers would.
 */
import http from 'node:http';

/** What a request returned. */
export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET `url` on a connection of its own. */
export function get(url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

/** The `name=value` part of the first Set-Cookie header, to send back as `Cookie`. */
export function cookieOf(result: HttpResult): string {
  const set = result.headers['set-cookie']?.[0];
  if (!set) throw new Error('the response set no cookie');
  return set.split(';')[0]!;
}
