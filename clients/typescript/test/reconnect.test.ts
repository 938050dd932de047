/** A server restart (same port, SQLite storage): handlers and consumers reconnect with
 * backoff, send their wants again, and get the items that survived and the new ones. */
import assert from 'node:assert/strict';
import {once} from 'node:events';
import {after, before, describe, test} from 'node:test';

import {Disqueue, QueueClient, queueCreate} from 'disqueue';

import {Server, eventually} from './server';

const FAST = {reconnect: {initialDelay: 50, maxDelay: 400}};

describe('reconnect after a server restart', () => {
  let server: Server;
  before(async () => {
    server = await Server.start({storage: 'sqlite'});
  });
  after(async () => server.shutdown());

  test('a handler wants again on the new connection', async () => {
    const queue = await queueCreate(server.url);
    const waiting = await queueCreate(server.url);
    const producer = new QueueClient(server.url, queue);
    await new QueueClient(server.url, waiting).put(null, 'kept on disk');
    const client = new Disqueue(server.url, undefined, FAST);
    const received: string[] = [];
    client.queueHandler(queue)((_key, value) => void received.push(value));
    let opens = 0;
    client.on('open', () => {
      opens += 1;
    });
    client.run();
    await producer.put(null, 'before');
    await eventually(() => received.length === 1, 'the item before the restart');
    const firstSocket = client.socket;

    await server.restart();
    await eventually(() => opens === 2, 'the client reconnected');
    assert.notEqual(client.socket, firstSocket);
    await producer.put(null, 'after');
    await eventually(() => received.length === 2, 'the item after the restart');
    assert.deepEqual(received, ['before', 'after']);
    // the item nobody took survived the restart (SQLite)
    assert.equal((await new QueueClient(server.url, waiting).take()).value, 'kept on disk');
    await client.close();
  });

  test('a consume loop keeps going across a restart; leases of the lost connection come back', async () => {
    const queue = await queueCreate(server.url);
    const producer = new QueueClient(server.url, queue);
    await producer.putMany([{value: 'one'}, {value: 'two'}]);
    const client = new Disqueue(server.url, undefined, FAST);
    const warnings: Error[] = [];
    client.on('warning', (warning: Error) => warnings.push(warning));
    const seen: Array<[string, number | undefined]> = [];
    for await (const item of client.consume(queue, {lease: 60, prefetch: 2})) {
      seen.push([item.value, item.attempts]);
      if (seen.length === 1) {
        // 'two' is prefetched and leased; the restart drops both leases
        await eventually(async () => (await producer.info()).in_flight === 2, 'two in flight');
        await server.restart();
        await producer.put(null, 'three');
      }
      if (item.value === 'three') {
        break;
      }
    }
    // 'one' was in the loop body when the connection dropped: its ack could not be sent
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.message ?? '', /lease lost with the connection/);
    // Both leases were released when the connection closed: 'one' and 'two' come again
    // (attempts 2; the server releases a connection's leases in no set order), then 'three'.
    assert.deepEqual(seen[0], ['one', 1]);
    assert.deepEqual(seen.slice(1, 3).sort(), [
      ['one', 2],
      ['two', 2],
    ]);
    assert.deepEqual(seen[3], ['three', 1]);
    assert.equal(seen.length, 4);
    await client.close();
  });

  test('with reconnect off, a lost connection ends the client', async () => {
    const client = new Disqueue(server.url, undefined, {reconnect: false});
    client.run();
    await once(client, 'open');
    const closed = once(client, 'close');
    await server.restart();
    await closed;
  });
});
