/**
 * `sharedkv bench`: a quick throughput check against a running owner, `concurrency` calls in flight per
 * command. Progress goes to stderr on a terminal only, so piped output stays clean.
 */
import { intOption, open } from './connection.js';
import type { Invocation } from './main.js';
import { EXIT, err, int, out, toJson, UsageError } from './output.js';

const KNOWN = new Set(['set', 'get', 'incr']);

/** Runs the benchmark; resolves with the exit code. */
export async function bench(inv: Invocation): Promise<number> {
  if (inv.positionals.length > 0) throw new UsageError(`Unexpected argument '${inv.positionals[0]}'`);
  const requests = intOption(inv, 'requests', 100_000);
  const concurrency = Math.max(1, intOption(inv, 'concurrency', 64));
  const size = intOption(inv, 'size', 100);
  const raw = inv.values.commands;
  const commands = (typeof raw === 'string' ? raw : 'set,get,incr').split(',').map((c) => c.trim());
  for (const c of commands) if (!KNOWN.has(c)) throw new UsageError(`Unknown bench command '${c}' (set, get, incr)`);
  const json = inv.values.json === true;
  const tty = process.stderr.isTTY === true && !json;
  const kv = await open(inv);
  const value = 'x'.repeat(size);
  const prefix = `bench:${process.pid}:`;
  try {
    for (const command of commands) {
      const op =
        command === 'set'
          ? (i: number) => kv.set(`${prefix}${i % 1000}`, value)
          : command === 'get'
            ? (i: number) => kv.get(`${prefix}${i % 1000}`)
            : () => kv.incr(`${prefix}counter`);
      let next = 0;
      let done = 0;
      const t0 = performance.now();
      const progress = tty
        ? setInterval(() => {
            process.stderr.write(
              `\r${command}: ${int(done)} / ${int(requests)} (${Math.floor((done / requests) * 100)}%)`,
            );
          }, 100)
        : null;
      const lane = async () => {
        while (next < requests) {
          await op(next++);
          done++;
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, lane));
      if (progress) {
        clearInterval(progress);
        process.stderr.write('\r\x1b[K');
      }
      const seconds = (performance.now() - t0) / 1000;
      const opsPerSec = requests / seconds;
      if (json) out(toJson({ command, requests, concurrency, seconds, opsPerSec: Math.round(opsPerSec) }));
      else
        out(
          `${command.padEnd(5)} ${int(opsPerSec).padStart(10)} ops/s  (${int(requests)} in ${seconds.toFixed(2)} s, ${concurrency} in flight)`,
        );
    }
    const keys = await kv.keys(`${prefix}*`);
    if (keys.length > 0) await kv.del(keys);
  } catch (e) {
    if (!json) err('');
    throw e;
  } finally {
    await kv.close();
  }
  return EXIT.ok;
}
