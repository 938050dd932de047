/** `for await (const item of client.consume(queue, {lease, prefetch}))` against the real server. */
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import {ConsumedItem, Disqueue, QueueClient, QueueException, queueCreate} from 'disqueue';

import {Server, eventually} from './server';

describe('consume()', () => {
  let server: Server;
  let client: Disqueue;
  before(async () => {
    server = await Server.start();
    client = new Disqueue(server.url);
  });
  after(async () => {
    await client.close();
    await server.shutdown();
  });

  async function queueWith(values: string[]): Promise<[string, QueueClient]> {
    const queue = await queueCreate(server.url);
    const producer = new QueueClient(server.url, queue);
    if (values.length > 0) {
      await producer.putMany(values.map((value) => ({value})));
    }
    return [queue, producer];
  }

  test('leased items arrive in order and are acked after the loop body', async () => {
    const values = Array.from({length: 10}, (_, index) => `item-${index}`);
    const [queue, producer] = await queueWith(values);
    const seen: string[] = [];
    for await (const item of client.consume(queue, {lease: 30, prefetch: 4})) {
      assert.equal(item.leased, true);
      assert.equal(item.queue, queue);
      assert.equal(item.attempts, 1);
      seen.push(item.value);
      if (seen.length === values.length) {
        await item.ack();
        break;
      }
    }
    assert.deepEqual(seen, values);
    await eventually(async () => {
      const info = await producer.info();
      return info.acked === 10 && info.in_flight === 0 && info.size === 0;
    }, 'all ten acked');
  });

  test('a throw in the loop body releases the item: it is delivered again', async () => {
    const [queue, producer] = await queueWith(['fragile']);
    await assert.rejects(async () => {
      for await (const item of client.consume(queue, {lease: 30})) {
        throw new Error(`failed on ${item.value}`);
      }
    }, /failed on fragile/);
    const again = await eventually(async () => {
      try {
        return await producer.take(null, {lease: 30});
      } catch {
        return undefined;
      }
    }, 'the released item');
    assert.deepEqual([again.value, again.attempts], ['fragile', 2]);
  });

  test('ending the loop gives back every prefetched item', async () => {
    const [queue, producer] = await queueWith(['a', 'b', 'c', 'd', 'e']);
    for await (const item of client.consume(queue, {lease: 30, prefetch: 5})) {
      assert.equal(item.value, 'a');
      await eventually(async () => (await producer.info()).in_flight === 5, 'five items prefetched');
      await item.ack();
      break;
    }
    await eventually(async () => {
      const info = await producer.info();
      return info.size === 4 && info.in_flight === 0 && info.acked === 1;
    }, 'four back in the queue');
    const rest = await producer.take(null, {count: 10});
    assert.deepEqual(rest.map((item) => item.value), ['b', 'c', 'd', 'e']);
  });

  test('release with a delay and touch from the loop body', async () => {
    const [queue, producer] = await queueWith(['slow']);
    for await (const item of client.consume(queue, {lease: 5})) {
      const until = await item.touch(600);
      assert.ok(until > (item.lease_expires ?? 0));
      await item.release(600);
      await item.ack(); // settled already: nothing is sent
      break;
    }
    const info = await producer.info();
    assert.deepEqual([info.in_flight, info.delayed, info.acked], [0, 1, 0]);
  });

  test('without a lease items are removed as they are delivered; key filters', async () => {
    const queue = await queueCreate(server.url);
    const producer = new QueueClient(server.url, queue);
    await producer.put('x', 'skip');
    await producer.put('y', 'mine');
    const got: ConsumedItem[] = [];
    for await (const item of client.consume(queue, {key: 'y'})) {
      got.push(item);
      break;
    }
    assert.deepEqual(got.map((item) => [item.key, item.value, item.leased]), [['y', 'mine', false]]);
    const info = await producer.info();
    assert.deepEqual([info.size, info.in_flight], [1, 0]);
  });

  test('items put while the loop waits are streamed to it', async () => {
    const [queue, producer] = await queueWith([]);
    const seen: string[] = [];
    const loop = (async () => {
      for await (const item of client.consume(queue, {lease: 30, prefetch: 2})) {
        seen.push(item.value);
        if (seen.length === 3) break;
      }
    })();
    await eventually(async () => (await producer.info()).consumers === 1, 'the consumer waits');
    for (const value of ['1', '2', '3']) {
      await producer.put(null, value);
    }
    await loop;
    assert.deepEqual(seen, ['1', '2', '3']);
    // the third item was not acked before break: it was released, once
    await eventually(async () => (await producer.info()).size === 1, 'the third item is back');
    const back = await producer.take(null, {lease: 30});
    assert.deepEqual([back.value, back.attempts], ['3', 2]);
  });

  test('close() ends a waiting loop', async () => {
    const [queue] = await queueWith([]);
    const own = new Disqueue(server.url);
    let count = 0;
    const loop = (async () => {
      for await (const _item of own.consume(queue, {lease: 30})) {
        count += 1;
      }
    })();
    await eventually(async () => (await new QueueClient(server.url, queue).info()).consumers === 1, 'waiting');
    await own.close();
    await loop;
    assert.equal(count, 0);
  });

  test('a queue that does not exist ends the loop with a QueueException', async () => {
    await assert.rejects(
      async () => {
        for await (const _item of client.consume('6f1c0b2e-0000-4000-8000-00000000dead')) {
          assert.fail('no item expected');
        }
      },
      (error: unknown) => error instanceof QueueException && error.message === 'queue not found',
    );
  });

  test('prefetch out of range is refused', () => {
    assert.throws(() => client.consume('q', {prefetch: 0}), QueueException);
    assert.throws(() => client.consume('q', {prefetch: 1001}), QueueException);
  });
});
