/** consume() acks the items the loop moved on from in batches of receipts (API.md Part 3). */
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import WebSocket from 'ws';

import {Disqueue, QueueClient, QueueException, queueCreate} from 'disqueue';

import {Server, eventually} from './server';

type Frame = {op?: string; receipt?: string; receipts?: string[]};

describe('consume() batched acks', () => {
  let server: Server;
  let client: Disqueue;
  const sent: Frame[] = [];
  const send = WebSocket.prototype.send;
  before(async () => {
    server = await Server.start();
    client = new Disqueue(server.url);
    // Every frame a WebSocket of this process sends, decoded.
    WebSocket.prototype.send = function (this: WebSocket, data: unknown, ...rest: unknown[]) {
      sent.push(JSON.parse(String(data)) as Frame);
      return (send as (...args: unknown[]) => void).call(this, data, ...rest);
    } as typeof send;
  });
  after(async () => {
    WebSocket.prototype.send = send;
    await client.close();
    await server.shutdown();
  });

  function acked(): string[][] {
    return sent
      .filter((frame) => frame.op === 'ack')
      .map((frame) => frame.receipts ?? (frame.receipt === undefined ? [] : [frame.receipt]));
  }

  async function queueWith(count: number): Promise<[string, QueueClient]> {
    const queue = await queueCreate(server.url);
    const producer = new QueueClient(server.url, queue);
    await producer.putMany(Array.from({length: count}, (_, index) => ({value: `v${index}`})));
    return [queue, producer];
  }

  test('items handled one after another are acked in batches, each receipt once', async () => {
    const [queue, producer] = await queueWith(30);
    const consumer = client.consume(queue, {lease: 30, prefetch: 30});
    const receipts: string[] = [];
    for await (const item of consumer) {
      if (receipts.length === 0) {
        // every item on hand before the loop goes on
        await eventually(() => (consumer as unknown as {buffer: unknown[]}).buffer.length === 29, 'all on hand');
      }
      receipts.push(item.receipt ?? '');
      if (receipts.length === 30) {
        await item.ack();
        break;
      }
    }
    const batches = acked().filter((batch) => batch.some((receipt) => receipts.includes(receipt)));
    assert.deepEqual(batches.flat().sort(), [...receipts].sort());
    assert.ok(Math.max(...batches.map((batch) => batch.length)) > 1, JSON.stringify(batches));
    const info = await producer.info();
    assert.deepEqual([info.size, info.in_flight, info.acked], [0, 0, 30]);
  });

  test('a receipt missing from a batch is reported as a warning naming it', async () => {
    const [queue, producer] = await queueWith(3);
    const warnings: QueueException[] = [];
    const onWarning = (warning: QueueException): void => {
      warnings.push(warning);
    };
    client.on('warning', onWarning);
    let gone = '';
    try {
      for await (const item of client.consume(queue, {lease: 30, prefetch: 3})) {
        if (item.value === 'v1') {
          gone = item.receipt ?? '';
          await producer.ack(item); // over HTTP: the lease ends here
        }
        if (item.value === 'v2') {
          await item.ack();
          break;
        }
      }
      await eventually(() => warnings.length > 0, 'a warning');
    } finally {
      client.off('warning', onWarning);
    }
    assert.ok(acked().some((batch) => batch.includes(gone)));
    assert.ok(warnings.some((warning) => warning.message.includes(gone)), String(warnings));
    const info = await producer.info();
    assert.deepEqual([info.in_flight, info.acked], [0, 3]);
  });
});
