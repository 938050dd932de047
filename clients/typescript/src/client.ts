/**
 * The HTTP side: `queueCreate`, `queueList` and `QueueClient`, with the original
 * client's names, signatures and return shapes, plus the Part 2 additions of
 * docs/API.md (leases, batches, long polling, put options, purge).
 */
import {ProtocolMessage, QueueException, parse} from './protocol';

/** Request parameters; `undefined` values are left out. */
export interface ParamsType {
  [key: string]: string | number | undefined;
}

/** An item as the server returns it (`id` and the lease fields are Part 2 additions). */
export interface QueueItem {
  key: string | null;
  value: string;
  /** The item's id. */
  id?: string;
  /** How many times the item has been delivered, this time included (leased takes). */
  attempts?: number;
  /** When the lease ends, Unix time in seconds (leased takes). */
  lease_expires?: number;
  /** What names this delivery's lease, for `ack`, `release` and `touch` (leased takes;
   * API.md Part 3): a later delivery of the same item has another. */
  receipt?: string;
  /** A dead letter: the queue it came from (`redrive` sends it back there). */
  dead_letter_from?: string;
  /** The item's headers, when it was put with some. */
  headers?: Record<string, string>;
  /** The item's priority (1-9), when it is not 0. */
  priority?: number;
}

/** What names a lease: a delivered item (its receipt is sent), or text: a receipt, or
 * an item id (Part 2: whatever lease the item has now). */
export type Lease = QueueItem | string;

/** What a batch ack, release or touch did: how many leases it ended (or extended), the
 * receipts that named no live lease, and for a touch the new end. */
export interface Settled {
  done: number;
  missing: string[];
  lease_expires?: number | null;
}

/** The parameter that names `lease`: `receipt` whenever there is one (item ids never
 * contain a dot; receipts always do). */
export function leaseParams(lease: Lease): {receipt: string} | {id: string} {
  if (typeof lease === 'string') {
    return lease.includes('.') ? {receipt: lease} : {id: lease};
  }
  if (lease.receipt !== undefined) return {receipt: lease.receipt};
  if (lease.id === undefined) throw new QueueException('this item was not delivered with a lease');
  return {id: lease.id};
}

function receipts(leases: Lease[]): string[] {
  return leases.map((lease) => {
    const named = leaseParams(lease);
    if (!('receipt' in named)) {
      throw new QueueException(`a batch names leases by receipt, not by id (${named.id})`);
    }
    return named.receipt;
  });
}

/** `POST /queue`'s answer: `name`, and on this server the queue's counters and settings. */
export interface QueueInfo {
  name: string;
  size?: number;
  delayed?: number;
  in_flight?: number;
  consumers?: number;
  created?: string;
  put?: number;
  taken?: number;
  acked?: number;
  expired?: number;
  dead_lettered?: number;
  /** Seconds an item waits after its n-th failed delivery (API.md Part 3). */
  retry_delays?: number[] | null;
  /** Paused: puts are taken, nothing is delivered. */
  paused?: boolean;
  /** Ordered: each key a group, delivered in put order, one group in flight at a time. */
  ordered?: boolean;
  [setting: string]: unknown;
}

/** HTTP Basic credentials: `[user, password]`. */
export type QueueAuthentication = [string, string];

/** Settings of a new queue (`POST /queues`, API.md Part 2). */
export interface QueueOptions {
  /** Default lease in seconds for every take from the queue. */
  lease?: number;
  /** Deliveries before an item goes to `deadLetter` (or is dropped). */
  maxAttempts?: number;
  /** The queue that receives items that failed `maxAttempts` times. */
  deadLetter?: string;
  /** Refuse puts (429 `queue is full`) beyond this many items. */
  maxItems?: number;
  /** Seconds an item waits after its n-th delivery ended without an ack (up to 10). */
  retryDelays?: number[];
  /** Delay of items put without their own, seconds. */
  delay?: number;
  /** Ttl of items put without their own, seconds. */
  ttl?: number;
  /** Each key a group: its items delivered in put order, none while one of them is in
   * flight (API.md Part 3, "Ordered keys"); a priority is refused there. Fixed for good. */
  ordered?: boolean;
}

