import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerConfigInput } from '../../src-main/broker/config.js';
import type { ErrorBody, ReadyResponse, SignInResponse } from '../../src-main/core/broker-api/schema.js';
import { brokerEnv, newCredentialKey, prepareBrokerDatabase, startBrokerProcess, type BrokerProcess } from '../harness/broker.js';
import { tempDir, waitFor } from '../harness/ports.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { run } from '../harness/run.js';
import { startSlapd, type SlapdServer } from '../harness/slapd.js';
import { makeClientCert, makeTestPki, type TestPki } from '../harness/tls.js';

/*
 * The team broker against OpenLDAP (slapd with memberof and ppolicy) and
 * PostgreSQL 15: nested groups through member-nested, a locked account, the
 * wrong-password throttle counted by slapd itself (ppolicy's pwdFailureTime,
 * one value per failed bind), device certificates, secrets from files, and
 * `rolecall broker --check`.
 */

const PASSWORDS = { alice: 'alice-Pass-1', bob: 'bob-Pass-1', carol: 'carol-Pass-1', erin: 'erin-Pass-1', dan: 'dan-Pass-1' } as const;

let ldap: SlapdServer;
let db: PgServer;
let pki: TestPki;
let dir: string;
let base: BrokerConfigInput;
let env: NodeJS.ProcessEnv;
let broker: BrokerProcess;
const others: BrokerProcess[] = [];

