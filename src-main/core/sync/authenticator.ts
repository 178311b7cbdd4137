import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { ClientError, SqlState, invalidCredentials } from '../client-errors.js';
import { AuthCache } from './auth-cache.js';
import { refusedLoginReason } from './login-policy.js';
import { buildScramVerifier } from './scram-verifier.js';

/** What the authenticator needs from the directory (src-main/core/directory). */
export interface DirectoryPort {
  authenticate(login: string, password: string): Promise<{ login: string; dn: string; groups: string[] }>;
}

/** What the authenticator needs from the sync client (src-main/core/sync/sync-client.ts). */
export interface SyncPort {
  syncLogin(input: {
    login: string;
    verifier: string;
    groups: string[];
    validForSeconds: number;
    clientInfo: Record<string, unknown>;
  }): Promise<{ created: boolean; granted: string[]; revoked: string[]; roles: string[] }>;
}

export interface AuthSettings {
  profileId: string;
  cacheTtlMs: number;
  negativeTtlMs: number;
  passwordValidForSeconds: number;
  loginCase: 'lower' | 'preserve';
  permittedGroups(groups: string[]): string[];
}

export interface AuthResult {
  /** The database login: the directory's canonical account name. */
  login: string;
  /** Directory groups that passed the profile's filter. */
  groups: string[];
  /** Allow-listed database roles the login holds after sync. */
  roles: string[];
  cacheHit: boolean;
}

/** Counts work, not time: the tests (and `rolecall status`) read these. */
export interface AuthCounters {
  directoryCalls: number;
  syncCalls: number;
  cacheHits: number;
  negativeHits: number;
}

type Failure = { error: ClientError };

/**
 * Directory check + role sync, behind a positive cache, a short negative cache
 * and single-flight: concurrent attempts with the same login and password
 * share one directory bind and one sync.
 */
export class Authenticator {
  readonly counters: AuthCounters = { directoryCalls: 0, syncCalls: 0, cacheHits: 0, negativeHits: 0 };
  private readonly positive: AuthCache<Omit<AuthResult, 'cacheHit'>>;
  private readonly negative: AuthCache<Failure>;
  private readonly inFlight = new Map<string, Promise<AuthResult>>();

  constructor(
    private readonly settings: AuthSettings,
    private readonly directory: DirectoryPort,
    private readonly sync: SyncPort,
    private readonly logger: Logger = silentLogger,
    now: () => number = Date.now,
  ) {
    this.positive = new AuthCache(now);
    this.negative = new AuthCache(now);
  }

  async authenticate(typedLogin: string, password: string, clientInfo: Record<string, unknown>): Promise<AuthResult> {
    if (password.length === 0) throw invalidCredentials(typedLogin);
    const cached = this.positive.get(typedLogin, password);
    if (cached) {
      this.counters.cacheHits++;
      return { ...cached, cacheHit: true };
    }
    const denied = this.negative.get(typedLogin, password);
    if (denied) {
      this.counters.negativeHits++;
      throw denied.error;
    }
    // Single-flight key: login plus the password's cache identity (never the password itself).
    const flightKey = this.positive.identify(typedLogin, password);
    const running = this.inFlight.get(flightKey);
    if (running) return running;
    const attempt = this.checkAndSync(typedLogin, password, clientInfo).finally(() => this.inFlight.delete(flightKey));
    this.inFlight.set(flightKey, attempt);
    return attempt;
  }

  /** Forget cached successes of a login (upstream said 28P01, or access was revoked). */
  forget(login: string): void {
    this.positive.forgetLogin(login);
  }

  forgetAll(): void {
    this.positive.clear();
    this.negative.clear();
  }

