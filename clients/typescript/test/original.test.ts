/** A program written for the original client runs unchanged against this package and the
 * real server: test/fixtures/original-program.mjs, started as its own Node process. */
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {once} from 'node:events';
import path from 'node:path';
import {createInterface} from 'node:readline';
import {after, before, test} from 'node:test';

import {QueueClient, queueList} from 'disqueue';

import {AUTH, PACKAGE, Server} from './server';

const PROGRAM = path.join(PACKAGE, 'test', 'fixtures', 'original-program.mjs');

let server: Server;
before(async () => {
  server = await Server.start({auth: true});
});
after(async () => server.shutdown());

test('the README program of the original client handles three items and exits', async () => {
  const program = spawn(process.execPath, [PROGRAM], {
    cwd: PACKAGE,
    env: {...process.env, DISQUEUE_URL: server.url, ITEMS: '3'},
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  program.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(program, 'exit');
  const lines = createInterface({input: program.stdout})[Symbol.asyncIterator]();

  // It created the queue (there was none) and printed its name.
  const queueId = (await lines.next()).value as string;
  assert.deepEqual(await queueList(server.url, AUTH), [queueId], stderr);

  const producer = new QueueClient(server.url, queueId, AUTH);
  await producer.put('key', 'value');
  await producer.put(null, 'second');
  await producer.put('k3', 'third');
  await producer.put(null, 'left for later');

  const handled: string[] = [];
  for (let index = 0; index < 3; index += 1) {
    handled.push((await lines.next()).value as string);
  }
  assert.deepEqual(handled, ['key value', 'null second', 'k3 third']);
  // After socket.close() nothing keeps the process alive: it exits by itself, cleanly.
  const [code] = await exited;
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
  assert.equal((await producer.take()).value, 'left for later');
});
