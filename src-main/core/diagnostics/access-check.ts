import { databaseLogin } from '../auth/login-case.js';
import { connectPg, DatabaseConfigError, describeConnectFailure, isNotInstalled } from '../database/connect.js';
import { createDirectory, type DirectoryUser } from '../directory/directory.js';
import { permittedGroups } from '../directory/permitted.js';
import type { Logger } from '../log.js';
import type { DirectProfile } from '../profiles/schema.js';
import { previewSync, type SyncPreview } from '../sync/preview-sync.js';
import { describeGroupFilter } from './directory-check.js';
import type { CheckHints } from './steps.js';

export interface AccessPreview {
  wouldCreate: boolean;
  grant: string[];
  revoke: string[];
  roles: string[];
  denied: boolean;
  refusal: string | null;
}

export interface AccessCheck {
  login: string;
  /** All directory groups, nested ones included. */
  groups: string[];
  /** Those that pass the profile's prefix/pattern. */
  permittedGroups: string[];
  /** What a sync would do (rolecall.preview_sync), changing nothing. */
  preview: AccessPreview | null;
  verdict: string;
}

/** The database part of an access check could not be done; `detail` is the SQLSTATE or errno. */
export class AccessCheckError extends Error {
  constructor(
    readonly reason: 'cannot-connect' | 'not-installed',
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'AccessCheckError';
  }
}

/**
 * "Why can't I get in?": the login's directory groups (as the service
 * account, or signing in when a password is given), which pass the filter,
 * and what a sync would grant and revoke: the same rules as a sign-in, as a
 * dry run. Directory failures propagate as DirectoryError.
 */
export async function checkAccess(
  profile: DirectProfile,
  secrets: { bindPassword: string; syncPassword: string },
  login: string,
  password: string | undefined,
  options: { hints: CheckHints; logger: Logger },
): Promise<AccessCheck> {
  const config = profile.directory;
  const directory = createDirectory(config, secrets.bindPassword, options.logger);
  let user: DirectoryUser | null;
  try {
    user = password ? await directory.authenticate(login, password) : await directory.lookup(login);
  } finally {
    await directory.close();
  }
  if (user === null) {
    return {
      login,
      groups: [],
      permittedGroups: [],
      preview: null,
      verdict: `${login} cannot sign in: no enabled directory account has ${config.loginAttribute}=${login} (it does not exist, or it is disabled or locked).`,
    };
  }
  const permitted = permittedGroups(user.groups, config);
  const base = { login: user.login, groups: user.groups, permittedGroups: permitted };
  if (permitted.length === 0) {
    const which =
      user.groups.length === 0 ? 'is in no directory group' : `is in ${user.groups.length} directory group(s), but none passes the group filter${describeGroupFilter(config)}`;
    return { ...base, preview: null, verdict: `${user.login} would be denied: ${which}. Ask to be added to a database access group.` };
  }
  const dbLogin = databaseLogin(user.login, profile.loginCase);
  const plan = await previewAsSyncAccount(profile, secrets.syncPassword, dbLogin, permitted, options.hints);
  const preview: AccessPreview = {
    wouldCreate: plan.created,
    grant: plan.granted,
    revoke: plan.revoked,
    roles: plan.roles,
    denied: plan.denied,
    refusal: plan.refused,
  };
  return { ...base, preview, verdict: verdictFor(dbLogin, permitted, preview) };
}

async function previewAsSyncAccount(profile: DirectProfile, syncPassword: string, login: string, groups: string[], hints: CheckHints): Promise<SyncPreview> {
  const db = profile.database;
  const where = `${db.host}:${db.port}/${db.database}`;
  let client;
  try {
    client = await connectPg(db, db.syncUser, syncPassword, 'rolecall-access-check');
  } catch (e) {
    if (e instanceof DatabaseConfigError) throw e;
    const code = (e as { code?: unknown }).code;
    throw new AccessCheckError('cannot-connect', describeConnectFailure(e, `the sync account "${db.syncUser}"`, where), typeof code === 'string' ? code : undefined);
  }
  try {
    return await previewSync(client, login, groups);
  } catch (e) {
    if (isNotInstalled(e)) throw new AccessCheckError('not-installed', `Rolecall's SQL is not installed in ${where}: ${hints.install}`, (e as { code: string }).code);
    throw e;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The verdict of an access check that reached the database's preview: refused, denied, or the roles and what would change. */
export function verdictFor(login: string, permitted: string[], p: AccessPreview): string {
  if (p.refusal) return `${login} would be refused: ${p.refusal}. Rolecall never manages such a role; an administrator must rename or drop it.`;
  if (p.denied) {
    return (
      `${login} would be denied: the permitted group(s) ${permitted.join(', ')} map to no database role. ` +
      `An administrator maps one with SELECT rolecall.allow_group('<group>', '<role>').`
    );
  }
  const changes = [
    p.wouldCreate ? 'the database login would be created' : '',
    p.grant.length > 0 ? `grant ${p.grant.join(', ')}` : '',
    p.revoke.length > 0 ? `revoke ${p.revoke.join(', ')}` : '',
  ].filter(Boolean);
  return `${login} can sign in with role(s) ${p.roles.join(', ')}${changes.length > 0 ? `; at sign-in Rolecall would ${changes.join(', ')}` : '; nothing would change'}.`;
}
