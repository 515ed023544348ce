/**
 * Model-based testing of the Store API: random command sequences (fast-check `fc.commands`) run against a
 * real store and, side by side, against a small pure model of what the store promises. Every reply of the
 * store must equal the model's; the first divergence fails the run, fast-check shrinks it to a minimal
 * sequence and {@link runModel} prints the seed, path and replay path that replay it.
 *
 * Time: the model has a clock. A target with `timeTravel` exposes the owner's injected clock (`now` of
 * the engine), and `advance` commands move both clocks by hand, so ttls and lock leases expire exactly
 * when the model says. A target without it (Redis, whose clock is the server's) gets ttls of an hour and
 * leases of ten minutes that never run out during a run; `ttl` results are then checked to lie within a
 * window below the model's value instead of exactly.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import type { Caller } from '../../src/client/caller.js';
import { KVStore } from '../../src/client/store.js';
import type { Engine, Session } from '../../src/engine/engine.js';
import { PENDING } from '../../src/engine/table.js';
import { SharedKVError } from '../../src/errors.js';
import type { Lock, SetOptions, Store } from '../../src/types.js';

/** The keys a sequence works on: few, so that commands collide. */
export const KEYS = ['a', 'b', 'c', 'k:é*'] as const;

/**
 * Stored values, by index (sequences print as indices). Several kinds, so `incr` meets wrong types and
 * `cas` compares structures; none contains `-0` or `NaN`, whose encodings differ from what equality says.
 */
export const VALUES: readonly unknown[] = Object.freeze([
  0,
  1,
  -7,
  2.5,
  'x',
  '',
  'hello',
  true,
  null,
  { a: 1 },
  { a: 1, b: 'x' },
  [1, 'x'],
  10n,
  new Date(0),
  new Map([['k', 1]]),
  new Set([1, 2]),
]);

/** Options of `set` as the sequences generate them (values are indices of {@link VALUES}). */
export interface SetOpts {
  ttl?: number;
  nx?: boolean;
  xx?: boolean;
  keepTtl?: boolean;
  get?: boolean;
}

/** A command inside a batch. */
export type BatchStep =
  | { op: 'get'; key: string }
  | { op: 'set'; key: string; value: number; opts: SetOpts }
  | { op: 'del'; keys: string[] }
  | { op: 'has'; key: string }
  | { op: 'incr'; key: string; by: number }
  | { op: 'decr'; key: string; by: number }
  | { op: 'expire'; key: string; ttl: number }
  | { op: 'persist'; key: string }
  | { op: 'cas'; key: string; expected: number | 'absent'; next: number | 'absent'; ttl?: number };

/** One command of a sequence. */
export type Op =
  | BatchStep
  | { op: 'ttl'; key: string }
  | { op: 'mget'; keys: string[] }
  | { op: 'keys' }
  | { op: 'size' }
  | { op: 'batch'; steps: BatchStep[] }
  | { op: 'tryLock'; name: number; ttl: number }
  | { op: 'lock'; name: number; ttl: number }
  | { op: 'release'; which: number }
  | { op: 'fencedSet'; which: number; key: string; value: number }
  | { op: 'advance'; ms: number };

/** What a command did: its result, or the code (and batch index) of its error. */
export type Outcome = { ok: unknown } | { err: string; index?: number };

interface Entry {
  v: unknown;
  /** Expiry on the model clock; 0 = none. */
  exp: number;
}

interface LockModel {
  /** Last token granted under this name (tokens only grow). */
  last: number;
  holder: { token: number; until: number } | null;
}

/** The model: a clock, the data and the lock table. */
export interface Model {
  now: number;
  data: Map<string, Entry>;
  locks: Map<string, LockModel>;
  /** Every lock granted in this run, in order; `release` and `fencedSet` pick one by index. */
  held: Array<{ name: string; token: number }>;
  /** Prefix of lock names, unique per run, so tokens start afresh (lock names never collide across runs). */
  run: string;
  /** True when the target's clock is the model's (exact ttls); false: hour-long ttls, checked in a window. */
  exactClock: boolean;
  /**
   * True when tokens come from one counter for the whole store (the memory backend): every grant's token
   * is larger than every token granted before it, under any name. False: larger than the name's last.
   */
  exactTokens: boolean;
  /** The largest token granted in this run, under any name. */
  lastToken: number;
}

