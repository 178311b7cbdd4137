import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { ClientError, SqlState, invalidCredentials } from '../client-errors.js';
import { permittedGroups } from '../directory/permitted.js';
import type { DirectProfile } from '../profiles/schema.js';
import { buildScramVerifier } from '../sync/scram-verifier.js';
import { admit } from './admission.js';
import type { AuthCounters, AuthResult, Authenticator, ClientInfo } from './authenticator.js';
import { directoryDenial, failureOf, internalError, syncDenial } from './denials.js';
import { SignInMemo } from './sign-in-memo.js';

/** What signing in needs from the directory (core/directory's Directory is one). */
export interface DirectoryPort {
  authenticate(login: string, password: string): Promise<{ login: string; dn: string; groups: string[]; passwordExpiresAt?: Date }>;
  /** Service account only: the user's groups, or null when the account is gone or disabled (revalidation). */
  lookup(login: string): Promise<{ login: string; groups: string[] } | null>;
  close(): Promise<void>;
}

/** What signing in needs from the database (core/sync's SyncClient is one). */
export interface SyncPort {
  syncLogin(input: {
    login: string;
    verifier: string;
    groups: string[];
    validForSeconds: number;
    clientInfo: Record<string, unknown>;
  }): Promise<{ created: boolean; granted: string[]; revoked: string[]; roles: string[] }>;
  revokeLogin(login: string, reason: string): Promise<unknown>;
  /** The iteration count the database wants verifiers built with (rolecall.sync_parameters). */
  minScramIterations(): Promise<number>;
  close(): Promise<void>;
}

export interface AuthSettings {
  profileId: string;
  cacheTtlMs: number;
  negativeTtlMs: number;
  passwordValidForSeconds: number;
  loginCase: 'lower' | 'preserve';
  permittedGroups(groups: string[]): string[];
}

/** A profile's settings for signing in: its caches, its synced password's lifetime, login case and group filter. */
export function authSettingsFor(profile: DirectProfile): AuthSettings {
  return {
    profileId: profile.id,
    cacheTtlMs: profile.cache.ttlSeconds * 1000,
    negativeTtlMs: profile.cache.negativeTtlSeconds * 1000,
    passwordValidForSeconds: profile.cache.passwordValidForSeconds,
    loginCase: profile.loginCase,
    permittedGroups: (groups) => permittedGroups(groups, profile.directory),
  };
}

/**
 * Direct mode's authenticator: directory check + role sync, behind a positive
 * cache, a short negative cache and single-flight (sign-in-memo.ts: concurrent
 * attempts with the same login and password share one directory bind and one sync).
 */
export class DirectoryAuthenticator implements Authenticator {
  readonly counters: AuthCounters = { directoryCalls: 0, syncCalls: 0, brokerCalls: 0, cacheHits: 0, negativeHits: 0 };
  private readonly memo: SignInMemo;

  constructor(
    private readonly settings: AuthSettings,
    private readonly directory: DirectoryPort,
    private readonly sync: SyncPort,
    private readonly logger: Logger = silentLogger,
    now: () => number = Date.now,
  ) {
    this.memo = new SignInMemo(settings.negativeTtlMs, this.counters, now);
  }

  async authenticate(typedLogin: string, password: string, clientInfo: ClientInfo): Promise<AuthResult> {
    if (password.length === 0) throw invalidCredentials(typedLogin);
    return this.memo.signIn(typedLogin, password, async () => ({
      result: await this.checkAndSync(typedLogin, password, clientInfo),
      ttlMs: this.settings.cacheTtlMs,
    }));
  }

  forget(login: string): void {
    this.memo.forgetLogin(login);
  }

  forgetAll(): void {
    this.memo.clear();
  }

  async recheck(login: string): Promise<string | null> {
    const user = await this.directory.lookup(login);
    if (user === null) return 'the directory account no longer exists or is disabled';
    if (this.settings.permittedGroups(user.groups).length === 0) return 'the account is no longer in any permitted directory group';
    return null;
  }

  async revoke(login: string, reason: string): Promise<void> {
    await this.sync.revokeLogin(login, reason);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.directory.close(), this.sync.close()]);
  }

  private async checkAndSync(typedLogin: string, password: string, clientInfo: ClientInfo): Promise<Omit<AuthResult, 'cacheHit'>> {
    let account: string | undefined;
    try {
      this.counters.directoryCalls++;
      const user = await this.directory.authenticate(typedLogin, password).catch((e: unknown) => {
        throw this.directoryError(typedLogin, e);
      });
      const { login, groups } = admit(user, this.settings, this.logger, { profile: this.settings.profileId });
      account = login;
      this.counters.syncCalls++;
      const synced = await this.sync
        .minScramIterations()
        .then((iterations) =>
          this.sync.syncLogin({
            login,
            verifier: buildScramVerifier(password, { iterations }),
            groups,
            validForSeconds: this.settings.passwordValidForSeconds,
            clientInfo: { ...clientInfo, profile: this.settings.profileId },
          }),
        )
        .catch((e: unknown) => {
          throw this.syncError(login, e);
        });
      this.logger.info(
        { profile: this.settings.profileId, login, created: synced.created, granted: synced.granted, revoked: synced.revoked },
        'login synced',
      );
      return { login, groups, roles: synced.roles, ...(user.passwordExpiresAt === undefined ? {} : { passwordExpiresAt: user.passwordExpiresAt }) };
    } catch (e) {
      const error = e instanceof ClientError ? e : internalError(e);
      if (account !== undefined) error.account ??= account;
      throw error;
    }
  }

  private directoryError(login: string, e: unknown): ClientError {
    const adCode = (e as { adCode?: string }).adCode;
    this.logger.info({ profile: this.settings.profileId, login, failure: failureOf(e), adCode }, 'directory refused login');
    return directoryDenial(login, e);
  }

  private syncError(login: string, e: unknown): ClientError {
    const message = e instanceof Error ? e.message : String(e);
    this.logger.warn({ profile: this.settings.profileId, login, failure: failureOf(e), error: message }, 'role sync failed');
    return syncDenial(login, e);
  }
}
