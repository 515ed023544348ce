/**
 * sharedkv: shared memory for Node.js processes. One process owns the data; every other process reaches it
 * through the same typed {@link Store} API.
 */

export type { RedisConnectOptions, RedisStore, RedisTarget } from './backends/redis/index.js';
export { type ClientStore, type ConnectOptions, connect, type OwnerStore, pm2SocketPath } from './connect.js';
export type { Procedure, Transaction } from './engine/commands/procedures.js';
export { type ErrorCode, ErrorCodes, SharedKVError, type WireError } from './errors.js';
export type { LoadReport } from './persistence/load.js';
export type { PersistOptions, PersistStats, SaveReport } from './persistence/persistence.js';
export type { FsyncPolicy } from './persistence/writer.js';
export { PROTOCOL_VERSION } from './protocol/envelope.js';
export { type ServeHandle, type ServeOptions, serve } from './serve.js';
export type { CommandLatency, MonitorEvent } from './server/server.js';
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
