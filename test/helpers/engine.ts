/**
 * A harness for the engine unit tests: an {@link Engine} on a hand-moved clock, a few sessions whose
 * deferred replies are recorded, shorthands that encode and decode values, and a digest of the whole
 * store so a test can prove that a refused command changed nothing.
 */
import type { Session } from '../../src/engine/engine.js';
import { Engine } from '../../src/engine/engine.js';
import type { SharedKVError } from '../../src/errors.js';
import { decodeValue, type Encoded, encodeValue } from '../../src/protocol/codec.js';

/** A reply delivered later through a session's `respond` (a getOrSet waiter being answered). */
export interface DeferredReply {
  session: string;
  id: number;
  err: SharedKVError | null;
  result: unknown;
}

/** One peer of the engine, with its own request ids. */
export interface TestSession {
  readonly session: Session;
  /** Runs a command with the next request id of this session. */
  exec(name: string, ...args: unknown[]): unknown;
  /** Runs a command with a chosen request id (to match a deferred reply). */
  execId(id: number, name: string, ...args: unknown[]): unknown;
}

/** Encodes a value as a client would. */
export const enc = (value: unknown): Encoded => encodeValue(value);

/** Decodes a wire result: `null` (missing) becomes `undefined`, bytes become the value. */
export const dec = (bytes: unknown): unknown =>
  bytes === null || bytes === undefined ? undefined : decodeValue(bytes as Encoded);

/** The engine under test and its tools. */
export class EngineHarness {
  readonly clock = { t: 1_000 };
  readonly engine = new Engine({ now: () => this.clock.t });
  readonly replies: DeferredReply[] = [];
  /** The default session. */
  readonly a: TestSession;

  constructor() {
    this.a = this.open('a');
  }

  /** Opens another session whose deferred replies land in {@link replies}, labelled `label`. */
  open(label: string): TestSession {
    const session = this.engine.openSession(label, (id, err, result) =>
      this.replies.push({ session: label, id, err, result }),
    );
    let nextId = 1;
    const engine = this.engine;
    return {
      session,
      exec: (name, ...args) => engine.execute(session, nextId++, name, args),
      execId: (id, name, ...args) => engine.execute(session, id, name, args),
    };
  }

  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.clock.t += ms;
  }

  /** Runs a command on the default session. */
  exec(name: string, ...args: unknown[]): unknown {
    return this.a.exec(name, ...args);
  }

  /** `set` with an encoded value. */
  set(key: string, value: unknown, options?: Record<string, unknown>): unknown {
    return options === undefined ? this.exec('set', key, enc(value)) : this.exec('set', key, enc(value), options);
  }

  /** `get`, decoded. */
  get(key: string): unknown {
    return dec(this.exec('get', key));
  }

  /**
   * Everything observable about the stored data, read without triggering lazy expiry: each key with its
   * bytes and expiry, and the byte estimate. Two equal digests mean the store did not change.
   */
  digest(): string {
    const rows = [...this.engine.data.entries()]
      .map(([k, e]) => `${k}=${Buffer.from(e.v).toString('hex')}@${e.exp}`)
      .sort();
    return `${rows.join('\n')}\nbytes=${this.engine.bytes}`;
  }
}

/** Reads a private field of an object (used sparingly, to prove that an internal step really ran). */
export function internal<T>(target: object, field: string): T {
  return Reflect.get(target, field) as T;
}
