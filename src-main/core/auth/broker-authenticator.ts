import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { RevalidateRequest, SignInRequest, SignInResponse, RevalidateResponse } from '../broker-api/schema.js';
import type { BrokerAnswer } from '../broker-client/broker-client.js';
import { BrokerFailure } from '../broker-client/broker-failure.js';
import { ClientError, SqlState, invalidCredentials } from '../client-errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { BrokerProfile } from '../profiles/schema.js';
import type { AuthCounters, AuthResult, Authenticator, ClientInfo } from './authenticator.js';
import { brokerDenial } from './broker-denials.js';
import { refusedLoginReason } from './login-policy.js';
import { SignInMemo } from './sign-in-memo.js';

/** What signing in needs from the broker (core/broker-client's BrokerClient is one). */
export interface BrokerPort {
  signIn(request: SignInRequest): Promise<BrokerAnswer<SignInResponse>>;
  revalidate(request: RevalidateRequest): Promise<BrokerAnswer<RevalidateResponse>>;
  close(): void;
}

export interface BrokerSettings {
  profileId: string;
  /** The database's id in the broker's catalog. */
  database: string;
  /** A database password is reused until its window ends minus this. */
  marginMs: number;
  negativeTtlMs: number;
}

export function brokerSettingsFor(profile: BrokerProfile): BrokerSettings {
  return {
    profileId: profile.id,
    database: profile.broker.database,
    marginMs: profile.cache.marginSeconds * 1000,
    negativeTtlMs: profile.cache.negativeTtlSeconds * 1000,
  };
}

/** A database password the broker handed out for one login, as the Status page shows it (never the password). */
export interface BrokerCredential {
  login: string;
  /** The password's VALID UNTIL in the database (ISO): sessions opened with it keep running after it. */
  validUntil: string;
  /** The end of its window (ISO): the first sign-in after it gets the next password from the broker. */
  renewAfter: string;
  /** Until when this machine reuses it without asking the broker (its window end minus the margin, local clock). */
  reuseUntil: number;
  signedInAt: number;
}

/**
 * A sign-in that failed for a reason the user should hear about even when no
 * client shows it well: no broker answered, its certificate did not verify,
 * or the login is held (a recent wrong password, or the rate limit).
 */
export interface BrokerTrouble {
  kind: 'unreachable' | 'certificate' | 'throttled';
  login: string;
  message: string;
  retryAfterSeconds?: number;
}

/** The failures worth a BrokerTrouble event; other refusals (a wrong password, no group) are the client's to show. */
export function troubleOf(e: unknown, login: string): BrokerTrouble | null {
  if (!(e instanceof BrokerFailure)) return null;
  if (e.kind === 'unreachable' || e.kind === 'certificate') return { kind: e.kind, login, message: e.message };
  const body = e.details.error;
  if (e.kind !== 'answer' || body === undefined) return null;
  const held = body.sqlstate === '53300' || (body.sqlstate === '28P01' && body.retryAfterSeconds !== undefined);
  if (!held) return null;
  return { kind: 'throttled', login, message: body.message, ...(body.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: body.retryAfterSeconds }) };
}

/** The API's bounds for a sign-in (broker-api/schema.ts): beyond them no broker could say yes. */
const MAX_LOGIN = 256;
const MAX_PASSWORD = 1024;

/**
 * Team mode's authenticator: the client's password goes to the broker over
 * TLS (core/broker-client), which checks the directory, syncs the roles and
 * answers a short-lived database password; the proxy logs in upstream with
 * that. It is kept in memory only, behind the same positive cache (until the
 * password's window ends minus a margin), negative cache and single-flight as
 * direct mode (sign-in-memo.ts). The laptop holds no secret: revalidation
 * proves itself to the broker with the database password, and revoking is
 * the broker's job.
 */
export class BrokerAuthenticator extends EventEmitter<{ trouble: [BrokerTrouble] }> implements Authenticator {
  readonly counters: AuthCounters = { directoryCalls: 0, syncCalls: 0, brokerCalls: 0, cacheHits: 0, negativeHits: 0 };
  /** The broker revokes in the database before it answers a revalidation. */
  readonly recheckRevokes = true;
  private readonly memo: SignInMemo;
  /** The latest database password per login, for revalidating its open sessions. Memory only. */
  private readonly latest = new Map<string, string>();
  /** What the Status page shows per login: when its database password expires. */
  private readonly issued = new Map<string, BrokerCredential>();
  private readonly host = hostname().slice(0, 256);

  constructor(
    private readonly settings: BrokerSettings,
    private readonly broker: BrokerPort,
    private readonly logger: Logger = silentLogger,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.memo = new SignInMemo(settings.negativeTtlMs, this.counters, now);
  }

