/**
 * `Disqueue`: the original client's WebSocket consumer (`queueHandler(queue, key)(fn)`,
 * then `run()`: one want per handler, a new want after each item), made to survive a
 * lost connection (it reconnects with backoff and sends its wants again), to stop
 * (`close()`), and to hand out items through `consume()`.
 *
 * Events (it is an EventEmitter): `'open'` on every (re)connection, `'close'` when it
 * stops for good, `'error'` for an error frame from the server, a refused upgrade or a
 * handler that threw (without a listener these throw, as the original client did), and
 * `'warning'` for an automatic ack or release of `consume()` that failed (the item is
 * delivered again).
 */
import {randomUUID} from 'node:crypto';
import {EventEmitter} from 'node:events';
import WebSocket from 'ws';

import {QueueAuthentication, QueueClient, QueueItem} from './client';
import {Connection, ReconnectOptions, webSocketAddress} from './connection';
import {ConsumeOptions, ConsumedItem, Consumer} from './consume';
import {QueueException} from './protocol';

/** A handler gets each item's key and value (and the whole item); a promise it returns
 * is awaited before the next want is sent. */
export type QueueHandler = (key: string | null, value: string, item: QueueItem) => unknown;
export type QueueDecorator = (handler: QueueHandler) => QueueHandler;

/** Options of `new Disqueue(url, auth, options)`. */
export interface DisqueueOptions {
  /** Backoff of the reconnection, or `false` to stop when the connection drops. */
  reconnect?: ReconnectOptions | false;
}

/** One `queueHandler` registration and its want on the current connection. */
interface Registration {
  queueId: string;
  key: string | null;
  handler: QueueHandler;
  busy: boolean;
}

export class Disqueue extends EventEmitter {
  url: string;
  auth?: QueueAuthentication;
  cachedClients: {[key: string]: QueueClient} = {};
  private readonly options: DisqueueOptions;
  private readonly registrations: Registration[] = [];
  private readonly wants = new Map<string, Registration>();
  private readonly consumers = new Set<Consumer>();
  private connection?: Connection;

  constructor(url: string, auth?: QueueAuthentication, options: DisqueueOptions = {}) {
    super();
    this.url = url;
    this.auth = auth;
    this.options = options;
  }

  /** The WebSocket of `run()` (the current one; closing it stops the client). */
  get socket(): WebSocket {
    const socket = this.connection?.socket;
    if (socket === undefined) {
      throw new QueueException('not running: call run() first');
    }
    return socket;
  }

  /** Connect and send one want per handler; handlers added later are sent at once. */
  run(): void {
    if (this.connection !== undefined) {
      return;
    }
    this.connection = new Connection(this.url, this.auth, this.options.reconnect, {
      open: () => {
        this.registrations.filter((entry) => !entry.busy).forEach((entry) => this.sendWant(entry));
        this.emit('open');
      },
      delivery: (identifier, item) => void this.delivered(identifier, item),
      error: (error) => this.emit('error', error),
      lost: () => this.wants.clear(),
      ended: () => this.emit('close'),
    });
    this.connection.start();
  }

  /** `queueHandler(queue, key)(fn)`: call `fn` for every item of `queue` (with `key`). */
  queueHandler(queueId: string, queueKey: string | null = null): QueueDecorator {
    return (handler: QueueHandler): QueueHandler => {
      const entry: Registration = {queueId, key: queueKey ?? null, handler, busy: false};
      this.registrations.push(entry);
      this.sendWant(entry);
      return handler;
    };
  }

  /** A (cached) HTTP client of one queue. */
  queue(queueId: string): QueueClient {
    let client = this.cachedClients[queueId];
    if (client === undefined) {
      client = new QueueClient(this.url, queueId, this.auth);
      this.cachedClients[queueId] = client;
    }
    return client;
  }

  /** Iterate over a queue's items on a connection of their own; see `Consumer`. */
  consume(queueId: string, options: ConsumeOptions = {}): AsyncIterableIterator<ConsumedItem> {
    const consumer = new Consumer(
      this.url,
      this.auth,
      queueId,
      options,
      this.options.reconnect,
      (warning) => this.emit('warning', warning),
      (ended) => this.consumers.delete(ended),
    );
    this.consumers.add(consumer);
    return consumer;
  }

  /** Stop everything: the handlers' connection and every consumer (their loops end). */
  async close(): Promise<void> {
    await Promise.all([
      this.connection?.close(),
      ...[...this.consumers].map((consumer) => consumer.close()),
    ]);
  }

  private sendWant(entry: Registration): void {
    const identifier = randomUUID();
    const want: Record<string, string> = {identifier, queue: entry.queueId};
    if (entry.key !== null) {
      want.key = entry.key;
    }
    if (this.connection?.send(want)) {
      this.wants.set(identifier, entry);
    }
  }

  /** Run the handler, then (as the original client) send a new want for the next item. */
  private async delivered(identifier: string, item: QueueItem): Promise<void> {
    const entry = this.wants.get(identifier);
    if (entry === undefined) {
      return;
    }
    this.wants.delete(identifier);
    entry.busy = true;
    try {
      await entry.handler(item.key, item.value, item);
    } catch (error) {
      this.emit('error', error);
    } finally {
      entry.busy = false;
      this.sendWant(entry);
    }
  }

  static _createIdentifier(): string {
    return randomUUID();
  }

  static _createWebSocketAddress(url: string): string {
    return webSocketAddress(url);
  }
}
