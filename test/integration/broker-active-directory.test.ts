import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerConfigInput } from '../../src-main/broker/config.js';
import type { ErrorBody, ReadyResponse, SignInResponse } from '../../src-main/core/broker-api/schema.js';
import { DirectoryAuthenticator } from '../../src-main/core/auth/directory-authenticator.js';
import { ClientError } from '../../src-main/core/client-errors.js';
import { createDirectory } from '../../src-main/core/directory/directory.js';
import { permittedGroups } from '../../src-main/core/directory/permitted.js';
import { directorySchema } from '../../src-main/core/profiles/schema.js';
import { SyncClient } from '../../src-main/core/sync/sync-client.js';
import { brokerEnv, newCredentialKey, prepareBrokerDatabase, startBrokerProcess, type BrokerProcess } from '../harness/broker.js';
import { freePort, tempDir, waitFor } from '../harness/ports.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { run } from '../harness/run.js';
import { startSambaAd, type SambaServer } from '../harness/samba.js';
import { startTcpRelay, type TcpRelay } from '../harness/tcp-relay.js';
import { makeTestPki, type TestPki } from '../harness/tls.js';

/*
 * The team broker (`rolecall broker`, its own process, over real HTTPS)
 * against a real Samba AD DC and PostgreSQL 18 and 15, with psql and
 * node-postgres logging in with the passwords it hands out.
 */

const PASSWORDS = {
  alice: 'Alice-Pass-1!', // pg-developers (nested in pg-readers) and pg-writers
  bob: 'Bob-Pass-1!', // only "staff": no permitted group
  carol: 'Carol-Pass-1!', // pg-readers, disabled
  dave: 'Dave-Pass-1!', // pg-readers: removed by the sweep test
  erin: 'Erin-Pass-1!', // pg-readers: the wrong-password test
  postgres: 'Postgres-Pass-1!', // a directory user named like the superuser
} as const;
const GROUPS = { 'pg-readers': 'app_read', 'pg-writers': 'app_write' };

let samba: SambaServer;
let pg18: PgServer;
let pg15: PgServer;
let pki: TestPki;
let dir: string;
let brokerPassword: string;
let credentialKey: string;
let env: NodeJS.ProcessEnv;
let base: BrokerConfigInput;
let broker: BrokerProcess;
let latePort: number;
let lateRelay: TcpRelay | undefined;
const extraBrokers: BrokerProcess[] = [];

function dbConfig(id: string, server: PgServer, suggestedLocalPort: number) {
  return {
    id,
    name: `App on PostgreSQL ${server.version}`,
    host: '127.0.0.1',
    port: server.port,
    database: 'app',
    sslmode: 'verify-full' as const,
    caFile: server.pki.caFile,
    sessionDefaults: { application_name: 'via-broker' },
    suggestedLocalPort,
    connectTimeoutMs: 3000,
  };
}

async function startExtraBroker(name: string, change: (c: BrokerConfigInput) => BrokerConfigInput = (c) => c): Promise<BrokerProcess> {
  const b = await startBrokerProcess(path.join(dir, `${name}.json`), change(base), env, pki.caFile);
  extraBrokers.push(b);
  return b;
}

