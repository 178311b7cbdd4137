import pg from 'pg';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { SslMode } from '../profiles/schema.js';
import { isUnreachable } from '../net-errors.js';
import { pgSslConfig } from './pg-ssl.js';

/** Where the sync functions live and the account that may call them. */
export interface SyncTarget {
  host: string;
  port: number;
  database: string;
  sslmode: SslMode;
  caFile?: string;
  user: string;
  password: string;
  poolSize: number;
  connectTimeoutMs: number;
}

export interface SyncResult {
  created: boolean;
  granted: string[];
  revoked: string[];
  /** The allow-listed roles the login holds after the sync. */
  roles: string[];
}

export type SyncFailure = 'no-roles' | 'refused' | 'not-installed' | 'permission' | 'unreachable' | 'auth' | 'failed';

export class SyncError extends Error {
  readonly failure: SyncFailure;
  readonly sqlstate?: string;

  constructor(failure: SyncFailure, message: string, options: { sqlstate?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SyncError';
    this.failure = failure;
    if (options.sqlstate !== undefined) this.sqlstate = options.sqlstate;
  }
}

/** What rolecall.sync_login returns (sql/postgres/install.sql). */
interface SyncLoginRow {
  created: boolean;
  denied: boolean;
  /** Set when Rolecall refused to touch the login (a protected, unmanaged or look-alike role); the refusal is audited. */
  refused?: string;
  granted: string[];
  revoked: string[];
  roles: string[];
  message?: string;
}

/** Server-side cap on one call: sync_login may wait for a concurrent sync of the same login. */
const STATEMENT_TIMEOUT_MS = 30_000;

type Phase = 'connect' | 'query';

/**
 * Calls Rolecall's SECURITY DEFINER functions as the sync account over a small
 * pool. The verifier is sent as a bind parameter and never logged.
 */
export class SyncClient {
  private readonly pool: pg.Pool;
  private readonly where: string;
  private closed = false;

  constructor(
    private readonly target: SyncTarget,
    private readonly logger: Logger = silentLogger,
  ) {
    this.where = `${target.host}:${target.port}/${target.database}`;
    if (target.sslmode === 'prefer') {
      this.logger.info({ database: this.where }, 'sslmode=prefer acts as require for the sync pool (no plaintext fallback)');
    }
    this.pool = new pg.Pool({
      host: target.host,
      port: target.port,
      database: target.database,
      user: target.user,
      password: target.password,
      ssl: pgSslConfig(target.sslmode, target.caFile, target.host),
      max: target.poolSize,
      connectionTimeoutMillis: target.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: 'rolecall-sync',
    });
    // An idle client losing its connection must not crash the process.
    this.pool.on('error', (e) => this.logger.warn({ database: this.where, error: e.message }, 'sync pool connection lost'));
  }

  async syncLogin(input: {
    login: string;
    verifier: string;
    groups: string[];
    validForSeconds: number;
    clientInfo: Record<string, unknown>;
  }): Promise<SyncResult> {
    if (!Number.isFinite(input.validForSeconds) || input.validForSeconds <= 0) {
      throw new SyncError('failed', `validForSeconds must be positive (got ${input.validForSeconds})`);
    }
    const row = await this.call<SyncLoginRow>(
      'SELECT rolecall.sync_login($1, $2, $3::text[], make_interval(secs => $4), $5::jsonb) AS r',
      [input.login, input.verifier, input.groups, Math.round(input.validForSeconds), JSON.stringify(input.clientInfo)],
      input.verifier,
    );
    if (row.refused) {
      this.logger.warn({ login: input.login, reason: row.refused }, 'sync: the database refused to manage this login');
      throw new SyncError('refused', row.message ?? `Rolecall refuses to manage role "${input.login}": ${row.refused}`, { sqlstate: '42501' });
    }
    if (row.denied) {
      this.logger.info({ login: input.login, groups: input.groups, revoked: row.revoked }, 'sync: no group maps to a database role');
      throw new SyncError('no-roles', row.message ?? `none of the groups of "${input.login}" maps to a database role`, {
        sqlstate: '28000',
      });
    }
    const result: SyncResult = { created: row.created, granted: row.granted, revoked: row.revoked, roles: row.roles };
    this.logger.info({ login: input.login, ...result }, 'sync: login synced');
    return result;
  }

