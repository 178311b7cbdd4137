import pg from 'pg';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { SslMode } from '../profiles/schema.js';
import { isUnreachable } from '../net-errors.js';
import { pgSslConfig } from './pg-ssl.js';
import { SCRAM_ITERATIONS } from './scram-verifier.js';

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
  /** Nothing had to change (same verifier, roles and expiry as before): the database wrote nothing. */
  unchanged: boolean;
  /** The login's VALID UNTIL after the sync (ISO), when the database says. */
  validUntil?: string;
}

/** What a sync gives the login: a verifier, its groups and how long the password lives. */
export interface SyncLoginInput {
  login: string;
  verifier: string;
  groups: string[];
  /** The password's lifetime from now; or give `validUntil`. */
  validForSeconds?: number;
  /** The password's exact VALID UNTIL (whole seconds): the same on every call in a window, so a repeated sync writes nothing. */
  validUntil?: Date;
  clientInfo: Record<string, unknown>;
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

/** What rolecall.revoke_login returns. */
export interface RevokeResult {
  existed: boolean;
  revoked: string[];
  /** Sessions ended; null when the owner may not signal backends. */
  terminated: number | null;
  refused?: string;
  message?: string;
}

/** What rolecall.sync_login returns (sql/postgres/install.sql). */
interface SyncLoginRow {
  created: boolean;
  denied: boolean;
  unchanged?: boolean;
  valid_until?: string;
  /** Set when Rolecall refused to touch the login (a protected, unmanaged or look-alike role); the refusal is audited. */
  refused?: string;
  granted: string[];
  revoked: string[];
  roles: string[];
  message?: string;
}

/** The statement and parameters of one rolecall.sync_login call; VALID UNTIL either from now or exact. */
function syncLoginCall(input: SyncLoginInput): [string, unknown[]] {
  const head = [input.login, input.verifier, input.groups];
  const info = JSON.stringify(input.clientInfo);
  if (input.validUntil !== undefined) {
    if (Number.isNaN(input.validUntil.getTime())) throw new SyncError('failed', 'validUntil is not a valid time');
    // Subtracting now() in the same statement makes the database's VALID UNTIL exactly this instant.
    return [
      'SELECT rolecall.sync_login($1, $2, $3::text[], $4::timestamptz - pg_catalog.now(), $5::jsonb) AS r',
      [...head, input.validUntil.toISOString(), info],
    ];
  }
  const seconds = input.validForSeconds ?? Number.NaN;
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new SyncError('failed', `validForSeconds must be positive (got ${input.validForSeconds})`);
  }
  return ['SELECT rolecall.sync_login($1, $2, $3::text[], make_interval(secs => $4), $5::jsonb) AS r', [...head, Math.round(seconds), info]];
}