beforeAll(async () => {
  dir = tempDir('broker-ldap');
  mkdirSync(path.join(dir, 'pki'));
  pki = makeTestPki(path.join(dir, 'pki'));
  [ldap, db] = await Promise.all([startSlapd(), startPostgres({ version: 15 })]);
  const brokerPassword = `Broker-${Math.random().toString(36).slice(2)}`;
  await prepareBrokerDatabase(db, { database: 'app', groups: { 'pg-readers': 'app_read', 'pg-writers': 'app_write' }, brokerPassword });
  const dn: Record<string, string> = {};
  for (const [uid, password] of Object.entries(PASSWORDS)) dn[uid] = await ldap.addUser(uid, password);
  const twoDays = await ldap.addPolicy('two-days', { pwdMaxAge: String(2 * 86_400) });
  dn.soon = await ldap.addUser('soon', 'soon-Pass-1', { policy: twoDays });
  const analysts = await ldap.addGroup('analysts', [dn.alice!]);
  await ldap.addGroup('pg-readers', [analysts, dn.carol!, dn.erin!, dn.dan!, dn.soon!]);
  await ldap.addGroup('pg-writers', [dn.alice!]);
  await ldap.addGroup('staff', [dn.bob!]);
  await ldap.lockUser('carol');

  // Secrets as Kubernetes mounts them: one file each.
  const secretDir = path.join(dir, 'secrets');
  mkdirSync(secretDir, { mode: 0o700 });
  const files = { bind: ldap.servicePassword, sync: brokerPassword, key: newCredentialKey() };
  for (const [name, value] of Object.entries(files)) writeFileSync(path.join(secretDir, name), `${value}\n`, { mode: 0o600 });
  env = {
    ...brokerEnv({ bindPassword: '', syncPassword: '', credentialKey: '' }),
    ROLECALL_BROKER_LDAP_BIND_PASSWORD_FILE: path.join(secretDir, 'bind'),
    ROLECALL_BROKER_SYNC_PASSWORD_FILE: path.join(secretDir, 'sync'),
    ROLECALL_BROKER_CREDENTIAL_KEY_FILE: path.join(secretDir, 'key'),
  };
  base = {
    version: 1,
    listen: { host: '127.0.0.1', port: 0, tls: { certFile: pki.certFile, keyFile: pki.keyFile } },
    directory: {
      kind: 'openldap',
      url: ldap.url,
      startTls: true,
      caFile: ldap.pki.caFile,
      bindDn: ldap.serviceDn,
      baseDn: ldap.baseDn,
      groupPrefix: 'pg-',
      timeoutMs: 3000,
    },
    databases: [
      { id: 'app', name: 'App', host: '127.0.0.1', port: db.port, database: 'app', sslmode: 'verify-full', caFile: db.pki.caFile, suggestedLocalPort: 6440 },
    ],
    throttle: { holdSeconds: 30 },
    sweep: { intervalSeconds: 0 },
  };
  broker = await startBrokerProcess(path.join(dir, 'broker.json'), base, env, pki.caFile);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([broker?.stop(), ...others.map((b) => b.stop())]);
  await Promise.allSettled([ldap?.stop(), db?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const signIn = (b: BrokerProcess, login: string, password: string, options = {}) =>
  b.post<SignInResponse & ErrorBody>('/v1/sign-in', { login, password, database: 'app' }, options);

async function another(name: string, change: (c: BrokerConfigInput) => BrokerConfigInput): Promise<BrokerProcess> {
  const b = await startBrokerProcess(path.join(dir, `${name}.json`), change(base), env, pki.caFile);
  others.push(b);
  return b;
}

describe('the broker with OpenLDAP and PostgreSQL 15', () => {
  it('signs in with nested groups, secrets read from files; readyz checks the directory and the database', async () => {
    const r = await signIn(broker, 'alice', PASSWORDS.alice);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ login: 'alice', groups: ['pg-readers', 'pg-writers'], roles: ['app_read', 'app_write'] });
    const c = await db.connect({ user: 'alice', password: r.body.password, database: 'app' });
    await c.end();
    const ready = await broker.request<ReadyResponse>('/readyz');
    expect(ready.status, ready.text).toBe(200);
    expect(ready.body.checks.map((k) => [k.name, k.ok])).toEqual([
      ['directory', true],
      [`database 127.0.0.1:${db.port}/app`, true],
    ]);
    expect((await broker.request('/healthz')).body).toEqual({ ok: true });
  });

  it('says when the directory password expires, when that is soon', async () => {
    const soon = await signIn(broker, 'soon', 'soon-Pass-1');
    expect(soon.status, soon.text).toBe(200);
    const left = Date.parse(soon.body.directoryPasswordExpiresAt ?? '') - Date.now();
    expect(left).toBeGreaterThan(86_400_000);
    expect(left).toBeLessThanOrEqual(2 * 86_400_000);
    expect((await signIn(broker, 'alice', PASSWORDS.alice)).body.directoryPasswordExpiresAt).toBeUndefined();
  });

  it('a locked account and a user without a permitted group are refused with the proxy\'s words', async () => {
    const locked = await signIn(broker, 'carol', PASSWORDS.carol);
    expect(locked.status).toBe(403);
    expect(locked.body.error).toMatchObject({ sqlstate: '28000', message: 'your directory account is locked' });
    const bob = await signIn(broker, 'bob', PASSWORDS.bob);
    expect(bob.body.error).toMatchObject({ sqlstate: '28000', message: '"bob" is not in any directory group this database accepts' });
  });

  it('20 wrong passwords across 2 broker processes are one failed bind on slapd (ppolicy pwdFailureTime)', async () => {
    const second = await another('second', (c) => c);
    const failures = () => ldap.readValues(ldap.userDn('erin'), 'pwdFailureTime');
    const before = (await failures()).length;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => signIn(i % 2 ? second : broker, 'erin', `nope-${i}`)));
    expect(answers.map((a) => a.body.error.sqlstate)).toEqual(Array(20).fill('28P01'));
    expect(new Set(answers.map((a) => a.body.error.message))).toEqual(new Set(['password authentication failed for user "erin"']));
    expect((await failures()).length).toBe(before + 1);
  });

  it('device certificates: required means no certificate, no connection; a valid one is named in the audit', async () => {
    const devices = await another('devices', (c) => ({ ...c, listen: { ...c.listen, tls: { ...c.listen.tls, clientCaFile: pki.caFile, requireClientCert: true } } }));
    await expect(signIn(devices, 'alice', PASSWORDS.alice)).rejects.toThrow();
    const foreign = makeClientCert(pki, 'stolen-laptop', 'other-ca');
    await expect(signIn(devices, 'alice', PASSWORDS.alice, { cert: readFileSync(foreign.certFile), key: readFileSync(foreign.keyFile) })).rejects.toThrow();
    const laptop = makeClientCert(pki, 'laptop-ana');
    const ok = await signIn(devices, 'dan', PASSWORDS.dan, { cert: readFileSync(laptop.certFile), key: readFileSync(laptop.keyFile) });
    expect(ok.status, ok.text).toBe(200);
    const admin = await db.connect({ database: 'app' });
    const audit = await admin.query(`SELECT client_info FROM rolecall.audit WHERE login = 'dan' ORDER BY id DESC LIMIT 1`);
    await admin.end();
    expect(audit.rows[0]?.client_info).toMatchObject({ via: 'broker', device: 'laptop-ana', database: 'app', client_addr: '127.0.0.1' });

    const optional = await another('optional', (c) => ({ ...c, listen: { ...c.listen, tls: { ...c.listen.tls, clientCaFile: pki.caFile } } }));
    expect((await signIn(optional, 'alice', PASSWORDS.alice)).status).toBe(200);
    const refused = await signIn(optional, 'alice', PASSWORDS.alice, { cert: readFileSync(foreign.certFile), key: readFileSync(foreign.keyFile) });
    expect({ status: refused.status, sqlstate: refused.body.error.sqlstate }).toEqual({ status: 403, sqlstate: '28000' });
    expect(refused.body.error.message).toBe('this device\'s client certificate is not trusted by the broker');
  });
});