/** What the sequences run against. */
export interface ModelTarget {
  /** A label for messages. */
  name: string;
  store: Store;
  /** Moves the owner's clock forward by `ms` and resolves with the new time; absent: no time travel. */
  advance?: (ms: number) => Promise<number>;
  /** True when tokens come from one counter for the whole store (see {@link Model.exactTokens}). */
  exactTokens: boolean;
}

/** The sequence's view of the store. */
interface Real {
  store: Store;
  locks: Lock[];
}

const HOUR = 3_600_000;

/** How `ttl` results are checked on a real clock: the model says `x`, the store must answer in `[x - SLACK, x]`. */
const SLACK = 600_000;

// ---------------------------------------------------------------------------------------------------------
// The model.

function read(m: Model, key: string): Entry | undefined {
  const e = m.data.get(key);
  if (e && e.exp !== 0 && e.exp <= m.now) {
    m.data.delete(key);
    return undefined;
  }
  return e;
}

/** Equality of stored values as the owner sees it (bytes); for the values of {@link VALUES} and numbers this is deep equality. */
function same(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b);
}

class ModelError extends Error {
  constructor(
    readonly code: string,
    readonly index?: number,
  ) {
    super(code);
  }
}

function badSetOptions(o: SetOpts): boolean {
  return (o.nx === true && o.xx === true) || (o.keepTtl === true && o.ttl !== undefined);
}

function modelSet(m: Model, key: string, value: unknown, o: SetOpts): unknown {
  const prev = read(m, key);
  const result = (ok: boolean) => (o.get === true ? prev?.v : ok);
  if ((o.nx === true && prev) || (o.xx === true && !prev)) return result(false);
  const exp = o.keepTtl === true && prev ? prev.exp : o.ttl === undefined ? 0 : m.now + o.ttl;
  m.data.set(key, { v: value, exp });
  return result(true);
}

function modelAdd(m: Model, key: string, by: number): number {
  const e = read(m, key);
  let current = 0;
  if (e) {
    if (typeof e.v !== 'number') throw new ModelError('ERR_SHAREDKV_WRONG_TYPE');
    current = e.v;
  }
  const next = current + by;
  m.data.set(key, { v: next, exp: e?.exp ?? 0 });
  return next;
}

function modelStep(m: Model, s: BatchStep): unknown {
  switch (s.op) {
    case 'get':
      return read(m, s.key)?.v;
    case 'has':
      return read(m, s.key) !== undefined;
    case 'set':
      if (badSetOptions(s.opts)) throw new ModelError('ERR_SHAREDKV_BAD_ARGUMENT');
      return modelSet(m, s.key, VALUES[s.value], s.opts);
    case 'del': {
      let n = 0;
      for (const k of s.keys) {
        if (read(m, k)) {
          m.data.delete(k);
          n++;
        }
      }
      return n;
    }
    case 'incr':
      return modelAdd(m, s.key, s.by);
    case 'decr':
      return modelAdd(m, s.key, -s.by);
    case 'expire': {
      const e = read(m, s.key);
      if (!e) return false;
      m.data.set(s.key, { v: e.v, exp: m.now + s.ttl });
      return true;
    }
    case 'persist': {
      const e = read(m, s.key);
      if (!e || e.exp === 0) return false;
      m.data.set(s.key, { v: e.v, exp: 0 });
      return true;
    }
    case 'cas': {
      const prev = read(m, s.key);
      const match = s.expected === 'absent' ? !prev : prev !== undefined && same(prev.v, VALUES[s.expected]);
      if (!match) return false;
      if (s.next === 'absent') m.data.delete(s.key);
      else m.data.set(s.key, { v: VALUES[s.next], exp: s.ttl === undefined ? (prev?.exp ?? 0) : m.now + s.ttl });
      return true;
    }
  }
}

function liveLock(m: Model, name: string, token: number): LockModel | undefined {
  const st = m.locks.get(name);
  return st?.holder && st.holder.token === token && st.holder.until > m.now ? st : undefined;
}

