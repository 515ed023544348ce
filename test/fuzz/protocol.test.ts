/**
 * Hostile input on the owner's socket. A server in this process listens on a Unix socket with a token; raw
 * `net` peers send it broken frames while a good client (the real RemoteCaller) keeps being served.
 *
 * - Frame-level garbage (lengths over the limit or "negative", bytes that are not MessagePack, a frame that
 *   is not a list of `[id, command, args]` items, 10,000- and 100,000-deep nesting, an empty frame): the
 *   server answers `[0, ERR, { code: 'ERR_SHAREDKV_PROTOCOL' }]` and closes the connection within 1 s.
 *   A first request other than a good `hello` gets `ERR_SHAREDKV_AUTH` (or PROTOCOL for a version) and the
 *   same close.
 * - Well-framed requests with unknown commands or wrong arguments, for every command of the table: each is
 *   answered on its own (never `ERR_SHAREDKV_INTERNAL`, never a dropped connection) and the connection
 *   stays usable.
 * - Randomly mutated byte streams (bit flips, cuts, insertions, repeats) of good sessions: the server never
 *   crashes, never answers INTERNAL, and closes each connection within 1 s of the peer hanging up.
 *
 * CI sends a few thousand bad frames; `SHAREDKV_DEEP=1` sends over 100,000.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { RemoteCaller } from '../../src/client/remote.js';
import { KVStore } from '../../src/client/store.js';
import { commands } from '../../src/engine/commands/index.js';
import { encodeValue } from '../../src/protocol/codec.js';
import { decodeReplyItems, ERR, encodeFrame, OK, PROTOCOL_VERSION } from '../../src/protocol/envelope.js';
import { FrameReader, frameHeader } from '../../src/protocol/framing.js';
import { Server } from '../../src/server/server.js';
import { dialUnix } from '../../src/transport/socket.js';

const DEEP = process.env.SHAREDKV_DEEP === '1';
const TOKEN = 'fuzz-token';
const MUTATED = Number(process.env.SHAREDKV_FUZZ_MUTATED ?? (DEEP ? 100_000 : 2_000));
const ARG_RUNS = Number(process.env.SHAREDKV_FUZZ_ARG_RUNS ?? (DEEP ? 2_000 : 150));

let dir: string;
let path: string;
let server: Server;
let good: KVStore;
let goodLoop: Promise<void>;
let stopGood = false;
const goodStats = { calls: 0, failures: [] as string[], maxMs: 0 };
let badFrames = 0;
/**
 * Uncaught exceptions in this process (the owner's): the test runner would otherwise report them against
 * whichever test runs, while in production they kill the owner.
 */
const crashes: string[] = [];
process.on('uncaughtExceptionMonitor', (err) => crashes.push(String(err?.stack ?? err)));

/** A raw peer: writes bytes as given, collects reply items, notes when the server closes. */
interface Peer {
  socket: net.Socket;
  items: unknown[][];
  closed: Promise<void>;
  isClosed: boolean;
  /** Writes one well-formed frame of `items`. */
  frame(items: unknown[]): void;
  /** Resolves with the reply item of request `id` (or rejects when the connection closes first). */
  reply(id: number, ms?: number): Promise<unknown[]>;
}

