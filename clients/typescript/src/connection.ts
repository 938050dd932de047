/**
 * One WebSocket to `/take/ws` that reopens itself with exponential backoff.
 *
 * It sorts the server's frames: deliveries go to `delivery`, replies to `op`
 * messages settle the promise `request` returned, and every other error frame
 * goes to `error`. Its owner re-sends its wants from `open`, which runs on the
 * first connection and on every reconnection.
 */
import {randomUUID} from 'node:crypto';
import WebSocket from 'ws';

import {QueueAuthentication, QueueItem, _authenticationHeader} from './client';
import {QueueException} from './protocol';

/** How a lost connection is reopened: after `initialDelay` ms, then `factor` times longer each
 * failed attempt, at most `maxDelay` ms (each delay is randomised down to half, so that many
 * clients do not come back at the same instant). */
export interface ReconnectOptions {
  initialDelay?: number;
  maxDelay?: number;
  factor?: number;
}

/** What a connection tells its owner. */
export interface ConnectionEvents {
  /** Connected (again): send the wants. */
  open(): void;
  /** An item for the want `identifier`. */
  delivery(identifier: string, item: QueueItem): void;
  /** An error frame that answers no `request` (`identifier`: the want it names, if any),
   * or a refused upgrade. */
  error(error: QueueException, identifier?: string): void;
  /** The connection dropped; every want on it is gone (it may reopen). */
  lost(): void;
  /** The connection is closed for good. */
  ended(): void;
}

type Frame = {success?: unknown; message?: unknown; payload?: unknown};
type Pending = {resolve(payload: Record<string, unknown>): void; reject(error: Error): void};

const DEFAULTS: Required<ReconnectOptions> = {initialDelay: 100, maxDelay: 5000, factor: 2};

/** Close codes that mean "closed on purpose": the connection is not reopened. */
const NORMAL_CLOSE = new Set([1000, 1005]);

/** The `/take/ws` address of the server at `url` (http → ws, https → wss). */
export function webSocketAddress(url: string): string {
  const parsed = new URL(url);
  parsed.protocol = parsed.protocol === 'https:' ? 'wss:' : 'ws:';
  parsed.pathname = parsed.pathname.replace(/\/?$/, '/take/ws');
  parsed.search = '';
  parsed.hash = '';
  return parsed.toString();
}

export class Connection {
  /** The current socket (the last one, while waiting to reconnect). */
  socket?: WebSocket;
  private readonly reconnect: Required<ReconnectOptions> | false;
  private readonly pending = new Map<string, Pending>();
  private stopped = false;
  private finished = false;
  private attempt = 0;
  private timer?: NodeJS.Timeout;
  private readonly endedPromise: Promise<void>;
  private markEnded!: () => void;

  constructor(
    private readonly url: string,
    private readonly auth: QueueAuthentication | undefined,
    reconnect: ReconnectOptions | false | undefined,
    private readonly events: ConnectionEvents,
  ) {
    this.reconnect = reconnect === false ? false : {...DEFAULTS, ...reconnect};
    this.endedPromise = new Promise((resolve) => {
      this.markEnded = resolve;
    });
  }

  /** Open the first socket. */
  start(): void {
    const socket = new WebSocket(webSocketAddress(this.url), {
      headers: _authenticationHeader(this.auth),
    });
    this.socket = socket;
    socket.on('open', () => {
      this.attempt = 0;
      this.events.open();
    });
    socket.on('message', (data: WebSocket.RawData) => this.receive(data.toString()));
    socket.on('error', (error: Error) => this.failed(error));
    socket.on('close', (code: number) => this.closed(code));
  }

  get isOpen(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Send one message if connected; false when it could not be sent. */
  send(message: object): boolean {
    if (!this.isOpen || this.socket === undefined) {
      return false;
    }
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Send an `op` message and resolve to the reply's payload (rejects on an error reply). */
  request(message: {op: string; queue: string; [field: string]: unknown}): Promise<Record<string, unknown>> {
    const identifier = randomUUID();
    return new Promise((resolve, reject) => {
      if (!this.send({...message, identifier})) {
        reject(new QueueException('not connected'));
        return;
      }
      this.pending.set(identifier, {resolve, reject});
    });
  }

  /** Close for good; resolves once the socket is closed. */
  close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const state = this.socket?.readyState;
    if (state === WebSocket.OPEN || state === WebSocket.CONNECTING) {
      this.socket?.close(1000);
    } else if (state !== WebSocket.CLOSING) {
      this.end();
    }
    return this.endedPromise;
  }

  private receive(text: string): void {
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      this.events.error(new QueueException('Invalid protocol data: ' + text.slice(0, 100)));
      return;
    }
    const payload = (typeof frame.payload === 'object' && frame.payload) || {};
    const identifier = (payload as {id?: unknown}).id;
    const id = identifier === undefined ? undefined : String(identifier);
    if (frame.success === true && 'item' in payload) {
      this.events.delivery(id ?? '', (payload as {item: QueueItem}).item);
      return;
    }
    if (frame.success === true && Array.isArray((payload as {items?: unknown}).items)) {
      // several items of a want that asked for `frames: 'batch'`, in their order
      for (const item of (payload as {items: QueueItem[]}).items) {
        this.events.delivery(id ?? '', item);
      }
      return;
    }
    const waiting = id === undefined ? undefined : this.pending.get(id);
    const message = typeof frame.message === 'string' ? frame.message : 'unknown error';
    if (waiting !== undefined && id !== undefined) {
      this.pending.delete(id);
      if (frame.success === true) {
        waiting.resolve(payload as Record<string, unknown>);
      } else {
        waiting.reject(new QueueException(message));
      }
    } else if (frame.success !== true) {
      this.events.error(new QueueException(message), id);
    }
  }

  private failed(error: Error): void {
    // A refused upgrade is final: retrying with the same credentials cannot help. Other
    // errors (refused connection, reset) are followed by 'close', which reconnects.
    const refused = /Unexpected server response: (\d+)/.exec(error.message);
    if (refused !== null && ['401', '403', '404'].includes(refused[1] ?? '')) {
      this.stopped = true;
      const address = webSocketAddress(this.url);
      this.events.error(new QueueException(`websocket ${address} refused: ${refused[1]}`, Number(refused[1])));
    }
  }

  private closed(code: number): void {
    for (const waiting of this.pending.values()) {
      waiting.reject(new QueueException('connection closed'));
    }
    this.pending.clear();
    this.events.lost();
    if (this.stopped || this.reconnect === false || NORMAL_CLOSE.has(code)) {
      this.end();
      return;
    }
    const {initialDelay, maxDelay, factor} = this.reconnect;
    const delay = Math.min(maxDelay, initialDelay * factor ** this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => this.start(), delay * (0.5 + Math.random() / 2));
  }

  private end(): void {
    if (this.finished) {
      return;
    }
    this.finished = true;
    this.stopped = true;
    this.events.ended();
    this.markEnded();
  }
}
