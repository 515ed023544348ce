/**
 * Argument checks shared with the memory engine: the engine's command table declares each command's
 * arity and checks, and the Redis backend runs the very same ones before anything is sent, so a bad call
 * is refused with the same code and message on every backend.
 */
import { checkArity, lookup } from '../../engine/engine.js';
import type { CommandSpec } from '../../engine/table.js';
import { SharedKVError } from '../../errors.js';
import { withIndex } from './replies.js';

export { lookup };

/** Checks one call; answers its declaration. */
export function checkCall(name: unknown, args: unknown[]): CommandSpec {
  const spec = lookup(name);
  checkArity(spec, args);
  spec.check(args);
  return spec;
}

/** Checks every command of a batch first, as the engine does; errors carry `data.index`. */
export function checkBatch(ops: Array<[string, ...unknown[]]>): void {
  ops.forEach((op, index) => {
    try {
      const spec = lookup(op[0]);
      if (!spec.batchable) {
        throw new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', `\`${spec.name}\` cannot be used inside a batch`);
      }
      checkCall(op[0], op.slice(1));
    } catch (err) {
      throw withIndex(err, index);
    }
  });
}
