import { httpStatusFor, type ErrorBody } from '../core/broker-api/schema.js';
import { ClientError, SqlState, type ClientErrorFields } from '../core/client-errors.js';

/** A failure that tells the client when to try again (a held login, the rate limit). */
export class RetryLaterError extends ClientError {
  constructor(
    fields: ClientErrorFields,
    readonly retryAfterSeconds: number,
  ) {
    super(fields);
    this.name = 'RetryLaterError';
  }
}

/** A request the API refuses as malformed (08P01 → 400, unless the transport said otherwise: 413, 415). */
export function badRequest(message: string, hint?: string, detail?: string): ClientError {
  return new ClientError({
    sqlstate: SqlState.protocolViolation,
    message,
    ...(hint === undefined ? {} : { hint }),
    ...(detail === undefined ? {} : { detail }),
  });
}

/** The HTTP status and JSON body for a ClientError: the SQLSTATE and words the laptop relays unchanged. */
export function errorReply(e: ClientError, status: number = httpStatusFor(e.sqlstate)): { status: number; body: ErrorBody } {
  const retry = e instanceof RetryLaterError ? Math.max(1, Math.ceil(e.retryAfterSeconds)) : undefined;
  return {
    status,
    body: {
      error: {
        sqlstate: e.sqlstate,
        message: e.message,
        ...(e.detail === undefined ? {} : { detail: e.detail }),
        ...(e.hint === undefined ? {} : { hint: e.hint }),
        ...(retry === undefined ? {} : { retryAfterSeconds: retry }),
      },
    },
  };
}
