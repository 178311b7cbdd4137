import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import type { BrokerConfigInput } from '../../src-main/broker/config.js';
import { HistoryStore } from '../../src-main/core/history/history-store.js';
import { historySink } from '../../src-main/core/history/proxy-history.js';
import { createLogger } from '../../src-main/core/log.js';
import { profileSchema, type BrokerProfile, type BrokerProfileInput } from '../../src-main/core/profiles/schema.js';
import { MemorySecretStore } from '../../src-main/core/secrets/memory-store.js';
import { ProxyService } from '../../src-main/core/service.js';
import { brokerEnv, newCredentialKey, prepareBrokerDatabase, startBrokerProcess, type BrokerProcess } from './broker.js';
import { freePort, tempDir } from './ports.js';
import { startPostgres, type PgServer } from './postgres.js';
import { populateDirectory, slapdDirectory, USERS } from './rolecall-env.js';
import { run } from './run.js';
import { startSlapd, type SlapdServer } from './slapd.js';
import { makeTestPki, type TestPki } from './tls.js';

/*
 * Team mode end to end: slapd with the same users and groups as direct
 * mode's tests (rolecall-env.ts), PostgreSQL 18 and 15 set up as a DBA sets
 * up team mode (rolecall_broker enabled, direct mode off), the real broker
 * process (`rolecall broker`), and the laptop side: an in-process
 * ProxyService whose profiles are broker profiles with no secret.
 */

export const TEAM_GROUPS = { 'heimdall-hr-data': 'heimdall-hr-data', 'heimdall-readonly': 'heimdall-readonly' };

/** Catalog ids the broker serves: app18 and app15, and "late", PostgreSQL 18 behind a relay port nothing listens on until a test says so. */
export type CatalogId = 'app18' | 'app15' | 'late';

