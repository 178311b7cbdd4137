import { ClientError, SqlState, invalidCredentials } from '../client-errors.js';

/**
 * What the client sees when the directory or the database says no: one
 * ClientError per kind of failure, with the SQLSTATE and the words that tell
 * the user what to do. Pure: the caller logs.
 */

/** The failure kind a DirectoryError or SyncError carries (`failure`), if any. */
export function failureOf(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'failure' in e) return String((e as { failure: unknown }).failure);
  return undefined;
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const denied = (message: string, hint: string, detail?: string): ClientError =>
  new ClientError({ sqlstate: SqlState.invalidAuthorization, message, hint, ...(detail === undefined ? {} : { detail }) });

export function directoryDenial(login: string, e: unknown): ClientError {
  switch (failureOf(e)) {
    case 'invalid-credentials':
      return invalidCredentials(login);
    case 'password-expired':
      return denied(
        'your directory password has expired',
        'Change your password (on Windows: Ctrl+Alt+Del → Change a password), then connect again with the new one.',
      );
    case 'password-must-change':
      return denied(
        'your directory password must be changed before first use',
        'Sign in to your workstation or the password portal, set a new password, then connect with it.',
      );
    case 'account-locked':
      return denied(
        'your directory account is locked',
        'Wait for the lockout to expire or ask your helpdesk to unlock it. Check saved passwords in your tools: they may have locked it.',
      );
    case 'account-disabled':
    case 'account-expired':
    case 'logon-not-permitted':
      return denied('your directory account may not sign in', 'Ask your directory administrator to check the account.');
    case 'domain-not-accepted':
      // The directory's own words name the forms that work; nothing about any account is known yet.
      return denied(
        messageOf(e),
        'The profile accepts only the NetBIOS domains in directory.netbiosDomains: type your name as the message says, or ask whoever set up Rolecall to add your domain.',
      );
    case 'unreachable':
    case 'timeout':
      return new ClientError({
        sqlstate: SqlState.cannotConnectNow,
        message: 'the directory server is not reachable, so Rolecall cannot check your password',
        hint: 'Check your VPN or network connection and retry. Rolecall\'s "Test directory" shows the exact error.',
        cause: e,
      });
    case 'ambiguous':
      return (e as { acrossDomains?: boolean }).acrossDomains
        ? denied(
            'more than one directory account matches this login name',
            'Accounts of this name exist in more than one domain of the forest, and each account gets one database login named after it, so Rolecall refuses rather than guess. No other way of typing the name helps: ask your directory administrator to rename one of them.',
          )
        : denied(
            'more than one directory account matches this login name',
            'Ask your directory administrator; use your full account name (user@domain) meanwhile.',
          );
    default:
      return new ClientError({
        sqlstate: SqlState.cannotConnectNow,
        message: 'the directory check failed',
        hint: 'Rolecall\'s log and "Test directory" show the exact error; it is usually the profile\'s directory settings.',
        cause: e,
      });
  }
}

export function syncDenial(login: string, e: unknown): ClientError {
  const message = e instanceof Error ? e.message : String(e);
  switch (failureOf(e)) {
    case 'no-roles':
      return denied(
        'none of your directory groups maps to a database role',
        'Ask your database administrator to allow your group with rolecall.allow_group(...).',
        message,
      );
    case 'refused':
      return denied(
        `the database refused to manage the role "${login}"`,
        'A role with this name exists and is not managed by Rolecall (or is privileged). Ask your database administrator.',
        message,
      );
    case 'not-installed':
      return new ClientError({
        sqlstate: SqlState.connectionFailure,
        message: 'Rolecall\'s database functions are not installed on this database',
        hint: 'Ask your database administrator to run sql/postgres/install.sql (rolecall sql install prints it).',
      });
    case 'auth':
      return new ClientError({
        sqlstate: SqlState.connectionFailure,
        message: 'Rolecall\'s sync account could not log in to the database',
        hint: 'Set the sync-account password again (rolecall secrets set PROFILE sync) or ask your database administrator.',
      });
    case 'unreachable':
      return new ClientError({
        sqlstate: SqlState.connectionFailure,
        message: 'the database server is not reachable',
        hint: 'Check your VPN or network connection and the profile\'s database host and port.',
        cause: e,
      });
    default:
      return new ClientError({
        sqlstate: SqlState.connectionFailure,
        message: 'role sync failed',
        detail: message,
        hint: 'Rolecall\'s log shows the database error.',
        cause: e,
      });
  }
}

/** A bug, not a denial: said plainly, with the cause kept for the log. */
export function internalError(e: unknown): ClientError {
  return new ClientError({
    sqlstate: SqlState.internalError,
    message: 'Rolecall hit an internal error while signing you in',
    hint: 'Retry; if it persists, send Rolecall\'s log to your team.',
    cause: e,
  });
}
