import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startPostgres, type PgServer, type PgVersion } from './postgres.js';
import { waitFor } from './ports.js';
import { buildScramVerifier } from '../../src-main/core/sync/scram-verifier.js';

/*
 * One PostgreSQL server with Rolecall installed, its sync account enabled, and
 * the helpers the SQL tests share: calling the functions the way the real
 * client does (bind parameters), and reading back catalog state to assert on.
 */

export const SQL_DIR = path.resolve(import.meta.dirname, '../../sql/postgres');
export const installSql = readFileSync(path.join(SQL_DIR, 'install.sql'), 'utf8');
/** Version 1 of install.sql, as released: the upgrade test starts from it. */
export const installV1Sql = readFileSync(path.resolve(import.meta.dirname, '../fixtures/sql/install-v1.sql'), 'utf8');
/**
 * The install script the SQL tests run: install.sql, or the file named by
 * ROLECALL_TEST_INSTALL_SQL (e.g. test/fixtures/sql/install-v1.sql, to see
 * which attacks an older version lets through).
 */
export const testedInstallSql = process.env.ROLECALL_TEST_INSTALL_SQL
  ? readFileSync(path.resolve(process.env.ROLECALL_TEST_INSTALL_SQL), 'utf8')
  : installSql;
export const uninstallSql = readFileSync(path.join(SQL_DIR, 'uninstall.sql'), 'utf8');

/** How the sync client calls sync_login: every argument a bind parameter. */
export const SYNC_CALL = 'SELECT rolecall.sync_login($1, $2, $3::text[], $4::interval, $5::jsonb) AS r';

export interface SyncJson {
  created: boolean;
  denied: boolean;
  refused?: string;
  /** True when nothing had to change (the same verifier as last time): nothing was written. */
  unchanged?: boolean;
  granted: string[];
  revoked: string[];
  roles: string[];
  skipped: string[];
  message?: string;
  valid_until?: string;
}

export interface SqlFailure {
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
  where?: string;
  internalQuery?: string;
}

/** The error a statement failed with (all the text a client sees), or a thrown assertion if it succeeded. */
export async function failureOf(p: Promise<unknown>): Promise<SqlFailure> {
  try {
    await p;
  } catch (e) {
    const err = e as SqlFailure;
    return { code: err.code, message: err.message, detail: err.detail, hint: err.hint, where: err.where, internalQuery: err.internalQuery };
  }
  throw new Error('expected the statement to fail');
}

export async function sqlstateOf(p: Promise<unknown>): Promise<string | undefined> {
  return (await failureOf(p)).code;
}

export interface SyncArgs {
  login: string;
  verifier: string;
  groups?: string[] | null;
  validFor?: string | null;
  clientInfo?: unknown;
}

export interface RolecallDb {
  version: PgVersion;
  server: PgServer;
  /** Superuser connection. */
  admin: pg.Client;
  /** A connection as rolecall_sync. */
  sync: pg.Client;
  syncPassword: string;
  syncConfig(): pg.ClientConfig;
  /** A new connection as rolecall_sync (the caller ends it). */
  connectSync(): Promise<pg.Client>;
  /** sync_login as the real client calls it. */
  syncRaw(args: SyncArgs, client?: pg.Client | pg.Pool): Promise<SyncJson>;
  /** sync_login with a verifier of `password`, valid for an hour. */
  syncLogin(login: string, password: string, groups: string[], client?: pg.Client | pg.Pool): Promise<SyncJson>;
  revokeLogin(login: string, reason?: string, client?: pg.Client): Promise<Record<string, unknown>>;
  canLogIn(user: string, password: string): Promise<boolean>;
  /** Roles the login is a member of (any grantor), sorted. */
  memberships(login: string): Promise<string[]>;
  /** Everything a refusal must leave alone for one name: its pg_authid row, memberships and the catalog counts. */
  stateOf(name: string): Promise<string>;
  auditRows(login: string): Promise<Array<{ action: string; outcome: string; message: string | null; revoked: string[]; granted: string[] }>>;
  /** Resolves once a backend of `user` is waiting for a lock. */
  waitForLockWait(user: string): Promise<void>;
  /** Value of rolecall.refused_calls (0 before the first refusal). */
  refusedCalls(): Promise<number>;
  /** The server log so far (waits briefly for the last lines). */
  serverLog(): Promise<string>;
  newPassword(): string;
  /** Every plaintext password handed out by newPassword(). */
  plaintexts: string[];
  close(): Promise<void>;
}

export function verifierOf(password: string, options?: { salt?: Buffer; iterations?: number }): string {
  return buildScramVerifier(password, options);
}

