import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { createLogger } from '../../src-main/core/log.js';
import { directProfileSchema, type DirectProfile, type DirectProfileInput } from '../../src-main/core/profiles/schema.js';
import { MemorySecretStore } from '../../src-main/core/secrets/memory-store.js';
import { HistoryStore } from '../../src-main/core/history/history-store.js';
import { historySink } from '../../src-main/core/history/proxy-history.js';
import { ProxyService } from '../../src-main/core/service.js';
import { startPostgres, type PgServer, type PgVersion } from './postgres.js';
import { startSlapd, type SlapdServer } from './slapd.js';
import { freePort, tempDir } from './ports.js';
import { run } from './run.js';

export const INSTALL_SQL = readFileSync(path.resolve(import.meta.dirname, '../../sql/postgres/install.sql'), 'utf8');

/** The directory users every end-to-end test can count on. */
export const USERS = {
  alice: 'alice-Pass-1', // heimdall-hr-data directly, heimdall-readonly through hr-analysts
  bob: 'bob-Pass-1', // only "staff": no permitted group
  carol: 'carol-Pass-1', // locked (ppolicy)
  dave: 'dave-Pass-1', // heimdall-hr-data: used by the revocation test
  erin: 'erin-Pass-1', // heimdall-readonly: used by the concurrency test
  postgres: 'postgres-Pass-1', // a directory user named like the superuser
} as const;

export interface RolecallEnv {
  pg: PgServer;
  ldap: SlapdServer;
  service: ProxyService;
  profile: DirectProfile;
  port: number;
  history: HistoryStore;
  historyFile: string;
  syncPassword: string;
  /** Everything the proxy logged (debug level), for the secrets scan. */
  logText(): string;
  /** node-postgres client through the proxy. */
  connect(user: string, password: string, extra?: Partial<pg.ClientConfig>): Promise<pg.Client>;
  /** Runs psql through the proxy; resolves with its exit code and output. */
  psql(user: string, password: string | null, args: string[], env?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }>;
  /** A second profile on another port (same servers), e.g. with an unreachable upstream. */
  addProfile(overrides: (base: DirectProfileInput) => DirectProfileInput): Promise<DirectProfile>;
  stop(): Promise<void>;
}

/**
 * Database "app" with Rolecall's SQL installed, the sync login enabled, and two
 * allow-listed group roles over a small hr schema. Returns the sync password.
 */
export async function installRolecall(pgServer: PgServer): Promise<string> {
  const syncPassword = `sync-${Math.random().toString(36).slice(2)}`;
  await pgServer.query('CREATE DATABASE app');
  const admin = await pgServer.connect({ database: 'app' });
  try {
    await admin.query(INSTALL_SQL);
    await admin.query(`ALTER ROLE rolecall_sync LOGIN PASSWORD '${syncPassword}'`);
    await admin.query(`
      CREATE ROLE "heimdall-hr-data" NOLOGIN;
      CREATE ROLE "heimdall-readonly" NOLOGIN;
      CREATE SCHEMA hr;
      CREATE TABLE hr.employees (id int PRIMARY KEY, name text NOT NULL);
      INSERT INTO hr.employees VALUES (1, 'Ada'), (2, 'Grace');
      GRANT USAGE ON SCHEMA hr TO "heimdall-hr-data", "heimdall-readonly";
      GRANT SELECT, INSERT ON hr.employees TO "heimdall-hr-data";
      GRANT SELECT ON hr.employees TO "heimdall-readonly";
      SELECT rolecall.allow_group('heimdall-hr-data', 'heimdall-hr-data');
      SELECT rolecall.allow_group('heimdall-readonly', 'heimdall-readonly');
    `);
  } finally {
    await admin.end();
  }

  return syncPassword;
}