  private async checkAndSync(typedLogin: string, password: string, clientInfo: Record<string, unknown>): Promise<AuthResult> {
    let account: string | undefined;
    try {
      this.counters.directoryCalls++;
      const user = await this.directory.authenticate(typedLogin, password).catch((e: unknown) => {
        throw this.directoryError(typedLogin, e);
      });
      const login = this.settings.loginCase === 'lower' ? user.login.toLowerCase() : user.login;
      account = login;
      const refused = refusedLoginReason(login);
      if (refused) {
        this.logger.warn({ profile: this.settings.profileId, login, reason: refused }, 'refused login name');
        throw new ClientError({
          sqlstate: SqlState.invalidAuthorization,
          message: `Rolecall refuses to log in as "${login}": ${refused}`,
          hint: 'Ask your database administrator; protected roles can never be used through Rolecall.',
        });
      }
      const groups = this.settings.permittedGroups(user.groups);
      if (groups.length === 0) {
        this.logger.info({ profile: this.settings.profileId, login, directoryGroups: user.groups.length }, 'no permitted group');
        throw new ClientError({
          sqlstate: SqlState.invalidAuthorization,
          message: `"${login}" is not in any directory group this database accepts`,
          hint: 'Ask to be added to one of the database access groups, then connect again. Rolecall\'s "Access check" shows which groups count.',
        });
      }
      this.counters.syncCalls++;
      const synced = await this.sync
        .syncLogin({
          login,
          verifier: buildScramVerifier(password),
          groups,
          validForSeconds: this.settings.passwordValidForSeconds,
          clientInfo: { ...clientInfo, profile: this.settings.profileId },
        })
        .catch((e: unknown) => {
          throw this.syncError(login, e);
        });
      const result = { login, groups, roles: synced.roles };
      this.positive.set(typedLogin, password, result, this.settings.cacheTtlMs, login);
      this.logger.info(
        { profile: this.settings.profileId, login, created: synced.created, granted: synced.granted, revoked: synced.revoked },
        'login synced',
      );
      return { ...result, cacheHit: false };
    } catch (e) {
      const error = e instanceof ClientError ? e : internalError(e);
      if (account !== undefined) error.account ??= account;
      // Only a definite "no" is remembered; an outage must not lock people out after it ends.
      if (error.sqlstate === SqlState.invalidPassword || error.sqlstate === SqlState.invalidAuthorization) {
        this.negative.set(typedLogin, password, { error }, this.settings.negativeTtlMs);
      }
      throw error;
    }
  }

  private directoryError(login: string, e: unknown): ClientError {
    const failure = failureOf(e);
    const code = (e as { adCode?: string }).adCode;
    this.logger.info({ profile: this.settings.profileId, login, failure, adCode: code }, 'directory refused login');
    switch (failure) {
      case 'invalid-credentials':
        return invalidCredentials(login);
      case 'password-expired':
        return new ClientError({
          sqlstate: SqlState.invalidAuthorization,
          message: 'your directory password has expired',
          hint: 'Change your password (on Windows: Ctrl+Alt+Del → Change a password), then connect again with the new one.',
        });
      case 'password-must-change':
        return new ClientError({
          sqlstate: SqlState.invalidAuthorization,
          message: 'your directory password must be changed before first use',
          hint: 'Sign in to your workstation or the password portal, set a new password, then connect with it.',
        });
      case 'account-locked':
        return new ClientError({
          sqlstate: SqlState.invalidAuthorization,
          message: 'your directory account is locked',
          hint: 'Wait for the lockout to expire or ask your helpdesk to unlock it. Check saved passwords in your tools: they may have locked it.',
        });
      case 'account-disabled':
      case 'account-expired':
      case 'logon-not-permitted':
        return new ClientError({
          sqlstate: SqlState.invalidAuthorization,
          message: 'your directory account may not sign in',
          hint: 'Ask your directory administrator to check the account.',
        });
      case 'unreachable':
      case 'timeout':
        return new ClientError({
          sqlstate: SqlState.cannotConnectNow,
          message: 'the directory server is not reachable, so Rolecall cannot check your password',
          hint: 'Check your VPN or network connection and retry. Rolecall\'s "Test directory" shows the exact error.',
          cause: e,
        });
      case 'ambiguous':
        return new ClientError({
          sqlstate: SqlState.invalidAuthorization,
          message: 'more than one directory account matches this login name',
          hint: 'Ask your directory administrator; use your full account name (user@domain) meanwhile.',
        });
      default:
        return new ClientError({
          sqlstate: SqlState.cannotConnectNow,
          message: 'the directory check failed',
          hint: 'Rolecall\'s log and "Test directory" show the exact error; it is usually the profile\'s directory settings.',
          cause: e,
        });
    }
  }

  private syncError(login: string, e: unknown): ClientError {
    const failure = failureOf(e);
    const message = e instanceof Error ? e.message : String(e);
    this.logger.warn({ profile: this.settings.profileId, login, failure, error: message }, 'role sync failed');
    switch (failure) {
      case 'no-roles':
        return new ClientError({
          sqlstate: SqlState.invalidAuthorization,
          message: `none of your directory groups maps to a database role`,
          detail: message,
          hint: 'Ask your database administrator to allow your group with rolecall.allow_group(...).',
        });
      case 'refused':
        return new ClientError({
          sqlstate: SqlState.invalidAuthorization,
          message: `the database refused to manage the role "${login}"`,
          detail: message,
          hint: 'A role with this name exists and is not managed by Rolecall (or is privileged). Ask your database administrator.',
        });
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
}

function failureOf(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'failure' in e) return String((e as { failure: unknown }).failure);
  return undefined;
}

function internalError(e: unknown): ClientError {
  return new ClientError({
    sqlstate: SqlState.internalError,
    message: 'Rolecall hit an internal error while signing you in',
    hint: 'Retry; if it persists, send Rolecall\'s log to your team.',
    cause: e,
  });
}