async function connectRaw(): Promise<Peer> {
  const socket = net.createConnection(path);
  await once(socket, 'connect');
  const reader = new FrameReader(1 << 30);
  const items: unknown[][] = [];
  const waiters = new Map<number, (item: unknown[]) => void>();
  socket.on('data', (chunk: Buffer) => {
    for (const f of reader.push(chunk)) {
      for (const item of decodeReplyItems(f)) {
        items.push(item);
        waiters.get(item[0] as number)?.(item);
      }
    }
  });
  socket.on('error', () => {});
  const peer: Peer = {
    socket,
    items,
    isClosed: false,
    closed: new Promise<void>((resolve) =>
      socket.once('close', () => {
        peer.isClosed = true;
        resolve();
      }),
    ),
    frame(list) {
      const payload = encodeFrame(list);
      socket.write(Buffer.concat([frameHeader(payload.length), payload]));
    },
    reply(id, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to ${id} in ${ms} ms`)), ms);
        const found = items.find((i) => i[0] === id);
        if (found) {
          clearTimeout(timer);
          resolve(found);
          return;
        }
        waiters.set(id, (item) => {
          clearTimeout(timer);
          waiters.delete(id);
          resolve(item);
        });
        void peer.closed.then(() => {
          clearTimeout(timer);
          reject(new Error(`connection closed before the reply to ${id}; items ${JSON.stringify(items)}`));
        });
      });
    },
  };
  return peer;
}

const hello = (token = TOKEN, v: unknown = PROTOCOL_VERSION): unknown[] => [1, 'hello', [{ v, token }]];

/** Codes the server sent about the connection itself (id 0). */
const connectionErrors = (items: unknown[][]) =>
  items.filter((i) => i[0] === 0 && i[1] === ERR).map((i) => (i[2] as { code: string }).code);

/** Resolves when the peer is closed, or fails after `ms`. */
async function closedWithin(peer: Peer, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: the server did not close the connection within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([peer.closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A greeted raw peer. */
async function greeted(): Promise<Peer> {
  const p = await connectRaw();
  p.frame([hello()]);
  const r = await p.reply(1);
  assert.equal(r[1], OK, `hello refused: ${JSON.stringify(r)}`);
  return p;
}

/** MessagePack of `depth` nested one-element arrays around nil, built by hand (an encoder would recurse). */
function nested(depth: number): Buffer {
  return Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0xc0])]);
}

/** How one good session's bytes are damaged. */
interface Mutation {
  flips: Array<[number, number]>;
  cut: number | undefined;
  insert: [number, Uint8Array] | undefined;
  repeat: [number, number] | undefined;
}

/** A frame (header + payload) around raw payload bytes. */
const framed = (payload: Buffer) => Buffer.concat([frameHeader(payload.length), payload]);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sharedkv-fuzz-'));
  path = join(dir, 'owner.sock');
  server = new Server();
  await server.listen(path, TOKEN);
  good = new KVStore(new RemoteCaller(dialUnix(path), { hello: { token: TOKEN }, timeout: 60_000 }));
  await good.ready();
  // The good client: a write and a read of the same key in one tick (one frame, so atomic), every 5 ms.
  goodLoop = (async () => {
    let n = 0;
    while (!stopGood) {
      n++;
      const t = performance.now();
      try {
        const [, got] = await Promise.all([good.set('good', n), good.get('good')]);
        if (got !== n) goodStats.failures.push(`read ${String(got)} after writing ${n}`);
      } catch (err) {
        goodStats.failures.push(String(err));
      }
      goodStats.calls += 2;
      goodStats.maxMs = Math.max(goodStats.maxMs, performance.now() - t);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
});

after(async () => {
  stopGood = true;
  await goodLoop;
  await good.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('hostile input on the socket', () => {
  const frameCases: Array<[string, () => Buffer, string, boolean]> = [
    ['a length over the limit (2^31 - 1)', () => Buffer.from([0x7f, 0xff, 0xff, 0xff]), 'ERR_SHAREDKV_PROTOCOL', true],
    [
      'a "negative" length (0xffffffff)',
      () => Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
      'ERR_SHAREDKV_PROTOCOL',
      true,
    ],
    ['a length one past 64 MiB', () => frameHeader(64 * 1024 * 1024 + 1), 'ERR_SHAREDKV_PROTOCOL', true],
    ['an empty frame', () => framed(Buffer.alloc(0)), 'ERR_SHAREDKV_PROTOCOL', true],
    ['bytes that are not MessagePack', () => framed(Buffer.from([0xc1, 0xc1, 0xc1])), 'ERR_SHAREDKV_PROTOCOL', true],
    ['a frame that is not a list', () => framed(encodeFrame(42 as never)), 'ERR_SHAREDKV_PROTOCOL', true],
    ['a list of non-items', () => framed(encodeFrame([1, 2, 3])), 'ERR_SHAREDKV_PROTOCOL', true],
    ['an item with a string id', () => framed(encodeFrame([['1', 'ping', []]])), 'ERR_SHAREDKV_PROTOCOL', true],
    ['an item whose args are not a list', () => framed(encodeFrame([[2, 'ping', 'x']])), 'ERR_SHAREDKV_PROTOCOL', true],
    [
      'trailing bytes after the list',
      () => framed(Buffer.concat([encodeFrame([]), Buffer.from([0xc0])])),
      'ERR_SHAREDKV_PROTOCOL',
      true,
    ],
    ['10,000-deep nesting as the frame', () => framed(nested(10_000)), 'ERR_SHAREDKV_PROTOCOL', true],
    ['100,000-deep nesting as the frame', () => framed(nested(100_000)), 'ERR_SHAREDKV_PROTOCOL', true],
  ];

  for (const [name, bytes, code, afterHello] of frameCases) {
    it(`${name}: ${code}, then closed within 1 s`, { timeout: 60_000 }, async () => {
      const p = afterHello ? await greeted() : await connectRaw();
      try {
        p.socket.write(bytes());
        badFrames++;
        await closedWithin(p, 1000, name);
        assert.deepEqual(connectionErrors(p.items), [code]);
      } finally {
        p.socket.destroy();
      }
      assert.deepEqual(crashes, [], 'the owner threw an uncaught exception');
    });
  }

  it('an empty frame (00 00 00 00) before hello: the owner, in a process of its own, survives and refuses it', {
    timeout: 120_000,
  }, async () => {
    const sock = join(dir, 'crash.sock');
    const child = fork(fileURLToPath(new URL('../fixtures/stress-fuzz-owner.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, SKV_SOCKET: sock, SKV_TOKEN: TOKEN },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const exited = once(child, 'exit');
    try {
      await once(child, 'message');
      const s = net.createConnection(sock);
      s.on('error', () => {});
      await once(s, 'connect');
      s.write(Buffer.from([0, 0, 0, 0]));
      const outcome = await Promise.race([
        exited.then(([code]) => `the owner died (exit code ${code})`),
        new Promise((r) => setTimeout(() => r('alive'), 1000)),
      ]);
      s.destroy();
      assert.equal(outcome, 'alive');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('a first request that is not hello, a wrong token, a missing token, another version: refused and closed', {
    timeout: 60_000,
  }, async () => {
    const cases: Array<[unknown[], string]> = [
      [[1, 'get', ['k']], 'ERR_SHAREDKV_AUTH'],
      [hello('wrong'), 'ERR_SHAREDKV_AUTH'],
      [[1, 'hello', [{ v: PROTOCOL_VERSION }]], 'ERR_SHAREDKV_AUTH'],
      [[1, 'hello', []], 'ERR_SHAREDKV_AUTH'],
      [hello(TOKEN, 99), 'ERR_SHAREDKV_PROTOCOL'],
    ];
    for (const [item, code] of cases) {
      const p = await connectRaw();
      p.frame([item]);
      badFrames++;
      await closedWithin(p, 1000, JSON.stringify(item));
      assert.deepEqual(connectionErrors(p.items), [code], JSON.stringify(item));
    }
  });

  it('10,000- and 100,000-deep nesting inside the arguments of a request', { timeout: 60_000 }, async () => {
    for (const depth of [10_000, 100_000]) {
      const p = await greeted();
      // [[5, 'get', [<nested>]]] written by hand around the nested value.
      const head = Buffer.from([0x91, 0x93, 0x05, 0xa3, 0x67, 0x65, 0x74, 0x91]);
      p.socket.write(framed(Buffer.concat([head, nested(depth)])));
      badFrames++;
      p.frame([[6, 'ping', []]]);
      // Either the request is refused on its own (the connection lives on) or the frame is (PROTOCOL, closed).
      const outcome = await Promise.race([p.reply(6).then(() => 'served'), p.closed.then(() => 'closed')]);
      if (outcome === 'served') {
        const r = await p.reply(5);
        assert.equal(r[1], ERR);
        assert.equal((r[2] as { code: string }).code, 'ERR_SHAREDKV_BAD_ARGUMENT');
        p.socket.destroy();
      } else {
        assert.deepEqual(connectionErrors(p.items), ['ERR_SHAREDKV_PROTOCOL']);
      }
    }
  });

  it('unknown commands are refused one by one; the connection stays usable', { timeout: 60_000 }, async () => {
    const p = await greeted();
    const names = [
      'nope',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'hello',
      'GET',
      '',
      'x'.repeat(10_000),
    ];
    for (const [i, name] of names.entries()) p.frame([[100 + i, name, []]]);
    badFrames += names.length;
    for (let i = 0; i < names.length; i++) {
      const r = await p.reply(100 + i);
      assert.equal(r[1], ERR);
      assert.equal((r[2] as { code: string }).code, 'ERR_SHAREDKV_PROTOCOL', `command ${names[i]!.slice(0, 20)}`);
    }
    p.frame([[200, 'ping', []]]);
    assert.deepEqual(await p.reply(200), [200, OK, 'pong']);
    p.socket.destroy();
  });

  it(`wrong arguments for every command of the table (${ARG_RUNS} random argument lists each)`, {
    timeout: 1_800_000,
  }, async () => {
    const leaf = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.constantFrom(-1, 0, 1, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), Number.NaN, Number.POSITIVE_INFINITY, -0, 1.5),
      fc.double(),
      fc.string({ maxLength: 12 }),
      fc.constantFrom('k', 'lock', '*', '[', '\\', '__proto__', 'x'.repeat(20_000)),
      fc.uint8Array({ maxLength: 12 }),
      fc.constantFrom(...[1, 'v', { a: 1 }, [1, 2]].map((v) => encodeValue(v))),
    );
    const optionName = fc.constantFrom(
      'ttl',
      'nx',
      'xx',
      'keepTtl',
      'get',
      'fence',
      'wait',
      'limit',
      'lease',
      'match',
      'count',
      'lock',
      'token',
      '__proto__',
      'constructor',
    );
    const { value } = fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.oneof(optionName, fc.string({ maxLength: 6 })), tie('value'), { maxKeys: 4 }),
      ),
    }));
    const args = fc.array(value, { maxLength: 5 });
    const waits = new Set(['lock', 'getOrSet']);
    let p = await greeted();
    let id = 1000;
    const codes: Record<string, number> = {};
    for (const name of commands.keys()) {
      await fc.assert(
        fc.asyncProperty(args, async (a) => {
          if (p.isClosed) p = await greeted();
          const mine = id++;
          const ping = id++;
          p.frame([
            [mine, name, a],
            [ping, 'ping', []],
          ]);
          badFrames++;
          const pong = await p.reply(ping);
          assert.deepEqual(pong, [ping, OK, 'pong'], `${name}: the connection stopped serving`);
          const r = p.items.find((i) => i[0] === mine);
          if (!r) {
            // Only commands that wait may stay unanswered (a lock or a load held by someone else).
            assert.ok(waits.has(name), `${name}(${JSON.stringify(a)}) got no answer`);
            return;
          }
          const code = r[1] === OK ? 'OK' : (r[2] as { code: string }).code;
          codes[code] = (codes[code] ?? 0) + 1;
          assert.notEqual(
            code,
            'ERR_SHAREDKV_INTERNAL',
            `${name}(${JSON.stringify(a)}) crashed in the owner: ${JSON.stringify(r[2])}`,
          );
        }),
        { numRuns: ARG_RUNS, includeErrorInReport: true },
      );
      // Start each command from a fresh connection, so one command's waiters and locks do not pile up.
      p.socket.destroy();
      p = await greeted();
    }
    p.socket.destroy();
    console.log(JSON.stringify({ commands: commands.size, argumentLists: commands.size * ARG_RUNS, codes }));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it(`${MUTATED} mutated sessions: no crash, no INTERNAL, every connection closed within 1 s of hanging up`, {
    timeout: 3_600_000,
  }, async () => {
    const session = (n: number) =>
      Buffer.concat(
        [
          encodeFrame([hello()]),
          encodeFrame([
            [2, 'set', [`m${n}`, encodeValue({ n }), { ttl: 60_000 }]],
            [3, 'incr', ['mcount', 1]],
          ]),
          encodeFrame([
            [4, 'get', [`m${n}`]],
            [
              5,
              'batch',
              [
                [
                  ['incr', 'mcount'],
                  ['del', [`m${n}`]],
                ],
              ],
            ],
          ]),
        ].map((f) => Buffer.concat([frameHeader(f.length), f])),
      );
    const mutation: fc.Arbitrary<Mutation> = fc.record({
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })), { nil: undefined }),
      repeat: fc.option(fc.tuple(fc.nat(), fc.nat({ max: 16 })), { nil: undefined }),
    });
    const mutate = (b: Buffer, m: Mutation) => {
      let out = Buffer.from(b);
      for (const [at, x] of m.flips) out[at % out.length] = out[at % out.length]! ^ x;
      if (m.insert) {
        const at = m.insert[0] % out.length;
        out = Buffer.concat([out.subarray(0, at), Buffer.from(m.insert[1]), out.subarray(at)]);
      }
      if (m.repeat) {
        const at = m.repeat[0] % out.length;
        out = Buffer.concat([out.subarray(0, at + m.repeat[1]), out.subarray(at)]);
      }
      if (m.cut !== undefined) out = out.subarray(0, m.cut % (out.length + 1));
      return out;
    };
    const samples = fc.sample(mutation, { numRuns: MUTATED, seed: Number(process.env.SHAREDKV_FUZZ_SEED ?? 42) });
    let protocolCloses = 0;
    let internal = 0;
    let n = 0;
    const worker = async () => {
      while (n < samples.length) {
        const i = n++;
        const bytes = mutate(session(i), samples[i]!);
        const p = await connectRaw();
        p.socket.write(bytes);
        badFrames++;
        // Hang up; the server must let go within 1 s whatever it was waiting for.
        p.socket.end();
        await closedWithin(p, 1000, `mutated session ${i}`);
        for (const item of p.items) {
          if (item[1] === ERR && (item[2] as { code?: string })?.code === 'ERR_SHAREDKV_INTERNAL') {
            internal++;
            assert.fail(
              `mutated session ${i} (sample ${JSON.stringify(samples[i])}) got INTERNAL: ${JSON.stringify(item)}`,
            );
          }
        }
        if (connectionErrors(p.items).length > 0) protocolCloses++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    console.log(JSON.stringify({ mutatedSessions: MUTATED, refusedByTheServer: protocolCloses, internal }));
    assert.deepEqual(crashes, [], 'the owner threw an uncaught exception');
  });

  it('the good client was served throughout, and the server holds no dead connection', {
    timeout: 60_000,
  }, async () => {
    // One more round trip after everything else.
    assert.equal(await good.set('final', 1), true);
    assert.equal(await good.get('final'), 1);
    assert.deepEqual(goodStats.failures, []);
    assert.deepEqual(crashes, [], 'the owner threw no uncaught exception');
    assert.ok(goodStats.calls > 0);
    const end = performance.now() + 5_000;
    while (server.connections.size > 1 && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.connections.size, 1, 'only the good client is still connected');
    console.log(
      JSON.stringify({ badFrames, goodCalls: goodStats.calls, goodMaxRoundTripMs: Math.round(goodStats.maxMs) }),
    );
  });
});

describe('hostile patterns', () => {
  it('a pathological glob in keys() does not block the owner', { timeout: 120_000 }, async () => {
    await good.set('a'.repeat(4_000), 1);
    const t = performance.now();
    await good.keys(`${'*a'.repeat(20)}*b`);
    const ms = performance.now() - t;
    await good.del('a'.repeat(4_000));
    assert.ok(ms < 100, `keys() with a pathological glob blocked the owner for ${ms.toFixed(0)} ms`);
  });
});
