/**
 * Client side of pub/sub and watch: one router per connection fans pushed messages out to handlers.
 * The owner is told only when the first handler of a target arrives and the last one leaves, so any number
 * of local handlers cost one registration, and subscribe/unsubscribe cycles leave nothing behind.
 *
 * When a socket client reconnects, the owner has forgotten the old session's registrations; the router
 * registers every live target again in the new connection's first frame, ahead of the calls that waited
 * for it. Messages and changes that happened while no connection was up are not delivered: pub/sub and
 * watch are at most once across a reconnect, as Redis pub/sub is.
 */
import { badArgument, describe, SharedKVError } from '../errors.js';
import { decodeValue, type Encoded } from '../protocol/codec.js';
import type { Message, Subscription, Unsubscribe, WatchEvent } from '../types.js';
import type { Caller } from './caller.js';

interface Handler {
  prefix: string;
  fn: (...args: never[]) => void;
}

interface Target {
  handlers: Set<Handler>;
  /** Settles when the owner has registered the target. */
  ready: Promise<unknown>;
  /** {@link Caller.lostConnections} when the registration was sent: the session it belongs to. */
  session: number | undefined;
}

/** Fans pushes of one caller out to handlers. */
export class EventRouter {
  private readonly subs = new Map<string, Target>();
  private readonly watches = new Map<string, Target>();

  constructor(private readonly caller: Caller) {
    caller.onPush = (message) => this.dispatch(message);
    const before = caller.onReconnect;
    caller.onReconnect = () => {
      this.register();
      before?.();
    };
  }

  /**
   * Registers again, on a new connection, every target whose registration was made on an earlier one.
   * Runs while the connection opens, so these calls leave right after `hello`. A target registered first
   * during the outage is skipped: its own call is among the waiting ones. A re-registration lost with
   * yet another connection is made again on the next one; any other failure is reported as a warning
   * (the owner refused what it accepted before, so the handlers would otherwise fall silent unnoticed).
   */
  private register(): void {
    const session = this.caller.lostConnections;
    for (const [kind, map] of [
      ['subscribe', this.subs],
      ['watch', this.watches],
    ] as const) {
      for (const [target, t] of map) {
        if (t.session === session) continue;
        t.session = session;
        t.ready = this.caller.call(kind, [target]);
        t.ready.catch((err: unknown) => {
          const code = err instanceof SharedKVError ? err.code : undefined;
          if (code === 'ERR_SHAREDKV_DISCONNECTED' || code === 'ERR_SHAREDKV_CLOSED') return;
          // Not registered in this session after all: the next reconnect tries again.
          if (t.session === session) t.session = undefined;
          process.emitWarning(
            `sharedkv: could not ${kind} ${JSON.stringify(target)} again after a reconnect: ${String(err)}`,
            { code: code ?? 'ERR_SHAREDKV_PROTOCOL' },
          );
        });
      }
    }
  }

  private dispatch(message: unknown[]): void {
    if (message[0] === 'message') {
      const [, channel, bytes, pattern] = message as [string, string, Encoded, string | undefined];
      const target = this.subs.get(pattern ?? channel);
      if (!target) return;
      for (const h of target.handlers) {
        const n = h.prefix.length;
        // Decoded per handler, so one handler's changes to the message are not seen by the next.
        const value = decodeValue(bytes);
        invoke(() =>
          (h.fn as (m: unknown, c: string, p?: string) => void)(
            value,
            channel.slice(n),
            pattern === undefined ? undefined : pattern.slice(n),
          ),
        );
      }
    } else if (message[0] === 'inv') {
      this.caller.near?.invalidate(message[1] as string);
    } else if (message[0] === 'watch') {
      const [, pattern, key, op, bytes] = message as [string, string, string, WatchEvent['op'], Encoded | null];
      const target = this.watches.get(pattern);
      if (!target) return;
      for (const h of target.handlers) {
        const event: WatchEvent = { key: key.slice(h.prefix.length), op };
        if (bytes !== null) event.value = decodeValue(bytes);
        invoke(() => (h.fn as (e: WatchEvent) => void)(event));
      }
    }
  }

  /** Adds a handler for `target` (full name, with prefix); registers with the owner for the first one. */
  async add(kind: 'subscribe' | 'watch', target: string, handler: Handler): Promise<Unsubscribe> {
    if (typeof handler.fn !== 'function') {
      throw badArgument(`Expected the handler to be a function, got ${describe(handler.fn)}`);
    }
    const map = kind === 'subscribe' ? this.subs : this.watches;
    let t = map.get(target);
    if (!t) {
      const created: Target = {
        handlers: new Set(),
        session: this.caller.lostConnections,
        ready: this.caller.call(kind, [target]),
      };
      t = created;
      map.set(target, created);
      created.ready.catch(() => {
        if (map.get(target) === created) map.delete(target);
      });
    }
    t.handlers.add(handler);
    try {
      await t.ready;
    } catch (err) {
      t.handlers.delete(handler);
      throw err;
    }
    const entry = t;
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      entry.handlers.delete(handler);
      if (entry.handlers.size === 0 && map.get(target) === entry) {
        map.delete(target);
        await this.caller.call(kind === 'subscribe' ? 'unsubscribe' : 'unwatch', [target]);
      }
    };
  }

  /** The iterator form of subscribe. */
  iterate<T>(target: string, prefix: string): Subscription<T> {
    const queue: Message<T>[] = [];
    const waiting: Array<(r: IteratorResult<Message<T>>) => void> = [];
    let ended = false;
    const handler: Handler = {
      prefix,
      fn: ((message: T, channel: string, pattern?: string) => {
        const m: Message<T> = pattern === undefined ? { channel, message } : { channel, message, pattern };
        const w = waiting.shift();
        if (w) w({ value: m, done: false });
        else queue.push(m);
      }) as never,
    };
    const off = this.add('subscribe', target, handler);
    const end = async () => {
      if (!ended) {
        ended = true;
        for (const w of waiting.splice(0)) w({ value: undefined, done: true });
      }
      await (await off)();
    };
    const ready = off.then(() => {});
    // A failed registration surfaces through next() and ready; never as an unhandled rejection.
    ready.catch(() => {});
    const sub: Subscription<T> = {
      ready,
      unsubscribe: end,
      async next() {
        const m = queue.shift();
        if (m) return { value: m, done: false };
        if (ended) return { value: undefined, done: true };
        await off;
        // While the registration was awaited, a message may have come or the subscription ended.
        const late = queue.shift();
        if (late) return { value: late, done: false };
        if (ended) return { value: undefined, done: true };
        return new Promise((resolve) => waiting.push(resolve));
      },
      async return() {
        await end();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return sub;
      },
    };
    return sub;
  }
}

/** A throwing handler must not stop delivery to the others; its error surfaces as an uncaught exception. */
function invoke(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

const routers = new WeakMap<Caller, EventRouter>();

/** The router of a caller (shared by all namespaces of one connection). */
export function routerOf(caller: Caller): EventRouter {
  let r = routers.get(caller);
  if (!r) {
    r = new EventRouter(caller);
    routers.set(caller, r);
  }
  return r;
}
