/**
 * A session store for express-session and @fastify/session on any sharedkv {@link Store}: a user who logs
 * in through one worker is logged in on every worker, and sessions expire with their cookie.
 *
 * It follows connect-redis's behaviour (prefix, ttl from the cookie, `disableTouch`, `disableTTL`, `ids`,
 * `all` with ids, sessions whose cookie has already expired are deleted rather than written), so moving
 * from Redis sessions is a change of one line. Every method takes an optional callback (what both
 * frameworks call) and also returns a promise.
 *
 * @example
 * import session from 'express-session';
 * import { connect } from 'sharedkv';
 * import { SessionStore } from 'sharedkv/express-session';
 * const kv = await connect();
 * app.use(session({ store: new SessionStore(kv), secret: 'keyboard cat', resave: false, saveUninitialized: false }));
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { SharedKVError } from '../errors.js';
import type { Store } from '../types.js';

/** A stored session: whatever the framework keeps; this store reads only the cookie's expiry. */
export interface SessionData {
  cookie?:
    | {
        expires?: Date | string | null | undefined;
        maxAge?: number | null | undefined;
        originalMaxAge?: number | null | undefined;
      }
    | undefined;
  [key: string]: unknown;
}

/** How sessions are turned into stored strings and back. */
export interface SessionSerializer {
  stringify(session: unknown): string;
  parse(text: string): SessionData;
}

/** Options of {@link SessionStore}. */
export interface SessionStoreOptions {
  /**
   * Namespace of the session keys (letters, digits and `_.@$-`): `clear()`, `length()` and `all()` see only
   * these keys.
   * @default 'sess'
   */
  prefix?: string;
  /**
   * Time to live in **milliseconds** (unlike connect-redis, whose `ttl` is in seconds) for sessions whose
   * cookie has no expiry, or a function that computes it from the session.
   * @default 86400000 (one day)
   */
  ttl?: number | ((session: SessionData) => number);
  /** Don't refresh a session's ttl on `touch` (reads then never extend a session). @default false */
  disableTouch?: boolean;
  /** Store sessions without a ttl; they live until destroyed. @default false */
  disableTTL?: boolean;
  /** Serializer of stored sessions; JSON keeps the shape express-session expects back. @default JSON */
  serializer?: SessionSerializer;
}

/** Node-style callback as the session middlewares pass them. */
export type SessionCallback<T = unknown> = (err: unknown, result?: T) => void;

/**
 * A callback that receives stored sessions. Each framework types it with its own session type (which
 * applications augment), so the session is `any` here for any of them to fit.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above; the promise results stay typed.
export type SessionDataCallback = SessionCallback<any>;

/**
 * The part of express-session's `Store` base class that the middleware calls beside the CRUD methods.
 * Its types are `any` on purpose: they are express-session's own request and session classes, and with
 * `any` a SessionStore is assignable to express-session's `Store` type without this module importing
 * express-session's types (which would make them a dependency of every user of this subpath).
 */
interface ExpressSessionBase extends EventEmitter {
  // biome-ignore lint/suspicious/noExplicitAny: express-session's Request type, see above.
  regenerate(req: any, callback: (err?: any) => any): void;
  // biome-ignore lint/suspicious/noExplicitAny: express-session's SessionData type, see above.
  load(sid: string, callback: (err: any, session?: any) => any): void;
  // biome-ignore lint/suspicious/noExplicitAny: express-session's Request and Session types, see above.
  createSession(req: any, session: any): any;
}

/**
 * express-session's own `Store` class when the package is installed (its `load`, `regenerate` and
 * `createSession` are what the middleware calls), otherwise an EventEmitter with the same shape, which is
 * all @fastify/session needs. It is required synchronously so this module has no top-level await and
 * loads through `require()` as well.
 */
function sessionBase(): new () => ExpressSessionBase {
  try {
    const require = createRequire(import.meta.url);
    const mod = require('express-session') as { Store?: new () => ExpressSessionBase };
    if (typeof mod.Store === 'function') return mod.Store;
  } catch {
    // Not installed: the fallback below serves @fastify/session.
  }
  const missing = () =>
    new SharedKVError(
      'ERR_SHAREDKV_BAD_ARGUMENT',
      'This method needs the express-session package, which is not installed',
    );
  return class extends EventEmitter implements ExpressSessionBase {
    regenerate(): void {
      throw missing();
    }
    load(): void {
      throw missing();
    }
    createSession(): unknown {
      throw missing();
    }
  };
}

const ONE_DAY = 86_400_000;

/**
 * Session store backed by sharedkv, for express-session (it extends express-session's `Store`) and for
 * @fastify/session.
 */