/**
 * Applies `op` to the model and returns what the store must have answered. `actual` (the store's answer)
 * is used only to adopt a lock token the model cannot predict (a backend whose first token is not 1).
 */
export function applyModel(m: Model, op: Op, actual: Outcome): Outcome {
  try {
    return { ok: modelOp(m, op, actual) };
  } catch (err) {
    if (err instanceof ModelError)
      return err.index === undefined ? { err: err.code } : { err: err.code, index: err.index };
    throw err;
  }
}

function modelOp(m: Model, op: Op, actual: Outcome): unknown {
  switch (op.op) {
    case 'ttl': {
      const e = read(m, op.key);
      if (!e) return -2;
      if (e.exp === 0) return -1;
      return Math.max(0, Math.ceil(e.exp - m.now));
    }
    case 'mget':
      return op.keys.map((k) => read(m, k)?.v);
    case 'keys':
      return [...m.data.keys()].filter((k) => read(m, k)).sort();
    case 'size':
      return [...m.data.keys()].filter((k) => read(m, k)).length;
    case 'batch': {
      op.steps.forEach((s, i) => {
        if (s.op === 'set' && badSetOptions(s.opts)) throw new ModelError('ERR_SHAREDKV_BAD_ARGUMENT', i);
      });
      const before = new Map(m.data);
      const results: unknown[] = [];
      for (let i = 0; i < op.steps.length; i++) {
        try {
          results.push(modelStep(m, op.steps[i]!));
        } catch (err) {
          // Entries are replaced, never changed in place: the copy of the map is the state before the batch.
          m.data = before;
          if (err instanceof ModelError) throw new ModelError(err.code, i);
          throw err;
        }
      }
      return results;
    }
    case 'tryLock':
    case 'lock': {
      const name = `${m.run}:${op.name}`;
      let st = m.locks.get(name);
      if (!st) {
        st = { last: 0, holder: null };
        m.locks.set(name, st);
      }
      if (st.holder && st.holder.until > m.now) {
        if (op.op === 'tryLock') return null;
        throw new ModelError('ERR_SHAREDKV_TIMEOUT');
      }
      // The exact value is the target's (other runs and sessions take tokens too); the model checks that it
      // grows: past every token of this run with one counter per store, past the name's last otherwise.
      const floor = m.exactTokens ? Math.max(m.lastToken, st.last) : st.last;
      let token = floor + 1;
      if ('ok' in actual && typeof actual.ok === 'number' && actual.ok > floor) token = actual.ok;
      st.last = token;
      m.lastToken = Math.max(m.lastToken, token);
      st.holder = { token, until: m.now + op.ttl };
      m.held.push({ name, token });
      return token;
    }
    case 'release': {
      const h = m.held[op.which % m.held.length]!;
      const st = liveLock(m, h.name, h.token);
      if (!st) return false;
      st.holder = null;
      return true;
    }
    case 'fencedSet': {
      const h = m.held[op.which % m.held.length]!;
      if (!liveLock(m, h.name, h.token)) throw new ModelError('ERR_SHAREDKV_LOCK_LOST');
      return modelSet(m, op.key, VALUES[op.value], {});
    }
    case 'advance':
      m.now += op.ms;
      return m.now;
    default:
      return modelStep(m, op);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The real store.

function setOptions(o: SetOpts): SetOptions | undefined {
  return Object.keys(o).length === 0 ? undefined : { ...o };
}

async function realOp(r: Real, op: Op, target: ModelTarget, m: Model): Promise<unknown> {
  const s = r.store;
  switch (op.op) {
    case 'get':
      return s.get(op.key);
    case 'has':
      return s.has(op.key);
    case 'set': {
      const o = setOptions(op.opts);
      return o ? s.set(op.key, VALUES[op.value], o) : s.set(op.key, VALUES[op.value]);
    }
    case 'del':
      return s.del(op.keys);
    case 'incr':
      return s.incr(op.key, op.by);
    case 'decr':
      return s.decr(op.key, op.by);
    case 'expire':
      return s.expire(op.key, op.ttl);
    case 'persist':
      return s.persist(op.key);
    case 'cas': {
      const expected = op.expected === 'absent' ? undefined : VALUES[op.expected];
      const next = op.next === 'absent' ? undefined : VALUES[op.next];
      return op.ttl === undefined ? s.cas(op.key, expected, next) : s.cas(op.key, expected, next, { ttl: op.ttl });
    }
    case 'ttl':
      return s.ttl(op.key);
    case 'mget':
      return s.mget(op.keys);
    case 'keys':
      return (await s.keys()).sort();
    case 'size':
      return s.size();
    case 'batch': {
      const b = s.batch();
      for (const st of op.steps) {
        switch (st.op) {
          case 'get':
            b.get(st.key);
            break;
          case 'has':
            b.has(st.key);
            break;
          case 'set': {
            const o = setOptions(st.opts);
            if (o) b.set(st.key, VALUES[st.value], o);
            else b.set(st.key, VALUES[st.value]);
            break;
          }
          case 'del':
            b.del(...st.keys);
            break;
          case 'incr':
            b.incr(st.key, st.by);
            break;
          case 'decr':
            b.decr(st.key, st.by);
            break;
          case 'expire':
            b.expire(st.key, st.ttl);
            break;
          case 'persist':
            b.persist(st.key);
            break;
          case 'cas': {
            const expected = st.expected === 'absent' ? undefined : VALUES[st.expected];
            const next = st.next === 'absent' ? undefined : VALUES[st.next];
            if (st.ttl === undefined) b.cas(st.key, expected, next);
            else b.cas(st.key, expected, next, { ttl: st.ttl });
            break;
          }
        }
      }
      return b.exec();
    }
    case 'tryLock': {
      const lock = await s.tryLock(`${m.run}:${op.name}`, { ttl: op.ttl });
      if (!lock) return null;
      r.locks.push(lock);
      return lock.token;
    }
    case 'lock': {
      const lock = await s.lock(`${m.run}:${op.name}`, { ttl: op.ttl, wait: 0 });
      r.locks.push(lock);
      return lock.token;
    }
    case 'release':
      return r.locks[op.which % r.locks.length]!.release();
    case 'fencedSet':
      return s.set(op.key, VALUES[op.value], { fence: r.locks[op.which % r.locks.length]! });
    case 'advance':
      if (!target.advance) throw new Error('advance on a target without time travel');
      return target.advance(op.ms);
  }
}

async function outcomeOf(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await p };
  } catch (err) {
    if (
      err instanceof SharedKVError ||
      (err instanceof Error && typeof (err as { code?: unknown }).code === 'string')
    ) {
      const e = err as Error & { code: string; data?: unknown };
      const index = (e.data as { index?: unknown } | undefined)?.index;
      return typeof index === 'number' ? { err: e.code, index } : { err: e.code };
    }
    throw err;
  }
}

