import { ClientError, SqlState } from '../../client-errors.js';
import { addressOf } from '../../database/endpoint.js';

export type UpstreamErrorKind = 'server' | 'unreachable' | 'tls' | 'timeout' | 'protocol' | 'unsupported-auth';

export interface UpstreamErrorFields {
  severity?: string;
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
}

/** Default SQLSTATE per kind: what a client sees when we report the failure ourselves. */
const DEFAULT_SQLSTATE: Record<UpstreamErrorKind, string> = {
  server: SqlState.connectionFailure,
  unreachable: SqlState.connectionFailure,
  tls: SqlState.connectionFailure,
  timeout: SqlState.connectionFailure,
  protocol: SqlState.protocolViolation,
  'unsupported-auth': SqlState.invalidAuthorization,
};

/**
 * Why the proxy could not open its upstream (proxy → PostgreSQL) connection.
 * For kind 'server', `raw` holds the server's ErrorResponse so the proxy can
 * relay it verbatim (28P01, 3D000, hba rejections...).
 */
export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  readonly sqlstate: string;
  readonly raw?: Buffer;
  readonly fields?: UpstreamErrorFields;

  constructor(
    kind: UpstreamErrorKind,
    message: string,
    options: { sqlstate?: string; raw?: Buffer; fields?: UpstreamErrorFields; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpstreamError';
    this.kind = kind;
    this.sqlstate = options.sqlstate ?? DEFAULT_SQLSTATE[kind];
    if (options.raw !== undefined) this.raw = options.raw;
    if (options.fields !== undefined) this.fields = options.fields;
  }
}

/**
 * What the client sees when the server login failed: the server's own
 * ErrorResponse verbatim (28P01, 3D000, pg_hba rejections...), else 08006
 * naming the database and what to check.
 */
export function upstreamFailure(e: unknown, database: { host: string; port: number }): ClientError {
  if (e instanceof ClientError) return e;
  if (e instanceof UpstreamError && e.kind === 'server' && e.raw) {
    return new ClientError({ sqlstate: e.sqlstate, message: e.fields?.message ?? 'server error', raw: e.raw });
  }
  return new ClientError({
    sqlstate: e instanceof UpstreamError && e.kind !== 'server' ? e.sqlstate : SqlState.connectionFailure,
    message: `could not connect to the database at ${addressOf(database)}: ${e instanceof Error ? e.message : String(e)}`,
    hint: 'Check your VPN or network, and the profile\'s database host, port and sslmode.',
    cause: e,
  });
}
