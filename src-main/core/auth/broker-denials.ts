import { BrokerFailure } from '../broker-client/broker-failure.js';
import { ClientError, SqlState } from '../client-errors.js';
import { internalError } from './denials.js';

/**
 * What the client sees when signing in through the broker failed. The
 * broker's own answers (28P01, 28000, 57P03 directory unreachable, 08006
 * database unreachable, 53300 throttled, ...) are relayed unchanged: SQLSTATE,
 * message, detail and hint as the broker wrote them, so a client sees the same
 * as in direct mode. Pure: the caller logs.
 */
export function brokerDenial(e: unknown): ClientError {
  if (!(e instanceof BrokerFailure)) return internalError(e);
  const tried = e.details.tried.map((t) => t.reason).join('; ');
  switch (e.kind) {
    case 'answer': {
      const body = e.details.error;
      if (!body) return internalError(e);
      return new ClientError({
        sqlstate: body.sqlstate,
        message: body.message,
        ...(body.detail === undefined ? {} : { detail: body.detail }),
        ...(body.hint === undefined ? {} : { hint: body.hint }),
      });
    }
    case 'unreachable':
      return new ClientError({
        sqlstate: SqlState.cannotConnectNow,
        message: e.message,
        ...(tried ? { detail: tried } : {}),
        hint: 'Check your VPN or network connection and retry; `rolecall doctor` checks each broker URL. Other profiles keep working.',
        cause: e,
      });
    case 'certificate':
      return new ClientError({
        sqlstate: SqlState.connectionFailure,
        message: e.message,
        ...(tried ? { detail: tried } : {}),
        hint: 'The profile\'s broker.caFile must hold the CA that signed the broker\'s certificate, and the certificate must name the host in broker.urls (`rolecall profiles import --broker URL --ca FILE` sets both). Rolecall never skips this check.',
        cause: e,
      });
    case 'ca-file':
      return new ClientError({
        sqlstate: SqlState.connectionFailure,
        message: e.message,
        hint: 'Fix broker.caFile in the profile, or import the profile again with `rolecall profiles import --broker URL --ca FILE`.',
        cause: e,
      });
    case 'malformed':
      return new ClientError({
        sqlstate: SqlState.protocolViolation,
        message: e.message,
        hint: 'Check that broker.urls point at a Rolecall broker that speaks API v1; send Rolecall\'s log to your team.',
        cause: e,
      });
  }
}
