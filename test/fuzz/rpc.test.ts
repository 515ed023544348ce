/**
 * RPC fuzz of the client layer: a {@link RemoteCaller} over a fake {@link Channel} that this test drives.
 * fast-check's scheduler (`fc.scheduler`) decides the order of everything that can happen to a call: its
 * reply (success or error), a duplicate or late reply, a reply for an id nobody asked, the passing of
 * time (timeouts), an abort, a dropped connection (with or without redial), a garbage frame and a
 * connection-level error from the owner. Time is fake: `performance.now` is replaced and the caller's
 * timers are node:test mock timers moved 1 ms at a time, so "up to 25 ms late" is checked exactly.
 *
 * Invariants, checked after every event:
 * - a call resolves only with the result of a reply to its own request id, and rejects with a reply's
 *   error only when such a reply came for its id;
 * - `pending` counts exactly the calls that have not settled (a settled call never lingers, a pending one
 *   is never dropped silently);
 * - no call with a timeout is pending 25 ms or more past its deadline, and none times out early;
 * - a dropped connection settles at once every call that was sent on it;
 * - at the end, every call settles (closing the caller settles those without a timeout).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it, mock } from 'node:test';
import fc from 'fast-check';
import { RemoteCaller, type RemoteOptions } from '../../src/client/remote.js';
import { SharedKVError } from '../../src/errors.js';
import { encodeValue, PLAIN_TAG } from '../../src/protocol/codec.js';
import { decodeFrame, ERR, encodeFrame, encodeReplyFrame, INLINE, OK, PUSH } from '../../src/protocol/envelope.js';
import type { Channel } from '../../src/transport/transport.js';

const DEEP = process.env.SHAREDKV_DEEP === '1';
const RUNS = Number(process.env.SHAREDKV_RPC_RUNS ?? (DEEP ? 20_000 : 400));

/** The error code the fake owner answers with, distinct from every code the client makes itself. */
const REPLY_ERROR = 'ERR_SHAREDKV_WRONG_TYPE';

/** Fake time, in ms, and the real `performance.now` to restore. */
let fakeNow = 10_000;
const realNow = performance.now.bind(performance);

/** Lets nextTick callbacks and promise reactions run (setImmediate is not mocked). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Garbage frames sent so far: they alternate between two kinds. */
let garbage = 0;

interface CallRecord {
  i: number;
  timeout: number;
  issuedAt: number;
  deadline: number;
  /** Request ids this call was sent under, with the channel each went on. */
  ids: Map<number, FakeChannel>;
  /** Ids for which a success reply was delivered, and for which an error reply was. */
  okDelivered: Set<number>;
  errDelivered: Set<number>;
  abort: AbortController | null;
  settled: { at: number; ok: boolean; value?: unknown; code?: string } | null;
}

/** A channel the test drives: requests are recorded, replies are delivered when the scheduler says. */
class FakeChannel implements Channel {
  readonly kind = 'socket' as const;
  closed = false;
  onFrame: (payload: Buffer) => void = () => {};
  onClose: (reason: SharedKVError) => void = () => {};

  constructor(
    readonly n: number,
    private readonly onRequest: (channel: FakeChannel, id: number, name: string, args: unknown[]) => void,
  ) {}

