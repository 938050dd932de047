/** The original client's WebSocket flow: `queueHandler(queue, key)(fn)`, `run()`, a new
 * want after each item, and `socket` to close; with and without authentication. */
import assert from 'node:assert/strict';
import {once} from 'node:events';
import {after, before, describe, test} from 'node:test';

import {Disqueue, QueueAuthentication, QueueClient, QueueException, queueCreate, queueList} from 'disqueue';

import {AUTH, Server, eventually} from './server';

type Received = Array<[string | null, string]>;

/** Register one handler, run, put three items, and check they arrive in order. */
async function threeItemsInOrder(url: string, auth?: QueueAuthentication): Promise<void> {
  const queue = await queueCreate(url, undefined, auth);
  const client = new Disqueue(url, auth);
  const received: Received = [];
  const handler = (key: string | null, value: string): void => {
    received.push([key, value]);
  };
  assert.equal(client.queueHandler(queue, null)(handler), handler);
  const opened = once(client, 'open');
  client.run();
  await opened;
  const producer = new QueueClient(url, queue, auth);
  await producer.put(null, 'first');
  await producer.put('k', 'second');
  await producer.put(null, 'third');
  await eventually(() => received.length === 3, 'three items delivered');
  assert.deepEqual(received, [
    [null, 'first'],
    ['k', 'second'],
    [null, 'third'],
  ]);
  // The handler wants again after each item: the queue has one waiting consumer.
  await eventually(async () => (await producer.info()).consumers === 1, 'a new want after the third item');
  const closed = once(client, 'close');
  client.socket.close();
  await closed;
  await eventually(async () => (await producer.info()).consumers === 0, 'the want is cancelled on close');
}

describe('Disqueue handlers, no authentication', () => {
  let server: Server;
  before(async () => {
    server = await Server.start();
  });
  after(async () => server.shutdown());

  test('three items reach one handler in order', async () => {
    await threeItemsInOrder(server.url);
  });

  test('a keyed handler gets only its key; handlers added after run() are served', async () => {
    const queue = await queueCreate(server.url);
    const client = new Disqueue(server.url);
    client.run();
    await once(client, 'open');
    const keyed: string[] = [];
    const any: string[] = [];
    client.queueHandler(queue, 'a')((_key, value) => void keyed.push(value));
    const producer = client.queue(queue);
    assert.equal(client.queue(queue), producer);
    await eventually(async () => (await producer.info()).consumers === 1, 'the keyed want');
    await producer.put('b', 'b1');
    await producer.put('A', 'a1');
    await eventually(() => keyed.length === 1, 'the keyed item');
    client.queueHandler(queue)((_key, value) => void any.push(value));
    await eventually(() => any.length === 1, 'the other item');
    assert.deepEqual([keyed, any], [['a1'], ['b1']]);
    await client.close();
  });

  test('an async handler finishes before the next item comes; a throwing one is reported', async () => {
    const queue = await queueCreate(server.url);
    const client = new Disqueue(server.url);
    const errors: unknown[] = [];
    client.on('error', (error) => errors.push(error));
    let running = 0;
    let most = 0;
    const seen: string[] = [];
    client.queueHandler(queue)(async (_key, value) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running -= 1;
      seen.push(value);
      if (value === 'bad') {
        throw new Error('handler failed');
      }
    });
    client.run();
    const producer = new QueueClient(server.url, queue);
    for (const value of ['one', 'bad', 'two', 'three']) {
      await producer.put(null, value);
    }
    await eventually(() => seen.length === 4, 'four items handled');
    assert.deepEqual(seen, ['one', 'bad', 'two', 'three']);
    assert.equal(most, 1);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, 'handler failed');
    await client.close();
  });

  test('a want for a queue that does not exist is an error event', async () => {
    const client = new Disqueue(server.url);
    client.queueHandler('6f1c0b2e-0000-4000-8000-00000000dead')(() => undefined);
    client.run();
    const [error] = (await once(client, 'error')) as [QueueException];
    assert.ok(error instanceof QueueException);
    assert.equal(error.message, 'queue not found');
    await client.close();
  });

  test('close() before run() and twice is harmless; socket before run() says so', async () => {
    const client = new Disqueue(server.url);
    assert.throws(() => client.socket, /call run\(\) first/);
    await client.close();
    await client.close();
  });
});

describe('Disqueue handlers, with authentication', () => {
  let server: Server;
  before(async () => {
    server = await Server.start({auth: true});
  });
  after(async () => server.shutdown());

  test('three items reach one handler in order', async () => {
    await threeItemsInOrder(server.url, AUTH);
  });

  test('HTTP calls without or with wrong credentials are refused', async () => {
    await assert.rejects(queueList(server.url), {name: 'QueueException', message: 'authentication required', status: 401});
    await assert.rejects(queueList(server.url, ['test', 'wrong']), {status: 403});
    assert.ok(Array.isArray(await queueList(server.url, AUTH)));
  });

  test('a refused WebSocket upgrade is an error event, and the client stops', async () => {
    const client = new Disqueue(server.url, ['test', 'wrong']);
    const errors: QueueException[] = [];
    client.on('error', (error: QueueException) => errors.push(error));
    const closed = new Promise((resolve) => client.once('close', resolve));
    client.run();
    await closed;
    assert.deepEqual(
      errors.map((error) => [error.message, error.status]),
      [[`websocket ${server.url.replace('http', 'ws')}/take/ws refused: 403`, 403]],
    );
  });
});