  async authenticate(typedLogin: string, password: string, clientInfo: ClientInfo): Promise<AuthResult> {
    if (password.length === 0 || password.length > MAX_PASSWORD || typedLogin.length > MAX_LOGIN) throw invalidCredentials(typedLogin);
    return this.memo.signIn(typedLogin, password, () => this.signIn(typedLogin, password, clientInfo));
  }

  forget(login: string): void {
    this.memo.forgetLogin(login);
  }

  forgetAll(): void {
    this.memo.clear();
  }

  /** Asks the broker, proving the login with the database password it gave; throws (sessions kept) when it cannot tell. */
  async recheck(login: string): Promise<string | null> {
    const databasePassword = this.latest.get(login);
    if (databasePassword === undefined) throw new Error(`no database password from the broker is known for "${login}" here`);
    this.counters.brokerCalls++;
    const answer = await this.broker.revalidate({ login, database: this.settings.database, databasePassword });
    return answer.value.revoked;
  }

  /** The broker revoked the login in the database before answering: here only what is remembered goes. */
  async revoke(login: string): Promise<void> {
    this.memo.forgetLogin(login);
    this.latest.delete(login);
    this.issued.delete(login);
  }

  /** Each signed-in login's current database password, by when it expires (expired ones are left out). */
  credentials(): BrokerCredential[] {
    const now = this.now();
    return [...this.issued.values()].filter((c) => Date.parse(c.validUntil) > now).sort((a, b) => a.login.localeCompare(b.login));
  }

  async close(): Promise<void> {
    this.broker.close();
  }

  private async signIn(typedLogin: string, password: string, clientInfo: ClientInfo): Promise<{ result: Omit<AuthResult, 'cacheHit'>; ttlMs: number }> {
    this.counters.brokerCalls++;
    let answer: BrokerAnswer<SignInResponse>;
    try {
      answer = await this.broker.signIn({
        login: typedLogin,
        password,
        database: this.settings.database,
        clientInfo: auditInfo({ ...clientInfo, host: this.host, profile: this.settings.profileId }),
      });
    } catch (e) {
      const error = brokerDenial(e);
      this.logger.info(
        { profile: this.settings.profileId, login: typedLogin, sqlstate: error.sqlstate, error: error.message },
        'the broker did not sign the login in',
      );
      const trouble = troubleOf(e, typedLogin);
      if (trouble) this.emit('trouble', trouble);
      throw error;
    }
    const { value, url, serverDate } = answer;
    const refused = refusedLoginReason(value.login);
    if (refused) {
      // The broker refuses these itself; a broker that did not is not followed.
      throw new ClientError({
        sqlstate: SqlState.invalidAuthorization,
        message: `Rolecall refuses to log in as "${value.login}": ${refused}`,
        hint: 'Ask your database administrator; protected roles can never be used through Rolecall.',
      });
    }
    this.latest.set(value.login, value.password);
    this.logger.info({ profile: this.settings.profileId, login: value.login, roles: value.roles, validUntil: value.validUntil, broker: url }, 'signed in through the broker');
    const ttlMs = this.reuseFor(value, serverDate);
    const now = this.now();
    this.issued.set(value.login, {
      login: value.login,
      validUntil: value.validUntil,
      renewAfter: value.renewAfter,
      reuseUntil: now + Math.max(0, ttlMs),
      signedInAt: now,
    });
    return {
      result: {
        login: value.login,
        groups: value.groups,
        roles: value.roles,
        databasePassword: value.password,
        // The broker says it only when it is within its directory's expiryWarningDays.
        ...(value.directoryPasswordExpiresAt === undefined ? {} : { passwordExpiresAt: new Date(value.directoryPasswordExpiresAt) }),
      },
      ttlMs,
    };
  }

  /**
   * How long the password may be reused: until its window ends (or it
   * expires, if sooner) minus the margin, measured on the broker's clock when
   * it sent its Date header, so a laptop whose clock is off keeps no stale password.
   */
  private reuseFor(value: SignInResponse, serverDate: number | undefined): number {
    const end = Math.min(Date.parse(value.renewAfter), Date.parse(value.validUntil));
    // The Date header has whole seconds: count the answer as up to one second older.
    const brokerNow = serverDate === undefined ? this.now() : serverDate + 1000;
    return end - brokerNow - this.settings.marginMs;
  }
}

/** The client facts the broker records in its audit trail, within the API's bounds (no nulls, short strings). */
function auditInfo(info: ClientInfo): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(info)) {
    if (key.length > 64) continue;
    if (typeof value === 'string') out[key] = value.slice(0, 256);
    else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') out[key] = value;
  }
  return out;
}
