/**
 * The command table: each command is declared as data (arity, read/write flag, argument checks, handler),
 * in the manner of Redis's command JSON files. Dispatch, batch validation and the docs follow from it, and
 * a message can only ever run a command listed here (never an arbitrary method name).
 */
import { badArgument, describe, type SharedKVError } from '../errors.js';
import { type Encoded, isPlainEncoding, PLAIN_TAG } from '../protocol/codec.js';
import type { Engine, Session } from './engine.js';

/** Settles call `id` of a session that the engine could not answer at once (a waiter). */
export type Reply = (id: number, err: SharedKVError | null, result?: unknown) => void;

/**
 * Sends an unsolicited message to a session's peer: `[kind, ...data]`. An urgent message leaves at once,
 * ahead of the reply to the command that caused it (near-cache invalidations).
 */
export type Push = (message: unknown[], urgent?: boolean) => void;

/** What a handler sees besides its arguments. */
export interface CommandContext {
  readonly engine: Engine;
  readonly session: Session;
  /** Request id of the call on its session (used to cancel a waiter). */
  readonly id: number;
  /** True when running inside a batch (handlers that wait are not allowed there). */
  readonly inBatch: boolean;
}

/** Returned by a handler that will answer through `ctx.reply` later. */
export const PENDING: unique symbol = Symbol('sharedkv.pending');

/** The declaration of one command. */
export interface CommandSpec {
  /** Lower-case name, the same in the API, on the wire, in the CLI and in the docs. */
  readonly name: string;
  /** Minimum and maximum number of arguments. */
  readonly arity: readonly [number, number];
  /** True when the command may change the store (used by persistence and stats). */
  readonly write: boolean;
  /** True when the command may be part of a batch. */
  readonly batchable: boolean;
  /** Throws `ERR_SHAREDKV_BAD_ARGUMENT` before anything changes. */
  check(args: unknown[]): void;
  /** Runs the command; may throw a SharedKVError (after checks, only for state, e.g. wrong type). */
  run(ctx: CommandContext, args: unknown[]): unknown;
}

/** Largest key accepted, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 16_384;

/** Checks a key argument. */
export function checkKey(value: unknown, what = 'key'): asserts value is string {
  if (typeof value !== 'string') throw badArgument(`Expected \`${what}\` to be a string, got ${describe(value)}`);
  if (value.length > MAX_KEY_LENGTH) {
    throw badArgument(`Expected \`${what}\` to be at most ${MAX_KEY_LENGTH} characters, got ${value.length}`);
  }
}

/** Checks an array of keys. */
export function checkKeys(value: unknown, what = 'keys'): asserts value is string[] {
  if (!Array.isArray(value))
    throw badArgument(`Expected \`${what}\` to be an array of strings, got ${describe(value)}`);
  for (const k of value) checkKey(k, `${what}[]`);
}

/** Checks an encoded value (bytes made by the client's codec). */
export function checkEncoded(value: unknown, what = 'value'): asserts value is Encoded {
  if (!(value instanceof Uint8Array) || value.length === 0) {
    throw badArgument(`Expected \`${what}\` to be an encoded value, got ${describe(value)}`);
  }
  // A tagged value may be sent on to other clients inside a reply frame as it is: it must be exactly one.
  if (value[0] === PLAIN_TAG && !isPlainEncoding(value)) {
    throw badArgument(
      `Expected \`${what}\` to be an encoded value: it starts with the plain tag (0xc1) but is not one plain MessagePack value`,
    );
  }
}

/** Checks a ttl in ms: a positive safe integer. */
export function checkTtl(value: unknown, what = 'ttl'): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw badArgument(`Expected \`${what}\` to be a positive integer (ms), got ${describe(value)}`);
  }
}

/** Checks a finite number. */
export function checkNumber(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw badArgument(`Expected \`${what}\` to be a finite number, got ${describe(value)}`);
  }
}

/**
 * Checks an options object against the names it may contain and returns it (or an empty object).
 * Unknown names are an error, so a typo such as `{ ttl: 5, nX: true }` never passes silently.
 */
export function checkOptions(value: unknown, allowed: readonly string[], command: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw badArgument(`Expected the options of \`${command}\` to be an object, got ${describe(value)}`);
  }
  for (const name of Object.keys(value)) {
    if (!allowed.includes(name)) {
      throw badArgument(
        `Unknown option \`${name}\` for \`${command}\`; expected one of: ${allowed.join(', ') || '(none)'}`,
        { option: name },
      );
    }
  }
  return value as Record<string, unknown>;
}

/** Checks an optional boolean option. */
export function checkFlag(options: Record<string, unknown>, name: string, command: string): boolean {
  const v = options[name];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') {
    throw badArgument(`Expected option \`${name}\` of \`${command}\` to be a boolean, got ${describe(v)}`);
  }
  return v;
}

/** Checks an optional ttl option. */
export function optionalTtl(options: Record<string, unknown>, name = 'ttl'): number | undefined {
  const v = options[name];
  if (v === undefined) return undefined;
  checkTtl(v, name);
  return v;
}

/** Builds a spec with defaults; keeps declarations short. */
export function command(spec: Partial<CommandSpec> & Pick<CommandSpec, 'name' | 'arity' | 'run'>): CommandSpec {
  return { write: false, batchable: true, check: () => {}, ...spec };
}
