/**
 * Tools for the persistence tests: an engine with persistence on hand-moved clocks (the engine's
 * monotonic clock and the wall clock move together unless a test makes the wall clock jump), temporary
 * directories, and a digest of everything a restart must keep: live keys with their bytes and absolute
 * expiry, and the fencing tokens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { lockTable } from '../../src/engine/commands/locks.js';
import type { Engine } from '../../src/engine/engine.js';
import { Persistence, type PersistOptions } from '../../src/persistence/persistence.js';
import { EngineHarness } from '../helpers/engine.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test file. */
export function tempDir(label = 'persist'): string {
  const d = mkdtempSync(join(tmpdir(), `skv-${label}-`));
  dirs.push(d);
  return d;
}

/** Wall-clock ms of the hand-moved clock when the engine clock reads 0. */
export const WALL_BASE = 1_767_225_600_000;

/** An engine on hand-moved clocks with persistence in `dir`. */
export class PersistedHarness extends EngineHarness {
  readonly persistence: Persistence;
  /** Added to the wall clock only (a wall-clock jump, or another process's monotonic clock). */
  wallSkew: number;

  constructor(options: PersistOptions, start = 1_000, wallSkew = 0) {
    super();
    this.clock.t = start;
    this.wallSkew = wallSkew;
    this.persistence = Persistence.open(this.engine, options, () => WALL_BASE + this.clock.t + this.wallSkew);
  }

  /** Waits until every change made so far is written (and fsynced with 'always'). */
  async settle(): Promise<void> {
    await this.engine.durable?.();
    await internalWriter(this.persistence).drained();
  }

  close(): Promise<void> {
    return this.persistence.close();
  }
}

function internalWriter(p: Persistence): { drained(): Promise<void> } {
  return Reflect.get(p, 'writer') as { drained(): Promise<void> };
}

/**
 * Live keys (sorted) with value bytes and absolute wall-clock expiry, then the last fencing token. Equal digests
 * mean a restart kept everything. `wallOffset` converts the engine clock to the wall clock.
 */
export function digest(engine: Engine, wallOffset: number): string {
  const now = engine.now();
  const rows: string[] = [];
  for (const [k, e] of engine.data) {
    if (e.exp !== 0 && e.exp <= now) continue;
    rows.push(`${JSON.stringify(k)}=${Buffer.from(e.v).toString('hex')}@${e.exp === 0 ? 0 : e.exp + wallOffset}`);
  }
  rows.sort();
  return [...rows, `fence ${lockTable(engine).lastToken}`].join('\n');
}

/** A small seeded PRNG, so a failure can be replayed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