  send(payload: Buffer): void {
    if (this.closed) return;
    for (const item of decodeFrame(payload) as Array<[number, string, unknown[]]>) {
      const [id, name, args] = item;
      if (name === 'hello') {
        // The owner greets at once (on a later tick, as a real one would).
        setImmediate(() => this.deliver([[id, OK, { v: 1, pid: 1 }]]));
        continue;
      }
      this.onRequest(this, id, name, args);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(new SharedKVError('ERR_SHAREDKV_DISCONNECTED', 'fake channel closed'));
  }

  /**
   * Delivers reply items as one frame, even on a closed channel (a late frame must do no harm). Successes
   * for odd ids travel inline, after the item list, as the owner sends plain values read by `get`; so
   * frames mix inline and ordinary replies, and a duplicate inline reply comes with its own value.
   */
  deliver(items: unknown[]): void {
    const inline: Uint8Array[] = [];
    const list = (items as unknown[][]).map((item) => {
      if (item[1] !== OK || (item[0] as number) % 2 === 0 || typeof item[2] !== 'string') return item;
      // A string is never written plain, but after the tag its MessagePack reads the same way.
      inline.push(Buffer.concat([Buffer.of(PLAIN_TAG), encodeValue(item[2])]));
      return [item[0], INLINE, null];
    });
    this.onFrame(encodeReplyFrame(list, inline));
  }
}

type Event =
  | { kind: 'issue'; call: number }
  | { kind: 'reply'; call: number; ok: boolean }
  | { kind: 'duplicate'; call: number }
  | { kind: 'stranger' }
  | { kind: 'advance'; ms: number }
  | { kind: 'disconnect' }
  | { kind: 'abort'; call: number }
  | { kind: 'garbage' }
  | { kind: 'connectionError' }
  | { kind: 'push' };

interface Scenario {
  calls: Array<{ timeout: number; abortable: boolean; replies: boolean[]; duplicate: boolean }>;
  events: Event[];
  hello: boolean;
  redial: boolean;
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    calls: fc.array(
      fc.record({
        timeout: fc.constantFrom(0, 1, 20, 25, 50, 120),
        abortable: fc.boolean(),
        // 0, 1 or 2 replies, each a success or an error.
        replies: fc.array(fc.boolean(), { maxLength: 2 }),
        duplicate: fc.boolean(),
      }),
      { minLength: 1, maxLength: 10 },
    ),
    advances: fc.array(fc.integer({ min: 1, max: 80 }), { maxLength: 6 }),
    disconnects: fc.nat({ max: 2 }),
    aborts: fc.array(fc.nat({ max: 9 }), { maxLength: 2 }),
    strangers: fc.nat({ max: 2 }),
    garbage: fc.nat({ max: 3 }).map((n) => n === 0),
    connectionError: fc.boolean(),
    hello: fc.boolean(),
    redial: fc.boolean(),
  })
  .map((r) => {
    const events: Event[] = r.calls.map((_, call) => ({ kind: 'issue', call }));
    for (const ms of r.advances) events.push({ kind: 'advance', ms });
    for (let i = 0; i < r.disconnects; i++) events.push({ kind: 'disconnect' });
    for (const a of r.aborts) events.push({ kind: 'abort', call: a % r.calls.length });
    for (let i = 0; i < r.strangers; i++) events.push({ kind: 'stranger' });
    if (r.garbage) events.push({ kind: 'garbage' });
    if (r.connectionError && r.calls.length % 3 === 0) events.push({ kind: 'connectionError' });
    events.push({ kind: 'push' });
    return { calls: r.calls, events, hello: r.hello, redial: r.redial };
  });

