/**
 * Errors a PostgreSQL client can see. Every failure the proxy reports carries a
 * precise SQLSTATE and a message that tells the user what to do next. They are
 * made by the proxy and by authentication alike (core/auth), so they live
 * outside both.
 */
export const SqlState = {
  invalidPassword: '28P01',
  invalidAuthorization: '28000',
  cannotConnectNow: '57P03',
  connectionFailure: '08006',
  protocolViolation: '08P01',
  tooManyConnections: '53300',
  featureNotSupported: '0A000',
  invalidCatalogName: '3D000',
  adminShutdown: '57P01',
  internalError: 'XX000',
  /** A warning (NoticeResponse), not an error: the sign-in went through. */
  warning: '01000',
} as const;

export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState] | string;

export interface ClientErrorFields {
  sqlstate: SqlStateCode;
  message: string;
  detail?: string;
  hint?: string;
  severity?: 'FATAL' | 'ERROR';
}

/** An error meant for the client, sent as a FATAL ErrorResponse. */
export class ClientError extends Error {
  readonly sqlstate: SqlStateCode;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly severity: 'FATAL' | 'ERROR';
  /** Server-sent ErrorResponse bytes to relay verbatim instead of our own message. */
  readonly raw: Buffer | undefined;
  /** The directory's account name when it was found before the denial (for history). */
  account: string | undefined;

  constructor(fields: ClientErrorFields & { raw?: Buffer; cause?: unknown; account?: string }) {
    super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'ClientError';
    this.sqlstate = fields.sqlstate;
    this.detail = fields.detail;
    this.hint = fields.hint;
    this.severity = fields.severity ?? 'FATAL';
    this.raw = fields.raw;
    this.account = fields.account;
  }
}

/** The one message for wrong password, empty password and unknown user: no account enumeration. */
export function invalidCredentials(login: string): ClientError {
  return new ClientError({
    sqlstate: SqlState.invalidPassword,
    message: `password authentication failed for user "${login}"`,
    hint: 'Use your directory (Active Directory) account name and password.',
  });
}