export class SessionStore extends sessionBase() {
  /** The namespace the sessions live in. */
  readonly prefix: string;
  /** The default time to live, in ms. */
  readonly ttl: number | ((session: SessionData) => number);
  readonly disableTouch: boolean;
  readonly disableTTL: boolean;
  readonly serializer: SessionSerializer;
  private readonly kv: Store;

  /**
   * @param kv Any sharedkv store: the owner, a worker's client, a namespace or the Redis backend.
   * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` for a prefix that is not a valid namespace name.
   */
  constructor(kv: Store, options: SessionStoreOptions = {}) {
    super();
    this.prefix = options.prefix ?? 'sess';
    this.kv = kv.namespace(this.prefix);
    this.ttl = options.ttl ?? ONE_DAY;
    this.disableTouch = options.disableTouch ?? false;
    this.disableTTL = options.disableTTL ?? false;
    this.serializer = options.serializer ?? JSON;
  }

  /** The session `sid`, or `null` when there is none (or it expired). */
  get(sid: string, callback?: SessionDataCallback): Promise<SessionData | null> {
    return settle(async () => {
      const text = await this.kv.get<string>(sid);
      return text === undefined ? null : this.serializer.parse(text);
    }, callback);
  }

  /** Writes the session with its ttl; a session whose cookie has already expired is deleted instead. */
  set(sid: string, session: object, callback?: SessionCallback<void>): Promise<void> {
    return settle(async () => {
      const text = this.serializer.stringify(session);
      if (this.disableTTL) {
        await this.kv.set(sid, text);
        return;
      }
      const ttl = this.ttlOf(session);
      if (ttl > 0) await this.kv.set(sid, text, { ttl });
      else await this.kv.del(sid);
    }, callback);
  }

  /** Deletes the session. */
  destroy(sid: string, callback?: SessionCallback<void>): Promise<void> {
    return settle(async () => {
      await this.kv.del(sid);
    }, callback);
  }

  /** Restarts the session's ttl (express-session calls it on requests that did not change the session). */
  touch(sid: string, session: object, callback?: SessionCallback<void>): Promise<void> {
    return settle(async () => {
      if (this.disableTouch || this.disableTTL) return;
      const ttl = this.ttlOf(session);
      if (ttl > 0) await this.kv.expire(sid, ttl);
      else await this.kv.del(sid);
    }, callback);
  }

  /** Every live session, each with its `id`. */
  all(callback?: SessionDataCallback): Promise<Array<SessionData & { id: string }>> {
    return settle(async () => {
      const ids = await this.kv.keys();
      const texts = ids.length === 0 ? [] : await this.kv.mget<string>(ids);
      const sessions: Array<SessionData & { id: string }> = [];
      texts.forEach((text, i) => {
        // A session that expired between keys() and mget() is simply not listed.
        if (text !== undefined) sessions.push({ id: ids[i]!, ...this.serializer.parse(text) });
      });
      return sessions;
    }, callback);
  }

  /** The ids of every live session. */
  ids(callback?: SessionCallback<string[]>): Promise<string[]> {
    return settle(() => this.kv.keys(), callback);
  }

  /** How many sessions are live. */
  length(callback?: SessionCallback<number>): Promise<number> {
    return settle(() => this.kv.size(), callback);
  }

  /** Deletes every session (of this store's namespace only). */
  clear(callback?: SessionCallback<void>): Promise<void> {
    return settle(async () => {
      await this.kv.clear();
    }, callback);
  }

  /** The ttl of a session in ms: from its cookie's expiry when it has one, else the store's default. */
  private ttlOf(session: object): number {
    // Sessions are the framework's objects (typed by it); this store only reads their cookie.
    const data = session as SessionData;
    if (typeof this.ttl === 'function') return this.ttl(data);
    const expires = data?.cookie?.expires;
    if (expires) return Math.ceil(new Date(expires).getTime() - Date.now());
    return this.ttl;
  }
}

/**
 * Runs `fn`, then reports to the callback when one was given (the callback style both frameworks use),
 * and always returns the promise. With a callback the promise never rejects, so an error is not reported
 * twice (once to the callback and once as an unhandled rejection). The callback runs in its own microtask:
 * an exception it throws is the application's, and surfaces as uncaught instead of being swallowed here.
 */
function settle<T>(fn: () => Promise<T>, callback: SessionCallback<T> | undefined): Promise<T> {
  const p = Promise.resolve().then(fn);
  if (!callback) return p;
  return p.then(
    (value) => {
      queueMicrotask(() => callback(null, value));
      return value;
    },
    (err: unknown) => {
      queueMicrotask(() => callback(err));
      return undefined as T;
    },
  );
}
