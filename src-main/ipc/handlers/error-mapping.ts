import pg from 'pg';
import { ZodError } from 'zod';
import { brokerDenial } from '../../core/auth/broker-denials.js';
import { BrokerFailure } from '../../core/broker-client/broker-failure.js';
import { ClientError } from '../../core/client-errors.js';
import { DatabaseConfigError } from '../../core/database/connect.js';
import { DirectoryError } from '../../core/directory/errors.js';
import { ConfigLoadError } from '../../core/profiles/store.js';
import { toFieldErrors } from '../../core/profiles/schema.js';
import { ListenError } from '../../core/proxy/profile-proxy.js';
import { SecretStoreError } from '../../core/secrets/secret-store.js';
import { StartError } from '../../core/service.js';
import { SyncError } from '../../core/sync/sync-client.js';
import { isUnreachable } from '../../core/net-errors.js';
import type { IpcError } from '../contract.js';
import { HandlerError } from './handler-error.js';
import { SECRET_FIELD } from './profile-access.js';

/**
 * Turns whatever a handler threw into an error the UI can show: the most
 * precise code, the field it concerns, and the underlying code (SQLSTATE,
 * LDAP failure, errno) as detail.
 */
export function toIpcError(e: unknown, channel: string): IpcError {
  if (e instanceof HandlerError) return e.error;
  if (e instanceof ZodError) {
    return { code: 'invalid', message: 'some fields are not valid', fields: toFieldErrors(e) };
  }
  if (e instanceof SecretStoreError) {
    const code = e.code === 'unavailable' ? 'unavailable' : e.code === 'read-only' ? 'refused' : 'invalid';
    return { code, message: e.message, detail: e.code };
  }
  if (e instanceof ListenError) return listenError(e.message, e.code);
  if (e instanceof DatabaseConfigError) return { code: 'invalid', message: e.message, fields: [{ path: e.field, message: e.message }] };
  if (e instanceof StartError) return startError(e);
  if (e instanceof DirectoryError) return directoryError(e);
  if (e instanceof SyncError) return syncError(e);
  if (e instanceof BrokerFailure) return clientError(brokerDenial(e));
  if (e instanceof ClientError) return clientError(e);
  if (e instanceof ConfigLoadError) {
    return {
      code: 'failed',
      message: `the config file ${e.path} cannot be used (${e.message}): fix it in an editor, or move it aside to start over`,
    };
  }
  if (e instanceof pg.DatabaseError) return databaseError(e);
  const errno = (e as { code?: unknown } | null)?.code;
  if (typeof errno === 'string' && isUnreachable(errno)) {
    return { code: 'unavailable', message: `could not connect (${errno}): check the host, port and network`, detail: errno };
  }
  const text = e instanceof Error ? e.message : String(e);
  return {
    code: 'failed',
    message: `${channel} failed unexpectedly: ${text}. Try again; if it keeps failing, the log has details`,
  };
}

export function listenError(message: string, code: string): IpcError {
  if (code === 'EADDRINUSE') {
    return { code: 'conflict', message, detail: code, fields: [{ path: 'listen.port', message }] };
  }
  return { code: 'failed', message, detail: code, fields: [{ path: 'listen.port', message }] };
}

/** A proxy that could not start: the failures the user fixes in a field point at it. */
function startError(e: StartError): IpcError {
  switch (e.reason) {
    case 'port-in-use':
      return listenError(e.message, 'EADDRINUSE');
    case 'secret-missing':
      return {
        code: 'invalid',
        message: e.message,
        fields: [{ path: SECRET_FIELD[e.secret ?? 'ldap-bind'], message: 'not set: type it here and save' }],
      };
    case 'secret-unreadable':
      return { code: 'unavailable', message: e.message };
    default:
      return { code: 'failed', message: e.message };
  }
}

function directoryError(e: DirectoryError): IpcError {
  const detail = e.adCode ? `${e.failure} (AD ${e.adCode})` : e.failure;
  if (e.failure === 'unreachable' || e.failure === 'timeout') return { code: 'unavailable', message: e.message, detail };
  if (e.failure === 'failed' || e.failure === 'misconfigured') return { code: 'failed', message: e.message, detail };
  return { code: 'refused', message: e.message, detail };
}

function syncError(e: SyncError): IpcError {
  const detail = e.sqlstate ?? e.failure;
  switch (e.failure) {
    case 'unreachable':
      return { code: 'unavailable', message: e.message, detail };
    case 'auth':
    case 'permission':
    case 'refused':
    case 'no-roles':
      return { code: 'refused', message: e.message, detail };
    default:
      return { code: 'failed', message: e.message, detail };
  }
}

/**
 * What a client of the proxy would have been told (a broker's answer relayed
 * by brokerDenial, say): its message and hint, the SQLSTATE as the detail.
 */
export function clientError(e: ClientError): IpcError {
  const message = e.hint ? `${e.message}. ${e.hint}` : e.message;
  const s = e.sqlstate;
  const code = s === '28P01' || s === '28000' || s === '42501' || s === '53300' ? 'refused' : s === '57P03' || (s.startsWith('08') && s !== '08P01') ? 'unavailable' : s === '3D000' ? 'not-found' : 'failed';
  return { code, message, detail: s };
}

/** A server error: the SQLSTATE is the detail, the message says what to do where we know. */
export function databaseError(e: pg.DatabaseError): IpcError {
  const sqlstate = e.code ?? 'unknown';
  switch (sqlstate) {
    case '28P01':
      return { code: 'refused', message: `the database refused the login: wrong user name or password (${e.message})`, detail: sqlstate };
    case '28000':
      return { code: 'refused', message: `the database does not allow this login from here (${e.message}): check pg_hba.conf`, detail: sqlstate };
    case '42501':
      return { code: 'refused', message: `not allowed: ${e.message}. Use an administrator account (superuser, or the RDS master user)`, detail: sqlstate };
    case '3D000':
      return {
        code: 'invalid',
        message: e.message,
        detail: sqlstate,
        fields: [{ path: 'database.database', message: 'no such database on this server' }],
      };
    default:
      return { code: 'failed', message: `the database answered: ${e.message}`, detail: sqlstate };
  }
}
