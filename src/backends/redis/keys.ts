/**
 * The Redis key layout. A sharedkv key is a logical string (`users:42`, with the namespace prefixes of the
 * Store layer already joined); here it becomes a Redis key whose hash tag is its top namespace, so every
 * key of a namespace (and of its nested namespaces) lives in one Redis Cluster slot and its batches stay
 * atomic there:
 *
 * | logical key  | Redis key                | state beside it (same slot)                       |
 * | ------------ | ------------------------ | ------------------------------------------------- |
 * | `plain`      | `{sharedkv}:plain`       | `{sharedkv}#lh:plain` (lock holders), …           |
 * | `users:42`   | `{sharedkv:users}:42`    | `{sharedkv:users}#ld:42` (getOrSet load marker), … |
 * | `a:b:c`      | `{sharedkv:a}:b:c`       |                                                   |
 *
 * A key is namespaced when the part before its first `:` is a valid namespace name (`[\w.@$-]+`);
 * every other key of the root (no colon, or a first part that no namespace could have) shares the
 * root's tag. Data keys have `}:` after the tag, internal state has `}#`, so `keys()`, `size()` and
 * `clear()` never see locks or load markers, and `clear()` leaves locks alone, as in the memory owner.
 */
import { badArgument, describe } from '../../errors.js';

const NAMESPACED = /^([\w.@$-]+):/;

/** Kinds of internal state kept beside a key or lock name. */
export type InternalKind =
  /** getOrSet load marker (string, the ticket, with the lease as its ttl). */
  | 'ld'
  /** Lock holders: sorted set of token → lease end (ms, Redis clock). */
  | 'lh'
  /** Lock waiters: sorted set of waiter id → arrival sequence. */
  | 'lq'
  /** Lock waiter liveness: sorted set of waiter id → expiry (ms, Redis clock). */
  | 'lx'
  /** Lock counters: hash with `t` (last fencing token), `q` (last arrival), `m` (semaphore limit). */
  | 'lf';

/** Maps logical keys to Redis keys and channels for one prefix. */
export class KeyLayout {
  /** `{prefix` — the common start of every key of this layout. */
  private readonly open: string;
  /** SCAN pattern matching every data (and internal) key of this layout. */
  readonly scanAll: string;
  /** Channel of key change events published by the scripts. */
  readonly eventsChannel: string;
  /** Channel on which getOrSet loads announce that a key was filled or given up. */
  readonly loadChannel: string;
  /** Channel on which locks announce that a permit may have been freed. */
  readonly lockChannel: string;

  constructor(readonly prefix: string) {
    if (typeof prefix !== 'string' || prefix.length === 0 || /[{}]/.test(prefix)) {
      throw badArgument(`Expected \`prefix\` to be a non-empty string without { or }, got ${describe(prefix)}`);
    }
    this.open = `{${prefix}`;
    this.scanAll = `${escapeGlob(this.open)}[}:]*`;
    this.eventsChannel = `${prefix}#events`;
    this.loadChannel = `${prefix}#load`;
    this.lockChannel = `${prefix}#lock`;
  }

  /** The hash tag (with braces) and the rest of a logical key. */
  private split(logical: string): [tag: string, rest: string] {
    const m = NAMESPACED.exec(logical);
    if (m) return [`${this.open}:${m[1]}}`, logical.slice(m[0].length)];
    return [`${this.open}}`, logical];
  }

  /** The Redis key holding the value of a logical key. */
  data(logical: string): string {
    const [tag, rest] = this.split(logical);
    return `${tag}:${rest}`;
  }

  /** The Redis key of internal state kept for a logical key or lock name (same slot as its data). */
  internal(kind: InternalKind, logical: string): string {
    const [tag, rest] = this.split(logical);
    return `${tag}#${kind}:${rest}`;
  }

  /** The hash tag of a logical key; keys with the same tag share a Redis Cluster slot. */
  tag(logical: string): string {
    return this.split(logical)[0];
  }

  /** The hash tag of a Redis key of this layout. */
  tagOfRedisKey(key: string): string {
    return key.slice(0, key.indexOf('}') + 1);
  }

  /** The logical key of a Redis data key, or `null` for internal state and keys of other layouts. */
  logical(key: string): string | null {
    if (!key.startsWith(this.open)) return null;
    const at = this.open.length;
    if (key.startsWith('}:', at)) return key.slice(at + 2);
    if (key[at] !== ':') return null;
    const close = key.indexOf('}', at);
    if (close === -1 || key[close + 1] !== ':') return null;
    return `${key.slice(at + 1, close)}:${key.slice(close + 2)}`;
  }

  /**
   * The SCAN pattern for the logical keys that start with `literal` (the part of a glob before its first
   * special character). Within one namespace it narrows the scan to that namespace's keys; at the root it
   * scans every key of the layout, and the caller filters by the full glob.
   */
  scanPattern(literal: string): string {
    const m = NAMESPACED.exec(literal);
    if (m) return `${escapeGlob(this.data(m[0]) + literal.slice(m[0].length))}*`;
    const segment = /^[\w.@$-]*/.exec(literal)?.[0] ?? '';
    if (segment.length < literal.length) {
      // A character no namespace name has comes before any colon: only the root's own keys can match.
      return `${escapeGlob(`${this.open}}:${literal}`)}*`;
    }
    return this.scanAll;
  }

  /**
   * A key in the hash slot of a channel's namespace: on a cluster, publishing through it sends every
   * message of a channel through the same node, which keeps one publisher's messages in order.
   */
  channelSlotKey(logical: string): string {
    return `${this.split(logical)[0]}#pub`;
  }

  /** The Redis channel of a logical pub/sub channel. */
  channel(logical: string): string {
    return `${this.prefix}:${logical}`;
  }

  /** The logical channel of a Redis channel of this layout (or `null`). */
  logicalChannel(channel: string): string | null {
    return channel.startsWith(`${this.prefix}:`) ? channel.slice(this.prefix.length + 1) : null;
  }

  /**
   * The Redis pattern of a logical pub/sub pattern: the prefix escaped, the glob kept. `[!a]` becomes
   * `[^a]`, the form Redis knows.
   */
  channelPattern(logical: string): string {
    return escapeGlob(`${this.prefix}:`) + logical.replace(/\[!/g, '[^');
  }
}

/** Escapes the characters Redis glob patterns treat specially. */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
