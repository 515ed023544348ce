/**
 * `stats()` on Redis. Where the memory owner counts everything itself, here the numbers come from two
 * places, which docs/redis.md spells out:
 *
 * - from Redis (all masters summed): `expired` and `evicted` (INFO `expired_keys`, `evicted_keys`), `clients` (`connected_clients`),
 *   `uptime` (the longest `uptime_in_seconds`, in ms); these are per server, not per prefix;
 * - from a SCAN of this prefix: `keys` and `bytes` (64 + 2 × key length + value length per key, the
 *   memory owner's estimate), so `stats()` costs a pass over the keyspace;
 * - from this process: `hits`, `misses`, `commands` (this store's own calls) and `pending`.
 */
import type { StoreStats } from '../../types.js';
import type { Backend } from './backend.js';

function field(info: string, name: string): number {
  const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

export async function stats(b: Backend, pending: number): Promise<StoreStats> {
  let expired = 0;
  let evicted = 0;
  let clients = 0;
  let uptime = 0;
  let keys = 0;
  let bytes = 0;
  await Promise.all(
    b.masters().map(async (node) => {
      const info = await node.info();
      expired += field(info, 'expired_keys');
      evicted += field(info, 'evicted_keys');
      clients += field(info, 'connected_clients');
      uptime = Math.max(uptime, field(info, 'uptime_in_seconds') * 1000);
      let cursor = '0';
      const seen = new Set<string>();
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', b.layout.scanAll, 'COUNT', 1000);
        cursor = next;
        const fresh: string[] = [];
        for (const k of found) {
          if (seen.has(k)) continue;
          seen.add(k);
          const logical = b.layout.logical(k);
          if (logical === null) continue;
          fresh.push(k);
          keys++;
          bytes += 64 + logical.length * 2;
        }
        if (fresh.length > 0) {
          const p = node.pipeline();
          for (const k of fresh) p.strlen(k);
          for (const [err, n] of (await p.exec()) ?? []) if (!err) bytes += n as number;
        }
      } while (cursor !== '0');
    }),
  );
  return {
    keys,
    bytes,
    clients,
    pending,
    hits: b.counters.hits,
    misses: b.counters.misses,
    expired,
    evicted,
    commands: Object.fromEntries(b.counters.commands),
    uptime,
  };
}
