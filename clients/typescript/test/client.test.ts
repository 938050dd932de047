/** The HTTP side against the real server: the original calls, then leases, batches,
 * long polling, put options and purge. */
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import {QueueClient, QueueException, queueCreate, queueList} from 'disqueue';

import {Server, eventually, freePort} from './server';

/** Assert that `promise` rejects with a QueueException of this message (and status). */
async function rejectsWith(promise: Promise<unknown>, message: string, status?: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof QueueException, String(error));
    assert.equal(error.message, message);
    if (status !== undefined) {
      assert.equal(error.status, status);
    }
    return true;
  });
}

describe('HTTP client', () => {
  let server: Server;
  let url: string;
  before(async () => {
    server = await Server.start();
    url = server.url;
  });
  after(async () => server.shutdown());

  test('queueCreate makes a queue, or returns the named one; queueList lists them oldest first', async () => {
    const first = await queueCreate(url);
    assert.match(first, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const named = '6f1c0b2e-0000-4000-8000-000000000001';
    assert.equal(await queueCreate(url, named), named);
    assert.equal(await queueCreate(url, named), named);
    const queues = await queueList(url);
    assert.ok(queues.indexOf(first) < queues.indexOf(named), JSON.stringify(queues));
    await rejectsWith(queueCreate(url, 'not-a-uuid'), 'invalid queue id', 400);
  });

  test('put, peek and take, with and without keys, in order', async () => {
    const client = new QueueClient(url, await queueCreate(url));
    assert.equal(await client.put(null, 'one'), undefined);
    await client.put('k', 'two');
    await client.put(null, 'three');
    assert.deepEqual(pick(await client.peek()), {key: null, value: 'one'});
    assert.deepEqual(pick(await client.peek('K')), {key: 'k', value: 'two'});
    assert.deepEqual(pick(await client.take('k')), {key: 'k', value: 'two'});
    await rejectsWith(client.take('k'), 'no item to take', 404);
    await rejectsWith(client.peek('k'), 'no item to peek', 404);
    const taken = await client.take();
    assert.deepEqual(pick(taken), {key: null, value: 'one'});
    assert.equal(typeof taken.id, 'string');
    assert.deepEqual(pick(await client.take(null)), {key: null, value: 'three'});
    await rejectsWith(client.take(), 'no item to take', 404);
  });

  test('info, verify and delete', async () => {
    const name = await queueCreate(url);
    const client = new QueueClient(url, name);
    await client.put(null, 'x');
    const info = await client.info();
    assert.equal(info.name, name);
    assert.equal(info.size, 1);
    await client.verify();
    await client.delete();
    await rejectsWith(client.verify(), 'queue does not exist', 404);
    await rejectsWith(client.delete(), 'queue does not exist', 404);
    await rejectsWith(client.put(null, 'y'), 'queue does not exist', 404);
  });

  test('a server that cannot be reached is a QueueException', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    await assert.rejects(queueList(nowhere), QueueException);
  });

  test('leases: take with a lease, release, touch, ack', async () => {
    const client = new QueueClient(url, await queueCreate(url));
    const id = await client.putItem('job');
    const first = await client.take(null, {lease: 30});
    assert.equal(first.id, id);
    assert.equal(first.attempts, 1);
    assert.equal(typeof first.lease_expires, 'number');
    assert.equal((await client.info()).in_flight, 1);
    await rejectsWith(client.take(), 'no item to take', 404);

    await client.release(id);
    const second = await client.take(null, {lease: 30});
    assert.equal(second.value, 'job');
    assert.equal(second.attempts, 2);

    const extended = await client.touch(id, 600);
    assert.ok(extended > (second.lease_expires ?? 0), `${extended} after ${second.lease_expires}`);
    await client.ack(id);
    const info = await client.info();
    assert.deepEqual([info.in_flight, info.size, info.acked], [0, 0, 1]);
    await rejectsWith(client.ack(id), 'no such lease', 404);
    await rejectsWith(client.touch(id, 5), 'no such lease', 404);
  });

  test('receipts: each delivery its own; an old one is refused; batches by receipt', async () => {
    const client = new QueueClient(url, await queueCreate(url));
    await client.putItem('job');
    const first = await client.take(null, {lease: 30});
    assert.equal(typeof first.receipt, 'string');
    await client.release(first);
    const second = await client.take(null, {lease: 30});
    assert.notEqual(second.receipt, first.receipt);
    await rejectsWith(client.ack(first), 'no such lease', 404);
    await rejectsWith(client.touch(first.receipt ?? '', 60), 'no such lease', 404);
    assert.equal((await client.info()).in_flight, 1);
    assert.ok((await client.touch(second, 60)) > (second.lease_expires ?? 0));
    await client.ack(second.receipt ?? '');

    await client.putMany([{value: 'a'}, {value: 'b'}, {value: 'c'}]);
    const items = await client.take(null, {lease: 30, count: 3});
    const touched = await client.touchMany(items, 90);
    assert.equal(touched.done, 3);
    assert.deepEqual(await client.releaseMany(items.slice(0, 2)), {done: 2, missing: []});
    assert.deepEqual(await client.ackMany([items[2], items[0]]), {done: 1, missing: [items[0].receipt]});
    assert.deepEqual((await client.take(null, {count: 2})).map((item) => item.value), ['a', 'b']);
    await assert.rejects(client.ackMany(['no-dot-so-an-id']), /by receipt, not by id/);
  });

  test('a queue created with a lease leases every take; options reach the server', async () => {
    const deadLetter = await queueCreate(url);
    const name = await queueCreate(url, undefined, undefined, {lease: 60, maxAttempts: 1, deadLetter, maxItems: 2});
    const client = new QueueClient(url, name);
    const info = await client.info();
    assert.deepEqual([info.lease, info.max_attempts, info.dead_letter, info.max_items], [60, 1, deadLetter, 2]);
    await client.put(null, 'a');
    await client.put(null, 'b');
    await rejectsWith(client.put(null, 'c'), 'queue is full', 429);
    const item = await client.take();
    assert.equal(typeof item.lease_expires, 'number');
    await client.release(item.id ?? '');
    assert.equal((await new QueueClient(url, deadLetter).take()).value, 'a');
  });

  test('batches: putMany stores all in order, take with count returns an array', async () => {
    const client = new QueueClient(url, await queueCreate(url));
    const ids = await client.putMany([{value: 'a'}, {value: 'b', key: 'k'}, {value: 'c'}]);
    assert.equal(ids.length, 3);
    const items = await client.take(null, {count: 2});
    assert.deepEqual(items.map(pick), [{key: null, value: 'a'}, {key: 'k', value: 'b'}]);
    assert.deepEqual(items.map((item) => item.id), ids.slice(0, 2));
    const rest = await client.take(null, {count: 10, lease: 30});
    assert.deepEqual(rest.map((item) => [item.value, item.attempts]), [['c', 1]]);
    assert.deepEqual(await client.take(null, {count: 10}), []);
    await rejectsWith(client.putMany([{value: 'ok'}, {value: 'x'.repeat(2 * 1024 * 1024)}]), 'items[1]: value too large', 400);
    assert.equal((await client.info()).size, 0);
  });

  test('long polling: a take with wait gets an item put while it waits', async () => {
    const client = new QueueClient(url, await queueCreate(url));
    const waiting = client.take(null, {wait: 30});
    await eventually(async () => (await client.info()).consumers === 1, 'the long poll waits');
    await client.put(null, 'late');
    assert.equal((await waiting).value, 'late');
    await rejectsWith(client.take(null, {wait: 0.1}), 'no item to take', 404);
  });

  test('put options: dedupId makes a retried put safe; delay hides the item; purge', async () => {
    const client = new QueueClient(url, await queueCreate(url));
    const id = await client.putItem('once', {dedupId: 'order-17', key: 'k'});
    assert.equal(await client.putItem('once', {dedupId: 'order-17', key: 'k'}), id);
    await client.putItem('later', {delay: 600, ttl: 3600});
    const info = await client.info();
    assert.deepEqual([info.size, info.delayed], [1, 1]);
    assert.equal(await client.purge(), 2);
    await rejectsWith(client.take(), 'no item to take', 404);
  });

  test('retryDelays, pause and resume, purge with inFlight', async () => {
    const client = new QueueClient(url, await queueCreate(url, undefined, undefined, {retryDelays: [5, 60]}));
    assert.deepEqual((await client.info()).retry_delays, [5, 60]);
    await client.putItem('one');
    await client.putItem('two');
    await client.take(null, {lease: 30});
    assert.equal((await client.pause()).paused, true);
    await rejectsWith(client.take(), 'no item to take', 404);
    assert.equal((await client.resume()).paused, false);
    assert.equal(await client.purge({inFlight: true}), 2);
    assert.equal((await client.info()).in_flight, 0);
  });

  test('redrive: dead letters carry dead_letter_from and go back', async () => {
    const letters = await queueCreate(url);
    const name = await queueCreate(url, undefined, undefined, {maxAttempts: 1, deadLetter: letters});
    const client = new QueueClient(url, name);
    await client.putItem('poison');
    await client.release(await client.take(null, {lease: 30}), 0);
    const dead = new QueueClient(url, letters);
    assert.equal((await dead.peek()).dead_letter_from, name);
    assert.equal(await dead.redrive(), 1);
    assert.equal((await client.take()).value, 'poison');
  });

  test('headers: putItem and putMany carry them, every take gives them back', async () => {
    const client = new QueueClient(url, await queueCreate(url));
    await client.putItem('h', {headers: {trace: 't-1', 'é': ''}});
    await client.putMany([{value: 'b', headers: {n: '2'}}, {value: 'plain', key: 'k'}]);
    assert.deepEqual((await client.peek()).headers, {trace: 't-1', 'é': ''});
    const taken = await client.take(null, {count: 3, lease: 30});
    assert.deepEqual(taken.map((item) => item.headers), [{trace: 't-1', 'é': ''}, {n: '2'}, undefined]);
    await rejectsWith(client.putItem('x', {headers: {'': 'v'}}),
      "invalid parameter 'headers': names must have 1 to 128 characters", 400);
  });

  test('priority: putItem and putMany take it, the highest is taken first', async () => {
    const client = new QueueClient(url, await queueCreate(url));
    await client.putItem('low');
    await client.putItem('high', {priority: 9});
    await client.putMany([{value: 'mid', priority: 4}]);
    const taken = await client.take(null, {count: 3});
    assert.deepEqual(taken.map((item) => [item.value, item.priority]),
      [['high', 9], ['mid', 4], ['low', undefined]]);
    await rejectsWith(client.putItem('x', {priority: 10}), "invalid parameter 'priority'", 400);
  });

  test('ordered: a group waits while its item is in flight; priority refused', async () => {
    const name = await queueCreate(url, undefined, undefined, {ordered: true});
    const client = new QueueClient(url, name);
    assert.equal((await client.info()).ordered, true);
    await client.putItem('a1', {key: 'a'});
    await client.putItem('a2', {key: 'a'});
    await client.putItem('b1', {key: 'b'});
    // A leased take gets one item of each free group: a2 waits while a1 is in flight.
    const taken = await client.take(null, {count: 3, lease: 30});
    assert.deepEqual(taken.map((item) => item.value), ['a1', 'b1']);
    await rejectsWith(client.take('a', {lease: 30}), 'no item to take', 404);
    await client.ackMany(taken.slice(0, 1));
    assert.equal((await client.take('a', {lease: 30})).value, 'a2');
    await rejectsWith(client.putItem('x', {priority: 1}), "invalid parameter 'priority'", 400);
    await rejectsWith(queueCreate(url, name, undefined, {ordered: false, lease: 5}),
      'queue exists with other settings', 409);
  });

  test('queue defaults, changeSettings (null clears), 409 on other settings', async () => {
    const name = await queueCreate(url, undefined, undefined, {delay: 600, ttl: 60, maxItems: 5});
    const client = new QueueClient(url, name);
    await client.putItem('later');
    assert.deepEqual([(await client.info()).delayed, (await client.info()).ttl], [1, 60]);
    const info = await client.changeSettings({delay: null, retryDelays: [3], lease: 20});
    assert.deepEqual([info.delay, info.retry_delays, info.lease, info.max_items], [null, [3], 20, 5]);
    await client.putItem('now');
    assert.equal((await client.take()).value, 'now');
    await rejectsWith(queueCreate(url, name, undefined, {maxItems: 6}), 'queue exists with other settings', 409);
  });
});

function pick(item: {key: string | null; value: string}): {key: string | null; value: string} {
  return {key: item.key, value: item.value};
}
