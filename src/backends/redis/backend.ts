/**
 * The shared state of one Redis store: its connections (commands, and lazily a subscriber and a
 * transaction connection), the key layout, the value format, the scripts, and this process's counters.
 * The command families (values, loads, locks, events, procedures) work through it.
 */
import { Cluster, Redis } from 'ioredis';
import { badArgument, SharedKVError } from '../../errors.js';
import { jsonFormat, msgpackFormat, type ValueFormat } from './format.js';
import { KeyLayout } from './keys.js';
import type { RedisClientLike, RedisTarget } from './options.js';
import { fromRedis, type ReplyContext } from './replies.js';
import { KV_LUA } from './script-kv.js';
import { LOCK_LUA } from './script-lock.js';

/** A connection: one server or a cluster. */
export type Client = Redis | Cluster;

type Arg = string | number | Buffer;

/** The scripts, as ioredis defines them on a connection (EVALSHA, with EVAL when the script is unknown). */
interface Scripted {
  sharedkvKvBuffer(numKeys: number, ...args: Arg[]): Promise<unknown[]>;
  sharedkvLock(...args: Arg[]): Promise<number[]>;
  sharedkvPublish(key: string, channel: string, message: Buffer): Promise<number>;
}

/** Per-process counters reported by `stats()`. */
export interface Counters {
  hits: number;
  misses: number;
  commands: Map<string, number>;
}

/** Options the backend keeps. */
export interface BackendOptions {
  prefix: string;
  encoding: 'msgpack' | 'json';
  lockLiveness: number;
  events: boolean;
  expiryEvents: boolean;
}

/** Adds the scripts to a connection. */
export function defineScripts(client: Client): void {
  client.defineCommand('sharedkvKv', { lua: KV_LUA });
  client.defineCommand('sharedkvLock', { numberOfKeys: 4, lua: LOCK_LUA });
  // PUBLISH with a key, so a cluster routes it by the channel's slot (see KeyLayout.channelSlotKey).
  client.defineCommand('sharedkvPublish', { numberOfKeys: 1, lua: "return redis.call('PUBLISH', ARGV[1], ARGV[2])" });
}

function clusterNodes(urls: readonly string[]): {
  nodes: Array<{ host: string; port: number }>;
  redisOptions: Record<string, unknown>;
} {
  const redisOptions: Record<string, unknown> = {};
  const nodes = urls.map((u) => {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw badArgument(`Expected a redis:// URL, got ${JSON.stringify(u)}`);
    }
    if (url.username) redisOptions.username = decodeURIComponent(url.username);
    if (url.password) redisOptions.password = decodeURIComponent(url.password);
    if (url.protocol === 'rediss:') redisOptions.tls = {};
    return { host: url.hostname, port: Number(url.port || 6379) };
  });
  return { nodes, redisOptions };
}

/** Opens the command connection for a target. */
function open(target: RedisTarget): Client {
  if (typeof target === 'string') return new Redis(target, { enableAutoPipelining: true });
  if (Array.isArray(target)) {
    const { nodes, redisOptions } = clusterNodes(target);
    return new Cluster(nodes, { redisOptions });
  }
  const client = target as RedisClientLike & { options?: { keyPrefix?: string } };
  if (!(client instanceof Redis) && !(client instanceof Cluster)) {
    throw badArgument('Expected `redis` to be an ioredis Redis or Cluster client (of the same ioredis as sharedkv)');
  }
  const keyPrefix = client instanceof Redis ? client.options.keyPrefix : client.options.redisOptions?.keyPrefix;
  if (keyPrefix) {
    throw badArgument('The ioredis client has a keyPrefix; use the `prefix` option of sharedkv instead');
  }
  // Auto-pipelining batches the calls of one tick into one write (fewer syscalls, much more throughput).
  // Not on a cluster: there ioredis mixes slots in one auto-pipeline for scripts with several keys.
  return client instanceof Cluster
    ? client.duplicate(undefined, { enableAutoPipelining: false })
    : client.duplicate({ enableAutoPipelining: true });
}

/** The shared state of one store. */
export class Backend {
  readonly cmd: Client;
  readonly layout: KeyLayout;
  readonly format: ValueFormat;
  readonly isCluster: boolean;
  readonly counters: Counters = { hits: 0, misses: 0, commands: new Map() };
  private tx: Client | null = null;
  private readonly extra = new Set<Client>();
  private closed = false;

  constructor(
    target: RedisTarget,
    readonly options: BackendOptions,
  ) {
    this.layout = new KeyLayout(options.prefix);
    this.format = options.encoding === 'json' ? jsonFormat : msgpackFormat;
    this.cmd = open(target);
    this.isCluster = this.cmd instanceof Cluster;
    defineScripts(this.cmd);
    // Connection errors surface through the calls; an 'error' event without a listener would crash.
    this.cmd.on('error', () => {});
  }