export interface TeamEnv {
  ldap: SlapdServer;
  pg18: PgServer;
  pg15: PgServer;
  /** The broker's certificate and its CA (what laptops verify it with). */
  pki: TestPki;
  dir: string;
  broker: BrokerProcess;
  /** The config the first broker runs; change it for more brokers. */
  brokerConfig: BrokerConfigInput;
  /** The port of "late"'s database: a relay to PostgreSQL 18 goes here when a test wants it reachable. */
  latePort: number;
  /** Another broker process (a replica, or other settings), stopped with the env. */
  startBroker(name: string, change?: (c: BrokerConfigInput) => BrokerConfigInput): Promise<BrokerProcess>;
  /** Every team secret: none of them may ever be found on the laptop side. */
  teamSecrets: string[];
  /** The laptop: one ProxyService with no secret in its store. */
  laptop: ProxyService;
  history: HistoryStore;
  historyFile: string;
  laptopLog(): string;
  /** A broker profile for a catalog database (not started). */
  profileFor(id: string, database: CatalogId, change?: (p: BrokerProfileInput) => BrokerProfileInput): Promise<BrokerProfile>;
  /** The same, started on the laptop. */
  startProfile(id: string, database: CatalogId, change?: (p: BrokerProfileInput) => BrokerProfileInput): Promise<BrokerProfile>;
  connect(port: number, user: string, password: string): Promise<pg.Client>;
  psql(port: number, user: string, password: string, sql: string): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export async function startTeamEnv(options: { brokerConfig?: (c: BrokerConfigInput) => BrokerConfigInput; pgSettings?: Record<string, string> } = {}): Promise<TeamEnv> {
  const dir = tempDir('team');
  mkdirSync(path.join(dir, 'pki'));
  const pki = makeTestPki(path.join(dir, 'pki'));
  const [ldap, pg18, pg15] = await Promise.all([
    startSlapd(),
    startPostgres({ version: 18, ...(options.pgSettings ? { settings: options.pgSettings } : {}) }),
    startPostgres({ version: 15 }),
  ]);
  const brokerPassword = `Broker-${Math.random().toString(36).slice(2)}`;
  const credentialKey = newCredentialKey();
  await Promise.all([pg18, pg15].map((s) => prepareBrokerDatabase(s, { database: 'app', groups: TEAM_GROUPS, brokerPassword })));
  await populateDirectory(ldap);

  const latePort = await freePort();
  const database = (id: CatalogId, server: PgServer, suggestedLocalPort: number) => ({
    id,
    name: `App on PostgreSQL ${server.version}`,
    host: '127.0.0.1',
    port: server.port,
    database: 'app',
    sslmode: 'verify-full' as const,
    caFile: server.pki.caFile,
    sessionDefaults: {},
    suggestedLocalPort,
    connectTimeoutMs: 3000,
  });
  const base: BrokerConfigInput = {
    version: 1,
    listen: { host: '127.0.0.1', port: 0, tls: { certFile: pki.certFile, keyFile: pki.keyFile }, drainSeconds: 1 },
    directory: slapdDirectory(ldap, 2000),
    databases: [
      database('app18', pg18, 16432),
      database('app15', pg15, 16433),
      // The same server as app18 (same serverId, so the same password), reached through a port that is dead until a test relays it.
      { ...database('late', pg18, 16434), port: latePort, serverId: `127.0.0.1:${pg18.port}` },
    ],
    credentials: { windowSeconds: 3600, graceSeconds: 900 },
    throttle: { holdSeconds: 1 },
    rateLimit: { perAddressPerMinute: 10_000 },
    sweep: { intervalSeconds: 0 },
  };
  const brokerConfig = options.brokerConfig ? options.brokerConfig(base) : base;
  const env = brokerEnv({ bindPassword: ldap.servicePassword, syncPassword: brokerPassword, credentialKey });
  const brokers: BrokerProcess[] = [];
  const startBroker = async (name: string, change: (c: BrokerConfigInput) => BrokerConfigInput = (c) => c) => {
    const b = await startBrokerProcess(path.join(dir, `${name}.json`), change(brokerConfig), env, pki.caFile);
    brokers.push(b);
    return b;
  };
  const broker = await startBroker('broker');

  const logChunks: Buffer[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _e, cb) {
        logChunks.push(Buffer.from(chunk));
        cb();
      },
    }),
  });
  const historyFile = path.join(dir, 'laptop', 'history.sqlite3');
  mkdirSync(path.dirname(historyFile));
  const history = new HistoryStore(historyFile);
  const laptop = new ProxyService({ secrets: new MemorySecretStore(), logger, history: historySink(history), tlsDir: path.join(dir, 'laptop', 'tls') });

  const servers: Record<CatalogId, number> = { app18: pg18.port, app15: pg15.port, late: latePort };
  const caFiles: Record<CatalogId, string> = { app18: pg18.pki.caFile, app15: pg15.pki.caFile, late: pg18.pki.caFile };
  const profileFor = async (id: string, db: CatalogId, change: (p: BrokerProfileInput) => BrokerProfileInput = (p) => p) => {
    const input: BrokerProfileInput = {
      mode: 'broker',
      id,
      name: `Broker profile ${id}`,
      broker: { urls: [broker.url], caFile: pki.caFile, database: db, connectTimeoutMs: 1000, timeoutMs: 10_000 },
      database: { host: '127.0.0.1', port: servers[db], database: 'app', sslmode: 'verify-full', caFile: caFiles[db], connectTimeoutMs: 3000 },
      listen: { host: '127.0.0.1', port: await freePort(), authTimeoutMs: 20_000 },
      revalidate: { intervalSeconds: 0 },
    };
    const p = profileSchema.parse(change(input));
    if (p.mode !== 'broker') throw new Error('expected a broker profile');
    return p;
  };

  return {
    ldap,
    pg18,
    pg15,
    pki,
    dir,
    broker,
    brokerConfig,
    latePort,
    startBroker,
    teamSecrets: [brokerPassword, ldap.servicePassword, credentialKey],
    laptop,
    history,
    historyFile,
    laptopLog: () => Buffer.concat(logChunks).toString('utf8'),
    profileFor,
    async startProfile(id, db, change) {
      const p = await profileFor(id, db, change);
      await laptop.start(p);
      return p;
    },
    async connect(port, user, password) {
      const c = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'app' });
      c.on('error', () => undefined);
      await c.connect();
      return c;
    },
    psql(port, user, password, sql) {
      return run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', 'app', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
        env: { PATH: process.env.PATH ?? '', PGPASSWORD: password, PGCONNECT_TIMEOUT: '15' },
      });
    },
    async stop() {
      await laptop.stopAll(500);
      history.close();
      await Promise.allSettled(brokers.map((b) => b.stop()));
      await Promise.allSettled([ldap.stop(), pg18.stop(), pg15.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { USERS };