beforeAll(async () => {
  dir = tempDir('broker-ad');
  mkdirSync(path.join(dir, 'pki'));
  pki = makeTestPki(path.join(dir, 'pki'));
  [samba, pg18, pg15] = await Promise.all([
    startSambaAd(),
    startPostgres({ version: 18, settings: { log_statement: 'all' } }),
    startPostgres({ version: 15 }),
  ]);
  brokerPassword = `Broker-${Math.random().toString(36).slice(2)}`;
  credentialKey = newCredentialKey();
  await Promise.all([pg18, pg15].map((s) => prepareBrokerDatabase(s, { database: 'app', groups: GROUPS, brokerPassword })));

  // Bad passwords are counted by the DC only when a lockout threshold is set (as in any real domain).
  await samba.sambaTool(['domain', 'passwordsettings', 'set', '--account-lockout-threshold=100', '--reset-account-lockout-after=30', '--account-lockout-duration=30']);
  for (const [login, password] of Object.entries(PASSWORDS)) await samba.createUser(login, password, login[0]!.toUpperCase() + login.slice(1), 'Test');
  for (const g of ['pg-readers', 'pg-writers', 'pg-developers', 'staff']) await samba.addGroup(g);
  await samba.addMembers('pg-readers', ['pg-developers', 'carol', 'dave', 'erin', 'postgres']);
  await samba.addMembers('pg-developers', ['alice']);
  await samba.addMembers('pg-writers', ['alice']);
  await samba.addMembers('staff', ['bob']);
  await samba.disableUser('carol');

  latePort = await freePort();
  base = {
    version: 1,
    listen: { host: '127.0.0.1', port: 0, tls: { certFile: pki.certFile, keyFile: pki.keyFile }, requestTimeoutMs: 2000, maxConnectionsPerAddress: 20 },
    directory: {
      kind: 'active-directory',
      url: samba.ldapsUrl,
      caFile: samba.pki.caFile,
      bindDn: samba.serviceLogin,
      baseDn: samba.baseDn,
      groupPrefix: 'pg-',
      timeoutMs: 3000,
    },
    databases: [
      dbConfig('app18', pg18, 6432),
      dbConfig('app15', pg15, 6433),
      // Nothing listens here until the outage test puts a relay to PostgreSQL 18 there.
      { ...dbConfig('late', pg18, 6434), port: latePort, serverId: 'late-server' },
    ],
    credentials: { windowSeconds: 3600, graceSeconds: 900 },
    throttle: { holdSeconds: 10 },
    rateLimit: { perAddressPerMinute: 1000 },
    sweep: { intervalSeconds: 0 },
    sync: { poolSize: 4 },
  };
  env = brokerEnv({ bindPassword: samba.servicePassword, syncPassword: brokerPassword, credentialKey });
  broker = await startBrokerProcess(path.join(dir, 'broker.json'), base, env, pki.caFile);
}, 240_000);