describe('draining at SIGTERM', () => {
  it('answers the request in flight, takes no new connection, exits 0', async () => {
    const draining = await another('draining', (c) => ({ ...c, listen: { ...c.listen, drainSeconds: 20 } }));
    const body = JSON.stringify({ login: 'alice', password: PASSWORDS.alice, database: 'app' });
    const socket = await rawTls(draining.port);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(`POST /v1/sign-in HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`);
    const exit = draining.stop();
    await waitFor('the broker to start draining', async () => (draining.stderr().includes('"msg":"broker draining"') ? true : undefined), 10_000, 50);
    await expect(draining.request('/healthz')).rejects.toThrow(/ECONNREFUSED|ECONNRESET|socket hang up/);
    socket.write(body.slice(10));
    await ended;
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toMatch(/"login":"alice"/);
    expect(await exit).toBe(0);
  });
});

/** A TLS connection to a broker on loopback. */
function rawTls(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(pki.caFile), servername: 'localhost' }, () => resolve(s));
    s.once('error', reject);
  });
}

describe('rolecall broker --check', () => {
  const check = (file: string, extraEnv: NodeJS.ProcessEnv) =>
    run(process.execPath, ['bin/rolecall.mjs', 'broker', '--config', file, '--check'], { env: { ...extraEnv } });

  it('exits 0 for a good config with its secrets, 1 naming each missing secret or bad field, 2 without --config', async () => {
    const file = path.join(dir, 'broker.json');
    const good = await check(file, env);
    expect(good, good.stderr).toMatchObject({ code: 0 });
    expect(good.stdout).toMatch(/ok \(1 database\(s\): app; secrets present\)/);

    const { ROLECALL_BROKER_CREDENTIAL_KEY_FILE: _key, ...withoutKey } = env;
    const missing = await check(file, { ...withoutKey, ROLECALL_BROKER_SYNC_PASSWORD_FILE: path.join(dir, 'nope') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no credential key: set ROLECALL_BROKER_CREDENTIAL_KEY or ROLECALL_BROKER_CREDENTIAL_KEY_FILE/);
    expect(missing.stderr).toMatch(/cannot read ROLECALL_BROKER_SYNC_PASSWORD_FILE \(.*nope\): ENOENT/);

    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...base, listen: { ...base.listen, prot: 1 }, directory: { ...base.directory, bindPassword: 'x' } }));
    const invalid = await check(bad, env);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/directory\.bindPassword: secrets never go in broker\.json: set ROLECALL_BROKER_LDAP_BIND_PASSWORD/);
    expect(invalid.stderr).toMatch(/listen: Unrecognized key: "prot"/);
    expect(invalid.stderr).not.toContain('"x"');

    expect((await run(process.execPath, ['bin/rolecall.mjs', 'broker'], { env })).code).toBe(2);
  });
});
