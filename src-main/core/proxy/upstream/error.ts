import { SqlState } from '../../client-errors.js';

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