/** True when `actual` is what the model expected (ttls within the window on a real clock). */
function agrees(op: Op, expected: Outcome, actual: Outcome, exactClock: boolean): boolean {
  if (!exactClock && op.op === 'ttl' && 'ok' in expected && 'ok' in actual && (expected.ok as number) >= 0) {
    const x = expected.ok as number;
    const a = actual.ok as number;
    return x === -1 || x === -2 ? a === x : a <= x && a >= x - SLACK;
  }
  // A batch error carries the failing index only where the model says so.
  if ('err' in expected && 'err' in actual && expected.index === undefined) return expected.err === actual.err;
  return isDeepStrictEqual(actual, expected);
}

// ---------------------------------------------------------------------------------------------------------
// Sequences.

/** Prints a value index or a ttl compactly in shrunk counterexamples. */
function show(op: unknown): string {
  return JSON.stringify(op, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
}

class OpCommand implements fc.AsyncCommand<Model, Real, false> {
  constructor(
    readonly op: Op,
    private readonly target: ModelTarget,
    private readonly counts: { commands: number },
  ) {}

  check(m: Readonly<Model>): boolean {
    if (this.op.op === 'release' || this.op.op === 'fencedSet') return m.held.length > 0;
    return true;
  }

  async run(m: Model, r: Real): Promise<void> {
    this.counts.commands++;
    const actual = await outcomeOf(realOp(r, this.op, this.target, m));
    const expected = applyModel(m, this.op, actual);
    if (!agrees(this.op, expected, actual, m.exactClock)) {
      throw new Error(
        `${this.target.name} diverged from the model on ${show(this.op)}:\n  store: ${show(actual)}\n  model: ${show(expected)}`,
      );
    }
  }

  toString(): string {
    return show(this.op);
  }
}

/** Arbitraries of commands for a target with (or without) time travel. */
export function opArbitrary(timeTravel: boolean): fc.Arbitrary<Op> {
  const key = fc.constantFrom(...KEYS);
  const keys = fc.array(key, { minLength: 1, maxLength: 4 });
  const value = fc.nat({ max: VALUES.length - 1 });
  const ttl = timeTravel ? fc.integer({ min: 1, max: 3000 }) : fc.integer({ min: HOUR, max: HOUR + 1000 });
  const leaseTtl = timeTravel ? fc.integer({ min: 1, max: 3000 }) : fc.constant(600_000);
  const by = fc.constantFrom(1, -1, 3, 0.5, 100);
  const setOpts: fc.Arbitrary<SetOpts> = fc.record(
    { ttl, nx: fc.boolean(), xx: fc.boolean(), keepTtl: fc.boolean(), get: fc.boolean() },
    { requiredKeys: [] },
  );
  const step: fc.Arbitrary<BatchStep> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('get' as const), key }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), key, value, opts: setOpts }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('del' as const), keys }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('has' as const), key }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('incr' as const), key, by }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('decr' as const), key, by }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('expire' as const), key, ttl }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('persist' as const), key }) },
  );
  const casValue = fc.oneof(fc.constant('absent' as const), value);
  const cas: fc.Arbitrary<BatchStep> = fc.record(
    { op: fc.constant('cas' as const), key, expected: casValue, next: casValue, ttl },
    { requiredKeys: ['op', 'key', 'expected', 'next'] },
  );
  const batchStep = fc.oneof({ weight: 12, arbitrary: step }, { weight: 3, arbitrary: cas });
  const arbs: Array<fc.WeightedArbitrary<Op>> = [
    { weight: 12, arbitrary: step },
    { weight: 3, arbitrary: cas },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('ttl' as const), key }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('mget' as const), keys }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('keys' as const) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('size' as const) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('batch' as const),
        steps: fc.array(batchStep, { minLength: 1, maxLength: 6 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant('tryLock' as const), name: fc.nat({ max: 2 }), ttl: leaseTtl }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('lock' as const), name: fc.nat({ max: 2 }), ttl: leaseTtl }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('release' as const), which: fc.nat({ max: 7 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('fencedSet' as const), which: fc.nat({ max: 7 }), key, value }),
    },
  ];
  if (timeTravel) {
    arbs.push({
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('advance' as const),
        ms: fc.oneof(fc.nat({ max: 50 }), fc.nat({ max: 4000 })),
      }),
    });
  }
  return fc.oneof(...arbs);
}

