/**
 * Near-cache invalidations are held back until the next acknowledgement leaves the owner, then sent as one
 * frame per holder: a writer's frame of 20 sets costs a holder one frame, not 20, and that frame still
 * leaves before the writer's reply. The owner's own writes flush them before their promise resolves.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { connect, type OwnerStore } from '../../src/index.js';
import { encodeValue } from '../../src/protocol/codec.js';
import { decodeReplyItems, encodeFrame, PUSH } from '../../src/protocol/envelope.js';
import { Connection } from '../../src/server/connection.js';
import { internal } from '../helpers/engine.js';
import { hello, raw } from '../topology/raw.js';

interface Sent {
  peer: string;
  items: unknown[][];
}

/** A connection whose link records each frame it sends, in one log shared by every peer. */
function peer(engine: Engine, label: string, log: Sent[]): Connection {
  const link = {
    label,
    send: (payload: Buffer) => log.push({ peer: label, items: decodeReplyItems(payload) }),
    close: () => {},
  };
  return new Connection(engine, link, { requireHello: false }, () => {});
}

const KEYS = Array.from({ length: 20 }, (_, i) => `k${i}`);
const invalidated = (sent: Sent) => sent.items.filter((i) => i[0] === 0 && i[1] === PUSH).map((i) => i[2]);

describe('near-cache invalidations', () => {
  it("a writer's frame of 20 sets reaches each holder as one frame, ahead of the writer's reply", () => {
    const engine = new Engine();
    const log: Sent[] = [];
    const holders = [peer(engine, 'h1', log), peer(engine, 'h2', log)];
    const writer = peer(engine, 'w', log);
    writer.receive(encodeFrame(KEYS.map((k, i) => [i + 1, 'set', [k, encodeValue(0)]])));
    for (const h of holders) h.receive(encodeFrame(KEYS.map((k, i) => [i + 1, 'getc', [k]])));
    log.length = 0;

    writer.receive(encodeFrame(KEYS.map((k, i) => [100 + i, 'set', [k, encodeValue(1)]])));

    assert.deepEqual(
      log.map((s) => s.peer),
      ['h1', 'h2', 'w'],
      'one frame per holder, then the reply',
    );
    for (const sent of log.slice(0, 2)) {
      assert.deepEqual(
        invalidated(sent),
        KEYS.map((k) => ['inv', k]),
      );
    }
    assert.equal(log[2]!.items.length, KEYS.length);
  });

  it('an invalidation no reply follows (a delete by the engine itself) still leaves on the next tick', async () => {
    const engine = new Engine();
    const log: Sent[] = [];
    const holder = peer(engine, 'h', log);
    const other = engine.openSession('other', () => {});
    engine.execute(other, 1, 'set', ['k', encodeValue(1)]);
    holder.receive(encodeFrame([[1, 'getc', ['k']]]));
    log.length = 0;
    engine.execute(other, 2, 'del', [['k']]);
    assert.equal(log.length, 0, 'held back within the tick');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(log.map(invalidated), [[['inv', 'k']]]);
  });
});

describe("the owner's own writes", () => {
  const dir = mkdtempSync(join(tmpdir(), 'sharedkv-inv-'));
  let kv: OwnerStore | undefined;
  after(async () => {
    await kv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('have sent the invalidations they cause by the time their promise resolves', async () => {
    const socket = join(dir, 'kv.sock');
    kv = (await connect({ role: 'owner', socket, token: 'secret' })) as OwnerStore;
    await kv.set('k', 1);
    const holder = await raw(socket);
    holder.frame([hello('secret'), [2, 'getc', ['k']]]);
    while (holder.items.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    const server = internal<{ connections: Set<Connection> }>(kv, 'server');
    const outboxes = () => [...server.connections].map((c) => internal<unknown[]>(c, 'outbox').length);
    assert.deepEqual(outboxes(), [0]);

    await kv.set('k', 2);
    // The invalidation is no longer queued in the owner: it has been written to the holder's socket.
    assert.deepEqual(outboxes(), [0]);
    while (holder.items.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(holder.items[2], [0, PUSH, ['inv', 'k']]);
    holder.socket.destroy();
  });
});