/** A change of settings (`POST /queue/settings`): `null` clears a setting (`ordered`
 * never changes). */
export type SettingsChange = {[K in Exclude<keyof QueueOptions, 'ordered'>]?: QueueOptions[K] | null};

/** The form of a queue's settings (`POST /queues`; `POST /queue/settings` with `clearing`,
 * where `null` or an empty list is sent empty, which clears the setting). */
function settingsParams(options: SettingsChange | QueueOptions, clearing = false): ParamsType {
  const wire: Record<string, unknown> = {
    lease: options.lease,
    max_attempts: options.maxAttempts,
    dead_letter: options.deadLetter,
    max_items: options.maxItems,
    retry_delays: options.retryDelays?.length ? options.retryDelays.join(',') : options.retryDelays,
    delay: options.delay,
    ttl: options.ttl,
    ordered: 'ordered' in options && options.ordered ? '1' : undefined,
  };
  const params: ParamsType = {};
  for (const [name, value] of Object.entries(wire)) {
    if (value === null || (Array.isArray(value) && value.length === 0)) {
      if (clearing) params[name] = '';
    } else if (value !== undefined) {
      params[name] = String(value);
    }
  }
  return params;
}

/** Options of a take: a lease (at-least-once), a long-poll wait, a batch count. */
export interface TakeOptions {
  /** Keep the item in flight for this many seconds until `ack`. */
  lease?: number;
  /** With no item ready, wait up to this many seconds (≤ 60) for one. */
  wait?: number;
  /** Take up to this many items (≤ 1000); the answer is then an array. */
  count?: number;
}

/** Options of a put (API.md Part 2). */
export interface PutOptions {
  key?: string | null;
  /** Seconds before the item becomes visible. */
  delay?: number;
  /** Seconds the item may stay queued before it is dropped. */
  ttl?: number;
  /** A retried put with the same id within 5 minutes stores nothing. */
  dedupId?: string;
  /** String headers the item carries to every take (at most 16, names of 1-128
   * characters, 8 KiB in all); sent as JSON text. */
  headers?: Record<string, string>;
  /** 0-9 (default 0): a take returns the oldest item of the highest priority. */
  priority?: number;
}

/** One item of a batch put. */
export interface BatchItem {
  value: string;
  key?: string | null;
  headers?: Record<string, string>;
  priority?: number;
}

/** A client of one queue over HTTP. */
export class QueueClient {
  url: string;
  queueId: string;
  auth?: QueueAuthentication;

  constructor(url: string, queueId: string, auth?: QueueAuthentication) {
    this.url = url;
    this.queueId = queueId;
    this.auth = auth;
  }

  /** Put one item (the original call). Use `putItem` for its id and the Part 2 options. */
  async put(key: string | null, value: string): Promise<void> {
    await this.putItem(value, {key});
  }

  /** Put one item with options; resolves to the item's id. */
  async putItem(value: string, options: PutOptions = {}): Promise<string> {
    const payload = await this._call('/put', {
      value,
      key: options.key ?? undefined,
      delay: options.delay,
      ttl: options.ttl,
      dedup_id: options.dedupId,
      headers: options.headers ? JSON.stringify(options.headers) : undefined,
      priority: options.priority,
    });
    return (payload as {id: string}).id;
  }

  /** Put up to 1000 items in one request: all are stored or none. Resolves to their ids. */
  async putMany(items: BatchItem[]): Promise<string[]> {
    const body = {
      name: this.queueId,
      items: items.map(({value, key, headers, priority}) => ({
        value,
        ...(key == null ? {} : {key}),
        ...(headers ? {headers} : {}),
        ...(priority ? {priority} : {}),
      })),
    };
    return (await this._json<{ids: string[]}>('/put', body)).ids;
  }

