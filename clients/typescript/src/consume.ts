/**
 * `for await (const item of client.consume(queue, {lease, prefetch}))`: an async
 * iterator over a queue's items, on a WebSocket of its own.
 *
 * It keeps up to `prefetch` items asked for or on hand with `count` wants, so items
 * stream without a round trip each. A leased item is acknowledged when the loop asks
 * for the next one (the body finished) and released when the loop ends early, by
 * `break` or by a throw (the iterator cannot tell them apart; call `item.ack()` before
 * a `break` that should keep the item done). Ending the loop closes the consumer's own
 * connection, which makes the server cancel its wants and release the items still on
 * hand. After a reconnection the leases of the lost connection are gone (the server
 * released them): items on hand are dropped, and the server delivers them again.
 *
 * The acks of the loop moving on are not waited for one by one: their receipts are
 * gathered and sent as one batch (`{"op": "ack", "receipts": [...]}`, API.md Part 3)
 * once the loop lets Node's event loop run, before the next want, at `ACK_BATCH`, and
 * before the connection closes (whose close waits for their answers). A receipt the
 * server reports `missing` becomes a warning, as a failed single ack did.
 */
import {randomUUID} from 'node:crypto';

import {QueueAuthentication, QueueItem, leaseParams} from './client';
import {Connection, ReconnectOptions} from './connection';
import {QueueException} from './protocol';

/** Options of `Disqueue.consume`. */
export interface ConsumeOptions {
  /** Only items with this key. */
  key?: string | null;
  /** Lease in seconds: at-least-once delivery. Without it (and without a queue default
   * lease) items are removed as they are sent: at-most-once. */
  lease?: number;
  /** How many items to ask for ahead of the loop (1–1000; default 1). Without a lease,
   * items on hand when the loop ends early are lost, as every at-most-once delivery. */
  prefetch?: number;
}

/** An item handed to the loop, with its lease operations. */
export interface ConsumedItem extends QueueItem {
  /** The queue it came from. */
  readonly queue: string;
  /** Whether it is leased (and so acknowledged, or released, by the consumer). */
  readonly leased: boolean;
  /** Done: remove it for good now, instead of when the loop asks for the next item. */
  ack(): Promise<void>;
  /** Give it back to the front of the queue (after `delay` seconds). */
  release(delay?: number): Promise<void>;
  /** Extend its lease to `lease` seconds from now; resolves to the new end (Unix seconds). */
  touch(lease: number): Promise<number>;
}

type Held = {item: ConsumedItem; generation: number; settled: boolean};

/** At most this many receipts in one batch ack of the loop moving on. */
const ACK_BATCH = 100;
type Waiter = {resolve(result: IteratorResult<ConsumedItem>): void; reject(error: Error): void};

/** The iterator `Disqueue.consume` returns. */
export class Consumer implements AsyncIterableIterator<ConsumedItem> {
  private readonly connection: Connection;
  private readonly prefetch: number;
  private readonly buffer: Held[] = [];
  private readonly waiters: Waiter[] = [];
  private current?: Held;
  private outstanding = 0; // asked for on this connection, not yet delivered
  private generation = 0; // counts connections: a lease lives only as long as its connection
  private done = false;
  private failure?: QueueException;
  private acks: string[] = []; // receipts acked by the loop moving on, not yet sent
  private flushing?: NodeJS.Immediate;
  private readonly unanswered = new Set<Promise<void>>();

  constructor(
    url: string,
    auth: QueueAuthentication | undefined,
    readonly queue: string,
    private readonly options: ConsumeOptions,
    reconnect: ReconnectOptions | false | undefined,
    private readonly warn: (error: QueueException) => void,
    private readonly onEnd: (consumer: Consumer) => void,
  ) {
    const prefetch = options.prefetch ?? 1;
    if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 1000) {
      throw new QueueException('prefetch must be a whole number from 1 to 1000');
    }
    this.prefetch = prefetch;
    this.connection = new Connection(url, auth, reconnect, {
      open: () => this.refill(),
      delivery: (_identifier, item) => this.delivered(item),
      error: (error) => this.fail(error),
      lost: () => this.lost(),
      ended: () => this.finish(),
    });
    this.connection.start();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ConsumedItem> {
    return this;
  }

  /** The loop body finished with the last item: acknowledge it, hand out the next. */
  async next(): Promise<IteratorResult<ConsumedItem>> {
    if (this.current !== undefined) {
      const finished = this.current;
      this.current = undefined;
      if (!this.done) {
        this.gatherAck(finished);
      } // else closed inside the loop: the server released it with the connection
    }
    if (this.failure !== undefined) {
      throw this.failure;
    }
    if (this.done) {
      return {done: true, value: undefined};
    }
    this.refill();
    const next = this.buffer.shift();
    if (next !== undefined) {
      this.current = next;
      return {done: false, value: next.item};
    }
    return new Promise((resolve, reject) => this.waiters.push({resolve, reject}));
  }

  /**
   * The loop ended early (break or throw): give back the item in hand and those on hand.
   * Closing the connection makes the server release them all, in no set order. When no
   * want is open they are first released one by one, last first, so that they return
   * to the front of the queue in their order; with a want still open that would only
   * hand them straight back to it (one more attempt each), so then closing does it all.
   */
  async return(): Promise<IteratorResult<ConsumedItem>> {
    this.done = true;
    const held = [this.current, ...this.buffer.splice(0)].filter((entry) => entry !== undefined);
    this.current = undefined;
    if (this.outstanding === 0) {
      await Promise.all(held.reverse().map((entry) => this.settle(entry, 'release')));
    }
    await this.close();
    return {done: true, value: undefined};
  }

