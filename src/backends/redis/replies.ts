/**
 * Turns what Redis and ioredis reject with into `SharedKVError`s with the codes the memory backend uses.
 * The scripts raise their own errors as `SKV <code> <command index> <detail>`; the context of the call
 * tells which key (or lock) a KEYS index names, and whether the call was a batch (then `data.index`).
 */
import { type ErrorCode, SharedKVError } from '../../errors.js';

/** What a failing script call needs to describe its error. */
export interface ReplyContext {
  /** The logical key (or lock name) behind a 1-based KEYS index. */
  keyAt?(i: number): string | undefined;
  /** The fence of the command at an index, for `LOCK_LOST`. */
  fenceAt?(index: number): { lock: string; token: number } | undefined;
  /** True for a batch: errors get `data.index` and the "Batch command k" prefix, as in the engine. */
  batch?: boolean;
}

const SCRIPT_ERROR = /^SKV (\w+) (\d+) (\S*)/;

/** Redis error prefixes that mean the server cannot serve now (the connection is as good as lost). */
const UNAVAILABLE = /^(LOADING|BUSY|READONLY|CLUSTERDOWN|MASTERDOWN|TRYAGAIN|MASTERDOWN)\b/;

/** Converts any rejection of a Redis call. */
export function fromRedis(err: unknown, ctx: ReplyContext = {}): SharedKVError {
  if (err instanceof SharedKVError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const m = SCRIPT_ERROR.exec(message);
  if (m) return fromScript(m[1] ?? '', Number(m[2]), m[3] ?? '', ctx, err);
  const name = err instanceof Error ? err.name : '';
  let code: ErrorCode;
  if (message.startsWith('WRONGTYPE')) code = 'ERR_SHAREDKV_WRONG_TYPE';
  else if (message.startsWith('OOM')) code = 'ERR_SHAREDKV_OUT_OF_MEMORY';
  else if (/^(NOAUTH|WRONGPASS|NOPERM)\b/.test(message)) code = 'ERR_SHAREDKV_AUTH';
  else if (message.startsWith('CROSSSLOT')) code = 'ERR_SHAREDKV_BAD_ARGUMENT';
  else if (
    UNAVAILABLE.test(message) ||
    name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|None of startup nodes/.test(
      message,
    )
  ) {
    code = 'ERR_SHAREDKV_DISCONNECTED';
  } else code = 'ERR_SHAREDKV_INTERNAL';
  return new SharedKVError(code, `Redis: ${message}`, undefined, { cause: err });
}

function fromScript(kind: string, index: number, detail: string, ctx: ReplyContext, cause: unknown): SharedKVError {
  let e: SharedKVError;
  switch (kind) {
    case 'WRONG_TYPE': {
      const key = ctx.keyAt?.(Number(detail)) ?? detail;
      e = new SharedKVError('ERR_SHAREDKV_WRONG_TYPE', `Expected the value at ${JSON.stringify(key)} to be a number`, {
        key,
      });
      break;
    }
    case 'NOT_SERIALIZABLE': {
      const key = ctx.keyAt?.(Number(detail)) ?? detail;
      e = new SharedKVError(
        'ERR_SHAREDKV_NOT_SERIALIZABLE',
        `The counter at ${JSON.stringify(key)} left the finite numbers, which the json encoding cannot carry`,
        { key },
      );
      break;
    }
    case 'LOCK_LOST': {
      const fence = ctx.fenceAt?.(index);
      const latest = Number(detail);
      e = new SharedKVError(
        'ERR_SHAREDKV_LOCK_LOST',
        `Write fenced by lock ${JSON.stringify(fence?.lock)} token ${fence?.token} refused: that lease is over (latest token ${latest})`,
        { lock: fence?.lock, token: fence?.token, latest },
      );
      break;
    }
    case 'BAD_ARGUMENT':
      e = new SharedKVError('ERR_SHAREDKV_BAD_ARGUMENT', `Refused by the script: ${detail}`);
      break;
    default:
      e = new SharedKVError('ERR_SHAREDKV_PROTOCOL', `The script did not know ${JSON.stringify(detail)}`, undefined, {
        cause,
      });
  }
  return ctx.batch ? (withIndex(e, index) as SharedKVError) : e;
}

/** The engine's form of an error inside a batch: `data.index` and a prefix naming the command. */
export function withIndex(err: unknown, index: number): unknown {
  if (err instanceof SharedKVError) {
    const data = err.data !== null && typeof err.data === 'object' ? { ...err.data, index } : { index };
    return new SharedKVError(err.code, `Batch command ${index}: ${err.message}`, data);
  }
  return err;
}