  /**
   * Take the oldest item (with `key`: the oldest with that key). Rejects with
   * `QueueException('no item to take')` when there is none. With `options.count` it
   * resolves to an array of up to `count` items (empty when there are none).
   */
  take(key?: string | null): Promise<QueueItem>;
  take(key: string | null, options: TakeOptions & {count: number}): Promise<QueueItem[]>;
  take(key: string | null, options: TakeOptions): Promise<QueueItem>;
  async take(key: string | null = null, options: TakeOptions = {}): Promise<QueueItem | QueueItem[]> {
    const payload = await this._call('/take', {
      key: key ?? undefined,
      lease: options.lease,
      wait: options.wait,
      count: options.count,
    });
    return payload as QueueItem | QueueItem[];
  }

  /** The item `take` would return, left in the queue. */
  async peek(key: string | null = null): Promise<QueueItem> {
    return (await this._call('/peek', {key: key ?? undefined})) as QueueItem;
  }

  /** Remove a leased item (the item taken, or its receipt) for good: the work is done.
   * Rejects with `no such lease` if that delivery's lease is no longer live. */
  async ack(lease: Lease): Promise<void> {
    await this._call('/ack', leaseParams(lease));
  }

  /** Give a leased item back to the front of the queue, now or after `delay` seconds. */
  async release(lease: Lease, delay?: number): Promise<void> {
    await this._call('/release', {...leaseParams(lease), delay});
  }

  /** Extend a lease to `seconds` from now; resolves to the new end (Unix seconds). */
  async touch(lease: Lease, seconds: number): Promise<number> {
    const payload = await this._call('/touch', {...leaseParams(lease), lease: seconds});
    return (payload as {lease_expires: number}).lease_expires;
  }

  /** Acknowledge up to 1000 leased items at once, by receipt. */
  async ackMany(leases: Lease[]): Promise<Settled> {
    return this._json('/ack', {receipts: receipts(leases)});
  }

  /** Give up to 1000 leased items back, keeping their order at the front. */
  async releaseMany(leases: Lease[], delay?: number): Promise<Settled> {
    return this._json('/release', {receipts: receipts(leases), delay});
  }

  /** Extend up to 1000 leases to `seconds` from now. */
  async touchMany(leases: Lease[], seconds: number): Promise<Settled> {
    return this._json('/touch', {receipts: receipts(leases), lease: seconds});
  }

  private async _json<T>(path: string, body: Record<string, unknown>): Promise<T> {
    const text = JSON.stringify({name: this.queueId, ...body});
    const message = await _send(this.url, path, 'POST', this.auth, text, {
      'Content-Type': 'application/json',
    });
    return message.payload as T;
  }

  /** Drop every ready and delayed item (with `inFlight`, those in flight too); resolves to how many. */
  async purge(options: {inFlight?: boolean} = {}): Promise<number> {
    const params = options.inFlight ? {in_flight: '1'} : {};
    return ((await this._call('/purge', params)) as {purged: number}).purged;
  }

  /**
   * Send dead letters back, oldest first: to `to`, or to the queue each came from
   * (`dead_letter_from`), attempts reset; resolves to how many moved.
   */
  async redrive(options: {to?: string; count?: number} = {}): Promise<number> {
    const params = {to: options.to, count: options.count};
    return ((await this._call('/redrive', params)) as {moved: number}).moved;
  }

  /** Change some settings at once (`null` clears one); resolves to the queue's information. */
  async changeSettings(change: SettingsChange): Promise<QueueInfo> {
    return (await this._call('/queue/settings', settingsParams(change, true))) as QueueInfo;
  }

  /** Stop deliveries (puts go on, leases in flight run on); resolves to the queue's information. */
  async pause(): Promise<QueueInfo> {
    return (await this._call('/pause', {})) as QueueInfo;
  }

