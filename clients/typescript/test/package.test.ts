/** The package as another project gets it: `npm pack` of a copy of the sources (its
 * `prepare` script builds dist/), the tarball installed into a fresh folder, and an ES
 * module, a CommonJS and a TypeScript program run from there against the real server. */
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {promisify} from 'node:util';
import {after, before, describe, test} from 'node:test';

import {PACKAGE, Server, freePort} from './server';

const run = promisify(execFile);

/** The same program in both module systems: the original API, a leased consume loop, and
 * the error of a server that is not there. */
const PROGRAM = `
  const url = process.env.DISQUEUE_URL;
  const queue = await queueCreate(url);
  const client = new QueueClient(url, queue);
  await client.put('k', 'from-the-tarball');
  const consumer = new Disqueue(url);
  for await (const item of consumer.consume(queue, {lease: 30})) {
    console.log(item.key, item.value);
    await item.ack();
    break;
  }
  await consumer.close();
  console.log((await client.info()).size, (await queueList(url)).includes(queue));
  try {
    await queueList(process.env.NOWHERE);
  } catch (error) {
    console.log(error instanceof QueueException, error.message);
  }
`;

const ESM = `import {Disqueue, QueueClient, QueueException, queueCreate, queueList} from 'disqueue';
${PROGRAM}`;

const CJS = `const {Disqueue, QueueClient, QueueException, queueCreate, queueList} = require('disqueue');
(async () => {
${PROGRAM}
})().catch((error) => { console.error(error); process.exit(1); });`;

/** Typed use of the installed declarations (dist/*.d.ts), checked with strict tsc. */
const TYPED = `import {Disqueue, QueueClient, QueueException, type QueueItem} from 'disqueue';
const client: QueueClient = new QueueClient('http://127.0.0.1:3682', 'q');
const taken: Promise<QueueItem> = client.take();
const error: QueueException = new QueueException('x', 400);
const status: number | undefined = error.status;
void new Disqueue('http://127.0.0.1:3682').close();
void taken; void status;
`;

describe('the npm tarball', () => {
  let server: Server;
  let work: string;
  let app: string;
  let tarball: string;
  let nowhere: string;

  before(async () => {
    server = await Server.start();
    nowhere = `http://127.0.0.1:${await freePort()}`;
    work = mkdtempSync(path.join(tmpdir(), 'disqueue-pack-'));
    // A copy without dist/, as a git clone or a folder dependency has it.
    const source = path.join(work, 'source');
    for (const name of ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md', 'src']) {
      cpSync(path.join(PACKAGE, name), path.join(source, name), {recursive: true});
    }
    symlinkSync(path.join(PACKAGE, 'node_modules'), path.join(source, 'node_modules'));
    const packed = await run('npm', ['pack', '--silent', '--pack-destination', work], {cwd: source});
    tarball = path.join(work, packed.stdout.trim().split('\n').pop() ?? '');
    app = path.join(work, 'app');
    cpSync(path.join(PACKAGE, 'test', 'fixtures', 'app-package.json'), path.join(app, 'package.json'));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], {cwd: app});
  });
  after(async () => {
    await server.shutdown();
    rmSync(work, {recursive: true, force: true});
  });

  test('holds the built dist/ with its type declarations (prepare built them)', async () => {
    const listing = (await run('tar', ['-tzf', tarball])).stdout.split('\n');
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/consume.d.ts', 'package.json']) {
      assert.ok(listing.includes(`package/${file}`), `${file} missing: ${listing.join(' ')}`);
    }
    assert.ok(!listing.some((file) => file.startsWith('package/test/')), listing.join(' '));
  });

  for (const [kind, file, code] of [
    ['an ES module', 'program.mjs', ESM],
    ['a CommonJS program', 'program.cjs', CJS],
  ]) {
    test(`${kind} runs from the installed package; an unreachable server's error names the URL and cause`, async () => {
      writeFileSync(path.join(app, file), code);
      const env = {...process.env, DISQUEUE_URL: server.url, NOWHERE: nowhere};
      const {stdout} = await run(process.execPath, [file], {cwd: app, env, timeout: 20_000});
      assert.deepEqual(stdout.trim().split('\n'), [
        'k from-the-tarball',
        '0 true',
        `true cannot reach ${nowhere}/queues: connect ECONNREFUSED ${nowhere.slice('http://'.length)}`,
      ]);
    });
  }

  test('a strict TypeScript program type-checks against the installed declarations', async () => {
    writeFileSync(path.join(app, 'typed.mts'), TYPED);
    const tsc = path.join(PACKAGE, 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = ['--noEmit', '--strict', '--module', 'nodenext', '--target', 'es2022'];
    await run(process.execPath, [tsc, ...flags, 'typed.mts'], {cwd: app});
  });
});
