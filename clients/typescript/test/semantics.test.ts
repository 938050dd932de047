/** What ends a leased item's lease in a consume loop, row by row as the README's table
 * "What ends a lease in a consume loop" says (tests/e2e/test_consume_semantics.py pins
 * the same rows for the Python client). */
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import {Disqueue, QueueClient, queueCreate} from 'disqueue';

import {Server, eventually} from './server';

describe('what ends a lease in a consume loop', () => {
  let server: Server;
  let client: Disqueue;
  const opened: Disqueue[] = [];
  /** A client of the test server, closed after the suite. */
  function newClient(): Disqueue {
    const made = new Disqueue(server.url);
    opened.push(made);
    return made;
  }
  before(async () => {
    server = await Server.start();
    client = newClient();
  });
  after(async () => {
    await Promise.all(opened.map((made) => made.close()));
    await server.shutdown();
  });

  async function queueWith(...values: string[]): Promise<[string, QueueClient]> {
    const queue = await queueCreate(server.url);
    const producer = new QueueClient(server.url, queue);
    await producer.putMany(values.map((value) => ({value})));
    return [queue, producer];
  }

  /** Wait until the queue holds `ready` items, `inFlight` leased ones, `acked` acked. */
  async function counts(producer: QueueClient, ready: number, inFlight: number, acked: number): Promise<void> {
    const wanted = JSON.stringify([ready, inFlight, acked]);
    await eventually(async () => {
      const info = await producer.info();
      return JSON.stringify([info.size, info.in_flight, info.acked]) === wanted;
    }, `(ready, in flight, acked) = ${wanted}`);
  }

  /** How often the queue's next item has been delivered, delivering it once more. */
  async function nextAttempts(producer: QueueClient): Promise<number | undefined> {
    return (await producer.take(null, {lease: 5})).attempts;
  }

  test('item.ack() acks the item in hand at once', async () => {
    const [queue, producer] = await queueWith('a');
    for await (const item of client.consume(queue, {lease: 30})) {
      await item.ack();
      await counts(producer, 0, 0, 1);
      break;
    }
    await counts(producer, 0, 0, 1);
  });

  test('asking for the next item acks the last one', async () => {
    const [queue, producer] = await queueWith('a', 'b');
    for await (const item of client.consume(queue, {lease: 30, prefetch: 1})) {
      if (item.value === 'b') {
        await counts(producer, 0, 1, 1);
        await item.ack();
        break;
      }
    }
    await counts(producer, 0, 0, 2);
  });

  test('break releases the item in hand: it comes again, attempts 2', async () => {
    const [queue, producer] = await queueWith('a');
    for await (const item of client.consume(queue, {lease: 30})) {
      assert.equal(item.attempts, 1);
      break;
    }
    await counts(producer, 1, 0, 0);
    assert.equal(await nextAttempts(producer), 2);
  });

  test('an exception out of the loop releases the item in hand, as break does', async () => {
    const [queue, producer] = await queueWith('a');
    await assert.rejects(async () => {
      for await (const item of client.consume(queue, {lease: 30})) {
        throw new RangeError(`handler failed on ${item.value}`);
      }
    }, RangeError);
    await counts(producer, 1, 0, 0);
    assert.equal(await nextAttempts(producer), 2);
  });

  test('closing the client inside the loop releases the item in hand and the prefetched', async () => {
    const [queue, producer] = await queueWith('a', 'b', 'c');
    const closing = newClient();
    const warnings: string[] = [];
    closing.on('warning', (warning: Error) => warnings.push(warning.message));
    const seen: string[] = [];
    for await (const item of closing.consume(queue, {lease: 30, prefetch: 3})) {
      seen.push(item.value);
      await counts(producer, 0, 3, 0);
      await closing.close();
    }
    assert.deepEqual(seen, ['a']);
    await counts(producer, 3, 0, 0);
    assert.deepEqual(warnings, []); // no ack was tried after the close
  });
});
