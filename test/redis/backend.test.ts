/**
 * The Redis backend's options and its contract with other Redis clients: `connect({ redis })` from the main
 * entry, the key layout, the json encoding, clients passed in, connection errors, stats; and counters,
 * which the value script decodes and encodes itself: the bytes it writes must be the ones the codec writes
 * (msgpackr's formats, including its small-integer and float choices), and in the json encoding the text
 * JSON.stringify writes, for every number a counter can reach.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { connectRedis, type RedisStore } from '../../src/backends/redis/index.js';
import { connect } from '../../src/index.js';
import { encodeNumber, encodeValue, legacyEncoding, PLAIN_TAG } from '../../src/protocol/codec.js';
import { type RedisServer, redisSkipReason, startRedis } from '../helpers/redis-server.js';

const skip = redisSkipReason();
describe('Redis backend options', { skip }, () => {
  let server: RedisServer;
  let raw: Redis;
  before(async () => {
    server = await startRedis();
    raw = new Redis(server.url);
  });
  after(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  it('connect({ redis }) from the main entry opens the Redis backend', async () => {
    const kv = await connect({ redis: server.url, prefix: 'entry' });
    try {
      assert.equal(kv.backend, 'redis');
      await kv.set('k', new Set([1]));
      assert.deepEqual(await kv.get('k'), new Set([1]));
      assert.equal(await raw.exists('{entry}:k'), 1);
    } finally {
      await kv.close();
    }
    await assert.rejects(kv.get('k'), { code: 'ERR_SHAREDKV_CLOSED' });
  });

  it('refuses bad options with ERR_SHAREDKV_BAD_ARGUMENT', async () => {
    const bad: Array<Record<string, unknown>> = [
      { redis: server.url, role: 'owner' },
      { redis: server.url, prefix: 'a{b}' },
      { redis: server.url, prefix: '' },
      { redis: server.url, encoding: 'xml' },
      { redis: server.url, timeout: -1 },
      { redis: server.url, lockLiveness: 5 },
      { redis: server.url, events: 'yes' },
      { redis: 42 },
      { redis: ['not a url'] },
      { redis: new Redis(server.url, { keyPrefix: 'x:', lazyConnect: true }) },
    ];
    for (const o of bad) {
      await assert.rejects(connect(o as never), { code: 'ERR_SHAREDKV_BAD_ARGUMENT' }, JSON.stringify(Object.keys(o)));
    }
  });

  it('rejects with ERR_SHAREDKV_DISCONNECTED when Redis does not answer', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const started = performance.now();
    await assert.rejects(connectRedis({ redis: `redis://127.0.0.1:${port}`, timeout: 300 }), {
      code: 'ERR_SHAREDKV_DISCONNECTED',
    });
    assert.ok(performance.now() - started < 3000);
  });

  it('calls fail with ERR_SHAREDKV_DISCONNECTED while Redis is away, and work again when it is back', async () => {
    const own = await startRedis();
    const kv = await connectRedis({ redis: own.url, timeout: 300 });
    try {
      await kv.set('k', 1);
      await own.stop();
      await assert.rejects(kv.get('k'), { code: 'ERR_SHAREDKV_DISCONNECTED' });
      await assert.rejects(kv.incr('n'), { code: 'ERR_SHAREDKV_DISCONNECTED' });
      // The same port again (a restart): the store reconnects by itself.
      const again = await startRedis([], { port: own.port }).catch(() => null);
      if (again) {
        try {
          const end = performance.now() + 5000;
          for (;;) {
            const ok = await kv.set('k', 2).then(
              () => true,
              () => false,
            );
            if (ok) break;
            assert.ok(performance.now() < end, 'reconnected within 5 s');
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.equal(await kv.get('k'), 2);
        } finally {
          await again.stop();
        }
      }
    } finally {
      await kv.close();
    }
  });

  it('works on a client passed in, and leaves that client open', async () => {
    const client = new Redis(server.url);
    const kv = await connectRedis({ redis: client, prefix: 'mine' });
    await kv.set('k', 1);
    await kv.close();
    assert.equal(await client.exists('{mine}:k'), 1, 'the caller’s client still works');
    client.disconnect();
  });

  it('lays keys out with the namespace as hash tag; keys/size/clear see only data of this prefix', async () => {
    const kv = await connectRedis({ redis: server.url, prefix: 'lay', lockLiveness: 1000 });
    try {
      await kv.set('plain', 1);
      await kv.namespace('users').set('42', 2);
      await kv.namespace('users').namespace('admins').set('7', 3);
      await kv.set('é:x', 4);
      const keys = (await raw.keys('{lay*')).sort();
      assert.deepEqual(keys, ['{lay:users}:42', '{lay:users}:admins:7', '{lay}:plain', '{lay}:é:x']);
      // State that is not data: a lock, a load in progress, another prefix, a foreign key.
      const lock = await kv.lock('users:job', { ttl: 60_000 });
      const loading = kv.getOrSet('users:slow', () => new Promise((r) => setTimeout(() => r('v'), 200)));
      await raw.set('{layout}:other', 'x');
      await raw.set('lay:foreign', 'x');
      assert.deepEqual((await kv.keys()).sort(), ['plain', 'users:42', 'users:admins:7', 'é:x']);
      assert.deepEqual(await kv.namespace('users').keys('a*'), ['admins:7']);
      assert.equal(await kv.size(), 4);
      assert.equal(await kv.namespace('users').clear(), 2);
      assert.equal(await kv.clear(), 2);
      assert.equal(await raw.exists('{lay:users}#lh:job'), 1, 'clear leaves locks alone');
      assert.equal(await kv.tryLock('users:job'), null);
      await lock.release();
      assert.equal(await loading, 'v');
      assert.equal(await raw.exists('{layout}:other', 'lay:foreign'), 2);
    } finally {
      await kv.close();
    }
  });

  it('json encoding: other clients read and write plain JSON; values JSON would change are refused', async () => {
    const kv = await connectRedis({ redis: server.url, prefix: 'js', encoding: 'json' });
    try {
      await kv.set('user', { name: 'Ada', tags: ['x'], n: 1.5, ok: true, none: null });
      assert.equal(await raw.get('{js}:user'), '{"name":"Ada","tags":["x"],"n":1.5,"ok":true,"none":null}');
      await raw.set('{js}:from-other', '{"a":[1,2]}');
      assert.deepEqual(await kv.get('from-other'), { a: [1, 2] });
      assert.equal(await kv.incr('n', 2), 2);
      assert.equal(await raw.get('{js}:n'), '2');
      // An array with a hole (JSON would turn it into null).
      const holey: unknown[] = [1];
      holey[2] = 3;
      const refused: unknown[] = [
        new Date(0),
        new Map(),
        new Set(),
        1n,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        -0,
        { a: undefined },
        holey,
        /re/,
        new Uint8Array(1),
        { d: new Date(0) },
      ];
      for (const v of refused) {
        await assert.rejects(kv.set('bad', v), { code: 'ERR_SHAREDKV_NOT_SERIALIZABLE' }, String(v));
      }
      const cyclic: { self?: unknown } = {};
      cyclic.self = cyclic;
      await assert.rejects(kv.set('bad', cyclic), { code: 'ERR_SHAREDKV_NOT_SERIALIZABLE' });
      await assert.rejects(kv.mset({ good: 1, bad: new Date(0) }), { code: 'ERR_SHAREDKV_NOT_SERIALIZABLE' });
      assert.equal(await kv.has('good'), false, 'nothing of the refused mset was written');
      await assert.rejects(
        kv.getOrSet('g', () => new Date(0)),
        { code: 'ERR_SHAREDKV_NOT_SERIALIZABLE' },
      );
      assert.equal(await kv.getOrSet('g', () => 'json', { timeout: 1000 }), 'json', 'the refused load was released');
      await assert.rejects(kv.publish('ch', new Map()), { code: 'ERR_SHAREDKV_NOT_SERIALIZABLE' });
      assert.equal(await kv.cas('user', new Date(0), 'next'), false, 'an unstorable expected value never matches');
      assert.equal(await kv.cas('user', { name: 'Ada', tags: ['x'], n: 1.5, ok: true, none: null }, 'next'), true);
      assert.equal(await raw.get('{js}:user'), '"next"');
      // The same in a batch: an unstorable expected value is a mismatch, and the rest of the batch applies.
      assert.deepEqual(
        await kv.batch().cas('user', new Date(0), 'no').cas('user', 'next', { v: 1 }).set('after', 1).exec(),
        [false, true, true],
      );
      assert.equal(await raw.get('{js}:user'), '{"v":1}');
      await assert.rejects(kv.batch().set('after', 2).cas('user', new Date(0), new Map()).exec(), {
        code: 'ERR_SHAREDKV_NOT_SERIALIZABLE',
        data: { index: 1, path: '' },
      });
      assert.equal(await raw.get('{js}:after'), '1', 'nothing of the refused batch was written');
      await raw.set('{js}:garbage', 'not json');
      await assert.rejects(kv.get('garbage'), { code: 'ERR_SHAREDKV_WRONG_TYPE' });
    } finally {
      await kv.close();
    }
  });

  it('stats: keys and bytes of this prefix, expired from Redis, commands and hits of this process', async () => {
    const kv = await connectRedis({ redis: server.url, prefix: 'st' });
    try {
      await kv.mset({ a: 'x'.repeat(1000), b: 2 });
      await kv.get('a');
      await kv.get('zzz');
      await kv.batch().get('b').incr('c').exec();
      const s = await kv.stats();
      assert.equal(s.keys, 3);
      assert.ok(s.bytes > 1000 && s.bytes < 2000, `bytes ${s.bytes}`);
      assert.equal(s.hits, 2);
      assert.equal(s.misses, 1);
      assert.deepEqual([s.commands.mset, s.commands.get, s.commands.batch, s.commands.incr], [1, 3, 1, 1]);
      assert.ok(s.clients >= 2 && s.uptime > 0);
      assert.equal(typeof s.evicted, 'number');
    } finally {
      await kv.close();
    }
  });

  it('expiryEvents: false leaves the server configuration alone', async () => {
    const own = await startRedis();
    try {
      const kv = await connectRedis({ redis: own.url, expiryEvents: false });
      const off = await kv.watch('*', () => {});
      const r = new Redis(own.url);
      assert.deepEqual(await r.config('GET', 'notify-keyspace-events'), ['notify-keyspace-events', '']);
      r.disconnect();
      await off();
      await kv.close();
    } finally {
      await own.stop();
    }
  });
});

/** Start values and steps around every boundary of msgpack's number formats, plus floats. */
function cases(): Array<[number, number]> {
  const starts = [
    0,
    1,
    31,
    32,
    62,
    63,
    64,
    127,
    128,
    254,
    255,
    256,
    65534,
    65535,
    65536,
    2 ** 31 - 1,
    2 ** 32 - 2,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 53 - 2,
    2 ** 53,
    -1,
    -31,
    -32,
    -33,
    -127,
    -128,
    -129,
    -32767,
    -32768,
    -32769,
    -(2 ** 31) + 1,
    -(2 ** 31),
    -(2 ** 31) - 1,
    -(2 ** 53),
    0.1,
    0.2,
    -0.3,
    1e-7,
    1e-300,
    1.7976931348623157e308,
    3.4e38,
    123.456,
    1e21,
    1e20,
    9.999999999999999e20,
    5e-324,
  ];
  const steps = [1, -1, 2, 0.1, -0.25, 1e-7, 1e21, 2 ** 32, -(2 ** 40), 1 / 3];
  const out: Array<[number, number]> = [];
  for (const a of starts) for (const b of steps) out.push([a, b]);
  // And some random floats of every magnitude.
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < 300; i++) {
    const exp = Math.floor(random() * 80) - 40;
    out.push([(random() - 0.5) * 10 ** exp, (random() - 0.5) * 10 ** Math.floor(random() * 10)]);
  }
  return out;
}