  /** Deliver again after `pause`; resolves to the queue's information. */
  async resume(): Promise<QueueInfo> {
    return (await this._call('/resume', {})) as QueueInfo;
  }

  async delete(): Promise<void> {
    await this._call('/queue', {}, 'DELETE');
  }

  async info(): Promise<QueueInfo> {
    return (await this._call('/queue', {})) as QueueInfo;
  }

  /** Rejects with `QueueException` unless the queue exists (and the credentials work). */
  async verify(): Promise<void> {
    await this.info();
  }

  async _request(path: string, params: ParamsType, method = 'POST'): Promise<ProtocolMessage> {
    return _request(this.url, path, method, {...params, name: this.queueId}, this.auth);
  }

  async _call(path: string, params: ParamsType, method = 'POST'): Promise<unknown> {
    const message = await this._request(path, params, method);
    return message.payload;
  }
}

/**
 * Create a queue; resolves to its name. With `name`, the queue of that name (created
 * if needed; the server returns an existing one unchanged).
 */
export async function queueCreate(
  url: string,
  name?: string,
  auth?: QueueAuthentication,
  options: QueueOptions = {},
): Promise<string> {
  const message = await _request(
    url,
    '/queues',
    'POST',
    {name, ...settingsParams(options)},
    auth,
  );
  return message.payload as string;
}

/** The names of every queue, oldest first. */
export async function queueList(url: string, auth?: QueueAuthentication): Promise<Array<string>> {
  const message = await _request(url, '/queues', 'GET', {}, auth);
  return message.payload as Array<string>;
}

/** One form-encoded request; resolves to a successful envelope, rejects otherwise. */
export async function _request(
  url: string,
  path: string,
  method: string,
  params: ParamsType,
  auth?: QueueAuthentication,
): Promise<ProtocolMessage> {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) {
      form.append(name, String(value));
    }
  }
  return _send(url, path, method, auth, method === 'GET' ? undefined : form);
}

async function _send(
  url: string,
  path: string,
  method: string,
  auth: QueueAuthentication | undefined,
  body: string | URLSearchParams | undefined,
  headers: Record<string, string> = {},
): Promise<ProtocolMessage> {
  let status: number;
  let text: string;
  const address = _urlJoin(url, path);
  try {
    const response = await fetch(address, {
      method,
      body,
      headers: {..._authenticationHeader(auth), ...headers},
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    throw _unreachable(address, error);
  }
  const message = parse(text);
  message.raiseOnError(status);
  return message;
}

/**
 * A network failure as the client's error: `cannot reach <URL>: <cause>`, the cause being
 * what Node's `fetch` keeps in `error.cause` ("connect ECONNREFUSED 127.0.0.1:3682"), not
 * its bare "fetch failed". The original error stays in `cause`.
 */
export function _unreachable(address: string, error: unknown): QueueException {
  const outer = error instanceof Error ? error : new Error(String(error));
  const inner: unknown = outer.cause;
  const reason = inner instanceof Error ? inner.message || (inner as {code?: string}).code : undefined;
  const exception = new QueueException(`cannot reach ${address}: ${reason ?? outer.message}`);
  Object.defineProperty(exception, 'cause', {value: error, enumerable: false});
  return exception;
}

/** The `Authorization` header for `auth`, or none. */
export function _authenticationHeader(auth?: QueueAuthentication): Record<string, string> {
  if (auth === undefined) {
    return {};
  }
  const encoded = Buffer.from(`${auth[0]}:${auth[1]}`).toString('base64');
  return {Authorization: `Basic ${encoded}`};
}

/** `url` and `path` joined with exactly one slash. */
export function _urlJoin(url: string, path: string): string {
  if (url.endsWith('/') && path.startsWith('/')) {
    return url + path.slice(1);
  }
  if (url !== '' && path !== '' && !url.endsWith('/') && !path.startsWith('/')) {
    return `${url}/${path}`;
  }
  return url + path;
}