/** The parts of a verifier that must never show up in an error or a log: the whole, the salt and both keys. */
export function verifierParts(verifier: string): string[] {
  const m = /^SCRAM-SHA-256\$\d+:([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!m) throw new Error('not a verifier');
  return [verifier, m[1]!, m[2]!, m[3]!];
}

export async function startRolecallDb(
  version: PgVersion,
  options: { settings?: Record<string, string>; install?: string } = {},
): Promise<RolecallDb> {
  // log_statement=all: tests read everything the server logged.
  const server = await startPostgres({ version, settings: { log_statement: 'all', log_min_messages: 'info', ...options.settings } });
  const admin = await server.connect();
  admin.on('error', () => undefined);
  await admin.query(options.install ?? testedInstallSql);
  const plaintexts: string[] = [];
  const newPassword = () => {
    const p = `Pw-${randomBytes(9).toString('base64url')}`;
    plaintexts.push(p);
    return p;
  };
  const syncPassword = newPassword();
  // The admin enables the sync account; a verifier keeps its password out of the log too.
  await admin.query(`ALTER ROLE rolecall_sync LOGIN PASSWORD '${buildScramVerifier(syncPassword)}'`);
  const syncConfig = (): pg.ClientConfig => ({
    host: server.host,
    port: server.port,
    database: 'postgres',
    user: 'rolecall_sync',
    password: syncPassword,
    ssl: { ca: readFileSync(server.pki.caFile, 'utf8'), servername: 'localhost' },
  });
  const connectSync = async () => {
    const c = new pg.Client(syncConfig());
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  const sync = await connectSync();

  const syncRaw: RolecallDb['syncRaw'] = async (args, client = sync) => {
    const res = await client.query<{ r: SyncJson }>(SYNC_CALL, [
      args.login,
      args.verifier,
      args.groups === undefined ? [] : args.groups,
      args.validFor === undefined ? '1 hour' : args.validFor,
      args.clientInfo === undefined ? { app: 'test' } : args.clientInfo,
    ]);
    return res.rows[0]!.r;
  };
  const memberships = async (login: string): Promise<string[]> => {
    const res = await admin.query<{ role: string }>(
      `SELECT DISTINCT r.rolname AS role FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid
       WHERE a.member = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1`,
      [login],
    );
    return res.rows.map((r) => r.role);
  };

  return {
    version,
    server,
    admin,
    sync,
    syncPassword,
    syncConfig,
    connectSync,
    syncRaw,
    syncLogin: (login, password, groups, client) => syncRaw({ login, verifier: buildScramVerifier(password), groups }, client),
    async revokeLogin(login, reason = 'test', client = sync) {
      const res = await client.query<{ r: Record<string, unknown> }>('SELECT rolecall.revoke_login($1, $2) AS r', [login, reason]);
      return res.rows[0]!.r;
    },
    async canLogIn(user, password) {
      try {
        const c = await server.connect({ user, password });
        await c.end();
        return true;
      } catch {
        return false;
      }
    },
    memberships,
    async stateOf(name) {
      const role = await admin.query(
        `SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolreplication, rolbypassrls, rolpassword, rolvaliduntil
         FROM pg_authid WHERE rolname = $1`,
        [name],
      );
      const counts = await admin.query(
        `SELECT (SELECT count(*) FROM pg_authid) AS roles, (SELECT count(*) FROM pg_auth_members) AS members,
                (SELECT count(*) FROM rolecall.managed_login) AS managed`,
      );
      return JSON.stringify({ role: role.rows, members: await memberships(name), counts: counts.rows });
    },
    async auditRows(login) {
      const res = await admin.query(
        `SELECT action, outcome, message, revoked, granted FROM rolecall.audit WHERE login = $1 ORDER BY id`,
        [login],
      );
      return res.rows;
    },
    async waitForLockWait(user) {
      await waitFor(`a backend of ${user} waiting for a lock`, async () => {
        const res = await admin.query(`SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock'`, [user]);
        return res.rowCount ? true : undefined;
      });
    },
    async refusedCalls() {
      const res = await admin.query<{ n: string }>(
        `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM rolecall.refused_calls`,
      );
      return Number(res.rows[0]!.n);
    },
    async serverLog() {
      await new Promise((r) => setTimeout(r, 300));
      return readFileSync(server.logFile, 'utf8');
    },
    newPassword,
    plaintexts,
    async close() {
      await sync.end().catch(() => undefined);
      await admin.end().catch(() => undefined);
      await server.stop();
    },
  };
}
