import { type AlertName, alertName } from './wire/alert.js';

/**
 * Stable error codes. A handshake failure carries the name of the alert it sent or received
 * (RFC 5246 §7.2); the rest name what happened locally.
 */
export type DtlsErrorCode =
  | AlertName
  | 'timeout'
  | 'aborted'
  | 'closed'
  | 'not_connected'
  | 'socket_error'
  | 'invalid_argument'
  | 'limit_exceeded';

/**
 * Every failure the library reports. `code` is stable and meant for programs; `message` is for people.
 * `alertSent`/`alertReceived` tell which side ended the handshake.
 */
export class DtlsError extends Error {
  override name = 'DtlsError';
  readonly code: DtlsErrorCode | string;
  readonly alertSent: boolean;
  readonly alertReceived: boolean;

  constructor(
    code: DtlsErrorCode | string,
    message: string,
    opts: { alertSent?: boolean; alertReceived?: boolean; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.alertSent = opts.alertSent ?? false;
    this.alertReceived = opts.alertReceived ?? false;
  }

  static fromAlert(description: number, received: boolean, message?: string): DtlsError {
    const name = alertName(description);
    return new DtlsError(name, message ?? (received ? `peer sent alert ${name}` : name), {
      alertReceived: received,
      alertSent: !received,
    });
  }
}

/**
 * Thrown inside the handshake to end it with a fatal alert. The engine catches it, sends the alert
 * (RFC 5246 §7.2.2: fatal alerts end the connection) and reports a DtlsError with the same code.
 */
export class HandshakeFailure extends Error {
  override name = 'HandshakeFailure';
  constructor(
    readonly alert: AlertName,
    message: string,
  ) {
    super(message);
  }
}
