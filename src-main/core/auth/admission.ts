import { ClientError, SqlState } from '../client-errors.js';
import type { Logger } from '../log.js';
import { databaseLogin } from './login-case.js';
import { refusedLoginReason } from './login-policy.js';

/** How a directory account becomes a database login: the login's case and the group filter. */
export interface AdmissionRules {
  loginCase: 'lower' | 'preserve';
  permittedGroups(groups: string[]): string[];
}

export interface Admitted {
  /** The database login (the account's canonical name, cased by the rules). */
  login: string;
  /** The directory groups that passed the filter: never empty. */
  groups: string[];
}

/**
 * After the directory said yes: the database login for the account, or the
 * 28000 the client sees when its name is protected or none of its groups
 * passes the filter. Direct mode and the broker both decide here, so a client
 * gets the same words either way.
 */
export function admit(user: { login: string; groups: string[] }, rules: AdmissionRules, logger: Logger, context: Record<string, unknown> = {}): Admitted {
  const login = databaseLogin(user.login, rules.loginCase);
  const refused = refusedLoginReason(login);
  if (refused) {
    logger.warn({ ...context, login, reason: refused }, 'refused login name');
    throw new ClientError({
      sqlstate: SqlState.invalidAuthorization,
      message: `Rolecall refuses to log in as "${login}": ${refused}`,
      hint: 'Ask your database administrator; protected roles can never be used through Rolecall.',
      account: login,
    });
  }
  const groups = rules.permittedGroups(user.groups);
  if (groups.length === 0) {
    logger.info({ ...context, login, directoryGroups: user.groups.length }, 'no permitted group');
    throw new ClientError({
      sqlstate: SqlState.invalidAuthorization,
      message: `"${login}" is not in any directory group this database accepts`,
      hint: 'Ask to be added to one of the database access groups, then connect again. Rolecall\'s "Access check" shows which groups count.',
      account: login,
    });
  }
  return { login, groups };
}