/** How many sequences, how long, and which one to replay. */
export interface ModelRunOptions {
  numRuns: number;
  /** Most commands per sequence. @default 100 */
  maxCommands?: number;
  /** Replays a failure: the `seed`, `path` and `replayPath` a failed run printed. */
  seed?: number;
  path?: string;
  replayPath?: string;
}

/** Reads a replay request from the environment (`SHAREDKV_MODEL_SEED`, `_PATH`, `_REPLAY`). */
export function replayFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Pick<ModelRunOptions, 'seed' | 'path' | 'replayPath'> {
  const out: Pick<ModelRunOptions, 'seed' | 'path' | 'replayPath'> = {};
  if (env.SHAREDKV_MODEL_SEED) out.seed = Number(env.SHAREDKV_MODEL_SEED);
  if (env.SHAREDKV_MODEL_PATH) out.path = env.SHAREDKV_MODEL_PATH;
  if (env.SHAREDKV_MODEL_REPLAY) out.replayPath = env.SHAREDKV_MODEL_REPLAY;
  return out;
}

/** The numbers of one finished run of {@link runModel}. */
export interface ModelReport {
  target: string;
  sequences: number;
  commands: number;
  ms: number;
}

let runCounter = 0;

/**
 * Runs `options.numRuns` random sequences against `target`. Each starts from an empty store (`clear()`)
 * and releases its locks at the end.
 *
 * @throws Error on the first divergence, after shrinking, with the replay instructions in its message.
 */