/** How long the database's verifier iteration floor (rolecall.sync_parameters) is reused before asking again. */
const PARAMETERS_TTL_MS = 10 * 60_000;

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
  private floor: { value: number; at: number } | null = null;

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
      // One idle close per connection, a minute after its last use: an idle engine wakes at most once a minute.
      idleTimeoutMillis: 60_000,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: 'rolecall-sync',
    });
    // An idle client losing its connection must not crash the process.
    this.pool.on('error', (e) => this.logger.warn({ database: this.where, error: e.message }, 'sync pool connection lost'));
  }

  async syncLogin(input: SyncLoginInput): Promise<SyncResult> {
    const row = await this.call<SyncLoginRow>(...syncLoginCall(input), input.verifier);
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
    const result: SyncResult = {
      created: row.created,
      granted: row.granted,
      revoked: row.revoked,
      roles: row.roles,
      unchanged: row.unchanged === true,
      ...(row.valid_until === undefined ? {} : { validUntil: row.valid_until }),
    };
    this.logger.info({ login: input.login, ...result }, result.unchanged ? 'sync: login unchanged' : 'sync: login synced');
    return result;
  }

  /** rolecall.revoke_login: NOLOGIN, Rolecall's roles taken back, sessions ended, audited with `reason`. */
  async revokeLogin(login: string, reason: string): Promise<RevokeResult> {
    const row = await this.call<RevokeResult>('SELECT rolecall.revoke_login($1, $2) AS r', [login, reason]);
    if (row.refused) {
      this.logger.warn({ login, reason: row.refused }, 'sync: the database refused to revoke this login');
      throw new SyncError('refused', row.message ?? `Rolecall refuses to manage role "${login}": ${row.refused}`, { sqlstate: '42501' });
    }
    this.logger.info({ login, reason, ...row }, 'sync: login revoked');
    return row;
  }

  /**
   * A connection of its own (not pooled) as the sync account, for state that
   * belongs to one database session (the broker's sweep lease). The caller ends it.
   */
  async connectSession(applicationName: string): Promise<pg.Client> {
    const t = this.target;
    const client = new pg.Client({
      host: t.host,
      port: t.port,
      database: t.database,
      user: t.user,
      password: t.password,
      ssl: pgSslConfig(t.sslmode, t.caFile, t.host),
      connectionTimeoutMillis: t.connectTimeoutMs,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: applicationName,
    });
    client.on('error', (e) => this.logger.warn({ database: this.where, error: e.message }, 'sync session lost'));
    try {
      await client.connect();
    } catch (e) {
      await client.end().catch(() => undefined);
      throw this.toSyncError(e, 'connect');
    }
    return client;
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

  /**
   * Runs `work` on one pooled connection inside BEGIN … COMMIT (ROLLBACK when
   * it throws). Database and network failures come back as SyncErrors.
   */
  async transaction<T>(work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        const out = await work(client);
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    });
  }

  /** Runs `work` on one pooled connection; failures come back as SyncErrors (a SyncError thrown by `work` as is). */
  async withClient<T>(work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    if (this.closed) throw new SyncError('failed', 'the sync client is closed');
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw this.toSyncError(e, 'connect');
    }
    try {
      const out = await work(client);
      client.release();
      return out;
    } catch (e) {
      client.release(e instanceof pg.DatabaseError || e instanceof SyncError ? undefined : true);
      if (e instanceof SyncError) throw e;
      throw this.toSyncError(e, 'query');
    }
  }

  /**
   * The lowest SCRAM iteration count the database accepts (at least 4096):
   * rolecall.sync_parameters(), cached for a while. An admin may raise it
   * with rolecall.configure('min_scram_iterations', …); verifiers are built
   * with it. Version 1 of the SQL has no such function: 4096 then.
   */
  async minScramIterations(now: number = Date.now()): Promise<number> {
    if (this.floor !== null && now - this.floor.at < PARAMETERS_TTL_MS) return this.floor.value;
    let value = SCRAM_ITERATIONS;
    try {
      const params = await this.call<{ min_scram_iterations?: unknown }>('SELECT rolecall.sync_parameters() AS r', []);
      value = Math.max(SCRAM_ITERATIONS, Number(params.min_scram_iterations) || 0);
    } catch (e) {
      if (!(e instanceof SyncError && e.failure === 'not-installed')) throw e;
    }
    this.floor = { value, at: now };
    return value;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** One call, one pooled connection; every failure comes back as a SyncError. */
  private async call<T>(sql: string, params: unknown[], secret?: string): Promise<T> {
    try {
      return await this.withClient(async (client) => {
        const res = await client.query<{ r: T }>(sql, params);
        const row = res.rows[0];
        if (!row) throw new SyncError('failed', 'the sync function returned no row');
        return row.r;
      });
    } catch (e) {
      // Belt and braces: no server message should ever carry the verifier.
      if (secret && e instanceof SyncError && e.message.includes(secret)) {
        const scrubbed = e.message.split(secret).join('[verifier]');
        throw new SyncError(e.failure, scrubbed, e.sqlstate === undefined ? {} : { sqlstate: e.sqlstate });
      }
      throw e;
    }
  }

  private toSyncError(e: unknown, phase: Phase): SyncError {
    const err = e as { code?: unknown; message?: unknown };
    const code = typeof err.code === 'string' ? err.code : undefined;
    const message = typeof err.message === 'string' ? err.message : String(e);
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