  async revokeLogin(login: string, reason: string): Promise<void> {
    const row = await this.call<{ existed: boolean; revoked: string[]; terminated: number | null; refused?: string; message?: string }>(
      'SELECT rolecall.revoke_login($1, $2) AS r',
      [login, reason],
    );
    if (row.refused) {
      this.logger.warn({ login, reason: row.refused }, 'sync: the database refused to revoke this login');
      throw new SyncError('refused', row.message ?? `Rolecall refuses to manage role "${login}": ${row.refused}`, { sqlstate: '42501' });
    }
    this.logger.info({ login, reason, ...row }, 'sync: login revoked');
  }

  /** The installed schema version, or null when install.sql has not been run. */
  async installedVersion(): Promise<string | null> {
    try {
      return await this.call<string>('SELECT rolecall.version() AS r', []);
    } catch (e) {
      if (e instanceof SyncError && e.failure === 'not-installed') return null;
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** One call, one pooled connection; every failure comes back as a SyncError. */
  private async call<T>(sql: string, params: unknown[], secret?: string): Promise<T> {
    if (this.closed) throw new SyncError('failed', 'the sync client is closed');
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw this.toSyncError(e, 'connect', secret);
    }
    try {
      const res = await client.query<{ r: T }>(sql, params);
      client.release();
      const row = res.rows[0];
      if (!row) throw new SyncError('failed', 'the sync function returned no row');
      return row.r;
    } catch (e) {
      // A connection that failed mid-query is not given back to the pool.
      client.release(e instanceof pg.DatabaseError ? undefined : true);
      if (e instanceof SyncError) throw e;
      throw this.toSyncError(e, 'query', secret);
    }
  }

  private toSyncError(e: unknown, phase: Phase, secret: string | undefined): SyncError {
    const err = e as { code?: unknown; message?: unknown };
    const code = typeof err.code === 'string' ? err.code : undefined;
    // Belt and braces: no server message should ever carry the verifier.
    let message = typeof err.message === 'string' ? err.message : String(e);
    if (secret) message = message.split(secret).join('[verifier]');
    const at = this.where;

    if (e instanceof pg.DatabaseError && code) {
      const opts = { sqlstate: code, cause: e };
      switch (code) {
        case '3F000': // invalid_schema_name
        case '42883': // undefined_function
          return new SyncError(
            'not-installed',
            `Rolecall is not installed in database ${at} (${message}): an admin must run sql/postgres/install.sql there`,
            opts,
          );
        case '28P01':
          return new SyncError('auth', `the sync account "${this.target.user}" could not log in to ${at}: wrong password`, opts);
        case '28000':
          if (phase === 'connect') {
            return new SyncError('auth', `the sync account "${this.target.user}" may not log in to ${at}: ${message}`, opts);
          }
          return new SyncError('no-roles', message, opts);
        case '42501':
          // Rolecall's own refusals say so; anything else is a missing privilege.
          if (/^Rolecall refuses/.test(message)) return new SyncError('refused', message, opts);
          return new SyncError(
            'permission',
            `the sync account "${this.target.user}" lacks a privilege on ${at} (${message}): re-run sql/postgres/install.sql or check the grants`,
            opts,
          );
        case '3D000':
          return new SyncError('failed', `database ${at} does not exist: ${message}`, opts);
        case '55P03': // lock_not_available: another sync of the same login held it past lock_timeout
          return new SyncError('failed', `role sync on ${at} is busy: ${message}; try again in a moment`, opts);
        case '57P03': // cannot_connect_now (starting up, shutting down)
        case '53300': // too_many_connections
        case '57P01': // admin_shutdown
          return new SyncError('unreachable', `database ${at} is not accepting connections: ${message}`, opts);
        default:
          return new SyncError('failed', `role sync on ${at} failed: ${message}`, opts);
      }
    }
    if (isUnreachable(code)) {
      return new SyncError('unreachable', `cannot reach database ${at}: ${message}`, { cause: e });
    }
    if (phase === 'connect' && /timeout|terminated|ended unexpectedly/i.test(message)) {
      return new SyncError('unreachable', `cannot reach database ${at}: ${message}`, { cause: e });
    }
    if (phase === 'connect' && (code?.startsWith('ERR_TLS') || /CERT|SELF_SIGNED|UNABLE_TO/.test(code ?? '') || /SSL|certificate/i.test(message))) {
      return new SyncError('unreachable', `TLS to database ${at} failed (${message}): check sslmode and caFile`, { cause: e });
    }
    return new SyncError('failed', `role sync on ${at} failed: ${message}`, { cause: e });
  }
}
