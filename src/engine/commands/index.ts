/** The full command table, by name. A null-prototype map: only declared commands can ever run. */
import type { CommandSpec } from '../table.js';
import { command } from '../table.js';
import { counterCommands } from './counters.js';
import { introspectCommands } from './introspect.js';
import { loadCommands } from './load.js';
import { lockCommands } from './locks.js';
import { procedureCommands } from './procedures.js';
import { pubsubCommands } from './pubsub.js';
import { trackingCommands } from './tracking.js';
import { valueCommands } from './values.js';

const statsCommand = command({
  name: 'stats',
  arity: [0, 0],
  batchable: false,
  run: (ctx) => {
    const extra = ctx.engine.ext.get('serverStats') as (() => Record<string, number>) | undefined;
    return { ...ctx.engine.stats(), clients: 0, pending: 0, uptime: 0, ...extra?.() };
  },
});

/** Every command, by its one name. */
export const commands: ReadonlyMap<string, CommandSpec> = new Map(
  [
    ...valueCommands,
    ...counterCommands,
    ...loadCommands,
    ...lockCommands,
    ...pubsubCommands,
    ...procedureCommands,
    ...introspectCommands,
    ...trackingCommands,
    statsCommand,
  ].map((c) => [c.name, c]),
);
