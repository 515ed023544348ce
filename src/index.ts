/**
 * sharedkv: shared memory for Node.js processes. One process owns the data; every other process reaches it
 * through the same typed {@link Store} API.
 */
export { type ClientStore, type ConnectOptions, connect, type OwnerStore } from './connect.js';
export type { Procedure, Transaction } from './engine/commands/procedures.js';
export { type ErrorCode, ErrorCodes, SharedKVError, type WireError } from './errors.js';
export { PROTOCOL_VERSION } from './protocol/envelope.js';
export type {
  Batch,
  CallOptions,
  CasOptions,
  GetOrSetOptions,
  Lock,
  LockOptions,
  Message,
  MsetOptions,
  Semaphore,
  SetOptions,
  Store,
  StoreStats,
  Subscription,
  Unsubscribe,
  WatchEvent,
} from './types.js';