describe('counters on Redis', { skip }, () => {
  let server: RedisServer;
  let raw: Redis;
  let kv: RedisStore;
  let json: RedisStore;
  before(async () => {
    server = await startRedis();
    raw = new Redis(server.url);
    kv = await connectRedis({ redis: server.url, prefix: 'num' });
    json = await connectRedis({ redis: server.url, prefix: 'json', encoding: 'json' });
  });
  after(async () => {
    raw?.disconnect();
    await kv?.close();
    await json?.close();
    await server?.stop();
  });

  it('the script writes every counter exactly as the codec writes the number', async () => {
    const all = cases();
    const results = await Promise.all(
      all.map(async ([a, b], i) => {
        await kv.set(`n${i}`, a);
        return kv.incr(`n${i}`, b);
      }),
    );
    const stored = await raw.mgetBuffer(...all.map((_, i) => `{num}:n${i}`));
    all.forEach(([a, b], i) => {
      assert.ok(Object.is(results[i], a + b), `${a} + ${b}: got ${results[i]}`);
      assert.deepEqual(stored[i], Buffer.from(encodeNumber(a + b)), `bytes of ${a} + ${b}`);
    });
  });

  it('reads every msgpack number format as a number (also float32, which msgpackr never writes)', async () => {
    const formats: Array<[string, number]> = [
      ['05', 5],
      ['7f', 127],
      ['e0', -32],
      ['cc80', 128],
      ['cd1234', 0x1234],
      ['ce12345678', 0x12345678],
      ['d0ff', -1],
      ['d1ff00', -256],
      ['d2ffff0000', -65536],
      ['ca3fc00000', 1.5],
      ['cb3ff8000000000000', 1.5],
    ];
    for (const [hex, n] of formats) {
      await raw.set('{num}:f', Buffer.from(hex, 'hex'));
      assert.equal(await kv.incr('f', 1), n + 1, hex);
    }
  });

  it('refuses incr on BigInt (int64 formats), NaN-free non-numbers and foreign bytes with ERR_SHAREDKV_WRONG_TYPE', async () => {
    for (const value of [5n, 2n ** 64n, 'five', [5], { n: 5 }, true, null, new Date(5)]) {
      await kv.set('w', value);
      await assert.rejects(kv.incr('w'), { code: 'ERR_SHAREDKV_WRONG_TYPE' }, String(value));
      assert.deepEqual(await kv.get('w'), value);
    }
    await raw.hset('{num}:h', 'a', '1');
    await assert.rejects(kv.incr('h'), { code: 'ERR_SHAREDKV_WRONG_TYPE' });
    await assert.rejects(kv.get('h'), { code: 'ERR_SHAREDKV_WRONG_TYPE' });
  });

  it('objects written in the older structured form read back and still compare equal in cas', async () => {
    const value = { id: 9, tags: ['x', 'y'] };
    const plain = encodeValue(value);
    assert.equal(plain[0], PLAIN_TAG, 'new writes use the plain form');
    const legacy = legacyEncoding(plain);
    assert.ok(legacy);
    await raw.set('{num}:old', Buffer.from(legacy));
    assert.deepEqual(await kv.get('old'), value);
    assert.equal(await kv.cas('old', { id: 9, tags: ['x'] }, 'no'), false);
    assert.equal(await kv.cas('old', value, { id: 10, tags: [] }), true);
    assert.deepEqual(await raw.getBuffer('{num}:old'), Buffer.from(encodeValue({ id: 10, tags: [] })));
    // Inside a batch too (the script gets the older form beside the expected bytes).
    await raw.set('{num}:old', Buffer.from(legacy));
    assert.deepEqual(
      await kv
        .batch()
        .cas('old', { id: 9, tags: ['x'] }, 'no')
        .cas('old', value, 'batch')
        .exec(),
      [false, true],
    );
    assert.equal(await kv.get('old'), 'batch');
  });

  it('NaN and Infinity count as numbers, as in the memory owner', async () => {
    await kv.set('x', Number.NaN);
    assert.ok(Number.isNaN(await kv.incr('x')));
    assert.deepEqual(await raw.getBuffer('{num}:x'), Buffer.from(encodeValue(Number.NaN)));
    await kv.set('y', Number.POSITIVE_INFINITY);
    assert.equal(await kv.decr('y', 5), Number.POSITIVE_INFINITY);
  });

  it('in the json encoding, counters are JSON numbers written as JSON.stringify writes them', async () => {
    const all = cases().filter(([a, b]) => Number.isFinite(a + b) && !Object.is(a + b, -0));
    const results = await Promise.all(
      all.map(async ([a, b], i) => {
        await json.set(`n${i}`, a);
        return json.incr(`n${i}`, b);
      }),
    );
    const stored = await raw.mget(...all.map((_, i) => `{json}:n${i}`));
    all.forEach(([a, b], i) => {
      assert.equal(results[i], a + b, `${a} + ${b}`);
      assert.equal(stored[i], JSON.stringify(a + b), `text of ${a} + ${b}`);
    });
    await json.set('big', 1.7976931348623157e308);
    await assert.rejects(json.incr('big', 1.7976931348623157e308), { code: 'ERR_SHAREDKV_NOT_SERIALIZABLE' });
    assert.equal(await json.get('big'), 1.7976931348623157e308);
    await raw.set('{json}:s', '"5"');
    await assert.rejects(json.incr('s'), { code: 'ERR_SHAREDKV_WRONG_TYPE' });
    await raw.set('{json}:t', ' 5');
    await assert.rejects(json.incr('t'), { code: 'ERR_SHAREDKV_WRONG_TYPE' });
  });
});