  /** A new connection with the command connection's options (closed with the store). */
  duplicate(from: Client = this.cmd): Client {
    const c = (from as Redis).duplicate() as Client;
    c.on('error', () => {});
    this.extra.add(c);
    return c;
  }

  /** The connection for optimistic transactions (WATCH/MULTI), opened on first use. */
  transactions(): Client {
    if (!this.tx) {
      this.tx = this.duplicate();
      defineScripts(this.tx);
    }
    return this.tx;
  }

  /** The servers that hold data: the one server, or every cluster master. */
  masters(): Redis[] {
    return this.cmd instanceof Cluster ? this.cmd.nodes('master') : [this.cmd];
  }

  /** Runs the value script. */
  async kv(call: KvCall, client: Client = this.cmd): Promise<unknown[]> {
    const o = this.options;
    try {
      return await (client as unknown as Scripted).sharedkvKvBuffer(
        call.keys.length,
        ...call.keys,
        o.events ? this.layout.eventsChannel : '',
        this.layout.loadChannel,
        this.format.code,
        call.count,
        ...call.args,
      );
    } catch (err) {
      throw fromRedis(err, call.context());
    }
  }

  /** Runs the lock script on the four keys of lock `name` (its full, namespaced name). */
  async lock(name: string, op: string, ...args: Arg[]): Promise<number[]> {
    const l = this.layout;
    try {
      return await (this.cmd as unknown as Scripted).sharedkvLock(
        l.internal('lh', name),
        l.internal('lq', name),
        l.internal('lx', name),
        l.internal('lf', name),
        l.lockChannel,
        op,
        ...args,
      );
    } catch (err) {
      throw fromRedis(err);
    }
  }

  /**
   * Publishes on a user channel; resolves with the receivers Redis counted. On a cluster it goes through
   * the node of the channel's slot, so one publisher's messages on a channel keep their order.
   */
  async publish(logical: string, message: Buffer): Promise<number> {
    const channel = this.layout.channel(logical);
    try {
      if (!this.isCluster) return await this.cmd.publish(channel, message);
      return await (this.cmd as unknown as Scripted).sharedkvPublish(
        this.layout.channelSlotKey(logical),
        channel,
        message,
      );
    } catch (err) {
      throw fromRedis(err);
    }
  }

  /**
   * Every Redis key of this layout matching a SCAN pattern, once each (SCAN may repeat keys), on every
   * server that holds data.
   */
  async scan(pattern: string): Promise<Set<string>> {
    const found = new Set<string>();
    await Promise.all(
      this.masters().map(async (node) => {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          for (const k of keys) found.add(k);
        } while (cursor !== '0');
      }),
    );
    return found;
  }

  /** Closes every connection this store opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [this.cmd, ...this.extra];
    await Promise.all(
      all.map(async (c) => {
        // QUIT lets replies in flight arrive; a connection that is not up would only queue it.
        if (c.status !== 'ready') {
          c.disconnect();
          return;
        }
        try {
          await c.quit();
        } catch {
          c.disconnect();
        }
      }),
    );
  }
}

/**
 * One call of the value script being built: its keys (each once, by index) and its commands. On a
 * cluster every key of one call must share a hash tag (one namespace), or the call is refused.
 */
export class KvCall {
  readonly keys: string[] = [];
  private readonly names: string[] = [];
  private readonly at = new Map<string, number>();
  readonly args: Arg[] = [];
  count = 0;
  private readonly fences: Array<{ lock: string; token: number } | undefined> = [];
  private tag: string | undefined;

  constructor(
    private readonly backend: Backend,
    private readonly batch = false,
  ) {}

  /** Adds a Redis key (once) and answers its 1-based index. `name` is the key or lock it stands for. */
  key(redisKey: string, name: string): number {
    const known = this.at.get(redisKey);
    if (known !== undefined) return known;
    if (this.backend.isCluster) {
      const tag = this.backend.layout.tagOfRedisKey(redisKey);
      if (this.tag === undefined) this.tag = tag;
      else if (tag !== this.tag) {
        throw new SharedKVError(
          'ERR_SHAREDKV_BAD_ARGUMENT',
          `On Redis Cluster the keys of one atomic command must share a namespace (one hash slot); ${JSON.stringify(this.names[0])} and ${JSON.stringify(name)} do not`,
          { keys: [this.names[0], name] },
        );
      }
    }
    this.keys.push(redisKey);
    this.names.push(name);
    const i = this.keys.length;
    this.at.set(redisKey, i);
    return i;
  }

  /** The index of a logical key's data. */
  data(logical: string): number {
    return this.key(this.backend.layout.data(logical), logical);
  }

  /** Adds one command. */
  op(fence: { lock: string; token: number } | undefined, ...parts: Arg[]): void {
    this.args.push(...parts);
    this.fences.push(fence);
    this.count++;
  }

  /** How errors of this call are described. */
  context(): ReplyContext {
    return {
      keyAt: (i) => this.names[i - 1],
      fenceAt: (index) => this.fences[index],
      batch: this.batch,
    };
  }
}
