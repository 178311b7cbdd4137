import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
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
  frank: 'Frank-Pass-1!', // pg-readers and pg-writers: the revalidation test
  ivan: 'Ivan-Pass-1!', // pg-readers: the wrong password of the refusals test (then held a while)
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

const named = new Map<string, Promise<BrokerProcess>>();
/** Another broker process (a replica), started once per name. */
function startExtraBroker(name: string, change: (c: BrokerConfigInput) => BrokerConfigInput = (c) => c): Promise<BrokerProcess> {
  let b = named.get(name);
  if (b === undefined) {
    b = startBrokerProcess(path.join(dir, `${name}.json`), change(base), env, pki.caFile);
    void b.then((p) => extraBrokers.push(p));
    named.set(name, b);
  }
  return b;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The DC's own count of wrong passwords for an account (badPwdCount). */
async function badPwdCount(login: string): Promise<number> {
  const out = await samba.ldbSearch(`(sAMAccountName=${login})`, ['badPwdCount']);
  return Number(/^badPwdCount: (\d+)$/m.exec(out)?.[1] ?? 0);
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
  await samba.addMembers('pg-readers', ['pg-developers', 'carol', 'dave', 'erin', 'postgres', 'frank', 'ivan']);
  await samba.addMembers('pg-developers', ['alice']);
  await samba.addMembers('pg-writers', ['alice', 'frank']);
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
      // PostgreSQL 15 again, through another address: the same server, so the same serverId.
      { ...dbConfig('late', pg15, 6434), port: latePort, serverId: `127.0.0.1:${pg15.port}` },
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

async function auditCount(server: PgServer, login: string): Promise<number> {
  const admin = await server.connect({ database: 'app' });
  try {
    const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM rolecall.audit WHERE login = $1`, [login]);
    return rows[0]!.n;
  } finally {
    await admin.end();
  }
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
    const log = readFileSync(pg18.logFile, 'utf8');
    expect(log).toMatch(/statement: /);
    expect(log).not.toContain(PASSWORDS.alice);
    expect(log).not.toContain(r.body.password);
  });
});

describe('refusals: the same SQLSTATE and words as direct mode, and nothing changes in the database', () => {
  it('wrong password, unknown user, no group, disabled account, protected name', async () => {
    // Direct mode's own authenticator against the same directory: what the proxy would tell the client.
    const config = directorySchema.parse(base.directory);
    const direct = new DirectoryAuthenticator(
      { profileId: 'direct', cacheTtlMs: 0, negativeTtlMs: 0, passwordValidForSeconds: 3600, loginCase: 'lower', permittedGroups: (g) => permittedGroups(g, config) },
      createDirectory(config, samba.servicePassword),
      // Never reached: each of these is refused before any sync.
      new SyncClient({ host: '127.0.0.1', port: pg18.port, database: 'app', sslmode: 'verify-full', caFile: pg18.pki.caFile, user: 'rolecall_sync', password: 'unused', poolSize: 1, connectTimeoutMs: 1000 }),
    );
    const viaDirect = async (login: string, password: string) => {
      const e = await direct.authenticate(login, password, {}).then(() => null, (err: unknown) => err);
      expect(e).toBeInstanceOf(ClientError);
      const c = e as ClientError;
      return { sqlstate: c.sqlstate, message: c.message, ...(c.hint === undefined ? {} : { hint: c.hint }) };
    };
    const before = await catalogState(pg18);
    const cases: Array<[string, string, string, number]> = [
      ['ivan', 'wrong-Pass-9', '28P01', 401],
      ['nobody', 'whatever-1', '28P01', 401],
      ['bob', PASSWORDS.bob, '28000', 403],
      ['carol', PASSWORDS.carol, '28000', 403],
      ['postgres', PASSWORDS.postgres, '28000', 403],
    ];
    try {
      for (const [login, password, sqlstate, status] of cases) {
        const r = await signIn(broker, login, password);
        expect({ login, status: r.status }).toEqual({ login, status });
        expect(r.body.error).toEqual(await viaDirect(login, password));
        expect(r.body.error.sqlstate).toBe(sqlstate);
      }
    } finally {
      await direct.close();
    }
    // A forged request (right login, wrong password) and every refusal above changed nothing.
    expect(await catalogState(pg18)).toBe(before);
    const wrong = (await signIn(broker, 'ivan', 'wrong-Pass-9')).body.error;
    expect(wrong.message).toBe('password authentication failed for user "ivan"');
    expect(wrong.retryAfterSeconds).toBeGreaterThan(0);
    expect(wrong.hint).toMatch(/wait \d+ s/);
    const unknown = await signIn(broker, 'alice', PASSWORDS.alice, 'nope');
    expect({ status: unknown.status, sqlstate: unknown.body.error.sqlstate }).toEqual({ status: 404, sqlstate: '3D000' });
    expect(await catalogState(pg18)).toBe(before);
  });
});

describe('one password per login, server and window', () => {
  it('two broker processes give the same password in a window; the second sync writes nothing', async () => {
    const second = await startExtraBroker('second');
    const first = await signIn(broker, 'alice', PASSWORDS.alice);
    expect(first.status, first.text).toBe(200);
    const before = { role: await rolpassword(pg18, 'alice'), audit: await auditCount(pg18, 'alice') };
    const again = await signIn(second, 'ALICE', PASSWORDS.alice);
    expect(again.status, again.text).toBe(200);
    expect(again.body.password).toBe(first.body.password);
    expect(again.body.validUntil).toBe(first.body.validUntil);
    // Same verifier, same VALID UNTIL, same row version (xmin): nothing was written, not even an audit row.
    expect({ role: await rolpassword(pg18, 'alice'), audit: await auditCount(pg18, 'alice') }).toEqual(before);
    expect(second.stderr()).toMatch(/"msg":"sync: login unchanged"/);
  });
});

describe('the shared wrong-password throttle', () => {
  it('20 wrong passwords across 3 broker processes reach the directory once per hold; the right one waits for the hold too', async () => {
    const brokers = [broker, await startExtraBroker('second'), await startExtraBroker('third', (c) => ({ ...c, rateLimit: { perAddressPerMinute: 40 } }))];
    const before = await badPwdCount('erin');
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => signIn(brokers[i % 3]!, 'erin', `wrong-${i}-Pw`)));
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.body.error).toMatchObject({ sqlstate: '28P01', message: 'password authentication failed for user "erin"' });
    }
    expect(answers.filter((a) => a.body.error.retryAfterSeconds !== undefined)).toHaveLength(19);
    expect(await badPwdCount('erin')).toBe(before + 1);
    // During the hold even the right password is not checked (and not counted by the DC).
    const held = await signIn(brokers[1]!, 'CORP\\erin', PASSWORDS.erin);
    expect(held.status).toBe(401);
    const wait = held.body.error.retryAfterSeconds ?? 10;
    expect(wait).toBeGreaterThan(0);
    await sleep(wait * 1000 + 500);
    // The next hold: again one bind for five tries.
    await Promise.all(Array.from({ length: 5 }, (_, i) => signIn(brokers[i % 3]!, 'erin@corp.test', `wrong-again-${i}`)));
    expect(await badPwdCount('erin')).toBe(before + 2);
    await sleep(10_500);
    const ok = await signIn(brokers[2]!, 'erin', PASSWORDS.erin);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.roles).toEqual(['app_read']);
  });

  it('limits requests per source address (53300, retry after), other addresses unaffected', async () => {
    const third = await startExtraBroker('third');
    let last;
    for (let i = 0; i < 41; i++) last = await third.post<ErrorBody>('/v1/sign-in', { login: 'x' }, { localAddress: '127.0.0.3' });
    expect(last!.status).toBe(429);
    expect(last!.body.error.sqlstate).toBe('53300');
    expect(last!.body.error.retryAfterSeconds).toBeGreaterThan(0);
    expect(last!.headers['retry-after']).toBeDefined();
    expect((await third.post('/v1/sign-in', { login: 'x' })).status).toBe(400);
    expect((await third.request('/healthz', { localAddress: '127.0.0.3' })).status).toBe(200);
  });
});

describe('catalog, revalidation and the access check', () => {
  it('the catalog is for a signed-in directory user and carries each database\'s CA bundle', async () => {
    const r = await broker.post<{ databases: Array<Record<string, unknown>> } & ErrorBody>('/v1/catalog', { login: 'bob', password: PASSWORDS.bob });
    expect(r.status, r.text).toBe(200);
    expect(r.body.databases.map((d) => d.id)).toEqual(['app18', 'app15', 'late']);
    expect(r.body.databases[0]).toMatchObject({
      name: 'App on PostgreSQL 18',
      host: '127.0.0.1',
      port: pg18.port,
      database: 'app',
      sslmode: 'verify-full',
      sessionDefaults: { application_name: 'via-broker' },
      suggestedLocalPort: 6432,
      caPem: readFileSync(pg18.pki.caFile, 'utf8'),
    });
    const denied = await broker.post<ErrorBody>('/v1/catalog', { login: 'bob', password: 'not-his' });
    expect({ status: denied.status, sqlstate: denied.body.error.sqlstate }).toEqual({ status: 401, sqlstate: '28P01' });
  });

  it('revalidation needs the login\'s current database password; lost groups lose roles, no group left revokes and ends sessions', async () => {
    const r = await signIn(broker, 'frank', PASSWORDS.frank);
    expect(r.body.roles).toEqual(['app_read', 'app_write']);
    const revalidate = (password: string) => broker.post<ErrorBody & { revoked: string | null; roles: string[]; groups: string[] }>(
      '/v1/revalidate', { login: 'frank', database: 'app18', databasePassword: password });
    expect((await revalidate(r.body.password)).body).toEqual({ revoked: null, groups: ['pg-readers', 'pg-writers'], roles: ['app_read', 'app_write'] });
    const forged = await revalidate('x'.repeat(43));
    expect({ status: forged.status, sqlstate: forged.body.error.sqlstate }).toEqual({ status: 401, sqlstate: '28P01' });

    const session = await connectAs(pg18, 'frank', r.body.password);
    await samba.removeMembers('pg-writers', ['frank']);
    expect((await revalidate(r.body.password)).body).toEqual({ revoked: null, groups: ['pg-readers'], roles: ['app_read'] });
    const member = await pg18.query(`SELECT pg_has_role('frank', 'app_write', 'MEMBER') AS w`);
    expect(member.rows[0]?.w).toBe(false);
    await samba.removeMembers('pg-readers', ['frank']);
    const gone = await revalidate(r.body.password);
    expect(gone.body).toMatchObject({ revoked: 'the account is no longer in any permitted directory group', roles: [] });
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await expect(connectAs(pg18, 'frank', r.body.password)).rejects.toMatchObject({ code: '28000' });
  });

  it('the access check explains anyone\'s access after the caller signs in, and changes nothing', async () => {
    const before = await catalogState(pg18);
    const check = (subject?: string) =>
      broker.post<Record<string, unknown>>('/v1/access-check', { login: 'alice', password: PASSWORDS.alice, database: 'app18', ...(subject ? { subject } : {}) });
    expect((await check()).body).toMatchObject({ login: 'alice', found: true, denied: false, roles: ['app_read', 'app_write'], wouldCreate: false, grant: [], revoke: [] });
    expect((await check('dave')).body).toMatchObject({ login: 'dave', found: true, permittedGroups: ['pg-readers'], denied: false, wouldCreate: true, grant: ['app_read'] });
    expect((await check('bob')).body).toMatchObject({ login: 'bob', found: true, groups: ['staff'], permittedGroups: [], denied: true });
    expect((await check('nobody')).body).toMatchObject({ login: 'nobody', found: false, denied: true });
    expect((await check('postgres')).body).toMatchObject({ found: true, denied: true, refusal: expect.stringMatching(/protected|reserved/) });
    expect(await catalogState(pg18)).toBe(before);
  });
});

describe('the sweep', () => {
  it('revokes a user removed from the directory group and ends their session within an interval, with no laptop involved', async () => {
    const r = await signIn(broker, 'dave', PASSWORDS.dave);
    expect(r.status, r.text).toBe(200);
    const session = await connectAs(pg18, 'dave', r.body.password);
    const sweeper = await startBrokerProcess(path.join(dir, 'sweeper.json'), { ...base, sweep: { intervalSeconds: 5 } }, env, pki.caFile);
    try {
      await samba.removeMembers('pg-readers', ['dave']);
      await waitFor('the sweep to revoke dave', async () => {
        const { rows } = await pg18.query<{ rolcanlogin: boolean }>(`SELECT rolcanlogin FROM pg_roles WHERE rolname = 'dave'`);
        return rows[0]?.rolcanlogin === false ? true : undefined;
      }, 30_000, 250);
      await expect(session.query('SELECT 1')).rejects.toThrow();
      const admin = await pg18.connect({ database: 'app' });
      const audit = await admin.query(`SELECT action, outcome, message, principal FROM rolecall.audit WHERE login = 'dave' ORDER BY id DESC LIMIT 1`);
      const lease = await admin.query(`SELECT holder FROM rolecall.lease`);
      await admin.end();
      expect(audit.rows[0]).toMatchObject({ action: 'revoke', message: 'sweep: no longer in any permitted directory group', principal: 'broker' });
      expect(lease.rows).toEqual([{ holder: sweeper.replica }]);
      expect(sweeper.stderr()).toMatch(/"msg":"sweep done"/);
    } finally {
      // SIGTERM: drains, gives the lease up, exits 0.
      expect(await sweeper.stop()).toBe(0);
    }
    const admin = await pg18.connect({ database: 'app' });
    expect((await admin.query(`SELECT holder FROM rolecall.lease`)).rows).toEqual([]);
    await admin.end();
    expect(sweeper.stderr()).toMatch(/"msg":"sweep lease released"/);
    expect(sweeper.stderr()).toMatch(/"msg":"broker stopped"/);
  });
});

describe('outages', () => {
  it('database unreachable: 08006; it answers again without a restart', async () => {
    const down = await signIn(broker, 'alice', PASSWORDS.alice, 'late');
    expect(down.status).toBe(503);
    expect(down.body.error).toMatchObject({ sqlstate: '08006', message: 'the database server is not reachable' });
    const notReady = await broker.request<ReadyResponse>('/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body.checks.find((c) => c.name.includes(`:${latePort}/`))).toMatchObject({ ok: false });
    lateRelay = await startTcpRelay(pg15.port, latePort);
    const up = await signIn(broker, 'alice', PASSWORDS.alice, 'late');
    expect(up.status, up.text).toBe(200);
    // The same server as app15 (same serverId): the same password.
    expect(up.body.password).toBe((await signIn(broker, 'alice', PASSWORDS.alice, 'app15')).body.password);
    const ready = await broker.request<ReadyResponse>('/readyz');
    expect(ready.status, ready.text).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, draining: false });
  });

  it('directory unreachable: 57P03 and readyz says so; it answers again without a restart', async () => {
    await samba.stopDaemon();
    try {
      const down = await signIn(broker, 'alice', PASSWORDS.alice);
      expect(down.status).toBe(503);
      expect(down.body.error).toMatchObject({ sqlstate: '57P03', message: 'the directory server is not reachable, so Rolecall cannot check your password' });
      const ready = await broker.request<ReadyResponse>('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.find((c) => c.name === 'directory')).toMatchObject({ ok: false });
    } finally {
      await samba.startDaemon();
    }
    const back = await waitFor('sign-ins to work again', async () => {
      const r = await signIn(broker, 'alice', PASSWORDS.alice);
      return r.status === 200 ? r : undefined;
    }, 30_000, 500);
    expect(back.body.login).toBe('alice');
  });
});

describe('password windows', () => {
  it('the next window rotates the password; an open session keeps running', async () => {
    const rotating = await startExtraBroker('rotating', (c) => ({ ...c, credentials: { windowSeconds: 5, graceSeconds: 5 } }));
    const first = await signIn(rotating, 'alice', PASSWORDS.alice, 'app15');
    expect(first.status, first.text).toBe(200);
    expect(Date.parse(first.body.validUntil) - Date.parse(first.body.renewAfter)).toBe(5000);
    const session = await connectAs(pg15, 'alice', first.body.password);
    await sleep(Math.max(0, Date.parse(first.body.renewAfter) - Date.now()) + 300);
    const next = await signIn(rotating, 'alice', PASSWORDS.alice, 'app15');
    expect(next.status, next.text).toBe(200);
    expect(next.body.password).not.toBe(first.body.password);
    expect(Date.parse(next.body.renewAfter)).toBeGreaterThan(Date.parse(first.body.renewAfter));
    expect((await session.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n).toBe(1);
    const fresh = await connectAs(pg15, 'alice', next.body.password);
    await Promise.all([fresh.end(), session.end()]);
    expect((await rolpassword(pg15, 'alice')).validUntil.getTime()).toBe(Date.parse(next.body.validUntil));
  });
});

/** A raw TLS connection to the broker, from `localAddress`; resolves once encrypted (or rejects when the broker closed it). */
function rawTls(port: number, localAddress = '127.0.0.1'): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.once('error', reject);
    const s = tls.connect({ socket, ca: readFileSync(pki.caFile), servername: 'localhost' }, () => resolve(s));
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before TLS was up')));
  });
}

describe('hostile HTTP input', () => {
  it('oversized, wrongly typed, unknown-field and malformed bodies get a 4xx naming the problem, and change nothing', async () => {
    const before = await catalogState(pg18);
    const big = await broker.post<ErrorBody>('/v1/sign-in', { login: 'alice', password: 'x'.repeat(17 * 1024), database: 'app18' });
    expect({ status: big.status, sqlstate: big.body.error.sqlstate }).toEqual({ status: 413, sqlstate: '08P01' });
    expect(big.body.error.message).toMatch(/larger than 16384 bytes/);
    const text = await broker.request<ErrorBody>('/v1/sign-in', { method: 'POST', body: 'login=alice', headers: { 'content-type': 'text/plain' } });
    expect({ status: text.status, message: text.body.error.message }).toEqual({ status: 415, message: 'the request body must be JSON (Content-Type: application/json)' });
    const form = await broker.request<ErrorBody>('/v1/sign-in', { method: 'POST', body: 'login=alice', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    const cases: Array<[unknown, RegExp]> = [
      [{ login: 'alice', password: PASSWORDS.alice, database: 'app18', admin: true }, /Unrecognized key: "admin"/],
      [{ login: 5, password: PASSWORDS.alice, database: 'app18' }, /^invalid request: login: /],
      [{ login: 'alice', database: 'app18' }, /^invalid request: password: /],
      [{ login: 'alice', password: PASSWORDS.alice, database: 'App 18' }, /^invalid request: database: /],
      [[1, 2], /^invalid request: \(body\): /],
      ['{"login": "alice", ', /not valid JSON/],
      ['{"__proto__": {"admin": true}, "login": "alice"}', /could not be read|not valid JSON/],
    ];
    for (const [body, message] of cases) {
      const r = await broker.post<ErrorBody>('/v1/sign-in', body);
      expect({ body, status: r.status, sqlstate: r.body.error?.sqlstate }).toEqual({ body, status: 400, sqlstate: '08P01' });
      expect(r.body.error.message).toMatch(message);
      // The request's values never come back (a password could be among them).
      expect(r.text).not.toContain(PASSWORDS.alice);
    }
    const get = await broker.request<ErrorBody>('/v1/sign-in');
    expect(get.status).toBe(404);
    expect((await broker.request<Record<string, unknown>>('/v1/schema.json')).body).toMatchObject({ version: 1, maxBodyBytes: 16384 });
    expect(await catalogState(pg18)).toBe(before);
  });

  it('a body sent too slowly is cut and its connection closed; many idle connections from one address hit the limit; sign-ins keep working', async () => {
    const before = await catalogState(pg18);
    const slow = await rawTls(broker.port);
    let answer = '';
    slow.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
    slow.write('POST /v1/sign-in HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"login":');
    // The broker's requestTimeoutMs is 2 s here; a sign-in meanwhile is served.
    const during = await signIn(broker, 'alice', PASSWORDS.alice);
    expect(during.status, during.text).toBe(200);
    await closed;
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);

    const opened = await Promise.allSettled(Array.from({ length: 60 }, () => rawTls(broker.port, '127.0.0.2')));
    await sleep(300);
    const alive = opened.flatMap((o) => (o.status === 'fulfilled' && !o.value.destroyed && o.value.readyState === 'open' ? [o.value] : []));
    expect(alive.length).toBeLessThanOrEqual(20);
    expect(opened.length - alive.length).toBeGreaterThanOrEqual(40);
    const meanwhile = await signIn(broker, 'alice', PASSWORDS.alice);
    expect(meanwhile.status, meanwhile.text).toBe(200);
    for (const o of opened) if (o.status === 'fulfilled') o.value.destroy();
    expect(await catalogState(pg18)).toBe(before);
  });
});
