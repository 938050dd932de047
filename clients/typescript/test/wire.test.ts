/** The TypeScript client against the protocol's description (src/disqueue/wire.json):
 * its batch limit, the errors it reports, and the WebSocket frames it sends and reads,
 * recorded on their way to and from the real server and checked against the frames'
 * JSON Schemas (tests/e2e/test_client_wire.py does the same for the Python client). */
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {once} from 'node:events';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';

import Ajv2020 from 'ajv/dist/2020';
import WebSocket, {WebSocketServer} from 'ws';

import {Disqueue, QueueClient, QueueException, queueCreate} from 'disqueue';

import {PACKAGE, Server, eventually} from './server';

type Frame = {success?: boolean; op?: string; payload?: {item?: unknown; items?: unknown} | null; [name: string]: unknown};
type Entry = {message: string; status: number | null; meaning: string};
const WIRE = JSON.parse(readFileSync(path.join(PACKAGE, '..', '..', 'src', 'disqueue', 'wire.json'), 'utf8')) as {
  limits: {batch: number};
  errors: Entry[];
  websocket: {client: Record<string, object>; server: Record<string, object>};
};

/** The table's entry whose message (with {placeholders}) matches `message`. */
function entryFor(message: string): Entry | undefined {
  return WIRE.errors.find((entry) => {
    const pattern = entry.message.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '.+');
    return new RegExp(`^${pattern}$`).test(message);
  });
}

/** A WebSocket relay to the real server's /take/ws that records every frame. */
class Relay {
  readonly sent: Frame[] = [];
  readonly received: Frame[] = [];
  private readonly server: WebSocketServer;

  constructor(target: string) {
    this.server = new WebSocketServer({host: '127.0.0.1', port: 0, path: '/take/ws'});
    this.server.on('connection', (client: WebSocket) => {
      const upstream = new WebSocket(`${target.replace('http', 'ws')}/take/ws`);
      const early: string[] = [];
      client.on('message', (data: WebSocket.RawData) => {
        this.sent.push(JSON.parse(data.toString()) as Frame);
        if (upstream.readyState === WebSocket.OPEN) upstream.send(data.toString());
        else early.push(data.toString());
      });
      upstream.on('open', () => early.splice(0).forEach((text) => upstream.send(text)));
      upstream.on('message', (data: WebSocket.RawData) => {
        this.received.push(JSON.parse(data.toString()) as Frame);
        client.send(data.toString());
      });
      client.on('close', () => upstream.close());
      upstream.on('close', () => client.close());
    });
  }

  async url(): Promise<string> {
    if (this.server.address() === null) await once(this.server, 'listening');
    const address = this.server.address();
    assert.ok(address !== null && typeof address === 'object');
    return `http://127.0.0.1:${address.port}`;
  }

  close(): void {
    this.server.clients.forEach((socket) => socket.terminate());
    this.server.close();
  }
}

describe('the protocol description', () => {
  let server: Server;
  before(async () => {
    server = await Server.start();
  });
  after(async () => server.shutdown());

  test('a batch of limits.batch items is one put; consume() allows a prefetch of that many, no more', async () => {
    const queue = new QueueClient(server.url, await queueCreate(server.url));
    const batch = WIRE.limits.batch;
    const ids = await queue.putMany(Array.from({length: batch}, (_, index) => ({value: String(index)})));
    assert.equal(ids.length, batch);
    const client = new Disqueue(server.url);
    try {
      assert.throws(() => client.consume(queue.queueId, {prefetch: batch + 1}), QueueException);
      for await (const item of client.consume(queue.queueId, {prefetch: batch, lease: 30})) {
        await item.ack();
        break;
      }
    } finally {
      await client.close();
    }
  });

  test('every error the client reports from the server is in the table, with its status', async () => {
    const name = await queueCreate(server.url);
    const queue = new QueueClient(server.url, name);
    const missing = new QueueClient(server.url, '00000000-0000-4000-8000-000000000000');
    const failures = [
      () => queue.take(),
      () => queue.peek(),
      () => queue.ack('nope'),
      () => missing.put(null, 'v'),
      () => new QueueClient(server.url, 'not-a-uuid').put(null, 'v'),
      () => queue.take(null, {lease: -1}),
      () => queue.putMany(Array.from({length: WIRE.limits.batch + 1}, () => ({value: 'v'}))),
    ];
    for (const failure of failures) {
      await assert.rejects(failure, (error: unknown) => {
        assert.ok(error instanceof QueueException, String(error));
        const entry = entryFor(error.message);
        assert.ok(entry !== undefined, error.message);
        assert.equal(error.status, entry.status, error.message);
        return true;
      });
    }
  });

  test('consume() never wants less than half its window', async () => {
    const relay = new Relay(server.url);
    const url = await relay.url();
    const name = await queueCreate(server.url);
    const producer = new QueueClient(server.url, name);
    await producer.putMany(Array.from({length: 40}, (_, index) => ({value: String(index)})));
    const client = new Disqueue(url);
    let seen = 0;
    try {
      for await (const item of client.consume(name, {lease: 30, prefetch: 8})) {
        await item.ack();
        if (++seen === 40) break;
      }
    } finally {
      await client.close();
      relay.close();
    }
    const wants = relay.sent.filter((frame) => frame.op === undefined);
    assert.ok(wants.length >= 5, JSON.stringify(wants));
    for (const want of wants) {
      assert.ok(typeof want.count === 'number' && want.count >= 4, `a want for less than 4 of 8: ${JSON.stringify(want)}`);
    }
  });

  test('the frames of a leased consume loop and of a handler match the schemas', async () => {
    const relay = new Relay(server.url);
    const url = await relay.url();
    const name = await queueCreate(server.url);
    const producer = new QueueClient(server.url, name);
    await producer.putMany(['a', 'b', 'c', 'd'].map((value) => ({value})));
    const client = new Disqueue(url);
    const errors: QueueException[] = [];
    client.on('error', (error: QueueException) => errors.push(error));
    try {
      for await (const item of client.consume(name, {lease: 30, prefetch: 2})) {
        if (item.value === 'b') await item.touch(60);
        if (item.value === 'c') await item.release();
        if (item.value === 'd') {
          await item.ack();
          break;
        }
      }
      client.queueHandler('00000000-0000-4000-8000-000000000000')(() => undefined);
      client.run();
      await eventually(() => errors.length > 0, 'the error frame for a missing queue');
    } finally {
      await client.close();
      relay.close();
    }
    const ajv = new Ajv2020({strict: false});
    const ops = new Set<string>();
    for (const frame of relay.sent) {
      const kind = frame.op === undefined ? 'want' : 'op';
      assert.ok(ajv.validate(WIRE.websocket.client[kind] ?? {}, frame), `${JSON.stringify(frame)}: ${ajv.errorsText()}`);
      ops.add(frame.op ?? 'want');
    }
    assert.deepEqual([...ops].sort(), ['ack', 'release', 'touch', 'want']);
    const kinds = new Set<string>();
    for (const frame of relay.received) {
      const kind =
        frame.success !== true
          ? 'error'
          : frame.payload?.item !== undefined
            ? 'delivery'
            : frame.payload?.items !== undefined
              ? 'deliveries'
              : 'reply';
      assert.ok(ajv.validate(WIRE.websocket.server[kind] ?? {}, frame), `${JSON.stringify(frame)}: ${ajv.errorsText()}`);
      kinds.add(kind);
    }
    // (consume() asks for several items a frame; a single delivery may still come)
    kinds.delete('delivery');
    assert.deepEqual([...kinds].sort(), ['deliveries', 'error', 'reply']);
  });
});