afterAll(async () => {
  await Promise.allSettled([broker?.stop(), ...extraBrokers.map((b) => b.stop())]);
  await lateRelay?.close();
  await Promise.allSettled([samba?.stop(), pg18?.stop(), pg15?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const signIn = (b: BrokerProcess, login: string, password: string, database = 'app18') =>
  b.post<SignInResponse & ErrorBody>('/v1/sign-in', { login, password, database, clientInfo: { application_name: 'test' } });

async function connectAs(server: PgServer, user: string, password: string): Promise<pg.Client> {
  const c = await server.connect({ user, password, database: 'app' });
  c.on('error', () => undefined);
  return c;
}

/** Everything a refused request must leave alone: roles, memberships, the registry and the audit. */
async function catalogState(server: PgServer): Promise<string> {
  const admin = await server.connect({ database: 'app' });
  try {
    const roles = await admin.query(`SELECT rolname, rolcanlogin, rolpassword, rolvaliduntil, xmin::text FROM pg_authid ORDER BY rolname`);
    const members = await admin.query(`SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members ORDER BY 1, 2`);
    const audit = await admin.query(`SELECT count(*)::int AS n FROM rolecall.audit`);
    const managed = await admin.query(`SELECT login, xmin::text FROM rolecall.managed_login ORDER BY 1`);
    return JSON.stringify({ roles: roles.rows, members: members.rows, audit: audit.rows, managed: managed.rows });
  } finally {
    await admin.end();
  }
}

/** Whether `password` verifies against a SCRAM-SHA-256 verifier, computed as the server would (RFC 5802 StoredKey). */
function scramVerifies(verifier: string, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!m) throw new Error('not a SCRAM verifier');
  const salted = pbkdf2Sync(password.normalize('NFKC'), Buffer.from(m[2]!, 'base64'), Number(m[1]), 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  return storedKey.toString('base64') === m[3];
}

async function rolpassword(server: PgServer, login: string): Promise<{ verifier: string; validUntil: Date; xmin: string }> {
  const { rows } = await server.query<{ rolpassword: string; rolvaliduntil: Date; xmin: string }>(
    `SELECT rolpassword, rolvaliduntil, xmin::text FROM pg_authid WHERE rolname = $1`,
    [login],
  );
  if (!rows[0]) throw new Error(`no role ${login}`);
  return { verifier: rows[0].rolpassword, validUntil: rows[0].rolvaliduntil, xmin: rows[0].xmin };
}

describe('sign-in through the broker (Samba AD, PostgreSQL 18 and 15)', () => {
  it('hands out a password the database accepts, with roles from the groups (nested ones too) and VALID UNTIL at window end + grace', async () => {
    const r = await signIn(broker, 'alice', PASSWORDS.alice);
    expect(r.status, r.text).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.body).toMatchObject({ login: 'alice', groups: ['pg-developers', 'pg-readers', 'pg-writers'], roles: ['app_read', 'app_write'] });
    const windowEnd = (Math.floor(Date.now() / 3_600_000) + 1) * 3_600_000;
    expect(Date.parse(r.body.renewAfter)).toBe(windowEnd);
    expect(Date.parse(r.body.validUntil)).toBe(windowEnd + 900_000);
    const { validUntil } = await rolpassword(pg18, 'alice');
    expect(validUntil.getTime()).toBe(windowEnd + 900_000);

    const c = await connectAs(pg18, 'alice', r.body.password);
    const who = await c.query<{ u: string; read: boolean; write: boolean }>(
      `SELECT current_user AS u, pg_has_role('alice', 'app_read', 'MEMBER') AS read, pg_has_role('alice', 'app_write', 'MEMBER') AS write`,
    );
    expect(who.rows[0]).toEqual({ u: 'alice', read: true, write: true });
    await c.end();
    const psql = await run('psql', ['-h', '127.0.0.1', '-p', String(pg18.port), '-U', 'alice', '-d', 'app', '-X', '-At', '-c', 'select current_user'], {
      env: { PATH: process.env.PATH ?? '', PGPASSWORD: r.body.password, PGSSLMODE: 'verify-full', PGSSLROOTCERT: pg18.pki.caFile },
    });
    expect(psql, psql.stderr).toMatchObject({ code: 0, stdout: 'alice\n' });

    // PostgreSQL 15 is another server: another password for the same login.
    const r15 = await signIn(broker, 'CORP\\alice', PASSWORDS.alice, 'app15');
    expect(r15.status, r15.text).toBe(200);
    expect(r15.body.login).toBe('alice');
    expect(r15.body.password).not.toBe(r.body.password);
    const c15 = await connectAs(pg15, 'alice', r15.body.password);
    await c15.end();
  });

  it('never makes the directory password a database password: it does not verify against the stored verifier, the derived one does', async () => {
    const r = await signIn(broker, 'alice@corp.test', PASSWORDS.alice);
    expect(r.status, r.text).toBe(200);
    const { verifier } = await rolpassword(pg18, 'alice');
    expect(scramVerifies(verifier, r.body.password)).toBe(true);
    expect(scramVerifies(verifier, PASSWORDS.alice)).toBe(false);
    await expect(connectAs(pg18, 'alice', PASSWORDS.alice)).rejects.toMatchObject({ code: '28P01' });
    // Nothing the database logged names the directory password.
    await new Promise((r) => setTimeout(r, 300));
    const log = (await import('node:fs')).readFileSync(pg18.logFile, 'utf8');
    expect(log).toMatch(/statement: /);
    expect(log).not.toContain(PASSWORDS.alice);
    expect(log).not.toContain(r.body.password);
  });
});