/** Runs one scenario under the scheduler `s` and checks the invariants. */
async function play(s: fc.Scheduler, sc: Scenario): Promise<void> {
  const records: CallRecord[] = [];
  const channels: FakeChannel[] = [];
  let pushes = 0;
  const onRequest = (channel: FakeChannel, id: number, name: string, args: unknown[]) => {
    if (name === 'cancel') return;
    const i = args[0] as number;
    const rec = records[i];
    assert.ok(rec, `a request for a call that was never issued: ${name} ${JSON.stringify(args)}`);
    assert.ok(!rec.ids.has(id), `request id ${id} sent twice`);
    // A call is sent once: never re-sent on a new connection after it left on a dropped one.
    assert.equal(rec.ids.size, 0, `call ${i} was sent twice (ids ${[...rec.ids.keys()]} and ${id})`);
    rec.ids.set(id, channel);
    // Its replies come when the scheduler says.
    const c = sc.calls[i]!;
    for (const ok of c.replies) schedule({ kind: 'reply', call: i, ok });
    if (c.duplicate) schedule({ kind: 'duplicate', call: i });
  };
  const dial = () => {
    const ch = new FakeChannel(channels.length, onRequest);
    channels.push(ch);
    return ch;
  };
  const options: RemoteOptions = { timeout: 5000 };
  if (sc.hello) options.hello = { token: 't' };
  if (sc.redial) {
    options.redial = async () => dial();
    options.backoff = { min: 5, max: 40 };
  }
  const caller = new RemoteCaller(Promise.resolve(dial()), options);
  caller.onPush = () => {
    pushes++;
  };
  const pending: Event[] = [];
  const schedule = (ev: Event) => {
    s.schedule(Promise.resolve(ev), ev.kind).then((e) => pending.push(e));
  };
  const current = () => channels[channels.length - 1]!;
  const all = () => records.filter((r): r is CallRecord => r !== undefined);
  const unsettled = () => all().filter((r) => !r.settled).length;

  const violations: string[] = [];
  const check = (when: string) => {
    assert.deepEqual(violations, [], when);
    const open = unsettled();
    if (sc.hello) {
      assert.ok(
        caller.pending >= open && caller.pending <= open + 1,
        `${when}: pending ${caller.pending}, open ${open}`,
      );
    } else {
      assert.equal(caller.pending, open, `${when}: pending ${caller.pending} but ${open} calls are unsettled`);
    }
    for (const r of all()) {
      if (!r.settled && r.deadline !== Number.POSITIVE_INFINITY) {
        assert.ok(
          fakeNow < r.deadline + 25,
          `${when}: call ${r.i} (timeout ${r.timeout}) still pending ${fakeNow - r.deadline} ms past its deadline`,
        );
      }
      if (!r.settled) continue;
      if (r.settled.ok) {
        assert.equal(r.settled.value, `r${r.i}`, `call ${r.i} resolved with another call's result`);
        assert.ok(
          [...r.okDelivered].some((id) => r.ids.has(id)),
          `call ${r.i} resolved without a reply to it`,
        );
      } else if (r.settled.code === REPLY_ERROR) {
        assert.ok(
          [...r.errDelivered].some((id) => r.ids.has(id)),
          `call ${r.i} got an error reply meant for another`,
        );
      } else if (r.settled.code === 'ERR_SHAREDKV_TIMEOUT') {
        assert.ok(r.settled.at >= r.deadline, `call ${r.i} timed out ${r.deadline - r.settled.at} ms early`);
      }
    }
  };

  const issue = (i: number) => {
    const c = sc.calls[i]!;
    const abort = c.abortable ? new AbortController() : null;
    const rec: CallRecord = {
      i,
      timeout: c.timeout,
      issuedAt: fakeNow,
      deadline: c.timeout === 0 ? Number.POSITIVE_INFINITY : fakeNow + c.timeout,
      ids: new Map(),
      okDelivered: new Set(),
      errDelivered: new Set(),
      abort,
      settled: null,
    };
    records[i] = rec;
    const opts = abort ? { timeout: c.timeout, signal: abort.signal } : { timeout: c.timeout };
    caller.call('get', [i], opts).then(
      (value) => {
        if (rec.settled) violations.push(`call ${i} settled twice`);
        rec.settled = { at: fakeNow, ok: true, value };
      },
      (err: unknown) => {
        if (rec.settled) violations.push(`call ${i} settled twice`);
        if (!(err instanceof SharedKVError)) violations.push(`call ${i} rejected with a non-SharedKVError: ${err}`);
        rec.settled = { at: fakeNow, ok: false, code: (err as SharedKVError).code };
      },
    );
  };

  const advance = async (ms: number) => {
    for (let k = 0; k < ms; k++) {
      fakeNow += 1;
      mock.timers.tick(1);
      await flush();
      check(`at +${k + 1} ms`);
    }
  };

  const run = async (ev: Event) => {
    switch (ev.kind) {
      case 'issue':
        issue(ev.call);
        break;
      case 'reply': {
        const r = records[ev.call]!;
        const [id, ch] = [...r.ids][0]!;
        if (ev.ok) r.okDelivered.add(id);
        else r.errDelivered.add(id);
        ch.deliver([ev.ok ? [id, OK, `r${ev.call}`] : [id, ERR, { code: REPLY_ERROR, message: 'no' }]]);
        break;
      }
      case 'duplicate': {
        const r = records[ev.call]!;
        const [id, ch] = [...r.ids][0]!;
        r.okDelivered.add(id);
        // The same reply twice in one frame, then once more.
        ch.deliver([
          [id, OK, `r${ev.call}`],
          [id, OK, `r${ev.call}`],
        ]);
        ch.deliver([[id, OK, `r${ev.call}`]]);
        break;
      }
      case 'stranger':
        current().deliver([
          [987_654, OK, 'nobody asked'],
          [-1, ERR, { code: REPLY_ERROR, message: 'x' }],
        ]);
        break;
      case 'push':
        current().deliver([[0, PUSH, ['message', 'c', 'm']]]);
        break;
      case 'advance':
        await advance(ev.ms);
        break;
      case 'disconnect': {
        const ch = current();
        ch.close();
        await flush();
        for (const r of all()) {
          if ([...r.ids.values()].includes(ch) && r.okDelivered.size + r.errDelivered.size === 0) {
            assert.ok(r.settled, `call ${r.i} was in flight on a dropped connection and did not settle`);
          }
        }
        break;
      }
      case 'abort':
        records[ev.call]?.abort?.abort();
        break;
      case 'garbage':
        // Bytes that are no frame, or an inline reply whose value is missing.
        if (garbage++ % 2 === 0) current().onFrame(Buffer.from([0xc1, 0xc1, 0xc1]));
        else current().onFrame(encodeFrame([[987_655, INLINE, null]]));
        break;
      case 'connectionError':
        current().deliver([[0, ERR, { code: 'ERR_SHAREDKV_AUTH', message: 'refused' }]]);
        break;
    }
    await flush();
    check(`after ${ev.kind}`);
  };

  for (const ev of sc.events) schedule(ev);
  while (s.count() > 0) {
    await s.waitOne();
    await flush();
    while (pending.length > 0) await run(pending.shift()!);
  }
  // Let every timeout pass, then close: every call must have settled.
  const last = Math.max(0, ...all().map((r) => (r.deadline === Number.POSITIVE_INFINITY ? 0 : r.deadline)));
  if (last > 0) await advance(Math.max(0, last + 25 - fakeNow));
  for (const r of all()) {
    if (r.deadline !== Number.POSITIVE_INFINITY) assert.ok(r.settled, `call ${r.i} with a timeout never settled`);
  }
  await caller.close();
  await flush();
  assert.equal(caller.pending, 0, 'nothing pending after close');
  for (const r of all()) assert.ok(r.settled, `call ${r.i} did not settle on close`);
  await assert.rejects(caller.call('get', [0]), (e: SharedKVError) => e.code === 'ERR_SHAREDKV_CLOSED');
  for (const r of all()) {
    const k = r.settled?.ok ? 'resolved' : (r.settled?.code ?? 'unsettled');
    outcomes[k] = (outcomes[k] ?? 0) + 1;
  }
  outcomes.pushes = (outcomes.pushes ?? 0) + pushes;
  outcomes.reconnects = (outcomes.reconnects ?? 0) + channels.length - 1;
}

/** How the calls of all scenarios ended, printed so a run shows that every path was taken. */
const outcomes: Record<string, number> = {};

describe('RPC fuzz: RemoteCaller under scheduled replies, timeouts and disconnects', () => {
  before(() => {
    performance.now = () => fakeNow;
  });
  after(() => {
    performance.now = realNow;
  });
  beforeEach(() => {
    mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
  });
  afterEach(() => {
    mock.timers.reset();
  });

  it(`${RUNS} scheduled scenarios keep every invariant`, { timeout: 3_600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), scenario, async (s, sc) => {
        // Each scenario starts with fresh timers.
        mock.timers.reset();
        mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
        await play(s, sc);
      }),
      { numRuns: RUNS, includeErrorInReport: true },
    );
    console.log(JSON.stringify({ scenarios: RUNS, outcomes }));
    for (const code of [
      'resolved',
      REPLY_ERROR,
      'ERR_SHAREDKV_TIMEOUT',
      'ERR_SHAREDKV_DISCONNECTED',
      'ERR_SHAREDKV_ABORTED',
    ]) {
      assert.ok((outcomes[code] ?? 0) > 0, `no call ended with ${code}: the scenarios miss a path`);
    }
  });
});