export async function runModel(target: ModelTarget, options: ModelRunOptions): Promise<ModelReport> {
  const timeTravel = target.advance !== undefined;
  const constraints: fc.CommandsContraints = { maxCommands: options.maxCommands ?? 100, size: 'max' };
  if (options.replayPath !== undefined) constraints.replayPath = options.replayPath;
  let sequences = 0;
  const counts = { commands: 0 };
  const t0 = performance.now();
  const cmds = fc.commands(
    [
      opArbitrary(timeTravel).map(
        (op) => new OpCommand(op, target, counts),
        (c) => (c as OpCommand).op,
      ),
    ],
    constraints,
  );
  const property = fc.asyncProperty(cmds, async (seq) => {
    sequences++;
    const real: Real = { store: target.store, locks: [] };
    await target.store.clear();
    const now = target.advance ? await target.advance(0) : 0;
    const model: Model = {
      now,
      data: new Map(),
      locks: new Map(),
      held: [],
      run: `model-lock-${process.pid}-${++runCounter}`,
      exactClock: timeTravel,
      exactTokens: target.exactTokens,
      lastToken: 0,
    };
    try {
      await fc.asyncModelRun(() => ({ model, real }), seq);
    } finally {
      // Leave no lease behind in a shared owner: release what is still held (false for the others).
      await Promise.all(real.locks.map((l) => l.release().catch(() => false)));
    }
  });
  const params: fc.Parameters<[Iterable<fc.AsyncCommand<Model, Real, false>>]> = { numRuns: options.numRuns };
  if (options.seed !== undefined) params.seed = options.seed;
  if (options.path !== undefined) params.path = options.path;
  const details = await fc.check(property, params);
  if (details.failed) {
    const replay = /replayPath="([^"]*)"/.exec(String(details.counterexample?.[0] ?? ''))?.[1];
    const how =
      `replay with: SHAREDKV_MODEL_SEED=${details.seed} SHAREDKV_MODEL_PATH=${details.counterexamplePath ?? ''}` +
      (replay ? ` SHAREDKV_MODEL_REPLAY='${replay}'` : '') +
      ` (and SHAREDKV_MODEL_TARGET='${target.name}' to run only this target)`;
    const cause =
      details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`${await fc.asyncDefaultReportMessage(details)}\n${cause}\n${how}`);
  }
  return { target: target.name, sequences, commands: counts.commands, ms: Math.round(performance.now() - t0) };
}

// ---------------------------------------------------------------------------------------------------------
// Targets.

/** A {@link Caller} straight into an engine (no server, no transport): the backend alone. */
export class EngineCaller implements Caller {
  private readonly session: Session;
  private nextId = 1;
  onPush: (message: unknown[]) => void = () => {};
  readonly pending = 0;

  constructor(private readonly engine: Engine) {
    this.session = engine.openSession('model', () => {});
  }

  async call(name: string, args: unknown[]): Promise<unknown> {
    const result = this.engine.execute(this.session, this.nextId++, name, args);
    if (result === PENDING) throw new Error(`${name} waited in a sequential model run`);
    return result;
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {
    this.engine.closeSession(this.session);
  }
}

/** The Store API directly over `engine` (values encoded and decoded as on every other path). */
export function engineStore(engine: Engine): Store {
  return new KVStore(new EngineCaller(engine));
}

/** Budget of a model test: CI numbers by default, 10,000 sequences of up to 100 commands with `SHAREDKV_DEEP=1`. */
export function modelBudget(ciRuns: number, ciMaxCommands = 100): { numRuns: number; maxCommands: number } {
  return process.env.SHAREDKV_DEEP === '1'
    ? { numRuns: Number(process.env.SHAREDKV_MODEL_RUNS ?? 10_000), maxCommands: 100 }
    : { numRuns: Number(process.env.SHAREDKV_MODEL_RUNS ?? ciRuns), maxCommands: ciMaxCommands };
}