  /** Stop: the loop ends (`done`) and the server releases whatever this consumer held;
   * acks already given are sent and answered first. */
  async close(): Promise<void> {
    this.done = true;
    this.sendAcks();
    await Promise.all(this.unanswered);
    await this.connection.close();
  }

  /** The automatic ack of an item the loop moved on from: gathered for a batch. */
  private gatherAck(held: Held): void {
    const receipt = held.item.receipt;
    if (held.settled || !held.item.leased || receipt == null || held.generation !== this.generation) {
      void this.settle(held, 'ack'); // the single ack (or its warning), not waited for
      return;
    }
    held.settled = true;
    this.acks.push(receipt);
    if (this.acks.length >= ACK_BATCH) {
      this.sendAcks();
    } else if (this.flushing === undefined) {
      this.flushing = setImmediate(() => this.sendAcks());
    }
  }

  /** Send the gathered receipts as one batch ack; its answer is awaited by `close`. */
  private sendAcks(): void {
    clearImmediate(this.flushing);
    this.flushing = undefined;
    const receipts = this.acks;
    if (receipts.length === 0) {
      return;
    }
    this.acks = [];
    const answered = this.connection
      .request({op: 'ack', queue: this.queue, receipts})
      .then((payload) => {
        const missing = Array.isArray(payload.missing) ? payload.missing : [];
        for (const receipt of missing) {
          this.warn(new QueueException(`ack of ${String(receipt)}: no such lease`));
        }
      })
      .catch((error: unknown) => {
        this.warn(error instanceof QueueException ? error : new QueueException(String(error)));
      })
      .finally(() => this.unanswered.delete(answered));
    this.unanswered.add(answered);
  }

  private refill(): void {
    const deficit = this.prefetch - this.buffer.length - this.outstanding - (this.current ? 1 : 0);
    // Never a want for less than half the window (as the Python consumer): with nothing
    // on its way, over half of it is in hand, and a want of one or two items would cost
    // a lease write and two messages for them.
    const lowWater = Math.max(1, Math.floor(this.prefetch / 2));
    if (this.done || deficit < lowWater || !this.connection.isOpen) {
      return;
    }
    // (several items a frame: the server's work and this reader's, per item, is less)
    const want: Record<string, unknown> = {identifier: randomUUID(), queue: this.queue, frames: 'batch'};
    if (this.options.key != null) want.key = this.options.key;
    if (this.options.lease !== undefined) want.lease = this.options.lease;
    if (deficit > 1) want.count = deficit;
    this.sendAcks(); // before the want: the server commits them together
    if (this.connection.send(want)) {
      this.outstanding += deficit;
    }
  }

  private delivered(raw: QueueItem): void {
    this.outstanding = Math.max(0, this.outstanding - 1);
    const held: Held = {item: this.wrap(raw), generation: this.generation, settled: false};
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.current = held;
      waiter.resolve({done: false, value: held.item});
    } else {
      this.buffer.push(held);
    }
  }

  private wrap(raw: QueueItem): ConsumedItem {
    const leased = raw.lease_expires != null;
    const held = (): Held | undefined =>
      [this.current, ...this.buffer].find((entry) => entry?.item === item);
    const item: ConsumedItem = {
      ...raw,
      queue: this.queue,
      leased,
      ack: () => this.settle(held(), 'ack', true),
      release: (delay?: number) => this.settle(held(), 'release', true, delay),
      touch: async (lease: number) => {
        const named = leaseParams(raw);
        const reply = await this.connection.request({op: 'touch', queue: this.queue, ...named, lease});
        return reply.lease_expires as number;
      },
    };
    return item;
  }

  /** Acknowledge or release a held item once. Failures the loop asked for (`strict`)
   * reject; those of the automatic ack/release become warnings. */
  private async settle(
    held: Held | undefined,
    op: 'ack' | 'release',
    strict = false,
    delay?: number,
  ): Promise<void> {
    if (held === undefined || held.settled) {
      return;
    }
    held.settled = true;
    if (!held.item.leased) {
      return;
    }
    try {
      if (held.generation !== this.generation) {
        throw new QueueException(`${op} of ${held.item.id}: lease lost with the connection`);
      }
      // By receipt: this delivery's lease, never a later one of the same item.
      await this.connection.request({op, queue: this.queue, ...leaseParams(held.item), delay});
    } catch (error) {
      const failure = error instanceof QueueException ? error : new QueueException(String(error));
      if (strict) throw failure;
      this.warn(failure);
    }
  }

  private lost(): void {
    this.generation += 1;
    this.outstanding = 0;
    this.acks = []; // their leases went with the connection
    // The server released every lease of the lost connection: leased items on hand
    // will be delivered again. Items taken without a lease are ours; keep them.
    for (let index = this.buffer.length - 1; index >= 0; index -= 1) {
      if (this.buffer[index]?.item.leased) {
        this.buffer.splice(index, 1);
      }
    }
  }

  /** An error frame on this consumer's own connection: its want was refused. */
  private fail(error: QueueException): void {
    if (this.failure === undefined) {
      this.failure = error;
    }
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(error);
    }
    void this.connection.close();
  }

  private finish(): void {
    this.done = true;
    for (const waiter of this.waiters.splice(0)) {
      if (this.failure !== undefined) {
        waiter.reject(this.failure);
      } else {
        waiter.resolve({done: true, value: undefined});
      }
    }
    this.onEnd(this);
  }
}
