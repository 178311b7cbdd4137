import { readFileSync, readdirSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { tempDir, waitFor } from '../harness/ports.js';
import { ProfileStore } from '../../src-main/core/profiles/store.js';
import { buildScramVerifier } from '../../src-main/core/sync/scram-verifier.js';
import { brokerEnv, newCredentialKey, startBrokerProcess, type BrokerProcess } from '../harness/broker.js';
import { makeTestPki } from '../harness/tls.js';

// Drives logins of every kind with logging at debug level and the database
// logging every statement, then scans every place Rolecall or the database
// writes for passwords and SCRAM verifiers.
let env: RolecallEnv;
let configFile: string;
let leakDir: string;
let broker: BrokerProcess;
const brokerSecrets = { password: `broker-${Math.random().toString(36).slice(2)}`, key: newCredentialKey() };
/** The database passwords the broker handed out. */
const derived: string[] = [];

beforeAll(async () => {
  env = await startRolecallEnv({
    pgVersion: 18,
    pgSettings: { log_statement: 'all', log_connections: 'on', log_min_error_statement: 'info', log_min_messages: 'info' },
  });
  leakDir = tempDir('leak');
  configFile = path.join(leakDir, 'config.json');
  await new ProfileStore(configFile).save({ version: 1, profiles: [env.profile] });

  for (const [user, password] of Object.entries(USERS)) {
    await env.connect(user, password).then((c) => c.end(), () => undefined);
    await env.connect(user, `${password}-wrong`).then((c) => c.end(), () => undefined);
  }
  await env.psql('alice', USERS.alice, ['-c', 'select 1']);
  await env.ldap.removeMembers('heimdall-hr-data', [env.ldap.userDn('dave')]);
  const c = await env.connect('alice', USERS.alice);
  await env.service.get('app')!.revalidateNow();
  await c.end();

  // The team broker beside it, on the same directory and database, driven through every endpoint.
  // The admin sets the broker's password unlogged (log_statement=all would show the verifier it sends).
  const admin = await env.pg.connect();
  await admin.query(`SET log_statement = 'none'`);
  await admin.query(`ALTER ROLE rolecall_broker LOGIN PASSWORD '${buildScramVerifier(brokerSecrets.password)}'`);
  await admin.end();
  const pki = makeTestPki(leakDir);
  broker = await startBrokerProcess(
    path.join(leakDir, 'broker.json'),
    {
      version: 1,
      listen: { host: '127.0.0.1', port: 0, tls: { certFile: pki.certFile, keyFile: pki.keyFile } },
      directory: env.profile.directory,
      databases: [{ id: 'app', name: 'App', host: '127.0.0.1', port: env.pg.port, database: 'app', caFile: env.pg.pki.caFile, suggestedLocalPort: 6500 }],
      sweep: { intervalSeconds: 5 },
    },
    brokerEnv({ bindPassword: env.ldap.servicePassword, syncPassword: brokerSecrets.password, credentialKey: brokerSecrets.key }),
    pki.caFile,
  );
  for (const [user, password] of Object.entries(USERS)) {
    for (const pw of [password, `${password}-wrong`]) {
      const r = await broker.post<{ password?: string }>('/v1/sign-in', { login: user, password: pw, database: 'app' });
      if (r.body.password) derived.push(r.body.password);
      await broker.post('/v1/catalog', { login: user, password: pw });
      await broker.post('/v1/access-check', { login: user, password: pw, database: 'app', subject: 'alice' });
    }
  }
  expect(derived.length).toBeGreaterThan(0);
  for (const p of derived) await broker.post('/v1/revalidate', { login: 'alice', database: 'app', databasePassword: p });
  await broker.post('/v1/revalidate', { login: 'alice', database: 'app', databasePassword: `${derived[0]}-forged` });
  // Passwords in the wrong places of hostile bodies.
  await broker.post('/v1/sign-in', { login: USERS.alice, password: 7, database: 'app' });
  await broker.post('/v1/sign-in', { [USERS.alice]: true });
  await broker.request('/v1/sign-in', { method: 'POST', body: `password=${USERS.alice}`, headers: { 'content-type': 'text/plain' } });
  // The first sweep runs at start and looks every managed login up; wait for it to have logged.
  await waitFor('the broker\'s first sweep', async () => (broker.stderr().includes('"msg":"sweep done"') ? true : undefined), 30_000, 200);
  await broker.stop();
  await new Promise((r) => setTimeout(r, 300));
}, 180_000);

afterAll(async () => {
  await broker?.stop();
  await env?.stop();
  rmSync(leakDir, { recursive: true, force: true });
});

/** An actual verifier (iterations, salt, keys), not the word in install.sql's error text. */
const VERIFIER = /SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$/;

/** Every secret that must stay where it belongs. */
function secrets(): string[] {
  const key = Buffer.from(brokerSecrets.key, 'base64');
  return [
    ...Object.values(USERS),
    ...Object.values(USERS).map((p) => `${p}-wrong`),
    env.syncPassword,
    env.ldap.servicePassword,
    brokerSecrets.password,
    brokerSecrets.key,
    key.toString('hex'),
    key.toString('base64url'),
    ...derived,
  ];
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe('no password or verifier where it does not belong', () => {
  it('keeps passwords and verifiers out of the proxy log', () => {
    const log = env.logText();
    expect(log.length).toBeGreaterThan(1000); // the scan must have read something
    for (const s of secrets()) expect(log).not.toContain(s);
    expect(log).not.toMatch(VERIFIER);
  });

  it('keeps passwords, derived database passwords, the credential key and verifiers out of the broker\'s log', () => {
    const log = broker.stderr();
    expect(log).toMatch(/"msg":"signed in"/); // the scan must have read a sign-in, refusals and a sweep
    expect(log).toMatch(/"msg":"sweep done"/);
    expect(log.length).toBeGreaterThan(2000);
    for (const s of secrets()) expect(log).not.toContain(s);
    expect(log).not.toMatch(VERIFIER);
    expect(broker.stdout()).not.toMatch(VERIFIER);
  });

  it('keeps them out of broker.json', () => {
    const text = readFileSync(path.join(leakDir, 'broker.json'), 'utf8');
    for (const s of secrets()) expect(text).not.toContain(s);
  });

  it('keeps them out of the history database (file, WAL and shared memory)', () => {
    const dir = path.dirname(env.historyFile);
    const files = filesUnder(dir).filter((f) => path.basename(f).startsWith('history.sqlite3'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(f).toString('latin1');
      for (const s of secrets()) expect(bytes, f).not.toContain(s);
      expect(bytes, f).not.toMatch(VERIFIER);
    }
  });

  it('keeps them out of the profile file', () => {
    const text = readFileSync(configFile, 'utf8');
    for (const s of secrets()) expect(text).not.toContain(s);
  });

  it('keeps passwords and verifiers out of the database log, even with log_statement=all', () => {
    const log = readFileSync(env.pg.logFile, 'utf8');
    expect(log).toMatch(/statement: /); // statements were being logged
    for (const s of Object.values(USERS)) expect(log).not.toContain(s);
    for (const s of derived) expect(log).not.toContain(s);
    // install.sql turns statement logging off for rolecall_sync and rolecall_broker, whose calls carry the verifier.
    expect(log).not.toMatch(VERIFIER);
  });
});
