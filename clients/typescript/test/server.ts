/**
 * The real server for the tests: `python -m disqueue -c CONFIG` from the repository's
 * .venv, on a free port, in a temporary folder (as tests/e2e/helpers.py does it).
 */
import {ChildProcess, spawn} from 'node:child_process';
import {once} from 'node:events';
import {closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {createServer} from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';

/** The package folder (this file runs from build-test/test/). */
export const PACKAGE = path.resolve(__dirname, '..', '..');
const PYTHON = process.env.DISQUEUE_PYTHON ?? path.resolve(PACKAGE, '..', '..', '.venv', 'bin', 'python');
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

/** The user of the password file when a server requires authentication. */
export const AUTH: [string, string] = ['test', 'test'];

export interface ServerOptions {
  /** Require HTTP Basic auth (user test:test, a `$plain$` password file). */
  auth?: boolean;
  /** `memory` (default) or `sqlite` (items survive a restart). */
  storage?: 'memory' | 'sqlite';
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  if (address === null || typeof address === 'string') {
    throw new Error('no port');
  }
  return address.port;
}

/** Poll `check` until it returns something other than undefined/false, or fail. */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result !== undefined && result !== false) {
      return result;
    }
    if (Date.now() > deadline) {
      throw new Error(`not within ${timeoutMs} ms: ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export class Server {
  readonly url: string;
  private proc?: ChildProcess;

  private constructor(
    readonly directory: string,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Write a config into a new temporary folder and start the server on a free port. */
  static async start(options: ServerOptions = {}): Promise<Server> {
    const directory = mkdtempSync(path.join(tmpdir(), 'disqueue-ts-'));
    const server = new Server(directory, await freePort());
    const listener: Record<string, unknown> = {hostname: '127.0.0.1', port: server.port};
    const config: Record<string, unknown> = {
      servers: [listener],
      storage: options.storage === 'sqlite' ? {type: 'sqlite', path: 'data/disqueue.db'} : {type: 'memory'},
    };
    if (options.auth) {
      listener.authentication = 'default';
      config.authentication = {default: {type: 'plaintext', file: 'passwords'}};
      writeFileSync(path.join(directory, 'passwords'), `${AUTH[0]}:$plain$${AUTH[1]}\n`);
    }
    writeFileSync(path.join(directory, 'config.json'), JSON.stringify(config, null, 2));
    await server.launch();
    return server;
  }

  /** Start the process (again, on the same port and folder) and wait until it answers. */
  async launch(): Promise<void> {
    const out = openSync(path.join(this.directory, 'server.stdout'), 'a');
    const err = openSync(path.join(this.directory, 'server.stderr'), 'a');
    const proc = spawn(PYTHON, ['-m', 'disqueue', '-c', path.join(this.directory, 'config.json')], {
      cwd: this.directory,
      stdio: ['ignore', out, err],
    });
    closeSync(out);
    closeSync(err);
    this.proc = proc;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (proc.exitCode !== null) {
        throw new Error(`server exited with ${proc.exitCode} before it was ready\n${this.output()}`);
      }
      try {
        if ((await fetch(`${this.url}/health`)).status === 200) {
          return;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`server not ready within ${READY_TIMEOUT_MS} ms\n${this.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGTERM (WebSocket consumers get 1001), and wait for the exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) {
      return;
    }
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Stop and start again on the same port, with the same storage. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stop, and remove the folder. */
  async shutdown(): Promise<void> {
    await this.stop();
    rmSync(this.directory, {recursive: true, force: true});
  }

  output(): string {
    const read = (name: string): string => {
      try {
        return readFileSync(path.join(this.directory, name), 'utf8');
      } catch {
        return '';
      }
    };
    return `--- stdout ---\n${read('server.stdout')}\n--- stderr ---\n${read('server.stderr')}`;
  }
}
