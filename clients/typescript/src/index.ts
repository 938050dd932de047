/**
 * The `disqueue` package: the original TypeScript client's API (`Disqueue`,
 * `queueCreate`, `queueList`, `QueueClient`, `QueueException`) and the additions
 * of docs/API.md Part 2.
 */
export {Disqueue} from './disqueue';
export type {DisqueueOptions, QueueDecorator, QueueHandler} from './disqueue';
export {QueueClient, leaseParams, queueCreate, queueList} from './client';
export type {
  BatchItem,
  Lease,
  PutOptions,
  QueueAuthentication,
  QueueInfo,
  QueueItem,
  QueueOptions,
  Settled,
  SettingsChange,
  TakeOptions,
} from './client';
export type {ConsumeOptions, ConsumedItem} from './consume';
export type {ReconnectOptions} from './connection';
export {ProtocolMessage, QueueException} from './protocol';
