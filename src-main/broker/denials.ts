import { ClientError, SqlState } from '../core/client-errors.js';
import { directoryDenial, internalError, syncDenial } from '../core/auth/denials.js';
import { DirectoryError } from '../core/directory/errors.js';
import { SyncError } from '../core/sync/sync-client.js';

/*
 * What a laptop is told when a broker request fails: the proxy's own
 * ClientErrors (core/auth/denials.ts), so 28P01, 28000 and their words are the
 * same in both modes. Only where the proxy's hint sends the user to fix
 * something on their laptop (their VPN, `rolecall secrets set`) while the
 * broker is the one that failed, the hint says so instead; SQLSTATE and
 * message stay the same.
 */

const TEAM = 'This is on the team broker\'s side, not your machine: retry in a moment, and tell the team that runs the broker if it persists.';

export function brokerDenial(login: string, e: unknown): ClientError {
  if (e instanceof ClientError) return e;
  if (e instanceof DirectoryError) {
    const denial = directoryDenial(login, e);
    if (denial.sqlstate !== SqlState.cannotConnectNow) return denial;
    return new ClientError({ sqlstate: denial.sqlstate, message: denial.message, hint: `The broker could not reach the directory. ${TEAM}`, cause: e });
  }
  if (e instanceof SyncError) {
    const denial = syncDenial(login, e);
    if (e.failure === 'auth' || e.failure === 'unreachable' || e.failure === 'not-installed' || e.failure === 'permission') {
      return new ClientError({ sqlstate: denial.sqlstate, message: denial.message, hint: `The broker could not use the database. ${TEAM}`, cause: e });
    }
    return denial;
  }
  return internalError(e);
}

/** The database a request names, or 3D000. */
export function unknownDatabase(id: string): ClientError {
  return new ClientError({
    sqlstate: SqlState.invalidCatalogName,
    message: `database "${id}" is not served by this Rolecall broker`,
    hint: 'Import the broker\'s catalog again (rolecall profiles import --broker URL) to get the databases it serves.',
  });
}