/** USERS in slapd with their groups: alice in heimdall-hr-data and (nested, through hr-analysts) heimdall-readonly; carol locked. */
export async function populateDirectory(ldap: SlapdServer): Promise<void> {
  const dn: Record<string, string> = {};
  for (const [uid, password] of Object.entries(USERS)) dn[uid] = await ldap.addUser(uid, password, { cn: `${uid} Test` });
  const analysts = await ldap.addGroup('hr-analysts', [dn.alice!]);
  await ldap.addGroup('heimdall-hr-data', [dn.alice!, dn.dave!, dn.postgres!]);
  await ldap.addGroup('heimdall-readonly', [analysts, dn.erin!]);
  await ldap.addGroup('staff', [dn.bob!]);
  await ldap.lockUser('carol');
}

/** Directory settings for the test slapd with populateDirectory's groups (heimdall-*, nested), for a profile or the broker. */
export function slapdDirectory(ldap: SlapdServer, timeoutMs: number) {
  return {
    kind: 'openldap' as const,
    url: ldap.url,
    bindDn: ldap.serviceDn,
    baseDn: ldap.baseDn,
    groupStrategy: 'member-nested' as const,
    groupPrefix: 'heimdall-',
    timeoutMs,
  };
}

export interface RolecallEnvOptions {
  pgVersion?: PgVersion;
  pgSettings?: Record<string, string>;
  profile?: (base: DirectProfileInput) => DirectProfileInput;
}

export async function startRolecallEnv(options: RolecallEnvOptions = {}): Promise<RolecallEnv> {
  const [pgServer, ldap] = await Promise.all([
    startPostgres({ version: options.pgVersion ?? 18, ...(options.pgSettings ? { settings: options.pgSettings } : {}) }),
    startSlapd(),
  ]);
  const syncPassword = await installRolecall(pgServer);

  await populateDirectory(ldap);

  const dir = tempDir('env');
  const logChunks: Buffer[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _e, cb) {
      logChunks.push(Buffer.from(chunk));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination: logStream });
  const historyFile = path.join(dir, 'history.sqlite3');
  const history = new HistoryStore(historyFile);
  const secrets = new MemorySecretStore();
  const service = new ProxyService({ secrets, logger, history: historySink(history), tlsDir: path.join(dir, 'tls') });

  const baseFor = async (): Promise<DirectProfileInput> => ({
    id: 'app',
    name: 'App database',
    directory: slapdDirectory(ldap, 3000),
    database: { host: '127.0.0.1', port: pgServer.port, database: 'app', sslmode: 'verify-full', caFile: pgServer.pki.caFile, connectTimeoutMs: 5000 },
    listen: { host: '127.0.0.1', port: await freePort(), authTimeoutMs: 10_000 },
    cache: { ttlSeconds: 600, negativeTtlSeconds: 30, passwordValidForSeconds: 3600 },
    revalidate: { intervalSeconds: 0 },
  });
  const addProfile = async (overrides: (base: DirectProfileInput) => DirectProfileInput) => {
    const profile = directProfileSchema.parse(overrides(await baseFor()));
    await secrets.set(profile.id, 'ldap-bind', ldap.servicePassword);
    await secrets.set(profile.id, 'sync', syncPassword);
    await service.start(profile);
    return profile;
  };
  const profile = await addProfile(options.profile ?? ((b) => b));
  const port = profile.listen.port;

  return {
    pg: pgServer,
    ldap,
    service,
    profile,
    port,
    history,
    historyFile,
    syncPassword,
    logText: () => Buffer.concat(logChunks).toString('utf8'),
    async connect(user, password, extra = {}) {
      const c = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'app', ...extra });
      c.on('error', () => undefined);
      await c.connect();
      return c;
    },
    psql(user, password, args, env = {}) {
      return run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', 'app', '-X', '-v', 'ON_ERROR_STOP=1', ...args], {
        env: { PATH: process.env.PATH ?? '', ...(password === null ? {} : { PGPASSWORD: password }), PGCONNECT_TIMEOUT: '10', ...env },
      });
    },
    addProfile,
    async stop() {
      await service.stopAll(500);
      history.close();
      await Promise.all([pgServer.stop(), ldap.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
