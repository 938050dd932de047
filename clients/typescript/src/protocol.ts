/**
 * The response envelope every answer of the server shares:
 * `{"success": bool, "message": string | null, "payload": any}` (docs/API.md).
 */

/** Every failure the client reports: a server answer, a network error, a closed connection. */
export class QueueException extends Error {
  /** The HTTP status of the answer, when the failure came from one. */
  readonly status?: number;

  constructor(message?: string, status?: number) {
    super(message);
    this.name = 'QueueException';
    if (status !== undefined) {
      this.status = status;
    }
  }
}

/** One decoded envelope, as the original client modelled it. */
export class ProtocolMessage {
  success: boolean;
  message?: string;
  _payload?: unknown;

  constructor(success: boolean, props: {message?: string; payload?: unknown}) {
    this.success = success;
    if (this.success) {
      this._payload = props.payload;
    } else {
      this.message = props.message;
    }
  }

  get isSuccessful(): boolean {
    return this.success;
  }

  get errorMessage(): string {
    if (this.success) {
      throw new QueueException('Attempted to access an undefined message.');
    }
    return this.message ?? '';
  }

  get payload(): unknown {
    if (!this.success) {
      throw new QueueException('Attempted to access an undefined payload.');
    }
    return this._payload;
  }

  /** Throw a `QueueException` carrying the server's message if this is a failure. */
  raiseOnError(status?: number): void {
    if (!this.success) {
      throw new QueueException(this.message, status);
    }
  }
}

/** Decode one envelope; anything that is not one is a `QueueException`. */
export function parse(data: string): ProtocolMessage {
  let protocol: unknown;
  try {
    protocol = JSON.parse(data);
  } catch (e) {
    throw new QueueException('Invalid protocol data: ' + (e as Error).message);
  }
  if (typeof protocol !== 'object' || protocol === null || !('success' in protocol)) {
    throw new QueueException('Invalid protocol data: not a response envelope');
  }
  const envelope = protocol as {success: unknown; message?: unknown; payload?: unknown};
  if (envelope.success === true) {
    return new ProtocolMessage(true, {payload: envelope.payload});
  }
  const message = typeof envelope.message === 'string' ? envelope.message : 'unknown error';
  return new ProtocolMessage(false, {message});
}
